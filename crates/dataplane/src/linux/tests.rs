//! Root tests of the Linux backend, each in network namespaces it creates and deletes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{LinuxBackend, LinuxConfig};
use crate::{Backend, DataplaneIntent as I, Feedback, PortName};
use evpnd_lab::netns::Netns;
use evpnd_wire::{MacAddress, Vni};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod entries;
mod iproute2;
mod l3;
mod learning;
mod reconcile;
mod single;

/// Longest wait for the kernel to show what a test expects.
const WAIT: Duration = Duration::from_secs(10);

fn root() -> bool {
    evpnd_lab::env::require_root_and_tools(&["ip", "bridge"])
}

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

fn mac(n: u16) -> MacAddress {
    let [a, b] = n.to_be_bytes();
    MacAddress([2, 0, 0, 0, a, b])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn port(s: &str) -> PortName {
    PortName::new(s).unwrap()
}

/// A backend running in a namespace, with the feedback it sent.
struct Running {
    backend: Option<LinuxBackend>,
    events: Arc<Mutex<Vec<Feedback>>>,
    /// Held by a test to stall the backend's threads in their next feedback call.
    gate: Arc<Mutex<()>>,
}

impl Running {
    fn start(ns: &Netns, config: LinuxConfig) -> Running {
        let events = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Mutex::new(()));
        let sink_events = Arc::clone(&events);
        let sink_gate = Arc::clone(&gate);
        let backend = ns
            .within(move || {
                LinuxBackend::spawn(
                    config,
                    Box::new(move |f| {
                        let _open = sink_gate.lock().unwrap_or_else(|e| e.into_inner());
                        sink_events.lock().unwrap().push(f);
                    }),
                )
            })
            .unwrap()
            .unwrap();
        Running {
            backend: Some(backend),
            events,
            gate,
        }
    }

    /// Stalls every thread of the backend in its next feedback call until the guard is
    /// dropped: a slow consumer, made deterministic.
    fn hold_feedback(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate.lock().unwrap()
    }

    fn submit(&mut self, batch: Vec<I>) {
        self.backend.as_mut().unwrap().submit(batch);
    }

    fn events(&self) -> Vec<Feedback> {
        self.events.lock().unwrap().clone()
    }

    fn stats(&self) -> crate::BackendStats {
        self.backend.as_ref().unwrap().stats()
    }

    /// Waits until `applied` intents were carried out.
    fn wait_applied(&self, applied: u64) {
        wait_for("intents applied", || self.stats().applied >= applied);
    }

    fn wait_event(&self, what: &str, f: impl Fn(&Feedback) -> bool) -> Feedback {
        let mut found = None;
        wait_for(what, || {
            found = self.events().into_iter().find(&f);
            found.is_some()
        });
        found.unwrap()
    }

    fn stop(&mut self) {
        self.backend.take();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(vtep: &str) -> LinuxConfig {
    LinuxConfig::new(ip(vtep))
}

/// Polls `f` until it holds, panicking after [`WAIT`].
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn fdb(ns: &Netns, dev: &str) -> String {
    ns.exec(&["bridge", "fdb", "show", "dev", dev]).unwrap()
}

fn neigh(ns: &Netns, dev: &str) -> String {
    ns.ip(&["neigh", "show", "dev", dev]).unwrap()
}

fn link_exists(ns: &Netns, dev: &str) -> bool {
    ns.ip(&["link", "show", "dev", dev]).is_ok()
}

/// The lines of `text` that mention `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn names_and_learning_come_from_the_vni_options() {
    let mut c = config("198.18.0.1");
    c.vnis.insert(
        7,
        super::VniOptions {
            bridge: Some("tenant7".into()),
            vxlan: None,
            learning: Some(false),
        },
    );
    assert_eq!(c.bridge_name(7), "tenant7");
    assert_eq!(c.vxlan_name(7), "vx7");
    assert_eq!(c.bridge_name(8), "br8");
    assert!(!c.learning(7));
    assert!(c.learning(8));
}
