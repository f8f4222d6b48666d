//! Starts each real runtime under chopsticks, builds blocks, restarts it (resume: the chain
//! continues) and restarts it fresh (from genesis: a lower best block). Skips (printing
//! `skipped: ...`) when chopsticks is not installed, unless POW_REQUIRE_CHOPSTICKS=1.

use std::net::TcpStream;

use pow_chopsticks::{start_or_skip, Options, Runtime};

fn smoke(runtime: Runtime) {
    let Some(mut node) = start_or_skip(runtime, Options::default()) else {
        return;
    };
    let port = node.port();
    let spec = node.rpc("state_getRuntimeVersion", vec![]).unwrap();
    assert_eq!(spec["specVersion"], runtime.spec_version(), "{spec}");

    let start = node.best_number().unwrap();
    node.new_block().unwrap();
    node.new_block().unwrap();
    let best = node.best_number().unwrap();
    assert_eq!(best, start + 2, "two dev_newBlock calls");

    // dev_setStorage by names, read back through computed keys.
    node.subnet_setup(1, u64::MAX - 1).unwrap();
    assert_eq!(
        node.subnet_u64("Difficulty", 1).unwrap(),
        Some(u64::MAX - 1)
    );
    assert_eq!(
        node.subnet_bool("NetworkPowRegistrationAllowed", 1)
            .unwrap(),
        Some(true)
    );
    let who = [7u8; 32];
    node.fund(&who, 5_000_000_000).unwrap();
    assert_eq!(node.account(&who).unwrap(), Some((0, 5_000_000_000)));
    assert_eq!(node.uid_of(1, &who).unwrap(), None);

    // Resume: same port, same height, and it goes on from there.
    node.kill();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port dead after kill"
    );
    node.restart().unwrap();
    assert_eq!(node.port(), port);
    assert_eq!(
        node.best_number().unwrap(),
        best,
        "resumed at the same height"
    );
    node.new_block().unwrap();
    assert_eq!(node.best_number().unwrap(), best + 1);

    // Fresh: same port, from genesis, lower.
    node.restart_fresh().unwrap();
    assert_eq!(node.port(), port);
    let fresh = node.best_number().unwrap();
    assert!(
        fresh < best + 1,
        "fresh chain at #{fresh}, before #{}",
        best + 1
    );
}

#[test]
fn spec218_blocks_restart_and_fresh() {
    smoke(Runtime::Spec218);
}

#[test]
fn spec293_blocks_restart_and_fresh() {
    smoke(Runtime::Spec293);
}

#[test]
fn block_interval_moves_the_chain() {
    let opts = Options {
        block_interval: Some(std::time::Duration::from_secs(2)),
        raw_chainhead: true,
        ..Options::default()
    };
    let Some(node) = start_or_skip(Runtime::Spec218, opts) else {
        return;
    };
    let start = node.best_number().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while node.best_number().unwrap() < start + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no blocks from the background thread"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
