//! Finding and loading backend plugins.
//!
//! Every shared library in every plugin folder is loaded by its own abi_stable header (so
//! several backends live side by side); a file that is not a backend, or is built for another
//! interface, is reported and skipped. Before a file is opened, [`check_trust`] makes sure no
//! one but its owner (you or root) could have put it there.

use abi_stable::library::{lib_header_from_path, LibraryError};
use pow_backend_api::{
    BackendError, BackendModuleRef, DeviceBox, DeviceInfo, Job, Options, SearchOutcome,
    INTERFACE_VERSION,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Environment variable with extra plugin folders, separated by `:`.
pub const PLUGIN_PATH_ENV: &str = "POW_HOST_PLUGIN_PATH";

/// File-name prefix of the workspace's own backends, found next to the executable in a cargo
/// target folder (`target/release/libpow_backend_cpu.so`).
pub const BUILT_IN_PREFIX: &str = "libpow_backend_";

/// A folder to search and whether every library in it is a candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginDir {
    /// The folder.
    pub path: PathBuf,
    /// `false` for the executable's own folder, where only `libpow_backend_*` files are taken.
    pub all_files: bool,
}

/// The folders searched, in order: `backends/` next to the executable, the executable's own
/// folder (workspace backends only, for `cargo build` layouts), each folder of
/// `POW_HOST_PLUGIN_PATH`, then each `--plugin-dir`.
pub fn plugin_dirs(extra: &[PathBuf]) -> Vec<PluginDir> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(PluginDir {
            path: exe_dir.join("backends"),
            all_files: true,
        });
        dirs.push(PluginDir {
            path: exe_dir,
            all_files: false,
        });
    }
    if let Some(paths) = std::env::var_os(PLUGIN_PATH_ENV) {
        for p in std::env::split_paths(&paths) {
            if !p.as_os_str().is_empty() {
                dirs.push(PluginDir {
                    path: p,
                    all_files: true,
                });
            }
        }
    }
    for p in extra {
        dirs.push(PluginDir {
            path: p.clone(),
            all_files: true,
        });
    }
    dirs
}

fn is_shared_library(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "so" | "dylib" | "dll"))
}

/// A loaded backend library.
pub struct Plugin {
    /// The library file.
    pub path: PathBuf,
    /// Backend name (`--backends` uses it).
    pub name: String,
    /// One line about the backend.
    pub description: String,
    /// The `pow-backend-api` version the plugin was built with.
    pub api_version: String,
    /// The plugin's [`INTERFACE_VERSION`].
    pub interface_version: u32,
    module: BackendModuleRef,
}

/// A file that was not loaded, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// One-line reason.
    pub reason: String,
}

/// Everything found in the plugin folders.
#[derive(Default)]
pub struct LoadReport {
    /// Backends loaded, in search order, unique by name.
    pub plugins: Vec<Plugin>,
    /// Files that were refused.
    pub skipped: Vec<Skipped>,
    /// Files that were loaded although they failed [`check_trust`], because
    /// [`LoadPolicy::allow_insecure`] was set.
    pub insecure: Vec<Skipped>,
}

/// How strict [`load_all_with`] is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadPolicy {
    /// Load plugins that fail [`check_trust`] (`--allow-insecure-plugins`), reporting them in
    /// [`LoadReport::insecure`].
    pub allow_insecure: bool,
}

/// Loads every backend in `dirs` with the default (strict) [`LoadPolicy`].
pub fn load_all(dirs: &[PluginDir]) -> LoadReport {
    load_all_with(dirs, LoadPolicy::default())
}

/// Loads every backend in `dirs`. Missing folders are ignored; a file that fails
/// [`check_trust`] is skipped unless the policy allows it; a backend name seen before is
/// skipped (the first one found wins).
pub fn load_all_with(dirs: &[PluginDir], policy: LoadPolicy) -> LoadReport {
    let mut report = LoadReport::default();
    let mut seen_files = HashSet::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir.path) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_shared_library(p))
            .filter(|p| {
                dir.all_files
                    || p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(BUILT_IN_PREFIX))
            })
            .collect();
        files.sort();
        for path in files {
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            if !seen_files.insert(canonical) {
                continue;
            }
            if let Err(problem) = check_trust(&path) {
                if policy.allow_insecure {
                    report.insecure.push(Skipped {
                        path: path.clone(),
                        reason: format!("loaded anyway (--allow-insecure-plugins): {problem}"),
                    });
                } else {
                    report.skipped.push(Skipped {
                        path,
                        reason: format!(
                            "{problem} (or pass --allow-insecure-plugins to load it anyway)"
                        ),
                    });
                    continue;
                }
            }
            match load_file(&path) {
                Ok(plugin) => {
                    if let Some(first) = report.plugins.iter().find(|p| p.name == plugin.name) {
                        report.skipped.push(Skipped {
                            reason: format!(
                                "backend `{}` is already loaded from {}",
                                plugin.name,
                                first.path.display()
                            ),
                            path,
                        });
                    } else {
                        report.plugins.push(plugin);
                    }
                }
                Err(e) => report.skipped.push(Skipped {
                    path,
                    reason: e.to_string(),
                }),
            }
        }
    }
    report
}

/// Checks that no one but the current user or root could have written or replaced a plugin
/// file, in the spirit of ssh's `StrictModes`: the file (after following links), the folder it
/// is listed in and the folder it really lives in must be owned by the current user or root and
/// not writable by group or others; every folder above them must be owned by the current user
/// or root and not writable by group or others unless it has the sticky bit (like `/tmp`).
///
/// The error names the offending path and the fix. On other platforms than Unix nothing is
/// checked.
pub fn check_trust(path: &Path) -> Result<(), TrustError> {
    trust::check(path)
}

/// Why a plugin file is not trusted ([`check_trust`]). Messages name the path and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The path cannot be resolved (followed to the real file).
    #[error("cannot resolve {}: {source}", .path.display())]
    Resolve {
        /// The plugin path.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file or folder on the way cannot be inspected.
    #[error("cannot inspect {}: {source}", .path.display())]
    Inspect {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Owned by someone else than the current user or root.
    #[error(
        "{} is owned by uid {uid}, neither the current user (uid {me}) nor root, so that user \
         could change the plugin: fix with `chown {me} {}`",
        .path.display(),
        .path.display()
    )]
    Owner {
        /// The file or folder.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// The current user.
        me: u32,
    },
    /// Writable by group or others.
    #[error(
        "{} is writable by {by} (mode {mode:o}), so other users could change the plugin: fix \
         with `chmod go-w {}`",
        .path.display(),
        .path.display()
    )]
    Writable {
        /// The file or folder.
        path: PathBuf,
        /// `everyone` or `its group`.
        by: &'static str,
        /// Its permission bits.
        mode: u32,
    },
}

/// Why a library could not be loaded as a backend ([`load_file`]). Messages are one line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The header check refused the file, or it is not a regular file.
    #[error("cannot be opened: {0}")]
    Header(#[from] crate::elf::ElfError),
    /// The dynamic loader refused it.
    #[error("cannot be opened: {0}")]
    Open(String),
    /// No abi_stable root module.
    #[error("not a pow-host backend (it exports no abi_stable root module)")]
    NotABackend,
    /// Built against another `pow-backend-api` version.
    #[error(
        "built for pow-backend-api {actual}; this host uses {expected} (pow-backend-api \
         {host_api}): rebuild the plugin against this host's backend-api"
    )]
    ApiVersion {
        /// The plugin's version.
        actual: String,
        /// The host's.
        expected: String,
        /// The host's `pow-backend-api` package version.
        host_api: &'static str,
    },
    /// Its version string cannot be parsed.
    #[error("has an unreadable version: {0}")]
    UnreadableVersion(String),
    /// Its interface types differ from the host's.
    #[error(
        "its interface types do not match this host's (pow-backend-api {host_api}): rebuild \
         the plugin against this host's backend-api"
    )]
    AbiMismatch {
        /// The host's `pow-backend-api` package version.
        host_api: &'static str,
    },
    /// Built with an incompatible abi_stable.
    #[error("built with an incompatible abi_stable version")]
    AbiHeader,
    /// Another abi_stable loading failure.
    #[error("cannot be loaded: {0}")]
    Other(String),
    /// Built for another [`INTERFACE_VERSION`].
    #[error(
        "built for backend interface version {found} (pow-backend-api {api}); this host speaks \
         interface version {INTERFACE_VERSION} (pow-backend-api {host_api}): rebuild the plugin \
         against this host's backend-api"
    )]
    Interface {
        /// The plugin's interface version.
        found: u32,
        /// The plugin's `pow-backend-api` version.
        api: String,
        /// The host's `pow-backend-api` package version.
        host_api: &'static str,
    },
    /// The plugin's `name` function failed.
    #[error("the plugin failed to give its name: {0}")]
    Name(BackendError),
    /// Empty, or with a comma or white space.
    #[error("invalid backend name `{0}`")]
    InvalidName(String),
}

#[cfg(unix)]
mod trust {
    use super::TrustError;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    const STICKY: u32 = 0o1000;
    const GROUP_OR_OTHER_WRITE: u32 = 0o022;

    pub fn check(path: &Path) -> Result<(), TrustError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let real = path.canonicalize().map_err(|source| TrustError::Resolve {
            path: path.to_path_buf(),
            source,
        })?;
        node(&real, me, false)?;
        // The folder the file is listed in (a link's folder matters as much as the target's).
        let listed_in = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .and_then(|p| p.canonicalize().ok());
        let mut chains = vec![real.parent().map(Path::to_path_buf)];
        if listed_in != chains[0] {
            chains.push(listed_in);
        }
        for folder in chains.into_iter().flatten() {
            node(&folder, me, false)?;
            for ancestor in folder.ancestors().skip(1) {
                node(ancestor, me, true)?;
            }
        }
        Ok(())
    }

    /// One file or folder: owned by `me` or root, and not writable by group or others (a
    /// sticky folder above the plugin's own folder may be).
    fn node(path: &Path, me: u32, sticky_ok: bool) -> Result<(), TrustError> {
        let meta = std::fs::metadata(path).map_err(|source| TrustError::Inspect {
            path: path.to_path_buf(),
            source,
        })?;
        let uid = meta.uid();
        if uid != me && uid != 0 {
            return Err(TrustError::Owner {
                path: path.to_path_buf(),
                uid,
                me,
            });
        }
        let mode = meta.mode();
        if mode & GROUP_OR_OTHER_WRITE != 0 && !(sticky_ok && mode & STICKY != 0) {
            return Err(TrustError::Writable {
                path: path.to_path_buf(),
                by: if mode & 0o002 != 0 {
                    "everyone"
                } else {
                    "its group"
                },
                mode: mode & 0o7777,
            });
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod trust {
    use super::TrustError;
    use std::path::Path;

    pub fn check(_path: &Path) -> Result<(), TrustError> {
        Ok(())
    }
}

/// Loads one backend library, checking its abi_stable layout, its `pow-backend-api` version
/// and its [`INTERFACE_VERSION`]. It does not call [`check_trust`]: callers that take paths
/// from the user should.
pub fn load_file(path: &Path) -> Result<Plugin, LoadError> {
    let host_api = pow_backend_api::ffi::api_package_version();
    // A truncated library would crash the process inside dlopen: check its headers first.
    #[cfg(not(any(windows, target_vendor = "apple")))]
    crate::elf::check_file(path)?;
    let header = lib_header_from_path(path).map_err(|e| describe_load_error(&e, host_api))?;
    let api_version = header.version_strings().version.to_string();
    let module = header
        .init_root_module::<BackendModuleRef>()
        .map_err(|e| describe_load_error(&e, host_api))?;
    let interface_version = module.interface_version();
    if interface_version != INTERFACE_VERSION {
        return Err(LoadError::Interface {
            found: interface_version,
            api: api_version,
            host_api,
        });
    }
    let name = (module.name())()
        .into_result()
        .map_err(LoadError::Name)?
        .to_string();
    if name.is_empty() || name.contains(',') || name.chars().any(char::is_whitespace) {
        return Err(LoadError::InvalidName(name));
    }
    let description = (module.description())()
        .into_result()
        .map(|s| s.to_string())
        .unwrap_or_default();
    Ok(Plugin {
        path: path.to_path_buf(),
        name,
        description,
        api_version,
        interface_version,
        module,
    })
}

fn describe_load_error(e: &LibraryError, host_api: &'static str) -> LoadError {
    match e {
        LibraryError::OpenError { err, .. } => LoadError::Open(err.to_string()),
        LibraryError::GetSymbolError { .. } => LoadError::NotABackend,
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => LoadError::ApiVersion {
            actual: actual_version.to_string(),
            expected: expected_version.to_string(),
            host_api,
        },
        LibraryError::ParseVersionError(err) => LoadError::UnreadableVersion(err.to_string()),
        LibraryError::AbiInstability(_) => LoadError::AbiMismatch { host_api },
        LibraryError::InvalidAbiHeader(_) => LoadError::AbiHeader,
        other => LoadError::Other(other.to_string()),
    }
}

impl Plugin {
    /// The devices the backend offers with these options.
    pub fn list_devices(&self, options: &Options) -> Result<Vec<DeviceInfo>, BackendError> {
        (self.module.list_devices())(options)
            .into_result()
            .map(|v| v.into_vec())
    }

    /// Why no devices are offered, if the backend says.
    pub fn unavailable_reason(&self, options: &Options) -> Option<String> {
        match (self.module.unavailable_reason())(options).into_result() {
            Ok(s) if !s.is_empty() => Some(s.to_string()),
            _ => None,
        }
    }

    /// Opens one device.
    pub fn open_device(&self, index: u32, options: &Options) -> Result<OpenDevice, BackendError> {
        let inner = (self.module.open_device())(index, options).into_result()?;
        let info = inner.info();
        Ok(OpenDevice {
            backend: self.name.clone(),
            info,
            inner,
        })
    }
}

/// An opened device of some backend.
pub struct OpenDevice {
    /// Backend name.
    pub backend: String,
    /// Device description.
    pub info: DeviceInfo,
    inner: DeviceBox,
}

impl OpenDevice {
    /// `backend:index` label for logs and statistics.
    pub fn label(&self) -> String {
        format!("{}:{}", self.backend, self.info.index)
    }

    /// Loads a job.
    pub fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        self.inner.set_job(job).into_result()
    }

    /// Searches an index range. Hits are returned as the backend reported them: the caller
    /// must re-verify them (the dispatcher does, with [`Job::verify_hit`]).
    pub fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        self.inner.search(start, count, cancel).into_result()
    }
}
