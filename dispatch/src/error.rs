//! The dispatcher's error.

/// Dispatcher errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// No device was given or none is left.
    #[error("no usable device")]
    NoDevices,
    /// A measurement needs the dispatcher idle.
    #[error("the dispatcher is working on a job")]
    Busy,
    /// The dispatcher has stopped.
    #[error("the dispatcher has stopped")]
    Stopped,
}
