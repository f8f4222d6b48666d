//! `pow-host solve`: solve one challenge offline.

use crate::Context;
use pow_backend_api::{Job, NonceMapping};
use pow_dispatch::WorkSpec;
use pow_host::calibration::start;
use pow_host::dispatch_args::DispatchArgs;
use pow_host::dispatch_devices::open_dispatch_devices;
use pow_host::farm_args::FarmArgs;
use pow_host::keys::parse_public_key;
use pow_host::output::SolveOutput;
use pow_host::run_loop::run_to_solution;
use pow_host::status::StatusMode;
use pow_host::Failure;
use pow_seal::{Bytes32, Challenge, SealOrder, Work, FAUCET_DIFFICULTY};

/// Which challenge to solve.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeKind {
    /// `pow_register` (bittensor 11): domain, netuid, block hash, hotkey, coldkey.
    V1,
    /// Legacy `register` (runtimes up to spec 394): nonce ‖ keccak(block hash ‖ hotkey).
    Legacy,
    /// `faucet` (test and dev runtimes): the legacy layout with the coldkey.
    Faucet,
}

impl ChallengeKind {
    /// `v1`, `legacy` or `faucet`.
    pub fn name(self) -> &'static str {
        match self {
            ChallengeKind::V1 => "v1",
            ChallengeKind::Legacy => "legacy",
            ChallengeKind::Faucet => "faucet",
        }
    }
}

/// The order in which nonces are tried.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceOrder {
    /// The backend-api mapping that lets backends hoist constant hashing work (for v1 the
    /// nonce's top three bytes change fastest).
    Fast,
    /// Nonces in plain ascending order from `--nonce-start`.
    Sequential,
}

/// Arguments of `pow-host solve`.
#[derive(clap::Args, Debug)]
pub struct SolveArgs {
    /// Challenge to solve.
    #[arg(long, value_enum, default_value = "v1")]
    challenge: ChallengeKind,
    /// Use a built-in sample challenge (v1, netuid 1, //Bob hotkey, //Alice coldkey) and
    /// difficulty 10,000,000 unless given.
    #[arg(long)]
    sample: bool,
    /// Subnet id (v1).
    #[arg(long)]
    netuid: Option<u16>,
    /// Hash of the work block, 0x-hex.
    #[arg(long, value_name = "0xHEX")]
    block_hash: Option<String>,
    /// Hotkey: SS58 address or 0x-hex public key (v1, legacy).
    #[arg(long, value_name = "KEY")]
    hotkey: Option<String>,
    /// Coldkey: SS58 address or 0x-hex public key (v1, faucet).
    #[arg(long, value_name = "KEY")]
    coldkey: Option<String>,
    /// Difficulty (0 counts as 1; faucet defaults to 1,000,000).
    #[arg(long, value_name = "D")]
    difficulty: Option<u64>,
    /// Seal byte order for legacy: `be` (runtimes up to spec 277) or `le` (from 283).
    #[arg(long, value_name = "be|le", default_value = "le")]
    seal_order: String,
    /// First nonce to try (default: random).
    #[arg(long, value_name = "N")]
    nonce_start: Option<u64>,
    /// Nonce enumeration order.
    #[arg(long, value_enum, default_value = "fast")]
    nonce_order: NonceOrder,
    /// Fixed number of nonce indexes per device batch (default: sized from each device's
    /// measured speed to about --batch-ms).
    #[arg(long, value_name = "N")]
    batch: Option<u64>,
    /// Print one JSON object (status updates go to stderr as JSON lines).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub(crate) dispatch: Box<DispatchArgs>,
    /// `--farm` (solve with a farm's workers too), `--farm.only`, `--metrics-addr`, ...
    #[command(flatten)]
    farm: Box<FarmArgs>,
}

const SAMPLE_BLOCK_HASH: &str =
    "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const SAMPLE_HOTKEY: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const SAMPLE_COLDKEY: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const SAMPLE_DIFFICULTY: u64 = 10_000_000;

fn required<'a>(value: &'a Option<String>, flag: &str, kind: &str) -> Result<&'a str, Failure> {
    value
        .as_deref()
        .ok_or_else(|| Failure::usage(format!("--challenge {kind} needs {flag}")))
}

fn key(value: &Option<String>, flag: &str, kind: &str) -> Result<Bytes32, Failure> {
    let text = required(value, flag, kind)?;
    parse_public_key(text).map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

fn block_hash(args: &SolveArgs, kind: &str) -> Result<Bytes32, Failure> {
    let text = required(&args.block_hash, "--block-hash", kind)?;
    pow_seal::parse_bytes32(text).map_err(|e| Failure::usage(format!("--block-hash: {e}")))
}

/// Builds the work described by the arguments.
fn work_from_args(args: &SolveArgs) -> Result<Work, Failure> {
    if args.sample {
        let challenge = Challenge::v1(
            1,
            pow_seal::parse_bytes32(SAMPLE_BLOCK_HASH).unwrap(),
            parse_public_key(SAMPLE_HOTKEY).unwrap(),
            parse_public_key(SAMPLE_COLDKEY).unwrap(),
        )
        .unwrap();
        return Ok(Work::new(
            challenge,
            args.difficulty.unwrap_or(SAMPLE_DIFFICULTY),
        ));
    }
    let difficulty = |kind: &str| {
        args.difficulty
            .ok_or_else(|| Failure::usage(format!("--challenge {kind} needs --difficulty")))
    };
    match args.challenge {
        ChallengeKind::V1 => {
            let netuid = args
                .netuid
                .ok_or_else(|| Failure::usage("--challenge v1 needs --netuid"))?;
            let challenge = Challenge::v1(
                netuid,
                block_hash(args, "v1")?,
                key(&args.hotkey, "--hotkey", "v1")?,
                key(&args.coldkey, "--coldkey", "v1")?,
            )
            .map_err(|e| Failure::usage(e.to_string()))?;
            Ok(Work::new(challenge, difficulty("v1")?))
        }
        ChallengeKind::Legacy => {
            let seal_order: SealOrder = args
                .seal_order
                .parse()
                .map_err(|e: pow_seal::SealError| Failure::usage(e.to_string()))?;
            let challenge = Challenge::Legacy {
                block_hash: block_hash(args, "legacy")?,
                hotkey: key(&args.hotkey, "--hotkey", "legacy")?,
                seal_order,
            };
            Ok(Work::new(challenge, difficulty("legacy")?))
        }
        ChallengeKind::Faucet => {
            let challenge = Challenge::Faucet {
                block_hash: block_hash(args, "faucet")?,
                coldkey: key(&args.coldkey, "--coldkey", "faucet")?,
            };
            Ok(Work::new(
                challenge,
                args.difficulty.unwrap_or(FAUCET_DIFFICULTY),
            ))
        }
    }
}

pub fn run(ctx: &Context, args: &SolveArgs) -> Result<(), Failure> {
    let work = work_from_args(args)?;
    if let Some(farm) = args.farm.connect()? {
        return run_on_farm(ctx, args, &work, &farm);
    }
    let mut job = Job::from_work(&work);
    if args.nonce_order == NonceOrder::Sequential {
        job = job.with_mapping(NonceMapping::IDENTITY);
    }
    let nonce_start = args.nonce_start.unwrap_or_else(rand::random);
    let start_index = job.mapping.index(nonce_start);

    let config = args.dispatch.config(args.batch)?;
    let calibration = args.dispatch.calibration()?;
    let (devices, warnings) = open_dispatch_devices(&ctx.selection, &ctx.report.plugins)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if ctx.verbose > 0 {
        for d in &devices {
            let m = d.meta();
            eprintln!("using {} ({})", m.label, m.name);
        }
    }
    let (dispatcher, plan) = start(devices, &job, config, &calibration, ctx.verbose > 0)?;
    let mix: Vec<String> = plan
        .mix
        .iter()
        .map(|id| dispatcher.devices()[*id].label.clone())
        .collect();
    let status = if args.dispatch.quiet {
        StatusMode::Quiet
    } else {
        StatusMode::detect(args.json)
    };
    let mut spec = WorkSpec::new(0, job).start_index(start_index);
    spec.difficulty = Some(work.difficulty);
    let outcome = run_to_solution(dispatcher, spec, status);
    let Some(sol) = outcome.solution else {
        return Err(Failure::runtime("every device failed; no solution"));
    };
    // The dispatcher verified the hit with the seal library where it left the plugin (the one
    // trust boundary on this path: the job above is `Job::from_work(&work)`), so it is printed
    // as it is.
    let seconds = outcome.elapsed.as_secs_f64();
    let out = SolveOutput {
        challenge: work.challenge.kind_name().to_string(),
        nonce: sol.hit.nonce,
        seal: pow_seal::to_hex(&sol.hit.seal),
        seal_order: work.challenge.seal_order().as_str().to_string(),
        difficulty: work.difficulty,
        attempts: sol.attempts,
        seconds,
        hashes_per_second: sol.attempts as f64 / seconds.max(1e-9),
        device: sol.label,
        nonce_start,
        mix,
        calibration: plan.source.as_str().to_string(),
    };
    print_solution(&out, args.json);
    Ok(())
}

/// Prints a solution: one JSON object, or a few lines.
fn print_solution(out: &SolveOutput, json: bool) {
    if json {
        println!("{}", serde_json::to_string(out).expect("JSON"));
        return;
    }
    println!("challenge   {}", out.challenge);
    println!("difficulty  {}", out.difficulty);
    println!("nonce       {}", out.nonce);
    println!("seal        {}", out.seal);
    println!(
        "found by    {} after {} attempts in {:.3} s ({:.2} M/s)",
        out.device,
        out.attempts,
        out.seconds,
        out.hashes_per_second / 1e6
    );
}

/// `solve --farm`: this machine's devices (unless `--farm.only`) and the farm's workers on
/// one job; a remote solution is verified by the coordinator and again here.
fn run_on_farm(
    ctx: &Context,
    args: &SolveArgs,
    work: &Work,
    farm: &pow_farm::FarmConnect,
) -> Result<(), Failure> {
    use pow_chain::flow::{next_solution, Miner};
    let rt = crate::chain_cmd::runtime()?;
    let calibration = args.dispatch.calibration.settings()?;
    rt.block_on(async {
        let metrics = args.farm.serve_metrics()?;
        let local = if args.farm.farm_only {
            None
        } else {
            Some(crate::chain_cmd::open_local_miner(
                ctx,
                args.batch,
                calibration,
            )?)
        };
        let mut miner = crate::chain_cmd::start_farm(farm, local, metrics, args.json).await?;
        let started = std::time::Instant::now();
        miner.set_work(0, work);
        loop {
            let Some(s) = next_solution(&mut miner).await else {
                return Err(Failure::runtime("every device failed; no solution"));
            };
            // The farm is a trust boundary: check the seal again before printing it.
            if s.job_id != 0 || !work.verify_claim(s.nonce, &s.seal) {
                eprintln!(
                    "warning: dropped a solution that does not verify (from {})",
                    s.device
                );
                continue;
            }
            let seconds = started
                .elapsed()
                .saturating_sub(miner.calibration_time())
                .as_secs_f64();
            let attempts = miner.attempts();
            miner.stop();
            let out = SolveOutput {
                challenge: work.challenge.kind_name().to_string(),
                nonce: s.nonce,
                seal: pow_seal::to_hex(&s.seal),
                seal_order: work.challenge.seal_order().as_str().to_string(),
                difficulty: work.difficulty,
                attempts,
                seconds,
                hashes_per_second: attempts as f64 / seconds.max(1e-9),
                device: s.device,
                nonce_start: 0,
                mix: Vec::new(),
                calibration: "farm".into(),
            };
            print_solution(&out, args.json);
            // Let the "no job" announcement reach the workers.
            drop(miner);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            return Ok(());
        }
    })
}
