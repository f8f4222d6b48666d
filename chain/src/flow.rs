//! The registration (and faucet) flow: check the chain, mine on the best head, switch to the
//! new challenge when a block arrives, recheck a proof before sending it, send it signed by
//! the right key and follow it into a block.
//!
//! Mining is behind the small [`Miner`] trait so any device dispatcher can drive it; solutions
//! come back on a tokio channel. [`ScanMiner`] is a plain reference miner over `pow-seal`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pow_seal::{Challenge, Work};
use pow_wallet::Sr25519Pair;
use tokio::sync::mpsc;

use crate::{Call, Chain, ChainError, Hash, Head, HeadStream, Outcome, Scheme, SubnetState};

/// A nonce a miner found for job `job_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedSolution {
    /// The job it solves.
    pub job_id: u64,
    /// The nonce.
    pub nonce: u64,
    /// Its seal.
    pub seal: Hash,
    /// Which device found it.
    pub device: String,
}

/// Something that searches nonces. Found solutions go to the channel the miner was built with;
/// a miner may stop after its first solution for a job (the flow sets a new job when it needs more).
pub trait Miner: Send {
    /// Drops the current job and starts searching `work` as job `job_id`.
    fn set_work(&mut self, job_id: u64, work: &Work);
    /// Stops searching until the next [`Miner::set_work`].
    fn stop(&mut self);
}

/// What the flow is after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Register `hotkey` (owned by `coldkey`) on `netuid` with `scheme`.
    Register {
        /// Subnet.
        netuid: u16,
        /// v1 or legacy.
        scheme: Scheme,
        /// Hotkey public key.
        hotkey: Hash,
        /// Coldkey public key.
        coldkey: Hash,
    },
    /// Draw from the faucet into `coldkey`.
    Faucet {
        /// Coldkey public key (it also signs).
        coldkey: Hash,
    },
}

/// Progress the flow reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Mining a new challenge.
    Job {
        /// Job id.
        job_id: u64,
        /// The block whose hash the challenge uses.
        block: Head,
        /// Difficulty mined at.
        difficulty: u64,
    },
    /// A solution was found but not sent.
    Stale {
        /// Why.
        reason: String,
    },
    /// Sending an extrinsic.
    Submitting {
        /// Call name.
        call: &'static str,
        /// Work block.
        block: u64,
        /// Nonce.
        nonce: u64,
        /// Device that found it.
        device: String,
    },
    /// The chain refused a proof; mining goes on.
    Refused {
        /// The error.
        error: String,
    },
    /// A chain call failed; retrying.
    Retrying {
        /// Attempt number (1-based).
        attempt: u32,
        /// What failed.
        error: String,
    },
}

/// Flow settings.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// How many proofs may be sent and refused before giving up.
    pub max_submissions: u32,
    /// How many times a failing chain call is retried.
    pub retries: u32,
    /// First wait between retries; doubles each time.
    pub backoff: Duration,
    /// Give up after this long.
    pub deadline: Option<Duration>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_submissions: 3,
            retries: 5,
            backoff: Duration::from_millis(500),
            deadline: None,
        }
    }
}

/// How the flow ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Success {
    /// Registered; `NeuronRegistered` gave this UID.
    Registered {
        /// UID.
        uid: u16,
        /// Block it was included in.
        block: Head,
        /// Work block.
        work_block: u64,
        /// Nonce.
        nonce: u64,
        /// Seal.
        seal: Hash,
    },
    /// The hotkey already has a UID on the subnet; nothing was sent.
    AlreadyRegistered {
        /// Its UID.
        uid: u16,
    },
    /// The faucet paid out.
    Funded {
        /// Amount in rao.
        amount: u64,
        /// Block it was included in.
        block: Head,
        /// Work block.
        work_block: u64,
        /// Nonce.
        nonce: u64,
    },
}

/// How the flow ended badly.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FlowError {
    /// Bad input (for example a subnet that does not exist).
    #[error("{0}")]
    Usage(String),
    /// The chain does not allow this registration; nothing was sent.
    #[error("{0}")]
    NotAllowed(String),
    /// The chain refused the proof with a module error.
    #[error("the chain refused the extrinsic in block #{}: {pallet}.{error}", .block.number)]
    Module {
        /// Pallet.
        pallet: String,
        /// Error name.
        error: String,
        /// Block.
        block: Head,
    },
    /// Another failure of the extrinsic.
    #[error("{0}")]
    Failed(String),
    /// The chain could not be reached.
    #[error("{0}")]
    Chain(ChainError),
    /// The deadline passed.
    #[error("no registration within {0:?}")]
    Timeout(Duration),
}

/// Errors that mean "this proof came too late or the block was full": mine again.
const RETRYABLE: &[&str] = &[
    "InvalidWorkBlock",
    "TooManyRegistrationsThisBlock",
    "InvalidDifficulty",
    "WorkRepeated",
    "PowWorkAlreadyUsed",
];

/// Runs a chain call, retrying connection failures with doubling backoff.
pub async fn with_retry<T, F, Fut>(
    cfg: &FlowConfig,
    events: &mut (dyn FnMut(Event) + Send),
    mut op: F,
) -> Result<T, ChainError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ChainError>>,
{
    let mut wait = cfg.backoff;
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(ChainError::Connection(msg)) if attempt < cfg.retries => {
                attempt += 1;
                events(Event::Retrying {
                    attempt,
                    error: msg,
                });
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Checks everything that can be checked before mining; returns the subnet state, or
/// `Ok(Err(uid))` when the hotkey is already registered.
pub async fn check_registration(
    chain: &dyn Chain,
    netuid: u16,
    hotkey: &Hash,
    cfg: &FlowConfig,
    events: &mut (dyn FnMut(Event) + Send),
) -> Result<Result<SubnetState, u16>, FlowError> {
    if netuid == 0 {
        return Err(FlowError::Usage(
            "netuid 0 is the root subnet, where proof-of-work registration is not permitted".into(),
        ));
    }
    let state = with_retry(cfg, events, || chain.subnet_state(netuid, hotkey))
        .await
        .map_err(FlowError::Chain)?;
    if !state.exists {
        return Err(FlowError::Usage(format!(
            "subnet {netuid} does not exist on {}",
            chain.describe()
        )));
    }
    if let Some(uid) = state.uid {
        return Ok(Err(uid));
    }
    if !state.registration_allowed {
        return Err(FlowError::NotAllowed(format!(
            "registration is disabled on subnet {netuid} (NetworkRegistrationAllowed is false)"
        )));
    }
    if !state.pow_registration_allowed {
        return Err(FlowError::NotAllowed(format!(
            "proof-of-work registration is disabled on subnet {netuid} (NetworkPowRegistrationAllowed is false)"
        )));
    }
    Ok(Ok(state))
}

struct Job {
    id: u64,
    head: Head,
    work: Work,
}

fn challenge_for(goal: &Goal, head: &Head) -> Challenge {
    match *goal {
        Goal::Register {
            netuid,
            scheme: Scheme::V1,
            hotkey,
            coldkey,
        } => Challenge::PowRegisterV1 {
            netuid,
            block_hash: head.hash,
            hotkey,
            coldkey,
        },
        Goal::Register {
            scheme: Scheme::Legacy(order),
            hotkey,
            ..
        } => Challenge::Legacy {
            block_hash: head.hash,
            hotkey,
            seal_order: order,
        },
        Goal::Faucet { coldkey } => Challenge::Faucet {
            block_hash: head.hash,
            coldkey,
        },
    }
}

/// The work window rule of the runtime, judged for inclusion at block `now`.
pub fn in_window(goal: &Goal, work_block: u64, now: u64) -> bool {
    match goal {
        Goal::Register {
            scheme: Scheme::V1, ..
        } => work_block < now && now - work_block < 3,
        _ => work_block <= now && now - work_block < 3,
    }
}

struct Runner<'a> {
    chain: &'a dyn Chain,
    goal: Goal,
    cfg: &'a FlowConfig,
    events: &'a mut (dyn FnMut(Event) + Send),
    miner: &'a mut dyn Miner,
    next_id: u64,
}

impl Runner<'_> {
    async fn difficulty(&mut self) -> Result<(u64, Option<SubnetState>), FlowError> {
        match self.goal {
            Goal::Faucet { .. } => Ok((pow_seal::FAUCET_DIFFICULTY, None)),
            Goal::Register { netuid, hotkey, .. } => {
                let chain = self.chain;
                let state = with_retry(self.cfg, self.events, || {
                    chain.subnet_state(netuid, &hotkey)
                })
                .await
                .map_err(FlowError::Chain)?;
                Ok((state.mining_difficulty(), Some(state)))
            }
        }
    }

    async fn start(&mut self, head: Head) -> Result<Result<Job, Success>, FlowError> {
        let (difficulty, state) = self.difficulty().await?;
        if let Some(uid) = state.as_ref().and_then(|s| s.uid) {
            return Ok(Err(Success::AlreadyRegistered { uid }));
        }
        self.next_id += 1;
        let work = Work::new(challenge_for(&self.goal, &head), difficulty);
        self.miner.set_work(self.next_id, &work);
        (self.events)(Event::Job {
            job_id: self.next_id,
            block: head,
            difficulty,
        });
        Ok(Ok(Job {
            id: self.next_id,
            head,
            work,
        }))
    }

    async fn subscribe(&mut self) -> Result<HeadStream, FlowError> {
        let chain = self.chain;
        with_retry(self.cfg, self.events, || chain.subscribe_heads())
            .await
            .map_err(FlowError::Chain)
    }

    async fn best(&mut self) -> Result<Head, FlowError> {
        let chain = self.chain;
        with_retry(self.cfg, self.events, || chain.best_head())
            .await
            .map_err(FlowError::Chain)
    }

    /// Rechecks a solution against the chain as it is now; `Err(reason)` means stale.
    async fn recheck(
        &mut self,
        job: &Job,
        nonce: u64,
        seal: &Hash,
    ) -> Result<Result<(), String>, FlowError> {
        let best = self.best().await?;
        // The pool validates (and the block includes) the extrinsic as block best + 1.
        let now = best.number + 1;
        if !in_window(&self.goal, job.head.number, now) {
            return Ok(Err(format!(
                "work block #{} is outside the window at block #{now}",
                job.head.number
            )));
        }
        if let Goal::Register { netuid, hotkey, .. } = self.goal {
            let chain = self.chain;
            let state = with_retry(self.cfg, self.events, || {
                chain.subnet_state(netuid, &hotkey)
            })
            .await
            .map_err(FlowError::Chain)?;
            if let Some(uid) = state.uid {
                return Ok(Err(format!(
                    "the hotkey was registered meanwhile (UID {uid})"
                )));
            }
            if let Some(last) = state.last_pow_registration_block {
                if job.head.number <= last {
                    return Ok(Err(format!(
                        "work block #{} is not after this hotkey's last PoW registration (#{last})",
                        job.head.number
                    )));
                }
            }
            if state.registrations_this_block >= state.max_registrations_per_block {
                return Ok(Err(format!(
                    "subnet {netuid} already has {} of {} registrations in block #{}",
                    state.registrations_this_block, state.max_registrations_per_block, best.number
                )));
            }
            let chain_rule = Work::new(job.work.challenge.clone(), state.difficulty.max(1));
            if !chain_rule.verify_claim(nonce, seal) {
                return Ok(Err(format!(
                    "difficulty rose to {} and the seal no longer meets it",
                    state.difficulty
                )));
            }
        }
        Ok(Ok(()))
    }

    fn call_for(&self, job: &Job, nonce: u64, seal: Hash) -> Call {
        match self.goal {
            Goal::Register {
                netuid,
                scheme: Scheme::V1,
                hotkey,
                ..
            } => Call::PowRegister {
                netuid,
                work_block: job.head.number,
                nonce,
                work: seal,
                hotkey,
            },
            Goal::Register {
                netuid,
                scheme: Scheme::Legacy(_),
                hotkey,
                coldkey,
            } => Call::Register {
                netuid,
                block_number: job.head.number,
                nonce,
                work: seal,
                hotkey,
                coldkey,
            },
            Goal::Faucet { .. } => Call::Faucet {
                block_number: job.head.number,
                nonce,
                work: seal,
            },
        }
    }
}

/// Mines and submits until the goal is reached, the chain refuses for good, or the deadline
/// passes. `signer` must be the coldkey for v1 and the faucet, the hotkey for legacy.
pub async fn mine_and_submit(
    chain: &dyn Chain,
    goal: Goal,
    signer: &Sr25519Pair,
    miner: &mut dyn Miner,
    solutions: &mut mpsc::UnboundedReceiver<MinedSolution>,
    cfg: &FlowConfig,
    events: &mut (dyn FnMut(Event) + Send),
) -> Result<Success, FlowError> {
    let run = run(chain, goal, signer, miner, solutions, cfg, events);
    match cfg.deadline {
        Some(d) => match tokio::time::timeout(d, run).await {
            Ok(r) => r,
            Err(_) => Err(FlowError::Timeout(d)),
        },
        None => run.await,
    }
}

async fn run(
    chain: &dyn Chain,
    goal: Goal,
    signer: &Sr25519Pair,
    miner: &mut dyn Miner,
    solutions: &mut mpsc::UnboundedReceiver<MinedSolution>,
    cfg: &FlowConfig,
    events: &mut (dyn FnMut(Event) + Send),
) -> Result<Success, FlowError> {
    let mut r = Runner {
        chain,
        goal,
        cfg,
        events,
        miner,
        next_id: 0,
    };
    let result = drive(&mut r, signer, solutions).await;
    r.miner.stop();
    result
}

async fn drive(
    r: &mut Runner<'_>,
    signer: &Sr25519Pair,
    solutions: &mut mpsc::UnboundedReceiver<MinedSolution>,
) -> Result<Success, FlowError> {
    let mut heads = r.subscribe().await?;
    let head = r.best().await?;
    let mut job = match r.start(head).await? {
        Ok(j) => j,
        Err(done) => return Ok(done),
    };
    let mut refused = 0u32;
    loop {
        tokio::select! {
            next = heads.next() => {
                let head = match next {
                    Some(Ok(h)) => h,
                    other => {
                        let why = match other {
                            Some(Err(e)) => e.to_string(),
                            _ => "head subscription ended".to_string(),
                        };
                        (r.events)(Event::Retrying { attempt: 0, error: why });
                        // Keep mining the current job while the subscription comes back.
                        heads = r.subscribe().await?;
                        r.best().await?
                    }
                };
                if head != job.head && head.number >= job.head.number {
                    job = match r.start(head).await? {
                        Ok(j) => j,
                        Err(done) => return Ok(done),
                    };
                }
            }
            found = solutions.recv() => {
                let Some(sol) = found else {
                    return Err(FlowError::Failed("the miner stopped".into()));
                };
                if sol.job_id != job.id {
                    (r.events)(Event::Stale {
                        reason: format!("solution for an older challenge (job {}, now {})", sol.job_id, job.id),
                    });
                    continue;
                }
                if !job.work.verify_claim(sol.nonce, &sol.seal) {
                    (r.events)(Event::Stale {
                        reason: format!("device {} reported nonce {} whose seal does not verify", sol.device, sol.nonce),
                    });
                    continue;
                }
                if let Err(reason) = r.recheck(&job, sol.nonce, &sol.seal).await? {
                    (r.events)(Event::Stale { reason });
                    // Mine again on the newest block right away.
                    let best = r.best().await?;
                    job = match r.start(best).await? {
                        Ok(j) => j,
                        Err(done) => return Ok(done),
                    };
                    continue;
                }
                let call = r.call_for(&job, sol.nonce, sol.seal);
                (r.events)(Event::Submitting {
                    call: call.name(),
                    block: job.head.number,
                    nonce: sol.nonce,
                    device: sol.device.clone(),
                });
                r.miner.stop();
                let outcome = r.chain.submit(&call, signer).await.map_err(FlowError::Chain)?;
                match outcome {
                    Outcome::Registered { uid, block } => {
                        return Ok(Success::Registered {
                            uid,
                            block,
                            work_block: job.head.number,
                            nonce: sol.nonce,
                            seal: sol.seal,
                        })
                    }
                    Outcome::Funded { amount, block } => {
                        return Ok(Success::Funded {
                            amount,
                            block,
                            work_block: job.head.number,
                            nonce: sol.nonce,
                        })
                    }
                    Outcome::ModuleError { pallet, error, block } => {
                        refused += 1;
                        if !RETRYABLE.contains(&error.as_str()) || refused >= r.cfg.max_submissions {
                            return Err(FlowError::Module { pallet, error, block });
                        }
                        (r.events)(Event::Refused { error: format!("{pallet}.{error}") });
                    }
                    Outcome::Rejected { message } => {
                        refused += 1;
                        if refused >= r.cfg.max_submissions {
                            return Err(FlowError::Failed(format!("the node refused the extrinsic: {message}")));
                        }
                        (r.events)(Event::Refused { error: message });
                    }
                    Outcome::Failed { message, block } => {
                        return Err(FlowError::Failed(format!("extrinsic failed in block #{}: {message}", block.number)));
                    }
                }
                let best = r.best().await?;
                job = match r.start(best).await? {
                    Ok(j) => j,
                    Err(done) => return Ok(done),
                };
            }
        }
    }
}

/// A reference miner: one thread per worker scanning nonces with `pow-seal`, worker `i` taking
/// nonces `i, i + n, i + 2n, ...` from a random start. Real hashing, no device code.
pub struct ScanMiner {
    workers: usize,
    cancel: Option<Arc<AtomicBool>>,
    out: mpsc::UnboundedSender<MinedSolution>,
}

impl ScanMiner {
    /// A miner with `workers` threads that sends solutions to `out`.
    pub fn new(workers: usize, out: mpsc::UnboundedSender<MinedSolution>) -> Self {
        ScanMiner {
            workers: workers.max(1),
            cancel: None,
            out,
        }
    }
}

impl Miner for ScanMiner {
    fn set_work(&mut self, job_id: u64, work: &Work) {
        self.stop();
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancel = Some(cancel.clone());
        let start: u64 = rand::random::<u64>() >> 1;
        let n = self.workers as u64;
        for i in 0..n {
            let cancel = cancel.clone();
            let out = self.out.clone();
            let work = work.clone();
            std::thread::spawn(move || {
                let mut nonce = start.wrapping_add(i);
                while !cancel.load(Ordering::Relaxed) {
                    for _ in 0..1024 {
                        if let Some(seal) = work.verify(nonce) {
                            if !cancel.swap(true, Ordering::Relaxed) {
                                let _ = out.send(MinedSolution {
                                    job_id,
                                    nonce,
                                    seal,
                                    device: format!("scan-{i}"),
                                });
                            }
                            return;
                        }
                        nonce = nonce.wrapping_add(n);
                    }
                }
            });
        }
    }

    fn stop(&mut self) {
        if let Some(c) = self.cancel.take() {
            c.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for ScanMiner {
    fn drop(&mut self) {
        self.stop();
    }
}
