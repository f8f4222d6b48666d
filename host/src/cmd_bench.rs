//! `pow-host bench`: the dispatcher's calibration and dispatch measured on a fixed sample
//! challenge that no seal can pass: each device alone, candidate mixes together, the chosen
//! mix dispatched, and the latency of challenge switches.

use crate::cmd_solve::ChallengeKind;
use crate::Context;
use pow_host::bench::{check_seconds, run_bench, sample_challenge, Bench};
use pow_host::dispatch_args::DispatchArgs;
use pow_host::dispatch_devices::open_dispatch_devices;
use pow_host::Failure;

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
    pub(crate) dispatch: Box<DispatchArgs>,
}

/// Runs `pow-host bench`.
pub fn run(ctx: &Context, args: &BenchArgs) -> Result<(), Failure> {
    check_seconds(args.seconds)?;
    let config = args.dispatch.config(None)?;
    let challenge = sample_challenge(args.challenge.name())?;
    let (devices, warnings) = open_dispatch_devices(&ctx.selection, &ctx.report.plugins)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let Bench { report: r, output } =
        run_bench(devices, &challenge, config, args.seconds, args.switches)?;
    for (label, reason) in &r.dropped {
        eprintln!("warning: device {label} dropped: {reason}");
    }
    if ctx.verbose > 0 {
        for line in r.plan.describe() {
            eprintln!("{line}");
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output).expect("JSON"));
        return Ok(());
    }
    println!(
        "challenge {}, {} s per phase, nothing passes (target 0)",
        output.challenge, args.seconds
    );
    println!(
        "{:<12} {:<30} {:>13} {:>13} {:>7} {:>13} {:>10}",
        "device", "name", "alone H/s", "together H/s", "in mix", "mix H/s", "cancel ms"
    );
    for (m, d) in r.devices.iter().zip(&output.devices) {
        if let Some(f) = &d.failure {
            println!("{:<12} failed: {f}", m.label);
            continue;
        }
        println!(
            "{:<12} {:<30} {:>13.0} {:>13.0} {:>7} {:>13.0} {:>10}",
            m.label,
            format!("{} ({})", d.name, d.detail),
            d.hashes_per_second,
            d.together_hashes_per_second,
            if d.in_mix { "yes" } else { "no" },
            d.mix_hashes_per_second,
            d.cancel_latency_ms
                .map_or("-".into(), |l| format!("{l:.1}")),
        );
    }
    println!(
        "all together (calibration): {:.0} H/s",
        output.total_hashes_per_second
    );
    println!(
        "chosen mix {{{}}}: {:.0} H/s calibrated, {:.0} H/s dispatched over {:.1} s",
        output.mix.join(", "),
        output.calibrated_mix_hashes_per_second,
        output.mix_hashes_per_second,
        r.mix_seconds
    );
    if let Some(l) = &output.switch_latency_ms {
        println!(
            "challenge switch ({} switches, {} batches cancelled): median {:.1} ms, \
             p90 {:.1} ms, max {:.1} ms",
            output.switches, output.switch_cancelled_batches, l.median, l.p90, l.max
        );
    }
    Ok(())
}
