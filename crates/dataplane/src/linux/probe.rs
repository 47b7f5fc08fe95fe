//! What this kernel can do, tried out in a throwaway network namespace so that nothing the
//! operator can see changes (`evpnd --check-config`).

use super::netdev;
use super::socket::NlSocket;
use super::vnifilter;
use super::LinuxConfig;
use std::net::IpAddr;

/// The VLAN and VNI the probe maps (any valid pair).
const PROBE_VLAN: u16 = 10;
/// The VNI the probe adds to the filter.
const PROBE_VNI: u32 = 10;

/// Tries the kernel features the single-VXLAN-device model needs: a VLAN-aware bridge
/// (`CONFIG_BRIDGE_VLAN_FILTERING`), an `external vnifilter` VXLAN device (Linux ≥ 5.18) and
/// its VNI filter, and a VLAN↔VNI mapping on a `vlan_tunnel` port. Runs on a thread of its
/// own moved into a new network namespace that disappears with the thread. Returns what is
/// missing (empty: everything works).
pub(crate) fn single_vxlan(config: &LinuxConfig) -> Result<Vec<String>, String> {
    let (vtep, port) = (config.vtep, config.udp_port);
    std::thread::Builder::new()
        .name("evpnd-dp-probe".into())
        .spawn(move || probe_in_new_namespace(vtep, port))
        .map_err(|e| format!("starting the probe thread: {e}"))?
        .join()
        .map_err(|_| "the probe thread panicked".to_string())?
}

fn probe_in_new_namespace(vtep: IpAddr, port: u16) -> Result<Vec<String>, String> {
    // `unshare` is deprecated in rustix for `CLONE_FILES` (file descriptors a thread can no
    // longer see); a new network namespace for this one thread has no such effect.
    #[allow(deprecated)]
    rustix::thread::unshare(rustix::thread::UnshareFlags::NEWNET).map_err(|e| {
        format!("cannot create a throwaway network namespace to probe the kernel (needs CAP_SYS_ADMIN): {e}")
    })?;
    let mut socket = NlSocket::request_socket().map_err(|e| format!("netlink socket: {e}"))?;
    let mut missing = Vec::new();
    let (m, f) = netdev::create_vlan_bridge("probe-br");
    let bridge = match socket.request(m, f) {
        Ok(()) => netdev::get_by_name(&mut socket, "probe-br").ok().flatten(),
        Err(e) => {
            missing.push(format!(
                "a VLAN-aware bridge (vlan_filtering 1; the kernel needs \
                 CONFIG_BRIDGE_VLAN_FILTERING, which needs CONFIG_VLAN_8021Q): {e}"
            ));
            None
        }
    };
    let (m, f) = netdev::create_vnifilter_vxlan("probe-vx", vtep, port);
    let vxlan = match socket.request(m, f) {
        Ok(()) => netdev::get_by_name(&mut socket, "probe-vx").ok().flatten(),
        Err(e) => {
            missing.push(format!(
                "a VXLAN device with `external vnifilter` (Linux 5.18 or later): {e}"
            ));
            None
        }
    };
    if let Some(vx) = &vxlan {
        // A throwaway VNI is added and removed again, then the mapped one is added.
        let filter = vnifilter::add(&mut socket, vx.index, PROBE_VNI + 1)
            .map_err(|e| format!("adding a VNI to the VNI filter (RTM_NEWTUNNEL): {e}"))
            .and_then(|()| {
                vnifilter::delete(&mut socket, vx.index, PROBE_VNI + 1)
                    .map_err(|e| format!("removing a VNI from the VNI filter (RTM_DELTUNNEL): {e}"))
            })
            .and_then(|()| {
                vnifilter::add(&mut socket, vx.index, PROBE_VNI)
                    .map_err(|e| format!("adding a VNI to the VNI filter (RTM_NEWTUNNEL): {e}"))
            });
        if let Err(e) = filter {
            missing.push(e);
        }
    }
    if let (Some(br), Some(vx)) = (&bridge, &vxlan) {
        let steps = [
            (
                netdev::set_master(vx.index, br.index),
                "plugging it into the bridge",
            ),
            (
                netdev::vlan_tunnel_port_options(vx.index),
                "vlan_tunnel on its bridge port",
            ),
            (
                super::vlan::add_vlan(
                    vx.index,
                    PROBE_VLAN,
                    netlink_packet_route::link::BridgeVlanInfoFlags::empty(),
                ),
                "adding a VLAN to the VXLAN port",
            ),
            (
                netdev::add_vlan_tunnel(vx.index, PROBE_VLAN, PROBE_VNI),
                "mapping a VLAN to a VNI (IFLA_BRIDGE_VLAN_TUNNEL_INFO)",
            ),
        ];
        for (message, what) in steps {
            if let Err(e) = socket.request(message, 0) {
                missing.push(format!("{what}: {e}"));
                break;
            }
        }
    }
    Ok(missing)
}

/// Whether this kernel can create a `vrf` device (`CONFIG_NET_VRF`): tried once, in a
/// throwaway network namespace on a thread of its own. `Err`: the probe itself could not run
/// (no `CAP_SYS_ADMIN`); the reason says so.
pub(crate) fn vrf_devices() -> Result<bool, String> {
    std::thread::Builder::new()
        .name("evpnd-dp-probe".into())
        .spawn(|| -> Result<bool, String> {
            // As in `probe_in_new_namespace`: a new network namespace for this thread only.
            #[allow(deprecated)]
            rustix::thread::unshare(rustix::thread::UnshareFlags::NEWNET).map_err(|e| {
                format!("cannot create a throwaway network namespace to probe for VRF devices: {e}")
            })?;
            let mut socket =
                NlSocket::request_socket().map_err(|e| format!("netlink socket: {e}"))?;
            let (m, f) = super::route::create_vrf("probe-vrf", 1001);
            Ok(socket.request(m, f).is_ok())
        })
        .map_err(|e| format!("starting the probe thread: {e}"))?
        .join()
        .map_err(|_| "the probe thread panicked".to_string())?
}
