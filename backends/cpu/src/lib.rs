//! CPU solver backend for pow-host: one device that searches on every core.
//!
//! A search range is cut into chunks that worker threads claim in ascending order from a
//! shared counter; a hit lowers a shared bound so that no thread works past it, and the
//! cancel flag is checked between chunks.
//!
//! Hashing paths (see `docs/performance.md`): `avx512` (16-lane SHA-256 and 8-lane
//! Keccak-f\[1600\]), `shani-avx512`, `avx2`, `shani-avx2` and `portable`, offered when
//! `is_x86_feature_detected!` finds their instructions (the x86 modules only exist on x86-64).
//! On 64-bit Arm: `arm-sha2` (Armv8 SHA-2 instructions, found with
//! `is_aarch64_feature_detected!`) and `portable`; other targets get `portable`. The device
//! runs the fastest of them, measured on one thread when the device is listed or opened and
//! cached in the host's cache folder ([`choose`], [`measure`], [`path_cache`]). Option
//! `path=NAME` forces one, `threads=N` sets the worker count.

#[cfg(target_arch = "aarch64")]
pub mod arm;
pub mod choose;
pub mod measure;
pub mod path_cache;
pub mod plan;
pub mod portable;
pub mod prepared;
#[cfg(target_arch = "x86_64")]
pub mod x86;

use choose::Choice;
use pow_backend_api::{
    Backend, BackendError, Device, DeviceInfo, DeviceKind, Hit, Job, Options, SearchOutcome,
};
use prepared::PreparedJob;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// A hashing path: searches `[start, start + count)` of a prepared job and returns the lowest
/// passing index.
pub type SearchFn = fn(&PreparedJob, u64, u64) -> Option<Hit>;

/// A named hashing path available on this CPU.
#[derive(Clone, Copy)]
pub struct Path {
    /// Name shown to the user (`portable`, `avx2`, ...).
    pub name: &'static str,
    /// The search function.
    pub search: SearchFn,
}

/// Every path this CPU can run (`portable` always last). Which one the device runs is measured
/// ([`choose`]); this order only breaks ties and lists them.
pub fn available_paths() -> Vec<Path> {
    #[allow(unused_mut)]
    let mut paths = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if x86::avx512::supported() {
            paths.push(Path {
                name: "avx512",
                search: x86::avx512::search,
            });
        }
        if x86::shani::avx512::supported() {
            paths.push(Path {
                name: "shani-avx512",
                search: x86::shani::avx512::search,
            });
        }
        if x86::avx2::supported() {
            paths.push(Path {
                name: "avx2",
                search: x86::avx2::search,
            });
        }
        if x86::shani::avx2::supported() {
            paths.push(Path {
                name: "shani-avx2",
                search: x86::shani::avx2::search,
            });
        }
    }
    #[cfg(target_arch = "aarch64")]
    if arm::supported() {
        paths.push(Path {
            name: "arm-sha2",
            search: arm::search,
        });
    }
    paths.push(Path {
        name: "portable",
        search: portable::search,
    });
    paths
}

/// Number of worker threads to use: `threads` option, else one per available core.
fn thread_count(options: &Options) -> Result<usize, BackendError> {
    let n = options.get_parsed::<usize>("threads")?.unwrap_or(0);
    if n > MAX_THREADS {
        return Err(BackendError::invalid(format!(
            "--threads {n} is more than the {MAX_THREADS} worker threads the cpu backend runs"
        )));
    }
    Ok(if n == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        n
    })
}

/// Most worker threads one CPU device runs.
const MAX_THREADS: usize = 4096;

/// The CPU backend.
#[derive(Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> &str {
        "cpu"
    }

    fn description(&self) -> String {
        "host CPU, all cores".into()
    }

    fn list_devices(&self, options: &Options) -> Result<Vec<DeviceInfo>, BackendError> {
        let threads = thread_count(options)?;
        let choice = choose::choose(options)?;
        Ok(vec![device_info(threads, &choice.detail())])
    }

    fn open_device(&self, index: u32, options: &Options) -> Result<Box<dyn Device>, BackendError> {
        if index != 0 {
            return Err(BackendError::invalid(format!(
                "the cpu backend has one device (0), not {index}"
            )));
        }
        let threads = thread_count(options)?;
        let choice = choose::choose(options)?;
        Ok(Box::new(CpuDevice::new(threads, &choice)))
    }
}

fn device_info(threads: usize, detail: &str) -> DeviceInfo {
    DeviceInfo {
        index: 0,
        name: format!("CPU ({threads} threads)").into(),
        kind: DeviceKind::Cpu,
        compute_units: threads as u32,
        detail: detail.into(),
    }
}

/// Indexes one worker claims at a time: small enough to react to a cancel within a few
/// milliseconds, large enough that claiming costs nothing.
const CHUNK: u64 = 8192;

/// The CPU device: a thread count, a hashing path (with how it was chosen, for its detail)
/// and the current job.
pub struct CpuDevice {
    threads: usize,
    path: Path,
    detail: String,
    job: Option<PreparedJob>,
}

impl CpuDevice {
    /// A device with `threads` workers on the path of `choice`.
    pub fn new(threads: usize, choice: &Choice) -> Self {
        CpuDevice {
            threads: threads.max(1),
            path: choice.path,
            detail: choice.detail(),
            job: None,
        }
    }
}

impl Device for CpuDevice {
    fn info(&self) -> DeviceInfo {
        device_info(self.threads, &self.detail)
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        self.job = Some(PreparedJob::new(job));
        Ok(())
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        let job = self
            .job
            .as_ref()
            .ok_or_else(|| BackendError::invalid("search called before set_job"))?;
        Ok(parallel_search(
            job,
            self.path.search,
            self.threads,
            start,
            count,
            cancel,
        ))
    }
}

/// A value alone on its own pair of 64-byte cache lines, so that counters written by
/// different workers never share a line (the adjacent-line prefetcher pairs lines).
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Searches a range on `threads` workers with `search`; see [`SearchOutcome`] for the result's
/// meaning.
pub fn parallel_search(
    job: &PreparedJob,
    search: SearchFn,
    threads: usize,
    start: u64,
    count: u64,
    cancel: &AtomicBool,
) -> SearchOutcome {
    let chunks = count.div_ceil(CHUNK);
    let next_chunk = Padded(AtomicU64::new(0));
    // Offset (from `start`) of the lowest hit so far; u64::MAX when none.
    let best_hit = Padded(AtomicU64::new(u64::MAX));
    // Lowest chunk a worker abandoned because of the cancel flag.
    let abandoned = Padded(AtomicU64::new(u64::MAX));
    // Attempts per worker, each on its own lines; summed at the end.
    let per_worker: Vec<Padded<AtomicU64>> =
        (0..threads.max(1)).map(|_| Padded::default()).collect();
    let hits = Mutex::new(Vec::<Hit>::new());

    let worker = |w: usize| loop {
        let attempts = &per_worker[w];
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let c = next_chunk.fetch_add(1, Ordering::Relaxed);
        if c >= chunks {
            break;
        }
        let offset = c * CHUNK;
        if offset > best_hit.load(Ordering::Relaxed) {
            break;
        }
        let len = CHUNK.min(count - offset);
        if cancel.load(Ordering::Relaxed) {
            abandoned.fetch_min(c, Ordering::Relaxed);
            break;
        }
        let hit = search(job, start.wrapping_add(offset), len);
        match hit {
            Some(h) => {
                let hit_offset = h.index.wrapping_sub(start);
                attempts.fetch_add(hit_offset - offset + 1, Ordering::Relaxed);
                best_hit.fetch_min(hit_offset, Ordering::Relaxed);
                hits.lock().unwrap().push(h);
            }
            None => {
                attempts.fetch_add(len, Ordering::Relaxed);
            }
        }
    };

    if threads <= 1 || chunks <= 1 {
        worker(0);
    } else {
        std::thread::scope(|s| {
            for w in 0..threads.min(chunks as usize) {
                s.spawn(move || worker(w));
            }
        });
    }

    let mut hits = hits.into_inner().unwrap();
    hits.sort_by_key(|h| h.index.wrapping_sub(start));
    let best = best_hit.load(Ordering::Relaxed);
    let (next_chunk, abandoned) = (next_chunk.0, abandoned.0);
    let claimed = next_chunk.load(Ordering::Relaxed).min(chunks);
    let done_chunks = claimed.min(abandoned.load(Ordering::Relaxed));
    let complete = (done_chunks * CHUNK).min(count);
    let searched = if best != u64::MAX {
        (best + 1).min(complete)
    } else {
        complete
    };
    SearchOutcome {
        searched,
        attempts: per_worker.iter().map(|a| a.load(Ordering::Relaxed)).sum(),
        hits: hits.into(),
    }
}

pow_backend_api::export_backend!(CpuBackend);
