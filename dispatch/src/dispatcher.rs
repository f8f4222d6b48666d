//! The dispatcher: one driver thread per device, one coordinator thread, events out.
//!
//! * [`handle`]: [`Dispatcher`] and [`WorkHandle`], the caller's side.
//! * [`protocol`]: the messages between the handle, the coordinator and the drivers.
//! * [`driver`]: the driver thread, which owns a device and verifies its results.
//! * [`coordinator`]: the coordinator thread, which owns every piece of state.
//! * [`work`]: the current job's index space (hand out, re-issue, account).
//! * [`measure`]: measurement phases, for calibration.
//! * [`slot`]: the coordinator's record of each device; [`sizing`]: batch sizes and deadlines.
//!
//! Drivers block only on their own device and on their own order channel; the coordinator
//! only ever sends on unbounded channels and waits on its inbox with a timeout, so no device
//! can hold it up.

mod coordinator;
mod driver;
mod handle;
mod measure;
mod protocol;
mod sizing;
mod slot;
mod work;

pub use handle::{Dispatcher, WorkHandle};
pub(crate) use protocol::DeviceSetup;
