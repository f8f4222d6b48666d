//! `pow-host bench`: the dispatcher's calibration and dispatch measured on a fixed sample
//! challenge that no seal can pass: each device alone, candidate mixes together, the chosen
//! mix dispatched, and the latency of challenge switches.

use crate::cmd_solve::ChallengeKind;
use crate::Context;
use pow_backend_api::Job;
use pow_host::dispatch_args::DispatchArgs;
use pow_host::dispatch_devices::open_dispatch_devices;
use pow_host::output::{BenchDeviceOutput, BenchOutput, CandidateOutput, LatencyOutput};
use pow_host::run_loop::{bench_dispatch, BenchReport};
use pow_host::Failure;
use pow_seal::{Challenge, SealOrder, Work};
use std::time::Duration;

/// Arguments of `pow-host bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Challenge layout to hash.
    #[arg(long, value_enum, default_value = "v1")]
    challenge: ChallengeKind,
    /// Seconds of each measuring phase (at least 0.05): every device alone, each candidate
    /// mix, and the chosen mix dispatched.
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    seconds: f64,
    /// Challenge switches to time after the run.
    #[arg(long, default_value_t = 20, value_name = "N")]
    switches: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    dispatch: Box<DispatchArgs>,
}

const BLOCK: &str = "5b4bb52cc2b35b226782dd0490e94d35ab06e888732ba9db72faef6ff89f1782";
const HOTKEY: &str = "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";
const COLDKEY: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";

/// The sample challenge: netuid 1 and the block, hotkey and coldkey of bittensor's own
/// hash-rate script; legacy uses the little-endian seal.
fn sample(kind: ChallengeKind) -> Challenge {
    let b = |s: &str| pow_seal::parse_bytes32(s).expect("built-in hex");
    match kind {
        ChallengeKind::V1 => Challenge::v1(1, b(BLOCK), b(HOTKEY), b(COLDKEY)).expect("netuid 1"),
        ChallengeKind::Legacy => Challenge::Legacy {
            block_hash: b(BLOCK),
            hotkey: b(HOTKEY),
            seal_order: SealOrder::LittleEndian,
        },
        ChallengeKind::Faucet => Challenge::Faucet {
            block_hash: b(BLOCK),
            coldkey: b(COLDKEY),
        },
    }
}

/// Median, 90th percentile and maximum of the switch latencies, in milliseconds.
fn latency_summary(r: &BenchReport) -> Option<(f64, f64, f64)> {
    let mut ms: Vec<f64> = r
        .switch_latencies
        .iter()
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    Some((at(0.5), at(0.9), ms[ms.len() - 1]))
}

/// Runs `pow-host bench`.
pub fn run(ctx: &Context, args: &BenchArgs) -> Result<(), Failure> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(Failure::usage(format!(
            "--seconds {}: expected a number of seconds above 0 and at most 3600",
            args.seconds
        )));
    }
    let config = args.dispatch.config(None)?;
    let challenge = sample(args.challenge);
    let job = Job::from_work(&Work::new(challenge.clone(), u64::MAX));
    let (devices, warnings) = open_dispatch_devices(&ctx.selection, &ctx.report.plugins)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    // Shorter phases than this measure nothing useful.
    let phase = Duration::from_secs_f64(args.seconds.max(0.05));
    let r = bench_dispatch(devices, &job, config, phase, args.switches)?;
    for (label, reason) in &r.dropped {
        eprintln!("warning: device {label} dropped: {reason}");
    }
    if ctx.verbose > 0 {
        for line in r.plan.describe() {
            eprintln!("{line}");
        }
    }
    let plan = &r.plan;
    let alive: Vec<usize> = plan
        .devices
        .iter()
        .filter(|p| p.failure.is_none())
        .map(|p| p.id)
        .collect();
    // All working devices together, as measured during calibration.
    let together = plan.candidates.iter().find(|c| c.devices == alive);
    let together_rate = |id: usize| {
        together
            .and_then(|c| {
                c.devices
                    .iter()
                    .position(|x| *x == id)
                    .map(|p| c.per_device[p])
            })
            .unwrap_or(0.0)
    };
    let total = together.map_or(0.0, |c| c.rate);
    let mix_labels: Vec<&str> = plan
        .mix
        .iter()
        .map(|id| r.devices[*id].label.as_str())
        .collect();
    let latency = latency_summary(&r);
    let dispatched = |id: usize| {
        r.device_attempts.get(id).copied().unwrap_or(0) as f64 / r.mix_seconds.max(1e-9)
    };

    if args.json {
        let devices = r
            .devices
            .iter()
            .zip(&plan.devices)
            .map(|(m, p)| BenchDeviceOutput {
                backend: m.backend.clone(),
                device: m.index,
                name: m.name.clone(),
                detail: m.detail.clone(),
                hashes_per_second: p.solo_rate.round(),
                together_hashes_per_second: together_rate(p.id).round(),
                in_mix: p.enabled,
                mix_hashes_per_second: dispatched(p.id).round(),
                cancel_latency_ms: p.cancel_latency.map(|l| l.as_secs_f64() * 1e3),
                batch: p.batch,
                failure: p.failure.clone(),
            })
            .collect();
        let candidates = plan
            .candidates
            .iter()
            .map(|c| CandidateOutput {
                devices: c
                    .devices
                    .iter()
                    .map(|id| plan.devices[*id].label.clone())
                    .collect(),
                hashes_per_second: c.rate,
            })
            .collect();
        let out = BenchOutput {
            challenge: challenge.kind_name().to_string(),
            seconds: args.seconds,
            devices,
            total_hashes_per_second: total.round(),
            mix: mix_labels.iter().map(|l| l.to_string()).collect(),
            calibrated_mix_hashes_per_second: plan.mix_rate.round(),
            mix_hashes_per_second: r.mix_rate().round(),
            candidates,
            switches: r.switch_latencies.len(),
            switch_cancelled_batches: r.switch_cancelled,
            switch_latency_ms: latency.map(|(median, p90, max)| LatencyOutput { median, p90, max }),
        };
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
    } else {
        println!(
            "challenge {}, {} s per phase, nothing passes (target 0)",
            challenge.kind_name(),
            args.seconds
        );
        println!(
            "{:<12} {:<30} {:>13} {:>13} {:>7} {:>13} {:>10}",
            "device", "name", "alone H/s", "together H/s", "in mix", "mix H/s", "cancel ms"
        );
        for (m, p) in r.devices.iter().zip(&plan.devices) {
            if let Some(f) = &p.failure {
                println!("{:<12} failed: {f}", m.label);
                continue;
            }
            println!(
                "{:<12} {:<30} {:>13.0} {:>13.0} {:>7} {:>13.0} {:>10}",
                m.label,
                format!("{} ({})", m.name, m.detail),
                p.solo_rate,
                together_rate(p.id),
                if p.enabled { "yes" } else { "no" },
                dispatched(p.id),
                p.cancel_latency
                    .map_or("-".into(), |l| format!("{:.1}", l.as_secs_f64() * 1e3)),
            );
        }
        println!("all together (calibration): {total:.0} H/s");
        println!(
            "chosen mix {{{}}}: {:.0} H/s calibrated, {:.0} H/s dispatched over {:.1} s",
            mix_labels.join(", "),
            plan.mix_rate,
            r.mix_rate(),
            r.mix_seconds
        );
        if let Some((median, p90, max)) = latency {
            println!(
                "challenge switch ({} switches, {} batches cancelled): median {median:.1} ms, \
                 p90 {p90:.1} ms, max {max:.1} ms",
                r.switch_latencies.len(),
                r.switch_cancelled
            );
        }
    }
    Ok(())
}
