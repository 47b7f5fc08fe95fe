//! Integrated routing and bridging (RFC 9135): what the MAC/IP routes of a VNI in a tenant VRF
//! carry, and the distributed anycast gateway.
//!
//! * **Anycast gateway** (RFC 9135 §4.1, option 1): every gateway address of an L2VNI in a
//!   VRF is configured on its IRB interface with the fabric-wide anycast gateway MAC
//!   ([`crate::EngineConfig::anycast_gateway_mac`]) on every NVE, so no Default Gateway
//!   extended community is needed and a moving tenant keeps a valid gateway entry. The subnet
//!   becomes a connected route of the VRF.
//! * **Symmetric IRB** (RFC 9135 §5.1): a local MAC+IP route of an L2VNI whose VRF has an
//!   L3VNI carries label 1 = L2VNI, label 2 = L3VNI, the EVI's and the VRF's export route
//!   targets and the Router's MAC extended community (§8.1). MAC-only routes are unchanged.
//!   Import: `l3_import` (§5.2).
//! * **Asymmetric IRB** (RFC 9135 §6): MAC/IP routes are unchanged (no label 2, no router
//!   MAC; §6.1), and the receiving NVE needs nothing beyond what bridging already gives it
//!   (§6.2): the remote MAC in the L2VNI's FDB and the IP↔MAC binding as a
//!   [`crate::DataplaneIntent::Neighbor`] on the L2VNI, which the kernel uses as the ARP/ND
//!   entry of the IRB interface when it routes into that subnet. Every subnet routed to must
//!   therefore be configured locally; no host or prefix route is installed.
//! * **Another NVE's gateway** (RFC 7432 §7.8, §10.1): a remote MAC/IP route for an address
//!   that is one of this NVE's own gateway addresses on the VNI (an NVE whose gateway MAC
//!   differs advertises it, usually with the Default Gateway extended community) never
//!   becomes an ARP/ND binding or a host route here: the local gateway answers for that
//!   address, and a proxy ARP/ND entry pointing elsewhere would draw the tenants' routed
//!   traffic away from it. The route's MAC is still bridged. Not implemented: routing frames
//!   addressed to the other gateway's MAC locally (RFC 7432 §10.1; needs a second MAC on the
//!   IRB interface), and advertising our own gateways with that community.

use super::Engine;
use crate::config::IrbMode;
use evpnd_wire::{ExtCommunityKind, ExtendedCommunity, Vni};

impl Engine {
    /// True when `ip` is one of this NVE's own gateway addresses on `vni` (module notes).
    pub(super) fn is_own_gateway(&self, vni: Vni, ip: std::net::IpAddr) -> bool {
        self.evis
            .get(&vni)
            .is_some_and(|e| e.gateways.iter().any(|g| g.address == ip))
    }

    /// Label 2 and the extra extended communities of a MAC+IP route of `vni` under symmetric
    /// IRB (RFC 9135 §5.1, §8.1): the L3VNI, the VRF's export route targets and the Router's
    /// MAC. `None`: asymmetric IRB, no VRF, or a VRF without L3VNI.
    pub(super) fn symmetric_attributes(&self, vni: Vni) -> Option<(Vni, Vec<ExtendedCommunity>)> {
        if self.config.irb != IrbMode::Symmetric {
            return None;
        }
        let vrf = self.vrfs.get(&self.evis.get(&vni)?.vrf?)?;
        let l3vni = vrf.l3vni?;
        let mut extra: Vec<ExtendedCommunity> = vrf
            .export
            .iter()
            .map(|rt| ExtendedCommunity::route_target(*rt))
            .collect();
        extra.push(ExtendedCommunity::new(ExtCommunityKind::RouterMac(
            vrf.router_mac,
        )));
        Some((l3vni, extra))
    }
}
