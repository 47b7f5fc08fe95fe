//! Connection collisions (RFC 4271 §6.8): two connections to one peer. The one opened by the
//! speaker with the higher BGP identifier survives, or on equal identifiers the one opened by
//! the speaker with the larger AS (RFC 6286 §2.3); an Established connection always wins,
//! unless the peer advertised graceful restart and opens a new connection, which proves it
//! restarted (RFC 4724 §4.2).

use super::{cease, peer_restarts_gracefully, CloseAction, ConnId, Ending, Session, State};
use crate::config::PeerConfig;
use std::net::Ipv4Addr;
use std::time::Instant;

/// The BGP speaker whose connection survives a collision is the one with the higher BGP
/// identifier (RFC 4271 §6.8), or on equal identifiers the larger AS (RFC 6286 §2.3): true when
/// that is us.
fn local_wins_collision(config: &PeerConfig, peer_id: Ipv4Addr) -> bool {
    let (l, r) = (u32::from(config.router_id), u32::from(peer_id));
    l > r || (l == r && config.local_asn > config.remote_asn)
}

impl Session {
    /// A new incoming connection while one is Established: refused (RFC 4271 §6.8: the
    /// Established connection wins), unless the peer advertised graceful restart, whose new
    /// connection proves it restarted (RFC 4724 §4.2).
    pub(super) fn established_refuses_new_connection(&self) -> bool {
        match self.conns.iter().find(|c| c.state == State::Established) {
            Some(est) => est
                .neg
                .as_ref()
                .and_then(peer_restarts_gracefully)
                .is_none(),
            None => false,
        }
    }

    /// The peer opened the new connection `id`: an older connection it opened is abandoned,
    /// and an Established one means the peer restarted (RFC 4724 §4.2: close it, keep the new
    /// one; routes kept as stale).
    pub(super) fn replace_older_connections(&mut self, id: ConnId, now: Instant) {
        let older: Vec<(ConnId, State)> = self
            .conns
            .iter()
            .filter(|c| c.id != id && (!c.outgoing || c.state == State::Established))
            .map(|c| (c.id, c.state))
            .collect();
        for (old, state) in older {
            if state == State::Established {
                self.end_conn(
                    old,
                    Ending {
                        sent: None,
                        received: None,
                        text: "the peer opened a new connection: it restarted (RFC 4724 §4.2)"
                            .into(),
                        action: CloseAction::Close,
                    },
                    now,
                );
            } else {
                self.end_conn(
                    old,
                    Ending::sending(
                        cease(cease::CONNECTION_COLLISION_RESOLUTION),
                        "replaced by a newer connection from the peer",
                    ),
                    now,
                );
            }
        }
    }

    /// The peer's OPEN (identifier `peer_id`) arrived on `id` while another connection's OPEN
    /// is in (RFC 4271 §6.8): closes the loser with Cease/Connection Collision Resolution (6/7).
    /// Returns false when the loser is `id` itself. An Established connection, or one opened
    /// in the same direction, always keeps its place.
    pub(super) fn resolve_collision(
        &mut self,
        id: ConnId,
        peer_id: Ipv4Addr,
        now: Instant,
    ) -> bool {
        let Some(this_outgoing) = self.conns.iter().find(|c| c.id == id).map(|c| c.outgoing) else {
            return false;
        };
        let Some(other) = self.conns.iter().find(|c| c.id != id && c.neg.is_some()) else {
            return true;
        };
        let loser = if other.state == State::Established || other.outgoing == this_outgoing {
            id
        } else if local_wins_collision(&self.config, peer_id) == this_outgoing {
            other.id
        } else {
            id
        };
        self.end_conn(
            loser,
            Ending::sending(
                cease(cease::CONNECTION_COLLISION_RESOLUTION),
                "connection collision resolution (RFC 4271 §6.8)",
            ),
            now,
        );
        loser != id
    }
}
