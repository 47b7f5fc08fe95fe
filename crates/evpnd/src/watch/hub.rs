//! The hub: what the driver publishes for the watch streams, kept bounded.
//!
//! The driver owns a [`Publisher`]. During a drain it buffers what the node produced (the
//! intent batch, node events, best-path changes) without any lock; at the end of the drain
//! [`Publisher::flush`] takes the hub's lock once, appends everything to the logs, updates
//! the snapshot table and bumps the notification every watcher waits on. Watchers
//! ([`WatchHandle`]) read the logs and the table page by page under the same lock, each read
//! bounded by a page, and never hold it across an await. Nothing is queued per watcher: a
//! watcher that reads slowly only falls behind in the bounded logs, so the daemon's memory
//! does not depend on how many watchers there are or how slow they are, and the driver never
//! waits for one.

use super::log::SeqLog;
use super::table::IntentTable;
use evpnd_dataplane::DataplaneIntent;
use evpnd_evpn::{EngineEvent, Subject};
use evpnd_node::{NodeEvent, RouteChange};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::watch;

/// How many deltas each stream keeps for resuming watchers (`[watch]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Data-plane intents.
    pub intents: usize,
    /// MAC-table changes.
    pub macs: usize,
    /// Best-path changes.
    pub routes: usize,
    /// Node events.
    pub events: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            intents: 100_000,
            macs: 100_000,
            routes: 10_000,
            events: 10_000,
        }
    }
}

/// The logs and the snapshot table.
pub struct Hub {
    /// Every data-plane intent, in the order the data plane got them.
    pub intents: SeqLog<DataplaneIntent>,
    /// The desired data-plane state after the newest intent, without the per-host entries
    /// (the intent snapshot reads those from the node: see `table.rs`).
    pub table: IntentTable,
    /// [`DataplaneIntent::Synced`] has been sent this run.
    pub synced: bool,
    /// MAC-table changes: the engine's events about MACs.
    pub macs: SeqLog<EngineEvent>,
    /// Best-path changes (a view is made of one when it is read: most are never read).
    pub routes: SeqLog<RouteChange>,
    /// Every node event.
    pub events: SeqLog<NodeEvent>,
}

impl Hub {
    /// An empty hub whose sequences belong to `epoch` (one per daemon run).
    pub fn new(retention: Retention, epoch: u64) -> Self {
        Hub {
            intents: SeqLog::new(retention.intents, epoch),
            table: IntentTable::default(),
            synced: false,
            macs: SeqLog::new(retention.macs, epoch),
            routes: SeqLog::new(retention.routes, epoch),
            events: SeqLog::new(retention.events, epoch),
        }
    }
}

/// True when `e` changes the MAC table (a MAC learned, moved, removed, frozen, unfrozen, or a
/// sticky conflict); duplicate-IP events are node events only.
pub fn is_mac_change(e: &EngineEvent) -> bool {
    match e {
        EngineEvent::Learned { .. }
        | EngineEvent::Moved { .. }
        | EngineEvent::Removed { .. }
        | EngineEvent::StickyConflict { .. } => true,
        EngineEvent::Duplicate { subject, .. } | EngineEvent::Unfrozen { subject, .. } => {
            matches!(subject, Subject::Mac(_))
        }
    }
}

/// How many flushes touched each stream: what watchers wait on, so that a flush of events
/// does not make the intent watchers read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    /// Flushes with intents.
    pub intents: u64,
    /// Flushes with MAC changes.
    pub macs: u64,
    /// Flushes with best-path changes.
    pub routes: u64,
    /// Flushes with node events.
    pub events: u64,
}

/// Picks one stream's version.
pub type StreamVersion = fn(&Versions) -> u64;

/// The driver's side (see the module notes).
pub struct Publisher {
    hub: Arc<Mutex<Hub>>,
    notify: watch::Sender<Versions>,
    intents: Vec<DataplaneIntent>,
    events: Vec<NodeEvent>,
    routes: Vec<RouteChange>,
    route_watchers: Arc<AtomicUsize>,
}

/// One subscribed `WatchRoutes` stream: while any lives, the driver keeps the node's
/// best-path feed on (see [`Publisher::route_watchers`]). Dropping it unsubscribes.
pub struct RouteWatcher(Arc<AtomicUsize>);

impl Drop for RouteWatcher {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A watcher's side: the hub and the notification of new deltas. Cheap to clone.
#[derive(Clone)]
pub struct WatchHandle {
    hub: Arc<Mutex<Hub>>,
    notify: watch::Receiver<Versions>,
    /// The version of the watched stream at the last [`WatchHandle::mark_seen`].
    seen: u64,
}

/// Locks the hub; a watcher that panicked while holding it left consistent data (every
/// update is a complete push), so a poisoned lock is used as is.
fn lock(hub: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Publisher {
    /// A publisher with an empty hub.
    pub fn new(retention: Retention, epoch: u64) -> Self {
        let (notify, _) = watch::channel(Versions::default());
        Publisher {
            hub: Arc::new(Mutex::new(Hub::new(retention, epoch))),
            notify,
            intents: Vec::new(),
            events: Vec::new(),
            routes: Vec::new(),
            route_watchers: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Subscribes a `WatchRoutes` stream for as long as the returned value lives.
    pub fn route_watcher(&self) -> RouteWatcher {
        self.route_watchers.fetch_add(1, Ordering::SeqCst);
        RouteWatcher(self.route_watchers.clone())
    }

    /// How many `WatchRoutes` streams are subscribed.
    pub fn route_watchers(&self) -> usize {
        self.route_watchers.load(Ordering::SeqCst)
    }

    /// Marks a gap in the best-path changes: the feed was off, so the changes since the last
    /// one logged are unknown ([`SeqLog::skip`]). Buffered changes are published first.
    pub fn route_gap(&mut self) {
        self.flush();
        lock(&self.hub).routes.skip();
    }

    /// A handle for a new watcher.
    pub fn handle(&self) -> WatchHandle {
        WatchHandle {
            hub: self.hub.clone(),
            notify: self.notify.subscribe(),
            seen: 0,
        }
    }

    /// Buffers the intent batch of this drain.
    pub fn intents(&mut self, batch: &[DataplaneIntent]) {
        self.intents.extend_from_slice(batch);
    }

    /// Buffers a node event.
    pub fn event(&mut self, event: &NodeEvent) {
        self.events.push(event.clone());
    }

    /// Buffers a best-path change.
    pub fn route(&mut self, change: RouteChange) {
        self.routes.push(change);
    }

    /// Publishes what was buffered (one lock, one notification).
    pub fn flush(&mut self) {
        if self.intents.is_empty() && self.events.is_empty() && self.routes.is_empty() {
            return;
        }
        let mut touched = Versions {
            intents: u64::from(!self.intents.is_empty()),
            routes: u64::from(!self.routes.is_empty()),
            events: u64::from(!self.events.is_empty()),
            macs: 0,
        };
        {
            let mut hub = lock(&self.hub);
            for i in self.intents.drain(..) {
                hub.table.apply(&i);
                hub.synced |= i == DataplaneIntent::Synced;
                hub.intents.push(i);
            }
            for e in self.events.drain(..) {
                if let NodeEvent::Engine(ev) = &e {
                    if is_mac_change(ev) {
                        hub.macs.push(*ev);
                        touched.macs = 1;
                    }
                }
                hub.events.push(e);
            }
            for r in self.routes.drain(..) {
                hub.routes.push(r);
            }
        }
        self.notify.send_modify(|v| {
            v.intents = v.intents.wrapping_add(touched.intents);
            v.macs = v.macs.wrapping_add(touched.macs);
            v.routes = v.routes.wrapping_add(touched.routes);
            v.events = v.events.wrapping_add(touched.events);
        });
    }
}

impl WatchHandle {
    /// Runs `f` on the hub under its lock (keep it to one page of work).
    pub fn with<R>(&self, f: impl FnOnce(&Hub) -> R) -> R {
        f(&lock(&self.hub))
    }

    /// Marks what `stream` published so far as seen: the next [`WatchHandle::published`]
    /// waits for a later flush of that stream. Call before reading, so no flush is missed
    /// between the read and the wait.
    pub fn mark_seen(&mut self, stream: StreamVersion) {
        self.seen = stream(&self.notify.borrow_and_update());
    }

    /// Waits for a flush of `stream` after the last [`WatchHandle::mark_seen`]; false when
    /// the daemon is shutting down.
    pub async fn published(&mut self, stream: StreamVersion) -> bool {
        let seen = self.seen;
        self.notify.wait_for(|v| stream(v) != seen).await.is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::watch::log::Read;
    use evpnd_evpn::Location;
    use evpnd_wire::{MacAddress, Vni};

    #[test]
    fn a_flush_publishes_a_drain_and_wakes_watchers() {
        let mut p = Publisher::new(Retention::default(), 9);
        let mut w = p.handle();
        let mut e = p.handle();
        w.mark_seen(|v| v.intents);
        e.mark_seen(|v| v.routes);
        let vni = Vni::new(100).unwrap();
        let mac = MacAddress([2, 0, 0, 0, 0, 1]);
        p.intents(&[
            DataplaneIntent::Vni { vni, vrf: None },
            DataplaneIntent::Synced,
        ]);
        p.event(&NodeEvent::Engine(EngineEvent::Learned {
            vni,
            mac,
            at: Location::Local,
        }));
        p.event(&NodeEvent::Engine(EngineEvent::Unfrozen {
            vni,
            subject: Subject::Ip("192.0.2.1".parse().unwrap()),
            by_operator: true,
        }));
        assert!(
            w.with(|h| h.intents.last()) == 0,
            "nothing before the flush"
        );
        p.flush();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        assert!(rt.block_on(w.published(|v| v.intents)));
        w.with(|h| {
            assert_eq!(h.intents.last(), 2);
            assert!(h.synced);
            assert_eq!(h.table.len(), 1);
            assert_eq!(h.events.last(), 2);
            assert_eq!(h.macs.last(), 1, "an IP's unfreeze is not a MAC change");
            assert!(matches!(h.macs.read(0, 9, 10), Read::Deltas(v) if v.len() == 1));
        });
        // No route was published: a route watcher still waits.
        let waited = rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_millis(20),
                e.published(|v| v.routes),
            )
            .await
        });
        assert!(waited.is_err());
        // An empty flush wakes nobody.
        w.mark_seen(|v| v.intents);
        p.flush();
        assert!(!w.notify.has_changed().unwrap());
    }
}
