//! Entries: the FDB, flood-list and neighbour (proxy ARP/ND) messages of both device models,
//! and the parsed view of a neighbour or FDB notification.

use super::socket::Request;
use crate::DataplaneIntent;
use evpnd_wire::MacAddress;
use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

/// The `NDA_PROTOCOL` value that marks the neighbour entries evpnd installs (an unassigned
/// routing-protocol number; `ip neigh` shows it as `proto 235`). Entries with another value
/// are never touched.
pub const EVPND_NEIGH_PROTOCOL: u8 = 235;

/// `NUD_*` states (`linux/neighbour.h`).
pub(crate) const NUD_REACHABLE: u16 = 0x02;
/// Never verified, never expires.
pub(crate) const NUD_NOARP: u16 = 0x40;
/// Configured, never expires (the bridge's own addresses; the flood entries).
pub(crate) const NUD_PERMANENT: u16 = 0x80;
/// The state iproute2 puts in FDB requests without a state keyword (`bridge fdb append …
/// permanent`, `bridge fdb del`); the kernel ignores the state of a delete.
const FDB_PERMANENT: u16 = NUD_NOARP | NUD_PERMANENT;
/// Any state in which an entry resolves.
pub(crate) const NUD_VALID: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

/// The devices of one VNI, in either device model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VniDevices {
    /// The bridge (single model: shared by every VNI).
    pub bridge: u32,
    /// The VXLAN device, a port of the bridge (single model: the shared `external
    /// vnifilter` device).
    pub vxlan: u32,
    /// The VNI's VLAN on the shared bridge (single model); `None` in the per-VNI model.
    /// Entries then carry `NDA_SRC_VNI` (the device's own FDB) or `NDA_VLAN` (the bridge's).
    pub vlan: Option<u16>,
    /// The device whose neighbour table answers ARP/ND for the VNI: the bridge (per-VNI) or
    /// the VNI's SVI `<bridge>.<vid>` (single model; see [`super::single`]).
    pub neigh: u32,
}

/// One request of an intent; `delete` requests succeed when the entry is already gone.
#[derive(Clone, Debug)]
pub(crate) struct EntryRequest {
    /// The request.
    pub request: Request,
    /// A removal: `ENOENT` counts as done.
    pub delete: bool,
}

fn message(
    family: AddressFamily,
    ifindex: u32,
    state: u16,
    flags: NeighbourFlags,
) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = family;
    m.header.ifindex = ifindex;
    m.header.state = NeighbourState::from(state);
    m.header.flags = flags;
    m
}

fn new(m: NeighbourMessage, flags: u16) -> EntryRequest {
    EntryRequest {
        request: Request {
            message: RouteNetlinkMessage::NewNeighbour(m),
            flags,
        },
        delete: false,
    }
}

fn del(m: NeighbourMessage) -> EntryRequest {
    EntryRequest {
        request: Request {
            message: RouteNetlinkMessage::DelNeighbour(m),
            flags: 0,
        },
        delete: true,
    }
}

fn family_of(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// The requests that install or remove the entry of an entry intent (`RemoteMac`, `Flood`,
/// `Neighbor` and their removals) on `devices`; empty for other intents.
///
/// * A remote MAC is two entries: the VXLAN device's own FDB (`NTF_SELF`, with the remote
///   VTEP; RFC 7348 §4) and the bridge's FDB entry pointing at the VXLAN port (`NTF_MASTER`)
///   so that known unicast is not flooded to local ports and the bridge answers ARP/ND for
///   it. An add is one message with both flags where the two entries take the same attributes
///   (the per-VNI model); a removal is two messages, because the kernel stops at a failed
///   master part (a bridge entry a local learn took over is not ours to delete). Dynamic entries are
///   `extern_learn` (`NUD_REACHABLE`); sticky ones (RFC 7432 §15.2) static (`NUD_NOARP` and
///   `NUD_REACHABLE`, `NTF_STICKY`) so that local learning never moves them.
/// * A flood entry is the all-zero MAC with the remote VTEP, appended (RFC 8365 §9).
/// * Single-VXLAN model: the device's own entries (remote MACs, flood) carry `NDA_SRC_VNI`,
///   the bridge's `NDA_VLAN` (the VNI's VLAN), as FRR writes them (Linux ≥ 5.18,
///   `drivers/net/vxlan/vxlan_core.c` keys a vnifilter device's FDB by source VNI).
/// * A neighbour is an entry of the bridge's (single model: the SVI's) neighbour table, marked with
///   [`EVPND_NEIGH_PROTOCOL`] (RFC 9161 §3).
pub(crate) fn entry_requests(intent: &DataplaneIntent, devices: VniDevices) -> Vec<EntryRequest> {
    let mac_attr = |mac: MacAddress| NeighbourAttribute::LinkLayerAddress(mac.0.to_vec());
    let dst_attr = |ip: IpAddr| NeighbourAttribute::Destination(NeighbourAddress::from(ip));
    let vni = super::reconcile::intent_vni(intent).unwrap_or(0);
    // Single model: the device's own entries name their VNI, the bridge's their VLAN (the
    // attribute order of `bridge fdb … src_vni VNI` / `vlan VID`).
    let own_extra: Vec<NeighbourAttribute> = devices
        .vlan
        .map(|_| NeighbourAttribute::SourceVni(vni))
        .into_iter()
        .collect();
    let master_extra: Vec<NeighbourAttribute> = devices
        .vlan
        .map(NeighbourAttribute::Vlan)
        .into_iter()
        .collect();
    let with = |mut attributes: Vec<NeighbourAttribute>, extra: &[NeighbourAttribute]| {
        attributes.extend_from_slice(extra);
        attributes
    };
    match *intent {
        DataplaneIntent::RemoteMac {
            mac, vtep, sticky, ..
        } => {
            let (state, kind) = if sticky {
                // The VXLAN driver takes only reachable or permanent entries; `static` is
                // NOARP on top (what `bridge fdb add … static` sends).
                (NUD_NOARP | NUD_REACHABLE, NeighbourFlags::Sticky)
            } else {
                (NUD_REACHABLE, NeighbourFlags::ExtLearned)
            };
            let mut own = message(
                AddressFamily::Bridge,
                devices.vxlan,
                state,
                NeighbourFlags::Own | kind,
            );
            own.attributes = with(vec![mac_attr(mac), dst_attr(vtep)], &own_extra);
            if devices.vlan.is_none() {
                // Per-VNI model: one message does both (the kernel adds the bridge's entry,
                // then the device's own); half the messages of two, measured faster.
                own.header.flags |= NeighbourFlags::Controller;
                return vec![new(own, NLM_F_CREATE | NLM_F_REPLACE)];
            }
            let mut master = message(
                AddressFamily::Bridge,
                devices.vxlan,
                state,
                NeighbourFlags::Controller | kind,
            );
            master.attributes = with(vec![mac_attr(mac)], &master_extra);
            vec![
                new(own, NLM_F_CREATE | NLM_F_REPLACE),
                new(master, NLM_F_CREATE | NLM_F_REPLACE),
            ]
        }
        DataplaneIntent::RemoveRemoteMac { mac, .. } => {
            let mut own = message(
                AddressFamily::Bridge,
                devices.vxlan,
                FDB_PERMANENT,
                NeighbourFlags::Own,
            );
            own.attributes = with(vec![mac_attr(mac)], &own_extra);
            let mut master = message(
                AddressFamily::Bridge,
                devices.vxlan,
                FDB_PERMANENT,
                NeighbourFlags::Controller,
            );
            master.attributes = with(vec![mac_attr(mac)], &master_extra);
            vec![del(own), del(master)]
        }
        DataplaneIntent::Flood { vtep, .. } => {
            let mut m = message(
                AddressFamily::Bridge,
                devices.vxlan,
                FDB_PERMANENT,
                NeighbourFlags::Own,
            );
            m.attributes = with(
                vec![mac_attr(MacAddress([0; 6])), dst_attr(vtep)],
                &own_extra,
            );
            vec![new(m, NLM_F_CREATE | NLM_F_APPEND)]
        }
        DataplaneIntent::RemoveFlood { vtep, .. } => {
            let mut m = message(
                AddressFamily::Bridge,
                devices.vxlan,
                FDB_PERMANENT,
                NeighbourFlags::Own,
            );
            m.attributes = with(
                vec![mac_attr(MacAddress([0; 6])), dst_attr(vtep)],
                &own_extra,
            );
            vec![del(m)]
        }
        DataplaneIntent::Neighbor {
            ip,
            mac,
            router,
            local,
            ..
        } => {
            let (state, mut flags) = if local {
                (NUD_PERMANENT, NeighbourFlags::empty())
            } else {
                (NUD_NOARP, NeighbourFlags::ExtLearned)
            };
            if router {
                flags |= NeighbourFlags::Router;
            }
            let mut m = message(family_of(ip), devices.neigh, state, flags);
            // The order of `ip neigh replace IP lladdr MAC … proto N`.
            m.attributes = vec![
                NeighbourAttribute::Protocol(RouteProtocol::from(EVPND_NEIGH_PROTOCOL)),
                dst_attr(ip),
                mac_attr(mac),
            ];
            vec![new(m, NLM_F_CREATE | NLM_F_REPLACE)]
        }
        DataplaneIntent::RemoveNeighbor { ip, .. } => {
            let mut m = message(
                family_of(ip),
                devices.neigh,
                NUD_PERMANENT,
                NeighbourFlags::empty(),
            );
            m.attributes = vec![dst_attr(ip)];
            vec![del(m)]
        }
        DataplaneIntent::Vni { .. }
        | DataplaneIntent::RemoveVni { .. }
        | DataplaneIntent::Port { .. }
        | DataplaneIntent::RemovePort { .. }
        | DataplaneIntent::Synced
        | DataplaneIntent::Vrf { .. }
        | DataplaneIntent::RemoveVrf { .. }
        | DataplaneIntent::Gateway { .. }
        | DataplaneIntent::RemoveGateway { .. }
        | DataplaneIntent::RouterMac { .. }
        | DataplaneIntent::RemoveRouterMac { .. }
        | DataplaneIntent::RemoteRoute { .. }
        | DataplaneIntent::RemoveRemoteRoute { .. }
        | DataplaneIntent::GatewayRoute { .. }
        | DataplaneIntent::RemoveGatewayRoute { .. } => Vec::new(),
    }
}

/// A neighbour or bridge FDB entry as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Neigh {
    /// `AF_BRIDGE` (FDB), `AF_INET` or `AF_INET6` (neighbours).
    pub family: AddressFamily,
    /// The device (FDB: the port; neighbours: the bridge).
    pub ifindex: u32,
    /// `NUD_*`.
    pub state: u16,
    /// `NTF_*`.
    pub flags: NeighbourFlags,
    /// `NDA_LLADDR`.
    pub mac: Option<MacAddress>,
    /// `NDA_DST` (FDB: the remote VTEP; neighbours: the IP).
    pub dst: Option<IpAddr>,
    /// `NDA_MASTER` (FDB entries of a bridge: the bridge).
    pub master: Option<u32>,
    /// `NDA_PROTOCOL`.
    pub protocol: Option<u8>,
    /// `NDA_VLAN`.
    pub vlan: Option<u16>,
    /// `NDA_SRC_VNI` (a collect-metadata VXLAN device's own entries).
    pub src_vni: Option<u32>,
}

impl Neigh {
    /// Parses a `RTM_NEWNEIGH`/`RTM_DELNEIGH` message.
    pub fn parse(m: &NeighbourMessage) -> Neigh {
        let mut n = Neigh {
            family: m.header.family,
            ifindex: m.header.ifindex,
            state: u16::from(m.header.state),
            flags: m.header.flags,
            mac: None,
            dst: None,
            master: None,
            protocol: None,
            vlan: None,
            src_vni: None,
        };
        for attribute in &m.attributes {
            match attribute {
                NeighbourAttribute::LinkLayerAddress(a) => {
                    n.mac = <[u8; 6]>::try_from(a.as_slice()).ok().map(MacAddress);
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                    n.dst = Some(IpAddr::V4(*a))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                    n.dst = Some(IpAddr::V6(*a))
                }
                // FDB entries (AF_BRIDGE): the VTEP's family is known by its length.
                NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                    n.dst = match b.len() {
                        4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
                        _ => None,
                    }
                }
                NeighbourAttribute::Controller(i) => n.master = Some(*i),
                NeighbourAttribute::Protocol(p) => n.protocol = Some(u8::from(*p)),
                NeighbourAttribute::Vlan(v) => n.vlan = Some(*v),
                NeighbourAttribute::SourceVni(v) => n.src_vni = Some(*v),
                _ => {}
            }
        }
        n
    }

    /// An entry of the bridge's FDB (`NTF_MASTER` or reported with `NDA_MASTER`).
    pub fn is_bridge_entry(&self) -> bool {
        self.master.is_some() || self.flags.contains(NeighbourFlags::Controller)
    }

    /// A VXLAN device's own FDB entry (`NTF_SELF` with a remote VTEP).
    pub fn is_vxlan_entry(&self) -> bool {
        self.flags.contains(NeighbourFlags::Own) && self.dst.is_some()
    }
}

/// A `RTM_GETNEIGH` dump request for `family`.
pub(crate) fn dump_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = family;
    RouteNetlinkMessage::GetNeighbour(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::linux::socket::encode;
    use evpnd_wire::Vni;
    use netlink_packet_core::NetlinkMessage;

    const DEV: VniDevices = VniDevices {
        bridge: 10,
        vxlan: 11,
        vlan: None,
        neigh: 10,
    };

    fn vni() -> Vni {
        Vni::new(100).unwrap()
    }

    fn mac() -> MacAddress {
        MacAddress([2, 0, 0, 0, 0, 1])
    }

    /// Encodes and parses back each request: (message kind, flags, parsed entry).
    fn parsed(intent: DataplaneIntent) -> Vec<(&'static str, u16, bool, Neigh)> {
        entry_requests(&intent, DEV)
            .into_iter()
            .map(|r| {
                let bytes = encode(&r.request.message, r.request.flags, 1);
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
                let netlink_packet_core::NetlinkPayload::InnerMessage(m) = m.payload else {
                    panic!()
                };
                match m {
                    RouteNetlinkMessage::NewNeighbour(n) => {
                        ("new", r.request.flags, r.delete, Neigh::parse(&n))
                    }
                    RouteNetlinkMessage::DelNeighbour(n) => {
                        ("del", r.request.flags, r.delete, Neigh::parse(&n))
                    }
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn a_remote_mac_is_a_self_entry_with_the_vtep_and_a_bridge_entry() {
        for vtep in ["198.18.0.2", "2001:db8::2"] {
            let vtep: IpAddr = vtep.parse().unwrap();
            let got = parsed(DataplaneIntent::RemoteMac {
                vni: vni(),
                mac: mac(),
                vtep,
                sticky: false,
            });
            assert_eq!(got.len(), 1, "one message adds both entries");
            let (kind, flags, delete, both) = &got[0];
            assert_eq!(
                (*kind, *flags, *delete),
                ("new", NLM_F_CREATE | NLM_F_REPLACE, false)
            );
            assert_eq!(both.family, AddressFamily::Bridge);
            assert_eq!(both.ifindex, DEV.vxlan);
            assert_eq!(
                both.flags,
                NeighbourFlags::Own | NeighbourFlags::Controller | NeighbourFlags::ExtLearned
            );
            assert_eq!(both.state, NUD_REACHABLE);
            assert_eq!((both.mac, both.dst), (Some(mac()), Some(vtep)));
        }
        let sticky = parsed(DataplaneIntent::RemoteMac {
            vni: vni(),
            mac: mac(),
            vtep: "198.18.0.2".parse().unwrap(),
            sticky: true,
        });
        assert_eq!(sticky[0].3.state, NUD_NOARP | NUD_REACHABLE);
        assert_eq!(
            sticky[0].3.flags,
            NeighbourFlags::Own | NeighbourFlags::Controller | NeighbourFlags::Sticky
        );
        assert_eq!(sticky.len(), 1);
    }

    #[test]
    fn removals_delete_self_then_master_and_tolerate_absence() {
        let got = parsed(DataplaneIntent::RemoveRemoteMac {
            vni: vni(),
            mac: mac(),
        });
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(k, _, d, _)| *k == "del" && *d));
        assert_eq!(got[0].3.flags, NeighbourFlags::Own);
        assert_eq!(got[1].3.flags, NeighbourFlags::Controller);
        assert_eq!(got[0].3.dst, None, "the whole MAC goes, whatever its VTEP");
    }

    #[test]
    fn flood_entries_append_and_delete_one_vtep() {
        let vtep: IpAddr = "2001:db8::3".parse().unwrap();
        let got = parsed(DataplaneIntent::Flood { vni: vni(), vtep });
        assert_eq!(got[0].1, NLM_F_CREATE | NLM_F_APPEND);
        assert_eq!(got[0].3.mac, Some(MacAddress([0; 6])));
        assert_eq!(got[0].3.dst, Some(vtep));
        assert_eq!(got[0].3.state, NUD_NOARP | NUD_PERMANENT);
        let got = parsed(DataplaneIntent::RemoveFlood { vni: vni(), vtep });
        assert_eq!((got[0].0, got[0].3.dst), ("del", Some(vtep)));
    }

    #[test]
    fn neighbours_go_on_the_bridge_with_our_protocol() {
        let ip: IpAddr = "2001:db8:1::5".parse().unwrap();
        let got = parsed(DataplaneIntent::Neighbor {
            vni: vni(),
            ip,
            mac: mac(),
            router: true,
            local: false,
        });
        let n = &got[0].3;
        assert_eq!((n.family, n.ifindex), (AddressFamily::Inet6, DEV.bridge));
        assert_eq!(n.flags, NeighbourFlags::ExtLearned | NeighbourFlags::Router);
        assert_eq!(
            (n.state, n.protocol),
            (NUD_NOARP, Some(EVPND_NEIGH_PROTOCOL))
        );
        assert_eq!((n.dst, n.mac), (Some(ip), Some(mac())));
        let local = parsed(DataplaneIntent::Neighbor {
            vni: vni(),
            ip: "192.0.2.5".parse().unwrap(),
            mac: mac(),
            router: false,
            local: true,
        });
        assert_eq!(local[0].3.state, NUD_PERMANENT);
        assert_eq!(local[0].3.family, AddressFamily::Inet);
        assert_eq!(local[0].3.flags, NeighbourFlags::empty());
        let gone = parsed(DataplaneIntent::RemoveNeighbor { vni: vni(), ip });
        assert_eq!((gone[0].0, gone[0].3.dst), ("del", Some(ip)));
    }
}
