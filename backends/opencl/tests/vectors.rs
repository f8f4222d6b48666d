//! Every reference vector through the OpenCL backend on the first OpenCL device of this
//! machine (PoCL in CI): the solve vectors as searches from `nonce_start` with the identity
//! mapping (legacy in both seal orders), the same searches with each challenge's canonical
//! mapping where it differs, and the seal vectors as difficulty-1 searches of one index.
//! Skips with a message when no OpenCL device exists.

use pow_backend_api::{Backend, Device, Job, NonceMapping, Options};
use pow_backend_opencl::OpenClBackend;
use pow_seal::{parse_bytes32, Challenge, SealOrder, Work};
use serde_json::Value;
use std::sync::atomic::AtomicBool;

fn load(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/../../tests/data/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v.as_array().unwrap().clone()
}

fn b32(v: &Value) -> [u8; 32] {
    parse_bytes32(v.as_str().unwrap()).unwrap()
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap()
}

fn legacy(case: &Value, order: SealOrder) -> Challenge {
    Challenge::Legacy {
        block_hash: b32(&case["block_hash"]),
        hotkey: b32(&case["hotkey_pubkey"]),
        seal_order: order,
    }
}

fn v1(case: &Value) -> Challenge {
    Challenge::v1(
        case["netuid"].as_u64().unwrap() as u16,
        b32(&case["block_hash"]),
        b32(&case["hotkey_pubkey"]),
        b32(&case["coldkey_pubkey"]),
    )
    .unwrap()
}

fn device() -> Option<Box<dyn Device>> {
    let backend = OpenClBackend;
    let options = Options::default();
    let devices = backend.list_devices(&options).unwrap();
    if devices.is_empty() {
        eprintln!(
            "SKIPPED: no OpenCL device: {}",
            backend.unavailable_reason(&options).unwrap_or_default()
        );
        return None;
    }
    Some(
        backend
            .open_device(0, &options)
            .expect("open OpenCL device 0"),
    )
}

/// Searches from `start` until the first hit; returns its index and seal.
fn first_hit(dev: &mut dyn Device, job: &Job, start: u64) -> (u64, [u8; 32]) {
    dev.set_job(job).unwrap();
    let cancel = AtomicBool::new(false);
    let mut at = start;
    loop {
        let out = dev.search(at, 1 << 22, &cancel).unwrap();
        assert!(out.searched > 0);
        if let Some(hit) = out.hits.first() {
            assert!(job.verify_hit(hit));
            assert_eq!(out.searched, hit.index.wrapping_sub(at) + 1);
            return (hit.index, hit.seal);
        }
        at = at.wrapping_add(out.searched);
    }
}

#[test]
fn solve_vectors_legacy_both_orders() {
    let Some(mut dev) = device() else { return };
    for case in load("solve_vectors.json") {
        let d = u64_of(&case["difficulty"]);
        let start = u64_of(&case["nonce_start"]);
        for (order, nonce_field, seal_field) in [
            (SealOrder::BigEndian, "first_nonce", "seal"),
            (
                SealOrder::LittleEndian,
                "first_nonce_runtime_le",
                "seal_runtime_le",
            ),
        ] {
            let job = Job::from_work(&Work::new(legacy(&case, order), d))
                .with_mapping(NonceMapping::IDENTITY);
            let (nonce, seal) = first_hit(dev.as_mut(), &job, start);
            assert_eq!(nonce, u64_of(&case[nonce_field]), "d={d} {order:?}");
            assert_eq!(seal, b32(&case[seal_field]), "d={d} {order:?}");
        }
    }
}

#[test]
fn solve_vectors_v1() {
    let Some(mut dev) = device() else { return };
    for case in load("pow_register_v1_solve_vectors.json") {
        let d = u64_of(&case["difficulty"]);
        let start = u64_of(&case["nonce_start"]);
        let work = Work::new(v1(&case), d);
        let job = Job::from_work(&work).with_mapping(NonceMapping::IDENTITY);
        let (nonce, seal) = first_hit(dev.as_mut(), &job, start);
        assert_eq!(nonce, u64_of(&case["first_nonce"]), "d={d}");
        assert_eq!(seal, b32(&case["seal"]), "d={d}");
        // The canonical mapping (rotation 40): the vector's nonce is found from its own index.
        let job = Job::from_work(&work);
        let index = job.mapping.index(nonce);
        let (found, seal) = first_hit(dev.as_mut(), &job, index);
        assert_eq!(
            (job.mapping.nonce(found), seal),
            (nonce, b32(&case["seal"]))
        );
    }
}

#[test]
fn seal_vectors_as_one_index_searches() {
    let Some(mut dev) = device() else { return };
    let cancel = AtomicBool::new(false);
    let mut checked = 0;
    for (file, is_v1) in [
        ("seal_vectors.json", false),
        ("pow_register_v1_seal_vectors.json", true),
    ] {
        for case in load(file) {
            let nonce = u64_of(&case["nonce"]);
            let challenge = if is_v1 {
                v1(&case)
            } else {
                legacy(&case, SealOrder::BigEndian)
            };
            let job = Job::from_work(&Work::new(challenge, 1)).with_mapping(NonceMapping::IDENTITY);
            dev.set_job(&job).unwrap();
            let out = dev.search(nonce, 1, &cancel).unwrap();
            assert_eq!(out.searched, 1);
            assert_eq!(out.hits.len(), 1);
            assert_eq!(out.hits[0].nonce, nonce);
            assert_eq!(out.hits[0].seal, b32(&case["seal"]), "{file} nonce {nonce}");
            checked += 1;
        }
    }
    assert_eq!(checked, 101 + 48);
}

#[test]
fn selection_over_many_launches_and_cancel() {
    let Some(mut dev) = device() else { return };
    // No hit possible: the whole range is covered, in several launches.
    let c = Challenge::v1(3, [7; 32], [8; 32], [9; 32]).unwrap();
    let job = Job::from_work(&Work::new(c, u64::MAX));
    dev.set_job(&job).unwrap();
    let start = (1u64 << 24) - 5000;
    let out = dev.search(start, 300_000, &AtomicBool::new(false)).unwrap();
    assert_eq!(out.searched, 300_000);
    assert!(out.hits.is_empty());
    // A cancelled search does nothing and says so.
    let out = dev.search(0, 1 << 40, &AtomicBool::new(true)).unwrap();
    assert_eq!(out.searched, 0);
}
