//! A live MAC move (RFC 7432 §15): a tenant's port moves from one host to another keeping
//! its MAC and IP; the new host attaches it through the API, the old one detaches it, and a
//! third host sees the MAC at the new VTEP with a higher mobility sequence number.

use super::fabric::{attach_request, list_macs, DemoFabric, CONVERGE};
use super::Result;
use evpnd_api::v1;
use evpnd_lab::fabric::evpnd::call;
use std::time::{Duration, Instant};

/// What the move showed.
#[derive(Clone, Debug)]
pub struct MoveReport {
    /// The tenant that moved.
    pub label: String,
    /// Its MAC.
    pub mac: String,
    /// Host numbers (1-based) it left and joined.
    pub from: usize,
    /// See `from`.
    pub to: usize,
    /// The host (1-based) whose MAC table was watched.
    pub observer: usize,
    /// (location, sequence) at the observer before and after.
    pub before: (String, u32),
    /// See `before`.
    pub after: (String, u32),
    /// From the `AttachEndpoint` call on the new host until the observer listed the MAC there
    /// (polled every 10 ms through the API).
    pub converged: Duration,
}

impl MoveReport {
    /// One paragraph for the output.
    pub fn render(&self) -> String {
        format!(
            "  {} ({}) moved from host {} to host {}: attached on host {} and detached on host {} \
             through the API\n  host {}'s MAC table: at {} with mobility sequence {} -> at {} \
             with sequence {}, {} ms after the attach call\n",
            self.label,
            self.mac,
            self.from,
            self.to,
            self.to,
            self.from,
            self.observer,
            self.before.0,
            self.before.1,
            self.after.0,
            self.after.1,
            self.converged.as_millis()
        )
    }
}

/// The location and sequence number of `mac` in `vni` in the MAC table of host `pos`.
fn mac_at(d: &DemoFabric, pos: usize, vni: u32, mac: &str) -> Result<Option<(String, u32)>> {
    Ok(list_macs(&d.api(pos)?)?
        .into_iter()
        .find(|m| m.vni == vni && m.mac.eq_ignore_ascii_case(mac))
        .map(|m| (m.location, m.sequence)))
}

/// Moves tenant `label` to host position `to` and waits (bounded) until host position
/// `observer` has the MAC at the new VTEP with a higher sequence number.
pub fn move_tenant(
    d: &mut DemoFabric,
    label: &str,
    to: usize,
    observer: usize,
) -> Result<MoveReport> {
    let (from, vni, mac) = {
        let t = d.fabric.tenant(label)?;
        (t.host(), t.vni(), t.mac().to_string())
    };
    let before = mac_at(d, observer, vni, &mac)?
        .ok_or_else(|| format!("host {} does not list {mac}", observer + 1))?;
    d.fabric.move_tenant(label, to)?;
    let req = attach_request(d.fabric.tenant(label)?);
    let attached = Instant::now();
    call(
        &d.api(to)?,
        |mut c| async move { c.attach_endpoint(req).await },
    )
    .map_err(|e| format!("AttachEndpoint {label} on host {}: {e}", to + 1))?;
    let detach = v1::DetachEndpointRequest {
        vni,
        mac: mac.clone(),
        ip: String::new(),
    };
    // The old host may have let the MAC go already (its port left, or the new host's higher
    // sequence number won): NOT_FOUND is fine.
    match call(&d.api(from)?, |mut c| async move {
        c.detach_endpoint(detach).await
    }) {
        Ok(_) => {}
        Err(e) if e.code() == tonic::Code::NotFound => {}
        Err(e) => return Err(format!("DetachEndpoint {label} on host {}: {e}", from + 1)),
    }
    let new_vtep = d.fabric.host(to)?.underlay().to_string();
    let mut after = None;
    evpnd_lab::wait_until(CONVERGE, Duration::from_millis(10), || {
        after = mac_at(d, observer, vni, &mac).ok().flatten();
        super::stopping()
            || after
                .as_ref()
                .is_some_and(|(loc, seq)| *loc == new_vtep && *seq > before.1)
    })
    .map_err(|_| {
        format!(
            "host {}: {mac} is at {after:?}, expected {new_vtep} with a sequence above {}\n{}",
            observer + 1,
            before.1,
            d.logs()
        )
    })?;
    let converged = attached.elapsed();
    let after = after.ok_or_else(|| format!("{mac} vanished"))?;
    // A gratuitous ARP, as a hypervisor sends after a migration, refreshes the other
    // tenants' ARP caches.
    d.fabric.tenant(label)?.announce()?;
    Ok(MoveReport {
        label: label.into(),
        mac,
        from: from + 1,
        to: to + 1,
        observer: observer + 1,
        before,
        after,
        converged,
    })
}
