//! An embedded development chain: makes blocks on a timer (or on demand), holds subnets and
//! registrations, and judges proofs with the Subtensor runtime's rules for all three
//! challenges. It stands in for a node behind the same [`Chain`] trait, and can simulate
//! faults (dropped subscriptions, failing calls, held-back head notifications) for tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use pow_seal::{Challenge, SealOrder, Work};
use pow_wallet::Sr25519Pair;
use tokio::sync::{mpsc, oneshot};

use crate::rules::{self, WindowRule};
use crate::runtime::{Capabilities, RegisterFields, RuntimeInfo};
use crate::{Call, Chain, ChainError, Hash, Head, HeadStream, Outcome, SubnetState};

/// Which runtime the dev chain imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevRuntime {
    /// Has `pow_register` (spec 475).
    V1,
    /// Has a `register` that checks the legacy seal in this order (spec 270 for big-endian,
    /// 390 for little-endian).
    Legacy(SealOrder),
    /// Has only a `register` that ignores the work and burns TAO (spec 397).
    Burned,
}

impl DevRuntime {
    /// The spec version reported for this runtime.
    pub fn spec_version(self) -> u32 {
        match self {
            DevRuntime::V1 => 475,
            DevRuntime::Legacy(SealOrder::BigEndian) => 270,
            DevRuntime::Legacy(SealOrder::LittleEndian) => 390,
            DevRuntime::Burned => 397,
        }
    }
}

/// Settings of one subnet on the dev chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevSubnet {
    /// Subnet id.
    pub netuid: u16,
    /// `NetworkRegistrationAllowed`.
    pub registration_allowed: bool,
    /// `NetworkPowRegistrationAllowed`.
    pub pow_registration_allowed: bool,
    /// `Difficulty`.
    pub difficulty: u64,
    /// `MinDifficulty`.
    pub min_difficulty: u64,
    /// `MaxDifficulty`.
    pub max_difficulty: u64,
    /// `MaxRegistrationsPerBlock`.
    pub max_registrations_per_block: u16,
    /// `MaxAllowedUids`.
    pub max_uids: u16,
    /// `TargetRegistrationsPerInterval`: the interval allows three times this.
    pub target_registrations_per_interval: u16,
    /// `AdjustmentInterval`: blocks per interval.
    pub adjustment_interval: u16,
}

impl DevSubnet {
    /// An open subnet with PoW registration allowed at `difficulty`.
    pub fn open(netuid: u16, difficulty: u64) -> Self {
        DevSubnet {
            netuid,
            registration_allowed: true,
            pow_registration_allowed: true,
            difficulty,
            min_difficulty: 1,
            max_difficulty: u64::MAX,
            max_registrations_per_block: 1,
            max_uids: 256,
            target_registrations_per_interval: 2,
            adjustment_interval: 100,
        }
    }
}

/// Dev chain settings.
#[derive(Debug, Clone)]
pub struct DevConfig {
    /// Time between blocks; `None` makes blocks only when [`DevChain::produce_block`] is called.
    pub block_time: Option<Duration>,
    /// The runtime imitated.
    pub runtime: DevRuntime,
    /// Whether `faucet` exists.
    pub faucet: bool,
    /// Subnets at genesis.
    pub subnets: Vec<DevSubnet>,
}

impl Default for DevConfig {
    fn default() -> Self {
        DevConfig {
            block_time: Some(Duration::from_secs(1)),
            runtime: DevRuntime::V1,
            faucet: true,
            subnets: vec![DevSubnet::open(1, 1_000_000)],
        }
    }
}

/// What the faucet credits, in rao (the dev chain's choice).
pub const FAUCET_AMOUNT: u64 = 100_000_000_000;

/// The pallet the dev chain's module errors come from.
const PALLET: &str = "SubtensorModule";

/// The `SubtensorModule` errors the dev chain models; each displays as the runtime's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// v1 `pow_register` on netuid 0.
    #[error("RegistrationNotPermittedOnRootSubnet")]
    RegistrationNotPermittedOnRootSubnet,
    /// v1 `pow_register` on a subnet that does not exist.
    #[error("SubnetNotExists")]
    SubnetNotExists,
    /// Legacy `register` on a subnet that does not exist.
    #[error("SubNetworkDoesNotExist")]
    SubNetworkDoesNotExist,
    /// Registration or PoW registration is disabled on the subnet.
    #[error("SubNetRegistrationDisabled")]
    SubNetRegistrationDisabled,
    /// The hotkey already has a UID on the subnet.
    #[error("HotKeyAlreadyRegisteredInSubNet")]
    HotKeyAlreadyRegisteredInSubNet,
    /// `MaxAllowedUids` is 0.
    #[error("NoNeuronIdAvailable")]
    NoNeuronIdAvailable,
    /// `RegistrationsThisBlock` reached `MaxRegistrationsPerBlock`.
    #[error("TooManyRegistrationsThisBlock")]
    TooManyRegistrationsThisBlock,
    /// `RegistrationsThisInterval` reached three times `TargetRegistrationsPerInterval`.
    #[error("TooManyRegistrationsThisInterval")]
    TooManyRegistrationsThisInterval,
    /// The work block is outside the window, unknown, or not after the last PoW registration.
    #[error("InvalidWorkBlock")]
    InvalidWorkBlock,
    /// The seal is not the nonce's.
    #[error("InvalidSeal")]
    InvalidSeal,
    /// The seal does not meet the difficulty.
    #[error("InvalidDifficulty")]
    InvalidDifficulty,
    /// Legacy `register` signed by another account than the hotkey.
    #[error("TransactorAccountShouldBeHotKey")]
    TransactorAccountShouldBeHotKey,
    /// The same work was used before.
    #[error("WorkRepeated")]
    WorkRepeated,
    /// A burned registration, which the dev chain does not fund.
    #[error("NotEnoughBalanceToStake")]
    NotEnoughBalanceToStake,
}

/// Why the dev chain refused or failed something. Each failure reaches users of the [`Chain`]
/// trait as a node's would: a module error in the block that ran the call
/// ([`Outcome::ModuleError`]), a transaction-pool refusal in chopsticks' JSON form
/// ([`Outcome::Rejected`]), or a lost connection ([`ChainError::Connection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DevError {
    /// The call failed in its block with this `SubtensorModule` error.
    #[error("SubtensorModule.{0}")]
    Module(#[from] ModuleError),
    /// The call is not in the imitated runtime (or the faucet is off): reported as the module
    /// error `CallNotFound`.
    #[error("SubtensorModule.CallNotFound ({call} is not in this runtime)")]
    UnknownCall {
        /// The call's name.
        call: &'static str,
    },
    /// The pool refused the extrinsic: its signature does not verify against the public key of
    /// the account it names as signer (`InvalidTransaction::BadProof`).
    #[error(r#"1010: {{"invalid":{{"badProof":null}}}}"#)]
    BadSignature,
    /// The pool refused a registration over the interval limit with subtensor's
    /// `InvalidTransaction::Custom(code)` (5 as spec 218, 6 as spec 293).
    #[error(r#"1010: {{"invalid":{{"custom":{code}}}}}"#)]
    PoolCustom {
        /// The custom code.
        code: u8,
    },
    /// A connection loss simulated by [`DevChain::fail_next_calls`].
    #[error("dev chain: simulated connection loss")]
    SimulatedConnectionLoss,
    /// A head subscription ended by [`DevChain::drop_subscriptions`].
    #[error("dev chain: subscription dropped")]
    SubscriptionDropped,
    /// The chain stopped with the extrinsic in flight.
    #[error("dev chain stopped")]
    Stopped,
}

impl DevError {
    /// What a [`Chain`] user sees for this failure; `block` is the block the call ran in
    /// (used by module errors only).
    fn reply(self, block: Head) -> Result<Outcome, ChainError> {
        match self {
            DevError::Module(e) => Ok(Outcome::ModuleError {
                pallet: PALLET.into(),
                error: e.to_string(),
                block,
            }),
            DevError::UnknownCall { .. } => Ok(Outcome::ModuleError {
                pallet: PALLET.into(),
                error: "CallNotFound".into(),
                block,
            }),
            DevError::BadSignature | DevError::PoolCustom { .. } => Ok(Outcome::Rejected {
                message: self.to_string(),
            }),
            DevError::SimulatedConnectionLoss
            | DevError::SubscriptionDropped
            | DevError::Stopped => Err(self.into()),
        }
    }
}

impl From<DevError> for ChainError {
    fn from(e: DevError) -> Self {
        ChainError::Connection(e.to_string())
    }
}

/// A signed extrinsic as the dev chain's pool receives it: the call, the account that names
/// itself as signer, and an sr25519 signature over [`DevChain::signing_payload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevExtrinsic {
    /// The call.
    pub call: Call,
    /// The signer's account id (its sr25519 public key).
    pub signer: Hash,
    /// The signature over the signed payload.
    pub signature: [u8; 64],
}

/// The call's bytes in the signed payload: its name and its arguments in order.
fn encode_call(call: &Call) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(PALLET.as_bytes());
    out.push(b'.');
    out.extend_from_slice(call.name().as_bytes());
    out.push(0);
    match call {
        Call::PowRegister {
            netuid,
            work_block,
            nonce,
            work,
            hotkey,
        } => {
            out.extend_from_slice(&netuid.to_le_bytes());
            out.extend_from_slice(&work_block.to_le_bytes());
            out.extend_from_slice(&nonce.to_le_bytes());
            out.extend_from_slice(work);
            out.extend_from_slice(hotkey);
        }
        Call::Register {
            netuid,
            block_number,
            nonce,
            work,
            hotkey,
            coldkey,
        } => {
            out.extend_from_slice(&netuid.to_le_bytes());
            out.extend_from_slice(&block_number.to_le_bytes());
            out.extend_from_slice(&nonce.to_le_bytes());
            out.extend_from_slice(work);
            out.extend_from_slice(hotkey);
            out.extend_from_slice(coldkey);
        }
        Call::Faucet {
            block_number,
            nonce,
            work,
        } => {
            out.extend_from_slice(&block_number.to_le_bytes());
            out.extend_from_slice(&nonce.to_le_bytes());
            out.extend_from_slice(work);
        }
    }
    out
}

struct Subnet {
    cfg: DevSubnet,
    registrations_this_block: u16,
    registrations_this_interval: u16,
    last_adjustment_block: u64,
    uids: HashMap<Hash, u16>,
    order: Vec<Hash>,
}

struct Pending {
    call: Call,
    signer: Hash,
    reply: oneshot::Sender<Result<Outcome, ChainError>>,
}

struct State {
    cfg: DevConfig,
    hashes: Vec<Hash>,
    subnets: HashMap<u16, Subnet>,
    used_work: HashSet<Hash>,
    last_pow: HashMap<Hash, u64>,
    balances: HashMap<Hash, u64>,
    pending: Vec<Pending>,
    subscribers: Vec<mpsc::UnboundedSender<Result<Head, ChainError>>>,
    hold_heads: bool,
    /// How many times the chain was rewound (mixed into later block hashes).
    fork: u64,
    failing_calls: u32,
    submitted: Vec<Call>,
}

impl State {
    fn head(&self) -> Head {
        let number = (self.hashes.len() - 1) as u64;
        Head {
            number,
            hash: self.hashes[number as usize],
        }
    }

    fn check_fault(&mut self) -> Result<(), DevError> {
        if self.failing_calls > 0 {
            self.failing_calls -= 1;
            return Err(DevError::SimulatedConnectionLoss);
        }
        Ok(())
    }

    /// See [`DevChain::signing_payload`].
    fn signing_payload(&self, call: &Call) -> Vec<u8> {
        let mut payload = encode_call(call);
        payload.extend_from_slice(&self.cfg.runtime.spec_version().to_le_bytes());
        payload.extend_from_slice(&self.hashes[0]);
        payload
    }

    /// The transaction pool's checks of an extrinsic (see [`DevChain::submit_extrinsic`]).
    fn admit(&mut self, xt: &DevExtrinsic) -> Result<(), DevError> {
        self.check_fault()?;
        let payload = self.signing_payload(&xt.call);
        if !pow_wallet::keypair::verify(&xt.signer, &payload, &xt.signature) {
            return Err(DevError::BadSignature);
        }
        // Subtensor's signed extension: registrations over the interval limit are refused
        // before they reach a block, in the form chopsticks answers with: custom(5) like
        // spec 218 for the big-endian runtime, custom(6) like spec 293 otherwise.
        if let Call::Register { netuid, .. } | Call::PowRegister { netuid, .. } = &xt.call {
            if let Some(sn) = self.subnets.get(netuid) {
                if sn.registrations_this_interval as u32
                    >= rules::interval_limit(sn.cfg.target_registrations_per_interval)
                {
                    let code = match self.cfg.runtime {
                        DevRuntime::Legacy(SealOrder::BigEndian) => 5,
                        _ => 6,
                    };
                    return Err(DevError::PoolCustom { code });
                }
            }
        }
        Ok(())
    }

    fn hash_of(&self, number: u64) -> Option<Hash> {
        self.hashes.get(number as usize).copied()
    }

    /// Applies one extrinsic in block `now`; returns the outcome (without the block).
    fn apply(&mut self, call: &Call, signer: &Hash, now: u64) -> Result<Applied, DevError> {
        match self.cfg.runtime {
            DevRuntime::V1 => match call {
                Call::PowRegister {
                    netuid,
                    work_block,
                    nonce,
                    work,
                    hotkey,
                } => self.pow_register(*netuid, *work_block, *nonce, work, hotkey, signer, now),
                Call::Faucet {
                    block_number,
                    nonce,
                    work,
                } => self.faucet(*block_number, *nonce, work, signer, now),
                Call::Register { .. } => Err(ModuleError::NotEnoughBalanceToStake.into()),
            },
            DevRuntime::Legacy(order) => match call {
                Call::Register {
                    netuid,
                    block_number,
                    nonce,
                    work,
                    hotkey,
                    coldkey,
                } => self.legacy_register(
                    order,
                    *netuid,
                    *block_number,
                    *nonce,
                    work,
                    hotkey,
                    coldkey,
                    signer,
                    now,
                ),
                Call::Faucet {
                    block_number,
                    nonce,
                    work,
                } => self.faucet(*block_number, *nonce, work, signer, now),
                Call::PowRegister { .. } => Err(DevError::UnknownCall { call: call.name() }),
            },
            DevRuntime::Burned => match call {
                Call::Faucet {
                    block_number,
                    nonce,
                    work,
                } => self.faucet(*block_number, *nonce, work, signer, now),
                // A burned registration: the dev chain gives no free TAO.
                _ => Err(ModuleError::NotEnoughBalanceToStake.into()),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pow_register(
        &mut self,
        netuid: u16,
        work_block: u64,
        nonce: u64,
        work: &Hash,
        hotkey: &Hash,
        coldkey: &Hash,
        now: u64,
    ) -> Result<Applied, DevError> {
        if netuid == 0 {
            return Err(ModuleError::RegistrationNotPermittedOnRootSubnet.into());
        }
        let block_hash = self.hash_of(work_block);
        let last = self.last_pow.get(hotkey).copied();
        let sn = self
            .subnets
            .get(&netuid)
            .ok_or(ModuleError::SubnetNotExists)?;
        if !(sn.cfg.registration_allowed && sn.cfg.pow_registration_allowed) {
            return Err(ModuleError::SubNetRegistrationDisabled.into());
        }
        if sn.uids.contains_key(hotkey) {
            return Err(ModuleError::HotKeyAlreadyRegisteredInSubNet.into());
        }
        if sn.cfg.max_uids == 0 {
            return Err(ModuleError::NoNeuronIdAvailable.into());
        }
        if sn.registrations_this_block >= sn.cfg.max_registrations_per_block {
            return Err(ModuleError::TooManyRegistrationsThisBlock.into());
        }
        if sn.registrations_this_interval as u32
            >= rules::interval_limit(sn.cfg.target_registrations_per_interval)
        {
            return Err(ModuleError::TooManyRegistrationsThisInterval.into());
        }
        if !WindowRule::V1.allows(work_block, now) {
            return Err(ModuleError::InvalidWorkBlock.into());
        }
        if last.is_some_and(|l| work_block <= l) {
            return Err(ModuleError::InvalidWorkBlock.into());
        }
        let Some(block_hash) = block_hash.filter(|h| *h != [0; 32]) else {
            return Err(ModuleError::InvalidWorkBlock.into());
        };
        let challenge = Challenge::PowRegisterV1 {
            netuid,
            block_hash,
            hotkey: *hotkey,
            coldkey: *coldkey,
        };
        if challenge.seal(nonce) != *work {
            return Err(ModuleError::InvalidSeal.into());
        }
        if !Work::new(challenge, rules::mining_difficulty(sn.cfg.difficulty))
            .verify_claim(nonce, work)
        {
            return Err(ModuleError::InvalidDifficulty.into());
        }
        let uid = self.enroll(netuid, hotkey);
        self.last_pow.insert(*hotkey, work_block);
        Ok(Applied::Registered(uid))
    }

    #[allow(clippy::too_many_arguments)]
    fn legacy_register(
        &mut self,
        order: SealOrder,
        netuid: u16,
        block_number: u64,
        nonce: u64,
        work: &Hash,
        hotkey: &Hash,
        _coldkey: &Hash,
        signer: &Hash,
        now: u64,
    ) -> Result<Applied, DevError> {
        if signer != hotkey {
            return Err(ModuleError::TransactorAccountShouldBeHotKey.into());
        }
        let block_hash = self.hash_of(block_number);
        let sn = self
            .subnets
            .get(&netuid)
            .ok_or(ModuleError::SubNetworkDoesNotExist)?;
        if !sn.cfg.registration_allowed || !sn.cfg.pow_registration_allowed {
            return Err(ModuleError::SubNetRegistrationDisabled.into());
        }
        if sn.registrations_this_block >= sn.cfg.max_registrations_per_block {
            return Err(ModuleError::TooManyRegistrationsThisBlock.into());
        }
        if sn.registrations_this_interval as u32
            >= rules::interval_limit(sn.cfg.target_registrations_per_interval)
        {
            return Err(ModuleError::TooManyRegistrationsThisInterval.into());
        }
        if sn.uids.contains_key(hotkey) {
            return Err(ModuleError::HotKeyAlreadyRegisteredInSubNet.into());
        }
        if !WindowRule::Legacy.allows(block_number, now) {
            return Err(ModuleError::InvalidWorkBlock.into());
        }
        if self.used_work.contains(work) {
            return Err(ModuleError::WorkRepeated.into());
        }
        let block_hash = block_hash.ok_or(ModuleError::InvalidWorkBlock)?;
        let target = pow_seal::Target::from_difficulty(rules::mining_difficulty(sn.cfg.difficulty));
        if !target.is_met_by(work, order) {
            return Err(ModuleError::InvalidDifficulty.into());
        }
        let challenge = Challenge::Legacy {
            block_hash,
            hotkey: *hotkey,
            seal_order: order,
        };
        if challenge.seal(nonce) != *work {
            return Err(ModuleError::InvalidSeal.into());
        }
        self.used_work.insert(*work);
        Ok(Applied::Registered(self.enroll(netuid, hotkey)))
    }

    fn faucet(
        &mut self,
        block_number: u64,
        nonce: u64,
        work: &Hash,
        coldkey: &Hash,
        now: u64,
    ) -> Result<Applied, DevError> {
        if !self.cfg.faucet {
            return Err(DevError::UnknownCall { call: "faucet" });
        }
        if !WindowRule::Legacy.allows(block_number, now) {
            return Err(ModuleError::InvalidWorkBlock.into());
        }
        if self.used_work.contains(work) {
            return Err(ModuleError::WorkRepeated.into());
        }
        let target = pow_seal::Target::from_difficulty(pow_seal::FAUCET_DIFFICULTY);
        if !target.is_met_by(work, SealOrder::LittleEndian) {
            return Err(ModuleError::InvalidDifficulty.into());
        }
        let block_hash = self
            .hash_of(block_number)
            .ok_or(ModuleError::InvalidWorkBlock)?;
        let challenge = Challenge::Faucet {
            block_hash,
            coldkey: *coldkey,
        };
        if challenge.seal(nonce) != *work {
            return Err(ModuleError::InvalidSeal.into());
        }
        self.used_work.insert(*work);
        *self.balances.entry(*coldkey).or_default() += FAUCET_AMOUNT;
        Ok(Applied::Funded(FAUCET_AMOUNT))
    }

    fn enroll(&mut self, netuid: u16, hotkey: &Hash) -> u16 {
        let sn = self.subnets.get_mut(&netuid).expect("checked");
        let uid = if (sn.order.len() as u16) < sn.cfg.max_uids {
            sn.order.push(*hotkey);
            (sn.order.len() - 1) as u16
        } else {
            // Full: the dev chain's pruning rule replaces the lowest UID.
            let uid = *sn.uids.values().min().expect("a full subnet has neurons");
            let old = sn.order[uid as usize];
            sn.uids.remove(&old);
            sn.order[uid as usize] = *hotkey;
            uid
        };
        sn.uids.insert(*hotkey, uid);
        sn.registrations_this_block += 1;
        sn.registrations_this_interval += 1;
        uid
    }
}

enum Applied {
    Registered(u16),
    Funded(u64),
}

struct Shared {
    state: Mutex<State>,
}

/// The embedded development chain. Cloning gives another handle to the same chain.
#[derive(Clone)]
pub struct DevChain {
    shared: Arc<Shared>,
}

fn block_hash(parent: &Hash, number: u64, fork: u64) -> Hash {
    let mut data = parent.to_vec();
    data.extend_from_slice(&number.to_le_bytes());
    data.extend_from_slice(&fork.to_le_bytes());
    data.extend_from_slice(b"pow-host dev chain");
    pow_seal::keccak256(&data)
}

impl DevChain {
    /// Starts a dev chain at genesis (block 0). With a block time, a background task (on the
    /// current tokio runtime) makes blocks until every handle is dropped.
    pub fn start(cfg: DevConfig) -> DevChain {
        let genesis = pow_seal::keccak256(b"pow-host dev chain genesis");
        let subnets = cfg
            .subnets
            .iter()
            .map(|s| {
                (
                    s.netuid,
                    Subnet {
                        cfg: s.clone(),
                        registrations_this_block: 0,
                        registrations_this_interval: 0,
                        last_adjustment_block: 0,
                        uids: HashMap::new(),
                        order: Vec::new(),
                    },
                )
            })
            .collect();
        let block_time = cfg.block_time;
        let chain = DevChain {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    cfg,
                    hashes: vec![genesis],
                    subnets,
                    used_work: HashSet::new(),
                    last_pow: HashMap::new(),
                    balances: HashMap::new(),
                    pending: Vec::new(),
                    subscribers: Vec::new(),
                    hold_heads: false,
                    fork: 0,
                    failing_calls: 0,
                    submitted: Vec::new(),
                }),
            }),
        };
        if let Some(period) = block_time {
            let weak: Weak<Shared> = Arc::downgrade(&chain.shared);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(shared) = weak.upgrade() else { break };
                    DevChain { shared }.produce_block();
                }
            });
        }
        chain
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the next block: resets the per-block registration counters, applies the
    /// extrinsics submitted since the last block in order, and announces the new head.
    pub fn produce_block(&self) -> Head {
        let mut st = self.lock();
        let parent = st.head();
        let number = parent.number + 1;
        let hash = block_hash(&parent.hash, number, st.fork);
        st.hashes.push(hash);
        let head = Head { number, hash };
        // The runtime's on_initialize: a new interval when the last one has run its length,
        // and a fresh per-block count.
        for sn in st.subnets.values_mut() {
            if number.saturating_sub(sn.last_adjustment_block)
                >= u64::from(sn.cfg.adjustment_interval)
            {
                sn.last_adjustment_block = number;
                sn.registrations_this_interval = 0;
            }
            sn.registrations_this_block = 0;
        }
        let pending = std::mem::take(&mut st.pending);
        for p in pending {
            let outcome = match st.apply(&p.call, &p.signer, number) {
                Ok(Applied::Registered(uid)) => Ok(Outcome::Registered { uid, block: head }),
                Ok(Applied::Funded(amount)) => Ok(Outcome::Funded {
                    amount,
                    block: head,
                }),
                Err(error) => error.reply(head),
            };
            let _ = p.reply.send(outcome);
        }
        if !st.hold_heads {
            st.subscribers.retain(|s| s.send(Ok(head)).is_ok());
        }
        head
    }

    /// Restarts the chain from block `number`, as a node restarted from an earlier state
    /// would: later blocks are gone, the next ones get other hashes, and the (lower) head is
    /// announced. Returns it.
    pub fn rewind(&self, number: u64) -> Head {
        let mut st = self.lock();
        st.hashes.truncate(number as usize + 1);
        st.fork += 1;
        let head = st.head();
        st.subscribers.retain(|s| s.send(Ok(head)).is_ok());
        head
    }

    /// Holds back (or, with `false`, resumes) head notifications to subscribers, as a node
    /// whose subscription lags would. Resuming announces the current head.
    pub fn hold_head_notifications(&self, hold: bool) {
        let mut st = self.lock();
        st.hold_heads = hold;
        if !hold {
            let head = st.head();
            st.subscribers.retain(|s| s.send(Ok(head)).is_ok());
        }
    }

    /// Ends every head subscription with a connection error, as a dropped socket would.
    pub fn drop_subscriptions(&self) {
        let mut st = self.lock();
        for s in st.subscribers.drain(..) {
            let _ = s.send(Err(DevError::SubscriptionDropped.into()));
        }
    }

    /// Makes the next `n` calls through the [`Chain`] trait fail with a connection error.
    pub fn fail_next_calls(&self, n: u32) {
        self.lock().failing_calls = n;
    }

    /// Every extrinsic submitted so far.
    pub fn submitted(&self) -> Vec<Call> {
        self.lock().submitted.clone()
    }

    /// Free balance credited by the faucet to `account`.
    pub fn balance(&self, account: &Hash) -> u64 {
        self.lock().balances.get(account).copied().unwrap_or(0)
    }

    /// Changes a subnet's settings (for example its difficulty) from the next read on.
    pub fn set_subnet(&self, subnet: DevSubnet) {
        let mut st = self.lock();
        let netuid = subnet.netuid;
        match st.subnets.get_mut(&netuid) {
            Some(s) => s.cfg = subnet,
            None => {
                st.subnets.insert(
                    netuid,
                    Subnet {
                        cfg: subnet,
                        registrations_this_block: 0,
                        registrations_this_interval: 0,
                        last_adjustment_block: 0,
                        uids: HashMap::new(),
                        order: Vec::new(),
                    },
                );
            }
        }
    }

    /// Registers `hotkey` directly (as if by an earlier registration); returns its UID.
    pub fn preregister(&self, netuid: u16, hotkey: &Hash) -> u16 {
        let mut st = self.lock();
        let uid = st.enroll(netuid, hotkey);
        st.subnets
            .get_mut(&netuid)
            .expect("subnet")
            .registrations_this_block = 0;
        uid
    }

    /// Sets a subnet's `RegistrationsThisInterval`, as registrations by others would.
    pub fn set_registrations_this_interval(&self, netuid: u16, count: u16) {
        if let Some(sn) = self.lock().subnets.get_mut(&netuid) {
            sn.registrations_this_interval = count;
        }
    }

    /// Sets a subnet's `RegistrationsThisBlock` at the best block, as a registration by
    /// someone else in that block would.
    pub fn set_registrations_this_block(&self, netuid: u16, count: u16) {
        if let Some(sn) = self.lock().subnets.get_mut(&netuid) {
            sn.registrations_this_block = count;
        }
    }

    /// A subnet's current settings.
    pub fn subnet(&self, netuid: u16) -> Option<DevSubnet> {
        self.lock().subnets.get(&netuid).map(|s| s.cfg.clone())
    }

    /// The bytes an extrinsic's signature covers, as the runtime's signed payload does: the
    /// call with its arguments, then what the chain adds (spec version and genesis hash), so a
    /// signature for another call or another chain does not verify.
    pub fn signing_payload(&self, call: &Call) -> Vec<u8> {
        self.lock().signing_payload(call)
    }

    /// Signs `call` as `signer`'s account.
    pub fn sign(&self, call: &Call, signer: &Sr25519Pair) -> DevExtrinsic {
        let signature = signer.sign(&self.signing_payload(call));
        DevExtrinsic {
            call: call.clone(),
            signer: signer.public(),
            signature,
        }
    }

    /// Submits a signed extrinsic and follows it into the next block, as a node's pool and
    /// block builder do. The pool checks, in the runtime's order: the signature against the
    /// named signer's public key over [`DevChain::signing_payload`] (a bad one is refused
    /// with `BadProof`, a fatal refusal), then subtensor's signed extension (the interval
    /// limit). An extrinsic the pool refuses is not recorded in [`DevChain::submitted`] and
    /// never reaches a block.
    pub async fn submit_extrinsic(&self, xt: DevExtrinsic) -> Result<Outcome, ChainError> {
        let rx = {
            let mut st = self.lock();
            let head = st.head();
            match st.admit(&xt) {
                Ok(()) => {}
                Err(e) => return e.reply(head),
            }
            st.submitted.push(xt.call.clone());
            let (tx, rx) = oneshot::channel();
            st.pending.push(Pending {
                call: xt.call,
                signer: xt.signer,
                reply: tx,
            });
            rx
        };
        rx.await.unwrap_or_else(|_| Err(DevError::Stopped.into()))
    }

    /// The UID of `hotkey` on `netuid`, if registered.
    pub fn uid_of(&self, netuid: u16, hotkey: &Hash) -> Option<u16> {
        self.lock()
            .subnets
            .get(&netuid)
            .and_then(|s| s.uids.get(hotkey).copied())
    }
}

#[async_trait::async_trait]
impl Chain for DevChain {
    async fn best_head(&self) -> Result<Head, ChainError> {
        let mut st = self.lock();
        st.check_fault()?;
        Ok(st.head())
    }

    async fn subscribe_heads(&self) -> Result<HeadStream, ChainError> {
        let mut st = self.lock();
        st.check_fault()?;
        let (tx, rx) = mpsc::unbounded_channel();
        st.subscribers.push(tx);
        Ok(tokio_stream_from(rx).boxed())
    }

    async fn runtime(&self) -> Result<RuntimeInfo, ChainError> {
        let mut st = self.lock();
        st.check_fault()?;
        let rt = st.cfg.runtime;
        let register = match rt {
            DevRuntime::V1 | DevRuntime::Burned => Some(
                [
                    "netuid",
                    "_block_number",
                    "_nonce",
                    "_work",
                    "hotkey",
                    "_coldkey",
                ]
                .as_slice(),
            ),
            DevRuntime::Legacy(_) => Some(
                [
                    "netuid",
                    "block_number",
                    "nonce",
                    "work",
                    "hotkey",
                    "coldkey",
                ]
                .as_slice(),
            ),
        };
        Ok(RuntimeInfo {
            spec_version: rt.spec_version(),
            caps: Capabilities {
                pow_register: rt == DevRuntime::V1,
                register: register
                    .map(|f| RegisterFields(f.iter().map(|s| s.to_string()).collect())),
                faucet: st.cfg.faucet,
            },
            block_time_ms: st.cfg.block_time.map(|t| t.as_millis() as u64),
        })
    }

    async fn block_hash(&self, number: u64) -> Result<Option<Hash>, ChainError> {
        let mut st = self.lock();
        st.check_fault()?;
        Ok(st.hash_of(number))
    }

    async fn subnet_state(&self, netuid: u16, hotkey: &Hash) -> Result<SubnetState, ChainError> {
        let mut st = self.lock();
        st.check_fault()?;
        let last = if st.cfg.runtime == DevRuntime::V1 {
            st.last_pow.get(hotkey).copied()
        } else {
            None
        };
        let Some(sn) = st.subnets.get(&netuid) else {
            return Ok(SubnetState::default());
        };
        Ok(SubnetState {
            exists: true,
            registration_allowed: sn.cfg.registration_allowed,
            pow_registration_allowed: sn.cfg.pow_registration_allowed,
            uid: sn.uids.get(hotkey).copied(),
            registrations_this_block: sn.registrations_this_block,
            max_registrations_per_block: sn.cfg.max_registrations_per_block,
            last_pow_registration_block: last,
            difficulty: sn.cfg.difficulty,
            min_difficulty: Some(sn.cfg.min_difficulty),
            max_difficulty: Some(sn.cfg.max_difficulty),
            registrations_this_interval: sn.registrations_this_interval,
            target_registrations_per_interval: sn.cfg.target_registrations_per_interval,
            last_adjustment_block: sn.last_adjustment_block,
            adjustment_interval: sn.cfg.adjustment_interval,
            max_allowed_uids: sn.cfg.max_uids,
        })
    }

    async fn subnet_exists(&self, netuid: u16) -> Result<bool, ChainError> {
        let mut st = self.lock();
        st.check_fault()?;
        Ok(st.subnets.contains_key(&netuid))
    }

    /// Signs `call` with `signer` ([`DevChain::sign`]) and submits it
    /// ([`DevChain::submit_extrinsic`]).
    async fn submit(&self, call: &Call, signer: &Sr25519Pair) -> Result<Outcome, ChainError> {
        let xt = self.sign(call, signer);
        self.submit_extrinsic(xt).await
    }

    fn describe(&self) -> String {
        let st = self.lock();
        format!(
            "embedded dev chain (spec {}, block time {})",
            st.cfg.runtime.spec_version(),
            match st.cfg.block_time {
                Some(t) => format!("{} ms", t.as_millis()),
                None => "manual".into(),
            }
        )
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
