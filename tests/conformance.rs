//! One conformance suite run against every backend built in this workspace
//! (`libpow_backend_*` in the build folder) and every device it offers.
//!
//! A backend that offers no device here (CUDA without a driver, OpenCL without a runtime) is
//! reported and skipped; every backend that offers a device must pass every vector.

use pow_backend_api::{Hit, Job, NonceMapping, Options};
use pow_host::plugins::{load_file, OpenDevice};
use pow_seal::Work;
use pow_test_support::{seal_cases, solve_cases, workspace_backend_files};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Every device of every workspace backend, opened with default options.
fn all_devices() -> Vec<OpenDevice> {
    let files = workspace_backend_files();
    assert!(
        !files.is_empty(),
        "no backend libraries in the build folder: run `cargo build --workspace --release`"
    );
    let mut devices = Vec::new();
    for file in files {
        let plugin = load_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let options = Options::default();
        let listed = plugin
            .list_devices(&options)
            .unwrap_or_else(|e| panic!("{}: list_devices failed: {e}", plugin.name));
        if listed.is_empty() {
            eprintln!(
                "conformance: backend `{}` offers no device here ({}); skipped",
                plugin.name,
                plugin
                    .unavailable_reason(&options)
                    .unwrap_or_else(|| "no reason given".into())
            );
        }
        for info in listed {
            let dev = plugin
                .open_device(info.index, &options)
                .unwrap_or_else(|e| panic!("{}:{} open failed: {e}", plugin.name, info.index));
            devices.push(dev);
        }
        // Plugins stay loaded for the life of the process (abi_stable leaks them on purpose).
        std::mem::forget(plugin);
    }
    assert!(!devices.is_empty(), "no backend offered any device");
    devices
}

fn search_all(dev: &mut OpenDevice, start: u64, count: u64) -> pow_backend_api::SearchOutcome {
    let cancel = AtomicBool::new(false);
    dev.search(start, count, &cancel)
        .unwrap_or_else(|e| panic!("{}: search failed: {e}", dev.label()))
}

fn lowest_hit(dev: &OpenDevice, job: &Job, start: u64, hits: &[Hit]) -> Option<Hit> {
    for h in hits {
        assert!(
            job.verify_hit(h),
            "{}: reported a hit that fails verification: {h:?}",
            dev.label()
        );
    }
    hits.iter()
        .copied()
        .min_by_key(|h| h.index.wrapping_sub(start))
}

#[test]
fn every_solve_vector_on_every_device() {
    for mut dev in all_devices() {
        for case in solve_cases() {
            let job = Job::from_work(&case.work).with_mapping(NonceMapping::IDENTITY);
            dev.set_job(&job).unwrap();
            let distance = case.first_nonce.wrapping_sub(case.nonce_start);
            let count = distance + 1 + 4096;
            let out = search_all(&mut dev, case.nonce_start, count);
            let hit = lowest_hit(&dev, &job, case.nonce_start, &out.hits).unwrap_or_else(|| {
                panic!(
                    "{}: {}: no hit in {count} indexes from {}",
                    dev.label(),
                    case.label,
                    case.nonce_start
                )
            });
            assert_eq!(
                hit.nonce,
                case.first_nonce,
                "{}: {} (difficulty {})",
                dev.label(),
                case.label,
                case.work.difficulty
            );
            assert_eq!(hit.seal, case.seal, "{}: {}", dev.label(), case.label);
            assert!(
                out.searched > distance && out.searched <= count,
                "{}: {}: searched {} must cover the hit at offset {distance}",
                dev.label(),
                case.label,
                out.searched
            );
            assert!(out.attempts >= out.searched);
        }
    }
}

#[test]
fn every_seal_vector_on_every_device() {
    for mut dev in all_devices() {
        for case in seal_cases() {
            for &(difficulty, passes) in &case.meets {
                let work = Work::new(case.challenge.clone(), difficulty);
                let job = Job::from_work(&work).with_mapping(NonceMapping::IDENTITY);
                dev.set_job(&job).unwrap();
                let out = search_all(&mut dev, case.nonce, 1);
                assert_eq!(out.searched, 1, "{}: {}", dev.label(), case.label);
                let hit = lowest_hit(&dev, &job, case.nonce, &out.hits);
                assert_eq!(
                    hit.is_some(),
                    passes,
                    "{}: {} at difficulty {difficulty}",
                    dev.label(),
                    case.label
                );
                if let Some(h) = hit {
                    assert_eq!((h.nonce, h.seal), (case.nonce, case.seal));
                }
            }
        }
    }
}

/// With the canonical (rotated, for v1) mapping, a device must find the first passing index
/// in index order, which the seal library finds by scanning the same order.
#[test]
fn canonical_mapping_finds_first_index() {
    let cases: Vec<_> = solve_cases()
        .into_iter()
        .filter(|c| (1000..=100_000).contains(&c.work.difficulty))
        .collect();
    for mut dev in all_devices() {
        for case in &cases {
            let job = Job::from_work(&case.work);
            // Start just below a 2^24 boundary so v1 runs cross a change of block-2 bytes.
            let start = (job.mapping.index(case.nonce_start) | 0xff_ffff).wrapping_sub(5000);
            let expected = (0u64..)
                .map(|i| start.wrapping_add(i))
                .find(|&i| job.is_met_by(&job.reference_seal_at(i)))
                .unwrap();
            dev.set_job(&job).unwrap();
            let count = expected.wrapping_sub(start) + 1;
            let out = search_all(&mut dev, start, count);
            let hit = lowest_hit(&dev, &job, start, &out.hits)
                .unwrap_or_else(|| panic!("{}: {}: no hit", dev.label(), case.label));
            assert_eq!(hit.index, expected, "{}: {}", dev.label(), case.label);
            assert_eq!(hit.nonce, job.mapping.nonce(expected));
        }
    }
}

/// A cancelled search returns early and reports a searched prefix that, resumed, leads to the
/// same first hit as an uninterrupted search.
#[test]
fn cancel_stops_early_and_resumes_exactly() {
    let case = solve_cases()
        .into_iter()
        .find(|c| c.work.difficulty == 2_000_000 && c.label.starts_with("v1"))
        .unwrap();
    for mut dev in all_devices() {
        let job = Job::from_work(&case.work).with_mapping(NonceMapping::IDENTITY);
        dev.set_job(&job).unwrap();
        let cancel = AtomicBool::new(false);
        let huge = 1u64 << 40;
        let out = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                cancel.store(true, Ordering::Relaxed);
            });
            dev.search(case.nonce_start, huge, &cancel).unwrap()
        });
        assert!(
            out.searched < huge,
            "{}: a cancelled search must return early",
            dev.label()
        );
        let mut start = case.nonce_start;
        let mut first = lowest_hit(&dev, &job, start, &out.hits)
            .filter(|h| h.index.wrapping_sub(start) < out.searched);
        start = start.wrapping_add(out.searched);
        while first.is_none() {
            let out = search_all(&mut dev, start, 1 << 20);
            first = lowest_hit(&dev, &job, start, &out.hits);
            start = start.wrapping_add(out.searched);
        }
        assert_eq!(first.unwrap().nonce, case.first_nonce, "{}", dev.label());
    }
}
