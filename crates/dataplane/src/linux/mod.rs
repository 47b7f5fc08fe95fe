//! The Linux kernel data plane: every netlink exchange of evpnd lives in this module.
//!
//! Per-VNI device model (the default): each VNI is a bridge (`br<vni>`) with a VXLAN device
//! (`vx<vni>`, RFC 7348) as a port that never learns and suppresses ARP/ND (RFC 9161);
//! tenant ports are plugged into the bridge. The single-VXLAN-device model (one VLAN-aware
//! bridge, one `external vnifilter` VXLAN device, a VLAN per VNI) is described in `single`;
//! both share the apply, reconciliation and watch code, which differ only by the devices of
//! a VNI (`fdb::VniDevices`: its VLAN, the device of its neighbours). Two threads run beside the daemon:
//! * the apply thread takes the batches of [`Backend::submit`] in order. Entries (remote
//!   MACs, flood lists, neighbours) of a batch are written with one `sendmsg` per 256 KiB,
//!   acked only at the end of each chunk; every refusal maps back to its intent
//!   ([`Feedback::InstallFailed`](crate::Feedback)) and is retried (0.5 s doubling to 30 s).
//!   Device changes are acked one by one. The queue in front of it is not bounded here:
//!   [`Backend::backlog`] tells the daemon how many intents wait in it, and the daemon holds
//!   further input back while too many do (its driver's back-pressure), so that at most a few
//!   batches wait behind a kernel slower than the import.
//! * the watcher reads link and neighbour notifications: MACs the kernel learns on tenant
//!   ports ([`Feedback::LocalMacLearned`](crate::Feedback)), devices going down or away.
//!
//! Ownership: the devices evpnd creates carry the alias `evpnd vni=<vni>`
//! ([`OWNER_ALIAS_PREFIX`]); its neighbour entries the protocol [`EVPND_NEIGH_PROTOCOL`]; its
//! FDB entries live on its own VXLAN devices (`extern_learn`, or `sticky static`, with a VTEP;
//! and the flood entries). At start the backend reads what an earlier run left; an intent whose
//! entry is already there as wanted is not written again, and what no intent renewed goes at
//! [`DataplaneIntent::Synced`] (or after [`LinuxConfig::sweep_after`]). Nothing else is ever
//! modified: an existing bridge of the configured name is adopted (used, never deleted), and
//! a foreign device in the way of a VXLAN device is reported, not touched.
//!
//! Tenant VRFs (RFC 9135) are made in one of two models behind the same intents (see `l3`):
//! a network namespace per VRF, or a Linux `vrf` device per VRF ([`VrfModel`]).

mod apply;
mod fdb;
mod inspect;
mod l3;
mod netdev;
mod netns;
mod probe;
mod queued;
mod reconcile;
mod remote_fdb;
mod route;
mod single;
mod socket;
#[cfg(test)]
mod tests;
mod vlan;
mod vni;
mod vnifilter;
mod watch;

pub use fdb::EVPND_NEIGH_PROTOCOL;
pub use inspect::{inspect, KernelEntries};
pub use netdev::OWNER_ALIAS_PREFIX;
pub use route::EVPND_ROUTE_PROTOCOL;

use crate::{Backend, BackendStats, DataplaneIntent, FeedbackSink};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
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

/// Per-VNI device options (`[[vni]]` keys, or those of a VNI created at run time).
pub use crate::VniOptions;
/// Per-VRF kernel options (`[[vrf]]` keys, or those of a VRF created at run time).
pub use crate::VrfOptions;

/// How tenant VRFs (RFC 9135 §3) are made in the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VrfModel {
    /// VRF devices where the kernel has them (`CONFIG_NET_VRF`), else a namespace per VRF.
    #[default]
    Auto,
    /// A network namespace per VRF: the VRF's bridges, gateways and routes live there; its
    /// VXLAN devices are created in the host namespace (their underlay sockets stay there) and
    /// moved in.
    Namespace,
    /// A Linux `vrf` device per VRF with its own routing table (the FRR/Cumulus model).
    Device,
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
    /// How tenant VRFs are made.
    pub vrf_model: VrfModel,
    /// Per-VRF options, by VRF name.
    pub vrfs: BTreeMap<String, VrfOptions>,
    /// Sweep stale entries left by an earlier run after this long even if the node never says
    /// it is synced.
    pub sweep_after: Duration,
    /// Receive buffer of the watcher's notification socket, in bytes (forced as root). When a
    /// burst of kernel changes overflows it, the watcher re-reads the FDB and reports the
    /// difference (`BackendStats::resyncs`); large by default, small only to test that path.
    pub notification_buffer: usize,
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
            vrf_model: VrfModel::Auto,
            vrfs: BTreeMap::new(),
            sweep_after: Duration::from_secs(600),
            notification_buffer: socket::NOTIFICATION_BUFFER,
        }
    }
}

impl LinuxConfig {
    /// The bridge of `vni` (per-VNI model): `[[vni]] bridge` or `br<vni>`.
    pub fn bridge_name(&self, vni: u32) -> String {
        self.vnis
            .get(&vni)
            .and_then(|o| o.bridge.clone())
            .unwrap_or_else(|| format!("br{vni}"))
    }

    /// The VXLAN device of `vni` (per-VNI model): `[[vni]] vxlan` or `vx<vni>`.
    pub fn vxlan_name(&self, vni: u32) -> String {
        self.vnis
            .get(&vni)
            .and_then(|o| o.vxlan.clone())
            .unwrap_or_else(|| format!("vx{vni}"))
    }

    /// Whether MACs learned on the tenant ports of `vni` are reported.
    pub fn learning(&self, vni: u32) -> bool {
        self.vnis
            .get(&vni)
            .and_then(|o| o.learning)
            .unwrap_or(self.learning)
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

/// How long [`Drop`] waits for each thread of the backend to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// The running Linux backend (see the module notes). Dropping it stops its threads.
pub struct LinuxBackend {
    /// The configuration's device model and per-VNI names, kept to judge the options of a
    /// VNI created at run time (the apply thread holds the live copy).
    names: LinuxConfig,
    commands: mpsc::Sender<apply::Command>,
    /// Intents submitted and not yet taken in by the apply thread ([`Backend::backlog`]).
    backlog: Arc<AtomicUsize>,
    shared: Arc<Mutex<apply::Shared>>,
    stop: Arc<AtomicBool>,
    threads: Vec<(JoinHandle<()>, mpsc::Receiver<()>)>,
}

impl LinuxBackend {
    /// The VRF model in use (resolved at start: never [`VrfModel::Auto`]).
    pub fn vrf_model(&self) -> VrfModel {
        self.names.vrf_model
    }

    /// Opens the netlink sockets, reads the kernel state of our devices and starts the
    /// backend's threads (on the calling thread's network namespace).
    pub fn spawn(mut config: LinuxConfig, sink: FeedbackSink) -> Result<LinuxBackend, LinuxError> {
        check_capabilities(&config)?;
        config.vrf_model = resolve_vrf_model(config.vrf_model)?;
        let sink = Arc::new(sink);
        let shared = Arc::new(Mutex::new(apply::Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (commands, receiver) = mpsc::channel();
        // Subscribe before reading the state, so that no change falls in between.
        let watcher = watch::Watcher::new(
            config.notification_buffer,
            Arc::clone(&shared),
            Arc::clone(&sink),
            commands.clone(),
            Arc::clone(&stop),
        )
        .map_err(|e| LinuxError(format!("opening the netlink notification socket: {e}")))?;
        let names = config.clone();
        let applier = apply::Applier::new(config, Arc::clone(&sink), Arc::clone(&shared))
            .map_err(|e| LinuxError(format!("reading the kernel state: {e}")))?;
        let backlog = Arc::new(AtomicUsize::new(0));
        let apply_backlog = Arc::clone(&backlog);
        let mut threads = Vec::new();
        for (name, run) in [
            (
                "evpnd-dp-apply",
                Box::new(move || applier.run(receiver, apply_backlog)) as Box<dyn FnOnce() + Send>,
            ),
            ("evpnd-dp-watch", Box::new(move || watcher.run())),
        ] {
            let (done, exited) = mpsc::channel();
            let handle = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    run();
                    let _ = done.send(());
                })
                .map_err(|e| LinuxError(format!("starting thread {name}: {e}")))?;
            threads.push((handle, exited));
        }
        Ok(LinuxBackend {
            names,
            commands,
            backlog,
            shared,
            stop,
            threads,
        })
    }
}

impl Drop for LinuxBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.commands.send(apply::Command::Stop);
        for (handle, exited) in self.threads.drain(..) {
            // Bounded: a thread stuck in the kernel is left to finish on its own.
            if exited.recv_timeout(STOP_TIMEOUT).is_ok() {
                let _ = handle.join();
            }
        }
    }
}

/// The VRF model `model` stands for on this kernel: `Auto` is [`VrfModel::Device`] when a
/// `vrf` device can be created (probed once, in a throwaway namespace), else
/// [`VrfModel::Namespace`]. `Device` on a kernel without VRF devices is an error.
pub fn resolve_vrf_model(model: VrfModel) -> Result<VrfModel, LinuxError> {
    match model {
        VrfModel::Namespace => Ok(VrfModel::Namespace),
        VrfModel::Auto => Ok(match probe::vrf_devices() {
            Ok(true) => VrfModel::Device,
            _ => VrfModel::Namespace,
        }),
        VrfModel::Device => match probe::vrf_devices() {
            Ok(true) => Ok(VrfModel::Device),
            Ok(false) => Err(LinuxError(
                "vrf-model = \"device\": this kernel cannot create VRF devices \
                 (CONFIG_NET_VRF is off); use \"namespace\" or \"auto\""
                    .into(),
            )),
            Err(e) => Err(LinuxError(format!("vrf-model = \"device\": {e}"))),
        },
    }
}

/// Checks that this kernel can run `config` (for the single-VXLAN model: a VLAN-aware bridge,
/// `external vnifilter`, VLAN-tunnel mapping; for `vrf-model = "device"`: VRF devices),
/// without changing anything.
pub fn check_capabilities(config: &LinuxConfig) -> Result<(), LinuxError> {
    if config.vrf_model == VrfModel::Device {
        resolve_vrf_model(VrfModel::Device)?;
    }
    if let DeviceModel::SingleVxlan { .. } = config.model {
        let missing = probe::single_vxlan(config).map_err(LinuxError)?;
        if !missing.is_empty() {
            return Err(LinuxError(format!(
                "this kernel cannot run the single-VXLAN-device model; missing: {}",
                missing.join("; ")
            )));
        }
    }
    socket::NlSocket::request_socket()
        .map(|_| ())
        .map_err(|e| LinuxError(format!("cannot open a netlink route socket: {e}")))
}

impl Backend for LinuxBackend {
    fn submit(&mut self, batch: Vec<DataplaneIntent>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        // Counted before it is sent: the apply thread may take it in at once.
        self.backlog.fetch_add(n, Ordering::AcqRel);
        let command =
            apply::Command::Batch(queued::QueuedBatch::new(batch), std::time::Instant::now());
        if self.commands.send(command).is_err() {
            // The apply thread is gone: nothing will take these in.
            let _ = self
                .backlog
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                    Some(w.saturating_sub(n))
                });
        }
    }

    fn kind(&self) -> &'static str {
        "linux"
    }

    fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Acquire)
    }

    fn check_vrf_options(&self, vrf: crate::VrfName, options: &VrfOptions) -> Result<(), String> {
        if let Some(name) = &options.netns {
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(format!("netns: {name:?} is not a namespace name"));
            }
        }
        if let Some(table) = options.table {
            // 0 is "unspecified"; 253–255 are the kernel's default, main and local tables.
            if table == 0 || (253..=255).contains(&table) {
                return Err(format!("table: {table} is reserved by the kernel"));
            }
        }
        let _ = vrf;
        Ok(())
    }

    fn set_vrf_options(&mut self, vrf: crate::VrfName, options: Option<VrfOptions>) {
        let name = vrf.as_str().to_string();
        match &options {
            Some(o) => {
                self.names.vrfs.insert(name.clone(), o.clone());
            }
            None => {
                self.names.vrfs.remove(&name);
            }
        }
        let _ = self
            .commands
            .send(apply::Command::VrfOptions(name, options));
    }

    fn stats(&self) -> BackendStats {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats
    }

    fn check_vni_options(&self, vni: u32, options: &VniOptions) -> Result<(), String> {
        if let DeviceModel::SingleVxlan { bridge, vxlan } = &self.names.model {
            if options.bridge.is_some() || options.vxlan.is_some() {
                return Err(format!(
                    "bridge: the single-VXLAN model puts every VNI on {bridge} and {vxlan}; per-VNI names do not apply"
                ));
            }
            return Ok(());
        }
        let mut probe = self.names.clone();
        probe.vnis.insert(vni, options.clone());
        let (bridge, vxlan) = (probe.bridge_name(vni), probe.vxlan_name(vni));
        if bridge == vxlan {
            return Err(format!("vxlan_device: {vxlan:?} is also the bridge's name"));
        }
        for other in probe.vnis.keys().filter(|v| **v != vni) {
            for name in [probe.bridge_name(*other), probe.vxlan_name(*other)] {
                if name == bridge || name == vxlan {
                    let field = if name == bridge {
                        "bridge"
                    } else {
                        "vxlan_device"
                    };
                    return Err(format!("{field}: {name:?} is a device of VNI {other}"));
                }
            }
        }
        Ok(())
    }

    fn set_vni_options(&mut self, vni: u32, options: Option<VniOptions>) {
        match &options {
            Some(o) => {
                self.names.vnis.insert(vni, o.clone());
            }
            None => {
                self.names.vnis.remove(&vni);
            }
        }
        let _ = self.commands.send(apply::Command::VniOptions(vni, options));
    }
}
