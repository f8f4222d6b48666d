//! `pow-host bench`: attempts per second of each selected device alone, then of all of them
//! together, on a fixed sample challenge that no seal can pass.

use crate::cmd_solve::ChallengeKind;
use crate::Context;
use pow_backend_api::Job;
use pow_host::plugins::{verified_hits, OpenDevice};
use pow_host::Failure;
use pow_seal::{Challenge, SealOrder, Work};
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Arguments of `pow-host bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Challenge layout to hash.
    #[arg(long, value_enum, default_value = "v1")]
    challenge: ChallengeKind,
    /// Seconds to run each device alone, and again all together.
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    seconds: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
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

/// One device's counters over a timed run.
#[derive(Default, Clone, Copy)]
struct Rate {
    attempts: u64,
    seconds: f64,
}

impl Rate {
    fn per_second(self) -> f64 {
        if self.seconds > 0.0 {
            self.attempts as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Time one call should take.
const CALL: Duration = Duration::from_millis(100);

/// Runs `device` for `seconds` in calls sized to about [`CALL`], from index `start`; `batch`
/// is the call size to begin with and comes back tuned.
fn run_device(
    device: &mut OpenDevice,
    job: &Job,
    start: u64,
    batch: &mut u64,
    seconds: f64,
) -> Result<Rate, Failure> {
    let cancel = AtomicBool::new(false);
    let mut rate = Rate::default();
    let mut next = start;
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        let out = device
            .search(next, *batch, &cancel)
            .map_err(|e| Failure::runtime(format!("{}: {e}", device.label())))?;
        let dt = t.elapsed().as_secs_f64();
        let (_, refuted) = verified_hits(job, &out.hits);
        if !refuted.is_empty() {
            return Err(Failure::runtime(format!(
                "{} reported {} hit(s) that the seal library refutes",
                device.label(),
                refuted.len()
            )));
        }
        rate.attempts += out.attempts;
        rate.seconds += dt;
        next = next.wrapping_add(out.searched.max(1));
        // Aim the next call at CALL, changing by at most 4x at a time.
        let want = (*batch as f64 * CALL.as_secs_f64() / dt.max(1e-6))
            .clamp(*batch as f64 / 4.0, *batch as f64 * 4.0);
        *batch = (want as u64).clamp(1 << 10, 1 << 40);
    }
    Ok(rate)
}

/// Runs `pow-host bench`.
pub fn run(ctx: &Context, args: &BenchArgs) -> Result<(), Failure> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(Failure::usage(format!(
            "--seconds {}: expected a number of seconds above 0 and at most 3600",
            args.seconds
        )));
    }
    let challenge = sample(args.challenge);
    let job = Job::from_work(&Work::new(challenge.clone(), u64::MAX));
    let (mut devices, warnings) = ctx.selection.open_devices(&ctx.report.plugins)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    for d in devices.iter_mut() {
        d.set_job(&job)
            .map_err(|e| Failure::runtime(format!("{}: {e}", d.label())))?;
    }
    // Each device gets its own index region so that no two ever hash the same nonce.
    let region = |i: usize| (i as u64) << 56;
    let mut batches = vec![1u64 << 16; devices.len()];
    let mut solo = Vec::with_capacity(devices.len());
    for (i, d) in devices.iter_mut().enumerate() {
        // A short warm-up call also tunes the batch size.
        run_device(d, &job, region(i), &mut batches[i], 0.3)?;
        solo.push(run_device(
            d,
            &job,
            region(i) + (1 << 40),
            &mut batches[i],
            args.seconds,
        )?);
    }
    let together: Vec<Rate> = if devices.len() > 1 {
        let results: Vec<Result<Rate, Failure>> = std::thread::scope(|s| {
            let handles: Vec<_> = devices
                .iter_mut()
                .zip(batches.iter_mut())
                .enumerate()
                .map(|(i, (d, batch))| {
                    let job = &job;
                    s.spawn(move || run_device(d, job, region(i) + (2 << 40), batch, args.seconds))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Failure::runtime("bench thread panicked")))
                })
                .collect()
        });
        results.into_iter().collect::<Result<_, _>>()?
    } else {
        solo.clone()
    };
    let total: f64 = together.iter().map(|r| r.per_second()).sum();

    if args.json {
        let devs: Vec<_> = devices
            .iter()
            .zip(solo.iter().zip(&together))
            .map(|(d, (s, t))| {
                json!({
                    "backend": d.backend,
                    "device": d.info.index,
                    "name": d.info.name.as_str(),
                    "detail": d.info.detail.as_str(),
                    "hashes_per_second": s.per_second().round() as u64,
                    "together_hashes_per_second": t.per_second().round() as u64,
                })
            })
            .collect();
        let out = json!({
            "challenge": challenge.kind_name(),
            "seconds": args.seconds,
            "devices": devs,
            "total_hashes_per_second": total.round() as u64,
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
    } else {
        println!(
            "challenge {}, {} s per run, difficulty 2^64-1 (nothing passes)",
            challenge.kind_name(),
            args.seconds
        );
        println!(
            "{:<12} {:<28} {:>14} {:>14}",
            "device", "name", "alone H/s", "together H/s"
        );
        for (d, (s, t)) in devices.iter().zip(solo.iter().zip(&together)) {
            println!(
                "{:<12} {:<28} {:>14.0} {:>14.0}",
                d.label(),
                format!("{} ({})", d.info.name.as_str(), d.info.detail.as_str()),
                s.per_second(),
                t.per_second()
            );
        }
        println!("{:<12} {:<28} {:>14} {:>14.0}", "total", "", "", total);
    }
    Ok(())
}
