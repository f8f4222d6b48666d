//! Networks by Bittensor's names (`--subtensor.network`) and explicit endpoints.

/// Where to find the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A node at this WebSocket URL.
    Url(String),
    /// The embedded development chain (`dev::DevChain`, with the `dev-chain` feature).
    Dev,
}

/// Finney (main network) entry point.
pub const FINNEY: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// Test network entry point.
pub const TEST: &str = "wss://test.finney.opentensor.ai:443";
/// A local node.
pub const LOCAL: &str = "ws://127.0.0.1:9944";

/// Why `--subtensor.network` / `--subtensor.chain_endpoint` name no endpoint (bad input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The explicit endpoint is not a WebSocket URL.
    #[error("--subtensor.chain_endpoint must be a ws:// or wss:// URL, got `{0}`")]
    NotWebSocket(String),
    /// The network name is none of Bittensor's.
    #[error("unknown --subtensor.network `{0}` (use finney, test, local, dev, or a ws:// URL)")]
    UnknownNetwork(String),
}

/// Resolves `--subtensor.network` and `--subtensor.chain_endpoint` as Bittensor does: an
/// explicit endpoint wins; otherwise the network name picks one (default `finney`).
pub fn resolve(network: Option<&str>, endpoint: Option<&str>) -> Result<Endpoint, NetworkError> {
    if let Some(url) = endpoint {
        let url = url.trim();
        if url.starts_with("ws://") || url.starts_with("wss://") {
            return Ok(Endpoint::Url(url.to_string()));
        }
        return Err(NetworkError::NotWebSocket(url.to_string()));
    }
    match network.unwrap_or("finney").trim() {
        "finney" | "main" | "mainnet" => Ok(Endpoint::Url(FINNEY.into())),
        "test" | "testnet" => Ok(Endpoint::Url(TEST.into())),
        "local" => Ok(Endpoint::Url(LOCAL.into())),
        "dev" => Ok(Endpoint::Dev),
        url if url.starts_with("ws://") || url.starts_with("wss://") => {
            Ok(Endpoint::Url(url.into()))
        }
        other => Err(NetworkError::UnknownNetwork(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert_eq!(resolve(None, None), Ok(Endpoint::Url(FINNEY.into())));
        assert_eq!(resolve(Some("test"), None), Ok(Endpoint::Url(TEST.into())));
        assert_eq!(
            resolve(Some("local"), None),
            Ok(Endpoint::Url(LOCAL.into()))
        );
        assert_eq!(resolve(Some("dev"), None), Ok(Endpoint::Dev));
        assert_eq!(
            resolve(Some("dev"), Some("ws://10.0.0.1:9944")),
            Ok(Endpoint::Url("ws://10.0.0.1:9944".into()))
        );
        assert_eq!(
            resolve(Some("nope"), None).unwrap_err().to_string(),
            "unknown --subtensor.network `nope` (use finney, test, local, dev, or a ws:// URL)"
        );
        assert_eq!(
            resolve(None, Some(" http://x ")).unwrap_err().to_string(),
            "--subtensor.chain_endpoint must be a ws:// or wss:// URL, got `http://x`"
        );
    }
}
