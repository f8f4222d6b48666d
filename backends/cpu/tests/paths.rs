//! Every CPU path against the reference vectors and the seal library.

use pow_backend_api::{Job, NonceMapping};
use pow_backend_cpu::prepared::PreparedJob;
use pow_backend_cpu::{available_paths, Path};
use pow_seal::{Challenge, SealOrder, Work};
use pow_test_support::vectors::{legacy_solve_vectors, v1_solve_vectors};
use proptest::prelude::*;

/// Scans upward from `start` with `path` in chunks, as a device would, and returns the first
/// hit's nonce after checking it with the seal library.
fn first_hit(path: &Path, job: &Job, start: u64) -> u64 {
    let prepared = PreparedJob::new(job);
    let chunk = 1000; // not a multiple of any lane count
    let mut base = start;
    loop {
        if let Some(hit) = (path.search)(&prepared, base, chunk) {
            assert!(job.verify_hit(&hit), "path {}: bad hit {hit:?}", path.name);
            return hit.nonce;
        }
        base += chunk;
        assert!(base - start < 50_000_000, "path {}: no hit", path.name);
    }
}

#[test]
fn legacy_solve_vectors_on_every_path() {
    let cases = legacy_solve_vectors();
    assert!(!cases.is_empty());
    for path in available_paths() {
        for case in &cases {
            for order in [SealOrder::BigEndian, SealOrder::LittleEndian] {
                let work = Work::new(case.challenge(order), case.difficulty);
                let job = Job::from_work(&work).with_mapping(NonceMapping::IDENTITY);
                let got = first_hit(&path, &job, case.nonce_start);
                assert_eq!(
                    got,
                    case.first_in(order).0,
                    "path {} {}",
                    path.name,
                    order.as_str()
                );
            }
        }
    }
}

#[test]
fn v1_solve_vectors_on_every_path() {
    let cases = v1_solve_vectors();
    assert!(!cases.is_empty());
    for path in available_paths() {
        for case in &cases {
            let job = Job::from_work(&case.work()).with_mapping(NonceMapping::IDENTITY);
            let got = first_hit(&path, &job, case.nonce_start);
            assert_eq!(got, case.first_nonce, "path {}", path.name);
        }
    }
}

/// A job over arbitrary bytes.
fn job_of(prefix: Vec<u8>, suffix: Vec<u8>, be: bool, target: [u64; 4], rot: u32) -> Job {
    Job {
        prefix: prefix.into(),
        suffix: suffix.into(),
        seal_big_endian: be,
        target,
        mapping: NonceMapping {
            rotate_left_bits: rot,
        },
    }
}

/// The lowest passing index in `[start, start + count)` by the seal library.
fn reference_first(job: &Job, start: u64, count: u64) -> Option<u64> {
    (0..count)
        .map(|i| start.wrapping_add(i))
        .find(|&i| job.is_met_by(&job.reference_seal_at(i)))
}

/// Top seal words of one batch from each SIMD path, against the seal library.
fn check_top_words(job: &Job, base: u64) {
    let prepared = PreparedJob::new(job);
    for (name, words) in simd_top_words(&prepared, base) {
        for (l, w) in words.iter().enumerate() {
            let index = base.wrapping_add(l as u64);
            let seal = job.reference_seal_at(index);
            assert_eq!(
                *w,
                job.seal_order().top_word(&seal),
                "path {name} lane {l} index {index:#x}"
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn simd_top_words(job: &PreparedJob, base: u64) -> Vec<(&'static str, Vec<u64>)> {
    use pow_backend_cpu::x86;
    let mut out = Vec::new();
    for (name, f) in [
        (
            "avx512",
            x86::avx512::top_words as fn(&PreparedJob, u64) -> Option<Vec<u64>>,
        ),
        ("avx2", x86::avx2::top_words),
        ("shani-avx512", x86::shani::avx512::top_words),
        ("shani-avx2", x86::shani::avx2::top_words),
    ] {
        if let Some(w) = f(job, base) {
            out.push((name, w));
        }
    }
    out
}

#[cfg(target_arch = "aarch64")]
fn simd_top_words(job: &PreparedJob, base: u64) -> Vec<(&'static str, Vec<u64>)> {
    pow_backend_cpu::arm::top_words(job, base)
        .map(|w| vec![("arm-sha2", w)])
        .unwrap_or_default()
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn simd_top_words(_job: &PreparedJob, _base: u64) -> Vec<(&'static str, Vec<u64>)> {
    Vec::new()
}

fn v1_prefix(seed: u8) -> Vec<u8> {
    let c = Challenge::v1(
        7 + seed as u16,
        [seed; 32],
        [seed.wrapping_add(1); 32],
        [3; 32],
    )
    .unwrap();
    c.prefix()
}

#[test]
fn top_words_match_reference_on_v1_layout_and_boundaries() {
    for be in [false, true] {
        for rot in [0u32, 40] {
            let job = job_of(v1_prefix(1), Vec::new(), be, [u64::MAX; 4], rot);
            for base in [
                0u64,
                5,
                (1 << 24) - 7,  // a batch that crosses a 2^24 boundary
                (3 << 24) - 16, // ends exactly at one
                u64::MAX - 9,   // wraps around
                0x0123_4567_89ab_cdef,
            ] {
                check_top_words(&job, base);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random layouts: every path's first hit equals the seal library's.
    #[test]
    fn paths_agree_with_seal_library(
        prefix_len in prop_oneof![Just(123usize), Just(0usize), 0usize..200],
        suffix_len in prop_oneof![Just(32usize), Just(0usize), 0usize..100],
        seed in any::<u8>(),
        be in any::<bool>(),
        rot in prop_oneof![Just(0u32), Just(40u32), 0u32..64],
        start in prop_oneof![
            any::<u64>(),
            (0u64..8).prop_map(|k| (k << 24).wrapping_sub(100)),
            Just(u64::MAX - 50),
        ],
        top in prop_oneof![Just(u64::MAX / 2), Just(u64::MAX / 64), any::<u64>()],
        count in 1u64..300,
    ) {
        let prefix: Vec<u8> = (0..prefix_len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        let suffix: Vec<u8> = (0..suffix_len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect();
        let target = [u64::MAX, 0x5555_5555_5555_5555, seed as u64 * 0x0101_0101_0101_0101, top];
        let job = job_of(prefix, suffix, be, target, rot);
        let prepared = PreparedJob::new(&job);
        let expected = reference_first(&job, start, count);
        for path in available_paths() {
            let got = (path.search)(&prepared, start, count);
            prop_assert_eq!(got.map(|h| h.index), expected, "path {}", path.name);
            if let Some(hit) = got {
                prop_assert!(job.verify_hit(&hit));
            }
        }
        check_top_words(&job, start);
    }
}

#[test]
fn parallel_search_keeps_outcome_semantics() {
    use pow_backend_cpu::parallel_search;
    use std::sync::atomic::AtomicBool;
    // Difficulty 300: roughly one hit every 300 attempts.
    let work = Work::new(Challenge::v1(3, [9; 32], [8; 32], [7; 32]).unwrap(), 300);
    let job = Job::from_work(&work);
    let prepared = PreparedJob::new(&job);
    let cancel = AtomicBool::new(false);
    for path in available_paths() {
        for threads in [1, 2, 3] {
            for start in [0u64, (1 << 24) - 20_000] {
                let count = 100_000;
                let out = parallel_search(&prepared, path.search, threads, start, count, &cancel);
                let first = reference_first(&job, start, 5_000).expect("a hit in 5000");
                assert_eq!(
                    out.hits[0].index, first,
                    "path {} threads {threads}",
                    path.name
                );
                assert!(out.searched > first - start && out.searched <= count);
                assert!(out.attempts >= out.searched);
                assert!(out.hits.windows(2).all(|w| w[0].index < w[1].index));
                assert!(out.hits.iter().all(|h| job.verify_hit(h)));
            }
        }
        // Nothing passes: the whole range is searched.
        let hard = Job::from_work(&Work::new(work.challenge.clone(), u64::MAX));
        let hard_prepared = PreparedJob::new(&hard);
        let out = parallel_search(&hard_prepared, path.search, 2, 5, 50_000, &cancel);
        assert_eq!(
            (out.searched, out.attempts, out.hits.len()),
            (50_000, 50_000, 0)
        );
    }
    let cancelled = AtomicBool::new(true);
    let out = parallel_search(
        &prepared,
        available_paths()[0].search,
        2,
        0,
        1 << 20,
        &cancelled,
    );
    assert_eq!(out.searched, 0);
    assert!(out.hits.is_empty());
}

#[test]
fn paths_can_be_forced_by_name() {
    use pow_backend_api::Options;
    use pow_backend_cpu::choose::{choose, Source};
    let paths = available_paths();
    assert_eq!(paths.last().unwrap().name, "portable");
    for p in &paths {
        let mut options = Options::default();
        options.set("path", p.name);
        let choice = choose(&options).unwrap();
        assert_eq!((choice.path.name, choice.source), (p.name, Source::Forced));
    }
    let mut options = Options::default();
    options.set("path", "avx9000");
    let err = choose(&options).err().expect("unknown path refused");
    assert!(err.to_string().contains("portable"), "{err}");
}
