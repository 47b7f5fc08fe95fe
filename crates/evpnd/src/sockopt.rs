//! Socket options that socket2 does not offer: GTSM minimum TTL (RFC 5082) and TCP-MD5
//! signatures (RFC 2385, Linux `TCP_MD5SIG`, and `TCP_MD5SIG_EXT` for a prefix).
//!
//! This is the only module of evpnd with `unsafe` code: two `setsockopt(2)` calls on a file
//! descriptor the caller owns, with fully initialised, correctly sized values.

#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// Longest TCP-MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from `linux/tcp.h`.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

fn setsockopt<T>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option too large"))?;
    // SAFETY: `value` points to a live, initialised `T` of `len` bytes for the whole call, and
    // the kernel only reads it. The descriptor is borrowed from its owner.
    let r =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// GTSM: drop packets that arrive with a TTL (hop limit) below `min` (RFC 5082 §3).
pub fn set_min_ttl(fd: &impl AsRawFd, v4: bool, min: u8) -> io::Result<()> {
    let v: libc::c_int = libc::c_int::from(min);
    if v4 {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &v)
    } else {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &v)
    }
}

/// `TCP_MD5SIG_FLAG_PREFIX` from `linux/tcp.h`: the key covers `tcpm_prefixlen` bits of the
/// address (with `TCP_MD5SIG_EXT`).
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

/// Signs (and requires signatures on) every segment exchanged with `peer` using `key`
/// (RFC 2385). An empty key removes the signature requirement.
pub fn set_md5(fd: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    set_md5_key(fd, peer, None, key)
}

/// Like [`set_md5`] for every address of the prefix `network/prefix_len` (a peer group's
/// listen range): Linux `TCP_MD5SIG_EXT` with `TCP_MD5SIG_FLAG_PREFIX` (since 4.13).
pub fn set_md5_prefix(
    fd: &impl AsRawFd,
    network: IpAddr,
    prefix_len: u8,
    key: &[u8],
) -> io::Result<()> {
    set_md5_key(fd, network, Some(prefix_len), key)
}

fn set_md5_key(
    fd: &impl AsRawFd,
    peer: IpAddr,
    prefix_len: Option<u8>,
    key: &[u8],
) -> io::Result<()> {
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP-MD5 key longer than 80 bytes",
        ));
    }
    let sa = socket2::SockAddr::from(SocketAddr::new(peer, 0));
    // SAFETY: an all-zero sockaddr_storage is a valid value (family AF_UNSPEC).
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = (sa.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `sa.as_ptr()` points to `sa.len()` initialised bytes of a socket address and
    // `storage` has room for at least `n` of them; the regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
            n,
        );
    }
    let mut sig = TcpMd5Sig {
        addr: storage,
        flags: if prefix_len.is_some() {
            TCP_MD5SIG_FLAG_PREFIX
        } else {
            0
        },
        prefix_len: prefix_len.unwrap_or(0),
        key_len: key.len() as u16,
        ifindex: 0,
        key: [0; MD5_MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    let option = if prefix_len.is_some() {
        libc::TCP_MD5SIG_EXT
    } else {
        libc::TCP_MD5SIG
    };
    setsockopt(fd, libc::IPPROTO_TCP, option, &sig)
}
