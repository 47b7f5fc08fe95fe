//! TCP plumbing for BGP: outgoing connections (with source address, TTL and GTSM), the
//! listener, and the reader/writer task pair of each connection. Only bytes cross into the
//! core; no protocol decision is made here.

use evpnd_node::Transport;
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

/// Opens a TCP connection to `remote` with the socket options of `t`.
pub async fn connect(remote: SocketAddr, t: &Transport) -> io::Result<TcpStream> {
    let domain = if remote.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    apply_ttl(&socket, t, remote.is_ipv4())?;
    if let Some(key) = &t.md5_password {
        crate::sockopt::set_md5(&socket, remote.ip(), key.as_bytes())?;
    }
    if let Some(local) = t.local_address {
        socket.bind(&SocketAddr::new(local, 0).into())?;
    }
    let std_stream: std::net::TcpStream = socket.into();
    let socket = tokio::net::TcpSocket::from_std_stream(std_stream);
    socket.connect(remote).await
}

fn apply_ttl(socket: &Socket, n: &Transport, v4: bool) -> io::Result<()> {
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

/// Configures the listening socket for one neighbour: its TCP-MD5 key, so that its signed
/// SYNs are accepted (RFC 2385), and TTL 255 on our SYN-ACKs when it uses GTSM (RFC 5082 §3:
/// otherwise a GTSM peer that connects to us drops them; other peers are unaffected). A
/// neighbour of the other address family than the listener is skipped.
pub fn configure_listener(
    listener: &tokio::net::TcpListener,
    address: std::net::IpAddr,
    t: &Transport,
) -> io::Result<()> {
    let v4_listener = listener.local_addr()?.is_ipv4();
    if address.is_ipv4() != v4_listener {
        return Ok(());
    }
    if t.ttl_security.is_some() {
        if v4_listener {
            listener.set_ttl(255)?;
        } else {
            socket2::SockRef::from(listener).set_unicast_hops_v6(255)?;
        }
    }
    if let Some(key) = &t.md5_password {
        crate::sockopt::set_md5(listener, address, key.as_bytes())?;
    }
    Ok(())
}

/// Configures the listening socket for a peer group's listen range: its TCP-MD5 key for
/// every address of the range (RFC 2385, Linux `TCP_MD5SIG_EXT` with a prefix), and TTL 255 on
/// our SYN-ACKs when the group uses GTSM (RFC 5082 §3). A range of the other address family
/// than the listener is skipped.
pub fn configure_listener_range(
    listener: &tokio::net::TcpListener,
    range: evpnd_wire::IpPrefix,
    t: &Transport,
) -> io::Result<()> {
    let v4_listener = listener.local_addr()?.is_ipv4();
    if range.addr().is_ipv4() != v4_listener {
        return Ok(());
    }
    if t.ttl_security.is_some() {
        if v4_listener {
            listener.set_ttl(255)?;
        } else {
            socket2::SockRef::from(listener).set_unicast_hops_v6(255)?;
        }
    }
    if let Some(key) = &t.md5_password {
        crate::sockopt::set_md5_prefix(listener, range.addr(), range.len(), key.as_bytes())?;
    }
    Ok(())
}

/// Undoes [`configure_listener_range`]'s TCP-MD5 key for a removed peer group.
pub fn unconfigure_listener_range(
    listener: &tokio::net::TcpListener,
    range: evpnd_wire::IpPrefix,
    t: &Transport,
) -> io::Result<()> {
    let v4_listener = listener.local_addr()?.is_ipv4();
    if range.addr().is_ipv4() == v4_listener && t.md5_password.is_some() {
        crate::sockopt::set_md5_prefix(listener, range.addr(), range.len(), &[])?;
    }
    Ok(())
}

/// Undoes [`configure_listener`]'s TCP-MD5 key for a removed neighbour (the GTSM send TTL
/// stays: it harms no one).
pub fn unconfigure_listener(
    listener: &tokio::net::TcpListener,
    address: std::net::IpAddr,
    t: &Transport,
) -> io::Result<()> {
    let v4_listener = listener.local_addr()?.is_ipv4();
    if address.is_ipv4() == v4_listener && t.md5_password.is_some() {
        crate::sockopt::set_md5(listener, address, &[])?;
    }
    Ok(())
}

/// Applies the options of the neighbour at `address` to a connection accepted from it (the
/// TTL options of the neighbour's address family: an IPv4 neighbour on an IPv6 listener is
/// still IPv4 on the wire).
pub fn configure_accepted(
    stream: &TcpStream,
    address: std::net::IpAddr,
    t: &Transport,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(stream);
    apply_ttl(&sock, t, address.is_ipv4())
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    /// A TCP connection from `from` to `to`, signed with `key` when given, within a second.
    fn dial(from: Ipv4Addr, to: SocketAddr, key: Option<&str>) -> io::Result<std::net::TcpStream> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.bind(&SocketAddr::new(IpAddr::V4(from), 0).into())?;
        if let Some(k) = key {
            crate::sockopt::set_md5(&s, to.ip(), k.as_bytes())?;
        }
        s.connect_timeout(&to.into(), Duration::from_secs(1))?;
        Ok(s.into())
    }

    #[tokio::test]
    async fn a_listen_range_key_signs_every_address_of_the_range() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = listener.local_addr().unwrap();
        let t = Transport {
            md5_password: Some("range-secret".into()),
            ttl_security: Some(1),
            ..Transport::bgp()
        };
        let range = "127.64.0.0/10".parse().unwrap();
        configure_listener_range(&listener, range, &t).unwrap();
        // Two addresses of the range with the key: accepted (RFC 2385 signatures match).
        for host in [9, 200] {
            let from = Ipv4Addr::new(127, 64, 3, host);
            let c = tokio::task::spawn_blocking(move || dial(from, to, Some("range-secret")));
            let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
            assert!(c.await.unwrap().is_ok(), "{from} with the key");
            assert!(accepted.is_ok(), "{from} not accepted");
        }
        // Without the key, the listener drops the unsigned SYNs: no connection.
        let from = Ipv4Addr::new(127, 64, 3, 10);
        let c = tokio::task::spawn_blocking(move || dial(from, to, None));
        assert!(
            c.await.unwrap().is_err(),
            "an unsigned SYN from the range got through"
        );
        // Removing the range's key lets unsigned connections in again.
        unconfigure_listener_range(&listener, range, &t).unwrap();
        let c = tokio::task::spawn_blocking(move || dial(from, to, None));
        assert!(c.await.unwrap().is_ok());
    }
}
