//! The whole registration flow against the embedded dev chain, for every challenge, with the
//! faults a real network shows: new blocks mid-search, stale proofs, dropped subscriptions.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use pow_chain::dev::{DevChain, DevConfig, DevExtrinsic, DevRuntime, DevSubnet};
use pow_chain::flow::{
    check_registration, mine_and_submit, Event, FlowConfig, FlowError, Goal, MinedSolution, Miner,
    Precheck, ScanMiner, Success,
};
use pow_chain::{Call, Chain, Outcome, Scheme};
use pow_seal::{Challenge, SealOrder, Work};
use pow_wallet::Sr25519Pair;
use tokio::sync::mpsc;

fn pair(seed: u8) -> Sr25519Pair {
    Sr25519Pair::from_seed(&[seed; 32]).unwrap()
}

fn cfg() -> FlowConfig {
    FlowConfig {
        max_submissions: 3,
        reconnect: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        deadline: Some(Duration::from_secs(120)),
        max_expected: None,
        block_time: None,
    }
}

fn dev(runtime: DevRuntime, block_ms: Option<u64>, difficulty: u64) -> DevChain {
    DevChain::start(DevConfig {
        block_time: block_ms.map(Duration::from_millis),
        runtime,
        faucet: true,
        subnets: vec![DevSubnet::open(1, difficulty)],
    })
}

/// Scans nonces upward from 0 for `work` with real hashing.
fn solve(work: &Work) -> (u64, [u8; 32]) {
    (0u64..)
        .find_map(|n| work.verify(n).map(|s| (n, s)))
        .unwrap()
}

fn goal_for(scheme: Scheme, hot: &Sr25519Pair, cold: &Sr25519Pair) -> Goal {
    Goal::Register {
        netuid: 1,
        scheme,
        hotkey: hot.public(),
        coldkey: cold.public(),
    }
}

async fn register_with_scan(
    chain: &DevChain,
    scheme: Scheme,
    hot: &Sr25519Pair,
    cold: &Sr25519Pair,
) -> Result<Success, FlowError> {
    let signer = if scheme == Scheme::V1 { cold } else { hot };
    let mut miner = ScanMiner::new(2);
    mine_and_submit(
        chain,
        goal_for(scheme, hot, cold),
        signer,
        &mut miner,
        &cfg(),
        &mut |_| {},
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_registers_end_to_end() {
    let chain = dev(DevRuntime::V1, Some(100), 20_000);
    let (hot, cold) = (pair(1), pair(2));
    let rt = chain.runtime().await.unwrap();
    assert_eq!(rt.registration_scheme(None), Ok(Scheme::V1));
    let Precheck::Ready(state) = check_registration(&chain, 1, &hot.public(), &cfg(), &mut |_| {})
        .await
        .unwrap()
    else {
        panic!("not ready")
    };
    assert_eq!(state.mining_difficulty(), 20_000);
    let ok = register_with_scan(&chain, Scheme::V1, &hot, &cold)
        .await
        .unwrap();
    let Success::Registered {
        uid,
        block,
        work_block,
        nonce,
        seal,
    } = ok
    else {
        panic!("{ok:?}")
    };
    assert_eq!(uid, 0);
    assert!(work_block < block.number && block.number - work_block < 3);
    assert_eq!(chain.uid_of(1, &hot.public()), Some(0));
    let sent = chain.submitted();
    assert_eq!(sent.len(), 1);
    assert!(
        matches!(sent[0], Call::PowRegister { nonce: n, work, .. } if n == nonce && work == seal)
    );
    // Registered now: the check says so and nothing more is sent.
    let again = check_registration(&chain, 1, &hot.public(), &cfg(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again, Precheck::AlreadyRegistered(0));
    let second = register_with_scan(&chain, Scheme::V1, &hot, &cold)
        .await
        .unwrap();
    assert_eq!(second, Success::AlreadyRegistered { uid: 0 });
    assert_eq!(chain.submitted().len(), 1);
    // Another hotkey gets the next UID.
    let other = register_with_scan(&chain, Scheme::V1, &pair(3), &cold)
        .await
        .unwrap();
    assert!(
        matches!(other, Success::Registered { uid: 1, .. }),
        "{other:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_big_and_little_endian_register() {
    for order in [SealOrder::BigEndian, SealOrder::LittleEndian] {
        let chain = dev(DevRuntime::Legacy(order), Some(100), 20_000);
        let rt = chain.runtime().await.unwrap();
        assert_eq!(rt.registration_scheme(None), Ok(Scheme::Legacy(order)));
        let (hot, cold) = (pair(4), pair(5));
        let ok = register_with_scan(&chain, Scheme::Legacy(order), &hot, &cold)
            .await
            .unwrap();
        assert!(matches!(ok, Success::Registered { uid: 0, .. }), "{ok:?}");
        let sent = chain.submitted();
        assert!(
            matches!(sent[0], Call::Register { hotkey, coldkey, .. } if hotkey == hot.public() && coldkey == cold.public())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_seal_order_is_refused_by_the_chain() {
    // A big-endian proof on a little-endian runtime fails the chain's difficulty check.
    let chain = dev(
        DevRuntime::Legacy(SealOrder::LittleEndian),
        Some(100),
        1_000_000,
    );
    let (hot, cold) = (pair(6), pair(7));
    let mut miner = ScanMiner::new(2);
    let mut c = cfg();
    c.max_submissions = 1;
    let err = mine_and_submit(
        &chain,
        goal_for(Scheme::Legacy(SealOrder::BigEndian), &hot, &cold),
        &hot,
        &mut miner,
        &c,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, FlowError::Module { error, .. } if error == "InvalidDifficulty"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faucet_pays_the_coldkey() {
    let chain = dev(DevRuntime::V1, Some(200), 1);
    let cold = pair(8);
    assert!(chain.runtime().await.unwrap().faucet_available().is_ok());
    let mut miner = ScanMiner::new(2);
    let ok = mine_and_submit(
        &chain,
        Goal::Faucet {
            coldkey: cold.public(),
        },
        &cold,
        &mut miner,
        &cfg(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(matches!(ok, Success::Funded { .. }), "{ok:?}");
    assert_eq!(chain.balance(&cold.public()), pow_chain::dev::FAUCET_AMOUNT);
}

/// The flow's side of a manual miner: records jobs and delivers what the test sends.
struct ManualFlowMiner {
    jobs: Arc<Mutex<Vec<(u64, Work)>>>,
    solutions: mpsc::UnboundedReceiver<MinedSolution>,
}

impl Miner for ManualFlowMiner {
    fn set_work(&mut self, job_id: u64, work: &Work) {
        self.jobs.lock().unwrap().push((job_id, work.clone()));
    }
    fn stop(&mut self) {}
    fn poll_solution(&mut self, cx: &mut Context<'_>) -> Poll<Option<MinedSolution>> {
        self.solutions.poll_recv(cx)
    }
}

/// The test's side of a manual miner: sees the jobs and decides when (and for which job) a
/// solution appears.
#[derive(Clone)]
struct ManualMiner {
    jobs: Arc<Mutex<Vec<(u64, Work)>>>,
    out: mpsc::UnboundedSender<MinedSolution>,
}

/// A manual miner: the flow's side and the test's handle on it.
fn manual_miner() -> (ManualFlowMiner, ManualMiner) {
    let (out, solutions) = mpsc::unbounded_channel();
    let jobs: Arc<Mutex<Vec<(u64, Work)>>> = Arc::default();
    (
        ManualFlowMiner {
            jobs: jobs.clone(),
            solutions,
        },
        ManualMiner { jobs, out },
    )
}

impl ManualMiner {
    fn jobs(&self) -> Vec<(u64, Work)> {
        self.jobs.lock().unwrap().clone()
    }
    async fn wait_jobs(&self, n: usize) -> Vec<(u64, Work)> {
        for _ in 0..2000 {
            let j = self.jobs();
            if j.len() >= n {
                return j;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("expected {n} jobs, have {}", self.jobs().len());
    }
    fn solve(&self, job: &(u64, Work)) {
        let (nonce, seal) = solve(&job.1);
        self.send(job.0, nonce, seal);
    }
    fn send(&self, job_id: u64, nonce: u64, seal: [u8; 32]) {
        self.out
            .send(MinedSolution {
                job_id,
                nonce,
                seal,
                device: "manual".into(),
            })
            .unwrap();
    }
}

async fn wait_submitted(chain: &DevChain, n: usize) {
    for _ in 0..2000 {
        if chain.submitted().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("expected {n} submissions");
}

type Spawned = (
    ManualMiner,
    tokio::task::JoinHandle<Result<Success, FlowError>>,
    Arc<Mutex<Vec<Event>>>,
);

fn spawn_manual(chain: &DevChain, hot: &Sr25519Pair, cold: &Sr25519Pair) -> Spawned {
    let (mut flow_miner, miner) = manual_miner();
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let (c, ev) = (chain.clone(), events.clone());
    let goal = goal_for(Scheme::V1, hot, cold);
    let cold = cold.clone();
    let handle = tokio::spawn(async move {
        mine_and_submit(&c, goal, &cold, &mut flow_miner, &cfg(), &mut |e| {
            ev.lock().unwrap().push(e)
        })
        .await
    });
    (miner, handle, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_block_mid_search_switches_the_challenge() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    let (hot, cold) = (pair(9), pair(10));
    let (miner, handle, events) = spawn_manual(&chain, &hot, &cold);
    let jobs = miner.wait_jobs(1).await;
    assert!(
        matches!(&jobs[0].1.challenge, Challenge::PowRegisterV1 { block_hash, .. } if *block_hash == chain.block_hash(0).await.unwrap().unwrap())
    );
    let b1 = chain.produce_block();
    let jobs = miner.wait_jobs(2).await;
    assert!(
        matches!(&jobs[1].1.challenge, Challenge::PowRegisterV1 { block_hash, .. } if *block_hash == b1.hash)
    );
    // A late solution for the first challenge is dropped, not sent.
    miner.solve(&jobs[0]);
    miner.solve(&jobs[1]);
    wait_submitted(&chain, 1).await;
    chain.produce_block();
    let ok = handle.await.unwrap().unwrap();
    assert!(
        matches!(
            ok,
            Success::Registered {
                work_block: 1,
                uid: 0,
                ..
            }
        ),
        "{ok:?}"
    );
    assert_eq!(chain.submitted().len(), 1);
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::Stale { reason } if reason.contains("older challenge"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_proof_is_not_sent_and_mining_continues() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    let (hot, cold) = (pair(11), pair(12));
    let (miner, handle, events) = spawn_manual(&chain, &hot, &cold);
    let jobs = miner.wait_jobs(1).await;
    // The node makes three blocks but the subscription lags behind.
    chain.hold_head_notifications(true);
    for _ in 0..3 {
        chain.produce_block();
    }
    miner.solve(&jobs[0]);
    let jobs = miner.wait_jobs(2).await;
    assert!(chain.submitted().is_empty(), "a stale proof was sent");
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::Stale { reason } if reason.contains("outside the window"))));
    // Mining went on at the newest block.
    let b3 = chain.block_hash(3).await.unwrap().unwrap();
    assert!(
        matches!(&jobs[1].1.challenge, Challenge::PowRegisterV1 { block_hash, .. } if *block_hash == b3)
    );
    chain.hold_head_notifications(false);
    let last = miner.jobs().last().unwrap().clone();
    miner.solve(&last);
    wait_submitted(&chain, 1).await;
    chain.produce_block();
    let ok = handle.await.unwrap().unwrap();
    assert!(
        matches!(ok, Success::Registered { work_block: 3, .. }),
        "{ok:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connection_comes_back() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    let (hot, cold) = (pair(13), pair(14));
    let (miner, handle, events) = spawn_manual(&chain, &hot, &cold);
    miner.wait_jobs(1).await;
    chain.fail_next_calls(2);
    chain.drop_subscriptions();
    chain.produce_block();
    // The flow resubscribes (through two failing calls) and mines on the new block.
    let jobs = miner.wait_jobs(2).await;
    miner.solve(jobs.last().unwrap());
    wait_submitted(&chain, 1).await;
    chain.produce_block();
    let ok = handle.await.unwrap().unwrap();
    assert!(matches!(ok, Success::Registered { .. }), "{ok:?}");
    let ev = events.lock().unwrap();
    assert!(
        ev.iter()
            .filter(|e| matches!(e, Event::Retrying { .. }))
            .count()
            >= 2,
        "{ev:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_refuse_before_mining() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    let hot = pair(15);
    let e = check_registration(&chain, 7, &hot.public(), &cfg(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FlowError::Usage(m) if m.contains("subnet 7 does not exist")),
        "{e}"
    );
    let e = check_registration(&chain, 0, &hot.public(), &cfg(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, FlowError::Usage(_)));
    let mut closed = DevSubnet::open(1, 5_000);
    closed.pow_registration_allowed = false;
    chain.set_subnet(closed.clone());
    let e = check_registration(&chain, 1, &hot.public(), &cfg(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FlowError::NotAllowed(m) if m.contains("NetworkPowRegistrationAllowed")),
        "{e}"
    );
    closed.pow_registration_allowed = true;
    closed.registration_allowed = false;
    chain.set_subnet(closed);
    let e = check_registration(&chain, 1, &hot.public(), &cfg(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FlowError::NotAllowed(m) if m.contains("NetworkRegistrationAllowed")),
        "{e}"
    );
    chain.set_subnet(DevSubnet::open(1, 5_000));
    let uid = chain.preregister(1, &hot.public());
    assert_eq!(
        check_registration(&chain, 1, &hot.public(), &cfg(), &mut |_| {})
            .await
            .unwrap(),
        Precheck::AlreadyRegistered(uid)
    );
    // The burning runtime is refused outright.
    let burned = dev(DevRuntime::Burned, None, 5_000);
    let e = burned
        .runtime()
        .await
        .unwrap()
        .registration_scheme(None)
        .unwrap_err();
    assert!(e.to_string().contains("burns TAO"), "{e}");
    assert!(burned.submitted().is_empty());
}

/// The dev chain's own judgement, call by call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_chain_applies_the_runtime_rules() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    let cold = pair(20);
    let b0 = chain.best_head().await.unwrap();
    let v1 = |hot: &Sr25519Pair, head: pow_chain::Head| {
        let work = Work::new(
            Challenge::v1(1, head.hash, hot.public(), cold.public()).unwrap(),
            5_000,
        );
        let (nonce, seal) = solve(&work);
        Call::PowRegister {
            netuid: 1,
            work_block: head.number,
            nonce,
            work: seal,
            hotkey: hot.public(),
        }
    };
    let submit = |call: Call| {
        let c = chain.clone();
        let signer = cold.clone();
        tokio::spawn(async move { c.submit(&call, &signer).await.unwrap() })
    };
    let error_of = |o: Outcome| match o {
        Outcome::ModuleError { error, .. } => error,
        other => panic!("{other:?}"),
    };

    // Two registrations in one block with MaxRegistrationsPerBlock = 1.
    let a = submit(v1(&pair(21), b0));
    let b = submit(v1(&pair(22), b0));
    wait_submitted(&chain, 2).await;
    chain.produce_block();
    assert!(matches!(
        a.await.unwrap(),
        Outcome::Registered { uid: 0, .. }
    ));
    assert_eq!(error_of(b.await.unwrap()), "TooManyRegistrationsThisBlock");

    // Work on the block being built (not yet before `now`) is refused.
    let b1 = chain.best_head().await.unwrap();
    let mut call = v1(&pair(23), b1);
    if let Call::PowRegister { work_block, .. } = &mut call {
        *work_block += 1;
    }
    let r = submit(call);
    wait_submitted(&chain, 3).await;
    chain.produce_block();
    assert_eq!(error_of(r.await.unwrap()), "InvalidWorkBlock");

    // A seal that is not the nonce's, and a difficulty raised after mining.
    let b2 = chain.best_head().await.unwrap();
    let mut call = v1(&pair(24), b2);
    if let Call::PowRegister { nonce, .. } = &mut call {
        *nonce ^= 1;
    }
    let r = submit(call);
    wait_submitted(&chain, 4).await;
    chain.produce_block();
    assert_eq!(error_of(r.await.unwrap()), "InvalidSeal");

    let b3 = chain.best_head().await.unwrap();
    let call = v1(&pair(25), b3);
    chain.set_subnet(DevSubnet::open(1, u64::MAX));
    let r = submit(call);
    wait_submitted(&chain, 5).await;
    chain.produce_block();
    assert_eq!(error_of(r.await.unwrap()), "InvalidDifficulty");

    // Work three blocks old is outside the window.
    chain.set_subnet(DevSubnet::open(1, 5_000));
    let old = chain.best_head().await.unwrap();
    let call = v1(&pair(26), old);
    chain.produce_block();
    chain.produce_block();
    let r = submit(call);
    wait_submitted(&chain, 6).await;
    chain.produce_block();
    assert_eq!(error_of(r.await.unwrap()), "InvalidWorkBlock");

    // The faucet refuses the same work twice.
    let head = chain.best_head().await.unwrap();
    let work = Work::new(
        Challenge::Faucet {
            block_hash: head.hash,
            coldkey: cold.public(),
        },
        pow_seal::FAUCET_DIFFICULTY,
    );
    let (nonce, seal) = solve(&work);
    let fc = Call::Faucet {
        block_number: head.number,
        nonce,
        work: seal,
    };
    let r = submit(fc.clone());
    wait_submitted(&chain, 7).await;
    chain.produce_block();
    assert!(matches!(r.await.unwrap(), Outcome::Funded { .. }));
    let r = submit(fc);
    wait_submitted(&chain, 8).await;
    chain.produce_block();
    assert_eq!(error_of(r.await.unwrap()), "WorkRepeated");
}

/// Opt-in: the real flow against a node named by `POW_HOST_TEST_WS`, on netuid
/// `POW_HOST_TEST_NETUID` (default 1) with dev keys derived from fixed seeds. Skipped otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_node_when_configured() {
    let Ok(url) = std::env::var("POW_HOST_TEST_WS") else {
        eprintln!(
            "skipped: set POW_HOST_TEST_WS=ws://HOST:PORT to run the flow against a real node"
        );
        return;
    };
    let netuid: u16 = std::env::var("POW_HOST_TEST_NETUID")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let chain = pow_chain::rpc::RpcChain::connect(&url).await.unwrap();
    let rt = chain.runtime().await.unwrap();
    eprintln!("spec {} caps {:?}", rt.spec_version, rt.caps);
    let head = chain.best_head().await.unwrap();
    assert_eq!(
        chain.block_hash(head.number).await.unwrap(),
        Some(head.hash)
    );
    let scheme = match rt.registration_scheme(None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("this node refuses PoW registration: {e}");
            return;
        }
    };
    let (hot, cold) = (pair(31), pair(32));
    match check_registration(&chain, netuid, &hot.public(), &cfg(), &mut |_| {}).await {
        Ok(Precheck::Ready(_)) => {
            let r = register_with_scan_on(&chain, scheme, netuid, &hot, &cold).await;
            eprintln!("result: {r:?}");
            assert!(r.is_ok() || matches!(r, Err(FlowError::Module { .. })));
        }
        other => eprintln!("not registering: {other:?}"),
    }
}

async fn register_with_scan_on(
    chain: &dyn Chain,
    scheme: Scheme,
    netuid: u16,
    hot: &Sr25519Pair,
    cold: &Sr25519Pair,
) -> Result<Success, FlowError> {
    let signer = if scheme == Scheme::V1 { cold } else { hot };
    let mut miner = ScanMiner::new(2);
    let goal = Goal::Register {
        netuid,
        scheme,
        hotkey: hot.public(),
        coldkey: cold.public(),
    };
    mine_and_submit(chain, goal, signer, &mut miner, &cfg(), &mut |e| {
        eprintln!("{e:?}")
    })
    .await
}

/// Two proofs for the same block on a subnet that takes one registration per block: the
/// chain refuses the second with `TooManyRegistrationsThisBlock` ("not in this block"), and
/// the flow keeps that proof and sends it again with the next block, where it lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_refused_for_its_block_is_held_and_lands_in_the_next() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    let cold = pair(40);
    let (hot_a, hot_b) = (pair(41), pair(42));
    let (miner_a, flow_a, _) = spawn_manual(&chain, &hot_a, &cold);
    let (miner_b, flow_b, events_b) = spawn_manual(&chain, &hot_b, &cold);
    let job_a = miner_a.wait_jobs(1).await[0].clone();
    let job_b = miner_b.wait_jobs(1).await[0].clone();
    // Block #1 becomes the work block; both proofs are for it.
    chain.produce_block();
    let job_a = miner_a.wait_jobs(2).await.last().cloned().unwrap_or(job_a);
    let job_b = miner_b.wait_jobs(2).await.last().cloned().unwrap_or(job_b);
    miner_a.solve(&job_a);
    miner_b.solve(&job_b);
    wait_submitted(&chain, 2).await;
    // Block #2 takes one of them; the other is refused for this block only.
    chain.produce_block();
    for _ in 0..2000 {
        let held = events_b
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::Held { .. }));
        if held || flow_b.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let a_first = chain.uid_of(1, &hot_a.public()).is_some();
    let (first, second, second_events) = if a_first {
        (flow_a, flow_b, events_b)
    } else {
        // B landed first: A holds its proof (the events of A are not collected here).
        (flow_b, flow_a, Arc::default())
    };
    let ok = first.await.unwrap().unwrap();
    assert!(
        matches!(ok, Success::Registered { work_block: 1, .. }),
        "{ok:?}"
    );
    // Block #3: the held proof (work block #1) is sent again and lands.
    wait_submitted(&chain, 3).await;
    chain.produce_block();
    let ok = second.await.unwrap().unwrap();
    assert!(
        matches!(ok, Success::Registered { work_block: 1, block, .. } if block.number == 3),
        "{ok:?}"
    );
    if a_first {
        let ev = second_events.lock().unwrap();
        assert!(
            ev.iter().any(|e| matches!(e, Event::Held { error, block: 1 } if error.contains("TooManyRegistrationsThisBlock"))),
            "{ev:?}"
        );
    }
    let sent = chain.submitted();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[1], sent[2], "the same proof is sent again");
}

/// A node that comes back lower (restarted from an earlier block, or a lagging failover
/// node): the flow mines the lower head instead of a block that no longer exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_head_is_followed() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    for _ in 0..5 {
        chain.produce_block();
    }
    let (hot, cold) = (pair(43), pair(44));
    let (miner, handle, _) = spawn_manual(&chain, &hot, &cold);
    let jobs = miner.wait_jobs(1).await;
    let b5 = chain.block_hash(5).await.unwrap().unwrap();
    assert!(
        matches!(&jobs[0].1.challenge, Challenge::PowRegisterV1 { block_hash, .. } if *block_hash == b5)
    );
    let low = chain.rewind(2);
    let jobs = miner.wait_jobs(2).await;
    assert!(
        matches!(&jobs[1].1.challenge, Challenge::PowRegisterV1 { block_hash, .. } if *block_hash == low.hash),
        "the flow did not follow the lower head"
    );
    // The new history goes on from there, and the proof for the lower head lands.
    miner.solve(&jobs[1]);
    wait_submitted(&chain, 1).await;
    chain.produce_block();
    let ok = handle.await.unwrap().unwrap();
    assert!(
        matches!(ok, Success::Registered { work_block: 2, .. }),
        "{ok:?}"
    );
}

/// The dev chain's pool checks each extrinsic's sr25519 signature against the public key of
/// the account it names, over the signed payload: one signed by another key, or whose call was
/// changed after signing, is refused with `BadProof` and never reaches a block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_chain_checks_signatures() {
    let chain = dev(DevRuntime::V1, None, 1);
    let (cold, forger) = (pair(50), pair(51));
    let call_at = |hot: &Sr25519Pair, head: pow_chain::Head| {
        let work = Work::new(
            Challenge::v1(1, head.hash, hot.public(), cold.public()).unwrap(),
            1,
        );
        let (nonce, seal) = solve(&work);
        Call::PowRegister {
            netuid: 1,
            work_block: head.number,
            nonce,
            work: seal,
            hotkey: hot.public(),
        }
    };
    let head = chain.best_head().await.unwrap();
    let call = |hot: &Sr25519Pair| call_at(hot, head);
    // A refused extrinsic is answered at once; an accepted one would wait for a block.
    let submit = |xt: DevExtrinsic| {
        let c = chain.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(5), c.submit_extrinsic(xt))
                .await
                .expect("the pool accepted it: no answer before a block")
                .unwrap()
        }
    };
    let refused = |o: Outcome| match o {
        Outcome::Rejected { message } => {
            let r = pow_chain::rules::decode_pool_refusal(&message).expect("a pool refusal");
            assert_eq!(r.name, "BadProof", "{message}");
            assert_eq!(r.verdict, pow_chain::rules::Verdict::Fatal);
        }
        other => panic!("not refused: {other:?}"),
    };

    // Signed by another key than the coldkey it names.
    let hot_a = pair(52);
    let mut forged = chain.sign(&call(&hot_a), &forger);
    forged.signer = cold.public();
    refused(submit(forged).await);

    // Signed by the coldkey, then the hotkey swapped: the payload no longer matches.
    let hot_b = pair(53);
    let mut tampered = chain.sign(&call(&hot_b), &cold);
    if let Call::PowRegister { hotkey, .. } = &mut tampered.call {
        *hotkey = pair(54).public();
    }
    refused(submit(tampered).await);

    // A signature over another chain's payload (another spec version) does not verify either.
    let other = dev(DevRuntime::Legacy(SealOrder::LittleEndian), None, 1);
    let hot_c = pair(55);
    let elsewhere = other.sign(&call(&hot_c), &cold);
    refused(submit(elsewhere).await);

    chain.produce_block();
    assert!(chain.submitted().is_empty(), "{:?}", chain.submitted());
    for hot in [&hot_a, &hot_b, &hot_c] {
        assert_eq!(chain.uid_of(1, &hot.public()), None);
    }

    // The same call correctly signed is accepted and registers.
    let head = chain.best_head().await.unwrap();
    let xt = chain.sign(&call_at(&hot_a, head), &cold);
    let c = chain.clone();
    let r = tokio::spawn(async move { c.submit_extrinsic(xt).await.unwrap() });
    wait_submitted(&chain, 1).await;
    chain.produce_block();
    assert!(
        matches!(r.await.unwrap(), Outcome::Registered { uid: 0, .. }),
        "a correctly signed extrinsic was not accepted"
    );
    assert_eq!(chain.uid_of(1, &hot_a.public()), Some(0));
}

/// A chain client that names the right signer but signs with another key: the flow must take
/// the node's `BadProof` as a fatal refusal (no retry, nothing registered).
struct ForgingChain {
    dev: DevChain,
    forger: Sr25519Pair,
}

#[async_trait::async_trait]
impl Chain for ForgingChain {
    async fn best_head(&self) -> Result<pow_chain::Head, pow_chain::ChainError> {
        self.dev.best_head().await
    }
    async fn subscribe_heads(&self) -> Result<pow_chain::HeadStream, pow_chain::ChainError> {
        self.dev.subscribe_heads().await
    }
    async fn runtime(&self) -> Result<pow_chain::RuntimeInfo, pow_chain::ChainError> {
        self.dev.runtime().await
    }
    async fn block_hash(&self, number: u64) -> Result<Option<[u8; 32]>, pow_chain::ChainError> {
        self.dev.block_hash(number).await
    }
    async fn subnet_state(
        &self,
        netuid: u16,
        hotkey: &[u8; 32],
    ) -> Result<pow_chain::SubnetState, pow_chain::ChainError> {
        self.dev.subnet_state(netuid, hotkey).await
    }
    async fn subnet_exists(&self, netuid: u16) -> Result<bool, pow_chain::ChainError> {
        self.dev.subnet_exists(netuid).await
    }
    async fn submit(
        &self,
        call: &Call,
        signer: &Sr25519Pair,
    ) -> Result<Outcome, pow_chain::ChainError> {
        let mut xt = self.dev.sign(call, &self.forger);
        xt.signer = signer.public();
        self.dev.submit_extrinsic(xt).await
    }
    fn describe(&self) -> String {
        "forging client".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_ends_the_flow_without_retrying() {
    let dev = dev(DevRuntime::V1, Some(100), 1_000);
    let chain = ForgingChain {
        dev: dev.clone(),
        forger: pair(56),
    };
    let (hot, cold) = (pair(57), pair(58));
    let mut miner = ScanMiner::new(2);
    let err = mine_and_submit(
        &chain,
        goal_for(Scheme::V1, &hot, &cold),
        &cold,
        &mut miner,
        &cfg(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, FlowError::Refused { name, .. } if name == "BadProof"),
        "{err}"
    );
    assert!(dev.submitted().is_empty());
    assert_eq!(dev.uid_of(1, &hot.public()), None);
}

/// The trust boundary: a miner's solution whose seal is not its nonce's, or whose seal does not
/// meet the difficulty, is never sent; a correct one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solution_that_does_not_verify_is_never_sent() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    let (hot, cold) = (pair(60), pair(61));
    let (miner, handle, events) = spawn_manual(&chain, &hot, &cold);
    miner.wait_jobs(1).await;
    chain.produce_block();
    let jobs = miner.wait_jobs(2).await;
    let (job_id, work) = jobs[1].clone();
    let (nonce, seal) = solve(&work);
    // The right nonce with a made-up seal.
    let mut wrong = seal;
    wrong[0] ^= 0xff;
    miner.send(job_id, nonce, wrong);
    // A nonce whose own seal misses the difficulty.
    let weak = (0u64..).find(|n| work.verify(*n).is_none()).unwrap();
    miner.send(job_id, weak, work.challenge.seal(weak));
    for _ in 0..2000 {
        let n = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, Event::Stale { reason } if reason.contains("does not verify")))
            .count();
        if n >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(chain.submitted().is_empty(), "an unverified seal was sent");
    miner.send(job_id, nonce, seal);
    wait_submitted(&chain, 1).await;
    chain.produce_block();
    let ok = handle.await.unwrap().unwrap();
    assert!(
        matches!(ok, Success::Registered { nonce: n, .. } if n == nonce),
        "{ok:?}"
    );
    assert_eq!(chain.submitted().len(), 1);
}

/// A verified proof whose difficulty rose before it could be sent is stale: not sent, and
/// mining goes on at the new difficulty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_below_a_raised_difficulty_is_not_sent() {
    let chain = dev(DevRuntime::V1, None, 5_000);
    let (hot, cold) = (pair(62), pair(63));
    let (miner, handle, events) = spawn_manual(&chain, &hot, &cold);
    miner.wait_jobs(1).await;
    chain.produce_block();
    let jobs = miner.wait_jobs(2).await;
    chain.set_subnet(DevSubnet::open(1, u64::MAX));
    miner.solve(&jobs[1]);
    let jobs = miner.wait_jobs(3).await;
    assert_eq!(
        jobs[2].1.difficulty,
        u64::MAX,
        "mining goes on at the new difficulty"
    );
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::Stale { reason } if reason.contains("difficulty rose"))));
    assert!(chain.submitted().is_empty(), "a stale proof was sent");
    handle.abort();
}
