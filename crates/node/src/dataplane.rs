//! The node and its data plane: the feedback a backend sends (learned and aged local MACs,
//! install failures, link state) and the one [`evpnd_dataplane::DataplaneIntent::Synced`] per
//! start that lets a backend sweep what an earlier run left.

use crate::error::CommandError;
use crate::event::{DataplaneFeedback, NodeEvent};
use crate::node::Node;
use crate::restart::every_end_of_rib_received;
use evpnd_evpn::Attachment;
use std::time::Instant;

impl Node {
    pub(crate) fn on_dataplane(&mut self, fb: DataplaneFeedback, now: Instant) {
        let Some(e) = self.evpn.as_mut() else {
            return;
        };
        let result = match fb {
            DataplaneFeedback::LocalMacLearned { vni, mac, ip } => {
                crate::validate::vni(vni).and_then(|vni| {
                    let a = Attachment::new(vni, mac, ip);
                    crate::validate::attachment(&a)?;
                    let attached = e.origins.get(&(vni, mac)).is_some_and(|o| o.attached);
                    // An attached endpoint keeps the flags it was attached with; learning only
                    // adds that the kernel sees it too.
                    if !attached {
                        e.engine
                            .local_attach(&a, now)
                            .map_err(|x| CommandError::invalid("mac", x.to_string()))?;
                    }
                    e.add_origin(vni, mac, true);
                    Ok(())
                })
            }
            DataplaneFeedback::LocalMacGone { vni, mac } => {
                crate::validate::vni(vni).and_then(|vni| {
                    if e.drop_origin(vni, mac, true) {
                        e.engine
                            .local_detach(vni, mac, None, now)
                            .map_err(|x| CommandError::invalid("mac", x.to_string()))?;
                    }
                    Ok(())
                })
            }
            DataplaneFeedback::InstallFailed { intent, reason } => {
                e.counters.intent_failures += 1;
                self.events
                    .push_back(NodeEvent::DataplaneFailed { intent, reason });
                Ok(())
            }
            DataplaneFeedback::LinkState { vni, up, reason } => {
                if let Ok(v) = crate::validate::vni(vni) {
                    if e.engine.evi(v).is_some() {
                        e.links.insert(v, (up, reason.clone()));
                    }
                }
                self.events
                    .push_back(NodeEvent::DataplaneLink { vni, up, reason });
                Ok(())
            }
        };
        if let Err(x) = result {
            self.events.push_back(NodeEvent::Ignored {
                reason: format!("data-plane feedback: {x}"),
            });
        }
    }

    /// Tells the data plane it holds everything (once per start), when no deferral runs and
    /// every neighbour sent its End-of-RIB, or at the select-defer time.
    pub(crate) fn check_dataplane_sync(&mut self, now: Instant) {
        let Some(deadline) = self.sync_deadline else {
            return;
        };
        if self.evpn.is_none() || self.deferral.is_some() && now < deadline {
            return;
        }
        if now >= deadline || every_end_of_rib_received(self.slots()) {
            self.sync_deadline = None;
            self.sync_due = true;
        }
    }

    /// The next event, in order.
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }
}
