//! `evpnctl decode`: read hex or raw bytes, decode every BGP message in them, print JSON
//! (NDJSON by default, `--pretty`) or text (`--text`).

use crate::text;
use clap::{Args, ValueEnum};
use evpnd_wire::json::{message_json_at, reset_json};
use evpnd_wire::{decode_message, CodecContext, Family, Outcome};
use serde_json::{json, Value};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `evpnctl decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Hex of one or more BGP messages (concatenated into one byte stream). Read from standard
    /// input when absent.
    #[arg(value_name = "HEX", conflicts_with = "raw")]
    hex: Vec<String>,

    /// Read raw binary bytes from FILE (`-` for standard input) instead of hex.
    #[arg(long, value_name = "FILE")]
    raw: Option<PathBuf>,

    /// Print readable text, one block per message, instead of JSON.
    #[arg(long, conflicts_with = "pretty")]
    text: bool,

    /// Print indented JSON instead of one object per line.
    #[arg(long)]
    pretty: bool,

    /// The session uses 2-octet AS numbers (no RFC 6793 capability); the default is 4-octet.
    #[arg(long)]
    two_octet_as: bool,

    /// The session negotiated extended messages (RFC 8654): UPDATEs up to 65535 bytes.
    #[arg(long)]
    extended_message: bool,

    /// NLRI of FAMILY carry ADD-PATH path identifiers (RFC 7911). Repeatable.
    #[arg(long, value_name = "FAMILY")]
    add_path: Vec<AddPathFamily>,

    /// The peer is external (eBGP): some attributes are discarded (RFC 7606 §7).
    #[arg(long)]
    ebgp: bool,
}

/// Families accepted by `--add-path`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AddPathFamily {
    /// IPv4 unicast (1/1).
    Ipv4Unicast,
    /// IPv6 unicast (2/1).
    Ipv6Unicast,
    /// L2VPN EVPN (25/70).
    L2vpnEvpn,
    /// IPv4 route target constraint (1/132).
    Ipv4Rtc,
}

impl AddPathFamily {
    fn family(self) -> Family {
        match self {
            AddPathFamily::Ipv4Unicast => Family::IPV4_UNICAST,
            AddPathFamily::Ipv6Unicast => Family::IPV6_UNICAST,
            AddPathFamily::L2vpnEvpn => Family::L2VPN_EVPN,
            AddPathFamily::Ipv4Rtc => Family::RT_CONSTRAINT,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Lines,
    Pretty,
    Text,
}

impl DecodeArgs {
    fn context(&self) -> CodecContext {
        let mut add_path: Vec<Family> = Vec::new();
        for f in &self.add_path {
            if !add_path.contains(&f.family()) {
                add_path.push(f.family());
            }
        }
        CodecContext {
            four_octet_as: !self.two_octet_as,
            extended_message: self.extended_message,
            add_path,
            external_peer: self.ebgp,
        }
    }

    fn format(&self) -> Format {
        if self.text {
            Format::Text
        } else if self.pretty {
            Format::Pretty
        } else {
            Format::Lines
        }
    }
}

/// An input problem found before decoding: `error` kind and reason.
struct InputError {
    kind: &'static str,
    reason: String,
    position: Option<usize>,
}

/// The error object for an input problem, with the same keys as a decode error.
fn input_error_json(e: &InputError) -> Value {
    let mut v = json!({
        "type": "error",
        "error": e.kind,
        "message_offset": null,
        "offset": null,
        "offset_in_message": null,
        "field": "input",
        "attribute": null,
        "attribute_code": null,
        "reason": e.reason,
        "outcome": null,
    });
    if let (Some(p), Some(o)) = (e.position, v.as_object_mut()) {
        o.insert("position".into(), json!(p));
    }
    v
}

/// Parses hex text: whitespace, a `0x`/`0X` prefix on any whitespace-separated token and `:`
/// separators are ignored. Positions in errors count characters from 0.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, (String, usize)> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut digits = 0usize;
    let mut chars = text.char_indices().peekable();
    let mut at_token_start = true;
    let mut char_pos = 0usize;
    while let Some((_, c)) = chars.next() {
        let pos = char_pos;
        char_pos += 1;
        if c.is_whitespace() {
            at_token_start = true;
            continue;
        }
        if at_token_start && c == '0' && matches!(chars.peek(), Some((_, 'x' | 'X'))) {
            chars.next();
            char_pos += 1;
            at_token_start = false;
            continue;
        }
        at_token_start = false;
        if c == ':' {
            continue;
        }
        let Some(d) = c.to_digit(16) else {
            return Err((
                format!("invalid hex character {c:?} at character {pos}"),
                pos,
            ));
        };
        digits += 1;
        // to_digit(16) is below 16, so it fits in a nibble.
        let d = d as u8;
        match high.take() {
            None => high = Some(d),
            Some(h) => out.push((h << 4) | d),
        }
    }
    if high.is_some() {
        return Err((
            format!("odd number of hex digits ({digits}): the last byte is incomplete"),
            char_pos,
        ));
    }
    Ok(out)
}

fn read_input(args: &DecodeArgs) -> Result<Vec<u8>, InputError> {
    let io_err = |what: String, e: io::Error| InputError {
        kind: "io",
        reason: format!("{what}: {e}"),
        position: None,
    };
    let bytes = if let Some(path) = &args.raw {
        let mut buf = Vec::new();
        if path.as_os_str() == "-" {
            io::stdin()
                .lock()
                .read_to_end(&mut buf)
                .map_err(|e| io_err("reading standard input".into(), e))?;
        } else {
            buf = std::fs::read(path)
                .map_err(|e| io_err(format!("reading {}", path.display()), e))?;
        }
        buf
    } else {
        let text = if args.hex.is_empty() {
            let mut s = String::new();
            io::stdin()
                .lock()
                .read_to_string(&mut s)
                .map_err(|e| io_err("reading standard input".into(), e))?;
            s
        } else {
            args.hex.join(" ")
        };
        parse_hex(&text).map_err(|(reason, position)| InputError {
            kind: "bad-hex",
            reason,
            position: Some(position),
        })?
    };
    if bytes.is_empty() {
        return Err(InputError {
            kind: "no-input",
            reason: "no input: give hex as arguments, on standard input, or --raw FILE".into(),
            position: None,
        });
    }
    Ok(bytes)
}

/// A one-line note on standard error (ignored if stderr is gone: never panic).
fn warn(msg: &str) {
    let _ = writeln!(io::stderr(), "evpnctl: {msg}");
}

/// Writes one rendered value; `Err` means stdout is gone (e.g. a closed pipe).
fn emit(out: &mut impl Write, format: Format, v: &Value, index: usize) -> io::Result<()> {
    match format {
        Format::Lines => writeln!(out, "{v}"),
        Format::Pretty => {
            let s = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
            writeln!(out, "{s}")
        }
        Format::Text => write!(out, "{}", text::render(v, index)),
    }
}

/// Runs `evpnctl decode`: exit 0 when every message decoded with outcome "accept", 1
/// otherwise.
pub fn run(args: &DecodeArgs) -> ExitCode {
    let format = args.format();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let status = decode_and_print(args, format, &mut out);
    // A closed stdout is not worth a second message; the exit status says enough.
    let flushed = out.flush();
    match (status, flushed) {
        (Ok(true), Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

/// Decodes and prints; `Ok(true)` when everything was accepted.
fn decode_and_print(args: &DecodeArgs, format: Format, out: &mut impl Write) -> io::Result<bool> {
    let bytes = match read_input(args) {
        Ok(b) => b,
        Err(e) => {
            emit(out, format, &input_error_json(&e), 0)?;
            warn(&e.reason);
            return Ok(false);
        }
    };
    let ctx = args.context();
    let mut pos = 0usize;
    let mut index = 0usize;
    let mut not_accepted = 0usize;
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or_default();
        match decode_message(&ctx, rest) {
            Ok(d) => {
                index += 1;
                if d.outcome != Outcome::Accept {
                    not_accepted += 1;
                }
                emit(out, format, &message_json_at(pos, &d), index)?;
                // A decoded message is at least 19 bytes long, so the loop always advances.
                pos += d.length.max(1);
            }
            Err(e) => {
                let v = reset_json(pos, &e);
                emit(out, format, &v, index + 1)?;
                warn(&format!(
                    "{} at byte {}: {}: {}",
                    v["error"].as_str().unwrap_or("error"),
                    v["offset"],
                    v["field"].as_str().unwrap_or(""),
                    v["reason"].as_str().unwrap_or("")
                ));
                return Ok(false);
            }
        }
    }
    if not_accepted > 0 {
        warn(&format!(
            "{not_accepted} of {index} message(s) have an RFC 7606 outcome other than accept"
        ));
    }
    Ok(not_accepted == 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::parse_hex;

    #[test]
    fn hex_forms() {
        assert_eq!(parse_hex("ff00").unwrap(), vec![0xff, 0x00]);
        assert_eq!(
            parse_hex(" 0xFF 0x0a\n1b:2c ").unwrap(),
            vec![0xff, 0x0a, 0x1b, 0x2c]
        );
        // A byte may be split across tokens: the stream is one byte string.
        assert_eq!(parse_hex("f f").unwrap(), vec![0xff]);
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_hex("ffzz").unwrap_err().1, 2);
        assert_eq!(parse_hex("fff").unwrap_err().1, 3);
        // "0x" only counts at the start of a token.
        assert!(parse_hex("ff0x11").is_err());
        assert!(parse_hex("é").is_err());
    }
}
