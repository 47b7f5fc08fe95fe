//! Every message of the single-VXLAN model, compared attribute by attribute with what
//! iproute2 sends for the equivalent command (`iproute2/expected.txt`, captured with strace by
//! `iproute2/capture.sh`): the expected bytes come from an independent encoder. No root.

use super::super::fdb::{entry_requests, VniDevices};
use super::super::socket::encode;
use super::super::{netdev, vlan, vnifilter};
use super::*;
use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_route::RouteNetlinkMessage;

const EXPECTED: &str = include_str!("iproute2/expected.txt");

/// The interface indexes of the capture.
const BRIDGE: u32 = 3;
const VXLAN: u32 = 4;
const SVI: u32 = 6;
const TAP: u32 = 8;

/// The devices of VNI 100 on VLAN 10, as the capture has them.
const DEVICES: VniDevices = VniDevices {
    bridge: BRIDGE,
    vxlan: VXLAN,
    vlan: Some(10),
    neigh: SVI,
};

/// The captured requests: number → (command, bytes).
fn expected() -> BTreeMap<String, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut command = String::new();
    for line in EXPECTED.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            command = c.to_string();
            continue;
        }
        let (n, hex) = line.split_once(' ').unwrap();
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        out.insert(n.to_string(), (command.clone(), bytes));
    }
    out
}

/// A netlink message's attributes after a fixed header of `fixed` bytes: (type, value).
fn attributes(payload: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= payload.len() {
        let len = u16::from_ne_bytes([payload[at], payload[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([payload[at + 2], payload[at + 3]]);
        out.push((kind, payload[at + 4..at + len].to_vec()));
        at += len.next_multiple_of(4);
    }
    out
}

/// The size of the fixed header after `nlmsghdr` of message type `kind`.
fn fixed_header(kind: u16) -> usize {
    match kind {
        16..=19 => 16,                                            // ifinfomsg
        28..=30 => 12,                                            // ndmsg
        vnifilter::RTM_NEWTUNNEL | vnifilter::RTM_DELTUNNEL => 8, // tunnel_msg
        other => panic!("unexpected message type {other}"),
    }
}

/// Compares our request (`bytes`, as the socket sends it: flags with REQUEST and ACK) with
/// iproute2's: type, flags, fixed header, then each attribute (nested ones by their bytes).
fn same(number: &str, ours: &[u8]) {
    let all = expected();
    let (command, theirs) = &all[number];
    let head = |b: &[u8]| {
        (
            u16::from_ne_bytes([b[4], b[5]]),
            u16::from_ne_bytes([b[6], b[7]]),
        )
    };
    assert_eq!(head(ours), head(theirs), "{command}: type and flags");
    let fixed = 16 + fixed_header(head(ours).0);
    assert_eq!(
        ours[16..fixed],
        theirs[16..fixed],
        "{command}: fixed header"
    );
    let (a, b) = (attributes(&ours[fixed..]), attributes(&theirs[fixed..]));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x.0 == IFLA_LINKINFO && y.0 == IFLA_LINKINFO {
            same_link_info(command, &x.1, &y.1);
            continue;
        }
        assert_eq!(x, y, "{command}: attribute {i} (type {}) differs", y.0);
    }
    assert_eq!(
        a.len(),
        b.len(),
        "{command}: attribute count ({a:?} vs {b:?})"
    );
}

/// `IFLA_LINKINFO`.
const IFLA_LINKINFO: u16 = 18;
/// `IFLA_INFO_KIND` and `IFLA_INFO_SLAVE_KIND`: strings.
const KINDS: [u16; 2] = [1, 4];

/// Compares two `IFLA_LINKINFO` nests attribute by attribute. Two known differences, both
/// read the same by the kernel:
/// * netlink-packet-route NUL-terminates the kind string, iproute2 does not (`nla_strscpy`);
/// * for port options (`type bridge_slave`) iproute2 sends `IFLA_INFO_KIND "bridge_slave"`,
///   we send `IFLA_INFO_SLAVE_KIND "bridge"`; `rtnl_changelink` takes the port's options
///   from its master's `rtnl_link_ops` whatever the kind says (the per-VNI model's port
///   options, tested on this kernel, are sent the same way).
fn same_link_info(command: &str, ours: &[u8], theirs: &[u8]) {
    let (a, b) = (attributes(ours), attributes(theirs));
    assert_eq!(
        a.len(),
        b.len(),
        "{command}: IFLA_LINKINFO ({a:?} vs {b:?})"
    );
    for ((kind, x), (their_kind, y)) in a.iter().zip(&b) {
        if (*kind, x.as_slice(), *their_kind, y.as_slice())
            == (4, b"bridge\0".as_slice(), 1, b"bridge_slave".as_slice())
        {
            continue;
        }
        assert_eq!(kind, their_kind, "{command}: IFLA_LINKINFO attribute type");
        if KINDS.contains(kind) {
            let trim = |v: &[u8]| v.strip_suffix(&[0]).unwrap_or(v).to_vec();
            assert_eq!(trim(x), trim(y), "{command}: IFLA_LINKINFO kind");
        } else {
            assert_eq!(x, y, "{command}: IFLA_LINKINFO attribute {kind} differs");
        }
    }
}

fn request(message: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
    encode(&message, flags | NLM_F_REQUEST | NLM_F_ACK, 0)
}

/// A VNI filter request as `request_raw` frames it.
fn raw(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = ((payload.len() + 16) as u32).to_ne_bytes().to_vec();
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(payload);
    b
}

fn entry(intent: I, index: usize) -> Vec<u8> {
    let r = entry_requests(&intent, DEVICES).swap_remove(index);
    request(r.request.message, r.request.flags)
}

fn remote(sticky: bool) -> I {
    I::RemoteMac {
        vni: vni(100),
        mac: mac(1),
        vtep: ip("198.18.0.2"),
        sticky,
    }
}

#[test]
fn devices_match_iproute2() {
    let (m, f) = netdev::create_vlan_bridge("br-evpn");
    same("01", &request(m, f));
    let (m, f) = netdev::create_vnifilter_vxlan("vx-evpn", ip("198.18.0.1"), 4789);
    same("02", &request(m, f));
    same("03", &request(netdev::vlan_tunnel_port_options(VXLAN), 0));
    let (m, f) = vlan::create_svi("br-evpn.11", BRIDGE, 11);
    same("13", &request(m, f));
}

#[test]
fn vlans_mapping_and_vni_filter_match_iproute2() {
    same("04", &request(netdev::add_vlan_tunnel(VXLAN, 10, 100), 0));
    same("05", &request(vlan::bridge_self_vlan(BRIDGE, 10, true), 0));
    same("15", &request(vlan::bridge_self_vlan(BRIDGE, 10, false), 0));
    same("12", &request(vlan::add_access_vlan(TAP, 10), 0));
    same("14", &request(vlan::del_vlan(VXLAN, 10), 0));
    let payload = vnifilter::payload(VXLAN, 100);
    same("06", &raw(vnifilter::RTM_NEWTUNNEL, &payload));
    same("07", &raw(vnifilter::RTM_DELTUNNEL, &payload));
}

#[test]
fn entries_match_iproute2() {
    same("08", &entry(remote(false), 0));
    same("09", &entry(remote(false), 1));
    same("19", &entry(remote(true), 0));
    same("20", &entry(remote(true), 1));
    let gone = I::RemoveRemoteMac {
        vni: vni(100),
        mac: mac(1),
    };
    same("16", &entry(gone, 0));
    same("17", &entry(gone, 1));
    let vtep = ip("198.18.0.2");
    same(
        "10",
        &entry(
            I::Flood {
                vni: vni(100),
                vtep,
            },
            0,
        ),
    );
    same(
        "18",
        &entry(
            I::RemoveFlood {
                vni: vni(100),
                vtep,
            },
            0,
        ),
    );
    let neighbour = I::Neighbor {
        vni: vni(100),
        ip: ip("192.0.2.5"),
        mac: mac(5),
        router: false,
        local: false,
    };
    same("11", &entry(neighbour, 0));
    let gone = I::RemoveNeighbor {
        vni: vni(100),
        ip: ip("192.0.2.5"),
    };
    same("21", &entry(gone, 0));
}
