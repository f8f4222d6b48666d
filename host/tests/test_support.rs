//! The host constants that pow-test-support repeats (it cannot depend on pow-host, whose tests
//! use it) agree with the host's own.

#[test]
fn test_support_constants_are_the_hosts() {
    assert_eq!(
        pow_test_support::WORKSPACE_BACKEND_PREFIX,
        pow_host::plugins::BUILT_IN_PREFIX
    );
    assert_eq!(
        pow_test_support::PLUGIN_PATH_ENV,
        pow_host::plugins::PLUGIN_PATH_ENV
    );
    assert_eq!(
        pow_test_support::POW_HOST,
        env!("CARGO_BIN_EXE_pow-host")
            .rsplit(['/', '\\'])
            .next()
            .unwrap()
            .strip_suffix(std::env::consts::EXE_SUFFIX)
            .unwrap()
    );
}
