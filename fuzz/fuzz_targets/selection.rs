//! Device lists, backend lists and `--backend-opt BACKEND.KEY=VALUE` on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pow_host::selection::Selection;

fuzz_target!(|text: &str| {
    let _ = Selection::parse_device_list(text);
    let _ = Selection::parse_backend_list(text);
    let mut sel = Selection::default();
    if sel.add_backend_option(text).is_ok() {
        let (lhs, value) = text.split_once('=').unwrap();
        let (backend, key) = lhs.split_once('.').unwrap();
        assert_eq!(sel.options_for(backend).get(key), Some(value));
    }
    let mut options = pow_backend_api::Options::default();
    options.set("threads", text);
    let _ = options.get_parsed::<usize>("threads");
});
