//! The driver: one tokio task that owns the [`Node`] and translates between it and the world.
//!
//! * sockets ⇄ connection inputs: the listener's connections go to [`Node::accept`], outgoing
//!   ones are opened on [`Output::Connect`]; each connection's reader/writer tasks (`net.rs`)
//!   report bytes, progress and closes, which become [`Input`]s; [`Output::Send`] /
//!   [`Output::Close`] / [`Output::Abort`] go back to the writer;
//! * tokio timers ⇄ the node's deadline ([`Node::poll_timeout`], [`Node::handle_timeout`]);
//! * API requests ([`Request`]) ⇄ [`Node::command`] and the node's queries;
//! * data-plane intents → the data-plane backend in ordered batches (one per drain); its
//!   feedback (install failures, learned MACs, link state) comes back on a channel and goes
//!   to the node as [`Input::Dataplane`]; while the backend is behind (its backlog above a
//!   limit), connection input is held back, so that the node emits no more than the backend
//!   can take (`throttle.rs`);
//! * node events → the log;
//! * SIGHUP and `ReloadConfig` → the configuration file read again and its difference applied
//!   as node commands (`manage.rs`, [`crate::reload`]).
//!
//! It decides nothing about BGP or EVPN. What it owns is I/O: the listening socket and its
//! TCP-MD5 keys, connection tasks, the restart marker in the state directory (whose presence
//! tells the node this start is a restart), signals.

mod manage;
mod throttle;

use crate::config::{Config, DataplaneKind};
use crate::control::{Answer, Request, VnisAnswer};
use crate::net::{self, ConnEvent, ConnHandle, WriteCmd};
use crate::persist::Journal;
use evpnd_dataplane::{
    Backend, Feedback, FeedbackSink, InlineBackend, MemoryDataplane, NoDataplane,
};
use evpnd_evpn::{EngineEvent, Location, Subject};
use evpnd_node::{CommandError, ConnId, Input, Node, NodeEvent, Output, Transport};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// How long an outgoing connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Events other than connection traffic.
enum Event {
    /// A connection from the listener.
    Accepted(TcpStream, SocketAddr),
    /// An outgoing connection attempt finished.
    Connected(ConnId, std::io::Result<TcpStream>),
}

/// An answer to a request that changed what the journal holds, held until the journal is
/// written: sending it is all that is left to do.
type PendingAnswer = Box<dyn FnOnce() + Send>;

/// The driver's state around the node.
struct Driver {
    node: Node,
    dataplane: Box<dyn Backend>,
    journal: Journal,
    /// Answers to commands, sent once the drain that follows them has written the journal.
    answers: Vec<PendingAnswer>,
    listener: Option<Arc<TcpListener>>,
    conns: HashMap<ConnId, ConnHandle>,
    conn_tx: mpsc::UnboundedSender<(ConnId, ConnEvent)>,
    event_tx: mpsc::UnboundedSender<Event>,
    /// What the watch streams read (crate::watch), filled once per drain.
    watch: crate::watch::Publisher,
    /// Whether the node's best-path feed runs (only while a route watcher is subscribed).
    route_feed: crate::watch::RouteFeedSwitch,
    /// Engine events counted for metrics.
    event_counts: crate::metrics::EventCounts,
    /// The configuration as it runs (updated by reloads): what the next reload is compared
    /// with, and the `[bgp]` defaults of neighbours added at run time.
    running: Config,
    /// Back-pressure from the data plane to connection input.
    throttle: throttle::InputThrottle,
}

/// Starts the data plane `kind` names, reporting into `sink`.
fn backend(kind: DataplaneKind, sink: FeedbackSink) -> Result<Box<dyn Backend>, String> {
    Ok(match kind {
        DataplaneKind::None => Box::new(InlineBackend::new(NoDataplane, sink)),
        DataplaneKind::Memory => Box::new(InlineBackend::new(MemoryDataplane::default(), sink)),
        DataplaneKind::Linux(config) => Box::new(
            evpnd_dataplane::linux::LinuxBackend::spawn(*config, sink)
                .map_err(|e| format!("cannot start the Linux data plane: {e}"))?,
        ),
    })
}

/// Runs the daemon until SIGINT/SIGTERM. `requests` carries the API's requests.
pub async fn run(
    config: Config,
    mut requests: mpsc::UnboundedReceiver<Request>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (conn_tx, mut conn_rx) = mpsc::unbounded_channel();
    let (event_tx, mut event_rx) = mpsc::unbounded_channel();
    let listener = match config.listen {
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for BGP on {addr}: {e}"))?;
            for n in &config.node.neighbors {
                net::configure_listener(&l, n.peer.address, &n.transport).map_err(|e| {
                    format!("cannot set TCP-MD5 keys or GTSM on the BGP listener: {e}")
                })?;
            }
            for g in &config.node.peer_groups {
                for r in &g.listen_ranges {
                    net::configure_listener_range(&l, *r, &g.template.transport).map_err(|e| {
                        format!(
                            "cannot set TCP-MD5 keys or GTSM for peer-group {} ({r}) on the BGP listener: {e}",
                            g.name
                        )
                    })?;
                }
            }
            info!(%addr, "listening for BGP");
            let l = Arc::new(l);
            spawn_accept_loop(l.clone(), event_tx.clone());
            Some(l)
        }
        None => None,
    };
    // An unclean stop leaves the marker behind: this start is a graceful restart.
    let marker = config
        .state_dir
        .join(format!("evpnd-{}.running", config.node.router_id));
    let mut node_config = config.node.clone();
    node_config.restarting = marker.exists();
    std::fs::create_dir_all(&config.state_dir)
        .and_then(|()| std::fs::write(&marker, std::process::id().to_string()))
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    let mut node = Node::new(node_config, Instant::now())?;
    // The writers take the update groups' chunks as they are: no copy per peer here.
    node.set_shared_transmit(true);
    let (feedback_tx, mut feedback_rx) = mpsc::unbounded_channel::<Feedback>();
    let sink: FeedbackSink = Box::new(move |f| {
        let _ = feedback_tx.send(f);
    });
    let (journal, restored, journal_error) =
        Journal::load(&config.state_dir, &config.node.router_id.to_string());
    if let Some(e) = journal_error {
        warn!("API journal: {e}");
    }
    let mut d = Driver {
        node,
        dataplane: backend(config.dataplane.clone(), sink)?,
        journal,
        answers: Vec::new(),
        listener,
        conns: HashMap::new(),
        conn_tx,
        event_tx,
        watch: crate::watch::Publisher::new(config.watch, watch_epoch()),
        route_feed: Default::default(),
        event_counts: Default::default(),
        running: config.clone(),
        throttle: throttle::InputThrottle::new(throttle::BACKLOG_LIMIT, throttle::STALL_LIMIT),
    };
    if let Some(s) = d.node.evpn_status() {
        info!(vtep = %s.vtep, dataplane = d.dataplane.kind(), "EVPN engine running");
    }
    // What the API made before this start is made again (the journal's notes): VNIs, then
    // neighbours, then endpoints.
    d.restore(restored);
    d.drain();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        let deadline = d
            .node
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let take_input = d.admit_input();
        tokio::select! {
            Some((conn, ev)) = conn_rx.recv(), if take_input => d.on_conn(conn, ev),
            // Held back: look at the backlog again shortly (nothing else to do here).
            _ = tokio::time::sleep(throttle::RECHECK), if !take_input => {}
            Some(ev) = event_rx.recv() => d.on_event(ev),
            Some(req) = requests.recv() => d.on_request(req),
            Some(f) = feedback_rx.recv() => d.node.handle(Input::Dataplane(f), Instant::now()),
            _ = tokio::time::sleep_until(deadline) => d.node.handle_timeout(Instant::now()),
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
            _ = sighup.recv() => d.reload_logged(),
        }
        d.drain();
    }
    info!("shutting down");
    d.node.shutdown(Instant::now());
    d.drain();
    // Give the writers a moment to flush the NOTIFICATIONs.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = std::fs::remove_file(&marker);
    Ok(())
}

fn spawn_accept_loop(listener: Arc<TcpListener>, tx: mpsc::UnboundedSender<Event>) {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((s, a)) => {
                    if tx.send(Event::Accepted(s, a)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

impl Driver {
    /// True when connection input may be taken now: the data plane is not too far behind
    /// (`throttle.rs`).
    fn admit_input(&mut self) -> bool {
        let (admit, transition) = self
            .throttle
            .admit(self.dataplane.backlog(), Instant::now());
        match transition {
            Some(throttle::Transition::Stalled { backlog }) => warn!(
                backlog,
                dataplane = self.dataplane.kind(),
                "the data plane took no intent for {:?}; reading connections without waiting for it",
                throttle::STALL_LIMIT
            ),
            Some(throttle::Transition::Recovered) => {
                info!(dataplane = self.dataplane.kind(), "the data plane caught up")
            }
            None => {}
        }
        admit
    }

    fn on_conn(&mut self, conn: ConnId, ev: ConnEvent) {
        let now = Instant::now();
        match ev {
            // The credit goes back to the reader once the node has taken the bytes.
            ConnEvent::Data(bytes, _credit) => {
                self.node.handle(
                    Input::Received {
                        conn,
                        bytes: &bytes,
                    },
                    now,
                );
                self.hand_context(conn);
            }
            ConnEvent::Frames(frames, _credit) => self
                .node
                .handle(Input::ReceivedFrames { conn, frames }, now),
            ConnEvent::WriteProgress => self.node.handle(Input::WriteProgress { conn }, now),
            ConnEvent::Drained => self.node.handle(Input::Drained { conn }, now),
            ConnEvent::Closed => {
                if self.conns.remove(&conn).is_some() {
                    self.node.handle(Input::Closed { conn }, now);
                }
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        let now = Instant::now();
        match ev {
            Event::Accepted(stream, addr) => {
                let Ok(accepted) = self.node.accept(addr.ip(), now) else {
                    // The node logged the refusal (NodeEvent::Refused); dropping the stream
                    // closes it.
                    return;
                };
                let conn = accepted.conn;
                let address = evpnd_node::peer_address(addr.ip());
                if let Err(e) = net::configure_accepted(&stream, address, &accepted.transport) {
                    warn!(%addr, "cannot configure accepted connection: {e}");
                    self.node.handle(Input::Closed { conn }, now);
                    return;
                }
                self.attach(conn, stream);
            }
            Event::Connected(conn, Ok(stream)) => {
                self.attach(conn, stream);
                self.node.handle(Input::Connected { conn }, now);
            }
            Event::Connected(conn, Err(e)) => {
                debug!(conn = conn.0, "connect failed: {e}");
                self.node.handle(Input::ConnectFailed { conn }, now);
            }
        }
    }

    /// Gives `conn`'s reader its codec context once the session is Established on it: the
    /// reader decodes from then on, on another core than the node's.
    fn hand_context(&mut self, conn: ConnId) {
        let Some(h) = self.conns.get_mut(&conn) else {
            return;
        };
        if h.context.is_none() {
            return;
        }
        if let Some(ctx) = self.node.established_context(conn) {
            if let Some(tx) = h.context.take() {
                let _ = tx.send(ctx);
            }
        }
    }

    fn attach(&mut self, conn: ConnId, stream: TcpStream) {
        let handle = net::spawn_connection(stream, conn, self.conn_tx.clone());
        self.conns.insert(conn, handle);
    }

    /// Moves every output of the node to where it goes: outputs to the sockets, intents to
    /// the data plane as one ordered batch, events to the log; then intents, events and
    /// best-path changes to the watch streams (one publication per drain).
    fn drain(&mut self) {
        while let Some(o) = self.node.poll_output() {
            self.on_output(o);
        }
        let batch: Vec<_> = std::iter::from_fn(|| self.node.poll_intent()).collect();
        if !batch.is_empty() {
            self.watch.intents(&batch);
            self.dataplane.submit(batch);
        }
        while let Some(ev) = self.node.poll_event() {
            self.event_counts.observe(&ev);
            log_event(&ev);
            self.watch.event(&ev);
        }
        if let Err(e) = self.journal.flush() {
            warn!("cannot write the API journal: {e}");
        }
        for send in self.answers.drain(..) {
            send();
        }
        while let Some(change) = self.node.poll_best_path_change() {
            self.watch.route(change);
        }
        self.watch.flush();
        if self
            .route_feed
            .should_stop(self.watch.route_watchers(), Instant::now())
        {
            self.node.set_route_feed(false);
        }
    }

    /// Sends `value` on `tx` once this step's drain has written the journal: what the API was
    /// told is done survives a kill that follows the answer.
    fn answer_after_journal<T: Send + 'static>(&mut self, tx: Answer<T>, value: T) {
        self.answers.push(Box::new(move || {
            let _ = tx.send(value);
        }));
    }

    fn on_output(&mut self, o: Output) {
        match o {
            Output::Connect {
                conn,
                remote,
                transport,
            } => {
                let tx = self.event_tx.clone();
                tokio::spawn(async move {
                    let r = match tokio::time::timeout(
                        CONNECT_TIMEOUT,
                        net::connect(remote, &transport),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connect timed out",
                        )),
                    };
                    let _ = tx.send(Event::Connected(conn, r));
                });
            }
            Output::Send { conn, bytes } => {
                if let Some(h) = self.conns.get(&conn) {
                    let _ = h.tx.send(WriteCmd::Data(bytes));
                }
            }
            Output::SendShared { conn, bytes } => {
                if let Some(h) = self.conns.get(&conn) {
                    let _ = h.tx.send(WriteCmd::Shared(bytes));
                }
            }
            Output::Close { conn } => {
                if let Some(h) = self.conns.remove(&conn) {
                    let _ = h.tx.send(WriteCmd::Close);
                }
            }
            Output::Abort { conn } => {
                if let Some(h) = self.conns.remove(&conn) {
                    h.abort.notify_waiters();
                    h.abort.notify_one();
                }
            }
            Output::NeighborAdded { address, transport } => {
                self.listener_keys(address, &transport, true)
            }
            Output::NeighborRemoved { address, transport } => {
                self.listener_keys(address, &transport, false)
            }
        }
    }

    fn listener_keys(&self, address: IpAddr, t: &Transport, add: bool) {
        let Some(l) = &self.listener else {
            return;
        };
        let r = if add {
            net::configure_listener(l, address, t)
        } else {
            net::unconfigure_listener(l, address, t)
        };
        if let Err(e) = r {
            warn!(%address, "cannot update the BGP listener's TCP-MD5/GTSM settings: {e}");
        }
    }

    /// Sets (`add`) or removes the listener's TCP-MD5 keys and GTSM TTL for the listen ranges
    /// of peer group `g` (a reload added, changed or removed it).
    fn listener_ranges(&self, g: &evpnd_node::PeerGroupConfig, add: bool) {
        let Some(l) = &self.listener else {
            return;
        };
        for r in &g.listen_ranges {
            let result = if add {
                net::configure_listener_range(l, *r, &g.template.transport)
            } else {
                net::unconfigure_listener_range(l, *r, &g.template.transport)
            };
            if let Err(e) = result {
                warn!(group = %g.name, range = %r, "cannot update the BGP listener's TCP-MD5/GTSM settings: {e}");
            }
        }
    }

    fn on_request(&mut self, req: Request) {
        let now = Instant::now();
        let n = &mut self.node;
        match req {
            Request::Command(cmd, tx) => {
                let result = n.command(cmd.clone(), now);
                if result.is_ok() {
                    self.journal.record(&cmd);
                }
                // Answered after this drain has written the journal: an acknowledged attach or
                // detach survives a kill that follows the answer.
                self.answer_after_journal(tx, result);
            }
            Request::Neighbors(after, limit, tx) => {
                let _ = tx.send(n.neighbors_page(after, limit, now));
            }
            Request::Vnis(after, limit, tx) => {
                let answer = n.vnis_page(after, limit).and_then(|page| {
                    let status = n.evpn_status().ok_or_else(engine_off)?;
                    // The data plane's word on this page's VNIs only.
                    let links = page
                        .items
                        .iter()
                        .filter_map(|s| n.dataplane_link(s.evi.vni).map(|l| (s.evi.vni, l)))
                        .collect();
                    Ok(VnisAnswer {
                        vnis: page.items,
                        next: page.next,
                        status,
                        links,
                        dataplane: self.dataplane.kind(),
                        dataplane_stats: self.dataplane.stats(),
                    })
                });
                let _ = tx.send(answer);
            }
            Request::Dataplane(tx) => {
                let answer = if n.evpn_status().is_none() {
                    Err(engine_off())
                } else {
                    self.dataplane.memory().cloned().ok_or_else(|| {
                        CommandError::precondition(
                            "dataplane",
                            format!(
                                "the data plane is {:?}: only \"memory\" keeps tables to show",
                                self.dataplane.kind()
                            ),
                        )
                    })
                };
                let _ = tx.send(answer);
            }
            Request::Watch(tx) => {
                let _ = tx.send(self.watch.handle());
            }
            Request::WatchRoutes(tx) => {
                if let Some(gap) = self.route_feed.subscribe() {
                    self.node.set_route_feed(true);
                    if gap {
                        self.watch.route_gap();
                    }
                }
                let _ = tx.send((self.watch.handle(), self.watch.route_watcher()));
            }
            Request::Metrics(tx) => {
                let snapshot = crate::metrics::Snapshot::read(
                    &self.node,
                    self.dataplane.as_ref(),
                    &self.event_counts,
                );
                let _ = tx.send(snapshot);
            }
            Request::Explain(vni, subject, tx) => {
                let facts = crate::explain::gather(n, self.dataplane.as_ref(), vni, subject);
                let _ = tx.send(facts);
            }
            Request::Manage(m) => self.on_manage(m),
            Request::PeerGroups(tx) => {
                let _ = tx.send((n.peer_groups(), n.refused_out_of_range()));
            }
        }
    }
}

/// The epoch of this run's watch sequences: the start time in nanoseconds since 1970 (never
/// 0, which watchers use for "any epoch").
fn watch_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .max(1)
}

fn engine_off() -> CommandError {
    CommandError::precondition(
        "vni",
        "the EVPN engine is off: configure [evpn] vtep and [[vni]]",
    )
}

/// A subject as text: the MAC or the IP.
fn subject_text(s: &Subject) -> String {
    match s {
        Subject::Mac(m) => m.to_string(),
        Subject::Ip(ip) => ip.to_string(),
    }
}

/// Writes a node event to the log.
fn log_event(ev: &NodeEvent) {
    match ev {
        NodeEvent::Established { address, families } => {
            info!(peer = %address, families = ?families, "session established")
        }
        NodeEvent::Down {
            address,
            reason,
            graceful,
        } => info!(peer = %address, %reason, graceful, "session down"),
        NodeEvent::Refused { remote } => {
            info!(%remote, "refusing a BGP connection from an address that is no neighbor and in no listen range")
        }
        NodeEvent::RefusedGroupLimit {
            remote,
            group,
            limit,
        } => warn!(%remote, %group, limit, "refusing a BGP connection: the peer group is at its limit"),
        NodeEvent::MaxPrefix {
            address,
            family,
            limit,
            ..
        } => warn!(peer = %address, %family, limit, "maximum prefix count reached"),
        NodeEvent::DeferralStarted { .. } => info!(
            "restarting after an unclean stop: R bit set, advertising deferred until the peers' End-of-RIB"
        ),
        NodeEvent::DeferralEnded { timed_out: true } => {
            info!("select-defer-time expired: advertising without every End-of-RIB")
        }
        NodeEvent::DeferralEnded { timed_out: false } => {
            info!("every End-of-RIB received: advertising")
        }
        NodeEvent::WildcardImportWithRtc => warn!(
            "a wildcard import (*:VNI) cannot be expressed as an RT-Constraint membership: RTC peers send only the route targets of [bgp] import-route-targets and the EVIs' exact imports"
        ),
        NodeEvent::Ignored { reason } => warn!(%reason, "ignored"),
        NodeEvent::DataplaneLink { vni, up: true, .. } => info!(vni, "data plane: VNI devices up"),
        NodeEvent::DataplaneLink { vni, up: false, reason } => {
            warn!(vni, reason = reason.as_deref().unwrap_or(""), "data plane: VNI devices down")
        }
        NodeEvent::DataplaneFailed { intent, reason } => {
            warn!(?intent, %reason, "data plane could not apply an intent")
        }
        NodeEvent::Engine(e) => log_engine_event(e),
    }
}

fn log_engine_event(e: &EngineEvent) {
    match *e {
        // A fabric imports remote MACs by the hundred thousand: one line each is noise (and
        // costs the core task); local learns and every move, duplicate and conflict stay info.
        EngineEvent::Learned {
            vni,
            mac,
            at: at @ Location::Local,
        } => info!(%vni, %mac, %at, "MAC learned"),
        EngineEvent::Learned { vni, mac, at } => debug!(%vni, %mac, %at, "MAC learned"),
        EngineEvent::Moved {
            vni,
            mac,
            from,
            to,
            sequence,
        } => info!(%vni, %mac, %from, %to, sequence, "MAC moved"),
        EngineEvent::Removed { vni, mac } => debug!(%vni, %mac, "MAC removed"),
        EngineEvent::Duplicate {
            vni,
            subject,
            at,
            until,
        } => {
            let secs = until.map(|u| u.saturating_duration_since(Instant::now()).as_secs());
            warn!(%vni, subject = %subject_text(&subject), %at, freeze_seconds = ?secs, "duplicate detected: frozen (None = until cleared)")
        }
        EngineEvent::Unfrozen {
            vni,
            subject,
            by_operator,
        } => {
            info!(%vni, subject = %subject_text(&subject), by_operator, "duplicate freeze ended")
        }
        EngineEvent::StickyConflict {
            vni,
            mac,
            sticky_at,
            claimed_at,
        } => {
            warn!(%vni, %mac, %sticky_at, %claimed_at, "sticky MAC claimed elsewhere: claim ignored")
        }
    }
}
