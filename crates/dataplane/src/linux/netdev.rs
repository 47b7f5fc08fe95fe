//! Devices: the messages that create, configure and delete the bridges and VXLAN devices of
//! the per-VNI model, and the parsed view of a link the backend works with.

use super::socket::{NlError, NlSocket};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::link::{
    AfSpecBridge, BridgeVlanInfoFlags, BridgeVlanTunnelInfo, InfoBridge, InfoBridgePort, InfoData,
    InfoKind, InfoPortData, InfoPortKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use std::net::IpAddr;

/// The alias (`IFLA_IFALIAS`) prefix that marks a device evpnd created: `evpnd vni=<vni>`.
/// A restarted evpnd recognises its own devices by it (and never touches others).
pub const OWNER_ALIAS_PREFIX: &str = "evpnd vni=";

/// The alias that marks the shared bridge and VXLAN device evpnd created for the
/// single-VXLAN-device model (they serve every VNI).
pub(crate) const SHARED_ALIAS: &str = "evpnd shared";

/// The ownership marker of the devices of `vni`.
pub(crate) fn owner_alias(vni: u32) -> String {
    format!("{OWNER_ALIAS_PREFIX}{vni}")
}

/// The VNI an alias marks as ours, if it is our marker.
pub(crate) fn owned_vni(alias: &str) -> Option<u32> {
    alias.strip_prefix(OWNER_ALIAS_PREFIX)?.parse().ok()
}

/// What the backend needs to know about one link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Link {
    /// The ifindex.
    pub index: u32,
    /// The name.
    pub name: String,
    /// The kind (`bridge`, `vxlan`, `veth`, …; `None` for a physical device).
    pub kind: Option<InfoKind>,
    /// `IFLA_IFALIAS`.
    pub alias: Option<String>,
    /// The master (bridge) ifindex.
    pub master: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// The VXLAN id, for a VXLAN device.
    pub vxlan_id: Option<u32>,
    /// The source address (`local`), for a VXLAN device.
    pub vxlan_local: Option<IpAddr>,
    /// The UDP destination port (`dstport`), for a VXLAN device.
    pub vxlan_port: Option<u16>,
    /// An `external vnifilter` VXLAN device (collect metadata with a VNI filter).
    pub vxlan_vnifilter: bool,
    /// `vlan_filtering`, for a bridge.
    pub vlan_filtering: Option<bool>,
}

impl Link {
    /// The VNI our marker names, when the device carries it.
    pub fn owner(&self) -> Option<u32> {
        self.alias.as_deref().and_then(owned_vni)
    }

    /// The kind's name for messages ("a veth", "a device without a kind").
    pub fn kind_name(&self) -> String {
        match &self.kind {
            Some(k) => k.to_string(),
            None => "none".into(),
        }
    }

    /// Parses a `RTM_NEWLINK`/`RTM_DELLINK` message.
    pub fn parse(message: &LinkMessage) -> Link {
        let mut link = Link {
            index: message.header.index,
            up: message.header.flags.contains(LinkFlags::Up),
            ..Link::default()
        };
        for attribute in &message.attributes {
            match attribute {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::IfAlias(a) => link.alias = Some(a.clone()),
                LinkAttribute::Controller(m) if *m != 0 => link.master = Some(*m),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(k) => link.kind = Some(k.clone()),
                            LinkInfo::Data(InfoData::Vxlan(v)) => {
                                for a in v {
                                    match a {
                                        InfoVxlan::Id(id) => link.vxlan_id = Some(*id),
                                        InfoVxlan::Local(a) => {
                                            link.vxlan_local = Some(IpAddr::V4(*a))
                                        }
                                        InfoVxlan::Local6(a) => {
                                            link.vxlan_local = Some(IpAddr::V6(*a))
                                        }
                                        InfoVxlan::Port(p) => link.vxlan_port = Some(*p),
                                        InfoVxlan::Vnifilter(f) => link.vxlan_vnifilter = *f,
                                        _ => {}
                                    }
                                }
                            }
                            LinkInfo::Data(InfoData::Bridge(b)) => {
                                for a in b {
                                    if let InfoBridge::VlanFiltering(f) = a {
                                        link.vlan_filtering = Some(*f);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

pub(crate) fn link_message(index: u32, attributes: Vec<LinkAttribute>) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes = attributes;
    m
}

/// `ip link add NAME type bridge`.
pub(crate) fn create_bridge(name: &str) -> (RouteNetlinkMessage, u16) {
    let m = link_message(
        0,
        vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ],
    );
    (RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
}

/// `ip link add NAME type bridge vlan_filtering 1 vlan_default_pvid 0`: a VLAN-aware bridge
/// (the single-VXLAN model maps each VNI to one of its VLANs) whose ports join no VLAN by
/// default, so that a tenant port belongs to its VNI's VLAN only.
pub(crate) fn create_vlan_bridge(name: &str) -> (RouteNetlinkMessage, u16) {
    let m = link_message(
        0,
        vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bridge),
                LinkInfo::Data(InfoData::Bridge(vec![
                    InfoBridge::VlanFiltering(true),
                    InfoBridge::VlanDefaultPvid(0),
                ])),
            ]),
        ],
    );
    (RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
}

/// The VXLAN device's source address: `IFLA_VXLAN_LOCAL` or `IFLA_VXLAN_LOCAL6`.
fn local_address(vtep: IpAddr) -> InfoVxlan {
    match vtep {
        IpAddr::V4(a) => InfoVxlan::Local(a),
        IpAddr::V6(a) => InfoVxlan::Local6(a),
    }
}

/// A request creating VXLAN device `name` with `data` (refused if the name exists).
fn new_vxlan(name: &str, data: Vec<InfoVxlan>) -> (RouteNetlinkMessage, u16) {
    let m = link_message(
        0,
        vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Vxlan),
                LinkInfo::Data(InfoData::Vxlan(data)),
            ]),
        ],
    );
    (RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
}

/// `ip link add NAME type vxlan external vnifilter local VTEP dstport PORT nolearning`: one
/// collect-metadata VXLAN device for every VNI (RFC 7348 §5), which terminates the VNIs of its
/// filter ([`super::vnifilter`]).
pub(crate) fn create_vnifilter_vxlan(
    name: &str,
    vtep: IpAddr,
    port: u16,
) -> (RouteNetlinkMessage, u16) {
    let local = local_address(vtep);
    // The order iproute2 sends them in.
    let data = vec![
        InfoVxlan::CollectMetadata(true),
        InfoVxlan::Vnifilter(true),
        local,
        InfoVxlan::Learning(false),
        InfoVxlan::Port(port),
    ];
    new_vxlan(name, data)
}

/// `ip link set INDEX type bridge_slave vlan_tunnel on learning off neigh_suppress on`: the
/// single-VXLAN model's port takes the VNI of a frame from its VLAN's tunnel mapping.
pub(crate) fn vlan_tunnel_port_options(index: u32) -> RouteNetlinkMessage {
    RouteNetlinkMessage::NewLink(link_message(
        index,
        vec![LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![
                InfoBridgePort::VlanTunnel(true),
                InfoBridgePort::Learning(false),
                InfoBridgePort::NeighSupress(true),
            ])),
        ])],
    ))
}

/// `bridge vlan add dev INDEX vid VID tunnel_info id VNI`: maps the VLAN `vid` of a
/// `vlan_tunnel` port (which must already carry the VLAN, [`super::vlan::add_vlan`]) to
/// `vni` (`IFLA_BRIDGE_VLAN_TUNNEL_INFO`, `net/bridge/br_vlan_tunnel.c`).
pub(crate) fn add_vlan_tunnel(index: u32, vid: u16, vni: u32) -> RouteNetlinkMessage {
    let mut m = link_message(
        index,
        vec![LinkAttribute::AfSpecBridge(vec![
            AfSpecBridge::VlanTunnelInfo(vec![
                BridgeVlanTunnelInfo::Id(vni),
                BridgeVlanTunnelInfo::Vid(vid),
                BridgeVlanTunnelInfo::Flags(BridgeVlanInfoFlags::empty()),
            ]),
        ])],
    );
    m.header.interface_family = AddressFamily::Bridge;
    RouteNetlinkMessage::SetLink(m)
}

/// `ip link add NAME type vxlan id VNI local VTEP dstport PORT nolearning` (RFC 7348 §5).
pub(crate) fn create_vxlan(
    name: &str,
    vni: u32,
    vtep: IpAddr,
    port: u16,
) -> (RouteNetlinkMessage, u16) {
    let local = local_address(vtep);
    let data = vec![
        InfoVxlan::Id(vni),
        local,
        InfoVxlan::Port(port),
        InfoVxlan::Learning(false),
    ];
    new_vxlan(name, data)
}

/// Sets the alias (our ownership marker) of `index`.
pub(crate) fn set_alias(index: u32, alias: &str) -> RouteNetlinkMessage {
    RouteNetlinkMessage::SetLink(link_message(
        index,
        vec![LinkAttribute::IfAlias(alias.into())],
    ))
}

/// `ip link set INDEX master MASTER` (`master` 0: `nomaster`).
pub(crate) fn set_master(index: u32, master: u32) -> RouteNetlinkMessage {
    RouteNetlinkMessage::SetLink(link_message(index, vec![LinkAttribute::Controller(master)]))
}

/// `ip link set INDEX type bridge_slave learning off neigh_suppress on`: the VXLAN port of a
/// VNI's bridge never learns (the control plane installs remote MACs) and answers ARP/ND from
/// the bridge's neighbour table (RFC 9161 §3).
pub(crate) fn vxlan_port_options(index: u32) -> RouteNetlinkMessage {
    RouteNetlinkMessage::NewLink(link_message(
        index,
        vec![LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![
                InfoBridgePort::Learning(false),
                InfoBridgePort::NeighSupress(true),
            ])),
        ])],
    ))
}

/// `ip link set INDEX up`.
pub(crate) fn set_up(index: u32) -> RouteNetlinkMessage {
    let mut m = link_message(index, Vec::new());
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    RouteNetlinkMessage::SetLink(m)
}

/// `ip link del INDEX`.
pub(crate) fn delete(index: u32) -> RouteNetlinkMessage {
    RouteNetlinkMessage::DelLink(link_message(index, Vec::new()))
}

/// Reads the link called `name` (`None`: there is none).
pub(crate) fn get_by_name(socket: &mut NlSocket, name: &str) -> Result<Option<Link>, NlError> {
    get(
        socket,
        link_message(0, vec![LinkAttribute::IfName(name.into())]),
    )
}

/// Reads the link with ifindex `index` (`None`: there is none).
pub(crate) fn get_by_index(socket: &mut NlSocket, index: u32) -> Result<Option<Link>, NlError> {
    get(socket, link_message(index, Vec::new()))
}

/// Reads the one link `request` names.
fn get(socket: &mut NlSocket, request: LinkMessage) -> Result<Option<Link>, NlError> {
    match socket.query(&RouteNetlinkMessage::GetLink(request), 0) {
        Ok(answers) => Ok(answers.iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(Link::parse(l)),
            _ => None,
        })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads every link.
pub(crate) fn dump(socket: &mut NlSocket) -> Result<Vec<Link>, NlError> {
    let request = RouteNetlinkMessage::GetLink(LinkMessage::default());
    let answers = socket.query(&request, NLM_F_DUMP)?;
    Ok(answers
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(Link::parse(l)),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::linux::socket::encode;
    use netlink_packet_core::NetlinkMessage;

    fn roundtrip(m: &RouteNetlinkMessage) -> RouteNetlinkMessage {
        let bytes = encode(m, 0, 1);
        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        match parsed.payload {
            netlink_packet_core::NetlinkPayload::InnerMessage(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vxlan_create_carries_id_local_port_and_no_learning() {
        for vtep in ["198.18.0.1", "2001:db8::1"] {
            let vtep: IpAddr = vtep.parse().unwrap();
            let (m, flags) = create_vxlan("vx100", 100, vtep, 4789);
            assert_eq!(flags, NLM_F_CREATE | NLM_F_EXCL);
            let RouteNetlinkMessage::NewLink(l) = roundtrip(&m) else {
                panic!()
            };
            let link = Link::parse(&l);
            assert_eq!(link.name, "vx100");
            assert_eq!(link.kind, Some(InfoKind::Vxlan));
            assert_eq!(link.vxlan_id, Some(100));
            assert_eq!(link.vxlan_local, Some(vtep));
            assert_eq!(link.vxlan_port, Some(4789));
            let data = l
                .attributes
                .iter()
                .find_map(|a| match a {
                    LinkAttribute::LinkInfo(i) => i.iter().find_map(|i| match i {
                        LinkInfo::Data(InfoData::Vxlan(d)) => Some(d.clone()),
                        _ => None,
                    }),
                    _ => None,
                })
                .unwrap();
            assert!(data.contains(&InfoVxlan::Port(4789)));
            assert!(data.contains(&InfoVxlan::Learning(false)));
            let local = match vtep {
                IpAddr::V4(a) => InfoVxlan::Local(a),
                IpAddr::V6(a) => InfoVxlan::Local6(a),
            };
            assert!(data.contains(&local), "{data:?}");
        }
    }

    #[test]
    fn the_marker_names_the_vni() {
        assert_eq!(owned_vni(&owner_alias(100)), Some(100));
        assert_eq!(owned_vni("uplink"), None);
        assert_eq!(owned_vni("evpnd vni=x"), None);
        let RouteNetlinkMessage::SetLink(l) = roundtrip(&set_alias(7, &owner_alias(5))) else {
            panic!()
        };
        assert_eq!(Link::parse(&l).owner(), Some(5));
        assert_eq!(Link::parse(&l).index, 7);
    }

    #[test]
    fn up_and_master_messages() {
        let RouteNetlinkMessage::SetLink(l) = roundtrip(&set_up(3)) else {
            panic!()
        };
        assert!(Link::parse(&l).up);
        assert_eq!(l.header.change_mask, LinkFlags::Up);
        let RouteNetlinkMessage::SetLink(l) = roundtrip(&set_master(3, 9)) else {
            panic!()
        };
        assert_eq!(Link::parse(&l).master, Some(9));
    }
}
