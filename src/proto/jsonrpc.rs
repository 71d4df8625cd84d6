//! JSON-RPC 2.0 as OpenSIPS 3.x/4.x speaks it over the MI FIFO.
//!
//! The validation rules and error codes follow `mi/mi.c` (`parse_mi_request`,
//! `handle_mi_request`); see `mi-fifo-protocol.md` §2.2–2.6. The types here are
//! shared by the server (decode a request, encode a reply) and the client
//! (encode a request, decode a reply), so the two cannot disagree.

use serde_json::{Map, Value};

/// The only protocol version OpenSIPS accepts.
pub const VERSION: &str = "2.0";

/// Error codes used by OpenSIPS (`mi/mi.h`) and JSON-RPC 2.0.
pub mod code {
    /// Unparseable JSON. OpenSIPS defines it but never sends it over the FIFO.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object (§2.2).
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// No recipe matches the parameters, or a parameter has the wrong type.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Used by python-opensips for a reply with neither `result` nor `error`.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The command handler failed (`Server error`).
    pub const SERVER_ERROR: i64 = -32000;
}

/// A JSON-RPC error object: `{"code":N,"message":"…"[,"data":…]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// Negative JSON-RPC code or a positive, HTTP-like command code (404, 500…).
    pub code: i64,
    /// Short text, e.g. `Method not found`.
    pub message: String,
    /// Optional detail; OpenSIPS always sends a string here.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without `data`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// An error with a string `data` member.
    pub fn with_data(code: i64, message: impl Into<String>, data: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: Some(Value::String(data.into())),
        }
    }

    /// `-32700 Parse error`.
    pub fn parse_error() -> Self {
        Self::new(code::PARSE_ERROR, "Parse error")
    }
    /// `-32600 Invalid Request`.
    pub fn invalid_request() -> Self {
        Self::new(code::INVALID_REQUEST, "Invalid Request")
    }
    /// `-32601 Method not found`.
    pub fn method_not_found() -> Self {
        Self::new(code::METHOD_NOT_FOUND, "Method not found")
    }
    /// `-32602 Invalid params` with OpenSIPS's `data` text.
    pub fn invalid_params(data: impl Into<String>) -> Self {
        Self::with_data(code::INVALID_PARAMS, "Invalid params", data)
    }
    /// `-32000 Server error` with a `data` text.
    pub fn server_error(data: impl Into<String>) -> Self {
        Self::with_data(code::SERVER_ERROR, "Server error", data)
    }

    /// The error object as JSON, members in OpenSIPS order.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), Value::from(self.code));
        m.insert("message".into(), Value::String(self.message.clone()));
        if let Some(d) = &self.data {
            m.insert("data".into(), d.clone());
        }
        Value::Object(m)
    }

    /// Reads an error object as a client receives it. Missing members get
    /// python-opensips's defaults (code 500, empty message).
    pub fn from_value(v: &Value) -> Self {
        RpcError {
            code: v.get("code").and_then(Value::as_i64).unwrap_or(500),
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            data: v.get("data").cloned(),
        }
    }
}

impl std::fmt::Display for RpcError {
    /// `code: message (data)`, the form python-opensips and opensips-cli print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match &self.data {
            None => Ok(()),
            Some(Value::String(s)) => write!(f, " ({s})"),
            Some(v) => write!(f, " ({v})"),
        }
    }
}

impl std::error::Error for RpcError {}

/// Request parameters: absent, positional or named. Empty `[]`/`{}` count as
/// absent, as in OpenSIPS.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Params {
    /// No parameters.
    #[default]
    None,
    /// `"params":[…]`.
    Positional(Vec<Value>),
    /// `"params":{…}`.
    Named(Map<String, Value>),
}

impl Params {
    /// Number of parameters.
    pub fn len(&self) -> usize {
        match self {
            Params::None => 0,
            Params::Positional(v) => v.len(),
            Params::Named(m) => m.len(),
        }
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameters as JSON (`None` when absent).
    pub fn to_value(&self) -> Option<Value> {
        match self {
            Params::None => None,
            Params::Positional(v) => Some(Value::Array(v.clone())),
            Params::Named(m) => Some(Value::Object(m.clone())),
        }
    }
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `None` for a notification (no `id` member); otherwise null, a number or a string.
    pub id: Option<Value>,
    /// The method name, exact and case-sensitive.
    pub method: String,
    /// The parameters.
    pub params: Params,
}

/// Why a JSON value is not a request, with the id to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidRequest {
    /// The `id` the error reply must carry: the request's own `id` when it was
    /// usable (null, number, string), `Some(Null)` when absent, and `None` when
    /// it had a type OpenSIPS cannot print (object, array, bool).
    pub reply_id: Option<Value>,
}

impl Request {
    /// A request with the given method, parameters and id.
    pub fn new(method: impl Into<String>, params: Params, id: Option<Value>) -> Self {
        Request {
            id,
            method: method.into(),
            params,
        }
    }

    /// Validates a parsed JSON value as OpenSIPS does (mi.c L202-246): `id`
    /// absent/null/number/string, `jsonrpc` exactly `"2.0"`, `method` a string,
    /// `params` absent, an array or an object. Unknown members are ignored.
    pub fn from_value(v: &Value) -> Result<Request, InvalidRequest> {
        let obj = match v {
            Value::Object(o) => o,
            // A batch array, a number, a string…: -32600 with id null (OpenSIPS
            // crashes here; see Appendix A of the protocol reference).
            _ => {
                return Err(InvalidRequest {
                    reply_id: Some(Value::Null),
                })
            }
        };
        let id = obj.get("id").cloned();
        let reply_id = match &id {
            None => Some(Value::Null),
            Some(i @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(i.clone()),
            Some(_) => None,
        };
        let invalid = || InvalidRequest {
            reply_id: reply_id.clone(),
        };
        if reply_id.is_none() {
            return Err(invalid());
        }
        match obj.get("jsonrpc") {
            Some(Value::String(s)) if s == VERSION => {}
            _ => return Err(invalid()),
        }
        let method = match obj.get("method") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(invalid()),
        };
        let params = match obj.get("params") {
            None => Params::None,
            Some(Value::Array(a)) if a.is_empty() => Params::None,
            Some(Value::Object(o)) if o.is_empty() => Params::None,
            Some(Value::Array(a)) => Params::Positional(a.clone()),
            Some(Value::Object(o)) => Params::Named(o.clone()),
            _ => return Err(invalid()),
        };
        Ok(Request { id, method, params })
    }

    /// The request as a JSON object: `jsonrpc`, `method`, `params` (if any), `id` (if any).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("jsonrpc".into(), Value::String(VERSION.into()));
        m.insert("method".into(), Value::String(self.method.clone()));
        if let Some(p) = self.params.to_value() {
            m.insert("params".into(), p);
        }
        if let Some(id) = &self.id {
            m.insert("id".into(), id.clone());
        }
        Value::Object(m)
    }

    /// Compact JSON text of [`Request::to_value`].
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(64 + self.method.len());
        self.write_json(&mut out);
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// Appends [`Request::to_json`]'s text to `out`, written member by
    /// member (the same bytes as printing [`Request::to_value`], without
    /// building that map and copying the members into it).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
            // Strings, arrays and maps of JSON values always serialise.
            serde_json::to_writer(out, v).expect("a JSON value serialises");
        }
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
        put(out, self.method.as_str());
        match &self.params {
            Params::None => {}
            Params::Positional(v) => {
                out.extend_from_slice(b",\"params\":");
                put(out, v);
            }
            Params::Named(m) => {
                out.extend_from_slice(b",\"params\":");
                put(out, m);
            }
        }
        if let Some(id) = &self.id {
            out.extend_from_slice(b",\"id\":");
            put(out, id);
        }
        out.push(b'}');
    }
}

/// The outcome carried by a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `"result": …`
    Result(Value),
    /// `"error": {…}`
    Error(RpcError),
}

/// A JSON-RPC response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Result or error.
    pub outcome: Outcome,
    /// The echoed id (`Value::Null` when the request had none or an unusable one).
    pub id: Value,
}

impl Response {
    /// The response as JSON with OpenSIPS's member order: `jsonrpc`,
    /// `result`/`error`, `id` (requires serde_json's `preserve_order`).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("jsonrpc".into(), Value::String(VERSION.into()));
        match &self.outcome {
            Outcome::Result(r) => m.insert("result".into(), r.clone()),
            Outcome::Error(e) => m.insert("error".into(), e.to_value()),
        };
        m.insert("id".into(), self.id.clone());
        Value::Object(m)
    }

    /// Reads a reply as a client receives it. A reply with neither `result` nor
    /// `error` becomes `-32603 Internal error`, as in python-opensips.
    pub fn from_value(v: &Value) -> Response {
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let outcome = if let Some(e) = v.get("error") {
            Outcome::Error(RpcError::from_value(e))
        } else if let Some(r) = v.get("result") {
            Outcome::Result(r.clone())
        } else {
            Outcome::Error(RpcError::new(code::INTERNAL_ERROR, "Internal error"))
        };
        Response { outcome, id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Result<Request, InvalidRequest> {
        Request::from_value(&serde_json::from_str(s).unwrap())
    }

    #[test]
    fn to_json_prints_the_same_bytes_as_the_value() {
        let mut named = Map::new();
        named.insert("b \"q\"".into(), json!([1, {"z": null, "a": "é\u{1}"}]));
        named.insert("a".into(), json!(1.5));
        for params in [
            Params::None,
            Params::Positional(vec![json!("x"), json!(-3), json!(true), json!([])]),
            Params::Named(named),
        ] {
            for id in [None, Some(Value::Null), Some(json!(7)), Some(json!("s\n"))] {
                for method in ["uptime", "dlg_list", "m\"é\\\u{7f}\u{2028}"] {
                    let r = Request::new(method, params.clone(), id.clone());
                    assert_eq!(r.to_json(), r.to_value().to_string());
                }
            }
        }
    }

    #[test]
    fn valid_requests() {
        let r = parse(r#"{"jsonrpc":"2.0","method":"uptime","id":"1"}"#).unwrap();
        assert_eq!(r.method, "uptime");
        assert_eq!(r.id, Some(json!("1")));
        assert_eq!(r.params, Params::None);
        let r = parse(r#"{"jsonrpc":"2.0","method":"x","params":[],"id":null}"#).unwrap();
        assert_eq!(r.params, Params::None);
        assert_eq!(r.id, Some(Value::Null));
        let r = parse(r#"{"jsonrpc":"2.0","method":"x","params":{"a":1}}"#).unwrap();
        assert_eq!(r.id, None);
        assert_eq!(r.params.len(), 1);
    }

    #[test]
    fn invalid_requests_carry_the_right_id() {
        let e = parse(r#"{"method":"uptime","id":"1"}"#).unwrap_err();
        assert_eq!(e.reply_id, Some(json!("1")));
        let e = parse(r#"{"jsonrpc":"2.0","method":5}"#).unwrap_err();
        assert_eq!(e.reply_id, Some(Value::Null));
        let e = parse(r#"{"jsonrpc":"2.0","method":"x","params":"x","id":3}"#).unwrap_err();
        assert_eq!(e.reply_id, Some(json!(3)));
        let e = parse(r#"{"jsonrpc":"2.0","method":"x","id":{"a":1}}"#).unwrap_err();
        assert_eq!(e.reply_id, None);
        let e = parse(r#"[{"jsonrpc":"2.0","method":"x","id":1}]"#).unwrap_err();
        assert_eq!(e.reply_id, Some(Value::Null));
        assert!(parse(r#"{"jsonrpc":"1.0","method":"x","id":1}"#).is_err());
        assert!(parse(r#"{"jsonrpc":"2.0","method":"x","params":null,"id":1}"#).is_err());
    }

    #[test]
    fn response_member_order_is_opensips_order() {
        let r = Response {
            outcome: Outcome::Error(RpcError::invalid_params("Too few or too many parameters")),
            id: json!(7),
        };
        assert_eq!(
            r.to_value().to_string(),
            r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Too few or too many parameters"},"id":7}"#
        );
        let r = Response {
            outcome: Outcome::Result(json!({"b":1,"a":2})),
            id: json!("x"),
        };
        assert_eq!(
            r.to_value().to_string(),
            r#"{"jsonrpc":"2.0","result":{"b":1,"a":2},"id":"x"}"#
        );
    }

    #[test]
    fn client_side_decoding() {
        let r = Response::from_value(&json!({"jsonrpc":"2.0","id":1}));
        assert_eq!(
            r.outcome,
            Outcome::Error(RpcError::new(code::INTERNAL_ERROR, "Internal error"))
        );
        let e = RpcError::with_data(-32602, "Invalid params", "Bad PID");
        assert_eq!(e.to_string(), "-32602: Invalid params (Bad PID)");
    }
}
