//! Graceful restart, restarting-speaker role (RFC 4724 §4.1): after an unclean stop, evpnd's
//! OPEN carries the Restart State (R) bit and it defers advertising until the peer's
//! End-of-RIB. The peer is a raw BGP speaker, so the OPEN bits are read off the wire.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, TempDir};
use evpnd_lab::RawPeer;
use evpnd_wire::capability::{GracefulRestart, GracefulRestartFamily};
use evpnd_wire::{Capability, Family, Message, Update};
use std::net::Ipv4Addr;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn gr_of(d: &RawPeer) -> GracefulRestart {
    let open = d.peer_open.as_ref().expect("no OPEN from evpnd");
    open.capabilities
        .iter()
        .find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        })
        .expect("evpnd did not announce graceful restart")
}

#[test]
fn unclean_restart_sets_r_bit_and_defers_until_end_of_rib() {
    let state = TempDir::new("gr-state").unwrap();
    let mut peer = RawPeer::listen(
        "gr-peer",
        Ipv4Addr::new(127, 0, 0, 9),
        65002,
        Ipv4Addr::new(198, 19, 0, 9),
    )
    .unwrap();
    peer.extra_capabilities
        .push(Capability::GracefulRestart(GracefulRestart {
            restarting: false,
            notification: false,
            restart_time: 120,
            families: vec![GracefulRestartFamily {
                family: Family::L2VPN_EVPN,
                forwarding_preserved: true,
            }],
        }));
    let config = format!(
        "asn = 65001\nrouter-id = \"198.19.0.8\"\n[bgp]\nlisten = \"none\"\nconnect-retry = 0.2\n\
         state-dir = \"{}\"\nselect-defer-time = 30\n\
         [[neighbor]]\naddress = \"127.0.0.9\"\nremote-asn = 65002\nport = {}\nlocal-address = \"127.0.0.8\"\n\
         graceful-restart = true\nrestart-time = 90\n\
         [[static-route]]\ntype = \"mac-ip\"\nrd = \"198.19.0.8:100\"\nroute-targets = [\"65000:100\"]\nvni = 100\n\
         mac = \"02:00:00:00:00:08\"\n",
        state.path().display(),
        peer.port()
    );
    let mut d = Daemon::start("gr-restarting", &config);

    // First start: no R bit; the route comes without waiting for our End-of-RIB.
    peer.accept_session(T).unwrap();
    let gr = gr_of(&peer);
    assert!(!gr.restarting, "R bit set on a first start");
    assert_eq!(gr.restart_time, 90);
    peer.wait(T, |p| !p.routes.is_empty())
        .expect("route not advertised on a first start");

    // Crash: the marker stays behind, so the next start is a restart.
    d.kill(libc::SIGKILL);
    peer.wait(T, |p| p.closed)
        .expect("peer did not see the connection drop");
    d.spawn();
    peer.accept_session(T).unwrap();
    let gr = gr_of(&peer);
    assert!(
        gr.restarting,
        "R bit missing after an unclean restart (RFC 4724 §3)"
    );

    // Deferral: nothing is advertised before our End-of-RIB arrives...
    std::thread::sleep(Duration::from_secs(2));
    peer.drain();
    assert!(
        peer.routes.is_empty(),
        "routes advertised before the peer's End-of-RIB: {:?}",
        peer.routes.keys().collect::<Vec<_>>()
    );
    // ...and everything follows it.
    peer.send(&Message::Update(Update::end_of_rib(Family::L2VPN_EVPN)))
        .unwrap();
    peer.wait(T, |p| {
        !p.routes.is_empty() && p.end_of_rib.contains(&Family::L2VPN_EVPN)
    })
    .unwrap_or_else(|e| panic!("{e}: nothing advertised after End-of-RIB\n{}", d.log_text()));

    // A clean stop removes the marker: the next start is not a restart.
    d.kill(libc::SIGTERM);
    peer.wait(T, |p| p.closed).unwrap();
    d.spawn();
    peer.accept_session(T).unwrap();
    assert!(!gr_of(&peer).restarting, "R bit set after a clean stop");
}
