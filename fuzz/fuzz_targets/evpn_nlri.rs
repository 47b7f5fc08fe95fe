//! EVPN NLRI decoding: the input bytes become the NLRI of an MP_REACH_NLRI (or MP_UNREACH_NLRI)
//! of L2VPN/EVPN in an otherwise valid UPDATE, decoded through the public API.
//!
//! Besides not panicking: when the routes parse, re-encoding them must give back exactly the
//! input bytes (every EVPN route has a single encoding, RFC 7432 §7, RFC 9136 §3.1), and an
//! accepted UPDATE must round-trip.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use evpnd_wire::{CodecContext, Family, Message, Outcome};
use evpnd_wire_fuzz::{check_decode, check_round_trip, finish, header, take_context};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Default)]
struct Shape {
    /// Withdraw (MP_UNREACH_NLRI) instead of announce (MP_REACH_NLRI).
    unreach: bool,
    /// IPv6 next hop (16 bytes) instead of IPv4.
    ipv6_next_hop: bool,
}

/// The UPDATE carrying `nlri` (cut to fit the session's maximum size); returns the message and
/// the NLRI bytes actually used.
fn evpn_update<'a>(ctx: &CodecContext, shape: &Shape, nlri: &'a [u8]) -> (Vec<u8>, &'a [u8]) {
    let mut m = Vec::new();
    header(&mut m, 2);
    m.extend_from_slice(&[0, 0, 0, 0]); // no withdrawn routes; attribute length patched below
    let mp_type = if shape.unreach { 15 } else { 14 };
    m.extend_from_slice(&[0x90, mp_type, 0, 0]);
    let mp_len_at = m.len() - 2;
    let mp_body = m.len();
    m.extend_from_slice(&[0, 25, 70]); // L2VPN / EVPN
    if !shape.unreach {
        if shape.ipv6_next_hop {
            m.push(16);
            m.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        } else {
            m.extend_from_slice(&[4, 198, 18, 0, 1]);
        }
        m.push(0); // reserved
    }
    let tail: &[u8] = if shape.unreach {
        &[]
    } else {
        // ORIGIN IGP, empty AS_PATH (RFC 4271 §5.1.1, §5.1.2).
        &[0x40, 1, 1, 0, 0x40, 2, 0]
    };
    let room = ctx.max_message_len().saturating_sub(m.len() + tail.len());
    let used = &nlri[..nlri.len().min(room)];
    m.extend_from_slice(used);
    let mp_len = u16::try_from(m.len() - mp_body).unwrap_or(u16::MAX);
    m[mp_len_at..mp_len_at + 2].copy_from_slice(&mp_len.to_be_bytes());
    m.extend_from_slice(tail);
    let tal = u16::try_from(m.len() - 23).unwrap_or(u16::MAX);
    m[21..23].copy_from_slice(&tal.to_be_bytes());
    finish(&mut m);
    (m, used)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let ctx = take_context(&mut u);
    let shape = Shape::arbitrary(&mut u).unwrap_or_default();
    let (msg, used) = evpn_update(&ctx, &shape, u.take_rest());
    let Ok(d) = check_decode(&ctx, &msg) else {
        return;
    };
    check_round_trip(&ctx, &d);
    let Message::Update(up) = &d.message else {
        panic!("an UPDATE decoded as {:?}", d.message.message_type());
    };
    if matches!(d.outcome, Outcome::AfiSafiDisable { .. }) {
        return;
    }
    let (routes, skipped) = match (&up.mp_reach, &up.mp_unreach) {
        (Some(r), None) if !shape.unreach => (&r.nlri, r.skipped_routes),
        (None, Some(w)) if shape.unreach => (&w.nlri, w.skipped_routes),
        _ => panic!("MP attribute missing from a parsed EVPN UPDATE"),
    };
    assert!(routes
        .iter()
        .all(|n| n.route.family() == Family::L2VPN_EVPN));
    let with_id = ctx.has_path_id(Family::L2VPN_EVPN);
    assert!(routes.iter().all(|n| n.path_id.is_some() == with_id));
    if skipped == 0 {
        let mut again = Vec::with_capacity(used.len());
        for n in routes {
            n.encode(&mut again);
        }
        assert_eq!(again, used, "EVPN NLRI re-encode differently");
    }
});
