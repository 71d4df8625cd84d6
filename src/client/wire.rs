//! Client side of the three dialects: request bytes out, reply bytes classified.
//!
//! - JSON (OpenSIPS 3.x/4.x): `:reply_name:` + compact JSON-RPC, no trailing LF.
//! - Text (OpenSIPS 1.x/2.x): `:method:reply_name\n` + one line per argument + `\n`.
//! - Kamailio `jsonrpcs`: the JSON-RPC object with a `"reply_name"` member, then `\n`.

use super::{Error, ReplyKind};
use crate::proto::jsonrpc::{Params, Request, Response};
use crate::proto::Dialect;
use serde_json::Value;

/// The bytes to write to the server FIFO for `request`, replying to `reply_name`.
pub fn encode(dialect: Dialect, reply_name: &str, request: &Request) -> Result<Vec<u8>, Error> {
    match dialect {
        Dialect::Json => {
            let mut out = Vec::with_capacity(80 + reply_name.len() + request.method.len());
            out.push(b':');
            out.extend_from_slice(reply_name.as_bytes());
            out.push(b':');
            request.write_json(&mut out);
            Ok(out)
        }
        Dialect::Kamailio => {
            let mut v = request.to_value();
            if let Value::Object(m) = &mut v {
                // Keep `id` last for readability in server logs: re-insert it after reply_name.
                let id = m.shift_remove("id");
                m.insert("reply_name".into(), Value::String(reply_name.into()));
                if let Some(id) = id {
                    m.insert("id".into(), id);
                }
            }
            let mut s = v.to_string();
            s.push('\n');
            Ok(s.into_bytes())
        }
        Dialect::Text => encode_text(reply_name, request),
    }
}

fn encode_text(reply_name: &str, request: &Request) -> Result<Vec<u8>, Error> {
    let bad = |reason: String| Error::Encode {
        dialect: Dialect::Text,
        reason,
    };
    let m = &request.method;
    if m.is_empty() || m.bytes().any(|b| b == b':' || b.is_ascii_whitespace()) {
        return Err(bad(format!(
            "method '{m}' must be non-empty without ':' or white space"
        )));
    }
    let mut out = format!(":{m}:{reply_name}\n");
    let mut line = |name: Option<&str>, v: &Value| -> Result<(), Error> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            Value::Bool(_) | Value::Number(_) => v.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(bad(format!(
                "nested value {v} has no text-protocol form (arrays are sent one element per line)"
            )))
            }
        };
        if let Some(n) = name {
            if n.is_empty()
                || n.contains("::")
                || n.contains(['\n', '\r', '"'])
                || n.ends_with(':')
                || n.trim() != n
            {
                return Err(bad(format!("argument name '{n}' cannot be sent")));
            }
            out.push_str(n);
            out.push_str("::");
        }
        out.push_str(&text_value(&text).map_err(bad)?);
        out.push('\n');
        Ok(())
    };
    let mut each = |name: Option<&str>, v: &Value| -> Result<(), Error> {
        match v {
            // `get_statistics dialog: tm:` is sent as one argument line per statistic.
            Value::Array(items) => items.iter().try_for_each(|i| line(name, i)),
            _ => line(name, v),
        }
    };
    match &request.params {
        Params::None => {}
        Params::Positional(vs) => vs.iter().try_for_each(|v| each(None, v))?,
        Params::Named(m) => m.iter().try_for_each(|(k, v)| each(Some(k), v))?,
    }
    out.push('\n');
    Ok(out.into_bytes())
}

/// A value as one argument line: bare when the 1.x parser reads it back
/// unchanged, otherwise quoted (`"…"` with `\"`; only `\"` is an escape there).
/// A value that reads as a request's first line (`:cmd:reply`) is quoted:
/// the server's framer takes such a line as the start of another request.
/// Three values have no form at all: one with an empty line inside (the server
/// takes the empty line as the end of the request), one with a later line
/// that reads as a request's first line (quotes cover only the first), and a
/// quoted one ending in a backslash (its closing quote would read as `\"`).
fn text_value(s: &str) -> Result<String, String> {
    use crate::proto::text::looks_like_first_line;
    let needs_quotes = s.is_empty()
        || s.contains(['"', '\n', '\r'])
        || s.contains("::")
        || s.trim() != s
        || looks_like_first_line(s.as_bytes());
    if !needs_quotes {
        return Ok(s.to_string());
    }
    if s.contains("\n\n") || s.contains("\n\r\n") {
        return Err(format!(
            "value {s:?} contains an empty line, which ends a text-protocol request"
        ));
    }
    let quoted = format!("\"{}\"", s.replace('"', "\\\""));
    if quoted
        .split('\n')
        .skip(1)
        .any(|l| looks_like_first_line(l.as_bytes()))
    {
        return Err(format!(
            "value {s:?} has a line that reads as the start of another request"
        ));
    }
    if s.ends_with('\\') {
        return Err(format!(
            "value {s:?} needs quotes but ends with a backslash, which would escape the closing quote"
        ));
    }
    Ok(quoted)
}

/// Classifies reply bytes for `dialect`.
pub fn decode(dialect: Dialect, raw: &[u8]) -> ReplyKind {
    if raw.is_empty() {
        return ReplyKind::Empty;
    }
    match dialect {
        Dialect::Text => ReplyKind::Text(String::from_utf8_lossy(raw).into_owned()),
        Dialect::Json | Dialect::Kamailio => match serde_json::from_slice::<Value>(raw) {
            Ok(v @ Value::Object(_)) => ReplyKind::Json(Response::from_value(&v)),
            // Plain-text engine errors (`failed to print response`), truncated JSON, garbage.
            _ => ReplyKind::Text(String::from_utf8_lossy(raw).into_owned()),
        },
    }
}

/// The status line of a text-dialect reply: `200 OK` → `(200, "OK")`.
pub fn text_status(body: &str) -> Option<(u16, &str)> {
    let first = body.lines().next()?;
    let (code, reason) = first.split_once(' ').unwrap_or((first, ""));
    if code.len() != 3 {
        return None;
    }
    Some((code.parse().ok()?, reason.trim_end_matches('\r')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::jsonrpc::Outcome;
    use serde_json::json;

    fn req(method: &str, params: Params) -> Request {
        Request::new(method, params, Some(json!(7)))
    }

    #[test]
    fn json_framing_is_colon_name_colon_compact_json() {
        let r = req("uptime", Params::None);
        let b = encode(Dialect::Json, "r1", &r).unwrap();
        assert_eq!(b, br#":r1:{"jsonrpc":"2.0","method":"uptime","id":7}"#);
    }

    #[test]
    fn kamailio_carries_reply_name_inside() {
        let r = req("core.psx", Params::Positional(vec![json!(1)]));
        let b = encode(Dialect::Kamailio, "r1", &r).unwrap();
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"method\":\"core.psx\",\"params\":[1],\"reply_name\":\"r1\",\"id\":7}\n"
        );
    }

    #[test]
    fn text_sends_one_line_per_argument_and_quotes_when_needed() {
        let r = req(
            "get_statistics",
            Params::Positional(vec![json!(["dialog:", "tm:"])]),
        );
        assert_eq!(
            encode(Dialect::Text, "r1", &r).unwrap(),
            b":get_statistics:r1\ndialog:\ntm:\n\n"
        );
        let r = req(
            "t",
            Params::Named(
                json!({"a": "x y", "b": " lead", "c": "q\"uote", "d": ""})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        );
        assert_eq!(
            String::from_utf8(encode(Dialect::Text, "r", &r).unwrap()).unwrap(),
            ":t:r\na::x y\nb::\" lead\"\nc::\"q\\\"uote\"\nd::\"\"\n\n"
        );
        assert!(encode(Dialect::Text, "r", &req("a:b", Params::None)).is_err());
        for unsendable in ["a\n\nb", " ends in backslash\\"] {
            let r = req("t", Params::Positional(vec![json!(unsendable)]));
            assert!(
                matches!(encode(Dialect::Text, "r", &r), Err(Error::Encode { .. })),
                "{unsendable:?}"
            );
        }
        // A bare value may end in a backslash (no quotes to escape).
        let r = req("t", Params::Positional(vec![json!("C:\\")]));
        assert_eq!(encode(Dialect::Text, "r", &r).unwrap(), b":t:r\nC:\\\n\n");
        let nested = req("x", Params::Positional(vec![json!({"a": 1})]));
        assert!(matches!(
            encode(Dialect::Text, "r", &nested),
            Err(Error::Encode { .. })
        ));
    }

    #[test]
    fn replies_are_classified() {
        assert!(matches!(decode(Dialect::Json, b""), ReplyKind::Empty));
        match decode(Dialect::Json, b"failed to print response") {
            ReplyKind::Text(t) => assert_eq!(t, "failed to print response"),
            other => panic!("{other:?}"),
        }
        let pretty =
            b"{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{\n\t\t\"a\":\t1\n\t},\n\t\"id\":\t7\n}";
        match decode(Dialect::Json, pretty) {
            ReplyKind::Json(r) => assert_eq!(r.outcome, Outcome::Result(json!({"a": 1}))),
            other => panic!("{other:?}"),
        }
        match decode(
            Dialect::Kamailio,
            br#"{"jsonrpc":"2.0","error":{"code":500,"message":"Method Not Found"},"id":7}"#,
        ) {
            ReplyKind::Json(r) => assert!(matches!(r.outcome, Outcome::Error(e) if e.code == 500)),
            other => panic!("{other:?}"),
        }
        // Truncated JSON followed by the engine error is text, not a crash.
        assert!(matches!(
            decode(
                Dialect::Json,
                br#"{"jsonrpc":"2.0","result":"abcfailed to print response"#
            ),
            ReplyKind::Text(_)
        ));
    }

    /// A value shaped like a request's first line must not start another
    /// request at the server (the framer cuts there): it is quoted, and a
    /// later line of that shape inside a value is refused.
    #[test]
    fn values_shaped_like_a_first_line() {
        use crate::proto::text::{TextFrame, TextFramer, DEFAULT_CAP};
        let req = Request::new("cmd", Params::Positional(vec![json!(":a:")]), None);
        let bytes = encode(Dialect::Text, "r1", &req).unwrap();
        assert_eq!(bytes, b":cmd:r1\n\":a:\"\n\n");
        let mut f = TextFramer::new(DEFAULT_CAP);
        f.push(&bytes);
        match f.next_frame() {
            Some(TextFrame::Request(r)) => assert_eq!(r.args.unwrap()[0].value, ":a:"),
            other => panic!("{other:?}"),
        }
        let req = Request::new("cmd", Params::Positional(vec![json!("x\n:a:b")]), None);
        let err = encode(Dialect::Text, "r1", &req).unwrap_err().to_string();
        assert!(err.contains("start of another request"), "{err}");
    }

    #[test]
    fn text_status_line() {
        assert_eq!(text_status("200 OK\nx:: 1\n\n"), Some((200, "OK")));
        assert_eq!(
            text_status("500 command 'foo' not available\n"),
            Some((500, "command 'foo' not available"))
        );
        assert_eq!(text_status("200 \n"), Some((200, "")));
        assert_eq!(text_status("garbage"), None);
    }

    /// Contract with the server side of this crate: whatever the client
    /// encodes, the server's framers read back unchanged.
    mod contract {
        use super::*;
        use crate::proto::framing::{Frame, Framer, DEFAULT_CAP};
        use crate::proto::text::{TextFrame, TextFramer, DEFAULT_CAP as TEXT_CAP};
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = String> {
            prop_oneof!["[ -~]{0,12}", "[ -~\\n\\r\\t]{0,12}", "\\PC{0,8}",]
        }

        proptest! {
            #[test]
            fn json_requests_survive_the_server_framer(
                method in "[a-z_:.]{1,20}",
                vals in proptest::collection::vec(value(), 0..4),
                id in any::<i32>(),
            ) {
                let params = if vals.is_empty() {
                    Params::None
                } else {
                    Params::Positional(vals.into_iter().map(Value::String).collect())
                };
                let req = Request::new(method, params, Some(json!(id)));
                let mut f = Framer::new(DEFAULT_CAP);
                f.push(&encode(Dialect::Json, "r1", &req).unwrap());
                match f.next_frame() {
                    Some(Frame::Request { reply_name, body }) => {
                        prop_assert_eq!(reply_name, b"r1".to_vec());
                        prop_assert_eq!(Request::from_value(&body).unwrap(), req);
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }

            #[test]
            fn text_arguments_survive_the_server_parser(
                vals in proptest::collection::vec(value(), 0..4),
                names in proptest::collection::vec(proptest::option::of("[a-z_][a-z_:. ]{0,5}"), 4),
            ) {
                // Mixed named/positional lines are legal in the text protocol.
                let mut m = serde_json::Map::new();
                let positional: Vec<Value> = vals.iter().cloned().map(Value::String).collect();
                for (v, n) in vals.iter().zip(&names) {
                    if let Some(n) = n {
                        m.insert(n.clone(), Value::String(v.clone()));
                    }
                }
                for params in [Params::Positional(positional), Params::Named(m)] {
                    let expected: Vec<(Option<String>, String)> = match &params {
                        Params::Positional(v) => v.iter().map(|x| (None, x.as_str().unwrap().to_string())).collect(),
                        Params::Named(m) => m.iter().map(|(k, x)| (Some(k.clone()), x.as_str().unwrap().to_string())).collect(),
                        Params::None => unreachable!(),
                    };
                    let req = Request::new("cmd", params, None);
                    let bytes = match encode(Dialect::Text, "r1", &req) {
                        Ok(b) => b,
                        // Refused values are exactly the documented unsendable ones.
                        Err(Error::Encode { reason, .. }) => {
                            prop_assert!(
                                reason.contains("empty line")
                                    || reason.contains("another request")
                                    || reason.contains("backslash")
                                    || reason.contains("argument name"),
                                "{}", reason
                            );
                            continue;
                        }
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    };
                    let mut f = TextFramer::new(TEXT_CAP);
                    f.push(&bytes);
                    match f.next_frame() {
                        Some(TextFrame::Request(r)) => {
                            prop_assert_eq!(&r.command, "cmd");
                            prop_assert_eq!(r.reply_name, b"r1".to_vec());
                            let got: Vec<(Option<String>, String)> = r
                                .args
                                .map_err(TestCaseError::fail)?
                                .into_iter()
                                .map(|a| (a.name, a.value))
                                .collect();
                            prop_assert_eq!(got, expected);
                        }
                        other => prop_assert!(false, "{:?}", other),
                    }
                    prop_assert!(f.next_frame().is_none(), "one request, nothing left over");
                }
            }
        }
    }
}
