//! When the node's best-path feed runs: only while some `WatchRoutes` stream is subscribed,
//! and for [`RouteFeedSwitch::LINGER`] after the last one left, so that a watcher that
//! reconnects soon resumes without a gap. Feeding nobody is not free: on a full table every
//! best-path change would be copied into the hub's bounded log only to be evicted unread
//! (issue 12: a fifth of the route reflector's CPU in the fan-out benchmark). When the feed
//! starts again after it was off, the log records a gap ([`super::SeqLog::skip`]), so a
//! watcher resuming from before it sees its sequence jump rather than missing changes.

use std::time::{Duration, Instant};

/// The driver's record of the feed (see the module notes).
#[derive(Debug, Default)]
pub struct RouteFeedSwitch {
    on: bool,
    was_on: bool,
    idle_since: Option<Instant>,
}

impl RouteFeedSwitch {
    /// How long the feed keeps running after the last route watcher left.
    pub const LINGER: Duration = Duration::from_secs(60);

    /// A route watcher subscribes: `Some(gap)` when the feed must be turned on, `gap` true
    /// when it ran before this run and the log must record the changes it missed.
    pub fn subscribe(&mut self) -> Option<bool> {
        self.idle_since = None;
        if self.on {
            return None;
        }
        self.on = true;
        Some(std::mem::replace(&mut self.was_on, true))
    }

    /// After a drain at `now` with `watchers` subscribed: true when the feed must be turned
    /// off (nobody has watched for [`RouteFeedSwitch::LINGER`]).
    pub fn should_stop(&mut self, watchers: usize, now: Instant) -> bool {
        if !self.on || watchers > 0 {
            self.idle_since = None;
            return false;
        }
        let since = *self.idle_since.get_or_insert(now);
        if now.saturating_duration_since(since) < Self::LINGER {
            return false;
        }
        self.on = false;
        self.idle_since = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_runs_while_watched_and_lingers_then_stops_and_later_gaps() {
        let t0 = Instant::now();
        let mut s = RouteFeedSwitch::default();
        assert!(!s.should_stop(0, t0), "off stays off");
        assert_eq!(
            s.subscribe(),
            Some(false),
            "first start: nothing was missed"
        );
        assert_eq!(s.subscribe(), None, "already on");
        assert!(!s.should_stop(1, t0 + Duration::from_secs(600)), "watched");
        assert!(
            !s.should_stop(0, t0 + Duration::from_secs(601)),
            "idle starts"
        );
        assert!(!s.should_stop(0, t0 + Duration::from_secs(660)), "lingers");
        assert!(s.should_stop(0, t0 + Duration::from_secs(661)));
        assert_eq!(s.subscribe(), Some(true), "restart after a stop: a gap");
    }

    #[test]
    fn a_watcher_within_the_linger_time_keeps_it_running() {
        let t0 = Instant::now();
        let mut s = RouteFeedSwitch::default();
        s.subscribe();
        assert!(!s.should_stop(0, t0));
        assert_eq!(s.subscribe(), None, "reconnected in time: no gap");
        assert!(
            !s.should_stop(0, t0 + Duration::from_secs(59)),
            "idle restarts"
        );
        assert!(!s.should_stop(0, t0 + Duration::from_secs(100)));
        assert!(s.should_stop(0, t0 + Duration::from_secs(160)));
    }
}
