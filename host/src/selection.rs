//! Choosing backends and devices from the command line, and building each backend's options.

use crate::plugins::{OpenDevice, Plugin};
use crate::Failure;
use pow_backend_api::Options;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the host itself tells every backend, under the keys `pow-backend-api` reserves for it
/// (see [`Options`]): its cache folder and whether to measure again.
#[derive(Clone, Debug, Default)]
pub struct HostOptions {
    /// `cache-dir`: the host's cache folder (`~/.cache/pow-host`), where backends may keep
    /// measurements; `None` (no `HOME`) or a path that is not UTF-8 leaves the key out.
    pub cache_dir: Option<PathBuf>,
    /// `recalibrate=1`: `--recalibrate` was given.
    pub recalibrate: bool,
}

impl HostOptions {
    /// The host's cache folder from the environment ([`pow_dispatch::default_cache_dir`]),
    /// not recalibrating.
    pub fn from_environment() -> HostOptions {
        HostOptions {
            cache_dir: pow_dispatch::default_cache_dir(),
            recalibrate: false,
        }
    }

    /// Sets the keys in `options`.
    fn apply(&self, options: &mut Options) {
        // Options are UTF-8: a folder that is not stays out (the backends then cache nothing).
        if let Some(dir) = self.cache_dir.as_deref().and_then(|d| d.to_str()) {
            options.set(Options::CACHE_DIR, dir);
        }
        if self.recalibrate {
            options.set(Options::RECALIBRATE, "1");
        }
    }
}

/// What the user asked for, independent of which plugins exist.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Backend names, or empty for all loaded backends.
    pub backends: Vec<String>,
    /// Per-backend device indexes (`--cuda-devices 0,2`); absent = every device.
    pub devices: BTreeMap<String, Vec<u32>>,
    /// Options passed to every backend (`threads`).
    pub common: Vec<(String, String)>,
    /// Options for one backend (`--backend-opt cpu.path=portable`).
    pub specific: BTreeMap<String, Vec<(String, String)>>,
    /// What the host passes to every backend (cache folder, `--recalibrate`).
    pub host: HostOptions,
}

impl Selection {
    /// The selection of `--backends LIST` (see [`Selection::parse_backend_list`]), with the
    /// host's cache folder for the backends; the one start of the CLI's and the Python
    /// package's selections.
    pub fn new(backend_list: &str) -> Selection {
        Selection {
            backends: Selection::parse_backend_list(backend_list),
            host: HostOptions::from_environment(),
            ..Selection::default()
        }
    }

    /// Parses `--backends LIST`: comma-separated names or `all`.
    pub fn parse_backend_list(list: &str) -> Vec<String> {
        let names: Vec<String> = list
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if names.iter().any(|n| n == "all") {
            Vec::new()
        } else {
            names
        }
    }

    /// Parses a device list such as `0,2`.
    pub fn parse_device_list(list: &str) -> Result<Vec<u32>, Failure> {
        list.split(',')
            .map(|s| {
                s.trim().parse::<u32>().map_err(|_| {
                    Failure::usage(format!(
                        "device list `{list}`: expected comma-separated device numbers"
                    ))
                })
            })
            .collect()
    }

    /// Parses `BACKEND.KEY=VALUE` from `--backend-opt`.
    pub fn add_backend_option(&mut self, text: &str) -> Result<(), Failure> {
        let err = || {
            Failure::usage(format!(
                "--backend-opt `{text}`: expected BACKEND.KEY=VALUE"
            ))
        };
        let (lhs, value) = text.split_once('=').ok_or_else(err)?;
        let (backend, key) = lhs.split_once('.').ok_or_else(err)?;
        if backend.is_empty() || key.is_empty() {
            return Err(err());
        }
        self.specific
            .entry(backend.to_string())
            .or_default()
            .push((key.to_string(), value.to_string()));
        Ok(())
    }

    /// The options for one backend: the host's keys ([`HostOptions`]), then the common
    /// options, then the backend's own `--backend-opt` settings (which may override both).
    pub fn options_for(&self, backend: &str) -> Options {
        let mut o = Options::default();
        self.host.apply(&mut o);
        for (k, v) in &self.common {
            o.set(k, v.clone());
        }
        if let Some(list) = self.specific.get(backend) {
            for (k, v) in list {
                o.set(k, v.clone());
            }
        }
        o
    }

    /// The loaded plugins that were asked for. An unknown name is a usage error that lists the
    /// available backends.
    pub fn pick<'a>(&self, plugins: &'a [Plugin]) -> Result<Vec<&'a Plugin>, Failure> {
        if self.backends.is_empty() {
            if plugins.is_empty() {
                return Err(Failure::runtime(
                    "no backend plugins were found; see `pow-host backends -v` for the folders \
                     searched",
                ));
            }
            return Ok(plugins.iter().collect());
        }
        let available: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
        self.backends
            .iter()
            .map(|name| {
                plugins.iter().find(|p| &p.name == name).ok_or_else(|| {
                    Failure::usage(format!(
                        "unknown backend `{name}`; available: {}",
                        if available.is_empty() {
                            "none".to_string()
                        } else {
                            available.join(", ")
                        }
                    ))
                })
            })
            .collect()
    }

    /// Opens every selected device of the selected backends. Devices that fail to open are
    /// returned as warnings; no device at all is an error.
    pub fn open_devices(
        &self,
        plugins: &[Plugin],
    ) -> Result<(Vec<OpenDevice>, Vec<String>), Failure> {
        let mut devices = Vec::new();
        let mut warnings = Vec::new();
        let picked = self.pick(plugins)?;
        // With `--backends all`, CPU-type devices of other backends (an OpenCL CPU runtime such
        // as PoCL) would compete for the same cores as the cpu backend, and slower; they are
        // used only when named explicitly.
        let cpu_backend_present =
            self.backends.is_empty() && picked.iter().any(|p| p.name == "cpu");
        for plugin in picked {
            let options = self.options_for(&plugin.name);
            let listed = match plugin.list_devices(&options) {
                Ok(l) => l,
                Err(e) if e.kind == pow_backend_api::ErrorKind::InvalidInput => {
                    return Err(Failure::usage(format!("backend `{}`: {e}", plugin.name)));
                }
                Err(e) => {
                    warnings.push(format!("backend `{}`: {e}", plugin.name));
                    continue;
                }
            };
            if listed.is_empty() {
                let why = plugin
                    .unavailable_reason(&options)
                    .unwrap_or_else(|| "no devices".to_string());
                warnings.push(format!("backend `{}`: {why}", plugin.name));
            }
            let wanted = self.devices.get(&plugin.name);
            if let Some(wanted) = wanted {
                for w in wanted {
                    if !listed.iter().any(|d| d.index == *w) {
                        return Err(Failure::usage(format!(
                            "backend `{}` has no device {w} (it lists {})",
                            plugin.name,
                            listed
                                .iter()
                                .map(|d| d.index.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
            for info in listed {
                if wanted.is_some_and(|w| !w.contains(&info.index)) {
                    continue;
                }
                if cpu_backend_present
                    && wanted.is_none()
                    && plugin.name != "cpu"
                    && info.kind == pow_backend_api::DeviceKind::Cpu
                {
                    warnings.push(format!(
                        "{}:{} ({}) is a CPU device and shares its cores with the cpu backend: \
                         not used unless named (--backends {} or --{}-devices)",
                        plugin.name, info.index, info.name, plugin.name, plugin.name
                    ));
                    continue;
                }
                match plugin.open_device(info.index, &options) {
                    Ok(d) => devices.push(d),
                    Err(e) if e.kind == pow_backend_api::ErrorKind::InvalidInput => {
                        return Err(Failure::usage(format!(
                            "backend `{}` device {}: {e}",
                            plugin.name, info.index
                        )));
                    }
                    Err(e) => warnings.push(format!(
                        "backend `{}` device {}: {e}",
                        plugin.name, info.index
                    )),
                }
            }
        }
        if devices.is_empty() {
            let mut msg = "no device could be opened".to_string();
            if !warnings.is_empty() {
                msg.push_str(": ");
                msg.push_str(&warnings.join("; "));
            }
            return Err(Failure::runtime(msg));
        }
        Ok((devices, warnings))
    }
}
