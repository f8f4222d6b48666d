//! One scenario list, run against the real subtensor runtimes (spec 218 and spec 293 under
//! chopsticks, tests/data/runtimes) and against the embedded dev chain in each mode; every
//! scenario must end with the same verdict on all of them. The chain is the judge: where the
//! dev chain disagrees with a real runtime, the dev chain is wrong.
//!
//! Spec 218 runs with chopsticks' original chainHead events (so heads come through the legacy
//! family, `chain_subscribeNewHeads`), spec 293 with conforming ones (chainHead_v1_follow).
//! The dev chain's v1 mode goes beyond what these runtimes show (no runtime here has
//! `pow_register`); it follows the v1 reference and must give the same verdicts.

use std::time::Duration;

use pow_chain::dev::{DevChain, DevConfig, DevRuntime, DevSubnet};
use pow_chain::flow::{
    check_registration, mine_and_submit, FlowConfig, FlowError, Goal, Precheck, ScanMiner, Success,
};
use pow_chain::rpc::RpcChain;
use pow_chain::{rules, Call, Chain, Outcome, Scheme};
use pow_chopsticks::{Node, Options, Runtime, Subnet};
use pow_seal::{Challenge, SealOrder, Work};
use pow_wallet::Sr25519Pair;

/// Where the scenarios run, with the powers a test needs to arrange a subnet's state.
enum Bench {
    Dev(DevChain),
    Real(Box<(Node, RpcChain)>),
}

impl Bench {
    fn chain(&self) -> &dyn Chain {
        match self {
            Bench::Dev(c) => c,
            Bench::Real(real) => &real.1,
        }
    }

    /// Applies every field set in `s`: through `dev_setStorage` on a real runtime (it changes
    /// the best block's state in place), through the dev chain's own settings otherwise.
    fn set(&self, s: &Subnet) {
        match self {
            Bench::Real(real) => real.0.setup_subnet(s).expect("dev_setStorage"),
            Bench::Dev(chain) => {
                let mut cfg = chain
                    .subnet(s.netuid)
                    .unwrap_or_else(|| DevSubnet::open(s.netuid, 1));
                if let Some(v) = s.registration_allowed {
                    cfg.registration_allowed = v;
                }
                if let Some(v) = s.pow_registration_allowed {
                    cfg.pow_registration_allowed = v;
                }
                if let Some(v) = s.difficulty {
                    cfg.difficulty = v;
                }
                if let Some(v) = s.min_difficulty {
                    cfg.min_difficulty = v;
                }
                if let Some(v) = s.max_difficulty {
                    cfg.max_difficulty = v;
                }
                if let Some(v) = s.max_registrations_per_block {
                    cfg.max_registrations_per_block = v;
                }
                if let Some(v) = s.target_registrations_per_interval {
                    cfg.target_registrations_per_interval = v;
                }
                chain.set_subnet(cfg);
                if let Some(v) = s.registrations_this_interval {
                    chain.set_registrations_this_interval(s.netuid, v);
                }
                if let Some(v) = s.registrations_this_block {
                    chain.set_registrations_this_block(s.netuid, v);
                }
            }
        }
    }

    /// `Uids(netuid, hotkey)` read back from the chain's storage.
    fn uid_of(&self, netuid: u16, hotkey: &[u8; 32]) -> Option<u16> {
        match self {
            Bench::Real(real) => real.0.uid_of(netuid, hotkey).expect("read Uids"),
            Bench::Dev(chain) => chain.uid_of(netuid, hotkey),
        }
    }

    /// The proof's hotkey holds `uid` in `Keys(netuid, uid)` too (real runtimes).
    fn check_keys(&self, netuid: u16, uid: u16, hotkey: &[u8; 32]) {
        if let Bench::Real(real) = self {
            assert_eq!(real.0.hotkey_of(netuid, uid).unwrap(), Some(*hotkey));
        }
    }
}

fn cfg(max_expected: Option<Duration>) -> FlowConfig {
    FlowConfig {
        max_submissions: 3,
        reconnect: Duration::from_secs(30),
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        deadline: Some(Duration::from_secs(90)),
        max_expected,
        block_time: None,
    }
}

/// Checks, then mines with real hashing and submits; the verdict in a word.
async fn register(bench: &Bench, scheme: Scheme, netuid: u16, hot: &Sr25519Pair) -> String {
    register_with(bench, scheme, netuid, hot, None).await
}

async fn register_with(
    bench: &Bench,
    scheme: Scheme,
    netuid: u16,
    hot: &Sr25519Pair,
    max_expected: Option<Duration>,
) -> String {
    let cold = Sr25519Pair::generate().0;
    let cfg = cfg(max_expected);
    let chain = bench.chain();
    let log = |e| eprintln!("  {e:?}");
    match check_registration(chain, netuid, &hot.public(), &cfg, &mut { log }).await {
        Ok(Precheck::AlreadyRegistered(uid)) => {
            assert_eq!(bench.uid_of(netuid, &hot.public()), Some(uid));
            return "already_registered".into();
        }
        Ok(Precheck::Ready(_)) => {}
        Err(e) => return verdict_of_error(&e),
    }
    let signer = if scheme == Scheme::V1 { &cold } else { hot };
    let mut miner = ScanMiner::new(2);
    let goal = Goal::Register {
        netuid,
        scheme,
        hotkey: hot.public(),
        coldkey: cold.public(),
    };
    match mine_and_submit(chain, goal, signer, &mut miner, &cfg, &mut { log }).await {
        Ok(Success::Registered { uid, .. }) => {
            assert_eq!(
                bench.uid_of(netuid, &hot.public()),
                Some(uid),
                "Uids read back"
            );
            bench.check_keys(netuid, uid, &hot.public());
            "registered".into()
        }
        Ok(Success::AlreadyRegistered { .. }) => "already_registered".into(),
        Ok(other) => format!("unexpected {other:?}"),
        Err(e) => verdict_of_error(&e),
    }
}

fn verdict_of_error(e: &FlowError) -> String {
    eprintln!("  error: {e}");
    match e {
        FlowError::Usage(_) => "usage".into(),
        FlowError::NotAllowed(_) => "not_allowed".into(),
        FlowError::RateLimited(_) => "rate_limited".into(),
        FlowError::Hopeless(_) => "hopeless".into(),
        FlowError::Module { error, .. } => format!("module:{error}"),
        other => format!("error:{other}"),
    }
}

/// Sends a correct proof for the best block straight to the node (no checks first) and
/// returns how the node answered: a pool refusal by its custom code, or the outcome.
async fn submit_directly(bench: &Bench, order: SealOrder, netuid: u16) -> String {
    let chain = bench.chain();
    let hot = Sr25519Pair::generate().0;
    let head = chain.best_head().await.unwrap();
    let state = chain.subnet_state(netuid, &hot.public()).await.unwrap();
    let work = Work::new(
        Challenge::Legacy {
            block_hash: head.hash,
            hotkey: hot.public(),
            seal_order: order,
        },
        state.mining_difficulty(),
    );
    let (nonce, seal) = (0u64..)
        .find_map(|n| work.verify(n).map(|s| (n, s)))
        .unwrap();
    let call = Call::Register {
        netuid,
        block_number: head.number,
        nonce,
        work: seal,
        hotkey: hot.public(),
        coldkey: Sr25519Pair::generate().0.public(),
    };
    match chain.submit(&call, &hot).await.unwrap() {
        Outcome::Rejected { message } => {
            eprintln!("  the node answered: {message}");
            match rules::decode_pool_refusal(&message) {
                Some(r) => format!("pool:custom({})", r.custom.map_or(-1, |c| c as i64)),
                None => format!("rejected:{message}"),
            }
        }
        other => format!("{other:?}"),
    }
}

/// The scenario list. Returns (scenario, verdict) pairs in order.
async fn scenarios(bench: &Bench, scheme: Scheme, order: SealOrder) -> Vec<(&'static str, String)> {
    let netuid = 1;
    let mut out = Vec::new();
    let open = |difficulty: u64| Subnet {
        registration_allowed: Some(true),
        pow_registration_allowed: Some(true),
        difficulty: Some(difficulty),
        registrations_this_interval: Some(0),
        target_registrations_per_interval: Some(2),
        ..Subnet::new(netuid)
    };

    eprintln!("scenario registers");
    bench.set(&open(2_000));
    let hot = Sr25519Pair::generate().0;
    out.push(("registers", register(bench, scheme, netuid, &hot).await));

    eprintln!("scenario already_registered");
    out.push((
        "already_registered",
        register(bench, scheme, netuid, &hot).await,
    ));

    eprintln!("scenario missing_subnet");
    let other = Sr25519Pair::generate().0;
    out.push(("missing_subnet", register(bench, scheme, 77, &other).await));

    eprintln!("scenario pow_disabled");
    bench.set(&Subnet {
        pow_registration_allowed: Some(false),
        ..Subnet::new(netuid)
    });
    out.push((
        "pow_disabled",
        register(bench, scheme, netuid, &other).await,
    ));

    eprintln!("scenario difficulty_below_min");
    // As spec 293's register_network leaves new subnets: Min = Max = u64::MAX beside a
    // small Difficulty. The runtime checks Difficulty only.
    bench.set(&Subnet {
        min_difficulty: Some(u64::MAX),
        max_difficulty: Some(u64::MAX),
        ..open(3_000)
    });
    out.push((
        "difficulty_below_min",
        register(bench, scheme, netuid, &other).await,
    ));

    eprintln!("scenario second_in_block");
    // The best block already holds as many registrations as a block may: the extrinsic runs
    // in the next block, where the count starts again at 0.
    let max = bench
        .chain()
        .subnet_state(netuid, &[0; 32])
        .await
        .unwrap()
        .max_registrations_per_block;
    bench.set(&Subnet {
        registrations_this_block: Some(max),
        ..open(2_000)
    });
    let third = Sr25519Pair::generate().0;
    out.push((
        "second_in_block",
        register(bench, scheme, netuid, &third).await,
    ));

    eprintln!("scenario interval_rate_limit");
    bench.set(&Subnet {
        registrations_this_interval: Some(6),
        ..open(2_000)
    });
    let fourth = Sr25519Pair::generate().0;
    out.push((
        "interval_rate_limit",
        register(bench, scheme, netuid, &fourth).await,
    ));

    eprintln!("scenario interval_rate_limit_at_the_pool");
    if scheme != Scheme::V1 {
        out.push((
            "interval_rate_limit_at_the_pool",
            submit_directly(bench, order, netuid).await,
        ));
    }

    eprintln!("scenario hopeless_difficulty");
    bench.set(&open(u64::MAX));
    out.push((
        "hopeless_difficulty",
        register_with(
            bench,
            scheme,
            netuid,
            &fourth,
            Some(Duration::from_secs(3_600)),
        )
        .await,
    ));
    out
}

fn expected(pool_code: u8) -> Vec<(&'static str, String)> {
    vec![
        ("registers", "registered".into()),
        ("already_registered", "already_registered".into()),
        ("missing_subnet", "usage".into()),
        ("pow_disabled", "not_allowed".into()),
        ("difficulty_below_min", "registered".into()),
        ("second_in_block", "registered".into()),
        ("interval_rate_limit", "rate_limited".into()),
        (
            "interval_rate_limit_at_the_pool",
            format!("pool:custom({pool_code})"),
        ),
        ("hopeless_difficulty", "hopeless".into()),
    ]
}

async fn on_real(runtime: Runtime, raw_chainhead: bool) -> Option<Vec<(&'static str, String)>> {
    let node = pow_chopsticks::start_or_skip(
        runtime,
        Options {
            raw_chainhead,
            block_interval: Some(Duration::from_secs(2)),
            ..Options::default()
        },
    )?;
    let chain = RpcChain::connect(&node.ws_url()).await.expect("connect");
    let info = chain.runtime().await.unwrap();
    assert_eq!(info.spec_version, runtime.spec_version());
    let scheme = info.registration_scheme(None).unwrap();
    let order = match runtime.seal_order() {
        pow_chopsticks::SealOrder::BigEndian => SealOrder::BigEndian,
        pow_chopsticks::SealOrder::LittleEndian => SealOrder::LittleEndian,
    };
    assert_eq!(scheme, Scheme::Legacy(order));
    let bench = Bench::Real(Box::new((node, chain)));
    let got = scenarios(&bench, scheme, order).await;
    if let Bench::Real(real) = &bench {
        // The family the heads came through is the one this run means to test.
        assert_eq!(real.1.heads_via_legacy().await, raw_chainhead);
    }
    if let Bench::Real(real) = &bench {
        eprintln!("chopsticks log tail:\n{}", real.0.log_tail(5));
    }
    Some(got)
}

async fn on_dev(runtime: DevRuntime) -> Vec<(&'static str, String)> {
    let chain = DevChain::start(DevConfig {
        block_time: Some(Duration::from_millis(300)),
        runtime,
        faucet: false,
        subnets: vec![DevSubnet::open(1, 2_000)],
    });
    let scheme = chain
        .runtime()
        .await
        .unwrap()
        .registration_scheme(None)
        .unwrap();
    let order = match runtime {
        DevRuntime::Legacy(o) => o,
        _ => SealOrder::LittleEndian,
    };
    scenarios(&Bench::Dev(chain), scheme, order).await
}

fn assert_verdicts(who: &str, got: &[(&'static str, String)], want: &[(&'static str, String)]) {
    let want: Vec<_> = want
        .iter()
        .filter(|(name, _)| got.iter().any(|(g, _)| g == name))
        .cloned()
        .collect();
    assert_eq!(got, want.as_slice(), "{who}: verdicts differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spec_218_and_the_big_endian_dev_chain_agree() {
    let dev = on_dev(DevRuntime::Legacy(SealOrder::BigEndian)).await;
    assert_verdicts("dev chain (legacy-be)", &dev, &expected(5));
    // Heads through the legacy family: chopsticks' original chainHead events.
    let Some(real) = on_real(Runtime::Spec218, true).await else {
        return;
    };
    assert_verdicts("spec 218", &real, &expected(5));
    assert_eq!(real, dev, "the dev chain and spec 218 disagree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spec_293_and_the_little_endian_dev_chain_agree() {
    let dev = on_dev(DevRuntime::Legacy(SealOrder::LittleEndian)).await;
    assert_verdicts("dev chain (legacy-le)", &dev, &expected(6));
    // Heads through chainHead_v1_follow (conforming events).
    let Some(real) = on_real(Runtime::Spec293, false).await else {
        return;
    };
    assert_verdicts("spec 293", &real, &expected(6));
    assert_eq!(real, dev, "the dev chain and spec 293 disagree");
}

/// The v1 dev chain follows the v1 reference (no runtime here has `pow_register`), with the
/// same verdicts as the legacy runtimes wherever the rules are shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_v1_dev_chain_gives_the_same_verdicts() {
    let dev = on_dev(DevRuntime::V1).await;
    assert_verdicts("dev chain (v1)", &dev, &expected(6));
}
