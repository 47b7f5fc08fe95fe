//! Everything up to Established: accepting or opening the TCP connection, and the OPEN /
//! KEEPALIVE exchange of RFC 4271 §8.2.2 (OpenSent → OpenConfirm → Established), shared by
//! [`Session`](super::Session) and [`RawPeer`](super::RawPeer).

use super::SpeakerConfig;
use crate::error::{Context, LabError, Result};
use evpnd_wire::{
    decode_message, encode_message, CodecContext, DecodeError, Message, Notification, Open,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Accepts one connection on `listener` within `timeout`.
pub fn accept_timeout(listener: &TcpListener, timeout: Duration) -> Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(LabError::new(format!(
                        "no connection on {:?} within {:.1} s",
                        listener.local_addr().ok(),
                        timeout.as_secs_f64()
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Connects to `remote` from `local` (when given: bind before connect, so a test host with
/// several addresses can speak as each of them), retrying refused connections until
/// `timeout` (the peer may still be starting).
pub fn connect(local: Option<IpAddr>, remote: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let deadline = Instant::now() + timeout;
    loop {
        let sock = Socket::new(
            Domain::for_address(remote),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        if let Some(l) = local {
            sock.bind(&SockAddr::from(SocketAddr::new(l, 0)))
                .context(format!("binding {l}"))?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match sock.connect_timeout(&SockAddr::from(remote), left.max(Duration::from_millis(10))) {
            Ok(()) => return Ok(sock.into()),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                return Err(LabError::new(format!(
                    "connecting to {remote} within {:.1} s: {e}",
                    timeout.as_secs_f64()
                )))
            }
        }
    }
}

/// Encodes one message.
pub(super) fn encode(ctx: &CodecContext, m: &Message) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_message(ctx, m, &mut out).map_err(|e| LabError::new(format!("encoding: {e}")))?;
    Ok(out)
}

/// What the handshake settled.
pub(super) struct Established {
    /// The peer's OPEN.
    pub peer_open: Open,
    /// Bytes the peer sent after its KEEPALIVE (the start of its table, typically).
    pub leftover: Vec<u8>,
    /// The negotiated hold time: the smaller of both proposals (RFC 4271 §4.2).
    pub hold_time: u16,
    /// The codec context both OPENs imply: 4-octet AS when the peer announced it (RFC 6793
    /// §3), external when the ASes differ.
    pub ctx: CodecContext,
}

/// Runs the OPEN/KEEPALIVE exchange on a connected stream, whichever side opened it: send our
/// OPEN (`cfg`'s capabilities, plus 4-octet AS), read the peer's, refuse a wrong AS with
/// NOTIFICATION 2/2 (RFC 4271 §6.2), send KEEPALIVE, read the peer's KEEPALIVE.
pub(super) fn handshake(stream: &mut TcpStream, cfg: &SpeakerConfig) -> Result<Established> {
    let peer = stream.peer_addr()?;
    exchange(stream, cfg).context(format!("BGP handshake with {peer}"))
}

fn exchange(stream: &mut TcpStream, cfg: &SpeakerConfig) -> Result<Established> {
    stream.set_nodelay(true)?;
    let deadline = Instant::now() + cfg.handshake_timeout;
    let ctx0 = CodecContext::default();
    let open = Open::new(
        cfg.local_as,
        cfg.hold_time,
        cfg.router_id,
        cfg.capabilities.clone(),
    );
    stream.write_all(&encode(&ctx0, &Message::Open(open))?)?;
    let mut buf = Vec::new();
    let peer_open = match read_message(stream, &ctx0, &mut buf, deadline)? {
        Message::Open(o) => o,
        Message::Notification(n) => {
            return Err(LabError::new(format!(
                "peer refused the session: NOTIFICATION {}/{} ({:?})",
                n.code,
                n.subcode,
                n.describe()
            )))
        }
        m => {
            return Err(LabError::new(format!(
                "expected OPEN, got {:?}",
                m.message_type()
            )))
        }
    };
    if let Some(want) = cfg.peer_as {
        if peer_open.asn() != want {
            let n = Notification {
                code: 2,
                subcode: 2,
                data: Vec::new(),
            };
            let _ = stream.write_all(&encode(&ctx0, &Message::Notification(n))?);
            return Err(LabError::new(format!(
                "peer AS {} instead of {want}",
                peer_open.asn()
            )));
        }
    }
    stream.write_all(&encode(&ctx0, &Message::Keepalive)?)?;
    match read_message(stream, &ctx0, &mut buf, deadline)? {
        Message::Keepalive => {}
        Message::Notification(n) => {
            return Err(LabError::new(format!(
                "peer closed in OpenConfirm: NOTIFICATION {}/{} ({:?})",
                n.code,
                n.subcode,
                n.describe()
            )))
        }
        m => {
            return Err(LabError::new(format!(
                "expected KEEPALIVE, got {:?}",
                m.message_type()
            )))
        }
    }
    let ctx = CodecContext {
        four_octet_as: peer_open.has_capability(65),
        extended_message: false,
        add_path: Vec::new(),
        external_peer: peer_open.asn() != cfg.local_as,
    };
    Ok(Established {
        hold_time: cfg.hold_time.min(peer_open.hold_time),
        peer_open,
        leftover: buf,
        ctx,
    })
}

/// Reads one message from `s` into `buf` (keeping extra bytes), bounded by `deadline`.
fn read_message(
    s: &mut TcpStream,
    ctx: &CodecContext,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<Message> {
    loop {
        match decode_message(ctx, buf) {
            Ok(d) => {
                buf.drain(..d.length);
                return Ok(d.message);
            }
            Err(DecodeError::Incomplete { .. }) => {}
            Err(e) => return Err(LabError::new(format!("peer sent a bad message: {e}"))),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LabError::new("handshake timed out"));
        }
        s.set_read_timeout(Some(left))?;
        let mut tmp = [0u8; 4096];
        match s.read(&mut tmp) {
            Ok(0) => {
                return Err(LabError::new(
                    "peer closed the connection during the handshake",
                ))
            }
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(LabError::new("handshake timed out"))
            }
            Err(e) => return Err(e.into()),
        }
    }
}
