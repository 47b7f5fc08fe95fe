//! Path attribute decoding: the input bytes are the path attribute section of an UPDATE (with
//! an arbitrary session context, and optionally a withdrawn route and an announced IPv4
//! route around it), decoded through the public API; accepted UPDATEs must round-trip.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use evpnd_wire::{CodecContext, Family};
use evpnd_wire_fuzz::{check_decode, check_round_trip, finish, header, take_context};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Default)]
struct Shape {
    /// Put 198.51.100.0/24 in the Withdrawn Routes field.
    withdrawn: bool,
    /// Put 203.0.113.0/24 in the NLRI field (so the mandatory attributes are required).
    nlri: bool,
}

fn prefix(ctx: &CodecContext, out: &mut Vec<u8>, octets: [u8; 3]) {
    if ctx.has_path_id(Family::IPV4_UNICAST) {
        out.extend_from_slice(&[0, 0, 0, 1]);
    }
    out.push(24);
    out.extend_from_slice(&octets);
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let ctx = take_context(&mut u);
    let shape = Shape::arbitrary(&mut u).unwrap_or_default();
    let attrs = u.take_rest();

    let mut m = Vec::new();
    header(&mut m, 2);
    let mut withdrawn = Vec::new();
    if shape.withdrawn {
        prefix(&ctx, &mut withdrawn, [198, 51, 100]);
    }
    let mut nlri = Vec::new();
    if shape.nlri {
        prefix(&ctx, &mut nlri, [203, 0, 113]);
    }
    m.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    m.extend_from_slice(&withdrawn);
    let room = ctx
        .max_message_len()
        .saturating_sub(m.len() + 2 + nlri.len());
    let attrs = &attrs[..attrs.len().min(room)];
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(attrs);
    m.extend_from_slice(&nlri);
    finish(&mut m);

    if let Ok(d) = check_decode(&ctx, &m) {
        check_round_trip(&ctx, &d);
    }
});
