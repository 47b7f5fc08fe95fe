//! What the demo shows an operator: `evpnctl show macs` of a host, and the commands to explore
//! the fabric while it stays up.

use super::routed::{ROUTED, VRF};
use super::{Result, NAMESPACE_PREFIX};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bound on one `evpnctl` run.
const EVPNCTL_TIMEOUT: Duration = Duration::from_secs(10);

/// The `evpnctl` binary next to the running evpnd (`target/<profile>/evpnctl`), if built.
pub fn evpnctl_path() -> Option<PathBuf> {
    let p = std::env::current_exe().ok()?.parent()?.join("evpnctl");
    evpnd_lab::tool_path(&p.to_string_lossy())
}

/// How to get `evpnctl` when it is not next to evpnd.
pub const EVPNCTL_MISSING: &str =
    "evpnctl is not built next to this evpnd; build it with `cargo build -p evpnctl` \
     (add --release for a release evpnd) to see the daemon's tables from the command line";

/// The output of `evpnctl --api unix:API ARGS…`, indented, or why there is none.
pub fn evpnctl(api: &Path, args: &[&str]) -> Result<String> {
    let Some(bin) = evpnctl_path() else {
        return Ok(format!("  ({EVPNCTL_MISSING})\n"));
    };
    let mut cmd = std::process::Command::new(&bin);
    cmd.arg("--api")
        .arg(format!("unix:{}", api.display()))
        .args(args);
    let out = evpnd_lab::process::run_output(&mut cmd, EVPNCTL_TIMEOUT)?;
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        format!(
            "evpnctl failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    };
    Ok(text.lines().map(|l| format!("  {l}\n")).collect())
}

/// The commands to explore the running fabric: pings between tenants (bridged and routed),
/// the kernel's tables (host and VRF namespaces), and evpnctl against each daemon.
pub fn explore_commands(work_dir: &Path, evpnctl: Option<&Path>) -> String {
    let ctl = evpnctl.map_or_else(|| "evpnctl".to_string(), |p| p.display().to_string());
    let api = |name: &str| {
        format!(
            "--api unix:{}",
            work_dir.join(name).join("api.sock").display()
        )
    };
    let ns = |name: &str| format!("{NAMESPACE_PREFIX}{name}");
    let vrf_ns = |host: &str| evpnd_lab::fabric::l3::vrf_netns_name(&ns(host), VRF);
    let [near, far] = ROUTED;
    let address = |cidr: &'static str| cidr.split_once('/').map_or(cidr, |(a, _)| a);
    let mut s = String::from("explore it (another terminal, as root):\n");
    for (what, cmd) in [
        (
            "a tenant VM pings another across the fabric (VNI 100)",
            format!("ip netns exec {} ping 192.0.2.13", ns("t1v100")),
        ),
        (
            "VNI 200 cannot reach VNI 100 (no reply)",
            format!("ip netns exec {} ping -c 2 192.0.2.12", ns("t1v200")),
        ),
        (
            "the kernel FDB evpnd programmed on host 3",
            format!("ip netns exec {} bridge fdb show dev vx100", ns("host3")),
        ),
        (
            "the MAC table of host 3",
            format!("{ctl} {} show macs", api("host3")),
        ),
        (
            "a routed ping: VNI 300 on host 1 to VNI 400 on host 3 (VRF red), IPv4 and IPv6",
            format!(
                "ip netns exec {} ping -c 3 {}; ip netns exec {} ping -c 3 {}",
                ns(near.tenant),
                address(far.tenant4),
                ns(near.tenant),
                address(far.tenant6)
            ),
        ),
        (
            "a routed VM cannot reach a bridged-only VNI (VRF red answers: unreachable)",
            format!("ip netns exec {} ping -c 2 192.0.2.13", ns(near.tenant)),
        ),
        (
            "the tenant VRFs of host 1 (L3VNI, router MAC, VNIs, namespace)",
            format!("{ctl} {} show vrfs", api("host1")),
        ),
        (
            "the routes evpnd installed in VRF red on host 1",
            format!("{ctl} {} show ip-routes --vrf {VRF}", api("host1")),
        ),
        (
            "how host 1 reaches host 3's routed VM: the VRF route, the BGP path behind it",
            format!(
                "{ctl} {} explain ip {} --vrf {VRF}",
                api("host1"),
                address(far.tenant4)
            ),
        ),
        (
            "the kernel's routes in VRF red's namespace on host 1",
            format!(
                "ip netns exec {0} ip route; ip netns exec {0} ip -6 route",
                vrf_ns("host1")
            ),
        ),
        (
            "the EVPN routes on the route reflector",
            format!("{ctl} {} show routes", api("rr")),
        ),
        (
            "the BGP sessions of the route reflector",
            format!("{ctl} {} show neighbors", api("rr")),
        ),
        (
            "a new endpoint through the API",
            format!("{ctl} {} attach --help", api("host1")),
        ),
    ] {
        s.push_str(&format!("  # {what}\n  {cmd}\n"));
    }
    s.push_str(&format!(
        "  # daemon logs and configurations\n  ls {}/*/\n",
        work_dir.display()
    ));
    if evpnctl.is_none() {
        s.push_str(&format!("  ({EVPNCTL_MISSING})\n"));
    }
    s.push_str("Ctrl-C tears everything down.\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explore_commands_name_the_namespaces_and_sockets() {
        let s = explore_commands(Path::new("/run/evpnd-demo"), None);
        assert!(
            s.contains("ip netns exec evpnd-demo-t1v100 ping 192.0.2.13"),
            "{s}"
        );
        assert!(
            s.contains("evpnctl --api unix:/run/evpnd-demo/host3/api.sock show macs"),
            "{s}"
        );
        assert!(s.contains("cargo build -p evpnctl"), "{s}");
        for routed in [
            "ip netns exec evpnd-demo-t1v300 ping -c 3 203.0.113.141",
            "ip netns exec evpnd-demo-t1v300 ping -c 3 2001:db8:400::13",
            "ip netns exec evpnd-demo-t1v300 ping -c 2 192.0.2.13",
            "evpnctl --api unix:/run/evpnd-demo/host1/api.sock show vrfs",
            "evpnctl --api unix:/run/evpnd-demo/host1/api.sock show ip-routes --vrf red",
            "evpnctl --api unix:/run/evpnd-demo/host1/api.sock explain ip 203.0.113.141 --vrf red",
            "ip netns exec evpnd-demo-host1-red ip route",
        ] {
            assert!(s.contains(routed), "{routed:?} not in:\n{s}");
        }
        let with = explore_commands(Path::new("/w"), Some(Path::new("/t/evpnctl")));
        assert!(with.contains("/t/evpnctl --api unix:/w/rr/api.sock show routes"));
        assert!(!with.contains("cargo build"));
    }
}
