//! Compiles the shared CUDA kernel (kernels/pow.cu) to PTX with clang when one is installed,
//! once per prebuilt job layout and target architecture, without the CUDA toolkit:
//! `clang -x cuda --cuda-device-only -nocudainc -nocudalib --cuda-gpu-arch=sm_XX -O3 -S`.
//! The result is `$OUT_DIR/prebuilt_ptx.rs`: a table of (layout key, sm, PTX) and a
//! note on how it was made. Without a suitable clang the table is empty and the plugin falls
//! back to NVRTC at run time. `POW_CLANG` names the compiler to use; `POW_NO_PTX=1` skips it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (blocks, nonce offset, suffix bytes, message bytes): must equal
/// `pow_gpu_kernels::Layout::PREBUILT` (tests/ptx.rs checks that each has its PTX).
const LAYOUTS: [(u32, i32, u32, u32); 3] = [(1, 0, 32, 40), (1, -5, 0, 131), (2, 59, 0, 131)];

/// `pow_gpu_kernels::Layout::key` of a layout.
fn key(layout: (u32, i32, u32, u32)) -> String {
    format!("b{}_o{}_s{}_l{}", layout.0, layout.1, layout.2, layout.3)
}
/// Target architectures: Hopper, and a Volta baseline whose PTX every later GPU can JIT.
const ARCHS: [u32; 2] = [90, 70];

fn clang_candidates() -> Vec<String> {
    if let Ok(c) = std::env::var("POW_CLANG") {
        return vec![c];
    }
    [
        "clang-20", "clang-19", "clang-18", "clang-17", "clang-16", "clang",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn compile(
    clang: &str,
    src: &Path,
    arch: u32,
    layout: (u32, i32, u32, u32),
    out: &Path,
) -> Result<(), String> {
    let output = Command::new(clang)
        .args([
            "-x",
            "cuda",
            "--cuda-device-only",
            "-nocudainc",
            "-nocudalib",
        ])
        .arg(format!("--cuda-gpu-arch=sm_{arch}"))
        .args(["-O3", "-S", "-Wno-pass-failed"])
        .arg(format!("-DPOW_KERNEL_BLOCKS={}", layout.0))
        .arg(format!("-DPOW_NONCE_OFF={}", layout.1))
        .arg(format!("-DPOW_MSG_END={}", layout.1 + 8 + layout.2 as i32))
        .arg(format!("-DPOW_MSG_BITS={}", u64::from(layout.3) * 8))
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|e| format!("{clang}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "{clang} sm_{arch}: {}",
            err.lines().next().unwrap_or("failed")
        ))
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let kernels = manifest.join("../../kernels");
    for f in ["pow.cu", "pow_common.h", "dialect_cuda.h"] {
        println!("cargo:rerun-if-changed={}", kernels.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=POW_CLANG");
    println!("cargo:rerun-if-env-changed=POW_NO_PTX");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let src = kernels.join("pow.cu");

    let mut entries = Vec::new();
    let mut note = String::from("no clang with CUDA support found; kernels come from NVRTC");
    if std::env::var("POW_NO_PTX").map_or(true, |v| v != "1") {
        let mut errors = Vec::new();
        for clang in clang_candidates() {
            let mut built = Vec::new();
            let mut failed = None;
            'all: for arch in ARCHS {
                for layout in LAYOUTS {
                    let file = out_dir.join(format!("pow_sm{arch}_{}.ptx", key(layout)));
                    match compile(&clang, &src, arch, layout, &file) {
                        Ok(()) => built.push((layout, arch, file)),
                        Err(e) => {
                            failed = Some(e);
                            break 'all;
                        }
                    }
                }
            }
            match failed {
                None => {
                    let version = Command::new(&clang)
                        .arg("--version")
                        .output()
                        .ok()
                        .and_then(|o| String::from_utf8(o.stdout).ok())
                        .and_then(|s| s.lines().next().map(str::to_string))
                        .unwrap_or_default();
                    note = format!("PTX built by {clang} ({version})");
                    entries = built;
                    break;
                }
                Some(e) => errors.push(e),
            }
        }
        if entries.is_empty() && !errors.is_empty() {
            let first = &errors[errors.len().saturating_sub(1)];
            println!("cargo:warning=pow-backend-cuda: no PTX built at build time (NVRTC will be used): {first}");
            note = format!("no PTX built at build time: {first}");
        }
    } else {
        note = "PTX build disabled by POW_NO_PTX=1; kernels come from NVRTC".into();
    }

    let mut code = String::from("/// Kernels compiled at build time: (layout key, sm, PTX).\n");
    code.push_str("pub const PREBUILT_PTX: &[(&str, u32, &str)] = &[\n");
    for (layout, arch, file) in &entries {
        code.push_str(&format!(
            "    ({:?}, {arch}, include_str!({:?})),\n",
            key(*layout),
            file.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(&format!(
        "/// How the prebuilt kernels were made.\npub const PTX_NOTE: &str = {note:?};\n"
    ));
    std::fs::write(out_dir.join("prebuilt_ptx.rs"), code).unwrap();
}
