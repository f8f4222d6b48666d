//! The Subtensor runtime's registration rules, written once. The registration flow (which
//! decides what to mine and what to send) and the embedded dev chain (which judges what was
//! sent) both call these, so a wrong rule cannot pass one and fail the other unnoticed; the
//! tests against the real runtimes (chopsticks) hold both to the chain's own verdicts.
//!
//! Sources: subtensor's `do_registration` / `do_faucet` and `SubtensorSignedExtension` for the
//! legacy runtimes (specs 218 and 293 were run here), the v1 reference (docs/registration.md and
//! the shared vectors' README) for `pow_register`.

use crate::SubnetState;

/// Which work-block window a call is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowRule {
    /// Legacy `register` and `faucet`: `block_number <= now && now - block_number < 3`.
    Legacy,
    /// v1 `pow_register`: `work_block < now && now - work_block < 3` (the work block itself
    /// is excluded). Where the v1 runtime's exact window is not known this is the narrower
    /// choice: a proof inside it is inside either reading.
    V1,
}

/// Blocks after the work block in which a proof may still be included (`now - work < 3`).
pub const WORK_WINDOW: u64 = 3;

impl WindowRule {
    /// Whether a proof for `work_block` may be included in block `now`.
    pub fn allows(self, work_block: u64, now: u64) -> bool {
        let earliest = match self {
            WindowRule::Legacy => work_block,
            WindowRule::V1 => work_block.saturating_add(1),
        };
        now >= earliest && now - work_block < WORK_WINDOW
    }

    /// Whether a proof for `work_block` sent now, with `best` the node's best block, can still
    /// be included: the pool validates it as, and the block builder includes it in, `best + 1`.
    pub fn sendable(self, work_block: u64, best: u64) -> bool {
        self.allows(work_block, best.saturating_add(1))
    }
}

/// The difficulty a proof must meet: the runtime checks its `Difficulty` (at least 1) and
/// nothing else. `MinDifficulty`/`MaxDifficulty` only bound the runtime's own adjustments; the
/// SDK's clamp into them is wrong where they disagree with `Difficulty` (spec 293's new subnets
/// have Min = Max = u64::MAX beside a settable `Difficulty`).
pub fn mining_difficulty(difficulty: u64) -> u64 {
    difficulty.max(1)
}

/// The interval limit: `register` is refused (by the transaction pool, and by the call)
/// once `RegistrationsThisInterval >= 3 * TargetRegistrationsPerInterval`.
pub fn interval_limit(target_registrations_per_interval: u16) -> u32 {
    u32::from(target_registrations_per_interval) * 3
}

/// The interval rate limit as read from storage at the best block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `RegistrationsThisInterval`.
    pub registrations: u16,
    /// `3 * TargetRegistrationsPerInterval`.
    pub limit: u32,
    /// The block whose start resets the counter (`LastAdjustmentBlock + AdjustmentInterval`).
    pub resets_at: u64,
    /// Blocks from the best block until then.
    pub blocks_left: u64,
}

/// `Some` when the interval limit is reached at block `best`: the node refuses `register`
/// (`custom(6)` from the transaction pool) until block `resets_at` is the best block.
pub fn rate_limited(state: &SubnetState, best: u64) -> Option<RateLimit> {
    let limit = interval_limit(state.target_registrations_per_interval);
    if u32::from(state.registrations_this_interval) < limit {
        return None;
    }
    let resets_at = state
        .last_adjustment_block
        .saturating_add(u64::from(state.adjustment_interval));
    Some(RateLimit {
        registrations: state.registrations_this_interval,
        limit,
        resets_at,
        blocks_left: resets_at.saturating_sub(best),
    })
}

/// What a refusal means for the proof that was refused and for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not in this block (the block's registration slots were taken): the proof stays good;
    /// keep it and send it again in the next block while its window allows.
    NextBlock,
    /// The proof is spent or late (window passed, difficulty rose, work reused): drop it and
    /// mine on the newest block.
    MineAgain,
    /// The subnet's interval limit is reached: nothing can register until it resets.
    RateLimited,
    /// The hotkey got a UID meanwhile.
    AlreadyRegistered,
    /// Anything else: no further proof will fare better.
    Fatal,
}

/// The meaning of a `SubtensorModule` error raised by a registration or faucet call.
pub fn module_error_verdict(error: &str) -> Verdict {
    match error {
        "TooManyRegistrationsThisBlock" => Verdict::NextBlock,
        "InvalidWorkBlock" | "InvalidDifficulty" | "WorkRepeated" | "PowWorkAlreadyUsed"
        | "InvalidSeal" => Verdict::MineAgain,
        "TooManyRegistrationsThisInterval" => Verdict::RateLimited,
        "HotKeyAlreadyRegisteredInSubNet" => Verdict::AlreadyRegistered,
        _ => Verdict::Fatal,
    }
}

/// A transaction-pool refusal (JSON-RPC error 1010 "Invalid Transaction", 1011 "Unknown
/// Transaction", 1012-1016 pool errors), decoded from a node's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRefusal {
    /// A name for it: the runtime's own where it names one (`RateLimitExceeded` for
    /// `custom(6)`), Substrate's otherwise (`Payment`, `Stale`, `ExhaustsResources`, ...).
    pub name: String,
    /// The node's answer, as it came.
    pub answer: String,
    /// What it means.
    pub verdict: Verdict,
    /// The runtime's code of a `Custom` refusal.
    pub custom: Option<u64>,
}

/// The names subtensor's signed extension gives the `InvalidTransaction::Custom(code)` it
/// answers to a registration. The codes moved between runtimes: spec 218 answers `custom(5)`
/// and spec 293 `custom(6)` (its `CustomTransactionError::RateLimitExceeded`) when the
/// interval limit is reached (both seen under chopsticks). Neither code is trusted alone: the
/// flow reads the subnet's interval counters to confirm a rate limit (see
/// [`rate_limited`]), and reports any other custom refusal with the node's answer.
fn custom_name(code: u64) -> String {
    match code {
        5 => "Custom(5) (the interval registration limit on spec 218)".into(),
        6 => "RateLimitExceeded (custom 6)".into(),
        other => format!("Custom({other})"),
    }
}

/// Decodes a node's refusal of a submitted extrinsic. Understands Substrate's text form
/// (`Invalid Transaction ... Custom error: 6`, `Transaction has a bad signature`,
/// `Inability to pay some fees`) and chopsticks' JSON form (`{"invalid":{"custom":6}}`).
/// `None` when the answer is not a pool refusal (a connection failure, say).
pub fn decode_pool_refusal(answer: &str) -> Option<PoolRefusal> {
    let lower = answer.to_ascii_lowercase();
    let refusal = |name: &str, verdict| {
        Some(PoolRefusal {
            name: name.to_string(),
            answer: answer.to_string(),
            verdict,
            custom: None,
        })
    };
    if let Some(code) = custom_code(&lower) {
        return Some(PoolRefusal {
            name: custom_name(code),
            answer: answer.to_string(),
            verdict: Verdict::Fatal,
            custom: Some(code),
        });
    }
    let table: &[(&[&str], &str, Verdict)] = &[
        (
            &[
                "exhaustsresources",
                "exhausts the resources",
                "block is full",
            ],
            "ExhaustsResources",
            Verdict::NextBlock,
        ),
        (
            &["\"stale\"", "transaction is outdated", "outdated"],
            "Stale",
            Verdict::MineAgain,
        ),
        (
            &["\"future\"", "in the future"],
            "Future",
            Verdict::MineAgain,
        ),
        (&["badproof", "bad signature"], "BadProof", Verdict::Fatal),
        (
            &["payment", "pay some fees", "inability to pay"],
            "Payment",
            Verdict::Fatal,
        ),
        (
            &[
                "already imported",
                "temporarily banned",
                "priority is too low",
            ],
            "AlreadyInPool",
            Verdict::MineAgain,
        ),
        (
            &["ancientbirthblock", "ancient birth block"],
            "AncientBirthBlock",
            Verdict::MineAgain,
        ),
        (
            &["call is not expected", "cannotlookup"],
            "Call",
            Verdict::Fatal,
        ),
    ];
    let is_pool = lower.contains("1010")
        || lower.contains("1011")
        || lower.contains("1012")
        || lower.contains("1013")
        || lower.contains("1014")
        || lower.contains("invalid transaction")
        || lower.contains("\"invalid\"");
    if !is_pool {
        return None;
    }
    for (needles, name, verdict) in table {
        if needles.iter().any(|n| lower.contains(n)) {
            return refusal(name, *verdict);
        }
    }
    refusal("Invalid", Verdict::Fatal)
}

/// The code of `custom error: N` or `"custom":N` in a lower-cased answer.
fn custom_code(lower: &str) -> Option<u64> {
    for marker in ["custom error: ", "\"custom\":", "custom("] {
        if let Some(at) = lower.find(marker) {
            let digits: String = lower[at + marker.len()..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(code) = digits.parse() {
                return Some(code);
            }
        }
    }
    None
}

/// Expected seconds to find a proof at `difficulty` with `rate` attempts per second: each
/// attempt passes with probability about `1 / difficulty`.
pub fn expected_seconds(difficulty: u64, rate: f64) -> f64 {
    if rate <= 0.0 {
        return f64::INFINITY;
    }
    difficulty as f64 / rate
}

/// A duration in words for messages: seconds, minutes, hours, days or years.
pub fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "for ever".into();
    }
    let (value, unit) = if seconds < 120.0 {
        (seconds, "s")
    } else if seconds < 7_200.0 {
        (seconds / 60.0, "min")
    } else if seconds < 172_800.0 {
        (seconds / 3_600.0, "h")
    } else if seconds < 3.0 * 31_557_600.0 {
        (seconds / 86_400.0, "days")
    } else {
        (seconds / 31_557_600.0, "years")
    };
    if value >= 100.0 {
        format!("{value:.3e} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        // Legacy: the work block itself and the next two.
        assert!(WindowRule::Legacy.allows(10, 10));
        assert!(WindowRule::Legacy.allows(10, 12));
        assert!(!WindowRule::Legacy.allows(10, 13));
        assert!(!WindowRule::Legacy.allows(10, 9));
        // v1: the next two only.
        assert!(!WindowRule::V1.allows(10, 10));
        assert!(WindowRule::V1.allows(10, 11));
        assert!(WindowRule::V1.allows(10, 12));
        assert!(!WindowRule::V1.allows(10, 13));
        // Sent at best N or N+1 (included in best + 1) for both.
        for rule in [WindowRule::Legacy, WindowRule::V1] {
            assert!(rule.sendable(10, 10));
            assert!(rule.sendable(10, 11));
            assert!(!rule.sendable(10, 12));
        }
    }

    #[test]
    fn difficulty_is_the_runtime_s_own() {
        assert_eq!(mining_difficulty(0), 1);
        assert_eq!(mining_difficulty(5_000), 5_000);
    }

    #[test]
    fn rate_limit_and_its_reset() {
        let mut s = SubnetState {
            registrations_this_interval: 5,
            target_registrations_per_interval: 2,
            last_adjustment_block: 100,
            adjustment_interval: 50,
            ..SubnetState::default()
        };
        assert_eq!(rate_limited(&s, 120), None);
        s.registrations_this_interval = 6;
        assert_eq!(
            rate_limited(&s, 120),
            Some(RateLimit {
                registrations: 6,
                limit: 6,
                resets_at: 150,
                blocks_left: 30
            })
        );
    }

    #[test]
    fn pool_answers_are_named() {
        let chopsticks = r#"1010: {"invalid":{"custom":6}}"#;
        let r = decode_pool_refusal(chopsticks).unwrap();
        assert_eq!(r.custom, Some(6));
        assert!(r.name.starts_with("RateLimitExceeded"), "{r:?}");
        let substrate = "Invalid Transaction (1010): Custom error: 5";
        assert_eq!(decode_pool_refusal(substrate).unwrap().custom, Some(5));
        let full = r#"1010: {"invalid":{"exhaustsResources":null}}"#;
        assert_eq!(
            decode_pool_refusal(full).unwrap().verdict,
            Verdict::NextBlock
        );
        let pay =
            "Invalid Transaction (1010): Inability to pay some fees (e.g. account balance too low)";
        assert_eq!(decode_pool_refusal(pay).unwrap().name, "Payment");
        assert!(decode_pool_refusal("connection reset by peer").is_none());
    }

    #[test]
    fn verdicts_of_module_errors() {
        assert_eq!(
            module_error_verdict("TooManyRegistrationsThisBlock"),
            Verdict::NextBlock
        );
        assert_eq!(module_error_verdict("InvalidWorkBlock"), Verdict::MineAgain);
        assert_eq!(
            module_error_verdict("TooManyRegistrationsThisInterval"),
            Verdict::RateLimited
        );
        assert_eq!(module_error_verdict("FaucetDisabled"), Verdict::Fatal);
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(30.0), "30.0 s");
        assert_eq!(human_duration(3_600.0), "60.0 min");
        assert!(human_duration(1.8e13).ends_with("years"));
    }
}
