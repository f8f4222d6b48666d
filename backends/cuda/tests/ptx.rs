//! The PTX compiled at build time by clang: one module per prebuilt layout and architecture,
//! with both entry points and the Hopper habits the kernel is written for (funnel shifts,
//! three-input logic, no local memory). Skips with a message when the build had no clang.

use pow_backend_cuda::{prebuilt_for, PREBUILT_PTX, PTX_NOTE};
use pow_gpu_kernels::Layout;

#[test]
fn prebuilt_ptx_covers_every_layout() {
    if PREBUILT_PTX.is_empty() {
        eprintln!("SKIPPED: {PTX_NOTE}");
        return;
    }
    for layout in Layout::PREBUILT {
        let for_hopper = prebuilt_for(layout, 90);
        assert_eq!(for_hopper.first().map(|p| p.0), Some(90), "{layout:?}");
        // Older GPUs get the sm_70 PTX, which the driver JIT-compiles.
        assert_eq!(prebuilt_for(layout, 86).first().map(|p| p.0), Some(70));
        assert!(prebuilt_for(layout, 61).is_empty());
    }
    assert_eq!(PREBUILT_PTX.len(), Layout::PREBUILT.len() * 2);
}

#[test]
fn prebuilt_ptx_has_the_entry_points_and_instructions() {
    if PREBUILT_PTX.is_empty() {
        eprintln!("SKIPPED: {PTX_NOTE}");
        return;
    }
    for (key, sm, ptx) in PREBUILT_PTX {
        let what = format!("sm_{sm} {key}");
        assert!(ptx.contains(&format!(".target sm_{sm}")), "{what}");
        assert!(ptx.contains(".entry pow_search("), "{what}");
        assert!(ptx.contains(".entry pow_seals("), "{what}");
        assert!(ptx.contains("shf.l.wrap.b32"), "{what}: no funnel shifts");
        assert!(ptx.contains("lop3.b32"), "{what}: no three-input logic");
        assert!(
            ptx.contains("atom.add.u32") && ptx.contains("red.min.u32"),
            "{what}"
        );
        // Keccak state and message schedule stay in registers.
        assert!(!ptx.contains(".local"), "{what}: uses local memory");
    }
}
