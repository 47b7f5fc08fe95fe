//! Graceful restart, restarting side (RFC 4724 §4.1): after an unclean stop that kept the
//! forwarding state, the node sets the Restart State bit towards its graceful-restart
//! neighbours and defers route selection and advertisement until each of them has sent
//! End-of-RIB for every negotiated family, or until the select-defer time runs out.

use crate::peer::PeerSlot;
use std::time::Instant;

/// The deferral in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deferral {
    /// When the select-defer time runs out.
    pub until: Instant,
    /// No configured neighbour has graceful restart, only peer groups do: the deferral waits
    /// for the first dynamic neighbour to join it (or the select-defer time), as a reflector
    /// whose clients all come from listen ranges must not advertise a partial table before
    /// any of them has sent its End-of-RIB.
    pub awaiting_first: bool,
}

/// True when every graceful-restart neighbour is Established and has sent End-of-RIB for each
/// family both sides negotiated; a neighbour whose OPEN carried no graceful restart capability
/// is not waited for (it will never send the marker with that meaning).
pub fn every_end_of_rib_in<'a>(mut peers: impl Iterator<Item = &'a PeerSlot>) -> bool {
    peers.all(|p| !waited_for(p))
}

/// True when a restart still waits for this neighbour (see [`every_end_of_rib_in`]): it has
/// graceful restart and is not Established, or is and has not sent End-of-RIB for every
/// family while its OPEN carried the capability.
pub fn waited_for(p: &PeerSlot) -> bool {
    if !p.graceful_restart() {
        return false;
    }
    if !p.established {
        return true;
    }
    match p.session.negotiated() {
        Some(n) if n.peer_graceful_restart.is_some() => {
            !n.families.iter().all(|f| p.end_of_rib.contains(f))
        }
        _ => false,
    }
}

/// True when every neighbour is Established and has sent End-of-RIB for each family it
/// negotiated, graceful restart or not: the point from which the data plane holds what the
/// control plane knows after a start ([`evpnd_evpn::DataplaneIntent::Synced`]). With no
/// neighbour, at once.
pub fn every_end_of_rib_received<'a>(mut peers: impl Iterator<Item = &'a PeerSlot>) -> bool {
    peers.all(|p| {
        p.established
            && p.session
                .negotiated()
                .is_some_and(|n| n.families.iter().all(|f| p.end_of_rib.contains(f)))
    })
}
