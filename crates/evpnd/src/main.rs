//! evpnd: the EVPN-VXLAN control-plane daemon.
//!
//! `evpnd --config FILE` runs it (SIGHUP re-reads FILE and applies the difference, see
//! `reload`); `evpnd --check-config FILE` validates a configuration and exits non-zero with a
//! message naming the bad key; `evpnd demo [--once]` runs the demo fabric in network
//! namespaces (see `demo`).

mod api;
mod config;
mod control;
mod demo;
mod driver;
mod explain;
mod logging;
mod metrics;
mod metrics_http;
mod net;
mod persist;
mod reload;
mod sockopt;
mod watch;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The EVPN-VXLAN control-plane daemon.
#[derive(Parser)]
#[command(name = "evpnd", version, about)]
struct Cli {
    /// Run with this configuration file (TOML).
    #[arg(long, value_name = "FILE", conflicts_with = "check_config")]
    config: Option<PathBuf>,
    /// Validate this configuration file and exit (0: valid; 1: the error is printed).
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a demo EVPN-VXLAN fabric in network namespaces (root): three hosts and a route
    /// reflector running evpnd, tenants in bridged VNIs 100/200 and in a routed tenant VRF
    /// (VNI 300 on host 1, VNI 400 on host 3), a ping matrix and a live MAC move.
    Demo {
        /// Exit after the checks instead of staying up (exit status 1 if a ping gave the
        /// wrong answer).
        #[arg(long)]
        once: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Demo { once }) = cli.command {
        return demo::run(once);
    }
    if let Some(path) = cli.check_config {
        return match config::load(&path) {
            Ok(c) => {
                let dataplane = match &c.dataplane {
                    config::DataplaneKind::None => "none".to_string(),
                    config::DataplaneKind::Memory => "memory".to_string(),
                    config::DataplaneKind::Linux(l) => {
                        if let Err(e) = evpnd_dataplane::linux::check_capabilities(l) {
                            eprintln!("evpnd: {}: dataplane: {e}", path.display());
                            return ExitCode::FAILURE;
                        }
                        match &l.model {
                            evpnd_dataplane::linux::DeviceModel::PerVni => {
                                "linux (per-VNI devices)".to_string()
                            }
                            evpnd_dataplane::linux::DeviceModel::SingleVxlan { vxlan, .. } => {
                                format!("linux (single VXLAN device {vxlan})")
                            }
                        }
                    }
                };
                let evpn = match &c.node.evpn {
                    Some(e) => format!(
                        ", EVPN engine at VTEP {} with {} VNI(s) and {} endpoint(s)",
                        e.engine.vtep,
                        e.evis.len(),
                        e.endpoints.len()
                    ),
                    None => String::new(),
                };
                println!(
                    "{}: valid ({} neighbor(s), {} static route(s){evpn}, data plane {dataplane})",
                    path.display(),
                    c.node.neighbors.len(),
                    c.node.static_routes.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("evpnd: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(path) = cli.config else {
        eprintln!("evpnd: give --config FILE (or --check-config FILE, or `evpnd demo`)");
        return ExitCode::from(2);
    };
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("evpnd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = logging::init(&cfg.log) {
        eprintln!("evpnd: {e}");
        return ExitCode::FAILURE;
    }
    // Two workers: socket readers and writers run beside the core task, which owns every
    // protocol state machine and stays single-threaded.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("evpnd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evpnd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the API (when configured) and runs the driver until a signal stops it.
async fn run(cfg: config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    if let Some(addr) = cfg.metrics {
        metrics_http::serve(addr, tx.clone()).await?;
    }
    if let Some(api) = &cfg.api {
        api::serve(api.clone(), tx).await?;
    }
    driver::run(cfg, rx).await
}
