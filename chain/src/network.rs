//! Networks by Bittensor's names (`--subtensor.network`) and explicit endpoints.

/// Where to find the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A node at this WebSocket URL.
    Url(String),
    /// The embedded development chain.
    Dev,
}

/// Finney (main network) entry point.
pub const FINNEY: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// Test network entry point.
pub const TEST: &str = "wss://test.finney.opentensor.ai:443";
/// A local node.
pub const LOCAL: &str = "ws://127.0.0.1:9944";

/// Resolves `--subtensor.network` and `--subtensor.chain_endpoint` as Bittensor does: an
/// explicit endpoint wins; otherwise the network name picks one (default `finney`).
pub fn resolve(network: Option<&str>, endpoint: Option<&str>) -> Result<Endpoint, String> {
    if let Some(url) = endpoint {
        let url = url.trim();
        if url.starts_with("ws://") || url.starts_with("wss://") {
            return Ok(Endpoint::Url(url.to_string()));
        }
        return Err(format!(
            "--subtensor.chain_endpoint must be a ws:// or wss:// URL, got `{url}`"
        ));
    }
    match network.unwrap_or("finney").trim() {
        "finney" | "main" | "mainnet" => Ok(Endpoint::Url(FINNEY.into())),
        "test" | "testnet" => Ok(Endpoint::Url(TEST.into())),
        "local" => Ok(Endpoint::Url(LOCAL.into())),
        "dev" => Ok(Endpoint::Dev),
        url if url.starts_with("ws://") || url.starts_with("wss://") => {
            Ok(Endpoint::Url(url.into()))
        }
        other => Err(format!(
            "unknown --subtensor.network `{other}` (use finney, test, local, dev, or a ws:// URL)"
        )),
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
        assert!(resolve(Some("nope"), None).is_err());
        assert!(resolve(None, Some("http://x")).is_err());
    }
}
