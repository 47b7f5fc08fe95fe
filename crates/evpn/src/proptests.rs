//! Property tests over random attach/detach/move sequences across K engines joined by the
//! in-memory fabric ([`crate::sim`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sim::{mac, vtep, Fabric, VNI};
use crate::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

const NODES: usize = 3;
const MACS: u8 = 4;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Attach MAC `mac` (with its IP when `with_ip`) on `node`: a learn, or a move when the
    /// MAC lives elsewhere.
    Attach { node: usize, mac: u8, with_ip: bool },
    /// Detach MAC `mac` from `node`.
    Detach { node: usize, mac: u8 },
    /// Let BGP deliver up to `n` pending changes (only in the interleaved property).
    Deliver { n: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..NODES, 0..MACS, any::<bool>())
            .prop_map(|(node, mac, with_ip)| Op::Attach { node, mac, with_ip }),
        2 => (0..NODES, 0..MACS).prop_map(|(node, mac)| Op::Detach { node, mac }),
        2 => (1usize..6).prop_map(|n| Op::Deliver { n }),
    ]
}

fn tenant_ip(m: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, m + 1))
}

fn no_detection() -> DuplicateDetection {
    DuplicateDetection {
        enabled: false,
        ..DuplicateDetection::default()
    }
}

fn fabric() -> Fabric {
    let mut f = Fabric::new(NODES, no_detection());
    for i in 0..NODES {
        f.add_vni(i, VNI);
    }
    f.settle();
    f
}

fn apply(f: &mut Fabric, op: Op) {
    match op {
        Op::Attach {
            node,
            mac: m,
            with_ip,
        } => {
            let ip = with_ip.then(|| tenant_ip(m));
            f.attach(node, Attachment::new(VNI, mac(m), ip));
        }
        Op::Detach { node, mac: m } => f.detach(node, VNI, mac(m), None),
        Op::Deliver { n } => {
            f.deliver(n);
        }
    }
}

/// Where every node has `m`: `None` if absent everywhere, `Some(owner)` if the owner has it
/// local and every other node remote at the owner's VTEP; panics on disagreement.
fn agreed_owner(f: &Fabric, m: u8) -> Option<usize> {
    let rows: Vec<Option<MacEntry>> = (0..NODES).map(|i| f.location(i, VNI, mac(m))).collect();
    if rows.iter().all(Option::is_none) {
        return None;
    }
    let owners: Vec<usize> = (0..NODES)
        .filter(|i| {
            rows[*i]
                .as_ref()
                .is_some_and(|e| e.origin == Location::Local)
        })
        .collect();
    assert_eq!(owners.len(), 1, "one owner of {}: {rows:?}", mac(m));
    let owner = owners[0];
    for (i, r) in rows.iter().enumerate() {
        let e = r
            .as_ref()
            .unwrap_or_else(|| panic!("node {i} lacks {}", mac(m)));
        if i != owner {
            assert_eq!(e.origin, Location::Remote { vtep: vtep(owner) }, "node {i}");
        }
        let owner_row = rows[owner].as_ref().unwrap();
        assert_eq!(e.sequence, owner_row.sequence, "node {i} sequence");
    }
    Some(owner)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// With BGP converging between operations, every node ends with the MAC where it was
    /// last attached (or nowhere after a detach there), and the data plane equals the tables.
    #[test]
    fn converged_fabric_follows_the_last_attach(ops in proptest::collection::vec(op(), 1..40)) {
        let mut f = fabric();
        let mut model: [Option<usize>; MACS as usize] = [None; MACS as usize];
        for op in ops {
            apply(&mut f, op);
            f.settle();
            match op {
                Op::Attach { node, mac: m, .. } => model[m as usize] = Some(node),
                Op::Detach { node, mac: m } => {
                    if model[m as usize] == Some(node) {
                        model[m as usize] = None;
                    }
                }
                Op::Deliver { .. } => {}
            }
            for m in 0..MACS {
                prop_assert_eq!(agreed_owner(&f, m), model[m as usize], "mac {}", m);
            }
            for i in 0..NODES {
                f.check_dataplane(i, &[VNI]);
            }
        }
        // Detaching everything everywhere leaves nothing behind but the flood lists.
        for i in 0..NODES {
            for m in 0..MACS {
                f.detach(i, VNI, mac(m), None);
            }
        }
        f.settle();
        for i in 0..NODES {
            prop_assert!(f.nodes[i].engine.mac_table(VNI).is_empty());
            prop_assert!(f.nodes[i].dp.fdb.is_empty() && f.nodes[i].dp.neigh.is_empty());
            f.check_dataplane(i, &[VNI]);
        }
    }

    /// With BGP delivery interleaved arbitrarily with attaches and detaches (simultaneous
    /// learns, late withdrawals), the fabric still converges: after quiescence each MAC has
    /// at most one owner that every node agrees on, the owner still has it attached, and no
    /// node's data plane holds anything its tables don't.
    #[test]
    fn interleaved_delivery_still_converges(ops in proptest::collection::vec(op(), 1..60)) {
        let mut f = fabric();
        let mut attached = [[false; MACS as usize]; NODES];
        for op in ops {
            apply(&mut f, op);
            match op {
                Op::Attach { node, mac: m, .. } => attached[node][m as usize] = true,
                Op::Detach { node, mac: m } => attached[node][m as usize] = false,
                Op::Deliver { .. } => {}
            }
        }
        f.settle();
        for m in 0..MACS {
            if let Some(owner) = agreed_owner(&f, m) {
                prop_assert!(attached[owner][m as usize], "owner {} never kept {}", owner, m);
            }
        }
        for i in 0..NODES {
            f.check_dataplane(i, &[VNI]);
        }
    }
}
