//! TCP plumbing for BGP: outgoing connections (with source address, TTL and GTSM), the
//! listener, and the reader/writer task pair of each connection. Only bytes cross into the
//! core; no protocol decision is made here.

use crate::config::Neighbor;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What a connection task reports to the core.
#[derive(Debug)]
pub enum ConnEvent {
    /// Bytes read.
    Data(Vec<u8>),
    /// Some queued bytes were written (RFC 9687 send-hold progress).
    WriteProgress,
    /// Every queued byte is written.
    Drained,
    /// The connection is closed (by the peer, an error, or our request).
    Closed,
}

/// A command for a connection's writer.
#[derive(Debug)]
pub enum WriteCmd {
    /// Write these bytes.
    Data(Vec<u8>),
    /// Flush what is queued, then close.
    Close,
}

/// Opens a TCP connection to `n` with the socket options its configuration asks for.
pub async fn connect(n: &Neighbor) -> io::Result<TcpStream> {
    let remote = SocketAddr::new(n.peer.address, n.port);
    let domain = if remote.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    apply_ttl(&socket, n, remote.is_ipv4())?;
    if let Some(key) = &n.md5_password {
        crate::sockopt::set_md5(&socket, n.peer.address, key.as_bytes())?;
    }
    if let Some(local) = n.local_address {
        socket.bind(&SocketAddr::new(local, 0).into())?;
    }
    let std_stream: std::net::TcpStream = socket.into();
    let socket = tokio::net::TcpSocket::from_std_stream(std_stream);
    socket.connect(remote).await
}

fn apply_ttl(socket: &Socket, n: &Neighbor, v4: bool) -> io::Result<()> {
    // GTSM (RFC 5082): send with TTL 255 and require at least 255 - (hops - 1) on receipt.
    if let Some(hops) = n.ttl_security {
        let min = 255u8.saturating_sub(hops.max(1) - 1);
        if v4 {
            socket.set_ttl_v4(255)?;
        } else {
            socket.set_unicast_hops_v6(255)?;
        }
        crate::sockopt::set_min_ttl(socket, v4, min)?;
    } else if let Some(ttl) = n.multihop {
        if v4 {
            socket.set_ttl_v4(u32::from(ttl))?;
        } else {
            socket.set_unicast_hops_v6(u32::from(ttl))?;
        }
    }
    Ok(())
}

/// Sets the TCP-MD5 keys of every neighbour that has one on the listening socket, so that their
/// signed SYNs are accepted (RFC 2385), and the GTSM send TTL when any neighbour uses it.
pub fn configure_listener(
    listener: &tokio::net::TcpListener,
    neighbors: &[Neighbor],
) -> io::Result<()> {
    let v4_listener = listener.local_addr()?.is_ipv4();
    // GTSM (RFC 5082 §3): our SYN-ACKs must leave with TTL 255 too, or a GTSM peer that
    // connects to us drops them. Only our own TTL changes; other peers are unaffected.
    if neighbors.iter().any(|n| n.ttl_security.is_some()) {
        if v4_listener {
            listener.set_ttl(255)?;
        } else {
            socket2::SockRef::from(listener).set_unicast_hops_v6(255)?;
        }
    }
    for n in neighbors {
        if let Some(key) = &n.md5_password {
            if n.peer.address.is_ipv4() == v4_listener {
                crate::sockopt::set_md5(listener, n.peer.address, key.as_bytes())?;
            }
        }
    }
    Ok(())
}

/// Applies the per-neighbour options to an accepted connection.
pub fn configure_accepted(stream: &TcpStream, n: &Neighbor) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(stream);
    apply_ttl(&sock, n, n.peer.address.is_ipv4())
}

/// The core's handle on one connection's writer.
#[derive(Debug)]
pub struct ConnHandle {
    /// Queue of write commands.
    pub tx: mpsc::UnboundedSender<WriteCmd>,
    /// Aborts the connection at once, dropping whatever is queued.
    pub abort: std::sync::Arc<tokio::sync::Notify>,
}

/// How long a closing connection may take to flush what is queued (a NOTIFICATION, usually)
/// before it is aborted: a peer that does not read must not hold the connection open.
const CLOSE_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Spawns the reader and writer tasks of one connection. Events are tagged with `tag` when
/// sent to `events`.
pub fn spawn_connection<T: Clone + Send + Sync + 'static>(
    stream: TcpStream,
    tag: T,
    events: mpsc::UnboundedSender<(T, ConnEvent)>,
) -> ConnHandle {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WriteCmd>();
    let abort = std::sync::Arc::new(tokio::sync::Notify::new());
    let rtag = tag.clone();
    let revents = events.clone();
    let rabort = abort.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if revents.send((rtag.clone(), ConnEvent::Data(buf[..n].to_vec()))).is_err() {
                            return;
                        }
                    }
                },
                _ = rabort.notified() => break,
            }
        }
        let _ = revents.send((rtag, ConnEvent::Closed));
    });
    let wabort = abort.clone();
    tokio::spawn(async move {
        let writer = async {
            let mut closing: Option<tokio::time::Instant> = None;
            loop {
                let cmd = match closing {
                    None => rx.recv().await,
                    Some(_) => rx.try_recv().ok(),
                };
                let Some(cmd) = cmd else { break };
                match cmd {
                    WriteCmd::Data(bytes) => {
                        let write = wr.write_all(&bytes);
                        let ok = match closing {
                            Some(deadline) => tokio::time::timeout_at(deadline, write)
                                .await
                                .is_ok_and(|r| r.is_ok()),
                            None => write.await.is_ok(),
                        };
                        if !ok {
                            break;
                        }
                        let ev = if rx.is_empty() {
                            ConnEvent::Drained
                        } else {
                            ConnEvent::WriteProgress
                        };
                        if events.send((tag.clone(), ev)).is_err() {
                            return;
                        }
                    }
                    WriteCmd::Close => {
                        closing = Some(tokio::time::Instant::now() + CLOSE_FLUSH_LIMIT);
                    }
                }
            }
            let _ = tokio::time::timeout(CLOSE_FLUSH_LIMIT, wr.shutdown()).await;
        };
        tokio::select! {
            _ = writer => {}
            _ = wabort.notified() => {}
        }
        // Wake the reader too: the connection is finished either way.
        wabort.notify_waiters();
        let _ = events.send((tag, ConnEvent::Closed));
    });
    ConnHandle { tx, abort }
}
