//! `Explain` with the Linux data plane (root): on a two-host kernel fabric, a tenant MAC of
//! host 1 explained on host 2 walks to "complete" with the kernel's FDB entry (its IP with the
//! kernel's neighbour entry); after the FDB entry is deleted behind evpnd's back, the walk
//! names the kernel link as broken.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kernel_fabric::*;
use common::{wait_until, EvpnApi};
use evpnd_lab::{require_root_and_tools, Fabric, FabricOptions};

const TOOLS: &[&str] = &["ip", "bridge", "sysctl"];

#[test]
fn explain_names_the_kernel_link_when_the_fdb_entry_is_gone() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let mut fabric = Fabric::new(&FabricOptions::new(2)).unwrap();
    let t = fabric.add_tenant(&tenant_spec(0, 100)).unwrap();
    let (label, mac, ip) = (
        t.label().to_string(),
        t.mac().to_string(),
        t.ip().to_string(),
    );
    let r = start(
        fabric,
        vec![vec![100], vec![100]],
        &[0, 1],
        &HostOptions::default(),
        &[],
    );
    r.wait_sessions();
    let t = r.fabric.tenant(&label).unwrap();
    r.evpnd(0).attach(attach_request(t)).unwrap();
    r.wait_fdb(&[&label], "tenant attached");
    let b = r.evpnd(1);
    let vtep = r.vtep(0).to_string();
    let x = b.explain(100, &mac).unwrap();
    assert!(x.complete, "{x:#?}\n{}", r.logs());
    assert_eq!(x.dataplane, "linux");
    let kernel = x.steps.last().unwrap();
    assert_eq!(kernel.link, "kernel");
    assert!(kernel.detail.contains(&vtep), "{kernel:?}");
    // The tenant's IP: the proxy ARP/ND binding is in the kernel too.
    let x = b.explain(100, &ip).unwrap();
    assert!(x.complete, "{x:#?}\n{}", r.logs());
    assert!(x.steps.last().unwrap().detail.contains(&mac), "{x:#?}");

    // Delete the remote entry (the VXLAN device's and the bridge's) behind evpnd's back.
    let ns = r.fabric.host(1).unwrap().ns();
    ns.exec(&[
        "bridge", "fdb", "del", &mac, "dev", "vx100", "dst", &vtep, "self",
    ])
    .unwrap();
    let _ = ns.exec(&["bridge", "fdb", "del", &mac, "dev", "vx100", "master"]);
    wait_until(WAIT, || !b.explain(100, &mac).unwrap().complete).unwrap();
    let x = b.explain(100, &mac).unwrap();
    assert_eq!(x.broken_link, "kernel", "{x:#?}");
    assert!(
        x.message.contains("the kernel has no FDB entry"),
        "{}",
        x.message
    );
    eprintln!("explain after the delete: {}", x.message);
    // Every link before the kernel still holds.
    assert!(x.steps[..x.steps.len() - 1].iter().all(|s| s.ok), "{x:#?}");
}
