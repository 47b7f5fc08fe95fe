//! The apply thread: takes the daemon's batches in order, writes the difference to the
//! kernel, reports refusals and retries them.

use super::fdb::{entry_requests, EntryRequest, VniDevices};
use super::reconcile::Snapshot;
use super::remote_fdb::RemoteFdb;
use super::socket::{NlError, NlSocket, Request};
use super::LinuxConfig;
use crate::{
    BackendStats, DataplaneIntent, Feedback, FeedbackSink, Inconsistent, MemoryDataplane, VrfName,
};
use evpnd_evpn::PortName;
use evpnd_wire::MacAddress;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// First retry delay after a failure; doubles on each failed retry.
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// Longest retry delay.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Longest sleep of the apply thread with nothing to do.
const IDLE: Duration = Duration::from_secs(60);
/// Entry requests queued from waiting batches before they are written anyway.
const COALESCE_LIMIT: usize = 8192;
/// Capacity of the entry queue kept between flushes (beyond it, the memory goes back).
const RETAINED_QUEUE: usize = 4 * COALESCE_LIMIT;

/// What the apply thread is asked to do.
pub(crate) enum Command {
    /// Apply an ordered batch, submitted at this instant (for the latency histogram).
    Batch(super::queued::QueuedBatch, Instant),
    /// A device of this VNI vanished under us: set it up again with its entries.
    Repair(u32),
    /// The device options of a VNI created (`Some`) or deleted (`None`) at run time: they take
    /// effect when its `DataplaneIntent::Vni` add arrives (sent after this).
    VniOptions(u32, Option<super::VniOptions>),
    /// The kernel options of a VRF created (`Some`) or deleted (`None`) at run time: they take
    /// effect when its `DataplaneIntent::Vrf` arrives (sent after this).
    VrfOptions(String, Option<super::VrfOptions>),
    /// Stop the thread.
    Stop,
}

/// A VNI whose devices are set up.
#[derive(Clone, Debug)]
pub(crate) struct VniState {
    /// The devices.
    pub devices: VniDevices,
    /// The bridge's name.
    pub bridge_name: String,
    /// The VXLAN device's name.
    pub vxlan_name: String,
    /// We created the bridge (else it was adopted: never deleted).
    pub bridge_ours: bool,
    /// Report MACs learned on its tenant ports.
    pub learning: bool,
    /// The bridge is up.
    pub bridge_up: bool,
    /// The VXLAN device is up.
    pub vxlan_up: bool,
    /// The last `LinkState` reported.
    pub reported_up: bool,
    /// The VRF whose network namespace holds the devices (namespace-per-VRF model); `None`:
    /// the host namespace (the watcher only sees those).
    pub netns: Option<VrfName>,
}

/// An entry request waiting for the next flush: the intent it belongs to and the namespace
/// it goes to (`Some(vrf)`: that VRF's namespace).
pub(crate) struct PendingEntry {
    /// The intent.
    pub intent: DataplaneIntent,
    /// The request.
    pub request: EntryRequest,
    /// The namespace.
    pub ns: Option<VrfName>,
}

/// State shared by the apply thread, the watcher and [`super::LinuxBackend::stats`].
#[derive(Default)]
pub(crate) struct Shared {
    /// VNI → its devices.
    pub vnis: BTreeMap<u32, VniState>,
    /// (Bridge ifindex, VLAN or 0) → VNI: a bridge FDB entry names its VNI by its bridge
    /// and, in the single model, its VLAN (`NDA_VLAN`).
    pub by_bridge: HashMap<(u32, u16), u32>,
    /// (VXLAN ifindex, VLAN or 0) → VNI.
    pub by_vxlan: HashMap<(u32, u16), u32>,
    /// Ifindex of the device holding a VNI's neighbours (bridge or SVI) → VNI.
    pub by_neigh: HashMap<u32, u32>,
    /// Local MACs reported learned.
    pub learned: BTreeSet<(u32, MacAddress)>,
    /// IPs reported with a learned MAC.
    pub learned_ips: BTreeMap<(u32, IpAddr), MacAddress>,
    /// Counters.
    pub stats: BackendStats,
}

impl Shared {
    /// Registers the devices of `vni`.
    pub fn insert(&mut self, vni: u32, state: VniState) {
        self.remove(vni);
        if state.netns.is_some() {
            // Ifindexes of another namespace: not for the host watcher's lookups.
            self.vnis.insert(vni, state);
            return;
        }
        let vlan = state.devices.vlan.unwrap_or(0);
        self.by_bridge.insert((state.devices.bridge, vlan), vni);
        self.by_vxlan.insert((state.devices.vxlan, vlan), vni);
        self.by_neigh.insert(state.devices.neigh, vni);
        self.vnis.insert(vni, state);
    }

    /// The VNIs whose devices include `index` (one per-VNI; every VNI for a shared device).
    pub fn vnis_on(&self, index: u32) -> Vec<u32> {
        self.vnis
            .iter()
            .filter(|(_, s)| {
                let d = s.devices;
                s.netns.is_none() && (d.bridge == index || d.vxlan == index || d.neigh == index)
            })
            .map(|(v, _)| *v)
            .collect()
    }

    /// Forgets the devices of `vni` (and what was learned on them).
    pub fn remove(&mut self, vni: u32) -> Option<VniState> {
        let state = self.vnis.remove(&vni)?;
        if state.netns.is_some() {
            return Some(state);
        }
        let vlan = state.devices.vlan.unwrap_or(0);
        self.by_bridge.remove(&(state.devices.bridge, vlan));
        self.by_vxlan.remove(&(state.devices.vxlan, vlan));
        self.by_neigh.remove(&state.devices.neigh);
        self.learned.retain(|(v, _)| *v != vni);
        self.learned_ips.retain(|(v, _), _| *v != vni);
        Some(state)
    }
}

/// Locks `shared`, surviving a panicked holder (the state stays usable).
pub(crate) fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a pending retry supersedes: a later intent on the same key replaces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RetryKey {
    /// A VNI's devices (ordered first: retried before the entries that need them).
    Vni(u32),
    /// A tenant port.
    Port(u32, PortName),
    /// A remote MAC.
    Mac(u32, MacAddress),
    /// A flood entry.
    Flood(u32, IpAddr),
    /// A neighbour.
    Neigh(u32, IpAddr),
    /// The post-start sweep.
    Synced,
    /// A layer-3 intent (VRF, gateway, router MAC, route).
    Layer3(DataplaneIntent),
}

impl RetryKey {
    /// The key of `intent`.
    pub fn of(intent: &DataplaneIntent) -> RetryKey {
        match *intent {
            DataplaneIntent::Vni { vni, .. } | DataplaneIntent::RemoveVni { vni } => {
                RetryKey::Vni(vni.get())
            }
            DataplaneIntent::Port { vni, port } | DataplaneIntent::RemovePort { vni, port } => {
                RetryKey::Port(vni.get(), port)
            }
            DataplaneIntent::RemoteMac { vni, mac, .. }
            | DataplaneIntent::RemoveRemoteMac { vni, mac } => RetryKey::Mac(vni.get(), mac),
            DataplaneIntent::Flood { vni, vtep } | DataplaneIntent::RemoveFlood { vni, vtep } => {
                RetryKey::Flood(vni.get(), vtep)
            }
            DataplaneIntent::Neighbor { vni, ip, .. }
            | DataplaneIntent::RemoveNeighbor { vni, ip } => RetryKey::Neigh(vni.get(), ip),
            DataplaneIntent::Synced => RetryKey::Synced,
            DataplaneIntent::Vrf { .. }
            | DataplaneIntent::RemoveVrf { .. }
            | DataplaneIntent::Gateway { .. }
            | DataplaneIntent::RemoveGateway { .. }
            | DataplaneIntent::RouterMac { .. }
            | DataplaneIntent::RemoveRouterMac { .. }
            | DataplaneIntent::RemoteRoute { .. }
            | DataplaneIntent::RemoveRemoteRoute { .. }
            | DataplaneIntent::GatewayRoute { .. }
            | DataplaneIntent::RemoveGatewayRoute { .. } => RetryKey::Layer3(*intent),
        }
    }
}

/// An intent waiting to be retried.
#[derive(Clone, Copy, Debug)]
struct Retry {
    intent: DataplaneIntent,
    due: Instant,
    backoff: Duration,
}

/// The apply thread's state.
pub(crate) struct Applier {
    pub(super) socket: NlSocket,
    pub(super) config: LinuxConfig,
    pub(super) sink: Arc<FeedbackSink>,
    pub(super) shared: Arc<Mutex<Shared>>,
    /// What the control plane wants (the tables and the VNIs).
    pub(super) desired: MemoryDataplane,
    /// The remote FDB the control plane wants, kept here rather than in `desired.fdb` (which
    /// stays empty): a compact table, about 23 bytes per MAC instead of a B-tree's ~60.
    pub(super) remote_fdb: RemoteFdb,
    /// What an earlier run left and no intent renewed yet (emptied at the sweep).
    pub(super) snapshot: Snapshot,
    /// Single model: the VLAN of each VNI (recovered at start from the kernel's mapping).
    pub(super) vlans: BTreeMap<u32, u16>,
    /// When the sweep runs without `Synced`.
    pub(super) sweep_at: Option<Instant>,
    retries: BTreeMap<RetryKey, Retry>,
    /// Entry requests waiting for the next flush, with the intent each belongs to.
    pub(super) pending: Vec<PendingEntry>,
    /// The retried intents among `pending` (their records go when they succeed).
    pub(super) pending_retries: Vec<DataplaneIntent>,
    /// Tenant VRFs.
    pub(super) l3: super::l3::L3,
}

impl Applier {
    /// Opens the request socket and reads what an earlier run left in the kernel.
    pub fn new(
        config: LinuxConfig,
        sink: Arc<FeedbackSink>,
        shared: Arc<Mutex<Shared>>,
    ) -> Result<Applier, NlError> {
        let mut socket = NlSocket::request_socket().map_err(|e| NlError::local(&e))?;
        let snapshot = Snapshot::read(&mut socket)?;
        let config_vrf_model = config.vrf_model;
        Ok(Applier {
            vlans: snapshot.vlans.clone(),
            socket,
            sweep_at: Instant::now().checked_add(config.sweep_after),
            config,
            sink,
            shared,
            desired: MemoryDataplane::default(),
            remote_fdb: RemoteFdb::default(),
            snapshot,
            retries: BTreeMap::new(),
            pending: Vec::new(),
            pending_retries: Vec::new(),
            l3: super::l3::L3 {
                model: config_vrf_model,
                host_ns: super::netns::current().ok(),
                vrfs: BTreeMap::new(),
            },
        })
    }

    pub(super) fn report(&self, feedback: Feedback) {
        (self.sink)(feedback);
    }

    /// The thread's loop: batches in order, retries and the sweep when due. `backlog` counts
    /// the intents submitted and not yet taken in ([`super::LinuxBackend`]'s
    /// `Backend::backlog`): each batch's intents leave it once they are in the desired tables
    /// and the entry queue.
    pub fn run(mut self, commands: Receiver<Command>, backlog: Arc<AtomicUsize>) {
        loop {
            let now = Instant::now();
            let next = self
                .retries
                .values()
                .map(|r| r.due)
                .chain(self.sweep_at)
                .min()
                .map_or(IDLE, |due| due.saturating_duration_since(now));
            let mut command = commands.recv_timeout(next);
            // Batches already waiting are taken together: their entries go out in full
            // chunks, with one ack per chunk instead of one per batch (the driver submits one
            // batch per event, often a few hundred intents).
            let mut submitted = Vec::new();
            while let Ok(Command::Batch(batch, at)) = command {
                submitted.push(at);
                let taken = batch.len();
                let accepted = self.accept_batch(batch.into_intents());
                let _ = backlog.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(n.saturating_sub(taken))
                });
                let queued = self.pending.len();
                command = if queued < COALESCE_LIMIT {
                    commands.try_recv().map_err(|e| match e {
                        TryRecvError::Empty => RecvTimeoutError::Timeout,
                        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    })
                } else {
                    Err(RecvTimeoutError::Timeout)
                };
                if !matches!(command, Ok(Command::Batch(..))) {
                    self.finish_batches();
                }
                let mut shared = lock(&self.shared);
                shared.stats.applied += accepted;
                if !matches!(command, Ok(Command::Batch(..))) {
                    for at in submitted.drain(..) {
                        shared.stats.apply_latency.record(at.elapsed());
                    }
                }
            }
            match command {
                Ok(Command::Batch(..)) => {}
                Ok(Command::Repair(vni)) => self.repair(vni),
                Ok(Command::VniOptions(vni, Some(o))) => {
                    self.config.vnis.insert(vni, o);
                }
                Ok(Command::VniOptions(vni, None)) => {
                    self.config.vnis.remove(&vni);
                }
                Ok(Command::VrfOptions(vrf, Some(o))) => {
                    self.config.vrfs.insert(vrf, o);
                }
                Ok(Command::VrfOptions(vrf, None)) => {
                    self.config.vrfs.remove(&vrf);
                }
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.sweep_at.is_some_and(|at| at <= Instant::now()) {
                self.sweep();
            }
            self.run_due_retries();
        }
    }

    /// Takes one batch in: device intents are carried out at once, entry requests queued
    /// (they go out at `finish_batches` or before the next device change). Returns
    /// the intents the desired tables accepted (failed ones included: they are in the retry
    /// set).
    fn accept_batch(&mut self, batch: impl Iterator<Item = DataplaneIntent>) -> u64 {
        let mut accepted = 0u64;
        for intent in batch {
            // A route intent answers its paths from the table lookup that applies it (the
            // request is built from them: one lookup per route).
            let paths = match self.desired.apply_route(&intent) {
                Ok(None) => self.apply_desired(&intent).map(|()| None),
                other => other,
            };
            match paths {
                Err(e) => {
                    self.refuse(intent, e.to_string());
                    continue;
                }
                Ok(Some(paths)) => {
                    accepted += 1;
                    self.retries.remove(&RetryKey::of(&intent));
                    self.queue_layer3(intent, false, Some(&paths));
                }
                Ok(None) => {
                    accepted += 1;
                    self.execute(intent, false);
                }
            }
        }
        accepted
    }

    /// Applies a non-route intent to the desired tables, remote MACs to `remote_fdb`
    /// (see [`super::remote_fdb::apply_desired`]).
    fn apply_desired(&mut self, intent: &DataplaneIntent) -> Result<(), Inconsistent> {
        super::remote_fdb::apply_desired(&mut self.desired, &mut self.remote_fdb, intent)
    }

    /// Writes what the batches taken in queued.
    fn finish_batches(&mut self) {
        self.flush();
        self.update_pending_count();
    }

    /// Carries out an intent the desired tables accepted. `retry`: a retry of a failed
    /// intent (its record stays until it succeeds; it is not compared with the snapshot).
    fn execute(&mut self, intent: DataplaneIntent, retry: bool) {
        if !retry {
            // A later intent on the same key supersedes a pending retry.
            self.retries.remove(&RetryKey::of(&intent));
        }
        let result = match intent {
            DataplaneIntent::Vni { vni, .. } => {
                self.flush();
                self.snapshot_take_devices(vni.get());
                self.setup_vni(vni.get()).inspect_err(|reason| {
                    self.report(Feedback::LinkState {
                        vni: vni.get(),
                        up: false,
                        reason: Some(reason.clone()),
                    })
                })
            }
            DataplaneIntent::RemoveVni { vni } => {
                self.flush();
                self.remove_vni(vni.get())
            }
            DataplaneIntent::Port { vni, port } => {
                self.flush();
                self.plug(vni.get(), port)
            }
            DataplaneIntent::RemovePort { vni, port } => {
                self.flush();
                self.unplug(vni.get(), port)
            }
            DataplaneIntent::Synced => {
                self.flush();
                self.sweep();
                Ok(())
            }
            DataplaneIntent::Vrf { .. }
            | DataplaneIntent::RemoveVrf { .. }
            | DataplaneIntent::Gateway { .. }
            | DataplaneIntent::RemoveGateway { .. } => {
                self.flush();
                self.execute_vrf_device(intent)
            }
            DataplaneIntent::RouterMac { .. }
            | DataplaneIntent::RemoveRouterMac { .. }
            | DataplaneIntent::RemoteRoute { .. }
            | DataplaneIntent::RemoveRemoteRoute { .. }
            | DataplaneIntent::GatewayRoute { .. }
            | DataplaneIntent::RemoveGatewayRoute { .. } => {
                self.queue_layer3(intent, retry, None);
                return;
            }
            _ => {
                if !retry && self.snapshot.already_installed(&intent) {
                    return;
                }
                self.queue_entry(intent, retry);
                return;
            }
        };
        match result {
            Ok(()) if retry => self.succeeded(intent),
            Ok(()) => {}
            Err(reason) => self.fail(intent, reason),
        }
    }

    /// A retried intent went through: its record goes.
    fn succeeded(&mut self, intent: DataplaneIntent) {
        let key = RetryKey::of(&intent);
        if self.retries.get(&key).is_some_and(|r| r.intent == intent) {
            self.retries.remove(&key);
        }
    }

    /// Queues the requests of an entry intent (they go out at the next flush).
    pub(super) fn queue_entry(&mut self, intent: DataplaneIntent, retry: bool) {
        let Some(vni) = super::reconcile::intent_vni(&intent) else {
            return;
        };
        let (devices, taken_over) = {
            let mut shared = lock(&self.shared);
            let devices = shared.vnis.get(&vni).map(|s| (s.devices, s.netns));
            // A remote entry takes the bridge's entry of a MAC it learned on a tenant port
            // over: that local MAC is gone (the watcher does not read our own entries' echoes).
            let taken_over = match intent {
                DataplaneIntent::RemoteMac { mac, .. } if shared.learned.remove(&(vni, mac)) => {
                    shared
                        .learned_ips
                        .retain(|(v, _), m| !(*v == vni && *m == mac));
                    Some(mac)
                }
                _ => None,
            };
            (devices, taken_over)
        };
        if let Some(mac) = taken_over {
            self.report(Feedback::LocalMacGone { vni, mac });
        }
        let Some((devices, ns)) = devices else {
            self.fail(
                intent,
                format!("the devices of VNI {vni} are not set up (see its link state)"),
            );
            return;
        };
        for request in entry_requests(&intent, devices) {
            self.pending.push(PendingEntry {
                intent,
                request,
                ns,
            });
        }
        if retry {
            self.pending_retries.push(intent);
        }
    }

    /// Sends the queued entry requests in one batch and reports the refused intents.
    pub(super) fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        let retried = std::mem::take(&mut self.pending_retries);
        // One batch per namespace (the host's, then each VRF's), in queue order within each.
        let mut groups: BTreeMap<Option<VrfName>, Vec<usize>> = BTreeMap::new();
        for (index, entry) in pending.iter().enumerate() {
            groups.entry(entry.ns).or_default().push(index);
        }
        let started = Instant::now();
        let mut failures: Vec<(usize, NlError)> = Vec::new();
        for (ns, indexes) in groups {
            let requests: Vec<&Request> = indexes
                .iter()
                .filter_map(|i| pending.get(*i).map(|e| &e.request.request))
                .collect();
            let sent = self.in_netns(ns, |a| Ok(a.socket.send_batch(&requests)));
            match sent {
                Ok(f) => failures.extend(
                    f.into_iter()
                        .filter_map(|(i, e)| indexes.get(i).map(|index| (*index, e))),
                ),
                Err(reason) => {
                    let error = NlError {
                        code: rustix::io::Errno::IO.raw_os_error(),
                        ext: Some(reason),
                    };
                    failures.extend(indexes.iter().map(|i| (*i, error.clone())));
                }
            }
        }
        {
            let mut shared = lock(&self.shared);
            shared.stats.entries_written += pending.len() as u64;
            shared.stats.write_micros += started.elapsed().as_micros() as u64;
        }
        // One report per intent (an intent has up to two requests).
        let mut failed: Vec<(DataplaneIntent, NlError)> = Vec::new();
        for (index, error) in failures {
            let Some(PendingEntry {
                intent, request, ..
            }) = pending.get(index)
            else {
                continue;
            };
            if request.delete && error.is_not_found() {
                continue;
            }
            if !failed.iter().any(|(i, _)| i == intent) {
                failed.push((*intent, error));
            }
        }
        for intent in retried {
            if !failed.iter().any(|(i, _)| *i == intent) {
                self.succeeded(intent);
            }
        }
        for (intent, error) in failed {
            self.fail(intent, format!("the kernel refused it: {error}"));
        }
        // The queue keeps its memory for the next batches (a bulk install queues thousands
        // of requests per flush; growing a fresh queue each time copied them over and over).
        pending.clear();
        if self.pending.is_empty() && pending.capacity() <= RETAINED_QUEUE {
            self.pending = pending;
        }
    }

    /// Reports a failed intent (the first time; a failed retry only doubles its delay) and
    /// schedules its retry.
    pub(super) fn fail(&mut self, intent: DataplaneIntent, reason: String) {
        let key = RetryKey::of(&intent);
        let now = Instant::now();
        let retry = match self.retries.get(&key) {
            Some(r) if r.intent == intent => {
                let backoff = r.backoff.saturating_mul(2).min(RETRY_MAX);
                Retry {
                    intent,
                    backoff,
                    due: now + backoff,
                }
            }
            _ => {
                lock(&self.shared).stats.failures += 1;
                self.report(Feedback::InstallFailed { intent, reason });
                Retry {
                    intent,
                    backoff: RETRY_FIRST,
                    due: now + RETRY_FIRST,
                }
            }
        };
        self.retries.insert(key, retry);
    }

    /// Reports an intent the desired tables refused (the engine and the backend disagree);
    /// it is not applied and not retried.
    fn refuse(&mut self, intent: DataplaneIntent, reason: String) {
        lock(&self.shared).stats.failures += 1;
        self.report(Feedback::InstallFailed { intent, reason });
    }

    fn update_pending_count(&self) {
        lock(&self.shared).stats.pending_retries = self.retries.len() as u64;
    }

    fn run_due_retries(&mut self) {
        let now = Instant::now();
        let due: Vec<DataplaneIntent> = self
            .retries
            .values()
            .filter(|r| r.due <= now)
            .map(|r| r.intent)
            .collect();
        if due.is_empty() {
            return;
        }
        for intent in due {
            self.execute(intent, true);
        }
        self.flush();
        self.update_pending_count();
    }

    /// Puts the entries and ports `desired` holds for `vni` back (after its devices were set
    /// up again).
    pub(super) fn reinstall(&mut self, vni: u32) {
        let Ok(v) = evpnd_wire::Vni::new(vni) else {
            return;
        };
        let mut intents = Vec::new();
        for port in self.desired.vnis.get(&v).into_iter().flatten() {
            intents.push(DataplaneIntent::Port {
                vni: v,
                port: *port,
            });
        }
        // A scan of the whole remote FDB (no per-VNI index: see `RemoteFdb::entries_of`);
        // a repair is rare.
        for (mac, e) in self.remote_fdb.entries_of(v) {
            intents.push(DataplaneIntent::RemoteMac {
                vni: v,
                mac,
                vtep: e.vtep,
                sticky: e.sticky,
            });
        }
        for vtep in self.desired.flood.get(&v).into_iter().flatten() {
            intents.push(DataplaneIntent::Flood {
                vni: v,
                vtep: *vtep,
            });
        }
        for ((nv, ip), e) in &self.desired.neigh {
            if *nv == v {
                intents.push(DataplaneIntent::Neighbor {
                    vni: v,
                    ip: *ip,
                    mac: e.mac,
                    router: e.router,
                    local: e.local,
                });
            }
        }
        for intent in intents {
            self.execute(intent, false);
        }
        self.flush();
    }
}
