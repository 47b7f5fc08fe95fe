//! BGP capabilities (RFC 5492) carried in the OPEN message.

use crate::error::Malformation;
use crate::reader::Reader;
use crate::types::{Afi, Family, Safi};

/// Capability codes (IANA "Capability Codes").
pub mod cap_code {
    /// Multiprotocol extensions (RFC 4760 §8).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// BGP Role (RFC 9234 §4.1).
    pub const ROLE: u8 = 9;
    /// Graceful restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// 4-octet AS numbers (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced route refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// Long-lived graceful restart (RFC 9494).
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    /// FQDN (draft-walton-bgp-hostname-capability).
    pub const FQDN: u8 = 73;
}

/// True for the capability codes this codec decodes into a typed [`Capability`]; a
/// [`Capability::Unknown`] never carries one of them (it would not decode back to itself).
pub fn is_typed_code(code: u8) -> bool {
    use cap_code::*;
    matches!(
        code,
        MULTIPROTOCOL
            | ROUTE_REFRESH
            | EXTENDED_MESSAGE
            | ROLE
            | GRACEFUL_RESTART
            | FOUR_OCTET_AS
            | ADD_PATH
            | ENHANCED_ROUTE_REFRESH
            | LONG_LIVED_GRACEFUL_RESTART
            | FQDN
    )
}

/// Per-family graceful restart state (RFC 4724 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// Forwarding state for the family was preserved across the restart (F bit).
    pub forwarding_preserved: bool,
}

/// The graceful restart capability (RFC 4724 §3, RFC 8538 §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// Restart State (R bit): the sender has restarted.
    pub restarting: bool,
    /// Graceful Notification (N bit, RFC 8538).
    pub notification: bool,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// Families for which the sender preserves forwarding state.
    pub families: Vec<GracefulRestartFamily>,
}

/// ADD-PATH send/receive mode (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddPathMode {
    /// Can receive multiple paths (1).
    Receive = 1,
    /// Can send multiple paths (2).
    Send = 2,
    /// Both (3).
    Both = 3,
}

impl AddPathMode {
    /// True if this mode includes receiving.
    pub fn receives(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }

    /// True if this mode includes sending.
    pub fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

/// One family of the ADD-PATH capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddPathFamily {
    /// The family.
    pub family: Family,
    /// Send/receive mode.
    pub mode: AddPathMode,
}

/// One family of the long-lived graceful restart capability (RFC 9494 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LlgrFamily {
    /// The family.
    pub family: Family,
    /// Flags (0x80: forwarding state preserved).
    pub flags: u8,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// A BGP Role (RFC 9234 §4.1, IANA "BGP Role Value"): the sender's side of the peering
/// relationship. Any octet is kept: an unassigned value is not a decoding error but a role
/// that corresponds to none (RFC 9234 §4.2, decided by the session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BgpRole(pub u8);

impl BgpRole {
    /// Provider (0).
    pub const PROVIDER: BgpRole = BgpRole(0);
    /// Route server (1).
    pub const RS: BgpRole = BgpRole(1);
    /// Route server client (2).
    pub const RS_CLIENT: BgpRole = BgpRole(2);
    /// Customer (3).
    pub const CUSTOMER: BgpRole = BgpRole(3);
    /// Peer, that is lateral peer (4).
    pub const PEER: BgpRole = BgpRole(4);

    /// Stable name, as used in JSON: `provider`, `rs`, `rs-client`, `customer`, `peer`, or
    /// `unassigned` for the values 5..=255.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "provider",
            1 => "rs",
            2 => "rs-client",
            3 => "customer",
            4 => "peer",
            _ => "unassigned",
        }
    }
}

/// A capability advertised in OPEN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol: the sender speaks this family.
    Multiprotocol(Family),
    /// Route refresh.
    RouteRefresh,
    /// Extended message (up to 65535 bytes).
    ExtendedMessage,
    /// BGP Role (RFC 9234 §4.1).
    Role(BgpRole),
    /// Graceful restart.
    GracefulRestart(GracefulRestart),
    /// 4-octet AS support, with the sender's AS.
    FourOctetAs(u32),
    /// ADD-PATH.
    AddPath(Vec<AddPathFamily>),
    /// Enhanced route refresh.
    EnhancedRouteRefresh,
    /// Long-lived graceful restart.
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// Host and domain name of the sender.
    Fqdn {
        /// Host name.
        hostname: Vec<u8>,
        /// Domain name.
        domain: Vec<u8>,
    },
    /// Any other capability, kept as bytes (RFC 5492 §3: unknown capabilities are ignored,
    /// never an error).
    Unknown {
        /// Capability code.
        code: u8,
        /// Value.
        value: Vec<u8>,
    },
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        use cap_code::*;
        match self {
            Capability::Multiprotocol(_) => MULTIPROTOCOL,
            Capability::RouteRefresh => ROUTE_REFRESH,
            Capability::ExtendedMessage => EXTENDED_MESSAGE,
            Capability::Role(_) => ROLE,
            Capability::GracefulRestart(_) => GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => FOUR_OCTET_AS,
            Capability::AddPath(_) => ADD_PATH,
            Capability::EnhancedRouteRefresh => ENHANCED_ROUTE_REFRESH,
            Capability::LongLivedGracefulRestart(_) => LONG_LIVED_GRACEFUL_RESTART,
            Capability::Fqdn { .. } => FQDN,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Stable name, as used in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Capability::Multiprotocol(_) => "multiprotocol",
            Capability::RouteRefresh => "route-refresh",
            Capability::ExtendedMessage => "extended-message",
            Capability::Role(_) => "role",
            Capability::GracefulRestart(_) => "graceful-restart",
            Capability::FourOctetAs(_) => "four-octet-as",
            Capability::AddPath(_) => "add-path",
            Capability::EnhancedRouteRefresh => "enhanced-route-refresh",
            Capability::LongLivedGracefulRestart(_) => "long-lived-graceful-restart",
            Capability::Fqdn { .. } => "fqdn",
            Capability::Unknown { .. } => "unknown",
        }
    }

    /// Appends `code | length | value`. Values longer than 255 bytes are cut to fit (only an
    /// absurd FQDN or unknown value could be); [`crate::message::validate_open`] refuses them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code());
        let len_at = out.len();
        out.push(0);
        let fam = |out: &mut Vec<u8>, f: &Family| {
            out.extend_from_slice(&f.afi.0.to_be_bytes());
            out.push(f.safi.0);
        };
        match self {
            Capability::Multiprotocol(f) => {
                out.extend_from_slice(&f.afi.0.to_be_bytes());
                out.push(0);
                out.push(f.safi.0);
            }
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh => {}
            Capability::GracefulRestart(gr) => {
                let flags = (u16::from(gr.restarting) << 15)
                    | (u16::from(gr.notification) << 14)
                    | (gr.restart_time & 0x0fff);
                out.extend_from_slice(&flags.to_be_bytes());
                for f in &gr.families {
                    fam(out, &f.family);
                    out.push(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::Role(role) => out.push(role.0),
            Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Capability::AddPath(fs) => {
                for f in fs {
                    fam(out, &f.family);
                    out.push(f.mode as u8);
                }
            }
            Capability::LongLivedGracefulRestart(fs) => {
                for f in fs {
                    fam(out, &f.family);
                    out.push(f.flags);
                    let t = f.stale_time.to_be_bytes();
                    out.extend_from_slice(&t[1..]);
                }
            }
            Capability::Fqdn { hostname, domain } => {
                out.push(hostname.len().min(255) as u8);
                out.extend_from_slice(&hostname[..hostname.len().min(255)]);
                out.push(domain.len().min(255) as u8);
                out.extend_from_slice(&domain[..domain.len().min(255)]);
            }
            Capability::Unknown { value, .. } => out.extend_from_slice(value),
        }
        let len = out.len() - len_at - 1;
        if len > 255 {
            out.truncate(len_at + 1 + 255);
        }
        out[len_at] = len.min(255) as u8;
    }
}

/// Decodes the capabilities inside one Capabilities optional parameter.
pub(crate) fn decode_capabilities(
    r: &mut Reader<'_>,
    out: &mut Vec<Capability>,
) -> Result<(), Malformation> {
    while !r.is_empty() {
        let at = r.offset();
        let (Some(code), Some(len)) = (r.u8(), r.u8()) else {
            return Err(Malformation::new(
                at,
                "capability",
                "truncated capability header",
            ));
        };
        let mut v = r.sub(usize::from(len)).ok_or_else(|| {
            Malformation::new(
                at + 1,
                "capability.length",
                format!("capability length {len} overruns the parameter"),
            )
        })?;
        out.push(decode_one(code, &mut v).map_err(|why| {
            Malformation::new(at, "capability", format!("capability {code}: {why}"))
        })?);
    }
    Ok(())
}

fn read_family(v: &mut Reader<'_>) -> Option<Family> {
    Some(Family::new(Afi(v.u16()?), Safi(v.u8()?)))
}

fn decode_one(code: u8, v: &mut Reader<'_>) -> Result<Capability, String> {
    use cap_code::*;
    let len = v.remaining();
    let bad_len = |want: &str| format!("length {len} (expected {want})");
    let cap = match code {
        MULTIPROTOCOL => {
            if len != 4 {
                return Err(bad_len("4"));
            }
            let afi = v.u16().ok_or_else(|| bad_len("4"))?;
            let _reserved = v.u8();
            let safi = v.u8().ok_or_else(|| bad_len("4"))?;
            Capability::Multiprotocol(Family::new(Afi(afi), Safi(safi)))
        }
        ROUTE_REFRESH | EXTENDED_MESSAGE | ENHANCED_ROUTE_REFRESH => {
            if len != 0 {
                return Err(bad_len("0"));
            }
            match code {
                ROUTE_REFRESH => Capability::RouteRefresh,
                EXTENDED_MESSAGE => Capability::ExtendedMessage,
                _ => Capability::EnhancedRouteRefresh,
            }
        }
        GRACEFUL_RESTART => {
            if len < 2 || (len - 2) % 4 != 0 {
                return Err(bad_len("2 + 4n"));
            }
            let flags = v.u16().ok_or_else(|| bad_len("2 + 4n"))?;
            let mut families = Vec::with_capacity((len - 2) / 4);
            while !v.is_empty() {
                let family = read_family(v).ok_or_else(|| bad_len("2 + 4n"))?;
                let f = v.u8().ok_or_else(|| bad_len("2 + 4n"))?;
                families.push(GracefulRestartFamily {
                    family,
                    forwarding_preserved: f & 0x80 != 0,
                });
            }
            Capability::GracefulRestart(GracefulRestart {
                restarting: flags & 0x8000 != 0,
                notification: flags & 0x4000 != 0,
                restart_time: flags & 0x0fff,
                families,
            })
        }
        ROLE => {
            // RFC 9234 §4.1 defines a length of 1 and says nothing of other lengths: such a
            // capability is malformed like any other of the wrong length here.
            let role = v.u8().filter(|_| len == 1).ok_or_else(|| bad_len("1"))?;
            Capability::Role(BgpRole(role))
        }
        FOUR_OCTET_AS => {
            if len != 4 {
                return Err(bad_len("4"));
            }
            Capability::FourOctetAs(v.u32().ok_or_else(|| bad_len("4"))?)
        }
        ADD_PATH => {
            if len == 0 || len % 4 != 0 {
                return Err(bad_len("a non-zero multiple of 4"));
            }
            let mut fs = Vec::with_capacity(len / 4);
            while !v.is_empty() {
                let family = read_family(v).ok_or_else(|| bad_len("4n"))?;
                let mode = match v.u8() {
                    Some(1) => AddPathMode::Receive,
                    Some(2) => AddPathMode::Send,
                    Some(3) => AddPathMode::Both,
                    other => {
                        return Err(format!("invalid send/receive value {}", other.unwrap_or(0)))
                    }
                };
                fs.push(AddPathFamily { family, mode });
            }
            Capability::AddPath(fs)
        }
        LONG_LIVED_GRACEFUL_RESTART => {
            if len % 7 != 0 {
                return Err(bad_len("a multiple of 7"));
            }
            let mut fs = Vec::with_capacity(len / 7);
            while !v.is_empty() {
                let family = read_family(v).ok_or_else(|| bad_len("7n"))?;
                let flags = v.u8().ok_or_else(|| bad_len("7n"))?;
                let stale_time = v.u24().ok_or_else(|| bad_len("7n"))?;
                fs.push(LlgrFamily {
                    family,
                    flags,
                    stale_time,
                });
            }
            Capability::LongLivedGracefulRestart(fs)
        }
        FQDN => {
            let hl = v.u8().ok_or("missing host name length")?;
            let hostname = v
                .take(usize::from(hl))
                .ok_or("host name overruns the capability")?
                .to_vec();
            let dl = v.u8().ok_or("missing domain name length")?;
            let domain = v
                .take(usize::from(dl))
                .ok_or("domain name overruns the capability")?
                .to_vec();
            if !v.is_empty() {
                return Err("trailing bytes after the domain name".into());
            }
            Capability::Fqdn { hostname, domain }
        }
        _ => Capability::Unknown {
            code,
            value: v.take_rest().to_vec(),
        },
    };
    Ok(cap)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Vec<Capability>, Malformation> {
        let mut out = Vec::new();
        decode_capabilities(&mut Reader::new(bytes, 0), &mut out).map(|()| out)
    }

    /// RFC 9234 §4.1: code 9, length 1, the role; every value is kept.
    #[test]
    fn bgp_role_layout() {
        for (role, name) in [
            (BgpRole::PROVIDER, "provider"),
            (BgpRole::RS, "rs"),
            (BgpRole::RS_CLIENT, "rs-client"),
            (BgpRole::CUSTOMER, "customer"),
            (BgpRole::PEER, "peer"),
            (BgpRole(5), "unassigned"),
        ] {
            let c = Capability::Role(role);
            let mut out = Vec::new();
            c.encode(&mut out);
            assert_eq!(out, [9, 1, role.0]);
            assert_eq!(decode(&out).unwrap(), vec![c]);
            assert_eq!(role.name(), name);
        }
        assert!(is_typed_code(cap_code::ROLE));
        for bad in [&[9u8, 0][..], &[9, 2, 3, 3]] {
            let m = decode(bad).unwrap_err();
            assert!(m.reason.contains("expected 1"), "{m}");
        }
    }
}
