//! Subtensor chain access for proof-of-work registration.
//!
//! [`Chain`] is what the registration flow needs from a chain: the best head, a head
//! subscription, the runtime's version and registration calls, the storage the checks read,
//! and submitting an extrinsic and following it into a block. Two implementations:
//! [`rpc::RpcChain`] (a node over WebSocket, through subxt's dynamic API) and
//! `dev::DevChain` (an embedded development chain that judges proofs with the runtime's
//! rules; behind the `dev-chain` cargo feature). [`flow`] drives a [`flow::Miner`] against
//! either.

#[cfg(feature = "dev-chain")]
pub mod dev;
pub mod flow;
pub mod network;
pub mod rpc;
pub mod rules;
pub mod runtime;

use futures::stream::BoxStream;
use pow_wallet::Sr25519Pair;

pub use runtime::{Capabilities, RegisterFields, RuntimeInfo, Scheme, SchemeError};

/// A 32-byte hash or account id.
pub type Hash = [u8; 32];

/// A block: its number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: Hash,
}

/// A stream of new best blocks. It ends (or yields an error) when the connection drops.
pub type HeadStream = BoxStream<'static, Result<Head, ChainError>>;

/// What the registration checks read from `SubtensorModule` storage for one subnet and hotkey.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubnetState {
    /// `NetworksAdded(netuid)`.
    pub exists: bool,
    /// `NetworkRegistrationAllowed(netuid)`.
    pub registration_allowed: bool,
    /// `NetworkPowRegistrationAllowed(netuid)`.
    pub pow_registration_allowed: bool,
    /// `Uids(netuid, hotkey)`: the hotkey's UID if it is already registered.
    pub uid: Option<u16>,
    /// `RegistrationsThisBlock(netuid)`.
    pub registrations_this_block: u16,
    /// `MaxRegistrationsPerBlock(netuid)`.
    pub max_registrations_per_block: u16,
    /// `LastPowRegistrationBlock(hotkey)` (v1 runtimes only).
    pub last_pow_registration_block: Option<u64>,
    /// `Difficulty(netuid)`.
    pub difficulty: u64,
    /// `MinDifficulty(netuid)` (informational: the runtime does not check it).
    pub min_difficulty: Option<u64>,
    /// `MaxDifficulty(netuid)` (informational: the runtime does not check it).
    pub max_difficulty: Option<u64>,
    /// `RegistrationsThisInterval(netuid)`.
    pub registrations_this_interval: u16,
    /// `TargetRegistrationsPerInterval(netuid)`; the interval limit is three times this.
    pub target_registrations_per_interval: u16,
    /// `LastAdjustmentBlock(netuid)`: where the current interval began.
    pub last_adjustment_block: u64,
    /// `AdjustmentInterval(netuid)`: blocks per interval.
    pub adjustment_interval: u16,
    /// `MaxAllowedUids(netuid)`.
    pub max_allowed_uids: u16,
}

impl SubnetState {
    /// The difficulty to mine at: the runtime's `Difficulty` (see [`rules::mining_difficulty`]).
    pub fn mining_difficulty(&self) -> u64 {
        rules::mining_difficulty(self.difficulty)
    }
}

/// An extrinsic the flow can send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `SubtensorModule.pow_register(netuid, work_block, nonce, work, hotkey)`, signed by the coldkey.
    PowRegister {
        /// Subnet.
        netuid: u16,
        /// Block whose hash the work used.
        work_block: u64,
        /// Nonce.
        nonce: u64,
        /// Seal.
        work: Hash,
        /// Hotkey to register.
        hotkey: Hash,
    },
    /// `SubtensorModule.register(netuid, block_number, nonce, work, hotkey, coldkey)`, signed by the hotkey.
    Register {
        /// Subnet.
        netuid: u16,
        /// Block whose hash the work used.
        block_number: u64,
        /// Nonce.
        nonce: u64,
        /// Seal.
        work: Hash,
        /// Hotkey to register.
        hotkey: Hash,
        /// Coldkey that will own it.
        coldkey: Hash,
    },
    /// `SubtensorModule.faucet(block_number, nonce, work)`, signed by the coldkey.
    Faucet {
        /// Block whose hash the work used.
        block_number: u64,
        /// Nonce.
        nonce: u64,
        /// Seal.
        work: Hash,
    },
}

impl Call {
    /// The call's name in `SubtensorModule`.
    pub fn name(&self) -> &'static str {
        match self {
            Call::PowRegister { .. } => "pow_register",
            Call::Register { .. } => "register",
            Call::Faucet { .. } => "faucet",
        }
    }
}

/// What became of a submitted extrinsic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Included and succeeded; `NeuronRegistered(netuid, uid, hotkey)` was emitted.
    Registered {
        /// The new UID.
        uid: u16,
        /// The block it was included in.
        block: Head,
    },
    /// Included and succeeded; `Faucet(coldkey, amount)` was emitted.
    Funded {
        /// Amount credited, in rao.
        amount: u64,
        /// The block it was included in.
        block: Head,
    },
    /// Included but failed with a module error.
    ModuleError {
        /// Pallet name.
        pallet: String,
        /// Error name, e.g. `InvalidDifficulty`.
        error: String,
        /// The block it was included in.
        block: Head,
    },
    /// Included but failed with another dispatch error, or succeeded without the expected event.
    Failed {
        /// Description.
        message: String,
        /// The block it was included in.
        block: Head,
    },
    /// The node refused it before inclusion (invalid, dropped).
    Rejected {
        /// The node's reason.
        message: String,
    },
}

/// Errors talking to a chain.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// The connection failed or dropped; retrying may help.
    #[error("connection: {0}")]
    Connection(String),
    /// The node answered with something this client cannot use.
    #[error("{0}")]
    Protocol(String),
}

/// What the registration flow needs from a Subtensor chain.
#[async_trait::async_trait]
pub trait Chain: Send + Sync {
    /// The current best block.
    async fn best_head(&self) -> Result<Head, ChainError>;
    /// New best blocks as they arrive.
    async fn subscribe_heads(&self) -> Result<HeadStream, ChainError>;
    /// Spec version and the registration calls the metadata offers.
    async fn runtime(&self) -> Result<RuntimeInfo, ChainError>;
    /// Hash of block `number`, if the node knows it.
    async fn block_hash(&self, number: u64) -> Result<Option<Hash>, ChainError>;
    /// Registration state of `netuid` and `hotkey` at the best block.
    async fn subnet_state(&self, netuid: u16, hotkey: &Hash) -> Result<SubnetState, ChainError>;
    /// Whether subnet `netuid` exists.
    async fn subnet_exists(&self, netuid: u16) -> Result<bool, ChainError>;
    /// Signs `call` with `signer`, submits it and follows it until it is in a block (or refused).
    async fn submit(&self, call: &Call, signer: &Sr25519Pair) -> Result<Outcome, ChainError>;
    /// A short description of the endpoint, for messages.
    fn describe(&self) -> String;
}
