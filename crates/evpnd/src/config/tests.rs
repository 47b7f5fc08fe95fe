//! The configuration parser: good files parse, bad ones name the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use evpnd_wire::Vni;

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

const GOOD: &str = r#"
asn = 65001
router-id = "198.19.0.1"
[bgp]
listen = "127.0.0.1:11179"
[[neighbor]]
address = "198.18.0.2"
remote-asn = 65000
[[static-route]]
type = "mac-ip"
rd = "198.19.0.1:100"
route-targets = ["65000:100"]
vni = 100
mac = "02:00:00:00:00:01"
ip = "192.0.2.1"
[api]
listen = "unix:/tmp/evpnd-test.sock"
"#;

#[test]
fn good_config_parses() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.node.asn, 65001);
    assert_eq!(c.node.neighbors.len(), 1);
    assert!(c.node.neighbors[0].peer.is_external());
    assert_eq!(c.node.static_routes.len(), 1);
    assert_eq!(c.api, Some(ApiListen::Unix("/tmp/evpnd-test.sock".into())));
}

#[test]
fn bad_configs_name_the_key() {
    let cases = [
        (GOOD.replace("asn = 65001", "asn = 0"), "asn"),
        (
            GOOD.replace("remote-asn = 65000", "remote-asn = 65000\nhold-time = 2"),
            "hold-time",
        ),
        (GOOD.replace("vni = 100", "vni = 16777216"), "vni"),
        (
            GOOD.replace("mac = \"02:00:00:00:00:01\"", "mac = \"02:00\""),
            "mac",
        ),
        (GOOD.replace("[api]", "[api]\nbogus = 1"), "bogus"),
        (
            GOOD.replace("listen = \"127.0.0.1:11179\"", "listen = \"nowhere\""),
            "bgp.listen",
        ),
        (GOOD.replace("rd = \"198.19.0.1:100\"", "rd = \"x\""), "rd"),
        (
            format!("{GOOD}\n[[neighbor]]\naddress = \"198.18.0.2\"\nremote-asn = 1\n"),
            "duplicate",
        ),
    ];
    for (text, key) in cases {
        let e = parse(&text).unwrap_err().0;
        assert!(e.contains(key), "error {e:?} should mention {key:?}");
    }
}

const EVPN: &str = r#"
asn = 65000
router-id = "198.19.0.1"
[evpn]
vtep = "198.19.0.1"
[[vni]]
vni = 100
[[vni]]
vni = 200
rd = "65000:200"
import-route-targets = ["65000:200", "*:200"]
export-route-targets = ["65000:200", "65000:201"]
[[endpoint]]
vni = 100
mac = "02:00:00:00:00:01"
ip = "192.0.2.1"
sticky = true
[[endpoint]]
vni = 200
mac = "02:00:00:00:00:02"
ip = "2001:db8::2"
router = true
static-binding = true
[dataplane]
kind = "memory"
"#;

#[test]
fn evpn_sections_parse() {
    use evpnd_evpn::{Freeze, ImportTarget};
    let c = parse(EVPN).unwrap();
    assert_eq!(c.dataplane, DataplaneKind::Memory);
    let e = c.node.evpn.unwrap();
    assert_eq!(e.engine.vtep, "198.19.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(e.engine.asn, 65000);
    // Defaults of RFC 7432 §15.1: 5 moves in 180 s, frozen 180 s.
    let dd = e.engine.duplicate_detection;
    assert!(dd.enabled);
    assert_eq!(
        (dd.max_moves, dd.window, dd.freeze),
        (
            5,
            Duration::from_secs(180),
            Freeze::For(Duration::from_secs(180))
        )
    );
    assert_eq!(e.evis.len(), 2);
    assert_eq!((e.evis[0].vni, e.evis[0].rd), (vni(100), None));
    assert!(e.evis[0].import.is_empty() && e.evis[0].export.is_empty());
    assert_eq!(e.evis[1].rd, Some("65000:200".parse().unwrap()));
    assert_eq!(
        e.evis[1].import,
        vec![
            ImportTarget::Exact(RouteTarget::As2 {
                asn: 65000,
                value: 200
            }),
            ImportTarget::AnyAs(vni(200))
        ]
    );
    assert_eq!(e.evis[1].export.len(), 2);
    assert_eq!(e.endpoints.len(), 2);
    let a = e.endpoints[0];
    assert_eq!(a.mac, "02:00:00:00:00:01".parse().unwrap());
    assert!(a.sticky && !a.router && !a.static_binding);
    let b = e.endpoints[1];
    assert!(!b.sticky && b.router && b.static_binding);
    assert_eq!(b.ip, Some("2001:db8::2".parse().unwrap()));
}

/// The example in docs/configuration.md is a valid configuration.
#[test]
fn documented_example_parses() {
    let doc = include_str!("../../../../docs/configuration.md");
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let len = doc[start..].find("```").unwrap();
    // The example lists every neighbor option, also ttl-security and multihop, which
    // exclude each other: drop multihop.
    let text: String = doc[start..start + len]
        .lines()
        .filter(|l| !l.starts_with("multihop"))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let e = c.node.evpn.unwrap();
    assert_eq!((e.evis.len(), e.endpoints.len()), (1, 1));
}

#[test]
fn evpn_is_off_without_vtep_and_dataplane_defaults_to_none() {
    let c = parse(GOOD).unwrap();
    assert!(c.node.evpn.is_none());
    assert_eq!(c.dataplane, DataplaneKind::None);
    // A VTEP alone runs the engine with no EVI (endpoints come later through the API).
    let c = parse("asn = 1\nrouter-id = \"198.19.0.1\"\n[evpn]\nvtep = \"198.19.0.9\"\n").unwrap();
    assert!(c.node.evpn.unwrap().evis.is_empty());
}

#[test]
fn duplicate_detection_settings() {
    use evpnd_evpn::Freeze;
    let text = EVPN.replace(
        "vtep = \"198.19.0.1\"",
        "vtep = \"198.19.0.1\"\nduplicate-detection = false\ndup-max-moves = 2\ndup-window = 10\ndup-freeze = \"permanent\"",
    );
    let dd = parse(&text)
        .unwrap()
        .node
        .evpn
        .unwrap()
        .engine
        .duplicate_detection;
    assert!(!dd.enabled);
    assert_eq!(dd.max_moves, 2);
    assert_eq!(dd.window, Duration::from_secs(10));
    assert_eq!(dd.freeze, Freeze::Permanent);
    let text = EVPN.replace(
        "vtep = \"198.19.0.1\"",
        "vtep = \"198.19.0.1\"\ndup-freeze = 30",
    );
    let dd = parse(&text)
        .unwrap()
        .node
        .evpn
        .unwrap()
        .engine
        .duplicate_detection;
    assert_eq!(dd.freeze, Freeze::For(Duration::from_secs(30)));
}

#[test]
fn route_target_derivation() {
    use evpnd_evpn::RtDerivation;
    let vtep = "vtep = \"198.19.0.1\"";
    let e = parse(EVPN).unwrap().node.evpn.unwrap();
    assert_eq!(e.engine.rt_derivation, RtDerivation::AsnVni);
    let text = EVPN.replace(
        vtep,
        &format!("{vtep}\nroute-target-derivation = \"rfc8365\"\ndomain-id = 3"),
    );
    let e = parse(&text).unwrap().node.evpn.unwrap();
    assert_eq!(
        e.engine.rt_derivation,
        RtDerivation::Rfc8365 { domain_id: 3 }
    );
    // The RT-Constraint membership of VNI 100 follows: 65000:(type 1 VXLAN, D-ID 3, VNI)
    // (RFC 8365 §5.1.2.1: A=0, type=1 in bits 28..30, D-ID in bits 24..27).
    let rts = evpnd_evpn::ResolvedEvi::resolve(&e.engine, &e.evis[0]).import;
    assert_eq!(
        rts[0],
        evpnd_evpn::ImportTarget::Exact(RouteTarget::As2 {
            asn: 65000,
            value: (1 << 28) | (3 << 24) | 100
        })
    );
}

#[test]
fn bad_evpn_configs_name_the_key() {
    let vtep = "vtep = \"198.19.0.1\"";
    let with_evpn = |extra: &str| EVPN.replace(vtep, &format!("{vtep}\n{extra}"));
    let endpoint = |body: &str| format!("{EVPN}\n[[endpoint]]\n{body}\n");
    let cases: Vec<(String, &str)> = vec![
        (EVPN.replace(vtep, ""), "evpn.vtep: required"),
        (EVPN.replace(vtep, "vtep = \"224.0.0.1\""), "evpn.vtep"),
        (EVPN.replace(vtep, "vtep = \"nope\""), "vtep"),
        (with_evpn("dup-max-moves = 1"), "evpn.dup-max-moves"),
        (with_evpn("dup-window = 0"), "evpn.dup-window"),
        (with_evpn("dup-freeze = \"forever\""), "evpn.dup-freeze"),
        (with_evpn("dup-freeze = 0"), "evpn.dup-freeze"),
        (with_evpn("bogus = 1"), "bogus"),
        (
            with_evpn("route-target-derivation = \"type1\""),
            "evpn.route-target-derivation",
        ),
        (
            with_evpn("route-target-derivation = \"rfc8365\"\ndomain-id = 16"),
            "evpn.domain-id",
        ),
        (with_evpn("domain-id = 1"), "evpn.domain-id"),
        (
            EVPN.replace("vni = 100\n[[vni]]", "vni = 0\n[[vni]]"),
            "vni[0].vni",
        ),
        (
            EVPN.replace("vni = 100\n[[vni]]", "vni = 16777216\n[[vni]]"),
            "vni[0].vni",
        ),
        (
            EVPN.replace("vni = 100\n[[vni]]", "vni = 200\n[[vni]]"),
            "vni[1].vni: VNI 200 is configured already",
        ),
        (
            EVPN.replace("rd = \"65000:200\"", "rd = \"x:y\""),
            "vni[1].rd",
        ),
        // 198.19.0.1:100 is VNI 100's auto RD (RFC 7432 §7.9).
        (
            EVPN.replace("rd = \"65000:200\"", "rd = \"198.19.0.1:100\""),
            "vni[1].rd",
        ),
        (
            EVPN.replace("\"*:200\"", "\"*:x\""),
            "vni[1].import-route-targets",
        ),
        (
            EVPN.replace("\"*:200\"", "\"*:16777216\""),
            "vni[1].import-route-targets",
        ),
        (
            EVPN.replace("\"65000:201\"", "\"65000\""),
            "vni[1].export-route-targets",
        ),
        (
            EVPN.replace(
                "import-route-targets = [\"65000:200\", \"*:200\"]",
                "import-route-targets = []",
            ),
            "vni[1].import-route-targets",
        ),
        (
            endpoint("vni = 300\nmac = \"02:00:00:00:00:03\""),
            "endpoint[2].vni: VNI 300",
        ),
        (
            endpoint("vni = 100\nmac = \"01:00:5e:00:00:01\""),
            "endpoint[2].mac",
        ),
        (
            endpoint("vni = 100\nmac = \"00:00:00:00:00:00\""),
            "endpoint[2].mac",
        ),
        (endpoint("vni = 100\nmac = \"02:00\""), "endpoint[2].mac"),
        (
            endpoint("vni = 100\nmac = \"02:00:00:00:00:01\"\nip = \"192.0.2.1\"\nsticky = true"),
            "endpoint[2]: duplicate of endpoint[0]",
        ),
        (
            endpoint("vni = 100\nmac = \"02:00:00:00:00:01\""),
            "endpoint[2].sticky",
        ),
        (
            endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nip = \"192.0.2.1\""),
            "endpoint[2].ip",
        ),
        (
            endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nip = \"0.0.0.0\""),
            "endpoint[2].ip",
        ),
        (
            endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nip = \"192.0.2.9\"\nrouter = true"),
            "endpoint[2].router",
        ),
        (
            endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nstatic-binding = true"),
            "endpoint[2].static-binding",
        ),
        (
            endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nport = 1"),
            "port",
        ),
        (
            EVPN.replace("kind = \"memory\"", "kind = \"fast\""),
            "dataplane.kind",
        ),
        (
            GOOD.replace("[api]", "[[vni]]\nvni = 5\n[api]"),
            "evpn.vtep: required",
        ),
        // Both auto RDs are 198.19.0.1:100 (the VNI's low 16 bits, RFC 7432 §7.9).
        (
            format!("{EVPN}\n[[vni]]\nvni = 65636\n"),
            "vni[2].rd: 198.19.0.1:100 is also the RD of VNI 100",
        ),
    ];
    for (text, key) in cases {
        let e = match parse(&text) {
            Ok(_) => panic!("accepted, expected an error naming {key:?}:\n{text}"),
            Err(e) => e.0,
        };
        assert!(e.contains(key), "error {e:?} should mention {key:?}");
    }
}

/// GOOD with `more` lines added to its `[[neighbor]]` (an eBGP neighbour).
fn neighbor_with(more: &str) -> String {
    GOOD.replace("remote-asn = 65000", &format!("remote-asn = 65000\n{more}"))
}

#[test]
fn a_role_on_an_ibgp_neighbor_is_refused() {
    let text = GOOD
        .replace("asn = 65001", "asn = 65000")
        .replace("remote-asn = 65000", "remote-asn = 65000\nrole = \"peer\"");
    let e = parse(&text).unwrap_err().0;
    assert!(
        e.contains("neighbor[0] (198.18.0.2).role: needs an eBGP neighbor"),
        "{e}"
    );
}

#[test]
fn neighbor_roles_parse() {
    use evpnd_wire::capability::BgpRole;
    let p = &parse(GOOD).unwrap().node.neighbors[0].peer;
    assert_eq!((p.role, p.strict_role), (None, false), "default: no role");
    for (name, role) in [
        ("provider", BgpRole::PROVIDER),
        ("rs", BgpRole::RS),
        ("rs-client", BgpRole::RS_CLIENT),
        ("customer", BgpRole::CUSTOMER),
        ("peer", BgpRole::PEER),
    ] {
        let c = parse(&neighbor_with(&format!("role = \"{name}\""))).unwrap();
        let p = &c.node.neighbors[0].peer;
        assert_eq!((p.role, p.strict_role), (Some(role), false), "{name}");
        assert_eq!(p.local_role(), Some(role), "eBGP: in effect");
    }
    let c = parse(&neighbor_with("role = \"customer\"\nrole-strict = true")).unwrap();
    assert!(c.node.neighbors[0].peer.strict_role);
}

#[test]
fn bad_neighbor_roles_name_the_key() {
    for bad in [
        "\"transit\"",
        "\"Provider\"",
        "\"\"",
        "\"unassigned\"",
        "\"route-server\"",
    ] {
        let e = parse(&neighbor_with(&format!("role = {bad}")))
            .unwrap_err()
            .0;
        assert!(e.contains("neighbor[0] (198.18.0.2).role"), "{bad}: {e}");
    }
    for (bad, key) in [
        ("role = 3", "role"),
        ("role-strict = \"yes\"", "role-strict"),
        (
            "role-strict = true",
            "neighbor[0] (198.18.0.2).role-strict: needs a role",
        ),
    ] {
        let e = parse(&neighbor_with(bad)).unwrap_err().0;
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[test]
fn the_linux_data_plane_takes_per_vni_names_learning_and_interfaces() {
    use evpnd_dataplane::linux::DeviceModel;
    let text = EVPN
        .replace(
            "kind = \"memory\"",
            "kind = \"linux\"\nlearning = false\nudp-port = 4790",
        )
        .replacen(
            "[[vni]]\nvni = 200",
            "[[vni]]\nvni = 200\nbridge = \"br-blue\"\nvxlan-device = \"vx-blue\"\nlearning = true",
            1,
        )
        .replacen("sticky = true", "sticky = true\ninterface = \"t1v100\"", 1);
    let c = parse(&text).unwrap();
    let DataplaneKind::Linux(l) = &c.dataplane else {
        panic!("not linux: {:?}", c.dataplane);
    };
    assert_eq!(l.model, DeviceModel::PerVni);
    assert_eq!((l.learning, l.udp_port), (false, 4790));
    assert_eq!(l.vtep, "198.19.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(l.vnis[&100].bridge.as_deref(), Some("br100"));
    assert_eq!(l.vnis[&100].vxlan.as_deref(), Some("vx100"));
    assert_eq!(l.vnis[&100].learning, None);
    assert_eq!(l.vnis[&200].bridge.as_deref(), Some("br-blue"));
    assert_eq!(l.vnis[&200].learning, Some(true));
    let e = c.node.evpn.unwrap();
    assert_eq!(
        e.endpoints[0]
            .port
            .map(|p| p.as_str().to_string())
            .as_deref(),
        Some("t1v100")
    );

    let single = EVPN.replace(
        "kind = \"memory\"",
        "kind = \"linux\"\nmodel = \"single-vxlan\"\nvxlan-device = \"vxe\"",
    );
    let DataplaneKind::Linux(l) = parse(&single).unwrap().dataplane else {
        panic!("not linux");
    };
    assert_eq!(
        l.model,
        DeviceModel::SingleVxlan {
            bridge: "br-evpn".into(),
            vxlan: "vxe".into()
        }
    );
}

#[test]
fn bad_data_plane_keys_name_the_key() {
    let linux = EVPN.replace("kind = \"memory\"", "kind = \"linux\"");
    let cases = [
        (
            linux.replacen(
                "[[vni]]\nvni = 200",
                "[[vni]]\nvni = 200\nbridge = \"br100\"",
                1,
            ),
            "vni[1].bridge: \"br100\" is also vni[0].bridge",
        ),
        (
            linux.replacen(
                "[[vni]]\nvni = 200",
                "[[vni]]\nvni = 200\nvxlan-device = \"a/b\"",
                1,
            ),
            "vni[1].vxlan-device: interface name \"a/b\" contains '/'",
        ),
        (
            linux.replace("kind = \"linux\"", "kind = \"linux\"\nbridge = \"x\""),
            "dataplane.bridge: only with model = \"single-vxlan\"",
        ),
        (
            linux.replace("kind = \"linux\"", "kind = \"linux\"\nmodel = \"per-host\""),
            "dataplane.model: \"per-host\"",
        ),
        (
            linux.replace("kind = \"linux\"", "kind = \"linux\"\nudp-port = 0"),
            "dataplane.udp-port: 0",
        ),
        (
            EVPN.replace("kind = \"memory\"", "kind = \"memory\"\nlearning = true"),
            "dataplane.learning: only with kind = \"linux\"",
        ),
        (
            EVPN.replacen(
                "[[vni]]\nvni = 200",
                "[[vni]]\nvni = 200\nlearning = false",
                1,
            ),
            "vni[1]: bridge, vxlan-device and learning need [dataplane] kind = \"linux\"",
        ),
        (
            linux.replacen(
                "sticky = true",
                "sticky = true\ninterface = \"much-too-long-name\"",
                1,
            ),
            "endpoint[0].interface: interface name \"much-too-long-name\" is 18 bytes long",
        ),
        (
            GOOD.replace("[api]", "[dataplane]\nkind = \"linux\"\n[api]"),
            "dataplane.kind: \"linux\" needs the EVPN engine",
        ),
    ];
    for (text, want) in cases {
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(want), "{want:?} not in {e:?}");
    }
}

/// The layer-3 contract's TOML (HELPER-COMMON.md), on the Linux data plane.
const L3: &str = r#"
asn = 65000
router-id = "198.18.0.1"
[evpn]
vtep = "198.18.0.1"
irb = "symmetric"
anycast-gateway-mac = "00:00:5e:00:01:01"
[[vrf]]
name = "red"
l3vni = 5000
rd = "198.18.0.1:5000"
import-route-targets = ["65000:5000"]
export-route-targets = ["65000:5000"]
router-mac = "02:00:c6:12:00:01"
advertise-connected = true
advertise = ["203.0.113.0/24"]
netns = "h1-red"
table = 5000
[[vrf.route]]
prefix = "198.51.100.128/25"
via = "192.0.2.20"
[[vrf]]
name = "blue"
l3vni = 6000
[[vni]]
vni = 100
vrf = "red"
gateway = ["192.0.2.254/24", "2001:db8:100::1/64"]
[[vni]]
vni = 300
vrf = "blue"
gateway = ["192.0.2.254/24"]
[[vni]]
vni = 400
[dataplane]
kind = "linux"
vrf-model = "namespace"
"#;

#[test]
fn layer3_sections_parse() {
    use evpnd_dataplane::linux::VrfModel;
    use evpnd_evpn::{GatewayAddress, IrbMode, VrfName};
    let c = parse(L3).unwrap();
    let e = c.node.evpn.as_ref().unwrap();
    assert_eq!(e.engine.irb, IrbMode::Symmetric);
    assert_eq!(
        e.engine.anycast_gateway_mac,
        evpnd_evpn::DEFAULT_ANYCAST_GATEWAY_MAC
    );
    assert_eq!(e.vrfs.len(), 2);
    let red = &e.vrfs[0];
    assert_eq!(red.name, VrfName::new("red").unwrap());
    assert_eq!(red.l3vni, Some(vni(5000)));
    assert_eq!(red.rd, Some("198.18.0.1:5000".parse().unwrap()));
    assert_eq!(red.router_mac, Some("02:00:c6:12:00:01".parse().unwrap()));
    assert_eq!(red.advertise, vec!["203.0.113.0/24".parse().unwrap()]);
    assert_eq!(red.routes.len(), 1);
    assert_eq!(red.routes[0].via, "192.0.2.20".parse::<IpAddr>().unwrap());
    assert_eq!(e.evis[0].vrf, Some(red.name));
    assert_eq!(
        e.evis[0].gateways,
        vec![
            GatewayAddress {
                address: "192.0.2.254".parse().unwrap(),
                prefix_len: 24
            },
            GatewayAddress {
                address: "2001:db8:100::1".parse().unwrap(),
                prefix_len: 64
            }
        ]
    );
    assert_eq!(e.evis[2].vrf, None);
    let DataplaneKind::Linux(l) = &c.dataplane else {
        panic!("linux expected")
    };
    assert_eq!(l.vrf_model, VrfModel::Namespace);
    let o = &l.vrfs["red"];
    assert_eq!((o.netns.as_deref(), o.table), (Some("h1-red"), Some(5000)));
    assert!(!l.vrfs.contains_key("blue"));
    // Defaults: symmetric IRB, the default anycast MAC, connected subnets advertised.
    let min = parse(
        &L3.replace("irb = \"symmetric\"\n", "")
            .replace("anycast-gateway-mac = \"00:00:5e:00:01:01\"\n", "")
            .replace("advertise-connected = true\n", ""),
    )
    .unwrap();
    let e = min.node.evpn.unwrap();
    assert_eq!(e.engine.irb, IrbMode::Symmetric);
    assert!(e.vrfs[0].advertise_connected);
    let asym = parse(
        &L3.replace("irb = \"symmetric\"", "irb = \"asymmetric\"")
            .replace("l3vni = 6000\n", ""),
    )
    .unwrap();
    let e = asym.node.evpn.unwrap();
    assert_eq!((e.engine.irb, e.vrfs[1].l3vni), (IrbMode::Asymmetric, None));
}

#[test]
fn bad_layer3_configs_name_the_key() {
    let cases = [
        (
            L3.replace("irb = \"symmetric\"", "irb = \"both\""),
            "evpn.irb",
        ),
        (
            L3.replace("\"00:00:5e:00:01:01\"", "\"01:00:5e:00:01:01\""),
            "anycast-gateway-mac",
        ),
        (
            L3.replace("name = \"red\"", "name = \"a-very-long-vrf-name\""),
            "vrf[0].name",
        ),
        (L3.replace("l3vni = 6000\n", ""), "vrf[1].l3vni"),
        (L3.replace("l3vni = 6000", "l3vni = 5000"), "vrf[1].l3vni"),
        (L3.replace("l3vni = 6000", "l3vni = 400"), "vrf[1].l3vni"),
        (
            L3.replace("l3vni = 6000", "l3vni = 16777216"),
            "vrf[1].l3vni",
        ),
        (
            L3.replace(
                "router-mac = \"02:00:c6:12:00:01\"",
                "router-mac = \"ff:ff:ff:ff:ff:ff\"",
            ),
            "vrf[0].router-mac",
        ),
        (
            L3.replace("rd = \"198.18.0.1:5000\"", "rd = \"x\""),
            "vrf[0].rd",
        ),
        (
            L3.replace(
                "advertise = [\"203.0.113.0/24\"]",
                "advertise = [\"203.0.113.0/33\"]",
            ),
            "vrf[0].advertise[0]",
        ),
        (
            L3.replace("via = \"192.0.2.20\"", "via = \"198.18.0.9\""),
            "vrf[0].route",
        ),
        (
            L3.replace("[[vrf.route]]", "[[vrf.route]]\nmetric = 1"),
            "metric",
        ),
        (L3.replace("table = 5000", "table = 254"), "vrf[0].table"),
        (
            L3.replace("netns = \"h1-red\"", "netns = \"a/b\""),
            "vrf[0].netns",
        ),
        (
            L3.replace("vrf-model = \"namespace\"", "vrf-model = \"magic\""),
            "dataplane.vrf-model",
        ),
        (
            L3.replace("vrf = \"blue\"", "vrf = \"green\""),
            "vni[1].vrf",
        ),
        (
            L3.replace(
                "gateway = [\"192.0.2.254/24\"]",
                "gateway = [\"192.0.2.0/24\"]",
            ),
            "vni[1].gateway",
        ),
        (
            L3.replace(
                "gateway = [\"192.0.2.254/24\"]",
                "gateway = [\"192.0.2.254\"]",
            ),
            "vni[1].gateway",
        ),
        (
            L3.replace(
                "vni = 400\n",
                "vni = 400\ngateway = [\"198.51.100.1/24\"]\n",
            ),
            "vni[2].gateway",
        ),
        (
            L3.replace(
                "vni = 400\n",
                "vni = 400\nvrf = \"red\"\ngateway = [\"192.0.2.1/25\"]\n",
            ),
            "vni[2].gateway",
        ),
        (
            L3.replace("[[vni]]\nvni = 400\n", "[[vni]]\nvni = 5000\n"),
            "vrf[0].l3vni",
        ),
        (
            L3.replace(
                "kind = \"linux\"\nvrf-model = \"namespace\"",
                "kind = \"memory\"",
            ),
            "vrf[0]: netns and table",
        ),
        (L3.replace("vtep = \"198.18.0.1\"\n", ""), "evpn.vtep"),
    ];
    for (text, key) in cases {
        let e = parse(&text).unwrap_err().0;
        assert!(e.contains(key), "error {e:?} should mention {key:?}");
    }
}

/// The layer-3 example in docs/configuration.md is a valid configuration.
#[test]
fn documented_layer3_example_parses() {
    let doc = include_str!("../../../../docs/configuration.md");
    let section = doc
        .find("## Tenant VRFs and routing (IRB)")
        .expect("the layer-3 section");
    let start = section + doc[section..].find("```toml\n").unwrap() + "```toml\n".len();
    let len = doc[start..].find("```").unwrap();
    let c = parse(&doc[start..start + len]).unwrap_or_else(|e| panic!("{e}"));
    let e = c.node.evpn.unwrap();
    assert_eq!((e.vrfs.len(), e.evis.len()), (1, 2));
    assert_eq!(e.vrfs[0].routes.len(), 1);
}

/// GOOD with a `[[peer-group]]` of `body` appended.
fn with_group(body: &str) -> String {
    format!("{GOOD}\n[[peer-group]]\n{body}\n")
}

#[test]
fn a_peer_group_parses_with_every_key() {
    let c = parse(&with_group(
        r#"name = "nves"
listen-range = ["127.64.0.0/10", "2001:db8::/32"]
remote-asn = "internal"
limit = 20000
route-reflector-client = true
hold-time = 30
families = ["l2vpn-evpn", "rt-constraint"]
md5-password = "secret"
ttl-security = 1
max-prefix = 1000
max-prefix-restart = 60
graceful-restart = true
restart-time = 90
port = 179
local-address = "127.0.0.1""#,
    ))
    .unwrap();
    let g = &c.node.peer_groups[0];
    assert_eq!(g.name, "nves");
    assert_eq!(
        g.listen_ranges,
        vec![
            "127.64.0.0/10".parse().unwrap(),
            "2001:db8::/32".parse().unwrap()
        ]
    );
    assert_eq!(g.remote_asn(), evpnd_node::RemoteAsn::Internal);
    assert_eq!(g.limit, 20000);
    let p = &g.template.peer;
    assert!(p.passive && p.route_reflector_client && !p.is_external());
    assert_eq!(p.hold_time, 30);
    assert_eq!(
        p.families,
        vec![
            evpnd_wire::Family::L2VPN_EVPN,
            evpnd_wire::Family::RT_CONSTRAINT
        ]
    );
    assert_eq!(p.max_prefix[0].limit, 1000);
    assert_eq!(p.max_prefix[0].restart_after, Some(Duration::from_secs(60)));
    assert_eq!(p.graceful_restart.map(|g| g.restart_time), Some(90));
    let t = &g.template.transport;
    assert_eq!(t.md5_password.as_deref(), Some("secret"));
    assert_eq!(t.ttl_security, Some(1));
}

#[test]
fn peer_group_defaults_and_remote_as_forms() {
    let c = parse(&with_group(
        "name = \"a\"\nlisten-range = \"127.64.0.0/10\"\nremote-asn = \"external\"",
    ))
    .unwrap();
    let g = &c.node.peer_groups[0];
    assert_eq!(g.limit, 100);
    assert_eq!(g.remote_asn(), evpnd_node::RemoteAsn::External);
    assert!(g.template.peer.is_external());
    assert_eq!(g.template.peer.hold_time, 90);
    assert_eq!(
        g.template.peer.families,
        vec![evpnd_wire::Family::L2VPN_EVPN]
    );
    let c = parse(&with_group(
        "name = \"a\"\nlisten-range = [\"127.64.0.0/10\"]\nremote-asn = 65010",
    ))
    .unwrap();
    assert_eq!(
        c.node.peer_groups[0].remote_asn(),
        evpnd_node::RemoteAsn::Number(65010)
    );
}

#[test]
fn bad_peer_groups_name_the_key() {
    let base = "name = \"a\"\nlisten-range = \"127.64.0.0/10\"\nremote-asn = \"internal\"";
    let cases = [
        (
            base.replace("127.64.0.0/10", "127.64.0.0"),
            "peer-group[0] (a).listen-range",
        ),
        (
            base.replace("[\"127.64.0.0/10\"]", "[]")
                .replace("listen-range = \"127.64.0.0/10\"", "listen-range = []"),
            "peer-group[0] (a).listen-range",
        ),
        (
            base.replace("\"internal\"", "\"elsewhere\""),
            "peer-group[0] (a).remote-asn",
        ),
        (
            base.replace("\"internal\"", "0"),
            "peer-group[0] (a).remote-asn",
        ),
        (format!("{base}\nlimit = 0"), "peer-group[0] (a).limit"),
        (
            format!("{base}\nhold-time = 2"),
            "peer-group[0] (a).hold-time",
        ),
        (
            format!("{base}\nfamilies = [\"nope\"]"),
            "peer-group[0] (a).families",
        ),
        (
            format!("{base}\nmd5-password = \"\""),
            "peer-group[0] (a).md5-password",
        ),
        (
            format!("{base}\nttl-security = 1\nmultihop = 2"),
            "peer-group[0] (a).ttl-security",
        ),
        (format!("{base}\npassive = false"), "passive"),
        (format!("{base}\nbogus = 1"), "bogus"),
        (
            base.replace("\"internal\"", "\"external\"") + "\nroute-reflector-client = true",
            "peer-group[0] (a).route-reflector-client",
        ),
        (
            format!("{base}\n[[peer-group]]\n{base}"),
            "peer-group.name: peer-group a is configured twice",
        ),
        (
            format!("{base}\n[[peer-group]]\n{}", base.replace("\"a\"", "\"b\"")),
            "peer-group.listen-range",
        ),
        ("name = \"a\"\nremote-asn = 1".to_string(), "listen-range"),
    ];
    for (body, key) in cases {
        let e = parse(&with_group(&body)).unwrap_err().0;
        assert!(e.contains(key), "error {e:?} should mention {key:?}");
    }
}

#[test]
fn the_rt_constraint_end_of_rib_wait_defaults_to_30_s_and_is_bounded() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.node.rtc_end_of_rib_wait, Duration::from_secs(30));
    let c = parse(&GOOD.replace("[bgp]\n", "[bgp]\nrtc-end-of-rib-wait = 0\n")).unwrap();
    assert_eq!(c.node.rtc_end_of_rib_wait, Duration::ZERO);
    let e = parse(&GOOD.replace("[bgp]\n", "[bgp]\nrtc-end-of-rib-wait = 7200\n")).unwrap_err();
    assert!(e.to_string().contains("bgp.rtc-end-of-rib-wait"), "{e}");
}
