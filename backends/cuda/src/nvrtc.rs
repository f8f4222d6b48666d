//! NVRTC, the CUDA run-time compiler: where the plugin finds it and how it compiles the
//! embedded kernel source to PTX.
//!
//! The plugin opens NVRTC itself (eight functions of its C API, unchanged since CUDA 7), so
//! that any NVRTC from CUDA 11.2 to 13 works, wherever it was installed. Tried in order, first
//! that loads wins: `POW_NVRTC_PATH` (a folder or the library file), the dynamic loader's own
//! path, `$CUDA_PATH` and `$CUDA_HOME`, `/usr/local/cuda`, and the NVRTC folders of the active
//! Python environment's site-packages (`$VIRTUAL_ENV`, `$CONDA_PREFIX`), where PyTorch's
//! `nvidia-cuda-nvrtc` wheels put it (`nvidia/cuda_nvrtc/lib`, `nvidia/cu13/lib`).

use pow_gpu_kernels::{KeccakShape, Layout};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use thiserror::Error;

/// Library file names, newest CUDA first.
const LIBRARY_NAMES: [&str; 5] = [
    "libnvrtc.so.13",
    "libnvrtc.so.12",
    "libnvrtc.so.11.2",
    "libnvrtc.so.11",
    "libnvrtc.so",
];

/// Folders inside a Python site-packages folder where NVIDIA's wheels put NVRTC.
const WHEEL_DIRS: [&str; 2] = ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"];

type Program = *mut c_void;
type Status = c_int;
const SUCCESS: Status = 0;

/// Why NVRTC could not be used or could not compile.
#[derive(Clone, Debug, Error)]
pub enum NvrtcError {
    /// No library was found; `refused` lists the files that exist but did not load.
    #[error("NVRTC (libnvrtc.so.13/.12/.11) not found on the loader's path, in POW_NVRTC_PATH, nor in {searched}{}", refused_text(.refused))]
    NotFound {
        /// The folders searched, comma-separated.
        searched: String,
        /// Why each existing candidate file was refused.
        refused: Vec<String>,
    },
    /// A library file that does not load or lacks an entry point.
    #[error("{0}")]
    Load(String),
    /// An NVRTC call returned an error status.
    #[error("{call} failed: {text}")]
    Call {
        /// The C function.
        call: &'static str,
        /// NVRTC's text for the status.
        text: String,
    },
    /// The compilation failed; `log` is NVRTC's program log.
    #[error("nvrtcCompileProgram failed: {text}: {log}")]
    Compile {
        /// NVRTC's text for the status.
        text: String,
        /// The compiler's log, trimmed.
        log: String,
    },
    /// A source or option holds a NUL byte.
    #[error("{0}")]
    Input(String),
}

fn refused_text(refused: &[String]) -> String {
    if refused.is_empty() {
        String::new()
    } else {
        format!("; refused: {}", refused.join("; "))
    }
}

/// The NVRTC entry points the plugin uses.
struct Api {
    version: unsafe extern "C" fn(*mut c_int, *mut c_int) -> Status,
    error_string: unsafe extern "C" fn(Status) -> *const c_char,
    create: unsafe extern "C" fn(
        *mut Program,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> Status,
    compile: unsafe extern "C" fn(Program, c_int, *const *const c_char) -> Status,
    ptx_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    ptx: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    log_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    log: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    destroy: unsafe extern "C" fn(*mut Program) -> Status,
    /// Where the library was found.
    file: String,
    /// Keeps the functions valid.
    _library: libloading::Library,
}

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

/// Folders searched after the dynamic loader's own path, in order (`POW_NVRTC_PATH` comes
/// before the loader).
pub fn search_dirs() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut dirs = Vec::new();
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
                dirs.extend(WHEEL_DIRS.iter().map(|d| site.join(d)));
            }
        }
    }
    dirs
}

/// Every file or bare name to try, in order.
fn candidates() -> Vec<PathBuf> {
    let in_dir = |dir: &Path| -> Vec<PathBuf> {
        if dir.is_file() {
            vec![dir.to_path_buf()]
        } else {
            LIBRARY_NAMES.iter().map(|n| dir.join(n)).collect()
        }
    };
    let mut all = Vec::new();
    if let Some(p) = std::env::var_os("POW_NVRTC_PATH").filter(|v| !v.is_empty()) {
        all.extend(in_dir(Path::new(&p)));
    }
    all.extend(LIBRARY_NAMES.iter().map(PathBuf::from));
    for dir in search_dirs() {
        all.extend(in_dir(&dir));
    }
    all
}

impl Api {
    fn open(file: &Path) -> Result<Api, NvrtcError> {
        // SAFETY: loading NVRTC runs only its C runtime initialisers.
        let library = unsafe { libloading::Library::new(file) }
            .map_err(|e| NvrtcError::Load(e.to_string()))?;
        // SAFETY: the types match the NVRTC C API (nvrtc.h) for every CUDA since 7.0.
        unsafe {
            macro_rules! sym {
                ($name:literal) => {
                    *library
                        .get(concat!($name, "\0").as_bytes())
                        .map_err(|e| NvrtcError::Load(format!("{}: {e}", file.display())))?
                };
            }
            Ok(Api {
                version: sym!("nvrtcVersion"),
                error_string: sym!("nvrtcGetErrorString"),
                create: sym!("nvrtcCreateProgram"),
                compile: sym!("nvrtcCompileProgram"),
                ptx_size: sym!("nvrtcGetPTXSize"),
                ptx: sym!("nvrtcGetPTX"),
                log_size: sym!("nvrtcGetProgramLogSize"),
                log: sym!("nvrtcGetProgramLog"),
                destroy: sym!("nvrtcDestroyProgram"),
                file: file.display().to_string(),
                _library: library,
            })
        }
    }

    /// NVRTC's text for a status.
    fn status_text(&self, status: Status) -> String {
        // SAFETY: returns a static string for any status.
        let text = unsafe { CStr::from_ptr((self.error_string)(status)) };
        text.to_string_lossy().into_owned()
    }

    fn check(&self, call: &'static str, status: Status) -> Result<(), NvrtcError> {
        if status == SUCCESS {
            return Ok(());
        }
        Err(NvrtcError::Call {
            call,
            text: self.status_text(status),
        })
    }

    fn version(&self) -> Result<(i32, i32), NvrtcError> {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: writes two ints.
        self.check("nvrtcVersion", unsafe {
            (self.version)(&mut major, &mut minor)
        })?;
        Ok((major, minor))
    }

    /// Reads a string NVRTC sizes first (PTX or log).
    fn read(
        &self,
        program: Program,
        size: unsafe extern "C" fn(Program, *mut usize) -> Status,
        get: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    ) -> Result<String, NvrtcError> {
        let mut n = 0usize;
        // SAFETY: a live program; the buffer holds the size NVRTC reported.
        self.check("nvrtcGet*Size", unsafe { size(program, &mut n) })?;
        let mut buf = vec![0u8; n.max(1)];
        self.check("nvrtcGet*", unsafe {
            get(program, buf.as_mut_ptr().cast())
        })?;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
    }

    fn compile_to_ptx(&self, source: &str, options: &[String]) -> Result<String, NvrtcError> {
        let nul = |e: std::ffi::NulError| NvrtcError::Input(e.to_string());
        let source = CString::new(source).map_err(nul)?;
        let options: Vec<CString> = options
            .iter()
            .map(|o| CString::new(o.as_str()).map_err(nul))
            .collect::<Result<_, _>>()?;
        let pointers: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
        let mut program: Program = std::ptr::null_mut();
        // SAFETY: valid C strings; no headers.
        self.check("nvrtcCreateProgram", unsafe {
            (self.create)(
                &mut program,
                source.as_ptr(),
                c"pow.cu".as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        })?;
        // SAFETY: a live program and valid option strings.
        let status = unsafe { (self.compile)(program, pointers.len() as c_int, pointers.as_ptr()) };
        let result = if status == SUCCESS {
            self.read(program, self.ptx_size, self.ptx)
        } else {
            let log = self
                .read(program, self.log_size, self.log)
                .unwrap_or_default();
            Err(NvrtcError::Compile {
                text: self.status_text(status),
                log: log.trim().to_string(),
            })
        };
        // SAFETY: destroys the program created above, once.
        unsafe { (self.destroy)(&mut program) };
        result
    }
}

fn api() -> Result<&'static Api, NvrtcError> {
    static API: OnceLock<Result<Api, NvrtcError>> = OnceLock::new();
    API.get_or_init(|| {
        let mut refused = Vec::new();
        for file in candidates() {
            // Bare names go to the loader; paths must exist, and their refusals are reported.
            let is_path = file.components().count() > 1;
            if is_path && !file.is_file() {
                continue;
            }
            match Api::open(&file) {
                Ok(api) => return Ok(api),
                Err(e) if is_path => refused.push(e),
                Err(_) => {}
            }
        }
        Err(NvrtcError::NotFound {
            searched: search_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            refused: refused.iter().map(ToString::to_string).collect(),
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Whether NVRTC can be used, with the reason when not; the search runs once per process.
pub fn status() -> Result<(), NvrtcError> {
    version().map(|_| ())
}

/// NVRTC's version (major, minor).
pub fn version() -> Result<(i32, i32), NvrtcError> {
    api()?.version()
}

/// The file NVRTC was loaded from.
pub fn library_file() -> Result<String, NvrtcError> {
    Ok(api()?.file.clone())
}

/// Compiles the embedded kernel source for one job layout, Keccak shape and virtual
/// architecture (e.g. `compute_90`) with NVRTC, returning the PTX text.
pub fn compile_ptx(layout: Layout, keccak: KeccakShape, arch: &str) -> Result<String, NvrtcError> {
    let api = api()?;
    let mut options = vec![format!("--gpu-architecture={arch}")];
    options.extend(layout.defines_with(keccak));
    api.compile_to_ptx(&pow_gpu_kernels::cuda_source(), &options)
}
