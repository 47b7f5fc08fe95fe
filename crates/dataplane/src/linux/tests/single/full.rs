//! The whole single-VXLAN-device model between two VTEPs. It needs a kernel with VLAN-aware
//! bridges (`CONFIG_BRIDGE_VLAN_FILTERING`) and `external vnifilter` VXLAN devices: the test
//! runs the capability probe first and, where the kernel lacks one, reports
//! `SKIPPED: <test>: <the probe's reason>` ([`evpnd_lab::report_skip`]: stderr, and the list
//! `scripts/test.sh` prints at the end) and returns.

use super::*;

/// The probe's verdict for this kernel: `Some(reason)` when the model cannot run.
fn unsupported(test: &str) -> bool {
    let ns = Netns::new().unwrap();
    let checked = ns
        .within(|| check_capabilities(&single("198.18.0.1")))
        .unwrap();
    ns.delete().unwrap();
    match checked {
        Ok(()) => false,
        Err(reason) => {
            evpnd_lab::report_skip(test, &reason.to_string());
            true
        }
    }
}

/// One VTEP: its namespace, the tenant namespace behind each of its VNIs.
struct Vtep {
    ns: Netns,
    tenants: Vec<Netns>,
    address: &'static str,
}

/// The tenants: (VNI, port on the VTEP, tenant address prefix).
const TENANTS: [(u32, &str, &str); 2] = [(100, "ta", "192.0.2"), (200, "tb", "198.51.100")];

impl Vtep {
    /// Namespace, underlay peer address and one tenant per VNI (host `host` of its subnet,
    /// MAC 02:00:00:<host>:<vni / 100>:01).
    fn new(address: &'static str, host: u8) -> Vtep {
        let ns = Netns::new().unwrap();
        let mut tenants = Vec::new();
        for (v, port, prefix) in TENANTS {
            let tenant = Netns::new().unwrap();
            ns.ip(&["link", "add", port, "type", "veth", "peer", "name", "eth0"])
                .unwrap();
            ns.ip(&["link", "set", "eth0", "netns", tenant.name()])
                .unwrap();
            let mac = tenant_mac(host, v);
            tenant
                .ip(&["link", "set", "eth0", "address", &mac, "up"])
                .unwrap();
            tenant
                .ip(&["addr", "add", &format!("{prefix}.{host}/24"), "dev", "eth0"])
                .unwrap();
            tenants.push(tenant);
        }
        Vtep {
            ns,
            tenants,
            address,
        }
    }

    /// What the control plane would send this VTEP for its tenants and the other VTEP's.
    fn intents(&self, other: &Vtep, other_host: u8, order: [u32; 2]) -> Vec<I> {
        let mut intents: Vec<I> = order
            .iter()
            .map(|v| I::Vni {
                vni: vni(*v),
                vrf: None,
            })
            .collect();
        for (v, port_name, _) in TENANTS {
            intents.push(I::Port {
                vni: vni(v),
                port: port(port_name),
            });
            intents.push(I::Flood {
                vni: vni(v),
                vtep: ip(other.address),
            });
            intents.push(I::RemoteMac {
                vni: vni(v),
                mac: parse_mac(&tenant_mac(other_host, v)),
                vtep: ip(other.address),
                sticky: false,
            });
        }
        intents.push(I::Synced);
        intents
    }

    fn delete(self) {
        for t in self.tenants {
            t.delete().unwrap();
        }
        self.ns.delete().unwrap();
    }
}

fn tenant_mac(host: u8, v: u32) -> String {
    format!("02:00:00:{host:02x}:{:02x}:01", v / 100)
}

fn parse_mac(s: &str) -> MacAddress {
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(s.split(':')) {
        *o = u8::from_str_radix(p, 16).unwrap();
    }
    MacAddress(out)
}

/// Pings `to` from `from` until it answers (bounded by [`WAIT`]).
fn reaches(from: &Netns, to: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if from.exec(&["ping", "-c", "1", "-W", "1", to]).is_ok() {
            return true;
        }
    }
    false
}

fn tunnels(ns: &Netns) -> String {
    ns.exec(&["bridge", "vlan", "tunnelshow", "dev", "vx-evpn"])
        .unwrap()
}

#[test]
fn the_single_model_carries_two_vnis_across_a_restart() {
    const TEST: &str = "the_single_model_carries_two_vnis_across_a_restart";
    if !root() || unsupported(TEST) {
        return;
    }
    let (a, b) = (Vtep::new("198.18.0.1", 1), Vtep::new("198.18.0.2", 2));
    a.ns.ip(&["link", "add", "u0", "type", "veth", "peer", "name", "u1"])
        .unwrap();
    a.ns.ip(&["link", "set", "u1", "netns", b.ns.name()])
        .unwrap();
    for (vtep, dev) in [(&a, "u0"), (&b, "u1")] {
        let cidr = format!("{}/24", vtep.address);
        vtep.ns.ip(&["addr", "add", &cidr, "dev", dev]).unwrap();
        vtep.ns.ip(&["link", "set", dev, "up"]).unwrap();
    }
    let mut ra = Running::start(&a.ns, single(a.address));
    let mut rb = Running::start(&b.ns, single(b.address));
    let (ia, ib) = (a.intents(&b, 2, [100, 200]), b.intents(&a, 1, [100, 200]));
    let (na, nb) = (ia.len() as u64, ib.len() as u64);
    ra.submit(ia);
    rb.submit(ib);
    ra.wait_applied(na);
    rb.wait_applied(nb);
    assert!(
        ra.events()
            .iter()
            .all(|e| !matches!(e, Feedback::InstallFailed { .. })),
        "{:?}",
        ra.events()
    );
    assert!(reaches(&a.tenants[0], "192.0.2.2"), "VNI 100 across");
    assert!(reaches(&a.tenants[1], "198.51.100.2"), "VNI 200 across");
    // The VNIs stay apart: VNI 100's tenant has no address in VNI 200's subnet to reach.
    let mapped = tunnels(&a.ns);
    println!("VLAN-tunnel mapping of a: {mapped}");

    // A restart whose VNIs come in the other order keeps each VNI's VLAN.
    ra.stop();
    let mut ra = Running::start(&a.ns, single(a.address));
    let ia = a.intents(&b, 2, [200, 100]);
    let na = ia.len() as u64;
    ra.submit(ia);
    ra.wait_applied(na);
    assert_eq!(
        tunnels(&a.ns),
        mapped,
        "the VLANs changed across the restart"
    );
    assert!(
        reaches(&a.tenants[0], "192.0.2.2"),
        "VNI 100 after the restart"
    );

    // VNI 100 goes on a; VNI 200 stays.
    ra.submit(vec![
        I::RemoveRemoteMac {
            vni: vni(100),
            mac: parse_mac(&tenant_mac(2, 100)),
        },
        I::RemoveFlood {
            vni: vni(100),
            vtep: ip(b.address),
        },
        I::RemovePort {
            vni: vni(100),
            port: port("ta"),
        },
        I::RemoveVni { vni: vni(100) },
    ]);
    ra.wait_applied(na + 4);
    let vnis =
        a.ns.exec(&["bridge", "vni", "show", "dev", "vx-evpn"])
            .unwrap();
    assert!(!vnis.contains("100") && vnis.contains("200"), "{vnis}");
    assert!(!tunnels(&a.ns).contains(" 100"), "{}", tunnels(&a.ns));
    assert!(link_exists(&a.ns, "vx-evpn") && link_exists(&a.ns, "br-evpn"));
    assert!(
        reaches(&a.tenants[1], "198.51.100.2"),
        "VNI 200 after VNI 100 left"
    );
    ra.stop();
    rb.stop();
    a.delete();
    b.delete();
}
