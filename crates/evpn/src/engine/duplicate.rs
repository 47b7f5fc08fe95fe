//! Duplicate MAC detection (RFC 7432 §15.1) and duplicate IP detection (RFC 9161).
//!
//! Moves that involve this NVE are counted per MAC or IP (a local learn of a subject held
//! remotely, a remote take-over of a local one); the N-th move inside M seconds freezes the
//! subject where it is, stops advertising it and raises an event. A freeze ends when its timer
//! expires ([`Engine::poll_timeout`], [`Engine::handle_timeout`]) or when an operator clears it
//! ([`Engine::clear_duplicate`]); the subject is then processed again.

use super::Engine;
use crate::config::Freeze;
use crate::types::{DuplicateState, EngineError, EngineEvent, Location, Subject};
use evpnd_wire::{MacAddress, Vni};
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

/// Move counting and freeze state, shared by MACs and IPs. Allocated on the first counted move
/// (most MACs never move), so it costs one pointer per record until then.
#[derive(Clone, Debug, Default)]
pub(super) struct Detection(Option<Box<DetectionState>>);

#[derive(Clone, Debug)]
struct DetectionState {
    moves: VecDeque<Instant>,
    state: DuplicateState,
}

impl Detection {
    pub(super) fn new() -> Self {
        Detection(None)
    }

    pub(super) fn state(&self) -> DuplicateState {
        self.0.as_ref().map_or(DuplicateState::Normal, |d| d.state)
    }

    pub(super) fn frozen(&self) -> bool {
        matches!(self.state(), DuplicateState::Frozen { .. })
    }

    /// Moves counted so far.
    pub(super) fn moves(&self) -> usize {
        self.0.as_ref().map_or(0, |d| d.moves.len())
    }

    fn get_or_create(&mut self) -> &mut DetectionState {
        self.0.get_or_insert_with(|| {
            Box::new(DetectionState {
                moves: VecDeque::new(),
                state: DuplicateState::Normal,
            })
        })
    }

    /// Back to normal with no moves counted.
    fn clear(&mut self) {
        self.0 = None;
    }
}

/// A pending freeze expiry (checked against the record when it fires).
pub(super) type TimerKey = (Vni, Subject);

impl Engine {
    /// When [`Engine::handle_timeout`] should next be called (the earliest freeze expiry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Ends the freezes that expired by `now` (RFC 7432 §15.1: the MAC is processed again).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((t, key))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let (vni, subject) = key;
            if self.frozen_until(vni, subject) == Some(Some(t)) {
                self.unfreeze(vni, subject, false, now);
            }
        }
    }

    /// Operator clear of duplicate state: `subject` in `vni`, or every frozen MAC and IP of
    /// `vni` with `None`. Returns how many were cleared; each is processed again at once.
    pub fn clear_duplicate(
        &mut self,
        vni: Vni,
        subject: Option<Subject>,
        now: Instant,
    ) -> Result<usize, EngineError> {
        if !self.evis.contains_key(&vni) {
            return Err(EngineError::UnknownVni(vni));
        }
        let subjects: Vec<Subject> = match subject {
            Some(s) => vec![s],
            None => {
                let mut v: Vec<Subject> = self
                    .macs
                    .iter()
                    .filter(|((v, _), r)| *v == vni && r.detection.frozen())
                    .map(|((_, m), _)| Subject::Mac(*m))
                    .chain(
                        self.ips
                            .iter()
                            .filter(|((v, _), r)| *v == vni && r.detection.frozen())
                            .map(|((_, ip), _)| Subject::Ip(*ip)),
                    )
                    .collect();
                v.sort_by_key(subject_order);
                v
            }
        };
        let mut n = 0;
        for s in subjects {
            if self.frozen_until(vni, s).is_some() {
                self.unfreeze(vni, s, true, now);
                n += 1;
            } else if let Some(r) = self.detection_mut(vni, s) {
                // Not frozen: clearing forgets the moves counted so far.
                r.clear();
            }
        }
        Ok(n)
    }

    pub(super) fn count_mac_move(&mut self, vni: Vni, mac: MacAddress, now: Instant) {
        if self.count_move(vni, Subject::Mac(mac), now) {
            let at = self
                .macs
                .get(&(vni, mac))
                .and_then(|r| r.installed)
                .map_or(Location::Local, |w| w.at);
            self.freeze(vni, Subject::Mac(mac), at, now);
            self.set_advertised(vni, mac, false);
        }
    }

    pub(super) fn count_ip_move(&mut self, vni: Vni, ip: IpAddr, now: Instant) {
        if self.count_move(vni, Subject::Ip(ip), now) {
            let at = if self.local_ips.contains_key(&(vni, ip)) {
                Location::Local
            } else {
                self.ips
                    .get(&(vni, ip))
                    .and_then(|r| r.best_remote())
                    .map_or(Location::Local, |c| Location::Remote { vtep: c.vtep })
            };
            self.freeze(vni, Subject::Ip(ip), at, now);
            // Stop advertising the local MAC+IP route of the IP.
            if let Some(mac) = self.local_ips.get(&(vni, ip)).copied() {
                if self.mac_advertised(vni, mac) {
                    self.withdraw_ip_route(vni, mac, ip);
                }
            }
        }
    }

    /// Records a move; true when it is the N-th inside the window (the subject becomes a
    /// duplicate).
    fn count_move(&mut self, vni: Vni, subject: Subject, now: Instant) -> bool {
        let dd = self.config.duplicate_detection;
        if !dd.enabled {
            return false;
        }
        let Some(d) = self.detection_mut(vni, subject) else {
            return false;
        };
        if d.frozen() {
            return false;
        }
        let d = d.get_or_create();
        // Only moves strictly inside the window count: one exactly M seconds old has left it.
        while d
            .moves
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= dd.window)
        {
            d.moves.pop_front();
        }
        d.moves.push_back(now);
        let n = usize::try_from(dd.max_moves.max(1)).unwrap_or(usize::MAX);
        while d.moves.len() > n {
            d.moves.pop_front();
        }
        d.moves.len() >= n
    }

    pub(super) fn freeze(&mut self, vni: Vni, subject: Subject, at: Location, now: Instant) {
        let until = match self.config.duplicate_detection.freeze {
            Freeze::For(d) => Some(now + d),
            Freeze::Permanent => None,
        };
        if let Some(d) = self.detection_mut(vni, subject) {
            d.get_or_create().state = DuplicateState::Frozen { until };
        }
        if let Some(t) = until {
            self.timers.push(Reverse((t, (vni, subject))));
        }
        self.events.push_back(EngineEvent::Duplicate {
            vni,
            subject,
            at,
            until,
        });
    }

    fn unfreeze(&mut self, vni: Vni, subject: Subject, by_operator: bool, now: Instant) {
        if let Some(d) = self.detection_mut(vni, subject) {
            d.clear();
        }
        self.events.push_back(EngineEvent::Unfrozen {
            vni,
            subject,
            by_operator,
        });
        match subject {
            Subject::Mac(mac) => {
                // Processed again: if the MAC was frozen here (local) it is advertised above
                // every sequence number seen, so that the fabric converges on it (as FRR
                // does). A local claim frozen dormant behind a remote one stays dormant unless
                // that claim went away meanwhile.
                if let Some(r) = self.macs.get_mut(&(vni, mac)) {
                    if r.local_active() {
                        r.outbid();
                    }
                }
                self.settle_mac(vni, mac, now, false);
            }
            Subject::Ip(ip) => {
                if let Some(mac) = self.local_ips.get(&(vni, ip)).copied() {
                    if self.mac_advertised(vni, mac) {
                        self.originate_one(vni, mac, Some(ip));
                    }
                }
                self.settle_ip(vni, ip);
            }
        }
    }

    fn detection_mut(&mut self, vni: Vni, subject: Subject) -> Option<&mut Detection> {
        match subject {
            Subject::Mac(mac) => self.macs.get_mut(&(vni, mac)).map(|r| &mut r.detection),
            Subject::Ip(ip) => self.ips.get_mut(&(vni, ip)).map(|r| &mut r.detection),
        }
    }

    /// `Some(until)` when the subject is frozen.
    fn frozen_until(&self, vni: Vni, subject: Subject) -> Option<Option<Instant>> {
        let d = match subject {
            Subject::Mac(mac) => self.macs.get(&(vni, mac)).map(|r| &r.detection),
            Subject::Ip(ip) => self.ips.get(&(vni, ip)).map(|r| &r.detection),
        }?;
        match d.state() {
            DuplicateState::Frozen { until } => Some(until),
            DuplicateState::Normal => None,
        }
    }

    pub(super) fn ip_frozen(&self, vni: Vni, ip: IpAddr) -> bool {
        self.ips
            .get(&(vni, ip))
            .is_some_and(|r| r.detection.frozen())
    }
}

fn subject_order(s: &Subject) -> (u8, [u8; 16]) {
    match s {
        Subject::Mac(m) => {
            let mut b = [0; 16];
            b[..6].copy_from_slice(&m.0);
            (0, b)
        }
        Subject::Ip(IpAddr::V4(a)) => (1, a.to_ipv6_mapped().octets()),
        Subject::Ip(IpAddr::V6(a)) => (2, a.octets()),
    }
}
