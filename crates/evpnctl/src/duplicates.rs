//! `evpnctl show duplicates`: the MACs and IPs frozen as duplicates (RFC 7432 §15.1, RFC 9161
//! duplicate-IP detection), gathered from the MAC and ARP/ND tables of the VNIs whose counters
//! say they hold any, so a fabric without duplicates costs one `ListVnis` call.

use crate::client::Failure;
use crate::evpn::{dup_json, dup_text};
use evpnd_api::v1;
use serde_json::{json, Value};
use std::process::ExitCode;

/// One frozen MAC or IP.
#[derive(Debug, Clone, PartialEq)]
pub struct Frozen {
    /// "mac" or "ip".
    pub kind: &'static str,
    /// The VNI.
    pub vni: u32,
    /// The MAC (for an IP: the MAC it was last bound to).
    pub mac: String,
    /// The IP ("" for a MAC).
    pub ip: String,
    /// Where it was frozen: "local" or the remote VTEP.
    pub location: String,
    /// The freeze.
    pub duplicate: Option<v1::DuplicateState>,
}

fn frozen(d: &Option<v1::DuplicateState>) -> bool {
    d.is_some_and(|d| d.frozen)
}

/// The frozen entries of one page of the MAC table.
pub fn frozen_macs(r: &v1::ListMacsResponse) -> impl Iterator<Item = Frozen> + '_ {
    r.macs
        .iter()
        .filter(|m| frozen(&m.duplicate))
        .map(|m| Frozen {
            kind: "mac",
            vni: m.vni,
            mac: m.mac.clone(),
            ip: String::new(),
            location: m.location.clone(),
            duplicate: m.duplicate,
        })
}

/// The frozen entries of one page of the ARP/ND table.
pub fn frozen_ips(r: &v1::ListArpResponse) -> impl Iterator<Item = Frozen> + '_ {
    r.neighbors
        .iter()
        .filter(|n| frozen(&n.duplicate))
        .map(|n| Frozen {
            kind: "ip",
            vni: n.vni,
            mac: n.mac.clone(),
            ip: n.ip.clone(),
            location: n.location.clone(),
            duplicate: n.duplicate,
        })
}

fn to_json(f: &Frozen) -> Value {
    json!({"kind": f.kind, "vni": f.vni, "mac": f.mac, "ip": f.ip, "location": f.location,
           "duplicate": dup_json(&f.duplicate)})
}

fn to_table(list: &[Frozen]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            vec![
                f.kind.to_string(),
                f.vni.to_string(),
                if f.ip.is_empty() {
                    f.mac.clone()
                } else {
                    f.ip.clone()
                },
                if f.ip.is_empty() {
                    "-".into()
                } else {
                    f.mac.clone()
                },
                f.location.clone(),
                dup_text(&f.duplicate),
            ]
        })
        .collect();
    format!(
        "{}\n{} duplicate(s) frozen",
        crate::show::table(&["KIND", "VNI", "KEY", "MAC", "LOCATION", "STATE"], &rows),
        list.len()
    )
}

/// `show duplicates [--vni N] [--json]`.
pub fn show(api: &str, a: crate::evpn::VniArgs) -> ExitCode {
    crate::client::run(api, |mut c| async move {
        let vnis = crate::evpn::all_vnis(&mut c, a.page_size).await?;
        let mut list = Vec::new();
        for v in vnis
            .vnis
            .iter()
            .filter(|v| v.duplicates > 0 && a.vni.is_none_or(|only| only == v.vni))
        {
            let mut token = String::new();
            loop {
                let r = c
                    .list_macs(v1::ListMacsRequest {
                        vni: v.vni,
                        page_size: a.page_size,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                list.extend(frozen_macs(&r));
                if r.next_page_token.is_empty() {
                    break;
                }
                token = r.next_page_token;
            }
            let mut token = String::new();
            loop {
                let r = c
                    .list_arp(v1::ListArpRequest {
                        vni: v.vni,
                        page_size: a.page_size,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                list.extend(frozen_ips(&r));
                if r.next_page_token.is_empty() {
                    break;
                }
                token = r.next_page_token;
            }
        }
        if a.json {
            println!("{}", Value::Array(list.iter().map(to_json).collect()));
        } else {
            println!("{}", to_table(&list));
        }
        Ok::<(), Failure>(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn state(frozen: bool) -> Option<v1::DuplicateState> {
        Some(v1::DuplicateState {
            frozen,
            permanent: false,
            seconds_left: 42,
        })
    }

    #[test]
    fn only_frozen_entries_are_listed_with_their_key() {
        let macs = v1::ListMacsResponse {
            macs: vec![
                v1::MacEntry {
                    vni: 100,
                    mac: "02:00:00:00:00:01".into(),
                    location: "198.18.0.2".into(),
                    duplicate: state(true),
                    ..Default::default()
                },
                v1::MacEntry {
                    vni: 100,
                    mac: "02:00:00:00:00:02".into(),
                    duplicate: state(false),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let arp = v1::ListArpResponse {
            neighbors: vec![v1::NeighborEntry {
                vni: 100,
                ip: "192.0.2.9".into(),
                mac: "02:00:00:00:00:09".into(),
                location: "local".into(),
                duplicate: state(true),
                ..Default::default()
            }],
            ..Default::default()
        };
        let list: Vec<Frozen> = frozen_macs(&macs).chain(frozen_ips(&arp)).collect();
        assert_eq!(list.len(), 2);
        let text = to_table(&list);
        assert!(text.contains("02:00:00:00:00:01"), "{text}");
        assert!(!text.contains("02:00:00:00:00:02"), "{text}");
        assert!(
            text.contains("192.0.2.9") && text.contains("frozen 42s"),
            "{text}"
        );
        assert!(text.ends_with("2 duplicate(s) frozen"), "{text}");
        let j = to_json(&list[1]);
        assert_eq!(j["kind"], "ip");
        assert_eq!(j["duplicate"]["frozen"], true);
    }
}
