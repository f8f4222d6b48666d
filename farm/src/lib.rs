//! Many machines, one registration: the pow-host farm over NATS.
//!
//! The process with the chain and the wallet runs a [`FarmCoordinator`]: it announces each
//! challenge as a keyless job, leases disjoint index ranges to workers, re-verifies every hit
//! and passes on only verified hits of the current job. Each mining machine runs
//! [`run_worker`] over its own dispatcher. The bus is a standard `nats-server`; the messages
//! are in [`protocol`].

pub mod connect;
pub mod coordinator;
pub mod error;
pub mod farm_state;
pub mod lease;
pub mod metrics;
pub mod protocol;
pub mod worker;

pub use connect::{FarmConnect, FarmLink};
pub use coordinator::{FarmCoordinator, FarmLog};
pub use error::FarmError;
pub use farm_state::{CoordinatorConfig, FarmEvent, VerifiedHit};
pub use metrics::Metrics;
pub use protocol::{FarmStatus, FORMAT_VERSION};
pub use worker::{run_worker, WorkerConfig, WorkerEvent, WorkerLog};

/// Asks the farm's coordinator for its status (for `pow-host farm status`).
pub async fn request_status(
    connect: &FarmConnect,
    wait: std::time::Duration,
) -> Result<FarmStatus, FarmError> {
    let client = connect.connect("pow-host farm status").await?;
    let none = || FarmError::NoCoordinator {
        farm: connect.name.as_str().to_string(),
        seconds: wait.as_secs().max(1),
    };
    let reply = tokio::time::timeout(
        wait,
        client.request(connect.subjects().status, Vec::new().into()),
    )
    .await
    .map_err(|_| none())?
    .map_err(|_| none())?;
    protocol::decode(&reply.payload).map_err(|e| match e {
        e @ protocol::ProtocolError::Version { .. } => FarmError::Version(e),
        e => FarmError::Nats(e.to_string()),
    })
}
