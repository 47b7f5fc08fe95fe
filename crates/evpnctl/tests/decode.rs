//! End-to-end tests of `evpnctl decode`: they run the built binary and check its JSON, text and
//! exit status. Expected values come from the RFC byte layouts (spelled out next to each
//! message) or from the independent vectors in `../shared/vectors`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_evpnctl");
const MARKER: &str = "ffffffffffffffffffffffffffffffff";
/// KEEPALIVE: marker, length 19, type 4 (RFC 4271 §4.4).
const KEEPALIVE: &str = "ffffffffffffffffffffffffffffffff001304";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }
}

/// Runs evpnctl with `args` and `stdin`, killing it after 30 s.
fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start evpnctl");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The program may exit before reading everything (e.g. with hex arguments).
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("evpnctl {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    writer.join().unwrap();
    Run {
        code: status.code().expect("exit code (not killed by a signal)"),
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An UPDATE (RFC 4271 §4.3) from its withdrawn routes, path attributes and NLRI fields (hex).
fn update(withdrawn: &str, attrs: &str, nlri: &str) -> String {
    let (w, a, n) = (unhex(withdrawn), unhex(attrs), unhex(nlri));
    let len = 19 + 2 + w.len() + 2 + a.len() + n.len();
    let mut m = unhex(MARKER);
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&(w.len() as u16).to_be_bytes());
    m.extend_from_slice(&w);
    m.extend_from_slice(&(a.len() as u16).to_be_bytes());
    m.extend_from_slice(&a);
    m.extend_from_slice(&n);
    hex(&m)
}

/// ORIGIN IGP: flags 0x40 (well-known transitive), type 1, length 1, value 0 (RFC 4271 §5.1.1).
const ORIGIN_IGP: &str = "40010100";
/// An empty AS_PATH (flags 0x40, type 2, length 0), as an iBGP speaker originates it
/// (RFC 4271 §5.1.2).
const EMPTY_AS_PATH: &str = "400200";

/// MP_REACH_NLRI for L2VPN EVPN (AFI 25, SAFI 70) with next hop 198.18.0.1 and `nlri` (hex).
fn mp_reach_evpn(nlri: &str) -> String {
    let n = unhex(nlri);
    // afi(2) safi(1) nh_len(1) nh(4) reserved(1) nlri
    let mut v = vec![0x00, 0x19, 70, 4, 198, 18, 0, 1, 0];
    v.extend_from_slice(&n);
    let mut a = vec![0x90, 14]; // optional + extended length, type 14
    a.extend_from_slice(&(v.len() as u16).to_be_bytes());
    a.extend_from_slice(&v);
    hex(&a)
}

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/positive_vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e} (the shared vectors are expected beside the repository)")
    });
    serde_json::from_str(&text).unwrap()
}

/// The value of `'key': ...` in a vector's Python-style decode text: a quoted string or a bare
/// token.
fn field(decoded: &str, key: &str) -> Option<String> {
    let pat = format!("'{key}': ");
    let start = decoded.find(&pat)? + pat.len();
    let rest = &decoded[start..];
    if let Some(q) = rest.strip_prefix('\'') {
        Some(q[..q.find('\'')?].to_string())
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }
}

/// `label20=N` and `vni24=N` from a vector's label text like `0x001111(label20=273,vni24=4369)`.
fn label_views(label: &str) -> (u64, u64) {
    let num = |k: &str| {
        let s = &label[label.find(k).unwrap() + k.len()..];
        let end = s.find([',', ')']).unwrap();
        s[..end].parse::<u64>().unwrap()
    };
    (num("label20="), num("vni24="))
}

#[test]
fn keepalive_from_argument() {
    let r = run(&["decode", KEEPALIVE], b"");
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["type"], "keepalive");
    assert_eq!(lines[0]["length"], 19);
    assert_eq!(lines[0]["offset"], 0);
}

#[test]
fn several_messages_from_stdin_with_separators() {
    // KEEPALIVE, then ROUTE-REFRESH (RFC 2918 §3) for AFI 25 / subtype 0 / SAFI 70, length 23,
    // written with a 0x prefix, colons and line breaks.
    let input = format!(
        "0x{KEEPALIVE}\n{}\n",
        "ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff 00:17 05   0019 00 46"
    );
    let r = run(&["decode"], input.as_bytes());
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type"], "keepalive");
    assert_eq!(lines[1]["type"], "route-refresh");
    assert_eq!(lines[1]["offset"], 19);
    assert_eq!(lines[1]["length"], 23);
    assert_eq!(lines[1]["family"], "l2vpn-evpn");
    assert_eq!(lines[1]["afi"], 25);
    assert_eq!(lines[1]["safi"], 70);
    assert_eq!(lines[1]["subtype"], 0);
}

/// OPEN (RFC 4271 §4.2): version 4, My AS 23456 (AS_TRANS), hold time 90, BGP id 198.19.0.1,
/// optional parameters (16 bytes): capability MP L2VPN EVPN (RFC 4760 §8: 01 04 0019 00 46)
/// and 4-octet AS 4200000000 (RFC 6793: 41 04 fa56ea00). Length 29 + 16 = 45.
const OPEN: &str = concat!(
    "ffffffffffffffffffffffffffffffff",
    "002d01",
    "04",
    "5ba0",
    "005a",
    "c6130001",
    "10",
    "0206010400190046",
    "02064104fa56ea00"
);

#[test]
fn raw_file_open() {
    let path = std::env::temp_dir().join(format!("evpnctl-test-open-{}.bin", std::process::id()));
    std::fs::write(&path, unhex(OPEN)).unwrap();
    let r = run(&["decode", "--raw", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1);
    let o = &lines[0];
    assert_eq!(o["type"], "open");
    assert_eq!(o["length"], 45);
    assert_eq!(o["version"], 4);
    assert_eq!(o["my_as"], 23456);
    assert_eq!(o["asn"], 4_200_000_000u64);
    assert_eq!(o["hold_time"], 90);
    assert_eq!(o["bgp_id"], "198.19.0.1");
    let caps = o["capabilities"].as_array().unwrap();
    assert_eq!(caps.len(), 2);
    assert_eq!(caps[0]["name"], "multiprotocol");
    assert_eq!(caps[0]["code"], 1);
    assert_eq!(caps[0]["family"], "l2vpn-evpn");
    assert_eq!(caps[1]["name"], "four-octet-as");
    assert_eq!(caps[1]["asn"], 4_200_000_000u64);

    // The same bytes through `--raw -` (standard input).
    let r = run(&["decode", "--raw", "-"], &unhex(OPEN));
    assert_eq!(r.code, 0);
    assert_eq!(r.json_lines()[0]["bgp_id"], "198.19.0.1");
}

#[test]
fn ryu_type2_vector() {
    let v = vectors();
    let vec = &v["ryu/evpn_nlri_mac_ip_ad.pcap"];
    let msg_hex = vec["hex"].as_str().unwrap();
    let decoded = vec["decoded"][0].as_str().unwrap();
    let r = run(&["decode", msg_hex], b"");
    // The capture has MP_REACH_NLRI only: ORIGIN and AS_PATH are missing, which RFC 7606 §3(d)
    // makes treat-as-withdraw, so the exit status is 1.
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1);
    let m = &lines[0];
    assert_eq!(m["type"], "update");
    assert_eq!(m["length"], msg_hex.len() / 2);
    let reach = &m["attributes"]["MP_REACH_NLRI"];
    assert_eq!(reach["family"], "l2vpn-evpn");
    assert_eq!(reach["next_hop"], "17.17.17.17");
    let route = &reach["nlri"][0];
    assert_eq!(route["route_type"], 2);
    assert_eq!(route["mac"], "11:11:11:11:11:11");
    assert_eq!(route["rd"], "4369:286331153");
    assert_eq!(route["ip"], "17.17.17.17");
    assert_eq!(route["ethernet_tag"], 4369);
    assert_eq!(route["esi"], "00:11:11:11:11:11:11:11:11:11");
    assert_eq!(route["esi_type"], 0);
    // Label 1 bytes are 00 11 11 (RFC 7432 §7.2 layout: the last 3 bytes of the route):
    // 24-bit value 0x001111 = 4369 (the VNI, RFC 8365 §5.1.3), MPLS label 0x00111 = 273.
    assert_eq!(route["label1"], 0x001111);
    assert_eq!(route["label1_mpls"], 0x00111);
    assert_eq!(route["vni"], 0x001111);
    assert!(route["label2"].is_null());
    // ...which is also what the vector's independent decode says.
    let (l20, vni24) = label_views(&field(decoded, "label1").unwrap());
    assert_eq!(route["label1_mpls"], l20);
    assert_eq!(route["vni"], vni24);

    let out = &m["outcome"];
    assert_eq!(out["action"], "treat-as-withdraw");
    let attrs: Vec<&str> = out["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attribute"].as_str().unwrap())
        .collect();
    assert!(
        attrs.contains(&"ORIGIN") && attrs.contains(&"AS_PATH"),
        "{attrs:?}"
    );
    assert_eq!(out["withdraw"].as_array().unwrap().len(), 1);
    assert_eq!(out["withdraw"][0]["mac"], "11:11:11:11:11:11");

    let t = run(&["decode", "--text", msg_hex], b"");
    assert_eq!(t.code, 1);
    assert!(t.stdout.contains("UPDATE"), "{}", t.stdout);
    assert!(
        t.stdout
            .contains("[2] rd 4369:286331153 esi 00:11:11:11:11:11:11:11:11:11 tag 4369 mac 11:11:11:11:11:11 ip 17.17.17.17 vni 4369"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout.contains("outcome treat-as-withdraw"),
        "{}",
        t.stdout
    );
}

/// Every full UPDATE among the shared vectors decodes to the fields the vector lists.
#[test]
fn all_full_update_vectors_match_their_decodes() {
    let v = vectors();
    let mut checked = 0;
    for (name, vec) in v.as_object().unwrap() {
        if vec["kind"] != "full BGP UPDATE" {
            continue;
        }
        let decoded = vec["decoded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .find(|d| d.starts_with("MP_REACH"))
            .unwrap();
        let r = run(&["decode", vec["hex"].as_str().unwrap()], b"");
        let lines = r.json_lines();
        assert_eq!(lines.len(), 1, "{name}: {}", r.stdout);
        let reach = &lines[0]["attributes"]["MP_REACH_NLRI"];
        let nh = &decoded[decoded.find("nh=").unwrap() + 3..];
        assert_eq!(reach["next_hop"], nh[..nh.find(' ').unwrap()], "{name}");
        let route = &reach["nlri"][0];
        assert_eq!(route["rd"], field(decoded, "rd").unwrap(), "{name}");
        if let Some(etag) = field(decoded, "etag") {
            assert_eq!(route["ethernet_tag"].to_string(), etag, "{name}");
        }
        if let Some(esi) = field(decoded, "esi") {
            // 'typeN:<9 value bytes in hex>'
            let (t, value) = esi.split_once(':').unwrap();
            assert_eq!(
                route["esi_type"].to_string(),
                t.trim_start_matches("type"),
                "{name}"
            );
            let ours = route["esi"].as_str().unwrap().replace(':', "");
            assert_eq!(&ours[2..], value, "{name}");
        }
        for (theirs, ours) in [
            ("mac", "mac"),
            ("ip", "ip"),
            ("orig_ip", "originator_ip"),
            ("gw", "gateway_ip"),
        ] {
            if let Some(x) = field(decoded, theirs) {
                assert_eq!(route[ours], x, "{name}: {theirs}");
            }
        }
        if let (Some(p), Some(len)) = (field(decoded, "prefix"), field(decoded, "plen")) {
            assert_eq!(route["prefix"], format!("{p}/{len}"), "{name}");
        }
        for (theirs, ours) in [("label", "label"), ("label1", "label1")] {
            if let Some(l) = field(decoded, theirs) {
                let (l20, vni24) = label_views(&l);
                assert_eq!(route[format!("{ours}_mpls")], l20, "{name}");
                assert_eq!(route[ours], vni24, "{name}");
                assert_eq!(route["vni"], vni24, "{name}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} full UPDATE vectors found");
}

/// GoBGP's type-2 route with two labels, wrapped in an UPDATE with ORIGIN and AS_PATH: accepted,
/// exit 0, both label views of both labels as the vector's decode gives them.
#[test]
fn gobgp_two_label_route_accepted() {
    let v = vectors();
    let vec = &v["gobgp/GOBGP_TYPE2_MAC_IPV4_TWO_LABELS"];
    let decoded = vec["decoded"][0].as_str().unwrap();
    let attrs = format!(
        "{}{ORIGIN_IGP}{EMPTY_AS_PATH}",
        mp_reach_evpn(vec["hex"].as_str().unwrap())
    );
    let r = run(&["decode", &update("", &attrs, "")], b"");
    assert_eq!(r.code, 0, "stdout: {} stderr: {}", r.stdout, r.stderr);
    let m = &r.json_lines()[0];
    assert!(m.get("outcome").is_none());
    assert_eq!(m["attributes"]["ORIGIN"], "igp");
    assert_eq!(m["attributes"]["AS_PATH"], serde_json::json!([]));
    let route = &m["attributes"]["MP_REACH_NLRI"]["nlri"][0];
    assert_eq!(route["mac"], field(decoded, "mac").unwrap());
    assert_eq!(route["ip"], field(decoded, "ip").unwrap());
    // The RD bytes 0002 00000005 0006 are type 2 (4-octet AS, RFC 4364 §4.2); our text form
    // marks that type with an `L` after the AS, where the vector's decode shows just "5:6".
    let hex_nlri = vec["hex"].as_str().unwrap();
    assert_eq!(&hex_nlri[4..8], "0002");
    assert_eq!(
        route["rd"],
        field(decoded, "rd").unwrap().replacen(':', "L:", 1)
    );
    let (l1_20, l1_24) = label_views(&field(decoded, "label1").unwrap());
    let (l2_20, l2_24) = label_views(&field(decoded, "label2").unwrap());
    assert_eq!(route["label1"], l1_24);
    assert_eq!(route["label1_mpls"], l1_20);
    assert_eq!(route["label2"], l2_24);
    assert_eq!(route["label2_mpls"], l2_20);
}

#[test]
fn bad_marker_after_a_keepalive() {
    // The second message's marker has one 0x00 byte at index 5: Message Header Error /
    // Connection Not Synchronized (RFC 4271 §6.1), at absolute byte 19 + 5.
    let bad = "ffffffffff00ffffffffffffffffffff001304";
    let r = run(&["decode", KEEPALIVE, bad], b"");
    assert_eq!(r.code, 1);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert_eq!(lines[0]["type"], "keepalive");
    let e = &lines[1];
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"], "session-reset");
    assert_eq!(e["offset"], 24);
    assert_eq!(e["message_offset"], 19);
    assert_eq!(e["offset_in_message"], 5);
    assert_eq!(e["field"], "header.marker");
    assert_eq!(e["outcome"]["action"], "session-reset");
    assert_eq!(e["outcome"]["notification"]["code"], 1);
    assert_eq!(e["outcome"]["notification"]["subcode"], 1);
    assert!(r.stderr.contains("byte 24"), "{}", r.stderr);
}

#[test]
fn keepalive_of_length_20() {
    // Length 20 for a KEEPALIVE: Bad Message Length; the data is the erroneous length field
    // (RFC 4271 §6.1), 00 14, found at byte 16.
    let r = run(&["decode", &format!("{MARKER}00140400")], b"");
    assert_eq!(r.code, 1);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1);
    let e = &lines[0];
    assert_eq!(e["error"], "session-reset");
    assert_eq!(e["offset"], 16);
    assert_eq!(e["field"], "header.length");
    let n = &e["outcome"]["notification"];
    assert_eq!(n["code"], 1);
    assert_eq!(n["subcode"], 2);
    assert_eq!(n["data"], "0014");
    assert_eq!(n["subcode_name"], "Bad Message Length");

    let t = run(&["decode", "--text", &format!("{MARKER}00140400")], b"");
    assert_eq!(t.code, 1);
    assert!(t.stdout.contains("error at byte 16"), "{}", t.stdout);
    assert!(t.stdout.contains("NOTIFICATION 1/2"), "{}", t.stdout);
}

#[test]
fn truncated_input() {
    // A KEEPALIVE cut after 10 bytes: the input ends at byte 19 + 10.
    let r = run(&["decode", KEEPALIVE, &KEEPALIVE[..20]], b"");
    assert_eq!(r.code, 1);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["error"], "truncated");
    assert_eq!(lines[1]["offset"], 29);
    assert_eq!(lines[1]["needed"], 19);
    assert_eq!(lines[1]["available"], 10);
    assert!(lines[1]["outcome"].is_null());
}

#[test]
fn bad_hex_and_empty_input() {
    let r = run(&["decode", "ff", "fg"], b"");
    assert_eq!(r.code, 1);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["error"], "bad-hex");
    // Arguments are joined with one space: "ff fg", the 'g' is character 4.
    assert_eq!(lines[0]["position"], 4);

    let odd = run(&["decode", "fff"], b"");
    assert_eq!(odd.code, 1);
    assert_eq!(odd.json_lines()[0]["error"], "bad-hex");

    for (args, stdin) in [
        (vec!["decode"], &b""[..]),
        (vec!["decode"], b" \n\t"),
        (vec!["decode", " "], b""),
    ] {
        let r = run(&args, stdin);
        assert_eq!(r.code, 1, "{args:?}");
        let lines = r.json_lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["error"], "no-input");
    }

    let missing = run(&["decode", "--raw", "/nonexistent/evpnctl-test"], b"");
    assert_eq!(missing.code, 1);
    assert_eq!(missing.json_lines()[0]["error"], "io");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        run(&["decode", "--text", "--pretty", KEEPALIVE], b"").code,
        2
    );
    assert_eq!(
        run(&["decode", "--add-path", "ipv5", KEEPALIVE], b"").code,
        2
    );
    assert_eq!(run(&["decode", "--raw", "x", KEEPALIVE], b"").code, 2);
}

#[test]
fn pretty_output_is_one_json_document_per_message() {
    let r = run(&["decode", "--pretty", KEEPALIVE, KEEPALIVE], b"");
    assert_eq!(r.code, 0);
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&r.stdout)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1]["offset"], 19);
    assert!(r.stdout.lines().count() > 2);
}

#[test]
fn add_path_flag() {
    // IPv4 unicast UPDATE: ORIGIN, empty AS_PATH, NEXT_HOP 198.18.0.1 (40 03 04 c6120001);
    // NLRI with path id 7 then 192.0.2.0/24 (RFC 7911 §3: 00000007 18 c00002).
    let attrs = format!("{ORIGIN_IGP}{EMPTY_AS_PATH}400304c6120001");
    let msg = update("", &attrs, "0000000718c00002");
    let r = run(&["decode", "--add-path", "ipv4-unicast", &msg], b"");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let m = &r.json_lines()[0];
    assert_eq!(m["nlri"].as_array().unwrap().len(), 1);
    assert_eq!(m["nlri"][0]["path_id"], 7);
    assert_eq!(m["nlri"][0]["prefix"], "192.0.2.0/24");
    assert_eq!(m["attributes"]["NEXT_HOP"], "198.18.0.1");

    // Without the flag the same bytes are read as prefixes, not as one path-id route.
    let r = run(&["decode", &msg], b"");
    let lines = r.json_lines();
    let first = &lines[0];
    assert_ne!(first["nlri"][0]["prefix"], "192.0.2.0/24", "{}", r.stdout);
}

#[test]
fn two_octet_as_flag() {
    // AS_PATH with one AS_SEQUENCE of one 2-octet AS 65000: 40 02 04 | 02 01 fde8.
    let attrs = format!("{ORIGIN_IGP}{}400304c6120001", "40020402 01fde8").replace(' ', "");
    let msg = update("", &attrs, "18c00002");
    let r = run(&["decode", "--two-octet-as", &msg], b"");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let m = &r.json_lines()[0];
    assert_eq!(m["attributes"]["AS_PATH"][0]["type"], "sequence");
    assert_eq!(m["attributes"]["AS_PATH"][0]["asns"][0], 65000);
    // Read as 4-octet ASes the segment needs 4 bytes of AS but has 2: malformed AS_PATH,
    // treat-as-withdraw (RFC 7606 §7.2).
    let r = run(&["decode", &msg], b"");
    assert_eq!(r.code, 1);
    assert_eq!(r.json_lines()[0]["outcome"]["action"], "treat-as-withdraw");
}

#[test]
fn ebgp_flag_discards_local_pref() {
    // LOCAL_PREF 100 (40 05 04 00000064): from an external peer it is discarded (RFC 7606 §7.5).
    let attrs = format!(
        "{ORIGIN_IGP}{EMPTY_AS_PATH}400304c6120001{}",
        "40050400000064"
    );
    let msg = update("", &attrs, "18c00002");
    let ibgp = run(&["decode", &msg], b"");
    assert_eq!(ibgp.code, 0, "{}", ibgp.stdout);
    assert_eq!(ibgp.json_lines()[0]["attributes"]["LOCAL_PREF"], 100);
    let ebgp = run(&["decode", "--ebgp", &msg], b"");
    assert_eq!(ebgp.code, 1);
    let m = &ebgp.json_lines()[0];
    assert!(m["attributes"].get("LOCAL_PREF").is_none());
    assert_eq!(m["outcome"]["action"], "attribute-discard");
    assert_eq!(m["outcome"]["causes"][0]["attribute"], "LOCAL_PREF");
}

#[test]
fn extended_message_flag() {
    // 1000 host routes 203.0.113.x/32 (20 cb0071xx, 5 bytes each, some repeated): the UPDATE
    // exceeds 4096 bytes, which only an extended-message session allows (RFC 8654 §4).
    let attrs = format!("{ORIGIN_IGP}{EMPTY_AS_PATH}400304c6120001");
    let nlri: String = (0..1000u32)
        .map(|i| format!("20cb00{:02x}{:02x}", 113, i % 256))
        .collect();
    let msg = update("", &attrs, &nlri);
    assert!(msg.len() / 2 > 4096);
    let plain = run(&["decode", &msg], b"");
    assert_eq!(plain.code, 1);
    let e = &plain.json_lines()[0];
    assert_eq!(e["outcome"]["notification"]["code"], 1);
    assert_eq!(e["outcome"]["notification"]["subcode"], 2);
    let ext = run(&["decode", "--extended-message", &msg], b"");
    assert_eq!(ext.code, 0, "{}", ext.stderr);
    assert_eq!(ext.json_lines()[0]["nlri"].as_array().unwrap().len(), 1000);
}

#[test]
fn notification_with_shutdown_communication() {
    // NOTIFICATION Cease / Administrative Shutdown with communication "maint" (RFC 9003 §2):
    // 06 02 | 05 6d61696e74; length 19 + 2 + 6 = 27.
    let msg = format!("{MARKER}001b030602056d61696e74");
    let r = run(&["decode", &msg], b"");
    assert_eq!(r.code, 0);
    let m = &r.json_lines()[0];
    assert_eq!(m["type"], "notification");
    assert_eq!(m["code"], 6);
    assert_eq!(m["subcode"], 2);
    assert_eq!(m["code_name"], "Cease");
    assert_eq!(m["data"], "056d61696e74");
    assert_eq!(m["shutdown_communication"], "maint");
}

#[test]
fn end_of_rib_and_extended_communities() {
    // EVPN End-of-RIB (RFC 4724 §2): only an empty MP_UNREACH_NLRI, 80 0f 03 0019 46.
    let eor = update("", "800f03001946", "");
    let r = run(&["decode", &eor], b"");
    assert_eq!(r.code, 0);
    assert_eq!(r.json_lines()[0]["end_of_rib"], "l2vpn-evpn");

    // Type-3 route (RFC 7432 §7.3): RD 198.19.0.1:100 (0001 c6130001 0064), tag 0, IPv4
    // originator 198.18.0.1; with route target 65000:100 (0002 fde8 00000064), VXLAN
    // encapsulation (030c 0000 0000 0008) and PMSI ingress replication, VNI 100 (RFC 6514 §5).
    let route = concat!("0311", "0001c61300010064", "00000000", "20c6120001");
    // EXTENDED_COMMUNITIES: flags c0, type 16, length 16, two communities.
    let ec = concat!("c01010", "0002fde800000064", "030c000000000008");
    // PMSI_TUNNEL: flags c0, type 22, length 9 | flags 00, tunnel type 6, label 000064,
    // tunnel endpoint c6120001.
    let pmsi = concat!("c01609", "00", "06", "000064", "c6120001");
    let attrs = format!(
        "{}{ORIGIN_IGP}{EMPTY_AS_PATH}{ec}{pmsi}",
        mp_reach_evpn(route)
    );
    let r = run(&["decode", &update("", &attrs, "")], b"");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let m = &r.json_lines()[0];
    let a = &m["attributes"];
    let ecs = a["EXTENDED_COMMUNITIES"].as_array().unwrap();
    assert_eq!(ecs[0]["name"], "route-target");
    assert_eq!(ecs[0]["route_target"], "65000:100");
    assert_eq!(ecs[1]["name"], "encapsulation");
    assert_eq!(ecs[1]["tunnel_type"], 8);
    assert_eq!(ecs[1]["tunnel"], "vxlan");
    assert_eq!(ecs[0]["text"], "rt 65000:100");
    assert_eq!(ecs[1]["text"], "encap vxlan");
    let t = run(&["decode", "--text", &update("", &attrs, "")], b"");
    assert!(
        t.stdout
            .contains("  EXTENDED_COMMUNITIES rt 65000:100, encap vxlan\n"),
        "{}",
        t.stdout
    );
    assert_eq!(a["PMSI_TUNNEL"]["tunnel_type"], 6);
    assert_eq!(a["PMSI_TUNNEL"]["endpoint"], "198.18.0.1");
    assert_eq!(a["PMSI_TUNNEL"]["vni"], 100);
    let r3 = &a["MP_REACH_NLRI"]["nlri"][0];
    assert_eq!(r3["route_type"], 3);
    assert_eq!(r3["rd"], "198.19.0.1:100");
    assert_eq!(r3["originator_ip"], "198.18.0.1");
    assert!(r3.get("esi").is_none());
}

/// The Only to Customer attribute (RFC 9234 §5), the IPv6 address specific extended
/// communities (RFC 5701) and the BGP Role capability (RFC 9234 §4.1), in JSON and text.
#[test]
fn only_to_customer_ipv6_communities_and_role() {
    // IPv4 UPDATE for 198.51.100.0/24 via 198.18.0.1 from AS 65001.
    // ONLY_TO_CUSTOMER: flags c0, type 35, length 4, AS 65001 (0000fde9).
    // IPV6_EXTENDED_COMMUNITIES: flags c0, type 25, length 20: route target (00 02),
    // 2001:db8::1, local administrator 100 (0064).
    let attrs = concat!(
        "40010100",
        "40020602010000fde9",
        "400304c6120001",
        "c0230400 00fde9",
        "c01914",
        "0002",
        "20010db8000000000000000000000001",
        "0064",
    )
    .replace(' ', "");
    let r = run(&["decode", &update("", &attrs, "18c63364")], b"");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let a = &r.json_lines()[0]["attributes"];
    assert_eq!(a["ONLY_TO_CUSTOMER"], 65001);
    assert_eq!(a["IPV6_EXTENDED_COMMUNITIES"][0]["name"], "route-target");
    assert_eq!(
        a["IPV6_EXTENDED_COMMUNITIES"][0]["route_target"],
        "[2001:db8::1]:100"
    );
    let t = run(&["decode", "--text", &update("", &attrs, "18c63364")], b"");
    assert!(
        t.stdout.contains("  ONLY_TO_CUSTOMER 65001\n"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout
            .contains("  IPV6_EXTENDED_COMMUNITIES rt [2001:db8::1]:100\n"),
        "{}",
        t.stdout
    );

    // OPEN of 34 bytes: version 4, AS 65001, hold time 90, BGP identifier 198.19.0.1, 5 bytes
    // of optional parameters: one Capabilities parameter (type 2, length 3) holding the BGP
    // Role capability: code 9, length 1, role 3 (customer).
    let open = format!("{MARKER}0022 01 04 fde9 005a c6130001 05 0203 090103").replace(' ', "");
    let r = run(&["decode", &open], b"");
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let cap = &r.json_lines()[0]["capabilities"][0];
    assert_eq!(cap["name"], "role");
    assert_eq!(cap["role"], 3);
    assert_eq!(cap["role_name"], "customer");
    let t = run(&["decode", "--text", &open], b"");
    assert!(
        t.stdout.contains("  capability role customer\n"),
        "{}",
        t.stdout
    );
}
