//! Property tests at high case counts for everything a user or a file feeds the host: hex,
//! SS58 and hex keys, device lists and `--backend-opt` settings, backend options, and plugin
//! files (random bytes, ELF-looking garbage, truncated libraries). No input may panic; each
//! parser must accept exactly what it documents.
//!
//! Case counts default to 10,000 or more per property; `PROPTEST_CASES` overrides them.
//! The `fuzz/` folder has cargo-fuzz targets for the same entry points (nightly only).

use pow_backend_api::Options;
use pow_host::elf;
use pow_host::keys::{decode_ss58, encode_ss58, parse_public_key};
use pow_host::plugins::load_file;
use pow_host::selection::Selection;
use pow_seal::{effective_difficulty, parse_bytes32, to_hex, Challenge, Target, Work};
use proptest::prelude::*;
use std::path::PathBuf;
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

/// Text that is mostly hex digits, with some near misses (case, `0x`, multibyte characters).
fn hexish() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(""), Just("0x"), Just("0X"), Just("x0"), Just(" 0x")],
        proptest::collection::vec(
            prop_oneof![
                20 => proptest::char::ranges(vec!['0'..='9', 'a'..='f', 'A'..='F'].into()),
                1 => any::<char>(),
            ],
            0..70,
        ),
    )
        .prop_map(|(p, d)| format!("{p}{}", d.into_iter().collect::<String>()))
}

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

proptest! {
    #![proptest_config(config(20_000))]

    #[test]
    fn hex_parser_accepts_exactly_64_hex_digits(s in hexish()) {
        let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(&s);
        let valid = digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit());
        match parse_bytes32(&s) {
            Ok(bytes) => {
                prop_assert!(valid, "accepted {s:?}");
                prop_assert_eq!(to_hex(&bytes), format!("0x{}", digits.to_ascii_lowercase()));
            }
            Err(e) => {
                prop_assert!(!valid, "refused {s:?}: {e}");
                prop_assert!(!e.to_string().contains('\n'));
            }
        }
    }

    #[test]
    fn hex_parser_never_panics_on_any_text(s in any::<String>()) {
        let _ = parse_bytes32(&s);
    }

    #[test]
    fn key_parser_never_panics_on_any_text(s in any::<String>()) {
        if let Err(e) = parse_public_key(&s) {
            prop_assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn key_parser_on_base58_text(
        chars in proptest::collection::vec(proptest::sample::select(BASE58.as_bytes().to_vec()), 0..60)
    ) {
        let s = String::from_utf8(chars).unwrap();
        if let Ok(key) = parse_public_key(&s) {
            // Whatever was accepted decodes the same when re-encoded with its own prefix.
            prop_assert_eq!(decode_ss58(&s).unwrap(), key);
        }
    }

    #[test]
    fn ss58_decoder_on_encoded_random_payloads(
        payload in proptest::collection::vec(any::<u8>(), 0..48)
    ) {
        let _ = decode_ss58(&bs58::encode(&payload).into_string());
    }

    #[test]
    fn ss58_with_one_character_changed_is_refused_or_consistent(
        key in proptest::array::uniform32(any::<u8>()),
        prefix in 0u16..16384,
        pos in any::<prop::sample::Index>(),
        replacement in proptest::sample::select(BASE58.as_bytes().to_vec()),
    ) {
        let address = encode_ss58(&key, prefix);
        let mut bytes = address.clone().into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] = replacement;
        let changed = String::from_utf8(bytes).unwrap();
        match parse_public_key(&changed) {
            // The 2-byte checksum lets about 1 in 65,536 changes through: then the result
            // must still be a key that round-trips to the changed text.
            Ok(k) if changed != address => {
                // The key is the 32 bytes after the 1- or 2-byte network prefix.
                let data = bs58::decode(&changed).into_vec().unwrap();
                let prefix_len = if data[0] < 64 { 1 } else { 2 };
                prop_assert_eq!(&data[prefix_len..prefix_len + 32], &k[..]);
            }
            Ok(k) => prop_assert_eq!(k, key),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn device_lists(s in "[0-9, x\\-+]{0,24}|.{0,24}") {
        match Selection::parse_device_list(&s) {
            Ok(list) => {
                let tokens: Vec<&str> = s.split(',').collect();
                prop_assert_eq!(list.len(), tokens.len());
                for (n, t) in list.iter().zip(tokens) {
                    prop_assert_eq!(t.trim().parse::<u32>().ok(), Some(*n));
                }
            }
            Err(f) => {
                prop_assert_eq!(f.code, 2);
                prop_assert!(!f.message.contains('\n'));
            }
        }
    }

    #[test]
    fn backend_lists(s in "[a-z, ]{0,24}|.{0,24}") {
        let names = Selection::parse_backend_list(&s);
        for n in &names {
            prop_assert!(!n.is_empty() && !n.contains(',') && n != "all");
        }
    }

    #[test]
    fn backend_options(s in "[a-z.=]{0,16}|.{0,32}") {
        let mut sel = Selection::default();
        match sel.add_backend_option(&s) {
            Ok(()) => {
                let (lhs, value) = s.split_once('=').unwrap();
                let (backend, key) = lhs.split_once('.').unwrap();
                let options = sel.options_for(backend);
                prop_assert_eq!(options.get(key), Some(value));
            }
            Err(f) => prop_assert_eq!(f.code, 2),
        }
    }

    #[test]
    fn option_values_parse_or_refuse(v in ".{0,24}|[0-9]{0,24}") {
        let mut o = Options::default();
        o.set("threads", v.clone());
        match o.get_parsed::<usize>("threads") {
            Ok(n) => prop_assert_eq!(n, v.trim().parse::<usize>().ok()),
            Err(e) => prop_assert!(e.message.contains("threads")),
        }
    }

    #[test]
    fn challenges_and_difficulties_from_any_numbers(
        netuid in any::<u16>(),
        difficulty in any::<u64>(),
        lo in proptest::option::of(any::<u64>()),
        hi in proptest::option::of(any::<u64>()),
        nonce in any::<u64>(),
    ) {
        match Challenge::v1(netuid, [1; 32], [2; 32], [3; 32]) {
            Ok(c) => {
                prop_assert!(netuid != 0);
                let work = Work::new(c, difficulty);
                let seal = work.challenge.seal(nonce);
                prop_assert_eq!(work.verify(nonce).is_some(), work.target().is_met_by(&seal, work.challenge.seal_order()));
            }
            Err(_) => prop_assert_eq!(netuid, 0),
        }
        let _ = Target::from_difficulty(difficulty);
        let d = effective_difficulty(Some(difficulty), lo, hi);
        prop_assert!(d >= 1);
    }
}

/// ELF header bytes that pass the identification checks on this host, followed by garbage.
fn elf_like() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..512).prop_map(|mut rest| {
        let mut bytes = vec![0x7f, b'E', b'L', b'F'];
        bytes.push(if cfg!(target_pointer_width = "64") {
            2
        } else {
            1
        });
        bytes.push(if cfg!(target_endian = "little") { 1 } else { 2 });
        bytes.append(&mut rest);
        bytes
    })
}

proptest! {
    #![proptest_config(config(100_000))]

    #[test]
    fn elf_header_check_never_panics(bytes in elf_like(), extra in 0u64..1 << 40) {
        let len = bytes.len() as u64;
        let _ = elf::check_headers(&bytes, len);
        let _ = elf::check_headers(&bytes, len.saturating_add(extra));
    }
}

/// A scratch folder for plugin files, private so the trust check passes.
fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fn write_plugin(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().path().join(name);
    // A new file each time: rewriting one in place makes ext4 flush it on close (slow).
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The real CPU backend library's bytes.
fn real_plugin() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        std::fs::read(pow_test_support::workspace_library("pow_backend_cpu")).unwrap()
    })
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn loader_refuses_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let path = write_plugin("random.so", &bytes);
        let err = load_file(&path).err().expect("random bytes loaded as a plugin").to_string();
        prop_assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn loader_refuses_elf_like_garbage(bytes in elf_like()) {
        let path = write_plugin("elf-like.so", &bytes);
        prop_assert!(load_file(&path).is_err());
    }

    #[test]
    fn header_check_refuses_every_truncation(cut in any::<prop::sample::Index>()) {
        // What `load_file` reads of a truncated copy of a real library: its first bytes and its
        // length. Without this check, dlopen of most truncations kills the process (SIGBUS).
        let full = real_plugin();
        let len = cut.index(full.len());
        let head = &full[..len.min(elf::HEAD_LEN as usize)];
        let err = elf::check_headers(head, len as u64).expect_err("truncation accepted").to_string();
        prop_assert!(err.contains("truncated") || err.contains("no ELF header"), "{len}: {err}");
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn loader_refuses_truncated_library_files(cut in any::<prop::sample::Index>()) {
        // End to end through the file system (fewer cases: each writes up to a whole library).
        let full = real_plugin();
        let bytes = &full[..cut.index(full.len())];
        let path = write_plugin("truncated.so", bytes);
        let err = load_file(&path).err().expect("truncated library loaded").to_string();
        prop_assert!(
            err.contains("truncated") || err.contains("no ELF header"),
            "{} bytes: {err}",
            bytes.len()
        );
    }
}

#[test]
fn loader_still_loads_the_intact_library() {
    let path = write_plugin("intact.so", real_plugin());
    let plugin = load_file(&path).unwrap();
    assert_eq!(plugin.name, "cpu");
}

#[test]
fn loader_refuses_what_is_not_a_regular_file() {
    let err = load_file(scratch().path()).err().unwrap().to_string();
    assert!(err.contains("not a regular file"), "{err}");
    let err = load_file(&scratch().path().join("missing.so"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot be opened"), "{err}");
}
