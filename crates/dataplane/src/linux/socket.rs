//! A synchronous rtnetlink socket that sends batches of requests with one `sendmsg` per chunk
//! and maps every error the kernel answers back to the request that caused it.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NLMSG_DONE, NLMSG_ERROR,
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::borrow::Borrow;
use std::fmt;
use std::io;
use std::time::Duration;

/// Bytes of requests sent with one `sendmsg`: the last request of each chunk asks for an ack.
/// Measured on Linux 6.18 with `examples/fdb_floor` (100 k remote MACs): 16 KiB chunks install
/// about three times faster than 64–256 KiB ones (the kernel copies a `sendmsg` into one skb;
/// large ones are costly to allocate), and 4–32 KiB are alike.
pub(crate) const CHUNK_BYTES: usize = 16 * 1024;
/// Socket buffer sizes of a request socket: a chunk's worth of errors must fit.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;
/// Receive buffer of a notification socket: the burst of notifications our own bulk
/// installs cause (two FDB notifications per remote MAC) must fit, or the watcher overflows
/// and has to re-read the kernel state.
pub(crate) const NOTIFICATION_BUFFER: usize = 32 * 1024 * 1024;
/// Longest wait for an answer from the kernel before a request counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Receive buffer for one datagram (dumps come in skbs of at most a few pages).
const RECV_BUFFER: usize = 1024 * 1024;
/// Netlink's `NLMSGERR_ATTR_MSG`: the extended ack's text.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// rtnetlink multicast groups (`RTNLGRP_*` from `linux/rtnetlink.h`).
pub(crate) const RTNLGRP_LINK: u32 = 1;
/// Neighbour and bridge FDB notifications.
pub(crate) const RTNLGRP_NEIGH: u32 = 3;

/// A request the kernel refused: the errno (positive) and its extended-ack text, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NlError {
    /// The errno, positive (`ENOENT` = 2).
    pub code: i32,
    /// The kernel's explanation (`NETLINK_EXT_ACK`).
    pub ext: Option<String>,
}

impl NlError {
    /// An error that did not come from a netlink answer (I/O, timeout).
    pub fn local(e: &io::Error) -> NlError {
        NlError {
            code: e.raw_os_error().unwrap_or(libc_eio()),
            ext: Some(e.to_string()),
        }
    }

    /// True for "no such entry" (a delete of something already gone; `ESRCH`: a route).
    pub fn is_not_found(&self) -> bool {
        self.code == rustix::io::Errno::NOENT.raw_os_error()
            || self.code == rustix::io::Errno::NODEV.raw_os_error()
            || self.code == rustix::io::Errno::SRCH.raw_os_error()
    }
}

fn libc_eio() -> i32 {
    rustix::io::Errno::IO.raw_os_error()
}

impl fmt::Display for NlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = io::Error::from_raw_os_error(self.code);
        match &self.ext {
            Some(ext) => write!(f, "{text} ({ext})"),
            None => write!(f, "{text}"),
        }
    }
}

/// One request of a batch: the message and its `NLM_F_*` flags beyond `NLM_F_REQUEST`.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// The message.
    pub message: RouteNetlinkMessage,
    /// `NLM_F_CREATE`, `NLM_F_REPLACE`, `NLM_F_APPEND`, … (the socket adds `REQUEST`/`ACK`).
    pub flags: u16,
}

/// A received message, already split from its datagram.
pub(crate) enum Received {
    /// An rtnetlink message (a dump entry, a notification, an answer).
    Message(NetlinkHeader, RouteNetlinkMessage),
    /// An ack (`error` = `None`) or an error answer to request `seq`.
    Ack { seq: u32, error: Option<NlError> },
    /// The end of the dump `seq`; `interrupted` when the dump was inconsistent.
    Done { seq: u32, interrupted: bool },
}

/// A synchronous `NETLINK_ROUTE` socket.
pub(crate) struct NlSocket {
    socket: Socket,
    seq: u32,
    buffer: Vec<u8>,
}

impl NlSocket {
    /// Opens a socket (with `NETLINK_CAP_ACK`, `NETLINK_EXT_ACK`, a 4 MiB send buffer, a
    /// receive buffer of `receive_buffer` bytes (forced past `rmem_max` when we may, as root)
    /// and a receive timeout of `timeout`) subscribed to `groups`.
    pub fn open(groups: &[u32], timeout: Duration, receive_buffer: usize) -> io::Result<NlSocket> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        socket.set_cap_ack(true)?;
        socket.set_ext_ack(true)?;
        use rustix::net::sockopt;
        if sockopt::set_socket_recv_buffer_size_force(&socket, receive_buffer).is_err() {
            sockopt::set_socket_recv_buffer_size(&socket, receive_buffer)?;
        }
        if sockopt::set_socket_send_buffer_size_force(&socket, SOCKET_BUFFER).is_err() {
            sockopt::set_socket_send_buffer_size(&socket, SOCKET_BUFFER)?;
        }
        sockopt::set_socket_timeout(&socket, sockopt::Timeout::Recv, Some(timeout))?;
        for group in groups {
            socket.add_membership(*group)?;
        }
        Ok(NlSocket {
            socket,
            seq: 0,
            buffer: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// Attaches a classic BPF program that the kernel runs on every message before queueing
    /// it to this socket (a notification socket drops what it never needs to read).
    pub fn attach_filter(&self, program: &[socket2::SockFilter]) -> io::Result<()> {
        socket2::SockRef::from(&self.socket).attach_filter(program)
    }

    /// Opens a request socket (no groups; answers within [`ANSWER_TIMEOUT`]).
    pub fn request_socket() -> io::Result<NlSocket> {
        NlSocket::open(&[], ANSWER_TIMEOUT, SOCKET_BUFFER)
    }

    /// The receive buffer the kernel granted (it doubles the requested size for its
    /// bookkeeping).
    #[cfg(test)]
    pub fn receive_buffer(&self) -> io::Result<usize> {
        Ok(rustix::net::sockopt::socket_recv_buffer_size(&self.socket)?)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Sends `requests` in order, one `sendmsg` per [`CHUNK_BYTES`], and returns the index and
    /// error of each one the kernel refused (an empty list: all applied).
    pub fn send_batch<R: Borrow<Request>>(&mut self, requests: &[R]) -> Vec<(usize, NlError)> {
        let mut failures = Vec::new();
        let mut start = 0;
        while start < requests.len() {
            let (end, bytes, first_seq) = self.encode_chunk(requests, start);
            let mut chunk_failures = self.send_chunk(&bytes, first_seq, end - start);
            for (offset, error) in chunk_failures.drain(..) {
                failures.push((start + offset, error));
            }
            start = end;
        }
        failures
    }

    /// Encodes requests from `start` until the chunk is full; returns the end index, the bytes
    /// and the sequence number of the first request (the others follow it).
    fn encode_chunk<R: Borrow<Request>>(
        &mut self,
        requests: &[R],
        start: usize,
    ) -> (usize, Vec<u8>, u32) {
        // Each request is serialized straight into the chunk; the last one's offset is kept
        // to ask for its ack once the chunk is known to end there.
        let mut out: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
        let mut end = start;
        let mut first_seq = 0;
        let mut last_at = None;
        for request in &requests[start..] {
            let request = request.borrow();
            let payload_len = request.message.buffer_len();
            let padded = NETLINK_HEADER_LEN
                .saturating_add(payload_len)
                .next_multiple_of(4);
            if last_at.is_some() && out.len().saturating_add(padded) > CHUNK_BYTES {
                break;
            }
            let seq = self.next_seq();
            if last_at.is_none() {
                first_seq = seq;
            }
            last_at = Some(out.len());
            append_message(
                &mut out,
                &request.message,
                payload_len,
                request.flags | NLM_F_REQUEST,
                seq,
            );
            end += 1;
        }
        if let Some(at) = last_at {
            add_flags(&mut out[at..], NLM_F_ACK);
        }
        (end, out, first_seq)
    }

    /// Sends one encoded chunk of `count` requests numbered from `first_seq` and reads the
    /// answers up to the ack of the last one.
    fn send_chunk(&mut self, bytes: &[u8], first_seq: u32, count: usize) -> Vec<(usize, NlError)> {
        let index_of = |seq: u32| -> Option<usize> {
            let offset = usize::try_from(seq.wrapping_sub(first_seq)).ok()?;
            (offset < count).then_some(offset)
        };
        let Some(last) = count.checked_sub(1) else {
            return Vec::new();
        };
        if let Err(e) = self.socket.send(bytes, 0) {
            let error = NlError::local(&e);
            return (0..count).map(|i| (i, error.clone())).collect();
        }
        let mut failures = Vec::new();
        loop {
            let received = match self.receive() {
                Ok(r) => r,
                Err(e) => {
                    // Answers are lost (timeout, overflow): whatever did not answer yet
                    // counts as failed (it is retried; every write is idempotent).
                    let error = NlError::local(&e);
                    let answered: Vec<usize> = failures.iter().map(|(i, _)| *i).collect();
                    for i in 0..count {
                        if !answered.contains(&i) {
                            failures.push((i, error.clone()));
                        }
                    }
                    return failures;
                }
            };
            let mut done = false;
            for message in received {
                if let Received::Ack { seq, error } = message {
                    let Some(i) = index_of(seq) else { continue };
                    if let Some(error) = error {
                        failures.push((i, error));
                    }
                    if i == last {
                        done = true;
                    }
                }
            }
            if done {
                return failures;
            }
        }
    }

    /// Sends one request and waits for its ack.
    pub fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> Result<(), NlError> {
        let failures = self.send_batch(&[Request { message, flags }]);
        match failures.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends one request the library has no type for (message type `kind`, the payload
    /// after the netlink header) and waits for its ack.
    pub fn request_raw(&mut self, kind: u16, flags: u16, payload: &[u8]) -> Result<(), NlError> {
        let len = payload
            .len()
            .checked_add(16)
            .and_then(|l| u32::try_from(l).ok())
            .ok_or_else(|| NlError::local(&io::Error::from(io::ErrorKind::InvalidInput)))?;
        let seq = self.next_seq();
        let mut bytes = Vec::with_capacity(payload.len() + 16);
        bytes.extend_from_slice(&len.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        bytes.extend_from_slice(&seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(payload);
        while bytes.len() % 4 != 0 {
            bytes.push(0);
        }
        match self.send_chunk(&bytes, seq, 1).into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends a request that the kernel answers with messages (a `GET` of one object, or a
    /// dump with `NLM_F_DUMP`) and collects them; a dump interrupted by a concurrent change is
    /// restarted (up to three times).
    pub fn query(
        &mut self,
        message: &RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let seq = self.next_seq();
            let bytes = encode(message, flags | NLM_F_REQUEST, seq);
            self.socket
                .send(&bytes, 0)
                .map_err(|e| NlError::local(&e))?;
            let mut out = Vec::new();
            let mut interrupted = false;
            'receive: loop {
                for received in self.receive().map_err(|e| NlError::local(&e))? {
                    match received {
                        Received::Message(header, m) if header.sequence_number == seq => {
                            interrupted |= header.flags & NLM_F_DUMP_INTR != 0;
                            out.push(m);
                            if !dump {
                                break 'receive;
                            }
                        }
                        Received::Ack { seq: s, error } if s == seq => match error {
                            Some(e) => return Err(e),
                            None => break 'receive,
                        },
                        Received::Done {
                            seq: s,
                            interrupted: i,
                        } if s == seq => {
                            interrupted |= i;
                            break 'receive;
                        }
                        _ => {}
                    }
                }
            }
            if !interrupted {
                return Ok(out);
            }
            if attempts >= 3 {
                // Changes kept going on during the dump: what it read may lack entries. The
                // caller tries again later rather than acting on a partial picture.
                return Err(NlError::local(&io::Error::other(
                    "the dump was interrupted by changes three times",
                )));
            }
        }
    }

    /// Reads one datagram and splits it into messages (messages that do not parse are
    /// skipped). Errors: the receive timeout (`WouldBlock`), `ENOBUFS` (notifications lost).
    pub fn receive(&mut self) -> io::Result<Vec<Received>> {
        self.buffer.clear();
        if self.buffer.capacity() < RECV_BUFFER {
            self.buffer.reserve(RECV_BUFFER);
        }
        self.socket.recv(&mut self.buffer, 0)?;
        Ok(split_datagram(&self.buffer))
    }
}

/// Serializes `message` with `flags` and sequence number `seq`.
pub(crate) fn encode(message: &RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let payload_len = message.buffer_len();
    let mut bytes = Vec::with_capacity(NETLINK_HEADER_LEN.saturating_add(payload_len) + 3);
    append_message(&mut bytes, message, payload_len, flags, seq);
    bytes
}

/// Length of a netlink message header (`struct nlmsghdr`).
const NETLINK_HEADER_LEN: usize = 16;

/// Appends `message` (whose payload is `payload_len` bytes, its `buffer_len`) to `out` as one
/// netlink message with `flags` and sequence number `seq`, padded to 4 bytes. The header is
/// written here and the payload serialized in place: no copy of the message, no buffer of its
/// own (a bulk install encodes a hundred thousand of them).
fn append_message(
    out: &mut Vec<u8>,
    message: &RouteNetlinkMessage,
    payload_len: usize,
    flags: u16,
    seq: u32,
) {
    let len = NETLINK_HEADER_LEN.saturating_add(payload_len);
    let at = out.len();
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    out.extend_from_slice(&message.message_type().to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.resize(at.saturating_add(len.next_multiple_of(4)), 0);
    if let Some(payload) = out.get_mut(at + NETLINK_HEADER_LEN..at.saturating_add(len)) {
        message.serialize(payload);
    }
}

#[cfg(test)]
fn set_seq(bytes: &mut [u8], seq: u32) {
    if let Some(field) = bytes.get_mut(8..12) {
        field.copy_from_slice(&seq.to_ne_bytes());
    }
}

fn add_flags(bytes: &mut [u8], flags: u16) {
    if let Some(field) = bytes.get_mut(6..8) {
        let old = u16::from_ne_bytes([field[0], field[1]]);
        field.copy_from_slice(&(old | flags).to_ne_bytes());
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Splits a datagram into its messages; `NLMSG_ERROR` and `NLMSG_DONE` are read from the raw
/// bytes (so that an answer is never lost to a message type the library does not know).
pub(crate) fn split_datagram(datagram: &[u8]) -> Vec<Received> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    while let Some(len) = read_u32(datagram, offset) {
        let Ok(len) = usize::try_from(len) else { break };
        let Some(end) = offset.checked_add(len) else {
            break;
        };
        if len < 16 || end > datagram.len() {
            break;
        }
        let message = &datagram[offset..end];
        let kind = read_u16(message, 4).unwrap_or(0);
        let flags = read_u16(message, 6).unwrap_or(0);
        let seq = read_u32(message, 8).unwrap_or(0);
        let payload = &message[16..];
        match kind {
            NLMSG_ERROR => {
                let code = read_u32(payload, 0).map(|c| c as i32).unwrap_or(0);
                let error = (code != 0).then(|| NlError {
                    code: code.saturating_abs(),
                    ext: extended_ack(payload, flags),
                });
                out.push(Received::Ack { seq, error });
            }
            NLMSG_DONE => out.push(Received::Done {
                seq,
                interrupted: flags & NLM_F_DUMP_INTR != 0,
            }),
            _ => {
                if let Ok(parsed) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(message) {
                    if let NetlinkPayload::InnerMessage(m) = parsed.payload {
                        out.push(Received::Message(parsed.header, m));
                    }
                }
            }
        }
        offset = end.next_multiple_of(4);
    }
    out
}

/// The text of an extended ack (`NLMSGERR_ATTR_MSG`) in an error payload: the errno, the
/// original request's header (or the whole request when not capped), then attributes.
fn extended_ack(payload: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let original_len = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        usize::try_from(read_u32(payload, 4)?).ok()?
    };
    let mut at = 4usize.checked_add(original_len)?;
    while let (Some(len), Some(kind)) = (read_u16(payload, at), read_u16(payload, at + 2)) {
        let len = usize::from(len);
        if len < 4 {
            return None;
        }
        let value = payload.get(at + 4..at.checked_add(len)?)?;
        if kind & 0x3fff == NLMSGERR_ATTR_MSG {
            let text = String::from_utf8_lossy(value);
            return Some(text.trim_end_matches('\0').to_string());
        }
        at = at.checked_add(len)?.next_multiple_of(4);
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn error_message(seq: u32, code: i32, ext: Option<&str>) -> Vec<u8> {
        let mut payload = code.to_ne_bytes().to_vec();
        // The capped original header.
        payload.extend_from_slice(&[0u8; 16]);
        let mut flags = NLM_F_CAPPED;
        if let Some(text) = ext {
            flags |= NLM_F_ACK_TLVS;
            let mut value = text.as_bytes().to_vec();
            value.push(0);
            let len = 4 + value.len();
            payload.extend_from_slice(&(len as u16).to_ne_bytes());
            payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            payload.extend_from_slice(&value);
            while payload.len() % 4 != 0 {
                payload.push(0);
            }
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&payload);
        m
    }

    #[test]
    fn errors_map_to_their_sequence_number_with_the_extended_ack() {
        let mut datagram = error_message(7, -2, None);
        datagram.extend(error_message(9, -22, Some("Invalid state")));
        datagram.extend(error_message(10, 0, None));
        let got = split_datagram(&datagram);
        let acks: Vec<(u32, Option<NlError>)> = got
            .into_iter()
            .filter_map(|r| match r {
                Received::Ack { seq, error } => Some((seq, error)),
                _ => None,
            })
            .collect();
        assert_eq!(acks.len(), 3);
        assert_eq!(acks[0].0, 7);
        assert!(acks[0].1.as_ref().unwrap().is_not_found());
        assert_eq!(
            acks[1].1,
            Some(NlError {
                code: 22,
                ext: Some("Invalid state".into())
            })
        );
        assert!(acks[1]
            .1
            .as_ref()
            .unwrap()
            .to_string()
            .contains("Invalid state"));
        assert_eq!(acks[2], (10, None));
    }

    #[test]
    fn a_truncated_datagram_yields_what_is_whole() {
        let datagram = error_message(7, -2, None);
        assert_eq!(split_datagram(&datagram[..datagram.len() - 1]).len(), 0);
        assert_eq!(split_datagram(&[]).len(), 0);
    }

    /// Our header writer gives the bytes the library's own serializer gives.
    #[test]
    fn encoding_matches_the_library_byte_for_byte() {
        use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
        let mut m = RouteMessage::default();
        m.header.destination_prefix_length = 128;
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet6(
                "2001:db8::1".parse().unwrap(),
            )));
        m.attributes.push(RouteAttribute::Oif(7));
        let message = RouteNetlinkMessage::NewRoute(m);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        header.sequence_number = 9;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message.clone()));
        packet.finalize();
        let mut expected = vec![0u8; packet.buffer_len().next_multiple_of(4)];
        packet.serialize(&mut expected[..packet.buffer_len()]);
        assert_eq!(encode(&message, NLM_F_REQUEST | NLM_F_ACK, 9), expected);
    }

    #[test]
    fn encoding_sets_flags_and_sequence() {
        use netlink_packet_route::link::LinkMessage;
        let mut bytes = encode(
            &RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_REQUEST,
            0,
        );
        set_seq(&mut bytes, 42);
        add_flags(&mut bytes, NLM_F_ACK);
        assert_eq!(read_u32(&bytes, 8), Some(42));
        assert_eq!(read_u16(&bytes, 6), Some(NLM_F_REQUEST | NLM_F_ACK));
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(read_u32(&bytes, 0).map(|l| l as usize), Some(bytes.len()));
    }
}
