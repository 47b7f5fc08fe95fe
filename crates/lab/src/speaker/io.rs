//! Session I/O after Established: the reader thread, which frames the byte stream into
//! messages (RFC 4271 §4.1 header length) and runs the hold timer (§6.5), and the keepalive
//! thread (§4.4). The reader hands messages to a [`Sink`]: a [`Session`](super::Session)'s
//! tracking state, or a [`RawPeer`](super::RawPeer)'s event channel.

use super::handshake::encode;
use super::raw_peer::Event;
use super::tracking::{process, Ending, State};
use super::Tracking;
use evpnd_wire::{decode_message, frame_length, CodecContext, Message, Notification};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long one blocking read lasts before the reader looks at its stop flag and the hold
/// timer again.
const READ_SLICE: Duration = Duration::from_millis(200);

/// The reader's buffer size: a read takes whatever the socket holds up to this much, so a
/// sink that falls behind catches up in few system calls.
const READ_BUF: usize = 256 * 1024;

/// Free room the reader keeps at the buffer's tail for the next read; at least one whole
/// message (65,535 bytes with RFC 8654 extended messages), so a partial message at the
/// head always completes.
const MIN_ROOM: usize = 64 * 1024;

/// The reader's state, shared with the session's owner and its keepalive thread.
#[derive(Default)]
pub(super) struct Shared {
    state: Mutex<State>,
    /// Notified after a batch of messages while someone waits in [`Shared::wait`], and
    /// when the session ends.
    changed: Condvar,
}

impl Shared {
    /// The state, even if a thread panicked while holding it (counters stay usable).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits up to `timeout` for the reader to change the state (or for a spurious wakeup).
    /// Registered as a waiter meanwhile: the reader wakes the condition variable only when
    /// someone waits, which spares a system call per read in the many sinks nobody watches.
    pub fn wait<'a>(
        &self,
        mut st: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> MutexGuard<'a, State> {
        st.waiters += 1;
        let mut st = self
            .changed
            .wait_timeout(st, timeout)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
        st.waiters -= 1;
        st
    }
}

/// The reader's receive buffer: the socket reads straight into its free tail and messages
/// are consumed from its head; the rest of a partial message moves to the front only when
/// the tail has less than [`MIN_ROOM`] left (one message at most, so a cheap move).
struct ReadBuffer {
    bytes: Vec<u8>,
    /// Start of the bytes not yet consumed.
    start: usize,
    /// End of the bytes read.
    end: usize,
}

impl ReadBuffer {
    /// A buffer holding `leftover` (bytes read before the reader started).
    fn new(mut leftover: Vec<u8>) -> Self {
        let end = leftover.len();
        let size = READ_BUF.max(end.saturating_add(MIN_ROOM));
        leftover.resize(size, 0);
        ReadBuffer {
            bytes: leftover,
            start: 0,
            end,
        }
    }

    /// The bytes read and not yet consumed.
    fn filled(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// Marks `n` bytes at the head as consumed (clamped to what is filled).
    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// The free tail for the next read: at least [`MIN_ROOM`] bytes, never empty.
    fn room(&mut self) -> &mut [u8] {
        if self.bytes.len() - self.end < MIN_ROOM {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.bytes.len() - self.end < MIN_ROOM {
                self.bytes.resize(self.end.saturating_add(MIN_ROOM), 0);
            }
        }
        &mut self.bytes[self.end..]
    }

    /// Records that a read put `n` bytes into [`ReadBuffer::room`].
    fn filled_by(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.bytes.len());
    }
}

/// Where the reader hands received messages.
pub(super) enum Sink {
    /// Into the shared [`State`] by mode; a malformed message ends the session with the
    /// NOTIFICATION the codec names (RFC 4271 §6, RFC 7606).
    Track(Tracking),
    /// To a test as [`Event`]s, every message decoded with `ctx`; nothing the peer sends ends
    /// the session. The shared state keeps only the byte and message counters and why the
    /// session closed.
    Report {
        /// The context the test decodes with.
        ctx: CodecContext,
        /// The test's end of the channel is the [`RawPeer`](super::RawPeer).
        events: Sender<Event>,
    },
}

/// A reader thread: everything it owns.
pub(super) struct Reader {
    /// Our clone of the connection, for reading.
    pub stream: TcpStream,
    /// Bytes the handshake read past the peer's KEEPALIVE.
    pub leftover: Vec<u8>,
    /// The negotiated context (framing, NOTIFICATIONs we send).
    pub ctx: CodecContext,
    /// Where messages go.
    pub sink: Sink,
    /// The negotiated hold time in seconds (0: no hold timer).
    pub hold_time: u16,
    /// State shared with the session.
    pub shared: Arc<Shared>,
    /// Set by the session when it closes.
    pub stop: Arc<AtomicBool>,
    /// The session's writing half, for the NOTIFICATIONs the reader sends.
    pub writer: Arc<Mutex<TcpStream>>,
}

impl Reader {
    /// Reads until the connection ends, the session stops it, or the sink ends the session.
    pub fn run(mut self) {
        let _ = self.stream.set_read_timeout(Some(READ_SLICE));
        let hold = Duration::from_secs(u64::from(self.hold_time));
        let mut last_rx = Instant::now();
        let mut buf = ReadBuffer::new(std::mem::take(&mut self.leftover));
        // Bytes read since the counters were last updated (they are updated with the
        // messages, under one lock).
        let mut fresh = 0u64;
        loop {
            if !buf.filled().is_empty() || fresh > 0 {
                let (used, ending) = self.handle(buf.filled(), fresh);
                fresh = 0;
                buf.consume(used);
                if let Some((why, notification)) = ending {
                    if let Some(n) = notification {
                        self.notify(n);
                    }
                    self.finish(why);
                    let _ = self.stream.shutdown(Shutdown::Both);
                    return;
                }
            }
            if self.stop.load(Ordering::SeqCst) {
                self.finish("closed locally".into());
                return;
            }
            match self.stream.read(buf.room()) {
                Ok(0) => {
                    self.finish("peer closed the connection".into());
                    return;
                }
                Ok(n) => {
                    last_rx = Instant::now();
                    buf.filled_by(n);
                    fresh = n as u64;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if self.hold_time > 0 && last_rx.elapsed() > hold {
                        self.notify(Notification {
                            code: 4,
                            subcode: 0,
                            data: Vec::new(),
                        });
                        self.finish("hold timer expired".into());
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.finish(format!("read error: {e}"));
                    return;
                }
            }
        }
    }

    /// Hands every complete message at the start of `bytes` to the sink and counts `fresh`
    /// newly read bytes; returns the bytes used and, when the session must end, why. Wakes
    /// the session's waiters, if any.
    fn handle(&self, bytes: &[u8], fresh: u64) -> (usize, Option<Ending>) {
        let (used, ending, waiting) = match &self.sink {
            Sink::Track(track) => self.track(bytes, fresh, *track),
            Sink::Report { ctx, events } => self.report(bytes, fresh, ctx, events),
        };
        if waiting {
            self.shared.changed.notify_all();
        }
        (used, ending)
    }

    /// `Sink::Track`: every complete message under one lock; also says whether anyone
    /// waits for the state to change.
    fn track(&self, bytes: &[u8], fresh: u64, track: Tracking) -> (usize, Option<Ending>, bool) {
        let now = Instant::now();
        let mut st = self.shared.lock();
        st.stats.bytes += fresh;
        let mut pos = 0;
        let mut ending = None;
        while pos < bytes.len() {
            match process(&self.ctx, &bytes[pos..], track, &mut st, now) {
                Ok(Some(n)) => pos += n,
                Ok(None) => break,
                Err(e) => {
                    ending = Some(e);
                    break;
                }
            }
        }
        st.note_target();
        (pos, ending, st.waiters > 0)
    }

    /// `Sink::Report`: one event per message; bytes that cannot be framed (a bad marker or
    /// length) are reported together as one undecodable event and skipped.
    fn report(
        &self,
        bytes: &[u8],
        fresh: u64,
        ctx: &CodecContext,
        events: &Sender<Event>,
    ) -> (usize, Option<Ending>, bool) {
        let mut pos = 0;
        let mut messages = 0;
        let mut ending = None;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let event = match frame_length(ctx, rest) {
                Ok(Some(len)) if len <= rest.len() => {
                    pos += len;
                    messages += 1;
                    let raw = rest[..len].to_vec();
                    match decode_message(ctx, &raw) {
                        Ok(d) => Event::Message {
                            message: d.message,
                            outcome: d.outcome,
                            raw,
                        },
                        Err(e) => Event::Undecodable {
                            raw,
                            error: e.to_string(),
                        },
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    pos = bytes.len();
                    Event::Undecodable {
                        raw: rest.to_vec(),
                        error: e.to_string(),
                    }
                }
            };
            if events.send(event).is_err() {
                ending = Some(("nobody reads the events any more".into(), None));
                break;
            }
        }
        let mut st = self.shared.lock();
        st.stats.messages += messages;
        st.stats.bytes += fresh;
        (pos, ending, st.waiters > 0)
    }

    /// Sends a NOTIFICATION, as far as the connection still takes it.
    fn notify(&self, n: Notification) {
        if let Ok(bytes) = encode(&self.ctx, &Message::Notification(n)) {
            let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            let _ = w.write_all(&bytes);
        }
    }

    /// Records why the session ended (the first reason wins) and tells everyone waiting.
    fn finish(&self, why: String) {
        let mut st = self.shared.lock();
        if st.stats.closed.is_none() {
            st.stats.closed = Some(why);
        }
        drop(st);
        // Always: the session has ended, whoever waits must know.
        self.shared.changed.notify_all();
        if let Sink::Report { events, .. } = &self.sink {
            let _ = events.send(Event::Closed);
        }
    }
}

/// The keepalive thread: a KEEPALIVE every `interval` (RFC 4271 §4.4: a third of the hold
/// time) until the session stops or ends. It sleeps until the next KEEPALIVE is due (at most
/// [`READ_SLICE`] × 5) and is woken early by `unpark` when the session stops: a hundred idle
/// sinks do not wake ten times a second each while a benchmark runs.
pub(super) fn keepalives(
    interval: Duration,
    stop: Arc<AtomicBool>,
    writer: Arc<Mutex<TcpStream>>,
    shared: Arc<Shared>,
) {
    let Ok(ka) = encode(&CodecContext::default(), &Message::Keepalive) else {
        return;
    };
    let mut next = Instant::now() + interval;
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            if w.write_all(&ka).is_err() {
                break;
            }
            next = Instant::now() + interval;
        }
        if shared.lock().stats.closed.is_some() {
            break;
        }
        std::thread::park_timeout(
            next.saturating_duration_since(Instant::now())
                .min(READ_SLICE * 5),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Fills the room with `data` (as much as fits), like a read.
    fn read_into(b: &mut ReadBuffer, data: &[u8]) -> usize {
        let room = b.room();
        let n = data.len().min(room.len());
        room[..n].copy_from_slice(&data[..n]);
        b.filled_by(n);
        n
    }

    #[test]
    fn the_read_buffer_keeps_partial_messages_in_order_and_never_runs_out_of_room() {
        let stream: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut b = ReadBuffer::new(stream[..100].to_vec());
        let mut fed = 100;
        let mut out = Vec::new();
        let mut step = 0usize;
        while out.len() < stream.len() {
            if fed < stream.len() {
                let chunk = 1 + (step * 7919) % 200_000;
                fed += read_into(&mut b, &stream[fed..(fed + chunk).min(stream.len())]);
            }
            // Consume all but a partial "message" of up to 60,000 bytes.
            let keep = if fed < stream.len() {
                (step * 104_729) % 60_000
            } else {
                0
            };
            let filled = b.filled();
            let take = filled.len().saturating_sub(keep);
            out.extend_from_slice(&filled[..take]);
            b.consume(take);
            assert!(b.room().len() >= MIN_ROOM);
            assert_eq!(
                b.bytes.len(),
                READ_BUF,
                "no growth for messages below MIN_ROOM"
            );
            step += 1;
        }
        assert_eq!(out, stream);
    }

    #[test]
    fn a_large_leftover_still_leaves_room_to_read() {
        let mut b = ReadBuffer::new(vec![7; READ_BUF]);
        assert_eq!(b.filled().len(), READ_BUF);
        assert!(b.room().len() >= MIN_ROOM);
        b.consume(READ_BUF + 5);
        assert!(b.filled().is_empty());
        assert_eq!(b.room().len(), b.bytes.len());
    }
}
