//! The GPU kernels shared by the OpenCL and CUDA backends, and their host-side contract.
//!
//! The device code (SHA-256, Keccak-f[1600], target test) is written once in
//! `kernels/pow_common.h`; `dialect_opencl.h` and `dialect_cuda.h` map its primitives to each
//! language, and `pow.cl` / `pow.cu` hold the entry points. This crate embeds those files and
//! provides what both plugins need around them:
//!
//! * [`GpuJob`]: a [`Job`](pow_backend_api::Job) laid out for the kernel (parameter words, compile-time [`Layout`],
//!   per-launch midstate of the blocks whose nonce bytes stay constant during a launch);
//! * [`Launcher`] and [`drive_search`]: the double-buffered launch loop with the
//!   [`SearchOutcome`](pow_backend_api::SearchOutcome) rules, independent of the API that runs
//!   the kernel;
//! * [`GpuDevice`]: the one [`Device`](pow_backend_api::Device) of every GPU plugin, over its
//!   [`Launcher`] (the OpenCL and CUDA plugins differ only in the launcher);
//! * [`decode_results`]: result buffer → sorted hit offsets;
//! * [`self_test`]: known seals from the reference vectors and a cross-check against the seal
//!   library, run when a device is opened.

pub mod cache;
mod device;
mod job;
mod launch;
mod selftest;
mod shape;

pub use device::GpuDevice;
pub use job::GpuJob;
pub use launch::{decode_results, drive_search, positive_option, Launcher};
pub use selftest::{seal_from_words, self_test, SelfTestError};
pub use shape::{KeccakShape, Layout};

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
pub(crate) const P_TAIL: usize = 0;
/// Offset of the target limbs in the parameters.
pub(crate) const P_TARGET: usize = 48;
/// Offset of the flags word in the parameters.
pub(crate) const P_FLAGS: usize = 56;
/// Offset of the rotation in the parameters.
pub(crate) const P_ROTATE: usize = 57;
/// Offset of the run shift in the parameters (`P_RUN_SHIFT`).
pub(crate) const P_RUN_SHIFT: usize = 58;
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

#[cfg(test)]
mod tests;
