//! Calling the daemon: one runtime per command, the exit codes of every command that talks
//! to evpnd (0 done, 1 refused or failed — the daemon's message is printed, 3 the daemon is
//! unreachable, 4 `explain` found a broken link; clap's usage errors are 2), and paged
//! listings printed as they arrive.

use evpnd_api::v1::evpnd_client::EvpndClient;
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;
use tonic::transport::Channel;

/// Exit status: the daemon refused the call or it failed.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: the daemon could not be reached.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit status of `explain`: the walk found a broken link.
pub const EXIT_BROKEN_LINK: u8 = 4;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// No connection to the daemon (or it went away).
    Unreachable(String),
    /// The daemon answered with an error status, or output could not be written.
    Refused(String),
    /// The command did its work and printed it; it ends with this exit status (`explain`
    /// when a link breaks).
    Status(u8),
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::Unavailable => Failure::Unreachable(format!("evpnd: {}", s.message())),
            _ => Failure::Refused(format!("evpnd: {}", s.message())),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Refused(format!("writing the output: {e}"))
    }
}

/// Connects to the daemon at `api`, runs `f` with the client and maps the outcome to the
/// exit status.
pub fn run<F, Fut>(api: &str, f: F) -> ExitCode
where
    F: FnOnce(EvpndClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    run_on(api, |channel| f(crate::show::client(channel)))
}

/// [`run`] for any service of the API: `f` gets the channel (the `Watch` service, say).
pub fn run_on<F, Fut>(api: &str, f: F) -> ExitCode
where
    F: FnOnce(Channel) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("evpnctl: {e}");
            return ExitCode::from(EXIT_REFUSED);
        }
    };
    let result = rt.block_on(async {
        let channel = crate::show::channel(api)
            .await
            .map_err(Failure::Unreachable)?;
        f(channel).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(e)) => {
            eprintln!("evpnctl: {e}");
            ExitCode::from(EXIT_REFUSED)
        }
        Err(Failure::Unreachable(e)) => {
            eprintln!("evpnctl: {e}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
        Err(Failure::Status(code)) => ExitCode::from(code),
    }
}

/// [`run`] for a command that prints one text.
pub fn print<F, Fut>(api: &str, f: F) -> ExitCode
where
    F: FnOnce(EvpndClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<String, tonic::Status>>,
{
    run(api, |c| async move {
        let text = f(c).await?;
        println!("{text}");
        Ok(())
    })
}

/// One page as a paged listing prints it: JSON items, table rows, the next page's token.
pub struct PageOut {
    /// The entries as JSON.
    pub json: Vec<Value>,
    /// The entries as table rows (a route has one row per path).
    pub rows: Vec<Vec<String>>,
    /// How many entries the page holds.
    pub entries: usize,
    /// Empty when this was the last page.
    pub next_page_token: String,
}

/// Fetches page after page with `fetch(page_token)` and prints each as it arrives: with
/// `json` one JSON array written item by item (never held whole), else a table whose header
/// comes once and whose columns are sized page by page, then `N noun(s)`.
pub async fn print_pages<F, Fut>(
    json: bool,
    header: &[&str],
    noun: &str,
    mut fetch: F,
) -> Result<(), Failure>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<PageOut, tonic::Status>>,
{
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut token = String::new();
    let mut count: u64 = 0;
    if json {
        out.write_all(b"[")?;
    }
    loop {
        let page = fetch(token).await?;
        if json {
            for item in &page.json {
                if count > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(b"\n")?;
                serde_json::to_writer(&mut out, item)
                    .map_err(|e| Failure::Refused(format!("writing the output: {e}")))?;
                count += 1;
            }
        } else if !page.rows.is_empty() || count == 0 {
            let text = crate::show::table(header, &page.rows);
            let body = if count == 0 {
                text.as_str()
            } else {
                text.split_once('\n').map_or("", |(_, rest)| rest)
            };
            if !body.is_empty() {
                writeln!(out, "{body}")?;
            }
            count += page.entries as u64;
        }
        out.flush()?;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    if json {
        out.write_all(b"\n]\n")?;
    } else {
        writeln!(out, "{count} {noun}(s)")?;
    }
    out.flush()?;
    Ok(())
}
