//! What the chain commands (`register`, `faucet`) share: chain and wallet options, the keys,
//! connecting (or starting the dev chain), the flow's settings and events on stderr, opening
//! the devices as a miner, and finishing with one line (or one JSON object).

use crate::Context;
#[cfg(feature = "dev-chain")]
use pow_chain::dev::{DevChain, DevConfig, DevRuntime, DevSubnet};
use pow_chain::flow::{self, Event, FlowConfig, FlowError};
use pow_chain::network::{self, Endpoint};
use pow_chain::rpc::RpcChain;
use pow_chain::Chain;
use pow_farm::{CoordinatorConfig, FarmCoordinator};
use pow_host::device_miner::{DispatchMiner, MinerCalibration};
use pow_host::dispatch_args::CalibrationArgs;
use pow_host::farm_args::{farm_failure, FarmArgs};
use pow_host::farm_miner::HostMiner;
use pow_host::output::FarmEventLine;
use pow_host::output::{ChainOutput, ErrorOutcome, Outcome};
use pow_host::Failure;
#[cfg(feature = "dev-chain")]
use pow_seal::SealOrder;
use pow_wallet::{PasswordSource, Sr25519Pair, Wallet};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Which runtime the embedded dev chain imitates.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevRuntimeArg {
    /// `pow_register` (spec 475).
    V1,
    /// `register` with the big-endian legacy seal (spec 270).
    LegacyBe,
    /// `register` with the little-endian legacy seal (spec 390).
    LegacyLe,
    /// Only a `register` that burns TAO (spec 397): registration is refused.
    Burned,
}

/// Chain and wallet options shared by `register` and `faucet`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChainArgs {
    /// Network by Bittensor's names: finney, test, local, or dev (the embedded dev chain).
    #[arg(long = "subtensor.network", value_name = "NAME")]
    pub network: Option<String>,
    /// Node WebSocket endpoint (overrides --subtensor.network).
    #[arg(long = "subtensor.chain_endpoint", value_name = "ws://HOST:PORT")]
    pub endpoint: Option<String>,
    /// Wallet name (folder under --wallet.path). On the dev network without it, a throw-away
    /// wallet is made in memory.
    #[arg(long = "wallet.name", value_name = "NAME")]
    pub wallet_name: Option<String>,
    /// Hotkey name inside the wallet.
    #[arg(long = "wallet.hotkey", value_name = "NAME", default_value = "default")]
    pub wallet_hotkey: String,
    /// Folder that holds wallets.
    #[arg(
        long = "wallet.path",
        value_name = "DIR",
        default_value = "~/.bittensor/wallets"
    )]
    pub wallet_path: String,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// How long the node may stay unreachable (at start, or lost mid-run while the devices go
    /// on mining) before giving up; retries back off from 0.25 s to at most 2 s.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub reconnect_timeout: u64,
    /// Refuse to mine when the expected time to a proof at the measured rate is longer than
    /// this (0: no limit).
    #[arg(long, default_value_t = 86_400, value_name = "SECONDS")]
    pub max_expected_seconds: u64,
    /// Fixed nonce indexes per device search call (default: sized by the dispatcher to about
    /// 100 ms of each device's work).
    #[arg(long, value_name = "N")]
    pub batch: Option<u64>,
    /// `--calibrate-seconds`, `--recalibrate`.
    #[command(flatten)]
    pub calibration: CalibrationArgs,
    /// Dev chain: milliseconds between blocks.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub dev_block_time_ms: u64,
    /// Dev chain: the subnets' difficulty.
    #[arg(long, default_value_t = 2_000_000, value_name = "D")]
    pub dev_difficulty: u64,
    /// Dev chain: which runtime it imitates.
    #[arg(long, value_enum, default_value = "v1")]
    pub dev_runtime: DevRuntimeArg,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// `--farm`, `--farm.only`, `--metrics-addr` and the farm's credentials.
    #[command(flatten)]
    pub farm: FarmArgs,
}

/// The keys a command signs and mines with.
pub struct Keys {
    /// Hotkey pair (loaded for legacy signing; public key always).
    pub hotkey: Option<Sr25519Pair>,
    /// Hotkey public key.
    pub hotkey_public: [u8; 32],
    /// Coldkey public key.
    pub coldkey_public: [u8; 32],
    /// The wallet, if keys come from disk.
    pub wallet: Option<Wallet>,
    /// In-memory coldkey of a throw-away wallet.
    pub throwaway_coldkey: Option<Sr25519Pair>,
}

impl Keys {
    /// Loads the wallet named on the command line, or makes a throw-away one on the dev chain.
    /// Without `need_hotkey` (the faucet) the hotkey file is not read at all.
    pub fn load(args: &ChainArgs, dev: bool, need_hotkey: bool) -> Result<Keys, Failure> {
        match &args.wallet_name {
            None if dev => {
                let (hot, _) = Sr25519Pair::generate();
                let (cold, _) = Sr25519Pair::generate();
                Ok(Keys {
                    hotkey_public: hot.public(),
                    coldkey_public: cold.public(),
                    hotkey: Some(hot),
                    wallet: None,
                    throwaway_coldkey: Some(cold),
                })
            }
            name => {
                let w = Wallet::new(
                    &args.wallet_path,
                    name.as_deref().unwrap_or("default"),
                    &args.wallet_hotkey,
                );
                let hot = if need_hotkey {
                    Some(
                        w.hotkey_pair(&PasswordSource::EnvOrPrompt)
                            .map_err(wallet_failure)?,
                    )
                } else {
                    None
                };
                let cold = w.coldkey_public().map_err(wallet_failure)?;
                Ok(Keys {
                    hotkey_public: hot.as_ref().map_or([0; 32], |h| h.public()),
                    coldkey_public: cold,
                    hotkey: hot,
                    wallet: Some(w),
                    throwaway_coldkey: None,
                })
            }
        }
    }

    /// The coldkey pair: decrypted from disk (password from the environment or a prompt).
    pub fn coldkey(&self) -> Result<Sr25519Pair, Failure> {
        if let Some(c) = &self.throwaway_coldkey {
            return Ok(c.clone());
        }
        let w = self
            .wallet
            .as_ref()
            .ok_or_else(|| Failure::usage("no wallet"))?;
        w.coldkey_pair(&PasswordSource::EnvOrPrompt)
            .map_err(wallet_failure)
    }
}

/// Wallet problems are bad input: exit code 2.
pub fn wallet_failure(e: pow_wallet::WalletError) -> Failure {
    Failure::usage(format!("wallet: {e}"))
}

/// Builds the tokio runtime the chain client runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}")))
}

/// The usage error for `--subtensor.network dev` in a build without the dev chain.
#[cfg(not(feature = "dev-chain"))]
const NO_DEV_CHAIN: &str =
    "this pow-host was built without the embedded dev chain (cargo feature dev-chain): \
     --subtensor.network dev is not available; use finney, test, local, or a ws:// URL";

/// Resolves the endpoint named on the command line.
pub fn endpoint(args: &ChainArgs) -> Result<Endpoint, Failure> {
    let ep = network::resolve(args.network.as_deref(), args.endpoint.as_deref())
        .map_err(|e| Failure::usage(e.to_string()))?;
    #[cfg(not(feature = "dev-chain"))]
    if ep == Endpoint::Dev {
        return Err(Failure::usage(NO_DEV_CHAIN));
    }
    Ok(ep)
}

/// Flow settings from the command line.
pub fn flow_config(args: &ChainArgs, max_submissions: u32) -> FlowConfig {
    FlowConfig {
        max_submissions: max_submissions.max(1),
        reconnect: Duration::from_secs(args.reconnect_timeout),
        deadline: args.timeout.map(Duration::from_secs),
        max_expected: (args.max_expected_seconds > 0)
            .then(|| Duration::from_secs(args.max_expected_seconds)),
        ..FlowConfig::default()
    }
}

/// Connects to the chain (retrying an unreachable endpoint) or starts the dev chain.
pub async fn connect(
    ep: &Endpoint,
    args: &ChainArgs,
    cfg: &FlowConfig,
) -> Result<Box<dyn Chain>, Failure> {
    match ep {
        #[cfg(not(feature = "dev-chain"))]
        Endpoint::Dev => {
            let _ = args;
            Err(Failure::usage(NO_DEV_CHAIN))
        }
        #[cfg(feature = "dev-chain")]
        Endpoint::Dev => {
            let runtime = match args.dev_runtime {
                DevRuntimeArg::V1 => DevRuntime::V1,
                DevRuntimeArg::LegacyBe => DevRuntime::Legacy(SealOrder::BigEndian),
                DevRuntimeArg::LegacyLe => DevRuntime::Legacy(SealOrder::LittleEndian),
                DevRuntimeArg::Burned => DevRuntime::Burned,
            };
            let chain = DevChain::start(DevConfig {
                block_time: Some(Duration::from_millis(args.dev_block_time_ms.max(10))),
                runtime,
                faucet: true,
                subnets: (1..=3)
                    .map(|n| DevSubnet::open(n, args.dev_difficulty))
                    .collect(),
            });
            Ok(Box::new(chain))
        }
        Endpoint::Url(url) => {
            let chain = flow::with_retry(cfg, &mut log_event, || RpcChain::connect(url))
                .await
                .map_err(|e| Failure::runtime(format!("cannot reach {url}: {e}")))?;
            Ok(Box::new(chain))
        }
    }
}

/// Prints a flow event on stderr.
pub fn log_event(e: Event) {
    match e {
        Event::Job {
            job_id,
            block,
            difficulty,
        } => eprintln!(
            "mining job {job_id} on block #{} ({}) at difficulty {difficulty}",
            block.number,
            &pow_seal::to_hex(&block.hash)[..18]
        ),
        Event::Expected {
            difficulty,
            rate,
            seconds,
        } => eprintln!(
            "expected time to a proof at difficulty {difficulty}: {} at the measured {rate:.3e} attempts/s",
            pow_chain::rules::human_duration(seconds)
        ),
        Event::Stale { reason } => eprintln!("stale proof not sent: {reason}"),
        Event::Held { error, block } => eprintln!(
            "not in this block: {error}; the proof for work block #{block} is kept for the next block"
        ),
        Event::Submitting {
            call,
            block,
            nonce,
            device,
        } => eprintln!("sending {call} (work block #{block}, nonce {nonce}, found by {device})"),
        Event::Refused { error } => eprintln!("refused: {error}; mining again"),
        Event::Retrying { attempt, error } => {
            if attempt == 0 {
                eprintln!("reconnecting: {error}");
            } else {
                eprintln!("retry {attempt}: {error}");
            }
        }
    }
}

/// Opens the selected devices (unless `--farm.only`) and, with `--farm`, starts the farm's
/// coordinator: one miner that delivers the solutions of both. The local devices calibrate on
/// the first job (with `calibration`, see [`CalibrationArgs::settings`]). Runs inside the
/// tokio runtime.
pub async fn open_miner(
    ctx: &Context,
    args: &ChainArgs,
    calibration: pow_dispatch::CalibrationSettings,
) -> Result<HostMiner, Failure> {
    let farm = args.farm.connect()?;
    let metrics = match farm {
        Some(_) => args.farm.serve_metrics()?,
        None => None,
    };
    let local = if args.farm.farm_only {
        None
    } else {
        Some(open_local_miner(ctx, args.batch, calibration)?)
    };
    match farm {
        Some(farm) => start_farm(&farm, local, metrics, args.json).await,
        None => Ok(HostMiner::new(local, None)),
    }
}

/// Starts the farm's coordinator beside the `local` devices, feeding `metrics` if given.
pub async fn start_farm(
    farm: &pow_farm::FarmConnect,
    local: Option<DispatchMiner>,
    metrics: Option<pow_farm::Metrics>,
    json: bool,
) -> Result<HostMiner, Failure> {
    let coordinator = FarmCoordinator::start(
        farm,
        CoordinatorConfig::default(),
        Arc::new(move |e| FarmEventLine::coordinator(&e).print(json)),
        metrics,
        HostMiner::local_rate_cell(local.as_ref()),
    )
    .await
    .map_err(farm_failure)?;
    eprintln!(
        "farm {} on {}: coordinator {}{}",
        farm.name.as_str(),
        farm.shown_url(),
        coordinator.id(),
        if local.is_none() {
            " (mining on the workers only)"
        } else {
            ""
        }
    );
    Ok(HostMiner::new(local, Some(coordinator)))
}

/// This machine's devices as a miner.
pub fn open_local_miner(
    ctx: &Context,
    batch: Option<u64>,
    calibration: pow_dispatch::CalibrationSettings,
) -> Result<DispatchMiner, Failure> {
    let (devices, warnings) =
        pow_host::dispatch_devices::open_dispatch_devices(&ctx.selection, &ctx.report.plugins)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if devices.is_empty() {
        return Err(Failure::usage("no devices to mine on"));
    }
    let calibration = MinerCalibration {
        settings: calibration,
        verbose: ctx.verbose > 0,
    };
    let miner = DispatchMiner::new(
        devices,
        batch,
        calibration,
        Arc::new(|w| eprintln!("warning: {w}")),
    )?;
    eprintln!("mining on {}", miner.labels().join(", "));
    Ok(miner)
}

/// Usage errors exit 2, everything else 1.
pub fn flow_failure(e: FlowError) -> Failure {
    match e {
        FlowError::Usage(m) => Failure::usage(m),
        other => Failure::runtime(other.to_string()),
    }
}

/// Prints the result, one JSON object (the command's `context` merged with the outcome) or
/// the outcome's one line, and turns errors into failures.
pub fn finish<C: Serialize, O: Outcome>(
    json_out: bool,
    context: C,
    result: Result<O, Failure>,
) -> Result<(), Failure> {
    match result {
        Ok(outcome) => {
            if json_out {
                print_json(&ChainOutput { context, outcome });
            } else {
                println!("{}", outcome.message());
            }
            Ok(())
        }
        Err(f) => {
            if json_out {
                let outcome = ErrorOutcome::Error {
                    error: f.message.clone(),
                    exit_code: f.code,
                };
                print_json(&ChainOutput { context, outcome });
            }
            Err(f)
        }
    }
}

/// Prints `value` as one line of JSON on stdout.
fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string(value).expect("output structs serialize")
    );
}

/// The network's name for output: `dev` or the endpoint URL.
pub fn network_name(ep: &Endpoint) -> String {
    match ep {
        Endpoint::Dev => "dev".to_string(),
        Endpoint::Url(u) => u.clone(),
    }
}
