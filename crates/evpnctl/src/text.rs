//! The `--text` rendering: a readable block per message, built from the JSON objects so that
//! text and JSON always show the same facts. This form is for people; scripts should use JSON.

use serde_json::{Map, Value};
use std::fmt::Write;

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn is_zero_esi(v: &Value) -> bool {
    v.as_str().is_some_and(|e| e.split(':').all(|b| b == "00"))
}

fn is_unspecified_ip(v: &Value) -> bool {
    matches!(v.as_str(), Some("0.0.0.0" | "::"))
}

/// One route (an entry of an `nlri`, `withdrawn` or `withdraw` list) on one line, e.g.
/// `[2] rd 65000:100 mac 02:00:00:00:00:01 ip 192.0.2.1 vni 100`.
pub fn route_line(r: &Value) -> String {
    let mut line = String::new();
    if let Some(id) = r.get("path_id").filter(|v| !v.is_null()) {
        let _ = write!(line, "path-id {id} ");
    }
    if let Some(t) = r.get("route_type") {
        let _ = write!(line, "[{t}] rd {}", s(&r["rd"]));
        if let Some(esi) = r.get("esi").filter(|e| !is_zero_esi(e)) {
            let _ = write!(line, " esi {}", s(esi));
        }
        if let Some(tag) = r.get("ethernet_tag").filter(|t| t.as_u64() != Some(0)) {
            let _ = write!(line, " tag {tag}");
        }
        if let Some(mac) = r.get("mac") {
            let _ = write!(line, " mac {}", s(mac));
        }
        if let Some(ip) = r.get("ip").filter(|v| !v.is_null()) {
            let _ = write!(line, " ip {}", s(ip));
        }
        if let Some(p) = r.get("prefix") {
            let _ = write!(line, " prefix {}", s(p));
        }
        if let Some(gw) = r.get("gateway_ip").filter(|g| !is_unspecified_ip(g)) {
            let _ = write!(line, " gateway {}", s(gw));
        }
        if let Some(o) = r.get("originator_ip") {
            let _ = write!(line, " originator {}", s(o));
        }
        if let Some(vni) = r.get("vni") {
            let _ = write!(line, " vni {vni}");
        }
        if let Some(l2) = r.get("label2").filter(|v| !v.is_null()) {
            let _ = write!(line, " l3vni {l2}");
        }
    } else if let Some(p) = r.get("prefix") {
        line.push_str(&s(p));
    } else if r.get("default") == Some(&Value::Bool(true)) {
        line.push_str("rt default");
    } else if r.get("origin_as").is_some() {
        let rt = match r.get("route_target") {
            Some(Value::String(t)) => t.clone(),
            _ => format!("{}/{}", s(&r["route_target_hex"]), s(&r["rt_len"])),
        };
        let _ = write!(line, "rt {rt} origin-as {}", s(&r["origin_as"]));
    } else {
        line.push_str(&r.to_string());
    }
    line
}

fn attribute_text(name: &str, v: &Value) -> String {
    match name {
        "AS_PATH" | "AS4_PATH" => {
            let segs: Vec<String> = v
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|seg| {
                    let asns: Vec<String> = seg["asns"]
                        .as_array()
                        .map(|a| a.as_slice())
                        .unwrap_or_default()
                        .iter()
                        .map(|x| x.to_string())
                        .collect();
                    match seg["type"].as_str() {
                        Some("sequence") => asns.join(" "),
                        Some(kind) => format!("{kind} {{{}}}", asns.join(" ")),
                        None => asns.join(" "),
                    }
                })
                .collect();
            if segs.is_empty() {
                "(empty)".into()
            } else {
                segs.join(" ")
            }
        }
        // Each community carries its text form (`ExtendedCommunity`'s `Display` in evpnd-wire).
        "EXTENDED_COMMUNITIES" | "IPV6_EXTENDED_COMMUNITIES" => v
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|c| s(&c["text"]))
            .collect::<Vec<_>>()
            .join(", "),
        "COMMUNITIES" | "LARGE_COMMUNITY" | "CLUSTER_LIST" => v
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(s)
            .collect::<Vec<_>>()
            .join(" "),
        "PMSI_TUNNEL" => {
            let endpoint = v
                .get("endpoint")
                .or_else(|| v.get("tunnel_id"))
                .map(s)
                .unwrap_or_default();
            format!("{} {} vni {}", s(&v["tunnel"]), endpoint, s(&v["vni"]))
        }
        _ => s(v),
    }
}

fn mp_text(out: &mut String, name: &str, m: &Value) {
    let routes = m["nlri"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default();
    let _ = write!(out, "  {name} {}", s(&m["family"]));
    if let Some(nh) = m.get("next_hop") {
        let nh = if nh.is_null() {
            format!("0x{}", s(&m["next_hop_hex"]))
        } else {
            s(nh)
        };
        let _ = write!(out, " next-hop {nh}");
    }
    let _ = write!(out, ", {} route(s)", routes.len());
    if let Some(n) = m["skipped_routes"].as_u64().filter(|n| *n > 0) {
        let _ = write!(out, ", {n} of unknown type skipped");
    }
    if let Some(o) = m.get("opaque_nlri") {
        let _ = write!(out, ", opaque NLRI {}", s(o));
    }
    out.push('\n');
    for r in routes {
        let _ = writeln!(out, "    {}", route_line(r));
    }
}

/// The outcome line, then (when `causes`) one line per cause and the routes to withdraw.
fn outcome_text(out: &mut String, o: &Value, causes: bool) {
    let _ = write!(out, "  outcome {}", s(&o["action"]));
    if let Some(f) = o.get("family") {
        let _ = write!(out, " ({})", s(f));
    }
    if let Some(n) = o.get("notification") {
        let _ = write!(
            out,
            ": NOTIFICATION {}/{} ({} / {})",
            s(&n["code"]),
            s(&n["subcode"]),
            s(&n["code_name"]),
            s(&n["subcode_name"])
        );
        if n["data"].as_str().is_some_and(|d| !d.is_empty()) {
            let _ = write!(out, " data {}", s(&n["data"]));
        }
    }
    out.push('\n');
    if !causes {
        return;
    }
    for c in o["causes"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
    {
        let at = c.get("input_offset").unwrap_or(&c["offset"]);
        let _ = write!(out, "    at byte {at}: {}", s(&c["field"]));
        if let Some(a) = c
            .get("attribute")
            .filter(|a| !a.is_null() && **a != c["field"])
        {
            let _ = write!(out, " ({})", s(a));
        }
        let _ = writeln!(out, ": {}", s(&c["reason"]));
    }
    if let Some(w) = o["withdraw"].as_array() {
        let _ = writeln!(out, "    withdraw {} route(s):", w.len());
        for r in w {
            let _ = writeln!(out, "      {}", route_line(r));
        }
    }
}

fn capability_text(c: &Value) -> String {
    let mut t = s(&c["name"]);
    let Some(o) = c.as_object() else {
        return t;
    };
    for (k, v) in o.iter() {
        match k.as_str() {
            // The role capability shows its name only (`capability role customer`).
            "name" | "code" | "afi" | "safi" | "role" => {}
            "families" => {
                let fs: Vec<String> = v
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|f| match f.get("mode") {
                        Some(m) => format!("{}:{}", s(&f["family"]), s(m)),
                        None => s(&f["family"]),
                    })
                    .collect();
                let _ = write!(t, " {}", fs.join(","));
            }
            "family" | "asn" | "role_name" => {
                let _ = write!(t, " {}", s(v));
            }
            _ => {
                let _ = write!(t, " {k}={}", s(v));
            }
        }
    }
    t
}

/// Attributes in type-code order (the order RFC 4271 lists them), unknown ones last.
fn attribute_rank(name: &str) -> (usize, String) {
    const ORDER: [&str; 18] = [
        "ORIGIN",
        "AS_PATH",
        "NEXT_HOP",
        "MULTI_EXIT_DISC",
        "LOCAL_PREF",
        "ATOMIC_AGGREGATE",
        "AGGREGATOR",
        "COMMUNITIES",
        "ORIGINATOR_ID",
        "CLUSTER_LIST",
        "EXTENDED_COMMUNITIES",
        "AS4_PATH",
        "AS4_AGGREGATOR",
        "PMSI_TUNNEL",
        "TUNNEL_ENCAPSULATION",
        "IPV6_EXTENDED_COMMUNITIES",
        "LARGE_COMMUNITY",
        "ONLY_TO_CUSTOMER",
    ];
    let rank = ORDER.iter().position(|n| *n == name).unwrap_or(ORDER.len());
    (rank, name.to_string())
}

fn update_text(out: &mut String, v: &Map<String, Value>) {
    if let Some(f) = v.get("end_of_rib") {
        let _ = writeln!(out, "  End-of-RIB {}", s(f));
    }
    let withdrawn = v
        .get("withdrawn")
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default();
    if !withdrawn.is_empty() {
        let _ = writeln!(out, "  withdrawn {} route(s)", withdrawn.len());
        for r in withdrawn {
            let _ = writeln!(out, "    {}", route_line(r));
        }
    }
    if let Some(attrs) = v.get("attributes").and_then(Value::as_object) {
        if let Some(m) = attrs.get("MP_UNREACH_NLRI") {
            mp_text(out, "MP_UNREACH_NLRI", m);
        }
        if let Some(m) = attrs.get("MP_REACH_NLRI") {
            mp_text(out, "MP_REACH_NLRI", m);
        }
        let mut names: Vec<&String> = attrs.keys().filter(|n| !n.starts_with("MP_")).collect();
        names.sort_by_key(|n| attribute_rank(n));
        for name in names {
            let _ = writeln!(
                out,
                "  {name} {}",
                attribute_text(name, &attrs[name.as_str()])
            );
        }
    }
    if let Some(p) = v.get("partial").and_then(Value::as_array) {
        let names: Vec<String> = p.iter().map(s).collect();
        let _ = writeln!(out, "  partial bit set on {}", names.join(" "));
    }
    let nlri = v
        .get("nlri")
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default();
    if !nlri.is_empty() {
        let _ = writeln!(out, "  nlri {} route(s)", nlri.len());
        for r in nlri {
            let _ = writeln!(out, "    {}", route_line(r));
        }
    }
}

/// The block for one JSON object from `message_json_at` or an error object; `index` counts
/// messages from 1.
pub fn render(v: &Value, index: usize) -> String {
    let mut out = String::new();
    let Some(o) = v.as_object() else {
        return format!("{v}\n");
    };
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("?");
    if kind == "error" {
        let at = match o.get("offset") {
            Some(Value::Null) | None => String::new(),
            Some(x) => format!(" at byte {x}"),
        };
        let _ = writeln!(
            out,
            "error{at} ({}): {}: {}",
            s(&o["error"]),
            s(&o["field"]),
            s(&o["reason"])
        );
        if let Some(m) = o.get("message_offset").filter(|m| !m.is_null()) {
            let _ = writeln!(out, "  in message {index} starting at byte {m}");
        }
        if let Some(outcome) = o.get("outcome").filter(|x| !x.is_null()) {
            // The single cause of a reset is the line above.
            outcome_text(&mut out, outcome, false);
        }
        return out;
    }
    let _ = writeln!(
        out,
        "message {index} at byte {}: {} ({} bytes)",
        o.get("offset").map(s).unwrap_or_else(|| "?".into()),
        kind.to_uppercase(),
        o.get("length").map(s).unwrap_or_default()
    );
    match kind {
        "open" => {
            let _ = writeln!(
                out,
                "  version {} asn {} (my_as {}) hold-time {} bgp-id {}",
                s(&o["version"]),
                s(&o["asn"]),
                s(&o["my_as"]),
                s(&o["hold_time"]),
                s(&o["bgp_id"])
            );
            for c in o["capabilities"]
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or_default()
            {
                let _ = writeln!(out, "  capability {}", capability_text(c));
            }
        }
        "update" => update_text(&mut out, o),
        "notification" => {
            let _ = write!(
                out,
                "  {}/{} {} / {}",
                s(&o["code"]),
                s(&o["subcode"]),
                s(&o["code_name"]),
                s(&o["subcode_name"])
            );
            if o["data"].as_str().is_some_and(|d| !d.is_empty()) {
                let _ = write!(out, ", data {}", s(&o["data"]));
            }
            out.push('\n');
            if let Some(c) = o.get("shutdown_communication") {
                let _ = writeln!(out, "  shutdown communication: {c}");
            }
        }
        "route-refresh" => {
            let _ = writeln!(
                out,
                "  {} subtype {} ({})",
                s(&o["family"]),
                s(&o["subtype"]),
                s(&o["subtype_name"])
            );
        }
        _ => {}
    }
    if let Some(outcome) = o.get("outcome") {
        outcome_text(&mut out, outcome, true);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::route_line;
    use serde_json::json;

    #[test]
    fn type2_line() {
        let r = json!({"route_type": 2, "rd": "65000:100", "esi": "00:00:00:00:00:00:00:00:00:00",
            "ethernet_tag": 0, "mac": "02:00:00:00:00:01", "ip": "192.0.2.1", "vni": 100,
            "label2": null, "path_id": null});
        assert_eq!(
            route_line(&r),
            "[2] rd 65000:100 mac 02:00:00:00:00:01 ip 192.0.2.1 vni 100"
        );
        let p = json!({"prefix": "192.0.2.0/24", "path_id": 7});
        assert_eq!(route_line(&p), "path-id 7 192.0.2.0/24");
    }
}
