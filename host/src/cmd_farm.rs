//! `pow-host farm status --farm nats://HOST:PORT`: the farm as its coordinator sees it, from
//! any machine that can reach the NATS server.

use pow_farm::protocol::WorkerState;
use pow_farm::FarmStatus;
use pow_host::farm_args::{farm_failure, FarmConnectArgs};
use pow_host::Failure;
use std::time::Duration;

/// Arguments of `pow-host farm`.
#[derive(clap::Args, Debug)]
pub struct FarmCmdArgs {
    #[command(subcommand)]
    command: FarmCommand,
}

#[derive(clap::Subcommand, Debug)]
enum FarmCommand {
    /// Ask the farm's coordinator for its workers, devices, rates and leases.
    Status(StatusArgs),
}

#[derive(clap::Args, Debug)]
struct StatusArgs {
    /// `--farm` (required), `--farm.name`, `--farm.creds`, `--farm.tls-ca`.
    #[command(flatten)]
    farm: FarmConnectArgs,
    /// Seconds to wait for the coordinator's answer.
    #[arg(long, default_value_t = 3, value_name = "S")]
    wait: u64,
    /// Print the status as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &FarmCmdArgs) -> Result<(), Failure> {
    let FarmCommand::Status(args) = &args.command;
    let farm = args.farm.required("farm status")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))?;
    let status = rt
        .block_on(pow_farm::request_status(
            &farm,
            Duration::from_secs(args.wait.max(1)),
        ))
        .map_err(farm_failure)?;
    if args.json {
        println!("{}", serde_json::to_string(&status).expect("JSON"));
    } else {
        print_status(&status);
    }
    Ok(())
}

fn print_status(s: &FarmStatus) {
    let rate = pow_dispatch::rate_text;
    print!("farm {} (coordinator {}", s.farm, s.coordinator);
    match (s.job_id, s.difficulty) {
        (Some(j), Some(d)) => println!(", job {j}, difficulty {d})"),
        (Some(j), None) => println!(", job {j})"),
        _ => println!(", no job)"),
    }
    print!(
        "rate {} (EWMA {}; this coordinator's devices {})",
        rate(s.farm_rate),
        rate(s.farm_rate_ewma),
        rate(s.local_rate)
    );
    match s.expected_seconds {
        Some(t) => println!(", expected {t:.0} s to a solution"),
        None => println!(),
    }
    println!(
        "leases {} ({} indexes); hits {} accepted, {} stale, {} rejected, {} dropped",
        s.leases, s.leased_indexes, s.hits_accepted, s.hits_stale, s.hits_rejected, s.hits_dropped
    );
    if let (Some(p50), Some(p99)) = (s.switch_ms_p50, s.switch_ms_p99) {
        println!("new job to first lease: p50 {p50:.1} ms, p99 {p99:.1} ms");
    }
    println!(
        "{:<28} {:<16} {:<12} {:>12} {:>7} {:>7} {:>9}",
        "WORKER", "HOST", "STATE", "RATE", "DEVICES", "LEASES", "SEEN"
    );
    for w in &s.workers {
        let state = match w.state {
            WorkerState::Active => "active",
            WorkerState::Dropped => "dropped",
            WorkerState::Quarantined => "quarantined",
        };
        println!(
            "{:<28} {:<16} {:<12} {:>12} {:>7} {:>7} {:>8.1}s",
            w.worker,
            w.host,
            state,
            rate(w.rate),
            w.devices.len(),
            w.leases,
            w.last_seen_seconds
        );
        for d in &w.devices {
            println!("    {:<24} {:>12}", d.label, rate(d.rate));
        }
    }
}
