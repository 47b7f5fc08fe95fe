//! Byte builders for hand-made BGP messages.
//!
//! Everything here is written from the RFC byte layouts (RFC 4271 §4, RFC 4760 §3–4, RFC 7432
//! §7, RFC 9136 §3.1, RFC 5492 §4, RFC 9072 §2) and never calls the codec's encoder, so that
//! tests built on it check the decoder against an independent picture of the wire format.
//! Lengths are computed from the parts unless a builder's name says it writes a given
//! (possibly wrong) length.

#![allow(dead_code, clippy::expect_used)]

/// Attribute flag: Optional (RFC 4271 §4.3).
pub const OPTIONAL: u8 = 0x80;
/// Attribute flag: Transitive.
pub const TRANSITIVE: u8 = 0x40;
/// Attribute flag: Partial.
pub const PARTIAL: u8 = 0x20;
/// Attribute flag: Extended Length (two-octet length field).
pub const EXTENDED: u8 = 0x10;
/// Flags of a well-known attribute.
pub const WELL_KNOWN: u8 = TRANSITIVE;
/// Flags of an optional transitive attribute.
pub const OPT_TRANS: u8 = OPTIONAL | TRANSITIVE;
/// Flags of an optional non-transitive attribute.
pub const OPT_NON_TRANS: u8 = OPTIONAL;

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
pub const OPEN: u8 = 1;
/// UPDATE.
pub const UPDATE: u8 = 2;
/// NOTIFICATION.
pub const NOTIFICATION: u8 = 3;
/// KEEPALIVE.
pub const KEEPALIVE: u8 = 4;
/// ROUTE-REFRESH.
pub const ROUTE_REFRESH: u8 = 5;

/// AFI/SAFI of L2VPN EVPN (RFC 7432 §20).
pub const AFI_L2VPN: u16 = 25;
/// SAFI of EVPN.
pub const SAFI_EVPN: u8 = 70;

/// Offset of the first path attribute in an UPDATE whose Withdrawn Routes field is empty:
/// header (19) + Withdrawn Routes Length (2) + Total Path Attribute Length (2).
pub const FIRST_ATTR: usize = 23;

/// A message with a correct header: marker, length, type, then `body`.
pub fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(19 + body.len()).expect("test message fits 16 bits");
    message_with_len(len, msg_type, body)
}

/// A message whose header length field says `len`, whatever the body's size.
pub fn message_with_len(len: u16, msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&len.to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

/// An UPDATE body (RFC 4271 §4.3): Withdrawn Routes Length, Withdrawn Routes, Total Path
/// Attribute Length, Path Attributes, NLRI.
pub fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

/// A whole UPDATE message.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    message(UPDATE, &update_body(withdrawn, attrs, nlri))
}

/// A path attribute: flags, type code, length (two octets when `flags` has the Extended Length
/// bit, else one), value.
pub fn attr(flags: u8, type_code: u8, value: &[u8]) -> Vec<u8> {
    let len = u16::try_from(value.len()).expect("attribute value fits 16 bits");
    attr_with_len(flags, type_code, len, value)
}

/// A path attribute whose length field says `len`, whatever the value's size.
pub fn attr_with_len(flags: u8, type_code: u8, len: u16, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, type_code];
    if flags & EXTENDED != 0 {
        a.extend_from_slice(&len.to_be_bytes());
    } else {
        a.push(u8::try_from(len).expect("one-octet attribute length"));
    }
    a.extend_from_slice(value);
    a
}

/// ORIGIN (RFC 4271 §5.1.1) with `value` (0 IGP, 1 EGP, 2 INCOMPLETE).
pub fn origin(value: u8) -> Vec<u8> {
    attr(WELL_KNOWN, 1, &[value])
}

/// An AS_PATH value of 4-octet AS numbers (RFC 6793): `(segment type, ASes)` per segment.
pub fn as_path_value4(segments: &[(u8, &[u32])]) -> Vec<u8> {
    let mut v = Vec::new();
    for (kind, asns) in segments {
        v.push(*kind);
        v.push(u8::try_from(asns.len()).expect("segment length"));
        for a in *asns {
            v.extend_from_slice(&a.to_be_bytes());
        }
    }
    v
}

/// An AS_PATH value of 2-octet AS numbers (RFC 4271 §4.3).
pub fn as_path_value2(segments: &[(u8, &[u16])]) -> Vec<u8> {
    let mut v = Vec::new();
    for (kind, asns) in segments {
        v.push(*kind);
        v.push(u8::try_from(asns.len()).expect("segment length"));
        for a in *asns {
            v.extend_from_slice(&a.to_be_bytes());
        }
    }
    v
}

/// AS_PATH of one AS_SEQUENCE of 4-octet AS numbers.
pub fn as_path_seq4(asns: &[u32]) -> Vec<u8> {
    attr(WELL_KNOWN, 2, &as_path_value4(&[(2, asns)]))
}

/// AS_PATH of one AS_SEQUENCE of 2-octet AS numbers.
pub fn as_path_seq2(asns: &[u16]) -> Vec<u8> {
    attr(WELL_KNOWN, 2, &as_path_value2(&[(2, asns)]))
}

/// NEXT_HOP (RFC 4271 §5.1.3).
pub fn next_hop(addr: [u8; 4]) -> Vec<u8> {
    attr(WELL_KNOWN, 3, &addr)
}

/// The value of an MP_REACH_NLRI (RFC 4760 §3): AFI, SAFI, next hop length, next hop,
/// reserved octet, NLRI.
pub fn mp_reach_value(afi: u16, safi: u8, nh: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut v = afi.to_be_bytes().to_vec();
    v.push(safi);
    v.push(u8::try_from(nh.len()).expect("next hop length"));
    v.extend_from_slice(nh);
    v.push(0);
    v.extend_from_slice(nlri);
    v
}

/// MP_REACH_NLRI (optional non-transitive; extended length when the value needs it).
pub fn mp_reach(afi: u16, safi: u8, nh: &[u8], nlri: &[u8]) -> Vec<u8> {
    let value = mp_reach_value(afi, safi, nh, nlri);
    let flags = if value.len() > 255 {
        OPT_NON_TRANS | EXTENDED
    } else {
        OPT_NON_TRANS
    };
    attr(flags, 14, &value)
}

/// MP_REACH_NLRI for L2VPN EVPN.
pub fn mp_reach_evpn(nh: &[u8], nlri: &[u8]) -> Vec<u8> {
    mp_reach(AFI_L2VPN, SAFI_EVPN, nh, nlri)
}

/// The value of an MP_UNREACH_NLRI (RFC 4760 §4): AFI, SAFI, withdrawn routes.
pub fn mp_unreach_value(afi: u16, safi: u8, nlri: &[u8]) -> Vec<u8> {
    let mut v = afi.to_be_bytes().to_vec();
    v.push(safi);
    v.extend_from_slice(nlri);
    v
}

/// MP_UNREACH_NLRI (optional non-transitive; extended length when the value needs it).
pub fn mp_unreach(afi: u16, safi: u8, nlri: &[u8]) -> Vec<u8> {
    let value = mp_unreach_value(afi, safi, nlri);
    let flags = if value.len() > 255 {
        OPT_NON_TRANS | EXTENDED
    } else {
        OPT_NON_TRANS
    };
    attr(flags, 15, &value)
}

/// MP_UNREACH_NLRI for L2VPN EVPN.
pub fn mp_unreach_evpn(nlri: &[u8]) -> Vec<u8> {
    mp_unreach(AFI_L2VPN, SAFI_EVPN, nlri)
}

/// EXTENDED_COMMUNITIES (RFC 4360 §2) holding `communities`.
pub fn ext_communities(communities: &[[u8; 8]]) -> Vec<u8> {
    attr(OPT_TRANS, 16, &communities.concat())
}

/// Two-octet-AS route target `asn:value` (RFC 4360 §4: type 0x00, sub-type 0x02).
pub fn ec_route_target(asn: u16, value: u32) -> [u8; 8] {
    let mut c = [0u8; 8];
    c[1] = 0x02;
    c[2..4].copy_from_slice(&asn.to_be_bytes());
    c[4..8].copy_from_slice(&value.to_be_bytes());
    c
}

/// BGP encapsulation extended community (RFC 9012 §4.1: type 0x03, sub-type 0x0c, tunnel type
/// in the last two octets; 8 = VXLAN).
pub fn ec_encapsulation(tunnel_type: u16) -> [u8; 8] {
    let mut c = [0x03, 0x0c, 0, 0, 0, 0, 0, 0];
    c[6..8].copy_from_slice(&tunnel_type.to_be_bytes());
    c
}

/// An IPv6 address specific extended community (RFC 5701 §2): type, sub-type, IPv6 global
/// administrator, 2-octet local administrator.
pub fn ec6(type_high: u8, subtype: u8, addr: [u8; 16], value: u16) -> [u8; 20] {
    let mut c = [0u8; 20];
    c[0] = type_high;
    c[1] = subtype;
    c[2..18].copy_from_slice(&addr);
    c[18..].copy_from_slice(&value.to_be_bytes());
    c
}

/// The IPv6 address specific route target (type 0x00, sub-type 0x02, RFC 5701 §2).
pub fn ec6_route_target(addr: [u8; 16], value: u16) -> [u8; 20] {
    ec6(0x00, 0x02, addr, value)
}

/// EVPN Router's MAC extended community (RFC 9135: type 0x06, sub-type 0x03, MAC).
pub fn ec_router_mac(mac: [u8; 6]) -> [u8; 8] {
    let mut c = [0x06, 0x03, 0, 0, 0, 0, 0, 0];
    c[2..8].copy_from_slice(&mac);
    c
}

/// Type-1 route distinguisher `addr:number` (RFC 4364 §4.2).
pub fn rd_ipv4(addr: [u8; 4], number: u16) -> [u8; 8] {
    let mut rd = [0u8; 8];
    rd[1] = 1;
    rd[2..6].copy_from_slice(&addr);
    rd[6..8].copy_from_slice(&number.to_be_bytes());
    rd
}

/// The 3-octet label field holding `value` (a VNI, RFC 8365 §5.1.3).
pub fn label(value: u32) -> [u8; 3] {
    let b = value.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// One EVPN NLRI: route type, length of `value`, `value` (RFC 7432 §7).
pub fn evpn(route_type: u8, value: &[u8]) -> Vec<u8> {
    evpn_with_len(
        route_type,
        u8::try_from(value.len()).expect("EVPN route length"),
        value,
    )
}

/// One EVPN NLRI whose length octet says `len`, whatever the value's size.
pub fn evpn_with_len(route_type: u8, len: u8, value: &[u8]) -> Vec<u8> {
    let mut r = vec![route_type, len];
    r.extend_from_slice(value);
    r
}

/// Type-1 value (RFC 7432 §7.1): RD, ESI, Ethernet tag, label. 25 octets.
pub fn evpn_type1_value(rd: [u8; 8], esi: [u8; 10], etag: u32, lbl: u32) -> Vec<u8> {
    let mut v = rd.to_vec();
    v.extend_from_slice(&esi);
    v.extend_from_slice(&etag.to_be_bytes());
    v.extend_from_slice(&label(lbl));
    v
}

/// Type-2 value (RFC 7432 §7.2): RD, ESI, Ethernet tag, MAC length (48), MAC, IP length in
/// bits, IP (0, 4 or 16 octets), label 1, optional label 2.
pub fn evpn_type2_value(
    rd: [u8; 8],
    esi: [u8; 10],
    etag: u32,
    mac: [u8; 6],
    ip: &[u8],
    label1: u32,
    label2: Option<u32>,
) -> Vec<u8> {
    let mut v = rd.to_vec();
    v.extend_from_slice(&esi);
    v.extend_from_slice(&etag.to_be_bytes());
    v.push(48);
    v.extend_from_slice(&mac);
    v.push(u8::try_from(ip.len() * 8).expect("IP length in bits"));
    v.extend_from_slice(ip);
    v.extend_from_slice(&label(label1));
    if let Some(l2) = label2 {
        v.extend_from_slice(&label(l2));
    }
    v
}

/// A whole type-2 NLRI.
pub fn evpn_type2(
    rd: [u8; 8],
    esi: [u8; 10],
    etag: u32,
    mac: [u8; 6],
    ip: &[u8],
    label1: u32,
    label2: Option<u32>,
) -> Vec<u8> {
    evpn(2, &evpn_type2_value(rd, esi, etag, mac, ip, label1, label2))
}

/// Type-3 value (RFC 7432 §7.3): RD, Ethernet tag, IP length in bits, originating router IP.
pub fn evpn_type3_value(rd: [u8; 8], etag: u32, ip: &[u8]) -> Vec<u8> {
    let mut v = rd.to_vec();
    v.extend_from_slice(&etag.to_be_bytes());
    v.push(u8::try_from(ip.len() * 8).expect("IP length in bits"));
    v.extend_from_slice(ip);
    v
}

/// Type-4 value (RFC 7432 §7.4): RD, ESI, IP length in bits, originating router IP.
pub fn evpn_type4_value(rd: [u8; 8], esi: [u8; 10], ip: &[u8]) -> Vec<u8> {
    let mut v = rd.to_vec();
    v.extend_from_slice(&esi);
    v.push(u8::try_from(ip.len() * 8).expect("IP length in bits"));
    v.extend_from_slice(ip);
    v
}

/// Type-5 value (RFC 9136 §3.1): RD, ESI, Ethernet tag, prefix length, prefix, gateway IP,
/// label. 34 octets for IPv4, 58 for IPv6.
pub fn evpn_type5_value(
    rd: [u8; 8],
    esi: [u8; 10],
    etag: u32,
    plen: u8,
    prefix: &[u8],
    gw: &[u8],
    lbl: u32,
) -> Vec<u8> {
    let mut v = rd.to_vec();
    v.extend_from_slice(&esi);
    v.extend_from_slice(&etag.to_be_bytes());
    v.push(plen);
    v.extend_from_slice(prefix);
    v.extend_from_slice(gw);
    v.extend_from_slice(&label(lbl));
    v
}

/// An OPEN message (RFC 4271 §4.2) in the classic form: the Optional Parameters Length is
/// `params.len()`.
pub fn open(version: u8, my_as: u16, hold: u16, bgp_id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let opt_len = u8::try_from(params.len()).expect("classic optional parameters fit 255");
    open_with_opt_len(version, my_as, hold, bgp_id, opt_len, params)
}

/// An OPEN whose Optional Parameters Length octet says `opt_len`.
pub fn open_with_opt_len(
    version: u8,
    my_as: u16,
    hold: u16,
    bgp_id: [u8; 4],
    opt_len: u8,
    params: &[u8],
) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&bgp_id);
    b.push(opt_len);
    b.extend_from_slice(params);
    message(OPEN, &b)
}

/// An OPEN in the RFC 9072 §2 extended form: Non-Ext OP Len 255, Non-Ext OP Type 255, a
/// two-octet Extended Opt. Parm. Length, then `params` (built with [`param_ext`]).
pub fn open_extended(
    version: u8,
    my_as: u16,
    hold: u16,
    bgp_id: [u8; 4],
    params: &[u8],
) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&bgp_id);
    b.push(255);
    b.push(255);
    b.extend_from_slice(&u16::try_from(params.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(params);
    message(OPEN, &b)
}

/// A classic optional parameter: type, one-octet length, value.
pub fn param(ptype: u8, value: &[u8]) -> Vec<u8> {
    let mut p = vec![ptype, u8::try_from(value.len()).expect("parameter length")];
    p.extend_from_slice(value);
    p
}

/// An RFC 9072 optional parameter: type, two-octet length, value.
pub fn param_ext(ptype: u8, value: &[u8]) -> Vec<u8> {
    let mut p = vec![ptype];
    p.extend_from_slice(&u16::try_from(value.len()).expect("fits").to_be_bytes());
    p.extend_from_slice(value);
    p
}

/// A capability TLV (RFC 5492 §4): code, one-octet length, value.
pub fn cap(code: u8, value: &[u8]) -> Vec<u8> {
    let mut c = vec![code, u8::try_from(value.len()).expect("capability length")];
    c.extend_from_slice(value);
    c
}

/// Multiprotocol capability (RFC 4760 §8): AFI, reserved, SAFI.
pub fn cap_mp(afi: u16, safi: u8) -> Vec<u8> {
    let a = afi.to_be_bytes();
    cap(1, &[a[0], a[1], 0, safi])
}

/// 4-octet AS capability (RFC 6793 §3).
pub fn cap_as4(asn: u32) -> Vec<u8> {
    cap(65, &asn.to_be_bytes())
}

/// Overwrites the big-endian 16-bit field at `at`.
pub fn set_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}
