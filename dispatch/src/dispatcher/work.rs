//! The index space of the current job: which indexes were handed out, which came back
//! unsearched (and are re-issued before fresh ones), and the job's counters.
//!
//! Invariant: every index handed out (for open work, `[start_index, next)`; for leased work,
//! the granted ranges taken so far) is searched, queued for re-issue, or in a batch still in
//! flight, exactly once. Leased work never hands out an index outside its grants.

use crate::device::DeviceId;
use crate::job::{JobAccount, JobId, WorkSpec};
use pow_backend_api::Job;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// The coordinator's state for the job being worked on.
pub(super) struct WorkState {
    /// The caller's job id.
    pub job_id: JobId,
    /// The job.
    pub job: Arc<Job>,
    /// Its generation (batches of other generations belong to older work).
    pub gen: u64,
    /// First index of its space.
    pub start_index: u64,
    /// First index never handed out.
    pub next: u64,
    /// Ranges `(start, len)` that came back unsearched, served before fresh ones.
    pub reissue: VecDeque<(u64, u64)>,
    /// Leased work: the granted ranges not handed out yet, in order (`None`: open work, fresh
    /// indexes run on from `next` without end).
    pub grants: Option<VecDeque<(u64, u64)>>,
    /// Fresh indexes handed out so far.
    pub issued: u64,
    /// When the work was set.
    pub started: Instant,
    /// Indexes reported searched.
    pub searched: u64,
    /// Attempts reported.
    pub attempts: u64,
    /// Attempts reported per device.
    pub device_attempts: Vec<u64>,
    /// Batches reported.
    pub rounds: u64,
    /// A solution was found and the job stopped.
    pub solved: bool,
    /// Block number, for statistics.
    pub block_number: Option<u64>,
    /// Difficulty, for statistics.
    pub difficulty: Option<u64>,
}

impl WorkState {
    /// The state of `spec`, generation `gen`, run on `devices` devices from `now`.
    pub fn new(spec: WorkSpec, gen: u64, devices: usize, now: Instant) -> WorkState {
        WorkState {
            job_id: spec.job_id,
            job: Arc::new(spec.job),
            gen,
            start_index: spec.start_index,
            next: spec.start_index,
            reissue: VecDeque::new(),
            grants: spec
                .grants
                .map(|g| g.into_iter().filter(|r| r.1 > 0).collect()),
            issued: 0,
            started: now,
            searched: 0,
            attempts: 0,
            device_attempts: vec![0; devices],
            rounds: 0,
            solved: false,
            block_number: spec.block_number,
            difficulty: spec.difficulty,
        }
    }

    /// Hands out a range `(start, len)` of at most `want` indexes (at least 1): the front of
    /// the re-issue queue if there is one, otherwise fresh indexes (from `next` for open work,
    /// from the front grant for leased work). `None` when leased work has nothing left.
    pub fn take_range(&mut self, want: u64) -> Option<(u64, u64)> {
        let want = want.max(1);
        if let Some((s, l)) = self.reissue.pop_front() {
            return Some(split_front(&mut self.reissue, s, l, want));
        }
        let (s, len) = match &mut self.grants {
            None => (self.next, want),
            Some(grants) => {
                let (s, l) = grants.pop_front()?;
                split_front(grants, s, l, want)
            }
        };
        self.next = s.wrapping_add(len);
        self.issued += len;
        Some((s, len))
    }

    /// Adds a granted range to leased work (ignored for open work).
    pub fn grant(&mut self, start: u64, len: u64) {
        if let (Some(grants), true) = (&mut self.grants, len > 0) {
            grants.push_back((start, len));
        }
    }

    /// Leased work: indexes granted or given back that are not handed out (`None` for open
    /// work).
    pub fn unissued(&self) -> Option<u64> {
        let grants = self.grants.as_ref()?;
        Some(grants.iter().chain(&self.reissue).map(|r| r.1).sum())
    }

    /// Queues an unsearched range `(start, len)` to be handed out next.
    pub fn give_back(&mut self, start: u64, len: u64) {
        if len > 0 {
            self.reissue.push_front((start, len));
        }
    }

    /// Records batch `[start, start + count)` returned by device `id` with its first
    /// `searched` indexes searched in `attempts` attempts; the rest is queued for re-issue.
    pub fn record(&mut self, id: DeviceId, start: u64, count: u64, searched: u64, attempts: u64) {
        self.attempts += attempts;
        self.device_attempts[id] += attempts;
        self.searched += searched;
        self.rounds += 1;
        let (rest, len) = unsearched(start, count, searched);
        self.give_back(rest, len);
    }

    /// The accounting so far; `pending` lists the re-issue queue in the order it is served.
    pub fn account(&self) -> JobAccount {
        JobAccount {
            job_id: self.job_id,
            start_index: self.start_index,
            next_index: self.next,
            issued: self.issued,
            searched: self.searched,
            attempts: self.attempts,
            device_attempts: self.device_attempts.clone(),
            pending: self.reissue.iter().copied().collect(),
        }
    }
}

/// `(start, want)` of range `(start, len)` when it is longer than `want` (its rest goes back
/// to the front of `queue`), otherwise the whole range.
fn split_front(queue: &mut VecDeque<(u64, u64)>, start: u64, len: u64, want: u64) -> (u64, u64) {
    if len > want {
        queue.push_front((start.wrapping_add(want), len - want));
        (start, want)
    } else {
        (start, len)
    }
}

/// The unsearched rest `(start, len)` of batch `[start, start + count)` whose first `searched`
/// indexes were searched.
pub(super) fn unsearched(start: u64, count: u64, searched: u64) -> (u64, u64) {
    (start.wrapping_add(searched), count - searched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pow_seal::{Challenge, Work};

    fn work(start_index: u64, devices: usize) -> WorkState {
        let c = Challenge::v1(1, [1; 32], [3; 32], [4; 32]).unwrap();
        let spec = WorkSpec::new(7, Job::from_work(&Work::new(c, 10))).start_index(start_index);
        WorkState::new(spec, 1, devices, Instant::now())
    }

    fn leased(grants: Vec<(u64, u64)>) -> WorkState {
        let c = Challenge::v1(1, [1; 32], [3; 32], [4; 32]).unwrap();
        let spec = WorkSpec::new(7, Job::from_work(&Work::new(c, 10))).leased(grants);
        WorkState::new(spec, 1, 1, Instant::now())
    }

    #[test]
    fn leased_work_stays_inside_its_grants() {
        let mut w = leased(vec![(1000, 30), (5000, 0), (9000, 10)]);
        assert_eq!(w.account().start_index, 1000);
        assert_eq!(w.unissued(), Some(40));
        assert_eq!(w.take_range(25), Some((1000, 25)));
        assert_eq!(w.take_range(25), Some((1025, 5)));
        assert_eq!(w.take_range(25), Some((9000, 10)));
        assert_eq!(w.take_range(25), None);
        assert_eq!(w.unissued(), Some(0));
        // A range given back is served again; a new grant follows.
        w.give_back(1010, 5);
        w.grant(20_000, 8);
        assert_eq!(w.unissued(), Some(13));
        assert_eq!(w.take_range(100), Some((1010, 5)));
        assert_eq!(w.take_range(100), Some((20_000, 8)));
        assert_eq!(w.take_range(1), None);
        assert_eq!(w.account().issued, 48);
    }

    #[test]
    fn open_work_ignores_grants() {
        let mut w = work(0, 1);
        w.grant(500, 10);
        assert_eq!(w.unissued(), None);
        assert_eq!(w.take_range(4), Some((0, 4)));
    }

    #[test]
    fn fresh_ranges_follow_each_other() {
        let mut w = work(100, 1);
        assert_eq!(w.take_range(10).unwrap(), (100, 10));
        assert_eq!(w.take_range(5).unwrap(), (110, 5));
        // Asking for nothing still hands out one index.
        assert_eq!(w.take_range(0).unwrap(), (115, 1));
        assert_eq!(w.account().next_index, 116);
        assert_eq!(w.account().issued(), 16);
    }

    #[test]
    fn the_space_wraps_at_the_top() {
        let mut w = work(u64::MAX - 1, 1);
        assert_eq!(w.take_range(4).unwrap(), (u64::MAX - 1, 4));
        assert_eq!(w.take_range(1).unwrap(), (2, 1));
        assert_eq!(w.account().issued(), 5);
    }

    #[test]
    fn given_back_ranges_come_first_and_split_to_size() {
        let mut w = work(0, 1);
        assert_eq!(w.take_range(100).unwrap(), (0, 100));
        w.give_back(40, 60);
        assert_eq!(w.take_range(25).unwrap(), (40, 25));
        assert_eq!(w.take_range(25).unwrap(), (65, 25));
        // The last piece is shorter than asked; fresh indexes are not mixed in.
        assert_eq!(w.take_range(25).unwrap(), (90, 10));
        assert_eq!(w.take_range(25).unwrap(), (100, 25));
    }

    #[test]
    fn the_latest_range_given_back_is_served_first() {
        let mut w = work(0, 1);
        w.take_range(30).unwrap();
        w.give_back(0, 10);
        w.give_back(20, 10);
        assert_eq!(w.account().pending, vec![(20, 10), (0, 10)]);
        assert_eq!(w.take_range(100).unwrap(), (20, 10));
        assert_eq!(w.take_range(100).unwrap(), (0, 10));
        assert_eq!(w.take_range(100).unwrap(), (30, 100));
    }

    #[test]
    fn an_empty_range_is_not_queued() {
        let mut w = work(0, 1);
        w.take_range(10).unwrap();
        w.give_back(10, 0);
        assert!(w.account().pending.is_empty());
        assert_eq!(w.take_range(5).unwrap(), (10, 5));
    }

    #[test]
    fn a_short_batch_queues_its_rest_and_counts() {
        let mut w = work(1000, 2);
        let (s, c) = w.take_range(50).unwrap();
        w.record(1, s, c, 20, 23);
        let a = w.account();
        assert_eq!(a.job_id, 7);
        assert_eq!(a.start_index, 1000);
        assert_eq!(a.next_index, 1050);
        assert_eq!(a.searched, 20);
        assert_eq!(a.attempts, 23);
        assert_eq!(a.device_attempts, vec![0, 23]);
        assert_eq!(a.pending, vec![(1020, 30)]);
        assert_eq!(a.searched + a.pending_len(), a.issued());
        assert_eq!(w.rounds, 1);
        // A fully searched batch queues nothing.
        let (s, c) = w.take_range(30).unwrap();
        assert_eq!((s, c), (1020, 30));
        w.record(0, s, c, 30, 30);
        let a = w.account();
        assert!(a.pending.is_empty());
        assert_eq!(a.searched, 50);
        assert_eq!(a.device_attempts, vec![30, 23]);
        assert_eq!(a.searched, a.issued());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const DEVICES: usize = 3;

        #[derive(Clone, Debug)]
        enum Op {
            /// Hand out a batch of about this size.
            Take(u64),
            /// A batch in flight comes back with `percent` of it searched.
            Report {
                pick: usize,
                percent: u64,
                device: usize,
                extra_attempts: u64,
            },
            /// A batch in flight is given back whole (its device failed or was abandoned).
            GiveBack { pick: usize },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u64..300).prop_map(Op::Take),
                (any::<usize>(), 0u64..=100, 0..DEVICES, 0u64..5).prop_map(
                    |(pick, percent, device, extra_attempts)| Op::Report {
                        pick,
                        percent,
                        device,
                        extra_attempts,
                    }
                ),
                any::<usize>().prop_map(|pick| Op::GiveBack { pick }),
            ]
        }

        /// What the test knows independently of the state under test.
        struct Model {
            start: u64,
            in_flight: Vec<(u64, u64)>,
            searched: Vec<(u64, u64)>,
            attempts: u64,
            device_attempts: Vec<u64>,
        }

        /// Checks that searched, pending and in-flight ranges tile `[start, next)` exactly
        /// (no overlap, no gap) and that the account matches the model.
        fn check(w: &WorkState, m: &Model) -> Result<(), TestCaseError> {
            let a = w.account();
            prop_assert_eq!(a.job_id, 7);
            prop_assert_eq!(a.start_index, m.start);
            prop_assert_eq!(a.attempts, m.attempts);
            prop_assert_eq!(&a.device_attempts, &m.device_attempts);
            prop_assert_eq!(a.searched, m.searched.iter().map(|r| r.1).sum::<u64>());
            let in_flight: u64 = m.in_flight.iter().map(|r| r.1).sum();
            prop_assert_eq!(a.searched + a.pending_len() + in_flight, a.issued());
            // Offsets from the start, so that a space that wraps at 2^64 sorts in order.
            let mut all: Vec<(u64, u64)> = m
                .searched
                .iter()
                .chain(&m.in_flight)
                .chain(&a.pending)
                .map(|&(s, l)| (s.wrapping_sub(m.start), l))
                .collect();
            all.sort_unstable();
            let mut end = 0;
            for (s, l) in all {
                prop_assert!(l > 0, "an empty range is tracked");
                prop_assert_eq!(s, end, "ranges overlap or leave a gap");
                end = s + l;
            }
            prop_assert_eq!(end, a.issued());
            Ok(())
        }

        proptest! {
            #[test]
            fn index_space_bookkeeping(
                start in prop_oneof![any::<u64>(), Just(u64::MAX - 500)],
                ops in prop::collection::vec(op(), 0..80),
            ) {
                let mut w = work(start, DEVICES);
                let mut m = Model {
                    start,
                    in_flight: Vec::new(),
                    searched: Vec::new(),
                    attempts: 0,
                    device_attempts: vec![0; DEVICES],
                };
                for op in ops {
                    match op {
                        Op::Take(want) => {
                            let before = w.account();
                            let (s, c) = w.take_range(want).unwrap();
                            prop_assert!(c >= 1 && c <= want.max(1));
                            if let Some(&(front, len)) = before.pending.first() {
                                // Given-back ranges are re-issued before fresh ones.
                                prop_assert_eq!(s, front);
                                prop_assert_eq!(c, len.min(want.max(1)));
                                prop_assert_eq!(w.account().next_index, before.next_index);
                            } else {
                                prop_assert_eq!(s, before.next_index);
                                prop_assert_eq!(c, want.max(1));
                                prop_assert_eq!(
                                    w.account().next_index,
                                    before.next_index.wrapping_add(c)
                                );
                            }
                            m.in_flight.push((s, c));
                        }
                        Op::Report { pick, percent, device, extra_attempts } => {
                            if m.in_flight.is_empty() {
                                continue;
                            }
                            let (s, c) = m.in_flight.swap_remove(pick % m.in_flight.len());
                            let searched = c * percent / 100;
                            let attempts = searched + extra_attempts;
                            w.record(device, s, c, searched, attempts);
                            if searched > 0 {
                                m.searched.push((s, searched));
                            }
                            m.attempts += attempts;
                            m.device_attempts[device] += attempts;
                        }
                        Op::GiveBack { pick } => {
                            if m.in_flight.is_empty() {
                                continue;
                            }
                            let (s, c) = m.in_flight.swap_remove(pick % m.in_flight.len());
                            w.give_back(s, c);
                            prop_assert_eq!(w.account().pending.first().copied(), Some((s, c)));
                        }
                    }
                    check(&w, &m)?;
                }
                // Once every batch is back, searched and pending account for every index.
                for (s, c) in std::mem::take(&mut m.in_flight) {
                    w.give_back(s, c);
                }
                check(&w, &m)?;
                let a = w.account();
                prop_assert_eq!(a.searched + a.pending_len(), a.issued());
            }
        }
    }
}
