//! A Subtensor node over WebSocket, through subxt's dynamic API: no generated code, so it
//! works across runtime upgrades. Storage, calls and events are named, and call parameters
//! are read from the metadata.

use futures::StreamExt;
use pow_wallet::Sr25519Pair;
use subxt::dynamic::{At, Value};
use subxt::utils::{AccountId32, MultiSignature};
use subxt::{OnlineClient, SubstrateConfig};
use tokio::sync::Mutex;

use crate::runtime::{Capabilities, RegisterFields, RuntimeInfo};
use crate::{Call, Chain, ChainError, Hash, Head, HeadStream, Outcome, SubnetState};

/// The pallet that holds registration.
pub const PALLET: &str = "SubtensorModule";

type Client = OnlineClient<SubstrateConfig>;
type Legacy = subxt::rpcs::LegacyRpcMethods<subxt::config::RpcConfigFor<SubstrateConfig>>;

#[derive(Clone)]
struct Conn {
    /// subxt's default backend (chainHead, archive and legacy families, each request trying
    /// them in turn): storage reads and metadata.
    client: Client,
    /// The same connection through the legacy family only: submissions (so that a refusal
    /// comes back as the node gave it, not replaced by another family's "method not found")
    /// and the fallback head subscription.
    legacy_client: Client,
    legacy: Legacy,
    /// Whether the node serves `author_submitAndWatchExtrinsic` and `chain_subscribeNewHeads`.
    has_legacy_submit: bool,
    has_legacy_heads: bool,
    has_chainhead: bool,
    /// Set once chainHead's follow subscription has ended before its first block on this
    /// connection: later subscriptions go straight to `chain_subscribeNewHeads`.
    chainhead_heads_broken: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A node reached over `ws://` or `wss://`. A dropped connection is reopened on the next call.
pub struct RpcChain {
    url: String,
    conn: Mutex<Option<Conn>>,
}

fn classify(e: impl Into<subxt::Error>) -> ChainError {
    use subxt::Error as E;
    let e: subxt::Error = e.into();
    let text = e.to_string();
    match e {
        E::OnlineClientError(_)
        | E::BackendError(_)
        | E::OtherRpcClientError(_)
        | E::CombinedBackendError(_)
        | E::BlocksError(_)
        | E::OnlineClientAtBlockError(_)
        | E::TransactionProgressError(_) => ChainError::Connection(text),
        _ => ChainError::Protocol(text),
    }
}

struct PairSigner<'a>(&'a Sr25519Pair);

impl subxt::tx::Signer<SubstrateConfig> for PairSigner<'_> {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.0.public())
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(self.0.sign(signer_payload))
    }
}

/// How long a new chainHead follow subscription may take to report its first block before
/// the legacy family is used instead.
const FIRST_HEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn head_stream(blocks: subxt::client::Blocks<SubstrateConfig>) -> HeadStream {
    futures::stream::unfold(blocks, |mut blocks| async move {
        let next = blocks.next().await?;
        let item = next
            .map(|b| Head {
                number: b.number(),
                hash: to_hash(b.hash()),
            })
            .map_err(classify);
        Some((item, blocks))
    })
    .boxed()
}

fn to_hash(h: impl AsRef<[u8]>) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(h.as_ref());
    out
}

impl RpcChain {
    /// Connects to `url` (one attempt; the caller retries).
    pub async fn connect(url: &str) -> Result<RpcChain, ChainError> {
        let chain = RpcChain {
            url: url.to_string(),
            conn: Mutex::new(None),
        };
        chain.conn().await?;
        Ok(chain)
    }

    async fn open(url: &str) -> Result<Conn, ChainError> {
        let rpc = subxt::rpcs::RpcClient::from_insecure_url(url)
            .await
            .map_err(|e| ChainError::Connection(format!("cannot connect to {url}: {e}")))?;
        let legacy = Legacy::new(rpc.clone());
        #[derive(serde::Deserialize)]
        struct Methods {
            methods: Vec<String>,
        }
        let methods = rpc
            .request::<Methods>("rpc_methods", subxt::rpcs::rpc_params![])
            .await
            .map_err(|e| {
                ChainError::Connection(format!("cannot list the RPC methods of {url}: {e}"))
            })?
            .methods;
        let has = |m: &str| methods.iter().any(|x| x == m);
        let legacy_backend = subxt::backend::LegacyBackend::builder().build(rpc.clone());
        let legacy_client = Client::from_backend(std::sync::Arc::new(legacy_backend))
            .await
            .map_err(|e| ChainError::Connection(format!("cannot open a client on {url}: {e}")))?;
        let client = Client::from_rpc_client(rpc)
            .await
            .map_err(|e| ChainError::Connection(format!("cannot open a client on {url}: {e}")))?;
        Ok(Conn {
            client,
            legacy_client,
            legacy,
            has_legacy_submit: has("author_submitAndWatchExtrinsic"),
            has_legacy_heads: has("chain_subscribeNewHeads"),
            has_chainhead: has("chainHead_v1_follow"),
            chainhead_heads_broken: Default::default(),
        })
    }

    async fn conn(&self) -> Result<Conn, ChainError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = Self::open(&self.url).await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn fail<T>(&self, e: ChainError) -> Result<T, ChainError> {
        if matches!(e, ChainError::Connection(_)) {
            *self.conn.lock().await = None;
        }
        Err(e)
    }

    /// Whether head subscriptions on the current connection use the legacy family
    /// (`chain_subscribeNewHeads`): the node lacks chainHead, or its follow gave no block.
    pub async fn heads_via_legacy(&self) -> bool {
        use std::sync::atomic::Ordering;
        match self.conn.lock().await.as_ref() {
            Some(c) => !c.has_chainhead || c.chainhead_heads_broken.load(Ordering::Relaxed),
            None => false,
        }
    }

    async fn best_at(
        &self,
    ) -> Result<
        (
            Conn,
            subxt::client::ClientAtBlock<
                SubstrateConfig,
                subxt::client::OnlineClientAtBlockImpl<SubstrateConfig>,
            >,
        ),
        ChainError,
    > {
        let c = self.conn().await?;
        let hash = match c.legacy.chain_get_block_hash(None).await {
            Ok(Some(h)) => h,
            Ok(None) => return Err(ChainError::Protocol("the node has no best block".into())),
            Err(e) => return self.fail(classify(e)).await,
        };
        match c.client.at_block(hash).await {
            Ok(at) => Ok((c, at)),
            Err(e) => self.fail(classify(e)).await,
        }
    }

    async fn read<K, V>(
        &self,
        at: &subxt::client::ClientAtBlock<
            SubstrateConfig,
            subxt::client::OnlineClientAtBlockImpl<SubstrateConfig>,
        >,
        entry: &str,
        keys: K,
    ) -> Result<Option<V>, ChainError>
    where
        K: subxt::ext::frame_decode::storage::IntoEncodableValues
            + subxt::ext::frame_decode::storage::IntoDecodableValues,
        V: subxt::ext::scale_decode::DecodeAsType,
    {
        let addr = subxt::dynamic::storage::<K, V>(PALLET, entry);
        let entry_ref = match at.storage().entry(addr) {
            Ok(e) => e,
            // The entry does not exist in this runtime.
            Err(_) => return Ok(None),
        };
        let value = match entry_ref.try_fetch(keys).await {
            Ok(Some(v)) => Some(v),
            Ok(None) => entry_ref.default_value(),
            Err(e) => return self.fail(classify(e)).await,
        };
        match value {
            Some(v) => v
                .decode_as::<V>()
                .map(Some)
                .map_err(|e| ChainError::Protocol(format!("cannot decode {PALLET}.{entry}: {e}"))),
            None => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl Chain for RpcChain {
    async fn best_head(&self) -> Result<Head, ChainError> {
        let (_, at) = self.best_at().await?;
        Ok(Head {
            number: at.block_number(),
            hash: to_hash(at.block_hash()),
        })
    }

    async fn subscribe_heads(&self) -> Result<HeadStream, ChainError> {
        use std::sync::atomic::Ordering;
        let c = self.conn().await?;
        let use_chainhead = c.has_chainhead && !c.chainhead_heads_broken.load(Ordering::Relaxed);
        if use_chainhead {
            // chainHead_v1_follow first (the current family). A follow that ends or fails
            // before its first block (as chopsticks 1.5.1's, whose runtime events do not
            // conform) marks the family broken for this connection.
            let mut heads = match c.client.stream_best_blocks().await {
                Ok(b) => head_stream(b),
                Err(e) => return self.fail(classify(e)).await,
            };
            match tokio::time::timeout(FIRST_HEAD_WAIT, heads.next()).await {
                Ok(Some(Ok(first))) => {
                    return Ok(futures::stream::once(async move { Ok(first) })
                        .chain(heads)
                        .boxed())
                }
                _ if c.has_legacy_heads => {
                    c.chainhead_heads_broken.store(true, Ordering::Relaxed);
                }
                Ok(Some(Err(e))) => return self.fail(e).await,
                _ => return Err(ChainError::Protocol(
                    "chainHead_v1_follow gave no block and the node has no chain_subscribeNewHeads"
                        .into(),
                )),
            }
        }
        match c.legacy_client.stream_best_blocks().await {
            Ok(b) => Ok(head_stream(b)),
            Err(e) => self.fail(classify(e)).await,
        }
    }

    async fn runtime(&self) -> Result<RuntimeInfo, ChainError> {
        let (_, at) = self.best_at().await?;
        let metadata = at.metadata();
        let pallet = metadata.pallet_by_name(PALLET);
        let fields_of = |name: &str| {
            pallet
                .as_ref()
                .and_then(|p| p.call_variant_by_name(name))
                .map(|v| {
                    RegisterFields(
                        v.fields
                            .iter()
                            .map(|f| f.name.clone().unwrap_or_default())
                            .collect(),
                    )
                })
        };
        let minimum_period = at
            .constants()
            .entry(subxt::dynamic::constant::<u64>(
                "Timestamp",
                "MinimumPeriod",
            ))
            .ok();
        Ok(RuntimeInfo {
            block_time_ms: minimum_period
                .map(|p| p.saturating_mul(2))
                .filter(|t| *t > 0),
            spec_version: at.spec_version(),
            caps: Capabilities {
                pow_register: fields_of("pow_register").is_some(),
                register: fields_of("register"),
                faucet: fields_of("faucet").is_some(),
            },
        })
    }

    async fn block_hash(&self, number: u64) -> Result<Option<Hash>, ChainError> {
        let c = self.conn().await?;
        match c.legacy.chain_get_block_hash(Some(number.into())).await {
            Ok(h) => Ok(h.map(to_hash)),
            Err(e) => self.fail(classify(e)).await,
        }
    }

    async fn subnet_exists(&self, netuid: u16) -> Result<bool, ChainError> {
        let (_, at) = self.best_at().await?;
        Ok(self
            .read::<(u16,), bool>(&at, "NetworksAdded", (netuid,))
            .await?
            .unwrap_or(false))
    }

    async fn subnet_state(&self, netuid: u16, hotkey: &Hash) -> Result<SubnetState, ChainError> {
        let (_, at) = self.best_at().await?;
        let key = (netuid,);
        let exists = self
            .read::<_, bool>(&at, "NetworksAdded", key)
            .await?
            .unwrap_or(false);
        if !exists {
            return Ok(SubnetState::default());
        }
        Ok(SubnetState {
            exists,
            registration_allowed: self
                .read::<_, bool>(&at, "NetworkRegistrationAllowed", key)
                .await?
                .unwrap_or(false),
            pow_registration_allowed: self
                .read::<_, bool>(&at, "NetworkPowRegistrationAllowed", key)
                .await?
                .unwrap_or(false),
            uid: self
                .read::<(u16, [u8; 32]), u16>(&at, "Uids", (netuid, *hotkey))
                .await?,
            registrations_this_block: self
                .read::<_, u16>(&at, "RegistrationsThisBlock", key)
                .await?
                .unwrap_or(0),
            max_registrations_per_block: self
                .read::<_, u16>(&at, "MaxRegistrationsPerBlock", key)
                .await?
                .unwrap_or(u16::MAX),
            last_pow_registration_block: self
                .read::<([u8; 32],), u64>(&at, "LastPowRegistrationBlock", (*hotkey,))
                .await?,
            difficulty: self
                .read::<_, u64>(&at, "Difficulty", key)
                .await?
                .unwrap_or(1),
            min_difficulty: self.read::<_, u64>(&at, "MinDifficulty", key).await?,
            max_difficulty: self.read::<_, u64>(&at, "MaxDifficulty", key).await?,
            registrations_this_interval: self
                .read::<_, u16>(&at, "RegistrationsThisInterval", key)
                .await?
                .unwrap_or(0),
            target_registrations_per_interval: self
                .read::<_, u16>(&at, "TargetRegistrationsPerInterval", key)
                .await?
                .unwrap_or(u16::MAX),
            last_adjustment_block: self
                .read::<_, u64>(&at, "LastAdjustmentBlock", key)
                .await?
                .unwrap_or(0),
            adjustment_interval: self
                .read::<_, u16>(&at, "AdjustmentInterval", key)
                .await?
                .unwrap_or(0),
            max_allowed_uids: self
                .read::<_, u16>(&at, "MaxAllowedUids", key)
                .await?
                .unwrap_or(u16::MAX),
        })
    }

    async fn submit(&self, call: &Call, signer: &Sr25519Pair) -> Result<Outcome, ChainError> {
        let (c, best) = self.best_at().await?;
        // Submit through one family only, so the node's own answer is what comes back. The
        // legacy family where the node has it (every node here, chopsticks included; it
        // serves no transactionWatch_v1), the default backend otherwise.
        let via = if c.has_legacy_submit {
            &c.legacy_client
        } else {
            &c.client
        };
        let at = match via.at_block(best.block_hash()).await {
            Ok(a) => a,
            Err(e) => return self.fail(classify(e)).await,
        };
        let account = |h: &Hash| Value::from_bytes(h);
        let payload = match call {
            Call::PowRegister {
                netuid,
                work_block,
                nonce,
                work,
                hotkey,
            } => subxt::dynamic::tx(
                PALLET,
                "pow_register",
                vec![
                    Value::u128(*netuid as u128),
                    Value::u128(*work_block as u128),
                    Value::u128(*nonce as u128),
                    Value::from_bytes(work),
                    account(hotkey),
                ],
            ),
            Call::Register {
                netuid,
                block_number,
                nonce,
                work,
                hotkey,
                coldkey,
            } => subxt::dynamic::tx(
                PALLET,
                "register",
                vec![
                    Value::u128(*netuid as u128),
                    Value::u128(*block_number as u128),
                    Value::u128(*nonce as u128),
                    Value::from_bytes(work),
                    account(hotkey),
                    account(coldkey),
                ],
            ),
            Call::Faucet {
                block_number,
                nonce,
                work,
            } => subxt::dynamic::tx(
                PALLET,
                "faucet",
                vec![
                    Value::u128(*block_number as u128),
                    Value::u128(*nonce as u128),
                    Value::from_bytes(work),
                ],
            ),
        };
        let signer = PairSigner(signer);
        let mut progress = match at
            .transactions()
            .sign_and_submit_then_watch_default(&payload, &signer)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                let text = e.to_string();
                // A pool refusal or an encoding error is the node's (or the call's) answer; a
                // dropped connection is not, and may be retried.
                if crate::rules::decode_pool_refusal(&text).is_none() && is_connection_text(&text) {
                    return self.fail(ChainError::Connection(text)).await;
                }
                return Ok(Outcome::Rejected { message: text });
            }
        };
        use subxt::tx::TransactionStatus as S;
        while let Some(status) = progress.next().await {
            let status = match status {
                Ok(s) => s,
                Err(e) => return self.fail(classify(e)).await,
            };
            let in_block = match status {
                S::InBestBlock(b) | S::InFinalizedBlock(b) => b,
                S::Invalid { message } | S::Dropped { message } | S::Error { message } => {
                    return Ok(Outcome::Rejected { message })
                }
                _ => continue,
            };
            let block_hash = to_hash(in_block.block_hash());
            let block_at = match in_block.at().await {
                Ok(a) => a,
                Err(e) => return self.fail(classify(e)).await,
            };
            let block = Head {
                number: block_at.block_number(),
                hash: block_hash,
            };
            let events = match in_block.fetch_events().await {
                Ok(e) => e,
                Err(e) => return self.fail(classify(e)).await,
            };
            return Ok(judge_events(&events, block, block_at.metadata()));
        }
        Err(ChainError::Connection(
            "the transaction watch ended before inclusion".into(),
        ))
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}

/// Whether an error text says the connection (not the node) failed.
fn is_connection_text(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "connection",
        "restart",
        "closed",
        "transport",
        "broken pipe",
        "reset by peer",
        "background task",
    ]
    .iter()
    .any(|w| t.contains(w))
}

fn value_u64(v: &Value, index: usize) -> Option<u64> {
    v.at(index)
        .and_then(|f| f.as_u128())
        .and_then(|n| u64::try_from(n).ok())
}

fn judge_events(
    events: &subxt::extrinsics::ExtrinsicEvents<SubstrateConfig>,
    block: Head,
    metadata: subxt::ArcMetadata,
) -> Outcome {
    for ev in events.iter() {
        let ev = match ev {
            Ok(e) => e,
            Err(e) => {
                return Outcome::Failed {
                    message: format!("cannot decode an event: {e}"),
                    block,
                }
            }
        };
        match (ev.pallet_name(), ev.event_name()) {
            ("System", "ExtrinsicFailed") => {
                let de =
                    subxt::error::DispatchError::decode_from(ev.field_bytes(), metadata.clone());
                return match de {
                    Ok(subxt::error::DispatchError::Module(m)) => match m.details() {
                        Ok(d) => Outcome::ModuleError {
                            pallet: d.pallet.name().to_string(),
                            error: d.variant.name.clone(),
                            block,
                        },
                        Err(_) => Outcome::Failed {
                            message: m.details_string(),
                            block,
                        },
                    },
                    Ok(other) => Outcome::Failed {
                        message: format!("{other:?}"),
                        block,
                    },
                    Err(e) => Outcome::Failed {
                        message: format!("cannot decode the dispatch error: {e}"),
                        block,
                    },
                };
            }
            (PALLET, "NeuronRegistered") => {
                let uid = ev
                    .decode_fields_unchecked_as::<Value>()
                    .ok()
                    .and_then(|v| value_u64(&v, 1));
                if let Some(uid) = uid.and_then(|u| u16::try_from(u).ok()) {
                    return Outcome::Registered { uid, block };
                }
            }
            (PALLET, "Faucet") => {
                let amount = ev
                    .decode_fields_unchecked_as::<Value>()
                    .ok()
                    .and_then(|v| value_u64(&v, 1))
                    .unwrap_or(0);
                return Outcome::Funded { amount, block };
            }
            _ => {}
        }
    }
    Outcome::Failed {
        message: "included, but no NeuronRegistered, Faucet or ExtrinsicFailed event was found"
            .into(),
        block,
    }
}
