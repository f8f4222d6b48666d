//! The whole plugin loader on any file contents: the bytes are written as a `.so` file in a
//! private folder and loaded with `load_file` (header check, then dlopen and abi_stable's
//! checks). Slower per input than the other targets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pow-host-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|bytes: &[u8]| {
    let path = scratch().join("input.so");
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).unwrap();
    // Must return an error (or, for a real library, a plugin), never crash.
    let _ = pow_host::plugins::load_file(&path);
});
