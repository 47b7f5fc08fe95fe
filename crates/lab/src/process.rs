//! Child processes with bounded lifetimes: one-shot commands with a timeout, and daemons that
//! are stopped (TERM, then KILL) when their owner is dropped. Only our own pids are signalled.

use crate::error::{LabError, Result};
/// The signals [`signal`] sends (re-exported so that callers need no rustix of their own).
pub use rustix::process::Signal;
use rustix::process::{kill_process, Pid};
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion with stdin closed, capturing stdout and stderr, for at most
/// `timeout` (then the child is killed and an error returned). A non-zero exit is an error
/// carrying stderr; use [`run_output`] to inspect failures yourself.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<String> {
    let what = describe(cmd);
    let out = run_output(cmd, timeout)?;
    if !out.status.success() {
        return Err(LabError::new(format!(
            "`{what}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` for at most `timeout` and returns its status and output, whatever the status.
pub fn run_output(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let what = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::new(format!("cannot start `{what}`: {e}")))?;
    // Drain both pipes on their own threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_end(&mut v);
        }
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_end(&mut v);
        }
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LabError::new(format!(
                "`{what}` did not finish within {:.1} s",
                timeout.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Sends `sig` to `pid` (one process, never a group).
pub fn signal(pid: u32, sig: Signal) -> Result<()> {
    let p = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| LabError::new(format!("invalid pid {pid}")))?;
    kill_process(p, sig).map_err(|e| LabError::new(format!("kill({pid}): {e}")))
}

/// A long-running child we started (through `ip netns exec`, which execs, so the pid is the
/// daemon's own). Dropping it stops the process: SIGTERM, a bounded grace period, SIGKILL.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
    pid: u32,
    status: Option<ExitStatus>,
}

impl Daemon {
    /// Starts `cmd` (stdin closed; stdout/stderr as configured by the caller, else inherited).
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> Result<Daemon> {
        let name = name.into();
        let what = describe(cmd);
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| LabError::new(format!("cannot start {name} (`{what}`): {e}")))?;
        Ok(Daemon {
            name,
            pid: child.id(),
            child: Some(child),
            status: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The name given at spawn time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// The exit status, once the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.status = Some(st);
                }
            }
        }
        self.status
    }

    /// Stops the process: SIGTERM, wait up to `grace`, then SIGKILL and reap. Idempotent.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.exit_status().is_some() {
            self.child = None;
            return self.status;
        }
        let Some(mut child) = self.child.take() else {
            return self.status;
        };
        let _ = signal(self.pid, Signal::TERM);
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    self.status = Some(st);
                    return self.status;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
        let _ = child.kill();
        // SIGKILL cannot be ignored; the reap is still bounded in case of a kernel hang.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                self.status = Some(st);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

/// True while process `pid` exists and is not a zombie (it may have been started detached,
/// so it is not necessarily our child: `/proc/PID/stat` tells).
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // "PID (COMM) STATE ...": the state follows the last ')'.
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// Resident set size and its peak (VmRSS, VmHWM from /proc/PID/status), in bytes.
pub fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn run_captures_output_and_fails_on_bad_status() {
        let out = run_with_timeout(
            Command::new("sh").args(["-c", "echo hi"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(out, "hi\n");
        let e = run_with_timeout(
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(e.0.contains("oops"), "{e}");
    }

    #[test]
    fn run_times_out() {
        let t = Instant::now();
        let e = run_with_timeout(Command::new("sleep").arg("10"), Duration::from_millis(200))
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(e.0.contains("did not finish"), "{e}");
    }

    #[test]
    fn daemon_is_stopped_on_drop() {
        let d = Daemon::spawn("sleeper", Command::new("sleep").arg("30")).unwrap();
        let pid = d.pid();
        assert!(memory_of(pid).is_some());
        drop(d);
        // Reaped: /proc/PID is gone (or reused by an unrelated process, not a sleep 30 child).
        let st = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!st.starts_with("sleep\u{0}30"), "still running: {st:?}");
    }

    #[test]
    fn memory_of_self_is_plausible() {
        let (rss, hwm) = memory_of(std::process::id()).unwrap();
        assert!(rss > 0 && hwm >= rss);
    }
}
