//! The GPU kernels shared by the OpenCL and CUDA backends, and their host-side contract.
//!
//! The device code (SHA-256, Keccak-f[1600], target test) is written once in
//! `kernels/pow_common.h`; `dialect_opencl.h` and `dialect_cuda.h` map its primitives to each
//! language, and `pow.cl` / `pow.cu` hold the entry points. This crate embeds those files and
//! provides what both plugins need around them:
//!
//! * [`GpuJob`]: a [`Job`] laid out for the kernel (parameter words, compile-time [`Layout`],
//!   per-launch midstate of the blocks whose nonce bytes stay constant during a launch);
//! * [`Launcher`] and [`drive_search`]: the double-buffered launch loop with the
//!   [`SearchOutcome`] rules, independent of the API that runs the kernel;
//! * [`decode_results`]: result buffer → sorted hit offsets;
//! * [`self_test`]: known seals from the reference vectors and a cross-check against the seal
//!   library, run when a device is opened.

pub mod cache;
mod selftest;

pub use selftest::{seal_from_words, self_test};

use pow_backend_api::layout::{self, MessageLayout};
use pow_backend_api::{BackendError, Hit, Job, SearchOutcome};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

/// `kernels/pow_common.h`: the shared device code.
pub const COMMON_H: &str = include_str!("../pow_common.h");
/// `kernels/dialect_opencl.h`.
pub const DIALECT_OPENCL_H: &str = include_str!("../dialect_opencl.h");
/// `kernels/dialect_cuda.h`.
pub const DIALECT_CUDA_H: &str = include_str!("../dialect_cuda.h");
/// `kernels/pow.cl`: OpenCL entry points.
pub const POW_CL: &str = include_str!("../pow.cl");
/// `kernels/pow.cu`: CUDA entry points.
pub const POW_CU: &str = include_str!("../pow.cu");

/// Number of u32 job parameter words (`P_WORDS` in the header).
pub const PARAM_WORDS: usize = 64;
/// Offset of the kernel's padded blocks in the parameters.
const P_TAIL: usize = 0;
/// Offset of the target limbs in the parameters.
const P_TARGET: usize = 48;
/// Offset of the flags word in the parameters.
const P_FLAGS: usize = 56;
/// Offset of the rotation in the parameters.
const P_ROTATE: usize = 57;
/// Offset of the run shift in the parameters (`P_RUN_SHIFT`).
const P_RUN_SHIFT: usize = 58;
/// Runs of `2^run_log2` indexes one launch may touch (`MS_MAX_RUNS`): each needs its own
/// midstate when the host compresses a block holding varying nonce bytes.
pub const MAX_RUNS: usize = 16;
/// Words of a launch's midstate table: 8 per run.
pub const MIDSTATE_WORDS: usize = 8 * MAX_RUNS;
/// Number of u32 words of a result buffer (`R_WORDS`).
pub const RESULT_WORDS: usize = 64;
/// Hit offsets a result buffer can hold (`R_MAX_HITS`); the lowest is kept separately.
pub const MAX_HITS: usize = 62;
/// Initial contents of a result buffer: no hits, lowest offset "none".
pub const RESULT_INIT: [u32; 2] = [0, u32::MAX];
/// Most padded blocks the kernel compresses.
pub const MAX_KERNEL_BLOCKS: usize = 3;
/// Names of the kernel entry points.
pub const SEARCH_KERNEL: &str = "pow_search";
/// The self-test entry point that writes seals.
pub const SEALS_KERNEL: &str = "pow_seals";

fn strip_includes(src: &str) -> String {
    src.lines()
        .filter(|l| !l.trim_start().starts_with("#include \""))
        .flat_map(|l| [l, "\n"])
        .collect()
}

/// The complete OpenCL program source: dialect, shared code and entry points in one string
/// (an OpenCL runtime has no include path to the embedded headers).
pub fn opencl_source() -> String {
    format!(
        "{}\n{}\n{}",
        DIALECT_OPENCL_H,
        COMMON_H,
        strip_includes(POW_CL)
    )
}

/// The complete CUDA source for NVRTC, with the headers inlined.
pub fn cuda_source() -> String {
    format!(
        "{}\n{}\n{}",
        DIALECT_CUDA_H,
        COMMON_H,
        strip_includes(POW_CU)
    )
}

/// Lowercase hex SHA-256 of a text, for cache keys.
pub fn text_hash(text: &str) -> String {
    pow_seal::to_hex(&pow_seal::sha256(text.as_bytes()))
        .trim_start_matches("0x")
        .to_string()
}

/// The compile-time shape of a job: blocks the kernel compresses, where the nonce starts in
/// them (negative when its first bytes lie in a block the host compresses), and the message
/// lengths that fix the padding, so the compiler folds every word the layout determines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Padded SHA-256 blocks compressed by the kernel (1 to 3).
    pub blocks: u32,
    /// Byte offset of the nonce relative to the kernel's first block.
    pub nonce_off: i32,
    /// Bytes of the message after the nonce.
    pub suffix_len: u32,
    /// Bytes of the whole message.
    pub message_len: u32,
}

impl Layout {
    /// Legacy and faucet seals: 40-byte message, nonce first.
    pub const LEGACY: Layout = Layout {
        blocks: 1,
        nonce_off: 0,
        suffix_len: 32,
        message_len: 40,
    };
    /// v1 with its canonical mapping (rotation 40): the host compresses the block holding the
    /// nonce's five constant low bytes.
    pub const V1: Layout = Layout {
        blocks: 1,
        nonce_off: -5,
        suffix_len: 0,
        message_len: 131,
    };
    /// v1 with the identity mapping.
    pub const V1_IDENTITY: Layout = Layout {
        blocks: 2,
        nonce_off: 59,
        suffix_len: 0,
        message_len: 131,
    };
    /// Layouts compiled ahead of time where a backend does that (CUDA PTX).
    pub const PREBUILT: [Layout; 3] = [Layout::LEGACY, Layout::V1, Layout::V1_IDENTITY];

    /// Where the message ends, relative to the kernel's first block (`POW_MSG_END`).
    pub fn message_end(&self) -> i32 {
        self.nonce_off + 8 + self.suffix_len as i32
    }

    /// Preprocessor definitions for this layout, as compiler options.
    pub fn defines(&self) -> Vec<String> {
        vec![
            format!("-DPOW_KERNEL_BLOCKS={}", self.blocks),
            format!("-DPOW_NONCE_OFF={}", self.nonce_off),
            format!("-DPOW_MSG_END={}", self.message_end()),
            format!("-DPOW_MSG_BITS={}", u64::from(self.message_len) * 8),
        ]
    }

    /// Preprocessor definitions for this layout built with a Keccak shape: what a backend
    /// passes to its compiler.
    pub fn defines_with(&self, keccak: KeccakShape) -> Vec<String> {
        let mut defines = self.defines();
        defines.extend(keccak.defines());
        defines
    }

    /// A short name usable in file names (`b1_o-5_s0_l131`).
    pub fn key(&self) -> String {
        format!(
            "b{}_o{}_s{}_l{}",
            self.blocks, self.nonce_off, self.suffix_len, self.message_len
        )
    }
}

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

/// Turns a result buffer into the sorted, distinct hit offsets of a launch of `count`
/// indexes. Inconsistent contents (offsets out of range, a count without a lowest offset) are
/// an error: the device or the transfer is broken.
pub fn decode_results(words: &[u32], count: u32) -> Result<Vec<u32>, BackendError> {
    if words.len() < RESULT_WORDS {
        return Err(BackendError::failed("result buffer too short"));
    }
    let n = words[0] as usize;
    let min = words[1];
    if n == 0 {
        return if min == u32::MAX {
            Ok(Vec::new())
        } else {
            Err(BackendError::failed(format!(
                "device result buffer is inconsistent: no hits but lowest offset {min}"
            )))
        };
    }
    if n > count as usize || min >= count {
        return Err(BackendError::failed(format!(
            "device result buffer is inconsistent: {n} hits, lowest offset {min}, launch of {count}"
        )));
    }
    let mut offsets: Vec<u32> = words[2..2 + n.min(MAX_HITS)].to_vec();
    offsets.push(min);
    if let Some(bad) = offsets.iter().find(|&&o| o >= count || o < min) {
        return Err(BackendError::failed(format!(
            "device result buffer is inconsistent: hit offset {bad} in a launch of {count} with lowest {min}"
        )));
    }
    offsets.sort_unstable();
    offsets.dedup();
    Ok(offsets)
}

/// Runs the kernel of one device: two result slots (0 and 1) so that one launch can run while
/// the host reads the other's results.
pub trait Launcher {
    /// Uploads a job's parameters and selects (building if needed) its layout's kernels.
    fn load(&mut self, job: &GpuJob) -> Result<(), BackendError>;
    /// Starts a search launch of `count` indexes from `base` with results in `slot`, without
    /// waiting for it; `midstates` is the launch's [`GpuJob::midstate_table`].
    fn launch(
        &mut self,
        slot: usize,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<(), BackendError>;
    /// Waits for the launch in `slot` and returns its [`RESULT_WORDS`] result words.
    fn finish(&mut self, slot: usize) -> Result<Vec<u32>, BackendError>;
    /// Waits for everything in flight, ignoring errors (used after a failure).
    fn drain(&mut self);
    /// Computes the seals of `count` indexes from `base` (self-test): 8 little-endian words
    /// per index.
    fn seals(
        &mut self,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<Vec<u32>, BackendError>;
}

/// Searches `[start, start + count)` with at most `batch` indexes per launch and two launches
/// in flight, with the [`SearchOutcome`] rules: every hit is re-verified with the seal
/// library (a hit that fails is an error), `searched` is the completed prefix up to and
/// including the lowest hit, and the cancel flag is read before each launch.
pub fn drive_search<L: Launcher + ?Sized>(
    launcher: &mut L,
    job: &GpuJob,
    start: u64,
    count: u64,
    batch: u32,
    cancel: &AtomicBool,
) -> Result<SearchOutcome, BackendError> {
    let result = drive(launcher, job, start, count, batch.max(1), cancel);
    if result.is_err() {
        launcher.drain();
    }
    result
}

fn drive<L: Launcher + ?Sized>(
    launcher: &mut L,
    job: &GpuJob,
    start: u64,
    count: u64,
    batch: u32,
    cancel: &AtomicBool,
) -> Result<SearchOutcome, BackendError> {
    let mut inflight: VecDeque<(usize, u64, u32)> = VecDeque::with_capacity(2);
    let mut issued = 0u64;
    let mut next_slot = 0usize;
    let mut searched = 0u64;
    let mut attempts = 0u64;
    let mut found = false;
    let mut hits: Vec<Hit> = Vec::new();
    loop {
        while !found && inflight.len() < 2 && issued < count && !cancel.load(Ordering::Relaxed) {
            let base = start.wrapping_add(issued);
            let len = (batch as u64).min(count - issued).min(job.room(base)) as u32;
            let midstates = job.midstate_table(base, len);
            launcher.launch(next_slot, base, len, &midstates)?;
            inflight.push_back((next_slot, issued, len));
            next_slot ^= 1;
            issued += len as u64;
        }
        let Some((slot, offset, len)) = inflight.pop_front() else {
            break;
        };
        let words = launcher.finish(slot)?;
        attempts += len as u64;
        let offsets = decode_results(&words, len)?;
        for &o in &offsets {
            let index = start.wrapping_add(offset + o as u64);
            let seal = job.job.reference_seal_at(index);
            if !job.job.is_met_by(&seal) {
                return Err(BackendError::failed(format!(
                    "device reported index {index} whose seal does not meet the target; \
                     the device computes wrong seals"
                )));
            }
            hits.push(Hit {
                index,
                nonce: job.job.mapping.nonce(index),
                seal,
            });
        }
        if !found {
            if let Some(&lowest) = offsets.first() {
                found = true;
                searched = offset + lowest as u64 + 1;
            } else {
                searched = offset + len as u64;
            }
        }
    }
    hits.sort_by_key(|h| h.index.wrapping_sub(start));
    Ok(SearchOutcome {
        searched,
        attempts,
        hits: hits.into(),
    })
}

/// Parses an optional positive integer option, refusing zero.
pub fn positive_option(
    options: &pow_backend_api::Options,
    key: &str,
) -> Result<Option<u64>, BackendError> {
    match options.get_parsed::<u64>(key)? {
        Some(0) => Err(BackendError::invalid(format!(
            "option `{key}` must be positive"
        ))),
        v => Ok(v),
    }
}

/// How the kernel runs Keccak rounds 1 to 22 (option `keccak=loop|unrolled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeccakShape {
    /// A loop of one round (`POW_KECCAK_LOOP`): about 3 KB of code instead of 70 KB, at the
    /// cost of register moves between rounds.
    Loop,
    /// Fully unrolled: no moves, the compiler schedules across rounds.
    Unrolled,
}

impl KeccakShape {
    /// The shape named by option `keccak`, else `default`.
    pub fn from_options(
        options: &pow_backend_api::Options,
        default: KeccakShape,
    ) -> Result<KeccakShape, BackendError> {
        match options.get("keccak") {
            None => Ok(default),
            Some("loop") => Ok(KeccakShape::Loop),
            Some("unrolled") => Ok(KeccakShape::Unrolled),
            Some(other) => Err(BackendError::invalid(format!(
                "option `keccak` must be `loop` or `unrolled`, not `{other}`"
            ))),
        }
    }

    /// Compiler options that select this shape.
    pub fn defines(&self) -> Vec<String> {
        match self {
            KeccakShape::Loop => vec!["-DPOW_KECCAK_LOOP".to_string()],
            KeccakShape::Unrolled => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
