//! Peers coming and going: session up and down, End-of-RIB, stale paths and their timer
//! (RFC 4724), the RT-Constraint End-of-RIB wait (RFC 4684 §6), route refresh requests
//! (RFC 2918, RFC 7313), the list of peers with output waiting, and the reuse of the slots of
//! removed peers. Every operation here costs O(the peer concerned), never O(all peers).

use super::rtc::RtFilter;
use super::{
    DumpKind, Group, GroupKey, PeerInfo, PendingDump, Ready, Rib, RouteIndex, Source, Timer,
};
use crate::config::PeerId;
use evpnd_wire::Family;
use std::time::{Duration, Instant};

impl Rib {
    /// A session reached Established, reading the clock for the RT-Constraint End-of-RIB wait:
    /// [`Rib::peer_up_at`] with `Instant::now()`.
    pub fn peer_up(&mut self, peer: PeerInfo) {
        self.peer_up_at(peer, Instant::now());
    }

    /// A session reached Established at `now`: the peer will get the whole table of each
    /// negotiated family, then End-of-RIB per family (RFC 4724 §2), at the next flush. Paths
    /// kept stale from an earlier session stay until End-of-RIB or the restart timer.
    ///
    /// A peer that negotiated RT-Constraint and EVPN gets its EVPN table only once its
    /// RT-Constraint End-of-RIB has arrived, or [`RibConfig::rtc_end_of_rib_wait`] after `now`
    /// (RFC 4684 §6), and then exactly the routes its memberships select, before the EVPN
    /// End-of-RIB. Its other families, memberships included, are sent at once.
    ///
    /// [`RibConfig::rtc_end_of_rib_wait`]: super::RibConfig::rtc_end_of_rib_wait
    pub fn peer_up_at(&mut self, peer: PeerInfo, now: Instant) {
        let s = match self.src_of(peer.id) {
            Some(s) => {
                if self.sources[s as usize].up {
                    // Re-established without a down event: start the output over.
                    self.leave_groups(s);
                }
                s
            }
            None => {
                let s = match self.free_slots.pop() {
                    Some(s) => {
                        self.sources[s as usize] = Source::new(s, peer.clone());
                        s
                    }
                    None => {
                        let s = self.sources.len() as u32;
                        self.sources.push(Source::new(s, peer.clone()));
                        s
                    }
                };
                self.by_id.insert(peer.id, s);
                s
            }
        };
        self.cancel_rtc_wait(s);
        let rtc = peer.families.contains(&Family::RT_CONSTRAINT);
        let hold = rtc
            && peer.families.contains(&Family::L2VPN_EVPN)
            && !self.cfg.rtc_end_of_rib_wait.is_zero();
        {
            let src = &mut self.sources[s as usize];
            src.info = peer.clone();
            src.up = true;
            src.disabled.clear();
            src.clear_out();
            for c in &mut src.counters {
                c.received = 0;
                c.advertised = 0;
            }
            src.rtc = rtc.then(RtFilter::default);
            src.rtc_resync = rtc;
            src.set_rtc_dirty(rtc, &mut self.rtc_dirty_sources, &mut self.rtc_dirty_list);
        }
        if rtc {
            self.ensure_evpn_index();
        }
        for &family in &peer.families {
            self.table_index_or_create(family);
            let key = GroupKey::of(&peer, family);
            if !self.groups.iter().any(|g| g.key == key) {
                self.groups.push(Group::new(key));
            }
            if hold && family == Family::L2VPN_EVPN {
                continue;
            }
            self.queue_join(s, family);
        }
        if hold {
            let deadline = now + self.cfg.rtc_end_of_rib_wait;
            self.sources[s as usize].rtc_wait = Some(deadline);
            self.timers.insert((deadline, s, Timer::RtcWait));
        }
    }

    /// Builds the index of EVPN routes by route target, once (the first RT-Constraint peer).
    fn ensure_evpn_index(&mut self) {
        if self.evpn_by_rt.is_some() {
            return;
        }
        let mut ix = RouteIndex::default();
        if let Some(ti) = self.table_index(Family::L2VPN_EVPN) {
            for (i, e) in self.tables[ti].iter() {
                ix.update(i, None, e.paths.best().map(|p| &*p.attrs));
            }
        }
        self.evpn_by_rt = Some(ix);
    }

    fn queue_join(&mut self, s: u32, family: Family) {
        self.rtc_join_pending |= family == Family::RT_CONSTRAINT;
        let src = &mut self.sources[s as usize];
        if !src.joins_pending.contains(&family) {
            src.joins_pending.push(family);
        }
        self.pending.push(PendingDump {
            src: s,
            family,
            kind: DumpKind::Join,
            generation: src.generation,
        });
    }

    /// Takes source `s` out of its update groups and drops its queued dumps.
    pub(super) fn leave_groups(&mut self, s: u32) {
        let Rib {
            groups, sources, ..
        } = self;
        let src = &mut sources[s as usize];
        for g in groups.iter_mut() {
            if g.members.remove(s) {
                let filter = if g.key.family == Family::L2VPN_EVPN {
                    src.rtc.as_ref()
                } else {
                    None
                };
                g.receivers.remove(s, filter);
            }
        }
        src.generation = src.generation.wrapping_add(1);
        src.joins_pending.clear();
    }

    /// Ends the RT-Constraint End-of-RIB wait of source `s` without releasing anything.
    fn cancel_rtc_wait(&mut self, s: u32) {
        if let Some(d) = self.sources[s as usize].rtc_wait.take() {
            self.timers.remove(&(d, s, Timer::RtcWait));
        }
    }

    /// The RT-Constraint End-of-RIB of source `s` arrived or its wait ran out (RFC 4684 §6):
    /// its EVPN table is sent at the next flush, filtered by the memberships known then.
    pub(super) fn release_rtc_wait(&mut self, s: u32) {
        self.cancel_rtc_wait(s);
        let src = &self.sources[s as usize];
        if src.up
            && src.info.families.contains(&Family::L2VPN_EVPN)
            && !src.disabled.contains(&Family::L2VPN_EVPN)
        {
            self.queue_join(s, Family::L2VPN_EVPN);
        }
    }

    /// Sets the stale-path deadline of source `s`, keeping the timer set in step.
    pub(super) fn set_stale_deadline_of(&mut self, s: u32, deadline: Option<Instant>) {
        let src = &mut self.sources[s as usize];
        if let Some(d) = src.stale_deadline.take() {
            self.timers.remove(&(d, s, Timer::Stale));
        }
        src.stale_deadline = deadline;
        if let Some(d) = deadline {
            self.timers.insert((d, s, Timer::Stale));
        }
    }

    /// The session went down. `graceful: None` removes the peer's paths (withdrawn from the
    /// others at the next flush); `Some(restart_time)` keeps them as stale until the peer's
    /// End-of-RIB per family or `now + restart_time` (RFC 4724 §4.2, helper side).
    pub fn peer_down(&mut self, peer: PeerId, graceful: Option<Duration>, now: Instant) {
        let Some(s) = self.src_of(peer) else {
            return;
        };
        self.leave_groups(s);
        self.cancel_rtc_wait(s);
        {
            let src = &mut self.sources[s as usize];
            src.up = false;
            src.clear_out();
            src.rtc = None;
            src.rtc_resync = false;
            src.set_rtc_dirty(false, &mut self.rtc_dirty_sources, &mut self.rtc_dirty_list);
            for c in &mut src.counters {
                c.advertised = 0;
            }
        }
        match graceful {
            Some(t) => {
                let mut families = Vec::new();
                for ti in 0..self.tables.len() {
                    if self.mark_stale(ti, s) > 0 {
                        families.push(self.tables[ti].family);
                    }
                }
                let src = &mut self.sources[s as usize];
                for f in families {
                    if !src.stale_families.contains(&f) {
                        src.stale_families.push(f);
                    }
                }
                let deadline = (!src.stale_families.is_empty()).then(|| now + t);
                self.set_stale_deadline_of(s, deadline);
            }
            None => {
                for ti in 0..self.tables.len() {
                    self.remove_paths_where(ti, s, |_| true);
                }
                let src = &mut self.sources[s as usize];
                src.stale_families.clear();
                // Every path is gone: the list of where they were starts over.
                src.held = Some(Vec::new());
                self.set_stale_deadline_of(s, None);
            }
        }
    }

    /// The peer's End-of-RIB for `family`: its paths still stale there are removed (RFC 4724
    /// §4.2). [`Rib::apply_update`] calls this itself when given an End-of-RIB UPDATE. The
    /// RT-Constraint End-of-RIB also ends the wait before the peer's EVPN table (RFC 4684 §6).
    pub fn end_of_rib(&mut self, peer: PeerId, family: Family) {
        let Some(s) = self.src_of(peer) else {
            return;
        };
        if family == Family::RT_CONSTRAINT && self.sources[s as usize].rtc_wait.is_some() {
            self.release_rtc_wait(s);
        }
        let src = &mut self.sources[s as usize];
        let Some(i) = src.stale_families.iter().position(|f| *f == family) else {
            return;
        };
        src.stale_families.swap_remove(i);
        if src.stale_families.is_empty() {
            self.set_stale_deadline_of(s, None);
        }
        if let Some(ti) = self.table_index(family) {
            self.remove_paths_where(ti, s, |p| p.stale);
        }
    }

    /// Replaces the time at which the peer's stale paths expire (`None`: only End-of-RIB
    /// purges them). The daemon uses it once the session is back, to switch from the restart
    /// time to its stale-routes time (RFC 4724 §4.2).
    pub fn set_stale_deadline(&mut self, peer: PeerId, deadline: Option<Instant>) {
        if let Some(s) = self.src_of(peer) {
            if !self.sources[s as usize].stale_families.is_empty() {
                self.set_stale_deadline_of(s, deadline);
            }
        }
    }

    /// The peer sent BoRR for `family` (RFC 7313 §4): its paths of the family become stale
    /// until [`Rib::end_of_route_refresh`]; they stay usable meanwhile.
    pub fn begin_of_route_refresh(&mut self, peer: PeerId, family: Family) {
        let Some(s) = self.src_of(peer) else {
            return;
        };
        let Some(ti) = self.table_index(family) else {
            return;
        };
        if self.mark_stale(ti, s) > 0 {
            let src = &mut self.sources[s as usize];
            if !src.stale_families.contains(&family) {
                src.stale_families.push(family);
            }
        }
    }

    /// The peer sent EoRR for `family` (RFC 7313 §4): its paths not refreshed since BoRR are
    /// removed.
    pub fn end_of_route_refresh(&mut self, peer: PeerId, family: Family) {
        self.end_of_rib(peer, family);
    }

    /// Runs the timers due at `now`: stale paths whose restart timer ran out are removed
    /// (RFC 4724 §4.2), RT-Constraint End-of-RIB waits that ran out release the EVPN table
    /// (RFC 4684 §6). Costs O(timers due).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, s, timer)) = self.timers.first() {
            if deadline > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::Stale => {
                    self.sources[s as usize].stale_deadline = None;
                    let families = std::mem::take(&mut self.sources[s as usize].stale_families);
                    for f in families {
                        if let Some(ti) = self.table_index(f) {
                            self.remove_paths_where(ti, s, |p| p.stale);
                        }
                    }
                }
                Timer::RtcWait => {
                    self.sources[s as usize].rtc_wait = None;
                    self.release_rtc_wait(s);
                }
            }
        }
    }

    /// When [`Rib::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.0)
    }

    /// ROUTE-REFRESH from the peer (RFC 2918): the family's routes are sent again at the next
    /// flush.
    pub fn route_refresh(&mut self, peer: PeerId, family: Family) {
        self.queue_refresh(peer, family, DumpKind::Refresh);
    }

    /// Enhanced route refresh (RFC 7313 §4): BoRR, the family's routes, EoRR.
    pub fn route_refresh_enhanced(&mut self, peer: PeerId, family: Family) {
        self.queue_refresh(peer, family, DumpKind::EnhancedRefresh);
    }

    fn queue_refresh(&mut self, peer: PeerId, family: Family, kind: DumpKind) {
        let Some(s) = self.src_of(peer) else {
            return;
        };
        let src = &self.sources[s as usize];
        if !src.up || !src.info.families.contains(&family) {
            return;
        }
        // A join still pending (or held back for RT-Constraint) covers a refresh.
        if src.joins_pending.contains(&family)
            || (family == Family::L2VPN_EVPN && src.rtc_wait.is_some())
        {
            return;
        }
        self.pending.push(PendingDump {
            src: s,
            family,
            kind,
            generation: src.generation,
        });
    }

    /// The peers with encoded UPDATEs waiting, after flushing pending changes: the ones a
    /// driver of the RIB should call [`Rib::poll_transmit`] for. A peer is listed at most once
    /// and again only after its queue has been emptied and refilled, so that a pump does work
    /// proportional to the peers that have something to send, not to all peers: the list is
    /// fed as queues become non-empty, and taking it costs O(peers listed).
    pub fn take_ready_peers(&mut self) -> Vec<PeerId> {
        self.flush();
        let listed = std::mem::take(&mut self.ready);
        let mut out = Vec::with_capacity(listed.len());
        for s in listed {
            let src = &mut self.sources[s as usize];
            if src.ready != Ready::Listed {
                continue;
            }
            if src.up && !src.out.is_empty() {
                src.ready = Ready::Taken;
                out.push(src.info.id);
            } else {
                src.ready = Ready::Idle;
            }
        }
        out
    }

    /// Forgets a peer that is down and has no paths left (a dynamic neighbour whose session
    /// ended): its slot is freed for a later [`Rib::peer_up`] of any peer, once the changes
    /// its paths' removal caused are flushed. A peer that is up, or still holds stale paths,
    /// is kept and `false` is returned.
    pub fn remove_peer(&mut self, peer: PeerId) -> bool {
        let Some(s) = self.src_of(peer) else {
            return true;
        };
        let src = &self.sources[s as usize];
        if src.up || !src.stale_families.is_empty() {
            return false;
        }
        self.by_id.remove(&peer);
        self.cancel_rtc_wait(s);
        self.set_stale_deadline_of(s, None);
        self.retired.push(s);
        true
    }

    /// Frees the slots of removed peers (at the end of a flush: nothing refers to them any
    /// more).
    pub(super) fn free_retired(&mut self) {
        self.free_slots.append(&mut self.retired);
    }
}
