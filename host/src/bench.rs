//! `bench` as a library: the fixed sample challenges and the one run that measures the devices
//! (each alone, candidate mixes, the chosen mix dispatched, challenge switches) and reports it
//! as [`BenchOutput`]; used by `pow-host bench` and the Python package's `pow_host.bench`.

use crate::dispatch_devices::DeviceList;
use crate::output::{BenchDeviceOutput, BenchOutput, CandidateOutput, LatencyOutput};
use crate::run_loop::{bench_dispatch, BenchReport};
use crate::Failure;
use pow_backend_api::Job;
use pow_dispatch::Config;
use pow_seal::{Challenge, SealOrder, Work};
use std::time::Duration;

const BLOCK: &str = "5b4bb52cc2b35b226782dd0490e94d35ab06e888732ba9db72faef6ff89f1782";
const HOTKEY: &str = "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";
const COLDKEY: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";

/// The sample challenge of a layout (`v1`, `legacy`, `faucet`): netuid 1 and the block, hotkey
/// and coldkey of bittensor's own hash-rate script; legacy uses the little-endian seal.
pub fn sample_challenge(kind: &str) -> Result<Challenge, Failure> {
    let b = |s: &str| pow_seal::parse_bytes32(s).expect("built-in hex");
    match kind {
        "v1" => Ok(Challenge::v1(1, b(BLOCK), b(HOTKEY), b(COLDKEY)).expect("netuid 1")),
        "legacy" => Ok(Challenge::Legacy {
            block_hash: b(BLOCK),
            hotkey: b(HOTKEY),
            seal_order: SealOrder::LittleEndian,
        }),
        "faucet" => Ok(Challenge::Faucet {
            block_hash: b(BLOCK),
            coldkey: b(COLDKEY),
        }),
        other => Err(Failure::usage(format!(
            "unknown challenge {other:?}: v1, legacy or faucet"
        ))),
    }
}

/// Checks a phase length: above 0 and at most an hour.
pub fn check_seconds(seconds: f64) -> Result<(), Failure> {
    if seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0 {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "--seconds {seconds}: expected a number of seconds above 0 and at most 3600"
        )))
    }
}

/// A finished bench: the dispatcher's report and its JSON form.
pub struct Bench {
    /// What the dispatcher measured.
    pub report: BenchReport,
    /// The same as `pow-host bench --json` prints it.
    pub output: BenchOutput,
}

/// Benchmarks `devices` on `challenge` with phases of `seconds` and `switches` timed switches.
pub fn run_bench(
    devices: DeviceList,
    challenge: &Challenge,
    config: Config,
    seconds: f64,
    switches: usize,
) -> Result<Bench, Failure> {
    check_seconds(seconds)?;
    let job = Job::from_work(&Work::new(challenge.clone(), u64::MAX));
    // Shorter phases than this measure nothing useful.
    let phase = Duration::from_secs_f64(seconds.max(0.05));
    let report = bench_dispatch(devices, &job, config, phase, switches)?;
    let output = output_of(&report, challenge, seconds);
    Ok(Bench { report, output })
}

/// Median, 90th percentile and maximum of the switch latencies, in milliseconds.
fn latency_summary(r: &BenchReport) -> Option<LatencyOutput> {
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
    Some(LatencyOutput {
        median: at(0.5),
        p90: at(0.9),
        max: ms[ms.len() - 1],
    })
}

fn output_of(r: &BenchReport, challenge: &Challenge, seconds: f64) -> BenchOutput {
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
    let dispatched = |id: usize| {
        r.device_attempts.get(id).copied().unwrap_or(0) as f64 / r.mix_seconds.max(1e-9)
    };
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
    BenchOutput {
        challenge: challenge.kind_name().to_string(),
        seconds,
        devices,
        total_hashes_per_second: together.map_or(0.0, |c| c.rate).round(),
        mix: plan
            .mix
            .iter()
            .map(|id| r.devices[*id].label.clone())
            .collect(),
        calibrated_mix_hashes_per_second: plan.mix_rate.round(),
        mix_hashes_per_second: r.mix_rate().round(),
        candidates,
        switches: r.switch_latencies.len(),
        switch_cancelled_batches: r.switch_cancelled,
        switch_latency_ms: latency_summary(r),
    }
}
