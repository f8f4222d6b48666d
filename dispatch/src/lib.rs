//! The pow-host dispatcher: runs one proof-of-work job on many devices at once.
//!
//! * [`Dispatcher`] owns one driver thread per device and a coordinator thread. Devices pull
//!   batches of nonce indexes from one shared index space (no overlap, no gaps); the
//!   coordinator never blocks on a device. A new job ([`WorkHandle::set_work`], also called on
//!   the [`Dispatcher`]) or a found solution cancels in-flight batches through their cancel
//!   flags.
//! * Every hit is re-verified with the seal library ([`pow_backend_api::Job::verify_hit`]) on
//!   the driver thread before the coordinator sees it. A device whose results fail
//!   verification is quarantined; one that errors or panics is dropped; one that misses its
//!   batch deadline is abandoned (its thread left detached) and its batch re-issued.
//! * [`calibrate()`] measures each device alone and candidate mixes together, and picks the
//!   fastest mix and each device's batch size; [`CalibrationCache`] keeps the result per
//!   machine, plugin build and job shape.
//! * [`Event`]s report solutions, dropped devices, challenge switches and [`Stats`]
//!   (exponentially weighted hash rates in the manner of bittensor's `RegistrationStatistics`);
//!   the host renders them for terminals, logs and programs.

mod cache;
mod calibrate;
mod config;
mod device;
mod dispatcher;
mod error;
mod events;
mod job;
mod stats;

pub use cache::{default_cache_dir, default_cache_path, machine_fingerprint, CalibrationCache};
pub use calibrate::{
    calibrate, job_shape, CalibrationSettings, Candidate, DevicePlan, Plan, PlanSource,
};
pub use config::{Config, EwmaConfig};
pub use device::{DeviceId, DeviceMeta, DeviceState, DispatchDevice};
pub use dispatcher::{Dispatcher, WorkHandle};
pub use error::DispatchError;
pub use events::{
    DeviceMeasurement, DropReason, Event, FinalReport, Measurement, Solution, Switch,
};
pub use job::{JobAccount, JobId, WorkSpec};
pub use stats::{rate_text, DeviceStats, Ewma, Stats};
