//! NVRTC, the CUDA run-time compiler: where the plugin finds it and how it compiles the
//! embedded kernel source to PTX.
//!
//! cudarc loads `libnvrtc.so.12` by bare name, so only the dynamic loader's search path is
//! tried. Users who installed PyTorch or the CUDA toolkit somewhere else have NVRTC in a
//! folder the loader does not search; before cudarc's first use this module loads it from
//! those folders (the loader then finds it by its soname). The folders, first match wins:
//! `POW_NVRTC_PATH` (a folder or the library file), `$CUDA_PATH`/`$CUDA_HOME`, `/usr/local/cuda`,
//! and the `nvidia/cuda_nvrtc/lib` folder of the active Python environment's site-packages
//! (`$VIRTUAL_ENV`, `$CONDA_PREFIX`), where the `nvidia-cuda-nvrtc-cu12` wheel puts it.

use pow_gpu_kernels::{KeccakShape, Layout};
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The library names tried in each folder, newest first.
const LIBRARY_NAMES: [&str; 2] = ["libnvrtc.so.12", "libnvrtc.so"];

/// Python site-packages folders under an environment prefix (`lib/python3.*/site-packages`).
fn site_packages(prefix: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(prefix.join("lib")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path().join("site-packages"))
        .collect();
    found.sort();
    found
}

/// Folders searched for NVRTC beyond the loader's own path, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut dirs = Vec::new();
    if let Some(p) = var("POW_NVRTC_PATH") {
        dirs.push(PathBuf::from(p));
    }
    for name in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(p) = var(name) {
            dirs.push(PathBuf::from(&p).join("lib64"));
            dirs.push(PathBuf::from(&p).join("lib"));
        }
    }
    dirs.push(PathBuf::from("/usr/local/cuda/lib64"));
    for name in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(p) = var(name) {
            for site in site_packages(Path::new(&p)) {
                dirs.push(site.join("nvidia/cuda_nvrtc/lib"));
            }
        }
    }
    dirs
}

/// Loads the first NVRTC found in [`search_dirs`] into the process (kept for its lifetime),
/// so that cudarc's load by name finds it. Returns the file loaded, if any.
fn preload() -> Option<PathBuf> {
    for dir in search_dirs() {
        let candidates: Vec<PathBuf> = if dir.is_file() {
            vec![dir.clone()]
        } else {
            LIBRARY_NAMES.iter().map(|n| dir.join(n)).collect()
        };
        for file in candidates.into_iter().filter(|f| f.is_file()) {
            // SAFETY: loading NVRTC runs no initialisers beyond the C runtime's; RTLD_GLOBAL
            // makes the soname known to later loads by name.
            let lib = unsafe {
                libloading::os::unix::Library::open(
                    Some(&file),
                    libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
                )
            };
            if let Ok(lib) = lib {
                // Kept loaded for the process's lifetime: cudarc holds its own handle to it.
                std::mem::forget(lib);
                return Some(file);
            }
        }
    }
    None
}

/// Whether NVRTC can be used, with the reason when not; the search runs once per process.
pub fn status() -> Result<(), String> {
    static STATUS: OnceLock<Result<(), String>> = OnceLock::new();
    STATUS
        .get_or_init(|| {
            // The loader's own search path wins; the extra folders are tried only when it
            // finds nothing (a second copy would never be used anyway).
            // SAFETY: probing only loads the library.
            let present = || unsafe { cudarc::nvrtc::sys::is_culib_present() };
            let found_by_name = libloading_probe();
            if !found_by_name {
                preload();
            }
            if !present() {
                return Err(format!(
                    "NVRTC (libnvrtc.so.12) not found on the loader's path nor in {}",
                    search_dirs()
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let (major, minor) = version()?;
            if major < 12 {
                return Err(format!(
                    "NVRTC {major}.{minor} is too old: CUDA 12 or newer is needed"
                ));
            }
            Ok(())
        })
        .clone()
}

/// NVRTC's version (major, minor).
pub fn version() -> Result<(i32, i32), String> {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: writes two ints; a missing symbol panics inside cudarc and is caught.
    let result = catch_unwind(move || {
        let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
        (r, major, minor)
    })
    .map_err(|_| "NVRTC is too old for this plugin".to_string())?;
    if result.0 != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(format!("nvrtcVersion failed: {:?}", result.0));
    }
    Ok((result.1, result.2))
}

/// Whether the loader finds NVRTC by name alone.
fn libloading_probe() -> bool {
    LIBRARY_NAMES.iter().any(|name| {
        // SAFETY: as in `preload`.
        unsafe { libloading::os::unix::Library::open(Some(*name), libloading::os::unix::RTLD_NOW) }
            .is_ok()
    })
}

/// Compiles the embedded kernel source for one job layout, Keccak shape and virtual
/// architecture (e.g. `compute_90`) with NVRTC, returning the PTX text.
pub fn compile_ptx(
    layout: Layout,
    keccak: KeccakShape,
    arch: &'static str,
) -> Result<String, String> {
    status()?;
    let mut options = layout.defines();
    options.extend(keccak.defines());
    let opts = cudarc::nvrtc::CompileOptions {
        arch: Some(arch),
        options,
        ..Default::default()
    };
    let source = pow_gpu_kernels::cuda_source();
    let ptx = catch_unwind(|| cudarc::nvrtc::compile_ptx_with_opts(&source, opts))
        .map_err(|_| "NVRTC is too old for this plugin".to_string())?
        .map_err(|e| format!("NVRTC compilation failed: {e:?}"))?;
    Ok(ptx.to_src())
}
