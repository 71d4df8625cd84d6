//! The production [`Relay`]: the library MI client over the FIFO.
//!
//! The client owns reply-FIFO creation and cleanup (its guards unlink the
//! reply FIFO when the exchange future is dropped), so a timed-out or
//! abandoned HTTP request leaves nothing behind in the reply directory.
//!
//! The HTTP caller's id never goes down the FIFO: each request gets the
//! client's own fresh id (random, 1..2^31−1, which OpenSIPS echoes exactly —
//! it clamps larger ids), so the client's id match holds whatever the caller
//! sent (a string, a float, 2^53), and the caller's id is put back into the
//! reply, printed as OpenSIPS's mi_http prints it (cJSON, compact).
//!
//! A reply that is already in that form (OpenSIPS's compact replies, `mififo
//! serve`'s; [`crate::client::compact`]) is relayed as the server wrote it
//! with only the id's bytes replaced: the same bytes as parsing it and
//! printing it again, without building and printing a tree. Any other reply
//! (pretty-printed, Kamailio's, numbers or escapes cJSON writes otherwise) is
//! parsed and printed.

use super::relay::{Relay, RelayError, RelayErrorKind, Relayed};
use crate::client::{fresh_id, Client, ErrorKind, Relayable, ReplyKind};
use crate::proto::jsonrpc::Request;
use serde_json::Value;

impl Relay for Client {
    async fn relay(&self, req: &Request) -> Result<Relayed, RelayError> {
        let ours = Request {
            id: req.id.as_ref().map(|_| fresh_id().into()),
            method: req.method.clone(),
            params: req.params.clone(),
        };
        match self.send_for_relay(&ours).await {
            Ok(Relayable::Compact { raw, reply }) => Ok(Relayed::Json(match &req.id {
                Some(caller) => with_id(raw, reply.end, reply.id, caller),
                None => raw,
            })),
            Ok(Relayable::Reply(reply)) => Ok(match reply.kind {
                ReplyKind::Json(mut resp) => match &req.id {
                    Some(caller) => {
                        resp.id = caller.clone();
                        Relayed::Json(crate::proto::print::print(&resp.to_value(), false).into())
                    }
                    None => Relayed::Json(reply.raw),
                },
                ReplyKind::Empty => Relayed::Empty,
                ReplyKind::Text(t) => Relayed::Text(t),
            }),
            Err(e) => {
                let kind = match e.kind() {
                    ErrorKind::NoServer => RelayErrorKind::NoServer,
                    ErrorKind::PermissionDenied => RelayErrorKind::PermissionDenied,
                    ErrorKind::Timeout => RelayErrorKind::Timeout,
                    _ => RelayErrorKind::Local,
                };
                let message = crate::error::chain(&e);
                Err(RelayError::new(kind, message))
            }
        }
    }
}

/// The compact reply `raw[..end]` with the bytes at `id` replaced by `caller`
/// printed as cJSON prints it.
fn with_id(mut raw: Vec<u8>, end: usize, id: std::ops::Range<usize>, caller: &Value) -> Vec<u8> {
    raw.truncate(end);
    let printed = crate::proto::print::compact(caller);
    raw.splice(id, printed.into_bytes());
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{accept, compact};
    use crate::proto::jsonrpc::Response;
    use serde_json::json;

    /// The parse-and-print path: what the gateway answers for any reply.
    fn printed(raw: &[u8], caller: &Value) -> Vec<u8> {
        let mut resp = Response::from_value(&serde_json::from_slice(raw).unwrap());
        resp.id = caller.clone();
        crate::proto::print::print(&resp.to_value(), false).into_bytes()
    }

    /// The compact path, when it is taken for `raw` sent with id `sent`.
    fn relayed(raw: &[u8], sent: u32, caller: &Value) -> Option<Vec<u8>> {
        let c = compact::scan(raw)?;
        accept::accepts_compact(Some(&json!(sent)), raw, &c)
            .then(|| with_id(raw.to_vec(), c.end, c.id, caller))
    }

    fn callers() -> Vec<Value> {
        vec![
            json!(1),
            json!(0),
            json!(-17),
            json!(9_007_199_254_740_993_u64),
            json!(1.5),
            json!(1e300),
            json!("abc"),
            json!(""),
            json!("é \"q\" \\ \n \u{1} 😀"),
            Value::Null,
        ]
    }

    #[test]
    fn compact_replies_get_the_callers_id_as_the_reprint_would() {
        let sent = 1_234_567;
        for reply in [
            r#"{"jsonrpc":"2.0","result":{"Now":"Tue Dec  1 17:00:00 2026","Up since":"x","Up time":"5 [sec]"},"id":1234567}"#,
            r#"{"jsonrpc":"2.0","result":"OK","id":1234567}"#,
            r#"{"jsonrpc":"2.0","result":{"id":1,"a":{"b":[{"c":null},[],{}]},"n":-3},"id":1234567}"#,
            r#"{"jsonrpc":"2.0","result":"\u0001 \n é 日本 😀 \" \\","id":1234567}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1234567}"#,
            r#"{"jsonrpc":"2.0","error":{"code":500,"message":"m","data":{"x":[1]}},"id":1234567}"#,
        ] {
            for caller in callers() {
                let fast = relayed(reply.as_bytes(), sent, &caller)
                    .unwrap_or_else(|| panic!("not relayed as it is: {reply}"));
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    String::from_utf8(printed(reply.as_bytes(), &caller)).unwrap(),
                    "{reply} with id {caller}"
                );
            }
        }
        // White space after the reply is dropped, as by the reprint.
        let raw = b"{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":5}\n";
        assert_eq!(
            relayed(raw, 5, &json!("x")).unwrap(),
            br#"{"jsonrpc":"2.0","result":1,"id":"x"}"#
        );
    }

    #[test]
    fn other_replies_take_the_parse_and_print_path() {
        let sent = 42;
        for reply in [
            // result after id, other member orders, extra members
            r#"{"jsonrpc":"2.0","id":42,"result":1}"#,
            r#"{"id":42,"jsonrpc":"2.0","result":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"id":42,"extra":true}"#,
            // pretty-printed (OpenSIPS pretty_printing=1, Kamailio)
            "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t1,\n\t\"id\":\t42\n}",
            // numbers and escapes cJSON prints otherwise
            r#"{"jsonrpc":"2.0","result":0.10,"id":42}"#,
            r#"{"jsonrpc":"2.0","result":"\u00e9\/","id":42}"#,
            r#"{"jsonrpc":"2.0","result":{"a":1,"a":2},"id":42}"#,
            // an id written as a double (Kamailio) is still ours
            r#"{"jsonrpc":"2.0","result":1,"id":42.0}"#,
        ] {
            assert_eq!(
                relayed(reply.as_bytes(), sent, &json!("c")),
                None,
                "{reply}"
            );
            // What the gateway then answers is the reprint, as before.
            let ok = accept::accept(
                crate::proto::Dialect::Json,
                Some(&json!(sent)),
                reply.as_bytes().to_vec(),
                std::path::Path::new("/r"),
            );
            assert!(matches!(ok.unwrap().kind, ReplyKind::Json(_)), "{reply}");
        }
    }

    #[test]
    fn the_compact_path_accepts_only_what_accept_accepts() {
        let one = r#"{"jsonrpc":"2.0","result":"x","id":42}"#;
        // Another id, a string id, a null id, no id sent: not taken (accept
        // then refuses them with its own error).
        assert_eq!(relayed(one.as_bytes(), 43, &json!(1)), None);
        for other in [r#""42""#, "null", "042", "-42", "4200000000000000000"] {
            let raw = one
                .replace("42", "")
                .replace(r#""id":}"#, &format!(r#""id":{other}}}"#));
            assert_eq!(relayed(raw.as_bytes(), 42, &json!(1)), None, "{raw}");
        }
        let c = compact::scan(one.as_bytes()).unwrap();
        assert!(!accept::accepts_compact(None, one.as_bytes(), &c));
        assert!(!accept::accepts_compact(
            Some(&json!("42")),
            one.as_bytes(),
            &c
        ));
        // A second reply or other bytes after it: not taken.
        for tail in [r#"{"jsonrpc":"2.0","result":"y","id":42}"#, "x", "\n\u{0}"] {
            let raw = format!("{one}{tail}");
            assert_eq!(relayed(raw.as_bytes(), 42, &json!(1)), None, "{raw}");
            assert!(accept::accept(
                crate::proto::Dialect::Json,
                Some(&json!(42)),
                raw.into_bytes(),
                std::path::Path::new("/r"),
            )
            .is_err());
        }
        // Every case the compact path takes, accept takes too.
        assert!(accept::accept(
            crate::proto::Dialect::Json,
            Some(&json!(42)),
            one.as_bytes().to_vec(),
            std::path::Path::new("/r"),
        )
        .is_ok());
    }
}
