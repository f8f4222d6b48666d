//! The CUDA dialect checked without a GPU: kernels/pow.cu is compiled for the host with the
//! PTX instructions it uses (shf.l/shf.r funnel shifts, lop3 truth tables, prmt, atomics)
//! modelled in C++ from their PTX ISA definitions (`POW_HOST_EMULATION` in
//! kernels/dialect_cuda.h), then run on the CPU in every prebuilt layout; its seals and
//! result buffers are compared with the seal library. This verifies the 32-bit-pair Keccak,
//! the lop3 immediates, the byte swaps and the hit recording; it cannot verify the GPU's own
//! execution of the PTX. Skips with a message when no C++ compiler is installed.

use pow_backend_api::{Job, NonceMapping};
use pow_gpu_kernels::{decode_results, seal_from_words, GpuJob, Layout};
use pow_seal::{Challenge, SealOrder, Work};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn compiler() -> Option<String> {
    let candidates = match std::env::var("POW_CXX") {
        Ok(c) => vec![c],
        Err(_) => ["clang++-19", "clang++", "g++", "c++"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn build(cxx: &str, layout: Layout, dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = dir.join(format!("emu_{}", layout.key()));
    let out = Command::new(cxx)
        .args(["-x", "c++", "-std=c++17", "-O2", "-DPOW_HOST_EMULATION"])
        .args(layout.defines())
        .arg("-I")
        .arg(root.join("../../kernels"))
        .arg(root.join("tests/emulation/main.cpp"))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cxx} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run(exe: &Path, mode: u32, gpu: &GpuJob, base: u64, count: u32) -> Vec<u32> {
    let mut input = format!("{mode}\n");
    for w in gpu.params {
        input.push_str(&format!("{w}\n"));
    }
    input.push_str(&format!("{base}\n{count}\n"));
    for w in gpu.midstate_table(base, count) {
        input.push_str(&format!("{w}\n"));
    }
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn cuda_dialect_on_the_host_matches_the_seal_library() {
    let Some(cxx) = compiler() else {
        eprintln!("SKIPPED: no C++ compiler (clang++ or g++) to build the emulation");
        return;
    };
    let dir = std::env::temp_dir().join(format!("pow-cuda-emu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let v1 = Challenge::v1(77, [0x11; 32], [0x22; 32], [0x33; 32]).unwrap();
    let legacy = |order| Challenge::Legacy {
        block_hash: [0x44; 32],
        hotkey: [0x55; 32],
        seal_order: order,
    };
    let cases = [
        (legacy(SealOrder::BigEndian), NonceMapping::IDENTITY),
        (legacy(SealOrder::LittleEndian), NonceMapping::IDENTITY),
        (
            v1.clone(),
            NonceMapping::for_prefix_len(pow_seal::V1_PREFIX_LEN),
        ),
        (v1, NonceMapping::IDENTITY),
    ];
    let mut built = std::collections::HashMap::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for (challenge, mapping) in cases {
        for difficulty in [1u64, 50] {
            let job =
                Job::from_work(&Work::new(challenge.clone(), difficulty)).with_mapping(mapping);
            let gpu = GpuJob::new(&job).unwrap();
            let exe = built
                .entry(gpu.layout)
                .or_insert_with(|| build(&cxx, gpu.layout, &dir))
                .clone();
            for _ in 0..4 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Half of the launches straddle a run boundary of v1's canonical mapping (2^24
                // indexes), so the kernel must pick the second midstate of the table.
                let base = if x & 1 == 0 {
                    x & !0xfff
                } else {
                    ((x >> 1) | 0xff_ffff) - 500
                };
                let count = 1000u32;
                // Seals.
                let words = run(&exe, 0, &gpu, base, count);
                for i in 0..count as usize {
                    let index = base + i as u64;
                    assert_eq!(
                        seal_from_words(&words[8 * i..8 * i + 8]),
                        job.reference_seal_at(index),
                        "{mapping:?} index {index}"
                    );
                }
                // Search results: every passing offset (up to the slots) and the lowest.
                let res = run(&exe, 1, &gpu, base, count);
                let got = decode_results(&res, count).unwrap();
                let want: Vec<u32> = (0..count)
                    .filter(|&o| job.is_met_by(&job.reference_seal_at(base + o as u64)))
                    .collect();
                assert_eq!(res[0] as usize, want.len());
                assert_eq!(got.first(), want.first());
                if want.len() <= pow_gpu_kernels::MAX_HITS {
                    assert_eq!(got, want);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
