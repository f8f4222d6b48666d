//! Checks of the CUDA kernels with NVIDIA's offline tools, which need no GPU and no driver:
//!
//! * ptxas assembles every prebuilt PTX module for its architecture, exactly as the driver's
//!   JIT would, with no stack frame, no spills and a register count that leaves room for
//!   enough warps per SM;
//! * NVRTC compiles the embedded source for every prebuilt layout (the plugin's fallback), and
//!   its PTX assembles under the same rules;
//! * the Hopper SASS of the search kernel stays within its instruction budget per attempt.
//!
//! The tools come from `POW_CUDA_TOOLS` (a folder made by `scripts/fetch-cuda-tools.sh`) or
//! from `PATH`. Without them every test here skips with a message, unless
//! `POW_REQUIRE_CUDA_TOOLS=1` (set by CI after fetching them), which turns a skip into a failure.

use pow_backend_cuda::{nvrtc, prebuilt_for, PREBUILT_PTX, PTX_NOTE};
use pow_gpu_kernels::{KeccakShape, Layout};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Most registers per thread the search kernel may use: 96 leaves 21 warps per SM on sm_70 to
/// sm_90 (64 K registers), enough to hide the ALU latency of this kernel.
const MAX_REGISTERS: u32 = 96;

/// Keccak-f rounds run by the kernel's round loop when it is built with `POW_KECCAK_LOOP`
/// (rounds 1 to 22; round 0 and the trimmed round 23 are straight-line code).
const LOOP_ROUNDS: usize = 22;

/// Funnel shifts of one full Keccak round on 32-bit lane pairs: 10 for theta, 48 for rho.
const SHIFTS_PER_ROUND: usize = 58;

/// Budget of SASS instructions per attempt (sm_90) for each prebuilt layout: the count
/// measured when the budget was set plus about 2%, so that a change that makes the kernel
/// slower fails here first. docs/performance.md has the counts and the model behind them.
fn budget(layout: Layout) -> usize {
    match layout {
        l if l == Layout::LEGACY => 5730,
        l if l == Layout::V1 => 5670,
        _ => 7100,
    }
}

fn required() -> bool {
    std::env::var("POW_REQUIRE_CUDA_TOOLS").is_ok_and(|v| v == "1")
}

/// Skips (returns `None`) or fails, by `POW_REQUIRE_CUDA_TOOLS`, with a reason.
fn skip<T>(why: &str) -> Option<T> {
    assert!(!required(), "POW_REQUIRE_CUDA_TOOLS=1 but {why}");
    eprintln!("SKIPPED: {why} (run scripts/fetch-cuda-tools.sh and set POW_CUDA_TOOLS)");
    None
}

/// A tool from `POW_CUDA_TOOLS/bin`, else from `PATH`.
fn tool(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("POW_CUDA_TOOLS") {
        let p = Path::new(&dir).join("bin").join(name);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// [`tool`], or a skip (a failure under `POW_REQUIRE_CUDA_TOOLS=1`) when it is missing.
fn tool_or_skip(name: &str) -> Option<PathBuf> {
    tool(name).or_else(|| skip(&format!("{name} not found")))
}

/// Whether the build made prebuilt PTX (clang was found); skips, or fails under
/// `POW_REQUIRE_CUDA_TOOLS=1`, when it did not.
fn have_prebuilt() -> bool {
    if !PREBUILT_PTX.is_empty() {
        return true;
    }
    assert!(!required(), "no prebuilt PTX: {PTX_NOTE}");
    eprintln!("SKIPPED: {PTX_NOTE}");
    false
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pow-cuda-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// What ptxas -v reports for one entry point.
#[derive(Debug, Default)]
struct EntryReport {
    name: String,
    registers: u32,
    stack: u32,
    spill_stores: u32,
    spill_loads: u32,
}

/// Number before `unit` in `line` ("0 bytes spill stores" → 0).
fn number_before(line: &str, unit: &str) -> Option<u32> {
    let head = &line[..line.find(unit)?];
    head.split_whitespace().last()?.parse().ok()
}

fn parse_ptxas_report(text: &str) -> Vec<EntryReport> {
    let mut out: Vec<EntryReport> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or("").to_string();
            out.push(EntryReport {
                name,
                ..Default::default()
            });
        } else if let Some(entry) = out.last_mut() {
            if line.contains("bytes stack frame") {
                entry.stack = number_before(line, "bytes stack frame").unwrap();
                entry.spill_stores = number_before(line, "bytes spill stores").unwrap();
                entry.spill_loads = number_before(line, "bytes spill loads").unwrap();
            } else if line.contains("Used ") && line.contains(" registers") {
                entry.registers = number_before(line, "registers").unwrap();
            }
        }
    }
    out
}

/// Assembles `ptx` for `sm_<sm>` with ptxas -v, checks the report and returns the cubin path.
fn assemble(ptxas: &Path, ptx: &str, sm: u32, what: &str) -> PathBuf {
    let file_stem = what.replace([' ', '/'], "_");
    let src = scratch(&format!("{file_stem}.ptx"));
    let cubin = scratch(&format!("{file_stem}.cubin"));
    std::fs::write(&src, ptx).unwrap();
    let out = Command::new(ptxas)
        .arg(format!("-arch=sm_{sm}"))
        .args(["-O3", "-v", "--warn-on-spills", "--warning-as-error"])
        .arg(&src)
        .arg("-o")
        .arg(&cubin)
        .output()
        .expect("running ptxas");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what}: ptxas refused the PTX:\n{report}"
    );
    let entries = parse_ptxas_report(&report);
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.contains(&"pow_search") && names.contains(&"pow_seals"),
        "{what}: entry points {names:?}\n{report}"
    );
    for e in &entries {
        eprintln!(
            "{what} {}: {} registers, {} B stack, {}/{} B spill stores/loads",
            e.name, e.registers, e.stack, e.spill_stores, e.spill_loads
        );
        assert_eq!(
            (e.stack, e.spill_stores, e.spill_loads),
            (0, 0, 0),
            "{what} {}: uses local memory\n{report}",
            e.name
        );
        assert!(
            e.registers > 0 && e.registers <= MAX_REGISTERS,
            "{what} {}: {} registers (at most {MAX_REGISTERS})",
            e.name,
            e.registers
        );
    }
    cubin
}

#[test]
fn prebuilt_ptx_assembles_with_no_spills() {
    let Some(ptxas) = tool_or_skip("ptxas") else {
        return;
    };
    if !have_prebuilt() {
        return;
    }
    for (key, sm, ptx) in PREBUILT_PTX {
        assemble(&ptxas, ptx, *sm, &format!("prebuilt sm_{sm} {key}"));
    }
}

#[test]
fn nvrtc_compiles_every_layout_to_ptx_that_assembles() {
    let Some(ptxas) = tool_or_skip("ptxas") else {
        return;
    };
    if let Some(dir) = std::env::var_os("POW_CUDA_TOOLS") {
        // The plugin's own search (POW_NVRTC_PATH) finds the library; nothing else is set.
        std::env::set_var("POW_NVRTC_PATH", Path::new(&dir).join("lib"));
    }
    if let Err(why) = nvrtc::status() {
        skip::<()>(&why.to_string());
        return;
    }
    let (major, minor) = nvrtc::version().unwrap();
    eprintln!(
        "NVRTC {major}.{minor} from {}",
        nvrtc::library_file().unwrap()
    );
    // A compilation error comes back with NVRTC's log.
    let err = nvrtc::compile_ptx(Layout::LEGACY, KeccakShape::Unrolled, "compute_1")
        .unwrap_err()
        .to_string();
    assert!(err.contains("nvrtcCompileProgram failed"), "{err}");
    assert!(
        err.contains("gpu-architecture"),
        "the log names the bad option: {err}"
    );
    for layout in Layout::PREBUILT {
        for (arch, sm, keccak) in [
            ("compute_90", 90, KeccakShape::Unrolled),
            ("compute_90", 90, KeccakShape::Loop),
            ("compute_70", 70, KeccakShape::Unrolled),
        ] {
            let what = format!("nvrtc {arch} {keccak:?} {}", layout.key());
            let ptx =
                nvrtc::compile_ptx(layout, keccak, arch).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(ptx.contains(".entry pow_search("), "{what}");
            let cubin = assemble(&ptxas, &ptx, sm, &what);
            if let (90, Some(nvdisasm)) = (sm, tool("nvdisasm")) {
                let (per_attempt, _) = instructions_per_attempt(&disassemble(&nvdisasm, &cubin));
                eprintln!("{what}: {per_attempt} SASS instructions per attempt");
                // The fallback is as lean as the prebuilt PTX (NVRTC once kept the "unrolled"
                // rounds in a loop).
                if keccak == KeccakShape::Unrolled {
                    assert!(
                        per_attempt <= budget(layout),
                        "{what}: {per_attempt} instructions per attempt, over the budget of {}",
                        budget(layout)
                    );
                }
            }
        }
    }
}

/// nvdisasm's listing of a cubin.
fn disassemble(nvdisasm: &Path, cubin: &Path) -> String {
    let out = Command::new(nvdisasm)
        .arg("-c")
        .arg(cubin)
        .output()
        .expect("running nvdisasm");
    assert!(
        out.status.success(),
        "nvdisasm failed on {}",
        cubin.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One SASS instruction: its opcode (predicate stripped) and whether it is the back edge of a
/// loop (a branch to an earlier label).
struct Sass {
    opcode: String,
    line: usize,
    branch_to: Option<String>,
}

/// The instructions of `function` in nvdisasm's output, and the line of each label.
fn parse_sass(text: &str, function: &str) -> (Vec<Sass>, std::collections::HashMap<String, usize>) {
    let mut in_function = false;
    let mut instructions = Vec::new();
    let mut labels = std::collections::HashMap::new();
    for (line_no, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with(".section") {
            in_function = t.starts_with(&format!(".section\t.text.{function},"))
                || t.starts_with(&format!(".section .text.{function},"));
            continue;
        }
        if !in_function {
            continue;
        }
        if let Some(label) = t.strip_suffix(':') {
            labels.insert(label.to_string(), line_no);
            continue;
        }
        // "/*0070*/  @P0 EXIT ;"
        let Some(rest) = t.strip_prefix("/*").and_then(|r| r.split_once("*/")) else {
            continue;
        };
        let body = rest.1.trim().trim_end_matches(';').trim();
        let mut words = body.split_whitespace().peekable();
        if words.peek().is_some_and(|w| w.starts_with('@')) {
            words.next();
        }
        let Some(opcode) = words.next() else { continue };
        let branch_to = (opcode == "BRA")
            .then(|| {
                body.split("`(")
                    .nth(1)?
                    .split(')')
                    .next()
                    .map(str::to_string)
            })
            .flatten();
        instructions.push(Sass {
            opcode: opcode.to_string(),
            line: line_no,
            branch_to,
        });
    }
    (instructions, labels)
}

/// Instructions the search kernel issues per attempt: everything from its start up to the
/// first atomic (the hit path, which few attempts take), with the body of a Keccak round loop
/// (only with `POW_KECCAK_LOOP`) counted once per round it runs. Returns the count and the
/// number of 64-bit-rotation funnel shifts among them.
fn instructions_per_attempt(sass: &str) -> (usize, usize) {
    let (ins, labels) = parse_sass(sass, "pow_search");
    assert!(!ins.is_empty(), "no pow_search in the SASS");
    let loops: Vec<(usize, usize)> = ins
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let target = labels.get(s.branch_to.as_ref()?)?;
            (*target < s.line).then(|| (ins.iter().position(|x| x.line > *target).unwrap(), i))
        })
        // nvdisasm ends each function with an unreachable branch to itself.
        .filter(|(first, last)| first < last)
        .collect();
    assert!(loops.len() <= 1, "expected at most the Keccak round loop");
    let end = ins
        .iter()
        .position(|s| s.opcode.starts_with("ATOM") || s.opcode.starts_with("RED"))
        .expect("the hit path's atomics");
    // The loop may hold several rounds (partial unrolling): it runs LOOP_ROUNDS / that times.
    let trips = loops.first().map_or(0, |&(first, last)| {
        let rounds = ins[first..=last]
            .iter()
            .filter(|s| s.opcode.starts_with("SHF.L.W"))
            .count()
            / SHIFTS_PER_ROUND;
        assert!(
            rounds > 0 && LOOP_ROUNDS.is_multiple_of(rounds),
            "a loop of {rounds} rounds"
        );
        LOOP_ROUNDS / rounds
    });
    let weight = |i: usize| match loops.first() {
        Some(&(first, last)) if (first..=last).contains(&i) => trips,
        _ => 1,
    };
    let count = (0..end).map(weight).sum();
    let shifts = (0..end)
        .filter(|&i| ins[i].opcode.starts_with("SHF.L.W"))
        .map(weight)
        .sum();
    (count, shifts)
}

#[test]
fn hopper_sass_stays_within_the_instruction_budget() {
    let Some(ptxas) = tool_or_skip("ptxas") else {
        return;
    };
    let Some(nvdisasm) = tool_or_skip("nvdisasm") else {
        return;
    };
    if !have_prebuilt() {
        return;
    }
    for layout in Layout::PREBUILT {
        let what = format!("sass sm_90 {}", layout.key());
        let ptx = prebuilt_for(layout, 90)
            .into_iter()
            .find(|p| p.0 == 90)
            .unwrap_or_else(|| panic!("{what}: no prebuilt sm_90 PTX"))
            .1;
        let cubin = assemble(&ptxas, ptx, 90, &what);
        let (per_attempt, shifts) = instructions_per_attempt(&disassemble(&nvdisasm, &cubin));
        eprintln!(
            "{what}: {per_attempt} SASS instructions per attempt, budget {}",
            budget(layout)
        );
        // Every Keccak round but the trimmed last one is counted: the count is not short.
        assert!(
            shifts >= 23 * SHIFTS_PER_ROUND,
            "{what}: only {shifts} lane rotations counted"
        );
        assert!(
            per_attempt <= budget(layout),
            "{what}: {per_attempt} instructions per attempt, over the budget of {}",
            budget(layout)
        );
    }
}

#[test]
fn ptxas_report_parsing() {
    let report = "ptxas info    : Compiling entry function 'pow_search' for 'sm_90'\n\
                  ptxas info    : Function properties for pow_search\n    \
                  8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
                  ptxas info    : Used 78 registers, used 0 barriers\n";
    let r = parse_ptxas_report(report);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (
            r[0].name.as_str(),
            r[0].registers,
            r[0].stack,
            r[0].spill_stores,
            r[0].spill_loads
        ),
        ("pow_search", 78, 8, 4, 12)
    );
}
