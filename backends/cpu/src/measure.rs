//! The micro-benchmark that picks the hashing path: every available path hashes a fixed v1
//! job on the calling thread in short slices, round-robin, and keeps its best rate.
//!
//! Round-robin over [`ROUNDS`] rounds of [`SLICE`] each (best slice kept) evens out a clock
//! that is still ramping up or a moment of load on another core; with five paths the whole
//! measurement takes about 5 × 3 × 3 ms, some 50 ms with the last chunks.

use crate::prepared::PreparedJob;
use crate::Path;
use pow_backend_api::Job;
use pow_seal::{Challenge, Work};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// One path's measured speed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathRate {
    /// The path's name (`avx2`, ...).
    pub path: String,
    /// Best attempts per second on one thread.
    pub attempts_per_second: f64,
}

/// Rounds over all paths; each path keeps its best slice.
pub const ROUNDS: usize = 3;
/// The time one path hashes per round (it finishes the chunk in flight).
pub const SLICE: Duration = Duration::from_millis(3);
/// Indexes per search call.
pub const CHUNK: u64 = 4096;

/// The measured job: a v1 challenge with fixed keys and block hash, with the canonical nonce
/// mapping (as the host mines v1) and a target of zero, which no seal meets, so that every
/// search call hashes its whole chunk.
pub fn sample_job() -> PreparedJob {
    let challenge = Challenge::v1(1, [0x5b; 32], [0x8e; 32], [0xd4; 32]).expect("netuid 1");
    let mut job = Job::from_work(&Work::new(challenge, u64::MAX));
    job.target = [0; 4];
    PreparedJob::new(&job)
}

/// The best one-thread rate of every path in `paths` (same order) on [`sample_job`].
pub fn measure_rates(paths: &[Path]) -> Vec<PathRate> {
    let job = sample_job();
    let mut best = vec![0.0f64; paths.len()];
    let mut next = 0u64;
    for _ in 0..ROUNDS {
        for (path, best) in paths.iter().zip(&mut best) {
            let (rate, searched) = slice_rate(path, &job, next);
            next = next.wrapping_add(searched);
            *best = best.max(rate);
        }
    }
    paths
        .iter()
        .zip(best)
        .map(|(p, r)| PathRate {
            path: p.name.to_string(),
            attempts_per_second: r,
        })
        .collect()
}

/// Runs `path` on chunks from `start` for one [`SLICE`]: its rate and the indexes it searched.
fn slice_rate(path: &Path, job: &PreparedJob, start: u64) -> (f64, u64) {
    let began = Instant::now();
    let mut searched = 0u64;
    loop {
        let hit = (path.search)(job, start.wrapping_add(searched), CHUNK);
        std::hint::black_box(hit);
        searched += CHUNK;
        let elapsed = began.elapsed();
        if elapsed >= SLICE {
            return (searched as f64 / elapsed.as_secs_f64(), searched);
        }
    }
}
