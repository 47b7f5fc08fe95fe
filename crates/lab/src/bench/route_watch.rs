//! The clock of the type-5 kernel benchmark: when does a VRF's namespace hold N routes?
//!
//! A netlink socket inside the namespace, subscribed to `RTNLGRP_IPV6_ROUTE`, keeps the set
//! of IPv6 routes of the main table whose destination lies in the generator's range
//! ([`crate::routes::VRF_PREFIX_BASE`], `2001:db8:a000::/36`), the way [`super::FdbWatch`]
//! keeps remote MACs: parsed by hand to keep up, dumps every 100 ms after a notification
//! overrun, a final dump for the exact count. No `ip route` polling: a dump of 100 k routes
//! costs the installer kernel time.

use super::fdb_watch::{route_socket, u32_at, FillTimes};
use crate::error::{LabError, Result};
use crate::netns::Netns;
use crate::routes::VRF_PREFIX_BASE;
use netlink_sys::Socket;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `RTNLGRP_IPV6_ROUTE` (linux/rtnetlink.h).
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const AF_INET6: u8 = 10;
const RT_TABLE_MAIN: u8 = 254;
const RTA_DST: u16 = 1;
const RTA_TABLE: u16 = 15;
const NLMSG_HDRLEN: usize = 16;
const RTMSG_LEN: usize = 12;
const DUMP_EVERY: Duration = Duration::from_millis(100);
const RECV_BUFFER: usize = 512 << 20;

/// A route key: destination and prefix length.
type Key = ([u8; 16], u8);

fn err(what: &str, e: impl std::fmt::Display) -> LabError {
    LabError::new(format!("route watch: {what}: {e}"))
}

/// True when `dst` lies in `2001:db8:a000::/36`.
fn in_range(dst: &[u8; 16]) -> bool {
    let [a, b, c] = VRF_PREFIX_BASE.map(u16::to_be_bytes);
    dst[..4] == [a[0], a[1], b[0], b[1]] && dst[4] & 0xf0 == c[0] & 0xf0
}

/// The key of an `rtmsg` with its attributes when it is an IPv6 route of the main table in
/// the generator's range.
fn route_key(payload: &[u8]) -> Option<Key> {
    if payload.len() < RTMSG_LEN || payload[0] != AF_INET6 {
        return None;
    }
    let (dst_len, mut table) = (payload[1], u32::from(payload[4]));
    let (mut dst, mut at) = (None, RTMSG_LEN);
    while at + 4 <= payload.len() {
        let len = usize::from(u16::from_ne_bytes(
            payload.get(at..at + 2)?.try_into().ok()?,
        ));
        if len < 4 || at + len > payload.len() {
            break;
        }
        let kind = u16::from_ne_bytes(payload.get(at + 2..at + 4)?.try_into().ok()?) & 0x3fff;
        match kind {
            RTA_DST => dst = <[u8; 16]>::try_from(&payload[at + 4..at + len]).ok(),
            RTA_TABLE => table = u32_at(payload, at + 4)?,
            _ => {}
        }
        at += (len + 3) & !3;
    }
    let dst = dst?;
    (table == u32::from(RT_TABLE_MAIN) && in_range(&dst)).then_some((dst, dst_len))
}

#[derive(Debug)]
enum Event {
    Added(Key),
    Removed(Key),
    Done,
    Error(i32),
}

fn scan(buf: &[u8], mut f: impl FnMut(Event)) {
    let mut off = 0usize;
    while let (Some(len), Some(kind)) = (
        u32_at(buf, off),
        buf.get(off + 4..off + 6)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_ne_bytes),
    ) {
        let len = len as usize;
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            return;
        }
        let payload = &buf[off + NLMSG_HDRLEN..off + len];
        let event = match kind {
            RTM_NEWROUTE => route_key(payload).map(Event::Added),
            RTM_DELROUTE => route_key(payload).map(Event::Removed),
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

fn dump_routes(s: &Socket) -> Result<HashSet<Key>> {
    let mut req = Vec::with_capacity(NLMSG_HDRLEN + RTMSG_LEN);
    req.extend_from_slice(&((NLMSG_HDRLEN + RTMSG_LEN) as u32).to_ne_bytes());
    req.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    req.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes());
    req.extend_from_slice(&[0; 8]);
    req.push(AF_INET6);
    req.extend_from_slice(&[0; RTMSG_LEN - 1]);
    s.send(&req, 0).map_err(|e| err("dump request", e))?;
    let mut keys = HashSet::new();
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        buf.clear();
        let n = s.recv(&mut buf, 0).map_err(|e| err("dump", e))?;
        let mut done = None;
        scan(&buf[..n], |ev| match ev {
            Event::Added(k) => {
                keys.insert(k);
            }
            Event::Removed(_) => {}
            Event::Done => done = Some(Ok(())),
            Event::Error(0) => {}
            Event::Error(e) => {
                done = Some(Err(err(
                    "dump",
                    std::io::Error::from_raw_os_error(e.saturating_neg()),
                )))
            }
        });
        match done {
            Some(Ok(())) => return Ok(keys),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
}

#[derive(Debug, Default)]
struct State {
    keys: HashSet<Key>,
    first: Option<Instant>,
    reached: Option<Instant>,
    target: usize,
    overrun: bool,
    error: Option<String>,
}

impl State {
    fn note(&mut self, now: Instant) {
        if self.first.is_none() && !self.keys.is_empty() {
            self.first = Some(now);
        }
        if self.reached.is_none() && self.target > 0 && self.keys.len() >= self.target {
            self.reached = Some(now);
        }
    }
}

/// Counts the generator's IPv6 routes in a namespace's main table as they appear; stops its
/// thread on drop.
#[derive(Debug)]
pub struct RouteWatch {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    dump: Socket,
}

impl RouteWatch {
    /// Starts watching `ns`, beginning with a dump of what it already holds.
    pub fn start(ns: &Netns) -> Result<RouteWatch> {
        let (notify, dump) = ns.within(|| -> Result<(Socket, Socket)> {
            let notify = route_socket()?;
            notify
                .add_membership(RTNLGRP_IPV6_ROUTE)
                .map_err(|e| err("RTNLGRP_IPV6_ROUTE", e))?;
            rustix::net::sockopt::set_socket_recv_buffer_size_force(&notify, RECV_BUFFER)
                .map_err(|e| err("SO_RCVBUFFORCE", e))?;
            rustix::net::sockopt::set_socket_timeout(
                &notify,
                rustix::net::sockopt::Timeout::Recv,
                Some(Duration::from_millis(50)),
            )
            .map_err(|e| err("SO_RCVTIMEO", e))?;
            let dump = route_socket()?;
            rustix::net::sockopt::set_socket_recv_buffer_size_force(&dump, 32 << 20)
                .map_err(|e| err("SO_RCVBUFFORCE", e))?;
            Ok((notify, dump))
        })??;
        let state = Arc::new(Mutex::new(State {
            keys: dump_routes(&dump)?,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || watch_loop(&notify, &state, &stop))
        };
        Ok(RouteWatch {
            state,
            stop,
            thread: Some(thread),
            dump,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes in range now (from the notifications).
    pub fn count(&self) -> usize {
        self.lock().keys.len()
    }

    /// Waits until the table holds `target` routes in range, at most `timeout` (the route
    /// floor's run: nothing to watch for but the time).
    pub fn wait(&self, target: usize, timeout: Duration) -> Result<FillTimes> {
        self.wait_while(target, timeout, || None)
    }

    /// Waits until the table holds `target` routes in range, at most `timeout`, giving up as
    /// soon as `gone` names a reason (checked every 100 ms).
    pub fn wait_while(
        &self,
        target: usize,
        timeout: Duration,
        gone: impl Fn() -> Option<String>,
    ) -> Result<FillTimes> {
        let deadline = Instant::now() + timeout;
        let (mut last_check, mut last_dump) = (Instant::now(), Instant::now());
        {
            let mut st = self.lock();
            st.target = target;
            st.note(Instant::now());
        }
        loop {
            {
                let st = self.lock();
                if let Some(e) = &st.error {
                    return Err(err("notifications", e));
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
                        "the VRF table holds {} of {target} routes after {:.1} s",
                        st.keys.len(),
                        timeout.as_secs_f64()
                    )));
                }
            }
            if last_check.elapsed() >= Duration::from_millis(100) {
                last_check = Instant::now();
                if let Some(why) = gone() {
                    return Err(LabError::new(format!(
                        "{why}; the VRF table holds {} of {target} routes",
                        self.count()
                    )));
                }
            }
            if self.lock().overrun && last_dump.elapsed() >= DUMP_EVERY {
                let keys = dump_routes(&self.dump)?;
                last_dump = Instant::now();
                let mut st = self.lock();
                st.keys = keys;
                st.note(last_dump);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Routes in range by a fresh dump (the final check).
    pub fn dump_count(&self) -> Result<usize> {
        dump_routes(&self.dump).map(|k| k.len())
    }
}

fn watch_loop(s: &Socket, state: &Mutex<State>, stop: &AtomicBool) {
    let mut buf = Vec::with_capacity(1 << 20);
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    while !stop.load(Ordering::Relaxed) {
        buf.clear();
        match s.recv(&mut buf, 0) {
            Ok(n) => {
                let now = Instant::now();
                let mut st = lock();
                if st.overrun {
                    continue;
                }
                scan(&buf[..n], |ev| match ev {
                    Event::Added(k) => {
                        st.keys.insert(k);
                    }
                    Event::Removed(k) => {
                        st.keys.remove(&k);
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

impl Drop for RouteWatch {
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

    /// An RTM_NEWROUTE/RTM_DELROUTE message for `dst`/`len` in `table`.
    fn route(kind: u16, dst: std::net::Ipv6Addr, len: u8, table: u32) -> Vec<u8> {
        let mut p = vec![AF_INET6, len, 0, 0, RT_TABLE_MAIN, 4, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(&20u16.to_ne_bytes());
        p.extend_from_slice(&RTA_DST.to_ne_bytes());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&8u16.to_ne_bytes());
        p.extend_from_slice(&RTA_TABLE.to_ne_bytes());
        p.extend_from_slice(&table.to_ne_bytes());
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + p.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&p);
        m
    }

    #[test]
    fn scan_keeps_main_table_routes_in_range() {
        let ours: std::net::Ipv6Addr = "2001:db8:a101:1::".parse().unwrap();
        let other: std::net::Ipv6Addr = "2001:db8:100::".parse().unwrap();
        let mut buf = route(RTM_NEWROUTE, ours, 64, 254);
        buf.extend(route(RTM_NEWROUTE, other, 64, 254));
        buf.extend(route(RTM_NEWROUTE, ours, 64, 5000));
        buf.extend(route(RTM_DELROUTE, ours, 64, 254));
        let mut seen = Vec::new();
        scan(&buf, |e| seen.push(format!("{e:?}")));
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].starts_with("Added") && seen[1].starts_with("Removed"));
        assert!(in_range(
            &"2001:db8:afff:ffff::"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        ));
        assert!(!in_range(
            &"2001:db8:b000::"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        ));
    }

    /// Routes added by `ip` in a namespace are counted by notification and by dump.
    #[test]
    fn counts_routes_added_in_a_namespace() {
        if !crate::require_root_and_tools(&["ip"]) {
            return;
        }
        let ns = Netns::new().unwrap();
        let w = RouteWatch::start(&ns).unwrap();
        for i in 0..5 {
            ns.ip(&[
                "-6",
                "route",
                "add",
                "blackhole",
                &format!("2001:db8:a000:{i}::/64"),
            ])
            .unwrap();
        }
        ns.ip(&["-6", "route", "add", "blackhole", "2001:db8:100::/64"])
            .unwrap();
        let fill = w.wait_while(5, Duration::from_secs(5), || None).unwrap();
        assert!(fill.reached >= fill.first);
        assert_eq!(w.dump_count().unwrap(), 5);
    }
}
