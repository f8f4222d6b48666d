//! `pow-host worker --farm nats://HOST:PORT`: a keyless mining machine of a farm. It loads its
//! plugins, calibrates its devices, and mines whatever job the farm's coordinator announces,
//! on the index ranges leased to it, until interrupted.

use crate::Context;
use pow_backend_api::Job;
use pow_dispatch::{Config, Dispatcher};
use pow_farm::{run_worker, WorkerConfig, WorkerEvent};
use pow_host::calibration::calibrate_dispatcher;
use pow_host::dispatch_args::CalibrationArgs;
use pow_host::dispatch_devices::open_dispatch_devices;
use pow_host::farm_args::{farm_failure, serve_metrics, FarmConnectArgs};
use pow_host::output::FarmEventLine;
use pow_host::Failure;
use pow_seal::{Challenge, Work};
use std::sync::Arc;

/// Arguments of `pow-host worker`.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// `--farm` (required), `--farm.name`, `--farm.creds`, `--farm.tls-ca`.
    #[command(flatten)]
    farm: FarmConnectArgs,
    /// This worker's id on the farm (default: HOST-PID).
    #[arg(long = "worker-id", value_name = "ID")]
    worker_id: Option<String>,
    /// Seconds of this worker's work asked for per lease.
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    lease_seconds: f64,
    /// Fixed nonce indexes per device search call (default: sized per device).
    #[arg(long, value_name = "N")]
    batch: Option<u64>,
    /// `--calibrate-seconds`, `--recalibrate`.
    #[command(flatten)]
    pub(crate) calibration: CalibrationArgs,
    /// Serve Prometheus metrics at this address (for example 127.0.0.1:9101).
    #[arg(long = "metrics-addr", value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Events as JSON lines on stderr.
    #[arg(long)]
    json: bool,
}

/// The host's name, for the farm status.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// A worker id: 1 to 128 printable ASCII characters without spaces.
fn worker_id(given: Option<&str>, host: &str) -> Result<String, Failure> {
    let id = given.map_or_else(|| format!("{host}-{}", std::process::id()), str::to_string);
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::usage(format!(
            "--worker-id {id:?}: use 1 to 128 printable characters without spaces"
        )));
    }
    Ok(id)
}

pub fn run(ctx: &Context, args: &WorkerArgs) -> Result<(), Failure> {
    let farm = args.farm.required("worker")?;
    let host = host_name();
    let id = worker_id(args.worker_id.as_deref(), &host)?;
    if !(args.lease_seconds > 0.0 && args.lease_seconds <= 3600.0) {
        return Err(Failure::usage("--lease-seconds must be in (0, 3600]"));
    }
    let settings = args.calibration.settings()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    // Reach the farm first: a wrong URL or password fails before any device is opened.
    let link = rt
        .block_on(farm.link(&format!("pow-host worker {id}")))
        .map_err(farm_failure)?;
    let (devices, warnings) = open_dispatch_devices(&ctx.selection, &ctx.report.plugins)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if devices.is_empty() {
        return Err(Failure::usage("no devices to mine on"));
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let config = Config {
        fixed_batch: args.batch.map(|b| b.max(1)),
        ..Config::default()
    };
    let dispatcher = Dispatcher::with_sink(devices, config, move |e| {
        let _ = tx.send(e);
    })
    .map_err(|e| Failure::runtime(format!("cannot start the dispatcher: {e}")))?;
    // Calibrate on the pow_register layout, the one farms mine most.
    let sample = Challenge::v1(1, [0; 32], [0; 32], [0; 32]).expect("a valid sample");
    let plan = calibrate_dispatcher(
        &dispatcher,
        &Job::from_work(&Work::new(sample, 1)),
        &settings,
        ctx.verbose > 0,
    )?;
    let labels: Vec<String> = plan
        .mix
        .iter()
        .map(|d| dispatcher.devices()[*d].label.clone())
        .collect();
    eprintln!(
        "worker {id} on {host}: {} ({}), joining farm {} at {}",
        labels.join(", "),
        pow_dispatch::rate_text(plan.mix_rate),
        farm.name.as_str(),
        farm.shown_url()
    );
    let json = args.json;
    let verbose = ctx.verbose > 0;
    let log_id = id.clone();
    let cfg = WorkerConfig {
        lease_seconds: args.lease_seconds,
        ..WorkerConfig::new(&id, &host, plan.mix_rate)
    };
    let result = rt.block_on(async {
        let metrics = serve_metrics(args.metrics_addr.as_deref())?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        run_worker(
            link,
            cfg,
            dispatcher.handle(),
            rx,
            Arc::new(move |e| {
                // Leases come every few seconds: shown with -v or in JSON.
                if json || verbose || !matches!(e, WorkerEvent::Lease { .. }) {
                    FarmEventLine::worker(&log_id, &e).print(json)
                }
            }),
            metrics,
            shutdown,
        )
        .await
        .map_err(farm_failure)
    });
    dispatcher.stop();
    result
}
