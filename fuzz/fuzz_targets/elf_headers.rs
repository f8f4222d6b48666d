//! The ELF header check that runs before a plugin is handed to dlopen, on any bytes and any
//! claimed file length.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u32, &[u8])| {
    let (extra, bytes) = input;
    let len = bytes.len() as u64;
    let _ = pow_host::elf::check_headers(bytes, len);
    let _ = pow_host::elf::check_headers(bytes, len + u64::from(extra));
});
