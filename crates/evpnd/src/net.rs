//! TCP plumbing for BGP: outgoing connections (with source address, TTL and GTSM), the
//! listener, and the reader/writer task pair of each connection. Only bytes cross into the
//! core; no protocol decision is made here.

use evpnd_bgp::session::{DecodedFrame, Framed, Framer};
use evpnd_node::Transport;
use evpnd_wire::CodecContext;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What a connection task reports to the core.
#[derive(Debug)]
pub enum ConnEvent {
    /// Bytes read (whole messages, except after a header that could not be framed), with the
    /// read credit they hold (released when the core drops it).
    Data(Vec<u8>, ReadCredit),
    /// Messages read and decoded with the context of [`ConnHandle::context`], with their
    /// read credit.
    Frames(Vec<DecodedFrame>, ReadCredit),
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
    /// Write these bytes, shared with other connections (one encoding per update group).
    Shared(Arc<[u8]>),
    /// Flush what is queued, then close.
    Close,
}

/// Bytes queued for a writer, owned or shared.
#[derive(Debug)]
enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(a) => a,
        }
    }
}

/// Bytes read from one connection and not yet handled by the core: the reader waits when
/// this much is outstanding, so a peer that sends faster than the core can handle is slowed
/// by TCP flow control instead of filling the daemon's memory.
pub const READ_BUDGET: usize = 256 * 1024;

/// How much the reader asks of the socket at once.
const READ_SIZE: usize = 64 * 1024;

/// Queued chunks the writer hands to the kernel in one `writev` (at most; also bounded by
/// [`WRITE_BATCH_BYTES`]).
const WRITE_BATCH_CHUNKS: usize = 64;

/// Bytes the writer gathers for one `writev` before it writes.
const WRITE_BATCH_BYTES: usize = 1 << 20;

/// A share of a connection's [`READ_BUDGET`] held by bytes on their way to the core; given
/// back when dropped, which lets the reader read on.
#[derive(Debug)]
pub struct ReadCredit {
    budget: Arc<tokio::sync::Semaphore>,
    permits: usize,
}

impl Drop for ReadCredit {
    fn drop(&mut self) {
        self.budget.add_permits(self.permits);
    }
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
        listener_ttl_255(listener, v4_listener)?;
    }
    if let Some(key) = &t.md5_password {
        crate::sockopt::set_md5(listener, address, key.as_bytes())?;
    }
    Ok(())
}

/// TTL 255 on the listener's SYN-ACKs (GTSM, RFC 5082 §3), for a neighbour or a range.
fn listener_ttl_255(listener: &tokio::net::TcpListener, v4: bool) -> io::Result<()> {
    if v4 {
        listener.set_ttl(255)
    } else {
        socket2::SockRef::from(listener).set_unicast_hops_v6(255)
    }
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
        listener_ttl_255(listener, v4_listener)?;
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
    /// Gives the reader the connection's codec context once Established, from which on it
    /// decodes what it reads ([`ConnEvent::Frames`]); `None` once given.
    pub context: Option<tokio::sync::oneshot::Sender<CodecContext>>,
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
    let (rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WriteCmd>();
    let abort = std::sync::Arc::new(tokio::sync::Notify::new());
    let rtag = tag.clone();
    let revents = events.clone();
    let rabort = abort.clone();
    let (context, context_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        tokio::select! {
            () = read_loop(rd, context_rx, &rtag, &revents) => {}
            _ = rabort.notified() => {}
        }
        let _ = revents.send((rtag, ConnEvent::Closed));
    });
    let wabort = abort.clone();
    tokio::spawn(async move {
        let writer = async {
            let mut closing: Option<tokio::time::Instant> = None;
            let mut batch: Vec<Chunk> = Vec::new();
            loop {
                let cmd = match closing {
                    None => rx.recv().await,
                    Some(_) => rx.try_recv().ok(),
                };
                let Some(cmd) = cmd else { break };
                // Gather what is queued behind it, up to a batch: one writev for many
                // chunks, one progress report to the core per batch.
                let mut next = Some(cmd);
                let mut bytes = 0usize;
                while let Some(cmd) = next.take() {
                    match cmd {
                        WriteCmd::Data(v) => {
                            bytes = bytes.saturating_add(v.len());
                            batch.push(Chunk::Owned(v));
                        }
                        WriteCmd::Shared(a) => {
                            bytes = bytes.saturating_add(a.len());
                            batch.push(Chunk::Shared(a));
                        }
                        WriteCmd::Close => {
                            closing = Some(tokio::time::Instant::now() + CLOSE_FLUSH_LIMIT);
                            break;
                        }
                    }
                    if batch.len() < WRITE_BATCH_CHUNKS && bytes < WRITE_BATCH_BYTES {
                        next = rx.try_recv().ok();
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                let write = write_all_chunks(&mut wr, &batch);
                let ok = match closing {
                    Some(deadline) => tokio::time::timeout_at(deadline, write)
                        .await
                        .is_ok_and(|r| r.is_ok()),
                    None => write.await.is_ok(),
                };
                batch.clear();
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
    ConnHandle {
        tx,
        abort,
        context: Some(context),
    }
}

/// Reads `rd` until end of file or an error, sending what it reads to `events` in whole
/// messages: as bytes ([`ConnEvent::Data`]) until `context` delivers the connection's codec
/// context, decoded from then on ([`ConnEvent::Frames`]; framing and decoding in this task,
/// beside the core). Each event holds a [`ReadCredit`]: the reader waits while
/// [`READ_BUDGET`] bytes are with the core.
async fn read_loop<R: AsyncRead + Unpin, T: Clone>(
    mut rd: R,
    mut context: tokio::sync::oneshot::Receiver<CodecContext>,
    tag: &T,
    events: &mpsc::UnboundedSender<(T, ConnEvent)>,
) {
    let budget = Arc::new(tokio::sync::Semaphore::new(READ_BUDGET));
    let mut buf = vec![0u8; READ_SIZE];
    let mut framer = Framer::new();
    let mut waiting_for_context = true;
    loop {
        // Wait for room for a whole read, then read.
        let Ok(permit) = budget.clone().acquire_many_owned(READ_SIZE as u32).await else {
            return;
        };
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if waiting_for_context {
            match context.try_recv() {
                Ok(ctx) => {
                    framer.set_context(ctx);
                    waiting_for_context = false;
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    waiting_for_context = false
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
        }
        permit.forget();
        let Some(framed) = framer.push(buf.get(..n).unwrap_or(&[])) else {
            // Part of a message: the framer holds it (at most one message); all the room
            // goes back.
            budget.add_permits(READ_SIZE);
            continue;
        };
        // What was read stays taken until the core drops its credit; the rest goes back.
        budget.add_permits(READ_SIZE - n);
        let credit = ReadCredit {
            budget: budget.clone(),
            permits: n,
        };
        let ev = match framed {
            Framed::Bytes(b) => ConnEvent::Data(b, credit),
            Framed::Frames(f) => ConnEvent::Frames(f, credit),
        };
        if events.send((tag.clone(), ev)).is_err() {
            return;
        }
    }
}

/// Where writing `written` more bytes leaves a cursor at byte `offset` of chunk `index`:
/// the new `(index, offset)`, past every chunk wholly written.
fn advance<C: AsRef<[u8]>>(
    chunks: &[C],
    mut index: usize,
    mut offset: usize,
    mut written: usize,
) -> (usize, usize) {
    while let Some(c) = chunks.get(index) {
        let left = c.as_ref().len().saturating_sub(offset);
        if written < left {
            return (index, offset + written);
        }
        written -= left;
        index += 1;
        offset = 0;
    }
    (index, 0)
}

/// Writes every byte of `chunks`, in order, with vectored writes of up to
/// [`WRITE_BATCH_CHUNKS`] slices (a short write resumes where it stopped).
async fn write_all_chunks<W: AsyncWrite + Unpin, C: AsRef<[u8]>>(
    w: &mut W,
    chunks: &[C],
) -> io::Result<()> {
    let (mut index, mut offset) = (0, 0);
    while index < chunks.len() {
        let slices: Vec<io::IoSlice<'_>> = chunks[index..]
            .iter()
            .take(WRITE_BATCH_CHUNKS)
            .enumerate()
            .map(|(i, c)| {
                let b = c.as_ref();
                io::IoSlice::new(if i == 0 {
                    b.get(offset..).unwrap_or(&[])
                } else {
                    b
                })
            })
            .collect();
        let n = w.write_vectored(&slices).await?;
        if n == 0 && slices.iter().any(|s| !s.is_empty()) {
            return Err(io::ErrorKind::WriteZero.into());
        }
        (index, offset) = advance(chunks, index, offset, n);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A writer that takes at most `limit` bytes per call (and per vectored call).
    struct Trickle {
        limit: usize,
        out: Vec<u8>,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.limit);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.limit - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.limit {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    proptest! {
        /// Whatever the chunk sizes (empty ones included) and however short the writes, the
        /// bytes come out whole and in order.
        #[test]
        fn chunks_are_written_whole_and_in_order(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..150),
            limit in 1usize..700,
        ) {
            let chunks: Vec<Chunk> = chunks
                .into_iter()
                .enumerate()
                .map(|(i, v)| if i % 2 == 0 { Chunk::Owned(v) } else { Chunk::Shared(v.into()) })
                .collect();
            let mut w = Trickle { limit, out: Vec::new() };
            block_on(write_all_chunks(&mut w, &chunks)).unwrap();
            let expected: Vec<u8> = chunks.iter().flat_map(|c| c.as_ref().to_vec()).collect();
            prop_assert_eq!(w.out, expected);
        }
    }

    #[test]
    fn advance_skips_whole_and_empty_chunks() {
        let chunks: [&[u8]; 4] = [b"abc", b"", b"de", b"f"];
        assert_eq!(advance(&chunks, 0, 0, 0), (0, 0));
        assert_eq!(advance(&chunks, 0, 0, 2), (0, 2));
        assert_eq!(
            advance(&chunks, 0, 2, 1),
            (2, 0),
            "the empty chunk is passed over"
        );
        assert_eq!(advance(&chunks, 0, 0, 4), (2, 1));
        assert_eq!(advance(&chunks, 2, 1, 2), (4, 0));
    }

    #[test]
    fn the_reader_passes_whole_messages_then_decodes_once_it_has_the_context() {
        block_on(async {
            let (mut client, server) = tokio::io::duplex(1 << 16);
            let (tx, mut rx) = mpsc::unbounded_channel();
            let (context, context_rx) = tokio::sync::oneshot::channel();
            let reader =
                tokio::spawn(async move { read_loop(server, context_rx, &0u8, &tx).await });
            // A KEEPALIVE (RFC 4271 §4.4): marker, length 19, type 4; sent in two pieces.
            let mut keepalive = vec![0xffu8; 16];
            keepalive.extend_from_slice(&[0, 19, 4]);
            client.write_all(&keepalive[..7]).await.unwrap();
            tokio::task::yield_now().await;
            client.write_all(&keepalive[7..]).await.unwrap();
            let (_, ev) = rx.recv().await.unwrap();
            let ConnEvent::Data(bytes, _) = ev else {
                panic!("bytes expected before the context")
            };
            assert_eq!(bytes, keepalive, "one whole message");
            context.send(CodecContext::default()).unwrap();
            client.write_all(&keepalive.repeat(2)).await.unwrap();
            drop(client);
            let (_, ev) = rx.recv().await.unwrap();
            let ConnEvent::Frames(frames, _) = ev else {
                panic!("decoded frames expected after the context")
            };
            assert_eq!(frames.len(), 2);
            assert!(frames.iter().all(|f| f.msg_type == 4 && f.decoded.is_ok()));
            reader.await.unwrap();
        });
    }

    #[test]
    fn the_reader_waits_while_its_budget_is_with_the_core() {
        block_on(async {
            let (mut client, server) = tokio::io::duplex(READ_BUDGET * 4);
            let (tx, mut rx) = mpsc::unbounded_channel();
            let (_context, context_rx) = tokio::sync::oneshot::channel();
            let reader =
                tokio::spawn(async move { read_loop(server, context_rx, &0u8, &tx).await });
            let total = READ_BUDGET * 3;
            client.write_all(&vec![7u8; total]).await.unwrap();
            drop(client);
            // Hold every credit: the reader stops at the budget.
            let mut held = Vec::new();
            let mut got = 0;
            for _ in 0..100 {
                tokio::task::yield_now().await;
                while let Ok((_, ev)) = rx.try_recv() {
                    let ConnEvent::Data(b, c) = ev else {
                        panic!("data expected")
                    };
                    got += b.len();
                    held.push(c);
                }
            }
            assert!(got <= READ_BUDGET, "{got} read beyond the budget");
            assert!(
                got > READ_BUDGET - READ_SIZE,
                "{got}: the reader stopped early"
            );
            // Giving the credit back lets the rest through.
            drop(held);
            while got < total {
                let (_, ev) = rx.recv().await.unwrap();
                let ConnEvent::Data(b, _) = ev else {
                    panic!("data expected")
                };
                got += b.len();
            }
            assert_eq!(got, total);
            reader.await.unwrap();
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
/// The listener's TCP-MD5 keys, on real sockets.
mod listener_tests {
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
