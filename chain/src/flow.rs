//! The registration (and faucet) flow: check the chain, mine on the best head, switch to the
//! new challenge when a block arrives, recheck a proof before sending it, send it signed by
//! the right key and follow it into a block.
//!
//! Mining is behind the small [`Miner`] trait so any device dispatcher can drive it; each
//! miner delivers its own solutions ([`Miner::poll_solution`]). A miner is a trust boundary:
//! every solution it delivers is verified once, against the chain's rule, where it enters the
//! flow. [`ScanMiner`] is a plain reference miner over `pow-backend-api`'s reference scan.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::StreamExt;
use pow_seal::{Challenge, Target, Work};
use pow_wallet::Sr25519Pair;
use tokio::sync::mpsc;

use crate::rules::{self, Verdict, WindowRule};
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

/// Something that searches nonces and delivers what it finds. The miner owns its solution
/// stream, so a flow can never listen to another miner's solutions. A miner may stop after
/// its first solution for a job (the flow sets a new job when it needs more).
///
/// A miner is not trusted: the flow verifies every solution once, against the chain's rule,
/// before anything is sent (see [`mine_and_submit`]).
pub trait Miner: Send {
    /// Drops the current job and starts searching `work` as job `job_id`.
    fn set_work(&mut self, job_id: u64, work: &Work);
    /// Stops searching until the next [`Miner::set_work`].
    fn stop(&mut self);
    /// The next solution found, as a stream's `poll_next`: `Ready(Some(_))` for a solution
    /// (of any job, the current or an older one), `Pending` until one is found (the waker is
    /// woken then), `Ready(None)` once the miner can deliver no more. Dropping the caller's
    /// future between polls loses no solution.
    fn poll_solution(&mut self, cx: &mut Context<'_>) -> Poll<Option<MinedSolution>>;
    /// Attempts per second over all devices, once measured (`None` before the first figure).
    fn rate(&self) -> Option<f64> {
        None
    }
}

/// The next solution `miner` delivers (`None`: it can deliver no more).
pub async fn next_solution(miner: &mut dyn Miner) -> Option<MinedSolution> {
    std::future::poll_fn(|cx| miner.poll_solution(cx)).await
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

impl Goal {
    /// The work-block window the runtime judges this goal's call by.
    pub fn window_rule(&self) -> WindowRule {
        match self {
            Goal::Register {
                scheme: Scheme::V1, ..
            } => WindowRule::V1,
            _ => WindowRule::Legacy,
        }
    }
}

/// Progress the flow reports as it goes.
#[derive(Debug, Clone, PartialEq)]
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
    /// The expected time to a proof at the measured rate.
    Expected {
        /// Difficulty.
        difficulty: u64,
        /// Measured attempts per second.
        rate: f64,
        /// Expected seconds to a proof.
        seconds: f64,
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
    /// The chain refused a proof for this block only; it is kept and sent again with the next
    /// block while its window allows.
    Held {
        /// The node's answer.
        error: String,
        /// Work block of the proof.
        block: u64,
    },
    /// The chain refused a proof; mining goes on.
    Refused {
        /// The error (the node's own answer).
        error: String,
    },
    /// A chain call failed or the head subscription ended; retrying.
    Retrying {
        /// Attempt number (1-based; 0 for a head subscription that ended).
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
    /// How long the chain may stay unreachable (mining goes on meanwhile) before giving up.
    pub reconnect: Duration,
    /// First wait between retries; doubles each time up to `max_backoff`.
    pub backoff: Duration,
    /// Longest wait between retries, so a node that comes back is found quickly.
    pub max_backoff: Duration,
    /// Give up after this long.
    pub deadline: Option<Duration>,
    /// Refuse to go on when the expected time to a proof at the measured rate exceeds this.
    pub max_expected: Option<Duration>,
    /// The chain's block time, for messages (`None`: said in blocks only).
    pub block_time: Option<Duration>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_submissions: 3,
            reconnect: Duration::from_secs(120),
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(2),
            deadline: None,
            max_expected: Some(Duration::from_secs(86_400)),
            block_time: None,
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
    /// The hotkey already has a UID on the subnet; nothing (more) was sent.
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
    /// The subnet's interval registration limit is reached.
    #[error("{0}")]
    RateLimited(String),
    /// The difficulty cannot be met in a reasonable time at the measured rate.
    #[error("{0}")]
    Hopeless(String),
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
    /// The node refused the extrinsic before inclusion.
    #[error("the node refused the extrinsic: {name}; it answered: {answer}")]
    Refused {
        /// A name for the refusal.
        name: String,
        /// The node's answer as it came.
        answer: String,
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

/// Runs a chain call, retrying connection failures with doubling backoff (capped at
/// `max_backoff`) until the chain has been unreachable for `reconnect`.
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
    let mut first_failure: Option<Instant> = None;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(ChainError::Connection(msg)) => {
                let since = *first_failure.get_or_insert_with(Instant::now);
                let left = cfg.reconnect.saturating_sub(since.elapsed());
                if left.is_zero() {
                    return Err(ChainError::Connection(format!(
                        "{msg} (unreachable for {:.0} s, giving up)",
                        since.elapsed().as_secs_f64()
                    )));
                }
                attempt += 1;
                events(Event::Retrying {
                    attempt,
                    error: msg,
                });
                tokio::time::sleep(wait.min(left)).await;
                wait = wait.saturating_mul(2).min(cfg.max_backoff);
            }
            Err(e) => return Err(e),
        }
    }
}

/// What the checks before mining found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// Everything the runtime checks from storage allows the registration.
    Ready(SubnetState),
    /// The hotkey already has this UID on the subnet.
    AlreadyRegistered(u16),
}

/// A message for the interval rate limit.
fn rate_limit_message(netuid: u16, limit: &rules::RateLimit, cfg: &FlowConfig) -> String {
    let eta = match cfg.block_time {
        Some(t) => format!(
            ", about {}",
            rules::human_duration(t.as_secs_f64() * limit.blocks_left as f64)
        ),
        None => String::new(),
    };
    format!(
        "subnet {netuid} has reached its registration limit for this interval \
         ({} registrations, limit {} = 3 x TargetRegistrationsPerInterval); the node refuses \
         register until the interval resets at block #{} (in {} blocks{eta})",
        limit.registrations, limit.limit, limit.resets_at, limit.blocks_left
    )
}

/// Checks everything that can be checked before mining.
pub async fn check_registration(
    chain: &dyn Chain,
    netuid: u16,
    hotkey: &Hash,
    cfg: &FlowConfig,
    events: &mut (dyn FnMut(Event) + Send),
) -> Result<Precheck, FlowError> {
    if netuid == 0 {
        return Err(FlowError::Usage(
            "netuid 0 is the root subnet, where proof-of-work registration is not permitted".into(),
        ));
    }
    let best = with_retry(cfg, events, || chain.best_head())
        .await
        .map_err(FlowError::Chain)?;
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
        return Ok(Precheck::AlreadyRegistered(uid));
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
    if state.max_allowed_uids == 0 {
        return Err(FlowError::NotAllowed(format!(
            "subnet {netuid} allows no neurons (MaxAllowedUids is 0)"
        )));
    }
    if let Some(limit) = rules::rate_limited(&state, best.number) {
        return Err(FlowError::RateLimited(rate_limit_message(
            netuid, &limit, cfg,
        )));
    }
    Ok(Precheck::Ready(state))
}

/// The challenge being mined.
struct Job {
    id: u64,
    head: Head,
    work: Work,
}

/// A proof the chain refused for one block only, waiting to be sent again.
struct Held {
    proof: Proof,
    /// It goes again once this block is the best (the next block is then a fresh one).
    not_before: u64,
}

/// A verified proof, ready to send.
#[derive(Clone)]
struct Proof {
    work_block: Head,
    work: Work,
    nonce: u64,
    seal: Hash,
    device: String,
}

/// Why a miner's solution goes no further than [`accept`].
#[derive(Debug, thiserror::Error)]
enum Rejected {
    #[error("solution for an older challenge (job {job}, now {now})")]
    OlderJob { job: u64, now: u64 },
    #[error("device {device} reported nonce {nonce} whose seal does not verify")]
    BadSeal { device: String, nonce: u64 },
}

/// The trust boundary between a [`Miner`] and the chain, and the one place a miner's solution
/// is verified: with the seal library, against the chain's rule (the job's challenge at the
/// difficulty the chain asked for when the job started, `rules::mining_difficulty` of the
/// subnet's `Difficulty`, or the faucet's). Any miner can be plugged in (the device
/// dispatcher, the scan miner, a remote farm), so nothing it reports is taken on trust: a
/// solution for an older job, or whose seal is not its nonce's or does not meet the
/// difficulty, goes no further. Later checks ([`Runner::recheck`]) judge the verified seal
/// against the chain as it is by then, without hashing again.
fn accept(job: &Job, sol: MinedSolution) -> Result<Proof, Rejected> {
    if sol.job_id != job.id {
        return Err(Rejected::OlderJob {
            job: sol.job_id,
            now: job.id,
        });
    }
    if !job.work.verify_claim(sol.nonce, &sol.seal) {
        return Err(Rejected::BadSeal {
            device: sol.device,
            nonce: sol.nonce,
        });
    }
    Ok(Proof {
        work_block: job.head,
        work: job.work.clone(),
        nonce: sol.nonce,
        seal: sol.seal,
        device: sol.device,
    })
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

/// What [`Runner::start`] did.
enum Started {
    /// Mining this job.
    Mining(Job),
    /// Nothing to mine: the goal is reached (the hotkey got a UID meanwhile).
    Done(Success),
}

/// Whether a proof can still succeed, judged against the chain as it is now.
enum Check {
    /// Send it.
    Sendable,
    /// It cannot succeed; why.
    Stale(String),
}

/// What happens next after a step of the flow.
enum Next {
    /// Keep going.
    Continue,
    /// The goal is reached.
    Done(Success),
}

struct Runner<'a> {
    chain: &'a dyn Chain,
    goal: Goal,
    cfg: &'a FlowConfig,
    events: &'a mut (dyn FnMut(Event) + Send),
    miner: &'a mut dyn Miner,
    next_id: u64,
    refused: u32,
    /// The difficulty whose expected time was last judged.
    judged: Option<u64>,
}

impl Runner<'_> {
    async fn state(&mut self) -> Result<Option<SubnetState>, FlowError> {
        match self.goal {
            Goal::Faucet { .. } => Ok(None),
            Goal::Register { netuid, hotkey, .. } => {
                let chain = self.chain;
                with_retry(self.cfg, self.events, || {
                    chain.subnet_state(netuid, &hotkey)
                })
                .await
                .map(Some)
                .map_err(FlowError::Chain)
            }
        }
    }

    /// The interval rate limit as the chain shows it now, if reached.
    async fn rate_limit_now(&mut self) -> Result<Option<rules::RateLimit>, FlowError> {
        let Some(state) = self.state().await? else {
            return Ok(None);
        };
        let best = self.best().await?;
        Ok(rules::rate_limited(&state, best.number))
    }

    fn netuid(&self) -> u16 {
        match self.goal {
            Goal::Register { netuid, .. } => netuid,
            Goal::Faucet { .. } => 0,
        }
    }

    /// Starts mining on `head` (after reading the subnet as it is now), or ends the run when
    /// the hotkey got registered or the interval limit was reached meanwhile.
    async fn start(&mut self, head: Head) -> Result<Started, FlowError> {
        let state = self.state().await?;
        let difficulty = match &state {
            None => pow_seal::FAUCET_DIFFICULTY,
            Some(s) => {
                if let Some(uid) = s.uid {
                    return Ok(Started::Done(Success::AlreadyRegistered { uid }));
                }
                if let Some(limit) = rules::rate_limited(s, head.number) {
                    return Err(FlowError::RateLimited(rate_limit_message(
                        self.netuid(),
                        &limit,
                        self.cfg,
                    )));
                }
                s.mining_difficulty()
            }
        };
        self.next_id += 1;
        let work = Work::new(challenge_for(&self.goal, &head), difficulty);
        self.miner.set_work(self.next_id, &work);
        (self.events)(Event::Job {
            job_id: self.next_id,
            block: head,
            difficulty,
        });
        self.judged = self.judged.filter(|d| *d == difficulty);
        Ok(Started::Mining(Job {
            id: self.next_id,
            head,
            work,
        }))
    }

    /// Moves mining to `head` (see [`Runner::start`]).
    async fn switch(&mut self, head: Head, job: &mut Job) -> Result<Next, FlowError> {
        match self.start(head).await? {
            Started::Mining(j) => {
                *job = j;
                Ok(Next::Continue)
            }
            Started::Done(done) => Ok(Next::Done(done)),
        }
    }

    /// Once the miner has a measured rate, judges the expected time to a proof at
    /// `difficulty` (again whenever the difficulty changes).
    fn judge_expected(&mut self, difficulty: u64) -> Result<(), FlowError> {
        if self.judged == Some(difficulty) {
            return Ok(());
        }
        let Some(rate) = self.miner.rate().filter(|r| *r > 0.0) else {
            return Ok(());
        };
        self.judged = Some(difficulty);
        let seconds = rules::expected_seconds(difficulty, rate);
        (self.events)(Event::Expected {
            difficulty,
            rate,
            seconds,
        });
        match self.cfg.max_expected {
            Some(max) if seconds > max.as_secs_f64() => Err(FlowError::Hopeless(format!(
                "difficulty {difficulty} cannot be met in a reasonable time: expected {} at the \
                 measured {:.3e} attempts/s (the limit is {}; raise it with --max-expected-seconds)",
                rules::human_duration(seconds),
                rate,
                rules::human_duration(max.as_secs_f64())
            ))),
            _ => Ok(()),
        }
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

    /// Rechecks a proof against the chain as it is now; `Err(reason)` means it cannot succeed.
    /// The per-block registration count is not checked: it is reset when the next block
    /// starts, and the extrinsic runs in that block.
    async fn recheck(&mut self, proof: &Proof) -> Result<Check, FlowError> {
        let best = self.best().await?;
        if !self
            .goal
            .window_rule()
            .sendable(proof.work_block.number, best.number)
        {
            return Ok(Check::Stale(format!(
                "work block #{} is outside the window at block #{}",
                proof.work_block.number,
                best.number + 1
            )));
        }
        let Some(state) = self.state().await? else {
            return Ok(Check::Sendable);
        };
        if let Some(uid) = state.uid {
            return Ok(Check::Stale(format!(
                "the hotkey was registered meanwhile (UID {uid})"
            )));
        }
        if let Some(last) = state.last_pow_registration_block {
            if proof.work_block.number <= last {
                return Ok(Check::Stale(format!(
                    "work block #{} is not after this hotkey's last PoW registration (#{last})",
                    proof.work_block.number
                )));
            }
        }
        if let Some(limit) = rules::rate_limited(&state, best.number) {
            return Err(FlowError::RateLimited(rate_limit_message(
                self.netuid(),
                &limit,
                self.cfg,
            )));
        }
        // The seal itself was verified where it entered the flow (`accept`); whether it
        // still meets the difficulty read now is a comparison of that seal, no hashing.
        let target = Target::from_difficulty(state.mining_difficulty());
        if !target.is_met_by(&proof.seal, proof.work.challenge.seal_order()) {
            return Ok(Check::Stale(format!(
                "difficulty rose to {} and the seal no longer meets it",
                state.difficulty
            )));
        }
        Ok(Check::Sendable)
    }

    fn call_for(&self, proof: &Proof) -> Call {
        let (work_block, nonce, work) = (proof.work_block.number, proof.nonce, proof.seal);
        match self.goal {
            Goal::Register {
                netuid,
                scheme: Scheme::V1,
                hotkey,
                ..
            } => Call::PowRegister {
                netuid,
                work_block,
                nonce,
                work,
                hotkey,
            },
            Goal::Register {
                netuid,
                scheme: Scheme::Legacy(_),
                hotkey,
                coldkey,
            } => Call::Register {
                netuid,
                block_number: work_block,
                nonce,
                work,
                hotkey,
                coldkey,
            },
            Goal::Faucet { .. } => Call::Faucet {
                block_number: work_block,
                nonce,
                work,
            },
        }
    }

    /// Sends the held proof again if its time has come (`best` is the best block now) and it
    /// can still succeed; drops it when it cannot.
    async fn resend_held(
        &mut self,
        best: u64,
        signer: &Sr25519Pair,
        held: &mut Option<Held>,
        job: &mut Job,
    ) -> Result<Next, FlowError> {
        match held.take() {
            Some(h) if h.not_before <= best => match self.recheck(&h.proof).await? {
                Check::Sendable => self.send(h.proof, signer, held, job).await,
                Check::Stale(reason) => {
                    (self.events)(Event::Stale {
                        reason: format!("held proof dropped: {reason}"),
                    });
                    Ok(Next::Continue)
                }
            },
            waiting => {
                *held = waiting;
                Ok(Next::Continue)
            }
        }
    }

    /// Sends `proof` and judges the answer. A proof refused for this block only goes to
    /// `held`; anything that needs a fresh challenge restarts mining at the best block.
    async fn send(
        &mut self,
        proof: Proof,
        signer: &Sr25519Pair,
        held: &mut Option<Held>,
        job: &mut Job,
    ) -> Result<Next, FlowError> {
        let call = self.call_for(&proof);
        (self.events)(Event::Submitting {
            call: call.name(),
            block: proof.work_block.number,
            nonce: proof.nonce,
            device: proof.device.clone(),
        });
        let verdict = match self.chain.submit(&call, signer).await {
            Ok(Outcome::Registered { uid, block }) => {
                return Ok(Next::Done(Success::Registered {
                    uid,
                    block,
                    work_block: proof.work_block.number,
                    nonce: proof.nonce,
                    seal: proof.seal,
                }))
            }
            Ok(Outcome::Funded { amount, block }) => {
                return Ok(Next::Done(Success::Funded {
                    amount,
                    block,
                    work_block: proof.work_block.number,
                    nonce: proof.nonce,
                }))
            }
            Ok(Outcome::ModuleError {
                pallet,
                error,
                block,
            }) => {
                let verdict = rules::module_error_verdict(&error);
                let text = format!("{pallet}.{error} in block #{}", block.number);
                let err = FlowError::Module {
                    pallet,
                    error,
                    block,
                };
                if verdict == Verdict::Fatal {
                    return Err(err);
                }
                (verdict, text, err, block.number)
            }
            Ok(Outcome::Rejected { message }) => match rules::decode_pool_refusal(&message) {
                Some(r) if r.custom.is_some() && self.rate_limit_now().await?.is_some() => (
                    Verdict::RateLimited,
                    format!("{} ({})", r.name, r.answer),
                    FlowError::Refused {
                        name: r.name,
                        answer: r.answer,
                    },
                    0,
                ),
                Some(r) if r.verdict == Verdict::Fatal => {
                    return Err(FlowError::Refused {
                        name: r.name,
                        answer: r.answer,
                    })
                }
                // A pool answer does not name its block: the proof waits for a block after
                // the current best (read only now, so sending is not delayed by it).
                Some(r) => (
                    r.verdict,
                    format!("{} ({})", r.name, r.answer),
                    FlowError::Refused {
                        name: r.name,
                        answer: r.answer,
                    },
                    self.best().await.map_or(0, |b| b.number + 1),
                ),
                None => {
                    return Err(FlowError::Refused {
                        name: "Rejected".into(),
                        answer: message,
                    })
                }
            },
            Ok(Outcome::Failed { message, block }) => {
                return Err(FlowError::Failed(format!(
                    "extrinsic failed in block #{}: {message}",
                    block.number
                )))
            }
            Err(ChainError::Connection(e)) => {
                // The node went away with the extrinsic in flight: it may or may not have
                // been included. Keep the proof; the next head (after reconnecting) shows
                // the UID if it was, and the proof is sent again if it was not.
                let text = format!("connection lost while sending: {e}");
                (Verdict::NextBlock, text.clone(), FlowError::Failed(text), 0)
            }
            Err(e) => return Err(FlowError::Chain(e)),
        };
        let (verdict, text, err, not_before) = verdict;
        match verdict {
            Verdict::NextBlock => {
                (self.events)(Event::Held {
                    error: text,
                    block: proof.work_block.number,
                });
                *held = Some(Held { proof, not_before });
                Ok(Next::Continue)
            }
            Verdict::RateLimited => {
                let detail = self
                    .rate_limit_now()
                    .await?
                    .map(|l| rate_limit_message(self.netuid(), &l, self.cfg))
                    .unwrap_or_else(|| {
                        format!(
                            "subnet {} has reached its registration limit for this interval",
                            self.netuid()
                        )
                    });
                Err(FlowError::RateLimited(format!(
                    "{detail}; the chain answered: {text}"
                )))
            }
            Verdict::AlreadyRegistered => match self.state().await?.and_then(|s| s.uid) {
                Some(uid) => Ok(Next::Done(Success::AlreadyRegistered { uid })),
                None => Err(FlowError::Failed(format!(
                    "the chain answered {text}, but the hotkey has no UID"
                ))),
            },
            Verdict::MineAgain | Verdict::Fatal => {
                self.refused += 1;
                if self.refused >= self.cfg.max_submissions {
                    return Err(err);
                }
                (self.events)(Event::Refused { error: text });
                let best = self.best().await?;
                self.switch(best, job).await
            }
        }
    }
}

/// Mines and submits until the goal is reached, the chain refuses for good, or the deadline
/// passes. `signer` must be the coldkey for v1 and the faucet, the hotkey for legacy. The
/// solutions come from `miner` itself; each is verified once where it enters (the trust
/// boundary), and rechecked against the chain as it is before it is sent.
pub async fn mine_and_submit(
    chain: &dyn Chain,
    goal: Goal,
    signer: &Sr25519Pair,
    miner: &mut dyn Miner,
    cfg: &FlowConfig,
    events: &mut (dyn FnMut(Event) + Send),
) -> Result<Success, FlowError> {
    let run = run(chain, goal, signer, miner, cfg, events);
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
        refused: 0,
        judged: None,
    };
    let result = drive(&mut r, signer).await;
    r.miner.stop();
    result
}

async fn drive(r: &mut Runner<'_>, signer: &Sr25519Pair) -> Result<Success, FlowError> {
    let mut heads = r.subscribe().await?;
    let head = r.best().await?;
    let mut job = match r.start(head).await? {
        Started::Mining(j) => j,
        Started::Done(done) => return Ok(done),
    };
    let mut held: Option<Held> = None;
    // Waits before re-opening a head subscription that ended; reset by every head.
    let mut resubscribe_wait = r.cfg.backoff;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            next = heads.next() => {
                let head = match next {
                    Some(Ok(h)) => {
                        resubscribe_wait = r.cfg.backoff;
                        h
                    }
                    other => {
                        let why = match other {
                            Some(Err(e)) => e.to_string(),
                            _ => "head subscription ended".to_string(),
                        };
                        (r.events)(Event::Retrying { attempt: 0, error: format!(
                            "{why}; subscribing again in {} ms", resubscribe_wait.as_millis()
                        ) });
                        // Mining goes on with the current job meanwhile.
                        tokio::time::sleep(resubscribe_wait).await;
                        resubscribe_wait = resubscribe_wait.saturating_mul(2).min(r.cfg.max_backoff);
                        heads = r.subscribe().await?;
                        r.best().await?
                    }
                };
                // Any new best block counts, a lower one too: after a node restart or a
                // switch to a lagging node the old head may no longer exist.
                if head.hash == job.head.hash {
                    continue;
                }
                if let Next::Done(ok) = r.switch(head, &mut job).await? {
                    return Ok(ok);
                }
                if let Next::Done(ok) = r.resend_held(head.number, signer, &mut held, &mut job).await? {
                    return Ok(ok);
                }
            }
            found = next_solution(&mut *r.miner) => {
                let Some(sol) = found else {
                    return Err(FlowError::Failed("the miner stopped".into()));
                };
                // The trust boundary to the chain: nothing unverified is ever sent.
                let proof = match accept(&job, sol) {
                    Ok(proof) => proof,
                    Err(rejected) => {
                        (r.events)(Event::Stale {
                            reason: rejected.to_string(),
                        });
                        continue;
                    }
                };
                if held.is_some() {
                    // One proof at a time: the held one goes first with the next block.
                    continue;
                }
                if let Check::Stale(reason) = r.recheck(&proof).await? {
                    (r.events)(Event::Stale { reason });
                    // Mine again on the newest block right away.
                    let best = r.best().await?;
                    if let Next::Done(ok) = r.switch(best, &mut job).await? {
                        return Ok(ok);
                    }
                    continue;
                }
                if let Next::Done(ok) = r.send(proof, signer, &mut held, &mut job).await? {
                    return Ok(ok);
                }
                if held.is_some() {
                    // The miner may have stopped at its solution: keep it busy on the best
                    // block; the held proof goes again as soon as the block that refused it
                    // is the best (usually already now).
                    let best = r.best().await?;
                    if let Next::Done(ok) = r.switch(best, &mut job).await? {
                        return Ok(ok);
                    }
                    if let Next::Done(ok) = r.resend_held(best.number, signer, &mut held, &mut job).await? {
                        return Ok(ok);
                    }
                }
            }
            _ = tick.tick() => {
                let difficulty = job.work.difficulty;
                r.judge_expected(difficulty)?;
            }
        }
    }
}

/// Indexes one [`ScanMiner`] worker searches per reference-scan call, between looks at the
/// stop flag.
const SCAN_CHUNK: u64 = 1024;

/// A reference miner: one thread per worker running the one reference scan,
/// [`pow_backend_api::Job::reference_search`], over the job's nonce indexes from a random
/// start; worker `i` of `n` takes chunks `i, i + n, i + 2n, ...` of [`SCAN_CHUNK`] indexes.
/// Real hashing, no device code. It stops after the first solution of a job.
pub struct ScanMiner {
    workers: usize,
    cancel: Option<Arc<AtomicBool>>,
    out: mpsc::UnboundedSender<MinedSolution>,
    solutions: mpsc::UnboundedReceiver<MinedSolution>,
    attempts: Arc<AtomicU64>,
    started: Instant,
}

impl ScanMiner {
    /// A miner with `workers` threads (at least one).
    pub fn new(workers: usize) -> Self {
        let (out, solutions) = mpsc::unbounded_channel();
        ScanMiner {
            workers: workers.max(1),
            cancel: None,
            out,
            solutions,
            attempts: Arc::default(),
            started: Instant::now(),
        }
    }
}

impl Miner for ScanMiner {
    fn set_work(&mut self, job_id: u64, work: &Work) {
        self.stop();
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancel = Some(cancel.clone());
        let job = Arc::new(pow_backend_api::Job::from_work(work));
        let start = job.mapping.index(rand::random::<u64>() >> 1);
        let n = self.workers as u64;
        for i in 0..n {
            let cancel = cancel.clone();
            let out = self.out.clone();
            let job = job.clone();
            let attempts = self.attempts.clone();
            std::thread::spawn(move || {
                let mut chunk = i;
                while !cancel.load(Ordering::Relaxed) {
                    let from = start.wrapping_add(chunk.wrapping_mul(SCAN_CHUNK));
                    let found = job.reference_search(from, SCAN_CHUNK, &cancel);
                    attempts.fetch_add(found.attempts, Ordering::Relaxed);
                    if let Some(hit) = found.hits.first() {
                        if !cancel.swap(true, Ordering::Relaxed) {
                            let _ = out.send(MinedSolution {
                                job_id,
                                nonce: hit.nonce,
                                seal: hit.seal,
                                device: format!("scan-{i}"),
                            });
                        }
                        return;
                    }
                    chunk = chunk.wrapping_add(n);
                }
            });
        }
    }

    fn poll_solution(&mut self, cx: &mut Context<'_>) -> Poll<Option<MinedSolution>> {
        self.solutions.poll_recv(cx)
    }

    fn stop(&mut self) {
        if let Some(c) = self.cancel.take() {
            c.store(true, Ordering::Relaxed);
        }
    }

    fn rate(&self) -> Option<f64> {
        let seconds = self.started.elapsed().as_secs_f64();
        let attempts = self.attempts.load(Ordering::Relaxed);
        (seconds > 0.5 && attempts > 0).then(|| attempts as f64 / seconds)
    }
}

impl Drop for ScanMiner {
    fn drop(&mut self) {
        self.stop();
    }
}
