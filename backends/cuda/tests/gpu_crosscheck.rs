//! GPU-only: seals of 10^6 random nonce indexes per challenge (legacy, faucet, v1 with its
//! canonical and the identity mapping), computed by the seal kernel and compared one by one
//! with the seal library; and a search at difficulty 1,000 from random starts compared with a
//! library scan. Skips with a message when no CUDA device exists (CI).

use pow_backend_api::{Job, NonceMapping, Options};
use pow_backend_cuda::{driver_status, open_cuda_launcher};
use pow_gpu_kernels::{drive_search, seal_from_words, GpuJob, Launcher};
use pow_seal::{Challenge, SealOrder, Work};
use rand::{Rng, SeedableRng};
use std::sync::atomic::AtomicBool;

fn challenges(rng: &mut impl Rng) -> Vec<(Challenge, NonceMapping)> {
    let v1 = Challenge::v1(rng.gen_range(1..u16::MAX), rng.gen(), rng.gen(), rng.gen()).unwrap();
    let v1_mapping = NonceMapping::for_prefix_len(pow_seal::V1_PREFIX_LEN);
    vec![
        (
            Challenge::Legacy {
                block_hash: rng.gen(),
                hotkey: rng.gen(),
                seal_order: SealOrder::BigEndian,
            },
            NonceMapping::IDENTITY,
        ),
        (
            Challenge::Faucet {
                block_hash: rng.gen(),
                coldkey: rng.gen(),
            },
            NonceMapping::IDENTITY,
        ),
        (v1.clone(), v1_mapping),
        (v1, NonceMapping::IDENTITY),
    ]
}

#[test]
fn a_million_random_seals_per_challenge_match_the_library() {
    if let Err(reason) = driver_status() {
        eprintln!("SKIPPED: no CUDA device: {reason}");
        return;
    }
    let mut dev = open_cuda_launcher(0, &Options::default()).expect("open CUDA device 0");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_c0da);
    const WINDOW: u32 = 1000;
    for (challenge, mapping) in challenges(&mut rng) {
        let job = Job::from_work(&Work::new(challenge, 1)).with_mapping(mapping);
        let gpu = GpuJob::new(&job).unwrap();
        dev.load(&gpu).unwrap();
        for n in 0..1000 {
            // Every fourth window straddles a run boundary of v1's canonical mapping (2^24
            // indexes), where the kernel switches to the next midstate of the table.
            let x = rng.gen::<u64>() >> 1;
            let base = if n % 4 == 0 {
                (x | 0xff_ffff) - 500
            } else {
                x & !1023
            };
            let words = dev
                .seals(base, WINDOW, &gpu.midstate_table(base, WINDOW))
                .unwrap();
            for i in 0..WINDOW as usize {
                let index = base + i as u64;
                assert_eq!(
                    seal_from_words(&words[8 * i..8 * i + 8]),
                    job.reference_seal_at(index),
                    "index {index} mapping {mapping:?}"
                );
            }
        }
    }
}

#[test]
fn searches_from_random_starts_match_a_library_scan() {
    if let Err(reason) = driver_status() {
        eprintln!("SKIPPED: no CUDA device: {reason}");
        return;
    }
    let mut dev = open_cuda_launcher(0, &Options::default()).expect("open CUDA device 0");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (challenge, mapping) in challenges(&mut rng) {
        let job = Job::from_work(&Work::new(challenge, 1000)).with_mapping(mapping);
        let gpu = GpuJob::new(&job).unwrap();
        dev.load(&gpu).unwrap();
        for _ in 0..20 {
            let start: u64 = rng.gen();
            let out =
                drive_search(&mut dev, &gpu, start, 50_000, 4096, &AtomicBool::new(false)).unwrap();
            let want = (0..50_000u64)
                .find(|&i| job.is_met_by(&job.reference_seal_at(start.wrapping_add(i))));
            assert_eq!(out.hits.first().map(|h| h.index.wrapping_sub(start)), want);
            assert_eq!(out.searched, want.map_or(50_000, |w| w + 1));
        }
    }
}
