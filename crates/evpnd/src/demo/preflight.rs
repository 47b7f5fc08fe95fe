//! What `evpnd demo` needs before it builds anything: root and the tools, and a machine
//! cleared of what a killed earlier run left (namespaces with the demo's prefix, evpnd
//! processes recorded in its pid file).

use super::{Result, NAMESPACE_PREFIX, TOOLS};
use evpnd_lab::process::{is_alive, signal, Signal};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// What is missing on this machine for the demo (empty: it can run).
pub fn missing_requirements() -> Vec<String> {
    let mut missing = Vec::new();
    if !evpnd_lab::is_root() {
        missing.push("root privileges (not running as root)".to_string());
    }
    for t in TOOLS {
        if evpnd_lab::tool_path(t).is_none() {
            missing.push(format!("the `{t}` command"));
        }
    }
    missing
}

/// The explanation printed when the demo cannot run: exactly what it needs, what is missing,
/// and how to get it.
pub fn requirements_message(missing: &[String]) -> String {
    let mut s = String::from(
        "evpnd demo builds a small EVPN-VXLAN fabric in network namespaces on this machine \
         and needs:\n\
         \x20 - root: creating network namespaces needs CAP_SYS_ADMIN and configuring them \
         CAP_NET_ADMIN\n\
         \x20 - iproute2 (`ip`, `bridge`), iputils-ping (`ping`) and procps (`sysctl`); on \
         Debian/Ubuntu: apt-get install iproute2 iputils-ping procps\n\
         \x20 - the kernel's vxlan and bridge modules (loaded on demand; a container needs \
         them on its host)\n",
    );
    s.push_str("missing here:\n");
    for m in missing {
        s.push_str(&format!("  - {m}\n"));
    }
    s.push_str(
        "run it as root (sudo target/release/evpnd demo), or run scripts/demo.sh, which \
         installs the packages, builds and starts it.\n",
    );
    s
}

/// True when the process `pid` is an evpnd started by an earlier demo: its command line is
/// `.../evpnd --config WORK_DIR/...`.
fn is_demo_evpnd(pid: u32, work_dir: &Path) -> bool {
    let args = cmdline(pid);
    runs_evpnd(&args)
        && args
            .windows(2)
            .any(|w| w[0] == "--config" && Path::new(&w[1]).starts_with(work_dir))
}

/// The command line of process `pid`, argument by argument (empty when it is gone).
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// True when `args` start with a program called `evpnd`.
fn runs_evpnd(args: &[String]) -> bool {
    args.first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|n| n == "evpnd")
}

/// The pid of another `evpnd demo` that is still running (recorded in `demo_pid_file`), if
/// any: two demos share the namespace names, so the second one must not start.
pub fn other_running_demo(demo_pid_file: &Path) -> Option<u32> {
    let pid = parse_pids(&std::fs::read_to_string(demo_pid_file).ok()?)
        .into_iter()
        .next()?;
    let args = cmdline(pid);
    (pid != std::process::id()
        && is_alive(pid)
        && runs_evpnd(&args)
        && args.iter().any(|a| a == "demo"))
    .then_some(pid)
}

/// The pids listed one per line in `text` (other lines are ignored).
pub fn parse_pids(text: &str) -> Vec<u32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Removes what an earlier run left: stops the evpnd processes its pid file lists (only those
/// still running as the demo's evpnd), deletes every namespace with the demo's prefix and
/// empties the work directory. Returns a summary of what it removed ("" when nothing was).
pub fn remove_leftovers(work_dir: &Path, pid_file: &Path) -> Result<String> {
    let mut stopped = 0;
    if let Ok(text) = std::fs::read_to_string(pid_file) {
        let pids: Vec<u32> = parse_pids(&text)
            .into_iter()
            .filter(|&p| is_demo_evpnd(p, work_dir))
            .collect();
        for &p in &pids {
            let _ = signal(p, Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|&p| is_alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for &p in &pids {
            if is_alive(p) && is_demo_evpnd(p, work_dir) {
                let _ = signal(p, Signal::KILL);
            }
        }
        stopped = pids.len();
    }
    let namespaces = evpnd_lab::netns::delete_namespaces_with_prefix(NAMESPACE_PREFIX)?;
    if work_dir.exists() {
        std::fs::remove_dir_all(work_dir)
            .map_err(|e| format!("removing {}: {e}", work_dir.display()))?;
    }
    let mut parts = Vec::new();
    if stopped > 0 {
        parts.push(format!("stopped {stopped} evpnd process(es)"));
    }
    if !namespaces.is_empty() {
        parts.push(format!("deleted {} namespace(s)", namespaces.len()));
    }
    Ok(parts.join(", "))
}

/// Appends `pid` to the pid file, so that a later run can stop it if this one is killed.
pub fn record_pid(pid_file: &Path, pid: u32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(pid_file)
        .map_err(|e| format!("opening {}: {e}", pid_file.display()))?;
    writeln!(f, "{pid}").map_err(|e| format!("writing {}: {e}", pid_file.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_every_need_and_what_is_missing() {
        let m = requirements_message(&["root privileges (not running as root)".into()]);
        for needle in [
            "root",
            "CAP_NET_ADMIN",
            "iproute2",
            "`bridge`",
            "`ping`",
            "`sysctl`",
            "vxlan",
            "bridge modules",
            "missing here:\n  - root privileges",
            "scripts/demo.sh",
        ] {
            assert!(m.contains(needle), "{needle:?} not in:\n{m}");
        }
    }

    #[test]
    fn pid_file_lines_that_are_not_pids_are_ignored() {
        assert_eq!(parse_pids("12\n\nx\n 34 \n-1\n"), vec![12, 34]);
    }

    #[test]
    fn our_own_process_is_not_a_demo_evpnd() {
        assert!(!is_demo_evpnd(
            std::process::id(),
            Path::new("/run/evpnd-demo")
        ));
        assert!(!is_demo_evpnd(u32::MAX, Path::new("/run/evpnd-demo")));
    }
}
