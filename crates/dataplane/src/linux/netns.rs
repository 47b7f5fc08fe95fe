//! Network namespaces of the namespace-per-VRF model: opened (or created) by name, prepared
//! for routing, and reached through a netlink socket opened from inside.
//!
//! A netlink socket belongs to the namespace of the thread that opened it, for its whole
//! life: a short-lived thread enters the namespace (`setns`), opens the socket, writes the
//! namespace's own sysctls (`/proc/sys/net` is the opener's namespace) and returns the socket
//! to the apply thread, which never changes namespace itself.
//!
//! A missing namespace is created with `ip netns add` rather than by `unshare` and a bind
//! mount of our own: iproute2 also makes `/run/netns` a shared mount point first, so that the
//! namespace stays visible to every mount namespace (`ip netns exec`, other daemons), which
//! is easy to get subtly wrong and needs no `unsafe` this way.

use super::netdev;
use super::socket::NlSocket;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;

/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// The per-namespace sysctls turned on for a VRF: it routes IPv4 and IPv6.
const FORWARDING: [&str; 2] = [
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv6/conf/all/forwarding",
];

/// An open VRF namespace.
pub(crate) struct Namespace {
    /// Its name under `/run/netns`.
    pub name: String,
    /// A handle on it (devices are moved in with `IFLA_NET_NS_FD`).
    pub fd: OwnedFd,
    /// A request socket inside it.
    pub socket: NlSocket,
    /// We created it in this run (deleted again with the VRF).
    pub created: bool,
}

/// The path of the named namespace `name`.
fn path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// Checks a namespace name: one path component that `ip netns` accepts.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
    {
        return Err(format!("{name:?} is not a usable network namespace name"));
    }
    Ok(())
}

/// Opens the namespace `name` (creating it with `ip netns add` when it does not exist), turns
/// forwarding on and `lo` up in it and opens a request socket inside.
pub(crate) fn open(name: &str) -> Result<Namespace, String> {
    check_name(name)?;
    let mut created = false;
    let file = match File::open(path(name)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let out = Command::new("ip")
                .args(["netns", "add", name])
                .output()
                .map_err(|e| format!("running `ip netns add {name}`: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "`ip netns add {name}` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            created = true;
            File::open(path(name))
                .map_err(|e| format!("opening {} after creating it: {e}", path(name).display()))?
        }
        Err(e) => return Err(format!("opening {}: {e}", path(name).display())),
    };
    let fd = OwnedFd::from(file);
    let socket = match prepare(&fd) {
        Ok(s) => s,
        Err(e) => {
            if created {
                let _ = delete(name);
            }
            return Err(format!("preparing network namespace {name}: {e}"));
        }
    };
    Ok(Namespace {
        name: name.to_string(),
        fd,
        socket,
        created,
    })
}

/// Deletes the named namespace (`ip netns del`); the kernel frees it once nothing holds it.
pub(crate) fn delete(name: &str) -> Result<(), String> {
    check_name(name)?;
    let out = Command::new("ip")
        .args(["netns", "del", name])
        .output()
        .map_err(|e| format!("running `ip netns del {name}`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip netns del {name}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Opens a handle on the calling thread's own network namespace (where the backend runs:
/// VXLAN devices are created there, released tenant ports go back there).
pub(crate) fn current() -> Result<OwnedFd, String> {
    File::open("/proc/thread-self/ns/net")
        .map(OwnedFd::from)
        .map_err(|e| format!("opening this thread's network namespace: {e}"))
}

/// In a thread of its own that enters `fd`: forwarding on, `lo` up, and a request socket.
fn prepare(fd: &OwnedFd) -> Result<NlSocket, String> {
    let fd = fd
        .try_clone()
        .map_err(|e| format!("duplicating the namespace handle: {e}"))?;
    std::thread::Builder::new()
        .name("evpnd-dp-netns".into())
        .spawn(move || -> Result<NlSocket, String> {
            rustix::thread::move_into_link_name_space(
                fd.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(|e| format!("entering it (setns): {e}"))?;
            for sysctl in FORWARDING {
                std::fs::write(sysctl, b"1").map_err(|e| format!("writing {sysctl}: {e}"))?;
            }
            let mut socket =
                NlSocket::request_socket().map_err(|e| format!("netlink socket: {e}"))?;
            // The loopback device is always ifindex 1 in a namespace.
            socket
                .request(netdev::set_up(1), 0)
                .map_err(|e| format!("bringing lo up: {e}"))?;
            Ok(socket)
        })
        .map_err(|e| format!("starting a thread: {e}"))?
        .join()
        .map_err(|_| "the namespace thread panicked".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_path_components() {
        assert!(check_name("h1-red").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
