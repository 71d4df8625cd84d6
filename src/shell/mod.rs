//! `mififo shell`: an interactive MI session against one server.
//!
//! The terminal side (line editor, history file, signals) lives in the
//! binary (`src/cli/shell.rs`); this module holds what can be tested without
//! a terminal:
//!
//! - [`parse_line`]: one input line → a shell word or an MI call, with the
//!   argument syntax of `mififo call` ([`crate::client::params`]) after
//!   shell-style word splitting (quotes as in `sh`);
//! - [`Session`]: runs lines against a [`Transport`] (FIFO or `--url`), caches the server's
//!   command and parameter names ([`catalog`]) and formats replies as `call`
//!   does, every server-sent byte passed through [`crate::term`];
//! - [`history_path`]: where the persistent history lives (XDG state dir).

pub mod catalog;

use crate::client::transport::Transport;
use crate::client::{params, render, Reply, ReplyKind};
use crate::proto::jsonrpc::{Outcome, Params, RpcError};
use crate::proto::Dialect;
use crate::term;
use catalog::Catalog;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Most history entries kept in memory and in the history file.
pub const HISTORY_SIZE: usize = 1000;

/// One parsed input line.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// Empty or a `#` comment.
    Nothing,
    /// `exit` / `quit`.
    Exit,
    /// `help` (shell usage and the server's commands) or `help CMD`.
    Help(Option<String>),
    /// `.refresh`: forget the cached command and parameter names.
    Refresh,
    /// An MI command.
    Call {
        /// The method.
        method: String,
        /// Its parameters, built as `mififo call` builds them.
        params: Params,
    },
}

/// Why a line could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Quotes or parameters are wrong.
    #[error(transparent)]
    Params(#[from] params::ParamsError),
}

/// Parses one line: words split like `sh` (`'…'`, `"…"`, `\`), then the first
/// word is the command and the rest its parameters (`key=value`,
/// `key:=JSON`, positional values).
pub fn parse_line(line: &str) -> Result<Line, LineError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Line::Nothing);
    }
    let words = params::shell_split(trimmed)?;
    let Some((method, rest)) = words.split_first() else {
        return Ok(Line::Nothing);
    };
    Ok(match (method.as_str(), rest) {
        ("exit" | "quit", []) => Line::Exit,
        ("help", []) => Line::Help(None),
        ("help", [cmd]) => Line::Help(Some(cmd.clone())),
        (".refresh", []) => Line::Refresh,
        _ => Line::Call {
            method: method.clone(),
            params: params::build(method, rest, None)?,
        },
    })
}

/// What running one line produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Output {
    /// For stdout (already terminal-safe).
    pub out: String,
    /// For stderr, one message per line (already terminal-safe).
    pub err: String,
    /// `mififo call`'s exit code for this line (0 ok, 1 server error, 2–5 client errors).
    pub code: u8,
    /// The line asked to leave the shell.
    pub exit: bool,
}

impl Output {
    fn error(code: u8, msg: impl std::fmt::Display) -> Output {
        Output {
            err: format!("mififo: {}\n", term::line(&msg.to_string())),
            code,
            ..Output::default()
        }
    }
}

/// A shell session: one server, its cached names, output settings.
#[derive(Debug)]
pub struct Session {
    client: Transport,
    /// The cached command and parameter names.
    pub catalog: Catalog,
    colour: bool,
}

impl Session {
    /// A session over `client`; `colour` colours JSON replies.
    pub fn new(client: impl Into<Transport>, colour: bool) -> Session {
        Session {
            client: client.into(),
            catalog: Catalog::default(),
            colour,
        }
    }

    /// The client.
    pub fn client(&self) -> &Transport {
        &self.client
    }

    fn dialect(&self) -> Dialect {
        self.client.dialect()
    }

    /// Runs one input line. Cancel-safe: dropping the future removes the
    /// reply FIFO of a call in flight (the client's guarantee).
    pub async fn run(&mut self, line: &str) -> Output {
        match parse_line(line) {
            Err(e) => Output::error(2, e),
            Ok(Line::Nothing) => Output::default(),
            Ok(Line::Exit) => Output {
                exit: true,
                ..Output::default()
            },
            Ok(Line::Refresh) => {
                self.catalog.clear();
                match self.fetch_commands().await {
                    Ok(()) => Output {
                        out: format!("{} commands\n", self.catalog.commands().len()),
                        ..Output::default()
                    },
                    Err(o) => o,
                }
            }
            Ok(Line::Help(None)) => self.help().await,
            Ok(Line::Help(Some(cmd))) => self.help_for(&cmd).await,
            Ok(Line::Call { method, params }) => {
                let (out, rpc_code) = self.call(&method, params).await;
                if rpc_code == Some(crate::proto::jsonrpc::code::METHOD_NOT_FOUND) {
                    // The server's command set may have changed: refetch on next Tab.
                    self.catalog.clear();
                }
                out
            }
        }
    }

    /// Sends one MI command and formats the reply; also returns the
    /// JSON-RPC error code when the server answered with one.
    async fn call(&self, method: &str, params: Params) -> (Output, Option<i64>) {
        match self.client.call(method, params).await {
            Err(e) => (
                Output::error(e.kind().exit_code(), crate::error::chain(&e)),
                None,
            ),
            Ok(reply) => format_reply(method, &reply, self.dialect(), self.colour),
        }
    }

    /// Fetches the command names (`which`; Kamailio: `system.listMethods`).
    pub async fn fetch_commands(&mut self) -> Result<(), Output> {
        let method = match self.dialect() {
            Dialect::Kamailio => "system.listMethods",
            _ => "which",
        };
        let reply = self
            .client
            .call(method, Params::None)
            .await
            .map_err(|e| Output::error(e.kind().exit_code(), e))?;
        let names = match &reply.kind {
            ReplyKind::Json(r) => match &r.outcome {
                Outcome::Result(v) => catalog::names_from_json(v),
                Outcome::Error(e) => {
                    return Err(Output::error(1, format!("'{method}' failed: {e}")));
                }
            },
            ReplyKind::Text(t) if self.dialect() == Dialect::Text => {
                catalog::names_from_text(t.split_once('\n').map_or("", |x| x.1))
            }
            _ => Vec::new(),
        };
        self.catalog.set_commands(names);
        Ok(())
    }

    /// Fetches the command list when it is not cached yet.
    pub async fn ensure_commands(&mut self) -> Result<(), Output> {
        if self.catalog.has_commands() {
            return Ok(());
        }
        self.fetch_commands().await
    }

    /// Fetches `command`'s parameter names (`which command`) unless cached.
    /// A server that cannot tell caches an empty list.
    pub async fn ensure_params(&mut self, command: &str) {
        if self.catalog.params(command).is_some() || self.dialect() != Dialect::Json {
            return;
        }
        let mut p = serde_json::Map::new();
        p.insert("command".into(), Value::String(command.into()));
        let recipes = match self.client.call("which", Params::Named(p)).await {
            Ok(Reply {
                kind: ReplyKind::Json(r),
                ..
            }) => match r.outcome {
                Outcome::Result(v) => v,
                Outcome::Error(_) => Value::Null,
            },
            _ => Value::Null,
        };
        self.catalog.set_recipes(command, &recipes);
    }

    async fn help(&mut self) -> Output {
        let mut out = String::from(
            "Type an MI command with its parameters, as for `mififo call`:\n  \
             get_statistics core: shmem:      positional\n  \
             log_level level=4 pid:=1234      named (:= takes raw JSON)\n\
             Shell words: help [CMD], .refresh (re-read the server's commands), exit (or Ctrl-D).\n\
             Tab completes command and parameter names; Up recalls history.\n",
        );
        let mut err = String::new();
        if let Err(o) = self.ensure_commands().await {
            err = o.err;
        } else if !self.catalog.commands().is_empty() {
            out.push_str("Server commands:\n");
            for line in columns(self.catalog.commands(), 96) {
                out.push_str("  ");
                out.push_str(&line);
                out.push('\n');
            }
        }
        Output {
            out,
            err,
            ..Output::default()
        }
    }

    async fn help_for(&mut self, cmd: &str) -> Output {
        let params = Params::Positional(vec![Value::String(cmd.into())]);
        let (mut out, _) = self.call("help", params).await;
        if self.dialect() == Dialect::Json {
            self.ensure_params(cmd).await;
            if let Some(names) = self.catalog.params(cmd) {
                if !names.is_empty() {
                    out.out
                        .push_str(&format!("Parameters: {}\n", names.join(" ")));
                }
            }
        }
        out
    }
}

/// Formats a reply as `mififo call` prints it; returns the JSON-RPC error
/// code too when there is one.
pub fn format_reply(
    method: &str,
    reply: &Reply,
    dialect: Dialect,
    colour: bool,
) -> (Output, Option<i64>) {
    let method = term::line(method);
    let failed = reply.is_error(dialect);
    let mut o = Output {
        code: u8::from(failed),
        ..Output::default()
    };
    let mut rpc_code = None;
    match &reply.kind {
        ReplyKind::Json(resp) => match &resp.outcome {
            Outcome::Result(v) => {
                o.out = format!("{}\n", term::json(&render::pretty(v, colour)));
            }
            Outcome::Error(e) => {
                rpc_code = Some(e.code);
                o.err = format!("mififo: '{method}' failed: {}\n", rpc_error(e));
            }
        },
        ReplyKind::Empty => {
            if dialect != Dialect::Text {
                o.err = format!(
                    "mififo: '{method}': the server closed the reply FIFO without writing anything\n"
                );
                o.code = 1;
            }
        }
        ReplyKind::Text(t) if dialect == Dialect::Text => {
            let (status, body) = t.split_once('\n').unwrap_or((t.as_str(), ""));
            if failed {
                o.err = format!("mififo: '{method}' failed: {}\n", term::line(status));
            }
            let body = body.trim_end_matches('\n');
            if !body.is_empty() {
                o.out = format!("{}\n", term::text(body));
            }
        }
        ReplyKind::Text(t) => {
            o.err = format!(
                "mififo: '{method}': the server replied with plain text instead of JSON: '{}'\n",
                term::line(t.trim_end())
            );
        }
    }
    (o, rpc_code)
}

fn rpc_error(e: &RpcError) -> String {
    term::line(&e.to_string()).into_owned()
}

/// `names` laid out in columns no wider than `width`.
fn columns(names: &[String], width: usize) -> Vec<String> {
    let w = names.iter().map(|n| n.len()).max().unwrap_or(0) + 2;
    let per_line = (width / w.max(1)).max(1);
    names
        .chunks(per_line)
        .map(|c| {
            c.iter()
                .map(|n| format!("{n:<w$}"))
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

/// The history file: `$XDG_STATE_HOME/mififo/history`, else
/// `$HOME/.local/state/mififo/history` (relative values are ignored, as the
/// XDG base directory specification requires); `None` without either.
pub fn history_path(xdg_state_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    let base = match xdg_state_home.filter(|p| p.is_absolute()) {
        Some(x) => x.to_path_buf(),
        None => home.filter(|p| p.is_absolute())?.join(".local/state"),
    };
    Some(base.join("mififo").join("history"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::jsonrpc::Response;
    use serde_json::json;

    #[test]
    fn lines_parse_like_call_arguments() {
        assert_eq!(parse_line("  ").unwrap(), Line::Nothing);
        assert_eq!(parse_line("# note").unwrap(), Line::Nothing);
        assert_eq!(parse_line("exit").unwrap(), Line::Exit);
        assert_eq!(
            parse_line("help uptime").unwrap(),
            Line::Help(Some("uptime".into()))
        );
        assert_eq!(parse_line(".refresh").unwrap(), Line::Refresh);
        assert_eq!(
            parse_line("get_statistics core: 'shmem:'").unwrap(),
            Line::Call {
                method: "get_statistics".into(),
                params: Params::Positional(vec![json!(["core:", "shmem:"])]),
            }
        );
        let Line::Call { params, .. } = parse_line("log_level level:=4 pid=\"1 2\"").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            params.to_value().unwrap(),
            json!({"level": 4, "pid": "1 2"})
        );
        assert!(parse_line("x 'open").is_err());
        assert!(parse_line("x a=1 b").is_err());
        // `exit` with arguments is a command, not the shell word.
        assert!(matches!(parse_line("exit now").unwrap(), Line::Call { .. }));
    }

    fn json_reply(outcome: Outcome) -> Reply {
        Reply {
            raw: Vec::new(),
            kind: ReplyKind::Json(Response {
                id: json!(1),
                outcome,
            }),
        }
    }

    #[test]
    fn replies_are_formatted_and_escaped() {
        let (o, c) = format_reply(
            "x",
            &json_reply(Outcome::Result(json!({"n\u{9b}": 1}))),
            Dialect::Json,
            false,
        );
        assert_eq!((o.code, c), (0, None));
        assert_eq!(o.out, "{\n  \"n\\u009b\": 1\n}\n");
        let (o, c) = format_reply(
            "x",
            &json_reply(Outcome::Error(RpcError::new(404, "no\x1b]0;t\x07"))),
            Dialect::Json,
            false,
        );
        assert_eq!((o.code, c), (1, Some(404)));
        assert_eq!(o.err, "mififo: 'x' failed: 404: no\\x1b]0;t\\x07\n");
        let text = Reply {
            raw: Vec::new(),
            kind: ReplyKind::Text("500 bad\x1b[2J\nline\x1b\n\n".into()),
        };
        let (o, _) = format_reply("x", &text, Dialect::Text, false);
        assert_eq!(o.code, 1);
        assert_eq!(o.out, "line\\x1b\n");
        assert!(o.err.contains("500 bad\\x1b[2J"));
    }

    #[test]
    fn history_location() {
        let p = |x: Option<&str>, h: Option<&str>| {
            history_path(x.map(Path::new), h.map(Path::new)).map(|p| p.display().to_string())
        };
        assert_eq!(p(Some("/s"), Some("/h")).unwrap(), "/s/mififo/history");
        assert_eq!(
            p(Some("rel"), Some("/h")).unwrap(),
            "/h/.local/state/mififo/history"
        );
        assert_eq!(
            p(None, Some("/h")).unwrap(),
            "/h/.local/state/mififo/history"
        );
        assert_eq!(p(None, None), None);
    }

    #[test]
    fn help_columns_fit() {
        let names: Vec<String> = ["a", "bb", "ccc", "dddd"].map(String::from).into();
        assert_eq!(columns(&names, 12), vec!["a     bb", "ccc   dddd"]);
    }
}
