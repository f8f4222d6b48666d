//! Every case of the reference vectors (tests/data/vectors, produced by Bittensor's own code)
//! through the seal library.

use pow_seal::{block_and_key_hash, effective_difficulty, SealOrder, Target, Work};
use pow_test_support::vectors;

#[test]
fn legacy_seal_vectors() {
    let cases = vectors::legacy_seal_vectors();
    assert_eq!(cases.len(), 101);
    for case in &cases {
        assert_eq!(
            block_and_key_hash(&case.block_hash, &case.hotkey),
            case.block_and_hotkey_hash
        );
        let nonce = case.nonce;
        let c = case.challenge(SealOrder::BigEndian);
        assert_eq!(pow_seal::to_hex(&nonce.to_le_bytes()), case.nonce_le_bytes);
        let seal = c.seal(nonce);
        assert_eq!(seal, case.seal, "seal of nonce {nonce}");
        for order in [SealOrder::BigEndian, SealOrder::LittleEndian] {
            for &(d, expected) in case.meets_in(order) {
                let got = Target::from_difficulty(d).is_met_by(&seal, order);
                assert_eq!(got, expected, "{} d={d} n={nonce}", order.as_str());
            }
        }
    }
}

/// Smallest passing nonce at or above `start`, by plain scanning with the library.
fn scan(work: &Work, start: u64) -> (u64, [u8; 32]) {
    let mut n = start;
    loop {
        if let Some(seal) = work.verify(n) {
            return (n, seal);
        }
        n = n.wrapping_add(1);
    }
}

#[test]
fn legacy_solve_vectors_both_orders() {
    let cases = vectors::legacy_solve_vectors();
    assert_eq!(cases.len(), 15);
    for case in &cases {
        let d = case.difficulty;
        for order in [SealOrder::BigEndian, SealOrder::LittleEndian] {
            let work = Work::new(case.challenge(order), d);
            let (n, seal) = scan(&work, case.nonce_start);
            let (first, first_seal) = case.first_in(order);
            assert_eq!(n, first, "{} d={d}", order.as_str());
            assert_eq!(seal, first_seal);
        }
    }
}

#[test]
fn v1_seal_vectors() {
    let cases = vectors::v1_seal_vectors();
    assert_eq!(cases.len(), 48);
    for case in &cases {
        let c = case.challenge();
        assert_eq!(pow_seal::to_hex(&c.prefix()), case.prefix);
        let nonce = case.nonce;
        let seal = c.seal(nonce);
        assert_eq!(seal, case.seal);
        for &(d, expected) in &case.meets {
            let got = Work::new(c.clone(), d).verify(nonce).is_some();
            assert_eq!(got, expected, "d={d} n={nonce}");
        }
    }
}

#[test]
fn v1_solve_vectors() {
    let cases = vectors::v1_solve_vectors();
    assert_eq!(cases.len(), 12);
    for case in &cases {
        let (n, seal) = scan(&case.work(), case.nonce_start);
        assert_eq!(n, case.first_nonce);
        assert_eq!(seal, case.seal);
    }
}

#[test]
fn effective_difficulty_cases() {
    let cases = vectors::effective_difficulty_cases();
    assert!(!cases.is_empty());
    for case in &cases {
        assert_eq!(
            effective_difficulty(case.difficulty, case.min_difficulty, case.max_difficulty),
            case.effective,
            "{case:?}"
        );
    }
}
