//! The [`Node`]: inputs in, outputs polled out, one timer (see the crate documentation).

use crate::config::{NodeConfig, StaticRoute, Transport};
use crate::error::CommandError;
use crate::event::{DataplaneFeedback, NodeEvent};
use crate::evpn::EvpnPart;
use crate::peer::{peer_address, PeerSlot, INFLIGHT_LIMIT};
use crate::restart::{every_end_of_rib_in, Deferral};
use crate::transmit::transmit_one;
use evpnd_bgp::rib::{BestChange, PeerInfo, Rib, RibConfig};
use evpnd_bgp::session::{ConnId, DecodedFrame, Input as SessionInput, Output as SessionOutput};
use evpnd_bgp::PeerId;
use evpnd_dataplane::DataplaneIntent;
use evpnd_evpn::Engine;
use evpnd_wire::message::refresh_subtype;
use evpnd_wire::{
    AsPath, ExtendedCommunity, Family, NextHop, Nlri, Origin, PathAttribute, Route, RouteTarget,
    RtMembership,
};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Rounds of the pump before it gives up for this input (a livelock guard; every round that
/// moves nothing ends it at once).
const MAX_PUMP_ROUNDS: usize = 10_000;

/// An event about a connection the driver holds, or the data plane's feedback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// The outgoing connection asked for by [`Output::Connect`] is up.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// The outgoing connection attempt failed.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
    },
    /// Bytes read from a connection (split anywhere).
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// Whole messages read from a connection, framed and decoded by the driver with the
    /// connection's context ([`Node::established_context`], `evpnd_bgp::session::Framer`):
    /// handled exactly as their bytes would be.
    ReceivedFrames {
        /// The connection.
        conn: ConnId,
        /// The messages, in order.
        frames: Vec<DecodedFrame>,
    },
    /// Some of the bytes queued on a connection were written (restarts the send hold timer,
    /// RFC 9687 §4.3).
    WriteProgress {
        /// The connection.
        conn: ConnId,
    },
    /// Every byte queued on a connection is written.
    Drained {
        /// The connection.
        conn: ConnId,
    },
    /// A connection is closed (by the peer, the network, or after [`Output::Close`]).
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// The data plane reports something.
    Dataplane(DataplaneFeedback),
}

/// What the node asks of the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to `remote` with `transport`'s options, then report
    /// [`Input::Connected`] or [`Input::ConnectFailed`] for `conn`.
    Connect {
        /// The name of the new connection.
        conn: ConnId,
        /// Where to connect.
        remote: SocketAddr,
        /// Socket options (source address, TCP-MD5, TTL).
        transport: Transport,
    },
    /// Write `bytes` on `conn` after what is queued.
    Send {
        /// The connection.
        conn: ConnId,
        /// Whole BGP messages.
        bytes: Vec<u8>,
    },
    /// Like [`Output::Send`], with UPDATEs whose bytes are shared with other connections
    /// (one encoding per update group); only after [`Node::set_shared_transmit`].
    SendShared {
        /// The connection.
        conn: ConnId,
        /// Whole BGP messages.
        bytes: std::sync::Arc<[u8]>,
    },
    /// Write what is queued on `conn` (within a short bound), then close it.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Close `conn` at once, dropping what is queued.
    Abort {
        /// The connection.
        conn: ConnId,
    },
    /// A neighbour was added: the listening socket must accept it (TCP-MD5 key, GTSM TTL).
    NeighborAdded {
        /// Its address.
        address: IpAddr,
        /// Its transport options.
        transport: Transport,
    },
    /// A neighbour was removed: its listener settings can go.
    NeighborRemoved {
        /// Its address.
        address: IpAddr,
        /// The transport options it had.
        transport: Transport,
    },
}

/// An accepted connection: its name, and the options the driver applies to the socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The name of the connection in every later input and output.
    pub conn: ConnId,
    /// The neighbour's transport options (GTSM/multihop TTL).
    pub transport: Transport,
}

/// Why a connection was refused before OPEN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No neighbour has the address the connection came from.
    NotANeighbor(IpAddr),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NotANeighbor(a) => write!(f, "{a} is not a configured neighbor"),
        }
    }
}

impl std::error::Error for Refused {}

/// One router: sessions, RIB and EVPN engine (see the crate documentation).
#[derive(Debug)]
pub struct Node {
    pub(crate) asn: u32,
    pub(crate) router_id: Ipv4Addr,
    select_defer_time: Duration,
    /// Route targets imported besides the EVIs' (configuration).
    import_route_targets: Vec<RouteTarget>,
    /// Neighbours by [`PeerId`] (the index); a removed one leaves `None`, ids are never reused.
    pub(crate) peers: Vec<Option<PeerSlot>>,
    /// Live connections and their neighbour.
    conns: BTreeMap<ConnId, usize>,
    next_conn: u64,
    pub(crate) rib: Rib,
    pub(crate) evpn: Option<EvpnPart>,
    pub(crate) deferral: Option<Deferral>,
    /// Until the data plane is told it holds everything ([`DataplaneIntent::Synced`]): the
    /// latest time to tell it. `None` once told.
    pub(crate) sync_deadline: Option<Instant>,
    /// [`DataplaneIntent::Synced`] is due after the engine's queued intents.
    pub(crate) sync_due: bool,
    /// RT-Constraint memberships we originate.
    memberships: Vec<RouteTarget>,
    wildcard_warned: bool,
    /// This start is a restart whose neighbours added before any I/O (the driver's journal of
    /// API-made neighbours) still have to join the deferral ([`Node::join_restart`]).
    restart_pending: bool,
    out: VecDeque<Output>,
    pub(crate) events: VecDeque<NodeEvent>,
    /// Best-path changes kept for a watcher ([`Node::set_route_feed`]); `None`: not kept.
    pub(crate) route_feed: Option<VecDeque<BestChange>>,
    /// UPDATEs go out as [`Output::SendShared`] ([`Node::set_shared_transmit`]).
    pub(crate) shared_transmit: bool,
}

impl Node {
    /// A router from `config` (validated first: a bad value is refused and nothing starts).
    /// Every neighbour's session starts; the first outputs are ready to poll.
    pub fn new(config: NodeConfig, now: Instant) -> Result<Node, CommandError> {
        config.validate()?;
        let mut rib = Rib::new(RibConfig {
            local_asn: config.asn,
            router_id: config.router_id,
            cluster_id: config.cluster_id,
            default_local_pref: 100,
        });
        // The engine subscribes to best-path changes; without it, don't queue them.
        rib.set_best_change_tracking(config.evpn.is_some());
        let mut node = Node {
            asn: config.asn,
            router_id: config.router_id,
            select_defer_time: config.select_defer_time,
            import_route_targets: config.import_route_targets,
            peers: config
                .neighbors
                .into_iter()
                .map(|n| Some(PeerSlot::new(n, now)))
                .collect(),
            conns: BTreeMap::new(),
            next_conn: 1,
            rib,
            evpn: None,
            deferral: None,
            sync_deadline: Some(now + config.select_defer_time),
            sync_due: false,
            memberships: Vec::new(),
            wildcard_warned: false,
            restart_pending: config.restarting,
            out: VecDeque::new(),
            events: VecDeque::new(),
            route_feed: None,
            shared_transmit: false,
        };
        if let Some(e) = config.evpn {
            let mut part = EvpnPart::new(Engine::new(e.engine));
            // VRFs first: an EVI's `Vni` intent names its VRF, announced before it.
            for vrf in e.vrfs {
                part.engine.add_vrf(vrf);
            }
            for evi in e.evis {
                part.engine.add_evi(evi);
            }
            for a in &e.endpoints {
                match part.engine.local_attach(a, now) {
                    Ok(()) => {
                        part.add_origin(a.vni, a.mac, false);
                    }
                    Err(x) => node.events.push_back(NodeEvent::Ignored {
                        reason: format!("endpoint {} in VNI {}: {x}", a.mac, a.vni),
                    }),
                }
            }
            node.evpn = Some(part);
        }
        if config.restarting {
            node.begin_deferral(now);
        }
        for s in &config.static_routes {
            node.originate_static(s);
        }
        node.sync_memberships();
        for p in node.slots_mut() {
            p.session.handle(SessionInput::Start, now);
        }
        node.pump(now);
        Ok(node)
    }

    pub(crate) fn slots(&self) -> impl Iterator<Item = &PeerSlot> {
        self.peers.iter().flatten()
    }

    fn slots_mut(&mut self) -> impl Iterator<Item = &mut PeerSlot> {
        self.peers.iter_mut().flatten()
    }

    /// The index of the neighbour at `address`.
    pub(crate) fn peer_index(&self, address: IpAddr) -> Option<usize> {
        self.peers
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.address() == address))
    }

    fn originate_static(&mut self, s: &StaticRoute) {
        let mut attrs = vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::default()),
            PathAttribute::ExtendedCommunities(s.communities.clone()),
        ];
        if let Some(p) = &s.pmsi {
            attrs.push(PathAttribute::PmsiTunnel(p.clone()));
        }
        self.rib
            .originate(s.family, s.nlri, attrs, NextHop::from_ip(s.next_hop));
    }

    fn membership_nlri(&self, rt: RouteTarget) -> Nlri {
        Nlri::new(Route::RtConstraint(RtMembership::exact(
            self.asn,
            ExtendedCommunity::route_target(rt).0,
        )))
    }

    /// RT-Constraint (RFC 4684 §4): one membership route per imported route target (the
    /// configured ones and the exact import targets of every EVI), so that RTC-capable peers
    /// send us only the EVPN routes we import. Called whenever the EVIs change: new targets
    /// are originated, targets no EVI needs any more are withdrawn.
    pub(crate) fn sync_memberships(&mut self) {
        let mut wanted = self.import_route_targets.clone();
        // Sets beside the lists: thousands of EVIs must not cost a scan per target.
        let mut wanted_set: std::collections::HashSet<RouteTarget> =
            wanted.iter().copied().collect();
        if let Some(e) = &self.evpn {
            for rt in e.import_route_targets() {
                if wanted_set.insert(rt) {
                    wanted.push(rt);
                }
            }
        }
        let had: std::collections::HashSet<RouteTarget> =
            self.memberships.iter().copied().collect();
        let gone: Vec<RouteTarget> = self
            .memberships
            .iter()
            .filter(|rt| !wanted_set.contains(rt))
            .copied()
            .collect();
        for rt in gone {
            let nlri = self.membership_nlri(rt);
            self.rib.withdraw_local(Family::RT_CONSTRAINT, &nlri);
        }
        for rt in &wanted {
            if !had.contains(rt) {
                let nlri = self.membership_nlri(*rt);
                self.rib.originate(
                    Family::RT_CONSTRAINT,
                    nlri,
                    vec![
                        PathAttribute::Origin(Origin::Igp),
                        PathAttribute::AsPath(AsPath::default()),
                    ],
                    NextHop::from_ip(IpAddr::V4(self.router_id)),
                );
            }
        }
        self.memberships = wanted;
        let rtc_peer = self
            .slots()
            .any(|p| p.config.peer.families.contains(&Family::RT_CONSTRAINT));
        let wildcard = self
            .evpn
            .as_ref()
            .is_some_and(EvpnPart::has_wildcard_import);
        if rtc_peer && wildcard && !self.wildcard_warned {
            self.events.push_back(NodeEvent::WildcardImportWithRtc);
        }
        self.wildcard_warned = rtc_peer && wildcard;
    }

    // ----------------------------------------------------------------------------------------
    // Inputs

    /// A connection arrived from `remote`. It is matched to the neighbour with that address
    /// (an IPv4-mapped IPv6 address counts as the IPv4 one) or refused before any OPEN.
    pub fn accept(&mut self, remote: IpAddr, now: Instant) -> Result<Accepted, Refused> {
        let address = peer_address(remote);
        let Some(i) = self.peer_index(address) else {
            self.events
                .push_back(NodeEvent::Refused { remote: address });
            return Err(Refused::NotANeighbor(address));
        };
        let conn = self.new_conn(i);
        let Some(p) = self.peers[i].as_mut() else {
            return Err(Refused::NotANeighbor(address));
        };
        p.conns.push(conn);
        let transport = p.config.transport.clone();
        p.session.handle(
            SessionInput::Connected {
                conn,
                outgoing: false,
            },
            now,
        );
        self.pump(now);
        Ok(Accepted { conn, transport })
    }

    fn new_conn(&mut self, peer: usize) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(conn, peer);
        conn
    }

    /// The neighbour slot of a live connection.
    fn conn_slot(&mut self, conn: ConnId) -> Option<&mut PeerSlot> {
        let i = *self.conns.get(&conn)?;
        self.peers.get_mut(i)?.as_mut()
    }

    /// The codec context of connection `conn` once its session is Established on it (fixed
    /// from then on): what the driver's `evpnd_bgp::session::Framer` for that connection
    /// decodes with, so that messages reach the node as [`crate::Input::ReceivedFrames`].
    pub fn established_context(&self, conn: ConnId) -> Option<evpnd_wire::CodecContext> {
        let i = *self.conns.get(&conn)?;
        let p = self.peers.get(i)?.as_ref()?;
        p.session.established_context(conn).cloned()
    }

    /// Handles one input, then moves everything it caused as far as it goes.
    pub fn handle(&mut self, input: Input<'_>, now: Instant) {
        match input {
            Input::Connected { conn } => match self.conn_slot(conn) {
                Some(p) => {
                    if p.connecting == Some(conn) {
                        p.connecting = None;
                    }
                    p.conns.push(conn);
                    p.session.handle(
                        SessionInput::Connected {
                            conn,
                            outgoing: true,
                        },
                        now,
                    );
                }
                // The neighbour went away meanwhile.
                None => self.out.push_back(Output::Close { conn }),
            },
            Input::ConnectFailed { conn } => {
                if let Some(p) = self.conn_slot(conn) {
                    if p.connecting == Some(conn) {
                        p.connecting = None;
                    }
                    p.session.handle(SessionInput::ConnectFailed, now);
                }
                self.conns.remove(&conn);
            }
            Input::Received { conn, bytes } => {
                if let Some(p) = self.conn_slot(conn) {
                    p.session
                        .handle(SessionInput::Received { conn, bytes }, now);
                }
            }
            Input::ReceivedFrames { conn, frames } => {
                if let Some(p) = self.conn_slot(conn) {
                    p.session
                        .handle(SessionInput::ReceivedFrames { conn, frames }, now);
                }
            }
            Input::WriteProgress { conn } => {
                if let Some(p) = self.conn_slot(conn) {
                    p.session.handle(SessionInput::WriteProgress { conn }, now);
                }
            }
            Input::Drained { conn } => {
                if let Some(p) = self.conn_slot(conn) {
                    p.inflight = 0;
                    p.session.handle(SessionInput::Drained { conn }, now);
                }
            }
            Input::Closed { conn } => {
                if let Some(p) = self.conn_slot(conn) {
                    p.conns.retain(|c| *c != conn);
                    p.session.handle(SessionInput::Closed { conn }, now);
                }
                self.conns.remove(&conn);
            }
            Input::Dataplane(fb) => self.on_dataplane(fb, now),
        }
        self.pump(now);
    }

    /// Runs every timer due at `now`: session timers (hold, keepalive, send hold, connect
    /// retry), stale-route expiry, duplicate-freeze expiry and the select-defer time.
    pub fn handle_timeout(&mut self, now: Instant) {
        for p in self.slots_mut() {
            if p.session.poll_timeout().is_some_and(|d| d <= now) {
                p.session.handle_timeout(now);
            }
        }
        if self.rib.poll_timeout().is_some_and(|d| d <= now) {
            self.rib.handle_timeout(now);
        }
        if let Some(e) = &mut self.evpn {
            if e.engine.poll_timeout().is_some_and(|d| d <= now) {
                e.engine.handle_timeout(now);
            }
        }
        if self.deferral.is_some_and(|d| d.until <= now) {
            self.end_deferral(true);
        }
        self.pump(now);
    }

    /// When [`Node::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.rib.poll_timeout();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        consider(self.evpn.as_ref().and_then(|e| e.engine.poll_timeout()));
        consider(self.deferral.map(|d| d.until));
        if self.evpn.is_some() {
            consider(self.sync_deadline);
        }
        for p in self.slots() {
            consider(p.session.poll_timeout());
        }
        next
    }

    /// Stops every session with Cease/Administrative Shutdown (RFC 4486 §4): the NOTIFICATIONs
    /// and closes come out of [`Node::poll_output`].
    pub fn shutdown(&mut self, now: Instant) {
        for p in self.slots_mut() {
            p.session.handle(
                SessionInput::Stop {
                    notification: None,
                    restart_after: None,
                },
                now,
            );
        }
        self.pump(now);
    }

    // ----------------------------------------------------------------------------------------
    // Outputs

    /// The next thing for the driver to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next data-plane delta, in order.
    pub fn poll_intent(&mut self) -> Option<DataplaneIntent> {
        let e = self.evpn.as_mut()?;
        let Some(i) = e.engine.poll_intent() else {
            return std::mem::take(&mut self.sync_due).then_some(DataplaneIntent::Synced);
        };
        e.counters.intents += 1;
        Some(i)
    }

    // ----------------------------------------------------------------------------------------
    // The pump

    /// Moves outputs between the sessions, the RIB and the engine until all are quiet: session
    /// outputs into the RIB (or out to the driver), the RIB ⇄ engine exchange, then each
    /// established peer's Adj-RIB-Out into its session while under the in-flight limit.
    pub(crate) fn pump(&mut self, now: Instant) {
        for _ in 0..MAX_PUMP_ROUNDS {
            let mut progress = false;
            for i in 0..self.peers.len() {
                while let Some(out) = self.peers[i].as_mut().and_then(|p| p.session.poll_output()) {
                    progress = true;
                    self.on_session_output(i, out, now);
                }
            }
            if let Some(e) = &mut self.evpn {
                progress |= e.step(&mut self.rib, now, &mut self.events, &mut self.route_feed);
            } else if let Some(feed) = &mut self.route_feed {
                // Without an engine only the watcher takes the changes.
                feed.extend(self.rib.poll_best_changes());
            }
            for i in 0..self.peers.len() {
                let Some(p) = self.peers[i].as_mut() else {
                    continue;
                };
                if !p.established {
                    continue;
                }
                while p.inflight < INFLIGHT_LIMIT {
                    if !transmit_one(
                        &mut self.rib,
                        p,
                        PeerId(i as u32),
                        self.shared_transmit,
                        now,
                    ) {
                        break;
                    }
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        self.check_dataplane_sync(now);
    }

    fn on_session_output(&mut self, i: usize, out: SessionOutput, now: Instant) {
        let peer_id = PeerId(i as u32);
        let Some(p) = self.peers[i].as_mut() else {
            return;
        };
        let address = p.address();
        match out {
            SessionOutput::Connect => {
                // The session asks again while an attempt is still pending: its connect-retry
                // timer ran out (RFC 4271 §8.2.2, Connect state, ConnectRetryTimer_Expires:
                // drop the attempt and start a new one). The node never waits on an outcome
                // that may not come (a driver that loses it would wedge the neighbour).
                if let Some(stale) = p.connecting.take() {
                    self.conns.remove(&stale);
                    self.out.push_back(Output::Abort { conn: stale });
                }
                let Some(p) = self.peers[i].as_mut() else {
                    return;
                };
                let remote = SocketAddr::new(address, p.config.transport.port);
                let transport = p.config.transport.clone();
                let conn = self.new_conn(i);
                if let Some(p) = self.peers[i].as_mut() {
                    p.connecting = Some(conn);
                }
                self.out.push_back(Output::Connect {
                    conn,
                    remote,
                    transport,
                });
            }
            SessionOutput::Send { conn, bytes } => self.out.push_back(Output::Send { conn, bytes }),
            SessionOutput::SendShared { conn, bytes } => {
                self.out.push_back(Output::SendShared { conn, bytes })
            }
            SessionOutput::Close { conn } => {
                p.conns.retain(|c| *c != conn);
                self.conns.remove(&conn);
                self.out.push_back(Output::Close { conn });
            }
            SessionOutput::Abort { conn } => {
                p.conns.retain(|c| *c != conn);
                self.conns.remove(&conn);
                self.out.push_back(Output::Abort { conn });
            }
            SessionOutput::Established(neg) => {
                p.established = true;
                p.end_of_rib.clear();
                p.inflight = 0;
                let peer = &p.config.peer;
                self.rib.peer_up(PeerInfo {
                    id: peer_id,
                    address,
                    asn: neg.peer_asn,
                    router_id: neg.peer_router_id,
                    external: peer.is_external(),
                    rr_client: peer.route_reflector_client,
                    families: neg.families.clone(),
                    tx: neg.tx.clone(),
                    max_prefix: peer.max_prefix.clone(),
                    local_role: peer.local_role(),
                });
                self.events.push_back(NodeEvent::Established {
                    address,
                    families: neg.families,
                });
            }
            SessionOutput::Update { update, outcome } => {
                if let Err(e) = self.rib.apply_update(peer_id, &update, &outcome) {
                    // RFC 4486 §4: Cease/Maximum Number of Prefixes Reached, and a restart
                    // after the configured interval (or none).
                    let restart_after = p
                        .config
                        .peer
                        .max_prefix
                        .iter()
                        .find(|m| m.family == e.family)
                        .and_then(|m| m.restart_after);
                    let notification = e.notification();
                    p.session.handle(
                        SessionInput::Stop {
                            notification: Some(notification.clone()),
                            restart_after,
                        },
                        now,
                    );
                    self.events.push_back(NodeEvent::MaxPrefix {
                        address,
                        family: e.family,
                        limit: e.limit,
                        notification,
                    });
                }
            }
            SessionOutput::RouteRefresh(rr) => {
                let enhanced = p
                    .session
                    .negotiated()
                    .is_some_and(|n| n.enhanced_route_refresh);
                match rr.subtype {
                    // RFC 7313 §4: with enhanced refresh the answer is BoRR, the table, EoRR.
                    refresh_subtype::NORMAL if enhanced => {
                        self.rib.route_refresh_enhanced(peer_id, rr.family)
                    }
                    refresh_subtype::NORMAL => self.rib.route_refresh(peer_id, rr.family),
                    refresh_subtype::BEGIN => self.rib.begin_of_route_refresh(peer_id, rr.family),
                    refresh_subtype::END => self.rib.end_of_route_refresh(peer_id, rr.family),
                    _ => {}
                }
            }
            SessionOutput::EndOfRib(family) => {
                if !p.end_of_rib.contains(&family) {
                    p.end_of_rib.push(family);
                }
                self.rib.end_of_rib(peer_id, family);
                self.check_deferral();
            }
            SessionOutput::Down(reason) => {
                p.established = false;
                p.end_of_rib.clear();
                let graceful = reason.graceful_restart.is_some();
                self.rib.peer_down(peer_id, reason.graceful_restart, now);
                self.events.push_back(NodeEvent::Down {
                    address,
                    reason: reason.text,
                    graceful,
                });
            }
        }
    }

    /// A restart (RFC 4724 §4.1): every graceful-restart neighbour is told we restart (R and F
    /// bits), and selection is deferred until their End-of-RIB, if some neighbour has graceful
    /// restart and the deferral is not running yet.
    fn begin_deferral(&mut self, now: Instant) {
        if !self.slots().any(PeerSlot::graceful_restart) {
            return;
        }
        for p in self.slots_mut() {
            if p.graceful_restart() {
                p.session.set_restarting(true);
            }
        }
        if self.deferral.is_none() {
            let until = now + self.select_defer_time;
            self.deferral = Some(Deferral { until });
            self.rib.set_deferral(true);
            self.events.push_back(NodeEvent::DeferralStarted { until });
        }
    }

    /// After a restart, the neighbours added before any I/O (the driver's journal of the
    /// neighbours the API added) join the restart as the configured ones did: with graceful
    /// restart they are told we restart and selection waits for their End-of-RIB. Only the
    /// first call after [`Node::new`] of a restarting node does anything; the driver calls it
    /// before the first connection is opened.
    pub fn join_restart(&mut self, now: Instant) {
        if std::mem::take(&mut self.restart_pending) {
            self.begin_deferral(now);
        }
    }

    /// RFC 4724 §4.1: the restarting speaker selects and advertises once every GR neighbour
    /// has sent End-of-RIB for all negotiated families.
    pub(crate) fn check_deferral(&mut self) {
        if self.deferral.is_some() && every_end_of_rib_in(self.slots()) {
            self.end_deferral(false);
        }
    }

    fn end_deferral(&mut self, timed_out: bool) {
        self.deferral = None;
        self.rib.set_deferral(false);
        for p in self.slots_mut() {
            p.session.set_restarting(false);
        }
        self.events
            .push_back(NodeEvent::DeferralEnded { timed_out });
    }

    // ----------------------------------------------------------------------------------------
    // Access for the queries, the simulator and tests

    /// The RIB (read-only).
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The EVPN engine (read-only), when the node runs one.
    pub fn engine(&self) -> Option<&Engine> {
        self.evpn.as_ref().map(|e| &e.engine)
    }

    /// Our AS.
    pub fn asn(&self) -> u32 {
        self.asn
    }

    /// Our BGP identifier.
    pub fn router_id(&self) -> Ipv4Addr {
        self.router_id
    }

    /// True while advertising is deferred after a restart (RFC 4724 §4.1).
    pub fn is_deferring(&self) -> bool {
        self.deferral.is_some()
    }

    /// The RT-Constraint memberships we originate (RFC 4684 §4).
    pub fn memberships(&self) -> &[RouteTarget] {
        &self.memberships
    }

    /// The connections the node knows, with their neighbour's address.
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, IpAddr)> + '_ {
        self.conns.iter().filter_map(|(c, i)| {
            self.peers
                .get(*i)
                .and_then(Option::as_ref)
                .map(|p| (*c, p.address()))
        })
    }

    /// Pushes an output (for the command handlers).
    pub(crate) fn push_output(&mut self, o: Output) {
        self.out.push_back(o);
    }

    /// Runs the pump (for the command handlers).
    pub(crate) fn settle(&mut self, now: Instant) {
        self.pump(now);
    }

    /// Forgets the connections of neighbour `i` (it is being removed).
    pub(crate) fn forget_conns_of(&mut self, i: usize) {
        self.conns.retain(|_, p| *p != i);
    }
}
