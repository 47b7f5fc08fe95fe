//! The daemon core: one task owns every session FSM and the RIB, and moves events between them
//! and the sockets. It makes no protocol decisions of its own; those live in the sans-I/O
//! crates (DESIGN.md §2).

use crate::api::ApiRequest;
use crate::config::{Config, Neighbor};
use crate::evpn::EvpnNode;
use crate::net::{self, ConnEvent, WriteCmd};
use evpnd_bgp::rib::{PeerInfo, Rib, RibConfig};
use evpnd_bgp::session::{ConnId, Input, Output, Session, State};
use evpnd_bgp::PeerId;
use evpnd_wire::{Notification, PathAttribute};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;
use tracing::{debug, info, warn};

/// Identifies a connection's events: which peer, which connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnTag {
    peer: usize,
    conn: u64,
}

/// Events other than connection traffic.
pub enum CoreEvent {
    /// A connection from the listener.
    Accepted(TcpStream, SocketAddr),
    /// An outgoing connection attempt finished.
    ConnectDone(usize, std::io::Result<TcpStream>),
    /// A request from the API.
    Api(ApiRequest),
}

/// One configured neighbour and its live state.
pub(crate) struct PeerSlot {
    pub(crate) neighbor: Neighbor,
    pub(crate) session: Session,
    conns: HashMap<u64, net::ConnHandle>,
    connecting: bool,
    pub(crate) established: bool,
    /// Families whose End-of-RIB the peer sent on the current session.
    end_of_rib: Vec<evpnd_wire::Family>,
    /// UPDATE bytes handed to the connection's writer and not yet reported written.
    inflight: usize,
}

/// Flow control towards each peer: more of its Adj-RIB-Out is taken from the RIB (where the
/// encodings are shared by the update group) only once the writer has drained below this. It
/// bounds the daemon's per-peer memory whatever the peer's reading speed.
const INFLIGHT_LIMIT: usize = 1 << 20;

/// The core state.
pub struct Core {
    pub(crate) config: Config,
    pub(crate) peers: Vec<PeerSlot>,
    pub(crate) rib: Rib,
    conn_tx: mpsc::UnboundedSender<(ConnTag, ConnEvent)>,
    core_tx: mpsc::UnboundedSender<CoreEvent>,
    next_conn: u64,
    /// The tokio clock and the std clock the cores use, taken together once.
    epoch: (TokioInstant, std::time::Instant),
    /// After an unclean restart: defer advertising until the peers' End-of-RIB or this time
    /// (RFC 4724 §4.1, restarting speaker).
    deferral_until: Option<std::time::Instant>,
    /// Present while we run; left behind by a crash, it tells the next start it is a restart.
    marker: std::path::PathBuf,
    /// The EVPN engine with its data plane (`None`: no `[evpn] vtep` configured).
    pub(crate) evpn: Option<EvpnNode>,
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

impl Core {
    /// Runs the daemon until SIGINT/SIGTERM.
    pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
        let (conn_tx, mut conn_rx) = mpsc::unbounded_channel();
        let (core_tx, mut core_rx) = mpsc::unbounded_channel();
        if let Some(addr) = config.listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for BGP on {addr}: {e}"))?;
            net::configure_listener(&listener, &config.neighbors)
                .map_err(|e| format!("cannot set TCP-MD5 keys or GTSM on the BGP listener: {e}"))?;
            info!(%addr, "listening for BGP");
            let tx = core_tx.clone();
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((s, a)) => {
                            if tx.send(CoreEvent::Accepted(s, a)).is_err() {
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
        if let Some(api) = &config.api {
            crate::api::serve(api.clone(), core_tx.clone()).await?;
        }
        let t = now();
        let mut rib = Rib::new(RibConfig {
            local_asn: config.asn,
            router_id: config.router_id,
            cluster_id: config.cluster_id,
            default_local_pref: 100,
        });
        // The EVPN engine subscribes to best-path changes; without it, don't queue them.
        rib.set_best_change_tracking(config.evpn.is_some());
        let evpn = config
            .evpn
            .as_ref()
            .map(|c| EvpnNode::start(c, config.dataplane, &rib, t));
        let peers = config
            .neighbors
            .iter()
            .map(|n| PeerSlot {
                neighbor: n.clone(),
                session: Session::new(n.peer.clone(), t),
                conns: HashMap::new(),
                connecting: false,
                established: false,
                end_of_rib: Vec::new(),
                inflight: 0,
            })
            .collect();
        let marker = config
            .state_dir
            .join(format!("evpnd-{}.running", config.router_id));
        // An unclean stop leaves the marker: this start is a graceful restart (RFC 4724).
        let restarting = marker.exists()
            && config
                .neighbors
                .iter()
                .any(|n| n.peer.graceful_restart.is_some());
        std::fs::create_dir_all(&config.state_dir)
            .and_then(|()| std::fs::write(&marker, std::process::id().to_string()))
            .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
        let defer = config.select_defer_time;
        let mut core = Core {
            config,
            peers,
            rib,
            conn_tx,
            core_tx,
            next_conn: 1,
            epoch: (TokioInstant::now(), t),
            deferral_until: None,
            marker,
            evpn,
        };
        if restarting {
            info!(defer = ?defer, "restarting after an unclean stop: R bit set, advertising deferred until the peers' End-of-RIB");
            core.deferral_until = Some(t + defer);
            core.rib.set_deferral(true);
            for p in &mut core.peers {
                if p.neighbor.peer.graceful_restart.is_some() {
                    p.session.set_restarting(true);
                }
            }
        }
        core.originate_static();
        core.originate_rt_memberships();
        for p in &mut core.peers {
            p.session.handle(Input::Start, t);
        }
        core.pump();
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            let deadline = core.next_deadline();
            tokio::select! {
                Some((tag, ev)) = conn_rx.recv() => core.on_conn(tag, ev),
                Some(ev) = core_rx.recv() => core.on_core(ev),
                _ = tokio::time::sleep_until(deadline) => {},
                _ = tokio::signal::ctrl_c() => break,
                _ = sigterm.recv() => break,
            }
            core.timeouts();
            core.pump();
        }
        info!("shutting down");
        let t = now();
        for p in &mut core.peers {
            p.session.handle(
                Input::Stop {
                    notification: None,
                    restart_after: None,
                },
                t,
            );
        }
        core.pump();
        // Give the writers a moment to flush the NOTIFICATIONs.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = std::fs::remove_file(&core.marker);
        Ok(())
    }

    /// RT-Constraint (RFC 4684 §4): one membership route per imported route target (those of
    /// `[bgp] import-route-targets` and the exact import targets of every EVI), so that
    /// RTC-capable peers send us only the EVPN routes we import. A wildcard import (`*:VNI`)
    /// has no membership form: its routes arrive only through `[bgp] import-route-targets` or
    /// from peers without RTC.
    fn originate_rt_memberships(&mut self) {
        let mut rts = self.config.import_route_targets.clone();
        if let Some(e) = &self.config.evpn {
            for rt in crate::evpn::import_route_targets(e) {
                if !rts.contains(&rt) {
                    rts.push(rt);
                }
            }
            let rtc_peer = self
                .config
                .neighbors
                .iter()
                .any(|n| n.peer.families.contains(&evpnd_wire::Family::RT_CONSTRAINT));
            if rtc_peer && crate::evpn::has_wildcard_import(e) {
                warn!("a wildcard import (*:VNI) cannot be expressed as an RT-Constraint membership: RTC peers send only the route targets of [bgp] import-route-targets and the EVIs' exact imports");
            }
        }
        for rt in &rts {
            let membership = evpnd_wire::RtMembership::exact(
                self.config.asn,
                evpnd_wire::ExtendedCommunity::route_target(*rt).0,
            );
            self.rib.originate(
                evpnd_wire::Family::RT_CONSTRAINT,
                evpnd_wire::Nlri::new(evpnd_wire::Route::RtConstraint(membership)),
                vec![
                    PathAttribute::Origin(evpnd_wire::Origin::Igp),
                    PathAttribute::AsPath(evpnd_wire::AsPath::default()),
                ],
                evpnd_wire::NextHop::from_ip(IpAddr::V4(self.config.router_id)),
            );
        }
    }

    fn originate_static(&mut self) {
        for s in &self.config.static_routes {
            let mut attrs = vec![
                PathAttribute::Origin(evpnd_wire::Origin::Igp),
                PathAttribute::AsPath(evpnd_wire::AsPath::default()),
                PathAttribute::ExtendedCommunities(s.communities.clone()),
            ];
            if let Some(p) = &s.pmsi {
                attrs.push(PathAttribute::PmsiTunnel(p.clone()));
            }
            self.rib.originate(
                s.family,
                s.nlri,
                attrs,
                evpnd_wire::NextHop::from_ip(s.next_hop),
            );
        }
    }

    fn next_deadline(&self) -> TokioInstant {
        let mut next: Option<std::time::Instant> = self.rib.poll_timeout();
        if let Some(t) = self.evpn.as_ref().and_then(EvpnNode::poll_timeout) {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if let Some(d) = self.deferral_until {
            next = Some(next.map_or(d, |n| n.min(d)));
        }
        for p in &self.peers {
            if let Some(t) = p.session.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        match next {
            Some(t) => self.epoch.0 + t.saturating_duration_since(self.epoch.1),
            None => TokioInstant::now() + Duration::from_secs(3600),
        }
    }

    fn timeouts(&mut self) {
        let t = now();
        for p in &mut self.peers {
            if p.session.poll_timeout().is_some_and(|d| d <= t) {
                p.session.handle_timeout(t);
            }
        }
        if self.rib.poll_timeout().is_some_and(|d| d <= t) {
            self.rib.handle_timeout(t);
        }
        if let Some(e) = &mut self.evpn {
            e.handle_timeout(t);
        }
        if self.deferral_until.is_some_and(|d| d <= t) {
            info!("select-defer-time expired: advertising without every End-of-RIB");
            self.end_deferral();
        }
    }

    /// RFC 4724 §4.1: the restarting speaker selects and advertises once every GR-capable
    /// peer it expects has sent End-of-RIB for all negotiated families.
    fn check_deferral(&mut self) {
        if self.deferral_until.is_none() {
            return;
        }
        let done = self.peers.iter().all(|p| {
            if p.neighbor.peer.graceful_restart.is_none() {
                return true;
            }
            if !p.established {
                return false;
            }
            match p.session.negotiated() {
                Some(n) if n.peer_graceful_restart.is_some() => {
                    n.families.iter().all(|f| p.end_of_rib.contains(f))
                }
                _ => true,
            }
        });
        if done {
            info!("every End-of-RIB received: advertising");
            self.end_deferral();
        }
    }

    fn end_deferral(&mut self) {
        self.deferral_until = None;
        self.rib.set_deferral(false);
        for p in &mut self.peers {
            p.session.set_restarting(false);
        }
    }

    fn on_conn(&mut self, tag: ConnTag, ev: ConnEvent) {
        let t = now();
        let Some(p) = self.peers.get_mut(tag.peer) else {
            return;
        };
        if !p.conns.contains_key(&tag.conn) {
            return;
        }
        let conn = ConnId(tag.conn);
        match ev {
            ConnEvent::Data(bytes) => p.session.handle(
                Input::Received {
                    conn,
                    bytes: &bytes,
                },
                t,
            ),
            ConnEvent::WriteProgress => p.session.handle(Input::WriteProgress { conn }, t),
            ConnEvent::Drained => {
                p.inflight = 0;
                p.session.handle(Input::Drained { conn }, t);
            }
            ConnEvent::Closed => {
                p.conns.remove(&tag.conn);
                p.session.handle(Input::Closed { conn }, t);
            }
        }
    }

    fn on_core(&mut self, ev: CoreEvent) {
        match ev {
            CoreEvent::Accepted(stream, addr) => {
                let ip = match addr.ip() {
                    IpAddr::V6(v6) => v6
                        .to_ipv4_mapped()
                        .map(IpAddr::V4)
                        .unwrap_or(IpAddr::V6(v6)),
                    v4 => v4,
                };
                let Some(i) = self
                    .peers
                    .iter()
                    .position(|p| p.neighbor.peer.address == ip)
                else {
                    info!(%addr, "refusing a BGP connection from an unconfigured address");
                    return;
                };
                if let Err(e) = net::configure_accepted(&stream, &self.peers[i].neighbor) {
                    warn!(%addr, "cannot configure accepted connection: {e}");
                    return;
                }
                self.attach(i, stream, false);
            }
            CoreEvent::ConnectDone(i, result) => {
                let Some(p) = self.peers.get_mut(i) else {
                    return;
                };
                p.connecting = false;
                match result {
                    Ok(stream) => self.attach(i, stream, true),
                    Err(e) => {
                        debug!(peer = %p.neighbor.peer.address, "connect failed: {e}");
                        p.session.handle(Input::ConnectFailed, now());
                    }
                }
            }
            CoreEvent::Api(req) => crate::api::answer(self, req),
        }
    }

    fn attach(&mut self, i: usize, stream: TcpStream, outgoing: bool) {
        let conn = self.next_conn;
        self.next_conn += 1;
        let handle = net::spawn_connection(stream, ConnTag { peer: i, conn }, self.conn_tx.clone());
        let p = &mut self.peers[i];
        p.conns.insert(conn, handle);
        p.session.handle(
            Input::Connected {
                conn: ConnId(conn),
                outgoing,
            },
            now(),
        );
    }

    /// Moves outputs until every core is quiet.
    fn pump(&mut self) {
        for _round in 0..10_000 {
            let mut progress = false;
            for i in 0..self.peers.len() {
                while let Some(out) = self.peers[i].session.poll_output() {
                    progress = true;
                    self.on_output(i, out);
                }
            }
            let t = now();
            if let Some(e) = &mut self.evpn {
                progress |= e.step(&mut self.rib, t);
            }
            for i in 0..self.peers.len() {
                if !self.peers[i].established {
                    continue;
                }
                while self.peers[i].inflight < INFLIGHT_LIMIT {
                    let Some(bytes) = self.rib.poll_transmit(PeerId(i as u32)) else {
                        break;
                    };
                    progress = true;
                    self.peers[i].inflight += bytes.len();
                    self.peers[i].session.send_updates(bytes, t);
                }
            }
            if !progress {
                return;
            }
        }
        warn!("event pump did not settle; continuing on the next event");
    }

    fn on_output(&mut self, i: usize, out: Output) {
        let t = now();
        let peer_id = PeerId(i as u32);
        let addr = self.peers[i].neighbor.peer.address;
        match out {
            Output::Connect => {
                let p = &mut self.peers[i];
                if p.connecting {
                    return;
                }
                p.connecting = true;
                let n = p.neighbor.clone();
                let tx = self.core_tx.clone();
                tokio::spawn(async move {
                    let r = match tokio::time::timeout(Duration::from_secs(30), net::connect(&n))
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connect timed out",
                        )),
                    };
                    let _ = tx.send(CoreEvent::ConnectDone(i, r));
                });
            }
            Output::Send { conn, bytes } => {
                if let Some(h) = self.peers[i].conns.get(&conn.0) {
                    let _ = h.tx.send(WriteCmd::Data(bytes));
                }
            }
            Output::Close { conn } => {
                if let Some(h) = self.peers[i].conns.remove(&conn.0) {
                    let _ = h.tx.send(WriteCmd::Close);
                }
            }
            Output::Abort { conn } => {
                if let Some(h) = self.peers[i].conns.remove(&conn.0) {
                    h.abort.notify_waiters();
                    h.abort.notify_one();
                }
            }
            Output::Established(neg) => {
                info!(peer = %addr, families = ?neg.families, "session established");
                let p = &mut self.peers[i];
                p.established = true;
                p.end_of_rib.clear();
                p.inflight = 0;
                self.rib.peer_up(PeerInfo {
                    id: peer_id,
                    address: addr,
                    asn: neg.peer_asn,
                    router_id: neg.peer_router_id,
                    external: p.neighbor.peer.is_external(),
                    rr_client: p.neighbor.peer.route_reflector_client,
                    families: neg.families.clone(),
                    tx: neg.tx.clone(),
                    max_prefix: p.neighbor.peer.max_prefix.clone(),
                });
            }
            Output::Update { update, outcome } => {
                if let Err(e) = self.rib.apply_update(peer_id, &update, &outcome) {
                    let limit = self.peers[i]
                        .neighbor
                        .peer
                        .max_prefix
                        .iter()
                        .find(|m| m.family == e.family)
                        .copied();
                    warn!(peer = %addr, family = %e.family, limit = e.limit, "maximum prefix count reached");
                    let mut data = Vec::with_capacity(7);
                    data.extend_from_slice(&e.family.afi.0.to_be_bytes());
                    data.push(e.family.safi.0);
                    data.extend_from_slice(&e.limit.to_be_bytes());
                    self.peers[i].session.handle(
                        Input::Stop {
                            notification: Some(Notification {
                                code: evpnd_wire::error::code::CEASE,
                                subcode: 1,
                                data,
                            }),
                            restart_after: limit.and_then(|m| m.restart_after),
                        },
                        t,
                    );
                }
            }
            Output::RouteRefresh(rr) => {
                use evpnd_wire::message::refresh_subtype;
                let enhanced = self.peers[i]
                    .session
                    .negotiated()
                    .is_some_and(|n| n.enhanced_route_refresh);
                match rr.subtype {
                    // RFC 7313 §4: answer with BoRR, the table, EoRR when enhanced refresh is on.
                    refresh_subtype::NORMAL if enhanced => {
                        self.rib.route_refresh_enhanced(peer_id, rr.family)
                    }
                    refresh_subtype::NORMAL => self.rib.route_refresh(peer_id, rr.family),
                    refresh_subtype::BEGIN => self.rib.begin_of_route_refresh(peer_id, rr.family),
                    refresh_subtype::END => self.rib.end_of_route_refresh(peer_id, rr.family),
                    _ => {}
                }
            }
            Output::EndOfRib(family) => {
                self.rib.end_of_rib(peer_id, family);
                if !self.peers[i].end_of_rib.contains(&family) {
                    self.peers[i].end_of_rib.push(family);
                }
                self.check_deferral();
            }
            Output::Down(reason) => {
                info!(peer = %addr, reason = %reason.text, graceful = reason.graceful_restart.is_some(), "session down");
                self.peers[i].established = false;
                self.peers[i].end_of_rib.clear();
                self.rib.peer_down(peer_id, reason.graceful_restart, t);
            }
        }
    }

    /// Sends ROUTE-REFRESH requests (RFC 2918) to the neighbour at `address`, for `family` or
    /// (empty) every negotiated family.
    pub(crate) fn refresh_neighbor(
        &mut self,
        address: &str,
        family: &str,
    ) -> Result<evpnd_api::v1::RefreshNeighborResponse, tonic::Status> {
        use tonic::Status;
        let ip: IpAddr = address
            .parse()
            .map_err(|_| Status::invalid_argument(format!("{address:?} is not an IP address")))?;
        let p = self
            .peers
            .iter_mut()
            .find(|p| p.neighbor.peer.address == ip)
            .ok_or_else(|| Status::not_found(format!("no neighbor {ip}")))?;
        let neg = p
            .session
            .negotiated()
            .filter(|_| p.established)
            .ok_or_else(|| {
                Status::failed_precondition(format!("neighbor {ip} is not Established"))
            })?;
        if !neg.route_refresh {
            return Err(Status::failed_precondition(format!(
                "neighbor {ip} did not announce route refresh (RFC 2918)"
            )));
        }
        let families: Vec<evpnd_wire::Family> = if family.is_empty() {
            neg.families.clone()
        } else {
            let f = neg
                .families
                .iter()
                .find(|f| f.name() == family)
                .copied()
                .ok_or_else(|| {
                    Status::invalid_argument(format!("family {family:?} not negotiated with {ip}"))
                })?;
            vec![f]
        };
        let t = now();
        for f in &families {
            p.session.send_route_refresh(*f, t);
        }
        Ok(evpnd_api::v1::RefreshNeighborResponse {
            families: families.iter().map(|f| f.name()).collect(),
        })
    }

    /// The session state of neighbour `i` (for the API).
    pub(crate) fn state_name(&self, i: usize) -> &'static str {
        match self.peers[i].session.state() {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}
