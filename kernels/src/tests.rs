//! Host-side tests of the kernel contract with a CPU model of the kernel.

use super::*;
use pow_backend_api::{BackendError, Device, DeviceInfo, DeviceKind, Job, NonceMapping};
use pow_seal::{Challenge, SealOrder, Work};
use std::sync::atomic::AtomicBool;

/// The kernel's computation in Rust, from the same inputs the device gets.
fn model_seal(job: &GpuJob, index: u64, midstate: &[u32; 8]) -> [u8; 32] {
    let p = &job.params;
    let rot = p[P_ROTATE] & 63;
    let nonce = index.rotate_left(rot);
    let mut st = *midstate;
    for blk in 0..job.layout.blocks as i32 {
        let mut words = [0u32; 16];
        words.copy_from_slice(&p[P_TAIL + 16 * blk as usize..P_TAIL + 16 * blk as usize + 16]);
        for i in 0..8i32 {
            let pos = job.layout.nonce_off + i - 64 * blk;
            if (0..64).contains(&pos) {
                let byte = (nonce >> (8 * i)) as u32 & 0xff;
                words[(pos >> 2) as usize] |= byte << (24 - 8 * (pos & 3));
            }
        }
        pow_seal::sha256::compress_words(&mut st, &words);
    }
    pow_seal::keccak256(&pow_seal::sha256::digest_of_state(&st))
}

fn model_meets(job: &GpuJob, seal: &[u8; 32]) -> bool {
    let be = job.params[P_FLAGS] & 1 != 0;
    let order = if be {
        SealOrder::BigEndian
    } else {
        SealOrder::LittleEndian
    };
    let mut target = [0u64; 4];
    for (i, t) in target.iter_mut().enumerate() {
        *t = job.params[P_TARGET + 2 * i] as u64 | (job.params[P_TARGET + 2 * i + 1] as u64) << 32;
    }
    pow_seal::Target(target).is_met_by(seal, order)
}

/// A launcher that runs the kernel model on the CPU; `corrupt` flips a seal bit of one index.
#[derive(Default)]
struct Model {
    job: Option<GpuJob>,
    slots: [Option<Vec<u32>>; 2],
    launches: Vec<(u64, u32)>,
    corrupt: Option<u64>,
}

/// The kernel's choice of midstate for offset `off` of a launch from `base` (`pow_midstate`).
fn model_midstate(job: &GpuJob, table: &[u32; MIDSTATE_WORDS], base: u64, off: u32) -> [u32; 8] {
    let shift = job.params[P_RUN_SHIFT];
    let k = if shift >= 64 {
        0
    } else {
        ((base.wrapping_add(off as u64) >> shift) - (base >> shift)) as usize
    };
    table[8 * k..8 * k + 8].try_into().unwrap()
}

impl Model {
    fn seal(&self, base: u64, off: u32, table: &[u32; MIDSTATE_WORDS]) -> [u8; 32] {
        let job = self.job.as_ref().unwrap();
        let index = base.wrapping_add(off as u64);
        let mut s = model_seal(job, index, &model_midstate(job, table, base, off));
        if self.corrupt == Some(index) {
            s[31] ^= 0x80;
        }
        s
    }
}

impl Launcher for Model {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            index: 0,
            name: "kernel model".into(),
            kind: DeviceKind::Other,
            compute_units: 1,
            detail: "the kernel's computation in Rust".into(),
        }
    }
    fn batch(&self) -> Result<u32, BackendError> {
        Ok(700)
    }
    fn load(&mut self, job: &GpuJob) -> Result<(), BackendError> {
        self.job = Some(job.clone());
        Ok(())
    }
    fn launch(
        &mut self,
        slot: usize,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<(), BackendError> {
        assert!(self.slots[slot].is_none(), "slot reused while in flight");
        let job = self.job.as_ref().unwrap();
        assert!(
            count as u64 <= job.room(base),
            "launch longer than its room"
        );
        self.launches.push((base, count));
        let mut words = vec![0u32; RESULT_WORDS];
        words[1] = u32::MAX;
        for off in 0..count {
            let seal = self.seal(base, off, midstates);
            if model_meets(job, &seal) {
                let slot = words[0] as usize;
                words[0] += 1;
                if slot < MAX_HITS {
                    words[2 + slot] = off;
                }
                words[1] = words[1].min(off);
            }
        }
        self.slots[slot] = Some(words);
        Ok(())
    }
    fn finish(&mut self, slot: usize) -> Result<Vec<u32>, BackendError> {
        Ok(self.slots[slot].take().expect("finish of an idle slot"))
    }
    fn drain(&mut self) {
        self.slots = [None, None];
    }
    fn seals(
        &mut self,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<Vec<u32>, BackendError> {
        let mut out = Vec::new();
        for off in 0..count {
            let seal = self.seal(base, off, midstates);
            out.extend(
                seal.chunks_exact(4)
                    .map(|c| u32::from_le_bytes(c.try_into().unwrap())),
            );
        }
        Ok(out)
    }
}

fn v1() -> Challenge {
    Challenge::v1(7, [3; 32], [4; 32], [5; 32]).unwrap()
}

fn legacy(order: SealOrder) -> Challenge {
    Challenge::Legacy {
        block_hash: [1; 32],
        hotkey: [2; 32],
        seal_order: order,
    }
}

#[test]
fn layouts_of_the_three_challenges() {
    let l = GpuJob::new(&Job::from_work(&Work::new(legacy(SealOrder::BigEndian), 1))).unwrap();
    assert_eq!((l.layout, l.run_log2), (Layout::LEGACY, 32));
    let f = Challenge::Faucet {
        block_hash: [1; 32],
        coldkey: [2; 32],
    };
    assert_eq!(
        GpuJob::new(&Job::from_work(&Work::new(f, 1)))
            .unwrap()
            .layout,
        Layout::LEGACY
    );
    let v = GpuJob::new(&Job::from_work(&Work::new(v1(), 1))).unwrap();
    assert_eq!((v.layout, v.run_log2), (Layout::V1, 24));
    let vi = Job::from_work(&Work::new(v1(), 1)).with_mapping(NonceMapping::IDENTITY);
    assert_eq!(GpuJob::new(&vi).unwrap().layout, Layout::V1_IDENTITY);
    for layout in Layout::PREBUILT {
        assert!(layout.defines().iter().all(|d| d.starts_with("-DPOW_")));
    }
}

#[test]
fn too_long_messages_are_refused() {
    let job = Job {
        prefix: vec![0u8; 10].into(),
        suffix: vec![0u8; 200].into(),
        seal_big_endian: false,
        target: [u64::MAX; 4],
        mapping: NonceMapping::IDENTITY,
    };
    assert!(GpuJob::new(&job).is_err());
}

#[test]
fn kernel_model_matches_the_seal_library_in_every_layout() {
    let jobs = [
        Job::from_work(&Work::new(legacy(SealOrder::BigEndian), 1)),
        Job::from_work(&Work::new(v1(), 1)),
        Job::from_work(&Work::new(v1(), 1)).with_mapping(NonceMapping::IDENTITY),
        Job::from_work(&Work::new(v1(), 1)).with_mapping(NonceMapping {
            rotate_left_bits: 13,
        }),
        Job {
            prefix: vec![9u8; 70].into(),
            suffix: vec![8u8; 50].into(),
            seal_big_endian: true,
            target: [u64::MAX; 4],
            mapping: NonceMapping::IDENTITY,
        },
    ];
    let mut x = 0x0123_4567_89ab_cdefu64;
    for job in &jobs {
        let gpu = GpuJob::new(job).unwrap();
        for _ in 0..50 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for index in [x, x | 0xffffff, x & !0xffffff, u64::MAX, 0] {
                let ms = gpu.launch_midstate(index);
                assert_eq!(model_seal(&gpu, index, &ms), job.reference_seal_at(index));
            }
        }
    }
}

#[test]
fn decode_results_sorts_and_checks() {
    let mut w = vec![0u32; RESULT_WORDS];
    w[1] = u32::MAX;
    assert_eq!(decode_results(&w, 100).unwrap(), Vec::<u32>::new());
    w[0] = 3;
    w[1] = 5;
    w[2..5].copy_from_slice(&[40, 5, 17]);
    assert_eq!(decode_results(&w, 100).unwrap(), vec![5, 17, 40]);
    // More hits than slots: the stored ones plus the lowest.
    w[0] = 500;
    w[1] = 1;
    for i in 0..MAX_HITS {
        w[2 + i] = 1000 - i as u32;
    }
    let d = decode_results(&w, 2000).unwrap();
    assert_eq!(d.len(), MAX_HITS + 1);
    assert_eq!(d[0], 1);
    assert!(d.windows(2).all(|p| p[0] < p[1]));
    // Inconsistent buffers.
    let mut bad = vec![0u32; RESULT_WORDS];
    bad[1] = 3;
    assert!(decode_results(&bad, 10).is_err());
    bad[0] = 1;
    bad[1] = 10;
    assert!(decode_results(&bad, 10).is_err());
    bad[1] = 2;
    bad[2] = 1;
    assert!(decode_results(&bad, 10).is_err());
    assert!(decode_results(&bad[..10], 10).is_err());
}

fn lowest(job: &Job, start: u64, count: u64) -> Option<u64> {
    (0..count).find(|&i| job.is_met_by(&job.reference_seal_at(start.wrapping_add(i))))
}

#[test]
fn drive_search_reports_the_lowest_hit_and_prefix() {
    let mut m = Model::default();
    for (challenge, mapping) in [
        (legacy(SealOrder::BigEndian), NonceMapping::IDENTITY),
        (legacy(SealOrder::LittleEndian), NonceMapping::IDENTITY),
        (
            v1(),
            NonceMapping {
                rotate_left_bits: 40,
            },
        ),
    ] {
        let job = Job::from_work(&Work::new(challenge, 300)).with_mapping(mapping);
        let gpu = GpuJob::new(&job).unwrap();
        m.load(&gpu).unwrap();
        m.launches.clear();
        // Starts just below a run boundary (2^24 for v1, 2^32 otherwise) and below 2^64.
        for start in [0u64, (1 << 24) - 100, (1 << 32) - 77, u64::MAX - 50] {
            let out =
                drive_search(&mut m, &gpu, start, 3000, 256, &AtomicBool::new(false)).unwrap();
            let want = lowest(&job, start, 3000);
            assert_eq!(out.hits.first().map(|h| h.index.wrapping_sub(start)), want);
            assert_eq!(out.searched, want.map_or(3000, |l| l + 1));
            assert!(out.attempts >= out.searched);
            assert!(out.hits.iter().all(|h| job.verify_hit(h)));
            assert!(out
                .hits
                .windows(2)
                .all(|p| p[0].index.wrapping_sub(start) < p[1].index.wrapping_sub(start)));
        }
        assert!(m.launches.iter().all(|&(b, c)| c as u64 <= gpu.room(b)));
    }
}

#[test]
fn drive_search_without_hits_covers_the_range() {
    let mut m = Model::default();
    let job = Job::from_work(&Work::new(v1(), u64::MAX));
    let gpu = GpuJob::new(&job).unwrap();
    m.load(&gpu).unwrap();
    let out = drive_search(
        &mut m,
        &gpu,
        (1 << 24) - 10,
        1000,
        300,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(
        (out.searched, out.attempts, out.hits.len()),
        (1000, 1000, 0)
    );
    // Launches run across the run boundary (each run has its own midstate in the table).
    assert_eq!(m.launches[0], ((1 << 24) - 10, 300));
    assert_eq!(m.launches[1], ((1 << 24) + 290, 300));
}

#[test]
fn midstate_table_serves_every_run_a_launch_touches() {
    let job = Job::from_work(&Work::new(v1(), 1));
    let gpu = GpuJob::new(&job).unwrap();
    assert_eq!(gpu.run_log2, 24);
    let run = 1u64 << 24;
    let base = 5 * run - 3;
    // The longest launch: the rest of the first run and MAX_RUNS - 1 whole runs.
    let room = gpu.room(base);
    assert_eq!(room, 3 + (MAX_RUNS as u64 - 1) * run);
    let count = u32::try_from(room).unwrap();
    let table = gpu.midstate_table(base, count);
    let mut offsets = vec![0, 1, 2, 3, 4, count - 1];
    for k in 1..MAX_RUNS as u32 {
        let first_of_run = 3 + (k - 1) * run as u32;
        offsets.extend([first_of_run - 1, first_of_run, first_of_run + 7]);
    }
    for off in offsets {
        let index = base + off as u64;
        let ms = model_midstate(&gpu, &table, base, off);
        assert_eq!(
            model_seal(&gpu, index, &ms),
            job.reference_seal_at(index),
            "offset {off}"
        );
    }
    // A launch never crosses 2^64, where indexes wrap.
    assert_eq!(gpu.room(u64::MAX - 5), 6);
    assert_eq!(gpu.room(u64::MAX), 1);
    // Jobs whose host blocks hold no varying nonce bytes share one midstate.
    let legacy = GpuJob::new(&Job::from_work(&Work::new(
        legacy(SealOrder::LittleEndian),
        1,
    )))
    .unwrap();
    assert_eq!(legacy.room(5), (1 << 32) - 5);
    let t = legacy.midstate_table(5, 1000);
    assert!(t[8..].iter().all(|&w| w == 0));
}

#[test]
fn drive_search_stops_when_cancelled() {
    let mut m = Model::default();
    let job = Job::from_work(&Work::new(v1(), u64::MAX));
    let gpu = GpuJob::new(&job).unwrap();
    m.load(&gpu).unwrap();
    let out = drive_search(&mut m, &gpu, 0, 1 << 40, 100, &AtomicBool::new(true)).unwrap();
    assert_eq!((out.searched, out.attempts), (0, 0));
}

#[test]
fn difficulty_one_overflows_the_hit_slots_and_keeps_the_lowest() {
    let mut m = Model::default();
    let job = Job::from_work(&Work::new(legacy(SealOrder::BigEndian), 1));
    let gpu = GpuJob::new(&job).unwrap();
    m.load(&gpu).unwrap();
    let out = drive_search(&mut m, &gpu, 5, 1000, 500, &AtomicBool::new(false)).unwrap();
    assert_eq!(out.searched, 1);
    assert_eq!(out.hits[0].index, 5);
}

#[test]
fn a_wrong_device_seal_is_an_error() {
    let job = Job::from_work(&Work::new(legacy(SealOrder::LittleEndian), 2));
    let gpu = GpuJob::new(&job).unwrap();
    // Find an index that fails, and make the model claim it passes by corrupting its seal
    // until the corrupted seal passes.
    let mut m = Model::default();
    m.load(&gpu).unwrap();
    let idx = (0..1000)
        .find(|&i| {
            let mut s = job.reference_seal_at(i);
            s[31] ^= 0x80;
            !job.is_met_by(&job.reference_seal_at(i)) && job.is_met_by(&s)
        })
        .unwrap();
    m.corrupt = Some(idx);
    let err = drive_search(&mut m, &gpu, idx, 1, 1, &AtomicBool::new(false)).unwrap_err();
    assert!(err.to_string().contains("wrong seals"), "{err}");
}

#[test]
fn self_test_passes_on_the_model_and_catches_a_broken_kernel() {
    let mut good = Model::default();
    self_test(&mut good).unwrap();
    let mut bad = Model {
        corrupt: Some(LEGACY_INDEX_FOR_TEST),
        ..Model::default()
    };
    assert!(self_test(&mut bad).is_err());
}

/// An index inside the first self-test window (legacy vector nonce, identity mapping).
const LEGACY_INDEX_FOR_TEST: u64 = 6123106623631978152 + 1;

#[test]
fn sources_are_complete() {
    let cl = opencl_source();
    assert!(!cl.contains("#include \""));
    assert!(cl.contains("__kernel void pow_search") && cl.contains("pow_sha256_block"));
    let cu = cuda_source();
    assert!(!cu.contains("#include \""));
    assert!(cu.contains("extern \"C\" __global__ void pow_search"));
    assert_eq!(text_hash("abc").len(), 64);
}

#[test]
fn gpu_device_searches_like_the_reference_scan() {
    let mut dev = GpuDevice::new(Model::default());
    let cancel = AtomicBool::new(false);
    assert!(dev.search(0, 10, &cancel).is_err(), "search before set_job");
    for challenge in [
        Challenge::v1(7, [1; 32], [2; 32], [3; 32]).unwrap(),
        Challenge::Legacy {
            block_hash: [4; 32],
            hotkey: [5; 32],
            seal_order: SealOrder::BigEndian,
        },
    ] {
        let job = Job::from_work(&Work::new(challenge, 300));
        dev.set_job(&job).unwrap();
        // Ranges across a run boundary of v1's rotated mapping and across 2^64.
        for start in [0u64, (1 << 24) - 900, u64::MAX - 1200] {
            let got = dev.search(start, 3000, &cancel).unwrap();
            let want = job.reference_search(start, 3000, &cancel);
            assert_eq!(got.searched, want.searched, "start {start}");
            assert_eq!(got.hits.first(), want.hits.first(), "start {start}");
        }
    }
    assert_eq!(dev.info().name.as_str(), "kernel model");
}

/// The self-test's embedded cases are cases of the reference vector files.
#[test]
fn self_test_cases_are_reference_vector_cases() {
    use pow_test_support::vectors::{legacy_seal_vectors, v1_seal_vectors};
    use selftest::*;
    let b = |hex: &str| pow_seal::parse_bytes32(hex).unwrap();
    assert!(legacy_seal_vectors().iter().any(|c| {
        (c.block_hash, c.hotkey, c.nonce, c.seal)
            == (
                b(LEGACY_BLOCK),
                b(LEGACY_HOTKEY),
                LEGACY_NONCE,
                b(LEGACY_SEAL),
            )
    }));
    assert!(v1_seal_vectors().iter().any(|c| {
        (c.netuid, c.block_hash, c.hotkey, c.coldkey, c.nonce, c.seal)
            == (
                1,
                b(V1_BLOCK),
                b(V1_HOTKEY),
                b(V1_COLDKEY),
                V1_NONCE,
                b(V1_SEAL),
            )
    }));
}
