//! Why the engine holds what it holds (`evpnctl explain`): the import verdict of a best path
//! and, per MAC or IP, every claim with the rule that chose the winner. The verdicts and
//! decisions come from the same functions the engine decides with
//! ([`Engine::import_verdict`] shares the import rules of `import`; the decisions are
//! returned by `mobility`'s and `proxy_arp_nd`'s own deciding functions), so an explanation
//! cannot drift from the behaviour it explains.

use super::import::ImportKey;
use super::mobility::Claim;
use super::proxy_arp_nd::choose_binding;
use super::Engine;
use crate::types::{DuplicateState, Location, VrfName};
use evpnd_wire::{MacAddress, RouteDistinguisher, RouteTarget, Vni};
use std::fmt;
use std::net::IpAddr;

/// Whether a best path is imported by the engine, and if not, which rule refused it
/// (RFC 7432 §9.2, §11.2; RFC 8365 §5.1.3, §9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportVerdict {
    /// Imported into the EVI of this VNI.
    Imported {
        /// The VNI.
        vni: Vni,
    },
    /// Not a type-2 or type-3 route: the engine imports nothing else.
    NotImportable,
    /// The label (type 2) or PMSI label (type 3) is not a valid VNI.
    BadLabel {
        /// The label's 24-bit value.
        label: u32,
    },
    /// No EVI here for the route's VNI.
    NoEvi {
        /// The VNI.
        vni: Vni,
    },
    /// None of the route's route targets is imported by the EVI of its VNI.
    RouteTargetNotImported {
        /// The VNI.
        vni: Vni,
        /// The route targets the route carries.
        route_targets: Vec<RouteTarget>,
    },
    /// The route's VTEP is ours (our own route reflected back).
    OwnVtep {
        /// The VTEP.
        vtep: IpAddr,
    },
    /// A type-2 route of a group MAC.
    MulticastMac,
    /// The path has no usable next hop.
    NoNextHop,
    /// A type-3 route without an ingress-replication PMSI tunnel.
    NoIngressReplication,
    /// Imported into a tenant VRF (RFC 9135 §5.2 host route, RFC 9136 IP prefix route), and
    /// into the EVI of `vni` too when given.
    ImportedIntoVrf {
        /// The VRF.
        vrf: VrfName,
        /// The EVI that imported the route's layer-2 part, if any.
        vni: Option<Vni>,
    },
    /// A MAC/IP route with label 2 imported into its EVI only: `routed` says why no VRF
    /// imported its host route.
    BridgedOnly {
        /// The VNI.
        vni: Vni,
        /// The layer-3 refusal.
        routed: Box<ImportVerdict>,
    },
    /// No VRF here has this L3VNI (label 2 of a MAC/IP route, the label of an IP prefix route).
    NoVrf {
        /// The route's L3VNI.
        l3vni: Vni,
    },
    /// A VRF imports the route's route targets, but the route's L3VNI is not that VRF's
    /// (RFC 9135 §5.1: the L3VNI names the IP-VRF; traffic would arrive on a VNI the VRF does
    /// not terminate).
    L3vniMismatch {
        /// The VRF whose route targets match.
        vrf: VrfName,
        /// Its L3VNI (`None`: it has none).
        expected: Option<Vni>,
        /// The route's L3VNI.
        label: Vni,
    },
    /// None of the route's route targets is imported by the VRF of its L3VNI.
    VrfRouteTargetNotImported {
        /// The VRF.
        vrf: VrfName,
        /// The route targets the route carries.
        route_targets: Vec<RouteTarget>,
    },
    /// A symmetric-IRB route without the Router's MAC extended community (RFC 9135 §8.1):
    /// the inner destination MAC towards its VTEP is unknown.
    NoRouterMac,
    /// Asymmetric IRB (RFC 9135 §6): routes are not imported into VRFs (routing goes through
    /// the destination subnet's IRB interface).
    AsymmetricIrb,
    /// An IP prefix route with an ESI overlay index (RFC 9136 §3.2): resolving it needs the
    /// type-1 routes of multihoming, not implemented yet.
    NeedsMultihoming,
    /// An IP prefix route whose GW IP is of the other family or not a host address.
    BadGatewayIp {
        /// The GW IP.
        gateway: IpAddr,
    },
    /// A MAC/IP route for an address that is one of this NVE's own gateway addresses in the
    /// VRF (another NVE's gateway, e.g. advertised with the Default Gateway extended community,
    /// RFC 7432 §7.8): the local gateway answers for it, so no host route goes in.
    OwnGateway {
        /// The address.
        ip: IpAddr,
    },
}

impl ImportVerdict {
    /// True when the engine imports the route into an EVI or a VRF (or both).
    pub fn is_imported(&self) -> bool {
        matches!(
            self,
            ImportVerdict::Imported { .. }
                | ImportVerdict::ImportedIntoVrf { .. }
                | ImportVerdict::BridgedOnly { .. }
        )
    }

    /// A stable short name (JSON).
    pub fn code(&self) -> &'static str {
        match self {
            ImportVerdict::Imported { .. } => "imported",
            ImportVerdict::NotImportable => "not-importable",
            ImportVerdict::BadLabel { .. } => "bad-label",
            ImportVerdict::NoEvi { .. } => "no-evi",
            ImportVerdict::RouteTargetNotImported { .. } => "route-target-not-imported",
            ImportVerdict::OwnVtep { .. } => "own-vtep",
            ImportVerdict::MulticastMac => "multicast-mac",
            ImportVerdict::NoNextHop => "no-next-hop",
            ImportVerdict::NoIngressReplication => "no-ingress-replication",
            ImportVerdict::ImportedIntoVrf { .. } => "imported-into-vrf",
            ImportVerdict::BridgedOnly { .. } => "bridged-only",
            ImportVerdict::NoVrf { .. } => "no-vrf",
            ImportVerdict::L3vniMismatch { .. } => "l3vni-mismatch",
            ImportVerdict::VrfRouteTargetNotImported { .. } => "vrf-route-target-not-imported",
            ImportVerdict::NoRouterMac => "no-router-mac",
            ImportVerdict::AsymmetricIrb => "asymmetric-irb",
            ImportVerdict::NeedsMultihoming => "needs-multihoming",
            ImportVerdict::BadGatewayIp { .. } => "bad-gateway-ip",
            ImportVerdict::OwnGateway { .. } => "own-gateway",
        }
    }
}

impl fmt::Display for ImportVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportVerdict::Imported { vni } => write!(f, "imported into VNI {vni}"),
            ImportVerdict::NotImportable => f.write_str("not a type-2 or type-3 route"),
            ImportVerdict::BadLabel { label } => write!(f, "label {label} is not a VNI"),
            ImportVerdict::NoEvi { vni } => write!(f, "no EVI for VNI {vni} here"),
            ImportVerdict::RouteTargetNotImported { vni, route_targets } => {
                let rts: Vec<String> = route_targets.iter().map(|r| r.to_string()).collect();
                write!(
                    f,
                    "RT not imported: none of [{}] is imported by VNI {vni}",
                    rts.join(", ")
                )
            }
            ImportVerdict::OwnVtep { vtep } => write!(f, "the VTEP {vtep} is ours"),
            ImportVerdict::MulticastMac => f.write_str("a group MAC is never imported"),
            ImportVerdict::NoNextHop => f.write_str("no usable next hop"),
            ImportVerdict::NoIngressReplication => {
                f.write_str("no ingress-replication PMSI tunnel")
            }
            ImportVerdict::ImportedIntoVrf { vrf, vni } => match vni {
                Some(vni) => write!(f, "imported into VRF {vrf} and VNI {vni}"),
                None => write!(f, "imported into VRF {vrf}"),
            },
            ImportVerdict::BridgedOnly { vni, routed } => {
                write!(f, "imported into VNI {vni} only (not routed: {routed})")
            }
            ImportVerdict::NoVrf { l3vni } => write!(f, "no VRF with L3VNI {l3vni} here"),
            ImportVerdict::L3vniMismatch {
                vrf,
                expected,
                label,
            } => match expected {
                Some(e) => write!(f, "L3VNI {label} is not VRF {vrf}'s L3VNI {e}"),
                None => write!(f, "L3VNI {label}, but VRF {vrf} has no L3VNI"),
            },
            ImportVerdict::VrfRouteTargetNotImported { vrf, route_targets } => {
                let rts: Vec<String> = route_targets.iter().map(|r| r.to_string()).collect();
                write!(
                    f,
                    "RT not imported: none of [{}] is imported by VRF {vrf}",
                    rts.join(", ")
                )
            }
            ImportVerdict::NoRouterMac => f.write_str("no Router's MAC extended community"),
            ImportVerdict::AsymmetricIrb => {
                f.write_str("asymmetric IRB: routes are not imported into VRFs")
            }
            ImportVerdict::NeedsMultihoming => {
                f.write_str("ESI overlay index: needs multihoming (type-1 routes)")
            }
            ImportVerdict::BadGatewayIp { gateway } => {
                write!(
                    f,
                    "GW IP {gateway} is not a host address of the prefix's family"
                )
            }
            ImportVerdict::OwnGateway { ip } => write!(
                f,
                "{ip} is this NVE's own gateway address in the VRF: answered locally, no host route"
            ),
        }
    }
}

/// The rule that chose the winner among the claims on a MAC or an IP (RFC 7432 §15, §15.2;
/// RFC 9047 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody claims it.
    NoClaim,
    /// One location alone claims it.
    OnlyClaim,
    /// The local claim is sticky (static): it never moves (RFC 7432 §15.2).
    LocalSticky,
    /// A remote sticky claim beats non-sticky ones (RFC 7432 §15.2).
    RemoteSticky,
    /// An immutable IP↔MAC binding beats the others (RFC 9047 §3.1).
    Immutable,
    /// A local IP binding wins over remote ones that are not immutable.
    LocalBinding,
    /// The higher MAC mobility sequence number wins (RFC 7432 §15).
    HigherSequence {
        /// The winner's sequence number.
        winner: u32,
        /// The best losing location's.
        loser: u32,
    },
    /// Equal sequence numbers: the lower VTEP address wins (RFC 7432 §15).
    LowerVtep {
        /// The winning VTEP (ours when the local claim wins).
        winner: IpAddr,
        /// The losing VTEP.
        loser: IpAddr,
    },
    /// Frozen as a duplicate: it stays where it was (RFC 7432 §15.1, RFC 9161).
    Frozen,
}

impl Decision {
    /// A stable short name (JSON).
    pub fn code(&self) -> &'static str {
        match self {
            Decision::NoClaim => "no-claim",
            Decision::OnlyClaim => "only-claim",
            Decision::LocalSticky => "local-sticky",
            Decision::RemoteSticky => "remote-sticky",
            Decision::Immutable => "immutable",
            Decision::LocalBinding => "local-binding",
            Decision::HigherSequence { .. } => "higher-sequence",
            Decision::LowerVtep { .. } => "lower-vtep",
            Decision::Frozen => "frozen",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::NoClaim => f.write_str("nobody claims it"),
            Decision::OnlyClaim => f.write_str("the only claim"),
            Decision::LocalSticky => {
                f.write_str("the local claim is sticky (static) and never moves")
            }
            Decision::RemoteSticky => f.write_str("a sticky claim beats non-sticky ones"),
            Decision::Immutable => f.write_str("an immutable binding beats the others"),
            Decision::LocalBinding => {
                f.write_str("a local binding wins over remote ones that are not immutable")
            }
            Decision::HigherSequence { winner, loser } => {
                write!(f, "higher sequence number ({winner} > {loser})")
            }
            Decision::LowerVtep { winner, loser } => write!(
                f,
                "equal sequence numbers: the lower VTEP address wins ({winner} < {loser})"
            ),
            Decision::Frozen => f.write_str("frozen as a duplicate: it stays where it was"),
        }
    }
}

/// One claim on a MAC or an IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimView {
    /// Local, or the remote VTEP.
    pub location: Location,
    /// The route's RD (`None` for the local claim).
    pub rd: Option<RouteDistinguisher>,
    /// The IP of the route (MAC+IP routes), or of the binding.
    pub ip: Option<IpAddr>,
    /// The MAC (the one an IP claim binds the IP to).
    pub mac: MacAddress,
    /// MAC mobility sequence number (RFC 7432 §7.7).
    pub sequence: u32,
    /// Sticky (static) MAC.
    pub sticky: bool,
    /// ND router flag (RFC 9047).
    pub router: bool,
    /// Immutable binding (RFC 9047).
    pub immutable: bool,
}

impl ClaimView {
    fn remote(c: &Claim) -> ClaimView {
        let (rd, ip) = match c.key {
            ImportKey::MacIp { rd, ip, .. } => (Some(rd), ip),
            ImportKey::Imet { rd, .. } | ImportKey::IpPrefix { rd, .. } => (Some(rd), None),
        };
        ClaimView {
            location: Location::Remote { vtep: c.vtep },
            rd,
            ip,
            mac: c.mac,
            sequence: c.sequence,
            sticky: c.sticky,
            router: c.router,
            immutable: c.immutable,
        }
    }
}

/// What the engine holds for one MAC of one VNI, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacExplanation {
    /// The local claim (attached here), with the sequence number it advertises or would.
    pub local: Option<ClaimView>,
    /// The local claim lost to a remote one and waits (its routes withdrawn).
    pub local_dormant: bool,
    /// The remote claims (imported routes), best first.
    pub remotes: Vec<ClaimView>,
    /// The winner by the rules now.
    pub winner: Option<Location>,
    /// The rule that chose it.
    pub decision: Decision,
    /// What the MAC table holds: location, sequence number, sticky.
    pub installed: Option<(Location, u32, bool)>,
    /// Duplicate-detection state.
    pub duplicate: DuplicateState,
    /// A sticky MAC is claimed elsewhere (RFC 7432 §15.2).
    pub sticky_conflict: bool,
}

/// An installed IP↔MAC binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingView {
    /// The MAC the IP resolves to.
    pub mac: MacAddress,
    /// Where the binding comes from.
    pub location: Location,
    /// ND router flag (RFC 9047).
    pub router: bool,
}

/// What the engine holds for one IP of one VNI, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpExplanation {
    /// The local binding (attached here, its MAC active).
    pub local: Option<ClaimView>,
    /// The remote claims (imported MAC+IP routes), best first.
    pub remotes: Vec<ClaimView>,
    /// The winner by the rules now: the MAC and where.
    pub winner: Option<(MacAddress, Location)>,
    /// The rule that chose it.
    pub decision: Decision,
    /// What the ARP/ND table holds.
    pub installed: Option<BindingView>,
    /// Duplicate-detection state.
    pub duplicate: DuplicateState,
}

impl Engine {
    /// Every claim on `mac` in `vni` and the decision between them (`None`: the engine holds
    /// nothing for it).
    pub fn explain_mac(&self, vni: Vni, mac: MacAddress) -> Option<MacExplanation> {
        let r = self.macs.get(&(vni, mac))?;
        let (winner, conflict, mut decision) = self.decide_why(r, mac);
        let frozen = r.detection.frozen();
        if frozen {
            decision = Decision::Frozen;
        }
        let claims = r.remotes.view(mac);
        let mut remotes: Vec<&Claim> = claims.iter().collect();
        remotes.sort_by_key(|c| c.mac_rank());
        Some(MacExplanation {
            local: r.local.as_ref().map(|l| ClaimView {
                location: Location::Local,
                rd: None,
                ip: None,
                mac,
                sequence: r.local_seq,
                sticky: l.sticky,
                router: false,
                immutable: false,
            }),
            local_dormant: r.local.is_some() && !r.local_active(),
            remotes: remotes.into_iter().map(ClaimView::remote).collect(),
            winner: if frozen {
                r.installed.map(|w| w.at)
            } else {
                winner.map(|w| w.at)
            },
            decision,
            installed: r.installed.map(|w| (w.at, w.sequence, w.sticky)),
            duplicate: r.detection.state(),
            sticky_conflict: conflict || r.conflict,
        })
    }

    /// Every claim on `ip` in `vni` and the decision between them (`None`: the engine holds
    /// nothing for it).
    pub fn explain_ip(&self, vni: Vni, ip: IpAddr) -> Option<IpExplanation> {
        let local = self.local_binding(vni, ip);
        let rec = self.ips.get(&(vni, ip));
        if rec.is_none() && local.is_none() {
            return None;
        }
        let empty = super::proxy_arp_nd::IpRecord::new();
        let rec = rec.unwrap_or(&empty);
        let (winner, mut decision) = choose_binding(local, rec);
        let frozen = rec.detection.frozen();
        if frozen {
            decision = Decision::Frozen;
        }
        let mut remotes: Vec<&Claim> = rec.remotes.iter().collect();
        remotes.sort_by_key(|c| c.ip_rank());
        Some(IpExplanation {
            local: local.map(|b| ClaimView {
                location: Location::Local,
                rd: None,
                ip: Some(ip),
                mac: b.mac,
                sequence: 0,
                sticky: false,
                router: b.router,
                immutable: b.immutable,
            }),
            remotes: remotes
                .into_iter()
                .map(|c| ClaimView {
                    ip: Some(ip),
                    ..ClaimView::remote(c)
                })
                .collect(),
            winner: if frozen {
                rec.installed.map(|b| (b.mac, b.at))
            } else {
                winner.map(|b| (b.mac, b.at))
            },
            decision,
            installed: rec.installed.map(|b| BindingView {
                mac: b.mac,
                location: b.at,
                router: b.router,
            }),
            duplicate: rec.detection.state(),
        })
    }
}
