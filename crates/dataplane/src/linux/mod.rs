//! The Linux kernel data plane: every netlink exchange of evpnd lives in this module.
//!
//! (Skeleton: the public surface the daemon is written against; the implementation lands
//! with the Linux data-plane work.)

use crate::{Backend, DataplaneIntent, FeedbackSink};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// How VNIs map onto kernel devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceModel {
    /// One bridge and one VXLAN device per VNI (`br<vni>`, `vx<vni>` unless named).
    PerVni,
    /// One VLAN-aware bridge and one `external vnifilter` VXLAN device for every VNI, each VNI
    /// mapped to a VLAN of the bridge (FRR's recommended "single VXLAN device" model).
    SingleVxlan {
        /// The bridge.
        bridge: String,
        /// The VXLAN device.
        vxlan: String,
    },
}

/// Per-VNI device options (`[[vni]]` keys); `None` takes the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VniOptions {
    /// The bridge's name (per-VNI model; default `br<vni>`).
    pub bridge: Option<String>,
    /// The VXLAN device's name (per-VNI model; default `vx<vni>`).
    pub vxlan: Option<String>,
    /// Report MACs the kernel learns on this VNI's tenant ports (default: [`LinuxConfig::learning`]).
    pub learning: Option<bool>,
}

/// The Linux backend's configuration (`[dataplane]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxConfig {
    /// The local VTEP: the VXLAN devices' source address (IPv4 or IPv6).
    pub vtep: IpAddr,
    /// The device model.
    pub model: DeviceModel,
    /// The VXLAN UDP destination port (IANA: 4789, RFC 7348 §5).
    pub udp_port: u16,
    /// Kernel learning on tenant ports by default.
    pub learning: bool,
    /// Per-VNI options.
    pub vnis: BTreeMap<u32, VniOptions>,
    /// Sweep stale entries left by an earlier run after this long even if the node never says
    /// it is synced.
    pub sweep_after: Duration,
}

impl LinuxConfig {
    /// Defaults for a VTEP: per-VNI devices, port 4789, learning on, sweep after 10 minutes.
    pub fn new(vtep: IpAddr) -> Self {
        LinuxConfig {
            vtep,
            model: DeviceModel::PerVni,
            udp_port: 4789,
            learning: true,
            vnis: BTreeMap::new(),
            sweep_after: Duration::from_secs(600),
        }
    }
}

/// Why the backend cannot start or cannot do what it was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxError(pub String);

impl fmt::Display for LinuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LinuxError {}

/// The running Linux backend.
pub struct LinuxBackend {
    _sink: FeedbackSink,
}

impl LinuxBackend {
    /// Opens the netlink sockets, reads the kernel state of our devices and starts the
    /// backend's threads.
    pub fn spawn(_config: LinuxConfig, _sink: FeedbackSink) -> Result<LinuxBackend, LinuxError> {
        Err(LinuxError("the Linux data plane is not built yet".into()))
    }
}

/// Checks that this kernel can run `config` (e.g. `vnifilter` for the single-VXLAN model),
/// without changing anything.
pub fn check_capabilities(_config: &LinuxConfig) -> Result<(), LinuxError> {
    Ok(())
}

impl Backend for LinuxBackend {
    fn submit(&mut self, _batch: Vec<DataplaneIntent>) {}

    fn kind(&self) -> &'static str {
        "linux"
    }
}
