//! docs/cli.md is generated from evpnctl's own `--help` (clap renders it from the doc comments
//! of the commands): this test regenerates it and fails when the committed file differs.
//! `UPDATE_CLI_DOC=1 cargo test -p evpnctl --test cli_doc` rewrites it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// `evpnctl <path> --help`, with the terminal width fixed so the text does not depend on it.
fn help(path: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_evpnctl"))
        .args(path)
        .arg("--help")
        .env("COLUMNS", "100")
        .env_remove("EVPNCTL_API")
        .output()
        .unwrap();
    assert!(out.status.success(), "evpnctl {path:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands a help text lists under `Commands:` (`help` excluded).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

fn walk(out: &mut String, path: &mut Vec<String>) {
    let args: Vec<&str> = path.iter().map(String::as_str).collect();
    let text = help(&args);
    let heading = "#".repeat((path.len() + 2).min(5));
    let name = format!("evpnctl {}", args.join(" "));
    writeln!(out, "{heading} {}\n", name.trim_end()).unwrap();
    writeln!(out, "```text\n{}\n```\n", text.trim_end()).unwrap();
    for sub in subcommands(&text) {
        path.push(sub);
        walk(out, path);
        path.pop();
    }
}

fn render() -> String {
    let mut out = String::from(
        "# evpnctl reference\n\n\
         Generated from `evpnctl --help` by `crates/evpnctl/tests/cli_doc.rs` (do not edit by hand:\n\
         `UPDATE_CLI_DOC=1 cargo test -p evpnctl --test cli_doc` regenerates it). JSON output\n\
         schemas: [evpnctl-json.md](evpnctl-json.md); the API behind the commands:\n\
         [api.md](api.md).\n\n",
    );
    walk(&mut out, &mut Vec::new());
    out
}

#[test]
fn cli_reference_is_generated_from_the_help() {
    let generated = render();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
    if std::env::var_os("UPDATE_CLI_DOC").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/cli.md is out of date with evpnctl's commands: run \
         `UPDATE_CLI_DOC=1 cargo test -p evpnctl --test cli_doc` and commit it"
    );
}
