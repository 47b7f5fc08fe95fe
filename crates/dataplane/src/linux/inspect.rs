//! A read-only look at what the kernel holds for one MAC or IP of a VNI (`evpnctl explain`),
//! among the entries and devices evpnd owns (the same reading the backend reconciles from at
//! start). Blocking: one netlink dump of links, the bridge FDB and the neighbour tables; the
//! daemon calls it from a blocking task, never from the core task.

use super::reconcile::Snapshot;
use super::socket::NlSocket;
use super::LinuxError;
use crate::{FdbEntry, NeighEntry};
use evpnd_wire::MacAddress;
use std::net::IpAddr;

/// What the kernel holds for the MAC or IP asked about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelEntries {
    /// Devices carrying evpnd's marker for the VNI exist.
    pub devices: bool,
    /// The remote-MAC FDB entry on the VNI's VXLAN device: `Some(Some(e))` when the device's
    /// and the bridge's entries are both there as evpnd writes them, `Some(None)` when only
    /// one of them is (or they disagree), `None` when there is none.
    pub fdb: Option<Option<FdbEntry>>,
    /// The neighbour entry with evpnd's protocol on the VNI's neighbour device.
    pub neigh: Option<NeighEntry>,
}

/// Reads the kernel's entries for `mac` and/or `ip` in `vni` (in the calling thread's network
/// namespace).
pub fn inspect(
    vni: u32,
    mac: Option<MacAddress>,
    ip: Option<IpAddr>,
) -> Result<KernelEntries, LinuxError> {
    let mut socket = NlSocket::request_socket()
        .map_err(|e| LinuxError(format!("cannot open a netlink route socket: {e}")))?;
    let snapshot = Snapshot::read(&mut socket)
        .map_err(|e| LinuxError(format!("reading the kernel's tables: {e}")))?;
    Ok(KernelEntries {
        devices: snapshot.devices.contains_key(&vni),
        fdb: mac.and_then(|m| snapshot.fdb.get(&(vni, m)).copied()),
        neigh: ip.and_then(|i| snapshot.neigh.get(&(vni, i)).copied()),
    })
}
