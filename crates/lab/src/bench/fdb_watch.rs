//! Watching a namespace's kernel FDB fill up: the clock of the kernel-install benchmark.
//!
//! A netlink socket inside the namespace, subscribed to `RTNLGRP_NEIGH`, keeps the set of
//! remote MACs of one VXLAN device (entries with a remote VTEP, `NDA_DST`, and a non-zero MAC:
//! what `bridge fdb show dev vx100 | grep dst` lists, flood entries excluded) and notes the
//! instant of the first one and the instant the set reaches the target. Reading
//! notifications costs far less than polling `bridge fdb show`, which dumps the whole table
//! every time. If the socket overruns anyway (`ENOBUFS`: notifications were lost), it falls
//! back to a dump every 100 ms, and says so.

use crate::error::{LabError, Result};
use crate::netns::Netns;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `RTNLGRP_NEIGH` (linux/rtnetlink.h): neighbour and FDB notifications.
const RTNLGRP_NEIGH: u32 = 3;
/// Netlink message types (linux/netlink.h, linux/rtnetlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const RTM_GETNEIGH: u16 = 30;
/// `AF_BRIDGE`: the FDB's address family.
const AF_BRIDGE: u8 = 7;
/// Neighbour attributes (linux/neighbour.h).
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
/// `struct nlmsghdr` and `struct ndmsg` sizes.
const NLMSG_HDRLEN: usize = 16;
const NDMSG_LEN: usize = 12;
/// How often the fallback dumps the table after an overrun.
const DUMP_EVERY: Duration = Duration::from_millis(100);
/// The notification socket's receive buffer (forced past `rmem_max`; we are root).
const RECV_BUFFER: usize = 512 << 20;

/// A 48-bit MAC address.
type Mac = [u8; 6];

#[derive(Debug, Default)]
struct WatchState {
    macs: HashSet<Mac>,
    first: Option<Instant>,
    reached: Option<Instant>,
    target: usize,
    overrun: bool,
    error: Option<String>,
}

impl WatchState {
    fn note(&mut self, now: Instant) {
        if self.first.is_none() && !self.macs.is_empty() {
            self.first = Some(now);
        }
        if self.reached.is_none() && self.target > 0 && self.macs.len() >= self.target {
            self.reached = Some(now);
        }
    }
}

/// When the FDB filled: the first remote entry and the moment the target count was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillTimes {
    /// The first remote entry appeared.
    pub first: Instant,
    /// The device held the target count.
    pub reached: Instant,
    /// Notifications were lost and the times come from 100 ms dumps.
    pub overrun: bool,
}

/// Counts the remote FDB entries of one VXLAN device of a namespace as they appear; stops
/// its thread on drop.
#[derive(Debug)]
pub struct FdbWatch {
    state: Arc<Mutex<WatchState>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    dump: Socket,
    ifindex: u32,
}

fn nl_err(what: &str, e: impl std::fmt::Display) -> LabError {
    LabError::new(format!("fdb watch: {what}: {e}"))
}

/// The interface index of `name` in the namespace the calling thread is in.
fn ifindex_here(name: &str) -> Result<u32> {
    // SIOCGIFINDEX wants any socket of the namespace.
    let probe = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(|e| nl_err("socket", e))?;
    rustix::net::netdevice::name_to_index(&probe, name).map_err(|e| nl_err(name, e))
}

/// The interface index of `dev` in `ns`, or an error if there is no such device.
pub fn ifindex(ns: &Netns, dev: &str) -> Result<u32> {
    ns.within(|| ifindex_here(dev))?
}

/// One message of a netlink buffer, as the watcher needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// A remote entry of the watched device appeared (or was replaced).
    Added(Mac),
    /// A remote entry of the watched device went away.
    Removed(Mac),
    /// The end of a dump.
    Done,
    /// An error reply (the negative errno).
    Error(i32),
}

pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The remote MAC an `ndmsg` with its attributes installs on `ifindex`: a bridge-family
/// entry of that device with a remote VTEP (`NDA_DST`) and a non-zero MAC.
fn remote_mac(payload: &[u8], ifindex: u32) -> Option<Mac> {
    if payload.len() < NDMSG_LEN || payload[0] != AF_BRIDGE || u32_at(payload, 4)? != ifindex {
        return None;
    }
    let (mut mac, mut remote, mut at) = (None, false, NDMSG_LEN);
    while at + 4 <= payload.len() {
        let len = usize::from(u16_at(payload, at)?);
        if len < 4 || at + len > payload.len() {
            break;
        }
        match u16_at(payload, at + 2)? & 0x3fff {
            NDA_DST => remote = true,
            NDA_LLADDR => mac = <Mac>::try_from(&payload[at + 4..at + len]).ok(),
            _ => {}
        }
        at += (len + 3) & !3;
    }
    mac.filter(|m| remote && m.iter().any(|b| *b != 0))
}

/// Walks the netlink messages in `buf` (parsed by hand: the watcher must keep up with the
/// kernel), calling `f` on each event about `ifindex`; stops at a truncated message.
fn scan(buf: &[u8], ifindex: u32, mut f: impl FnMut(Event)) {
    let mut off = 0usize;
    while let (Some(len), Some(kind)) = (u32_at(buf, off), u16_at(buf, off + 4)) {
        let len = len as usize;
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            return;
        }
        let payload = &buf[off + NLMSG_HDRLEN..off + len];
        let event = match kind {
            RTM_NEWNEIGH => remote_mac(payload, ifindex).map(Event::Added),
            RTM_DELNEIGH => remote_mac(payload, ifindex).map(Event::Removed),
            NLMSG_DONE => Some(Event::Done),
            NLMSG_ERROR => u32_at(payload, 0).map(|e| Event::Error(e as i32)),
            _ => None,
        };
        if let Some(e) = event {
            f(e);
        }
        off += (len + 3) & !3;
    }
}

/// The remote MACs of `ifindex` now, from one FDB dump on `s`.
fn dump_remote_macs(s: &Socket, ifindex: u32) -> Result<HashSet<Mac>> {
    // RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, an ndmsg of family AF_BRIDGE.
    let mut req = Vec::with_capacity(NLMSG_HDRLEN + NDMSG_LEN);
    req.extend_from_slice(&((NLMSG_HDRLEN + NDMSG_LEN) as u32).to_ne_bytes());
    req.extend_from_slice(&RTM_GETNEIGH.to_ne_bytes());
    req.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes());
    req.extend_from_slice(&[0; 8]);
    req.push(AF_BRIDGE);
    req.extend_from_slice(&[0; NDMSG_LEN - 1]);
    s.send(&req, 0).map_err(|e| nl_err("dump request", e))?;
    let mut macs = HashSet::new();
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        buf.clear();
        let n = s.recv(&mut buf, 0).map_err(|e| nl_err("dump", e))?;
        let mut done = None;
        scan(&buf[..n], ifindex, |ev| match ev {
            Event::Added(m) => {
                macs.insert(m);
            }
            Event::Removed(_) => {}
            Event::Done => done = Some(Ok(())),
            Event::Error(0) => {}
            Event::Error(e) => {
                done = Some(Err(nl_err(
                    "dump",
                    std::io::Error::from_raw_os_error(e.saturating_neg()),
                )))
            }
        });
        match done {
            Some(Ok(())) => return Ok(macs),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
}

/// A kernel-side filter (classic BPF) keeping only bridge FDB notifications flagged
/// `NTF_SELF`: a device's own entries, where remote MACs live. The bridge's entries that an
/// installer may write beside them (evpnd points the bridge at the VXLAN port) never reach the
/// watcher, so it reads one notification per remote MAC whoever installs them, and keeps up
/// with faster installers. Offsets: `ndm_family` at 16, `ndm_flags` at 26.
fn self_entries_only() -> [socket2::SockFilter; 6] {
    use socket2::SockFilter as F;
    const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const AF_BRIDGE: u32 = 7;
    const NTF_SELF: u32 = 0x02;
    [
        F::new(LD_B_ABS, 0, 0, 16),
        F::new(JEQ_K, 0, 3, AF_BRIDGE), // else drop
        F::new(LD_B_ABS, 0, 0, 26),
        F::new(JSET_K, 0, 1, NTF_SELF), // else drop
        F::new(RET_K, 0, 0, u32::MAX),
        F::new(RET_K, 0, 0, 0),
    ]
}

pub(super) fn route_socket() -> Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE).map_err(|e| nl_err("socket", e))?;
    s.bind_auto().map_err(|e| nl_err("bind", e))?;
    s.connect(&SocketAddr::new(0, 0))
        .map_err(|e| nl_err("connect", e))?;
    Ok(s)
}

impl FdbWatch {
    /// Starts watching the remote entries of `dev` (which must exist) in `ns`, beginning with
    /// a dump of what it already holds.
    pub fn start(ns: &Netns, dev: &str) -> Result<FdbWatch> {
        let (ifindex, notify, dump) = ns.within(|| -> Result<(u32, Socket, Socket)> {
            let ifindex = ifindex_here(dev)?;
            let notify = route_socket()?;
            notify
                .add_membership(RTNLGRP_NEIGH)
                .map_err(|e| nl_err("RTNLGRP_NEIGH", e))?;
            rustix::net::sockopt::set_socket_recv_buffer_size_force(&notify, RECV_BUFFER)
                .map_err(|e| nl_err("SO_RCVBUFFORCE", e))?;
            socket2::SockRef::from(&notify)
                .attach_filter(&self_entries_only())
                .map_err(|e| nl_err("SO_ATTACH_FILTER", e))?;
            rustix::net::sockopt::set_socket_timeout(
                &notify,
                rustix::net::sockopt::Timeout::Recv,
                Some(Duration::from_millis(50)),
            )
            .map_err(|e| nl_err("SO_RCVTIMEO", e))?;
            let dump = route_socket()?;
            rustix::net::sockopt::set_socket_recv_buffer_size_force(&dump, 32 << 20)
                .map_err(|e| nl_err("SO_RCVBUFFORCE", e))?;
            Ok((ifindex, notify, dump))
        })??;
        // Subscribed first, then dumped: nothing falls between the two.
        let state = Arc::new(Mutex::new(WatchState {
            macs: dump_remote_macs(&dump, ifindex)?,
            ..WatchState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || watch_loop(&notify, ifindex, &state, &stop))
        };
        Ok(FdbWatch {
            state,
            stop,
            thread: Some(thread),
            dump,
            ifindex,
        })
    }

    fn lock(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remote entries now (from the notifications).
    pub fn count(&self) -> usize {
        self.lock().macs.len()
    }

    /// Waits until the device holds `target` remote entries, at most `timeout`; polls the
    /// watcher every millisecond (and, after an overrun, dumps the table every 100 ms).
    pub fn wait(&self, target: usize, timeout: Duration) -> Result<FillTimes> {
        self.wait_while(target, timeout, || None)
    }

    /// [`FdbWatch::wait`], giving up as soon as `gone` names a reason (checked every 100 ms:
    /// a DUT that died will never fill the table).
    pub fn wait_while(
        &self,
        target: usize,
        timeout: Duration,
        gone: impl Fn() -> Option<String>,
    ) -> Result<FillTimes> {
        let deadline = Instant::now() + timeout;
        let mut last_check = Instant::now();
        let mut last_dump = Instant::now();
        {
            let mut st = self.lock();
            st.target = target;
            st.note(Instant::now());
        }
        loop {
            {
                let st = self.lock();
                if let Some(e) = &st.error {
                    return Err(nl_err("notifications", e));
                }
                if let (Some(first), Some(reached)) = (st.first, st.reached) {
                    return Ok(FillTimes {
                        first,
                        reached,
                        overrun: st.overrun,
                    });
                }
                if Instant::now() >= deadline {
                    return Err(LabError::new(format!(
                        "the kernel FDB holds {} of {target} remote entries after {:.1} s",
                        st.macs.len(),
                        timeout.as_secs_f64()
                    )));
                }
            }
            if last_check.elapsed() >= Duration::from_millis(100) {
                last_check = Instant::now();
                if let Some(why) = gone() {
                    return Err(LabError::new(format!(
                        "{why}; the kernel FDB holds {} of {target} remote entries",
                        self.count()
                    )));
                }
            }
            if self.lock().overrun && last_dump.elapsed() >= DUMP_EVERY {
                let macs = dump_remote_macs(&self.dump, self.ifindex)?;
                last_dump = Instant::now();
                let mut st = self.lock();
                st.macs = macs;
                st.note(last_dump);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The remote entries by a fresh dump (the final check: exactly the expected count).
    pub fn dump_count(&self) -> Result<usize> {
        dump_remote_macs(&self.dump, self.ifindex).map(|m| m.len())
    }
}

fn watch_loop(s: &Socket, ifindex: u32, state: &Mutex<WatchState>, stop: &AtomicBool) {
    let mut buf = Vec::with_capacity(1 << 20);
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    while !stop.load(Ordering::Relaxed) {
        buf.clear();
        match s.recv(&mut buf, 0) {
            Ok(n) => {
                let now = Instant::now();
                let mut st = lock();
                if st.overrun {
                    continue; // the dumps keep count now
                }
                scan(&buf[..n], ifindex, |ev| match ev {
                    Event::Added(m) => {
                        st.macs.insert(m);
                    }
                    Event::Removed(m) => {
                        st.macs.remove(&m);
                    }
                    _ => {}
                });
                st.note(now);
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOBUFS.raw_os_error()) => {
                lock().overrun = true;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                lock().error = Some(e.to_string());
                return;
            }
        }
    }
}

impl Drop for FdbWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// An FDB notification as the kernel sends it: nlmsghdr, ndmsg, NDA_LLADDR, NDA_DST.
    fn neigh(kind: u16, ifindex: u32, mac: Mac, dst: bool) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&10u16.to_ne_bytes());
        attrs.extend_from_slice(&NDA_LLADDR.to_ne_bytes());
        attrs.extend_from_slice(&mac);
        attrs.extend_from_slice(&[0, 0]);
        if dst {
            attrs.extend_from_slice(&8u16.to_ne_bytes());
            attrs.extend_from_slice(&NDA_DST.to_ne_bytes());
            attrs.extend_from_slice(&[198, 19, 1, 1]);
        }
        let len = NLMSG_HDRLEN + NDMSG_LEN + attrs.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[AF_BRIDGE, 0, 0, 0]);
        m.extend_from_slice(&ifindex.to_ne_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn scan_keeps_remote_entries_of_the_device_only() {
        let a = [2, 1, 0, 0, 0, 1];
        let mut buf = neigh(RTM_NEWNEIGH, 5, a, true);
        buf.extend(neigh(RTM_NEWNEIGH, 5, [2, 1, 0, 0, 0, 2], false)); // bridge entry
        buf.extend(neigh(RTM_NEWNEIGH, 6, [2, 1, 0, 0, 0, 3], true)); // other device
        buf.extend(neigh(RTM_NEWNEIGH, 5, [0; 6], true)); // flood entry
        buf.extend(neigh(RTM_DELNEIGH, 5, a, true));
        let mut got = Vec::new();
        scan(&buf, 5, |e| got.push(e));
        assert_eq!(got, vec![Event::Added(a), Event::Removed(a)]);
        // A truncated tail is ignored, never read past.
        let mut short = neigh(RTM_NEWNEIGH, 5, a, true);
        short.truncate(20);
        scan(&short, 5, |e| panic!("{e:?}"));
    }
}
