//! Dynamic neighbours (peer groups with listen ranges) and the bookkeeping of neighbour slots:
//! a connection from an address that is no configured neighbour but lies in a peer group's
//! listen range gets a slot made from the group's template; when its session ends (no
//! connection left, not Established, no stale paths kept for graceful restart) the slot and
//! the RIB's peer go, so that churn does not grow memory. The indexes the node keeps per slot
//! (address map, timer order, transmit sets) are maintained here, in one place.

use crate::config::{PeerGroupConfig, RemoteAsn};
use crate::error::CommandError;
use crate::event::NodeEvent;
use crate::node::{Node, Refused};
use crate::peer::PeerSlot;
use crate::validate;
use evpnd_bgp::session::{cease, Input as SessionInput};
use evpnd_bgp::PeerId;
use evpnd_wire::error::code;
use evpnd_wire::{IpPrefix, Notification};
use std::net::IpAddr;
use std::time::Instant;

/// A peer group and its counters.
#[derive(Debug)]
pub(crate) struct Group {
    /// As configured.
    pub config: PeerGroupConfig,
    /// Dynamic neighbours with a slot (sessions up or being set up, or lingering with stale
    /// paths).
    pub active: u32,
    /// Of those, Established.
    pub established: u32,
    /// Connections accepted into a new dynamic neighbour, in total.
    pub accepted: u64,
    /// Connections refused because the group was at its limit, in total.
    pub refused_limit: u64,
}

impl Group {
    pub(crate) fn new(config: PeerGroupConfig) -> Self {
        Group {
            config,
            active: 0,
            established: 0,
            accepted: 0,
            refused_limit: 0,
        }
    }
}

/// A peer group as listed (`show peer-groups`, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerGroupView {
    /// Its name.
    pub name: String,
    /// Its listen ranges.
    pub listen_ranges: Vec<IpPrefix>,
    /// The AS its neighbours must announce.
    pub remote_asn: RemoteAsn,
    /// Most dynamic sessions at once.
    pub limit: u32,
    /// Dynamic neighbours now (sessions being set up or up, or kept for their stale paths).
    pub active: u32,
    /// Of those, Established.
    pub established: u32,
    /// Connections accepted as new dynamic neighbours, in total.
    pub accepted: u64,
    /// Connections refused at the limit, in total.
    pub refused_limit: u64,
}

fn cease_with(subcode: u8) -> Notification {
    Notification {
        code: code::CEASE,
        subcode,
        data: Vec::new(),
    }
}

impl Node {
    // ------------------------------------------------------------------------------------
    // Slots and their indexes

    /// Puts `slot` in the lowest free dynamic slot or a new one, and indexes it.
    pub(crate) fn insert_slot(&mut self, slot: PeerSlot) -> usize {
        let address = slot.address();
        if slot.rtc() {
            self.rtc_peers += 1;
        }
        let i = match self.free_slots.pop_first() {
            Some(i) => {
                self.peers[i] = Some(slot);
                i
            }
            None => {
                self.peers.push(Some(slot));
                self.peers.len() - 1
            }
        };
        self.by_address.insert(address, i);
        self.touched.insert(i);
        self.note_deferral(i);
        i
    }

    /// Takes slot `i` out with every index entry naming it (its connections too: the caller
    /// aborts them). A dynamic slot's index becomes free for reuse once the RIB has forgotten
    /// the peer.
    pub(crate) fn remove_slot(&mut self, i: usize) -> Option<PeerSlot> {
        let slot = self.peers.get_mut(i)?.take()?;
        self.by_address.remove(&slot.address());
        if let Some(d) = slot.deadline {
            self.deadlines.remove(&(d, i));
        }
        self.touched.remove(&i);
        self.tx_blocked.remove(&i);
        self.tx_unblocked.remove(&i);
        self.lingering.remove(&i);
        self.deferral_waiting.remove(&i);
        if slot.rtc() {
            self.rtc_peers = self.rtc_peers.saturating_sub(1);
        }
        for conn in slot.conns.iter().chain(slot.connecting.iter()) {
            self.forget_conn(*conn);
        }
        let forgotten = self.rib.remove_peer(PeerId(i as u32));
        if let Some(g) = slot.group.as_ref() {
            if let Some(g) = self.groups.get_mut(g) {
                g.active = g.active.saturating_sub(1);
                if slot.established {
                    g.established = g.established.saturating_sub(1);
                }
            }
            if forgotten {
                self.free_slots.insert(i);
            }
        }
        Some(slot)
    }

    /// Re-files session `i`'s deadline in the ordered timer index after it was touched.
    pub(crate) fn refresh_deadline(&mut self, i: usize) {
        let Some(p) = self.peers.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let next = p.session.poll_timeout();
        if next == p.deadline {
            return;
        }
        if let Some(old) = p.deadline {
            self.deadlines.remove(&(old, i));
        }
        if let Some(new) = next {
            self.deadlines.insert((new, i));
        }
        p.deadline = next;
    }

    /// A dynamic neighbour whose session ended (no connection, not Established) goes, with
    /// its RIB peer; one whose stale paths are kept (graceful restart, RFC 4724 §4.2) lingers
    /// until they are gone or it comes back from the same address.
    pub(crate) fn release_if_done(&mut self, i: usize) {
        let Some(p) = self.peers.get(i).and_then(Option::as_ref) else {
            return;
        };
        if p.group.is_none() {
            return;
        }
        if !p.conns.is_empty() || p.connecting.is_some() || p.established {
            self.lingering.remove(&i);
            return;
        }
        if self.rib.remove_peer(PeerId(i as u32)) {
            self.remove_slot(i);
        } else {
            self.lingering.insert(i);
        }
    }

    /// Tries [`Node::release_if_done`] on every lingering dynamic neighbour (after the RIB's
    /// timers ran: stale paths may have expired).
    pub(crate) fn release_lingering(&mut self) {
        let lingering: Vec<usize> = self.lingering.iter().copied().collect();
        for i in lingering {
            self.release_if_done(i);
        }
    }

    // ------------------------------------------------------------------------------------
    // Accepting

    /// The group whose listen range holds `address` most specifically.
    fn group_for(&self, address: IpAddr) -> Option<&str> {
        self.groups
            .values()
            .filter_map(|g| {
                g.config
                    .listen_ranges
                    .iter()
                    .filter(|r| validate::prefix_holds(**r, address))
                    .map(|r| r.len())
                    .max()
                    .map(|len| (len, g.config.name.as_str()))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, name)| name)
    }

    /// A connection from `address`, which no configured neighbour has: a new dynamic neighbour
    /// of the group whose listen range holds it most specifically, or a refusal (no range; the
    /// group at its limit), counted and reported as an event.
    pub(crate) fn accept_dynamic(
        &mut self,
        address: IpAddr,
        now: Instant,
    ) -> Result<usize, Refused> {
        let Some(name) = self.group_for(address).map(str::to_string) else {
            self.refused_out_of_range += 1;
            self.push_event(NodeEvent::Refused { remote: address });
            return Err(Refused::NotANeighbor(address));
        };
        let Some(g) = self.groups.get_mut(&name) else {
            return Err(Refused::NotANeighbor(address));
        };
        if g.active >= g.config.limit {
            g.refused_limit += 1;
            let limit = g.config.limit;
            self.push_event(NodeEvent::RefusedGroupLimit {
                remote: address,
                group: name,
                limit,
            });
            return Err(Refused::GroupLimit {
                remote: address,
                limit,
            });
        }
        g.active += 1;
        g.accepted += 1;
        let mut n = g.config.template.clone();
        n.peer.address = address;
        let mut slot = PeerSlot::new(n, now);
        slot.group = Some(name);
        slot.session.handle(SessionInput::Start, now);
        if self.deferral.is_some() && slot.graceful_restart() {
            slot.session.set_restarting(true);
        }
        let rtc = slot.rtc();
        let i = self.insert_slot(slot);
        if rtc && !self.wildcard_warned {
            // The first RTC peer may make a wildcard import worth a warning.
            self.sync_memberships();
        }
        Ok(i)
    }

    // ------------------------------------------------------------------------------------
    // Groups at run time (reload)

    /// Adds peer group `g`, or replaces the one with its name. A replacement that changes only
    /// the limit keeps the sessions; any other change ends the group's sessions (Cease/Other
    /// Configuration Change, RFC 4486 §4) so that they come back with the new settings.
    pub(crate) fn set_peer_group(
        &mut self,
        g: PeerGroupConfig,
        now: Instant,
    ) -> Result<(), CommandError> {
        g.validate()
            .map_err(|e| validate::within(e, &format!("peer-group {}", g.name)))?;
        if g.template.peer.local_asn != self.asn || g.template.peer.router_id != self.router_id {
            return Err(CommandError::invalid(
                "local-asn",
                format!("peer-group {}: not this router's AS and identifier", g.name),
            ));
        }
        let others: Vec<PeerGroupConfig> = self
            .groups
            .values()
            .filter(|o| o.config.name != g.name)
            .map(|o| o.config.clone())
            .chain(std::iter::once(g.clone()))
            .collect();
        validate::peer_groups(&others)?;
        if let Some(old) = self.groups.get_mut(&g.name) {
            let same =
                old.config.template == g.template && old.config.listen_ranges == g.listen_ranges;
            if same {
                old.config.limit = g.limit;
                return Ok(());
            }
            self.stop_group(&g.name, cease::OTHER_CONFIGURATION_CHANGE, now);
            if let Some(old) = self.groups.get_mut(&g.name) {
                old.config = g;
            }
            return Ok(());
        }
        self.groups.insert(g.name.clone(), Group::new(g));
        Ok(())
    }

    /// Removes peer group `name`: its sessions end with Cease/Peer De-configured (RFC 4486
    /// §4) and their slots go.
    pub(crate) fn remove_peer_group(
        &mut self,
        name: &str,
        now: Instant,
    ) -> Result<(), CommandError> {
        if !self.groups.contains_key(name) {
            return Err(CommandError::not_found(
                "name",
                format!("no peer-group {name}"),
            ));
        }
        self.stop_group(name, cease::PEER_DECONFIGURED, now);
        self.groups.remove(name);
        Ok(())
    }

    /// Ends every session of group `name` with Cease/`subcode` and removes their slots.
    fn stop_group(&mut self, name: &str, subcode: u8, now: Instant) {
        let members: Vec<usize> = self
            .peers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.as_ref().is_some_and(|p| p.group.as_deref() == Some(name)))
            .map(|(i, _)| i)
            .collect();
        for &i in &members {
            if let Some(p) = self.peers[i].as_mut() {
                p.session.handle(
                    SessionInput::Stop {
                        notification: Some(cease_with(subcode)),
                        restart_after: None,
                    },
                    now,
                );
                self.touched.insert(i);
            }
        }
        self.settle(now);
        // Whatever is left (stale paths kept) goes now: the group is gone or changed.
        for i in members {
            if self.peers.get(i).is_some_and(Option::is_some) {
                if let Some(slot) = self.peers[i].as_ref() {
                    if slot.established {
                        self.rib.peer_down(PeerId(i as u32), None, now);
                    }
                }
                if let Some(slot) = self.remove_slot(i) {
                    for conn in slot.conns.iter().chain(slot.connecting.iter()) {
                        self.push_output(crate::node::Output::Abort { conn: *conn });
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // Queries

    /// Every peer group with its counters, by name.
    pub fn peer_groups(&self) -> Vec<PeerGroupView> {
        self.groups
            .values()
            .map(|g| PeerGroupView {
                name: g.config.name.clone(),
                listen_ranges: g.config.listen_ranges.clone(),
                remote_asn: g.config.remote_asn(),
                limit: g.config.limit,
                active: g.active,
                established: g.established,
                accepted: g.accepted,
                refused_limit: g.refused_limit,
            })
            .collect()
    }

    /// Connections refused because their address is no neighbour's and in no listen range.
    pub fn refused_out_of_range(&self) -> u64 {
        self.refused_out_of_range
    }
}
