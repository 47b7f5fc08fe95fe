//! `evpnctl`: the command-line client of evpnd.
//!
//! Today it has one subcommand, `decode`, which turns BGP messages given as hex or raw bytes
//! into JSON (schema: `docs/decode-json.md`) or readable text. The commands that talk to a
//! running daemon (`show neighbors`, `show routes`, ... with `--api ADDR`) will join `Command`
//! as further variants.

mod decode;
mod text;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Command-line client for evpnd.
#[derive(Debug, Parser)]
#[command(name = "evpnctl", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands. Daemon commands (`show ...`, with a global `--api ADDR`) come later.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(&args),
    }
}
