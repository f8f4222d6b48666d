//! pow-host: loads solver backend plugins and runs Bittensor proof-of-work challenges on them.
//!
//! The binary's commands live in `main.rs`; this library holds the pieces they share (and that
//! the integration tests drive directly).

#![warn(missing_docs)]

pub mod bench;
pub mod calibration;
pub mod device_miner;
pub mod dispatch_args;
pub mod dispatch_devices;
pub mod elf;
pub mod farm_args;
pub mod farm_miner;
pub mod keys;
pub mod output;
pub mod plugins;
pub mod run_loop;
pub mod selection;
pub mod status;

/// A failure with the process exit code that goes with it.
#[derive(Debug)]
pub struct Failure {
    /// 2 for bad input (usage), 1 for everything else.
    pub code: i32,
    /// One-line message.
    pub message: String,
}

impl Failure {
    /// Bad input from the user: exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// A failure at run time: exit code 1.
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}
