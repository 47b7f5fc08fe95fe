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

/// The reader's state, shared with the session's owner and its keepalive thread.
#[derive(Default)]
pub(super) struct Shared {
    state: Mutex<State>,
    /// Notified after every batch of messages and when the session ends.
    pub changed: Condvar,
}

impl Shared {
    /// The state, even if a thread panicked while holding it (counters stay usable).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
        let mut tmp = vec![0u8; 256 * 1024];
        let mut buf = std::mem::take(&mut self.leftover);
        let mut pos = 0;
        loop {
            if pos < buf.len() {
                let (used, ending) = self.handle(&buf[pos..]);
                pos += used;
                if let Some((why, notification)) = ending {
                    if let Some(n) = notification {
                        self.notify(n);
                    }
                    self.finish(why);
                    let _ = self.stream.shutdown(Shutdown::Both);
                    return;
                }
                if pos > 0 && pos >= buf.len() / 2 {
                    buf.drain(..pos);
                    pos = 0;
                }
            }
            if self.stop.load(Ordering::SeqCst) {
                self.finish("closed locally".into());
                return;
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => {
                    self.finish("peer closed the connection".into());
                    return;
                }
                Ok(n) => {
                    last_rx = Instant::now();
                    buf.extend_from_slice(&tmp[..n]);
                    self.shared.lock().stats.bytes += n as u64;
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

    /// Hands every complete message at the start of `bytes` to the sink; returns the bytes
    /// used and, when the session must end, why.
    fn handle(&self, bytes: &[u8]) -> (usize, Option<Ending>) {
        let (used, ending) = match &self.sink {
            Sink::Track(track) => self.track(bytes, *track),
            Sink::Report { ctx, events } => self.report(bytes, ctx, events),
        };
        self.shared.changed.notify_all();
        (used, ending)
    }

    /// `Sink::Track`: every complete message under one lock.
    fn track(&self, bytes: &[u8], track: Tracking) -> (usize, Option<Ending>) {
        let mut st = self.shared.lock();
        let mut pos = 0;
        let mut ending = None;
        while pos < bytes.len() {
            match process(&self.ctx, &bytes[pos..], track, &mut st) {
                Ok(Some(n)) => pos += n,
                Ok(None) => break,
                Err(e) => {
                    ending = Some(e);
                    break;
                }
            }
        }
        st.note_target();
        (pos, ending)
    }

    /// `Sink::Report`: one event per message; bytes that cannot be framed (a bad marker or
    /// length) are reported together as one undecodable event and skipped.
    fn report(
        &self,
        bytes: &[u8],
        ctx: &CodecContext,
        events: &Sender<Event>,
    ) -> (usize, Option<Ending>) {
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
        self.shared.lock().stats.messages += messages;
        (pos, ending)
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
        self.shared.changed.notify_all();
        if let Sink::Report { events, .. } = &self.sink {
            let _ = events.send(Event::Closed);
        }
    }
}

/// The keepalive thread: a KEEPALIVE every `interval` (RFC 4271 §4.4: a third of the hold
/// time) until the session stops or ends.
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
        std::thread::sleep(Duration::from_millis(100));
    }
}
