//! `[metrics]` and `[log]`: where the Prometheus metrics are served and how the log is written.

use super::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;

/// `[metrics]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawMetrics {
    listen: Option<String>,
}

/// `[log]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawLog {
    format: Option<String>,
    level: Option<String>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (tracing's default format).
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{s:?} is neither \"text\" nor \"json\"")),
        }
    }
}

/// The log settings (`[log]`); the environment may override them at start (`EVPND_LOG`,
/// `EVPND_LOG_FORMAT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Line format.
    pub format: LogFormat,
    /// A tracing filter directive (`info`, `debug`, `evpnd=debug,info`, ...).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// `[metrics] listen`: `HOST:PORT`, or absent / `"none"` for no metrics endpoint.
pub(super) fn metrics(raw: &RawMetrics) -> Result<Option<SocketAddr>, ConfigError> {
    match raw.listen.as_deref() {
        None | Some("none") | Some("") => Ok(None),
        Some(s) => s.parse::<SocketAddr>().map(Some).map_err(|_| {
            ConfigError(format!(
                "metrics.listen: {s:?} is not HOST:PORT (or \"none\")"
            ))
        }),
    }
}

/// `[log]`: the format and a level that parses as a tracing filter.
pub(super) fn log(raw: &RawLog) -> Result<LogConfig, ConfigError> {
    let format = match raw.format.as_deref() {
        None => LogFormat::Text,
        Some(s) => s
            .parse()
            .map_err(|e| ConfigError(format!("log.format: {e}")))?,
    };
    let level = raw.level.clone().unwrap_or_else(|| "info".into());
    tracing_subscriber::EnvFilter::builder()
        .parse(&level)
        .map_err(|e| ConfigError(format!("log.level: {level:?}: {e}")))?;
    Ok(LogConfig { format, level })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::parse;
    use super::*;

    const BASE: &str = "asn = 65001\nrouter-id = \"198.19.0.1\"\n";

    #[test]
    fn metrics_and_log_parse_with_defaults() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.metrics, None);
        assert_eq!(c.log, LogConfig::default());
        let c = parse(&format!(
            "{BASE}[metrics]\nlisten = \"127.0.0.1:9179\"\n[log]\nformat = \"json\"\nlevel = \"evpnd=debug,info\"\n"
        ))
        .unwrap();
        assert_eq!(c.metrics, Some("127.0.0.1:9179".parse().unwrap()));
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.log.level, "evpnd=debug,info");
    }

    #[test]
    fn bad_metrics_and_log_keys_are_named() {
        for (extra, key) in [
            ("[metrics]\nlisten = \"nowhere\"\n", "metrics.listen"),
            ("[metrics]\nport = 1\n", "port"),
            ("[log]\nformat = \"xml\"\n", "log.format"),
            ("[log]\nlevel = \"[[[\"\n", "log.level"),
        ] {
            let e = parse(&format!("{BASE}{extra}")).unwrap_err().0;
            assert!(e.contains(key), "{extra:?}: {e}");
        }
    }
}
