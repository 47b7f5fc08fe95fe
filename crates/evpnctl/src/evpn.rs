//! The EVPN commands: `show vnis|macs|flood|arp|dataplane`, `attach`, `detach` and
//! `clear duplicate`, over the daemon's gRPC API. JSON output (`--json`) is one document whose
//! field names are those of `crates/api/proto/evpnd.proto` (schema in `docs/evpnctl-json.md`).

use crate::client::PageOut;
use crate::show::table;
use clap::{Args, Subcommand};
use evpnd_api::v1;
use serde_json::{json, Value};
use std::process::ExitCode;

/// `--vni`, `--json` and `--page-size` of the paged EVPN table commands.
#[derive(Debug, Args)]
pub struct VniArgs {
    /// Only this VNI (default: every VNI).
    #[arg(long)]
    pub vni: Option<u32>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Entries fetched per request (paged lists; the daemon serves at most 10000, and
    /// walks its whole MAC or ARP table for each page, so large pages list large tables
    /// faster).
    #[arg(long, default_value_t = 10_000)]
    pub page_size: u32,
}

/// `--vni`, `--json` and `--page-size` of `show vnis` (every page is fetched, then printed as
/// one table or document with the engine's status once).
#[derive(Debug, Args)]
pub struct VnisArgs {
    /// Only this VNI (default: every VNI).
    #[arg(long)]
    pub vni: Option<u32>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// VNIs fetched per request (the daemon serves at most 10000).
    #[arg(long, default_value_t = 10_000)]
    pub page_size: u32,
}

/// An endpoint: VNI, MAC and optional IP.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// The VNI (an `[[vni]]` of the daemon).
    #[arg(long)]
    pub vni: u32,
    /// The MAC address (unicast).
    #[arg(long)]
    pub mac: String,
    /// An IP address bound to the MAC.
    #[arg(long)]
    pub ip: Option<String>,
}

/// `evpnctl attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// A static MAC: never moves, advertised with the sticky bit (RFC 7432 §15.2).
    #[arg(long)]
    pub sticky: bool,
    /// The IP is a router's (IPv6: the ND R flag, RFC 9047).
    #[arg(long)]
    pub router: bool,
    /// An immutable IP↔MAC binding (RFC 9047 I flag).
    #[arg(long)]
    pub static_binding: bool,
    /// The host interface the endpoint sits behind (a veth or tap): evpnd plugs it into the
    /// VNI's bridge.
    #[arg(long)]
    pub interface: Option<String>,
}

/// What `evpnctl clear` clears.
#[derive(Debug, Subcommand)]
pub enum ClearCommand {
    /// Unfreeze a duplicate MAC or IP (RFC 7432 §15.1, RFC 9161 duplicate-IP detection); without --mac/--ip,
    /// everything frozen in the VNI.
    Duplicate {
        /// The VNI.
        #[arg(long)]
        vni: u32,
        /// Only this MAC.
        #[arg(long, conflicts_with = "ip")]
        mac: Option<String>,
        /// Only this IP.
        #[arg(long)]
        ip: Option<String>,
    },
}

/// Runs `f` with a client of the daemon at `api` and prints what it returns.
fn with_client<F, Fut>(api: &str, f: F) -> ExitCode
where
    F: FnOnce(evpnd_api::v1::evpnd_client::EvpndClient<tonic::transport::Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<String, tonic::Status>>,
{
    crate::client::print(api, f)
}

/// Every VNI of the daemon, page after page (`page_size` per request), gathered into one
/// answer with the engine's status as the last page gave it.
pub async fn all_vnis(
    c: &mut evpnd_api::v1::evpnd_client::EvpndClient<tonic::transport::Channel>,
    page_size: u32,
) -> Result<v1::ListVnisResponse, tonic::Status> {
    let mut r = v1::ListVnisResponse::default();
    let mut page_token = String::new();
    loop {
        let page = c
            .list_vnis(v1::ListVnisRequest {
                page_size,
                page_token,
            })
            .await?
            .into_inner();
        r.vnis.extend(page.vnis);
        r.status = page.status;
        if page.next_page_token.is_empty() {
            return Ok(r);
        }
        page_token = page.next_page_token;
    }
}

/// `show vnis`: every page, printed as one table or document.
pub fn show_vnis(api: &str, a: VnisArgs) -> ExitCode {
    with_client(api, |mut c| async move {
        let mut r = all_vnis(&mut c, a.page_size).await?;
        if let Some(v) = a.vni {
            r.vnis.retain(|x| x.vni == v);
        }
        Ok(if a.json {
            vnis_json(&r).to_string()
        } else {
            vnis_table(&r)
        })
    })
}

/// `show macs`, page after page.
pub fn show_macs(api: &str, a: VniArgs) -> ExitCode {
    crate::client::run(api, |client| async move {
        let json = a.json;
        crate::client::print_pages(json, &MAC_HEADER, "MAC", |page_token| {
            let req = v1::ListMacsRequest {
                vni: a.vni.unwrap_or(0),
                page_size: a.page_size,
                page_token,
            };
            let mut c = client.clone();
            async move {
                let r = c.list_macs(req).await?.into_inner();
                Ok(PageOut {
                    json: if json { macs_json(&r) } else { Vec::new() },
                    rows: if json { Vec::new() } else { mac_rows(&r) },
                    entries: r.macs.len(),
                    next_page_token: r.next_page_token,
                })
            }
        })
        .await
    })
}

/// `show flood`, page after page.
pub fn show_flood(api: &str, a: VniArgs) -> ExitCode {
    crate::client::run(api, |client| async move {
        let json = a.json;
        crate::client::print_pages(json, &["VNI", "REMOTE VTEPS"], "flood list", |page_token| {
            let req = v1::ListFloodRequest {
                vni: a.vni.unwrap_or(0),
                page_size: a.page_size,
                page_token,
            };
            let mut c = client.clone();
            async move {
                let r = c.list_flood(req).await?.into_inner();
                Ok(PageOut {
                    json: r.lists.iter().map(flood_json).collect(),
                    rows: flood_rows(&r.lists),
                    entries: r.lists.len(),
                    next_page_token: r.next_page_token,
                })
            }
        })
        .await
    })
}

/// `show arp`, page after page.
pub fn show_arp(api: &str, a: VniArgs) -> ExitCode {
    crate::client::run(api, |client| async move {
        let json = a.json;
        crate::client::print_pages(json, &ARP_HEADER, "binding", |page_token| {
            let req = v1::ListArpRequest {
                vni: a.vni.unwrap_or(0),
                page_size: a.page_size,
                page_token,
            };
            let mut c = client.clone();
            async move {
                let r = c.list_arp(req).await?.into_inner();
                Ok(PageOut {
                    json: if json { arp_json(&r) } else { Vec::new() },
                    rows: if json { Vec::new() } else { arp_rows(&r) },
                    entries: r.neighbors.len(),
                    next_page_token: r.next_page_token,
                })
            }
        })
        .await
    })
}

/// `show endpoints`, page after page.
pub fn show_endpoints(api: &str, a: VniArgs) -> ExitCode {
    crate::client::run(api, |client| async move {
        let json = a.json;
        let header = ["VNI", "MAC", "IPS", "STICKY", "INTERFACE", "ORIGIN"];
        crate::client::print_pages(json, &header, "endpoint", |page_token| {
            let req = v1::ListEndpointsRequest {
                vni: a.vni.unwrap_or(0),
                page_size: a.page_size,
                page_token,
            };
            let mut c = client.clone();
            async move {
                let r = c.list_endpoints(req).await?.into_inner();
                Ok(PageOut {
                    json: r.endpoints.iter().map(endpoint_json).collect(),
                    rows: r.endpoints.iter().map(endpoint_row).collect(),
                    entries: r.endpoints.len(),
                    next_page_token: r.next_page_token,
                })
            }
        })
        .await
    })
}

fn endpoint_json(e: &v1::Endpoint) -> Value {
    json!({
        "vni": e.vni, "mac": e.mac, "ips": e.ips, "sticky": e.sticky,
        "interface": e.interface, "origins": e.origins,
    })
}

fn endpoint_row(e: &v1::Endpoint) -> Vec<String> {
    let or_dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
    vec![
        e.vni.to_string(),
        e.mac.clone(),
        or_dash(e.ips.join(",")),
        if e.sticky { "yes" } else { "no" }.to_string(),
        or_dash(e.interface.clone()),
        e.origins.join("+"),
    ]
}

/// `show dataplane`.
pub fn show_dataplane(api: &str, json_out: bool) -> ExitCode {
    with_client(api, |mut c| async move {
        let r = c
            .list_dataplane(v1::ListDataplaneRequest {})
            .await?
            .into_inner();
        Ok(if json_out {
            dataplane_json(&r).to_string()
        } else {
            dataplane_text(&r)
        })
    })
}

/// `attach`.
pub fn attach(api: &str, a: AttachArgs) -> ExitCode {
    let what = endpoint_text(&a.endpoint);
    with_client(api, |mut c| async move {
        c.attach_endpoint(v1::AttachEndpointRequest {
            vni: a.endpoint.vni,
            mac: a.endpoint.mac,
            ip: a.endpoint.ip.unwrap_or_default(),
            sticky: a.sticky,
            router: a.router,
            static_binding: a.static_binding,
            interface: a.interface.unwrap_or_default(),
        })
        .await?;
        Ok(format!("attached {what}"))
    })
}

/// `detach`.
pub fn detach(api: &str, e: EndpointArgs) -> ExitCode {
    let what = endpoint_text(&e);
    with_client(api, |mut c| async move {
        c.detach_endpoint(v1::DetachEndpointRequest {
            vni: e.vni,
            mac: e.mac,
            ip: e.ip.unwrap_or_default(),
        })
        .await?;
        Ok(format!("detached {what}"))
    })
}

/// `clear duplicate`.
pub fn clear(api: &str, cmd: ClearCommand) -> ExitCode {
    let ClearCommand::Duplicate { vni, mac, ip } = cmd;
    with_client(api, |mut c| async move {
        let r = c
            .clear_duplicate(v1::ClearDuplicateRequest {
                vni,
                mac: mac.unwrap_or_default(),
                ip: ip.unwrap_or_default(),
            })
            .await?
            .into_inner();
        Ok(format!("cleared {} duplicate(s) in VNI {vni}", r.cleared))
    })
}

fn endpoint_text(e: &EndpointArgs) -> String {
    match &e.ip {
        Some(ip) => format!("{} {} in VNI {}", e.mac, ip, e.vni),
        None => format!("{} in VNI {}", e.mac, e.vni),
    }
}

fn vnis_json(r: &v1::ListVnisResponse) -> Value {
    let s = r.status.clone().unwrap_or_default();
    json!({
        "vtep": s.vtep,
        "dataplane": s.dataplane,
        "counters": {
            "learned": s.learned, "moved": s.moved, "removed": s.removed,
            "duplicate": s.duplicate, "unfrozen": s.unfrozen,
            "sticky_conflict": s.sticky_conflict, "routes_originated": s.routes_originated,
            "routes_withdrawn": s.routes_withdrawn, "intents": s.intents,
            "dataplane_failures": s.dataplane_failures,
            "dataplane_pending_retries": s.dataplane_pending_retries,
            "dataplane_resyncs": s.dataplane_resyncs,
            "dataplane_entries_written": s.dataplane_entries_written,
            "dataplane_write_micros": s.dataplane_write_micros,
        },
        "vnis": r.vnis.iter().map(|v| json!({
            "vni": v.vni, "rd": v.rd, "import_route_targets": v.import_route_targets,
            "export_route_targets": v.export_route_targets, "local_macs": v.local_macs,
            "remote_macs": v.remote_macs, "flood_vteps": v.flood_vteps,
            "neighbors": v.neighbors, "duplicates": v.duplicates,
            "dataplane_state": v.dataplane_state, "ports": v.ports,
        })).collect::<Vec<_>>(),
    })
}

fn vnis_table(r: &v1::ListVnisResponse) -> String {
    let rows: Vec<Vec<String>> = r
        .vnis
        .iter()
        .map(|v| {
            vec![
                v.vni.to_string(),
                v.rd.clone(),
                v.import_route_targets.join(","),
                v.export_route_targets.join(","),
                v.local_macs.to_string(),
                v.remote_macs.to_string(),
                v.flood_vteps.to_string(),
                v.neighbors.to_string(),
                v.duplicates.to_string(),
                if v.dataplane_state.is_empty() {
                    "-".to_string()
                } else {
                    v.dataplane_state.clone()
                },
                v.ports.join(","),
            ]
        })
        .collect();
    let s = r.status.clone().unwrap_or_default();
    format!(
        "VTEP {}, data plane {}\n{}\nevents: learned {} moved {} removed {} duplicate {} unfrozen {} sticky-conflict {}; routes originated {} withdrawn {}; intents {}; data plane failures {} retrying {} resyncs {}",
        s.vtep,
        s.dataplane,
        table(
            &[
                "VNI", "RD", "IMPORT", "EXPORT", "LOCAL", "REMOTE", "FLOOD", "ARP/ND", "DUP",
                "DATAPLANE", "PORTS"
            ],
            &rows
        ),
        s.learned,
        s.moved,
        s.removed,
        s.duplicate,
        s.unfrozen,
        s.sticky_conflict,
        s.routes_originated,
        s.routes_withdrawn,
        s.intents,
        s.dataplane_failures,
        s.dataplane_pending_retries,
        s.dataplane_resyncs
    )
}

pub(crate) fn dup_json(d: &Option<v1::DuplicateState>) -> Value {
    let d = d.unwrap_or_default();
    json!({"frozen": d.frozen, "permanent": d.permanent, "seconds_left": d.seconds_left})
}

/// "-", "frozen 42s" or "frozen (until cleared)".
pub(crate) fn dup_text(d: &Option<v1::DuplicateState>) -> String {
    match d {
        Some(d) if d.frozen && d.permanent => "frozen (until cleared)".into(),
        Some(d) if d.frozen => format!("frozen {}s", d.seconds_left),
        _ => "-".into(),
    }
}

pub(crate) fn macs_json(r: &v1::ListMacsResponse) -> Vec<Value> {
    r.macs
        .iter()
        .map(|m| {
            json!({
                "vni": m.vni, "mac": m.mac, "location": m.location, "sequence": m.sequence,
                "sticky": m.sticky, "ips": m.ips, "moves": m.moves,
                "duplicate": dup_json(&m.duplicate), "sticky_conflict": m.sticky_conflict,
                "age_seconds": m.age_seconds,
            })
        })
        .collect()
}

fn mac_rows(r: &v1::ListMacsResponse) -> Vec<Vec<String>> {
    r.macs
        .iter()
        .map(|m| {
            let mut flags = Vec::new();
            if m.sticky {
                flags.push("sticky");
            }
            if m.sticky_conflict {
                flags.push("sticky-conflict");
            }
            vec![
                m.vni.to_string(),
                m.mac.clone(),
                m.location.clone(),
                m.sequence.to_string(),
                if flags.is_empty() {
                    "-".into()
                } else {
                    flags.join(",")
                },
                m.moves.to_string(),
                dup_text(&m.duplicate),
                if m.ips.is_empty() {
                    "-".into()
                } else {
                    m.ips.join(",")
                },
            ]
        })
        .collect()
}

/// The columns of `show macs`.
const MAC_HEADER: [&str; 8] = [
    "VNI",
    "MAC",
    "LOCATION",
    "SEQ",
    "FLAGS",
    "MOVES",
    "DUPLICATE",
    "IPS",
];

fn flood_json(f: &v1::FloodList) -> Value {
    json!({"vni": f.vni, "vteps": f.vteps})
}

fn flood_rows(lists: &[v1::FloodList]) -> Vec<Vec<String>> {
    lists
        .iter()
        .map(|f| {
            vec![
                f.vni.to_string(),
                if f.vteps.is_empty() {
                    "-".into()
                } else {
                    f.vteps.join(" ")
                },
            ]
        })
        .collect()
}

fn arp_json(r: &v1::ListArpResponse) -> Vec<Value> {
    r.neighbors
        .iter()
        .map(|n| {
            json!({
                "vni": n.vni, "ip": n.ip, "mac": n.mac, "location": n.location,
                "router": n.router, "immutable": n.immutable,
                "duplicate": dup_json(&n.duplicate),
            })
        })
        .collect()
}

fn arp_rows(r: &v1::ListArpResponse) -> Vec<Vec<String>> {
    r.neighbors
        .iter()
        .map(|n| {
            let mut flags = Vec::new();
            if n.router {
                flags.push("router");
            }
            if n.immutable {
                flags.push("static");
            }
            vec![
                n.vni.to_string(),
                n.ip.clone(),
                n.mac.clone(),
                n.location.clone(),
                if flags.is_empty() {
                    "-".into()
                } else {
                    flags.join(",")
                },
                dup_text(&n.duplicate),
            ]
        })
        .collect()
}

/// The columns of `show arp`.
const ARP_HEADER: [&str; 6] = ["VNI", "IP", "MAC", "LOCATION", "FLAGS", "DUPLICATE"];

fn dataplane_json(r: &v1::ListDataplaneResponse) -> Value {
    json!({
        "kind": r.kind, "applied": r.applied, "errors": r.errors,
        "macs": r.macs.iter().map(|m| json!({
            "vni": m.vni, "mac": m.mac, "vtep": m.vtep, "sticky": m.sticky,
        })).collect::<Vec<_>>(),
        "flood": r.flood.iter().map(flood_json).collect::<Vec<_>>(),
        "neighbors": r.neighbors.iter().map(|n| json!({
            "vni": n.vni, "ip": n.ip, "mac": n.mac, "router": n.router, "local": n.local,
        })).collect::<Vec<_>>(),
        "vrfs": r.vrfs.iter().map(|v| json!({
            "vrf": v.vrf, "l3vni": v.l3vni, "router_mac": v.router_mac, "vnis": v.vnis,
        })).collect::<Vec<_>>(),
        "gateways": r.gateways.iter().map(|g| json!({
            "vni": g.vni, "address": g.address, "prefix_len": g.prefix_len, "mac": g.mac,
        })).collect::<Vec<_>>(),
        "router_macs": r.router_macs.iter().map(|m| json!({
            "vrf": m.vrf, "vtep": m.vtep, "mac": m.mac,
        })).collect::<Vec<_>>(),
        "routes": r.routes.iter().map(|x| json!({
            "vrf": x.vrf, "prefix": x.prefix, "vteps": x.vteps, "vias": x.vias,
        })).collect::<Vec<_>>(),
    })
}

fn dataplane_text(r: &v1::ListDataplaneResponse) -> String {
    let macs: Vec<Vec<String>> = r
        .macs
        .iter()
        .map(|m| {
            vec![
                m.vni.to_string(),
                m.mac.clone(),
                m.vtep.clone(),
                if m.sticky { "sticky" } else { "-" }.into(),
            ]
        })
        .collect();
    let neigh: Vec<Vec<String>> = r
        .neighbors
        .iter()
        .map(|n| {
            vec![
                n.vni.to_string(),
                n.ip.clone(),
                n.mac.clone(),
                if n.local { "local" } else { "remote" }.into(),
                if n.router { "router" } else { "-" }.into(),
            ]
        })
        .collect();
    let layer2 = format!(
        "data plane {}: {} intent(s) applied, {} inconsistent\n\nFDB\n{}\n\nFLOOD\n{}\n\nNEIGHBORS\n{}",
        r.kind,
        r.applied,
        r.errors,
        table(&["VNI", "MAC", "VTEP", "FLAGS"], &macs),
        table(&["VNI", "REMOTE VTEPS"], &flood_rows(&r.flood)),
        table(&["VNI", "IP", "MAC", "ORIGIN", "FLAGS"], &neigh)
    );
    if r.vrfs.is_empty() {
        // No tenant VRF: the layer-2 tables alone, as before layer 3.
        return layer2;
    }
    let join = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    let vrfs: Vec<Vec<String>> = r
        .vrfs
        .iter()
        .map(|v| {
            let vnis: Vec<String> = v.vnis.iter().map(u32::to_string).collect();
            vec![
                v.vrf.clone(),
                v.l3vni.to_string(),
                v.router_mac.clone(),
                join(&vnis),
            ]
        })
        .collect();
    let gateways: Vec<Vec<String>> = r
        .gateways
        .iter()
        .map(|g| {
            vec![
                g.vni.to_string(),
                format!("{}/{}", g.address, g.prefix_len),
                g.mac.clone(),
            ]
        })
        .collect();
    let rmacs: Vec<Vec<String>> = r
        .router_macs
        .iter()
        .map(|m| vec![m.vrf.clone(), m.vtep.clone(), m.mac.clone()])
        .collect();
    let routes: Vec<Vec<String>> = r
        .routes
        .iter()
        .map(|x| {
            vec![
                x.vrf.clone(),
                x.prefix.clone(),
                join(&x.vteps),
                join(&x.vias),
            ]
        })
        .collect();
    format!(
        "{layer2}\n\nVRFS\n{}\n\nGATEWAYS\n{}\n\nROUTER MACS\n{}\n\nVRF ROUTES\n{}",
        table(&["VRF", "L3VNI", "ROUTER-MAC", "VNIS"], &vrfs),
        table(&["VNI", "GATEWAY", "MAC"], &gateways),
        table(&["VRF", "VTEP", "MAC"], &rmacs),
        table(&["VRF", "PREFIX", "VTEPS", "VIAS"], &routes)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn mac_row() -> v1::MacEntry {
        v1::MacEntry {
            vni: 100,
            mac: "02:00:00:00:00:01".into(),
            location: "198.19.0.2".into(),
            sequence: 1,
            sticky: true,
            ips: vec!["192.0.2.1".into()],
            moves: 1,
            duplicate: Some(v1::DuplicateState {
                frozen: true,
                permanent: false,
                seconds_left: 42,
            }),
            sticky_conflict: false,
            age_seconds: 3,
        }
    }

    #[test]
    fn macs_json_has_every_field() {
        let v = macs_json(&v1::ListMacsResponse {
            macs: vec![mac_row()],
            ..Default::default()
        });
        let m = &v[0];
        assert_eq!(m["mac"], "02:00:00:00:00:01");
        assert_eq!(m["location"], "198.19.0.2");
        assert_eq!(m["sequence"], 1);
        assert_eq!(m["sticky"], true);
        assert_eq!(m["ips"][0], "192.0.2.1");
        assert_eq!(m["duplicate"]["seconds_left"], 42);
        assert_eq!(m["duplicate"]["frozen"], true);
        assert_eq!(m["sticky_conflict"], false);
        assert_eq!(m.as_object().unwrap().len(), 10);
    }

    #[test]
    fn macs_table_shows_state() {
        let t = table(
            &MAC_HEADER,
            &mac_rows(&v1::ListMacsResponse {
                macs: vec![mac_row()],
                ..Default::default()
            }),
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("VNI"));
        assert!(lines[1].contains("198.19.0.2"));
        assert!(lines[1].contains("sticky"));
        assert!(lines[1].contains("frozen 42s"));
    }

    #[test]
    fn duplicate_text() {
        assert_eq!(dup_text(&None), "-");
        assert_eq!(
            dup_text(&Some(v1::DuplicateState {
                frozen: true,
                permanent: true,
                seconds_left: 0
            })),
            "frozen (until cleared)"
        );
    }
}
