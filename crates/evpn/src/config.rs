//! Configuration of the engine and of its EVIs, with the RD/RT auto-derivation rules (RFC 7432
//! §7.9–7.10, RFC 8365 §5.1.2.1).
//!
//! ## Derivation rules (where the RFCs leave a choice)
//! * **EVI number.** This slice runs VLAN-based service with one EVI per L2VNI, so the EVI is
//!   named by its VNI. The auto-derived RD has only a 2-octet number field (RFC 7432 §7.9), so
//!   the EVI number used there is the VNI *truncated to its low 16 bits* (`vni & 0xffff`).
//!   Two VNIs that differ only above bit 15 get the same auto RD on one router; give one of them
//!   an explicit RD in that case.
//! * **Route target.** ASN:VNI, the form FRR uses. With a 2-octet AS (`asn ≤ 65535`) this is a
//!   type-0x00 RT `asn:vni` carrying the whole 24-bit VNI. With a 4-octet AS the only AS-based
//!   form is type-0x02 with a 2-octet local administrator (RFC 5668 §2), so the VNI is
//!   *truncated to its low 16 bits* there.
//! * **RFC 8365 §5.1.2.1 route target** (option, [`RtDerivation::Rfc8365`]): global
//!   administrator = the AS (its low 16 bits for a 4-octet AS, as the RFC says), local
//!   administrator = A bit 0 (auto-derived), type 1 (VXLAN), the 4-bit domain id, the 24-bit VNI.
//! * **Wildcard import `*:VNI`** matches an AS-based route target of either form whose local
//!   administrator equals the VNI, whatever its AS: the full VNI for the 2-octet-AS form, the
//!   VNI's low 16 bits for the 4-octet-AS form (the same truncation as the export side, so that
//!   a wildcard imports what a 4-octet-AS peer auto-derives).

use crate::types::VrfName;
use evpnd_wire::{IpPrefix, MacAddress, RouteDistinguisher, RouteTarget, Vni};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Settings of the whole NVE that the engine needs (from the daemon's config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Local AS number: the global administrator of auto-derived route targets.
    pub asn: u32,
    /// BGP router id: the administrator of auto-derived RDs (RFC 7432 §7.9).
    pub router_id: Ipv4Addr,
    /// The local VXLAN tunnel endpoint: next hop of every originated route and the PMSI tunnel
    /// id of type-3 routes (RFC 8365 §5.1.3, §9). Routes whose VTEP is this address are ours
    /// and never installed as remote.
    pub vtep: IpAddr,
    /// Duplicate MAC/IP detection (RFC 7432 §15.1, RFC 9161 duplicate-IP detection).
    pub duplicate_detection: DuplicateDetection,
    /// How route targets are auto-derived for EVIs without explicit ones.
    pub rt_derivation: RtDerivation,
    /// How routing between the subnets of a tenant VRF works (RFC 9135 §4).
    pub irb: IrbMode,
    /// The MAC of the distributed anycast gateway: the same on every NVE of the fabric
    /// (RFC 9135 §4.1), the MAC of every L2VNI's IRB interface that has gateway addresses.
    pub anycast_gateway_mac: MacAddress,
}

/// The anycast gateway MAC used when none is configured: the IANA MAC of VRRP virtual router 1
/// (RFC 5798 §7.3), the value operators of FRR and Cumulus fabrics most often pick.
pub const DEFAULT_ANYCAST_GATEWAY_MAC: MacAddress =
    MacAddress([0x00, 0x00, 0x5e, 0x00, 0x01, 0x01]);

/// The IRB model of the NVE (RFC 9135 §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IrbMode {
    /// Symmetric IRB (RFC 9135 §5): routed traffic crosses the fabric on the VRF's L3VNI
    /// towards the egress NVE's router MAC; an NVE needs only the subnets of its own tenants.
    #[default]
    Symmetric,
    /// Asymmetric IRB (RFC 9135 §6): the ingress NVE routes into the destination
    /// subnet's L2VNI and bridges from there, so every NVE needs every subnet it routes to.
    Asymmetric,
}

/// The form of auto-derived route targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RtDerivation {
    /// `ASN:VNI`, the form FRR uses (module notes).
    #[default]
    AsnVni,
    /// RFC 8365 §5.1.2.1: `ASN:(type VXLAN, domain id, VNI)`.
    Rfc8365 {
        /// The 4-bit domain id (D-ID), 0 unless several administrative domains share an AS.
        domain_id: u8,
    },
}

impl EngineConfig {
    /// Settings with duplicate detection at its defaults.
    pub fn new(asn: u32, router_id: Ipv4Addr, vtep: IpAddr) -> Self {
        EngineConfig {
            asn,
            router_id,
            vtep,
            duplicate_detection: DuplicateDetection::default(),
            rt_derivation: RtDerivation::AsnVni,
            irb: IrbMode::Symmetric,
            anycast_gateway_mac: DEFAULT_ANYCAST_GATEWAY_MAC,
        }
    }
}

/// How long a MAC or IP found duplicate stays frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freeze {
    /// Frozen for this long, then moves are counted afresh.
    For(Duration),
    /// Frozen until an operator clears it.
    Permanent,
}

/// Duplicate detection: `max_moves` moves of one MAC (or IP) within `window` mark it duplicate
/// (RFC 7432 §15.1 suggests N = 5, M = 180 s). A move is counted by the engines the move
/// involves: a local learn of a MAC (or IP binding) held remotely, and a remote take-over of a
/// local one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DuplicateDetection {
    /// Off: moves are never counted.
    pub enabled: bool,
    /// N: moves inside the window that make a duplicate (at least 2).
    pub max_moves: u32,
    /// M: the window.
    pub window: Duration,
    /// What happens after detection.
    pub freeze: Freeze,
}

impl Default for DuplicateDetection {
    fn default() -> Self {
        DuplicateDetection {
            enabled: true,
            max_moves: 5,
            window: Duration::from_secs(180),
            freeze: Freeze::For(Duration::from_secs(180)),
        }
    }
}

/// One import rule of an EVI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImportTarget {
    /// Import routes carrying exactly this route target (RFC 4360 §4).
    Exact(RouteTarget),
    /// `*:VNI`: import routes carrying an AS-based route target of any AS whose local
    /// administrator is the VNI (see the module notes for the 4-octet-AS form).
    AnyAs(Vni),
}

impl ImportTarget {
    /// True when the route target `rt` satisfies this rule.
    pub fn matches(&self, rt: &RouteTarget) -> bool {
        match (self, rt) {
            (ImportTarget::Exact(want), _) => want == rt,
            (ImportTarget::AnyAs(vni), RouteTarget::As2 { value, .. }) => {
                // ASN:VNI, or the RFC 8365 §5.1.2.1 form with any domain id.
                *value == vni.get() || value & 0xf0ff_ffff == RFC8365_TYPE_VXLAN | vni.get()
            }
            (ImportTarget::AnyAs(vni), RouteTarget::As4 { value, .. }) => {
                u32::from(*value) == vni.get() & 0xffff
            }
            (ImportTarget::AnyAs(_), RouteTarget::Ipv4 { .. }) => false,
        }
    }
}

impl From<RouteTarget> for ImportTarget {
    fn from(rt: RouteTarget) -> Self {
        ImportTarget::Exact(rt)
    }
}

/// One EVI / MAC-VRF of VLAN-based service, named by its L2VNI (RFC 7432 §6.1, RFC 8365 §5.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EviConfig {
    /// The VXLAN network identifier (24 bits), carried as label 1 of type-2 routes and as the
    /// PMSI label of type-3 routes (RFC 8365 §5.1.3).
    pub vni: Vni,
    /// The route distinguisher; `None` derives router-id:EVI ([`auto_rd`]).
    pub rd: Option<RouteDistinguisher>,
    /// Import rules; empty derives one rule for the auto route target ([`auto_route_target`]).
    pub import: Vec<ImportTarget>,
    /// Route targets attached to every route of the EVI; empty derives the auto route target.
    pub export: Vec<RouteTarget>,
    /// The tenant VRF the VNI's IRB interface belongs to (RFC 9135 §3), if any.
    pub vrf: Option<VrfName>,
    /// The anycast gateway addresses of the subnet(s) on this VNI (RFC 9135 §4.1), each with
    /// its prefix length; only with a `vrf`.
    pub gateways: Vec<GatewayAddress>,
}

impl EviConfig {
    /// An EVI for `vni` with everything auto-derived, bridged only (no VRF).
    pub fn new(vni: Vni) -> Self {
        EviConfig {
            vni,
            rd: None,
            import: Vec::new(),
            export: Vec::new(),
            vrf: None,
            gateways: Vec::new(),
        }
    }
}

/// A gateway address of an IRB interface: the address the tenants of a subnet use as their
/// default gateway, and the subnet's prefix length (`192.0.2.254/24`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayAddress {
    /// The gateway's own address (a host address inside the subnet).
    pub address: std::net::IpAddr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
}

impl GatewayAddress {
    /// The subnet the gateway serves (`None` when the prefix length exceeds the address width).
    pub fn subnet(&self) -> Option<IpPrefix> {
        IpPrefix::new(self.address, self.prefix_len)
    }
}

/// A route configured in a tenant VRF: `prefix` through `via`, a tenant router on one of the
/// VRF's local subnets. It is installed locally and advertised as an IP prefix route
/// (RFC 9136 §4.4.1, interface-less model).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VrfStaticRoute {
    /// The destination.
    pub prefix: IpPrefix,
    /// The next hop on a local subnet of the VRF.
    pub via: std::net::IpAddr,
}

/// One tenant VRF (IP-VRF, RFC 9135 §3): its L3VNI, router MAC, RD/RTs and what it
/// advertises as IP prefix routes (RFC 9136).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrfConfig {
    /// The VRF's name (unique on the NVE).
    pub name: VrfName,
    /// The L3VNI (RFC 9135 §5.1): label 2 of MAC/IP routes and the label of IP prefix routes.
    /// Required for symmetric IRB, unused by asymmetric IRB.
    pub l3vni: Option<Vni>,
    /// The RD of the VRF's IP prefix routes; `None` derives router-id:L3VNI like an EVI's.
    pub rd: Option<RouteDistinguisher>,
    /// Import rules of the IP-VRF; empty derives one rule for `ASN:L3VNI`.
    pub import: Vec<ImportTarget>,
    /// Route targets attached to the VRF's routes; empty derives `ASN:L3VNI`.
    pub export: Vec<RouteTarget>,
    /// This NVE's router MAC in the VRF (RFC 9135 §8.1); `None` derives a locally administered
    /// MAC from the router id.
    pub router_mac: Option<MacAddress>,
    /// Advertise the subnets of the VRF's gateways as IP prefix routes (RFC 9136 §4.4.1).
    pub advertise_connected: bool,
    /// Further prefixes to advertise as IP prefix routes (reached through this NVE).
    pub advertise: Vec<IpPrefix>,
    /// Routes towards tenant routers on local subnets, installed and advertised.
    pub routes: Vec<VrfStaticRoute>,
}

impl VrfConfig {
    /// A VRF named `name` with `l3vni`, everything else derived, connected subnets advertised.
    pub fn new(name: VrfName, l3vni: Option<Vni>) -> Self {
        VrfConfig {
            name,
            l3vni,
            rd: None,
            import: Vec::new(),
            export: Vec::new(),
            router_mac: None,
            advertise_connected: true,
            advertise: Vec::new(),
            routes: Vec::new(),
        }
    }
}

/// The auto-derived RD of an EVI: type 1, `router-id:EVI` (RFC 7432 §7.9), with the EVI number
/// being the VNI's low 16 bits (module notes).
pub fn auto_rd(router_id: Ipv4Addr, vni: Vni) -> RouteDistinguisher {
    RouteDistinguisher::ipv4(router_id, (vni.get() & 0xffff) as u16)
}

/// The auto-derived route target `ASN:VNI`: the 2-octet-AS form when `asn ≤ 65535`, else the
/// 4-octet-AS form with the VNI's low 16 bits (module notes; RFC 4360 §4, RFC 5668 §2).
pub fn auto_route_target(asn: u32, vni: Vni) -> RouteTarget {
    match u16::try_from(asn) {
        Ok(asn) => RouteTarget::As2 {
            asn,
            value: vni.get(),
        },
        Err(_) => RouteTarget::As4 {
            asn,
            value: (vni.get() & 0xffff) as u16,
        },
    }
}

/// Local-administrator bits of an RFC 8365 §5.1.2.1 route target: A = 0, type = 1 (VXLAN).
const RFC8365_TYPE_VXLAN: u32 = 1 << 28;

/// The RFC 8365 §5.1.2.1 auto-derived route target: global administrator = the AS (its low 16
/// bits for a 4-octet AS), local administrator = A bit 0, type 1 (VXLAN), `domain_id` (4 bits),
/// the 24-bit VNI.
pub fn rfc8365_route_target(asn: u32, domain_id: u8, vni: Vni) -> RouteTarget {
    RouteTarget::As2 {
        asn: (asn & 0xffff) as u16,
        value: RFC8365_TYPE_VXLAN | (u32::from(domain_id & 0x0f) << 24) | vni.get(),
    }
}

/// An EVI with its RD and route targets resolved (explicit values or derived ones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedEvi {
    /// The VNI.
    pub vni: Vni,
    /// The RD used on every route of the EVI.
    pub rd: RouteDistinguisher,
    /// The import rules.
    pub import: Vec<ImportTarget>,
    /// The export route targets.
    pub export: Vec<RouteTarget>,
    /// The tenant VRF of the VNI's IRB interface, if any.
    pub vrf: Option<VrfName>,
    /// The anycast gateway addresses on the VNI.
    pub gateways: Vec<GatewayAddress>,
}

impl ResolvedEvi {
    /// Resolves `evi` against the engine settings.
    pub fn resolve(engine: &EngineConfig, evi: &EviConfig) -> Self {
        let auto = match engine.rt_derivation {
            RtDerivation::AsnVni => auto_route_target(engine.asn, evi.vni),
            RtDerivation::Rfc8365 { domain_id } => {
                rfc8365_route_target(engine.asn, domain_id, evi.vni)
            }
        };
        ResolvedEvi {
            vni: evi.vni,
            rd: evi.rd.unwrap_or_else(|| auto_rd(engine.router_id, evi.vni)),
            import: if evi.import.is_empty() {
                vec![ImportTarget::Exact(auto)]
            } else {
                evi.import.clone()
            },
            export: if evi.export.is_empty() {
                vec![auto]
            } else {
                evi.export.clone()
            },
            vrf: evi.vrf,
            gateways: evi.gateways.clone(),
        }
    }

    /// True when one of `rts` satisfies one of the import rules.
    pub fn imports<'a>(&self, mut rts: impl Iterator<Item = &'a RouteTarget>) -> bool {
        rts.any(|rt| self.import.iter().any(|i| i.matches(rt)))
    }
}

/// A tenant VRF with its RD, route targets and router MAC resolved (explicit values or derived
/// ones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedVrf {
    /// The VRF's name.
    pub name: VrfName,
    /// The L3VNI, if any.
    pub l3vni: Option<Vni>,
    /// The RD of its IP prefix routes.
    pub rd: RouteDistinguisher,
    /// Its import rules.
    pub import: Vec<ImportTarget>,
    /// Its export route targets.
    pub export: Vec<RouteTarget>,
    /// This NVE's router MAC in the VRF (RFC 9135 §8.1).
    pub router_mac: MacAddress,
    /// Connected subnets are advertised as IP prefix routes.
    pub advertise_connected: bool,
    /// Further advertised prefixes.
    pub advertise: Vec<IpPrefix>,
    /// Configured routes towards local tenant routers.
    pub routes: Vec<VrfStaticRoute>,
}

/// The router MAC derived from the router id when none is configured: locally administered
/// (`02:00` followed by the four octets of the router id), so unique per NVE of a fabric.
pub fn auto_router_mac(router_id: Ipv4Addr) -> MacAddress {
    let o = router_id.octets();
    MacAddress([0x02, 0x00, o[0], o[1], o[2], o[3]])
}

impl ResolvedVrf {
    /// Resolves `vrf` against the engine settings: RD router-id:L3VNI (the L3VNI's low 16
    /// bits, the EVI rule), route target `ASN:L3VNI` (the EVI rule of
    /// [`EngineConfig::rt_derivation`]), router MAC [`auto_router_mac`]. A VRF without L3VNI
    /// (asymmetric IRB) and without explicit values gets RD router-id:0 and no route targets.
    pub fn resolve(engine: &EngineConfig, vrf: &VrfConfig) -> Self {
        let auto = vrf.l3vni.map(|l3vni| match engine.rt_derivation {
            RtDerivation::AsnVni => auto_route_target(engine.asn, l3vni),
            RtDerivation::Rfc8365 { domain_id } => {
                rfc8365_route_target(engine.asn, domain_id, l3vni)
            }
        });
        ResolvedVrf {
            name: vrf.name,
            l3vni: vrf.l3vni,
            rd: vrf.rd.unwrap_or_else(|| match vrf.l3vni {
                Some(l3vni) => auto_rd(engine.router_id, l3vni),
                None => RouteDistinguisher::ipv4(engine.router_id, 0),
            }),
            import: if vrf.import.is_empty() {
                auto.map(ImportTarget::Exact).into_iter().collect()
            } else {
                vrf.import.clone()
            },
            export: if vrf.export.is_empty() {
                auto.into_iter().collect()
            } else {
                vrf.export.clone()
            },
            router_mac: vrf
                .router_mac
                .unwrap_or_else(|| auto_router_mac(engine.router_id)),
            advertise_connected: vrf.advertise_connected,
            advertise: vrf.advertise.clone(),
            routes: vrf.routes.clone(),
        }
    }

    /// True when one of `rts` satisfies one of the import rules.
    pub fn imports<'a>(&self, mut rts: impl Iterator<Item = &'a RouteTarget>) -> bool {
        rts.any(|rt| self.import.iter().any(|i| i.matches(rt)))
    }
}
