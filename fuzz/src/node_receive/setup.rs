//! The [`Setup`]: the session context and the router around it, one byte per field at the
//! front of every input, and what follows from it (negotiated families, codec contexts, the
//! node's configuration).

use super::ops::byte;
use super::{pool_mac, vni_of, FAMILIES, OUR_ID, OUR_VTEP, PEER_ID, SETUP_LEN, VNIS};
use arbitrary::Unstructured;
use evpnd_bgp::config::{GracefulRestartConfig, MaxPrefix};
use evpnd_bgp::role::corresponding_role;
use evpnd_evpn::{Attachment, EngineConfig, EviConfig};
use evpnd_node::{EvpnConfig, NeighborConfig, NodeConfig};
use evpnd_wire::capability::{AddPathFamily, AddPathMode, BgpRole};
use evpnd_wire::{CodecContext, Family};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Hold times the peer may propose (RFC 4271 §4.2: 0 or at least 3).
const HOLD_TIMES: [u16; 5] = [90, 0, 3, 9, 240];

/// The families of [`FAMILIES`] whose bit is set in `bits`.
fn mask(bits: u8) -> Vec<Family> {
    FAMILIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, f)| *f)
        .collect()
}

/// The session context and the router around it, decoded from the first [`SETUP_LEN`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// eBGP (peer AS differs from ours).
    pub ebgp: bool,
    /// Our AS.
    pub local_asn: u32,
    /// The peer's AS.
    pub peer_asn: u32,
    /// The peer's OPEN carries the 4-octet AS capability (RFC 6793); a 2-octet session when not.
    pub peer_four_octet: bool,
    /// Families we configure (multiprotocol capability, RFC 4760 §8).
    pub our_families: Vec<Family>,
    /// Families the peer announces; empty: no multiprotocol capability at all (IPv4 implied).
    pub peer_families: Vec<Family>,
    /// Our `add_path_receive` (RFC 7911).
    pub add_path_receive: Vec<Family>,
    /// The peer's ADD-PATH capability entries.
    pub peer_add_path: Vec<AddPathFamily>,
    /// The neighbour is a route-reflector client (iBGP only, RFC 4456).
    pub rr_client: bool,
    /// Graceful restart configured on our side and announced by the peer (RFC 4724).
    pub graceful_restart: bool,
    /// The peer announces extended messages (RFC 8654).
    pub peer_extended_message: bool,
    /// The peer announces route refresh (RFC 2918).
    pub peer_route_refresh: bool,
    /// The peer announces enhanced route refresh (RFC 7313).
    pub peer_enhanced_refresh: bool,
    /// The driver never reports our bytes written (the send hold timer runs, RFC 9687).
    pub slow_reader: bool,
    /// A prefix limit of 6 EVPN routes (RFC 4486), restarting after 30 s.
    pub max_prefix: bool,
    /// The hold time the peer proposes.
    pub peer_hold_time: u16,
    /// EVIs of the engine (0: no engine).
    pub vnis: usize,
    /// Local endpoints at start.
    pub endpoints: Vec<Attachment>,
    /// Our BGP Role (RFC 9234 §3.1; eBGP only).
    pub role: Option<BgpRole>,
    /// The peer announces the role corresponding to ours (RFC 9234 §4.2).
    pub peer_role: Option<BgpRole>,
    /// Strict mode (RFC 9234 §4.2); only set when the peer announces its role.
    pub strict_role: bool,
}

impl Setup {
    /// Decodes the setup; every byte string is a valid setup (only some bits count):
    ///
    /// | byte | meaning |
    /// | --- | --- |
    /// | 0 | bit 0: eBGP |
    /// | 1 | bit 0: our AS is 4-octet (4200000001, else 65001) |
    /// | 2 | bit 0: the peer's OPEN carries the 4-octet AS capability; bit 1: with it, an eBGP peer's AS is 4-octet (4200000002, else 65002) |
    /// | 3 | our families, a mask of [`FAMILIES`] (0: EVPN) |
    /// | 4 | the peer's families, a mask of [`FAMILIES`]; bit 4: no multiprotocol capability (IPv4 implied). A family in common is added if there is none |
    /// | 5 | our `add_path_receive`, a mask of [`FAMILIES`] (only our families count) |
    /// | 6 | the peer's ADD-PATH mode per family of [`FAMILIES`], 2 bits each from bit 0 (0 none, 1 receive, 2 send, 3 both) |
    /// | 7 | bit 0: RR client (iBGP only); 1: graceful restart; 2: extended messages; 3: route refresh; 4: enhanced route refresh; 5: slow reader; 6: EVPN prefix limit |
    /// | 8 | the peer's hold time: index into 90, 0, 3, 9, 240 (modulo) |
    /// | 9 | EVIs: 0, 1 (VNI 100) or 2 (and 200), modulo 3 |
    /// | 10 | local endpoints at start: 0 to 3 (modulo 4); endpoint i has MAC i of the pool, IP 192.0.2.(i+1) when bit 2+i of byte 11 |
    /// | 11 | bits 0-1: endpoint i is sticky when bit i; bits 2-4: with an IP; bit 5: endpoints in VNI 200 when configured |
    /// | 12 | bits 0-2: our BGP Role on an eBGP session (RFC 9234; 1-5: provider, RS, RS-client, customer, peer; else none); bit 3: the peer announces the corresponding role; bit 4: strict mode (only with the peer's role) |
    pub fn from_bytes(b: &[u8; SETUP_LEN]) -> Setup {
        let bit = |byte: usize, n: u8| b[byte] & (1 << n) != 0;
        let ebgp = bit(0, 0);
        let peer_four_octet = bit(2, 0);
        // Without the 4-octet capability the peer's AS must fit in 2 octets (RFC 6793 §4.1);
        // on iBGP it is ours, so ours must fit too.
        let local_asn = if bit(1, 0) && (ebgp || peer_four_octet) {
            4_200_000_001
        } else {
            65001
        };
        let peer_asn = if !ebgp {
            local_asn
        } else if peer_four_octet && bit(2, 1) {
            4_200_000_002
        } else {
            65002
        };
        let mut our_families = mask(b[3]);
        if our_families.is_empty() {
            our_families.push(Family::L2VPN_EVPN);
        }
        let no_mp = bit(4, 4);
        let mut peer_families = if no_mp { Vec::new() } else { mask(b[4]) };
        let implied = if peer_families.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            peer_families.clone()
        };
        if !our_families.iter().any(|f| implied.contains(f)) {
            if no_mp {
                our_families.push(Family::IPV4_UNICAST);
            } else {
                peer_families.push(our_families[0]);
            }
        }
        // ADD-PATH receive only for our own families (the node refuses any other).
        let add_path_receive: Vec<Family> = mask(b[5])
            .into_iter()
            .filter(|f| our_families.contains(f))
            .collect();
        let peer_add_path = FAMILIES
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let mode = match (b[6] >> (2 * i)) & 3 {
                    1 => AddPathMode::Receive,
                    2 => AddPathMode::Send,
                    3 => AddPathMode::Both,
                    _ => return None,
                };
                Some(AddPathFamily { family: *f, mode })
            })
            .collect();
        let vnis = usize::from(b[9] % 3);
        let endpoints = if vnis == 0 {
            Vec::new()
        } else {
            let vni = if vnis == 2 && bit(11, 5) {
                VNIS[1]
            } else {
                VNIS[0]
            };
            (0..b[10] % 4)
                .map(|i| Attachment {
                    vni: vni_of(vni),
                    mac: pool_mac(i),
                    ip: bit(11, 2 + i).then(|| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i + 1))),
                    sticky: bit(11, i),
                    router: false,
                    static_binding: false,
                    port: None,
                })
                .collect()
        };
        let role = match b[12] & 7 {
            r @ 1..=5 if ebgp => Some(BgpRole(r - 1)),
            _ => None,
        };
        let peer_role = role.filter(|_| bit(12, 3)).and_then(corresponding_role);
        Setup {
            ebgp,
            local_asn,
            peer_asn,
            peer_four_octet,
            our_families,
            peer_families,
            add_path_receive,
            peer_add_path,
            rr_client: bit(7, 0) && !ebgp,
            graceful_restart: bit(7, 1),
            peer_extended_message: bit(7, 2),
            peer_route_refresh: bit(7, 3),
            peer_enhanced_refresh: bit(7, 4),
            slow_reader: bit(7, 5),
            max_prefix: bit(7, 6),
            peer_hold_time: HOLD_TIMES[usize::from(b[8]) % HOLD_TIMES.len()],
            vnis,
            endpoints,
            role,
            peer_role,
            strict_role: peer_role.is_some() && bit(12, 4),
        }
    }

    /// Reads the setup from the front of `u` (missing bytes read as zero).
    pub fn take(u: &mut Unstructured<'_>) -> Setup {
        let mut b = [0u8; SETUP_LEN];
        for x in &mut b {
            *x = byte(u);
        }
        Setup::from_bytes(&b)
    }

    /// The families both sides announced, in our order (RFC 4760 §8; no multiprotocol
    /// capability counts as IPv4 unicast).
    pub fn negotiated_families(&self) -> Vec<Family> {
        let theirs = if self.peer_families.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            self.peer_families.clone()
        };
        let mut out = Vec::new();
        for f in &self.our_families {
            if theirs.contains(f) && !out.contains(f) {
                out.push(*f);
            }
        }
        out
    }

    /// The codec context of what the peer sends us (RFC 6793, RFC 8654, RFC 7911 §4): we
    /// always announce 4-octet AS and extended messages, and ADD-PATH receive for
    /// `add_path_receive`.
    pub fn rx_context(&self) -> CodecContext {
        let add_path = self
            .negotiated_families()
            .into_iter()
            .filter(|f| {
                self.add_path_receive.contains(f)
                    && self
                        .peer_add_path
                        .iter()
                        .any(|a| a.family == *f && a.mode.sends())
            })
            .collect();
        CodecContext {
            four_octet_as: self.peer_four_octet,
            extended_message: self.peer_extended_message,
            add_path,
            external_peer: self.ebgp,
        }
    }

    /// The codec context of what we send (we never announce ADD-PATH send).
    pub fn tx_context(&self) -> CodecContext {
        CodecContext {
            add_path: Vec::new(),
            ..self.rx_context()
        }
    }

    /// The router: one neighbour (the peer), and the engine when `vnis` > 0.
    pub fn node_config(&self) -> NodeConfig {
        let mut c = NodeConfig::new(self.local_asn, OUR_ID);
        let mut n = NeighborConfig::new(IpAddr::V4(PEER_ID), self.peer_asn, self.local_asn, OUR_ID);
        n.peer.families = self.our_families.clone();
        n.peer.add_path_receive = self.add_path_receive.clone();
        n.peer.route_reflector_client = self.rr_client;
        n.peer.role = self.role;
        n.peer.strict_role = self.strict_role;
        if self.graceful_restart {
            n.peer.graceful_restart = Some(GracefulRestartConfig {
                restart_time: 120,
                stale_routes_time: Duration::from_secs(360),
            });
        }
        if self.max_prefix {
            n.peer.max_prefix.push(MaxPrefix {
                family: Family::L2VPN_EVPN,
                limit: 6,
                restart_after: Some(Duration::from_secs(30)),
            });
        }
        c.neighbors.push(n);
        if self.vnis > 0 {
            c.evpn = Some(EvpnConfig {
                vrfs: Vec::new(),
                engine: EngineConfig::new(self.local_asn, OUR_ID, IpAddr::V4(OUR_VTEP)),
                evis: VNIS[..self.vnis]
                    .iter()
                    .map(|v| EviConfig::new(vni_of(*v)))
                    .collect(),
                endpoints: self.endpoints.clone(),
            });
        }
        c
    }
}
