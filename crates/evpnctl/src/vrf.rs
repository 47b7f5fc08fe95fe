//! Tenant VRFs (IP-VRFs, RFC 9135 §3): `show vrfs`, `show ip-routes [--vrf NAME]` (what
//! evpnd installed in the VRF tables) and `vrf add|del`, over the daemon's API (`ListVrfs`,
//! `ListIpRoutes`, `AddVrf`, `RemoveVrf`). Tables, or `--json` (schema:
//! docs/evpnctl-json.md).

use clap::{Args, Subcommand};
use evpnd_api::v1;
use serde_json::{json, Value};
use std::process::ExitCode;

/// `evpnctl vrf ...`.
#[derive(Debug, Subcommand)]
pub enum VrfCommand {
    /// Create a tenant VRF (RD, route targets and router MAC derived unless given).
    Add(VrfAddArgs),
    /// Delete a tenant VRF (refused while a VNI names it).
    Del {
        /// Its name.
        name: String,
    },
}

/// `vrf add`.
#[derive(Debug, Args)]
pub struct VrfAddArgs {
    /// Its name (1 to 15 bytes, the rules of an interface name).
    pub name: String,
    /// The L3VNI (required with symmetric IRB, RFC 9135 §5).
    #[arg(long)]
    pub l3vni: Option<u32>,
    /// Route distinguisher (default: router-id:L3VNI).
    #[arg(long)]
    pub rd: Option<String>,
    /// Import route target, repeatable ("*:VNI" imports from any AS; default ASN:L3VNI).
    #[arg(long = "import-rt", value_name = "RT")]
    pub import: Vec<String>,
    /// Export route target, repeatable (default ASN:L3VNI).
    #[arg(long = "export-rt", value_name = "RT")]
    pub export: Vec<String>,
    /// This NVE's router MAC in the VRF (RFC 9135 §8.1; default 02:00 + the router id).
    #[arg(long)]
    pub router_mac: Option<String>,
    /// Do not advertise the gateway subnets as IP prefix routes (RFC 9136).
    #[arg(long)]
    pub no_advertise_connected: bool,
    /// A further prefix to advertise as an IP prefix route, repeatable.
    #[arg(long = "advertise", value_name = "PREFIX")]
    pub advertise: Vec<String>,
    /// Linux data plane, namespace model: the VRF's network namespace (default evpnd-NAME).
    #[arg(long)]
    pub netns: Option<String>,
    /// Linux data plane, VRF-device model: the routing table.
    #[arg(long)]
    pub table: Option<u32>,
    /// Print the created VRF as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `show vrfs`.
#[derive(Debug, Args)]
pub struct VrfsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// VRFs fetched per request (the daemon serves at most 10000).
    #[arg(long, default_value_t = 1000)]
    pub page_size: u32,
}

/// `show ip-routes`.
#[derive(Debug, Args)]
pub struct IpRoutesArgs {
    /// Only this VRF.
    #[arg(long)]
    pub vrf: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Routes fetched per request (the daemon serves at most 10000).
    #[arg(long, default_value_t = 1000)]
    pub page_size: u32,
}

/// One VRF as `--json` prints it.
pub fn vrf_json(v: &v1::Vrf) -> Value {
    json!({
        "name": v.name, "l3vni": v.l3vni, "rd": v.rd,
        "import_route_targets": v.import_route_targets,
        "export_route_targets": v.export_route_targets,
        "router_mac": v.router_mac, "advertise_connected": v.advertise_connected,
        "advertise": v.advertise,
        "routes": v.routes.iter().map(|r| json!({"prefix": r.prefix, "via": r.via})).collect::<Vec<_>>(),
        "vnis": v.vnis, "host_routes": v.host_routes, "prefix_routes": v.prefix_routes,
        "local_routes": v.local_routes, "remote_vteps": v.remote_vteps,
    })
}

const VRF_HEADER: [&str; 9] = [
    "VRF",
    "L3VNI",
    "RD",
    "IMPORT",
    "EXPORT",
    "ROUTER-MAC",
    "VNIS",
    "ROUTES",
    "VTEPS",
];

fn vrf_row(v: &v1::Vrf) -> Vec<String> {
    let dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
    vec![
        v.name.clone(),
        if v.l3vni == 0 {
            "-".into()
        } else {
            v.l3vni.to_string()
        },
        v.rd.clone(),
        dash(v.import_route_targets.join(",")),
        dash(v.export_route_targets.join(",")),
        v.router_mac.clone(),
        dash(
            v.vnis
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        // host routes / prefix routes / local routes.
        format!("{}/{}/{}", v.host_routes, v.prefix_routes, v.local_routes),
        v.remote_vteps.to_string(),
    ]
}

/// `show vrfs`: page after page, printed as they arrive.
pub fn show_vrfs(api: &str, a: VrfsArgs) -> ExitCode {
    crate::client::run(api, |client| async move {
        let json = a.json;
        crate::client::print_pages(json, &VRF_HEADER, "VRF", |page_token| {
            let req = v1::ListVrfsRequest {
                page_size: a.page_size,
                page_token,
            };
            let mut c = client.clone();
            async move {
                let r = c.list_vrfs(req).await?.into_inner();
                Ok(crate::client::PageOut {
                    json: if json {
                        r.vrfs.iter().map(vrf_json).collect()
                    } else {
                        Vec::new()
                    },
                    rows: if json {
                        Vec::new()
                    } else {
                        r.vrfs.iter().map(vrf_row).collect()
                    },
                    entries: r.vrfs.len(),
                    next_page_token: r.next_page_token,
                })
            }
        })
        .await
    })
}

/// One path of a VRF route as `--json` prints it.
pub fn path_json(p: &v1::IpRoutePath) -> Value {
    if p.vni != 0 {
        json!({"interface_vni": p.vni})
    } else if !p.vtep.is_empty() {
        json!({"vtep": p.vtep, "router_mac": p.router_mac})
    } else {
        json!({"via": p.via})
    }
}

/// One VRF route as `--json` prints it.
pub fn ip_route_json(r: &v1::IpRoute) -> Value {
    json!({
        "vrf": r.vrf, "prefix": r.prefix, "origin": r.origin,
        "paths": r.paths.iter().map(path_json).collect::<Vec<_>>(),
    })
}

const IP_ROUTE_HEADER: [&str; 4] = ["VRF", "PREFIX", "ORIGIN", "PATH"];

/// One row per path (ECMP routes have several).
fn ip_route_rows(r: &v1::IpRoute) -> Vec<Vec<String>> {
    let path = |p: &v1::IpRoutePath| {
        if p.vni != 0 {
            format!("vni {}", p.vni)
        } else if !p.vtep.is_empty() {
            format!("vtep {} rmac {}", p.vtep, p.router_mac)
        } else {
            format!("via {}", p.via)
        }
    };
    if r.paths.is_empty() {
        return vec![vec![
            r.vrf.clone(),
            r.prefix.clone(),
            r.origin.clone(),
            "-".into(),
        ]];
    }
    r.paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i == 0 {
                vec![r.vrf.clone(), r.prefix.clone(), r.origin.clone(), path(p)]
            } else {
                vec![String::new(), String::new(), String::new(), path(p)]
            }
        })
        .collect()
}

/// `show ip-routes`: page after page, printed as they arrive.
pub fn show_ip_routes(api: &str, a: IpRoutesArgs) -> ExitCode {
    crate::client::run(api, |client| async move {
        let json = a.json;
        let vrf = a.vrf.unwrap_or_default();
        crate::client::print_pages(json, &IP_ROUTE_HEADER, "route", |page_token| {
            let req = v1::ListIpRoutesRequest {
                vrf: vrf.clone(),
                page_size: a.page_size,
                page_token,
            };
            let mut c = client.clone();
            async move {
                let r = c.list_ip_routes(req).await?.into_inner();
                Ok(crate::client::PageOut {
                    json: if json {
                        r.routes.iter().map(ip_route_json).collect()
                    } else {
                        Vec::new()
                    },
                    rows: if json {
                        Vec::new()
                    } else {
                        r.routes.iter().flat_map(ip_route_rows).collect()
                    },
                    entries: r.routes.len(),
                    next_page_token: r.next_page_token,
                })
            }
        })
        .await
    })
}

/// `vrf add|del`.
pub fn vrf(api: &str, cmd: VrfCommand) -> ExitCode {
    crate::client::print(api, |mut c| async move {
        match cmd {
            VrfCommand::Add(a) => {
                let r = c
                    .add_vrf(v1::AddVrfRequest {
                        name: a.name,
                        l3vni: a.l3vni.unwrap_or(0),
                        rd: a.rd.unwrap_or_default(),
                        import_route_targets: a.import,
                        export_route_targets: a.export,
                        router_mac: a.router_mac.unwrap_or_default(),
                        advertise_connected: Some(!a.no_advertise_connected),
                        advertise: a.advertise,
                        netns: a.netns.unwrap_or_default(),
                        table: a.table.unwrap_or(0),
                    })
                    .await?
                    .into_inner();
                let v = r.vrf.unwrap_or_default();
                Ok(if a.json {
                    vrf_json(&v).to_string()
                } else {
                    format!(
                        "VRF {} created: l3vni {}, rd {}, import {}, export {}, router-mac {}",
                        v.name,
                        v.l3vni,
                        v.rd,
                        v.import_route_targets.join(" "),
                        v.export_route_targets.join(" "),
                        v.router_mac
                    )
                })
            }
            VrfCommand::Del { name } => {
                c.remove_vrf(v1::RemoveVrfRequest { name: name.clone() })
                    .await?;
                Ok(format!("VRF {name} deleted"))
            }
        }
    })
}
