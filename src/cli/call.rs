//! `mififo call`: send one MI command, print the reply, exit with a code that
//! says what happened (0 ok, 1 server error, 2 usage/local, 3 no server,
//! 4 permission denied, 5 timeout, 6 reply with another id, 7 a second reply,
//! 8 data after the reply, 9 reply too large, 10 untrusted server FIFO;
//! 128+N after signal N, the reply FIFO removed).
//!
//! Everything the server sent is untrusted: control characters in it are
//! escaped on stderr always and on stdout when it is a terminal (`--raw`
//! excepted), so a reply cannot drive the terminal.

use super::common::{AcceptArgs, Connection, FifoArgs, UrlArgs};
use mififo::client::transport::Transport;
use mififo::client::{params, render, ClientConfig, Error, ErrorKind, Reply, ReplyKind};
use mififo::config::{self, Source};
use mififo::proto::jsonrpc::{Outcome, Request};
use mififo::proto::Dialect;
use mififo::term;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Options of `mififo call`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Parameters:
  key=value      named, string value
  key:=JSON      named, raw JSON value (numbers, arrays, objects, null)
  value          positional, string value
  get_statistics dialog: tm:   sends [[\"dialog:\",\"tm:\"]] as opensips-cli does

Defaults (flag > environment > opensips-cli config > built-in):
  --fifo       OPENSIPS_MI_FIFO_FILE, fifo_file, first existing of /run/opensips/opensips_fifo,
               /var/run/opensips/opensips_fifo, /tmp/opensips_fifo (OPENSIPS_MI_FIFO_FALLBACK honoured)
  --reply-dir  OPENSIPS_MI_FIFO_REPLY_DIR, fifo_reply_dir, /tmp/

Trust: a reply is accepted only if it is exactly one reply carrying this request's (random) id;
a server FIFO in a directory anyone may write (/tmp) must belong to us, root, the directory's
owner or a --trust-user, and (checked as root) be read only by such users — else nothing is sent.

Exit codes: 0 ok, 1 the server answered with an error, 2 usage or local error,
3 no server (missing FIFO, nothing reads it), 4 permission denied, 5 timeout,
6 the reply has another request's id, 7 a second reply followed, 8 other bytes followed the reply,
9 the reply exceeds --max-reply, 10 the server FIFO may belong to another user (nothing sent);
128+N after signal N (the reply FIFO is removed).")]
pub struct Args {
    /// The MI command (OpenSIPS `uptime`, `get_statistics`; Kamailio `core.uptime`).
    #[arg(value_name = "METHOD")]
    pub method: String,
    /// Parameters: key=value, key:=JSON, or positional values.
    #[arg(value_name = "PARAM", allow_negative_numbers = true)]
    pub param: Vec<String>,
    /// The whole params value as JSON (an array or an object), instead of PARAMs.
    #[arg(long = "params", value_name = "JSON", conflicts_with = "param")]
    pub params_json: Option<String>,
    #[command(flatten)]
    pub fifo: FifoArgs,
    #[command(flatten)]
    pub url: UrlArgs,
    /// Give up after this long (500ms, 2s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = config::parse_duration)]
    pub timeout: Duration,
    /// Wire dialect: OpenSIPS 3.x/4.x, OpenSIPS 1.x/2.x, or Kamailio jsonrpcs.
    #[arg(long, value_parser = super::values::dialect(), default_value_t = Dialect::Json)]
    pub dialect: Dialect,
    /// Print the reply bytes exactly as received, control characters and all
    /// (otherwise they are escaped on a terminal); the reply is still checked first.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
    /// Print the whole JSON-RPC response, not only its result.
    #[arg(long)]
    pub json: bool,
    /// Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// Send the request without an id (a JSON-RPC notification: no reply body).
    #[arg(long)]
    pub notification: bool,
    /// Send requests larger than PIPE_BUF (4096 bytes) although concurrent writers may interleave.
    #[arg(long)]
    pub allow_large: bool,
    /// What to accept from the server.
    #[command(flatten)]
    pub accept: AcceptArgs,
    /// Repeat the command every INTERVAL (1s, 500ms) until interrupted, as `watch` does;
    /// on a terminal the screen is cleared before each reply.
    #[arg(long, value_name = "INTERVAL", value_parser = config::parse_duration)]
    pub watch: Option<Duration>,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Runs `mififo call`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.json && args.dialect == Dialect::Text {
        anyhow::bail!(
            "--json needs a JSON dialect; the text dialect has no JSON response (use --raw)"
        );
    }
    let params = params::build(&args.method, &args.param, args.params_json.as_deref())?;
    let Connection {
        resolved,
        transport: client,
        ..
    } = Connection::open(
        &args.fifo,
        &args.url,
        ClientConfig {
            timeout: args.timeout,
            dialect: args.dialect,
            allow_large: args.allow_large,
            max_reply: args.accept.max_reply,
            trust: args.accept.trust(),
            ..ClientConfig::default()
        },
    )?;
    let new_id =
        || (!args.notification).then(|| serde_json::Value::from(mififo::client::fresh_id()));
    let request = Request::new(args.method.clone(), params, new_id());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(every) = args.watch {
        return watch(&args, &rt, &client, request, every, new_id, &resolved);
    }
    let mut caught = {
        let _in = rt.enter();
        Box::pin(super::common::terminating_signal()?)
    };
    let outcome = rt.block_on(send_or_signal(&client, &request, &mut caught));
    let result = match outcome {
        Ended::Signal(sig) => {
            report(format!(
                "interrupted by {}; reply FIFO removed",
                sig.as_str()
            ));
            return Ok(ExitCode::from(128 + sig as u8));
        }
        Ended::Done(r) => r,
    };
    match result {
        Ok(reply) => print_reply(&args, &reply),
        Err(err) => {
            report(mififo::error::chain(&err));
            if let Some(hint) = client.fifo().and_then(|_| hint(&err, &resolved)) {
                report(hint);
            }
            if let Some(d) = other_dialect(&rt, &client, &err) {
                report(format!(
                    "the server answered a {d} request instead: it speaks {}; pass --dialect {d}",
                    dialect_name(d)
                ));
            }
            Ok(ExitCode::from(err.kind().exit_code()))
        }
    }
}

/// After "no reply" from a server that still reads its FIFO: the dialect it
/// answers instead, if another one ([`Client::other_dialect`]).
fn other_dialect(rt: &tokio::runtime::Runtime, client: &Transport, err: &Error) -> Option<Dialect> {
    match err {
        Error::Timeout {
            stage: mififo::client::TimeoutStage::NoReply,
            server_gone: false,
            ..
        } => rt.block_on(client.fifo()?.other_dialect()),
        _ => None,
    }
}

fn dialect_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Json => "OpenSIPS 3.x/4.x JSON-RPC",
        Dialect::Text => "the OpenSIPS 1.x/2.x line protocol",
        Dialect::Kamailio => "Kamailio jsonrpcs",
    }
}

/// One `mififo: …` line on stderr, control characters escaped (it may quote
/// what the server sent).
fn report(msg: String) {
    super::report_error(&anyhow::anyhow!("{}", term::text(&msg)));
}

/// `--watch`: the command again and again, every `every`, until a signal;
/// failures are printed and the next round comes anyway.
fn watch(
    args: &Args,
    rt: &tokio::runtime::Runtime,
    client: &Transport,
    mut request: Request,
    every: Duration,
    new_id: impl Fn() -> Option<serde_json::Value>,
    resolved: &config::Resolved,
) -> anyhow::Result<ExitCode> {
    if every < Duration::from_millis(100) {
        anyhow::bail!("--watch must be at least 100ms");
    }
    let clear = std::io::stdout().is_terminal();
    // One listener for the whole run, so a caught signal stays caught until
    // it is seen. (A listener made anew for each exchange and each wait lost
    // a signal that woke the watch in the same turn as a reply: the reply
    // won the select, the listener that held the signal was dropped, and the
    // watch ran on for ever.)
    let mut caught = {
        let _in = rt.enter();
        Box::pin(super::common::terminating_signal()?)
    };
    loop {
        let started = tokio::time::Instant::now();
        let result = match rt.block_on(send_or_signal(client, &request, &mut caught)) {
            Ended::Signal(sig) => return Ok(ExitCode::from(128 + sig as u8)),
            Ended::Done(r) => r,
        };
        {
            let mut out = std::io::stdout().lock();
            if clear {
                out.write_all(b"\x1b[H\x1b[2J")?;
            }
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                % 86_400;
            writeln!(
                out,
                "Every {}: {}    {:02}:{:02}:{:02} UTC\n",
                mififo::client::error::format_duration(every),
                mififo::term::line(&args.method),
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            )?;
            out.flush()?;
        }
        match result {
            Ok(reply) => {
                print_reply(args, &reply)?;
            }
            Err(err) => {
                report(mififo::error::chain(&err));
                if let Some(hint) = client.fifo().and_then(|_| hint(&err, resolved)) {
                    report(hint);
                }
            }
        }
        request.id = new_id();
        let wait = rt.block_on(async {
            tokio::select! {
                biased;
                s = &mut caught => Some(s),
                _ = tokio::time::sleep_until(started + every) => None,
            }
        });
        if let Some(sig) = wait {
            return Ok(ExitCode::from(128 + sig as u8));
        }
    }
}

enum Ended {
    Done(Result<Reply, Error>),
    Signal(nix::sys::signal::Signal),
}

/// Sends, unless a terminating signal ([`super::common::TERMINATING`],
/// listened for by `caught`) arrives first. A signal that is there already
/// wins: no request is sent after it.
async fn send_or_signal(
    client: &Transport,
    request: &Request,
    caught: &mut (impl std::future::Future<Output = nix::sys::signal::Signal> + Unpin),
) -> Ended {
    tokio::select! {
        biased;
        sig = caught => Ended::Signal(sig),
        r = client.send(request) => Ended::Done(r),
    }
}

/// A second line for errors where the configuration is the likely culprit.
/// What it suggests depends on where the value came from: a path given with
/// a flag is checked, not re-offered as the remedy.
fn hint(err: &Error, resolved: &config::Resolved) -> Option<String> {
    if let Error::Timeout {
        stage: mififo::client::TimeoutStage::NoReply,
        server_gone: false,
        ..
    } = err
    {
        let dir = resolved.reply_dir.value.display();
        return Some(match &resolved.reply_dir.source {
            Source::Flag(flag) => format!(
                "the reply directory '{dir}' is the one you gave with {flag}: check it \
                 against the server's reply_dir, or run 'mififo doctor'"
            ),
            Source::Env(var) => format!(
                "the reply directory '{dir}' came from environment {var}; if the server \
                 uses another reply_dir, change {var} or pass --reply-dir"
            ),
            source @ Source::Config { key, .. } => format!(
                "the reply directory '{dir}' came from {source}; if the server uses another \
                 reply_dir, change {key} there or pass --reply-dir"
            ),
            Source::Default => format!(
                "the reply directory '{dir}' is the built-in default; if the server uses \
                 another reply_dir, pass --reply-dir"
            ),
        });
    }
    if err.kind() != ErrorKind::NoServer {
        return None;
    }
    let tried = if resolved.fifo.source == Source::Default || resolved.tried.len() > 1 {
        let tried: Vec<String> = resolved
            .tried
            .iter()
            .map(|p| format!("'{}'", p.display()))
            .collect();
        format!(" (tried {})", tried.join(", "))
    } else {
        String::new()
    };
    Some(match &resolved.fifo.source {
        Source::Flag(flag) => format!(
            "the FIFO path is the one you gave with {flag}{tried}: check it against the \
             server's fifo_name, or run 'mififo doctor' to find running servers"
        ),
        Source::Env(var) => format!(
            "the FIFO path came from environment {var}{tried}; change {var} to the server's \
             FIFO, or pass --fifo"
        ),
        source @ Source::Config { key, .. } => format!(
            "the FIFO path came from {source}{tried}; change {key} there to the server's FIFO, \
             or pass --fifo"
        ),
        Source::Default => format!(
            "the FIFO path is the built-in default{tried}; pass --fifo or set \
             OPENSIPS_MI_FIFO_FILE to the server's FIFO"
        ),
    })
}

pub(super) fn colour_enabled(when: ColorWhen) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

fn print_reply(args: &Args, reply: &Reply) -> anyhow::Result<ExitCode> {
    let failed = reply.is_error(args.dialect);
    let code = ExitCode::from(if failed { 1 } else { 0 });
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(&reply.raw)?;
        out.flush()?;
        return Ok(code);
    }
    let colour = colour_enabled(args.color);
    // Text the server chose, on a terminal: escaped (pretty JSON already is).
    let on_terminal = std::io::stdout().is_terminal();
    let shown = |t: &str| {
        if on_terminal {
            term::text(t).into_owned()
        } else {
            t.to_string()
        }
    };
    let method = term::line(&args.method);
    match &reply.kind {
        ReplyKind::Json(resp) => {
            if args.json {
                let whole: serde_json::Value = serde_json::from_slice(&reply.raw)?;
                writeln!(out, "{}", term::json(&render::pretty(&whole, colour)))?;
            }
            match &resp.outcome {
                Outcome::Result(v) => {
                    if !args.json {
                        writeln!(out, "{}", term::json(&render::pretty(v, colour)))?;
                    }
                }
                Outcome::Error(e) => report(format!("'{method}' failed: {e}")),
            }
        }
        ReplyKind::Empty => {
            if !args.notification && args.dialect != Dialect::Text {
                report(format!(
                    "'{method}': the server closed the reply FIFO without writing anything"
                ));
                return Ok(ExitCode::from(1));
            }
        }
        ReplyKind::Text(t) if args.dialect == Dialect::Text => {
            let (status, body) = t.split_once('\n').unwrap_or((t.as_str(), ""));
            if failed {
                report(format!("'{method}' failed: {status}"));
            }
            let body = body.trim_end_matches('\n');
            if !body.is_empty() {
                writeln!(out, "{}", shown(body))?;
            }
        }
        ReplyKind::Text(t) => report(format!(
            "'{method}': the server replied with plain text instead of JSON: '{}'",
            mififo::client::accept::cut(t.trim_end(), 1024)
        )),
    }
    out.flush()?;
    Ok(code)
}
