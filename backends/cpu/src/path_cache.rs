//! The cached path measurement: `cpu-paths.json` in the host's cache folder (option
//! `cache-dir`, next to the host's `calibration.json`), one entry per CPU model, plugin version
//! and list of available paths, so that another CPU or a build with other paths measures
//! again.

use crate::measure::PathRate;
use crate::Path;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The file's name in the cache folder.
pub const FILE_NAME: &str = "cpu-paths.json";

/// The file format's version; a file of another version is ignored (and replaced).
pub const FORMAT_VERSION: u32 = 1;

/// What a measurement is valid for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// The CPU model (`pow_backend_api::cpu_id::cpu_identity`).
    pub cpu: String,
    /// This plugin's version and a digest of its source (`0.1.0+1f2e...`), so that a rebuilt
    /// kernel is measured again.
    pub plugin_version: String,
    /// The names of the paths available, in [`crate::available_paths`] order.
    pub paths: Vec<String>,
}

impl CacheKey {
    /// The key of `paths` measured on this CPU by this plugin.
    pub fn here(paths: &[Path]) -> CacheKey {
        CacheKey {
            cpu: pow_backend_api::cpu_id::cpu_identity(),
            plugin_version: concat!(env!("CARGO_PKG_VERSION"), "+", env!("KERNELS_DIGEST"))
                .to_string(),
            paths: paths.iter().map(|p| p.name.to_string()).collect(),
        }
    }
}

/// One cached measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    key: CacheKey,
    /// When it was measured (seconds since 1970).
    measured_unix: u64,
    rates: Vec<PathRate>,
}

#[derive(Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<Entry>,
}

/// Why a measurement could not be cached.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The measurement could not be encoded.
    #[error("cannot encode the path measurement: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The cache file of a cache folder.
#[derive(Clone, Debug)]
pub struct PathCache {
    file: PathBuf,
}

impl PathCache {
    /// The cache in folder `dir` (the host's `cache-dir`); the file is created on first store.
    pub fn in_dir(dir: impl Into<PathBuf>) -> PathCache {
        PathCache {
            file: dir.into().join(FILE_NAME),
        }
    }

    /// The file.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// The file's entries; nothing when it is missing, unreadable or of another version.
    fn read(&self) -> CacheFile {
        std::fs::read(&self.file)
            .ok()
            .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
            .filter(|f| f.version == FORMAT_VERSION)
            .unwrap_or_default()
    }

    /// The rates cached for `key`, if any.
    pub fn load(&self, key: &CacheKey) -> Option<Vec<PathRate>> {
        self.read()
            .entries
            .into_iter()
            .find(|e| &e.key == key)
            .map(|e| e.rates)
    }

    /// Caches `rates` for `key`, replacing an earlier entry of that key and keeping the others.
    pub fn store(&self, key: &CacheKey, rates: &[PathRate]) -> Result<(), CacheError> {
        let mut file = self.read();
        file.version = FORMAT_VERSION;
        file.entries.retain(|e| &e.key != key);
        file.entries.push(Entry {
            key: key.clone(),
            measured_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            rates: rates.to_vec(),
        });
        let text = serde_json::to_vec_pretty(&file)?;
        pow_backend_api::cache_file::write_atomically(&self.file, &text).map_err(|source| {
            CacheError::Write {
                path: self.file.clone(),
                source,
            }
        })
    }
}
