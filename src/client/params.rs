//! Command-line parameter syntax → JSON-RPC [`Params`], as typed after
//! `mififo call METHOD`:
//!
//! - `key=value`: named, the value a string;
//! - `key:=JSON`: named, the value raw JSON (`count:=5`, `ids:=[1,2]`);
//! - anything else: a positional string (`dialog:` `sip:alice@example.com`);
//! - named and positional cannot be mixed (JSON-RPC params are one or the other);
//! - opensips-cli's array commands (`get_statistics dialog: tm:`) gather the
//!   trailing positional values into one array, and split a `statistics=…`
//!   string on white space (shell-style quoting), exactly as opensips-cli's
//!   `MI_ARRAY_PARAMS_COMMANDS` does — including the OpenSIPS 4.0 names.
//!
//! A key is `[A-Za-z_][A-Za-z0-9_.-]*`; a positional value that would look
//! like `key=value` can be sent with `--params '["a=b"]'`.

use crate::proto::jsonrpc::Params;
use serde_json::{Map, Value};

/// opensips-cli's `MI_ARRAY_PARAMS_COMMANDS`: command → (index of the array
/// parameter among positional ones, its name).
pub const ARRAY_PARAM_COMMANDS: &[(&str, usize, &str)] = &[
    ("fs_subscribe", 1, "events"),
    ("freeswitch_scripting:subscribe", 1, "events"),
    ("fs_unsubscribe", 1, "events"),
    ("freeswitch_scripting:unsubscribe", 1, "events"),
    ("b2b_trigger_scenario", 3, "scenario_params"),
    ("b2b_logic:trigger_scenario", 3, "scenario_params"),
    ("dlg_push_var", 2, "DID"),
    ("dialog:push_var", 2, "DID"),
    ("get_statistics", 0, "statistics"),
    ("statistics:get", 0, "statistics"),
    ("list_statistics", 0, "statistics"),
    ("statistics:list", 0, "statistics"),
    ("reset_statistics", 0, "statistics"),
    ("statistics:reset", 0, "statistics"),
    ("trace_start", 0, "filter"),
    ("tracer:start", 0, "filter"),
    ("raise_event", 1, "params"),
    ("evi:raise", 1, "params"),
    ("dfks_set_feature", 4, "values"),
    ("presence_dfks:set_feature", 4, "values"),
    ("cluster_broadcast_mi", 2, "cmd_params"),
    ("clusterer:broadcast_mi", 2, "cmd_params"),
];

/// Why the parameters cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// Named and positional parameters were mixed.
    #[error(
        "cannot mix named (key=value) and positional parameters: '{named}' and '{positional}'"
    )]
    Mixed {
        /// A named one.
        named: String,
        /// A positional one.
        positional: String,
    },
    /// `key:=JSON` with invalid JSON.
    #[error("invalid JSON in '{arg}': {reason}")]
    Json {
        /// The argument.
        arg: String,
        /// The parser's message.
        reason: String,
    },
    /// `--params` is not an array or object.
    #[error("--params must be a JSON array or object, not {0}")]
    NotContainer(String),
    /// The same key twice.
    #[error("parameter '{0}' given twice")]
    Duplicate(String),
    /// Unbalanced quotes in an array value.
    #[error("unbalanced quotes in '{0}'")]
    Quotes(String),
}

enum Arg {
    Named(String, Value),
    Positional(String),
}

fn key_len(s: &str) -> usize {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        let ok = if i == 0 {
            c.is_ascii_alphabetic() || c == '_'
        } else {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
        };
        if !ok {
            break;
        }
        n = i + c.len_utf8();
    }
    n
}

fn classify(method: &str, arg: &str) -> Result<Arg, ParamsError> {
    let k = key_len(arg);
    if k > 0 {
        let key = &arg[..k];
        if let Some(json) = arg[k..].strip_prefix(":=") {
            let v = serde_json::from_str(json).map_err(|e| ParamsError::Json {
                arg: arg.to_string(),
                reason: e.to_string(),
            })?;
            return Ok(Arg::Named(key.to_string(), v));
        }
        if let Some(value) = arg[k..].strip_prefix('=') {
            let v = match array_param(method) {
                Some((_, name)) if name == key => {
                    Value::Array(shell_split(value)?.into_iter().map(Value::String).collect())
                }
                _ => Value::String(value.to_string()),
            };
            return Ok(Arg::Named(key.to_string(), v));
        }
    }
    Ok(Arg::Positional(arg.to_string()))
}

/// The array parameter of `method`, if it is one of opensips-cli's array commands.
pub fn array_param(method: &str) -> Option<(usize, &'static str)> {
    ARRAY_PARAM_COMMANDS
        .iter()
        .find(|(m, _, _)| *m == method)
        .map(|&(_, i, n)| (i, n))
}

/// Builds the params of `method` from command-line words, or from `--params`.
pub fn build(method: &str, args: &[String], json: Option<&str>) -> Result<Params, ParamsError> {
    if let Some(text) = json {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(a)) if a.is_empty() => Ok(Params::None),
            Ok(Value::Object(o)) if o.is_empty() => Ok(Params::None),
            Ok(Value::Array(a)) => Ok(Params::Positional(a)),
            Ok(Value::Object(o)) => Ok(Params::Named(o)),
            Ok(other) => Err(ParamsError::NotContainer(other.to_string())),
            Err(e) => Err(ParamsError::Json {
                arg: text.to_string(),
                reason: e.to_string(),
            }),
        };
    }
    let mut named = Map::new();
    let mut positional = Vec::new();
    let mut first_named: Option<&str> = None;
    for a in args {
        match classify(method, a)? {
            Arg::Named(k, v) => {
                if named.insert(k.clone(), v).is_some() {
                    return Err(ParamsError::Duplicate(k));
                }
                first_named.get_or_insert(a);
            }
            Arg::Positional(p) => positional.push(p),
        }
    }
    match (first_named, positional.first()) {
        (Some(n), Some(p)) => Err(ParamsError::Mixed {
            named: n.to_string(),
            positional: p.clone(),
        }),
        (Some(_), None) => Ok(Params::Named(named)),
        (None, None) => Ok(Params::None),
        (None, Some(_)) => {
            let mut values: Vec<Value> = positional.into_iter().map(Value::String).collect();
            if let Some((idx, _)) = array_param(method) {
                if values.len() > idx {
                    let tail = values.split_off(idx);
                    values.push(Value::Array(tail));
                }
            }
            Ok(Params::Positional(values))
        }
    }
}

/// Splits like Python's `shlex.split`: white space separates words; `'…'`
/// is literal; `"…"` and bare words honour backslash escapes.
pub fn shell_split(s: &str) -> Result<Vec<String>, ParamsError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(ParamsError::Quotes(s.to_string())),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(ParamsError::Quotes(s.to_string())),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(ParamsError::Quotes(s.to_string())),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err(ParamsError::Quotes(s.to_string())),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(method: &str, args: &[&str]) -> Result<Params, ParamsError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        build(method, &args, None)
    }

    fn val(p: Params) -> Value {
        p.to_value().unwrap_or(Value::Null)
    }

    #[test]
    fn named_positional_and_raw_json() {
        assert_eq!(b("uptime", &[]).unwrap(), Params::None);
        assert_eq!(
            val(b("dlg_end_dlg", &["dialog_id=123", "extra_hdrs:=null"]).unwrap()),
            json!({"dialog_id": "123", "extra_hdrs": null})
        );
        assert_eq!(
            val(b("x", &["n:=5", "l:=[1,\"a\"]", "s=a=b"]).unwrap()),
            json!({"n": 5, "l": [1, "a"], "s": "a=b"})
        );
        assert_eq!(
            val(b(
                "ul_show_contact",
                &["location", "sip:alice@example.com;x=y"]
            )
            .unwrap()),
            json!(["location", "sip:alice@example.com;x=y"])
        );
        assert!(matches!(
            b("x", &["a=1", "b"]),
            Err(ParamsError::Mixed { .. })
        ));
        assert!(matches!(b("x", &["a:={"]), Err(ParamsError::Json { .. })));
        assert!(matches!(
            b("x", &["a=1", "a=2"]),
            Err(ParamsError::Duplicate(_))
        ));
        // `=5` and `1a=b` are not keys: positional.
        assert_eq!(val(b("x", &["=5", "1a=b"]).unwrap()), json!(["=5", "1a=b"]));
    }

    #[test]
    fn array_commands_as_opensips_cli() {
        assert_eq!(
            val(b("get_statistics", &["dialog:", "tm:"]).unwrap()),
            json!([["dialog:", "tm:"]])
        );
        assert_eq!(
            val(b("statistics:get", &["all"]).unwrap()),
            json!([["all"]])
        );
        assert_eq!(
            val(b("get_statistics", &["statistics=dialog: 'tm:'"]).unwrap()),
            json!({"statistics": ["dialog:", "tm:"]})
        );
        assert_eq!(
            val(b("get_statistics", &["statistics:=[\"a b\"]"]).unwrap()),
            json!({"statistics": ["a b"]})
        );
        assert_eq!(
            val(b("raise_event", &["E_MY", "a", "b"]).unwrap()),
            json!(["E_MY", ["a", "b"]])
        );
        // Fewer values than the array index: unchanged (opensips-cli does the same).
        assert_eq!(val(b("dlg_push_var", &["a"]).unwrap()), json!(["a"]));
        assert_eq!(b("get_statistics", &[]).unwrap(), Params::None);
    }

    #[test]
    fn params_json() {
        assert_eq!(
            val(build("x", &[], Some(r#"{"a":[1]}"#)).unwrap()),
            json!({"a": [1]})
        );
        assert_eq!(build("x", &[], Some("[]")).unwrap(), Params::None);
        assert!(matches!(
            build("x", &[], Some("5")),
            Err(ParamsError::NotContainer(_))
        ));
    }

    #[test]
    fn shlex() {
        assert_eq!(
            shell_split(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(),
            vec!["a", "b c", "d \"e\"", "f g"]
        );
        assert_eq!(shell_split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shell_split("''").unwrap(), vec![""]);
        assert!(shell_split("'x").is_err());
    }
}
