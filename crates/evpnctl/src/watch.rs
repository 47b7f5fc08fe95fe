//! `evpnctl watch routes|macs|events|intents`: follows one of evpnd's watch streams
//! (`service Watch`, crates/api/proto/watch.proto; contract in docs/watch.md) and prints each
//! message as it arrives, one line each (`--json`: one JSON object per line, schema in
//! docs/evpnctl-json.md), until interrupted. A stream the daemon cuts off (a consumer too
//! slow, RESOURCE_EXHAUSTED) ends with its message, which names the sequence to resume from
//! with `--from`; the exit status is then 1 (3 when the daemon cannot be reached).

use crate::client::Failure;
use clap::{Args, Subcommand};
use evpnd_api::v1;
use evpnd_api::v1::watch_client::WatchClient;
use serde_json::{json, Value};
use std::process::ExitCode;
use tonic::transport::Channel;
use tonic::Streaming;

/// Which stream.
#[derive(Debug, Subcommand)]
pub enum WatchCommand {
    /// Best-path changes of the RIB (new or changed best path, route withdrawn).
    Routes(WatchRoutesArgs),
    /// MAC-table changes, after a snapshot of the table.
    Macs(WatchVniArgs),
    /// Node events: sessions, MAC moves, duplicates, data-plane link state and failures.
    Events(WatchArgs),
    /// The data-plane intent stream, after a snapshot of the desired data-plane state.
    Intents(WatchArgs),
}

/// Where to start, and how to print.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Continue after this sequence (0 or absent: from now, with a snapshot where the stream
    /// has one).
    #[arg(long = "from", value_name = "SEQ", default_value_t = 0)]
    pub from: u64,
    /// The daemon run the sequence belongs to (the `epoch` of its messages; absent: not
    /// checked).
    #[arg(long, default_value_t = 0)]
    pub epoch: u64,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `watch macs`.
#[derive(Debug, Args)]
pub struct WatchVniArgs {
    #[command(flatten)]
    pub common: WatchArgs,
    /// Only this VNI.
    #[arg(long)]
    pub vni: Option<u32>,
}

/// `watch routes`.
#[derive(Debug, Args)]
pub struct WatchRoutesArgs {
    #[command(flatten)]
    pub common: WatchArgs,
    /// Only routes of this VNI.
    #[arg(long)]
    pub vni: Option<u32>,
    /// Only this family (l2vpn-evpn, ipv4-rtc, ipv4-unicast, ipv6-unicast).
    #[arg(long)]
    pub family: Option<String>,
}

/// Follows the stream `cmd` names on the daemon at `api`.
pub fn run(api: &str, cmd: WatchCommand) -> ExitCode {
    crate::client::run_on(api, |channel| follow(channel, cmd))
}

async fn follow(channel: Channel, cmd: WatchCommand) -> Result<(), Failure> {
    let mut c = WatchClient::new(channel);
    let status = Failure::from;
    match cmd {
        WatchCommand::Intents(a) => {
            let req = v1::WatchIntentsRequest {
                from_sequence: a.from,
                epoch: a.epoch,
            };
            let s = c.watch_intents(req).await.map_err(status)?.into_inner();
            print_all(s, a.json, intent_message_json, intent_message_text).await
        }
        WatchCommand::Routes(a) => {
            let req = v1::WatchRoutesRequest {
                from_sequence: a.common.from,
                epoch: a.common.epoch,
                vni: a.vni.unwrap_or(0),
                family: a.family.unwrap_or_default(),
            };
            let s = c.watch_routes(req).await.map_err(status)?.into_inner();
            print_all(s, a.common.json, route_message_json, route_message_text).await
        }
        WatchCommand::Macs(a) => {
            let req = v1::WatchMacsRequest {
                from_sequence: a.common.from,
                epoch: a.common.epoch,
                vni: a.vni.unwrap_or(0),
            };
            let s = c.watch_macs(req).await.map_err(status)?.into_inner();
            print_all(s, a.common.json, mac_message_json, mac_message_text).await
        }
        WatchCommand::Events(a) => {
            let req = v1::WatchEventsRequest {
                from_sequence: a.from,
                epoch: a.epoch,
            };
            let s = c.watch_events(req).await.map_err(status)?.into_inner();
            print_all(s, a.json, event_message_json, event_message_text).await
        }
    }
}

/// Prints every message of `s` as it arrives, until the stream ends or fails.
async fn print_all<M>(
    mut s: Streaming<M>,
    json_out: bool,
    as_json: fn(&M) -> Value,
    as_text: fn(&M) -> String,
) -> Result<(), Failure> {
    loop {
        match s.message().await {
            Ok(Some(m)) => {
                if json_out {
                    println!("{}", as_json(&m));
                } else {
                    println!("{}", as_text(&m));
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(Failure::from(e)),
        }
    }
}

/// The common head of every line: epoch, sequence and type.
fn head(epoch: u64, sequence: u64, kind: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("epoch".into(), json!(epoch));
    m.insert("sequence".into(), json!(sequence));
    m.insert("type".into(), json!(kind));
    m
}

// ---------------------------------------------------------------- intents

/// An intent as JSON: `{"op": "remote_mac", "vni": 100, ...}` with the fields of its kind.
fn intent_json(i: &v1::DataplaneIntent) -> Value {
    use v1::dataplane_intent::Kind as K;
    match &i.kind {
        Some(K::Vni(v)) if v.vrf.is_empty() => json!({"op": "vni", "vni": v.vni}),
        Some(K::Vni(v)) => json!({"op": "vni", "vni": v.vni, "vrf": v.vrf}),
        Some(K::RemoveVni(v)) => json!({"op": "remove_vni", "vni": v.vni}),
        Some(K::Port(p)) => json!({"op": "port", "vni": p.vni, "port": p.port}),
        Some(K::RemovePort(p)) => json!({"op": "remove_port", "vni": p.vni, "port": p.port}),
        Some(K::Synced(_)) => json!({"op": "synced"}),
        Some(K::RemoteMac(m)) => json!({"op": "remote_mac", "vni": m.vni, "mac": m.mac,
                                        "vtep": m.vtep, "sticky": m.sticky}),
        Some(K::RemoveRemoteMac(m)) => json!({"op": "remove_remote_mac", "vni": m.vni,
                                              "mac": m.mac}),
        Some(K::Flood(f)) => json!({"op": "flood", "vni": f.vni, "vtep": f.vtep}),
        Some(K::RemoveFlood(f)) => json!({"op": "remove_flood", "vni": f.vni, "vtep": f.vtep}),
        Some(K::Neighbor(n)) => json!({"op": "neighbor", "vni": n.vni, "ip": n.ip, "mac": n.mac,
                                       "router": n.router, "local": n.local}),
        Some(K::RemoveNeighbor(n)) => json!({"op": "remove_neighbor", "vni": n.vni, "ip": n.ip}),
        Some(K::Vrf(v)) => json!({"op": "vrf", "vrf": v.vrf, "l3vni": v.l3vni,
                                  "router_mac": v.router_mac}),
        Some(K::RemoveVrf(v)) => json!({"op": "remove_vrf", "vrf": v.vrf}),
        Some(K::Gateway(g)) => json!({"op": "gateway", "vni": g.vni, "address": g.address,
                                      "prefix_len": g.prefix_len, "mac": g.mac}),
        Some(K::RemoveGateway(g)) => json!({"op": "remove_gateway", "vni": g.vni,
                                            "address": g.address, "prefix_len": g.prefix_len}),
        Some(K::RouterMac(r)) => json!({"op": "router_mac", "vrf": r.vrf, "vtep": r.vtep,
                                        "mac": r.mac}),
        Some(K::RemoveRouterMac(r)) => json!({"op": "remove_router_mac", "vrf": r.vrf,
                                              "vtep": r.vtep}),
        Some(K::RemoteRoute(r)) => json!({"op": "remote_route", "vrf": r.vrf,
                                          "prefix": r.prefix, "vtep": r.vtep}),
        Some(K::RemoveRemoteRoute(r)) => json!({"op": "remove_remote_route", "vrf": r.vrf,
                                                "prefix": r.prefix, "vtep": r.vtep}),
        Some(K::GatewayRoute(r)) => json!({"op": "gateway_route", "vrf": r.vrf,
                                           "prefix": r.prefix, "via": r.via}),
        Some(K::RemoveGatewayRoute(r)) => json!({"op": "remove_gateway_route", "vrf": r.vrf,
                                                 "prefix": r.prefix, "via": r.via}),
        None => json!({"op": "unknown"}),
    }
}

fn intent_text(i: &v1::DataplaneIntent) -> String {
    use v1::dataplane_intent::Kind as K;
    match &i.kind {
        Some(K::Vni(v)) if v.vrf.is_empty() => format!("vni {}", v.vni),
        Some(K::Vni(v)) => format!("vni {} vrf {}", v.vni, v.vrf),
        Some(K::RemoveVni(v)) => format!("remove vni {}", v.vni),
        Some(K::Port(p)) => format!("port vni {} {}", p.vni, p.port),
        Some(K::RemovePort(p)) => format!("remove port vni {} {}", p.vni, p.port),
        Some(K::Synced(_)) => "synced".into(),
        Some(K::RemoteMac(m)) => format!(
            "remote-mac vni {} {} -> {}{}",
            m.vni,
            m.mac,
            m.vtep,
            if m.sticky { " sticky" } else { "" }
        ),
        Some(K::RemoveRemoteMac(m)) => format!("remove remote-mac vni {} {}", m.vni, m.mac),
        Some(K::Flood(f)) => format!("flood vni {} {}", f.vni, f.vtep),
        Some(K::RemoveFlood(f)) => format!("remove flood vni {} {}", f.vni, f.vtep),
        Some(K::Neighbor(n)) => format!(
            "neighbor vni {} {} is-at {}{}{}",
            n.vni,
            n.ip,
            n.mac,
            if n.router { " router" } else { "" },
            if n.local { " local" } else { "" }
        ),
        Some(K::RemoveNeighbor(n)) => format!("remove neighbor vni {} {}", n.vni, n.ip),
        Some(K::Vrf(v)) => format!("vrf {} l3vni {} rmac {}", v.vrf, v.l3vni, v.router_mac),
        Some(K::RemoveVrf(v)) => format!("remove vrf {}", v.vrf),
        Some(K::Gateway(g)) => format!(
            "gateway vni {} {}/{} mac {}",
            g.vni, g.address, g.prefix_len, g.mac
        ),
        Some(K::RemoveGateway(g)) => {
            format!(
                "remove gateway vni {} {}/{}",
                g.vni, g.address, g.prefix_len
            )
        }
        Some(K::RouterMac(r)) => format!("router-mac vrf {} {} is {}", r.vrf, r.vtep, r.mac),
        Some(K::RemoveRouterMac(r)) => format!("remove router-mac vrf {} {}", r.vrf, r.vtep),
        Some(K::RemoteRoute(r)) => format!("route vrf {} {} -> vtep {}", r.vrf, r.prefix, r.vtep),
        Some(K::RemoveRemoteRoute(r)) => {
            format!("remove route vrf {} {} -> vtep {}", r.vrf, r.prefix, r.vtep)
        }
        Some(K::GatewayRoute(r)) => format!("route vrf {} {} via {}", r.vrf, r.prefix, r.via),
        Some(K::RemoveGatewayRoute(r)) => {
            format!("remove route vrf {} {} via {}", r.vrf, r.prefix, r.via)
        }
        None => "unknown intent".into(),
    }
}

fn intent_message_json(m: &v1::IntentMessage) -> Value {
    use v1::intent_message::Body;
    let mut o = head(m.epoch, m.sequence, "");
    let kind = match &m.body {
        Some(Body::SnapshotBegin(_)) => "snapshot_begin",
        Some(Body::SnapshotEntry(i)) => {
            o.insert("intent".into(), intent_json(i));
            "snapshot_entry"
        }
        Some(Body::SnapshotEnd(e)) => {
            o.insert("entries".into(), json!(e.entries));
            o.insert("synced".into(), json!(e.synced));
            "snapshot_end"
        }
        Some(Body::Delta(i)) => {
            o.insert("intent".into(), intent_json(i));
            "delta"
        }
        None => "unknown",
    };
    o.insert("type".into(), json!(kind));
    Value::Object(o)
}

fn intent_message_text(m: &v1::IntentMessage) -> String {
    use v1::intent_message::Body;
    let what = match &m.body {
        Some(Body::SnapshotBegin(_)) => format!("snapshot begin (epoch {})", m.epoch),
        Some(Body::SnapshotEntry(i)) => format!("  {}", intent_text(i)),
        Some(Body::SnapshotEnd(e)) => format!(
            "snapshot end: {} entries{}",
            e.entries,
            if e.synced { ", synced" } else { "" }
        ),
        Some(Body::Delta(i)) => intent_text(i),
        None => "unknown".into(),
    };
    format!("#{} {what}", m.sequence)
}

// ---------------------------------------------------------------- routes

fn route_kind(kind: i32) -> &'static str {
    match v1::RouteChangeKind::try_from(kind) {
        Ok(v1::RouteChangeKind::RouteChangeBest) => "best",
        Ok(v1::RouteChangeKind::RouteChangeWithdrawn) => "withdrawn",
        _ => "unknown",
    }
}

fn route_message_json(m: &v1::RouteMessage) -> Value {
    let mut o = head(m.epoch, m.sequence, route_kind(m.kind));
    let route = m
        .route
        .as_ref()
        .map(|r| {
            let list = v1::ListRoutesResponse {
                routes: vec![r.clone()],
                ..Default::default()
            };
            crate::show::routes_json(&list).pop().unwrap_or(Value::Null)
        })
        .unwrap_or(Value::Null);
    o.insert("route".into(), route);
    Value::Object(o)
}

fn route_message_text(m: &v1::RouteMessage) -> String {
    let (prefix, via) = m
        .route
        .as_ref()
        .map_or((String::new(), String::new()), |r| {
            let via = r
                .paths
                .first()
                .map(|p| format!(" via {} from {}", p.next_hop, p.source))
                .unwrap_or_default();
            (format!("{} {}", r.family, r.prefix), via)
        });
    format!("#{} {} {prefix}{via}", m.sequence, route_kind(m.kind))
}

// ---------------------------------------------------------------- MACs and events

fn mac_kind(kind: i32) -> &'static str {
    use v1::MacChangeKind as K;
    match K::try_from(kind) {
        Ok(K::MacChangeAdded) => "added",
        Ok(K::MacChangeMoved) => "moved",
        Ok(K::MacChangeRemoved) => "removed",
        Ok(K::MacChangeFrozen) => "frozen",
        Ok(K::MacChangeUnfrozen) => "unfrozen",
        Ok(K::MacChangeStickyConflict) => "sticky_conflict",
        _ => "unknown",
    }
}

/// A MAC change as JSON: every field, whatever the kind (unused ones are empty / 0).
fn mac_change_json(c: &v1::MacChange) -> Value {
    json!({
        "change": mac_kind(c.kind), "vni": c.vni, "mac": c.mac, "ip": c.ip,
        "location": c.location, "previous_location": c.previous_location,
        "mobility_sequence": c.mobility_sequence, "sticky": c.sticky,
        "freeze_seconds": c.freeze_seconds, "permanent": c.permanent,
        "by_operator": c.by_operator, "claimed_location": c.claimed_location,
    })
}

fn mac_change_text(c: &v1::MacChange) -> String {
    let subject = if c.mac.is_empty() { &c.ip } else { &c.mac };
    let detail = match v1::MacChangeKind::try_from(c.kind) {
        Ok(v1::MacChangeKind::MacChangeAdded) => format!(" at {}", c.location),
        Ok(v1::MacChangeKind::MacChangeMoved) => format!(
            " {} -> {} (sequence {})",
            c.previous_location, c.location, c.mobility_sequence
        ),
        Ok(v1::MacChangeKind::MacChangeFrozen) if c.permanent => {
            format!(" at {} until cleared", c.location)
        }
        Ok(v1::MacChangeKind::MacChangeFrozen) => {
            format!(" at {} for {} s", c.location, c.freeze_seconds)
        }
        Ok(v1::MacChangeKind::MacChangeUnfrozen) if c.by_operator => " by the operator".into(),
        Ok(v1::MacChangeKind::MacChangeStickyConflict) => format!(
            " sticky at {}, claimed at {}",
            c.location, c.claimed_location
        ),
        _ => String::new(),
    };
    format!("{} vni {} {subject}{detail}", mac_kind(c.kind), c.vni)
}

fn mac_message_json(m: &v1::MacMessage) -> Value {
    use v1::mac_message::Body;
    let mut o = head(m.epoch, m.sequence, "");
    let kind = match &m.body {
        Some(Body::SnapshotBegin(_)) => "snapshot_begin",
        Some(Body::SnapshotEntry(e)) => {
            let list = v1::ListMacsResponse {
                macs: vec![e.clone()],
                ..Default::default()
            };
            let entry = crate::evpn::macs_json(&list).pop().unwrap_or(Value::Null);
            o.insert("mac".into(), entry);
            "snapshot_entry"
        }
        Some(Body::SnapshotEnd(e)) => {
            o.insert("entries".into(), json!(e.entries));
            "snapshot_end"
        }
        Some(Body::Change(c)) => {
            o.insert("change".into(), mac_change_json(c));
            "change"
        }
        None => "unknown",
    };
    o.insert("type".into(), json!(kind));
    Value::Object(o)
}

fn mac_message_text(m: &v1::MacMessage) -> String {
    use v1::mac_message::Body;
    let what = match &m.body {
        Some(Body::SnapshotBegin(_)) => format!("snapshot begin (epoch {})", m.epoch),
        Some(Body::SnapshotEntry(e)) => format!(
            "  vni {} {} at {} sequence {}{}",
            e.vni,
            e.mac,
            e.location,
            e.sequence,
            if e.sticky { " sticky" } else { "" }
        ),
        Some(Body::SnapshotEnd(e)) => format!("snapshot end: {} entries", e.entries),
        Some(Body::Change(c)) => mac_change_text(c),
        None => "unknown".into(),
    };
    format!("#{} {what}", m.sequence)
}

fn event_message_json(m: &v1::EventMessage) -> Value {
    use v1::event_message::Event as E;
    let (kind, fields) = match &m.event {
        Some(E::SessionUp(u)) => (
            "session_up",
            json!({"peer": u.peer, "families": u.families}),
        ),
        Some(E::SessionDown(d)) => (
            "session_down",
            json!({"peer": d.peer, "reason": d.reason, "graceful": d.graceful}),
        ),
        Some(E::ConnectionRefused(r)) => ("connection_refused", json!({"remote": r.remote})),
        Some(E::MaxPrefix(p)) => (
            "max_prefix",
            json!({"peer": p.peer, "family": p.family, "limit": p.limit}),
        ),
        Some(E::DeferralStarted(d)) => ("deferral_started", json!({"seconds": d.seconds})),
        Some(E::DeferralEnded(d)) => ("deferral_ended", json!({"timed_out": d.timed_out})),
        Some(E::WildcardImportWithRtc(_)) => ("wildcard_import_with_rtc", json!({})),
        Some(E::Ignored(i)) => ("ignored", json!({"reason": i.reason})),
        Some(E::Mac(c)) => ("mac", mac_change_json(c)),
        Some(E::DataplaneLink(l)) => (
            "dataplane_link",
            json!({"vni": l.vni, "up": l.up, "reason": l.reason}),
        ),
        Some(E::DataplaneFailed(f)) => (
            "dataplane_failed",
            json!({"intent": f.intent.as_ref().map(intent_json), "reason": f.reason}),
        ),
        None => ("unknown", json!({})),
    };
    let mut o = head(m.epoch, m.sequence, kind);
    if let Value::Object(f) = fields {
        o.extend(f);
    }
    Value::Object(o)
}

fn event_message_text(m: &v1::EventMessage) -> String {
    use v1::event_message::Event as E;
    let what = match &m.event {
        Some(E::SessionUp(u)) => format!("session up {} ({})", u.peer, u.families.join(", ")),
        Some(E::SessionDown(d)) => format!(
            "session down {}: {}{}",
            d.peer,
            d.reason,
            if d.graceful {
                " (graceful restart)"
            } else {
                ""
            }
        ),
        Some(E::ConnectionRefused(r)) => format!("connection refused from {}", r.remote),
        Some(E::MaxPrefix(p)) => format!(
            "maximum prefix count {} reached: {} {}",
            p.limit, p.peer, p.family
        ),
        Some(E::DeferralStarted(d)) => format!("advertising deferred for {} s", d.seconds),
        Some(E::DeferralEnded(d)) if d.timed_out => "deferral ended: timed out".into(),
        Some(E::DeferralEnded(_)) => "deferral ended: every End-of-RIB in".into(),
        Some(E::WildcardImportWithRtc(_)) => {
            "a wildcard import cannot be an RT-Constraint membership".into()
        }
        Some(E::Ignored(i)) => format!("ignored: {}", i.reason),
        Some(E::Mac(c)) => format!("mac {}", mac_change_text(c)),
        Some(E::DataplaneLink(l)) if l.up => format!("data plane vni {} up", l.vni),
        Some(E::DataplaneLink(l)) => format!("data plane vni {} down: {}", l.vni, l.reason),
        Some(E::DataplaneFailed(f)) => format!(
            "data plane failed {}: {}",
            f.intent.as_ref().map(intent_text).unwrap_or_default(),
            f.reason
        ),
        None => "unknown".into(),
    };
    format!("#{} {what}", m.sequence)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn intent_lines() {
        let m = v1::IntentMessage {
            epoch: 7,
            sequence: 12,
            body: Some(v1::intent_message::Body::Delta(v1::DataplaneIntent {
                kind: Some(v1::dataplane_intent::Kind::RemoteMac(v1::IntentRemoteMac {
                    vni: 100,
                    mac: "02:00:00:00:00:01".into(),
                    vtep: "198.19.0.2".into(),
                    sticky: true,
                })),
            })),
        };
        assert_eq!(
            intent_message_json(&m),
            json!({"epoch": 7, "sequence": 12, "type": "delta",
                   "intent": {"op": "remote_mac", "vni": 100, "mac": "02:00:00:00:00:01",
                              "vtep": "198.19.0.2", "sticky": true}})
        );
        assert_eq!(
            intent_message_text(&m),
            "#12 remote-mac vni 100 02:00:00:00:00:01 -> 198.19.0.2 sticky"
        );
        let end = v1::IntentMessage {
            epoch: 7,
            sequence: 11,
            body: Some(v1::intent_message::Body::SnapshotEnd(v1::SnapshotEnd {
                entries: 3,
                synced: true,
            })),
        };
        assert_eq!(
            intent_message_json(&end),
            json!({"epoch": 7, "sequence": 11, "type": "snapshot_end", "entries": 3,
                   "synced": true})
        );
    }

    #[test]
    fn event_lines() {
        let m = v1::EventMessage {
            epoch: 1,
            sequence: 3,
            event: Some(v1::event_message::Event::Mac(v1::MacChange {
                kind: v1::MacChangeKind::MacChangeMoved as i32,
                vni: 100,
                mac: "02:00:00:00:00:01".into(),
                location: "198.19.0.2".into(),
                previous_location: "local".into(),
                mobility_sequence: 1,
                ..Default::default()
            })),
        };
        let j = event_message_json(&m);
        assert_eq!(j["type"], "mac");
        assert_eq!(j["change"], "moved");
        assert_eq!(j["previous_location"], "local");
        assert_eq!(
            event_message_text(&m),
            "#3 mac moved vni 100 02:00:00:00:00:01 local -> 198.19.0.2 (sequence 1)"
        );
    }
}
