//! Independent positive test vectors (issue #2).
//!
//! `shared/vectors/positive_vectors.json` (beside the repository checkout) holds EVPN messages
//! captured or written by other BGP implementations (Ryu, GoBGP, NetGauze, ExaBGP), each with
//! the decoding *those* implementations give, as Python-repr-like strings. Every vector is
//! decoded here and compared field by field with that description, so the expectations come
//! from outside this codebase. Each decoded UPDATE is then encoded again and decoded once more:
//! the routes must survive unchanged.
//!
//! Vector kinds:
//! * `full BGP UPDATE`: decoded with `decode_message` as is;
//! * `EVPN NLRI (type+len+value)`: wrapped into the MP_REACH_NLRI of a minimal UPDATE
//!   (ORIGIN, AS_PATH, 4-octet next hop) built by hand;
//! * `UPDATE body (no 19-byte header)`: a header is prepended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/build.rs"]
mod build;

use build::*;
use evpnd_wire::attribute::attr_type;
use evpnd_wire::types::RdKind;
use evpnd_wire::update::validate_update;
use evpnd_wire::{
    decode_message, encode_message, AsPath, AsSegment, CodecContext, Decoded, EvpnRoute, Family,
    Label, Message, NextHop, Nlri, Origin, Outcome, PathAttribute, Route, SegmentType, Update,
};
use std::net::IpAddr;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------------
// A small parser for the Python literals of the `decoded` strings.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Py {
    Str(String),
    Int(i128),
    None,
    List(Vec<Py>),
    Tuple(Vec<Py>),
    Dict(Vec<(String, Py)>),
}

struct PyParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> PyParser<'a> {
    fn new(s: &'a str) -> Self {
        PyParser {
            s: s.as_bytes(),
            i: 0,
        }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        match self.peek() {
            Some(x) if x == c => {
                self.i += 1;
                Ok(())
            }
            other => Err(format!(
                "expected {:?} at {}, found {:?}",
                c as char,
                self.i,
                other.map(|b| b as char)
            )),
        }
    }

    /// Items up to `close`, separated by commas (a trailing comma is allowed).
    fn items(&mut self, close: u8) -> Result<Vec<Py>, String> {
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(out);
            }
            out.push(self.value()?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                other => {
                    return Err(format!(
                        "unexpected {:?} at {}",
                        other.map(|b| b as char),
                        self.i
                    ))
                }
            }
        }
    }

    fn value(&mut self) -> Result<Py, String> {
        match self.peek().ok_or("unexpected end")? {
            b'\'' | b'"' => self.string().map(Py::Str),
            b'[' => {
                self.i += 1;
                self.items(b']').map(Py::List)
            }
            b'(' => {
                self.i += 1;
                self.items(b')').map(Py::Tuple)
            }
            b'{' => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Py::Dict(out));
                    }
                    let key = match self.value()? {
                        Py::Str(k) => k,
                        other => return Err(format!("non-string dict key {other:?}")),
                    };
                    self.expect(b':')?;
                    let v = self.value()?;
                    out.push((key, v));
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        other => {
                            return Err(format!(
                                "unexpected {:?} in dict",
                                other.map(|b| b as char)
                            ))
                        }
                    }
                }
            }
            b'N' if self.s[self.i..].starts_with(b"None") => {
                self.i += 4;
                Ok(Py::None)
            }
            c if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                self.i += 1;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                text.parse()
                    .map(Py::Int)
                    .map_err(|e| format!("{text}: {e}"))
            }
            c => Err(format!("unexpected {:?} at {}", c as char, self.i)),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = self.s[self.i];
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            if c == quote {
                return String::from_utf8(out).map_err(|e| e.to_string());
            }
            if c == b'\\' {
                let &next = self.s.get(self.i).ok_or("dangling escape")?;
                self.i += 1;
                out.push(next);
            } else {
                out.push(c);
            }
        }
        Err("unterminated string".into())
    }

    fn parse_all(s: &str) -> Result<Py, String> {
        let mut p = PyParser::new(s);
        let v = p.value()?;
        if p.peek().is_some() {
            return Err(format!("trailing text at {} in {s:?}", p.i));
        }
        Ok(v)
    }
}

// ---------------------------------------------------------------------------------------------
// Expected values, from the vector's strings.
// ---------------------------------------------------------------------------------------------

/// One route as a vector describes it.
#[derive(Debug)]
enum ExpectedRoute {
    /// `{'unknown_type': N}`: must be skipped and counted (RFC 7606 §5.4).
    Unknown(u8),
    /// A known route: its type (from the keys, or given by the vector) and its fields.
    Known {
        route_type: u8,
        fields: Vec<(String, Py)>,
    },
}

fn route_type_from_keys(fields: &[(String, Py)]) -> Result<u8, String> {
    let has = |k: &str| fields.iter().any(|(key, _)| key == k);
    Ok(if has("mac") {
        2
    } else if has("plen") {
        5
    } else if has("orig_ip") && has("etag") {
        3
    } else if has("orig_ip") {
        4
    } else if has("esi") && has("etag") && has("label") {
        1
    } else {
        return Err(format!("cannot tell the route type of {fields:?}"));
    })
}

fn expected_route(dict: &Py, given_type: Option<u8>) -> Result<ExpectedRoute, String> {
    let Py::Dict(fields) = dict else {
        return Err(format!("route description is not a dict: {dict:?}"));
    };
    if let Some((_, Py::Int(t))) = fields.iter().find(|(k, _)| k == "unknown_type") {
        return Ok(ExpectedRoute::Unknown(
            u8::try_from(*t).map_err(|e| e.to_string())?,
        ));
    }
    let by_keys = route_type_from_keys(fields)?;
    if let Some(t) = given_type {
        if t != by_keys {
            return Err(format!(
                "vector says type {t} but its fields look like type {by_keys}"
            ));
        }
    }
    Ok(ExpectedRoute::Known {
        route_type: by_keys,
        fields: fields.clone(),
    })
}

/// What a `full BGP UPDATE` vector says the message holds.
#[derive(Debug, Default)]
struct ExpectedUpdate {
    /// `attrN flags=FF hex`: type code, flags, value.
    attributes: Vec<(u8, u8, Vec<u8>)>,
    /// `MP_REACH afi=.. safi=.. nh=.. [...]`.
    mp_reach: Option<ExpectedMpReach>,
}

#[derive(Debug)]
struct ExpectedMpReach {
    afi: u16,
    safi: u8,
    next_hop: IpAddr,
    /// Wire bytes of each route and what it should decode to.
    routes: Vec<(Vec<u8>, ExpectedRoute)>,
}

fn parse_full_update_lines(lines: &[String]) -> Result<ExpectedUpdate, String> {
    let mut out = ExpectedUpdate::default();
    for line in lines {
        if let Some(rest) = line.strip_prefix("MP_REACH ") {
            let (head, list) = rest.split_at(rest.find('[').ok_or("MP_REACH without route list")?);
            let mut afi = None;
            let mut safi = None;
            let mut nh = None;
            for tok in head.split_whitespace() {
                let (k, v) = tok
                    .split_once('=')
                    .ok_or_else(|| format!("bad token {tok:?}"))?;
                match k {
                    "afi" => afi = Some(v.parse::<u16>().map_err(|e| e.to_string())?),
                    "safi" => safi = Some(v.parse::<u8>().map_err(|e| e.to_string())?),
                    "nh" => nh = Some(v.parse::<IpAddr>().map_err(|e| e.to_string())?),
                    other => return Err(format!("unknown MP_REACH key {other:?}")),
                }
            }
            let Py::List(items) = PyParser::parse_all(list)? else {
                return Err("MP_REACH routes are not a list".into());
            };
            let mut routes = Vec::new();
            for item in items {
                let Py::Tuple(t) = item else {
                    return Err(format!("route entry is not a tuple: {item:?}"));
                };
                let [Py::Str(hex_str), Py::Int(rtype), dict, Py::None] = t.as_slice() else {
                    return Err(format!("route entry has an unexpected shape: {t:?}"));
                };
                let bytes = hex::decode(hex_str).map_err(|e| e.to_string())?;
                let rtype = u8::try_from(*rtype).map_err(|e| e.to_string())?;
                routes.push((bytes, expected_route(dict, Some(rtype))?));
            }
            out.mp_reach = Some(ExpectedMpReach {
                afi: afi.ok_or("MP_REACH without afi")?,
                safi: safi.ok_or("MP_REACH without safi")?,
                next_hop: nh.ok_or("MP_REACH without nh")?,
                routes,
            });
        } else if let Some(rest) = line.strip_prefix("attr") {
            let mut toks = rest.split_whitespace();
            let code: u8 = toks
                .next()
                .ok_or("attr without code")?
                .parse()
                .map_err(|e| format!("{e}"))?;
            let flags = toks
                .next()
                .and_then(|t| t.strip_prefix("flags="))
                .ok_or("attr without flags")?;
            let flags = u8::from_str_radix(flags, 16).map_err(|e| e.to_string())?;
            let value = hex::decode(toks.next().unwrap_or("")).map_err(|e| e.to_string())?;
            out.attributes.push((code, flags, value));
        } else {
            return Err(format!("unknown decoded line {line:?}"));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Field comparisons.
// ---------------------------------------------------------------------------------------------

fn want_str<'a>(v: &'a Py, key: &str) -> Result<&'a str, String> {
    match v {
        Py::Str(s) => Ok(s),
        other => Err(format!("{key}: expected a string, found {other:?}")),
    }
}

fn want_int(v: &Py, key: &str) -> Result<i128, String> {
    match v {
        Py::Int(i) => Ok(*i),
        other => Err(format!("{key}: expected an integer, found {other:?}")),
    }
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// `'4369:286331153'` (type 0 or 2: the vector text does not tell them apart) or
/// `'120.0.2.1:100'` (type 1).
fn check_rd(text: &str, rd: &evpnd_wire::RouteDistinguisher) -> Result<(), String> {
    let (admin, number) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("bad rd {text:?}"))?;
    let number: u64 = number.parse().map_err(|_| format!("bad rd {text:?}"))?;
    let ok = match (admin.parse::<std::net::Ipv4Addr>(), rd.kind()) {
        (Ok(a), RdKind::Ipv4 { addr, number: n }) => a == addr && u64::from(n) == number,
        (Ok(_), _) => false,
        (Err(_), RdKind::As2 { asn, number: n }) => {
            admin.parse() == Ok(u64::from(asn)) && u64::from(n) == number
        }
        (Err(_), RdKind::As4 { asn, number: n }) => {
            admin.parse() == Ok(u64::from(asn)) && u64::from(n) == number
        }
        (Err(_), _) => false,
    };
    check(ok, || {
        format!("rd: want {text}, got {rd} ({:?})", rd.kind())
    })
}

/// `'type3:aabbccddeeff345678'`: ESI type octet and the 9 value octets.
fn check_esi(text: &str, esi: &evpnd_wire::Esi) -> Result<(), String> {
    let (t, hex_value) = text
        .strip_prefix("type")
        .and_then(|r| r.split_once(':'))
        .ok_or_else(|| format!("bad esi {text:?}"))?;
    let t: u8 = t.parse().map_err(|_| format!("bad esi {text:?}"))?;
    let value = hex::decode(hex_value).map_err(|e| e.to_string())?;
    check(esi.0[0] == t && esi.0[1..] == value[..], || {
        format!("esi: want {text}, got {}", hex::encode(esi.0))
    })
}

/// `'0x000651(label20=101,vni24=1617)'`: the raw 24-bit field and both views of it.
fn check_label(text: &str, l: &Label) -> Result<(), String> {
    let bad = || format!("bad label {text:?}");
    let (raw, rest) = text.split_once('(').ok_or_else(bad)?;
    let raw = u32::from_str_radix(raw.trim_start_matches("0x"), 16).map_err(|_| bad())?;
    let rest = rest.strip_suffix(')').ok_or_else(bad)?;
    let mut mpls = None;
    let mut vni = None;
    for part in rest.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(bad)?;
        let v: u32 = v.parse().map_err(|_| bad())?;
        match k {
            "label20" => mpls = Some(v),
            "vni24" => vni = Some(v),
            _ => return Err(bad()),
        }
    }
    let (mpls, vni) = (mpls.ok_or_else(bad)?, vni.ok_or_else(bad)?);
    check(
        l.raw() == raw && l.mpls_label() == mpls && l.vni() == vni,
        || {
            format!(
                "label: want raw={raw:#08x} mpls={mpls} vni={vni}, got raw={:#08x} mpls={} vni={}",
                l.raw(),
                l.mpls_label(),
                l.vni()
            )
        },
    )
}

fn check_mac(text: &str, mac: &evpnd_wire::MacAddress) -> Result<(), String> {
    let want: Vec<u8> = text
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("bad mac {text:?}"))?;
    check(want == mac.0, || format!("mac: want {text}, got {mac}"))
}

fn check_ip(key: &str, v: &Py, got: Option<IpAddr>) -> Result<(), String> {
    let want = match v {
        Py::None => None,
        Py::Str(s) => Some(
            s.parse::<IpAddr>()
                .map_err(|e| format!("{key}: {s:?}: {e}"))?,
        ),
        other => return Err(format!("{key}: unexpected {other:?}")),
    };
    check(want == got, || format!("{key}: want {want:?}, got {got:?}"))
}

/// Compares a decoded EVPN route with a vector's description, key by key. Every key must be
/// understood: an unknown key fails the test rather than being skipped.
fn check_route(route: &EvpnRoute, want_type: u8, fields: &[(String, Py)]) -> Result<(), String> {
    check(route.route_type() == want_type, || {
        format!("route type: want {want_type}, got {}", route.route_type())
    })?;
    let has_label2 = fields.iter().any(|(k, _)| k == "label2");
    for (key, v) in fields {
        let k = key.as_str();
        match (k, route) {
            ("rd", r) => check_rd(want_str(v, k)?, &r.rd())?,
            ("esi", EvpnRoute::EthernetAd(r)) => check_esi(want_str(v, k)?, &r.esi)?,
            ("esi", EvpnRoute::MacIp(r)) => check_esi(want_str(v, k)?, &r.esi)?,
            ("esi", EvpnRoute::EthernetSegment(r)) => check_esi(want_str(v, k)?, &r.esi)?,
            ("esi", EvpnRoute::IpPrefix(r)) => check_esi(want_str(v, k)?, &r.esi)?,
            ("etag", r) => {
                let got = match r {
                    EvpnRoute::EthernetAd(r) => r.ethernet_tag,
                    EvpnRoute::MacIp(r) => r.ethernet_tag,
                    EvpnRoute::InclusiveMulticast(r) => r.ethernet_tag,
                    EvpnRoute::IpPrefix(r) => r.ethernet_tag,
                    EvpnRoute::EthernetSegment(_) => return Err("etag on a type-4 route".into()),
                };
                let want = want_int(v, k)?;
                check(i128::from(got) == want, || {
                    format!("etag: want {want}, got {got}")
                })?;
            }
            ("label", EvpnRoute::EthernetAd(r)) => check_label(want_str(v, k)?, &r.label)?,
            ("label", EvpnRoute::IpPrefix(r)) => check_label(want_str(v, k)?, &r.label)?,
            ("label1", EvpnRoute::MacIp(r)) => check_label(want_str(v, k)?, &r.label1)?,
            ("label2", EvpnRoute::MacIp(r)) => match &r.label2 {
                Some(l) => check_label(want_str(v, k)?, l)?,
                None => return Err("label2: want one, got none".into()),
            },
            ("mac", EvpnRoute::MacIp(r)) => check_mac(want_str(v, k)?, &r.mac)?,
            ("ip", EvpnRoute::MacIp(r)) => check_ip(k, v, r.ip)?,
            ("orig_ip", EvpnRoute::InclusiveMulticast(r)) => check_ip(k, v, Some(r.originator))?,
            ("orig_ip", EvpnRoute::EthernetSegment(r)) => check_ip(k, v, Some(r.originator))?,
            ("plen", EvpnRoute::IpPrefix(r)) => {
                let want = want_int(v, k)?;
                check(i128::from(r.prefix_len) == want, || {
                    format!("plen: want {want}, got {}", r.prefix_len)
                })?;
            }
            ("prefix", EvpnRoute::IpPrefix(r)) => check_ip(k, v, Some(r.prefix))?,
            ("gw", EvpnRoute::IpPrefix(r)) => check_ip(k, v, Some(r.gateway))?,
            _ => {
                return Err(format!(
                    "key {k:?} not understood for a type-{want_type} route"
                ))
            }
        }
    }
    if let EvpnRoute::MacIp(r) = route {
        // The vectors' decoders list label2 whenever the route carries one.
        check(has_label2 || r.label2.is_none(), || {
            format!("label2: vector has none, got {:?}", r.label2)
        })?;
    }
    Ok(())
}

/// Compares the EVPN routes of one MP attribute with the expected list: known routes in order,
/// unknown types counted in `skipped`.
fn check_routes(got: &[Nlri], skipped: u32, want: &[&ExpectedRoute]) -> Result<(), String> {
    for r in want {
        if let ExpectedRoute::Unknown(t) = r {
            // Types 1–5 are implemented; a vector calling one of them unknown would be wrong.
            check(!(1..=5).contains(t), || {
                format!("route type {t} listed as unknown")
            })?;
        }
    }
    let want_skipped = want
        .iter()
        .filter(|r| matches!(r, ExpectedRoute::Unknown(_)))
        .count();
    check(skipped as usize == want_skipped, || {
        format!("skipped routes: want {want_skipped}, got {skipped}")
    })?;
    let known: Vec<_> = want
        .iter()
        .filter_map(|r| match r {
            ExpectedRoute::Known { route_type, fields } => Some((*route_type, fields)),
            ExpectedRoute::Unknown(_) => None,
        })
        .collect();
    check(got.len() == known.len(), || {
        format!("routes: want {}, got {}", known.len(), got.len())
    })?;
    for (i, (n, (t, fields))) in got.iter().zip(&known).enumerate() {
        check(n.path_id.is_none(), || {
            format!("route {i}: unexpected path id")
        })?;
        let Route::Evpn(r) = &n.route else {
            return Err(format!("route {i}: not an EVPN route: {:?}", n.route));
        };
        check_route(r, *t, fields).map_err(|e| format!("route {i}: {e}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The vectors.
// ---------------------------------------------------------------------------------------------

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/positive_vectors.json")
}

struct Vector {
    name: String,
    kind: String,
    bytes: Vec<u8>,
    decoded: Vec<String>,
}

fn load_vectors() -> Vec<Vector> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the independent test vectors at {}: {e}. The tests expect the shared/ \
             directory beside the repository checkout (CI clones main with shared/ next to it).",
            path.display()
        )
    });
    let json: serde_json::Value =
        serde_json::from_str(&text).expect("positive_vectors.json is valid JSON");
    let map = json
        .as_object()
        .expect("positive_vectors.json is an object of vectors");
    map.iter()
        .map(|(name, v)| Vector {
            name: name.clone(),
            kind: v["kind"].as_str().expect("kind").to_string(),
            bytes: hex::decode(v["hex"].as_str().expect("hex")).expect("hex decodes"),
            decoded: v["decoded"]
                .as_array()
                .expect("decoded is a list")
                .iter()
                .map(|s| s.as_str().expect("decoded entries are strings").to_string())
                .collect(),
        })
        .collect()
}

fn ctx() -> CodecContext {
    // The UPDATE vectors come from 4-octet-AS sessions (the Ryu AS_PATH holds a 4-octet AS).
    CodecContext::default()
}

fn decode_update(bytes: &[u8]) -> Result<(Update, Outcome), String> {
    match decode_message(&ctx(), bytes) {
        Ok(Decoded {
            message: Message::Update(u),
            outcome,
            length,
        }) => {
            check(length == bytes.len(), || {
                format!("consumed {length} of {} bytes", bytes.len())
            })?;
            Ok((u, outcome))
        }
        Ok(other) => Err(format!("not an UPDATE: {other:?}")),
        Err(e) => Err(format!("decode failed: {e}")),
    }
}

/// A minimal UPDATE announcing `nlri` (EVPN NLRI bytes) with ORIGIN IGP, AS_PATH [65001] and a
/// 4-octet next hop, built by hand.
fn wrap_evpn_nlri(nlri: &[u8]) -> Vec<u8> {
    let mut attrs = mp_reach_evpn(&[198, 18, 0, 1], nlri);
    attrs.extend(origin(0));
    attrs.extend(as_path_seq4(&[65001]));
    update(&[], &attrs, &[])
}

/// The 4-octet AS_PATH segments in an attribute value, read straight from the RFC 4271 §4.3
/// layout (with RFC 6793 4-octet AS numbers).
fn as_path_from_value(v: &[u8]) -> Result<AsPath, String> {
    let mut segments = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let kind = match v[i] {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            t => return Err(format!("vector AS_PATH has segment type {t}")),
        };
        let n = usize::from(*v.get(i + 1).ok_or("vector AS_PATH truncated")?);
        let body = v
            .get(i + 2..i + 2 + 4 * n)
            .ok_or("vector AS_PATH truncated")?;
        let asns = body
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        segments.push(AsSegment { kind, asns });
        i += 2 + 4 * n;
    }
    Ok(AsPath { segments })
}

/// Checks a `full BGP UPDATE` vector.
fn check_full_update(v: &Vector, u: &Update, outcome: &Outcome) -> Result<(), String> {
    let want = parse_full_update_lines(&v.decoded)?;
    // Non-MP attributes: exactly the listed ones.
    check(u.attributes.len() == want.attributes.len(), || {
        format!(
            "attributes: vector lists {}, decoded {}: {:?}",
            want.attributes.len(),
            u.attributes.len(),
            u.attributes
        )
    })?;
    for (code, flags, value) in &want.attributes {
        let got = u
            .attribute(*code)
            .ok_or_else(|| format!("attribute {code} missing"))?;
        match (*code, got) {
            (attr_type::ORIGIN, PathAttribute::Origin(o)) => {
                let w = match value.as_slice() {
                    [0] => Origin::Igp,
                    [1] => Origin::Egp,
                    [2] => Origin::Incomplete,
                    other => return Err(format!("vector ORIGIN value {other:?}")),
                };
                check(*o == w, || format!("ORIGIN: want {w:?}, got {o:?}"))?;
            }
            (attr_type::AS_PATH, PathAttribute::AsPath(p)) => {
                let w = as_path_from_value(value)?;
                check(*p == w, || format!("AS_PATH: want {w:?}, got {p:?}"))?;
            }
            (c, other) => return Err(format!("attribute {c}: no typed comparison for {other:?}")),
        }
        // And the attribute re-encodes to exactly the received bytes.
        let mut wire = vec![
            *flags,
            *code,
            u8::try_from(value.len()).map_err(|e| e.to_string())?,
        ];
        wire.extend_from_slice(value);
        let mut ours = Vec::new();
        got.encode(&ctx(), false, &mut ours);
        check(ours == wire, || {
            format!(
                "attribute {code}: re-encoded {} != received {}",
                hex::encode(&ours),
                hex::encode(&wire)
            )
        })?;
    }
    match (&want.mp_reach, &u.mp_reach) {
        (None, None) => {}
        (Some(w), Some(m)) => {
            check(
                m.family == Family::new(evpnd_wire::Afi(w.afi), evpnd_wire::Safi(w.safi)),
                || format!("family: want {}/{}, got {}", w.afi, w.safi, m.family),
            )?;
            check(m.next_hop == NextHop::from_ip(w.next_hop), || {
                format!("next hop: want {}, got {:?}", w.next_hop, m.next_hop)
            })?;
            let routes: Vec<&ExpectedRoute> = w.routes.iter().map(|(_, r)| r).collect();
            check_routes(&m.nlri, m.skipped_routes, &routes)?;
            // Each known route re-encodes to the exact bytes the vector lists for it.
            let wire_known = w
                .routes
                .iter()
                .filter(|(_, r)| matches!(r, ExpectedRoute::Known { .. }))
                .map(|(b, _)| b);
            for (n, wire) in m.nlri.iter().zip(wire_known) {
                let mut ours = Vec::new();
                n.encode(&mut ours);
                check(&ours == wire, || {
                    format!(
                        "route re-encodes to {} not {}",
                        hex::encode(&ours),
                        hex::encode(wire)
                    )
                })?;
            }
        }
        (w, g) => return Err(format!("MP_REACH: vector {w:?}, decoded {g:?}")),
    }
    check(
        u.mp_unreach.is_none() && u.nlri.is_empty() && u.withdrawn.is_empty(),
        || "unexpected withdrawals or IPv4 NLRI".to_string(),
    )?;
    // RFC 7606 §3(d): without ORIGIN or AS_PATH, an UPDATE that announces routes is
    // treat-as-withdraw; the vector lists which attributes the message carries.
    let missing: Vec<u8> = [attr_type::ORIGIN, attr_type::AS_PATH]
        .into_iter()
        .filter(|t| !want.attributes.iter().any(|(c, _, _)| c == t))
        .collect();
    if missing.is_empty() {
        check(*outcome == Outcome::Accept, || {
            format!("outcome: want accept, got {outcome:?}")
        })?;
    } else {
        let Outcome::TreatAsWithdraw(causes) = outcome else {
            return Err(format!(
                "outcome: want treat-as-withdraw (missing {missing:?}), got {outcome:?}"
            ));
        };
        let got: Vec<Option<u8>> = causes.iter().map(|c| c.attribute).collect();
        let want_causes: Vec<Option<u8>> = missing.iter().map(|t| Some(*t)).collect();
        check(got == want_causes, || {
            format!("treat-as-withdraw causes: want {want_causes:?}, got {causes:?}")
        })?;
        check(causes.iter().all(|c| c.offset == v.bytes.len()), || {
            "missing-attribute findings should point at the end of the message".to_string()
        })?;
        check(
            u.treat_as_withdraw().count() == u.mp_reach.as_ref().map_or(0, |m| m.nlri.len()),
            || "treat-as-withdraw must name every decoded route".to_string(),
        )?;
    }
    Ok(())
}

/// Checks an `EVPN NLRI (type+len+value)` vector, wrapped in a minimal UPDATE.
fn check_nlri_vector(v: &Vector, u: &Update, outcome: &Outcome) -> Result<(), String> {
    check(*outcome == Outcome::Accept, || {
        format!("outcome: want accept, got {outcome:?}")
    })?;
    let m = u.mp_reach.as_ref().ok_or("no MP_REACH_NLRI decoded")?;
    check(m.family == Family::L2VPN_EVPN, || {
        format!("family {}", m.family)
    })?;
    let want: Vec<ExpectedRoute> = v
        .decoded
        .iter()
        .map(|s| expected_route(&PyParser::parse_all(s)?, None))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&ExpectedRoute> = want.iter().collect();
    check_routes(&m.nlri, m.skipped_routes, &refs)?;
    if let [n] = m.nlri.as_slice() {
        let mut ours = Vec::new();
        n.encode(&mut ours);
        check(ours == v.bytes, || {
            format!(
                "route re-encodes to {} not {}",
                hex::encode(&ours),
                hex::encode(&v.bytes)
            )
        })?;
    }
    Ok(())
}

/// Checks an `UPDATE body` vector: the described routes are the EVPN routes of its MP
/// attributes (announced first, then withdrawn), in order.
fn check_body_vector(v: &Vector, u: &Update, outcome: &Outcome) -> Result<(), String> {
    check(*outcome == Outcome::Accept, || {
        format!("outcome: want accept, got {outcome:?}")
    })?;
    let want: Vec<ExpectedRoute> = v
        .decoded
        .iter()
        .map(|s| expected_route(&PyParser::parse_all(s)?, None))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&ExpectedRoute> = want.iter().collect();
    let mut routes = Vec::new();
    let mut skipped = 0;
    if let Some(m) = &u.mp_reach {
        routes.extend(m.nlri.iter().copied());
        skipped += m.skipped_routes;
    }
    if let Some(m) = &u.mp_unreach {
        check(m.family == Family::L2VPN_EVPN, || {
            format!("family {}", m.family)
        })?;
        routes.extend(m.nlri.iter().copied());
        skipped += m.skipped_routes;
    }
    if v.kind.contains("MP_UNREACH") {
        check(u.mp_unreach.is_some() && u.mp_reach.is_none(), || {
            "vector is an MP_UNREACH_NLRI UPDATE".to_string()
        })?;
    }
    check_routes(&routes, skipped, &refs)
}

/// Re-encodes `u` (completed with ORIGIN/AS_PATH when it announces routes without them, and
/// with the skipped-route counters cleared, since skipped routes cannot be sent again) and
/// decodes it once more: every route must come back unchanged, and the result accepted.
fn round_trip(u: &Update) -> Result<(), String> {
    let mut e = u.clone();
    if let Some(m) = &mut e.mp_reach {
        m.skipped_routes = 0;
    }
    if let Some(m) = &mut e.mp_unreach {
        m.skipped_routes = 0;
    }
    if e.mp_reach.is_some() || !e.nlri.is_empty() {
        if e.attribute(attr_type::ORIGIN).is_none() {
            e.attributes.push(PathAttribute::Origin(Origin::Igp));
        }
        if e.attribute(attr_type::AS_PATH).is_none() {
            e.attributes
                .push(PathAttribute::AsPath(AsPath::sequence(vec![65001])));
        }
    }
    validate_update(&ctx(), &e).map_err(|err| format!("not valid for encoding: {err}"))?;
    let mut bytes = Vec::new();
    encode_message(&ctx(), &Message::Update(e.clone()), &mut bytes)
        .map_err(|err| format!("encode: {err}"))?;
    let (back, outcome) = decode_update(&bytes)?;
    check(outcome == Outcome::Accept, || {
        format!("re-decoded outcome {outcome:?}")
    })?;
    let routes = |u: &Update| -> (Vec<Nlri>, Vec<Nlri>, Vec<Nlri>, Vec<Nlri>) {
        (
            u.mp_reach
                .as_ref()
                .map(|m| m.nlri.clone())
                .unwrap_or_default(),
            u.mp_unreach
                .as_ref()
                .map(|m| m.nlri.clone())
                .unwrap_or_default(),
            u.nlri.clone(),
            u.withdrawn.clone(),
        )
    };
    check(routes(&back) == routes(u), || {
        "routes differ after a round trip".to_string()
    })?;
    check(back == e, || {
        format!("round trip changed the UPDATE: {e:?} -> {back:?}")
    })
}

#[test]
fn positive_vectors_decode_as_described() {
    let vectors = load_vectors();
    assert!(
        !vectors.is_empty(),
        "no vectors in {}",
        vectors_path().display()
    );
    let mut failures = Vec::new();
    let mut passed = 0;
    let mut by_kind: std::collections::BTreeMap<&str, usize> = Default::default();
    for v in &vectors {
        let result = (|| -> Result<(), String> {
            let bytes = match v.kind.as_str() {
                "full BGP UPDATE" => v.bytes.clone(),
                "EVPN NLRI (type+len+value)" => wrap_evpn_nlri(&v.bytes),
                k if k.starts_with("UPDATE body (no 19-byte header)") => message(UPDATE, &v.bytes),
                other => return Err(format!("unknown vector kind {other:?}")),
            };
            let (u, outcome) = decode_update(&bytes)?;
            match v.kind.as_str() {
                "full BGP UPDATE" => check_full_update(v, &u, &outcome)?,
                "EVPN NLRI (type+len+value)" => check_nlri_vector(v, &u, &outcome)?,
                _ => check_body_vector(v, &u, &outcome)?,
            }
            round_trip(&u).map_err(|e| format!("round trip: {e}"))
        })();
        match result {
            Ok(()) => {
                passed += 1;
                *by_kind.entry(v.kind.as_str()).or_default() += 1;
            }
            Err(e) => failures.push(format!("{}: {e}", v.name)),
        }
    }
    println!("positive vectors: {passed}/{} passed", vectors.len());
    for (kind, n) in &by_kind {
        println!("  {n:3}  {kind}");
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn python_literal_parser_reads_the_vector_forms() {
    let v = PyParser::parse_all("[('0a', 1, {'rd': '1:2', 'ip': None, 'etag': 7}, None)]").unwrap();
    assert_eq!(
        v,
        Py::List(vec![Py::Tuple(vec![
            Py::Str("0a".into()),
            Py::Int(1),
            Py::Dict(vec![
                ("rd".into(), Py::Str("1:2".into())),
                ("ip".into(), Py::None),
                ("etag".into(), Py::Int(7)),
            ]),
            Py::None,
        ])])
    );
    assert!(PyParser::parse_all("{'a': 1").is_err());
    assert!(PyParser::parse_all("{'a': 1} x").is_err());
}

#[test]
fn field_checks_can_fail() {
    // The comparison helpers must reject a mismatch, or the vector test proves nothing.
    let l = Label::from_raw(0x000651);
    assert!(check_label("0x000651(label20=101,vni24=1617)", &l).is_ok());
    assert!(check_label("0x000652(label20=101,vni24=1618)", &l).is_err());
    let esi = evpnd_wire::Esi([3, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x34, 0x56, 0x78]);
    assert!(check_esi("type3:aabbccddeeff345678", &esi).is_ok());
    assert!(check_esi("type2:aabbccddeeff345678", &esi).is_err());
    let rd = evpnd_wire::RouteDistinguisher::ipv4([120, 0, 2, 1].into(), 100);
    assert!(check_rd("120.0.2.1:100", &rd).is_ok());
    assert!(check_rd("120.0.2.1:101", &rd).is_err());
    assert!(check_rd("100:100", &rd).is_err());
}
