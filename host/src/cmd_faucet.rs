//! `pow-host faucet`: draw test TAO from `SubtensorModule.faucet` on test and dev runtimes.
//! The challenge is the legacy layout with the coldkey, at difficulty 1,000,000, compared
//! little-endian, and the extrinsic is signed by the coldkey.

use crate::chain_cmd::{
    connect, endpoint, finish, flow_config, flow_failure, log_event, network_name, open_miner,
    runtime, ChainArgs, Keys,
};
use crate::Context;
use pow_chain::flow::{self, Goal, Success};
use pow_chain::network::Endpoint;
use pow_chain::Chain;
use pow_host::output::{FaucetContext, FaucetOutcome};
use pow_host::Failure;
use std::time::Duration;

/// Arguments of `pow-host faucet`.
#[derive(clap::Args, Debug, Clone)]
pub struct FaucetArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// Runs `pow-host faucet`.
pub fn run(ctx: &Context, args: &FaucetArgs) -> Result<(), Failure> {
    let mut context = FaucetContext::default();
    // Every failure from here on, bad input included, is one JSON object with --json.
    // Only the coldkey signs the faucet: the hotkey file is not read.
    let loaded = args.chain.calibration.settings().and_then(|calibration| {
        args.chain.farm.connect()?;
        let ep = endpoint(&args.chain)?;
        context.network = Some(network_name(&ep));
        let keys = Keys::load(&args.chain, ep == Endpoint::Dev, false)?;
        context.coldkey = Some(pow_wallet::ss58::encode(&keys.coldkey_public, 42));
        Ok((calibration, ep, keys))
    });
    let (calibration, ep, keys) = match loaded {
        Ok(ready) => ready,
        Err(f) => return finish::<_, FaucetOutcome>(args.chain.json, context, Err(f)),
    };
    let cfg = flow_config(&args.chain, 3);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(f) => return finish::<_, FaucetOutcome>(args.chain.json, context, Err(f)),
    };
    let result = rt.block_on(async {
        let chain = connect(&ep, &args.chain, &cfg).await?;
        let chain: &dyn Chain = chain.as_ref();
        eprintln!("chain: {}", chain.describe());
        let info = flow::with_retry(&cfg, &mut log_event, || chain.runtime())
            .await
            .map_err(|e| Failure::runtime(format!("cannot read the runtime: {e}")))?;
        info.faucet_available()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        let signer = keys.coldkey()?;
        let mut miner = open_miner(ctx, &args.chain, calibration).await?;
        let goal = Goal::Faucet {
            coldkey: keys.coldkey_public,
        };
        let r = flow::mine_and_submit(chain, goal, &signer, &mut miner, &cfg, &mut log_event)
            .await
            .map_err(flow_failure)?;
        drop(miner);
        match r {
            Success::Funded {
                amount,
                block,
                work_block,
                nonce,
            } => Ok(FaucetOutcome::Funded {
                amount_rao: amount,
                block: block.number,
                work_block,
                nonce,
                message: format!(
                    "faucet paid {} TAO to {} in block #{}",
                    amount as f64 / 1e9,
                    pow_wallet::ss58::encode(&keys.coldkey_public, 42),
                    block.number
                ),
            }),
            other => Err(Failure::runtime(format!("unexpected result {other:?}"))),
        }
    });
    let out = finish(args.chain.json, context, result);
    rt.shutdown_timeout(Duration::from_millis(200));
    out
}
