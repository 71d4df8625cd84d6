//! Whether the bytes that arrived on a reply FIFO are *the* reply to *this*
//! request — anyone who can write the server FIFO can make the server write
//! into our reply FIFO (by naming it in a request of theirs), and anyone the
//! reply FIFO's rights let in can write it directly.
//!
//! A reply is accepted only when:
//! - JSON dialects: it is exactly one JSON value (white space around it is
//!   fine), and, when it is a JSON-RPC object, its `id` equals the request's
//!   (`null`/absent for a notification). A second value after it, or other
//!   bytes after it, reject the whole reply. Bytes that are not one complete
//!   JSON value at all (OpenSIPS's plain-text engine errors such as
//!   `failed to print response`, truncated JSON) are an error reply, never a
//!   result;
//! - text dialect: it ends at its first empty line (or is one single line, the
//!   1.x error form), and nothing follows.
//!
//! [`reply_end`] finds where one complete reply ends in a growing buffer, so a
//! reader can stop at the reply itself instead of waiting for the writer's
//! close (the reply-FIFO pool relies on it).

use super::error::Error;
use super::{wire, Reply, ReplyKind};
use crate::proto::jsonrpc::Response;
use crate::proto::Dialect;
use serde_json::Value;
use std::path::Path;

/// Checks `raw` (everything read from the reply FIFO) against the request
/// whose id was `sent` and classifies it.
///
/// # Errors
/// [`Error::ForeignReply`], [`Error::SecondReply`] or [`Error::TrailingData`].
pub fn accept(
    dialect: Dialect,
    sent: Option<&Value>,
    raw: Vec<u8>,
    reply_path: &Path,
) -> Result<Reply, Error> {
    accept_parsed(dialect, sent, raw, None, reply_path)
}

/// [`accept`], given the first JSON value of `raw` and where it ends when the
/// reader already parsed it ([`json_end`]): the same checks, one parse
/// instead of two (the pooled client finds a reply's end by parsing it).
/// `first` must come from parsing this `raw`.
///
/// # Errors
/// As [`accept`].
pub fn accept_parsed(
    dialect: Dialect,
    sent: Option<&Value>,
    raw: Vec<u8>,
    first: Option<(Value, usize)>,
    reply_path: &Path,
) -> Result<Reply, Error> {
    if raw.is_empty() {
        return Ok(Reply {
            raw,
            kind: ReplyKind::Empty,
        });
    }
    match dialect {
        Dialect::Text => {
            let end = text_end(&raw).unwrap_or(raw.len());
            check_rest(dialect, &raw[end..], reply_path)?;
            let kind = wire::decode(dialect, &raw);
            Ok(Reply { raw, kind })
        }
        Dialect::Json | Dialect::Kamailio => {
            let (first, end) = match first.or_else(|| json_end(&raw)) {
                Some(parsed) => parsed,
                // Not one complete JSON value: an engine error or garbage.
                // It is reported as an error reply, never used as a result.
                None => {
                    let kind = ReplyKind::Text(String::from_utf8_lossy(&raw).into_owned());
                    return Ok(Reply { raw, kind });
                }
            };
            check_rest(dialect, &raw[end..], reply_path)?;
            let kind = match first {
                Value::Object(obj) => {
                    let resp = response_from_object(obj);
                    let expected = sent.unwrap_or(&Value::Null);
                    if !same_id(expected, &resp.id) {
                        return Err(Error::ForeignReply {
                            reply_path: reply_path.to_path_buf(),
                            sent: expected.to_string(),
                            got: cut(&resp.id.to_string(), 64),
                        });
                    }
                    ReplyKind::Json(resp)
                }
                // A bare number, string or array is no JSON-RPC response.
                _ => ReplyKind::Text(String::from_utf8_lossy(&raw).into_owned()),
            };
            Ok(Reply { raw, kind })
        }
    }
}

/// True when a compact reply ([`super::compact::scan`] of `raw`) is accepted
/// as it is: its id is the request's id `sent` (a non-negative integer, as
/// [`super::fresh_id`] makes them) written as that integer, and only white
/// space follows it. [`accept_parsed`] accepts such a reply too. `false`
/// leaves the decision to [`accept`] (which refuses a foreign id or bytes
/// after the reply with its usual error, and takes `7.0` for `7`).
pub fn accepts_compact(sent: Option<&Value>, raw: &[u8], c: &super::compact::Compact) -> bool {
    let Some(want) = sent.and_then(Value::as_u64) else {
        return false;
    };
    let id = &raw[c.id.clone()];
    // The scan leaves integers of at most 18 digits without leading zeros.
    let digits = !id.is_empty() && id.len() <= 18 && id.iter().all(u8::is_ascii_digit);
    digits
        && id.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) == want
        && raw[c.end..].iter().all(u8::is_ascii_whitespace)
}

/// [`Response::from_value`] of a JSON object, taking its members instead of
/// copying them (a `dlg_list` result can be megabytes).
pub(crate) fn response_from_object(mut obj: serde_json::Map<String, Value>) -> Response {
    if obj.contains_key("error") {
        return Response::from_value(&Value::Object(obj));
    }
    let id = obj.remove("id").unwrap_or(Value::Null);
    match obj.remove("result") {
        Some(r) => Response {
            outcome: crate::proto::jsonrpc::Outcome::Result(r),
            id,
        },
        None => {
            obj.insert("id".into(), id);
            Response::from_value(&Value::Object(obj))
        }
    }
}

/// Ids are equal as JSON values; a number sent as an integer also matches the
/// same integer written with a fraction of zero (Kamailio prints numbers
/// through a double).
fn same_id(sent: &Value, got: &Value) -> bool {
    if sent == got {
        return true;
    }
    match (sent, got) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_f64()) {
            (Some(a), Some(b)) => b.fract() == 0.0 && b == a as f64 && a.unsigned_abs() < 1 << 53,
            _ => false,
        },
        _ => false,
    }
}

/// Rejects anything but white space after the end of the reply, telling a
/// second reply from other bytes.
fn check_rest(dialect: Dialect, rest: &[u8], reply_path: &Path) -> Result<(), Error> {
    let start = match dialect {
        // In the text dialect an empty line ends the reply; more empty lines
        // are as harmless as JSON's trailing white space.
        Dialect::Text => rest.iter().take_while(|&&b| b == b'\n').count(),
        Dialect::Json | Dialect::Kamailio => {
            rest.iter().take_while(|b| b.is_ascii_whitespace()).count()
        }
    };
    let rest = &rest[start..];
    if rest.is_empty() {
        return Ok(());
    }
    let second = match dialect {
        Dialect::Text => wire::text_status(&String::from_utf8_lossy(rest)).is_some(),
        Dialect::Json | Dialect::Kamailio => {
            rest.starts_with(b"{") && reply_end(dialect, rest).is_some()
        }
    };
    let reply_path = reply_path.to_path_buf();
    let extra = rest.len();
    Err(if second {
        Error::SecondReply { reply_path, extra }
    } else {
        Error::TrailingData { reply_path, extra }
    })
}

/// Where the first complete reply in `buf` ends (the length of its bytes), or
/// `None` while it is incomplete.
///
/// - JSON dialects: the end of the first complete JSON value. A value that
///   can never complete (a syntax error) also returns `None`: the writer's
///   close ends such a reply.
/// - Text: after the first empty line (`\n\n`).
pub fn reply_end(dialect: Dialect, buf: &[u8]) -> Option<usize> {
    match dialect {
        Dialect::Text => text_end(buf),
        Dialect::Json | Dialect::Kamailio => json_end(buf).map(|(_, end)| end),
    }
}

/// The first complete JSON value in `buf` and the length of its bytes, or
/// `None` while it is incomplete (or can never complete).
pub fn json_end(buf: &[u8]) -> Option<(Value, usize)> {
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    match it.next() {
        Some(Ok(v)) => Some((v, it.byte_offset())),
        _ => None,
    }
}

/// The end of a text-dialect reply: just after the first empty line. A
/// status outside 2xx may also be a reply of one single line (the 1.x
/// FIFO-layer errors, `500 command 'x' not available\n`, have no empty line):
/// it ends after that line when nothing follows it or another status line
/// does.
fn text_end(buf: &[u8]) -> Option<usize> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let line = String::from_utf8_lossy(&buf[..nl]);
    if let Some((code, _)) = wire::text_status(&line) {
        let after = &buf[nl + 1..];
        let next = &after[after.iter().take_while(|&&b| b == b'\n').count()..];
        let next_is_status =
            next.len() >= 4 && next[..3].iter().all(u8::is_ascii_digit) && next[3] == b' ';
        if !(200..=299).contains(&code) && (after.is_empty() || next_is_status) {
            return Some(nl + 1);
        }
    }
    buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

/// `s` cut to at most `max` bytes (on a char boundary), with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(dialect: Dialect, sent: Option<Value>, raw: &[u8]) -> ReplyKind {
        accept(dialect, sent.as_ref(), raw.to_vec(), Path::new("/r"))
            .unwrap()
            .kind
    }

    fn err(dialect: Dialect, sent: Option<Value>, raw: &[u8]) -> Error {
        accept(dialect, sent.as_ref(), raw.to_vec(), Path::new("/r")).unwrap_err()
    }

    #[test]
    fn a_reply_parsed_by_the_reader_is_judged_as_one_parsed_here() {
        let cases: [&[u8]; 6] = [
            br#"{"jsonrpc":"2.0","result":{"a":[1,2]},"id":7}"#,
            br#"{"jsonrpc":"2.0","error":{"code":1,"message":"m"},"id":7}"#,
            br#"{"jsonrpc":"2.0","id":7}"#,
            br#"{"jsonrpc":"2.0","result":"x","id":8}"#,
            br#"{"jsonrpc":"2.0","result":"x","id":7} {"id":7}"#,
            br#"{"jsonrpc":"2.0","result":"x","id":7} junk"#,
        ];
        for raw in cases {
            let first = json_end(raw);
            assert!(first.is_some(), "{}", String::from_utf8_lossy(raw));
            let path = Path::new("/r");
            let once = accept_parsed(Dialect::Json, Some(&json!(7)), raw.to_vec(), first, path);
            let twice = accept(Dialect::Json, Some(&json!(7)), raw.to_vec(), path);
            match (once, twice) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{a:?} vs {b:?}"),
            }
        }
        // The members are moved, not lost: result and id as sent.
        let raw = br#"{"jsonrpc":"2.0","result":{"a":[1,2]},"id":7}"#;
        match ok(Dialect::Json, Some(json!(7)), raw) {
            ReplyKind::Json(r) => {
                assert_eq!(r.id, json!(7));
                assert_eq!(
                    r.outcome,
                    crate::proto::jsonrpc::Outcome::Result(json!({"a":[1,2]}))
                );
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn only_the_requests_id_is_accepted() {
        let r = br#"{"jsonrpc":"2.0","result":"x","id":7}"#;
        assert!(matches!(
            ok(Dialect::Json, Some(json!(7)), r),
            ReplyKind::Json(_)
        ));
        let e = err(Dialect::Json, Some(json!(8)), r);
        assert!(matches!(e, Error::ForeignReply { .. }), "{e:?}");
        assert!(
            e.to_string().contains("id 7 is not this request's id 8"),
            "{e}"
        );
        // An error reply with another id is as foreign as a result.
        let r = br#"{"jsonrpc":"2.0","error":{"code":1,"message":"m"},"id":"7"}"#;
        assert!(matches!(
            err(Dialect::Json, Some(json!(7)), r),
            Error::ForeignReply { .. }
        ));
        // A null id answers no request of ours that had one.
        let r = br#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"m"},"id":null}"#;
        assert!(matches!(
            err(Dialect::Json, Some(json!(7)), r),
            Error::ForeignReply { .. }
        ));
        // A reply to a notification must not carry an id.
        let r = br#"{"jsonrpc":"2.0","result":"x","id":7}"#;
        assert!(matches!(
            err(Dialect::Kamailio, None, r),
            Error::ForeignReply { .. }
        ));
        let r = br#"{"jsonrpc":"2.0","result":"x"}"#;
        assert!(matches!(ok(Dialect::Kamailio, None, r), ReplyKind::Json(_)));
        // A double-printed integer is the same id.
        let r = br#"{"jsonrpc":"2.0","result":"x","id":7.0}"#;
        assert!(matches!(
            ok(Dialect::Kamailio, Some(json!(7)), r),
            ReplyKind::Json(_)
        ));
        let r = br#"{"jsonrpc":"2.0","result":"x","id":7.5}"#;
        assert!(matches!(
            err(Dialect::Kamailio, Some(json!(7)), r),
            Error::ForeignReply { .. }
        ));
    }

    #[test]
    fn a_long_foreign_id_is_cut_in_the_message() {
        let long = "a".repeat(10_000);
        let r = format!(r#"{{"jsonrpc":"2.0","result":1,"id":"{long}"}}"#);
        let e = err(Dialect::Json, Some(json!(1)), r.as_bytes());
        assert!(e.to_string().len() < 400, "{e}");
    }

    #[test]
    fn a_second_value_or_trailing_bytes_reject_the_reply() {
        let one = br#"{"jsonrpc":"2.0","result":"x","id":7}"#;
        let mut two = one.to_vec();
        two.extend_from_slice(br#"{"jsonrpc":"2.0","result":"y","id":9}"#);
        assert!(matches!(
            err(Dialect::Json, Some(json!(7)), &two),
            Error::SecondReply { .. }
        ));
        let mut tail = one.to_vec();
        tail.extend_from_slice(b"xyz");
        assert!(matches!(
            err(Dialect::Json, Some(json!(7)), &tail),
            Error::TrailingData { .. }
        ));
        // A second value that is cut short is still not ours.
        let mut cut = one.to_vec();
        cut.extend_from_slice(br#"{"jsonrpc":"2.0","res"#);
        assert!(matches!(
            err(Dialect::Json, Some(json!(7)), &cut),
            Error::TrailingData { .. }
        ));
        // White space around the value is fine (Kamailio, pretty printing).
        let mut ws = b"\n ".to_vec();
        ws.extend_from_slice(one);
        ws.extend_from_slice(b"\n\t ");
        assert!(matches!(
            ok(Dialect::Json, Some(json!(7)), &ws),
            ReplyKind::Json(_)
        ));
    }

    #[test]
    fn engine_errors_and_truncated_json_are_error_text() {
        let k = ok(Dialect::Json, Some(json!(7)), b"failed to print response");
        assert_eq!(k, ReplyKind::Text("failed to print response".into()));
        let k = ok(
            Dialect::Json,
            Some(json!(7)),
            br#"{"jsonrpc":"2.0","result":"abcfailed to print response"#,
        );
        assert!(matches!(k, ReplyKind::Text(_)));
        assert!(matches!(
            ok(Dialect::Json, Some(json!(7)), b"42"),
            ReplyKind::Text(_)
        ));
        assert_eq!(ok(Dialect::Json, Some(json!(7)), b""), ReplyKind::Empty);
    }

    #[test]
    fn text_replies_end_at_the_empty_line() {
        assert!(matches!(
            ok(Dialect::Text, None, b"200 OK\nUp time:: 5\n\n"),
            ReplyKind::Text(_)
        ));
        assert!(matches!(
            ok(Dialect::Text, None, b"500 command 'x' not available\n"),
            ReplyKind::Text(_)
        ));
        assert!(matches!(
            err(Dialect::Text, None, b"200 OK\nx:: 1\n\n200 OK\ny:: 2\n\n"),
            Error::SecondReply { .. }
        ));
        assert!(matches!(
            err(Dialect::Text, None, b"200 OK\nx:: 1\n\ngarbage"),
            Error::TrailingData { .. }
        ));
        assert!(matches!(
            err(Dialect::Text, None, b"500 no\n200 OK\n\n"),
            Error::SecondReply { .. }
        ));
    }

    #[test]
    fn reply_end_finds_one_complete_reply() {
        assert_eq!(reply_end(Dialect::Json, br#"{"a":1}"#), Some(7));
        assert_eq!(reply_end(Dialect::Json, br#"{"a":1} {"#), Some(7));
        assert_eq!(reply_end(Dialect::Json, br#"{"a":"}"#), None);
        assert_eq!(reply_end(Dialect::Json, b"failed to print response"), None);
        assert_eq!(reply_end(Dialect::Text, b"200 OK\nx:: 1\n"), None);
        assert_eq!(reply_end(Dialect::Text, b"200 OK\nx:: 1\n\n"), Some(14));
        assert_eq!(reply_end(Dialect::Text, b"500 bad\n"), Some(8));
        assert_eq!(reply_end(Dialect::Text, b"200 OK\n"), None);
    }

    mod compact_path {
        use super::*;
        use crate::client::compact;
        use proptest::prelude::*;

        proptest! {
            /// The gateway's compact path never takes a reply that `accept`
            /// refuses or gives another id: ids, error or result, and what
            /// follows the reply varied around the edges (a foreign or
            /// string id, a fraction, leading zeros, a second value, white
            /// space `accept` allows or not).
            #[test]
            fn what_the_compact_path_takes_accept_takes(
                n in 0u64..40,
                foreign in any::<bool>(),
                before in "(-|0|\"|null)?",
                after in "(\\.0|e1|\")?",
                tail in "[ \t\n\x0b\x0c\r{}x]{0,2}",
                error in any::<bool>(),
            ) {
                let id = format!("{before}{}{after}", n + u64::from(foreign));
                let body = if error {
                    r#""error":{"code":1,"message":"m"}"#
                } else {
                    r#""result":1"#
                };
                let raw = format!(r#"{{"jsonrpc":"2.0",{body},"id":{id}}}{tail}"#);
                let sent = json!(n);
                let taken = compact::scan(raw.as_bytes())
                    .is_some_and(|c| accepts_compact(Some(&sent), raw.as_bytes(), &c));
                if taken {
                    let got = accept(Dialect::Json, Some(&sent), raw.clone().into_bytes(), Path::new("/r"));
                    match got {
                        Ok(Reply { kind: ReplyKind::Json(resp), .. }) => prop_assert_eq!(resp.id, sent),
                        other => prop_assert!(false, "{}: {:?}", raw, other),
                    }
                }
            }
        }
    }
}
