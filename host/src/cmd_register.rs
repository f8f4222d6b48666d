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
use pow_host::Failure;
use pow_seal::SealOrder;
use serde_json::{json, Value};
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

/// Reads what `register` needs before it connects: netuid, seal order, endpoint and keys.
fn setup(
    args: &RegisterArgs,
    base: &mut Value,
) -> Result<(u16, Option<SealOrder>, Endpoint, Keys), Failure> {
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
    let ep = endpoint(&args.chain)?;
    base["network"] = json!(network_name(&ep));
    let keys = Keys::load(&args.chain, ep == Endpoint::Dev, true)?;
    base["hotkey"] = json!(pow_wallet::ss58::encode(&keys.hotkey_public, 42));
    base["coldkey"] = json!(pow_wallet::ss58::encode(&keys.coldkey_public, 42));
    Ok((netuid, seal_order, ep, keys))
}

/// Runs `pow-host register`.
pub fn run(ctx: &Context, args: &RegisterArgs) -> Result<(), Failure> {
    let mut base = json!({ "netuid": args.netuid });
    // Every failure from here on, bad input included, is one JSON object with --json.
    let (netuid, seal_order, ep, keys) = match setup(args, &mut base) {
        Ok(ready) => ready,
        Err(f) => return finish(args.chain.json, base, Err(f)),
    };
    let cfg = flow_config(&args.chain, args.max_submissions);
    let rt = runtime()?;
    let result = rt.block_on(register(ctx, args, netuid, seal_order, &ep, &keys, &cfg));
    let out = finish(args.chain.json, base, result);
    rt.shutdown_timeout(Duration::from_millis(200));
    out
}

async fn register(
    ctx: &Context,
    args: &RegisterArgs,
    netuid: u16,
    seal_order: Option<SealOrder>,
    ep: &Endpoint,
    keys: &Keys,
    cfg: &FlowConfig,
) -> Result<Value, Failure> {
    let chain = connect(ep, &args.chain, cfg).await?;
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
            return Ok(json!({
                "status": "already_registered",
                "uid": uid,
                "scheme": scheme.name(),
                "message": format!("hotkey {hotkey_ss58} is already registered on subnet {netuid} as UID {uid}; nothing sent"),
            }))
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
    let mut miner = open_miner(ctx, args.chain.batch)?;
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
    let seconds = started.elapsed().as_secs_f64();
    let attempts = miner.attempts();
    drop(miner);
    Ok(match result {
        Success::Registered {
            uid,
            block,
            work_block,
            nonce,
            seal,
        } => json!({
            "status": "registered",
            "uid": uid,
            "block": block.number,
            "block_hash": pow_seal::to_hex(&block.hash),
            "work_block": work_block,
            "nonce": nonce,
            "seal": pow_seal::to_hex(&seal),
            "scheme": scheme.name(),
            "attempts": attempts,
            "seconds": seconds,
            "message": format!(
                "registered hotkey {hotkey_ss58} on subnet {netuid} as UID {uid} in block #{} (work block #{work_block}, nonce {nonce})",
                block.number
            ),
        }),
        Success::AlreadyRegistered { uid } => json!({
            "status": "already_registered",
            "uid": uid,
            "scheme": scheme.name(),
            "message": format!("hotkey {hotkey_ss58} is already registered on subnet {netuid} as UID {uid}"),
        }),
        Success::Funded { .. } => unreachable!("register never funds"),
    })
}
