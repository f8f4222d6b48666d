//! On-disk cache of compiled kernels: `$XDG_CACHE_HOME/pow-host/<api>/<key>.bin`, else
//! `~/.cache/pow-host/<api>/`. Keys are hashes of everything the binary depends on (device,
//! driver, source, options), so stale entries are never used; failures to read or write the
//! cache only cost a rebuild.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Stores a binary atomically (temporary file, then rename).
pub fn store(api: &str, key: &str, binary: &[u8]) {
    let Some(dir) = dir(api) else { return };
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        "{key}.{}.{}.tmp",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::write(&tmp, binary).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join(format!("{key}.bin")));
    }
    let _ = std::fs::remove_file(&tmp);
}
