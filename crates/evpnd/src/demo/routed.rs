//! The demo's routed tenant: VRF "red" (L3VNI 5000, symmetric IRB, RFC 9135 §4.1, behind a
//! distributed anycast gateway, RFC 9135 §4) with two subnets on different hosts: VNI 300 on
//! host 1 and VNI 400 on host 3, one dual-stack tenant each. Neither host has the other's
//! subnet, so every packet between them is routed over the L3VNI; the bridged VNIs 100 and
//! 200 stay outside the VRF, so a routed tenant must not reach them.
//!
//! The subnets split 203.0.113.0/24 (RFC 5737) so that they do not overlap the bridged VNIs'
//! 192.0.2.0/24 and 198.51.100.0/24 (the lab's routed addressing reuses those).

use super::{Result, VNIS};
use evpnd_lab::fabric::l3::{Irb, L3Host, PingCase, RoutedVni, VrfSpec};
use evpnd_lab::{Fabric, PingOptions, TenantSpec};
use std::time::Duration;

/// The tenant VRF of the demo.
pub const VRF: &str = "red";
/// Its L3VNI (symmetric IRB, RFC 9135 §4.1).
pub const L3VNI: u32 = 5000;

/// One routed VNI of [`VRF`]: on one host, with one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutedVniPlan {
    /// The L2VNI.
    pub vni: u32,
    /// The host position that has it (the only one).
    pub host: usize,
    /// The IPv4 subnet.
    pub ipv4: &'static str,
    /// The IPv6 subnet.
    pub ipv6: &'static str,
    /// The anycast gateway's IPv4 address (the same on every host that has the VNI).
    pub gateway4: &'static str,
    /// The anycast gateway's IPv6 address.
    pub gateway6: &'static str,
    /// The tenant's label and port.
    pub tenant: &'static str,
    /// The tenant's MAC.
    pub mac: &'static str,
    /// The tenant's IPv4 address with the subnet's prefix length.
    pub tenant4: &'static str,
    /// The tenant's IPv6 address with the subnet's prefix length.
    pub tenant6: &'static str,
}

/// The routed VNIs: 300 on host 1, 400 on host 3 (tenant `tNvV` on host N in VNI V, MAC
/// `02:00:00:0X:0N:01` as the lab numbers them).
pub const ROUTED: [RoutedVniPlan; 2] = [
    RoutedVniPlan {
        vni: 300,
        host: 0,
        ipv4: "203.0.113.0/25",
        ipv6: "2001:db8:300::/64",
        gateway4: "203.0.113.126",
        gateway6: "2001:db8:300::1",
        tenant: "t1v300",
        mac: "02:00:00:03:01:01",
        tenant4: "203.0.113.11/25",
        tenant6: "2001:db8:300::11/64",
    },
    RoutedVniPlan {
        vni: 400,
        host: 2,
        ipv4: "203.0.113.128/25",
        ipv6: "2001:db8:400::/64",
        gateway4: "203.0.113.254",
        gateway6: "2001:db8:400::1",
        tenant: "t3v400",
        mac: "02:00:00:04:03:01",
        tenant4: "203.0.113.141/25",
        tenant6: "2001:db8:400::13/64",
    },
];

/// The bridged-only tenant each routed tenant must not reach: one in the other bridged VNI on
/// another host (the routed tenant's default route sends the ping into the VRF, which has no
/// route to the bridged subnets).
pub const ISOLATED_FROM: [(&str, &str); 2] = [("t1v300", "t3v100"), ("t3v400", "t1v200")];

/// The prefix length of `subnet` ("" when it has none).
fn prefix_len(subnet: &str) -> &str {
    subnet.split_once('/').map_or("", |(_, len)| len)
}

impl RoutedVniPlan {
    /// The gateway addresses with the subnets' prefix lengths, as `[[vni]] gateway` takes them.
    pub fn gateway_cidrs(&self) -> Vec<String> {
        vec![
            format!("{}/{}", self.gateway4, prefix_len(self.ipv4)),
            format!("{}/{}", self.gateway6, prefix_len(self.ipv6)),
        ]
    }

    /// The tenant: dual stack, default routes via the anycast gateway.
    pub fn tenant_spec(&self) -> TenantSpec {
        TenantSpec::new(
            self.tenant,
            self.host,
            self.vni,
            self.mac,
            self.tenant4,
            self.tenant,
        )
        .with_ipv6(self.tenant6)
        .with_gateway(self.gateway4)
        .with_gateway(self.gateway6)
    }
}

/// The host positions that have [`VRF`] (and so its namespace).
pub fn vrf_hosts() -> Vec<usize> {
    ROUTED.iter().map(|p| p.host).collect()
}

/// True when the host at `pos` has `vni` (bridged on every host, routed on one).
pub fn host_has_vni(pos: usize, vni: u32) -> bool {
    VNIS.contains(&vni) || ROUTED.iter().any(|p| p.vni == vni && p.host == pos)
}

/// The layer-3 configuration of the host at `pos`: the bridged VNIs, and [`VRF`] with its
/// routed VNI where it has one (the VRF's namespace is `<host namespace>-red`).
pub fn l3_host(pos: usize) -> L3Host {
    let mut host = L3Host::new(Irb::Symmetric);
    host.bridged = VNIS.to_vec();
    for p in ROUTED.iter().filter(|p| p.host == pos) {
        host = host.vrf(VrfSpec::new(VRF, Some(L3VNI)));
        host.vnis.push(RoutedVni {
            vni: p.vni,
            vrf: VRF.into(),
            gateways: p.gateway_cidrs(),
        });
    }
    host
}

/// The routed pings: each routed tenant to every address of the other (IPv4 and IPv6, both
/// directions) must answer; each to its bridged-only tenant ([`ISOLATED_FROM`]) must not.
pub fn ping_cases(f: &Fabric) -> Result<Vec<PingCase>> {
    let mut cases = Vec::new();
    for a in &ROUTED {
        for b in ROUTED.iter().filter(|b| b.tenant != a.tenant) {
            cases.extend(PingCase::tenants(f, a.tenant, b.tenant, true)?);
        }
    }
    for (from, to) in ISOLATED_FROM {
        cases.extend(PingCase::tenants(f, from, to, false)?);
    }
    Ok(cases)
}

/// Waits (bounded by `bound` in all) until every routed case that must answer has answered
/// one probe: the type-2/type-5 routes and the router MACs have reached the VRFs. Returns the
/// cases that did not answer (the matrix then shows them failing).
pub fn wait_routed(f: &Fabric, cases: &[PingCase], bound: Duration) -> Result<Vec<String>> {
    let probe = PingOptions::new(1, Duration::from_millis(200), Duration::from_secs(1));
    let deadline = std::time::Instant::now() + bound;
    let mut missing = Vec::new();
    for c in cases.iter().filter(|c| c.reach) {
        let from = f.tenant(&c.from)?;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let answered = evpnd_lab::wait_until(left, Duration::from_millis(10), || {
            super::stopping() || from.ping(c.to, &probe).is_ok_and(|s| s.received >= 1)
        });
        if answered.is_err() {
            missing.push(format!("{} -> {} ({})", c.from, c.to_name, c.to));
        }
    }
    Ok(missing)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn routed_subnets_live_on_different_hosts_apart_from_the_bridged_ones() {
        assert_ne!(ROUTED[0].host, ROUTED[1].host);
        for p in ROUTED {
            assert!(!VNIS.contains(&p.vni));
            assert!(p.ipv4.starts_with("203.0.113."), "{p:?}");
            assert!(host_has_vni(p.host, p.vni));
            assert!(!host_has_vni(1, p.vni));
        }
        assert_eq!(
            ROUTED[1].gateway_cidrs(),
            vec!["203.0.113.254/25", "2001:db8:400::1/64"]
        );
        let t = ROUTED[0].tenant_spec();
        assert_eq!(t.address6.as_deref(), Some("2001:db8:300::11/64"));
        assert_eq!(t.gateways, vec!["203.0.113.126", "2001:db8:300::1"]);
    }

    #[test]
    fn only_the_routed_hosts_have_the_vrf() {
        let tables = |pos| evpnd_lab::fabric::l3::l3_tables("evpnd-demo-host1", &l3_host(pos));
        let h1: toml::Value = toml::from_str(&tables(0)).unwrap();
        assert_eq!(h1["vrf"][0]["name"].as_str(), Some("red"));
        assert_eq!(h1["vrf"][0]["l3vni"].as_integer(), Some(5000));
        assert_eq!(h1["vrf"][0]["netns"].as_str(), Some("evpnd-demo-host1-red"));
        assert_eq!(h1["vni"][0]["vni"].as_integer(), Some(300));
        assert_eq!(l3_host(0).bridged, vec![100, 200]);
        assert!(l3_host(1).vrfs.is_empty() && l3_host(1).vnis.is_empty());
        assert_eq!(l3_host(2).vnis[0].vni, 400);
        assert_eq!(vrf_hosts(), vec![0, 2]);
    }
}
