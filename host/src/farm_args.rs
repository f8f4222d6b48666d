//! The farm options shared by `register`, `faucet`, `solve` (the coordinator side) and
//! `worker`, and the one mapping from farm errors to exit codes.

use crate::Failure;
use pow_farm::{FarmConnect, FarmError, Metrics};
use std::path::PathBuf;

/// Where the farm is: `--farm`, `--farm.name`, `--farm.creds`, `--farm.tls-ca`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FarmConnectArgs {
    /// The farm's NATS server: nats://[USER:PASSWORD@|TOKEN@]HOST:PORT (tls:// for TLS).
    /// For `register`, `faucet` and `solve` it also means: mine with the farm's workers.
    #[arg(long, value_name = "URL")]
    pub farm: Option<String>,
    /// Farm name: namespaces the NATS subjects, so several farms can share one server.
    #[arg(long = "farm.name", default_value = "default", value_name = "NAME")]
    pub farm_name: String,
    /// NATS credentials file (JWT and NKey seed) for the farm's server.
    #[arg(long = "farm.creds", value_name = "FILE")]
    pub farm_creds: Option<PathBuf>,
    /// CA certificate (PEM) that signed the farm server's TLS certificate (TLS is then
    /// required).
    #[arg(long = "farm.tls-ca", value_name = "FILE")]
    pub farm_tls_ca: Option<PathBuf>,
}

impl FarmConnectArgs {
    /// The farm, checked (URL, name) but not connected; `None` without `--farm`.
    pub fn connect(&self) -> Result<Option<FarmConnect>, Failure> {
        let Some(url) = &self.farm else {
            return Ok(None);
        };
        let mut farm = FarmConnect::new(url, &self.farm_name).map_err(farm_failure)?;
        farm.creds = self.farm_creds.clone();
        farm.tls_ca = self.farm_tls_ca.clone();
        Ok(Some(farm))
    }

    /// The farm, which `command` cannot do without.
    pub fn required(&self, command: &str) -> Result<FarmConnect, Failure> {
        self.connect()?
            .ok_or_else(|| Failure::usage(format!("{command} needs --farm nats://HOST:PORT")))
    }
}

/// The coordinator's farm options: where the farm is, `--farm.only`, `--metrics-addr`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FarmArgs {
    /// `--farm`, `--farm.name`, `--farm.creds`, `--farm.tls-ca`.
    #[command(flatten)]
    pub at: FarmConnectArgs,
    /// Mine on the farm's workers only, not on this machine's devices.
    #[arg(long = "farm.only")]
    pub farm_only: bool,
    /// Serve Prometheus metrics at this address (for example 127.0.0.1:9100).
    #[arg(long = "metrics-addr", value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
}

impl FarmArgs {
    /// The farm to connect to, checked (URL, name, files) but not connected; `None` without
    /// `--farm`.
    pub fn connect(&self) -> Result<Option<FarmConnect>, Failure> {
        if self.farm_only && self.at.farm.is_none() {
            return Err(Failure::usage("--farm.only needs --farm nats://HOST:PORT"));
        }
        self.at.connect()
    }

    /// Starts the metrics endpoint when asked (inside a tokio runtime).
    pub fn serve_metrics(&self) -> Result<Option<Metrics>, Failure> {
        serve_metrics(self.metrics_addr.as_deref())
    }
}

/// Starts a metrics endpoint at `addr`, if given (inside a tokio runtime).
pub fn serve_metrics(addr: Option<&str>) -> Result<Option<Metrics>, Failure> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let metrics = Metrics::new();
    let bound = metrics.serve(addr).map_err(farm_failure)?;
    eprintln!("metrics at http://{bound}/metrics");
    Ok(Some(metrics))
}

/// Bad input (URL, name, files, credentials, versions) exits 2, the rest 1.
pub fn farm_failure(e: FarmError) -> Failure {
    if e.is_usage() {
        Failure::usage(e.to_string())
    } else {
        Failure::runtime(e.to_string())
    }
}
