//! `service Watch` (crates/api/proto/watch.proto): the watch streams over gRPC, read from the
//! watch hub (`crate::watch`). Each stream runs in its own task that reads the hub a page at a
//! time and sends into a small bounded channel; when the client stops reading, the task waits
//! on that channel and nothing else grows (the hub's logs are bounded). A watcher that falls
//! out of the retained log is cut off with RESOURCE_EXHAUSTED naming the sequence to resume
//! from. The contract is in docs/watch.md.

use super::intent::intent;
use super::{parse_family, render, status, Service};
use crate::control::{ManageRequest, Request};
use crate::watch::{Hub, Read, Resume, SeqLog, SnapshotWalk, StreamVersion, WatchHandle};
use evpnd_api::v1;
use evpnd_api::v1::watch_server::Watch;
use evpnd_evpn::{EngineEvent, Location, Subject};
use evpnd_node::{NodeEvent, RouteFilter, RouteView};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request as GrpcRequest, Response, Status};

/// Entries read from the hub under one lock.
const PAGE: usize = 256;

/// Entries per page of the node's per-host part of an intent snapshot: each page costs the
/// core task one pass over the engine's MAC table, so pages are larger than [`PAGE`] (a
/// snapshot of 1 M remote MACs takes about 250 passes).
const HOST_PAGE: usize = 4096;
/// Messages queued per stream between its task and the connection.
const QUEUE: usize = 64;

type Tx<M> = mpsc::Sender<Result<M, Status>>;
type Stream<M> = ReceiverStream<Result<M, Status>>;

/// Why a stream's follow loop ended.
enum Stop {
    /// The watcher went away, was cut off, or the daemon is stopping.
    Done,
    /// The sequences restarted (a new epoch): start again.
    Reset,
}

/// One stream's log, version, name and what resuming too late gives.
struct Feed<T: 'static> {
    log: fn(&Hub) -> &SeqLog<T>,
    version: StreamVersion,
    name: &'static str,
    on_resume: OnResume,
}

/// What a cut-off watcher gets when it resumes from where it was.
#[derive(Clone, Copy)]
enum OnResume {
    /// A fresh snapshot.
    Snapshot,
    /// The oldest retained delta, after a gap.
    Gap,
}

/// Sends one message; false when the watcher has gone.
async fn send<M>(tx: &Tx<M>, m: M) -> bool {
    tx.send(Ok(m)).await.is_ok()
}

/// Follows the log `log` picks from just after `after` in `epoch`, sending what `render` makes
/// of each delta (`None`: filtered out), until the watcher goes, falls behind or the epoch
/// ends.
async fn follow<T: Clone, M>(
    h: &mut WatchHandle,
    feed: &Feed<T>,
    (epoch, mut after): (u64, u64),
    tx: &Tx<M>,
    render: impl Fn(u64, T) -> Option<M>,
) -> Stop {
    let (log, stream, on_resume) = (feed.log, feed.name, feed.on_resume);
    loop {
        h.mark_seen(feed.version);
        match h.with(|hub| log(hub).read(after, epoch, PAGE)) {
            Read::Deltas(v) if v.is_empty() => {
                tokio::select! {
                    alive = h.published(feed.version) => if !alive { return Stop::Done },
                    _ = tx.closed() => return Stop::Done,
                }
            }
            Read::Deltas(v) => {
                for (seq, item) in v {
                    after = seq;
                    if let Some(m) = render(seq, item) {
                        if !send(tx, m).await {
                            return Stop::Done;
                        }
                    }
                }
            }
            Read::Evicted { oldest } => {
                let then = match on_resume {
                    OnResume::Snapshot => "it starts with a fresh snapshot",
                    OnResume::Gap => "it continues from the oldest kept, after a gap",
                };
                let _ = tx
                    .send(Err(Status::resource_exhausted(format!(
                        "consumer too slow: resume from sequence {after} (epoch {epoch}); \
                         the {stream} after it are no longer kept (oldest kept: {oldest}), \
                         so {then}"
                    ))))
                    .await;
                return Stop::Done;
            }
            Read::Reset => return Stop::Reset,
        }
    }
}

impl Service {
    /// A handle on the watch hub, from the driver.
    async fn watch_handle(&self) -> Result<WatchHandle, Status> {
        self.ask(Request::Watch).await
    }
}

/// Starts a stream: its task gets the handle and the sending side.
fn spawn_stream<M: Send + 'static, F>(run: impl FnOnce(Tx<M>) -> F) -> Response<Stream<M>>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(tx));
    Response::new(ReceiverStream::new(rx))
}

#[tonic::async_trait]
impl Watch for Service {
    type WatchIntentsStream = Stream<v1::IntentMessage>;
    type WatchRoutesStream = Stream<v1::RouteMessage>;
    type WatchMacsStream = Stream<v1::MacMessage>;
    type WatchEventsStream = Stream<v1::EventMessage>;

    async fn watch_intents(
        &self,
        req: GrpcRequest<v1::WatchIntentsRequest>,
    ) -> Result<Response<Self::WatchIntentsStream>, Status> {
        let r = req.into_inner();
        let h = self.watch_handle().await?;
        let driver = self.driver.clone();
        Ok(spawn_stream(|tx| intents(h, driver, r, tx)))
    }

    async fn watch_routes(
        &self,
        req: GrpcRequest<v1::WatchRoutesRequest>,
    ) -> Result<Response<Self::WatchRoutesStream>, Status> {
        let r = req.into_inner();
        let filter = RouteFilter {
            family: parse_family(&r.family)?,
            vni: (r.vni != 0).then_some(r.vni),
            ..RouteFilter::default()
        };
        let (h, subscription) = self.ask(Request::WatchRoutes).await?;
        Ok(spawn_stream(|tx| async move {
            routes(h, r, filter, tx).await;
            drop(subscription);
        }))
    }

    async fn watch_macs(
        &self,
        req: GrpcRequest<v1::WatchMacsRequest>,
    ) -> Result<Response<Self::WatchMacsStream>, Status> {
        let r = req.into_inner();
        // A VNI that does not exist is refused now, not in the stream.
        if r.vni != 0 {
            let vni = r.vni;
            self.ask(|tx| Request::Manage(ManageRequest::MacsPage(vni, None, 1, tx)))
                .await?
                .map_err(status)?;
        }
        let h = self.watch_handle().await?;
        let driver = self.driver.clone();
        Ok(spawn_stream(|tx| macs(h, driver, r, tx)))
    }

    async fn watch_events(
        &self,
        req: GrpcRequest<v1::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let r = req.into_inner();
        let h = self.watch_handle().await?;
        Ok(spawn_stream(|tx| events(h, r, tx)))
    }
}

// ---------------------------------------------------------------- intents

async fn intents(
    mut h: WatchHandle,
    driver: mpsc::UnboundedSender<Request>,
    r: v1::WatchIntentsRequest,
    tx: Tx<v1::IntentMessage>,
) {
    let mut start = h.with(|hub| {
        (
            hub.intents.epoch(),
            hub.intents.resume(r.from_sequence, r.epoch),
        )
    });
    loop {
        let position = match start {
            (epoch, Resume::After(seq)) => (epoch, seq),
            (_, Resume::Fresh) => match intent_snapshot(&h, &driver, &tx).await {
                Some(p) => p,
                None => return,
            },
        };
        let epoch = position.0;
        let stop = follow(
            &mut h,
            &Feed {
                log: |hub| &hub.intents,
                version: |v| v.intents,
                name: "intents",
                on_resume: OnResume::Snapshot,
            },
            position,
            &tx,
            |sequence, i| {
                Some(v1::IntentMessage {
                    epoch,
                    sequence,
                    body: Some(v1::intent_message::Body::Delta(intent(&i))),
                })
            },
        )
        .await;
        match stop {
            Stop::Done => return,
            Stop::Reset => start = (0, Resume::Fresh),
        }
    }
}

/// Sends a snapshot of the desired data plane, page by page: the hub's table for the keys that
/// do not grow with the hosts, the node's own tables (a request to the driver per page) for
/// remote FDB entries and proxy ARP/ND bindings (`watch::SnapshotWalk`). Returns the epoch and
/// the sequence the deltas continue after (`None`: the watcher went away or the daemon is
/// stopping).
async fn intent_snapshot(
    h: &WatchHandle,
    driver: &mpsc::UnboundedSender<Request>,
    tx: &Tx<v1::IntentMessage>,
) -> Option<(u64, u64)> {
    use v1::intent_message::Body;
    // The starting sequence is read before any page: every page reflects a later state.
    let (epoch, base) = h.with(|hub| (hub.intents.epoch(), hub.intents.last()));
    let msg = |body| v1::IntentMessage {
        epoch,
        sequence: base,
        body: Some(body),
    };
    if !send(tx, msg(Body::SnapshotBegin(v1::SnapshotBegin {}))).await {
        return None;
    }
    let mut walk = SnapshotWalk::default();
    let mut entries = 0u64;
    while !walk.is_done() {
        let page = match walk.host_cursor() {
            Some(after) => {
                match ask(driver, |a| {
                    Request::Manage(ManageRequest::HostIntentsPage(after, HOST_PAGE, a))
                })
                .await
                {
                    Ok(page) => walk.hosts(page),
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return None;
                    }
                }
            }
            None => h.with(|hub| walk.table_page(&hub.table, PAGE)),
        };
        for i in &page {
            entries += 1;
            if !send(tx, msg(Body::SnapshotEntry(intent(i)))).await {
                return None;
            }
        }
    }
    let synced = h.with(|hub| hub.synced);
    let end = v1::SnapshotEnd { entries, synced };
    send(tx, msg(Body::SnapshotEnd(end)))
        .await
        .then_some((epoch, base))
}

/// Where a stream without snapshot starts: after `from` when every later delta is kept, at
/// the oldest kept when `from` is too old, else (0, another epoch, not reached) from now.
fn start_without_snapshot<T: Clone>(log: &SeqLog<T>, from: u64, epoch: u64) -> (u64, u64) {
    let here = log.epoch();
    match log.resume(from, epoch) {
        Resume::After(seq) => (here, seq),
        Resume::Fresh if from != 0 && (epoch == 0 || epoch == here) && from <= log.last() => {
            (here, log.oldest().saturating_sub(1))
        }
        Resume::Fresh => (here, log.last()),
    }
}

async fn routes(
    mut h: WatchHandle,
    r: v1::WatchRoutesRequest,
    filter: RouteFilter,
    tx: Tx<v1::RouteMessage>,
) {
    let mut position = h.with(|hub| start_without_snapshot(&hub.routes, r.from_sequence, r.epoch));
    loop {
        let epoch = position.0;
        let stop = follow(
            &mut h,
            &Feed {
                log: |hub| &hub.routes,
                version: |v| v.routes,
                name: "routes",
                on_resume: OnResume::Gap,
            },
            position,
            &tx,
            |sequence, change| route_message(epoch, sequence, &RouteView::from(change), &filter),
        )
        .await;
        match stop {
            Stop::Done => return,
            Stop::Reset => position = h.with(|hub| (hub.routes.epoch(), 0)),
        }
    }
}

/// A best-path change as its message, when it passes `filter`.
fn route_message(
    epoch: u64,
    sequence: u64,
    view: &RouteView,
    filter: &RouteFilter,
) -> Option<v1::RouteMessage> {
    if filter.family.is_some_and(|f| f != view.family) {
        return None;
    }
    let paths: Vec<_> = view.paths.iter().map(|p| p.path.clone()).collect();
    let imet = matches!(
        view.route,
        evpnd_wire::Route::Evpn(evpnd_wire::EvpnRoute::InclusiveMulticast(_))
    );
    // A withdrawn type-3 route has no PMSI attribute left to tell its VNI: it passes.
    let vni_unknown = paths.is_empty() && imet;
    if !vni_unknown && !filter.matches(&view.route, &paths) {
        return None;
    }
    let kind = if view.paths.is_empty() {
        v1::RouteChangeKind::RouteChangeWithdrawn
    } else {
        v1::RouteChangeKind::RouteChangeBest
    };
    Some(v1::RouteMessage {
        epoch,
        sequence,
        kind: kind as i32,
        route: render::routes(std::slice::from_ref(view)).routes.pop(),
    })
}

async fn events(mut h: WatchHandle, r: v1::WatchEventsRequest, tx: Tx<v1::EventMessage>) {
    let mut position = h.with(|hub| start_without_snapshot(&hub.events, r.from_sequence, r.epoch));
    loop {
        let epoch = position.0;
        let stop = follow(
            &mut h,
            &Feed {
                log: |hub| &hub.events,
                version: |v| v.events,
                name: "events",
                on_resume: OnResume::Gap,
            },
            position,
            &tx,
            |sequence, e| {
                Some(v1::EventMessage {
                    epoch,
                    sequence,
                    event: Some(event(&e)),
                })
            },
        )
        .await;
        match stop {
            Stop::Done => return,
            Stop::Reset => position = h.with(|hub| (hub.events.epoch(), 0)),
        }
    }
}

/// A node event as its message.
fn event(e: &NodeEvent) -> v1::event_message::Event {
    use v1::event_message::Event as E;
    match e {
        NodeEvent::Established { address, families } => E::SessionUp(v1::SessionUp {
            peer: address.to_string(),
            families: families.iter().map(|f| f.name().to_string()).collect(),
        }),
        NodeEvent::Down {
            address,
            reason,
            graceful,
        } => E::SessionDown(v1::SessionDown {
            peer: address.to_string(),
            reason: reason.clone(),
            graceful: *graceful,
        }),
        NodeEvent::Refused { remote } | NodeEvent::RefusedGroupLimit { remote, .. } => {
            E::ConnectionRefused(v1::ConnectionRefused {
                remote: remote.to_string(),
            })
        }
        NodeEvent::MaxPrefix {
            address,
            family,
            limit,
            ..
        } => E::MaxPrefix(v1::MaxPrefixReached {
            peer: address.to_string(),
            family: family.name().to_string(),
            limit: *limit,
        }),
        NodeEvent::DeferralStarted { until } => E::DeferralStarted(v1::DeferralStarted {
            seconds: until.saturating_duration_since(Instant::now()).as_secs(),
        }),
        NodeEvent::DeferralEnded { timed_out } => E::DeferralEnded(v1::DeferralEnded {
            timed_out: *timed_out,
        }),
        NodeEvent::WildcardImportWithRtc => E::WildcardImportWithRtc(v1::WildcardImportWithRtc {}),
        NodeEvent::Ignored { reason } => E::Ignored(v1::Ignored {
            reason: reason.clone(),
        }),
        NodeEvent::Engine(ev) => E::Mac(mac_change(ev)),
        NodeEvent::DataplaneLink { vni, up, reason } => E::DataplaneLink(v1::DataplaneLink {
            vni: *vni,
            up: *up,
            reason: reason.clone().unwrap_or_default(),
        }),
        NodeEvent::DataplaneFailed { intent: i, reason } => {
            E::DataplaneFailed(v1::DataplaneFailed {
                intent: Some(intent(i)),
                reason: reason.clone(),
            })
        }
    }
}

// ---------------------------------------------------------------- MACs

/// An engine event as a MAC change (duplicate-IP events carry the IP instead of the MAC).
fn mac_change(e: &EngineEvent) -> v1::MacChange {
    use v1::MacChangeKind as K;
    let loc = |l: &Location| l.to_string();
    let (mac, ip) = match e {
        EngineEvent::Learned { mac, .. }
        | EngineEvent::Moved { mac, .. }
        | EngineEvent::Removed { mac, .. }
        | EngineEvent::StickyConflict { mac, .. } => (mac.to_string(), String::new()),
        EngineEvent::Duplicate { subject, .. } | EngineEvent::Unfrozen { subject, .. } => {
            match subject {
                Subject::Mac(m) => (m.to_string(), String::new()),
                Subject::Ip(i) => (String::new(), i.to_string()),
            }
        }
    };
    let base = |kind: K, vni: &evpnd_wire::Vni| v1::MacChange {
        kind: kind as i32,
        vni: vni.get(),
        mac: mac.clone(),
        ip: ip.clone(),
        ..Default::default()
    };
    match e {
        EngineEvent::Learned { vni, at, .. } => v1::MacChange {
            location: loc(at),
            ..base(K::MacChangeAdded, vni)
        },
        EngineEvent::Moved {
            vni,
            from,
            to,
            sequence,
            ..
        } => v1::MacChange {
            location: loc(to),
            previous_location: loc(from),
            mobility_sequence: *sequence,
            ..base(K::MacChangeMoved, vni)
        },
        EngineEvent::Removed { vni, .. } => base(K::MacChangeRemoved, vni),
        EngineEvent::Duplicate { vni, at, until, .. } => v1::MacChange {
            location: loc(at),
            freeze_seconds: until
                .map(|u| u.saturating_duration_since(Instant::now()).as_secs())
                .unwrap_or(0),
            permanent: until.is_none(),
            ..base(K::MacChangeFrozen, vni)
        },
        EngineEvent::Unfrozen {
            vni, by_operator, ..
        } => v1::MacChange {
            by_operator: *by_operator,
            ..base(K::MacChangeUnfrozen, vni)
        },
        EngineEvent::StickyConflict {
            vni,
            sticky_at,
            claimed_at,
            ..
        } => v1::MacChange {
            location: loc(sticky_at),
            claimed_location: loc(claimed_at),
            sticky: true,
            ..base(K::MacChangeStickyConflict, vni)
        },
    }
}

async fn macs(
    mut h: WatchHandle,
    driver: mpsc::UnboundedSender<Request>,
    r: v1::WatchMacsRequest,
    tx: Tx<v1::MacMessage>,
) {
    let wanted = |vni: evpnd_wire::Vni| r.vni == 0 || vni.get() == r.vni;
    let mut start = h.with(|hub| (hub.macs.epoch(), hub.macs.resume(r.from_sequence, r.epoch)));
    loop {
        let position = match start {
            (epoch, Resume::After(seq)) => (epoch, seq),
            (_, Resume::Fresh) => match mac_snapshot(&h, &driver, r.vni, &tx).await {
                Some(p) => p,
                None => return,
            },
        };
        let epoch = position.0;
        let stop = follow(
            &mut h,
            &Feed {
                log: |hub| &hub.macs,
                version: |v| v.macs,
                name: "MAC changes",
                on_resume: OnResume::Snapshot,
            },
            position,
            &tx,
            |sequence, e| {
                let vni = match e {
                    EngineEvent::Learned { vni, .. }
                    | EngineEvent::Moved { vni, .. }
                    | EngineEvent::Removed { vni, .. }
                    | EngineEvent::Duplicate { vni, .. }
                    | EngineEvent::Unfrozen { vni, .. }
                    | EngineEvent::StickyConflict { vni, .. } => vni,
                };
                wanted(vni).then(|| v1::MacMessage {
                    epoch,
                    sequence,
                    body: Some(v1::mac_message::Body::Change(mac_change(&e))),
                })
            },
        )
        .await;
        match stop {
            Stop::Done => return,
            Stop::Reset => start = (0, Resume::Fresh),
        }
    }
}

/// Asks the driver something on behalf of a stream.
async fn ask<T>(
    driver: &mpsc::UnboundedSender<Request>,
    make: impl FnOnce(crate::control::Answer<T>) -> Request,
) -> Result<T, Status> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    driver
        .send(make(tx))
        .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
    rx.await
        .map_err(|_| Status::internal("the daemon dropped the request"))
}

/// Sends a snapshot of the MAC table, a page at a time (the MAC changes after the returned
/// sequence bring it up to date); `None`: the watcher went away or the snapshot failed (the
/// stream then ends with the status).
async fn mac_snapshot(
    h: &WatchHandle,
    driver: &mpsc::UnboundedSender<Request>,
    vni: u32,
    tx: &Tx<v1::MacMessage>,
) -> Option<(u64, u64)> {
    use v1::mac_message::Body;
    let (epoch, base) = h.with(|hub| (hub.macs.epoch(), hub.macs.last()));
    let msg = |body| v1::MacMessage {
        epoch,
        sequence: base,
        body: Some(body),
    };
    if !send(tx, msg(Body::SnapshotBegin(v1::SnapshotBegin {}))).await {
        return None;
    }
    let mut entries = 0u64;
    let mut after = None;
    loop {
        // One page at a time from the driver (the table is never copied whole); the MAC
        // changes after `base` bring what was read earlier up to date.
        let page = match ask(driver, |a| {
            Request::Manage(ManageRequest::MacsPage(vni, after, PAGE, a))
        })
        .await
        {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => {
                let _ = tx.send(Err(status(e))).await;
                return None;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return None;
            }
        };
        for m in render::macs(&page.items).macs {
            entries += 1;
            if !send(tx, msg(Body::SnapshotEntry(m))).await {
                return None;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let end = v1::SnapshotEnd {
        entries,
        synced: false,
    };
    send(tx, msg(Body::SnapshotEnd(end)))
        .await
        .then_some((epoch, base))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn streams_without_snapshot_start_now_after_n_or_at_the_oldest_kept() {
        let mut log = SeqLog::new(3, 5);
        for i in 0..10 {
            log.push(i);
        }
        assert_eq!(start_without_snapshot(&log, 0, 0), (5, 10), "from now");
        assert_eq!(start_without_snapshot(&log, 8, 5), (5, 8), "resumed");
        assert_eq!(start_without_snapshot(&log, 2, 5), (5, 7), "too old: a gap");
        assert_eq!(start_without_snapshot(&log, 2, 4), (5, 10), "another run");
        assert_eq!(start_without_snapshot(&log, 11, 0), (5, 10), "not reached");
    }
}
