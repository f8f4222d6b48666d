//! Example pow-host backend: one device that searches on the calling thread.
//!
//! It is deliberately plain: the message is `prefix ‖ nonce (8 bytes, little-endian) ‖ suffix`,
//! the seal is `keccak256(sha256(message))`, and a seal passes when, read as a 256-bit number in
//! the job's byte order, it is at most the job's target. The only speed-up is that SHA-256 is
//! fed the prefix once per job and the hasher state is cloned for each nonce.
//!
//! See `docs/writing-a-backend.md` in the pow-host repository for the contract.
#![allow(non_local_definitions)]

use pow_backend_api::{
    Backend, BackendError, Device, DeviceInfo, DeviceKind, Hit, Job, Options, SearchOutcome,
};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use tiny_keccak::{Hasher, Keccak};

/// How many indexes are tried between two looks at the cancel flag.
const CANCEL_CHECK_INTERVAL: u64 = 4096;

/// The backend: one device, index 0.
pub struct ExampleBackend;

impl Backend for ExampleBackend {
    fn name(&self) -> &str {
        "example"
    }

    fn description(&self) -> String {
        "example backend: single-threaded scalar search (sha2 + tiny-keccak)".into()
    }

    fn list_devices(&self, _options: &Options) -> Result<Vec<DeviceInfo>, BackendError> {
        Ok(vec![device_info()])
    }

    fn open_device(&self, index: u32, _options: &Options) -> Result<Box<dyn Device>, BackendError> {
        if index != 0 {
            return Err(BackendError::invalid(format!(
                "the example backend has one device (0), not {index}"
            )));
        }
        Ok(Box::new(ExampleDevice { job: None }))
    }
}

fn device_info() -> DeviceInfo {
    DeviceInfo {
        index: 0,
        name: "example scalar search".into(),
        kind: DeviceKind::Cpu,
        compute_units: 1,
        detail: "1 thread".into(),
    }
}

/// A job prepared for searching.
struct Prepared {
    job: Job,
    /// SHA-256 state after the prefix.
    after_prefix: Sha256,
}

/// The device: the current job, if one was set.
struct ExampleDevice {
    job: Option<Prepared>,
}

impl Prepared {
    fn seal(&self, nonce: u64) -> [u8; 32] {
        let mut sha = self.after_prefix.clone();
        sha.update(nonce.to_le_bytes());
        sha.update(&self.job.suffix[..]);
        let inner = sha.finalize();
        let mut seal = [0u8; 32];
        let mut keccak = Keccak::v256();
        keccak.update(&inner);
        keccak.finalize(&mut seal);
        seal
    }

    /// Whether the seal, read in the job's byte order, is at most the target.
    fn meets(&self, seal: &[u8; 32]) -> bool {
        // Limbs least significant first, like `Job::target`.
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let mut word = [0u8; 8];
            if self.job.seal_big_endian {
                // Byte 0 is the most significant: limb 0 is the last 8 bytes.
                word.copy_from_slice(&seal[32 - 8 * (i + 1)..32 - 8 * i]);
                *limb = u64::from_be_bytes(word);
            } else {
                word.copy_from_slice(&seal[8 * i..8 * (i + 1)]);
                *limb = u64::from_le_bytes(word);
            }
        }
        for i in (0..4).rev() {
            if limbs[i] != self.job.target[i] {
                return limbs[i] < self.job.target[i];
            }
        }
        true
    }
}

impl Device for ExampleDevice {
    fn info(&self) -> DeviceInfo {
        device_info()
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        let mut after_prefix = Sha256::new();
        after_prefix.update(&job.prefix[..]);
        self.job = Some(Prepared {
            job: job.clone(),
            after_prefix,
        });
        Ok(())
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        let prepared = self
            .job
            .as_ref()
            .ok_or_else(|| BackendError::invalid("search called before set_job"))?;
        let mut outcome = SearchOutcome::default();
        for offset in 0..count {
            if offset % CANCEL_CHECK_INTERVAL == 0 && offset > 0 && cancel.load(Ordering::Relaxed) {
                // Everything before `offset` was tried; the rest is the host's to hand out.
                break;
            }
            // Indexes wrap at 2^64.
            let index = start.wrapping_add(offset);
            let nonce = prepared.job.mapping.nonce(index);
            let seal = prepared.seal(nonce);
            outcome.searched = offset + 1;
            outcome.attempts = offset + 1;
            if prepared.meets(&seal) {
                // The first hit is the lowest in the searched prefix: report it and stop.
                outcome.hits.push(Hit { index, nonce, seal });
                break;
            }
        }
        Ok(outcome)
    }
}

pow_backend_api::export_backend!(ExampleBackend);
