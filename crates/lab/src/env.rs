//! What the machine offers: root, and the external tools a test needs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// True when the process runs with effective uid 0 (needed to create namespaces and to start
/// FRR, which drops privileges itself).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Where `tool` is: an absolute or relative path is checked as given, a bare name is looked
/// up in `PATH` and then in the sbin directories (which a non-login root shell may lack).
pub fn tool_path(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        let p = PathBuf::from(tool);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

/// Reports that `test` skipped itself and why: to stderr, and as one line appended to the file
/// named by `EVPND_SKIP_LOG` when it is set. `cargo test` hides the stderr of a passing test, so
/// `scripts/test.sh` sets that variable and lists every skip with its reason at the end of the
/// run: a skip is never silent.
pub fn report_skip(test: &str, reason: &str) {
    let line = format!("SKIPPED: {test}: {reason}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("EVPND_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The name of the running test (the thread name `cargo test` gives it), for skip reports.
pub fn current_test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("a lab test")
        .to_string()
}

/// The gate every lab test passes first.
///
/// Returns true when the process is root and every tool in `tools` (bare names looked up as
/// in [`tool_path`], or paths such as `/usr/lib/frr/bgpd`) exists. Otherwise: under CI (the
/// `CI` environment variable is set) it panics with a message naming what is missing, so a CI
/// machine without the packages fails loudly instead of passing with nothing tested; on a
/// developer machine it prints a notice to stderr and returns false so the test can return
/// early (skip).
pub fn require_root_and_tools(tools: &[&str]) -> bool {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root privileges (network namespaces)".to_string());
    }
    for t in tools {
        if tool_path(t).is_none() {
            missing.push(format!("tool `{t}`"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "lab test needs {} (Debian packages: see crates/lab/DEBIAN-PACKAGES)",
        missing.join(", ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI is set, so this is a failure, not a skip");
    }
    report_skip(&current_test_name(), &msg);
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_not_a_made_up_tool() {
        assert!(tool_path("sh").is_some());
        assert!(tool_path("/bin/sh").is_some());
        assert!(tool_path("evpnd-lab-no-such-tool").is_none());
        assert!(tool_path("/nonexistent/evpnd-lab").is_none());
    }
}
