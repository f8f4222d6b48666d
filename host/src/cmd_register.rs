//! `pow-host register`: register a hotkey on a subnet by proof of work, end to end.
//!
//! Connects to the chain (a node, or the embedded dev chain), decides the scheme from the
//! runtime's metadata and spec version, checks the subnet, mines on the best head with the
//! selected devices, switches challenge on every new block, rechecks a proof before sending
//! it, signs with the right key and follows the extrinsic into a block.

use crate::chain_cmd::{
    connect, endpoint, finish, flow_config, flow_failure, log_event, network_name, open_miner,
    runtime, ChainArgs, Keys,
};
use crate::Context;
use pow_chain::flow::{self, FlowConfig, Goal, Precheck, Success};
use pow_chain::network::Endpoint;
use pow_chain::{Chain, Scheme};
use pow_dispatch::CalibrationSettings;
use pow_host::output::{RegisterContext, RegisterOutcome};
use pow_host::Failure;
use pow_seal::SealOrder;
use std::time::Duration;

/// Arguments of `pow-host register`.
#[derive(clap::Args, Debug, Clone)]
pub struct RegisterArgs {
    /// Subnet to register on.
    #[arg(long, value_name = "N")]
    pub netuid: Option<u16>,
    /// Force the legacy seal's byte order (`be` or `le`) for private chains whose spec
    /// versions do not follow the public networks'.
    #[arg(long, value_name = "be|le")]
    pub seal_order: Option<String>,
    /// How many proofs may be refused by the chain before giving up.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_submissions: u32,
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// What `register` reads from the command line before it connects.
struct Setup {
    netuid: u16,
    seal_order: Option<SealOrder>,
    calibration: CalibrationSettings,
    ep: Endpoint,
    keys: Keys,
}

/// Reads what `register` needs before it connects: netuid, seal order, calibration settings,
/// endpoint and keys, filling in `context` as they become known.
fn setup(args: &RegisterArgs, context: &mut RegisterContext) -> Result<Setup, Failure> {
    let Some(netuid) = args.netuid else {
        return Err(Failure::usage(
            "register needs --netuid N (for a first try: pow-host register --subtensor.network dev --netuid 1)",
        ));
    };
    let seal_order = match &args.seal_order {
        Some(s) => Some(
            s.parse::<SealOrder>()
                .map_err(|e| Failure::usage(e.to_string()))?,
        ),
        None => None,
    };
    let calibration = args.chain.calibration.settings()?;
    args.chain.farm.connect()?;
    let ep = endpoint(&args.chain)?;
    context.network = Some(network_name(&ep));
    let keys = Keys::load(&args.chain, ep == Endpoint::Dev, true)?;
    context.hotkey = Some(pow_wallet::ss58::encode(&keys.hotkey_public, 42));
    context.coldkey = Some(pow_wallet::ss58::encode(&keys.coldkey_public, 42));
    Ok(Setup {
        netuid,
        seal_order,
        calibration,
        ep,
        keys,
    })
}

/// Runs `pow-host register`.
pub fn run(ctx: &Context, args: &RegisterArgs) -> Result<(), Failure> {
    let mut context = RegisterContext {
        netuid: args.netuid,
        ..RegisterContext::default()
    };
    // Every failure from here on, bad input included, is one JSON object with --json.
    let setup = match setup(args, &mut context) {
        Ok(ready) => ready,
        Err(f) => return finish::<_, RegisterOutcome>(args.chain.json, context, Err(f)),
    };
    let cfg = flow_config(&args.chain, args.max_submissions);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(f) => return finish::<_, RegisterOutcome>(args.chain.json, context, Err(f)),
    };
    let result = rt.block_on(register(ctx, args, setup, &cfg));
    let out = finish(args.chain.json, context, result);
    rt.shutdown_timeout(Duration::from_millis(200));
    out
}

async fn register(
    ctx: &Context,
    args: &RegisterArgs,
    setup: Setup,
    cfg: &FlowConfig,
) -> Result<RegisterOutcome, Failure> {
    let Setup {
        netuid,
        seal_order,
        calibration,
        ep,
        keys,
    } = setup;
    let chain = connect(&ep, &args.chain, cfg).await?;
    let chain: &dyn Chain = chain.as_ref();
    eprintln!("chain: {}", chain.describe());
    let info = flow::with_retry(cfg, &mut log_event, || chain.runtime())
        .await
        .map_err(|e| Failure::runtime(format!("cannot read the runtime: {e}")))?;
    let scheme = info
        .registration_scheme(seal_order)
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let cfg = &FlowConfig {
        block_time: info.block_time_ms.map(Duration::from_millis),
        ..cfg.clone()
    };
    eprintln!(
        "runtime spec {}: registering with {} ({})",
        info.spec_version,
        scheme.name(),
        match scheme {
            Scheme::V1 => "pow_register, signed by the coldkey",
            Scheme::Legacy(_) => "register, signed by the hotkey",
        }
    );
    let hotkey_ss58 = pow_wallet::ss58::encode(&keys.hotkey_public, 42);
    match flow::check_registration(chain, netuid, &keys.hotkey_public, cfg, &mut log_event)
        .await
        .map_err(flow_failure)?
    {
        Precheck::AlreadyRegistered(uid) => {
            return Ok(RegisterOutcome::AlreadyRegistered {
                uid,
                scheme: scheme.name().to_string(),
                message: format!("hotkey {hotkey_ss58} is already registered on subnet {netuid} as UID {uid}; nothing sent"),
            })
        }
        Precheck::Ready(state) => {
            eprintln!(
                "subnet {netuid}: difficulty {} (the runtime checks Difficulty only), {} of {} registrations this interval",
                state.mining_difficulty(),
                state.registrations_this_interval,
                pow_chain::rules::interval_limit(state.target_registrations_per_interval),
            )
        }
    }
    // Unlock the signing key before mining, so a password prompt never waits on a proof.
    let signer = match scheme {
        Scheme::V1 => keys.coldkey()?,
        Scheme::Legacy(_) => keys
            .hotkey
            .clone()
            .ok_or_else(|| Failure::usage("the hotkey's secret is needed to sign register"))?,
    };
    let mut miner = open_miner(ctx, &args.chain, calibration).await?;
    let goal = Goal::Register {
        netuid,
        scheme,
        hotkey: keys.hotkey_public,
        coldkey: keys.coldkey_public,
    };
    let started = std::time::Instant::now();
    let result = flow::mine_and_submit(chain, goal, &signer, &mut miner, cfg, &mut log_event)
        .await
        .map_err(flow_failure)?;
    // Mining time, as before calibration existed (solve reports its search time the same way).
    let seconds = started
        .elapsed()
        .saturating_sub(miner.calibration_time())
        .as_secs_f64();
    let attempts = miner.attempts();
    drop(miner);
    Ok(match result {
        Success::Registered {
            uid,
            block,
            work_block,
            nonce,
            seal,
        } => RegisterOutcome::Registered {
            uid,
            block: block.number,
            block_hash: pow_seal::to_hex(&block.hash),
            work_block,
            nonce,
            seal: pow_seal::to_hex(&seal),
            scheme: scheme.name().to_string(),
            attempts,
            seconds,
            message: format!(
                "registered hotkey {hotkey_ss58} on subnet {netuid} as UID {uid} in block #{} (work block #{work_block}, nonce {nonce})",
                block.number
            ),
        },
        Success::AlreadyRegistered { uid } => RegisterOutcome::AlreadyRegistered {
            uid,
            scheme: scheme.name().to_string(),
            message: format!("hotkey {hotkey_ss58} is already registered on subnet {netuid} as UID {uid}"),
        },
        Success::Funded { .. } => unreachable!("register never funds"),
    })
}
