//! The watcher: link and neighbour notifications → MACs learned on tenant ports (RFC 7432
//! §9.1, data-plane learning), devices going down or away.

use super::apply::{lock, Command, Shared};
use super::fdb::{Neigh, EVPND_NEIGH_PROTOCOL, NUD_PERMANENT, NUD_VALID};
use super::netdev::{self, Link};
use super::reconcile::bridge_fdb;
use super::socket::{NlSocket, Received, RTNLGRP_LINK, RTNLGRP_NEIGH};
use crate::{Feedback, FeedbackSink};
use evpnd_wire::MacAddress;
use netlink_packet_route::neighbour::NeighbourFlags;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::collections::BTreeSet;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the watcher looks at the stop flag; a read that finds nothing for this long
/// means the socket is quiet.
const POLL: Duration = Duration::from_millis(200);
/// After an overflow, the FDB is re-read at the latest this long after it even if changes
/// keep coming.
const RESYNC_LATEST: Duration = Duration::from_secs(1);

/// The kernel-side filter of the notification socket (classic BPF, run on each notification
/// before it is queued): bridge FDB notifications flagged `NTF_SELF`, `NTF_EXT_LEARNED` or
/// `NTF_STICKY` are dropped. Those are the echoes of our own entries (the VXLAN device's own
/// FDB, the bridge entries we point at it), two per remote MAC: at 100 k MACs the watcher
/// would otherwise parse 200 k notifications it ignores, on the cores the installing thread
/// needs. What it must see passes: entries the bridge learned on tenant ports (no such flag),
/// their removal, neighbour entries and links. A remote entry taking over a learned MAC is
/// reported by the apply thread, which writes it.
///
/// Offsets: `nlmsg_type` at 4 (its low byte, little-endian, holds every RTM_* type),
/// `ndm_family` at 16, `ndm_flags` at 26 (`struct nlmsghdr` is 16 bytes).
fn own_echo_filter() -> [socket2::SockFilter; 9] {
    use socket2::SockFilter as F;
    const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const RTM_NEWNEIGH: u32 = 28;
    const RTM_DELNEIGH: u32 = 29;
    const AF_BRIDGE: u32 = 7;
    const NTF_SELF: u32 = 0x02;
    const NTF_EXT_LEARNED: u32 = 0x10;
    const NTF_STICKY: u32 = 0x40;
    [
        F::new(LD_B_ABS, 0, 0, 4),
        F::new(JEQ_K, 1, 0, RTM_NEWNEIGH), // → 3
        F::new(JEQ_K, 0, 4, RTM_DELNEIGH), // → 3, else accept
        F::new(LD_B_ABS, 0, 0, 16),
        F::new(JEQ_K, 0, 2, AF_BRIDGE), // → 5, else accept
        F::new(LD_B_ABS, 0, 0, 26),
        F::new(JSET_K, 1, 0, NTF_SELF | NTF_EXT_LEARNED | NTF_STICKY), // → drop
        F::new(RET_K, 0, 0, u32::MAX),                                 // accept
        F::new(RET_K, 0, 0, 0),                                        // drop
    ]
}

/// What a bridge FDB entry means to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdbEvent {
    /// Learned by the bridge of a VNI (with learning reported) on a tenant port.
    Learned(u32, MacAddress),
    /// The bridge of a VNI points the MAC at our VXLAN port (a remote entry).
    OnVxlan(u32, MacAddress),
    /// Not ours to report.
    Ignore,
}

/// Classifies a bridge FDB entry against our devices.
pub(crate) fn classify_fdb(n: &Neigh, shared: &Shared) -> FdbEvent {
    let Some(mac) = n.mac else {
        return FdbEvent::Ignore;
    };
    if n.family != AddressFamily::Bridge || mac.is_multicast() || mac.is_zero() {
        return FdbEvent::Ignore;
    }
    // Single model: the VLAN of the entry names the VNI (0: none, the per-VNI model).
    let vlan = n.vlan.unwrap_or(0);
    if let Some(&vni) = shared.by_vxlan.get(&(n.ifindex, vlan)) {
        return if n.is_bridge_entry() {
            FdbEvent::OnVxlan(vni, mac)
        } else {
            FdbEvent::Ignore
        };
    }
    let Some(&vni) = n.master.and_then(|m| shared.by_bridge.get(&(m, vlan))) else {
        return FdbEvent::Ignore;
    };
    let local_address = n.state & NUD_PERMANENT != 0;
    let installed = n.flags.contains(NeighbourFlags::ExtLearned);
    let learning = shared.vnis.get(&vni).is_some_and(|s| s.learning);
    if n.master == Some(n.ifindex) || local_address || installed || !learning {
        return FdbEvent::Ignore;
    }
    FdbEvent::Learned(vni, mac)
}

/// The watcher thread's state.
pub(crate) struct Watcher {
    socket: NlSocket,
    /// For reading the current state of a device (notifications lag behind it).
    requests: NlSocket,
    shared: Arc<Mutex<Shared>>,
    sink: Arc<FeedbackSink>,
    commands: Sender<Command>,
    stop: Arc<AtomicBool>,
}

impl Watcher {
    /// Opens the notification socket (link and neighbour groups) with `receive_buffer` bytes.
    pub fn new(
        receive_buffer: usize,
        shared: Arc<Mutex<Shared>>,
        sink: Arc<FeedbackSink>,
        commands: Sender<Command>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Watcher> {
        let socket = NlSocket::open(&[RTNLGRP_LINK, RTNLGRP_NEIGH], POLL, receive_buffer)?;
        socket.attach_filter(&own_echo_filter())?;
        Ok(Watcher {
            socket,
            requests: NlSocket::request_socket()?,
            shared,
            sink,
            commands,
            stop,
        })
    }

    /// The receive buffer the kernel granted the notification socket.
    #[cfg(test)]
    pub fn receive_buffer(&self) -> io::Result<usize> {
        self.socket.receive_buffer()
    }

    /// The thread's loop, until the stop flag is set.
    ///
    /// An overflow (ENOBUFS: notifications were dropped) makes a resync due. The kernel reports
    /// an overflow once and then drops silently until the socket's queue has been drained, so
    /// the FDB is re-read once the socket is quiet (a read found nothing for [`POLL`]), or at
    /// the latest [`RESYNC_LATEST`] after the overflow while changes keep coming; a resync that
    /// was not made in a quiet moment, or whose dump failed, is made again at the next one.
    pub fn run(mut self) {
        let mut overflow: Option<Instant> = None;
        while !self.stop.load(Ordering::SeqCst) {
            let quiet = match self.socket.receive() {
                Ok(messages) => {
                    for message in messages {
                        if let Received::Message(_, m) = message {
                            self.handle(m);
                        }
                    }
                    false
                }
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOBUFS.raw_os_error()) => {
                    overflow.get_or_insert_with(Instant::now);
                    false
                }
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) {
                        std::thread::sleep(POLL);
                    }
                    true
                }
            };
            if let Some(since) = overflow {
                if quiet || since.elapsed() >= RESYNC_LATEST {
                    let complete = self.resync();
                    overflow = (!complete || !quiet).then(Instant::now);
                }
            }
        }
    }

    fn report(&self, events: Vec<Feedback>) {
        for event in events {
            (self.sink)(event);
        }
    }

    fn handle(&mut self, message: RouteNetlinkMessage) {
        let events = match &message {
            RouteNetlinkMessage::NewNeighbour(n) => self.neighbour(&Neigh::parse(n), true),
            RouteNetlinkMessage::DelNeighbour(n) => self.neighbour(&Neigh::parse(n), false),
            RouteNetlinkMessage::NewLink(l) => self.link(&Link::parse(l), true),
            RouteNetlinkMessage::DelLink(l) => self.link(&Link::parse(l), false),
            _ => Vec::new(),
        };
        self.report(events);
    }

    fn neighbour(&mut self, n: &Neigh, added: bool) -> Vec<Feedback> {
        let mut shared = lock(&self.shared);
        if n.family == AddressFamily::Bridge {
            let gone = match classify_fdb(n, &shared) {
                FdbEvent::Learned(vni, mac) if added => {
                    return if shared.learned.insert((vni, mac)) {
                        vec![Feedback::LocalMacLearned { vni, mac, ip: None }]
                    } else {
                        Vec::new()
                    };
                }
                // Aged out or left (deleted), or taken over by a remote entry.
                FdbEvent::Learned(vni, mac) => Some((vni, mac)),
                FdbEvent::OnVxlan(vni, mac) if added => Some((vni, mac)),
                FdbEvent::OnVxlan(..) | FdbEvent::Ignore => None,
            };
            return match gone {
                Some((vni, mac)) if shared.learned.remove(&(vni, mac)) => {
                    shared
                        .learned_ips
                        .retain(|(v, _), m| !(*v == vni && *m == mac));
                    vec![Feedback::LocalMacGone { vni, mac }]
                }
                _ => Vec::new(),
            };
        }
        // A neighbour (ARP/ND) entry of one of our bridges (or SVIs) that is not ours.
        let Some(&vni) = shared.by_neigh.get(&n.ifindex) else {
            return Vec::new();
        };
        let (Some(ip), Some(mac)) = (n.dst, n.mac) else {
            if let Some(ip) = n.dst.filter(|_| !added) {
                shared.learned_ips.remove(&(vni, ip));
            }
            return Vec::new();
        };
        if n.protocol == Some(EVPND_NEIGH_PROTOCOL) {
            return Vec::new();
        }
        if !added || n.state & NUD_VALID == 0 {
            shared.learned_ips.remove(&(vni, ip));
            return Vec::new();
        }
        if !shared.learned.contains(&(vni, mac)) || shared.learned_ips.get(&(vni, ip)) == Some(&mac)
        {
            return Vec::new();
        }
        shared.learned_ips.insert((vni, ip), mac);
        vec![Feedback::LocalMacLearned {
            vni,
            mac,
            ip: Some(ip),
        }]
    }

    /// A link notification: for every VNI using the device (one, or all VNIs of a shared
    /// device of the single model), its deletion or its up/down state.
    fn link(&mut self, link: &Link, present: bool) -> Vec<Feedback> {
        let vnis = lock(&self.shared).vnis_on(link.index);
        let mut events = Vec::new();
        for vni in vnis {
            events.extend(self.link_of_vni(vni, link, present));
        }
        events
    }

    fn link_of_vni(&mut self, vni: u32, link: &Link, present: bool) -> Option<Feedback> {
        let mut shared = lock(&self.shared);
        let state = shared.vnis.get_mut(&vni)?;
        let is_bridge = state.devices.bridge == link.index;
        let is_vxlan = state.devices.vxlan == link.index;
        let name = if is_bridge {
            state.bridge_name.clone()
        } else if is_vxlan {
            state.vxlan_name.clone()
        } else {
            link.name.clone()
        };
        if !present {
            state.reported_up = false;
            let _ = self.commands.send(Command::Repair(vni));
            return Some(Feedback::LinkState {
                vni,
                up: false,
                reason: Some(format!("device {name} was deleted")),
            });
        }
        if is_bridge {
            state.bridge_up = link.up;
        } else if is_vxlan {
            state.vxlan_up = link.up;
        } else {
            // The SVI's state does not stop forwarding.
            return None;
        }
        if (state.bridge_up && state.vxlan_up) == state.reported_up {
            return None;
        }
        // Notifications lag behind the kernel: this one may predate our own setup of the
        // VNI (its devices are created down and brought up right after). What counts is
        // what the devices are now.
        let devices = state.devices;
        drop(shared);
        let now = [devices.bridge, devices.vxlan].map(|index| {
            netdev::get_by_index(&mut self.requests, index)
                .ok()
                .flatten()
        });
        let mut shared = lock(&self.shared);
        let state = shared.vnis.get_mut(&vni)?;
        if state.devices != devices {
            return None;
        }
        if let [Some(bridge), Some(vxlan)] = &now {
            state.bridge_up = bridge.up;
            state.vxlan_up = vxlan.up;
        }
        let up = state.bridge_up && state.vxlan_up;
        if up == state.reported_up {
            return None;
        }
        state.reported_up = up;
        let reason = (!up).then(|| {
            let down = if state.bridge_up {
                &state.vxlan_name
            } else {
                &state.bridge_name
            };
            format!("device {down} is down")
        });
        Some(Feedback::LinkState { vni, up, reason })
    }

    /// Notifications were lost: re-reads the FDB of our bridges and reports the difference
    /// with what was reported learned.
    /// Re-reads the FDB of every bridge and reports the difference with what was reported.
    /// False when a dump failed (for instance interrupted by changes going on: the kernel
    /// marks such a dump inconsistent): the caller tries again, so no change stays unseen.
    fn resync(&mut self) -> bool {
        let mut complete = true;
        let bridges: Vec<(u32, u32)> = {
            let mut shared = lock(&self.shared);
            shared.stats.resyncs += 1;
            shared
                .vnis
                .iter()
                .map(|(v, s)| (*v, s.devices.bridge))
                .collect()
        };
        let mut events = Vec::new();
        for (vni, bridge) in bridges {
            let Ok(entries) = bridge_fdb(&mut self.requests, bridge) else {
                complete = false;
                continue;
            };
            let mut shared = lock(&self.shared);
            let now: BTreeSet<MacAddress> = entries
                .iter()
                .filter_map(|n| match classify_fdb(n, &shared) {
                    FdbEvent::Learned(v, mac) if v == vni => Some(mac),
                    _ => None,
                })
                .collect();
            let before: BTreeSet<MacAddress> = shared
                .learned
                .iter()
                .filter(|(v, _)| *v == vni)
                .map(|(_, m)| *m)
                .collect();
            for mac in now.difference(&before) {
                shared.learned.insert((vni, *mac));
                events.push(Feedback::LocalMacLearned {
                    vni,
                    mac: *mac,
                    ip: None,
                });
            }
            for mac in before.difference(&now) {
                shared.learned.remove(&(vni, *mac));
                events.push(Feedback::LocalMacGone { vni, mac: *mac });
            }
        }
        self.report(events);
        complete
    }
}
