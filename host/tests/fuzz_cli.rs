//! The real `pow-host` command line under random arguments: numbers out of range or malformed,
//! random flags and values, invalid UTF-8. It must never panic; bad input is an `error:` line
//! with exit code 2, and a valid command fails only for want of plugins (exit 1).
//!
//! The binary is copied into an empty folder so that it finds no plugins and never starts a
//! search. Each case is a process, so the counts are lower than the in-process properties
//! (10,000 per property by default, about a millisecond each; `PROPTEST_CASES` overrides).

use proptest::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// `pow-host` alone in a private folder (no plugins next to it).
fn lonely_pow_host() -> &'static PathBuf {
    static EXE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &EXE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("pow-host");
        std::fs::copy(env!("CARGO_BIN_EXE_pow-host"), &exe).unwrap();
        (dir, exe)
    })
    .1
}

/// Replaces NUL bytes, which no argument can carry.
fn no_nul(arg: &OsString) -> OsString {
    match arg.to_str() {
        Some(s) => s.replace('\0', "?").into(),
        #[cfg(unix)]
        None => {
            use std::os::unix::ffi::{OsStrExt, OsStringExt};
            let bytes = arg
                .as_bytes()
                .iter()
                .map(|&b| if b == 0 { b'?' } else { b });
            OsString::from_vec(bytes.collect())
        }
        #[cfg(not(unix))]
        None => arg.clone(),
    }
}

fn run(args: &[OsString]) -> Output {
    // The copy of the executable may still be open for writing in a child that another test
    // thread is forking at the same moment (the file descriptor lives until that child's exec),
    // and exec then fails with ETXTBSY: try again briefly.
    let mut tries = 0;
    loop {
        match Command::new(lonely_pow_host())
            .args(args.iter().map(no_nul))
            .env_remove("POW_HOST_PLUGIN_PATH")
            .output()
        {
            Ok(out) => return out,
            Err(e) if e.raw_os_error() == Some(26) && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("cannot run pow-host: {e}"),
        }
    }
}

/// No panic, a known exit code, and an `error:` line whenever it fails.
fn check_sane(args: &[OsString], out: &Output) -> Result<i32, TestCaseError> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    prop_assert!(
        matches!(code, Some(0..=2)),
        "{args:?}: exit {:?}\n{stderr}",
        out.status
    );
    prop_assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    let code = code.unwrap();
    // Without a command, clap shows the help (exit 2); anything else that fails says why.
    let help_shown = stderr.contains("Usage:") && stderr.contains("Commands:");
    if code != 0 && !help_shown {
        prop_assert!(
            stderr.lines().any(|l| l.starts_with("error: ")),
            "{args:?}: no error line in {stderr}"
        );
    }
    Ok(code)
}

/// Numbers and near-numbers.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u128>().prop_map(|n| n.to_string()),
        (0u32..70_000).prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_string()),
        Just("65536".to_string()),
        Just("-0".to_string()),
        Just("+7".to_string()),
        Just(String::new()),
        "[0-9]{0,30}",
        "[+-]?[0-9_ .,xXeE]{0,12}",
        "0x[0-9a-f]{1,8}",
        "[\u{ff10}-\u{ff19}]{1,4}",
        ".{0,12}",
    ]
}

const FLAGS: &[&str] = &[
    "--challenge",
    "--netuid",
    "--block-hash",
    "--hotkey",
    "--coldkey",
    "--difficulty",
    "--seal-order",
    "--nonce-start",
    "--nonce-order",
    "--batch",
    "--threads",
    "--backends",
    "--cuda-devices",
    "--opencl-devices",
    "--backend-opt",
    "--plugin-dir",
    "--seconds",
];

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => number_text(),
        1 => prop_oneof![
            Just("v1"), Just("legacy"), Just("faucet"), Just("be"), Just("le"),
            Just("sequential"), Just("fast"), Just("all"), Just("cpu.threads=2"),
            Just("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            Just("0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        ].prop_map(String::from),
        1 => "0x[0-9a-fA-F]{60,68}",
        1 => ".{0,40}",
    ]
}

/// One argument: a known flag with a value (`--flag=value` or `--flag value`), a bare flag,
/// or random text.
fn argument() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        6 => (proptest::sample::select(FLAGS), value_text(), any::<bool>()).prop_map(|(f, v, joined)| {
            if joined { vec![format!("{f}={v}")] } else { vec![f.to_string(), v] }
        }),
        2 => proptest::sample::select(&["--sample", "--json", "-v", "-vv", "--allow-insecure-plugins", "--help", "--version"][..])
            .prop_map(|f| vec![f.to_string()]),
        1 => "-{0,2}[a-z-]{0,12}".prop_map(|s| vec![s]),
        1 => ".{0,16}".prop_map(|s| vec![s]),
    ]
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn random_command_lines_never_panic(
        command in proptest::sample::select(&["solve", "backends", "bench", ""][..]),
        args in proptest::collection::vec(argument(), 0..7),
    ) {
        let mut argv: Vec<OsString> = Vec::new();
        if !command.is_empty() {
            argv.push(command.into());
        }
        argv.extend(args.into_iter().flatten().map(OsString::from));
        let out = run(&argv);
        check_sane(&argv, &out)?;
    }

    #[test]
    fn numbers_are_parsed_exactly(
        flag in proptest::sample::select(&["--netuid", "--difficulty", "--nonce-start", "--batch", "--threads"][..]),
        value in number_text(),
    ) {
        // `--sample` makes the rest valid, so the only possible usage error is the number.
        let argv: Vec<OsString> = vec![
            "solve".into(),
            "--sample".into(),
            format!("{flag}={value}").into(),
        ];
        let out = run(&argv);
        let code = check_sane(&argv, &out)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let valid = match flag {
            // clap reads a u16 as an i64 and checks the range.
            "--netuid" => value.parse::<i64>().is_ok_and(|n| (0..=65_535).contains(&n)),
            "--threads" => value.parse::<usize>().is_ok(),
            // A fixed batch of zero indexes is refused by `solve` itself.
            "--batch" => value.parse::<u64>().is_ok_and(|n| n >= 1),
            _ => value.parse::<u64>().is_ok(),
        };
        if valid {
            prop_assert_eq!(code, 1, "{:?}: {}", argv, stderr);
            prop_assert!(stderr.contains("no backend plugins were found"), "{}", stderr);
        } else {
            prop_assert_eq!(code, 2, "{:?}: {}", argv, stderr);
            prop_assert!(stderr.contains(flag), "{}", stderr);
        }
    }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn bench_seconds_are_checked(
        value in prop_oneof![
            number_text(),
            any::<f64>().prop_map(|f| f.to_string()),
            (0.0f64..4000.0).prop_map(|f| f.to_string()),
            proptest::sample::select(&["NaN", "inf", "-inf", "1e3", "1e-300", "3600", "3600.0000001", "-0.0", "0"][..])
                .prop_map(String::from),
        ],
    ) {
        let argv: Vec<OsString> = vec!["bench".into(), format!("--seconds={value}").into()];
        let out = run(&argv);
        let code = check_sane(&argv, &out)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let valid = value
            .parse::<f64>()
            .is_ok_and(|s| s.is_finite() && s > 0.0 && s <= 3600.0);
        if valid {
            prop_assert_eq!(code, 1, "{:?}: {}", argv, stderr);
            prop_assert!(stderr.contains("no backend plugins were found"), "{}", stderr);
        } else {
            prop_assert_eq!(code, 2, "{:?}: {}", argv, stderr);
            prop_assert!(stderr.contains("--seconds"), "{}", stderr);
        }
    }
}

proptest! {
    #![proptest_config(config(1_000))]

    #[test]
    #[cfg(unix)]
    fn arguments_that_are_not_utf8_are_refused(
        bytes in proptest::collection::vec(any::<u8>(), 1..24),
        flag in proptest::sample::select(FLAGS),
    ) {
        use std::os::unix::ffi::OsStringExt;
        let mut value = bytes;
        value.push(0xff); // never valid UTF-8
        let argv: Vec<OsString> = vec![
            "solve".into(),
            flag.into(),
            OsString::from_vec(value),
        ];
        let out = run(&argv);
        let code = check_sane(&argv, &out)?;
        prop_assert_eq!(code, 2);
    }
}
