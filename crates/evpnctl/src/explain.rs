//! `evpnctl explain mac MAC --vni N` / `explain ip IP --vni N`: why a MAC or IP is (not)
//! forwarded, as a numbered walk from the routes received to the kernel's entry, naming the
//! first link that breaks (`--json`: `docs/evpnctl-json.md`). Exit status: 0 when every link
//! holds, 4 when one breaks, and as for every command: 1 when the daemon refuses (unknown
//! VNI, bad argument), 2 on a usage error, 3 when the daemon cannot be reached.

use crate::client::{Failure, EXIT_BROKEN_LINK};
use clap::{Args, Subcommand};
use evpnd_api::v1;
use serde_json::{json, Value};
use std::process::ExitCode;

/// What to explain.
#[derive(Debug, Subcommand)]
pub enum ExplainCommand {
    /// A MAC: its routes, the best path and why, the engine's entry, the FDB intent, the
    /// kernel's FDB entry.
    Mac(ExplainArgs),
    /// An IP: its MAC+IP routes, the binding chosen and why, the ARP/ND intent, the kernel's
    /// neighbour entry; with --vrf instead of --vni, the routed path: the route of the tenant
    /// VRF the IP matches, its sources (host routes, IP prefix routes with their overlay
    /// index) and what is installed.
    Ip(ExplainArgs),
}

/// The subject and its VNI.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The MAC (aa:bb:cc:dd:ee:ff) or IP.
    pub subject: String,
    /// The VNI.
    #[arg(long, required_unless_present = "vrf")]
    pub vni: Option<u32>,
    /// `explain ip` only: the tenant VRF whose route to the IP to explain (instead of --vni).
    #[arg(long, conflicts_with = "vni")]
    pub vrf: Option<String>,
    /// Print JSON instead of the walk.
    #[arg(long)]
    pub json: bool,
}

/// Runs `explain` against `api`.
pub fn run(api: &str, cmd: ExplainCommand) -> ExitCode {
    let (args, is_mac) = match cmd {
        ExplainCommand::Mac(a) => (a, true),
        ExplainCommand::Ip(a) => (a, false),
    };
    let req = v1::ExplainRequest {
        vni: args.vni.unwrap_or(0),
        vrf: args.vrf.clone().unwrap_or_default(),
        mac: if is_mac {
            args.subject.clone()
        } else {
            String::new()
        },
        ip: if is_mac {
            String::new()
        } else {
            args.subject.clone()
        },
    };
    crate::client::run(api, |mut client| async move {
        let r = client.explain(req).await?.into_inner();
        if args.json {
            println!("{}", explain_json(&r));
        } else {
            print!("{}", explain_text(&r));
        }
        if r.complete {
            Ok(())
        } else {
            Err(Failure::Status(EXIT_BROKEN_LINK))
        }
    })
}

/// The walk as text: a header, the routes with their paths, the claims, then the numbered
/// links ending with the verdict.
pub fn explain_text(r: &v1::ExplainResponse) -> String {
    let mut out = match &r.vrf_route {
        Some(v) => vrf_route_text(&r.key, v),
        None if r.vni == 0 => format!("{} {}\n", r.subject.to_uppercase(), r.key),
        None => format!("{} {} in VNI {}\n", r.subject.to_uppercase(), r.key, r.vni),
    };
    for route in &r.routes {
        let ip = if route.ip.is_empty() {
            String::new()
        } else {
            format!(" {}", route.ip)
        };
        out.push_str(&format!(
            "  route [2]:[{}]:[{}]{ip}: {}\n",
            route.rd, route.mac, route.verdict
        ));
        for p in &route.paths {
            out.push_str(&format!(
                "    {} from {} next hop {} seq {}{}{}{}\n",
                if p.best { "*" } else { " " },
                p.peer,
                p.next_hop,
                p.sequence,
                if p.sticky { " sticky" } else { "" },
                if p.esi.is_empty() {
                    String::new()
                } else {
                    format!(" esi {}", p.esi)
                },
                format_args!(" label {}", p.label),
            ));
        }
    }
    for c in &r.claims {
        out.push_str(&format!(
            "  claim {} {}{}{} seq {}{}{}{}\n",
            if c.winner { "*" } else { " " },
            c.location,
            if c.rd.is_empty() {
                String::new()
            } else {
                format!(" rd {}", c.rd)
            },
            if c.ip.is_empty() || r.subject == "ip" {
                String::new()
            } else {
                format!(" ip {}", c.ip)
            },
            c.sequence,
            if c.sticky { " sticky" } else { "" },
            if c.immutable { " immutable" } else { "" },
            if r.subject == "ip" {
                format!(" mac {}", c.mac)
            } else {
                String::new()
            },
        ));
    }
    for (i, s) in r.steps.iter().enumerate() {
        out.push_str(&format!(
            "{}. {:<9} {} {}\n",
            i + 1,
            s.link,
            if s.ok { "ok    " } else { "BROKEN" },
            s.detail
        ));
    }
    if r.complete {
        out.push_str("complete: every link holds\n");
    } else {
        out.push_str(&format!("broken: {}\n", r.message));
    }
    out
}

/// A path of a VRF route in words.
fn path_text(p: &v1::IpRoutePath) -> String {
    if p.vni != 0 {
        format!("on VNI {}", p.vni)
    } else if !p.vtep.is_empty() {
        format!("vtep {} rmac {}", p.vtep, p.router_mac)
    } else {
        format!("via {}", p.via)
    }
}

/// The routed path: the matching route, what is installed, every source.
fn vrf_route_text(ip: &str, v: &v1::ExplainVrfRoute) -> String {
    let mut out = format!("IP {ip} in VRF {}: route {}\n", v.vrf, v.prefix);
    match &v.installed {
        Some(i) => {
            let paths: Vec<String> = i.paths.iter().map(path_text).collect();
            out.push_str(&format!(
                "  installed ({}): {}\n",
                i.origin,
                paths.join(", ")
            ));
        }
        None => out.push_str("  installed: nothing\n"),
    }
    for s in &v.sources {
        out.push_str(&format!(
            "  {} {}{}{}{}{}\n",
            if s.installed { "*" } else { " " },
            s.origin,
            if s.vtep.is_empty() {
                String::new()
            } else {
                format!(" from {}", s.vtep)
            },
            if s.rd.is_empty() {
                String::new()
            } else {
                format!(" rd {}", s.rd)
            },
            s.path.as_ref().map_or_else(
                || " (no path)".to_string(),
                |p| format!(" {}", path_text(p))
            ),
            if s.overlay.is_empty() {
                String::new()
            } else {
                format!(" [{}]", s.overlay)
            },
        ));
    }
    out
}

/// The routed path as JSON.
fn vrf_route_json(v: &v1::ExplainVrfRoute) -> Value {
    json!({
        "vrf": v.vrf,
        "prefix": v.prefix,
        "installed": v.installed.as_ref().map(crate::vrf::ip_route_json),
        "sources": v.sources.iter().map(|s| json!({
            "origin": s.origin, "rd": s.rd, "vtep": s.vtep, "sequence": s.sequence,
            "path": s.path.as_ref().map(crate::vrf::path_json),
            "overlay": s.overlay, "installed": s.installed,
        })).collect::<Vec<_>>(),
    })
}

/// The walk as JSON (schema: `docs/evpnctl-json.md`, "explain").
pub fn explain_json(r: &v1::ExplainResponse) -> Value {
    let mut v = explain_json_chain(r);
    if let (Some(route), Some(o)) = (&r.vrf_route, v.as_object_mut()) {
        o.insert("vrf_route".into(), vrf_route_json(route));
    }
    v
}

/// The fields every walk has.
fn explain_json_chain(r: &v1::ExplainResponse) -> Value {
    json!({
        "vni": r.vni,
        "subject": r.subject,
        "key": r.key,
        "routes": r.routes.iter().map(|x| json!({
            "rd": x.rd,
            "mac": x.mac,
            "ip": x.ip,
            "imported": x.imported,
            "verdict_code": x.verdict_code,
            "verdict": x.verdict,
            "paths": x.paths.iter().map(|p| json!({
                "peer": p.peer,
                "next_hop": p.next_hop,
                "sequence": p.sequence,
                "sticky": p.sticky,
                "esi": p.esi,
                "label": p.label,
                "best": p.best,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "claims": r.claims.iter().map(|c| json!({
            "location": c.location,
            "rd": c.rd,
            "mac": c.mac,
            "ip": c.ip,
            "sequence": c.sequence,
            "sticky": c.sticky,
            "immutable": c.immutable,
            "winner": c.winner,
        })).collect::<Vec<_>>(),
        "winner": r.winner,
        "decision_code": r.decision_code,
        "decision": r.decision,
        "duplicate": r.duplicate,
        "intent": r.intent,
        "dataplane": r.dataplane,
        "steps": r.steps.iter().map(|s| json!({
            "link": s.link,
            "ok": s.ok,
            "detail": s.detail,
        })).collect::<Vec<_>>(),
        "complete": r.complete,
        "broken_link": r.broken_link,
        "message": r.message,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn broken_walk() -> v1::ExplainResponse {
        v1::ExplainResponse {
            vni: 100,
            subject: "mac".into(),
            key: "02:00:00:00:00:01".into(),
            routes: vec![v1::ExplainRoute {
                rd: "198.19.0.2:100".into(),
                mac: "02:00:00:00:00:01".into(),
                imported: true,
                verdict_code: "imported".into(),
                verdict: "imported into VNI 100".into(),
                paths: vec![v1::ExplainPath {
                    peer: "198.18.0.2".into(),
                    next_hop: "198.19.0.2".into(),
                    sequence: 3,
                    label: 100,
                    best: true,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            steps: vec![
                v1::ExplainStep {
                    link: "routes".into(),
                    ok: true,
                    detail: "1 route(s) received with 1 path(s)".into(),
                },
                v1::ExplainStep {
                    link: "kernel".into(),
                    ok: false,
                    detail: "the kernel has no FDB entry".into(),
                },
            ],
            complete: false,
            broken_link: "kernel".into(),
            message: "kernel: the kernel has no FDB entry".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_walk_is_numbered_and_ends_with_the_broken_link() {
        let text = explain_text(&broken_walk());
        assert!(
            text.starts_with("MAC 02:00:00:00:00:01 in VNI 100\n"),
            "{text}"
        );
        assert!(
            text.contains("* from 198.18.0.2 next hop 198.19.0.2 seq 3 label 100"),
            "{text}"
        );
        assert!(text.contains("1. routes    ok"), "{text}");
        assert!(
            text.contains("2. kernel    BROKEN the kernel has no FDB entry"),
            "{text}"
        );
        assert!(
            text.ends_with("broken: kernel: the kernel has no FDB entry\n"),
            "{text}"
        );
    }

    #[test]
    fn the_json_carries_every_documented_field() {
        let v = explain_json(&broken_walk());
        for key in [
            "vni",
            "subject",
            "key",
            "routes",
            "claims",
            "winner",
            "decision_code",
            "decision",
            "duplicate",
            "intent",
            "dataplane",
            "steps",
            "complete",
            "broken_link",
            "message",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["steps"][1]["link"], "kernel");
        assert_eq!(v["routes"][0]["paths"][0]["sequence"], 3);
        assert_eq!(v["complete"], false);
    }
}
