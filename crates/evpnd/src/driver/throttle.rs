//! Back-pressure from the data plane to connection input.
//!
//! A backend with its own thread (the Linux kernel) can fall behind a fast import: the kernel
//! installs a few hundred thousand FDB entries per second, the speaker imports faster. Without
//! a limit every intent the node emits waits in the backend's queue until the kernel takes it
//! (about 16 bytes per remote MAC at the peak of a full-table import). The driver therefore
//! stops taking connection input while more than [`BACKLOG_LIMIT`] intents wait
//! ([`evpnd_dataplane::Backend::backlog`]): the routes stay in the connections' read budgets
//! and TCP windows, and the node emits nothing new until the backend has caught up. Intents are
//! never dropped nor reordered: the node still hands every intent over in order, only later.
//!
//! The hold never lasts without progress: when the backlog has not shrunk for
//! [`STALL_LIMIT`] (a stuck kernel), input flows again without waiting, until the backlog is
//! back under the limit. Timers, API requests and data-plane feedback are never held (the
//! node's keepalives go out; its hold timers are restarted by what is read once input flows).

use std::time::{Duration, Instant};

/// Intents that may wait for the data plane before connection input is held back: two of the
/// Linux backend's write chunks (8192 entries each), enough to keep the kernel busy while the
/// node imports the next ones.
pub(crate) const BACKLOG_LIMIT: usize = 16_384;

/// How long input is held back without the backlog shrinking before the hold is given up.
pub(crate) const STALL_LIMIT: Duration = Duration::from_secs(1);

/// How often a held driver looks at the backlog again.
pub(crate) const RECHECK: Duration = Duration::from_millis(1);

/// Whether connection input is taken now (see the module notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The backlog is within the limit: input flows.
    Open,
    /// Input is held; `since` is when the backlog last shrank (or the hold began) and
    /// `backlog` its size then.
    Held { since: Instant, backlog: usize },
    /// The backend made no progress for [`STALL_LIMIT`] while input was held: input flows
    /// until the backlog is within the limit again.
    Stalled,
}

/// The driver's back-pressure decision (module notes): fed the backend's backlog, it says
/// whether connection input may be taken. Pure: the caller gives the time.
#[derive(Debug)]
pub(crate) struct InputThrottle {
    limit: usize,
    stall_limit: Duration,
    state: State,
}

/// A change of the throttle's state worth a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The backend took nothing for the stall limit: input flows without waiting for it.
    Stalled {
        /// Intents waiting.
        backlog: usize,
    },
    /// A stalled backend caught up: back-pressure applies again.
    Recovered,
}

impl InputThrottle {
    /// A throttle holding input back above `limit` waiting intents, giving up after
    /// `stall_limit` without progress.
    pub(crate) fn new(limit: usize, stall_limit: Duration) -> Self {
        InputThrottle {
            limit,
            stall_limit,
            state: State::Open,
        }
    }

    /// True when connection input may be taken now, with `backlog` intents waiting for the
    /// data plane; the transition, when the state changed in a way worth logging.
    pub(crate) fn admit(&mut self, backlog: usize, now: Instant) -> (bool, Option<Transition>) {
        if backlog <= self.limit {
            let recovered = (self.state == State::Stalled).then_some(Transition::Recovered);
            self.state = State::Open;
            return (true, recovered);
        }
        match self.state {
            State::Open => {
                self.state = State::Held {
                    since: now,
                    backlog,
                };
                (false, None)
            }
            State::Held {
                backlog: before, ..
            } if backlog < before => {
                self.state = State::Held {
                    since: now,
                    backlog,
                };
                (false, None)
            }
            State::Held { since, .. } => {
                if now.saturating_duration_since(since) >= self.stall_limit {
                    self.state = State::Stalled;
                    (true, Some(Transition::Stalled { backlog }))
                } else {
                    (false, None)
                }
            }
            State::Stalled => (true, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn input_flows_within_the_limit_and_is_held_above_it() {
        let t0 = Instant::now();
        let mut t = InputThrottle::new(100, 1000 * MS);
        assert_eq!(t.admit(0, t0), (true, None));
        assert_eq!(
            t.admit(100, t0),
            (true, None),
            "the limit itself is allowed"
        );
        assert_eq!(t.admit(101, t0), (false, None));
        assert_eq!(t.admit(101, t0 + 10 * MS), (false, None));
        assert_eq!(t.admit(100, t0 + 20 * MS), (true, None), "caught up");
        assert_eq!(t.admit(5000, t0 + 30 * MS), (false, None), "held again");
    }

    #[test]
    fn a_slow_backend_that_progresses_keeps_input_held() {
        let t0 = Instant::now();
        let mut t = InputThrottle::new(100, 1000 * MS);
        let mut backlog = 10_000;
        // 100 intents taken every 900 ms: slower than the stall limit in total, yet progress
        // each time, so the hold is never given up.
        for step in 0..50u32 {
            let now = t0 + step * 900 * MS;
            assert_eq!(t.admit(backlog, now), (false, None), "step {step}");
            backlog -= 100;
        }
    }

    #[test]
    fn a_stuck_backend_releases_input_until_it_catches_up() {
        let t0 = Instant::now();
        let mut t = InputThrottle::new(100, 1000 * MS);
        assert_eq!(t.admit(500, t0), (false, None));
        assert_eq!(t.admit(500, t0 + 999 * MS), (false, None));
        // Growing is not progress.
        assert_eq!(t.admit(600, t0 + 500 * MS), (false, None));
        assert_eq!(
            t.admit(600, t0 + 1000 * MS),
            (true, Some(Transition::Stalled { backlog: 600 }))
        );
        // Input flows while stalled, however large the backlog gets...
        assert_eq!(t.admit(50_000, t0 + 2000 * MS), (true, None));
        assert_eq!(t.admit(49_000, t0 + 3000 * MS), (true, None));
        // ... until the backend is within the limit again: then back-pressure resumes.
        assert_eq!(
            t.admit(100, t0 + 4000 * MS),
            (true, Some(Transition::Recovered))
        );
        assert_eq!(t.admit(101, t0 + 4001 * MS), (false, None));
    }
}
