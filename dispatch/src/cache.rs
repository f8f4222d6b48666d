//! The calibration cache: one JSON file of plans, keyed by machine, job shape and devices.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The host's cache folder: `$XDG_CACHE_HOME/pow-host`, else `~/.cache/pow-host`; `None` when
/// neither variable is usable. The host passes it to every backend as option `cache-dir`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(x) if Path::new(&x).is_absolute() => PathBuf::from(x),
        _ => {
            let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
            PathBuf::from(home).join(".cache")
        }
    };
    Some(base.join("pow-host"))
}

/// The calibration cache file: `calibration.json` in [`default_cache_dir`].
pub fn default_cache_path() -> Option<PathBuf> {
    default_cache_dir().map(|d| d.join("calibration.json"))
}

/// Identity of this machine for the cache: host name, CPU model, core count, OS and
/// architecture.
pub fn machine_fingerprint() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let cpu = pow_backend_api::cpu_id::cpu_model_name();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{}|{}|{}|{}|{}",
        host.trim(),
        cpu,
        cores,
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// One device of a cached plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct CachedDevice {
    pub fingerprint: String,
    pub label: String,
    pub solo_rate: f64,
    pub mix_rate: f64,
    pub cancel_latency_ms: Option<f64>,
    pub enabled: bool,
}

/// One measured mix of a cached plan (devices by fingerprint).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct CachedCandidate {
    pub devices: Vec<String>,
    pub rate: f64,
    pub per_device: Vec<f64>,
}

/// A cached plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct CachedPlan {
    pub created_unix: u64,
    pub devices: Vec<CachedDevice>,
    pub candidates: Vec<CachedCandidate>,
    pub mix_rate: f64,
    pub solo_sum: f64,
}

#[derive(Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: BTreeMap<String, CachedPlan>,
}

const CACHE_VERSION: u32 = 1;

/// A calibration cache file.
#[derive(Clone, Debug)]
pub struct CalibrationCache {
    path: PathBuf,
}

impl CalibrationCache {
    /// A cache stored at `path` (created on first store).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CalibrationCache { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> CacheFile {
        std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
            .filter(|f| f.version == CACHE_VERSION)
            .unwrap_or_default()
    }

    pub(crate) fn load(&self, key: &str) -> Option<CachedPlan> {
        self.read().entries.get(key).cloned()
    }

    pub(crate) fn store(&self, key: &str, plan: CachedPlan) -> std::io::Result<()> {
        let mut file = self.read();
        file.version = CACHE_VERSION;
        file.entries.insert(key.to_string(), plan);
        let text = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        pow_backend_api::cache_file::write_atomically(&self.path, &text)
    }
}

/// The cache key for a machine, a job shape and a list of device fingerprints.
pub(crate) fn cache_key(machine: &str, shape: &str, fingerprints: &[String]) -> String {
    let mut text = format!("{machine}\n{shape}\n");
    for f in fingerprints {
        text.push_str(f);
        text.push('\n');
    }
    pow_seal::to_hex(&pow_seal::sha256(text.as_bytes()))
        .trim_start_matches("0x")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_load_round_trips() {
        let dir = std::env::temp_dir().join(format!("pow-dispatch-cache-{}", std::process::id()));
        let cache = CalibrationCache::new(dir.join("sub").join("calibration.json"));
        let plan = CachedPlan {
            created_unix: 1,
            devices: vec![CachedDevice {
                fingerprint: "f".into(),
                label: "x:0".into(),
                solo_rate: 10.0,
                mix_rate: 9.0,
                cancel_latency_ms: Some(1.5),
                enabled: true,
            }],
            candidates: vec![],
            mix_rate: 9.0,
            solo_sum: 10.0,
        };
        let key = cache_key("m", "s", &["f".into()]);
        assert!(cache.load(&key).is_none());
        cache.store(&key, plan.clone()).unwrap();
        assert_eq!(cache.load(&key), Some(plan));
        assert_ne!(key, cache_key("m", "s2", &["f".into()]));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
