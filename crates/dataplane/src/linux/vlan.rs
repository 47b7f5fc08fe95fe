//! VLANs of the single-VXLAN-device model's VLAN-aware bridge (`CONFIG_BRIDGE_VLAN_FILTERING`,
//! `net/bridge/br_netlink.c`): the VLAN of each VNI on the VXLAN port, the bridge itself and
//! the tenant (access) ports, the VNI's SVI, and the VLAN↔VNI tunnel mapping read back.

use super::netdev::link_message;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::link::{
    AfSpecBridge, BridgeFlag, BridgeVlanInfo, BridgeVlanInfoFlags, BridgeVlanTunnelInfo, InfoData,
    InfoKind, InfoVlan, LinkAttribute, LinkExtentMask, LinkInfo, LinkMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::collections::BTreeMap;

/// The lowest and highest usable VLAN ids (IEEE 802.1Q: 0 and 4095 are reserved).
pub(crate) const VLAN_IDS: std::ops::RangeInclusive<u16> = 1..=4094;

/// `IFNAMSIZ` less the terminating NUL.
const MAX_NAME: usize = 15;

/// An `AF_BRIDGE` link request on `index` carrying `spec` in `IFLA_AF_SPEC`.
fn bridge_request(index: u32, spec: Vec<AfSpecBridge>, add: bool) -> RouteNetlinkMessage {
    let mut m = link_message(index, vec![LinkAttribute::AfSpecBridge(spec)]);
    m.header.interface_family = AddressFamily::Bridge;
    if add {
        RouteNetlinkMessage::SetLink(m)
    } else {
        RouteNetlinkMessage::DelLink(m)
    }
}

fn vlan_info(vid: u16, flags: BridgeVlanInfoFlags) -> AfSpecBridge {
    AfSpecBridge::VlanInfo(BridgeVlanInfo { flags, vid })
}

/// `bridge vlan add dev INDEX vid VID [pvid] [untagged]`: a bridge port joins VLAN `vid`.
pub(crate) fn add_vlan(index: u32, vid: u16, flags: BridgeVlanInfoFlags) -> RouteNetlinkMessage {
    bridge_request(index, vec![vlan_info(vid, flags)], true)
}

/// `bridge vlan add dev PORT vid VID pvid untagged`: a tenant port is an access port of the
/// VNI's VLAN (its untagged frames belong to the VNI).
pub(crate) fn add_access_vlan(index: u32, vid: u16) -> RouteNetlinkMessage {
    add_vlan(
        index,
        vid,
        BridgeVlanInfoFlags::Pvid | BridgeVlanInfoFlags::Untagged,
    )
}

/// `bridge vlan del dev INDEX vid VID`: the port leaves the VLAN (the kernel drops its
/// tunnel mapping and the port's FDB entries of that VLAN with it, `nbp_vlan_delete`).
pub(crate) fn del_vlan(index: u32, vid: u16) -> RouteNetlinkMessage {
    bridge_request(
        index,
        vec![vlan_info(vid, BridgeVlanInfoFlags::empty())],
        false,
    )
}

/// `bridge vlan add|del dev BRIDGE vid VID self`: the bridge device itself joins (leaves)
/// the VLAN (its SVI sends and receives in it).
pub(crate) fn bridge_self_vlan(bridge: u32, vid: u16, add: bool) -> RouteNetlinkMessage {
    bridge_request(
        bridge,
        vec![
            AfSpecBridge::Flags(BridgeFlag::LowerDev),
            vlan_info(vid, BridgeVlanInfoFlags::empty()),
        ],
        add,
    )
}

/// The SVI of VLAN `vid` on `bridge`: `<bridge>.<vid>`, if the name fits `IFNAMSIZ`.
pub(crate) fn svi_name(bridge: &str, vid: u16) -> Result<String, String> {
    let name = format!("{bridge}.{vid}");
    if name.len() > MAX_NAME {
        return Err(format!(
            "the SVI name {name} is longer than {MAX_NAME} bytes; use a shorter bridge name"
        ));
    }
    Ok(name)
}

/// `ip link add link BRIDGE name NAME type vlan id VID`: the VNI's SVI, whose neighbour table
/// answers ARP/ND for the VNI (`br_do_proxy_suppress_arp` looks up the VLAN device of the
/// frame's VLAN first, so that VNIs with overlapping tenant addresses stay apart).
pub(crate) fn create_svi(name: &str, bridge: u32, vid: u16) -> (RouteNetlinkMessage, u16) {
    let m = link_message(
        0,
        vec![
            LinkAttribute::Link(bridge),
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Vlan),
                LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(vid)])),
            ]),
        ],
    );
    (RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
}

/// `bridge -d vlan tunnelshow`: an `AF_BRIDGE` link dump with the ports' VLANs
/// (`RTEXT_FILTER_BRVLAN`); a `vlan_tunnel` port reports its mappings.
pub(crate) fn tunnel_dump_request() -> (RouteNetlinkMessage, u16) {
    let mut m = LinkMessage::default();
    m.header.interface_family = AddressFamily::Bridge;
    m.attributes = vec![LinkAttribute::ExtMask(vec![LinkExtentMask::Brvlan])];
    (RouteNetlinkMessage::GetLink(m), NLM_F_DUMP)
}

/// The VLAN → VNI mappings a link message of the dump reports (ranges expanded: the kernel
/// sends consecutive VLANs mapped to consecutive VNIs as a `RANGE_BEGIN`/`RANGE_END` pair).
pub(crate) fn tunnels(message: &LinkMessage) -> BTreeMap<u16, u32> {
    let mut out = BTreeMap::new();
    let mut begin: Option<(u16, u32)> = None;
    for attribute in &message.attributes {
        let LinkAttribute::AfSpecBridge(spec) = attribute else {
            continue;
        };
        for item in spec {
            let AfSpecBridge::VlanTunnelInfo(info) = item else {
                continue;
            };
            let (mut vid, mut vni, mut flags) = (None, None, BridgeVlanInfoFlags::empty());
            for i in info {
                match i {
                    BridgeVlanTunnelInfo::Id(v) => vni = Some(*v),
                    BridgeVlanTunnelInfo::Vid(v) => vid = Some(*v),
                    BridgeVlanTunnelInfo::Flags(f) => flags = *f,
                    _ => {}
                }
            }
            let (Some(vid), Some(vni)) = (vid, vni) else {
                continue;
            };
            if flags.contains(BridgeVlanInfoFlags::RangeBegin) {
                begin = Some((vid, vni));
            } else if let (true, Some((first_vid, first_vni))) =
                (flags.contains(BridgeVlanInfoFlags::RangeEnd), begin.take())
            {
                for (offset, v) in (first_vid..=vid).enumerate() {
                    let Some(n) = u32::try_from(offset)
                        .ok()
                        .and_then(|o| first_vni.checked_add(o))
                    else {
                        break;
                    };
                    out.insert(v, n);
                }
            } else {
                out.insert(vid, vni);
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tunnel(vid: u16, vni: u32, flags: BridgeVlanInfoFlags) -> AfSpecBridge {
        AfSpecBridge::VlanTunnelInfo(vec![
            BridgeVlanTunnelInfo::Id(vni),
            BridgeVlanTunnelInfo::Vid(vid),
            BridgeVlanTunnelInfo::Flags(flags),
        ])
    }

    #[test]
    fn tunnel_ranges_are_expanded() {
        let mut m = LinkMessage::default();
        m.attributes = vec![LinkAttribute::AfSpecBridge(vec![
            tunnel(5, 500, BridgeVlanInfoFlags::empty()),
            tunnel(10, 100, BridgeVlanInfoFlags::RangeBegin),
            tunnel(12, 102, BridgeVlanInfoFlags::RangeEnd),
        ])];
        let got: Vec<(u16, u32)> = tunnels(&m).into_iter().collect();
        assert_eq!(got, [(5, 500), (10, 100), (11, 101), (12, 102)]);
    }

    #[test]
    fn svi_names_fit_ifnamsiz() {
        assert_eq!(svi_name("br-evpn", 4094).unwrap(), "br-evpn.4094");
        assert!(svi_name("a-long-bridge", 4094).is_err());
    }
}
