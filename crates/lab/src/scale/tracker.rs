//! What one session has received: one bit per route it must hold (its VNIs' routes, in the
//! layout's order), counters for everything else, and the End-of-RIB markers (RFC 4724 §2).
//! Exact set semantics: an announcement sets a bit (a repeat is an implicit replacement,
//! counted), a withdrawal clears it.

use super::plan::Layout;
use crate::speaker::for_each_mp_nlri;
use evpnd_wire::Family;
use std::time::Instant;

/// The receive state of one session.
#[derive(Clone, Debug)]
pub struct Tracker {
    /// The session.
    pub session: u32,
    /// Per slot: the VNI index and the first bit of its routes.
    slots: Vec<(u32, u32)>,
    bits: Vec<u64>,
    /// Routes the session must hold.
    pub expected: u64,
    /// Wanted routes held.
    pub held: u64,
    /// The counters.
    pub counts: Counts,
    /// When the EVPN End-of-RIB arrived.
    pub evpn_eor: Option<Instant>,
    /// When the RT-Constraint End-of-RIB arrived.
    pub rtc_eor: Option<Instant>,
    /// The EVPN End-of-RIB arrived while wanted routes were still missing (RFC 4684 §6
    /// wants the routes first).
    pub eor_before_routes: bool,
    /// When the session last became converged (every wanted route held, nothing else, EVPN
    /// End-of-RIB received); `None` while it is not.
    pub converged_at: Option<Instant>,
}

/// What a session received beyond its wanted routes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// EVPN NLRI announced (all of them).
    pub announced: u64,
    /// EVPN NLRI withdrawn (all of them).
    pub withdrawn: u64,
    /// Announcements of a wanted route already held (implicit replacements).
    pub repeats: u64,
    /// Withdrawals of a wanted route not held.
    pub spurious_withdrawals: u64,
    /// Announcements of plan routes of VNIs the session is not in (what RT-Constraint
    /// filters; FRR, without RFC 4684, sends them all).
    pub unwanted: u64,
    /// Withdrawals of such routes.
    pub unwanted_withdrawn: u64,
    /// The session's own routes sent back to it.
    pub echoed: u64,
    /// EVPN NLRI that are no route of the plan.
    pub unknown: u64,
    /// RT membership NLRI announced to the session.
    pub rtc_announced: u64,
    /// RT membership NLRI withdrawn.
    pub rtc_withdrawn: u64,
    /// UPDATEs received.
    pub updates: u64,
}

impl Counts {
    /// Routes held that the session must not hold: unwanted (net), echoed, unknown.
    pub fn extra(&self) -> u64 {
        self.unwanted.saturating_sub(self.unwanted_withdrawn) + self.echoed + self.unknown
    }

    /// Adds `o` to these counters.
    pub fn add(&mut self, o: &Counts) {
        self.announced += o.announced;
        self.withdrawn += o.withdrawn;
        self.repeats += o.repeats;
        self.spurious_withdrawals += o.spurious_withdrawals;
        self.unwanted += o.unwanted;
        self.unwanted_withdrawn += o.unwanted_withdrawn;
        self.echoed += o.echoed;
        self.unknown += o.unknown;
        self.rtc_announced += o.rtc_announced;
        self.rtc_withdrawn += o.rtc_withdrawn;
        self.updates += o.updates;
    }
}

/// How an UPDATE changed a tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Still not converged, or still converged.
    None,
    /// It became converged.
    Converged,
    /// It was converged and is not any more.
    Unconverged,
}

impl Tracker {
    /// The empty state of session `t`.
    pub fn new(layout: &Layout, t: u32) -> Tracker {
        let mut slots = Vec::new();
        let mut nbits = 0u32;
        for &v in &layout.memberships[t as usize] {
            slots.push((v, nbits));
            nbits += layout.vni_routes(v);
        }
        Tracker {
            session: t,
            slots,
            bits: vec![0; (nbits as usize).div_ceil(64)],
            expected: layout.expected(t),
            held: 0,
            counts: Counts::default(),
            evpn_eor: None,
            rtc_eor: None,
            eor_before_routes: false,
            converged_at: None,
        }
    }

    /// True when the session holds exactly its wanted routes and got the EVPN End-of-RIB.
    pub fn converged(&self) -> bool {
        self.held == self.expected && self.evpn_eor.is_some() && self.counts.extra() == 0
    }

    /// Wanted routes not held.
    pub fn missing(&self) -> u64 {
        self.expected - self.held
    }

    /// Applies one UPDATE message (`msg`, header included); `false` when its lengths do not
    /// add up. `tolerate_unwanted`: routes of other VNIs and the session's own routes do not
    /// prevent convergence (a DUT without RFC 4684, which also reflects a client's routes back
    /// to it, as FRR does); they are still counted. Nor does a missing End-of-RIB: FRR sends
    /// it only to peers that announced graceful restart (RFC 4724 §2 makes it part of that
    /// capability), which the sessions do not.
    pub fn apply(
        &mut self,
        layout: &Layout,
        msg: &[u8],
        now: Instant,
        tolerate_unwanted: bool,
    ) -> Option<Change> {
        let was = self.converged_at.is_some();
        self.counts.updates += 1;
        if let Some(f) = end_of_rib(msg) {
            if f == Family::L2VPN_EVPN && self.evpn_eor.is_none() {
                self.evpn_eor = Some(now);
                self.eor_before_routes = self.held < self.expected;
            } else if f == Family::RT_CONSTRAINT && self.rtc_eor.is_none() {
                self.rtc_eor = Some(now);
            }
        } else {
            for_each_mp_nlri(msg, |family, announced, nlri| {
                if family == Family::RT_CONSTRAINT {
                    if announced {
                        self.counts.rtc_announced += 1;
                    } else {
                        self.counts.rtc_withdrawn += 1;
                    }
                    return;
                }
                self.route(layout, announced, nlri);
            })?;
        }
        let now_converged = if tolerate_unwanted {
            self.held == self.expected && self.counts.unknown == 0
        } else {
            self.converged()
        };
        Some(match (was, now_converged) {
            (false, true) => {
                self.converged_at = Some(now);
                Change::Converged
            }
            (true, false) => {
                self.converged_at = None;
                Change::Unconverged
            }
            _ => Change::None,
        })
    }

    fn route(&mut self, layout: &Layout, announced: bool, nlri: &[u8]) {
        if announced {
            self.counts.announced += 1;
        } else {
            self.counts.withdrawn += 1;
        }
        let Some(id) = layout.identify(nlri) else {
            if announced {
                self.counts.unknown += 1;
            }
            return;
        };
        if id.origin == self.session {
            if announced {
                self.counts.echoed += 1;
            }
            return;
        }
        let Some(&(_, base)) = self.slots.iter().find(|(v, _)| *v == id.vni) else {
            if announced {
                self.counts.unwanted += 1;
            } else {
                self.counts.unwanted_withdrawn += 1;
            }
            return;
        };
        let Some(pos) = layout.position(id) else {
            return;
        };
        let bit = (base + pos) as usize;
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        let Some(w) = self.bits.get_mut(word) else {
            return;
        };
        let had = *w & mask != 0;
        match (announced, had) {
            (true, true) => self.counts.repeats += 1,
            (true, false) => {
                *w |= mask;
                self.held += 1;
            }
            (false, true) => {
                *w &= !mask;
                self.held -= 1;
            }
            (false, false) => self.counts.spurious_withdrawals += 1,
        }
    }
}

/// The family of an End-of-RIB marker (RFC 4724 §2: an UPDATE whose only content is an empty
/// MP_UNREACH_NLRI for the family), recognised by its exact shape.
pub fn end_of_rib(msg: &[u8]) -> Option<Family> {
    // Header (19), withdrawn length 0 (2), attribute length (2), one MP_UNREACH_NLRI
    // attribute with AFI/SAFI only: 3- or 4-octet attribute header plus 3 octets.
    let body = msg.get(19..)?;
    let attrs = match body {
        [0, 0, 0, 6, rest @ ..] if rest.len() == 6 && rest[2] == 3 => &rest[3..],
        [0, 0, 0, 7, rest @ ..] if rest.len() == 7 && rest[2] == 0 && rest[3] == 3 => &rest[4..],
        _ => return None,
    };
    let code = body.get(5)?;
    if *code != 15 {
        return None;
    }
    match attrs {
        [0, 25, 70] => Some(Family::L2VPN_EVPN),
        [0, 1, 132] => Some(Family::RT_CONSTRAINT),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::scale::plan::ScalePlan;
    use evpnd_wire::{encode_message, CodecContext, Message, Update, UpdatePacker};

    #[test]
    fn a_session_converges_on_exactly_its_vnis_routes() {
        let plan = ScalePlan {
            sessions: 40,
            vnis: 6,
            min_vnis: 2,
            max_vnis: 3,
            macs_per_session: 4,
            seed: 3,
            asn: 65000,
        };
        let l = Layout::new(&plan).unwrap();
        let ctx = CodecContext::default();
        let now = Instant::now();
        let mut tr = Tracker::new(&l, 0);
        assert!(tr.expected > 0);
        let mut eor = Vec::new();
        encode_message(
            &ctx,
            &Message::Update(Update::end_of_rib(Family::L2VPN_EVPN)),
            &mut eor,
        )
        .unwrap();
        assert_eq!(end_of_rib(&eor), Some(Family::L2VPN_EVPN));
        // Everything every other session sends, as a route reflector without RTC would.
        let mut loads = Vec::new();
        for t in 1..40 {
            loads.push(l.encode_load(t, &ctx).unwrap());
        }
        let (msgs, _) = evpnd_wire::decode_all(&ctx, &loads[0].evpn);
        assert!(msgs.len() >= 2);
        let mut change = Change::None;
        for load in &loads {
            let mut at = 0;
            while at < load.evpn.len() {
                let len = usize::from(u16::from_be_bytes([load.evpn[at + 16], load.evpn[at + 17]]));
                let m = &load.evpn[at..at + len];
                if end_of_rib(m).is_none() {
                    change = tr.apply(&l, m, now, false).unwrap();
                }
                at += len;
            }
        }
        assert_eq!(
            change,
            Change::None,
            "no End-of-RIB yet, unwanted routes held"
        );
        assert_eq!(tr.held, tr.expected);
        assert!(tr.counts.unwanted > 0);
        assert_eq!(tr.apply(&l, &eor, now, true), Some(Change::Converged));
        assert!(
            !tr.converged(),
            "unwanted routes are extra when RTC is expected"
        );
        // Withdrawing one wanted route unconverges it.
        let (v, _) = tr.slots[0];
        let other = *l.members[v as usize].iter().find(|&&m| m != 0).unwrap();
        let r = l.routes_of(other, v);
        let mut w = Vec::new();
        UpdatePacker::new(&ctx)
            .withdraw(Family::L2VPN_EVPN, &r[..1], &mut w)
            .unwrap();
        assert_eq!(tr.apply(&l, &w, now, true), Some(Change::Unconverged));
        assert_eq!(tr.missing(), 1);
        assert_eq!(tr.apply(&l, &w, now, true), Some(Change::None));
        assert_eq!(tr.counts.spurious_withdrawals, 1);
    }
}
