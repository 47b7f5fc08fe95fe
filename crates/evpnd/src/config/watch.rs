//! `[watch]`: how many deltas each watch stream keeps for watchers that resume.
//!
//! ```toml
//! [watch]
//! retain-intents = 100000   # data-plane intents
//! retain-macs = 100000      # MAC-table changes
//! retain-routes = 10000     # best-path changes
//! retain-events = 10000     # node events
//! ```

use super::{err, ConfigError};
use crate::watch::Retention;
use serde::Deserialize;

/// The most a stream may keep: bounds the daemon's memory (about 60 bytes per intent).
const MAX_RETAIN: usize = 10_000_000;

/// `[watch]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawWatch {
    retain_intents: Option<usize>,
    retain_macs: Option<usize>,
    retain_routes: Option<usize>,
    retain_events: Option<usize>,
}

impl RawWatch {
    /// The validated retention (each between 1 and 10 000 000; defaults for absent keys).
    pub(super) fn retention(&self) -> Result<Retention, ConfigError> {
        let d = Retention::default();
        let check = |key: &str, v: Option<usize>, default: usize| match v {
            None => Ok(default),
            Some(n) if (1..=MAX_RETAIN).contains(&n) => Ok(n),
            Some(n) => err(format!("watch.{key}: {n} (1 to {MAX_RETAIN})")),
        };
        Ok(Retention {
            intents: check("retain-intents", self.retain_intents, d.intents)?,
            macs: check("retain-macs", self.retain_macs, d.macs)?,
            routes: check("retain-routes", self.retain_routes, d.routes)?,
            events: check("retain-events", self.retain_events, d.events)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let w: RawWatch = toml::from_str("").unwrap();
        assert_eq!(w.retention().unwrap(), Retention::default());
        let w: RawWatch = toml::from_str("retain-intents = 50").unwrap();
        assert_eq!(w.retention().unwrap().intents, 50);
        let w: RawWatch = toml::from_str("retain-events = 0").unwrap();
        let e = w.retention().unwrap_err();
        assert!(e.0.contains("watch.retain-events"), "{e}");
        assert!(toml::from_str::<RawWatch>("retain = 1").is_err());
    }
}
