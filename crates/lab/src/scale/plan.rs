//! What every session of a session-scale run is and sends: its addresses, the VNIs it is a
//! member of (deterministic from a seed), its routes and their pre-encoded UPDATEs, and the
//! exact set of EVPN routes the route reflector must send it.
//!
//! Session `t` (0-based) connects from 127.64.0.0 + 1 + t, is VTEP 198.18.0.0 + 1 + t (also
//! its BGP identifier), and is a member of k ∈ [min, max] VNIs out of V. In each of its VNIs
//! it originates one inclusive multicast route (type 3 with a PMSI ingress-replication
//! tunnel, RFC 7432 §7.3 / RFC 8365 §9) and its share of the session's MAC routes (type 2,
//! RFC 7432 §7.2), all with RD `VTEP:VNI`, RT `ASN:VNI` (RFC 8365 §5.1.2.1) and the VXLAN
//! encapsulation community. Every route is recognisable from its NLRI bytes alone (RD →
//! originator and VNI; MAC → session and index), so a receiving session identifies a route
//! with a few byte reads and keeps what it holds as one bit per expected route.

use crate::error::{LabError, Result};
use evpnd_wire::{
    encode_message, AsPath, Capability, CodecContext, Esi, EvpnRoute, ExtendedCommunity, Family,
    InclusiveMulticastRoute, Label, MacAddress, MacIpRoute, Message, NextHop, Nlri, Origin,
    PathAttribute, PmsiTunnel, Route, RouteDistinguisher, RouteTarget, RtMembership, Update,
    UpdatePacker,
};
use std::net::{IpAddr, Ipv4Addr};

/// First source address: sessions connect from 127.64.0.1 and up (127.64.0.0/10 is on `lo`).
pub const SOURCE_BASE: Ipv4Addr = Ipv4Addr::new(127, 64, 0, 0);
/// First VTEP: session t is VTEP (and router id) 198.18.0.0 + 1 + t (RFC 2544 space, the
/// project's underlay range); these are attribute values only, no underlay is needed.
pub const VTEP_BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
/// The first VNI; VNI index i is VNI `VNI_BASE + i` (the RD's 2-octet number holds it).
pub const VNI_BASE: u32 = 10_000;
/// Most sessions a plan may have (VTEPs stay inside 198.18.0.0/15 below the DUT's id).
pub const MAX_SESSIONS: usize = 100_000;

/// The shape of a run: how many sessions, VNIs, memberships and MACs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePlan {
    /// Sessions (NVEs), each a route-reflector client.
    pub sessions: usize,
    /// VNIs to choose memberships from.
    pub vnis: u32,
    /// Fewest VNIs per session.
    pub min_vnis: usize,
    /// Most VNIs per session.
    pub max_vnis: usize,
    /// Type-2 MAC routes per session, spread over its VNIs.
    pub macs_per_session: usize,
    /// Seed of the membership choice.
    pub seed: u64,
    /// The AS of every session and of the route reflector (iBGP; 2-octet, for `ASN:VNI`).
    pub asn: u32,
}

impl ScalePlan {
    /// The P7 benchmark's shape for `sessions` sessions: 2–5 of 1,000 VNIs each, 100 MACs
    /// per session (1 M MACs at 10,000 sessions).
    pub fn p7(sessions: usize) -> Self {
        ScalePlan {
            sessions,
            vnis: 1000,
            min_vnis: 2,
            max_vnis: 5,
            macs_per_session: 100,
            seed: 7,
            asn: 65000,
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(LabError::new(m));
        if self.sessions == 0 || self.sessions > MAX_SESSIONS {
            return bad(format!("sessions: 1..={MAX_SESSIONS}"));
        }
        if self.min_vnis == 0 || self.min_vnis > self.max_vnis {
            return bad("need 1 <= min-vnis <= max-vnis".into());
        }
        if self.vnis == 0 || self.vnis > 50_000 || (self.vnis as usize) < self.max_vnis {
            return bad("vnis: max-vnis..=50000".into());
        }
        if self.macs_per_session > 65_535 {
            return bad("at most 65535 MACs per session".into());
        }
        if u16::try_from(self.asn).is_err() {
            return bad("the AS must fit in 2 octets (route targets ASN:VNI)".into());
        }
        Ok(())
    }
}

/// splitmix64: a tiny deterministic generator for the memberships.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Who is in which VNI, and where each route sits in a receiver's bit set.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The plan.
    pub plan: ScalePlan,
    /// Per session: its VNI indices, in slot order.
    pub memberships: Vec<Vec<u32>>,
    /// Per VNI index: its member sessions, ascending.
    pub members: Vec<Vec<u32>>,
    /// Per VNI index: for each member (same order), the offset of its first route among the
    /// VNI's routes, plus a final entry with the VNI's route count.
    pub offsets: Vec<Vec<u32>>,
}

/// A route of the plan, as identified from its NLRI bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteId {
    /// The originating session.
    pub origin: u32,
    /// The VNI index.
    pub vni: u32,
    /// 0 for the inclusive multicast route, 1 + j for MAC route j.
    pub index: u32,
}

impl Layout {
    /// Draws the memberships of `plan`.
    pub fn new(plan: &ScalePlan) -> Result<Layout> {
        plan.check()?;
        let mut memberships = Vec::with_capacity(plan.sessions);
        let mut members = vec![Vec::new(); plan.vnis as usize];
        let span = (plan.max_vnis - plan.min_vnis + 1) as u64;
        for t in 0..plan.sessions {
            let mut st = plan.seed ^ (t as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
            let k = plan.min_vnis + (splitmix(&mut st) % span) as usize;
            let mut mine: Vec<u32> = Vec::with_capacity(k);
            while mine.len() < k {
                let v = (splitmix(&mut st) % u64::from(plan.vnis)) as u32;
                if !mine.contains(&v) {
                    mine.push(v);
                }
            }
            for &v in &mine {
                members[v as usize].push(t as u32);
            }
            memberships.push(mine);
        }
        let mut layout = Layout {
            plan: plan.clone(),
            memberships,
            members,
            offsets: Vec::new(),
        };
        let offsets = (0..plan.vnis)
            .map(|v| {
                let mut acc = 0u32;
                let mut o = Vec::with_capacity(layout.members[v as usize].len() + 1);
                for &t in &layout.members[v as usize] {
                    o.push(acc);
                    acc += layout.routes_in(t, v).unwrap_or(0);
                }
                o.push(acc);
                o
            })
            .collect();
        layout.offsets = offsets;
        Ok(layout)
    }

    /// Sessions.
    pub fn sessions(&self) -> usize {
        self.memberships.len()
    }

    /// Session `t`'s slot of VNI `v` (its position in `t`'s memberships).
    pub fn slot(&self, t: u32, v: u32) -> Option<usize> {
        self.memberships
            .get(t as usize)?
            .iter()
            .position(|&x| x == v)
    }

    /// MAC routes session `t` originates in its VNI at `slot`.
    pub fn macs_in_slot(&self, t: u32, slot: usize) -> u32 {
        let k = self.memberships[t as usize].len();
        let m = self.plan.macs_per_session;
        (m / k + usize::from(slot < m % k)) as u32
    }

    /// Routes (1 IMET + MACs) session `t` originates in VNI `v`, if it is a member.
    pub fn routes_in(&self, t: u32, v: u32) -> Option<u32> {
        self.slot(t, v).map(|s| 1 + self.macs_in_slot(t, s))
    }

    /// Routes VNI `v` holds in total.
    pub fn vni_routes(&self, v: u32) -> u32 {
        self.offsets[v as usize].last().copied().unwrap_or(0)
    }

    /// EVPN routes session `t` must receive: its VNIs' routes minus its own (a route
    /// reflector does not send a client's routes back to it).
    pub fn expected(&self, t: u32) -> u64 {
        self.memberships[t as usize]
            .iter()
            .map(|&v| u64::from(self.vni_routes(v) - self.routes_in(t, v).unwrap_or(0)))
            .sum()
    }

    /// The position of `id` among its VNI's routes, when it is a route of the plan.
    pub fn position(&self, id: RouteId) -> Option<u32> {
        let members = self.members.get(id.vni as usize)?;
        let p = members.binary_search(&id.origin).ok()?;
        let routes = self.routes_in(id.origin, id.vni)?;
        (id.index < routes).then(|| self.offsets[id.vni as usize][p] + id.index)
    }

    /// Session `t`'s source address.
    pub fn source(t: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(SOURCE_BASE) + 1 + t)
    }

    /// Session `t`'s VTEP address (and BGP identifier).
    pub fn vtep(t: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(VTEP_BASE) + 1 + t)
    }

    /// The route target of VNI index `v`: `ASN:VNI`.
    pub fn route_target(&self, v: u32) -> RouteTarget {
        RouteTarget::As2 {
            asn: self.plan.asn as u16,
            value: VNI_BASE + v,
        }
    }

    /// Session `t`'s routes in VNI `v`, in index order (IMET first).
    pub fn routes_of(&self, t: u32, v: u32) -> Vec<Nlri> {
        let Some(slot) = self.slot(t, v) else {
            return Vec::new();
        };
        let vtep = Self::vtep(t);
        let vni = VNI_BASE + v;
        let rd = RouteDistinguisher::ipv4(vtep, vni as u16);
        let label = Label::from_vni(vni).unwrap_or(Label::from_raw(0));
        let mut out = vec![Nlri::new(Route::Evpn(EvpnRoute::InclusiveMulticast(
            InclusiveMulticastRoute {
                rd,
                ethernet_tag: 0,
                originator: IpAddr::V4(vtep),
            },
        )))];
        let tb = t.to_be_bytes();
        for j in 0..self.macs_in_slot(t, slot) {
            let jb = (j as u16).to_be_bytes();
            out.push(Nlri::new(Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: MacAddress([0x02, tb[1], tb[2], tb[3], jb[0], jb[1]]),
                ip: None,
                label1: label,
                label2: None,
            }))));
        }
        out
    }

    /// Identifies an EVPN NLRI (route type, length, value; RFC 7432 §7) of this plan from its
    /// bytes: type 3 by its RD and originator, type 2 by its RD and MAC. `None` for anything
    /// the plan did not originate.
    pub fn identify(&self, nlri: &[u8]) -> Option<RouteId> {
        let b = |i: usize| nlri.get(i).copied();
        let ip_at = |i: usize| -> Option<u32> {
            Some(u32::from_be_bytes([b(i)?, b(i + 1)?, b(i + 2)?, b(i + 3)?]))
        };
        // RD type 1 (RFC 4364 §4.2): 0x0001, IPv4 address, 2-octet number.
        if (b(2)?, b(3)?) != (0, 1) {
            return None;
        }
        let origin = ip_at(4)?.checked_sub(u32::from(VTEP_BASE) + 1)?;
        let vni = u32::from(u16::from_be_bytes([b(8)?, b(9)?])).checked_sub(VNI_BASE)?;
        if origin as usize >= self.sessions() || vni >= self.plan.vnis {
            return None;
        }
        let index = match b(0)? {
            // RD, Ethernet tag (4), IP length (1) = 32, originator (4).
            3 if b(14)? == 32 && ip_at(15)? == u32::from(Self::vtep(origin)) => 0,
            // RD, ESI (10), Ethernet tag (4), MAC length (1) = 48, MAC (6).
            2 if b(24)? == 48 && b(25)? == 0x02 => {
                let t = u32::from_be_bytes([0, b(26)?, b(27)?, b(28)?]);
                if t != origin {
                    return None;
                }
                1 + u32::from(u16::from_be_bytes([b(29)?, b(30)?]))
            }
            _ => return None,
        };
        let id = RouteId { origin, vni, index };
        self.position(id).map(|_| id)
    }

    /// Session `t`'s pre-encoded load: its RT membership routes (RFC 4684 §4) and their
    /// End-of-RIB, then its EVPN routes and their End-of-RIB (RFC 4724 §2).
    pub fn encode_load(&self, t: u32, ctx: &CodecContext) -> Result<SessionLoad> {
        let vtep = Self::vtep(t);
        let enc_err = |e: evpnd_wire::EncodeError| LabError::new(format!("encoding: {e}"));
        let mut base = vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::default()),
            PathAttribute::LocalPref(100),
        ];
        let packer = UpdatePacker::new(ctx);
        let mine = &self.memberships[t as usize];
        let memberships: Vec<Nlri> = mine
            .iter()
            .map(|&v| {
                Nlri::new(Route::RtConstraint(RtMembership::exact(
                    self.plan.asn,
                    ExtendedCommunity::route_target(self.route_target(v)).0,
                )))
            })
            .collect();
        let mut rtc = Vec::new();
        packer
            .announce(
                Family::RT_CONSTRAINT,
                &NextHop::Ipv4(vtep),
                &base,
                Default::default(),
                &memberships,
                &mut rtc,
            )
            .map_err(enc_err)?;
        encode_message(
            ctx,
            &Message::Update(Update::end_of_rib(Family::RT_CONSTRAINT)),
            &mut rtc,
        )
        .map_err(enc_err)?;
        let mut evpn = Vec::new();
        let nh = NextHop::Ipv4(vtep);
        let mut routes = 0;
        base.push(PathAttribute::ExtendedCommunities(Vec::new()));
        for &v in mine {
            let all = self.routes_of(t, v);
            routes += all.len();
            let comms = vec![
                ExtendedCommunity::route_target(self.route_target(v)),
                ExtendedCommunity::vxlan_encapsulation(),
            ];
            let mut attrs = base.clone();
            if let Some(last) = attrs.last_mut() {
                *last = PathAttribute::ExtendedCommunities(comms);
            }
            let label = Label::from_vni(VNI_BASE + v).unwrap_or(Label::from_raw(0));
            let mut imet_attrs = attrs.clone();
            imet_attrs.push(PathAttribute::PmsiTunnel(PmsiTunnel::ingress_replication(
                IpAddr::V4(vtep),
                label,
            )));
            packer
                .announce(
                    Family::L2VPN_EVPN,
                    &nh,
                    &imet_attrs,
                    Default::default(),
                    &all[..1],
                    &mut evpn,
                )
                .map_err(enc_err)?;
            packer
                .announce(
                    Family::L2VPN_EVPN,
                    &nh,
                    &attrs,
                    Default::default(),
                    &all[1..],
                    &mut evpn,
                )
                .map_err(enc_err)?;
        }
        encode_message(
            ctx,
            &Message::Update(Update::end_of_rib(Family::L2VPN_EVPN)),
            &mut evpn,
        )
        .map_err(enc_err)?;
        Ok(SessionLoad { rtc, evpn, routes })
    }

    /// The capabilities every session announces: multiprotocol L2VPN EVPN and IPv4 RT
    /// membership (RFC 4760, RFC 4684 §4), route refresh (RFC 2918); 4-octet AS is added by
    /// the OPEN (RFC 6793).
    pub fn capabilities() -> Vec<Capability> {
        vec![
            Capability::Multiprotocol(Family::L2VPN_EVPN),
            Capability::Multiprotocol(Family::RT_CONSTRAINT),
            Capability::RouteRefresh,
        ]
    }
}

/// What one session sends after Established.
#[derive(Clone, Debug, Default)]
pub struct SessionLoad {
    /// RT membership UPDATEs and the RT-Constraint End-of-RIB (sent only when the DUT
    /// negotiated the family).
    pub rtc: Vec<u8>,
    /// EVPN UPDATEs and the EVPN End-of-RIB.
    pub evpn: Vec<u8>,
    /// EVPN routes in `evpn`.
    pub routes: usize,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use evpnd_wire::decode_all;

    fn small() -> ScalePlan {
        ScalePlan {
            sessions: 300,
            vnis: 20,
            min_vnis: 2,
            max_vnis: 5,
            macs_per_session: 7,
            seed: 1,
            asn: 65000,
        }
    }

    #[test]
    fn memberships_are_deterministic_distinct_and_in_range() {
        let a = Layout::new(&small()).unwrap();
        let b = Layout::new(&small()).unwrap();
        assert_eq!(a.memberships, b.memberships);
        for m in &a.memberships {
            assert!((2..=5).contains(&m.len()));
            let mut s = m.clone();
            s.sort();
            s.dedup();
            assert_eq!(s.len(), m.len());
        }
        let total: usize = a.members.iter().map(Vec::len).sum();
        assert_eq!(
            total,
            a.memberships.iter().map(Vec::len).sum::<usize>(),
            "every membership is listed once per VNI"
        );
        // MACs per session add up to the plan's.
        for t in 0..300u32 {
            let k = a.memberships[t as usize].len();
            let macs: u32 = (0..k).map(|s| a.macs_in_slot(t, s)).sum();
            assert_eq!(macs, 7);
        }
    }

    #[test]
    fn every_encoded_route_is_identified_and_expected_counts_add_up() {
        let l = Layout::new(&small()).unwrap();
        let ctx = CodecContext::default();
        let mut seen = std::collections::HashSet::new();
        for t in 0..300u32 {
            let load = l.encode_load(t, &ctx).unwrap();
            let (msgs, err) = decode_all(&ctx, &load.evpn);
            assert!(err.is_none());
            let mut n = 0;
            let mut at = 0;
            while at < load.evpn.len() {
                let len = usize::from(u16::from_be_bytes([load.evpn[at + 16], load.evpn[at + 17]]));
                crate::speaker::for_each_evpn_nlri(&load.evpn[at..at + len], |announced, nlri| {
                    assert!(announced);
                    let id = l.identify(nlri).unwrap();
                    assert_eq!(id.origin, t);
                    assert!(seen.insert((id.vni, l.position(id).unwrap())));
                    n += 1;
                })
                .unwrap();
                at += len;
            }
            assert_eq!(n, load.routes);
            assert_eq!(n as u32, 7 + l.memberships[t as usize].len() as u32);
            let last = msgs.last().unwrap();
            let Message::Update(u) = &last.message else {
                panic!()
            };
            assert_eq!(u.as_end_of_rib(), Some(Family::L2VPN_EVPN));
            let (rtc, err) = decode_all(&ctx, &load.rtc);
            assert!(err.is_none());
            assert_eq!(rtc.len(), 2);
        }
        // Positions cover every VNI's routes exactly.
        let total: u32 = (0..20).map(|v| l.vni_routes(v)).sum();
        assert_eq!(seen.len() as u32, total);
        let expected: u64 = (0..300).map(|t| l.expected(t)).sum();
        let by_vni: u64 = (0..20u32)
            .map(|v| {
                let n = l.members[v as usize].len() as u64;
                u64::from(l.vni_routes(v)) * n.saturating_sub(1)
            })
            .sum();
        assert_eq!(expected, by_vni);
        // Foreign routes are not identified.
        let foreign = crate::routes::generate(
            crate::routes::RouteKind::Mac,
            1,
            1,
            Ipv4Addr::new(198, 19, 1, 1),
        )
        .unwrap();
        let mut enc = Vec::new();
        foreign[0].encode(&mut enc);
        assert_eq!(l.identify(&enc), None);
    }
}
