//! Which hashing path the device runs: the one named by option `path`, else the fastest one
//! measured on this CPU ([`crate::measure`]), read from the host's cache folder when this CPU
//! model and build measured it before ([`crate::path_cache`]). The measurement runs once per
//! process, so listing and opening the device measure once.

use crate::measure::{measure_rates, PathRate};
use crate::path_cache::{CacheKey, PathCache};
use crate::{available_paths, Path};
use pow_backend_api::{BackendError, Options};
use std::sync::OnceLock;

/// How the path was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Named by option `path`; nothing was measured.
    Forced,
    /// Measured in this process.
    Measured,
    /// Measured earlier on this CPU model, read from the cache.
    Cached,
}

/// The chosen path, how it was chosen and the rates it was chosen by.
#[derive(Clone)]
pub struct Choice {
    /// The path the device runs.
    pub path: Path,
    /// Forced, measured now or cached.
    pub source: Source,
    /// Every path's measured rate (empty when forced), in the order measured.
    pub rates: Vec<PathRate>,
    /// Why a fresh measurement was not cached, if it could not be.
    pub not_cached: Option<String>,
}

impl Choice {
    /// The device's detail: `path NAME`, then a second line on how it was chosen (shown by
    /// `pow-host backends -v`), for example
    /// `rates on 1 thread, measured now: avx2 5.4 M/s, shani-avx2 4.2, portable 1.6`.
    pub fn detail(&self) -> String {
        let how = match self.source {
            Source::Forced => format!("forced with path={}, not measured", self.path.name),
            Source::Measured | Source::Cached => {
                let mut rates = self.rates.clone();
                rates.sort_by(|a, b| b.attempts_per_second.total_cmp(&a.attempts_per_second));
                let list: Vec<String> = rates
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let unit = if i == 0 { " M/s" } else { "" };
                        format!("{} {}{unit}", r.path, mega(r.attempts_per_second))
                    })
                    .collect();
                let when = match (self.source, &self.not_cached) {
                    (Source::Cached, _) => "from the cache".to_string(),
                    (_, None) => "measured now".to_string(),
                    (_, Some(why)) => format!("measured now, not cached: {why}"),
                };
                format!("rates on 1 thread, {when}: {}", list.join(", "))
            }
        };
        format!("path {}\n{how}", self.path.name)
    }
}

/// A rate in millions: one decimal, two below 1 M/s.
fn mega(rate: f64) -> String {
    let m = rate / 1e6;
    if m >= 1.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.2}")
    }
}

/// The path of `paths` with the highest rate in `rates` (the first of equals); `None` when no
/// rate is positive.
pub fn fastest(paths: &[Path], rates: &[PathRate]) -> Option<Path> {
    let mut best: Option<(Path, f64)> = None;
    for r in rates {
        let Some(p) = paths.iter().find(|p| p.name == r.path) else {
            continue;
        };
        if r.attempts_per_second > best.map_or(0.0, |(_, b)| b) {
            best = Some((*p, r.attempts_per_second));
        }
    }
    best.map(|(p, _)| p)
}

/// Whether cached rates fit `paths`: each names an available path and is a positive number.
fn fits(paths: &[Path], rates: &[PathRate]) -> bool {
    !rates.is_empty()
        && rates.iter().all(|r| {
            paths.iter().any(|p| p.name == r.path)
                && r.attempts_per_second.is_finite()
                && r.attempts_per_second > 0.0
        })
}

/// The path named `name` among `paths`; another name is an invalid-input error listing them.
pub fn forced(paths: &[Path], name: &str) -> Result<Choice, BackendError> {
    let path = paths
        .iter()
        .copied()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<_> = paths.iter().map(|p| p.name).collect();
            BackendError::invalid(format!(
                "CPU path `{name}` is not available here; available: {}",
                names.join(", ")
            ))
        })?;
    Ok(Choice {
        path,
        source: Source::Forced,
        rates: Vec::new(),
        not_cached: None,
    })
}

/// The fastest of `paths` (not empty; [`available_paths`] always has `portable`) by the rates
/// cached in `cache` for this CPU, plugin version and list of paths, unless `recalibrate`, no
/// entry fits, or the entry names a path not in `paths`; else by `measure`'s rates, which then
/// replace the entry.
pub fn measured(
    paths: &[Path],
    cache: Option<&PathCache>,
    recalibrate: bool,
    measure: impl FnOnce(&[Path]) -> Vec<PathRate>,
) -> Choice {
    let key = CacheKey::here(paths);
    if !recalibrate {
        let cached = cache.and_then(|c| c.load(&key)).filter(|r| fits(paths, r));
        if let Some(rates) = cached {
            if let Some(path) = fastest(paths, &rates) {
                return Choice {
                    path,
                    source: Source::Cached,
                    rates,
                    not_cached: None,
                };
            }
        }
    }
    let rates = measure(paths);
    let path = fastest(paths, &rates);
    let not_cached = match (cache, path) {
        (Some(cache), Some(_)) => cache.store(&key, &rates).err().map(|e| e.to_string()),
        _ => None,
    };
    Choice {
        path: path.unwrap_or(paths[0]),
        source: Source::Measured,
        rates,
        not_cached,
    }
}

/// The path option `path=NAME` forces, if any (`auto` forces none).
fn forced_name(options: &Options) -> Option<&str> {
    options.get("path").filter(|name| *name != "auto")
}

/// [`measured`] with the host's `cache-dir` and `recalibrate` from `options`.
fn auto(
    paths: &[Path],
    options: &Options,
    measure: impl FnOnce(&[Path]) -> Vec<PathRate>,
) -> Choice {
    let cache = options.cache_dir().map(PathCache::in_dir);
    measured(paths, cache.as_ref(), options.recalibrate(), measure)
}

/// The choice `options` ask for among `paths`: option `path=NAME` forces one (nothing is
/// measured); absent or `auto`, [`measured`] with the host's `cache-dir` and `recalibrate`.
pub fn choose_with(
    paths: &[Path],
    options: &Options,
    measure: impl FnOnce(&[Path]) -> Vec<PathRate>,
) -> Result<Choice, BackendError> {
    match forced_name(options) {
        Some(name) => forced(paths, name),
        None => Ok(auto(paths, options, measure)),
    }
}

/// The backend's choice: [`choose_with`] on [`available_paths`] with [`measure_rates`], except
/// that the measured (or cached) choice is kept for the rest of the process: the first call's
/// `cache-dir` and `recalibrate` decide it.
pub fn choose(options: &Options) -> Result<Choice, BackendError> {
    static AUTO: OnceLock<Choice> = OnceLock::new();
    let paths = available_paths();
    match forced_name(options) {
        Some(name) => forced(&paths, name),
        None => Ok(AUTO
            .get_or_init(|| auto(&paths, options, measure_rates))
            .clone()),
    }
}
