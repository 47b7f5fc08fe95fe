//! The seed corpus of the target ([`seeds`]), the check that every seed does what it is
//! meant to, and the replay of a crashing input with a trace.

use super::{keepalive, malformed_update, Op, Setup, SETUP_LEN};

/// The seed corpus of the target: (name, input). Written to `corpus/node_receive/` by
/// `cargo test --lib -- --ignored write_node_receive_seeds` (see the README).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let concat = |setup: &Setup, params: &[[u8; 4]]| {
        let mut b = Vec::new();
        for p in params {
            b.extend_from_slice(&setup.generated_update(*p));
        }
        b
    };
    let input = |bytes: [u8; SETUP_LEN], ops: &[Op<'_>]| {
        let mut v = bytes.to_vec();
        for op in ops {
            op.encode(&mut v);
        }
        v
    };

    // iBGP, EVPN + RT-Constraint, route refresh, graceful restart, two EVIs, two local
    // endpoints (one with an IP): a valid stream of type-3 and type-2 routes split in the middle
    // of a message, time, a withdrawal and End-of-RIB.
    let b = [
        0,
        0,
        1,
        0b0011,
        0b0011,
        0,
        0,
        0b0000_1010,
        0,
        2,
        2,
        0b0000_0100,
        0,
    ];
    let s = Setup::from_bytes(&b);
    let mut stream = concat(
        &s,
        &[
            [3, 0, 0, 0],          // type-3, VNI 100, VTEP .2
            [3, 1, 1, 0],          // type-3, VNI 200, VTEP .3
            [0, 2 << 2, 0, 0],     // MAC 3, VNI 100, VTEP .2
            [1, 1 | 3 << 2, 1, 0], // MAC 4 + 192.0.2.4, VNI 200, VTEP .3
            [4, 0, 0, 0],          // RT-Constraint membership
        ],
    );
    stream.extend_from_slice(&keepalive());
    let (a, rest) = stream.split_at(stream.len() / 2 + 3);
    let mut tail = concat(&s, &[[8, 2 << 2, 0, 0], [7, 0, 0, 0]]);
    tail.extend_from_slice(&keepalive());
    out.push((
        "ibgp-evpn-stream",
        input(
            b,
            &[
                Op::LongBytes(a),
                Op::LongBytes(rest),
                Op::Wait(0x40 | 30),
                Op::LongBytes(&tail),
                Op::Wait(0x40 | 60),
            ],
        ),
    ));

    // eBGP, our AS 4-octet, the peer's 2-octet (no 4-octet AS capability), EVPN + IPv4 with
    // ADD-PATH receive; the peer sends EVPN and both IPv4: two paths of one MAC route.
    let b = [
        1,
        1,
        0,
        0b0101,
        0b0101,
        0b0101,
        0b0011_0010,
        0b0000_1000,
        0,
        1,
        1,
        0,
        0,
    ];
    let s = Setup::from_bytes(&b);
    let stream = concat(
        &s,
        &[
            [3, 0, 0, 0],
            [0, 1 << 2, 4, 0],              // MAC 2 from VTEP .2, shared RD, path 1
            [0, 1 << 2, 4 | 1 | 1 << 3, 0], // the same route from VTEP .3, path 2
            [0x45, 0, 0, 7],                // IPv4 203.0.113.0/32 (mobility bit ignored)
            [0, 0, 0, 0],                   // MAC 1: the local endpoint's, sequence 0
            [0x40, 0, 1 | 2 << 3, 3],       // MAC 1 again with sequence 3: it moves
        ],
    );
    out.push(("ebgp-2octet-add-path", input(b, &[Op::Rest(&stream)])));

    // A valid type-2 route, then a malformed UPDATE: NOTIFICATION and close; the peer
    // reconnects and sends a message with a broken marker.
    let b = [0, 0, 1, 0b0001, 0b0001, 0, 0, 0, 0, 1, 0, 0, 0];
    let s = Setup::from_bytes(&b);
    let mut stream = concat(&s, &[[0, 3 << 2, 0, 0]]);
    stream.extend_from_slice(&malformed_update());
    let mut broken = keepalive();
    broken[3] = 0;
    out.push((
        "malformed-update",
        input(
            b,
            &[
                Op::Bytes(&stream),
                Op::Wait(0x40 | 5),
                Op::Reconnect,
                Op::Rest(&broken),
            ],
        ),
    ));

    // Graceful restart: routes, the peer's TCP connection drops (routes kept stale), it comes
    // back, sends part of its table and End-of-RIB (the rest is purged, RFC 4724 §4.2).
    let b = [
        0,
        0,
        1,
        0b0001,
        0b0001,
        0,
        0,
        0b0000_0010,
        0,
        1,
        1,
        0b0000_0100,
        0,
    ];
    let s = Setup::from_bytes(&b);
    let first = concat(&s, &[[3, 0, 0, 0], [0, 2 << 2, 0, 0], [0, 3 << 2, 1, 0]]);
    let again = concat(&s, &[[0, 2 << 2, 0, 0], [7, 0, 0, 0]]);
    out.push((
        "graceful-restart",
        input(
            b,
            &[
                Op::LongBytes(&first),
                Op::PeerCloses,
                Op::Wait(0x40 | 10),
                Op::Reconnect,
                Op::LongBytes(&again),
                Op::Wait(0x40 | 60),
            ],
        ),
    ));

    // The generator and local MACs interleaved, hold time 9 s without keepalives from the
    // peer: the hold timer expires (RFC 4271 §6.5), the peer reconnects.
    let b = [0, 0, 1, 0b1111, 0b1111, 0, 0, 0b0001_1100, 3, 2, 0, 0, 0];
    out.push((
        "generated-and-hold-timer",
        input(
            b,
            &[
                Op::Generated([3, 0, 0, 0]),
                Op::Generated([0, 0, 0, 0]),
                Op::LocalMac(0x20),
                Op::Generated([0x40, 0, 1, 9]),
                Op::Generated([0x62, 1 | 5 << 2, 3, 1]),
                Op::Generated([6, 3 << 2, 0, 0]),
                Op::LocalMac(0x80),
                Op::Wait(0x40 | 20),
                Op::Reconnect,
                Op::Generated([0x0b, 0, 0, 0]),
            ],
        ),
    ));

    // A local MAC claimed sticky by the peer (RFC 7432 §15.2) three times over, the session
    // broken each time by a bad marker: the moves make it a duplicate, frozen at the peer's
    // VTEP although its route is gone (RFC 7432 §15.1), until the freeze ends 180 s later.
    let b = [
        0,
        0,
        1,
        0b1111,
        0b1111,
        0,
        0,
        0b0001_1100,
        3,
        2,
        1,
        0b0010_0000,
        0,
    ];
    let mut broken = keepalive();
    broken[0] = 0;
    let mut ops = Vec::new();
    for _ in 0..3 {
        ops.extend([
            Op::Generated([0x62, 1, 0, 0]),
            Op::Bytes(&broken),
            Op::Reconnect,
        ]);
    }
    ops.push(Op::Wait(0xc0 | 4));
    out.push(("frozen-duplicate", input(b, &ops)));

    // eBGP with BGP Roles (RFC 9234): we are the provider, the peer announces customer, strict
    // mode; IPv4 and IPv6 unicast with and without Only-to-Customer: a route from a customer
    // that carries OTC is a leak (§5).
    let b = [1, 0, 1, 0b1100, 0b1100, 0, 0, 0, 0, 0, 0, 0, 1 | 8 | 16];
    out.push((
        "ebgp-roles-otc",
        input(
            b,
            &[
                Op::Generated([5, 0, 0, 3]),      // 203.0.113.0/32, OTC = the peer's AS
                Op::Generated([5, 1 << 2, 0, 0]), // 203.0.113.1/32, no OTC
                Op::Generated([6, 0, 0, 1]),      // 2001:db8:113::/128, OTC = 65500
                Op::Generated([0x0d, 0, 0, 0]),   // withdraw 203.0.113.0/32
            ],
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_receive::peer::ip_prefix;
    use crate::node_receive::Harness;
    use arbitrary::Unstructured;
    use evpnd_evpn::Location;
    use evpnd_wire::{decode_message, Family, Route};
    use std::net::{IpAddr, Ipv4Addr};

    fn play(input: &[u8]) -> Harness {
        let mut u = Unstructured::new(input);
        let mut h = Harness::new(Setup::take(&mut u));
        while let Some(op) = Op::take(&mut u) {
            h.step(op);
        }
        h
    }

    #[test]
    fn every_seed_runs_clean_and_does_what_it_says() {
        for (name, input) in seeds() {
            let h = play(&input);
            let macs = h.node().macs(0).map(|m| m.len()).unwrap_or(0);
            match name {
                "ibgp-evpn-stream" => {
                    assert!(h.is_established(), "{name}");
                    // Two local MACs and MAC 4 remote (MAC 3 was withdrawn).
                    assert_eq!(macs, 3, "{name}");
                    assert_eq!(h.node().flood(0).unwrap_or_default().len(), 2);
                }
                "ebgp-2octet-add-path" => {
                    assert!(h.is_established(), "{name}");
                    let paths = h
                        .node()
                        .rib()
                        .loc_rib(Family::L2VPN_EVPN)
                        .map(|(_, p)| p.len())
                        .max();
                    assert_eq!(paths, Some(2), "{name}: two paths of one route");
                }
                "malformed-update" => assert!(!h.is_established(), "{name}"),
                "graceful-restart" => {
                    assert!(h.is_established(), "{name}");
                    // Local MAC 1 and remote MAC 3 (MAC 4 was purged with End-of-RIB).
                    assert_eq!(macs, 2, "{name}");
                }
                "generated-and-hold-timer" => assert!(h.is_established(), "{name}"),
                "ebgp-roles-otc" => {
                    assert!(h.is_established(), "{name}");
                    let v4: Vec<Route> = h
                        .node()
                        .rib()
                        .loc_rib(Family::IPV4_UNICAST)
                        .map(|(r, _)| r)
                        .collect();
                    let clean =
                        Route::Ipv4(ip_prefix(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 32));
                    assert_eq!(v4, vec![clean], "{name}: the leak is not selected");
                }
                "frozen-duplicate" => {
                    let status = h.node().evpn_status();
                    let counters = status.map(|s| s.counters);
                    assert_eq!(counters.map(|c| (c.duplicate, c.unfrozen)), Some((1, 1)));
                    let table = h.node().macs(200).unwrap_or_default();
                    assert!(table.iter().all(|m| m.origin == Location::Local), "{name}");
                }
                _ => {}
            }
        }
    }

    /// Plays the input in the file `$NODE_RECEIVE_INPUT` (a crash artifact) and prints every
    /// operation with the MAC tables and events after it.
    #[test]
    #[ignore]
    fn replay_with_a_trace() {
        let Ok(path) = std::env::var("NODE_RECEIVE_INPUT") else {
            return;
        };
        let input = std::fs::read(path).unwrap_or_else(|e| panic!("{e}"));
        let mut u = Unstructured::new(&input);
        let setup = Setup::take(&mut u);
        eprintln!("{setup:#?}");
        let mut h = Harness::new(setup);
        eprintln!("established; macs {:?}", h.node().macs(0));
        while let Some(op) = Op::take(&mut u) {
            eprintln!("---- {op:?}");
            if let Op::Generated(p) = op {
                let bytes = h.setup.generated_update(p);
                eprintln!("{:?}", decode_message(&h.rx, &bytes).map(|d| d.message));
            }
            h.trace = true;
            h.step(op);
            for m in h.node().macs(0).unwrap_or_default() {
                eprintln!(
                    "  mac {} vni {} {} seq {} sticky {} dup {:?} conflict {}",
                    m.mac, m.vni, m.origin, m.sequence, m.sticky, m.duplicate, m.sticky_conflict
                );
            }
        }
    }

    /// Rewrites `corpus/node_receive/` from [`seeds`].
    #[test]
    #[ignore]
    fn write_node_receive_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/node_receive");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        for (name, input) in seeds() {
            std::fs::write(dir.join(name), input).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
