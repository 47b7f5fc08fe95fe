//! The engine's explanations (`evpnctl explain`): the import verdict of each rule and the
//! decision between claims on a MAC or an IP, checked against what the engine installed.

use super::*;

fn verdict(e: &Engine, c: &BestChange) -> ImportVerdict {
    e.import_verdict(c.best.as_ref().unwrap())
}

#[test]
fn import_verdicts_name_the_rule() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let vtep = ip("198.18.0.2");
    let good = remote_mac_ip(remote_rd(), VNI, mac(2), None, vtep, vec![rt(65001, 100)]);
    assert_eq!(verdict(&e, &good), ImportVerdict::Imported { vni: VNI });
    let foreign = remote_mac_ip(remote_rd(), VNI, mac(2), None, vtep, vec![rt(65001, 999)]);
    let v = verdict(&e, &foreign);
    assert_eq!(v.code(), "route-target-not-imported");
    assert!(v.to_string().starts_with("RT not imported"), "{v}");
    let other_vni = remote_mac_ip(
        remote_rd(),
        vni(300),
        mac(2),
        None,
        vtep,
        vec![rt(65001, 100)],
    );
    assert_eq!(
        verdict(&e, &other_vni),
        ImportVerdict::NoEvi { vni: vni(300) }
    );
    let own = remote_mac_ip(
        remote_rd(),
        VNI,
        mac(2),
        None,
        ip("198.18.0.1"),
        vec![rt(65001, 100)],
    );
    assert_eq!(verdict(&e, &own).code(), "own-vtep");
    let group = remote_mac_ip(
        remote_rd(),
        VNI,
        MacAddress([0x01, 0, 0x5e, 0, 0, 1]),
        None,
        vtep,
        vec![rt(65001, 100)],
    );
    assert_eq!(verdict(&e, &group), ImportVerdict::MulticastMac);
    let zero = remote_mac_ip_labelled(
        remote_rd(),
        Label::from_vni(0).unwrap(),
        mac(2),
        None,
        vtep,
        vec![rt(65001, 100)],
    );
    assert_eq!(verdict(&e, &zero).code(), "bad-label");
    let imet = remote_imet(remote_rd(), VNI, vtep, vec![rt(65001, 100)]);
    assert_eq!(verdict(&e, &imet), ImportVerdict::Imported { vni: VNI });
    // The verdict is the import: what it refuses never reaches the tables.
    let now = Instant::now();
    e.remote_best_change(&foreign, now);
    assert!(e.explain_mac(VNI, mac(2)).is_none());
    e.remote_best_change(&good, now);
    assert!(e.explain_mac(VNI, mac(2)).is_some());
}

#[test]
fn decisions_between_remote_claims() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let m = mac(7);
    e.remote_best_change(&claim_from(5, m, 0, false), now);
    let x = e.explain_mac(VNI, m).unwrap();
    assert_eq!(x.decision, Decision::OnlyClaim);
    assert_eq!(
        x.winner,
        Some(Location::Remote {
            vtep: ip("198.18.0.5")
        })
    );
    // Same sequence from a lower VTEP: the lower address wins.
    e.remote_best_change(&claim_from(3, m, 0, false), now);
    let x = e.explain_mac(VNI, m).unwrap();
    assert_eq!(
        x.decision,
        Decision::LowerVtep {
            winner: ip("198.18.0.3"),
            loser: ip("198.18.0.5")
        }
    );
    assert_eq!(x.remotes.len(), 2);
    assert_eq!(
        x.remotes[0].location,
        Location::Remote {
            vtep: ip("198.18.0.3")
        }
    );
    assert_eq!(
        x.installed.map(|i| i.0),
        x.winner,
        "the decision is what is installed"
    );
    // A higher sequence number beats the lower VTEP.
    e.remote_best_change(&claim_from(5, m, 2, false), now);
    let x = e.explain_mac(VNI, m).unwrap();
    assert_eq!(
        x.decision,
        Decision::HigherSequence {
            winner: 2,
            loser: 0
        }
    );
    assert_eq!(
        x.winner,
        Some(Location::Remote {
            vtep: ip("198.18.0.5")
        })
    );
    assert_eq!(x.installed.map(|i| i.0), x.winner);
    // A sticky claim beats a higher sequence number.
    e.remote_best_change(&claim_from(3, m, 0, true), now);
    let x = e.explain_mac(VNI, m).unwrap();
    assert_eq!(x.decision, Decision::RemoteSticky);
    assert_eq!(
        x.winner,
        Some(Location::Remote {
            vtep: ip("198.18.0.3")
        })
    );
    assert_eq!(x.installed.map(|i| i.0), x.winner);
}

#[test]
fn decisions_between_local_and_remote_claims() {
    let now = Instant::now();
    let m = mac(8);
    // Equal sequence numbers (0): our VTEP 198.18.0.1 is lower than 198.18.0.9.
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    attach(&mut e, VNI, m, None, false, now).unwrap();
    let x = e.explain_mac(VNI, m).unwrap();
    assert_eq!(x.decision, Decision::OnlyClaim);
    assert_eq!(x.winner, Some(Location::Local));
    e.remote_best_change(&claim_from(9, m, 0, false), now);
    let x = e.explain_mac(VNI, m).unwrap();
    assert_eq!(
        x.decision,
        Decision::LowerVtep {
            winner: ip("198.18.0.1"),
            loser: ip("198.18.0.9")
        }
    );
    assert!(!x.local_dormant);
    // A higher remote sequence number takes it: the local claim goes dormant.
    e.remote_best_change(&claim_from(9, m, 4, false), now);
    let x = e.explain_mac(VNI, m).unwrap();
    assert_eq!(
        x.decision,
        Decision::HigherSequence {
            winner: 4,
            loser: 0
        }
    );
    assert_eq!(
        x.winner,
        Some(Location::Remote {
            vtep: ip("198.18.0.9")
        })
    );
    assert!(x.local_dormant);
    assert_eq!(x.installed.map(|i| i.0), x.winner);
    // A sticky local claim never moves.
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    attach(&mut e, VNI, m, None, true, now).unwrap();
    e.remote_best_change(&claim_from(9, m, 7, false), now);
    let x = e.explain_mac(VNI, m).unwrap();
    assert_eq!(x.decision, Decision::LocalSticky);
    assert_eq!(x.winner, Some(Location::Local));
    assert!(x.sticky_conflict);
}

#[test]
fn ip_decisions_follow_the_binding_rules() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let addr = ip("192.0.2.9");
    assert!(e.explain_ip(VNI, addr).is_none());
    attach(&mut e, VNI, mac(1), Some(addr), false, now).unwrap();
    let x = e.explain_ip(VNI, addr).unwrap();
    assert_eq!(x.decision, Decision::OnlyClaim);
    assert_eq!(x.winner, Some((mac(1), Location::Local)));
    // A remote claim on the IP for another MAC does not beat the local binding.
    e.remote_best_change(
        &remote_mac_ip(
            rd_of(4),
            VNI,
            mac(2),
            Some(addr),
            ip("198.18.0.4"),
            vec![rt(65001, 100)],
        ),
        now,
    );
    let x = e.explain_ip(VNI, addr).unwrap();
    assert_eq!(x.decision, Decision::LocalBinding);
    assert_eq!(x.installed.map(|b| (b.mac, b.location)), x.winner);
    assert_eq!(x.remotes.len(), 1);
    assert_eq!(x.remotes[0].mac, mac(2));
}
