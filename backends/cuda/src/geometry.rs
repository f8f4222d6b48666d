//! Launch geometry: threads per block and indexes per launch, chosen from the GPU's
//! properties so that one launch fills every SM many times over (tens of milliseconds on a
//! large GPU) while two launches in flight keep the GPU busy during the host's turn.

use pow_backend_api::BackendError;

/// Default threads per block.
pub const DEFAULT_BLOCK: u32 = 256;
/// Default launch length in "full GPU waves": resident threads × this many indexes each.
pub const WAVES: u64 = 512;
/// Largest launch (offsets are 32-bit in the kernel; kept well below 2^32).
pub const MAX_BATCH: u64 = 1 << 31;

/// Threads per block and indexes per launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Threads per block (a multiple of 32, at most 1024).
    pub block: u32,
    /// Indexes per launch (a multiple of `block` unless set by the user).
    pub batch: u32,
}

impl Geometry {
    /// Chooses the geometry for a GPU with `sms` multiprocessors of `threads_per_sm` resident
    /// threads each, honouring the `block` and `batch` options when given.
    pub fn choose(
        sms: u32,
        threads_per_sm: u32,
        block: Option<u64>,
        batch: Option<u64>,
    ) -> Result<Geometry, BackendError> {
        let block = match block {
            None => DEFAULT_BLOCK,
            Some(b) if b % 32 == 0 && (32..=1024).contains(&b) => b as u32,
            Some(b) => {
                return Err(BackendError::invalid(format!(
                    "option `block` must be a multiple of 32 between 32 and 1024, got {b}"
                )))
            }
        };
        let batch = match batch {
            Some(b) if b > MAX_BATCH => {
                return Err(BackendError::invalid(format!(
                    "option `batch` is at most {MAX_BATCH}, got {b}"
                )))
            }
            Some(b) => b,
            None => {
                let resident = sms.max(1) as u64 * threads_per_sm.max(32) as u64;
                let b = (resident * WAVES).min(MAX_BATCH);
                (b / block as u64).max(1) * block as u64
            }
        };
        Ok(Geometry {
            block,
            batch: batch as u32,
        })
    }

    /// Blocks needed for `count` threads.
    pub fn grid(&self, count: u32) -> u32 {
        count.div_ceil(self.block).max(1)
    }
}

/// The NVRTC virtual architecture for a compute capability (e.g. 90 → `compute_90`), the
/// newest one NVRTC 12.x knows that does not exceed the device's.
pub fn compute_arch(cc: u32) -> &'static str {
    match cc {
        100.. => "compute_100",
        90..=99 => "compute_90",
        89 => "compute_89",
        87..=88 => "compute_87",
        86 => "compute_86",
        80..=85 => "compute_80",
        75..=79 => "compute_75",
        72..=74 => "compute_72",
        70..=71 => "compute_70",
        _ => "compute_52",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_geometry_fills_every_sm_many_times() {
        // An H100 SXM: 132 SMs, 2048 resident threads each.
        let g = Geometry::choose(132, 2048, None, None).unwrap();
        assert_eq!(g.block, 256);
        assert_eq!(g.batch as u64, 132 * 2048 * WAVES);
        assert_eq!(g.batch % g.block, 0);
        assert_eq!(g.grid(g.batch) as u64 * g.block as u64, g.batch as u64);
        // A huge GPU is capped below 2^32 offsets.
        let big = Geometry::choose(100_000, 2048, None, None).unwrap();
        assert_eq!(big.batch as u64, MAX_BATCH);
    }

    #[test]
    fn grid_covers_partial_launches() {
        let g = Geometry::choose(10, 1024, Some(128), None).unwrap();
        assert_eq!(g.grid(1), 1);
        assert_eq!(g.grid(128), 1);
        assert_eq!(g.grid(129), 2);
        assert_eq!(g.grid(0), 1);
        let c = g.grid(1000);
        assert!(c * 128 >= 1000 && (c - 1) * 128 < 1000);
    }

    #[test]
    fn options_are_checked() {
        assert!(Geometry::choose(1, 1024, Some(100), None).is_err());
        assert!(Geometry::choose(1, 1024, Some(2048), None).is_err());
        assert!(Geometry::choose(1, 1024, None, Some(MAX_BATCH + 1)).is_err());
        let g = Geometry::choose(1, 1024, Some(64), Some(1000)).unwrap();
        assert_eq!((g.block, g.batch), (64, 1000));
    }

    #[test]
    fn nvrtc_architectures() {
        assert_eq!(compute_arch(90), "compute_90");
        assert_eq!(compute_arch(89), "compute_89");
        assert_eq!(compute_arch(86), "compute_86");
        assert_eq!(compute_arch(61), "compute_52");
    }
}
