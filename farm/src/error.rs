//! What can go wrong with a farm, as one typed error.

use crate::protocol::ProtocolError;
use thiserror::Error;

/// A farm failure. [`FarmError::is_usage`] tells bad input (exit code 2) from run-time trouble.
#[derive(Debug, Error)]
pub enum FarmError {
    /// The `--farm` URL cannot be parsed.
    #[error(
        "--farm {url}: not a NATS URL ({reason}); expected nats://[USER:PASSWORD@|TOKEN@]HOST:PORT"
    )]
    BadUrl {
        /// The URL with any password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// The farm name cannot be used in subjects.
    #[error("--farm.name {0}")]
    FarmName(ProtocolError),
    /// A credentials or CA file cannot be used.
    #[error("{flag} {path}: {reason}")]
    File {
        /// The option.
        flag: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The server refused the credentials.
    #[error("NATS server {url} refused the credentials: {reason}")]
    Credentials {
        /// The URL with any password hidden.
        url: String,
        /// The server's or client's words.
        reason: String,
    },
    /// No NATS server answered.
    #[error("cannot reach the NATS server {url}: {reason}")]
    Unreachable {
        /// The URL with any password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// The other side speaks another job format version.
    #[error("{0}")]
    Version(ProtocolError),
    /// The coordinator refused this worker.
    #[error("the coordinator refused this worker: {0}")]
    Refused(String),
    /// A NATS operation failed after connecting.
    #[error("NATS: {0}")]
    Nats(String),
    /// The metrics endpoint cannot listen.
    #[error("--metrics-addr {addr}: {reason}")]
    Metrics {
        /// The address asked for.
        addr: String,
        /// Why.
        reason: String,
    },
    /// No coordinator answered a status request.
    #[error("no coordinator answered on farm {farm} within {seconds} s")]
    NoCoordinator {
        /// The farm name.
        farm: String,
        /// How long it waited.
        seconds: u64,
    },
}

impl FarmError {
    /// Whether the user's input is at fault (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            FarmError::BadUrl { .. }
                | FarmError::FarmName(_)
                | FarmError::File { .. }
                | FarmError::Credentials { .. }
                | FarmError::Version(_)
                | FarmError::Metrics { .. }
        )
    }
}
