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
    client: Client,
    legacy: Legacy,
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
        let client = Client::from_rpc_client(rpc)
            .await
            .map_err(|e| ChainError::Connection(format!("cannot open a client on {url}: {e}")))?;
        Ok(Conn { client, legacy })
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
        let c = self.conn().await?;
        let blocks = match c.client.stream_best_blocks().await {
            Ok(b) => b,
            Err(e) => return self.fail(classify(e)).await,
        };
        let stream = futures::stream::unfold(blocks, |mut blocks| async move {
            let next = blocks.next().await?;
            let item = next
                .map(|b| Head {
                    number: b.number(),
                    hash: to_hash(b.hash()),
                })
                .map_err(classify);
            Some((item, blocks))
        });
        Ok(stream.boxed())
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
        Ok(RuntimeInfo {
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
        })
    }

    async fn submit(&self, call: &Call, signer: &Sr25519Pair) -> Result<Outcome, ChainError> {
        let (_, at) = self.best_at().await?;
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
                // Encoding errors and pool refusals both land here; neither is retried.
                return Ok(Outcome::Rejected {
                    message: e.to_string(),
                });
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
