//! The [`Node`]: inputs in, outputs polled out, one timer (see the crate documentation).

use crate::config::{NodeConfig, StaticRoute, Transport};
use crate::dynamic::Group;
use crate::error::CommandError;
use crate::event::{DataplaneFeedback, NodeEvent};
use crate::evpn::EvpnPart;
use crate::peer::{peer_address, PeerSlot};
use crate::restart::Deferral;
use evpnd_bgp::rib::{BestChange, Rib, RibConfig};
use evpnd_bgp::session::{ConnId, DecodedFrame, Input as SessionInput};
use evpnd_dataplane::DataplaneIntent;
use evpnd_evpn::Engine;
use evpnd_wire::{
    AsPath, ExtendedCommunity, Family, NextHop, Nlri, Origin, PathAttribute, Route, RouteTarget,
    RtMembership,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

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
    /// No neighbour has the address the connection came from, and no peer group's listen
    /// range holds it.
    NotANeighbor(IpAddr),
    /// The address is in a peer group's listen range, but the group has `limit` dynamic
    /// sessions already.
    GroupLimit {
        /// Where the connection came from.
        remote: IpAddr,
        /// The group's limit.
        limit: u32,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NotANeighbor(a) => write!(
                f,
                "{a} is neither a configured neighbor nor in a peer group's listen range"
            ),
            Refused::GroupLimit { remote, limit } => write!(
                f,
                "{remote}: its peer group has {limit} dynamic sessions already (its limit)"
            ),
        }
    }
}

impl std::error::Error for Refused {}

/// One router: sessions, RIB and EVPN engine (see the crate documentation).
#[derive(Debug)]
pub struct Node {
    pub(crate) asn: u32,
    pub(crate) router_id: Ipv4Addr,
    pub(crate) select_defer_time: Duration,
    /// Route targets imported besides the EVIs' (configuration).
    pub(crate) import_route_targets: Vec<RouteTarget>,
    /// Neighbours by [`PeerId`] (the index); a removed one leaves `None`. The slot of a
    /// dynamic neighbour whose session ended is reused (lowest first, from `free_slots`); a
    /// configured neighbour's never is.
    pub(crate) peers: Vec<Option<PeerSlot>>,
    /// Slot index by neighbour address (configured and dynamic).
    pub(crate) by_address: HashMap<IpAddr, usize>,
    /// Slots freed by dynamic neighbours, for reuse.
    pub(crate) free_slots: BTreeSet<usize>,
    /// Sessions an input reached since the last pump: the only ones that can have output
    /// (a session's outputs only arise from its inputs).
    pub(crate) touched: BTreeSet<usize>,
    /// Every session's next deadline, ordered: the next timer is the first, the due ones a
    /// prefix.
    pub(crate) deadlines: BTreeSet<(Instant, usize)>,
    /// Established peers at the in-flight limit with Adj-RIB-Out left in the RIB: taken up
    /// again when the driver reports them drained.
    pub(crate) tx_blocked: BTreeSet<usize>,
    /// Peers drained since they were blocked: to transmit at the next pump.
    pub(crate) tx_unblocked: BTreeSet<usize>,
    /// Dynamic neighbours down with stale paths (graceful restart, RFC 4724 §4.2): their slot
    /// stays until the paths are gone or the peer comes back.
    pub(crate) lingering: BTreeSet<usize>,
    /// While a deferral runs: the graceful-restart neighbours it still waits for.
    pub(crate) deferral_waiting: BTreeSet<usize>,
    /// Neighbours that negotiate RT-Constraint (for the wildcard warning).
    pub(crate) rtc_peers: usize,
    /// Peer groups by name.
    pub(crate) groups: BTreeMap<String, Group>,
    /// Connections refused because no neighbour and no listen range has their address.
    pub(crate) refused_out_of_range: u64,
    /// Live connections and their neighbour.
    pub(crate) conns: BTreeMap<ConnId, usize>,
    pub(crate) next_conn: u64,
    pub(crate) rib: Rib,
    pub(crate) evpn: Option<EvpnPart>,
    pub(crate) deferral: Option<Deferral>,
    /// Until the data plane is told it holds everything ([`DataplaneIntent::Synced`]): the
    /// latest time to tell it. `None` once told.
    pub(crate) sync_deadline: Option<Instant>,
    /// [`DataplaneIntent::Synced`] is due after the engine's queued intents.
    pub(crate) sync_due: bool,
    /// RT-Constraint memberships we originate.
    pub(crate) memberships: Vec<RouteTarget>,
    pub(crate) wildcard_warned: bool,
    /// This start is a restart whose neighbours added before any I/O (the driver's journal of
    /// API-made neighbours) still have to join the deferral ([`Node::join_restart`]).
    pub(crate) restart_pending: bool,
    pub(crate) out: VecDeque<Output>,
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
            cluster_id: config.cluster_id,
            rtc_end_of_rib_wait: config.rtc_end_of_rib_wait,
            ..RibConfig::new(config.asn, config.router_id)
        });
        // The engine subscribes to best-path changes; without it, don't queue them.
        rib.set_best_change_tracking(config.evpn.is_some());
        let mut node = Node {
            asn: config.asn,
            router_id: config.router_id,
            select_defer_time: config.select_defer_time,
            import_route_targets: config.import_route_targets,
            peers: Vec::new(),
            by_address: HashMap::new(),
            free_slots: BTreeSet::new(),
            touched: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            tx_blocked: BTreeSet::new(),
            tx_unblocked: BTreeSet::new(),
            lingering: BTreeSet::new(),
            deferral_waiting: BTreeSet::new(),
            rtc_peers: 0,
            groups: config
                .peer_groups
                .into_iter()
                .map(|g| (g.name.clone(), Group::new(g)))
                .collect(),
            refused_out_of_range: 0,
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
        for n in config.neighbors {
            node.insert_slot(PeerSlot::new(n, now));
        }
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
        for i in 0..node.peers.len() {
            if let Some(p) = node.peers[i].as_mut() {
                p.session.handle(SessionInput::Start, now);
                node.touched.insert(i);
            }
        }
        node.pump(now);
        Ok(node)
    }

    pub(crate) fn slots(&self) -> impl Iterator<Item = &PeerSlot> {
        self.peers.iter().flatten()
    }

    pub(crate) fn slots_mut(&mut self) -> impl Iterator<Item = &mut PeerSlot> {
        self.peers.iter_mut().flatten()
    }

    /// The index of the neighbour at `address`.
    pub(crate) fn peer_index(&self, address: IpAddr) -> Option<usize> {
        self.by_address.get(&address).copied()
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
        let rtc_peer = self.rtc_peers > 0;
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
    /// (an IPv4-mapped IPv6 address counts as the IPv4 one), else to the peer group whose
    /// listen range holds it most specifically (a new dynamic neighbour), else refused before
    /// any OPEN (also when the group is at its limit).
    pub fn accept(&mut self, remote: IpAddr, now: Instant) -> Result<Accepted, Refused> {
        let address = peer_address(remote);
        let i = match self.peer_index(address) {
            Some(i) => i,
            None => self.accept_dynamic(address, now)?,
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
        self.touched.insert(i);
        self.pump(now);
        Ok(Accepted { conn, transport })
    }

    pub(crate) fn new_conn(&mut self, peer: usize) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(conn, peer);
        conn
    }

    /// The neighbour slot of a live connection, marked as touched (the pump looks at its
    /// session next).
    fn conn_slot(&mut self, conn: ConnId) -> Option<&mut PeerSlot> {
        let i = *self.conns.get(&conn)?;
        let p = self.peers.get_mut(i)?.as_mut()?;
        self.touched.insert(i);
        Some(p)
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
                    if let Some(&i) = self.conns.get(&conn) {
                        if self.tx_blocked.remove(&i) {
                            self.tx_unblocked.insert(i);
                        }
                    }
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
        // Only the sessions whose deadline is due: a prefix of the ordered deadlines.
        while let Some(&(due, i)) = self.deadlines.first() {
            if due > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.peers.get_mut(i).and_then(Option::as_mut) {
                p.deadline = None;
                if p.session.poll_timeout().is_some_and(|d| d <= now) {
                    p.session.handle_timeout(now);
                }
                self.touched.insert(i);
            }
        }
        if self.rib.poll_timeout().is_some_and(|d| d <= now) {
            self.rib.handle_timeout(now);
            // Stale paths may have expired: lingering dynamic neighbours can go.
            self.release_lingering();
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
        consider(self.deadlines.first().map(|(d, _)| *d));
        next
    }

    /// Stops every session with Cease/Administrative Shutdown (RFC 4486 §4): the NOTIFICATIONs
    /// and closes come out of [`Node::poll_output`].
    pub fn shutdown(&mut self, now: Instant) {
        for i in 0..self.peers.len() {
            if let Some(p) = self.peers[i].as_mut() {
                p.session.handle(
                    SessionInput::Stop {
                        notification: None,
                        restart_after: None,
                    },
                    now,
                );
                self.touched.insert(i);
            }
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

    /// Forgets connection `conn` (its neighbour is being removed).
    pub(crate) fn forget_conn(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// Pushes an event (for the other modules).
    pub(crate) fn push_event(&mut self, e: NodeEvent) {
        self.events.push_back(e);
    }
}
