//! `--commands FILE`: extra MI methods with canned answers, so a test setup
//! can mimic any OpenSIPS module (e.g. `dialog`'s `dlg_list`).
//!
//! # Format
//!
//! ```json
//! {
//!   "statistics": {
//!     "core:rcv_requests": 12,
//!     "dialog:active_dialogs": {"value": 1, "incremental": false}
//!   },
//!   "commands": {
//!     "dlg_list": {
//!       "module": "dialog",
//!       "help": "lists the description of the dialogs",
//!       "named_only": true,
//!       "recipes": [[], ["callid"], ["callid", "from_tag"], ["index", "counter"]],
//!       "result": {"Dialogs": []},
//!       "responses": [
//!         {"params": {"callid": "abc@host"}, "result": {"Dialog": {"callid": "abc@host"}}},
//!         {"params": {"callid": "nosuch"}, "error": {"code": 404, "message": "No such dialog"}}
//!       ],
//!       "delay_ms": 0
//!     }
//!   }
//! }
//! ```
//!
//! - `statistics`: initial values; a bare number is a counter (incremental),
//!   `{"value", "incremental"}` chooses. Names without `module:` go to `core`.
//! - a command answers with the first `responses` entry whose `params` equal
//!   the request's (named, after recipe matching — so positional calls match
//!   too — or the raw params when no `recipes` are given; numbers and numeric
//!   strings compare equal), else with its `result`/`error`; with neither,
//!   an unmatched call is -32602 `no response configured for these parameters`.
//! - `recipes` omitted: any parameters are accepted. `named_only`: positional
//!   parameters get OpenSIPS's -32602. `array_param`: the parameter that
//!   collects all argument lines in the text dialect.
//! - `delay_ms`: answer after this long (to test slow commands).
//! - a command with a built-in's name replaces the built-in.

use super::command::{Command, Kind};
pub use super::command::{CommandsFile, StaticCommand};
use crate::proto::jsonrpc::{Outcome, RpcError};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The newest format version this build reads (files without `version` are 1).
pub const FORMAT_VERSION: u64 = 2;

/// Why a commands file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read commands file '{path}'")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The JSON does not match the format.
    #[error("invalid commands file '{path}'")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A semantic problem.
    #[error("invalid commands file '{path}': {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Why the text of a commands file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The JSON does not match the format (with line and column).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A semantic problem: what is wrong, and where.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    /// Absent: format 1.
    version: Option<u64>,
    /// Where and how the file was recorded (informational).
    #[allow(dead_code)]
    recorded: Option<Value>,
    #[serde(default)]
    standalone: bool,
    #[serde(default)]
    statistics: Map<String, Value>,
    #[serde(default)]
    commands: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandRepr {
    #[serde(default = "default_module")]
    module: String,
    #[serde(default)]
    help: String,
    #[serde(default)]
    named_only: bool,
    recipes: Option<Vec<Vec<String>>>,
    array_param: Option<String>,
    result: Option<Value>,
    error: Option<ErrorRepr>,
    #[serde(default)]
    responses: Vec<ResponseRepr>,
    #[serde(default)]
    delay_ms: u64,
    /// Answered by the built-in command of this name (format 2).
    #[serde(default)]
    builtin: bool,
}

fn default_module() -> String {
    "core".into()
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct ErrorRepr {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl From<ErrorRepr> for RpcError {
    fn from(e: ErrorRepr) -> Self {
        RpcError {
            code: e.code,
            message: e.message,
            data: e.data,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseRepr {
    #[serde(default)]
    params: Option<Value>,
    result: Option<Value>,
    error: Option<ErrorRepr>,
}

fn outcome(
    result: Option<Value>,
    error: Option<ErrorRepr>,
    what: &str,
) -> Result<Option<Outcome>, String> {
    match (result, error) {
        (Some(_), Some(_)) => Err(format!("{what} has both 'result' and 'error'")),
        (Some(r), None) => Ok(Some(Outcome::Result(r))),
        (None, Some(e)) => Ok(Some(Outcome::Error(e.into()))),
        (None, None) => Ok(None),
    }
}

impl CommandsFile {
    /// Reads and validates a commands file.
    ///
    /// # Errors
    /// [`LoadError`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<CommandsFile, LoadError> {
        let text = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ParseError::Json(source) => LoadError::Parse {
                path: path.to_path_buf(),
                source,
            },
            ParseError::Invalid(reason) => LoadError::Invalid {
                path: path.to_path_buf(),
                reason,
            },
        })
    }

    /// Parses the JSON text.
    ///
    /// # Errors
    /// The JSON does not match the format, or a semantic problem.
    pub fn parse(text: &[u8]) -> Result<CommandsFile, ParseError> {
        let repr: FileRepr = serde_json::from_slice(text)?;
        match repr.version {
            None | Some(1..=FORMAT_VERSION) => {}
            Some(v) => {
                return Err(ParseError::Invalid(format!(
                    "format version {v} is newer than this mififo reads ({FORMAT_VERSION}); upgrade mififo"
                )))
            }
        }
        if repr.version.unwrap_or(1) < 2 && repr.standalone {
            return Err(ParseError::Invalid(
                "'standalone' needs \"version\": 2".into(),
            ));
        }
        let mut out = CommandsFile {
            standalone: repr.standalone,
            ..CommandsFile::default()
        };
        for (name, v) in repr.statistics {
            let (value, incremental) = match &v {
                Value::Number(n) => (n.clone(), true),
                Value::Object(o) => {
                    let value = match o.get("value") {
                        Some(Value::Number(n)) => n.clone(),
                        None => 0.into(),
                        _ => {
                            return Err(ParseError::Invalid(format!(
                                "statistic '{name}': 'value' must be a number"
                            )))
                        }
                    };
                    let inc = o
                        .get("incremental")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    (value, inc)
                }
                _ => {
                    return Err(ParseError::Invalid(format!(
                    "statistic '{name}' must be a number or {{\"value\":N,\"incremental\":BOOL}}"
                )))
                }
            };
            out.statistics.push((name, value, incremental));
        }
        for (name, v) in repr.commands {
            let c: CommandRepr = serde_json::from_value(v)
                .map_err(|e| ParseError::Invalid(format!("command '{name}': {e}")))?;
            if c.builtin {
                let Some(mut b) = super::command::builtin_named(&name) else {
                    return Err(ParseError::Invalid(format!(
                        "command '{name}': no built-in of that name"
                    )));
                };
                b.name = name.clone();
                b.module = c.module;
                if !c.help.is_empty() {
                    b.help = c.help;
                }
                out.commands.push(b);
                continue;
            }
            let default = outcome(c.result, c.error, &format!("command '{name}'"))
                .map_err(ParseError::Invalid)?;
            let mut responses = Vec::new();
            for (i, r) in c.responses.into_iter().enumerate() {
                let what = format!("command '{name}' response {}", i + 1);
                let o = outcome(r.result, r.error, &what)
                    .map_err(ParseError::Invalid)?
                    .ok_or_else(|| {
                        ParseError::Invalid(format!("{what} needs 'result' or 'error'"))
                    })?;
                if c.recipes.is_some() && !matches!(r.params, None | Some(Value::Object(_))) {
                    return Err(ParseError::Invalid(format!(
                        "{what}: with 'recipes', 'params' must be an object of named parameters"
                    )));
                }
                responses.push((r.params, o));
            }
            out.commands.push(Command {
                name: name.clone(),
                module: c.module,
                help: c.help,
                recipes: c.recipes,
                named_only: c.named_only,
                array_param: c.array_param,
                kind: Kind::Static(Arc::new(StaticCommand::new(
                    default,
                    responses,
                    Duration::from_millis(c.delay_ms),
                ))),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::jsonrpc::Params;
    use serde_json::json;

    #[tokio::test]
    async fn responses_per_parameter_set() {
        let f = CommandsFile::parse(
            br#"{"statistics":{"dialog:active_dialogs":{"value":2,"incremental":false},"x":1},
                 "commands":{"dlg_list":{"module":"dialog","named_only":true,
                   "recipes":[[],["callid"]],"result":{"Dialogs":[]},
                   "responses":[{"params":{"callid":"a"},"result":{"Dialog":{"callid":"a"}}},
                                {"params":{"callid":"404"},"error":{"code":404,"message":"No such dialog"}}]}}}"#,
        )
        .unwrap();
        assert_eq!(
            f.statistics[0],
            ("dialog:active_dialogs".into(), 2.into(), false)
        );
        let Kind::Static(s) = &f.commands[0].kind else {
            panic!()
        };
        let named = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            s.answer(Some(&named(json!({"callid":"a"}))), &Params::None)
                .await,
            Outcome::Result(json!({"Dialog":{"callid":"a"}}))
        );
        assert_eq!(
            s.answer(Some(&named(json!({"callid":404}))), &Params::None)
                .await,
            Outcome::Error(RpcError::new(404, "No such dialog"))
        );
        assert_eq!(
            s.answer(Some(&Map::new()), &Params::None).await,
            Outcome::Result(json!({"Dialogs":[]}))
        );
    }

    #[test]
    fn format_versions() {
        // Format 1 (no version) and 2 load; a newer one is refused by name.
        assert!(
            !CommandsFile::parse(br#"{"commands":{}}"#)
                .unwrap()
                .standalone
        );
        let f = CommandsFile::parse(
            br#"{"version":2,"recorded":{"by":"x"},"standalone":true,
                 "commands":{"statistics:get":{"builtin":true,"module":"statistics"},
                             "uptime":{"result":"canned"}}}"#,
        )
        .unwrap();
        assert!(f.standalone);
        assert_eq!(f.commands[0].name, "statistics:get");
        assert_eq!(f.commands[0].module, "statistics");
        assert!(matches!(f.commands[0].kind, Kind::Builtin(_)));
        assert_eq!(f.commands[0].array_param.as_deref(), Some("statistics"));
        assert!(matches!(f.commands[1].kind, Kind::Static(_)));
        let e = CommandsFile::parse(br#"{"version":3}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("newer"), "{e}");
        let e = CommandsFile::parse(br#"{"standalone":true}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("version"), "{e}");
        let e = CommandsFile::parse(br#"{"version":2,"commands":{"dlg_list":{"builtin":true}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no built-in"), "{e}");
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(matches!(
            CommandsFile::parse(br#"{"comands":{}}"#).unwrap_err(),
            ParseError::Json(_)
        ));
        let e = CommandsFile::parse(
            br#"{"commands":{"x":{"result":1,"error":{"code":1,"message":"m"}}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("both"), "{e}");
        let e = CommandsFile::parse(br#"{"commands":{"x":{"reslt":1}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("reslt"), "{e}");
    }
}
