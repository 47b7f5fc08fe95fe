//! Packet capture inside a namespace, and tshark as an independent oracle over the capture.
//!
//! The capture runs `dumpcap` (Wireshark's capture engine, the program `tshark -w` itself
//! runs) when available, so there is exactly one process of ours to stop; otherwise `tshark`,
//! then `tcpdump`. The check is the error filter of /tmp/research/tshark.md: malformed
//! packets, expert items of severity Warn or above, and BGP data that did not start with a
//! marker. A clean verdict is necessary, not sufficient: Wireshark is lenient about some
//! field values, so tests also compare decoded fields.

use crate::env::tool_path;
use crate::error::{Context, LabError, Result};
use crate::netns::Netns;
use crate::process::{run_with_timeout, signal, Daemon};
use crate::wait::wait_until;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The tshark display filter that flags broken BGP (tshark.md §2).
pub const ERROR_FILTER: &str =
    "_ws.malformed || _ws.expert.severity >= 0x00600000 || bgp.continuation";

/// A running capture. [`Capture::stop`] flushes the file; dropping stops it too.
#[derive(Debug)]
pub struct Capture {
    daemon: Option<Daemon>,
    file: PathBuf,
    stderr: PathBuf,
}

impl Capture {
    /// Captures BGP (`tcp port 179`) on `iface` in `ns` into `file` (pcapng).
    pub fn start(ns: &Netns, iface: &str, file: &Path) -> Result<Capture> {
        Capture::start_with_filter(ns, iface, "tcp port 179", file)
    }

    /// Captures packets matching the capture filter `filter` on `iface` in `ns` into `file`,
    /// returning once the capture engine reports it is capturing (bounded to 15 s).
    pub fn start_with_filter(
        ns: &Netns,
        iface: &str,
        filter: &str,
        file: &Path,
    ) -> Result<Capture> {
        let f = file.display().to_string();
        let stderr = file.with_extension("capture.log");
        let mut cmd;
        let ready_text;
        // Readiness: libpcap discards what it buffered before the capture filter is set, so
        // "Capturing on" (printed when the interface opens) is too early; dumpcap names the
        // output file only once the filter is in place.
        let mut settle = Duration::ZERO;
        if tool_path("dumpcap").is_some() {
            cmd = ns.command("dumpcap");
            cmd.args(["-q", "-i", iface, "-f", filter, "-w", &f]);
            ready_text = "File:";
        } else if tool_path("tshark").is_some() {
            cmd = ns.command("tshark");
            cmd.args(["-q", "-i", iface, "-f", filter, "-w", &f]);
            ready_text = "Capturing on";
            settle = Duration::from_millis(500);
        } else if tool_path("tcpdump").is_some() {
            cmd = ns.command("tcpdump");
            cmd.args(["-U", "-i", iface, "-w", &f, filter]);
            ready_text = "listening on";
        } else {
            return Err(LabError::new(
                "no capture tool (dumpcap, tshark or tcpdump)",
            ));
        }
        let log =
            std::fs::File::create(&stderr).context(format!("creating {}", stderr.display()))?;
        cmd.stdout(Stdio::null()).stderr(Stdio::from(log));
        let mut d = Daemon::spawn("capture", &mut cmd)?;
        let ready = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
            std::fs::read_to_string(&stderr)
                .map(|s| s.contains(ready_text))
                .unwrap_or(false)
                || !d.is_running()
        });
        if ready.is_err() || !d.is_running() {
            return Err(LabError::new(format!(
                "capture on {iface} did not start: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )));
        }
        std::thread::sleep(settle);
        Ok(Capture {
            daemon: Some(d),
            file: file.to_path_buf(),
            stderr,
        })
    }

    /// The capture file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Stops the capture (SIGINT, so the file is flushed and closed) and returns its path.
    pub fn stop(mut self) -> Result<PathBuf> {
        self.finish();
        Ok(self.file.clone())
    }

    fn finish(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = signal(d.pid(), rustix::process::Signal::INT);
            let _ = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
                !d.is_running()
            });
            d.stop(Duration::from_secs(2));
        }
        if std::env::var_os("EVPND_LAB_KEEP").is_none() {
            let _ = std::fs::remove_file(&self.stderr);
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.finish();
    }
}

fn tshark(pcap: &Path, bgp_ports: &[u16], args: &[&str]) -> Result<String> {
    let mut c = Command::new("tshark");
    c.args(["-r", &pcap.display().to_string()]);
    for p in bgp_ports {
        c.args(["-d", &format!("tcp.port=={p},bgp")]);
    }
    c.args(args);
    run_with_timeout(&mut c, Duration::from_secs(300))
        .context(format!("tshark on {}", pcap.display()))
}

/// Runs the error filter over `pcap` and returns one line per offending frame ("frame N:
/// expert messages"); an empty list means tshark decoded everything cleanly. `bgp_ports`
/// lists ports other than 179 to dissect as BGP.
///
/// Malformed packets and BGP continuations always count. Expert items of severity Warn or
/// more count unless they belong to the "Sequence" group: those are TCP's view of the
/// connection (a refused first SYN answered by RST, zero window, a segment lost before the
/// capture started), not a statement about the BGP bytes.
pub fn tshark_errors(pcap: &Path, bgp_ports: &[u16]) -> Result<Vec<String>> {
    const SEQUENCE_GROUP: u32 = 0x0200_0000;
    let sep = [
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=\u{1f}",
    ];
    let mut args = vec!["-Y", "_ws.malformed || bgp.continuation", "-T", "fields"];
    args.extend(sep);
    args.extend(["-e", "frame.number", "-e", "_ws.expert.message"]);
    let hard = tshark(pcap, bgp_ports, &args)?;
    let mut args = vec!["-Y", "_ws.expert.severity >= 0x00600000", "-T", "fields"];
    args.extend(sep);
    args.extend([
        "-e",
        "frame.number",
        "-e",
        "_ws.expert.message",
        "-e",
        "_ws.expert.severity",
        "-e",
        "_ws.expert.group",
    ]);
    let soft = tshark(pcap, bgp_ports, &args)?;
    let num = |s: &str| -> u32 {
        let s = s.trim();
        s.strip_prefix("0x")
            .map(|h| u32::from_str_radix(h, 16).unwrap_or(0))
            .unwrap_or_else(|| s.parse().unwrap_or(0))
    };
    let mut out: Vec<String> = hard
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (frame, msg) = l.split_once('|').unwrap_or((l, ""));
            format!("frame {frame}: {}", msg.replace('\u{1f}', "; "))
        })
        .collect();
    for l in soft.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = l.split('|').collect();
        let (frame, msgs, sevs, groups) = (
            cols.first().copied().unwrap_or(""),
            cols.get(1).copied().unwrap_or(""),
            cols.get(2).copied().unwrap_or(""),
            cols.get(3).copied().unwrap_or(""),
        );
        let bad: Vec<&str> = msgs
            .split('\u{1f}')
            .zip(sevs.split('\u{1f}'))
            .zip(groups.split('\u{1f}'))
            .filter(|((_, sev), group)| num(sev) >= 0x0060_0000 && num(group) != SEQUENCE_GROUP)
            .map(|((m, _), _)| m)
            .collect();
        let tag = format!("frame {frame}:");
        if !bad.is_empty() && !out.iter().any(|o| o.starts_with(&tag)) {
            out.push(format!("{tag} {}", bad.join("; ")));
        }
    }
    Ok(out)
}

/// The BGP message types (1 OPEN … 5 ROUTE-REFRESH) of every message tshark dissected in
/// `pcap`, in capture order: proof that a capture is not vacuous.
pub fn bgp_message_types(pcap: &Path, bgp_ports: &[u16]) -> Result<Vec<u8>> {
    let out = tshark(
        pcap,
        bgp_ports,
        &["-Y", "bgp", "-T", "fields", "-e", "bgp.type"],
    )?;
    Ok(out
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|t| t.parse().ok())
        .collect())
}

/// Values of `fields` for every packet matching `display_filter` (one row per packet, each
/// field's occurrences joined by ',').
pub fn tshark_fields(
    pcap: &Path,
    bgp_ports: &[u16],
    display_filter: &str,
    fields: &[&str],
) -> Result<Vec<Vec<String>>> {
    let mut args = vec![
        "-Y",
        display_filter,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = tshark(pcap, bgp_ports, &args)?;
    Ok(out
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect())
}

/// UPDATE messages sent by `sender` in `pcap`, per destination address (tshark's dissection;
/// one segment may carry several messages, each counted).
pub fn updates_by_destination(pcap: &Path, sender: &str) -> Result<Vec<(String, usize)>> {
    let rows = tshark_fields(
        pcap,
        &[],
        &format!("ip.src == {sender} && bgp.type == 2"),
        &["ip.dst", "bgp.type"],
    )?;
    let mut per_peer: Vec<(String, usize)> = Vec::new();
    for r in &rows {
        let (Some(dst), Some(types)) = (r.first(), r.get(1)) else {
            continue;
        };
        let n = types.split(',').filter(|t| *t == "2").count();
        match per_peer.iter_mut().find(|(d, _)| d == dst) {
            Some(e) => e.1 += n,
            None => per_peer.push((dst.clone(), n)),
        }
    }
    per_peer.sort();
    Ok(per_peer)
}

/// The oracle check of a capture of a speaker's sessions: tshark flags nothing in it
/// ([`tshark_errors`]), `sender` sent UPDATEs (the check is not vacuous), and for each
/// `(peer, count)` in `counted` — the peer's own count of UPDATEs received from `sender` —
/// the capture holds at least as many, so every UPDATE was checked. Returns a one-line
/// summary.
pub fn check_updates_from(pcap: &Path, sender: &str, counted: &[(&str, u64)]) -> Result<String> {
    let errors = tshark_errors(pcap, &[])?;
    if !errors.is_empty() {
        return Err(LabError::new(format!(
            "tshark flags {} frame(s) of {}: {errors:#?}",
            errors.len(),
            pcap.display()
        )));
    }
    let per_peer = updates_by_destination(pcap, sender)?;
    let total: usize = per_peer.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Err(LabError::new(format!(
            "no UPDATE from {sender} in {}: nothing was checked",
            pcap.display()
        )));
    }
    for (peer, want) in counted {
        let got = per_peer
            .iter()
            .find(|(d, _)| d == peer)
            .map_or(0, |(_, n)| *n);
        if got == 0 || (got as u64) < *want {
            return Err(LabError::new(format!(
                "{peer} counted {want} UPDATEs from {sender}, the capture holds {got}: {per_peer:?}"
            )));
        }
    }
    Ok(format!(
        "{total} UPDATEs from {sender} decoded without errors (per peer: {per_peer:?}; peers \
         counted {counted:?})"
    ))
}

/// Writes `messages` (each one BGP message, or any bytes) as a pcap of TCP segments
/// 50000 → 179, one message per packet, with `text2pcap` (tshark.md §2). One message per
/// packet keeps per-packet dissector state apart and each segment far below the 64 KiB IPv4
/// length limit. Useful to check encoder output with tshark without a live session.
pub fn pcap_from_messages(messages: &[Vec<u8>], out: &Path) -> Result<()> {
    use std::fmt::Write as _;
    let mut text = String::new();
    for m in messages {
        if m.len() > 65_000 {
            return Err(LabError::new(
                "a message over 65000 bytes does not fit one segment",
            ));
        }
        for (i, chunk) in m.chunks(16).enumerate() {
            let _ = write!(text, "{:06x}", i * 16);
            for b in chunk {
                let _ = write!(text, " {b:02x}");
            }
            text.push('\n');
        }
    }
    let txt = out.with_extension("txt");
    std::fs::write(&txt, text)?;
    let r = run_with_timeout(
        Command::new("text2pcap").args([
            "-q",
            "-T",
            "50000,179",
            &txt.display().to_string(),
            &out.display().to_string(),
        ]),
        Duration::from_secs(60),
    );
    let _ = std::fs::remove_file(&txt);
    r.map(|_| ())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::routes::{encode_announcements, generate, RouteKind};
    use evpnd_wire::{frame_length, CodecContext};
    use std::net::Ipv4Addr;

    fn split(ctx: &CodecContext, mut b: &[u8]) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while let Ok(Some(n)) = frame_length(ctx, b) {
            v.push(b[..n].to_vec());
            b = &b[n..];
        }
        v
    }

    /// The oracle itself must be able to fail: a clean UPDATE passes, the same UPDATE with an
    /// extended community attribute length of 15 (not a multiple of 8, RFC 4360 §2) is
    /// flagged.
    #[test]
    fn tshark_errors_passes_good_and_flags_bad_updates() {
        if !crate::require_root_and_tools(&["tshark", "text2pcap"]) {
            return;
        }
        let ctx = CodecContext::default();
        let vtep = Ipv4Addr::new(198, 19, 0, 3);
        let routes = generate(RouteKind::Mac, 3, 3, vtep).unwrap();
        let (bytes, _) = encode_announcements(&ctx, RouteKind::Mac, &routes, vtep, 65000).unwrap();
        let msgs = split(&ctx, &bytes);
        assert_eq!(msgs.len(), 1);
        let tmp = crate::TempDir::new("pcap").unwrap();
        let dir = tmp.path();
        let good = dir.join("good.pcap");
        pcap_from_messages(&msgs, &good).unwrap();
        assert_eq!(tshark_errors(&good, &[]).unwrap(), Vec::<String>::new());
        assert_eq!(bgp_message_types(&good, &[]).unwrap(), vec![2]);
        let macs = tshark_fields(&good, &[], "bgp", &["bgp.evpn.nlri.mac_addr"]).unwrap();
        assert_eq!(
            macs[0][0],
            "02:03:00:00:00:00,02:03:00:00:00:01,02:03:00:00:00:02"
        );

        // Find the EXTENDED_COMMUNITIES attribute (flags 0xc0, type 16, length 16) and
        // shrink its declared length to 15, leaving one stray byte behind it.
        let mut bad = msgs[0].clone();
        let at = bad
            .windows(3)
            .position(|w| w == [0xc0, 16, 16])
            .expect("ext communities attribute");
        bad[at + 2] = 15;
        let badp = dir.join("bad.pcap");
        pcap_from_messages(&[bad], &badp).unwrap();
        let errs = tshark_errors(&badp, &[]).unwrap();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("frame 1:"), "{errs:?}");
    }
}
