//! The watcher: link and neighbour notifications → MACs learned on tenant ports (RFC 7432
//! §9.1, data-plane learning), devices going down or away.

use super::apply::{lock, Command, Shared};
use super::fdb::{Neigh, EVPND_NEIGH_PROTOCOL, NUD_PERMANENT, NUD_VALID};
use super::netdev::Link;
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
use std::time::Duration;

/// How often the watcher looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

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
    if let Some(&vni) = shared.by_vxlan.get(&n.ifindex) {
        return if n.is_bridge_entry() {
            FdbEvent::OnVxlan(vni, mac)
        } else {
            FdbEvent::Ignore
        };
    }
    let Some(&vni) = n.master.and_then(|m| shared.by_bridge.get(&m)) else {
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
    shared: Arc<Mutex<Shared>>,
    sink: Arc<FeedbackSink>,
    commands: Sender<Command>,
    stop: Arc<AtomicBool>,
}

impl Watcher {
    /// Opens the notification socket (link and neighbour groups).
    pub fn new(
        shared: Arc<Mutex<Shared>>,
        sink: Arc<FeedbackSink>,
        commands: Sender<Command>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Watcher> {
        Ok(Watcher {
            socket: NlSocket::open(&[RTNLGRP_LINK, RTNLGRP_NEIGH], POLL)?,
            shared,
            sink,
            commands,
            stop,
        })
    }

    /// The thread's loop, until the stop flag is set.
    pub fn run(mut self) {
        while !self.stop.load(Ordering::SeqCst) {
            match self.socket.receive() {
                Ok(messages) => {
                    for message in messages {
                        if let Received::Message(_, m) = message {
                            self.handle(m);
                        }
                    }
                }
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOBUFS.raw_os_error()) => {
                    self.resync();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => std::thread::sleep(POLL),
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
        // A neighbour (ARP/ND) entry of one of our bridges that is not ours.
        let Some(&vni) = shared.by_bridge.get(&n.ifindex) else {
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

    fn link(&mut self, link: &Link, present: bool) -> Vec<Feedback> {
        let mut shared = lock(&self.shared);
        let (vni, is_bridge) = match (
            shared.by_bridge.get(&link.index),
            shared.by_vxlan.get(&link.index),
        ) {
            (Some(v), _) => (*v, true),
            (None, Some(v)) => (*v, false),
            (None, None) => return Vec::new(),
        };
        let Some(state) = shared.vnis.get_mut(&vni) else {
            return Vec::new();
        };
        let name = if is_bridge {
            state.bridge_name.clone()
        } else {
            state.vxlan_name.clone()
        };
        if !present {
            state.reported_up = false;
            let _ = self.commands.send(Command::Repair(vni));
            return vec![Feedback::LinkState {
                vni,
                up: false,
                reason: Some(format!("device {name} was deleted")),
            }];
        }
        if is_bridge {
            state.bridge_up = link.up;
        } else {
            state.vxlan_up = link.up;
        }
        let up = state.bridge_up && state.vxlan_up;
        if up == state.reported_up {
            return Vec::new();
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
        vec![Feedback::LinkState { vni, up, reason }]
    }

    /// Notifications were lost: re-reads the FDB of our bridges and reports the difference
    /// with what was reported learned.
    fn resync(&mut self) {
        let bridges: Vec<(u32, u32)> = {
            let mut shared = lock(&self.shared);
            shared.stats.resyncs += 1;
            shared
                .vnis
                .iter()
                .map(|(v, s)| (*v, s.devices.bridge))
                .collect()
        };
        let Ok(mut socket) = NlSocket::request_socket() else {
            return;
        };
        let mut events = Vec::new();
        for (vni, bridge) in bridges {
            let Ok(entries) = bridge_fdb(&mut socket, bridge) else {
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
    }
}
