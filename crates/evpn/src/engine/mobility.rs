//! MAC mobility (RFC 7432 §15) and sticky MACs (RFC 7432 §15.2).
//!
//! Every claim on one `(VNI, MAC)` sits in one [`MacRecord`]: the local attachment and the
//! imported routes naming the MAC. [`Engine::decide`] picks the winner from that record alone
//! (sticky first, then the higher sequence number, then the lower VTEP), and
//! [`Engine::settle_mac`] is the single place where a MAC changes state: installed location,
//! advertisement, FDB intents and events.
//!
//! A local claim that loses is *dormant*, not forgotten: RFC 7432 §15 has the losing PE
//! withdraw its MAC/IP Advertisement route, and says nothing of forgetting the MAC, which is
//! still attached here (the orchestrator did not detach it; the kernel did not age it out).
//! While dormant its routes are withdrawn, its IP bindings are not installed and the winning
//! remote claim is in the FDB. When that claim goes (withdrawn, or replaced by one the local
//! claim beats), the local claim wins again and is advertised above every sequence number it
//! has seen for the MAC since it was attached, withdrawn routes included (§15: the highest
//! received + 1), which counts as a move (§15.1) as a local learn does. A detach ends the
//! dormant claim like an active one.

use super::claims::Claims;
use super::duplicate::Detection;
use super::explain::Decision;
use super::import::ImportKey;
use super::proxy_arp_nd::IpFlags;
use super::Engine;
use crate::types::{DataplaneIntent, EngineEvent, Location};
use evpnd_wire::{MacAddress, Vni};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One imported route claiming a MAC (or an IP, with the MAC it binds the IP to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Claim {
    pub(super) key: ImportKey,
    pub(super) vtep: IpAddr,
    pub(super) sequence: u32,
    pub(super) sticky: bool,
    pub(super) mac: MacAddress,
    pub(super) router: bool,
    pub(super) immutable: bool,
}

impl Claim {
    /// Preference among remote claims on one MAC: sticky first, then higher sequence, then
    /// lower VTEP address (RFC 7432 §15; sticky: §15.2), then the route key (determinism).
    pub(super) fn mac_rank(&self) -> (bool, Reverse<u32>, IpAddr, ImportKey) {
        (!self.sticky, Reverse(self.sequence), self.vtep, self.key)
    }
}

/// Why the best of `remotes` (ranked by `rank`, best lowest) wins: against the best claim of
/// another VTEP, by the first rank component that differs: the `preferred` flag (sticky for
/// MACs, immutable for IPs), then the higher sequence number, then the lower VTEP address.
pub(super) fn remote_decision<K: Ord>(
    remotes: &[Claim],
    rank: fn(&Claim) -> K,
    preferred: fn(&Claim) -> bool,
    preferred_wins: Decision,
) -> Decision {
    let Some(best) = remotes.iter().min_by_key(|c| rank(c)) else {
        return Decision::NoClaim;
    };
    let Some(runner_up) = remotes
        .iter()
        .filter(|c| c.vtep != best.vtep)
        .min_by_key(|c| rank(c))
    else {
        return Decision::OnlyClaim;
    };
    if preferred(best) && !preferred(runner_up) {
        preferred_wins
    } else if best.sequence != runner_up.sequence {
        Decision::HigherSequence {
            winner: best.sequence,
            loser: runner_up.sequence,
        }
    } else {
        Decision::LowerVtep {
            winner: best.vtep,
            loser: runner_up.vtep,
        }
    }
}

/// A local attachment of a MAC with the IPs bound to it.
#[derive(Clone, Debug)]
pub(super) struct LocalMac {
    pub(super) sticky: bool,
    pub(super) ips: BTreeMap<IpAddr, IpFlags>,
    /// One above the highest sequence number of the remote claims on the MAC since it was
    /// attached (those present then and every one since, withdrawn or not; 0 without any):
    /// what the local claim advertises at least when it wins after a remote claim held the
    /// MAC (RFC 7432 §15). Kept here, not in the record, so that remote-only MACs do not
    /// pay for it.
    pub(super) above_seen: u32,
}

impl LocalMac {
    /// A new local claim on a MAC whose record holds `remotes`.
    pub(super) fn new(sticky: bool, remotes: &[Claim]) -> Self {
        LocalMac {
            sticky,
            ips: BTreeMap::new(),
            above_seen: remotes
                .iter()
                .map(|c| c.sequence.saturating_add(1))
                .max()
                .unwrap_or(0),
        }
    }
}

/// The installed location of a MAC with the attributes of the claim that won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Winner {
    pub(super) at: Location,
    pub(super) sequence: u32,
    pub(super) sticky: bool,
}

/// What the engine advertises for a local MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Advertised {
    pub(super) sequence: u32,
    pub(super) sticky: bool,
}

/// An instant kept in 8 bytes: nanoseconds from the engine's epoch (either side of it, exact
/// for ±292 years), where an [`Instant`] takes 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stamp(i64);

impl Stamp {
    /// `t` relative to `epoch`.
    pub(super) fn new(epoch: Instant, t: Instant) -> Stamp {
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        match t.checked_duration_since(epoch) {
            Some(after) => Stamp(nanos(after)),
            None => Stamp(-nanos(epoch.saturating_duration_since(t))),
        }
    }

    /// The instant, given the same `epoch`.
    pub(super) fn instant(self, epoch: Instant) -> Instant {
        let d = Duration::from_nanos(self.0.unsigned_abs());
        let t = if self.0 >= 0 {
            epoch.checked_add(d)
        } else {
            epoch.checked_sub(d)
        };
        t.unwrap_or(epoch)
    }
}

/// Every claim on one MAC of one VNI.
#[derive(Clone, Debug)]
pub(super) struct MacRecord {
    pub(super) local: Option<Box<LocalMac>>,
    pub(super) remotes: Claims,
    pub(super) installed: Option<Winner>,
    pub(super) advertised: Option<Advertised>,
    /// The sequence number of the local claim (kept while the record lives).
    pub(super) local_seq: u32,
    pub(super) detection: Detection,
    pub(super) conflict: bool,
    /// When the MAC's location last changed.
    pub(super) since: Stamp,
}

impl MacRecord {
    pub(super) fn new(now: Stamp) -> Self {
        MacRecord {
            local: None,
            remotes: Claims::Empty,
            installed: None,
            advertised: None,
            local_seq: 0,
            detection: Detection::new(),
            conflict: false,
            since: now,
        }
    }

    /// The best remote claim on the record's MAC `mac`.
    pub(super) fn best_remote(&self, mac: MacAddress) -> Option<Claim> {
        self.remotes
            .view(mac)
            .iter()
            .min_by_key(|c| c.mac_rank())
            .copied()
    }

    /// Records a remote claim's sequence number as seen by the local claim, if any.
    pub(super) fn saw_sequence(&mut self, sequence: u32) {
        if let Some(l) = self.local.as_mut() {
            l.above_seen = l.above_seen.max(sequence.saturating_add(1));
        }
    }

    /// Raises the local claim's sequence number above every one it has seen for the MAC: what
    /// a PE advertises for a MAC it learns while it knows remote routes for it (RFC 7432 §15).
    pub(super) fn outbid(&mut self) {
        if let Some(l) = &self.local {
            self.local_seq = self.local_seq.max(l.above_seen);
        }
    }

    /// True when the MAC is attached here and the local claim is the installed one (not
    /// dormant behind a remote claim, nor frozen at a remote location).
    pub(super) fn local_active(&self) -> bool {
        self.local.is_some() && self.installed.is_some_and(|w| w.at == Location::Local)
    }

    fn unused(&self) -> bool {
        self.local.is_none()
            && self.remotes.is_empty()
            && self.installed.is_none()
            && self.advertised.is_none()
            && !self.detection.frozen()
    }
}

impl Engine {
    /// Who holds the MAC now, from its record alone. Returns the winner and whether a sticky
    /// conflict exists. A local claim that loses stays in the record, dormant.
    pub(super) fn decide(&self, r: &MacRecord, mac: MacAddress) -> (Option<Winner>, bool) {
        let (winner, conflict, _) = self.decide_why(r, mac);
        (winner, conflict)
    }

    /// [`Engine::decide`] with the rule that settled it (`evpnctl explain`).
    pub(super) fn decide_why(
        &self,
        r: &MacRecord,
        mac: MacAddress,
    ) -> (Option<Winner>, bool, Decision) {
        let remote = r.best_remote(mac).map(|c| Winner {
            at: Location::Remote { vtep: c.vtep },
            sequence: c.sequence,
            sticky: c.sticky,
        });
        let Some(local) = &r.local else {
            return (
                remote,
                false,
                remote_decision(
                    &r.remotes.view(mac),
                    Claim::mac_rank,
                    |c| c.sticky,
                    Decision::RemoteSticky,
                ),
            );
        };
        let mine = Winner {
            at: Location::Local,
            sequence: r.local_seq,
            sticky: local.sticky,
        };
        let Some(other) = remote else {
            return (Some(mine), false, Decision::OnlyClaim);
        };
        if local.sticky {
            // A static MAC never moves; any remote claim on it is a conflict (§15.2).
            return (Some(mine), true, Decision::LocalSticky);
        }
        if other.sticky {
            return (Some(other), true, Decision::RemoteSticky);
        }
        let Location::Remote { vtep } = other.at else {
            return (Some(mine), false, Decision::OnlyClaim);
        };
        let local_wins = match mine.sequence.cmp(&other.sequence) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => self.config.vtep < vtep,
        };
        let (winner, loser) = if local_wins {
            (mine, other)
        } else {
            (other, mine)
        };
        let why = if mine.sequence != other.sequence {
            Decision::HigherSequence {
                winner: winner.sequence,
                loser: loser.sequence,
            }
        } else if local_wins {
            Decision::LowerVtep {
                winner: self.config.vtep,
                loser: vtep,
            }
        } else {
            Decision::LowerVtep {
                winner: vtep,
                loser: self.config.vtep,
            }
        };
        (Some(winner), false, why)
    }

    /// Brings the MAC's installed location, advertisement, events and intents in line with its
    /// claims. The single place where a MAC changes state. `count_moves` is false when the
    /// change is not a claim (a detach, the end of a freeze).
    pub(super) fn settle_mac(
        &mut self,
        vni: Vni,
        mac: MacAddress,
        now: Instant,
        count_moves: bool,
    ) {
        let key = (vni, mac);
        let Some(rec) = self.macs.get(&key) else {
            return;
        };
        if rec.detection.frozen() {
            // Frozen: the location stays where it was and nothing is advertised.
            self.set_advertised(vni, mac, false);
            return;
        }
        let (mut winner, conflict) = self.decide(rec, mac);
        let before = rec.installed;
        let had_conflict = rec.conflict;
        let was_active = rec.local_active();
        if let Some(w) = winner.as_mut() {
            if w.at == Location::Local && before.map(|b| b.at) != Some(Location::Local) {
                // The local claim wins after a remote one held the MAC (a learn, or a dormant
                // claim whose rival went away): advertised above every sequence number seen
                // (RFC 7432 §15).
                if let Some(r) = self.macs.get_mut(&key) {
                    r.outbid();
                    w.sequence = r.local_seq;
                }
            }
        }
        if conflict && !had_conflict {
            if let Some(r) = self.macs.get(&key) {
                let local_sticky = r.local.as_ref().is_some_and(|l| l.sticky);
                let remote_at = r
                    .best_remote(mac)
                    .map(|c| Location::Remote { vtep: c.vtep });
                if let Some(remote_at) = remote_at {
                    let (sticky_at, claimed_at) = if local_sticky {
                        (Location::Local, remote_at)
                    } else {
                        (remote_at, Location::Local)
                    };
                    self.events.push_back(EngineEvent::StickyConflict {
                        vni,
                        mac,
                        sticky_at,
                        claimed_at,
                    });
                }
            }
        }
        if let Some(r) = self.macs.get_mut(&key) {
            r.conflict = conflict;
            r.installed = winner;
        }
        // Data plane and events for a change of the installed value.
        if before != winner {
            match winner {
                Some(Winner {
                    at: Location::Remote { vtep },
                    sticky,
                    ..
                }) => {
                    let same = before
                        .is_some_and(|b| b.at == Location::Remote { vtep } && b.sticky == sticky);
                    if !same {
                        self.intents.push_back(DataplaneIntent::RemoteMac {
                            vni,
                            mac,
                            vtep,
                            sticky,
                        });
                    }
                }
                Some(Winner {
                    at: Location::Local,
                    ..
                })
                | None => {
                    if matches!(before.map(|b| b.at), Some(Location::Remote { .. })) {
                        self.intents
                            .push_back(DataplaneIntent::RemoveRemoteMac { vni, mac });
                    }
                }
            }
            let from = before.map(|b| b.at);
            let to = winner.map(|w| w.at);
            match (from, to) {
                (None, Some(at)) => self.events.push_back(EngineEvent::Learned { vni, mac, at }),
                (Some(_), None) => self.events.push_back(EngineEvent::Removed { vni, mac }),
                (Some(f), Some(t)) if f != t => {
                    self.events.push_back(EngineEvent::Moved {
                        vni,
                        mac,
                        from: f,
                        to: t,
                        sequence: winner.map_or(0, |w| w.sequence),
                    });
                    // Moves are counted where they involve this NVE (RFC 7432 §15.1).
                    if count_moves && (f == Location::Local || t == Location::Local) {
                        self.count_mac_move(vni, mac, now);
                    }
                }
                _ => {}
            }
            if from != to {
                let stamp = Stamp::new(self.epoch, now);
                if let Some(r) = self.macs.get_mut(&key) {
                    r.since = stamp;
                }
            }
        }
        let frozen_now = self.macs.get(&key).is_some_and(|r| r.detection.frozen());
        let advertise = !frozen_now
            && winner.is_some_and(|w| w.at == Location::Local)
            && self.macs.get(&key).is_some_and(|r| r.local.is_some());
        self.set_advertised(vni, mac, advertise);
        // The local IP bindings are installed only while the local claim is: they follow it
        // into dormancy and back.
        let active = self.macs.get(&key).is_some_and(MacRecord::local_active);
        if active != was_active {
            let ips: Vec<IpAddr> = self
                .macs
                .get(&key)
                .and_then(|r| r.local.as_ref())
                .map(|l| l.ips.keys().copied().collect())
                .unwrap_or_default();
            for ip in ips {
                self.settle_ip(vni, ip);
            }
        }
        if self.macs.get(&key).is_some_and(|r| r.unused()) {
            self.macs.remove(&key);
        }
    }

    /// Starts or stops advertising the local MAC's routes; re-advertises when the sequence
    /// number or sticky flag changed.
    pub(super) fn set_advertised(&mut self, vni: Vni, mac: MacAddress, on: bool) {
        let Some(r) = self.macs.get(&(vni, mac)) else {
            return;
        };
        let want = match (&r.local, on) {
            (Some(l), true) => Some(Advertised {
                sequence: r.local_seq,
                sticky: l.sticky,
            }),
            _ => None,
        };
        if r.advertised == want {
            return;
        }
        let had = r.advertised.is_some();
        if let Some(r) = self.macs.get_mut(&(vni, mac)) {
            r.advertised = want;
        }
        if want.is_some() {
            self.originate_mac_routes(vni, mac);
        } else if had {
            self.withdraw_mac_routes(vni, mac);
        }
    }

    pub(super) fn mac_advertised(&self, vni: Vni, mac: MacAddress) -> bool {
        self.macs
            .get(&(vni, mac))
            .is_some_and(|r| r.advertised.is_some())
    }

    /// The local claim on the MAC ends (a detach, active or dormant): routes withdrawn, IP
    /// bindings released, a remote claim installed in its place.
    pub(super) fn drop_local(&mut self, vni: Vni, mac: MacAddress, now: Instant) {
        self.set_advertised(vni, mac, false);
        let ips: Vec<IpAddr> = self
            .macs
            .get_mut(&(vni, mac))
            .and_then(|r| r.local.take())
            .map(|l| l.ips.into_keys().collect())
            .unwrap_or_default();
        for ip in ips {
            self.unbind_local_ip(vni, mac, ip);
        }
        self.settle_mac(vni, mac, now, false);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// The MAC record is most of an NVE's memory per remote MAC (bench/README.md, "The EVPN
    /// engine alone"): keep it small.
    #[test]
    fn stamps_round_trip_on_both_sides_of_the_epoch() {
        let epoch = Instant::now();
        let later = epoch + Duration::from_nanos(123_456_789_012);
        assert_eq!(Stamp::new(epoch, later).instant(epoch), later);
        if let Some(earlier) = epoch.checked_sub(Duration::from_nanos(987_654_321)) {
            assert_eq!(Stamp::new(epoch, earlier).instant(epoch), earlier);
        }
        assert_eq!(Stamp::new(epoch, epoch).instant(epoch), epoch);
    }

    #[test]
    fn a_mac_record_stays_small() {
        eprintln!(
            "MacRecord {} B, Claim {} B, Winner {} B, Option<Winner> {} B, Claims {} B",
            std::mem::size_of::<MacRecord>(),
            std::mem::size_of::<Claim>(),
            std::mem::size_of::<Winner>(),
            std::mem::size_of::<Option<Winner>>(),
            std::mem::size_of::<Claims>(),
        );
        assert!(std::mem::size_of::<MacRecord>() <= 96);
    }
}
