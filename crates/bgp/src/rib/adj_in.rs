//! Adj-RIB-In: applying a peer's UPDATE with its RFC 7606 outcome, the inbound loop checks and
//! the Only-to-Customer ingress rules (RFC 9234 §5).

use super::intern::PathAttrs;
use super::key::RouteKey;
use super::table::StoredPath;
use super::{MaxPrefixExceeded, Rib};
use crate::config::PeerId;
use crate::role::{otc_applies, otc_ingress, OtcIngress};
use evpnd_wire::{Family, NextHop, Nlri, Outcome, PathAttribute, Update};

impl Rib {
    /// Applies an UPDATE received from `peer` with the outcome its decoding gave (RFC 7606
    /// §2):
    /// * `Accept` / `AttributeDiscard`: withdrawals, then announcements (the discarded
    ///   attributes are already absent from `update`);
    /// * `TreatAsWithdraw`: every route the message names is withdrawn;
    /// * `AfiSafiDisable`: all the peer's paths of that family are dropped and the family is
    ///   ignored on this session from now on; the other routes the message names are
    ///   withdrawn.
    ///
    /// An End-of-RIB marker (RFC 4724 §2) purges the peer's stale paths of its family. Routes
    /// of families not negotiated with the peer are ignored. Announced paths that fail the
    /// loop checks (our AS in AS_PATH, our router id as ORIGINATOR_ID, our cluster id in
    /// CLUSTER_LIST, or from an external peer an AS_PATH not starting with its AS, RFC 7606
    /// §7.2) are treated as withdrawn. So are route leaks found by the Only-to-Customer ingress
    /// rules (RFC 9234 §5), applied to IPv4/IPv6 unicast routes on an eBGP session with a BGP
    /// Role of ours ([`super::PeerInfo::local_role`]): such a route is ineligible, and as the
    /// Adj-RIB-In holds only the paths in use, it is not kept. A route those rules mark is
    /// stored with OTC set to the peer's AS.
    ///
    /// Routes are matched by their key (`key.rs`): an EVPN announcement whose label, ESI or
    /// gateway IP differs from the peer's earlier one for the same key replaces that path, and
    /// a withdrawal removes the path whatever non-key fields it carries (RFC 7432 §7, RFC 9136
    /// §3.1).
    ///
    /// Returns the first family whose prefix limit the peer now exceeds (RFC 4486): the routes
    /// are kept, and the daemon is expected to close the session.
    pub fn apply_update(
        &mut self,
        peer: PeerId,
        update: &Update,
        outcome: &Outcome,
    ) -> Result<(), MaxPrefixExceeded> {
        let Some(s) = self.src_of(peer) else {
            return Ok(());
        };
        if !self.sources[s as usize].up {
            return Ok(());
        }
        let mut touched: Vec<Family> = Vec::new();
        match outcome {
            Outcome::AfiSafiDisable { family, .. } => {
                self.disable_family(s, *family);
                for (f, n) in update.treat_as_withdraw() {
                    if f != *family {
                        self.withdraw_from(s, f, n);
                    }
                }
            }
            Outcome::TreatAsWithdraw(_) => {
                for (f, n) in update.treat_as_withdraw() {
                    self.withdraw_from(s, f, n);
                }
            }
            Outcome::Accept | Outcome::AttributeDiscard(_) => {
                if let Some(f) = update.as_end_of_rib() {
                    self.end_of_rib(peer, f);
                    return Ok(());
                }
                for (f, n) in update.withdrawals() {
                    self.withdraw_from(s, f, n);
                }
                if !update.nlri.is_empty() {
                    let nh = update.attributes.iter().find_map(|a| match a {
                        PathAttribute::NextHop(a) => Some(NextHop::Ipv4(*a)),
                        _ => None,
                    });
                    if let Some(nh) = nh {
                        self.announce_from(s, Family::IPV4_UNICAST, update, nh, &update.nlri);
                        touched.push(Family::IPV4_UNICAST);
                    }
                }
                if let Some(m) = &update.mp_reach {
                    self.announce_from(s, m.family, update, m.next_hop.clone(), &m.nlri);
                    touched.push(m.family);
                }
            }
        }
        let src = &self.sources[s as usize];
        for f in touched {
            if let Some(mp) = src.info.max_prefix.iter().find(|m| m.family == f) {
                let accepted = src
                    .counters
                    .iter()
                    .find(|c| c.family == f)
                    .map_or(0, |c| c.accepted);
                if accepted > u64::from(mp.limit) {
                    return Err(MaxPrefixExceeded {
                        family: f,
                        limit: mp.limit,
                    });
                }
            }
        }
        Ok(())
    }

    /// RFC 7606 AFI/SAFI disable: drop the peer's paths of `family` and ignore it from now on.
    fn disable_family(&mut self, s: u32, family: Family) {
        let src = &mut self.sources[s as usize];
        if !src.disabled.contains(&family) {
            src.disabled.push(family);
        }
        src.stale_families.retain(|f| *f != family);
        if src.stale_families.is_empty() {
            self.set_stale_deadline_of(s, None);
        }
        // No RT-Constraint End-of-RIB will come any more: stop waiting for it (RFC 4684 §6).
        if family == Family::RT_CONSTRAINT && self.sources[s as usize].rtc_wait.is_some() {
            self.release_rtc_wait(s);
        }
        if let Some(ti) = self.table_index(family) {
            self.remove_paths_where(ti, s, |_| true);
        }
    }

    fn withdraw_from(&mut self, s: u32, family: Family, n: &Nlri) {
        if !self.sources[s as usize].accepts(family) || n.route.family() != family {
            return;
        }
        if let Some(ti) = self.table_index(family) {
            self.remove_path(ti, &RouteKey::of(&n.route), s, n.path_id);
        }
    }

    /// Why the loop checks refuse `a` from source `s`, if they do.
    fn inbound_reject(&self, s: u32, a: &PathAttrs) -> Option<&'static str> {
        let info = &self.sources[s as usize].info;
        if a.as_path.contains(self.cfg.local_asn) {
            return Some("AS_PATH holds the local AS (RFC 4271 §9.1.2)");
        }
        if a.originator_id == Some(self.cfg.router_id) {
            return Some("ORIGINATOR_ID is our router id (RFC 4456 §8)");
        }
        if a.cluster_list.contains(&self.cfg.cluster_id) {
            return Some("CLUSTER_LIST holds our cluster id (RFC 4456 §8)");
        }
        if info.external && a.as_path.first_asn() != Some(info.asn) {
            return Some("AS_PATH does not start with the peer's AS (RFC 7606 §7.2)");
        }
        None
    }

    /// The Only-to-Customer ingress rule (RFC 9234 §5) for `a` received from source `s` in
    /// `family`: applied on eBGP sessions with a role of ours, in IPv4/IPv6 unicast only.
    fn otc_ingress(&self, s: u32, family: Family, a: &PathAttrs) -> OtcIngress {
        let info = &self.sources[s as usize].info;
        match info.local_role {
            Some(role) if info.external && otc_applies(family) => {
                otc_ingress(role, info.asn, a.only_to_customer)
            }
            _ => OtcIngress::Keep,
        }
    }

    fn announce_from(
        &mut self,
        s: u32,
        family: Family,
        update: &Update,
        next_hop: NextHop,
        nlri: &[Nlri],
    ) {
        if nlri.is_empty() || !self.sources[s as usize].accepts(family) {
            return;
        }
        let four = self.sources[s as usize].info.tx.four_octet_as;
        let mut a = PathAttrs::from_attributes(&update.attributes, update.partial, next_hop, four);
        self.sources[s as usize].counters_mut(family).received += nlri.len() as u64;
        let ti = self.table_index_or_create(family);
        let rejected = if self.inbound_reject(s, &a).is_some() {
            self.stats.loops_rejected += nlri.len() as u64;
            true
        } else {
            match self.otc_ingress(s, family, &a) {
                OtcIngress::Keep => false,
                OtcIngress::Mark(asn) => {
                    a.only_to_customer = Some(asn);
                    false
                }
                OtcIngress::Leak(_) => {
                    self.stats.leaks_rejected += nlri.len() as u64;
                    true
                }
            }
        };
        if rejected {
            for n in nlri {
                if n.route.family() == family {
                    self.remove_path(ti, &RouteKey::of(&n.route), s, n.path_id);
                }
            }
            return;
        }
        // Keys and hashes first, then the index slots they probe are loaded together
        // (`Table::prefetch`), then the routes go in.
        let mut batch = std::mem::take(&mut self.ingest_batch);
        batch.clear();
        {
            let t = &self.tables[ti];
            batch.extend(nlri.iter().filter(|n| n.route.family() == family).map(|n| {
                let (key, extras) = RouteKey::split(&n.route);
                (key, t.hash(&key), extras, n.path_id)
            }));
            t.prefetch(batch.iter().map(|b| b.1));
        }
        // One interned set per distinct non-key NLRI fields; the routes of one UPDATE usually
        // share them, so the last one is remembered.
        let mut last: Option<std::sync::Arc<PathAttrs>> = None;
        let mut added = 0u64;
        for &(key, h, extras, path_id) in &batch {
            let attrs = match &last {
                Some(l) if l.nlri_extras == extras => l.clone(),
                _ => {
                    a.nlri_extras = extras;
                    let l = self.interner.intern_ref(&a);
                    last = Some(l.clone());
                    l
                }
            };
            let path = StoredPath {
                attrs,
                src: s,
                path_id: path_id.unwrap_or(0),
                has_path_id: path_id.is_some(),
                stale: false,
            };
            if self.upsert_hashed(ti, key, h, path) {
                added += 1;
            }
        }
        self.ingest_batch = batch;
        self.sources[s as usize].counters_mut(family).accepted += added;
    }
}
