//! IP↔MAC bindings for proxy ARP/ND (RFC 9161), with the flags of the ARP/ND extended community
//! (RFC 9047 §3.1).
//!
//! One [`IpRecord`] per `(VNI, IP)` holds every remote claim on the IP; the local binding comes
//! from `local_ips` and the local MAC's flags. [`Engine::settle_ip`] is the single place where
//! an installed binding changes: a local binding wins unless a remote immutable binding names
//! another MAC.

use super::duplicate::Detection;
use super::explain::Decision;
use super::import::ImportKey;
use super::mobility::{remote_decision, Claim};
use super::Engine;
use crate::types::{DataplaneIntent, Location};
use evpnd_wire::{MacAddress, Vni};
use std::cmp::Reverse;
use std::net::IpAddr;

/// Flags of a locally bound IP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct IpFlags {
    pub(super) router: bool,
    pub(super) static_binding: bool,
}

/// The installed binding of an IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Binding {
    pub(super) mac: MacAddress,
    pub(super) at: Location,
    pub(super) router: bool,
    pub(super) immutable: bool,
}

impl Claim {
    /// Preference among remote claims on one IP: immutable bindings first (RFC 9047 §3.1),
    /// then as for MACs (RFC 7432 §15).
    pub(super) fn ip_rank(&self) -> (bool, Reverse<u32>, IpAddr, ImportKey) {
        (!self.immutable, Reverse(self.sequence), self.vtep, self.key)
    }
}

/// Every claim on one IP of one VNI.
#[derive(Clone, Debug)]
pub(super) struct IpRecord {
    pub(super) remotes: Vec<Claim>,
    pub(super) installed: Option<Binding>,
    pub(super) detection: Detection,
}

impl IpRecord {
    pub(super) fn new() -> Self {
        IpRecord {
            remotes: Vec::new(),
            installed: None,
            detection: Detection::new(),
        }
    }

    pub(super) fn best_remote(&self) -> Option<&Claim> {
        self.remotes.iter().min_by_key(|c| c.ip_rank())
    }
}

/// The binding that wins among the local one and the record's remote claims, and why: a
/// local binding wins unless a remote immutable binding names another MAC (RFC 9047 §3.1);
/// otherwise the best remote claim (immutable, then sequence, then VTEP).
pub(super) fn choose_binding(
    local: Option<Binding>,
    rec: &IpRecord,
) -> (Option<Binding>, Decision) {
    let remote = rec.best_remote().map(|c| Binding {
        mac: c.mac,
        at: Location::Remote { vtep: c.vtep },
        router: c.router,
        immutable: c.immutable,
    });
    match (local, remote) {
        (Some(l), Some(r)) if r.immutable && !l.immutable && r.mac != l.mac => {
            (Some(r), Decision::Immutable)
        }
        (Some(l), Some(_)) => (Some(l), Decision::LocalBinding),
        (Some(l), None) => (Some(l), Decision::OnlyClaim),
        (None, r) => (
            r,
            remote_decision(
                &rec.remotes,
                Claim::ip_rank,
                |c| c.immutable,
                Decision::Immutable,
            ),
        ),
    }
}

impl Engine {
    /// The local binding of `ip`, when its MAC's local claim is active (not dormant).
    pub(super) fn local_binding(&self, vni: Vni, ip: IpAddr) -> Option<Binding> {
        let mac = self.local_ips.get(&(vni, ip)).copied()?;
        // A binding of a dormant local MAC is not installed (RFC 7432 §15: the MAC is
        // elsewhere while the remote claim wins).
        let flags = self
            .macs
            .get(&(vni, mac))
            .filter(|r| r.local_active())
            .and_then(|r| r.local.as_ref())
            .and_then(|l| l.ips.get(&ip))
            .copied()?;
        Some(Binding {
            mac,
            at: Location::Local,
            router: flags.router,
            immutable: flags.static_binding,
        })
    }

    /// Releases the local binding of `ip` to `mac` and settles the IP.
    pub(super) fn unbind_local_ip(&mut self, vni: Vni, mac: MacAddress, ip: IpAddr) {
        if self.local_ips.get(&(vni, ip)) == Some(&mac) {
            self.local_ips.remove(&(vni, ip));
        }
        self.settle_ip(vni, ip);
    }

    /// Brings the installed binding of the IP in line with its claims: a local binding (of a
    /// MAC whose local claim is not dormant) wins unless a remote immutable binding names
    /// another MAC (RFC 9047 §3.1); otherwise the best remote claim.
    pub(super) fn settle_ip(&mut self, vni: Vni, ip: IpAddr) {
        let local = self.local_binding(vni, ip);
        let rec = self.ips.entry((vni, ip)).or_insert_with(IpRecord::new);
        if rec.detection.frozen() {
            return;
        }
        let (winner, _) = choose_binding(local, rec);
        let before = rec.installed;
        rec.installed = winner;
        if before != winner {
            match winner {
                Some(b) => self.intents.push_back(DataplaneIntent::Neighbor {
                    vni,
                    ip,
                    mac: b.mac,
                    router: b.router,
                    local: b.at == Location::Local,
                }),
                None => self
                    .intents
                    .push_back(DataplaneIntent::RemoveNeighbor { vni, ip }),
            }
            // A GW-IP overlay index resolved through this binding follows it (RFC 9136 §3.2).
            self.binding_changed(vni, ip);
        }
        if self
            .ips
            .get(&(vni, ip))
            .is_some_and(|r| r.remotes.is_empty() && r.installed.is_none() && !r.detection.frozen())
            && !self.local_ips.contains_key(&(vni, ip))
        {
            self.ips.remove(&(vni, ip));
        }
    }
}
