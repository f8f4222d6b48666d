//! On-disk cache of compiled kernels: `$XDG_CACHE_HOME/pow-host/<api>/<key>.bin`, else
//! `~/.cache/pow-host/<api>/`. Keys are hashes of everything the binary depends on (device,
//! driver, source, options), so stale entries are never used; failures to read or write the
//! cache only cost a rebuild.

use std::path::PathBuf;

/// The cache folder of an API (`opencl`, `cuda`), when a home or cache folder is known.
pub fn dir(api: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("pow-host").join(api))
}

/// A cached binary.
pub fn load(api: &str, key: &str) -> Option<Vec<u8>> {
    std::fs::read(dir(api)?.join(format!("{key}.bin")))
        .ok()
        .filter(|b| !b.is_empty())
}

/// Stores a binary atomically (`pow_backend_api::cache_file::write_atomically`).
pub fn store(api: &str, key: &str, binary: &[u8]) {
    if let Some(dir) = dir(api) {
        let file = dir.join(format!("{key}.bin"));
        let _ = pow_backend_api::cache_file::write_atomically(&file, binary);
    }
}
