//! The VNI filter of an `external vnifilter` VXLAN device (Linux ≥ 5.18): the VNIs one
//! collect-metadata device terminates (`bridge vni add dev DEV vni VNI`). netlink-packet-route
//! has no type for these messages, so they are built here from the kernel's uapi
//! (`linux/rtnetlink.h`, `linux/if_link.h`).

use super::socket::{NlError, NlSocket};

/// `RTM_NEWTUNNEL`: adds entries to a device's VNI filter.
pub(crate) const RTM_NEWTUNNEL: u16 = 120;
/// `RTM_DELTUNNEL`: removes entries from a device's VNI filter.
pub(crate) const RTM_DELTUNNEL: u16 = 121;
/// `AF_BRIDGE`: the family of `struct tunnel_msg` for VXLAN VNI filters.
const AF_BRIDGE: u8 = 7;
/// `VXLAN_VNIFILTER_ENTRY`: one (nested) filter entry.
const VXLAN_VNIFILTER_ENTRY: u16 = 1;
/// `VXLAN_VNIFILTER_ENTRY_START`: the entry's (first) VNI.
const VXLAN_VNIFILTER_ENTRY_START: u16 = 1;
/// `NLA_F_NESTED`.
const NLA_F_NESTED: u16 = 0x8000;

/// The payload of a VNI filter request for `vni` on device `ifindex`: `struct tunnel_msg`
/// (family, two reserved fields, ifindex) and one `VXLAN_VNIFILTER_ENTRY` holding
/// `VXLAN_VNIFILTER_ENTRY_START`.
pub(crate) fn payload(ifindex: u32, vni: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(24);
    p.push(AF_BRIDGE);
    p.push(0);
    p.extend_from_slice(&0u16.to_ne_bytes());
    p.extend_from_slice(&ifindex.to_ne_bytes());
    // The nested entry: its header (4 bytes) and the 8-byte START attribute.
    p.extend_from_slice(&12u16.to_ne_bytes());
    p.extend_from_slice(&(VXLAN_VNIFILTER_ENTRY | NLA_F_NESTED).to_ne_bytes());
    p.extend_from_slice(&8u16.to_ne_bytes());
    p.extend_from_slice(&VXLAN_VNIFILTER_ENTRY_START.to_ne_bytes());
    p.extend_from_slice(&vni.to_ne_bytes());
    p
}

/// `bridge vni add dev IFINDEX vni VNI` (without `NLM_F_CREATE`, as iproute2 sends it); an
/// entry already there counts as done.
pub(crate) fn add(socket: &mut NlSocket, ifindex: u32, vni: u32) -> Result<(), NlError> {
    match socket.request_raw(RTM_NEWTUNNEL, 0, &payload(ifindex, vni)) {
        Err(e) if e.code == rustix::io::Errno::EXIST.raw_os_error() => Ok(()),
        other => other,
    }
}

/// `bridge vni del dev IFINDEX vni VNI`; an entry already gone counts as done.
pub(crate) fn delete(socket: &mut NlSocket, ifindex: u32, vni: u32) -> Result<(), NlError> {
    match socket.request_raw(RTM_DELTUNNEL, 0, &payload(ifindex, vni)) {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_a_tunnel_msg_with_one_nested_start() {
        let p = payload(7, 0x00ab_cdef);
        assert_eq!(p.len(), 8 + 12);
        assert_eq!(p[0], AF_BRIDGE);
        assert_eq!(&p[4..8], &7u32.to_ne_bytes());
        assert_eq!(&p[8..10], &12u16.to_ne_bytes());
        assert_eq!(&p[10..12], &0x8001u16.to_ne_bytes());
        assert_eq!(&p[12..14], &8u16.to_ne_bytes());
        assert_eq!(&p[14..16], &1u16.to_ne_bytes());
        assert_eq!(&p[16..20], &0x00ab_cdefu32.to_ne_bytes());
    }
}
