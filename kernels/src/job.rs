//! A job laid out for the kernel: parameter words, compile-time layout, per-launch midstates.

use crate::shape::Layout;
use crate::{
    MAX_KERNEL_BLOCKS, MAX_RUNS, MIDSTATE_WORDS, PARAM_WORDS, P_FLAGS, P_ROTATE, P_RUN_SHIFT,
    P_TAIL, P_TARGET,
};
use pow_backend_api::layout::{self, MessageLayout};
use pow_backend_api::{BackendError, Job};

/// A job laid out for the kernel.
#[derive(Clone, Debug)]
pub struct GpuJob {
    /// The job itself, for verifying hits with the seal library.
    pub job: Job,
    /// Compile-time layout.
    pub layout: Layout,
    /// Parameter words uploaded once per job.
    pub params: [u32; PARAM_WORDS],
    /// Launches never cross a multiple of 2^run_log2 indexes, so the nonce bytes the host
    /// compresses stay constant within one launch.
    pub run_log2: u32,
    /// The message in SHA-256 blocks.
    message: MessageLayout,
    /// Leading tail blocks the host compresses (their nonce bytes are constant in a run).
    host_blocks: usize,
}

impl GpuJob {
    /// Lays out a job; refuses messages whose variable part needs more than three blocks.
    pub fn new(job: &Job) -> Result<GpuJob, BackendError> {
        let message = MessageLayout::of(job);
        let total = message.message_len;
        // Index bits that vary inside one launch, and the blocks whose nonce bytes they miss.
        let rot = job.mapping.rotate_left_bits & 63;
        let run_log2 = layout::run_log2(job.mapping, 32);
        let host_blocks = message.blocks_constant_within_run(job.mapping, 32);
        let nonce_offset = message.nonce_offset;
        let blocks = message.tail.len() - host_blocks;
        if blocks > MAX_KERNEL_BLOCKS {
            return Err(BackendError::invalid(format!(
                "message of {total} bytes is too long for the GPU kernel (at most {MAX_KERNEL_BLOCKS} \
                 blocks after the nonce's first varying byte)"
            )));
        }
        let layout = Layout {
            blocks: blocks as u32,
            nonce_off: nonce_offset as i32 - 64 * host_blocks as i32,
            suffix_len: job.suffix.len() as u32,
            message_len: total as u32,
        };
        let mut params = [0u32; PARAM_WORDS];
        for (b, block) in message.tail[host_blocks..].iter().enumerate() {
            for (i, w) in block.chunks_exact(4).enumerate() {
                params[P_TAIL + 16 * b + i] = u32::from_be_bytes(w.try_into().unwrap());
            }
        }
        for (i, limb) in job.target.iter().enumerate() {
            params[P_TARGET + 2 * i] = *limb as u32;
            params[P_TARGET + 2 * i + 1] = (*limb >> 32) as u32;
        }
        params[P_FLAGS] = job.seal_big_endian as u32;
        params[P_ROTATE] = rot;
        // 64: every index of a launch shares one midstate (the host compresses only blocks
        // without varying nonce bytes).
        params[P_RUN_SHIFT] = if host_blocks > 0 { run_log2 } else { 64 };
        Ok(GpuJob {
            job: job.clone(),
            layout,
            params,
            run_log2,
            message,
            host_blocks,
        })
    }

    /// Most indexes one launch starting at `index` may cover (at least 1): to the end of its
    /// aligned run of `2^run_log2` indexes, or of [`MAX_RUNS`] runs when each run has its own
    /// midstate; never across 2^64, where the index wraps.
    pub fn room(&self, index: u64) -> u64 {
        let mask = (1u64 << self.run_log2) - 1;
        let first = mask - (index & mask) + 1;
        if self.host_blocks == 0 {
            return first;
        }
        let to_wrap = (u64::MAX - index).saturating_add(1);
        first
            .saturating_add(((MAX_RUNS - 1) as u64) << self.run_log2)
            .min(to_wrap)
    }

    /// The midstate table of a launch of `count` indexes from `base` (`count` at most
    /// [`room`](Self::room)`(base)`): entry k serves the k-th aligned run the launch touches.
    pub fn midstate_table(&self, base: u64, count: u32) -> [u32; MIDSTATE_WORDS] {
        let mut table = [0u32; MIDSTATE_WORDS];
        let runs = if self.host_blocks == 0 || count == 0 {
            1
        } else {
            let last = base.wrapping_add(count as u64 - 1);
            ((last >> self.run_log2) - (base >> self.run_log2) + 1) as usize
        };
        assert!(
            runs <= MAX_RUNS,
            "launch of {count} from {base} spans {runs} runs"
        );
        for k in 0..runs {
            let run_start = if k == 0 {
                base
            } else {
                ((base >> self.run_log2) + k as u64) << self.run_log2
            };
            table[8 * k..8 * k + 8].copy_from_slice(&self.launch_midstate(run_start));
        }
        table
    }

    /// SHA-256 state after the host-compressed blocks for index `index` (valid for every index
    /// of its aligned run).
    pub fn launch_midstate(&self, index: u64) -> [u32; 8] {
        self.message
            .state_after(self.host_blocks, self.job.mapping.nonce(index))
    }
}
