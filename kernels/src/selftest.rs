//! The self-test run when a device is opened: seals of cases from the reference vectors
//! (tests/data/vectors, produced by Bittensor's code), seals of neighbouring indexes against
//! the seal library, and searches with real targets against a library scan, in every layout
//! and both seal orders.

use crate::{drive_search, GpuJob, Launcher};
use pow_backend_api::{BackendError, Job, NonceMapping};
use pow_seal::{parse_bytes32, Challenge, SealOrder, Work};
use std::sync::atomic::AtomicBool;

// The cases are embedded, not read from the vector files: the self-test runs wherever a device
// is opened, without the source tree. tests.rs checks them against the files (read with
// pow-test-support, the workspace's one vector loader).

/// A legacy case of `seal_vectors.json` ("random inputs").
pub(crate) const LEGACY_BLOCK: &str =
    "0xcdbcfb0ab9a33e0c5c17c37988af86de91b8df1da2529e487d4347944e717252";
pub(crate) const LEGACY_HOTKEY: &str =
    "0x7fbc3c3b77738905d9d3c0d34f5720ffd7244833720376ff6938cd50b2796077";
pub(crate) const LEGACY_NONCE: u64 = 6123106623631978152;
pub(crate) const LEGACY_SEAL: &str =
    "0x89fc2c77efe29cebb1e94c8c4d0c259a450e54c47b820af7ac8218f81beae6b0";
/// A case of `pow_register_v1_seal_vectors.json` (netuid 1).
pub(crate) const V1_BLOCK: &str =
    "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub(crate) const V1_HOTKEY: &str =
    "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";
pub(crate) const V1_COLDKEY: &str =
    "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
pub(crate) const V1_NONCE: u64 = 1 << 63;
pub(crate) const V1_SEAL: &str =
    "0xbfdb20c4fb75586f46091813b9fa23e3a6a56e53b5d783c93939e8b89a8e74be";

fn b32(hex: &str) -> [u8; 32] {
    parse_bytes32(hex).expect("valid constant")
}

/// The self-test cases: (name, challenge, mapping, vector nonce, vector seal).
fn cases() -> Vec<(&'static str, Challenge, NonceMapping, u64, [u8; 32])> {
    let legacy = |order| Challenge::Legacy {
        block_hash: b32(LEGACY_BLOCK),
        hotkey: b32(LEGACY_HOTKEY),
        seal_order: order,
    };
    let v1 = Challenge::v1(1, b32(V1_BLOCK), b32(V1_HOTKEY), b32(V1_COLDKEY)).expect("netuid 1");
    let v1_mapping = NonceMapping::for_prefix_len(pow_seal::V1_PREFIX_LEN);
    vec![
        (
            "legacy (big-endian)",
            legacy(SealOrder::BigEndian),
            NonceMapping::IDENTITY,
            LEGACY_NONCE,
            b32(LEGACY_SEAL),
        ),
        (
            "legacy (little-endian)",
            legacy(SealOrder::LittleEndian),
            NonceMapping::IDENTITY,
            LEGACY_NONCE,
            b32(LEGACY_SEAL),
        ),
        ("v1", v1.clone(), v1_mapping, V1_NONCE, b32(V1_SEAL)),
        (
            "v1 (identity mapping)",
            v1,
            NonceMapping::IDENTITY,
            V1_NONCE,
            b32(V1_SEAL),
        ),
    ]
}

/// Which self-test check a device failed, and on which case (`legacy`, `v1`, ...).
#[derive(Debug, thiserror::Error)]
pub enum SelfTestError {
    /// The job could not be laid out or loaded, or a launch failed.
    #[error("{case}: {what}: {error}")]
    Device {
        /// The reference case.
        case: &'static str,
        /// The step.
        what: &'static str,
        /// The backend's error.
        error: BackendError,
    },
    /// A seal the device computed differs from the seal library's.
    #[error("{case}: wrong seal for index {index}: device {device}, expected {expected}")]
    WrongSeal {
        /// The reference case.
        case: &'static str,
        /// The index.
        index: u64,
        /// The device's seal, hex.
        device: String,
        /// The seal library's, hex.
        expected: String,
    },
    /// The vector's own seal differs (the library agrees with the device but not the vector).
    #[error("{case}: seal of the reference vector differs")]
    VectorSeal {
        /// The reference case.
        case: &'static str,
    },
    /// A search disagreed with a library scan.
    #[error("{case}: search at difficulty {difficulty} found {found:?} (searched {searched}), the seal library finds {expected:?}")]
    Search {
        /// The reference case.
        case: &'static str,
        /// The difficulty searched at.
        difficulty: u64,
        /// Offset of the device's lowest hit.
        found: Option<u64>,
        /// The device's searched count.
        searched: u64,
        /// Offset of the library's lowest hit.
        expected: Option<u64>,
    },
}

/// Runs the self-test on a launcher. The error says which check failed.
pub fn self_test<L: Launcher + ?Sized>(launcher: &mut L) -> Result<(), SelfTestError> {
    let device = |case: &'static str, what: &'static str| {
        move |error: BackendError| SelfTestError::Device { case, what, error }
    };
    const SPAN: u32 = 64;
    for (name, challenge, mapping, nonce, seal) in cases() {
        // Known seals: a window of indexes around the vector's nonce.
        let job = Job::from_work(&Work::new(challenge.clone(), 1)).with_mapping(mapping);
        let gpu = GpuJob::new(&job).map_err(device(name, "layout"))?;
        launcher
            .load(&gpu)
            .map_err(device(name, "cannot load the job"))?;
        let index = mapping.index(nonce);
        let base = index & !(SPAN as u64 - 1);
        let words = launcher
            .seals(base, SPAN, &gpu.midstate_table(base, SPAN))
            .map_err(device(name, "seal kernel failed"))?;
        for i in 0..SPAN as usize {
            let got = seal_from_words(&words[8 * i..8 * i + 8]);
            let at = base + i as u64;
            let want = job.reference_seal_at(at);
            if got != want {
                return Err(SelfTestError::WrongSeal {
                    case: name,
                    index: at,
                    device: pow_seal::to_hex(&got),
                    expected: pow_seal::to_hex(&want),
                });
            }
            if at == index && got != seal {
                return Err(SelfTestError::VectorSeal { case: name });
            }
        }
        // Searches with real targets, compared with a library scan.
        for (difficulty, start, count, batch) in
            [(1u64, base, 200u64, 64u32), (40, base, 4096, 1000)]
        {
            let job =
                Job::from_work(&Work::new(challenge.clone(), difficulty)).with_mapping(mapping);
            let gpu = GpuJob::new(&job).map_err(device(name, "layout"))?;
            launcher
                .load(&gpu)
                .map_err(device(name, "cannot load the job"))?;
            let outcome =
                drive_search(launcher, &gpu, start, count, batch, &AtomicBool::new(false))
                    .map_err(device(name, "search failed"))?;
            let lowest = (0..count).find(|&i| job.is_met_by(&job.reference_seal_at(start + i)));
            let got = outcome.hits.first().map(|h| h.index - start);
            let want_searched = lowest.map_or(count, |l| l + 1);
            if got != lowest || outcome.searched != want_searched {
                return Err(SelfTestError::Search {
                    case: name,
                    difficulty,
                    found: got,
                    searched: outcome.searched,
                    expected: lowest,
                });
            }
        }
    }
    Ok(())
}

/// Seal bytes from 8 little-endian result words.
pub fn seal_from_words(words: &[u32]) -> [u8; 32] {
    let mut seal = [0u8; 32];
    for (i, w) in words.iter().take(8).enumerate() {
        seal[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    seal
}
