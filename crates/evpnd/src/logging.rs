//! The log: tracing lines on stderr, human-readable text or one JSON object per line
//! (`[log] format`), filtered by `[log] level`. The environment overrides both at start:
//! `EVPND_LOG` (a tracing filter such as `debug` or `evpnd=debug,info`) and
//! `EVPND_LOG_FORMAT` (`text` or `json`).

use crate::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Returns an error naming the variable when the environment
/// holds a value that does not parse.
pub fn init(config: &LogConfig) -> Result<(), String> {
    let format = match std::env::var("EVPND_LOG_FORMAT") {
        Ok(v) if !v.is_empty() => v
            .parse::<LogFormat>()
            .map_err(|e| format!("EVPND_LOG_FORMAT: {e}"))?,
        _ => config.format,
    };
    let filter = match std::env::var("EVPND_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::builder()
            .parse(&v)
            .map_err(|e| format!("EVPND_LOG: {v:?}: {e}"))?,
        _ => EnvFilter::builder()
            .parse(&config.level)
            .map_err(|e| format!("log.level: {:?}: {e}", config.level))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot install the log subscriber: {e}"))
}
