//! Tenant ports: the host interfaces that local endpoints sit behind. A port is plugged into
//! its VNI's broadcast domain ([`DataplaneIntent::Port`]) while at least one attached MAC uses
//! it, and released ([`DataplaneIntent::RemovePort`]) when the last one is detached, moves to
//! another port, or the EVI goes.

use super::Engine;
use crate::types::{DataplaneIntent, PortName};
use evpnd_wire::{MacAddress, Vni};
use std::collections::{BTreeMap, HashMap};

/// Which port each locally attached MAC uses, and how many MACs use each port.
#[derive(Debug, Default)]
pub(super) struct Ports {
    of_mac: HashMap<(Vni, MacAddress), PortName>,
    users: BTreeMap<(Vni, PortName), u32>,
}

impl Engine {
    /// `mac` in `vni` sits behind `port` (or, with `None`, keeps whatever port it had).
    pub(super) fn use_port(&mut self, vni: Vni, mac: MacAddress, port: Option<PortName>) {
        let Some(port) = port else {
            return;
        };
        match self.ports.of_mac.insert((vni, mac), port) {
            Some(old) if old == port => return,
            Some(old) => self.release_port(vni, old),
            None => {}
        }
        let users = self.ports.users.entry((vni, port)).or_insert(0);
        *users += 1;
        if *users == 1 {
            self.intents.push_back(DataplaneIntent::Port { vni, port });
        }
    }

    /// `mac` in `vni` is detached: its port is released when no other MAC uses it.
    pub(super) fn drop_port_of(&mut self, vni: Vni, mac: MacAddress) {
        if let Some(port) = self.ports.of_mac.remove(&(vni, mac)) {
            self.release_port(vni, port);
        }
    }

    fn release_port(&mut self, vni: Vni, port: PortName) {
        let key = (vni, port);
        let Some(users) = self.ports.users.get_mut(&key) else {
            return;
        };
        *users = users.saturating_sub(1);
        if *users == 0 {
            self.ports.users.remove(&key);
            self.intents
                .push_back(DataplaneIntent::RemovePort { vni, port });
        }
    }

    /// Releases every port of `vni` (the EVI goes), in name order.
    pub(super) fn drop_ports_of_vni(&mut self, vni: Vni) {
        self.ports.of_mac.retain(|(v, _), _| *v != vni);
        let gone: Vec<PortName> = self
            .ports
            .users
            .range((vni, PortName::MIN)..)
            .take_while(|((v, _), _)| *v == vni)
            .map(|((_, p), _)| *p)
            .collect();
        for port in gone {
            self.ports.users.remove(&(vni, port));
            self.intents
                .push_back(DataplaneIntent::RemovePort { vni, port });
        }
    }

    /// The ports plugged into `vni`, in name order.
    pub fn ports(&self, vni: Vni) -> impl Iterator<Item = PortName> + '_ {
        self.ports
            .users
            .range((vni, PortName::MIN)..)
            .take_while(move |((v, _), _)| *v == vni)
            .map(|((_, p), _)| *p)
    }

    /// The port `mac` of `vni` was attached behind, if any.
    pub fn port_of(&self, vni: Vni, mac: MacAddress) -> Option<PortName> {
        self.ports.of_mac.get(&(vni, mac)).copied()
    }
}
