//! `mififo record`: ask a real server what it has and write a commands file
//! (format 2, `standalone`) that `mififo serve --commands` replays.
//!
//! What is asked, in order:
//! 1. the command list: `which` (OpenSIPS 3.x/4.x), else `system.listMethods`
//!    (Kamailio `jsonrpcs`);
//! 2. per command: `help` with `mi_cmd` (help text, `Exported by`) and `which`
//!    with `command` (parameter recipes) — Kamailio: `system.methodHelp`;
//! 3. OpenSIPS: `list_statistics` (incremental flags) and `get_statistics all`;
//! 4. every command on the safe list ([`is_safe`]) without parameters, and
//!    each `--call`.
//!
//! Nothing else is ever sent: a command not on the safe list and not named by
//! `--call` is listed (so `which` and `help` replay) but never run.
//!
//! What a server sends is data: command names must look like names
//! ([`valid_name`]), counts are capped ([`MAX_COMMANDS`], [`MAX_STATISTICS`]),
//! replies are bounded by the client's `max_reply`, and nothing in a reply is
//! interpreted beyond storing it.

pub mod redact;

use crate::client::{Client, ClientConfig, ReplyKind};
use crate::proto::jsonrpc::{Outcome, Params, Request, RpcError};
use crate::server::forward::Forwarder;
use crate::server::Executor;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Most commands recorded from one server.
pub const MAX_COMMANDS: usize = 4096;
/// Most statistics recorded.
pub const MAX_STATISTICS: usize = 100_000;

/// Where to record from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An MI FIFO (dialect `json` for OpenSIPS, `kamailio` for jsonrpcs).
    Fifo(ClientConfig),
    /// An HTTP JSON-RPC MI (OpenSIPS `mi_http`, `mififo gateway`, Kamailio `jsonrpcs` over xhttp).
    Http {
        /// The URL.
        url: String,
        /// Per request.
        timeout: Duration,
    },
}

/// One extra call (`--call 'METHOD [PARAMS]'`).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method.
    pub method: String,
    /// JSON array or object; `None` for no parameters.
    pub params: Option<Value>,
}

impl std::str::FromStr for Call {
    type Err = String;

    /// `METHOD` or `METHOD JSON` (`dlg_list {"callid":"x"}`, `get_statistics [["dialog:"]]`).
    fn from_str(s: &str) -> Result<Call, String> {
        let s = s.trim();
        let (method, rest) = match s.split_once(char::is_whitespace) {
            Some((m, r)) => (m, r.trim()),
            None => (s, ""),
        };
        if !valid_name(method) {
            return Err(format!("'{method}' is not a command name"));
        }
        let params = if rest.is_empty() {
            None
        } else {
            let v: Value = serde_json::from_str(rest)
                .map_err(|e| format!("parameters of '{method}' are not JSON: {e}"))?;
            if !matches!(v, Value::Array(_) | Value::Object(_)) {
                return Err(format!(
                    "parameters of '{method}' must be a JSON array or object"
                ));
            }
            Some(v)
        };
        Ok(Call {
            method: method.into(),
            params,
        })
    }
}

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The server.
    pub source: Source,
    /// Extra calls (their methods become safe for this recording).
    pub calls: Vec<Call>,
    /// Replace addresses, user parts and host names ([`redact`]).
    pub redact: bool,
}

/// A name a command may have: 1–128 of `A-Za-z0-9_.:-`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// Read-only by name: `get_*`, `list_*`, `*_list`, `*_status`, `*_show`,
/// `ps`, `uptime`, `version`, `which`, `help` (checked on the part after the
/// last `:` or `.`, so 4.0's `dialog:list` and Kamailio's `core.uptime`,
/// `dlg.list` count), plus Kamailio's `system.listMethods`.
pub fn is_safe(method: &str) -> bool {
    if method == "system.listMethods" {
        return true;
    }
    let local = method.rsplit([':', '.']).next().unwrap_or(method);
    matches!(
        local,
        "ps" | "uptime" | "version" | "which" | "help" | "list" | "get" | "status" | "show"
    ) || local.starts_with("get_")
        || local.starts_with("list_")
        || local.ends_with("_list")
        || local.ends_with("_status")
        || local.ends_with("_show")
}

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The transport could not be set up.
    #[error("{0}")]
    Setup(String),
    /// Neither `which` nor `system.listMethods` answered with a list.
    #[error("cannot list the server's commands: {0}")]
    NoCommandList(String),
}

enum Conn {
    Fifo(Client),
    Http(Box<Forwarder>),
}

fn params_of(v: Option<&Value>) -> Params {
    match v {
        Some(Value::Array(a)) => Params::Positional(a.clone()),
        Some(Value::Object(o)) => Params::Named(o.clone()),
        _ => Params::None,
    }
}

impl Conn {
    async fn call(&self, method: &str, params: Option<&Value>) -> Outcome {
        let params = params_of(params);
        match self {
            Conn::Fifo(c) => match c.call(method, params).await {
                Ok(r) => match r.kind {
                    ReplyKind::Json(resp) => resp.outcome,
                    ReplyKind::Empty => Outcome::Error(RpcError::new(-32603, "empty reply")),
                    ReplyKind::Text(t) => {
                        Outcome::Error(RpcError::with_data(-32603, "plain-text reply", t))
                    }
                },
                Err(e) => Outcome::Error(RpcError::with_data(
                    -32603,
                    "transport error",
                    crate::server::error_chain(&e),
                )),
            },
            Conn::Http(f) => {
                let req = Request::new(method, params, Some(Value::from(1)));
                f.execute(&req).await
            }
        }
    }
}

fn outcome_json(o: &Outcome, r: Option<&mut redact::Redactor>) -> Map<String, Value> {
    let mut m = Map::new();
    match o {
        Outcome::Result(v) => {
            m.insert(
                "result".into(),
                match r {
                    Some(r) => r.value(v),
                    None => v.clone(),
                },
            );
        }
        Outcome::Error(e) => {
            let mut e = e.to_value();
            if let Some(r) = r {
                e = r.value(&e);
            }
            m.insert("error".into(), e);
        }
    }
    m
}

/// The core commands the replay answers with its built-ins (from the
/// recorded statistics and command list) instead of canned replies.
fn answered_by_builtin(method: &str) -> bool {
    matches!(
        crate::server::command::builtin_named(method).map(|c| c.name),
        Some(n) if ["get_statistics", "list_statistics", "which", "help"].contains(&n.as_str())
    )
}

/// Records the server; returns the commands file as JSON.
///
/// # Errors
/// [`RecordError`] when the transport cannot be set up or the server does not
/// list its commands. Failures of single calls are recorded as their errors.
pub async fn record(cfg: &RecordConfig) -> Result<Value, RecordError> {
    let (conn, from) = match &cfg.source {
        Source::Fifo(c) => (
            Conn::Fifo(Client::new(c.clone())),
            c.fifo.display().to_string(),
        ),
        Source::Http { url, timeout } => (
            Conn::Http(Box::new(
                Forwarder::new(url, *timeout).map_err(|e| RecordError::Setup(e.to_string()))?,
            )),
            url.clone(),
        ),
    };
    let (names, kamailio) = match conn.call("which", None).await {
        Outcome::Result(Value::Array(a)) => (a, false),
        first => match conn.call("system.listMethods", None).await {
            Outcome::Result(Value::Array(a)) => (a, true),
            _ => {
                let why = match first {
                    Outcome::Error(e) => e.to_string(),
                    Outcome::Result(v) => format!("'which' answered {}", short(&v)),
                };
                return Err(RecordError::NoCommandList(why));
            }
        },
    };
    let mut methods: Vec<String> = Vec::new();
    for n in names {
        match n {
            Value::String(s) if valid_name(&s) && !methods.contains(&s) => methods.push(s),
            other => tracing::warn!(
                "skipping a command name that is not a name: {}",
                short(&other)
            ),
        }
        if methods.len() >= MAX_COMMANDS {
            tracing::warn!("more than {MAX_COMMANDS} commands; recording the first ones");
            break;
        }
    }
    let mut redactor = cfg.redact.then(redact::Redactor::new);
    let mut commands = Map::new();
    for m in &methods {
        let mut c = Map::new();
        if kamailio {
            c.insert(
                "module".into(),
                Value::String(m.split_once('.').map_or("core", |(a, _)| a).into()),
            );
            if let Outcome::Result(Value::String(h)) =
                conn.call("system.methodHelp", Some(&json!([m]))).await
            {
                c.insert("help".into(), Value::String(h));
            }
        } else {
            if let Outcome::Result(Value::Object(h)) =
                conn.call("help", Some(&json!({"mi_cmd": m}))).await
            {
                if let Some(Value::String(t)) = h.get("Help") {
                    if t != "not available for this command" {
                        c.insert("help".into(), Value::String(t.clone()));
                    }
                }
                if let Some(Value::String(module)) = h.get("Exported by") {
                    c.insert("module".into(), Value::String(module.clone()));
                }
            }
            if answered_by_builtin(m) {
                c.insert("builtin".into(), Value::Bool(true));
            } else if let Outcome::Result(Value::Array(r)) =
                conn.call("which", Some(&json!({"command": m}))).await
            {
                let recipes: Option<Vec<Value>> = r
                    .into_iter()
                    .map(|x| match x {
                        Value::Array(p) if p.iter().all(|n| n.as_str().is_some_and(valid_name)) => {
                            Some(Value::Array(p))
                        }
                        _ => None,
                    })
                    .collect();
                if let Some(recipes) = recipes.filter(|r| !r.is_empty()) {
                    c.insert("recipes".into(), Value::Array(recipes));
                }
                if let Some(p) = crate::server::command::core_array_param(m) {
                    c.insert("array_param".into(), Value::String(p));
                }
            }
        }
        commands.insert(m.clone(), Value::Object(c));
    }
    // The calls: safe methods without parameters, then --call.
    let mut calls: Vec<Call> = methods
        .iter()
        .filter(|m| is_safe(m) && (kamailio || !answered_by_builtin(m)))
        .filter(|m| {
            !cfg.calls
                .iter()
                .any(|c| &c.method == *m && c.params.is_none())
        })
        .map(|m| Call {
            method: m.clone(),
            params: None,
        })
        .collect();
    calls.extend(cfg.calls.iter().cloned());
    let mut version = Value::Null;
    for call in &calls {
        let out = conn.call(&call.method, call.params.as_ref()).await;
        if matches!(
            call.method.as_str(),
            "version" | "core:version" | "core.version"
        ) && call.params.is_none()
        {
            if let Outcome::Result(v) = &out {
                version = v.clone();
            }
        }
        let mut resp = Map::new();
        if let Some(p) = &call.params {
            let p = match redactor.as_mut() {
                Some(r) => r.value(p),
                None => p.clone(),
            };
            resp.insert("params".into(), p);
        }
        resp.extend(outcome_json(&out, redactor.as_mut()));
        let entry = commands
            .entry(call.method.clone())
            .or_insert_with(|| json!({}));
        let obj = entry.as_object_mut().expect("an object");
        if obj.get("builtin") == Some(&Value::Bool(true)) {
            continue; // answered from the recorded statistics and list
        }
        let list = obj
            .entry("responses")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(l) = list {
            l.push(Value::Object(resp));
        }
    }
    let mut statistics = Map::new();
    if !kamailio {
        let flags = match conn.call("list_statistics", None).await {
            Outcome::Result(Value::Object(o)) => o,
            _ => Map::new(),
        };
        if let Outcome::Result(Value::Object(values)) =
            conn.call("get_statistics", Some(&json!([["all"]]))).await
        {
            for (name, v) in values.into_iter().take(MAX_STATISTICS) {
                let Value::Number(n) = v else { continue };
                if !valid_name(&name) {
                    continue;
                }
                let inc = flags.get(&name).and_then(Value::as_str) != Some("non-incremental");
                statistics.insert(name, json!({"value": n, "incremental": inc}));
            }
        }
    }
    Ok(json!({
        "version": crate::server::commands_file::FORMAT_VERSION,
        "recorded": {
            "by": concat!("mififo record ", env!("CARGO_PKG_VERSION")),
            "from": if cfg.redact { Value::Null } else { Value::String(from) },
            "flavour": if kamailio { "kamailio" } else { "opensips" },
            "server": match redactor.as_mut() { Some(r) => r.value(&version), None => version },
            "redacted": cfg.redact,
        },
        "standalone": true,
        "statistics": statistics,
        "commands": commands,
    }))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_safe_list() {
        for ok in [
            "get_statistics",
            "list_statistics",
            "dlg_list",
            "dr_gw_status",
            "rtpengine_show",
            "ps",
            "uptime",
            "version",
            "dialog:list",
            "statistics:get",
            "core.uptime",
            "dlg.list",
            "system.listMethods",
        ] {
            assert!(is_safe(ok), "{ok}");
        }
        for no in [
            "kill",
            "dlg_end_dlg",
            "reset_statistics",
            "ds_reload",
            "t_uac_dlg",
            "core.kill",
            "listing_purge",
            "shutdown_list_now",
            "log_level",
        ] {
            assert!(!is_safe(no), "{no}");
        }
    }

    #[test]
    fn calls_parse() {
        let c: Call = r#"dlg_list {"callid":"x"}"#.parse().unwrap();
        assert_eq!(c.method, "dlg_list");
        assert_eq!(c.params, Some(json!({"callid":"x"})));
        assert_eq!("uptime".parse::<Call>().unwrap().params, None);
        assert!("x 5".parse::<Call>().is_err());
        assert!("bad/name".parse::<Call>().is_err());
    }
}
