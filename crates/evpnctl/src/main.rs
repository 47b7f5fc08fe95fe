//! `evpnctl`: the command-line client of evpnd.
//!
//! `decode` turns BGP messages given as hex or raw bytes into JSON (schema:
//! `docs/decode-json.md`) or readable text. `show neighbors|routes|vnis|macs|flood|arp|
//! duplicates|dataplane|endpoints|vrfs|ip-routes` ask a running evpnd over its gRPC API (`--api unix:PATH` or
//! `HOST:PORT`) and print tables or `--json` (schema: `docs/evpnctl-json.md`); `attach`,
//! `detach` and `clear duplicate` act on its EVPN engine; `vrf add|del`, `vni add|del`,
//! `neighbor add|del|reset` and `reload` manage it at run time; `watch` follows its streams; `explain
//! mac|ip` walks the chain from routes to the kernel. Exit status of the commands that talk to
//! evpnd: 0 done, 1 the daemon refused or the call failed (its message is printed), 2 a usage
//! error, 3 the daemon is unreachable, 4 `explain` found a broken link. `completions SHELL`
//! prints a completion script.

mod client;
mod decode;
mod duplicates;
mod evpn;
mod explain;
mod manage;
mod show;
mod text;
mod vrf;
mod watch;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Command-line client for evpnd.
#[derive(Debug, Parser)]
#[command(name = "evpnctl", version, about, propagate_version = true)]
struct Cli {
    /// The daemon's API: `unix:PATH` or `HOST:PORT` (default: $EVPNCTL_API or
    /// unix:/run/evpnd/api.sock).
    #[arg(long, global = true, value_name = "ADDR")]
    api: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Decode BGP messages (hex or raw bytes) to JSON or text.
    ///
    /// Hex comes from the arguments (all concatenated into one byte stream) or, when there
    /// are none, from standard input. Whitespace, `0x` prefixes and `:` separators are
    /// ignored. Exit status: 0 when every message decoded with RFC 7606 outcome "accept",
    /// 1 when any message has another outcome or the input is malformed (the messages before
    /// the fault are printed, then an error object), 2 on a usage error.
    Decode(decode::DecodeArgs),
    /// Show the state of a running evpnd.
    #[command(subcommand)]
    Show(show::ShowCommand),
    /// Ask a neighbour to send its routes again (ROUTE-REFRESH, RFC 2918), as FRR's
    /// `clear bgp ... soft in` does.
    Refresh {
        /// The neighbour's address.
        neighbor: String,
        /// Only this family (default: every negotiated family).
        #[arg(long)]
        family: Option<String>,
    },
    /// Attach a local endpoint to the EVPN engine (what an orchestrator does when a VM or
    /// container starts): its MAC (and IP) are advertised as type-2 routes.
    Attach(evpn::AttachArgs),
    /// Detach a local endpoint: with --ip only that binding, else the MAC and all its IPs.
    Detach(evpn::EndpointArgs),
    /// Clear state in the daemon.
    #[command(subcommand)]
    Clear(evpn::ClearCommand),
    /// Follow a watch stream (routes, MACs, events, data-plane intents) until interrupted.
    #[command(subcommand)]
    Watch(watch::WatchCommand),
    /// Explain why a MAC or IP of a VNI is (not) forwarded: routes received, best path and
    /// why, engine entry, data-plane intent, kernel entry; names the first link that breaks
    /// (exit 0: complete, 4: a link breaks; 1: refused, 3: the daemon is unreachable).
    #[command(subcommand)]
    Explain(explain::ExplainCommand),
    /// Create or delete a VNI (EVI) at run time.
    #[command(subcommand)]
    Vni(manage::VniCommand),
    /// Create or delete a tenant VRF (IP-VRF, RFC 9135) at run time.
    #[command(subcommand)]
    Vrf(vrf::VrfCommand),
    /// Add, remove or reset a BGP neighbour at run time.
    #[command(subcommand)]
    Neighbor(manage::NeighborCommand),
    /// Make the daemon re-read its configuration file and apply the difference (as SIGHUP
    /// does); a bad file changes nothing.
    Reload {
        /// Print what changed as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `--api`, else $EVPNCTL_API, else the daemon's default socket.
fn api_of(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("EVPNCTL_API").ok())
        .unwrap_or_else(|| "unix:/run/evpnd/api.sock".to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Show(cmd) => show::run(&api_of(cli.api), cmd),
        Command::Refresh { neighbor, family } => show::refresh(&api_of(cli.api), &neighbor, family),
        Command::Attach(a) => evpn::attach(&api_of(cli.api), a),
        Command::Detach(e) => evpn::detach(&api_of(cli.api), e),
        Command::Clear(c) => evpn::clear(&api_of(cli.api), c),
        Command::Watch(w) => watch::run(&api_of(cli.api), w),
        Command::Explain(e) => explain::run(&api_of(cli.api), e),
        Command::Vni(c) => manage::vni(&api_of(cli.api), c),
        Command::Vrf(c) => vrf::vrf(&api_of(cli.api), c),
        Command::Neighbor(c) => manage::neighbor(&api_of(cli.api), c),
        Command::Reload { json } => manage::reload(&api_of(cli.api), json),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "evpnctl",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}
