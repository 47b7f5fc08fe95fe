//! Commands: what an operator or an orchestrator asks of a router. Each is validated in full
//! before anything changes ([`crate::validate`]); a refusal is a [`CommandError`] and leaves the
//! node as it was.

use crate::config::{NeighborConfig, PeerGroupConfig};
use evpnd_evpn::{GatewayAddress, ImportTarget, PortName, Subject, VrfStaticRoute};
use evpnd_wire::{Family, IpPrefix, MacAddress, RouteDistinguisher, RouteTarget};
use std::net::IpAddr;

/// A local endpoint to attach, as an orchestrator describes it (values unchecked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The L2VNI (checked: 1..=2^24-1 and configured).
    pub vni: u32,
    /// Its MAC address (checked: unicast).
    pub mac: MacAddress,
    /// An IP bound to the MAC (checked: a host address).
    pub ip: Option<IpAddr>,
    /// A static MAC (RFC 7432 §15.2).
    pub sticky: bool,
    /// The IP belongs to a router (ND R flag, RFC 9047 §3.1; IPv6 only).
    pub router: bool,
    /// A static IP↔MAC binding (ARP/ND I flag, RFC 9047 §3.1; needs an IP).
    pub static_binding: bool,
    /// The host interface the endpoint sits behind: plugged into the VNI's bridge.
    pub port: Option<PortName>,
}

impl EndpointSpec {
    /// A dynamic endpoint with no flags.
    pub fn new(vni: u32, mac: MacAddress, ip: Option<IpAddr>) -> Self {
        EndpointSpec {
            vni,
            mac,
            ip,
            sticky: false,
            router: false,
            static_binding: false,
            port: None,
        }
    }
}

/// An EVI to create at run time (values unchecked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VniSpec {
    /// The L2VNI.
    pub vni: u32,
    /// Explicit RD; `None` derives router-id:EVI (RFC 7432 §7.9).
    pub rd: Option<RouteDistinguisher>,
    /// Import rules; empty derives the auto route target.
    pub import: Vec<ImportTarget>,
    /// Export route targets; empty derives the auto route target.
    pub export: Vec<RouteTarget>,
    /// The tenant VRF of the VNI's IRB interface (RFC 9135 §3; checked: configured).
    pub vrf: Option<String>,
    /// Anycast gateway addresses of the VNI's subnets (RFC 9135 §4.1; checked: host address
    /// inside its subnet, only with `vrf`, no overlap with the VRF's other subnets).
    pub gateways: Vec<GatewayAddress>,
}

impl VniSpec {
    /// A bridged-only VNI with everything auto-derived.
    pub fn new(vni: u32) -> Self {
        VniSpec {
            vni,
            rd: None,
            import: Vec::new(),
            export: Vec::new(),
            vrf: None,
            gateways: Vec::new(),
        }
    }
}

/// A tenant VRF (IP-VRF, RFC 9135 §3) to create at run time (values unchecked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrfSpec {
    /// Its name (checked: interface-name rules, not configured yet).
    pub name: String,
    /// The L3VNI (checked: required with symmetric IRB, no L2VNI, no other VRF's).
    pub l3vni: Option<u32>,
    /// Explicit RD; `None` derives router-id:L3VNI.
    pub rd: Option<RouteDistinguisher>,
    /// Import rules; empty derives `ASN:L3VNI`.
    pub import: Vec<ImportTarget>,
    /// Export route targets; empty derives `ASN:L3VNI`.
    pub export: Vec<RouteTarget>,
    /// This NVE's router MAC (RFC 9135 §8.1; checked: unicast); `None` derives it.
    pub router_mac: Option<MacAddress>,
    /// Advertise the gateway subnets as IP prefix routes (RFC 9136 §4.4.1).
    pub advertise_connected: bool,
    /// Further prefixes to advertise as IP prefix routes.
    pub advertise: Vec<IpPrefix>,
    /// Routes towards tenant routers (checked: `via` on a gateway subnet of the VRF, so at
    /// run time only once a VNI of the VRF has that subnet; a new VRF has none).
    pub routes: Vec<VrfStaticRoute>,
}

impl VrfSpec {
    /// A VRF with `l3vni`, everything else derived, connected subnets advertised.
    pub fn new(name: &str, l3vni: Option<u32>) -> Self {
        VrfSpec {
            name: name.to_string(),
            l3vni,
            rd: None,
            import: Vec::new(),
            export: Vec::new(),
            router_mac: None,
            advertise_connected: true,
            advertise: Vec::new(),
            routes: Vec::new(),
        }
    }
}

/// How to reset a neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetKind {
    /// Close the session with Cease/Administrative Reset (RFC 4486 §4) and start it again.
    Hard,
    /// Ask the neighbour to send its routes again (ROUTE-REFRESH, RFC 2918) and send it ours
    /// again: no session flap.
    Soft,
}

/// Something to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Attach a local endpoint (RFC 7432 §9.1): originates its type-2 routes.
    Attach(EndpointSpec),
    /// Detach a local endpoint: one IP binding (`ip`) or the MAC with all its bindings.
    Detach {
        /// The VNI.
        vni: u32,
        /// The MAC.
        mac: MacAddress,
        /// Only this IP binding.
        ip: Option<IpAddr>,
    },
    /// End the duplicate freeze of a MAC, an IP, or (`None`) everything in a VNI (RFC 7432
    /// §15.1).
    ClearDuplicate {
        /// The VNI.
        vni: u32,
        /// The MAC or IP; `None` for the whole VNI.
        subject: Option<Subject>,
    },
    /// Create an EVI (MAC-VRF) at run time: its type-3 route is originated, the current EVPN
    /// routes are imported into it, and its import route targets join the RT-Constraint
    /// memberships.
    AddVni(VniSpec),
    /// Delete an EVI: its routes are withdrawn, its tables emptied (with the data-plane
    /// removals) and its memberships withdrawn when no other EVI needs them.
    RemoveVni {
        /// The VNI.
        vni: u32,
    },
    /// Create a tenant VRF (RFC 9135 §3): announced to the data plane, the current EVPN routes
    /// offered to it, its import route targets joining the RT-Constraint memberships.
    AddVrf(VrfSpec),
    /// Delete a tenant VRF; refused (FAILED_PRECONDITION) while a VNI still names it.
    RemoveVrf {
        /// Its name.
        name: String,
    },
    /// Add a neighbour: its session starts at once.
    AddNeighbor(Box<NeighborConfig>),
    /// Remove a neighbour: Cease/Peer De-configured (RFC 4486 §4), its routes withdrawn.
    RemoveNeighbor {
        /// Its address.
        address: IpAddr,
    },
    /// Reset a neighbour's session.
    ResetNeighbor {
        /// Its address.
        address: IpAddr,
        /// Hard or soft.
        kind: ResetKind,
    },
    /// Send ROUTE-REFRESH to a neighbour (RFC 2918 §3) for one family or (`None`) every
    /// negotiated family.
    Refresh {
        /// Its address.
        address: IpAddr,
        /// The family.
        family: Option<Family>,
    },
    /// Add a peer group, or replace the one with its name: a new limit applies at once; any
    /// other change ends the group's sessions (Cease/Other Configuration Change) so that they
    /// come back with the new settings.
    SetPeerGroup(Box<PeerGroupConfig>),
    /// Remove a peer group: its dynamic sessions end (Cease/Peer De-configured, RFC 4486 §4).
    RemovePeerGroup {
        /// Its name.
        name: String,
    },
}

/// What a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Done; the routes and intents it causes come out of the next polls.
    Done,
    /// ROUTE-REFRESH sent for these families.
    Refreshed(Vec<Family>),
    /// This many duplicate freezes ended.
    Cleared(usize),
}

use crate::error::CommandError;
use crate::node::{Node, Output};
use crate::peer::PeerSlot;
use crate::validate;
use evpnd_bgp::session::{cease, Input as SessionInput};
use evpnd_bgp::PeerId;
use evpnd_evpn::{Attachment, EngineError, EviConfig, VrfConfig, VrfName};
use evpnd_wire::error::code;
use evpnd_wire::{Notification, Vni};
use std::time::Instant;

/// The refusal of an engine error: an unknown VNI is NOT_FOUND, the rest a bad argument.
fn engine_error(e: EngineError) -> CommandError {
    match e {
        EngineError::UnknownVni(_) => CommandError::not_found("vni", e.to_string()),
        EngineError::InvalidMac(_) => CommandError::invalid("mac", e.to_string()),
        EngineError::InvalidIp(_) => CommandError::invalid("ip", e.to_string()),
    }
}

fn engine_off() -> CommandError {
    CommandError::precondition(
        "vni",
        "the EVPN engine is off: configure [evpn] vtep and [[vni]]",
    )
}

fn cease_with(subcode: u8) -> Notification {
    Notification {
        code: code::CEASE,
        subcode,
        data: Vec::new(),
    }
}

impl Node {
    /// Carries out `cmd` at `now`: validated in full first, so a refusal changes nothing. The
    /// routes, intents and session traffic it causes come out of the next polls.
    pub fn command(&mut self, cmd: Command, now: Instant) -> Result<Reply, CommandError> {
        let reply = match cmd {
            Command::Attach(spec) => self.attach(spec, now)?,
            Command::Detach { vni, mac, ip } => {
                let vni = self.known_vni(vni)?;
                validate::endpoint_mac(mac)?;
                let e = self.evpn.as_mut().ok_or_else(engine_off)?;
                // The orchestrator's word is final: the MAC goes even if the kernel still saw it
                // (its port is released, so the kernel forgets it too).
                if ip.is_none() {
                    e.forget_origin(vni, mac);
                }
                e.engine
                    .local_detach(vni, mac, ip, now)
                    .map_err(engine_error)?;
                Reply::Done
            }
            Command::ClearDuplicate { vni, subject } => {
                let vni = self.known_vni(vni)?;
                let e = self.evpn.as_mut().ok_or_else(engine_off)?;
                let n = e
                    .engine
                    .clear_duplicate(vni, subject, now)
                    .map_err(engine_error)?;
                Reply::Cleared(n)
            }
            Command::AddVni(spec) => self.add_vni(spec, now)?,
            Command::RemoveVni { vni } => {
                let vni = self.known_vni(vni)?;
                if let Some(e) = self.evpn.as_mut() {
                    e.engine.remove_evi(vni);
                    e.forget_vni(vni);
                }
                self.sync_memberships();
                Reply::Done
            }
            Command::AddVrf(spec) => self.add_vrf(spec, now)?,
            Command::RemoveVrf { name } => self.remove_vrf(&name)?,
            Command::AddNeighbor(n) => self.add_neighbor(*n, now)?,
            Command::RemoveNeighbor { address } => self.remove_neighbor(address, now)?,
            Command::ResetNeighbor { address, kind } => self.reset_neighbor(address, kind, now)?,
            Command::Refresh { address, family } => self.refresh(address, family, now)?,
            Command::SetPeerGroup(g) => {
                self.set_peer_group(*g, now)?;
                Reply::Done
            }
            Command::RemovePeerGroup { name } => {
                self.remove_peer_group(&name, now)?;
                Reply::Done
            }
        };
        self.settle(now);
        Ok(reply)
    }

    /// `n` as a VNI the engine has an EVI for (the engine must run).
    pub(crate) fn known_vni(&self, n: u32) -> Result<Vni, CommandError> {
        let e = self.evpn.as_ref().ok_or_else(engine_off)?;
        let vni = validate::vni(n)?;
        if e.engine.evi(vni).is_none() {
            return Err(CommandError::not_found(
                "vni",
                format!("no EVI is configured for VNI {vni}"),
            ));
        }
        Ok(vni)
    }

    fn attach(&mut self, spec: EndpointSpec, now: Instant) -> Result<Reply, CommandError> {
        let vni = self.known_vni(spec.vni)?;
        let a = Attachment {
            vni,
            mac: spec.mac,
            ip: spec.ip,
            sticky: spec.sticky,
            router: spec.router,
            static_binding: spec.static_binding,
            port: spec.port,
        };
        validate::attachment(&a)?;
        let e = self.evpn.as_mut().ok_or_else(engine_off)?;
        e.engine.local_attach(&a, now).map_err(engine_error)?;
        e.add_origin(vni, a.mac, false);
        Ok(Reply::Done)
    }

    fn add_vni(&mut self, spec: VniSpec, now: Instant) -> Result<Reply, CommandError> {
        let vni = validate::vni(spec.vni)?;
        let e = self.evpn.as_mut().ok_or_else(engine_off)?;
        let vrf = match &spec.vrf {
            Some(name) => Some(validate::vrf_name("vrf", name)?),
            None => None,
        };
        let evi = EviConfig {
            vni,
            rd: spec.rd,
            import: spec.import,
            export: spec.export,
            vrf,
            gateways: spec.gateways,
        };
        validate::evi(e.engine.config(), e.engine.evis().cloned(), &evi)?;
        validate::evi_layer3(e.engine.vrfs(), e.engine.evis(), &evi)?;
        e.engine.add_evi(evi);
        // The engine keeps no route that matched no EVI: give it the current ones.
        e.replay(&self.rib, now);
        self.sync_memberships();
        Ok(Reply::Done)
    }

    /// `name` as a VRF the engine has (the engine must run).
    pub(crate) fn known_vrf(&self, name: &str) -> Result<VrfName, CommandError> {
        let e = self.evpn.as_ref().ok_or_else(engine_off)?;
        let vrf = validate::vrf_name("vrf", name)?;
        if e.engine.vrf(vrf).is_none() {
            return Err(CommandError::not_found(
                "vrf",
                format!("no VRF {vrf} is configured"),
            ));
        }
        Ok(vrf)
    }

    fn add_vrf(&mut self, spec: VrfSpec, now: Instant) -> Result<Reply, CommandError> {
        let name = validate::vrf_name("name", &spec.name)?;
        let e = self.evpn.as_mut().ok_or_else(engine_off)?;
        let l3vni = validate::l3vni(e.engine.config().irb, spec.l3vni)?;
        let vrf = VrfConfig {
            name,
            l3vni,
            rd: spec.rd,
            import: spec.import,
            export: spec.export,
            router_mac: spec.router_mac,
            advertise_connected: spec.advertise_connected,
            advertise: spec.advertise,
            routes: spec.routes,
        };
        validate::vrf(
            e.engine.config(),
            e.engine.vrfs(),
            e.engine.evis().map(|v| v.vni),
            &vrf,
        )?;
        // A new VRF has no VNI yet, so no gateway subnet: configured routes wait for the file.
        validate::vrf_routes(&vrf, &[])?;
        e.engine.add_vrf(vrf);
        // As for a new EVI: the engine keeps no route that matched nothing, so offer it the
        // current ones (type-5 routes and MAC/IP routes with an L3VNI, RFC 9136, RFC 9135).
        e.replay(&self.rib, now);
        self.sync_memberships();
        Ok(Reply::Done)
    }

    fn remove_vrf(&mut self, name: &str) -> Result<Reply, CommandError> {
        // The command names the VRF in its `name` field.
        let vrf = self.known_vrf(name).map_err(|mut e| {
            e.field = "name";
            e
        })?;
        let e = self.evpn.as_mut().ok_or_else(engine_off)?;
        let users: Vec<String> = e
            .engine
            .evis()
            .filter(|v| v.vrf == Some(vrf))
            .map(|v| v.vni.to_string())
            .collect();
        if !users.is_empty() {
            return Err(CommandError::precondition(
                "name",
                format!(
                    "VRF {vrf} still has VNI {} (remove them first)",
                    users.join(", ")
                ),
            ));
        }
        e.engine.remove_vrf(vrf);
        self.sync_memberships();
        Ok(Reply::Done)
    }

    fn add_neighbor(&mut self, n: NeighborConfig, now: Instant) -> Result<Reply, CommandError> {
        n.validate()?;
        if n.peer.local_asn != self.asn {
            return Err(CommandError::invalid(
                "local-asn",
                format!(
                    "{} is not this router's AS {} (a per-neighbor local AS is not supported)",
                    n.peer.local_asn, self.asn
                ),
            ));
        }
        if n.peer.router_id != self.router_id {
            return Err(CommandError::invalid(
                "router-id",
                format!("{} is not this router's BGP identifier", n.peer.router_id),
            ));
        }
        if let Some(i) = self.peer_index(n.peer.address) {
            let dynamic = self.peers[i].as_ref().and_then(|p| p.group.as_deref());
            return Err(CommandError::exists(
                "address",
                match dynamic {
                    Some(g) => format!(
                        "{} is a dynamic neighbor of peer-group {g} now",
                        n.peer.address
                    ),
                    None => format!("neighbor {} is configured already", n.peer.address),
                },
            ));
        }
        self.push_output(Output::NeighborAdded {
            address: n.peer.address,
            transport: n.transport.clone(),
        });
        let mut slot = PeerSlot::new(n, now);
        slot.session.handle(SessionInput::Start, now);
        // Configured neighbours never take a freed dynamic slot: their ids stay in the order
        // they were added.
        let free = std::mem::take(&mut self.free_slots);
        self.insert_slot(slot);
        self.free_slots = free;
        // A new RTC peer may make a wildcard import worth a warning.
        self.sync_memberships();
        Ok(Reply::Done)
    }

    fn neighbor_index(&self, address: std::net::IpAddr) -> Result<usize, CommandError> {
        self.peer_index(address)
            .ok_or_else(|| CommandError::not_found("address", format!("no neighbor {address}")))
    }

    fn remove_neighbor(
        &mut self,
        address: std::net::IpAddr,
        now: Instant,
    ) -> Result<Reply, CommandError> {
        let i = self.neighbor_index(address)?;
        self.touched.insert(i);
        if let Some(p) = self.peers[i].as_mut() {
            // RFC 4486 §4: Cease/Peer De-configured; the session's outputs (NOTIFICATION,
            // close, down) are moved before the slot goes.
            p.session.handle(
                SessionInput::Stop {
                    notification: Some(cease_with(cease::PEER_DECONFIGURED)),
                    restart_after: None,
                },
                now,
            );
        }
        self.settle(now);
        if self.peers[i].as_ref().is_some_and(|p| p.established) {
            self.rib.peer_down(PeerId(i as u32), None, now);
        }
        let Some(slot) = self.remove_slot(i) else {
            return Ok(Reply::Done);
        };
        for conn in slot.conns.iter().chain(slot.connecting.iter()) {
            self.push_output(Output::Abort { conn: *conn });
        }
        self.push_output(Output::NeighborRemoved {
            address,
            transport: slot.config.transport,
        });
        // A restart no longer waits for a neighbour that is gone.
        self.check_deferral();
        Ok(Reply::Done)
    }

    fn reset_neighbor(
        &mut self,
        address: std::net::IpAddr,
        kind: ResetKind,
        now: Instant,
    ) -> Result<Reply, CommandError> {
        let i = self.neighbor_index(address)?;
        match kind {
            ResetKind::Hard => {
                if let Some(p) = self.peers[i].as_mut() {
                    p.session.handle(
                        SessionInput::Stop {
                            notification: Some(cease_with(cease::ADMINISTRATIVE_RESET)),
                            restart_after: None,
                        },
                        now,
                    );
                    self.touched.insert(i);
                }
                self.settle(now);
                if let Some(p) = self.peers[i].as_mut() {
                    p.session.handle(SessionInput::Start, now);
                    self.touched.insert(i);
                }
                Ok(Reply::Done)
            }
            ResetKind::Soft => {
                // Soft in: ROUTE-REFRESH to the neighbour; soft out: our table again.
                let families = match self.refresh(address, None, now)? {
                    Reply::Refreshed(f) => f,
                    _ => Vec::new(),
                };
                for f in &families {
                    self.rib.route_refresh(PeerId(i as u32), *f);
                }
                Ok(Reply::Refreshed(families))
            }
        }
    }

    /// Sends ROUTE-REFRESH (RFC 2918 §3) to the neighbour at `address`, for `family` or every
    /// negotiated family.
    fn refresh(
        &mut self,
        address: std::net::IpAddr,
        family: Option<evpnd_wire::Family>,
        now: Instant,
    ) -> Result<Reply, CommandError> {
        let i = self.neighbor_index(address)?;
        let Some(p) = self.peers[i].as_mut() else {
            return Err(CommandError::not_found(
                "address",
                format!("no neighbor {address}"),
            ));
        };
        let neg = p
            .session
            .negotiated()
            .filter(|_| p.established)
            .ok_or_else(|| {
                CommandError::precondition(
                    "address",
                    format!("neighbor {address} is not Established"),
                )
            })?;
        if !neg.route_refresh {
            return Err(CommandError::precondition(
                "address",
                format!("neighbor {address} did not announce route refresh (RFC 2918)"),
            ));
        }
        let families = match family {
            None => neg.families.clone(),
            Some(f) if neg.families.contains(&f) => vec![f],
            Some(f) => {
                return Err(CommandError::invalid(
                    "family",
                    format!("{} is not negotiated with {address}", f.name()),
                ))
            }
        };
        for f in &families {
            p.session.send_route_refresh(*f, now);
        }
        self.touched.insert(i);
        Ok(Reply::Refreshed(families))
    }
}
