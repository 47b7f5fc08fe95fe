//! The PMSI_TUNNEL attribute (RFC 6514 §5), as EVPN uses it for BUM traffic (RFC 7432 §11.2,
//! RFC 8365 §9).

use crate::reader::Reader;
use crate::types::Label;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// PMSI tunnel types (RFC 6514 §5, RFC 7432 §11.2).
pub mod pmsi_type {
    /// No tunnel information present.
    pub const NO_TUNNEL: u8 = 0;
    /// Ingress replication: the tunnel identifier is the unicast address of the endpoint.
    pub const INGRESS_REPLICATION: u8 = 6;
}

/// The tunnel of a PMSI_TUNNEL attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PmsiTunnelId {
    /// Ingress replication to this endpoint (type 6), the form EVPN/VXLAN uses (RFC 8365 §9).
    IngressReplication(IpAddr),
    /// Any other tunnel type, identifier kept as bytes.
    Other {
        /// Tunnel type (never 6).
        tunnel_type: u8,
        /// Tunnel identifier.
        id: Vec<u8>,
    },
}

/// PMSI_TUNNEL (RFC 6514 §5): how to reach the originator for BUM traffic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PmsiTunnel {
    /// Flags (bit 0x01: leaf information required).
    pub flags: u8,
    /// MPLS label or, for VXLAN, the VNI (RFC 8365 §5.1.3).
    pub label: Label,
    /// The tunnel.
    pub tunnel: PmsiTunnelId,
}

impl PmsiTunnel {
    /// Ingress replication to `endpoint` for `vni` (RFC 8365 §9).
    pub fn ingress_replication(endpoint: IpAddr, label: Label) -> Self {
        PmsiTunnel {
            flags: 0,
            label,
            tunnel: PmsiTunnelId::IngressReplication(endpoint),
        }
    }

    /// The tunnel type number.
    pub fn tunnel_type(&self) -> u8 {
        match &self.tunnel {
            PmsiTunnelId::IngressReplication(_) => pmsi_type::INGRESS_REPLICATION,
            PmsiTunnelId::Other { tunnel_type, .. } => *tunnel_type,
        }
    }
}

/// Appends the value of a PMSI_TUNNEL attribute (RFC 6514 §5).
pub(super) fn encode_pmsi(p: &PmsiTunnel, out: &mut Vec<u8>) {
    out.push(p.flags);
    out.push(p.tunnel_type());
    out.extend_from_slice(&p.label.to_bytes());
    match &p.tunnel {
        PmsiTunnelId::IngressReplication(IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
        PmsiTunnelId::IngressReplication(IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
        PmsiTunnelId::Other { id, .. } => out.extend_from_slice(id),
    }
}

pub(super) fn decode_pmsi(v: &mut Reader<'_>) -> Result<PmsiTunnel, String> {
    let len = v.remaining();
    let (Some(flags), Some(tunnel_type), Some(label)) = (v.u8(), v.u8(), v.u24()) else {
        return Err(format!("PMSI_TUNNEL length {len} (at least 5)"));
    };
    let id = v.take_rest();
    let tunnel = if tunnel_type == pmsi_type::INGRESS_REPLICATION {
        match id.len() {
            4 => PmsiTunnelId::IngressReplication(IpAddr::V4(Ipv4Addr::new(
                id[0], id[1], id[2], id[3],
            ))),
            16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(id);
                PmsiTunnelId::IngressReplication(IpAddr::V6(Ipv6Addr::from(b)))
            }
            n => {
                return Err(format!(
                    "ingress replication tunnel identifier of {n} bytes (expected 4 or 16)"
                ))
            }
        }
    } else {
        PmsiTunnelId::Other {
            tunnel_type,
            id: id.to_vec(),
        }
    };
    Ok(PmsiTunnel {
        flags,
        label: Label::from_raw(label),
        tunnel,
    })
}
