//! The transport: connection attempts, bytes and closes on the virtual network
//! ([`crate::net`]), with link latencies, egress bandwidth and split reads.

use super::{Event, Sim};
use crate::net::End;
use crate::trace::{digest, digest_bytes, TraceKind};
use evpnd_node::{ConnId, Input};
use rand::RngExt;
use std::net::IpAddr;
use std::time::Duration;

/// True for a write that is one KEEPALIVE (RFC 4271 §4.4: a bare 19-byte header of type 4).
fn is_keepalive(bytes: &[u8]) -> bool {
    bytes.len() == 19 && bytes[18] == 4
}

impl Sim {
    /// The latency between two nodes, drawn from the configured range on first use.
    fn latency(&mut self, a: usize, b: usize) -> Duration {
        let key = (a.min(b), a.max(b));
        if let Some(l) = self.net.latency.get(&key) {
            return *l;
        }
        let (lo, hi) = self.config.latency;
        let nanos = self
            .rng
            .random_range(lo.as_nanos() as u64..=hi.as_nanos() as u64);
        let l = Duration::from_nanos(nanos);
        self.net.latency.insert(key, l);
        l
    }

    /// End `side` of `wire` is closed by its node (or its node crashed): the other end learns
    /// it after the data already on its way, unless the wire is broken.
    pub(super) fn close_end(&mut self, wire: u64, side: usize) {
        let Some(w) = self.net.wires.get_mut(&wire) else {
            return;
        };
        let other = 1 - side;
        let notify = !w.broken && w.ends[other].is_some_and(|e| e.open);
        let at = (self.now + w.latency).max(w.last_arrival[other]);
        if notify {
            w.last_arrival[other] = at;
        }
        self.net.close_end(wire, side);
        if notify {
            self.schedule(at, Event::Fin { wire, to: other }, true);
        }
    }

    pub(super) fn connect(&mut self, i: usize, conn: ConnId, remote: IpAddr) {
        self.dirty = true;
        self.stats.connects += 1;
        self.record(i, TraceKind::Connect, conn.0, 0, digest(&remote));
        let end = End {
            node: i,
            incarnation: self.slots[i].incarnation,
            conn,
            open: true,
            queued_until: self.now,
        };
        let target = self.by_address.get(&remote).copied();
        let latency = match target {
            Some(t) => self.latency(i, t),
            None => self.config.connect_timeout,
        };
        let wire = self.net.open(end, target.unwrap_or(i), latency);
        match target {
            Some(t) if self.net.reachable(i, t) => {
                self.schedule(self.now + latency, Event::Syn { wire }, true);
            }
            // Nothing answers: the SYN times out.
            _ => {
                let at = self.now + self.config.connect_timeout;
                self.schedule(at, Event::Refused { wire }, true);
            }
        }
    }

    pub(super) fn send(&mut self, i: usize, conn: ConnId, bytes: Vec<u8>) {
        let keepalive = is_keepalive(&bytes);
        if !keepalive {
            self.dirty = true;
        }
        self.stats.sends += 1;
        self.stats.bytes += bytes.len() as u64;
        self.record(
            i,
            TraceKind::Send,
            conn.0,
            bytes.len() as u64,
            digest_bytes(&bytes),
        );
        let Some((wire, side)) = self.net.find(i, conn) else {
            return;
        };
        // The bytes leave the node once its link has sent what was queued before them.
        let start = self.slots[i].egress_free.max(self.now);
        let done = match self.config.egress_bandwidth {
            Some(bw) => {
                let nanos = (bytes.len() as u128 * 1_000_000_000).div_ceil(u128::from(bw));
                start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
            None => start,
        };
        self.slots[i].egress_free = done;
        let Some(w) = self.net.wires.get_mut(&wire) else {
            return;
        };
        let other = 1 - side;
        let mut arrival = None;
        if let Some(e) = w.ends[side].as_mut() {
            e.queued_until = done;
        }
        let carried = !w.broken && w.ends[other].is_some_and(|e| e.open);
        if carried {
            let at = (done + w.latency).max(w.last_arrival[other]);
            w.last_arrival[other] = at;
            arrival = Some(at);
        }
        let broken = w.broken;
        let incarnation = self.slots[i].incarnation;
        // A broken wire never drains: the peer acknowledges nothing (the send hold timer of
        // RFC 9687 may fire, the hold timer usually first).
        if !broken {
            self.schedule(
                done,
                Event::Written {
                    node: i,
                    incarnation,
                    conn,
                    done,
                },
                true,
            );
        }
        if let Some(at) = arrival {
            self.schedule(
                at,
                Event::Data {
                    wire,
                    to: other,
                    bytes,
                },
                !keepalive,
            );
        }
    }

    pub(super) fn on_syn(&mut self, wire: u64) {
        let Some(w) = self.net.wires.get(&wire) else {
            return;
        };
        let (Some(src), target, latency) = (w.ends[0], w.target, w.latency) else {
            return;
        };
        if !src.open || !self.alive(src.node, src.incarnation) {
            self.net.remove(wire);
            return;
        }
        if !self.net.reachable(src.node, target) {
            // The SYN is lost in the partition: the attempt times out.
            let at = self.now + self.config.connect_timeout.saturating_sub(latency);
            self.schedule(at, Event::Refused { wire }, true);
            return;
        }
        let now = self.instant();
        let from = self.slots[src.node].address;
        let incarnation = self.slots[target].incarnation;
        let accepted = self.slots[target]
            .node
            .as_mut()
            .map(|n| n.accept(from, now));
        match accepted {
            Some(Ok(a)) => {
                self.record(target, TraceKind::Accept, a.conn.0, 0, digest(&from));
                self.net.accepted(
                    wire,
                    End {
                        node: target,
                        incarnation,
                        conn: a.conn,
                        open: true,
                        queued_until: self.now,
                    },
                );
                self.schedule(self.now + latency, Event::SynAck { wire }, true);
                self.after(target);
            }
            // Refused by the node, or no process listening: a reset comes back.
            Some(Err(_)) => {
                self.record(target, TraceKind::Refuse, 0, 0, digest(&from));
                self.schedule(self.now + latency, Event::Refused { wire }, true);
                self.after(target);
            }
            None => {
                self.schedule(self.now + latency, Event::Refused { wire }, true);
            }
        }
    }

    pub(super) fn on_data(&mut self, wire: u64, to: usize, bytes: &[u8]) {
        let Some(w) = self.net.wires.get(&wire) else {
            return;
        };
        let Some(e) = w.ends[to] else {
            return;
        };
        if w.broken || !e.open || !self.alive(e.node, e.incarnation) {
            return;
        }
        if !is_keepalive(bytes) {
            self.dirty = true;
        }
        // Reads may end anywhere: sometimes deliver the bytes in two pieces.
        let split = if self.config.split_reads && bytes.len() > 1 && self.rng.random_bool(0.25) {
            self.rng.random_range(1..bytes.len())
        } else {
            bytes.len()
        };
        for part in [&bytes[..split], &bytes[split..]] {
            if part.is_empty() {
                continue;
            }
            // The node may have closed the connection after the first piece.
            if self.net.find(e.node, e.conn) != Some((wire, to)) {
                return;
            }
            self.record(
                e.node,
                TraceKind::Receive,
                e.conn.0,
                part.len() as u64,
                digest_bytes(part),
            );
            self.deliver(
                e.node,
                Input::Received {
                    conn: e.conn,
                    bytes: part,
                },
            );
        }
    }
}
