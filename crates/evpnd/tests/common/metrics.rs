//! Prometheus metrics over HTTP for the tests: a plain HTTP/1.1 GET, and a parser of the text
//! format strict enough to fail on any malformed line (every sample's family must have HELP
//! and TYPE before it; names, labels and values must parse).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::time::Duration;

/// A GET over plain HTTP/1.1: (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    // The body may be chunked.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// One sample: metric name with its labels → value.
pub type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// Parses Prometheus/OpenMetrics text strictly enough for the test: every line is a comment
/// (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`) or a sample `name{labels} value`; every sample's
/// family has HELP and TYPE before it. Panics naming the bad line.
pub fn parse(text: &str) -> Samples {
    let mut helped = BTreeSet::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Samples::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "text does not end with # EOF");
    for line in &lines {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            match kind {
                "EOF" => continue,
                "HELP" => {
                    helped.insert(parts.next().unwrap().to_string());
                }
                "TYPE" => {
                    let name = parts.next().unwrap().to_string();
                    let t = parts.next().unwrap();
                    assert!(
                        ["counter", "gauge", "histogram", "info", "unknown"].contains(&t),
                        "bad TYPE line {line:?}"
                    );
                    typed.insert(name, t.to_string());
                }
                "UNIT" => {}
                _ => panic!("bad comment line {line:?}"),
            }
            continue;
        }
        let (name_labels, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match name_labels.split_once('{') {
            Some((n, l)) => {
                let l = l.strip_suffix('}').unwrap_or_else(|| panic!("{line:?}"));
                let mut m = BTreeMap::new();
                if !l.is_empty() {
                    for pair in l.split("\",") {
                        let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("{line:?}"));
                        m.insert(k.to_string(), v.trim_end_matches('"').to_string());
                    }
                }
                (n.to_string(), m)
            }
            None => (name_labels.to_string(), BTreeMap::new()),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && name.starts_with("evpnd_"),
            "bad metric name in {line:?}"
        );
        let family = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains_key(*f)))
            .unwrap_or(&name)
            .to_string();
        assert!(typed.contains_key(&family), "no TYPE for {line:?}");
        assert!(helped.contains(&family), "no HELP for {line:?}");
        samples.insert((name, labels), value);
    }
    samples
}

pub fn scrape(addr: &str) -> Samples {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

/// The value of `name` with exactly `labels` (0 when absent).
pub fn value(s: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.get(&(name.to_string(), want)).copied().unwrap_or(0.0)
}
