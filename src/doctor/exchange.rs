//! `doctor --call METHOD`: one real MI exchange as the client, classified.
//!
//! Runs in the probe child (`mififo __probe --call …`), after it has taken
//! the client's namespace and credentials, so the reply FIFO is created where
//! and as the client would create it. The classes:
//!
//! - **answered**: a reply came back in the client's dialect;
//! - **wrong dialect**: nothing came back, but the server answers a harmless
//!   request (`version`, Kamailio `core.version`) in another dialect — the
//!   OpenSIPS 3.x JSON, the 1.x/2.x text line protocol, or Kamailio's
//!   `jsonrpcs` — so client and server speak past each other;
//! - **no reply**: nothing answers in any dialect (the caller decides whether
//!   the reply FIFO was unreachable from the reply-dir findings);
//! - **refused / no server**: the request could not even be sent (the other
//!   checks explain why).
//!
//! Bounded: each exchange has its own timeout, at most four are made.

use crate::client::{Client, ClientConfig, Error, ErrorKind, ReplyKind, TimeoutStage};
use crate::proto::jsonrpc::Params;
use crate::proto::Dialect;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    /// The server FIFO (in the client's namespace).
    pub fifo: PathBuf,
    /// The client's reply directory.
    pub reply_dir: PathBuf,
    /// The MI method.
    pub method: String,
    /// The client's dialect.
    pub dialect: Dialect,
    /// Timeout of the real exchange.
    pub timeout: Duration,
}

/// How the exchange went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum CallOutcome {
    /// A reply in the client's dialect (`error`: the server reported a failure).
    Answered {
        /// The start of the reply.
        reply: String,
        /// The server reported an error (unknown method, bad params).
        error: bool,
    },
    /// The server speaks another dialect.
    WrongDialect {
        /// The dialect that answered.
        server: String,
        /// The start of that answer.
        reply: String,
    },
    /// No reply in any dialect.
    NoReply {
        /// The client's error text.
        detail: String,
    },
    /// The request could not be sent (no server, permission): see the other checks.
    NotSent {
        /// The client's error text.
        detail: String,
    },
}

fn dialect_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Json => "json",
        Dialect::Text => "text",
        Dialect::Kamailio => "kamailio",
    }
}

/// A harmless method every server of that dialect knows.
fn harmless(d: Dialect) -> &'static str {
    match d {
        Dialect::Kamailio => "core.version",
        _ => "version",
    }
}

/// `harmless` by dialect name (`json`, `text`, `kamailio`): what a printed
/// check sends in the server's dialect (the client's own method may not
/// exist there: Kamailio's `core.version` on OpenSIPS is "method not found").
pub fn harmless_in(dialect: &str) -> &'static str {
    if dialect == dialect_name(Dialect::Kamailio) {
        harmless(Dialect::Kamailio)
    } else {
        harmless(Dialect::Json)
    }
}

/// The start of a reply, one line, without terminal control sequences.
fn head(raw: &[u8]) -> String {
    let t = String::from_utf8_lossy(&raw[..raw.len().min(200)]);
    crate::term::line(t.trim()).into_owned()
}

async fn once(
    req: &CallRequest,
    d: Dialect,
    method: &str,
    timeout: Duration,
) -> Result<crate::client::Reply, Error> {
    let c = Client::new(ClientConfig {
        fifo: req.fifo.clone(),
        reply_dir: req.reply_dir.clone(),
        timeout,
        dialect: d,
        allow_large: false,
        ..ClientConfig::default()
    });
    c.call(method, Params::None).await
}

/// Does the exchange (and, on no reply, the dialect probes) here, with our
/// own credentials. Starts its own single-threaded runtime.
pub fn exchange_here(req: &CallRequest) -> CallOutcome {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return CallOutcome::NotSent {
                detail: format!("cannot start a runtime: {e}"),
            }
        }
    };
    rt.block_on(async {
        match once(req, req.dialect, &req.method, req.timeout).await {
            Ok(r) => {
                // A plain-text reply in a JSON dialect is an engine error, not another dialect.
                let error = r.is_error(req.dialect);
                CallOutcome::Answered {
                    reply: head(&r.raw),
                    error,
                }
            }
            Err(
                e @ Error::Timeout {
                    stage: TimeoutStage::NoReply | TimeoutStage::PartialReply { .. },
                    ..
                },
            ) => {
                let short = Duration::from_millis(800).min(req.timeout);
                for d in [Dialect::Json, Dialect::Text, Dialect::Kamailio] {
                    if d == req.dialect {
                        continue;
                    }
                    // A text server may still be collecting the argument lines of the
                    // garbled first request: the first text probe ends it, the second
                    // is read as a fresh command.
                    let tries = if d == Dialect::Text { 2 } else { 1 };
                    for _ in 0..tries {
                        if let Ok(r) = once(req, d, harmless(d), short).await {
                            let understood = match (&r.kind, d) {
                                (ReplyKind::Json(_), Dialect::Json | Dialect::Kamailio) => true,
                                (ReplyKind::Text(t), Dialect::Text) => {
                                    crate::client::wire::text_status(t).is_some()
                                }
                                _ => false,
                            };
                            if understood {
                                return CallOutcome::WrongDialect {
                                    server: dialect_name(d).to_string(),
                                    reply: head(&r.raw),
                                };
                            }
                        }
                    }
                }
                CallOutcome::NoReply {
                    detail: crate::error::chain(&e),
                }
            }
            Err(e) if e.kind() == ErrorKind::Timeout => CallOutcome::NoReply {
                detail: crate::error::chain(&e),
            },
            Err(e) => CallOutcome::NotSent {
                detail: crate::error::chain(&e),
            },
        }
    })
}

/// One line for the child's stdout.
pub fn format_outcome(o: &CallOutcome) -> String {
    serde_json::to_string(o)
        .unwrap_or_else(|e| format!("{{\"outcome\":\"not-sent\",\"detail\":\"{e}\"}}"))
}

/// Parses the child's line.
///
/// # Errors
/// When the line is not an outcome.
pub fn parse_outcome(line: &str) -> Result<CallOutcome, String> {
    serde_json::from_str(line.trim())
        .map_err(|e| format!("bad call-probe output '{}': {e}", line.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_round_trips() {
        for o in [
            CallOutcome::Answered {
                reply: "{\"x\":1}".into(),
                error: false,
            },
            CallOutcome::WrongDialect {
                server: "text".into(),
                reply: "200 OK".into(),
            },
            CallOutcome::NoReply {
                detail: "timeout".into(),
            },
            CallOutcome::NotSent {
                detail: "ENXIO".into(),
            },
        ] {
            assert_eq!(parse_outcome(&format_outcome(&o)).unwrap(), o);
        }
        assert!(parse_outcome("nonsense").is_err());
    }
}
