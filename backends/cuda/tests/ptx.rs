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

/// The parameter types of an entry point in a PTX module, in order.
fn entry_params(ptx: &str, entry: &str) -> Vec<String> {
    let start = ptx
        .find(&format!(".entry {entry}("))
        .unwrap_or_else(|| panic!("no entry {entry}"));
    let list = &ptx[start..start + ptx[start..].find(')').unwrap()];
    list.lines()
        .filter_map(|l| l.trim().strip_prefix(".param "))
        .map(|p| p.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn entry_points_take_the_arguments_the_host_passes() {
    if PREBUILT_PTX.is_empty() {
        eprintln!("SKIPPED: {PTX_NOTE}");
        return;
    }
    // `CudaLauncher::launch` and `CudaLauncher::seals` push: params (device pointer), results or seal
    // output (device pointer), base (u64), count (u32), midstate table (device pointer).
    let expected = [".u64", ".u64", ".u64", ".u32", ".u64"];
    for (key, sm, ptx) in PREBUILT_PTX {
        for entry in ["pow_search", "pow_seals"] {
            assert_eq!(entry_params(ptx, entry), expected, "sm_{sm} {key} {entry}");
        }
    }
}
