//! Our OPEN and the peer's: building ours from the configuration (RFC 4271 §4.2, capabilities
//! RFC 5492), validating the peer's (RFC 4271 §6.2, RFC 6793, RFC 6286, BGP Roles RFC 9234
//! §4.2) and negotiating what both announced, then OpenSent → OpenConfirm (RFC 4271 §8.2.2).

use super::{ConnId, Ending, Negotiated, Session, State};
use crate::config::PeerConfig;
use crate::role::roles_correspond;
use evpnd_wire::capability::{
    AddPathFamily, AddPathMode, BgpRole, Capability, GracefulRestart, GracefulRestartFamily,
};
use evpnd_wire::error::{code, subcode};
use evpnd_wire::types::AS_TRANS;
use evpnd_wire::{CodecContext, Family, Notification, Open};
use std::time::{Duration, Instant};

/// An OPEN Message Error NOTIFICATION (RFC 4271 §6.2) with subcode `sub`, and its text.
fn open_error(sub: u8, data: Vec<u8>, text: String) -> (Notification, String) {
    (
        Notification {
            code: code::OPEN_MESSAGE,
            subcode: sub,
            data,
        },
        text,
    )
}

/// The peer's BGP Role (RFC 9234 §4.2): `Ok(None)` without a BGP Role capability, the role
/// when every BGP Role capability carries the same value (repeats count as one), and the
/// Role Mismatch text when they differ.
fn peer_role(peer: &Open) -> Result<Option<BgpRole>, String> {
    let mut roles = peer.capabilities.iter().filter_map(|c| match c {
        Capability::Role(r) => Some(*r),
        _ => None,
    });
    let Some(first) = roles.next() else {
        return Ok(None);
    };
    match roles.find(|r| *r != first) {
        Some(other) => Err(format!(
            "OPEN: BGP Role capabilities with different values ({} and {})",
            first.name(),
            other.name()
        )),
        None => Ok(Some(first)),
    }
}

/// Checks the peer's BGP Role against ours (RFC 9234 §4.2): with a role in effect
/// ([`PeerConfig::local_role`]), a peer's role must form an allowed pair with it, and in
/// strict mode the peer must announce one. Returns the peer's role; a refusal is Role
/// Mismatch (2/11) without data. Conflicting capabilities are refused whether or not we have
/// a role: RFC 9234 §4.2 asks it of every speaker that receives them.
fn check_roles(
    config: &PeerConfig,
    peer: &Open,
) -> Result<Option<BgpRole>, (Notification, String)> {
    let mismatch = |text| open_error(subcode::ROLE_MISMATCH, Vec::new(), text);
    let theirs = peer_role(peer).map_err(mismatch)?;
    let Some(ours) = config.local_role() else {
        return Ok(theirs);
    };
    match theirs {
        Some(t) if !roles_correspond(ours, t) => Err(mismatch(format!(
            "OPEN: peer's BGP Role {} does not correspond to ours ({}; RFC 9234 §4.2)",
            t.name(),
            ours.name()
        ))),
        None if config.strict_role => Err(mismatch(format!(
            "OPEN: no BGP Role capability from the peer and our role {} is strict (RFC 9234 §4.2)",
            ours.name()
        ))),
        _ => Ok(theirs),
    }
}

/// Validates the peer's OPEN against the configuration (RFC 4271 §6.2, RFC 6793, RFC 6286,
/// RFC 9234 §4.2) and negotiates the capabilities (RFC 5492). The codec already checked the
/// version, hold time 1–2, BGP identifier 0 and the optional parameter types.
fn negotiate(
    config: &PeerConfig,
    local: &Open,
    peer: &Open,
) -> Result<Negotiated, (Notification, String)> {
    // Peer AS (RFC 4271 §6.2, RFC 6793 §4.1).
    let cap_as = peer.capabilities.iter().find_map(|c| match c {
        Capability::FourOctetAs(a) => Some(*a),
        _ => None,
    });
    if let Some(a) = cap_as {
        if a <= u32::from(u16::MAX) && u32::from(peer.my_as) != a {
            return Err(open_error(
                subcode::BAD_PEER_AS,
                Vec::new(),
                format!(
                    "OPEN: My Autonomous System {} disagrees with the 4-octet AS capability {a}",
                    peer.my_as
                ),
            ));
        }
    }
    let peer_asn = peer.asn();
    if config.accept_any_external_asn {
        if peer_asn == config.local_asn {
            return Err(open_error(
                subcode::BAD_PEER_AS,
                Vec::new(),
                format!("OPEN: peer AS {peer_asn} is our own AS; only external ASes are accepted"),
            ));
        }
    } else if peer_asn != config.remote_asn {
        let how = if cap_as.is_none() && peer.my_as == AS_TRANS {
            " (AS_TRANS without the 4-octet AS capability)"
        } else {
            ""
        };
        return Err(open_error(
            subcode::BAD_PEER_AS,
            Vec::new(),
            format!(
                "OPEN: peer AS {peer_asn}{how}, configured remote AS {}",
                config.remote_asn
            ),
        ));
    }
    // BGP identifier (RFC 6286 §2.2): must differ from ours within an AS.
    if !config.is_external() && peer.bgp_id == config.router_id {
        return Err(open_error(
            subcode::BAD_BGP_IDENTIFIER,
            Vec::new(),
            format!(
                "OPEN: BGP identifier {} equals ours on an internal session",
                peer.bgp_id
            ),
        ));
    }
    let peer_role = check_roles(config, peer)?;
    // Families (RFC 4760 §8).
    let implicit = |fs: Vec<Family>| {
        if fs.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            fs
        }
    };
    let ours = implicit(local.families().collect());
    let theirs = implicit(peer.families().collect());
    let mut families: Vec<Family> = Vec::new();
    for f in &ours {
        if theirs.contains(f) && !families.contains(f) {
            families.push(*f);
        }
    }
    if families.is_empty() {
        let mut data = Vec::new();
        for f in &ours {
            Capability::Multiprotocol(*f).encode(&mut data);
        }
        let list = |fs: &[Family]| fs.iter().map(Family::name).collect::<Vec<_>>().join(", ");
        return Err(open_error(
            subcode::UNSUPPORTED_CAPABILITY,
            data,
            format!(
                "OPEN: no address family in common (ours: {}; peer's: {})",
                list(&ours),
                list(&theirs)
            ),
        ));
    }
    let both = |code: u8| local.has_capability(code) && peer.has_capability(code);
    use evpnd_wire::capability::cap_code;
    let four_octet_as = both(cap_code::FOUR_OCTET_AS);
    let extended_message = both(cap_code::EXTENDED_MESSAGE);
    let route_refresh = both(cap_code::ROUTE_REFRESH);
    let enhanced_route_refresh = route_refresh && both(cap_code::ENHANCED_ROUTE_REFRESH);
    // ADD-PATH (RFC 7911 §4): per family and direction.
    let add_path_modes = |o: &Open| {
        o.capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::AddPath(fs) => Some(fs.clone()),
                _ => None,
            })
            .flatten()
            .collect::<Vec<_>>()
    };
    let (lap, pap) = (add_path_modes(local), add_path_modes(peer));
    let mode_of =
        |list: &[AddPathFamily], f: Family| list.iter().find(|a| a.family == f).map(|a| a.mode);
    let mut add_path_rx = Vec::new();
    let mut add_path_tx = Vec::new();
    for f in &families {
        if let (Some(l), Some(p)) = (mode_of(&lap, *f), mode_of(&pap, *f)) {
            if l.receives() && p.sends() {
                add_path_rx.push(*f);
            }
            if l.sends() && p.receives() {
                add_path_tx.push(*f);
            }
        }
    }
    let peer_graceful_restart = peer.capabilities.iter().find_map(|c| match c {
        Capability::GracefulRestart(gr) => Some(gr.clone()),
        _ => None,
    });
    let hold_time = local.hold_time.min(peer.hold_time);
    let keepalive = Duration::from_secs(u64::from(hold_time)) / 3;
    let ctx = |add_path: Vec<Family>| CodecContext {
        four_octet_as,
        extended_message,
        add_path,
        external_peer: config.is_external(),
    };
    Ok(Negotiated {
        peer_asn,
        peer_router_id: peer.bgp_id,
        hold_time,
        keepalive,
        families,
        four_octet_as,
        extended_message,
        route_refresh,
        enhanced_route_refresh,
        rx: ctx(add_path_rx.clone()),
        tx: ctx(add_path_tx.clone()),
        add_path_rx,
        add_path_tx,
        peer_graceful_restart,
        peer_role,
        peer_open: peer.clone(),
        local_open: local.clone(),
    })
}

impl Session {
    /// Builds our OPEN (RFC 4271 §4.2) with the capabilities of the configuration.
    pub(super) fn build_open(&self) -> Open {
        let mut families: Vec<Family> = Vec::new();
        for f in &self.config.families {
            if !families.contains(f) {
                families.push(*f);
            }
        }
        let mut caps: Vec<Capability> = families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
        caps.push(Capability::FourOctetAs(self.config.local_asn));
        caps.push(Capability::ExtendedMessage);
        // RFC 9234 §4.1: on eBGP sessions with a configured role only.
        if let Some(role) = self.config.local_role() {
            caps.push(Capability::Role(role));
        }
        // ADD-PATH (RFC 7911 §4): "receive" for the configured families we also announce;
        // one capability listing them all, each family once.
        let mut add_path: Vec<AddPathFamily> = Vec::new();
        for f in &self.config.add_path_receive {
            if families.contains(f) && !add_path.iter().any(|a| a.family == *f) {
                add_path.push(AddPathFamily {
                    family: *f,
                    mode: AddPathMode::Receive,
                });
            }
        }
        if !add_path.is_empty() {
            caps.push(Capability::AddPath(add_path));
        }
        if let Some(gr) = &self.config.graceful_restart {
            caps.push(Capability::GracefulRestart(GracefulRestart {
                restarting: self.restarting,
                notification: false,
                restart_time: gr.restart_time.min(0x0fff),
                families: families
                    .iter()
                    .map(|f| GracefulRestartFamily {
                        family: *f,
                        forwarding_preserved: self.restarting,
                    })
                    .collect(),
            }));
        }
        Open::new(
            self.config.local_asn,
            self.config.hold_time,
            self.config.router_id,
            caps,
        )
    }

    /// OpenSent + a valid OPEN (RFC 4271 §8.2.2): validate, resolve a collision, answer with
    /// KEEPALIVE and go OpenConfirm.
    pub(super) fn on_open(&mut self, id: ConnId, open: Open, now: Instant) {
        let Some(idx) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let neg = match negotiate(&self.config, &self.conns[idx].local_open, &open) {
            Ok(neg) => neg,
            Err((n, text)) => {
                self.end_conn(id, Ending::sending(n, text), now);
                return;
            }
        };
        if !self.resolve_collision(id, open.bgp_id, now) {
            return;
        }
        let Some(c) = self.conns.iter_mut().find(|c| c.id == id) else {
            return;
        };
        c.ctx = neg.rx.clone();
        c.state = State::OpenConfirm;
        if neg.hold_time == 0 {
            c.hold_at = None;
            c.keepalive_at = None;
        } else {
            c.hold_at = now.checked_add(Duration::from_secs(u64::from(neg.hold_time)));
        }
        c.neg = Some(neg);
        // The KEEPALIVE that confirms the OPEN; also arms the keepalive timer.
        self.send_keepalive(id, now);
    }
}
