//! ExaBGP (Debian's exabgp, 4.2) as a receiver and independent decoder.
//!
//! ExaBGP 4.2 cannot announce EVPN routes from its text syntax (LAB-NOTES.md), but it decodes
//! them: [`Exabgp::receiver_config`] makes it write every received UPDATE as one JSON line to
//! a file we read back. It needs Debian's `/usr/bin/python3` (another python3 earlier in PATH
//! may lack its module) and must run as root with `exabgp.daemon.user=root`.

use crate::error::{LabError, Result};
use crate::frr::{instance_dir, remove_instance_dir, tail};
use crate::netns::Netns;
use crate::process::Daemon;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The interpreter ExaBGP must run with.
pub const PYTHON: &str = "/usr/bin/python3";
/// Debian's ExaBGP entry point.
pub const EXABGP: &str = "/usr/sbin/exabgp";
/// The placeholder in a config for the receiver script's path.
pub const RECEIVER_PLACEHOLDER: &str = "@RECEIVER@";

/// A running ExaBGP. Dropping it stops the process and removes its directory.
#[derive(Debug)]
pub struct Exabgp {
    dir: PathBuf,
    daemon: Option<Daemon>,
}

impl Exabgp {
    /// A config for one neighbour that receives (and decodes) the families listed, e.g.
    /// `["l2vpn evpn"]`, handing every parsed UPDATE to the receiver process.
    pub fn receiver_config(
        local: Ipv4Addr,
        local_as: u32,
        peer: Ipv4Addr,
        peer_as: u32,
        router_id: Ipv4Addr,
        families: &[&str],
    ) -> String {
        let fams: String = families.iter().map(|f| format!("    {f};\n")).collect();
        format!(
            "process receiver {{\n  run {RECEIVER_PLACEHOLDER};\n  encoder json;\n}}\n\
             neighbor {peer} {{\n  router-id {router_id};\n  local-address {local};\n  \
             local-as {local_as};\n  peer-as {peer_as};\n  family {{\n{fams}  }}\n  \
             api {{\n    processes [ receiver ];\n    receive {{ parsed; update; }}\n  }}\n}}\n"
        )
    }

    /// Starts ExaBGP in `ns` with `config`; the text `@RECEIVER@` in it is replaced by a
    /// script appending ExaBGP's JSON messages to `received.jsonl` (see [`Exabgp::received`]).
    pub fn start(ns: &Netns, config: &str) -> Result<Exabgp> {
        let dir = instance_dir("exabgp")?;
        let script = dir.join("receiver.sh");
        let out = dir.join("received.jsonl");
        std::fs::write(
            &script,
            // Not `exec`: ExaBGP treats a hang-up on the process's stdout pipe as its death,
            // so the shell stays and keeps that pipe open while cat appends to the file.
            format!("#!/bin/sh\ncat >> '{}'\n", out.display()),
        )?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        let conf = dir.join("exabgp.conf");
        std::fs::write(
            &conf,
            config.replace(RECEIVER_PLACEHOLDER, &script.display().to_string()),
        )?;
        let log = std::fs::File::create(dir.join("exabgp.log"))?;
        let log2 = log.try_clone()?;
        let mut cmd = ns.command(PYTHON);
        cmd.arg(EXABGP)
            .arg(&conf)
            .env("exabgp.daemon.user", "root")
            .env("exabgp.daemon.daemonize", "false")
            .env("exabgp.api.cli", "false")
            .env("exabgp.log.destination", "stdout")
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let mut d = Daemon::spawn("exabgp", &mut cmd)?;
        // ExaBGP has no readiness signal; a short bounded wait catches config errors.
        std::thread::sleep(Duration::from_millis(500));
        if !d.is_running() {
            let msg = tail(&dir.join("exabgp.log"), 20);
            remove_instance_dir(&dir);
            return Err(LabError::new(format!("exabgp exited: {msg}")));
        }
        Ok(Exabgp {
            dir,
            daemon: Some(d),
        })
    }

    /// The instance directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The end of ExaBGP's log.
    pub fn log(&self, lines: usize) -> String {
        tail(&self.dir.join("exabgp.log"), lines)
    }

    /// Every JSON message the receiver got so far (lines that do not parse are skipped).
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("received.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Exabgp {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.stop(Duration::from_secs(5));
        }
        remove_instance_dir(&self.dir);
    }
}
