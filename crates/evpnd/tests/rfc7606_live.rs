//! RFC 7606 on a live session (issue #3): raw-socket test peers send malformed UPDATEs to a
//! real evpnd and a third peer watches what evpnd advertises.
//!
//! Topology (all on loopback, evpnd connects to each raw peer, connect-retry 0.2 s):
//!
//! ```text
//!   A-ebgp (AS 65002) ─┐
//!                      ├── evpnd (AS 65001, router id 198.19.7.1) ── B (AS 65003, watcher)
//!   A-ibgp (AS 65001) ─┘
//! ```
//!
//! Each A holds an anchor route R0 for the whole run (re-announced after every reset). Every
//! case of the table sends one malformed UPDATE (or message) carrying route Rn, then checks
//! evpnd's API and what B received:
//!
//! * treat-as-withdraw: the session stays up, Rn is not installed (and, when it was installed
//!   first with good attributes, it is withdrawn from evpnd and B gets the withdrawal), R0
//!   stays; a good "sentinel" UPDATE sent after the bad one proves that evpnd has processed it;
//! * attribute-discard: the session stays up and Rn is installed without the bad attribute;
//! * reset: A gets a NOTIFICATION with exactly the code, subcode and data RFC 4271 §6 / RFC 7606
//!   name, the connection closes, A's routes are withdrawn from B, and evpnd reconnects;
//! * AFI/SAFI disable (evpnd's documented choice, crates/bgp/src/rib/adj_in.rs: the session
//!   stays up, every EVPN route of the peer is dropped and later EVPN routes from it are ignored
//!   until the session restarts).
//!
//! Finally an unknown optional transitive attribute reaches B with the Partial bit set and an
//! unknown optional non-transitive one does not reach B at all (RFC 4271 §5, §9.1.2.2 (d)).
//!
//! Malformed messages are built byte by byte with the RFC-layout builders of the wire crate's
//! tests (`crates/wire/tests/common/build.rs`), never with evpnd's encoder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../wire/tests/common/build.rs"]
mod build;
mod common;

use build::{
    as_path_seq4, as_path_value4, attr, attr_with_len, ec_encapsulation, ec_route_target,
    ec_router_mac, evpn, evpn_type2_value, evpn_type5_value, ext_communities, message,
    message_with_len, mp_reach_evpn, mp_unreach_evpn, next_hop, origin, rd_ipv4, update, KEEPALIVE,
    OPTIONAL, OPT_NON_TRANS, OPT_TRANS, ROUTE_REFRESH, UPDATE, WELL_KNOWN,
};
use common::{free_port, wait_until, Daemon};
use evpnd_api::v1;
use evpnd_lab::RawPeer;
use evpnd_wire::{
    Esi, EvpnRoute, Family, IpPrefixRoute, Label, MacAddress, MacIpRoute, Message, Notification,
    Open, Outcome, PathAttribute, Route, RouteDistinguisher, Update,
};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Bound of every single wait.
const T: Duration = Duration::from_secs(5);
/// Our AS (evpnd's).
const LOCAL_AS: u32 = 65001;
/// evpnd's router id (and cluster id).
const ROUTER_ID: [u8; 4] = [198, 19, 7, 1];

/// One raw peer of the topology.
#[derive(Clone, Copy, Debug)]
struct Spec {
    name: &'static str,
    /// Neighbour address (the raw peer listens there).
    ip: Ipv4Addr,
    asn: u32,
    router_id: [u8; 4],
    /// The VTEP, sent as MP_REACH next hop.
    vtep: [u8; 4],
}

impl Spec {
    fn external(&self) -> bool {
        self.asn != LOCAL_AS
    }
}

const A_E: Spec = Spec {
    name: "A-ebgp",
    ip: Ipv4Addr::new(127, 0, 76, 1),
    asn: 65002,
    router_id: [198, 19, 7, 2],
    vtep: [198, 18, 7, 2],
};
const A_I: Spec = Spec {
    name: "A-ibgp",
    ip: Ipv4Addr::new(127, 0, 76, 2),
    asn: LOCAL_AS,
    router_id: [198, 19, 7, 3],
    vtep: [198, 18, 7, 3],
};
const B: Spec = Spec {
    name: "B",
    ip: Ipv4Addr::new(127, 0, 76, 3),
    asn: 65003,
    router_id: [198, 19, 7, 4],
    vtep: [198, 18, 7, 4],
};

/// Which A a case uses.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Side {
    /// eBGP A.
    E,
    /// iBGP A.
    I,
}

impl Side {
    fn spec(self) -> Spec {
        match self {
            Side::E => A_E,
            Side::I => A_I,
        }
    }
}

/// The kind of route Rn is.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Type-2 MAC/IP, label 100.
    Mac,
    /// Type-5 IPv4 prefix 198.51.100.0/24, gateway 0.0.0.0, this label.
    Prefix(u32),
}

/// Route number `n` of `spec`: its typed form (for comparisons) and its NLRI bytes (built from
/// RFC 7432 §7.2 / RFC 9136 §3.1 layouts). The RD is `router-id:n`, so routes of different
/// peers and numbers never collide.
fn route(spec: Spec, n: u16, kind: Kind) -> (Route, Vec<u8>) {
    let rd_bytes = rd_ipv4(spec.router_id, n);
    let rd = RouteDistinguisher::ipv4(Ipv4Addr::from(spec.router_id), n);
    match kind {
        Kind::Mac => {
            let [hi, lo] = n.to_be_bytes();
            let mac = [0x02, 0, 0x07, spec.router_id[3], hi, lo];
            let ip = [203, 0, 113, (n % 250) as u8 + 1];
            let nlri = evpn(
                2,
                &evpn_type2_value(rd_bytes, [0; 10], 0, mac, &ip, 100, None),
            );
            let r = Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: MacAddress(mac),
                ip: Some(IpAddr::from(ip)),
                label1: Label::from_raw(100),
                label2: None,
            }));
            (r, nlri)
        }
        Kind::Prefix(label) => {
            let nlri = evpn(
                5,
                &evpn_type5_value(
                    rd_bytes,
                    [0; 10],
                    0,
                    24,
                    &[198, 51, 100, 0],
                    &[0, 0, 0, 0],
                    label,
                ),
            );
            let r = Route::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                prefix_len: 24,
                prefix: IpAddr::from([198, 51, 100, 0]),
                gateway: IpAddr::from([0, 0, 0, 0]),
                label: Label::from_raw(label),
            }));
            (r, nlri)
        }
    }
}

/// The RD of route `n` of `spec` as evpnd's API prints it.
fn rd_text(spec: Spec, n: u16) -> String {
    format!("{}:{n}", Ipv4Addr::from(spec.router_id))
}

/// Indices in [`good_attrs`].
const MP: usize = 0;
const ORIGIN: usize = 1;
const AS_PATH: usize = 2;
const EXT: usize = 3;
const LOCAL_PREF: usize = 4;

/// A well-formed attribute list announcing `nlri` from `spec`, MP_REACH_NLRI first (RFC 7606
/// §5.1): ORIGIN IGP, AS_PATH (the peer's AS over eBGP, empty over iBGP), route target
/// 65000:100 and VXLAN encapsulation, and LOCAL_PREF 200 over iBGP.
fn good_attrs(spec: Spec, nlri: &[u8]) -> Vec<Vec<u8>> {
    let mut v = vec![
        mp_reach_evpn(&spec.vtep, nlri),
        origin(0),
        if spec.external() {
            as_path_seq4(&[spec.asn])
        } else {
            attr(WELL_KNOWN, 2, &[])
        },
        ext_communities(&[ec_route_target(65000, 100), ec_encapsulation(8)]),
    ];
    if !spec.external() {
        v.push(attr(WELL_KNOWN, 5, &200u32.to_be_bytes()));
    }
    v
}

/// An UPDATE with these attributes and nothing else.
fn update_of(attrs: &[Vec<u8>]) -> Vec<u8> {
    update(&[], &attrs.concat(), &[])
}

/// What a case's builder gets.
struct Env {
    spec: Spec,
    /// Rn's NLRI bytes.
    nlri: Vec<u8>,
}

impl Env {
    /// The good attributes of Rn, changed by `f`, as an UPDATE.
    fn with(&self, f: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
        let mut a = good_attrs(self.spec, &self.nlri);
        f(&mut a);
        update_of(&a)
    }
}

/// What evpnd shows of an installed Rn: the best path in its API, and the UPDATE B got.
struct Seen<'a> {
    path: &'a v1::Path,
    at_b: &'a Update,
}

type Check = fn(&Seen) -> Result<(), String>;

/// Builds a case's message from Rn.
type Builder = Box<dyn Fn(&Env) -> Vec<u8>>;

/// The expected outcome of a case.
enum Expect {
    /// Treat-as-withdraw (RFC 7606 §2).
    Withdraw,
    /// Attribute discard: Rn installed; the check looks at what was kept.
    Discard(Check),
    /// Session reset with exactly this NOTIFICATION.
    Reset {
        code: u8,
        subcode: u8,
        data: Vec<u8>,
    },
    /// AFI/SAFI disable as evpnd implements it.
    Disable,
}

impl Expect {
    fn category(&self) -> &'static str {
        match self {
            Expect::Withdraw => "treat-as-withdraw",
            Expect::Discard(_) => "attribute-discard",
            Expect::Reset { .. } => "reset",
            Expect::Disable => "afi-safi-disable",
        }
    }
}

struct Case {
    name: &'static str,
    /// Where the expected action comes from.
    rfc: &'static str,
    side: Side,
    kind: Kind,
    /// Announce Rn with good attributes first (treat-as-withdraw must then remove it).
    preinstall: bool,
    build: Builder,
    expect: Expect,
}

fn case(
    name: &'static str,
    rfc: &'static str,
    side: Side,
    preinstall: bool,
    build: impl Fn(&Env) -> Vec<u8> + 'static,
    expect: Expect,
) -> Case {
    Case {
        name,
        rfc,
        side,
        kind: Kind::Mac,
        preinstall,
        build: Box::new(build),
        expect,
    }
}

fn reset(code: u8, subcode: u8, data: &[u8]) -> Expect {
    Expect::Reset {
        code,
        subcode,
        data: data.to_vec(),
    }
}

fn has_attr(u: &Update, type_code: u8) -> bool {
    u.attribute(type_code).is_some()
}

fn as_path_of(u: &Update) -> Vec<u32> {
    match u.attribute(2) {
        Some(PathAttribute::AsPath(p)) => p.segments.iter().flat_map(|s| s.asns.clone()).collect(),
        _ => Vec::new(),
    }
}

fn ensure(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

/// The whole table. Expectations come from the RFC text named in `rfc`; NOTIFICATION data is
/// what RFC 4271 §6.1/§6.3 (or RFC 6608, RFC 7313) puts there, empty where no data is
/// specified.
fn cases() -> Vec<Case> {
    use Side::{E, I};
    let rt = |v: u32| ec_route_target(65000, v);
    let unknown_well_known = attr(WELL_KNOWN, 250, &[1, 2]);
    let uwk = unknown_well_known.clone();
    let rr_borr_bad_len = message(ROUTE_REFRESH, &[0, 25, 1, 70, 0]);
    let rr = rr_borr_bad_len.clone();
    vec![
        // ---- treat-as-withdraw ----
        case(
            "missing ORIGIN",
            "7606 §3(d)",
            E,
            true,
            |e| {
                e.with(|a| {
                    a.remove(ORIGIN);
                })
            },
            Expect::Withdraw,
        ),
        case(
            "missing AS_PATH",
            "7606 §3(d)",
            E,
            false,
            |e| {
                e.with(|a| {
                    a.remove(AS_PATH);
                })
            },
            Expect::Withdraw,
        ),
        case(
            "ORIGIN length 2",
            "7606 §7.1",
            E,
            true,
            |e| e.with(|a| a[ORIGIN] = attr(WELL_KNOWN, 1, &[0, 0])),
            Expect::Withdraw,
        ),
        case(
            "ORIGIN value 3",
            "7606 §7.1",
            E,
            false,
            |e| e.with(|a| a[ORIGIN] = attr(WELL_KNOWN, 1, &[3])),
            Expect::Withdraw,
        ),
        case(
            "ORIGIN with flags 0xc0 (O/T conflict)",
            "7606 §3(c)",
            E,
            false,
            |e| e.with(|a| a[ORIGIN] = attr(OPT_TRANS, 1, &[0])),
            Expect::Withdraw,
        ),
        case(
            "AS_PATH segment type 5",
            "7606 §7.2",
            E,
            true,
            |e| e.with(|a| a[AS_PATH] = attr(WELL_KNOWN, 2, &as_path_value4(&[(5, &[65002])]))),
            Expect::Withdraw,
        ),
        case(
            "AS_PATH segment of 0 ASes",
            "7606 §7.2",
            E,
            false,
            |e| e.with(|a| a[AS_PATH] = attr(WELL_KNOWN, 2, &[2, 0])),
            Expect::Withdraw,
        ),
        case(
            "AS_PATH not starting with the peer AS",
            "7606 §7.2",
            E,
            true,
            |e| e.with(|a| a[AS_PATH] = as_path_seq4(&[65099])),
            Expect::Withdraw,
        ),
        case(
            "AS_CONFED_SEQUENCE from eBGP",
            "5065 §5 + 7606 §7.2",
            E,
            false,
            |e| {
                e.with(|a| {
                    a[AS_PATH] = attr(
                        WELL_KNOWN,
                        2,
                        &as_path_value4(&[(3, &[65010]), (2, &[65002])]),
                    )
                })
            },
            Expect::Withdraw,
        ),
        case(
            "MULTI_EXIT_DISC length 3",
            "7606 §7.4",
            E,
            false,
            |e| e.with(|a| a.push(attr(OPT_NON_TRANS, 4, &[0, 0, 1]))),
            Expect::Withdraw,
        ),
        case(
            "COMMUNITIES length 6",
            "7606 §7.8",
            E,
            true,
            |e| e.with(|a| a.push(attr(OPT_TRANS, 8, &[0xfd, 0xea, 0, 1, 0, 2]))),
            Expect::Withdraw,
        ),
        case(
            "EXTENDED_COMMUNITIES length 12",
            "7606 §7.14",
            E,
            false,
            move |e| {
                e.with(|a| {
                    a[EXT] = attr(OPT_TRANS, 16, &[&rt(100)[..], &[0u8, 2, 0, 0][..]].concat())
                })
            },
            Expect::Withdraw,
        ),
        case(
            "LARGE_COMMUNITY length 8",
            "8092 §6",
            E,
            false,
            |e| e.with(|a| a.push(attr(OPT_TRANS, 32, &[0, 0, 0xfd, 0xea, 0, 0, 0, 1]))),
            Expect::Withdraw,
        ),
        case(
            "ORIGINATOR_ID length 5 from iBGP",
            "7606 §7.9",
            I,
            true,
            |e| e.with(|a| a.push(attr(OPT_NON_TRANS, 9, &[198, 19, 7, 9, 0]))),
            Expect::Withdraw,
        ),
        case(
            "CLUSTER_LIST length 6 from iBGP",
            "7606 §7.10",
            I,
            false,
            |e| e.with(|a| a.push(attr(OPT_NON_TRANS, 10, &[198, 19, 7, 9, 0, 0]))),
            Expect::Withdraw,
        ),
        case(
            "LOCAL_PREF length 3 from iBGP",
            "7606 §7.5",
            I,
            true,
            |e| e.with(|a| a[LOCAL_PREF] = attr(WELL_KNOWN, 5, &[0, 0, 200])),
            Expect::Withdraw,
        ),
        case(
            "attribute overrun after MP_REACH_NLRI",
            "7606 §4",
            E,
            true,
            |e| e.with(|a| a.push(attr_with_len(OPT_TRANS, 8, 200, &[0xfd, 0xea, 0, 1]))),
            Expect::Withdraw,
        ),
        Case {
            kind: Kind::Prefix(0),
            ..case(
                "type-5 with no overlay index and label 0",
                "9136 §3.2",
                E,
                false,
                |e| e.with(|_| {}),
                Expect::Withdraw,
            )
        },
        Case {
            kind: Kind::Prefix(5000),
            ..case(
                "type-5 with a multicast Router's MAC",
                "9136 §3.2",
                E,
                true,
                move |e| {
                    e.with(|a| {
                        a[EXT] = ext_communities(&[
                            rt(100),
                            ec_encapsulation(8),
                            ec_router_mac([0x01, 0, 0x5e, 0, 0, 1]),
                        ])
                    })
                },
                Expect::Withdraw,
            )
        },
        // ---- attribute discard ----
        case(
            "ATOMIC_AGGREGATE length 1",
            "7606 §7.6",
            E,
            false,
            |e| e.with(|a| a.push(attr(WELL_KNOWN, 6, &[0]))),
            Expect::Discard(|s| ensure(!has_attr(s.at_b, 6), "B got ATOMIC_AGGREGATE")),
        ),
        case(
            "AGGREGATOR length 7 (4-octet session)",
            "7606 §7.7",
            E,
            false,
            |e| e.with(|a| a.push(attr(OPT_TRANS, 7, &[0, 0, 0xfd, 0xea, 198, 19, 7]))),
            Expect::Discard(|s| ensure(!has_attr(s.at_b, 7), "B got AGGREGATOR")),
        ),
        case(
            "LOCAL_PREF 300 from eBGP",
            "7606 §7.5",
            E,
            false,
            |e| e.with(|a| a.push(attr(WELL_KNOWN, 5, &300u32.to_be_bytes()))),
            Expect::Discard(|s| {
                ensure(
                    s.path.local_pref == 100,
                    format!(
                        "local_pref {} (the default 100 expected)",
                        s.path.local_pref
                    ),
                )
            }),
        ),
        case(
            "LOCAL_PREF length 3 from eBGP",
            "7606 §7.5",
            E,
            false,
            |e| e.with(|a| a.push(attr(WELL_KNOWN, 5, &[0, 1, 44]))),
            Expect::Discard(|s| {
                ensure(
                    s.path.local_pref == 100,
                    format!("local_pref {}", s.path.local_pref),
                )
            }),
        ),
        case(
            "ORIGINATOR_ID = our router id from eBGP",
            "7606 §7.9",
            E,
            false,
            |e| e.with(|a| a.push(attr(OPT_NON_TRANS, 9, &ROUTER_ID))),
            Expect::Discard(|s| {
                ensure(
                    s.path.originator_id.is_empty(),
                    format!("originator_id {:?} kept", s.path.originator_id),
                )
            }),
        ),
        case(
            "ORIGINATOR_ID length 5 from eBGP",
            "7606 §7.9",
            E,
            false,
            |e| e.with(|a| a.push(attr(OPT_NON_TRANS, 9, &[198, 19, 7, 9, 0]))),
            Expect::Discard(|s| ensure(s.path.originator_id.is_empty(), "originator_id kept")),
        ),
        case(
            "CLUSTER_LIST with our cluster id from eBGP",
            "7606 §7.10",
            E,
            false,
            |e| e.with(|a| a.push(attr(OPT_NON_TRANS, 10, &ROUTER_ID))),
            Expect::Discard(|s| {
                ensure(
                    s.path.cluster_list.is_empty(),
                    format!("cluster_list {:?} kept", s.path.cluster_list),
                )
            }),
        ),
        case(
            "EXTENDED_COMMUNITIES twice (first kept)",
            "7606 §3(g)",
            E,
            false,
            move |e| e.with(|a| a.push(ext_communities(&[rt(999)]))),
            Expect::Discard(|s| {
                let api_ok = s
                    .path
                    .extended_communities
                    .iter()
                    .any(|c| c == "rt 65000:100")
                    && !s
                        .path
                        .extended_communities
                        .iter()
                        .any(|c| c.contains("65000:999"));
                let b_ok = s
                    .at_b
                    .extended_communities()
                    .iter()
                    .any(|c| c.0 == ec_route_target(65000, 100))
                    && !s
                        .at_b
                        .extended_communities()
                        .iter()
                        .any(|c| c.0 == ec_route_target(65000, 999));
                ensure(
                    api_ok && b_ok,
                    format!(
                        "API {:?}, B {:?}",
                        s.path.extended_communities,
                        s.at_b.extended_communities()
                    ),
                )
            }),
        ),
        case(
            "LOCAL_PREF twice from iBGP (first kept)",
            "7606 §3(g)",
            I,
            false,
            |e| e.with(|a| a.push(attr(WELL_KNOWN, 5, &300u32.to_be_bytes()))),
            Expect::Discard(|s| {
                ensure(
                    s.path.local_pref == 200,
                    format!("local_pref {} (200 expected)", s.path.local_pref),
                )
            }),
        ),
        case(
            "AS4_PATH on a 4-octet AS session",
            "6793 §6",
            E,
            false,
            |e| {
                e.with(|a| {
                    a.push(attr(
                        OPT_TRANS,
                        17,
                        &as_path_value4(&[(2, &[65099, 65098])]),
                    ))
                })
            },
            Expect::Discard(|s| {
                ensure(
                    s.path.as_path == [65002],
                    format!("API AS_PATH {:?}", s.path.as_path),
                )?;
                ensure(
                    as_path_of(s.at_b) == [LOCAL_AS, 65002] && !has_attr(s.at_b, 17),
                    format!(
                        "B: AS_PATH {:?}, AS4_PATH present: {}",
                        as_path_of(s.at_b),
                        has_attr(s.at_b, 17)
                    ),
                )
            }),
        ),
        case(
            "AS4_AGGREGATOR on a 4-octet AS session",
            "6793 §6",
            E,
            false,
            |e| e.with(|a| a.push(attr(OPT_TRANS, 18, &[0, 0, 0xfd, 0xea, 198, 19, 7, 2]))),
            Expect::Discard(|s| {
                ensure(
                    !has_attr(s.at_b, 18) && !has_attr(s.at_b, 7),
                    "B got AS4_AGGREGATOR/AGGREGATOR",
                )
            }),
        ),
        // ---- session reset ----
        case(
            "MP_REACH_NLRI twice",
            "7606 §3(g)",
            E,
            false,
            |e| {
                let (_, other) = route(e.spec, 900, Kind::Mac);
                e.with(|a| a.insert(1, mp_reach_evpn(&e.spec.vtep, &other)))
            },
            reset(3, 1, &[]),
        ),
        case(
            "MP_UNREACH_NLRI twice (iBGP)",
            "7606 §3(g)",
            I,
            false,
            |e| {
                let (_, other) = route(e.spec, 901, Kind::Mac);
                update_of(&[mp_unreach_evpn(&e.nlri), mp_unreach_evpn(&other)])
            },
            reset(3, 1, &[]),
        ),
        case(
            "marker not all ones",
            "4271 §6.1",
            E,
            false,
            |_| {
                let mut m = message(KEEPALIVE, &[]);
                m[5] = 0;
                m
            },
            reset(1, 1, &[]),
        ),
        case(
            "message length 5000 > 4096",
            "4271 §6.1",
            E,
            false,
            |_| message_with_len(5000, UPDATE, &[]),
            reset(1, 2, &[0x13, 0x88]),
        ),
        case(
            "message length 18 < 19",
            "4271 §6.1",
            E,
            false,
            |_| message_with_len(18, KEEPALIVE, &[]),
            reset(1, 2, &[0, 18]),
        ),
        case(
            "KEEPALIVE of length 20",
            "4271 §6.1",
            E,
            false,
            |_| message(KEEPALIVE, &[0]),
            reset(1, 2, &[0, 20]),
        ),
        case(
            "UPDATE of length 22",
            "4271 §6.1",
            E,
            false,
            |_| message(UPDATE, &[0, 0, 0]),
            reset(1, 2, &[0, 22]),
        ),
        case(
            "unknown message type 7",
            "4271 §6.1",
            E,
            false,
            |_| message(7, &[]),
            reset(1, 3, &[7]),
        ),
        case(
            "unrecognized well-known attribute 250",
            "4271 §6.3",
            E,
            false,
            move |e| e.with(|a| a.push(uwk.clone())),
            reset(3, 2, &unknown_well_known),
        ),
        case(
            "Withdrawn Routes prefix length 33",
            "7606 §3(i), §5.3",
            E,
            false,
            |_| update(&[33, 198, 51, 100, 7, 1], &[], &[]),
            reset(3, 10, &[]),
        ),
        case(
            "NLRI prefix length 33",
            "7606 §5.3",
            E,
            false,
            |e| {
                update(
                    &[],
                    &[
                        origin(0),
                        as_path_seq4(&[e.spec.asn]),
                        next_hop(e.spec.vtep),
                    ]
                    .concat(),
                    &[33, 198, 51, 100, 7, 1],
                )
            },
            reset(3, 10, &[]),
        ),
        case(
            "Withdrawn Routes Length overruns the message",
            "7606 §3(b)",
            E,
            false,
            |_| message(UPDATE, &[0, 50, 0, 0]),
            reset(3, 1, &[]),
        ),
        case(
            "Total Path Attribute Length overruns the message",
            "7606 §3(b)",
            E,
            false,
            |_| message(UPDATE, &[0, 0, 0, 100, 0x40, 1, 1, 0]),
            reset(3, 1, &[]),
        ),
        case(
            "attribute overrun, no route locatable",
            "7606 §4, §3(j)",
            E,
            false,
            |e| {
                update_of(&[
                    origin(0),
                    as_path_seq4(&[e.spec.asn]),
                    attr_with_len(OPT_TRANS, 8, 200, &[0xfd, 0xea, 0, 1]),
                ])
            },
            reset(3, 1, &[]),
        ),
        case(
            "BoRR ROUTE-REFRESH of length 24",
            "7313 §5",
            E,
            false,
            move |_| rr.clone(),
            reset(7, 1, &rr_borr_bad_len),
        ),
        case(
            "OPEN in Established",
            "6608 §4",
            E,
            false,
            |e| {
                let mut out = Vec::new();
                let open = Open::new(e.spec.asn, 30, Ipv4Addr::from(e.spec.router_id), vec![]);
                evpnd_wire::encode_message(
                    &evpnd_wire::CodecContext::default(),
                    &Message::Open(open),
                    &mut out,
                )
                .unwrap();
                out
            },
            reset(5, 3, &[1]),
        ),
        // ---- AFI/SAFI disable ----
        case(
            "EVPN type-2 with MAC length 47",
            "7606 §5.3, 4760 §7",
            E,
            false,
            |e| {
                let (_, good) = route(e.spec, 902, Kind::Mac);
                let mut bad = good;
                // type (1), length (1), RD (8), ESI (10), Ethernet tag (4), then MAC length.
                assert_eq!(bad[24], 48);
                bad[24] = 47;
                update_of(&[
                    mp_reach_evpn(&e.spec.vtep, &bad),
                    origin(0),
                    as_path_seq4(&[e.spec.asn]),
                ])
            },
            Expect::Disable,
        ),
        case(
            "MP_REACH_NLRI next hop length 5",
            "7606 §7.11",
            E,
            false,
            |e| e.with(|a| a[MP] = mp_reach_evpn(&[198, 18, 7, 2, 0], &e.nlri)),
            Expect::Disable,
        ),
    ]
}

/// The test world.
struct World {
    d: Daemon,
    e: RawPeer,
    i: RawPeer,
    b: RawPeer,
    /// evpnd's metrics endpoint (HOST:PORT).
    metrics: String,
}

impl World {
    fn api_route(&self, spec: Spec, n: u16) -> Option<v1::RibEntry> {
        let rd = rd_text(spec, n);
        self.d
            .evpn_routes()
            .into_iter()
            .find(|r| r.evpn.as_ref().is_some_and(|e| e.rd == rd))
    }

    fn neighbor(&self, spec: Spec) -> v1::Neighbor {
        let addr = spec.ip.to_string();
        self.d
            .neighbors()
            .into_iter()
            .find(|n| n.address == addr)
            .unwrap()
    }

    fn peer(&mut self, side: Side) -> (&mut RawPeer, &mut RawPeer) {
        let World { e, i, b, .. } = self;
        match side {
            Side::E => (e, b),
            Side::I => (i, b),
        }
    }

    /// Announces the anchor R0 of `side` and waits until B has it.
    fn announce_anchor(&mut self, side: Side) -> Result<(), String> {
        let spec = side.spec();
        let (r0, nlri) = route(spec, 0, Kind::Mac);
        let mut attrs = good_attrs(spec, &nlri);
        if spec.external() {
            // Valid ATOMIC_AGGREGATE and AGGREGATOR: the control for the discard cases, which
            // check that B does not get the malformed ones.
            attrs.push(attr(WELL_KNOWN, 6, &[]));
            let mut agg = spec.asn.to_be_bytes().to_vec();
            agg.extend_from_slice(&spec.router_id);
            attrs.push(attr(OPT_TRANS, 7, &agg));
        }
        let (p, b) = self.peer(side);
        p.send_raw(&update_of(&attrs)).map_err(|e| e.to_string())?;
        Ok(b.wait(T, |b| b.has(&r0))?)
    }

    /// Both anchors are installed in evpnd and advertised to B.
    fn anchors_intact(&mut self) -> Result<(), String> {
        for side in [Side::E, Side::I] {
            let spec = side.spec();
            let (r0, _) = route(spec, 0, Kind::Mac);
            self.b.drain();
            ensure(self.b.has(&r0), format!("B lost {}'s anchor", spec.name))?;
            ensure(
                self.api_route(spec, 0).is_some(),
                format!("evpnd lost {}'s anchor", spec.name),
            )?;
        }
        Ok(())
    }

    /// For each A, the API's "accepted" counter equals the number of paths from it in the
    /// Loc-RIB (treat-as-withdraw and disable must keep the two in step).
    fn counters_match(&self) -> Result<(), String> {
        let routes = self.d.evpn_routes();
        for spec in [A_E, A_I] {
            let src = spec.ip.to_string();
            let held = routes
                .iter()
                .flat_map(|r| r.paths.iter())
                .filter(|p| p.source == src)
                .count() as u64;
            let n = self.neighbor(spec);
            let accepted = n
                .counters
                .iter()
                .find(|c| c.family == "l2vpn-evpn")
                .map_or(0, |c| c.accepted);
            ensure(
                accepted == held,
                format!(
                    "{}: API accepted = {accepted}, paths held = {held}",
                    spec.name
                ),
            )?;
        }
        Ok(())
    }

    /// The raw peer of `side` is still in session and evpnd says Established.
    fn still_up(&mut self, side: Side) -> Result<(), String> {
        let spec = side.spec();
        let (p, _) = self.peer(side);
        p.drain();
        ensure(
            !p.closed && p.notification.is_none(),
            format!(
                "{}: session closed (NOTIFICATION {:?})",
                spec.name, p.notification
            ),
        )?;
        let n = self.neighbor(spec);
        ensure(
            n.state == "Established",
            format!("evpnd says {} is {}", spec.name, n.state),
        )
    }

    /// Announces a good sentinel route from `side` and waits until evpnd and B have it: every
    /// message sent before it has then been processed.
    fn barrier(&mut self, side: Side, n: u16) -> Result<(), String> {
        let spec = side.spec();
        let (s, nlri) = route(spec, n, Kind::Mac);
        let (p, b) = self.peer(side);
        p.send_raw(&update_of(&good_attrs(spec, &nlri)))
            .map_err(|e| e.to_string())?;
        b.wait(T, |b| b.has(&s))?;
        ensure(
            self.api_route(spec, n).is_some(),
            "sentinel not in evpnd's RIB",
        )
    }

    /// Re-establishes the session of `side` (evpnd reconnects after its connect-retry) and
    /// announces its anchor again.
    fn reconnect(&mut self, side: Side) -> Result<(), String> {
        let (p, _) = self.peer(side);
        check_clean(p)?;
        p.accept_session(Duration::from_secs(10))?;
        self.announce_anchor(side)
    }
}

/// Everything evpnd sent to `p` decoded, and every UPDATE was accepted by our decoder.
fn check_clean(p: &mut RawPeer) -> Result<(), String> {
    p.drain();
    ensure(
        p.undecodable.is_empty(),
        format!(
            "{}: undecodable messages from evpnd: {:?}",
            p.name, p.undecodable
        ),
    )?;
    for (u, o) in &p.updates {
        ensure(
            *o == Outcome::Accept,
            format!(
                "{}: evpnd sent an UPDATE we do not accept: {o:?} {u:?}",
                p.name
            ),
        )?;
    }
    Ok(())
}

fn run_case(w: &mut World, n: u16, c: &Case) -> Result<(), String> {
    let spec = c.side.spec();
    let (rn, nlri) = route(spec, n, c.kind);
    let (r0, _) = route(spec, 0, Kind::Mac);
    let sentinel = 500 + n;
    let b_r0_withdrawals = w.b.withdrawals_of(&r0);
    if c.preinstall {
        let (p, b) = w.peer(c.side);
        p.send_raw(&update_of(&good_attrs(spec, &nlri)))
            .map_err(|e| e.to_string())?;
        b.wait(T, |b| b.has(&rn))
            .map_err(|e| format!("good Rn not advertised: {e}"))?;
        ensure(w.api_route(spec, n).is_some(), "good Rn not installed")?;
    }
    let bytes = (c.build)(&Env {
        spec,
        nlri: nlri.clone(),
    });
    {
        let (p, _) = w.peer(c.side);
        p.send_raw(&bytes).map_err(|e| e.to_string())?;
    }
    match &c.expect {
        Expect::Withdraw => {
            if c.preinstall {
                w.b.wait(T, |b| !b.has(&rn))
                    .map_err(|e| format!("Rn not withdrawn from B: {e}"))?;
                ensure(
                    w.b.withdrawals_of(&rn) >= 1,
                    "no withdrawal of Rn seen by B",
                )?;
            }
            w.barrier(c.side, sentinel)?;
            w.still_up(c.side)?;
            ensure(
                w.api_route(spec, n).is_none(),
                "Rn is in evpnd's RIB after treat-as-withdraw",
            )?;
            ensure(!w.b.has(&rn), "B holds Rn")?;
            if !c.preinstall {
                ensure(w.b.announcements_of(&rn) == 0, "B was sent Rn")?;
            }
        }
        Expect::Discard(check) => {
            w.b.wait(T, |b| b.has(&rn))
                .map_err(|e| format!("Rn not advertised to B: {e}"))?;
            w.still_up(c.side)?;
            let entry = w.api_route(spec, n).ok_or("Rn not in evpnd's RIB")?;
            let path = entry.paths.iter().find(|p| p.best).ok_or("no best path")?;
            ensure(
                path.next_hop == Ipv4Addr::from(spec.vtep).to_string(),
                format!("next hop {}", path.next_hop),
            )?;
            let at_b = &w.b.routes[&rn].update;
            check(&Seen { path, at_b })?;
        }
        Expect::Reset {
            code,
            subcode,
            data,
        } => {
            {
                let (p, b) = w.peer(c.side);
                p.wait(T, |p| p.closed)
                    .map_err(|e| format!("evpnd did not close the session: {e}"))?;
                let got = p
                    .notification
                    .clone()
                    .ok_or("closed without a NOTIFICATION")?;
                ensure(
                    (got.code, got.subcode, &got.data) == (*code, *subcode, data),
                    format!(
                        "NOTIFICATION {}/{} data {:02x?}, expected {code}/{subcode} data {data:02x?}",
                        got.code, got.subcode, got.data
                    ),
                )?;
                b.wait(T, |b| !b.has(&r0))
                    .map_err(|e| format!("B keeps the anchor of a reset peer: {e}"))?;
            }
            ensure(
                w.api_route(spec, 0).is_none(),
                "evpnd keeps the anchor of a reset peer",
            )?;
            let nb = w.neighbor(spec);
            let sent = nb
                .last_notification_sent
                .ok_or("API: no NOTIFICATION sent")?;
            ensure(
                (sent.code, sent.subcode) == (u32::from(*code), u32::from(*subcode)),
                format!("API: last NOTIFICATION sent {}/{}", sent.code, sent.subcode),
            )?;
            let before = nb.established_count;
            w.reconnect(c.side)?;
            let after = w.neighbor(spec).established_count;
            ensure(
                after == before + 1,
                format!("established_count {before} → {after}"),
            )?;
        }
        Expect::Disable => {
            // A good route after the disabling UPDATE, then a ROUTE-REFRESH whose answer
            // (evpnd's static route again) proves both were processed.
            let (s, s_nlri) = route(spec, sentinel, Kind::Mac);
            let static_route = static_route();
            {
                let (p, b) = w.peer(c.side);
                p.send_raw(&update_of(&good_attrs(spec, &s_nlri)))
                    .map_err(|e| e.to_string())?;
                // The table evpnd sent when the session came up is complete (End-of-RIB), so
                // the next copy of the static route can only be the refresh's.
                p.wait(T, |p| p.end_of_rib.contains(&Family::L2VPN_EVPN))?;
                let seen = p.announcements_of(&static_route);
                p.route_refresh(Family::L2VPN_EVPN)
                    .map_err(|e| e.to_string())?;
                p.wait(T, |p| p.announcements_of(&static_route) > seen)
                    .map_err(|e| format!("no answer to ROUTE-REFRESH: {e}"))?;
                b.wait(T, |b| !b.has(&r0))
                    .map_err(|e| format!("B keeps the anchor of a disabled family: {e}"))?;
                ensure(!b.has(&s), "B got a route of a disabled family")?;
            }
            w.still_up(c.side)?;
            ensure(
                w.api_route(spec, 0).is_none(),
                "evpnd keeps the anchor after AFI/SAFI disable",
            )?;
            ensure(
                w.api_route(spec, sentinel).is_none(),
                "evpnd accepted an EVPN route after AFI/SAFI disable",
            )?;
            ensure(w.api_route(spec, n).is_none(), "Rn installed")?;
            // A new session starts with the family enabled again.
            let (p, _) = w.peer(c.side);
            p.close_with(Notification {
                code: 6,
                subcode: 4,
                data: Vec::new(),
            });
            w.reconnect(c.side)?;
        }
    }
    if !matches!(c.expect, Expect::Reset { .. } | Expect::Disable) {
        ensure(
            w.b.withdrawals_of(&r0) == b_r0_withdrawals,
            "B saw the anchor of the sending peer withdrawn",
        )?;
    }
    w.anchors_intact()?;
    w.counters_match()
}

/// evpnd's static route (see the config).
fn static_route() -> Route {
    Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd: RouteDistinguisher::ipv4(Ipv4Addr::from(ROUTER_ID), 1),
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddress([0x02, 0, 0x07, 0x01, 0x01, 0x01]),
        ip: Some(IpAddr::from([203, 0, 113, 250])),
        label1: Label::from_vni(100).unwrap(),
        label2: None,
    }))
}

/// Where evpnd serves its metrics in these tests.
const METRICS_IP: &str = "127.0.76.9";

fn config(ports: [u16; 3], metrics: u16) -> String {
    let mut s = format!(
        "asn = {LOCAL_AS}\nrouter-id = \"{}\"\n[bgp]\nlisten = \"none\"\nhold-time = 30\nconnect-retry = 0.2\n\
         [metrics]\nlisten = \"{METRICS_IP}:{metrics}\"\n",
        Ipv4Addr::from(ROUTER_ID)
    );
    for (spec, port) in [A_E, A_I, B].iter().zip(ports) {
        s.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nremote-asn = {}\nport = {port}\n",
            spec.ip, spec.asn
        ));
    }
    s.push_str(
        "[[static-route]]\ntype = \"mac-ip\"\nrd = \"198.19.7.1:1\"\nroute-targets = [\"65000:100\"]\nvni = 100\nmac = \"02:00:07:01:01:01\"\nip = \"203.0.113.250\"\n",
    );
    s
}

fn raw(spec: Spec) -> RawPeer {
    RawPeer::listen(spec.name, spec.ip, spec.asn, Ipv4Addr::from(spec.router_id)).unwrap()
}

fn start_world(tag: &str) -> World {
    let (mut e, mut i, mut b) = (raw(A_E), raw(A_I), raw(B));
    let metrics = free_port(METRICS_IP);
    let d = Daemon::start(tag, &config([e.port(), i.port(), b.port()], metrics));
    for p in [&mut e, &mut i, &mut b] {
        p.accept_session(Duration::from_secs(10))
            .unwrap_or_else(|err| panic!("{err}\nevpnd log:\n{}", d.log_text()));
    }
    let d_ref = &d;
    wait_until(Duration::from_secs(10), || d_ref.all_established()).unwrap();
    World {
        d,
        e,
        i,
        b,
        metrics: format!("{METRICS_IP}:{metrics}"),
    }
}

fn log_tail(d: &Daemon) -> String {
    let log = d.log_text();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn malformed_updates_on_a_live_session() {
    let started = Instant::now();
    let mut w = start_world("rfc7606");
    for side in [Side::E, Side::I] {
        w.announce_anchor(side)
            .unwrap_or_else(|e| panic!("anchor: {e}\n{}", log_tail(&w.d)));
    }
    // Control: a valid ATOMIC_AGGREGATE and AGGREGATOR do reach B (so their absence in the
    // discard cases means evpnd discarded them).
    let (r0, _) = route(A_E, 0, Kind::Mac);
    let at_b = &w.b.routes[&r0].update;
    assert!(has_attr(at_b, 6), "valid ATOMIC_AGGREGATE not propagated");
    assert!(
        matches!(at_b.attribute(7), Some(PathAttribute::Aggregator(a)) if a.asn == 65002),
        "valid AGGREGATOR not propagated: {:?}",
        at_b.attribute(7)
    );
    assert_eq!(as_path_of(at_b), [LOCAL_AS, 65002]);

    let cases = cases();
    let mut failures = Vec::new();
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (k, c) in cases.iter().enumerate() {
        let n = k as u16 + 1;
        let t = Instant::now();
        let result = run_case(&mut w, n, c);
        let ms = t.elapsed().as_millis();
        match &result {
            Ok(()) => println!(
                "ok   {:<18} {:<50} [{}]{} {ms} ms",
                c.expect.category(),
                c.name,
                c.rfc,
                if c.side == Side::I { " iBGP" } else { "" }
            ),
            Err(e) => {
                println!("FAIL {:<18} {:<50} {e}", c.expect.category(), c.name);
                failures.push(format!("{} ({}): {e}", c.name, c.expect.category()));
                // Get back to a known state for the next case.
                let (p, _) = w.peer(c.side);
                p.drain();
                if p.closed {
                    let _ = w.reconnect(c.side);
                }
            }
        }
        match counts.iter_mut().find(|(k, _)| *k == c.expect.category()) {
            Some((_, x)) => *x += 1,
            None => counts.push((c.expect.category(), 1)),
        }
    }
    if let Err(e) = unknown_attributes(&mut w) {
        failures.push(format!("unknown attributes: {e}"));
    }
    for p in [&mut w.e, &mut w.i, &mut w.b] {
        if let Err(e) = check_clean(p) {
            failures.push(e);
        }
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "RFC 7606 live: {} malformed cases ({}) + unknown-attribute propagation, {:.1} s",
        cases.len(),
        summary.join(", "),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}\nevpnd log (tail):\n{}",
        failures.len(),
        failures.join("\n"),
        log_tail(&w.d)
    );
    assert!(cases.len() >= 20);
    // The metrics count the malformed UPDATEs by outcome, per peer (loop-detection cases are
    // withdrawn by the RIB from UPDATEs that decode cleanly, and some resets come from other
    // messages, so a count may be below its number of cases, never zero).
    let samples = common::metrics::scrape(&w.metrics);
    let outcome = |o: &str| -> f64 {
        [A_E, A_I]
            .iter()
            .map(|p| {
                common::metrics::value(
                    &samples,
                    "evpnd_bgp_rfc7606_outcomes_total",
                    &[("peer", &p.ip.to_string()), ("outcome", o)],
                )
            })
            .sum()
    };
    let cases_of = |k: &str| counts.iter().find(|(c, _)| *c == k).map_or(0, |(_, x)| *x);
    println!(
        "metrics: treat-as-withdraw {} ({} cases), attribute-discard {} ({}), session-reset {} ({}), afi-safi-disable {} ({})",
        outcome("treat-as-withdraw"),
        cases_of("treat-as-withdraw"),
        outcome("attribute-discard"),
        cases_of("attribute-discard"),
        outcome("session-reset"),
        cases_of("reset"),
        outcome("afi-safi-disable"),
        cases_of("afi-safi-disable"),
    );
    for (metric, category) in [
        ("treat-as-withdraw", "treat-as-withdraw"),
        ("attribute-discard", "attribute-discard"),
        ("session-reset", "reset"),
        ("afi-safi-disable", "afi-safi-disable"),
    ] {
        let (n, cases) = (outcome(metric), cases_of(category) as f64);
        assert!(
            n >= 1.0 && n <= cases,
            "{metric}: {n} counted for {cases} cases"
        );
    }
    let at_least = |k: &str, n: usize| counts.iter().any(|(c, x)| *c == k && *x >= n);
    assert!(
        at_least("treat-as-withdraw", 8)
            && at_least("attribute-discard", 5)
            && at_least("reset", 6)
    );
}

/// RFC 4271 §5 / §9.1.2.2: an unknown optional transitive attribute is passed on with the
/// Partial bit set; an unknown optional non-transitive one is quietly dropped.
fn unknown_attributes(w: &mut World) -> Result<(), String> {
    let spec = A_E;
    let n = 400;
    let (r, nlri) = route(spec, n, Kind::Mac);
    let mut attrs = good_attrs(spec, &nlri);
    attrs.push(attr(OPT_TRANS, 240, &[0xde, 0xad, 0xbe, 0xef]));
    attrs.push(attr(OPTIONAL, 241, &[1, 2, 3, 4]));
    // A known optional transitive attribute that arrives with Partial keeps it (RFC 4271 §5:
    // "it MUST NOT be set back to 0").
    attrs.push(attr(OPT_TRANS | 0x20, 8, &[0xfd, 0xea, 0, 7]));
    w.e.send_raw(&update_of(&attrs))
        .map_err(|e| e.to_string())?;
    w.b.wait(T, |b| b.has(&r))?;
    w.still_up(Side::E)?;
    ensure(w.api_route(spec, n).is_some(), "R not installed")?;
    let got = &w.b.routes[&r];
    let t240 = got.update.attributes.iter().find_map(|a| match a {
        PathAttribute::Unknown(u) if u.type_code == 240 => Some(u.clone()),
        _ => None,
    });
    let t240 = t240.ok_or("B did not get attribute 240")?;
    ensure(
        t240.flags & 0xe0 == 0xe0,
        format!(
            "attribute 240 reached B with flags {:#04x} (Partial expected)",
            t240.flags
        ),
    )?;
    ensure(
        t240.value == [0xde, 0xad, 0xbe, 0xef],
        "attribute 240 value changed",
    )?;
    // The flags octet as it was on the wire, read from B's raw UPDATE (RFC 4271 §4.3).
    let wire = raw_attributes(&got.raw);
    let flags240 = wire
        .iter()
        .find(|(_, t)| *t == 240)
        .map(|(f, _)| *f)
        .ok_or("attribute 240 not found in B's bytes")?;
    ensure(
        flags240 & 0xe0 == 0xe0,
        format!("flags octet {flags240:#04x} on the wire"),
    )?;
    ensure(
        wire.iter().all(|(_, t)| *t != 241),
        "attribute 241 in B's bytes",
    )?;
    let communities = wire
        .iter()
        .find(|(_, t)| *t == 8)
        .map(|(f, _)| *f)
        .ok_or("COMMUNITIES not passed on")?;
    ensure(
        communities & 0xe0 == 0xe0,
        format!("COMMUNITIES received with Partial reached B with flags {communities:#04x}"),
    )?;
    ensure(
        got.update.attribute(241).is_none(),
        "the optional non-transitive attribute 241 was passed on",
    )?;
    println!(
        "ok   unknown-attribute  240 (0xc0) reaches B as {:#04x}; 241 (0x80) does not",
        t240.flags
    );
    Ok(())
}

/// (flags, type code) of every path attribute of an UPDATE, walked with the RFC 4271 §4.3
/// layout (Extended Length decides the length field's size).
fn raw_attributes(msg: &[u8]) -> Vec<(u8, u8)> {
    let wlen = usize::from(u16::from_be_bytes([msg[19], msg[20]]));
    let at = 21 + wlen;
    let tal = usize::from(u16::from_be_bytes([msg[at], msg[at + 1]]));
    let (mut i, end) = (at + 2, at + 2 + tal);
    let mut out = Vec::new();
    while i < end {
        let (flags, t) = (msg[i], msg[i + 1]);
        let (len, hdr) = if flags & 0x10 != 0 {
            (usize::from(u16::from_be_bytes([msg[i + 2], msg[i + 3]])), 4)
        } else {
            (usize::from(msg[i + 2]), 3)
        };
        out.push((flags, t));
        i += hdr + len;
    }
    out
}

/// RFC 7432 §7.2: "only the Ethernet Tag ID, MAC Address Length, MAC Address, IP Address
/// Length, and IP Address fields are considered to be part of the prefix in the NLRI"; the ESI
/// and the label are route attributes. A MAC/IP route re-advertised with another label
/// replaces the first one (implicit withdraw, RFC 4271 §3.1), and a withdrawal that carries a
/// different label withdraws it.
#[test]
fn evpn_route_key_excludes_the_label() {
    let w = start_world("rfc7432-key");
    let spec = A_E;
    let rd = rd_ipv4(spec.router_id, 7);
    let mac = [0x02, 0, 0x07, 0x02, 0, 7];
    let nlri = |label: u32| evpn(2, &evpn_type2_value(rd, [0; 10], 0, mac, &[], label, None));
    for label in [100, 200] {
        w.e.send_raw(&update_of(&good_attrs(spec, &nlri(label))))
            .unwrap();
    }
    let d = &w.d;
    let ours = || {
        d.evpn_routes()
            .into_iter()
            .filter(|r| r.evpn.as_ref().is_some_and(|e| e.rd == rd_text(spec, 7)))
            .collect::<Vec<_>>()
    };
    wait_until(T, || {
        ours().iter().any(|r| r.evpn.as_ref().unwrap().vni == 200)
    })
    .unwrap();
    let routes = ours();
    assert_eq!(routes.len(), 1, "one MAC, one route: {routes:?}");
    // Withdraw with label 0: the same route key.
    w.e.send_raw(&update_of(&[mp_unreach_evpn(&nlri(0))]))
        .unwrap();
    wait_until(T, || ours().is_empty()).expect("withdrawal with another label ignored");
}

/// RFC 7606 §5.2: an UPDATE with path attributes but no reachable NLRI (no NLRI field, no
/// MP_REACH_NLRI) cannot be treated as withdrawn, so "if any encountered error specifies an
/// error-handling approach other than 'attribute discard', then the 'session reset' approach
/// MUST be used". The NOTIFICATION is the RFC 4271 §6.3 one for the error: an ORIGIN of
/// length 2 is Attribute Length Error (3/5) with the attribute as data.
///
/// Ignored: the codec (crates/wire/src/update.rs, decode_update) returns treat-as-withdraw for
/// such an UPDATE, and evpnd keeps the session up.
#[test]

fn withdraw_class_error_without_reachable_nlri_resets() {
    let mut w = start_world("rfc7606-5-2");
    let bad_origin = attr(WELL_KNOWN, 1, &[0, 0]);
    w.e.send_raw(&update_of(&[bad_origin.clone(), as_path_seq4(&[A_E.asn])]))
        .unwrap();
    w.e.wait(T, |p| p.closed)
        .expect("session kept up after a withdraw-class error with no reachable NLRI");
    let n =
        w.e.notification
            .clone()
            .expect("closed without a NOTIFICATION");
    assert_eq!((n.code, n.subcode, n.data), (3, 5, bad_origin));
}
