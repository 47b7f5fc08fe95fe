//! The orchestrator: commands given to a node as an operator would, and the record of what
//! is attached where ([`Sim::endpoints`]).

use super::Sim;
use crate::trace::{digest, TraceKind};
use evpnd_node::{Command, CommandError, EndpointSpec, Reply};
use evpnd_wire::MacAddress;
use std::net::IpAddr;

impl Sim {
    /// Gives `cmd` to node `i`, as an operator or orchestrator would. Attach and detach
    /// commands that succeed update the orchestrator's record ([`Sim::endpoints`]). A crashed
    /// node refuses everything (FAILED_PRECONDITION on field `node`).
    pub fn command(&mut self, i: usize, cmd: Command) -> Result<Reply, CommandError> {
        let now = self.instant();
        let result = match self.slots.get_mut(i).and_then(|s| s.node.as_mut()) {
            Some(n) => n.command(cmd.clone(), now),
            None => Err(CommandError::precondition(
                "node",
                format!("node {i} is not running"),
            )),
        };
        if result.is_ok() {
            match &cmd {
                Command::Attach(spec) => self.endpoints.attach(i, *spec),
                Command::Detach { vni, mac, ip } => self.endpoints.detach(i, *vni, *mac, *ip),
                Command::RemoveVni { vni } => self.endpoints.forget_vni(i, *vni),
                _ => {}
            }
        }
        self.record(
            i,
            TraceKind::Command,
            0,
            0,
            digest(&format!("{cmd:?} {result:?}")),
        );
        self.dirty = true;
        if i < self.slots.len() {
            self.after(i);
        }
        result
    }

    /// Attaches an endpoint on NVE `i` ([`Command::Attach`]).
    pub fn attach(&mut self, i: usize, spec: EndpointSpec) -> Result<Reply, CommandError> {
        self.command(i, Command::Attach(spec))
    }

    /// Attaches `mac` in `vni` (with `ip`) on NVE `i`: a dynamic endpoint without flags.
    pub fn attach_mac(
        &mut self,
        i: usize,
        vni: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
    ) -> Result<Reply, CommandError> {
        self.attach(i, EndpointSpec::new(vni, mac, ip))
    }

    /// Detaches `mac` (or only its `ip` binding) in `vni` from NVE `i`.
    pub fn detach(
        &mut self,
        i: usize,
        vni: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
    ) -> Result<Reply, CommandError> {
        self.command(i, Command::Detach { vni, mac, ip })
    }
}
