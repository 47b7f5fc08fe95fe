//! One session of a session-scale run as two tokio tasks: the reader (connect from the
//! session's own loopback address, the OPEN/KEEPALIVE exchange of RFC 4271 §8.2.2, then
//! every UPDATE into the session's [`Tracker`]) and the writer (the pre-encoded load, then a
//! KEEPALIVE every third of the hold time, §4.4). The reader reads into a per-thread scratch
//! buffer and keeps only an incomplete message's bytes, so a session costs its bit set and a
//! few small buffers.

use super::plan::{Layout, SessionLoad};
use super::tracker::{Change, Tracker};
use evpnd_wire::{
    decode_message, encode_message, CodecContext, DecodeError, Family, Message, Open,
};
use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Live counters the coordinator watches.
#[derive(Debug, Default)]
pub struct Progress {
    /// Sessions Established so far.
    pub established: AtomicUsize,
    /// Sessions converged right now.
    pub converged: AtomicUsize,
    /// Sessions that ended after Established (NOTIFICATION, EOF, error).
    pub closed: AtomicUsize,
}

/// What every session task shares.
pub struct Shared {
    /// Who is in which VNI.
    pub layout: Arc<Layout>,
    /// The DUT.
    pub dut: SocketAddr,
    /// Bounds the connections being opened or in their handshake at once.
    pub permits: Arc<Semaphore>,
    /// Bound on one connect + handshake.
    pub handshake_timeout: Duration,
    /// Until when failed connection attempts are retried.
    pub setup_deadline: Instant,
    /// Proposed hold time.
    pub hold_time: u16,
    /// Routes of other VNIs do not prevent convergence (a DUT without RFC 4684).
    pub tolerate_unwanted: bool,
    /// The live counters.
    pub progress: Progress,
}

/// What a session task reports when it ends.
#[derive(Clone, Debug)]
pub struct SessionReport {
    /// What it received.
    pub tracker: Tracker,
    /// When it became Established.
    pub established_at: Option<Instant>,
    /// Connection attempts.
    pub attempts: u32,
    /// Why the last attempt failed, when the session never came up.
    pub error: Option<String>,
    /// Why the session ended after Established, if it did before the run stopped.
    pub closed: Option<String>,
    /// The DUT negotiated RT-Constraint.
    pub rtc: bool,
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 256 * 1024]);
}

fn encode(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    // OPEN and KEEPALIVE of our own making always encode.
    let _ = encode_message(&CodecContext::default(), m, &mut out);
    out
}

/// Connects from the session's address and runs the handshake; returns the stream, the
/// peer's OPEN and any bytes read past its KEEPALIVE.
async fn establish(sh: &Shared, t: u32) -> Result<(TcpStream, Open, Vec<u8>), String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    let src = SocketAddr::new(IpAddr::V4(Layout::source(t)), 0);
    sock.bind(src).map_err(|e| format!("bind {src}: {e}"))?;
    let mut stream = sock
        .connect(sh.dut)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let open = Open::new(
        sh.layout.plan.asn,
        sh.hold_time,
        Layout::vtep(t),
        Layout::capabilities(),
    );
    stream
        .write_all(&encode(&Message::Open(open)))
        .await
        .map_err(|e| format!("sending OPEN: {e}"))?;
    let ctx = CodecContext::default();
    let mut buf = Vec::new();
    let peer_open = match read_one(&mut stream, &ctx, &mut buf).await? {
        Message::Open(o) => o,
        Message::Notification(n) => {
            return Err(format!(
                "NOTIFICATION {}/{} instead of OPEN",
                n.code, n.subcode
            ))
        }
        m => return Err(format!("{:?} instead of OPEN", m.message_type())),
    };
    stream
        .write_all(&encode(&Message::Keepalive))
        .await
        .map_err(|e| format!("sending KEEPALIVE: {e}"))?;
    match read_one(&mut stream, &ctx, &mut buf).await? {
        Message::Keepalive => Ok((stream, peer_open, buf)),
        Message::Notification(n) => Err(format!(
            "NOTIFICATION {}/{} in OpenConfirm",
            n.code, n.subcode
        )),
        m => Err(format!("{:?} instead of KEEPALIVE", m.message_type())),
    }
}

async fn read_one(
    s: &mut TcpStream,
    ctx: &CodecContext,
    buf: &mut Vec<u8>,
) -> Result<Message, String> {
    loop {
        match decode_message(ctx, buf) {
            Ok(d) => {
                buf.drain(..d.length);
                return Ok(d.message);
            }
            Err(DecodeError::Incomplete { .. }) => {}
            Err(e) => return Err(format!("bad message in the handshake: {e}")),
        }
        s.readable().await.map_err(|e| format!("read: {e}"))?;
        let mut tmp = [0u8; 4096];
        match s.try_read(&mut tmp) {
            Ok(0) => return Err("the DUT closed the connection in the handshake".into()),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Runs session `t` until `stop` turns true: connects (retrying until the set-up deadline),
/// sends `load` once `go` is true, and tracks what the DUT sends.
pub async fn run(
    sh: Arc<Shared>,
    t: u32,
    load: SessionLoad,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> SessionReport {
    let mut report = SessionReport {
        tracker: Tracker::new(&sh.layout, t),
        established_at: None,
        attempts: 0,
        error: None,
        closed: None,
        rtc: false,
    };
    let (stream, peer_open, leftover) = loop {
        report.attempts += 1;
        let attempt = async {
            let _permit = sh.permits.acquire().await.map_err(|e| e.to_string())?;
            tokio::time::timeout(sh.handshake_timeout, establish(&sh, t))
                .await
                .map_err(|_| "handshake timed out".to_string())?
        };
        let outcome = tokio::select! {
            r = attempt => r,
            _ = stop.changed() => Err("stopped before Established".into()),
        };
        match outcome {
            Ok(x) => break x,
            Err(e) => {
                report.error = Some(e);
                if *stop.borrow() || Instant::now() >= sh.setup_deadline {
                    return report;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    report.error = None;
    report.established_at = Some(Instant::now());
    sh.progress.established.fetch_add(1, Ordering::Relaxed);
    report.rtc = peer_open.families().any(|f| f == Family::RT_CONSTRAINT);
    let hold = sh.hold_time.min(peer_open.hold_time);
    let (rd, mut wr) = stream.into_split();

    // The writer: the load (memberships first, RFC 4684 §6), then keepalives.
    let rtc = report.rtc;
    let mut wstop = stop.clone();
    let writer = tokio::spawn(async move {
        // Wait for the go (every session up, in that mode), unless the run stops first.
        while !*go.borrow() {
            tokio::select! {
                r = go.changed() => {
                    if r.is_err() {
                        return wr;
                    }
                }
                _ = wstop.changed() => return wr,
            }
        }
        // A DUT that stops reading must not keep the run from stopping.
        for bytes in [if rtc { &load.rtc[..] } else { &[][..] }, &load.evpn[..]] {
            let failed = tokio::select! {
                r = wr.write_all(bytes) => r.is_err(),
                _ = wstop.changed() => true,
            };
            if failed {
                return wr;
            }
        }
        drop(load);
        if hold == 0 {
            let _ = wstop.changed().await;
            return wr;
        }
        let ka = encode(&Message::Keepalive);
        let mut tick = tokio::time::interval(Duration::from_secs(u64::from(hold / 3).max(1)));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if wr.write_all(&ka).await.is_err() {
                        return wr;
                    }
                }
                _ = wstop.changed() => return wr,
            }
        }
    });

    report.closed = read_loop(&sh, rd, leftover, &mut report.tracker, &mut stop).await;
    if report.closed.is_some() {
        sh.progress.closed.fetch_add(1, Ordering::Relaxed);
    }
    // Keep the connection open until the run stops (the writer holds its half).
    let _ = writer.await;
    report
}

/// Reads and tracks until the run stops (`None`) or the session ends (why).
async fn read_loop(
    sh: &Shared,
    rd: OwnedReadHalf,
    leftover: Vec<u8>,
    tr: &mut Tracker,
    stop: &mut watch::Receiver<bool>,
) -> Option<String> {
    let mut carry = Vec::new();
    if let Err(e) = feed(sh, &mut carry, &leftover, tr) {
        return Some(e);
    }
    loop {
        tokio::select! {
            r = rd.readable() => {
                if let Err(e) = r {
                    return Some(format!("read: {e}"));
                }
            }
            _ = stop.changed() => return None,
        }
        // Sessions close only after the stop: what arrives after it (the DUT withdrawing the
        // routes of sessions already gone) is teardown, not part of the result.
        if *stop.borrow() {
            return None;
        }
        let r = SCRATCH.with(|s| -> Result<(), String> {
            let mut s = s.borrow_mut();
            loop {
                if *stop.borrow() {
                    return Ok(());
                }
                match rd.try_read(&mut s) {
                    Ok(0) => return Err("the DUT closed the connection".into()),
                    Ok(n) => feed(sh, &mut carry, &s[..n], tr)?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
        });
        if let Err(e) = r {
            return Some(e);
        }
    }
}

/// Handles the complete messages of `carry` + `data`, keeping an incomplete tail in `carry`.
fn feed(sh: &Shared, carry: &mut Vec<u8>, data: &[u8], tr: &mut Tracker) -> Result<(), String> {
    if carry.is_empty() {
        let used = messages(sh, data, tr)?;
        carry.extend_from_slice(&data[used..]);
    } else {
        carry.extend_from_slice(data);
        let used = messages(sh, carry, tr)?;
        carry.drain(..used);
    }
    Ok(())
}

/// Handles every complete message at the start of `bytes`; returns the bytes used.
fn messages(sh: &Shared, bytes: &[u8], tr: &mut Tracker) -> Result<usize, String> {
    let mut at = 0;
    let now = Instant::now();
    let mut change = Change::None;
    while let Some(rest) = bytes.get(at..).filter(|r| r.len() >= 19) {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        if !(19..=65535).contains(&len) || rest[..16] != [0xff; 16] {
            return Err(format!("bad message header (length {len})"));
        }
        let Some(msg) = rest.get(..len) else { break };
        match msg[18] {
            2 => match tr.apply(&sh.layout, msg, now, sh.tolerate_unwanted) {
                Some(Change::None) => {}
                Some(c) => change = c,
                None => return Err("UPDATE whose lengths do not add up".into()),
            },
            3 => {
                let (code, sub) = (
                    msg.get(19).copied().unwrap_or(0),
                    msg.get(20).copied().unwrap_or(0),
                );
                return Err(format!("NOTIFICATION {code}/{sub}"));
            }
            1 => return Err("OPEN in Established".into()),
            _ => {}
        }
        // Count transitions as they happen so the coordinator's count stays exact.
        match std::mem::replace(&mut change, Change::None) {
            Change::Converged => {
                sh.progress.converged.fetch_add(1, Ordering::Relaxed);
            }
            Change::Unconverged => {
                sh.progress.converged.fetch_sub(1, Ordering::Relaxed);
            }
            Change::None => {}
        }
        at += len;
    }
    Ok(at)
}
