//! The pump: after every input, moves what it caused between the sessions, the RIB and the
//! engine until all are quiet, and the graceful-restart deferral (RFC 4724 §4.1) it feeds.

use crate::event::NodeEvent;
use crate::node::{Node, Output};
use crate::peer::{PeerSlot, INFLIGHT_LIMIT};
use crate::restart::{every_end_of_rib_in, waited_for, Deferral};
use crate::transmit::transmit_one;
use evpnd_bgp::rib::PeerInfo;
use evpnd_bgp::session::{Input as SessionInput, Output as SessionOutput};
use evpnd_bgp::PeerId;
use evpnd_wire::message::refresh_subtype;
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// Rounds of the pump before it gives up for this input (a livelock guard; every round that
/// moves nothing ends it at once).
const MAX_PUMP_ROUNDS: usize = 10_000;

impl Node {
    /// Moves outputs between the sessions, the RIB and the engine until all are quiet: session
    /// outputs into the RIB (or out to the driver), the RIB ⇄ engine exchange, then each
    /// established peer's Adj-RIB-Out into its session while under the in-flight limit.
    ///
    /// Each round costs O(sessions touched + peers with UPDATEs to send), never O(all peers):
    /// only touched sessions can have output, the RIB names the peers with something queued
    /// ([`Rib::take_ready_peers`](evpnd_bgp::rib::Rib::take_ready_peers)) and the node keeps
    /// the ones held back by the in-flight limit until they drain. Sessions are visited in
    /// slot order, as a scan of every slot would.
    pub(crate) fn pump(&mut self, now: Instant) {
        for _ in 0..MAX_PUMP_ROUNDS {
            let mut progress = false;
            while let Some(i) = self.touched.pop_first() {
                while let Some(out) = self.peers[i].as_mut().and_then(|p| p.session.poll_output()) {
                    progress = true;
                    self.on_session_output(i, out, now);
                }
                self.refresh_deadline(i);
                self.release_if_done(i);
            }
            if let Some(e) = &mut self.evpn {
                progress |= e.step(&mut self.rib, now, &mut self.events, &mut self.route_feed);
            } else if let Some(feed) = &mut self.route_feed {
                // Without an engine only the watcher takes the changes.
                // An empty queue takes the RIB's vector as it is (no copy).
                let changes = self.rib.poll_best_changes();
                if feed.is_empty() {
                    *feed = VecDeque::from(changes);
                } else {
                    feed.extend(changes);
                }
            }
            let mut ready: BTreeSet<usize> = std::mem::take(&mut self.tx_unblocked);
            ready.extend(
                self.rib
                    .take_ready_peers()
                    .into_iter()
                    .map(|p| p.0 as usize),
            );
            for i in ready {
                let Some(p) = self.peers.get_mut(i).and_then(Option::as_mut) else {
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
                    self.touched.insert(i);
                }
                if p.inflight >= INFLIGHT_LIMIT {
                    // Possibly more queued: the RIB lists a peer again only once its queue
                    // was emptied, so the node remembers it until it drains.
                    self.tx_blocked.insert(i);
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
                if let Some(g) = p.group.as_ref().and_then(|g| self.groups.get_mut(g)) {
                    g.established += 1;
                }
                self.lingering.remove(&i);
                let peer = &p.config.peer;
                let info = PeerInfo {
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
                };
                // The RT-Constraint End-of-RIB wait runs from now (RFC 4684 §6).
                self.rib.peer_up_at(info, now);
                self.events.push_back(NodeEvent::Established {
                    address,
                    families: neg.families,
                });
                self.note_deferral(i);
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
                    self.touched.insert(i);
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
                self.note_deferral(i);
                self.check_deferral();
            }
            SessionOutput::Down(reason) => {
                p.established = false;
                p.end_of_rib.clear();
                if let Some(g) = p.group.as_ref().and_then(|g| self.groups.get_mut(g)) {
                    g.established = g.established.saturating_sub(1);
                }
                self.tx_blocked.remove(&i);
                self.tx_unblocked.remove(&i);
                self.note_deferral(i);
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
    /// bits), and selection is deferred until their End-of-RIB, if some neighbour or peer group
    /// has graceful restart and the deferral is not running yet. With peer groups alone it
    /// waits for the dynamic neighbours that come up meanwhile (`Deferral::awaiting_first`).
    pub(crate) fn begin_deferral(&mut self, now: Instant) {
        let configured = self.slots().any(PeerSlot::graceful_restart);
        let groups = self
            .groups
            .values()
            .any(|g| g.config.template.peer.graceful_restart.is_some());
        if !configured && !groups {
            return;
        }
        for p in self.slots_mut() {
            if p.graceful_restart() {
                p.session.set_restarting(true);
            }
        }
        if self.deferral.is_none() {
            let until = now + self.select_defer_time;
            self.deferral = Some(Deferral {
                until,
                awaiting_first: !configured,
            });
            self.rib.set_deferral(true);
            self.events.push_back(NodeEvent::DeferralStarted { until });
        }
        for i in 0..self.peers.len() {
            self.note_deferral(i);
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
        // The set is the scan's answer kept up to date; debug builds check it against the scan.
        debug_assert!(
            self.deferral.is_none()
                || self.deferral_waiting.is_empty() == every_end_of_rib_in(self.slots())
        );
        let awaiting_first = self.deferral.is_some_and(|d| d.awaiting_first);
        if self.deferral.is_some() && self.deferral_waiting.is_empty() && !awaiting_first {
            self.end_deferral(false);
        }
    }

    /// Keeps `deferral_waiting` (the neighbours a running deferral still waits for, RFC 4724
    /// §4.1) in step with neighbour `i` after its state changed: one check of one neighbour
    /// instead of a scan of all at every End-of-RIB.
    pub(crate) fn note_deferral(&mut self, i: usize) {
        if self.deferral.is_none() {
            return;
        }
        let slot = self.peers.get(i).and_then(Option::as_ref);
        if slot.is_some_and(|p| p.established) {
            // A neighbour is up: from now on the deferral waits for exactly the waited-for set.
            if let Some(d) = &mut self.deferral {
                d.awaiting_first = false;
            }
        }
        if slot.is_some_and(waited_for) {
            self.deferral_waiting.insert(i);
        } else {
            self.deferral_waiting.remove(&i);
        }
    }

    pub(crate) fn end_deferral(&mut self, timed_out: bool) {
        self.deferral = None;
        self.deferral_waiting.clear();
        self.rib.set_deferral(false);
        for p in self.slots_mut() {
            p.session.set_restarting(false);
        }
        self.events
            .push_back(NodeEvent::DeferralEnded { timed_out });
    }
}
