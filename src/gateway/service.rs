//! One HTTP request in, one HTTP response out — the behaviour of OpenSIPS
//! `mi_http` (`modules/mi_http/mi_http.c`, `mi_json_answer_to_connection`),
//! with the FIFO's transport failures added.
//!
//! | request | answer |
//! |---|---|
//! | client not in the allow-list | 403, `-32016` |
//! | path other than `--path` | 404, `-32017` |
//! | method other than POST | 405 + `Allow: POST`, `-32017` (mi_http: 405, empty body) |
//! | `Host` not naming the gateway ([`super::browser`]) | 421, `-32018` |
//! | `Origin` not in `--allow-origin` | 403, `-32016` |
//! | `Content-Type` not `application/json` | 415, `-32019` |
//! | `--users-file` set, credentials missing or wrong | 401 + `WWW-Authenticate`, `-32024` |
//! | body larger than `--max-body` | 413, `-32015` |
//! | body not complete within `--client-timeout` | 408, `-32026` |
//! | method refused by the command policy | 403, `-32025`, the request's id |
//! | empty body | 400, `-32600` (mi_http: 400, empty body) |
//! | not JSON | 200, `-32700 Parse error`, id null (as mi_http) |
//! | batch (top-level array) | 200, `-32600 Invalid Request`, id null, `data` says batches are unsupported |
//! | invalid request object | 200, `-32600`, the request's id (null when unusable) |
//! | notification, relayed | 202, empty body (as mi_http) |
//! | request relayed, JSON reply | 200, the server's reply bytes unchanged |
//! | FIFO has no server | 503, `-32010` |
//! | FIFO permission denied | 502, `-32011` |
//! | no reply within `--timeout` | 504, `-32012` |
//! | plain-text or empty reply | 502, `-32014` |
//! | other local failure | 500, `-32013` |
//!
//! Every body is `application/json`.

use super::audit::{self, Audit};
use super::code;
use super::relay::{Relay, RelayErrorKind, Relayed};
use super::slots::Activity;
use super::GatewayConfig;
use crate::proto::jsonrpc::{Outcome, Request, Response, RpcError};
use crate::term::excerpt as printable;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{
    HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use hyper::{Method, StatusCode};
use serde_json::Value;
use std::net::IpAddr;

/// The gateway's request handler: configuration plus a relay.
pub struct Gateway<R> {
    cfg: GatewayConfig,
    relay: R,
}

/// An HTTP response as the gateway builds it.
pub type HttpResponse = hyper::Response<Full<Bytes>>;

impl<R: Relay> Gateway<R> {
    /// A handler relaying through `relay`.
    pub fn new(cfg: GatewayConfig, relay: R) -> Self {
        Gateway { cfg, relay }
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.cfg
    }

    /// The relay.
    pub fn relay_ref(&self) -> &R {
        &self.relay
    }

    /// Answers one HTTP request from a client at `peer`, and writes its
    /// audit line.
    pub async fn handle<B>(&self, peer: IpAddr, req: hyper::Request<B>) -> HttpResponse
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let mut audit = Audit::new(peer);
        let activity = req.extensions().get::<Activity>().cloned();
        let Answer(resp, code) = self.answer(req, &mut audit, activity).await;
        audit.emit(resp.status().as_u16(), code);
        resp
    }

    async fn answer<B>(
        &self,
        req: hyper::Request<B>,
        audit: &mut Audit,
        activity: Option<Activity>,
    ) -> Answer
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let peer = audit.peer;
        if !self.cfg.allow.permits(peer) {
            return refuse(
                Value::Null,
                RpcError::with_data(
                    code::FORBIDDEN,
                    "Forbidden",
                    format!("client address '{peer}' is not in the allow-list"),
                ),
            );
        }
        if req.uri().path() != self.cfg.path {
            return refuse(
                Value::Null,
                RpcError::with_data(
                    code::NOT_FOUND,
                    "Not found",
                    format!("the MI is served at '{}'", self.cfg.path),
                ),
            );
        }
        if req.method() != Method::POST {
            let mut r = error_reply(
                Value::Null,
                RpcError::with_data(
                    code::NOT_FOUND,
                    "Method not allowed",
                    format!("use POST, not {}", req.method()),
                ),
            );
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return Answer(r, code::NOT_FOUND);
        }
        if let Err(e) = self.cfg.browser.check(req.headers()) {
            return refuse(Value::Null, e);
        }
        let mut user_policy = None;
        if let Some(users) = &self.cfg.users {
            match users.authenticate(req.headers()).await {
                Ok(user) => {
                    audit.user = Some(user.name);
                    user_policy = Some(user.policy);
                }
                Err(failure) => {
                    audit.user = failure.user;
                    let mut r = error_reply(
                        Value::Null,
                        RpcError::with_data(code::UNAUTHORIZED, "Unauthorized", failure.reason),
                    );
                    r.headers_mut().insert(
                        WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"mififo\", charset=\"UTF-8\""),
                    );
                    return Answer(r, code::UNAUTHORIZED);
                }
            }
        }
        let body = match self.read_body(req).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        if body.is_empty() {
            let mut r = error_reply(
                Value::Null,
                RpcError::with_data(
                    crate::proto::jsonrpc::code::INVALID_REQUEST,
                    "Invalid Request",
                    "empty request body",
                ),
            );
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return Answer(r, crate::proto::jsonrpc::code::INVALID_REQUEST);
        }
        let value: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return refuse(Value::Null, RpcError::parse_error()),
        };
        if value.is_array() {
            return refuse(
                Value::Null,
                RpcError::with_data(
                    crate::proto::jsonrpc::code::INVALID_REQUEST,
                    "Invalid Request",
                    "batch requests are not supported",
                ),
            );
        }
        let request = match Request::from_value(&value) {
            Ok(r) => r,
            Err(inv) => {
                return refuse(
                    inv.reply_id.unwrap_or(Value::Null),
                    RpcError::invalid_request(),
                )
            }
        };
        audit.method = Some(request.method.clone());
        if self.cfg.audit_params {
            audit.params = value.get("params").map(Value::to_string);
        }
        let method = request.method.as_str();
        if !self.cfg.policy.permits(method) || user_policy.is_some_and(|p| !p.permits(method)) {
            let who = audit
                .user
                .as_deref()
                .map_or_else(String::new, |u| format!(" for user '{}'", printable(u, 64)));
            return refuse(
                request.id.clone().unwrap_or(Value::Null),
                RpcError::with_data(
                    code::METHOD_REFUSED,
                    "Method not allowed by policy",
                    format!(
                        "the gateway's command policy refuses '{}'{who}",
                        printable(method, 64)
                    ),
                ),
            );
        }
        if let Some(a) = activity {
            // From here on the connection waits for the server, not the client.
            a.0.relaying();
        }
        self.relay_request(&request).await
    }

    async fn read_body<B>(&self, req: hyper::Request<B>) -> Result<Bytes, Answer>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let max = self.cfg.max_body;
        let too_large = || {
            refuse(
                Value::Null,
                RpcError::with_data(
                    code::BODY_TOO_LARGE,
                    "Request too large",
                    format!("the request body exceeds {max} bytes (--max-body)"),
                ),
            )
        };
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let limit = self.cfg.client_timeout;
        let collected =
            tokio::time::timeout(limit, Limited::new(req.into_body(), max).collect()).await;
        let Ok(collected) = collected else {
            let mut r = error_reply(
                Value::Null,
                RpcError::with_data(
                    code::REQUEST_TIMEOUT,
                    "Request timeout",
                    format!("the request body did not arrive within {limit:?} (--client-timeout)"),
                ),
            );
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return Err(Answer(r, code::REQUEST_TIMEOUT));
        };
        match collected {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Err(e) => {
                let mut r = error_reply(
                    Value::Null,
                    RpcError::with_data(
                        crate::proto::jsonrpc::code::INVALID_REQUEST,
                        "Invalid Request",
                        format!("cannot read the request body: {e}"),
                    ),
                );
                *r.status_mut() = StatusCode::BAD_REQUEST;
                Err(Answer(r, crate::proto::jsonrpc::code::INVALID_REQUEST))
            }
        }
    }

    async fn relay_request(&self, request: &Request) -> Answer {
        let id = request.id.clone().unwrap_or(Value::Null);
        let timeout = self.cfg.timeout;
        let answer = match tokio::time::timeout(timeout, self.relay.relay(request)).await {
            Ok(a) => a,
            Err(_) => {
                tracing::warn!(method = %printable(&request.method, 64), ?timeout, "no reply in time");
                return refuse(id, timeout_error(timeout));
            }
        };
        match answer {
            Ok(Relayed::Json(raw)) => {
                let c = audit::reply_code(&raw);
                Answer(json_response(StatusCode::OK, raw), c)
            }
            Ok(Relayed::Empty) if request.id.is_none() => Answer(
                hyper::Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .body(Full::new(Bytes::new()))
                    .expect("static response parts are valid"),
                0,
            ),
            Ok(Relayed::Empty) => refuse(
                id,
                RpcError::with_data(
                    code::FIFO_BAD_REPLY,
                    "Bad reply from the MI FIFO",
                    "the server closed the reply FIFO without answering",
                ),
            ),
            Ok(Relayed::Text(t)) => refuse(
                id,
                RpcError::with_data(
                    code::FIFO_BAD_REPLY,
                    "Bad reply from the MI FIFO",
                    excerpt(&t),
                ),
            ),
            Err(e) => {
                tracing::warn!(method = %printable(&request.method, 64), error = %e, "relay failed");
                let (c, msg) = match e.kind {
                    RelayErrorKind::NoServer => (code::FIFO_UNAVAILABLE, "MI FIFO unavailable"),
                    RelayErrorKind::PermissionDenied => {
                        (code::FIFO_PERMISSION, "MI FIFO permission denied")
                    }
                    RelayErrorKind::Timeout => return refuse(id, timeout_error(timeout)),
                    RelayErrorKind::Local => (code::GATEWAY_ERROR, "Gateway error"),
                };
                refuse(id, RpcError::with_data(c, msg, e.message))
            }
        }
    }
}

/// A response and the JSON-RPC code it carries (0 for a result), for the audit line.
struct Answer(HttpResponse, i64);

/// An error reply as an [`Answer`].
fn refuse(id: Value, err: RpcError) -> Answer {
    let c = err.code;
    Answer(error_reply(id, err), c)
}

fn timeout_error(timeout: std::time::Duration) -> RpcError {
    RpcError::with_data(
        code::FIFO_TIMEOUT,
        "MI FIFO timeout",
        format!("no reply from the MI FIFO server within {timeout:?}"),
    )
}

/// At most 512 characters of an unexpected reply, for the error's `data`.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(512) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A JSON-RPC error response with the status [`code::status_of`] gives it.
pub fn error_reply(id: Value, err: RpcError) -> HttpResponse {
    let status = code::status_of(err.code);
    let body = Response {
        outcome: Outcome::Error(err),
        id,
    }
    .to_value()
    .to_string();
    json_response(status, body.into_bytes())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    hyper::Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::access::AllowList;
    use crate::gateway::relay::RelayError;
    use crate::gateway::Policy;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Answers by method name; counts calls.
    struct Fake {
        calls: AtomicUsize,
    }

    impl Relay for Fake {
        async fn relay(&self, req: &Request) -> Result<Relayed, RelayError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let id = req.id.clone().unwrap_or(Value::Null);
            match req.method.as_str() {
                "uptime" if req.id.is_none() => Ok(Relayed::Empty),
                "uptime" => Ok(Relayed::Json(
                    format!(r#"{{"jsonrpc":"2.0","result":{{"Up time":"1 [sec]"}},"id":{id}}}"#)
                        .into_bytes(),
                )),
                "sleep" => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    unreachable!()
                }
                "text" => Ok(Relayed::Text("failed to print response".into())),
                "silent" => Ok(Relayed::Empty),
                "noserver" => Err(RelayError::new(
                    RelayErrorKind::NoServer,
                    "no server reads '/run/x/fifo'",
                )),
                "denied" => Err(RelayError::new(
                    RelayErrorKind::PermissionDenied,
                    "cannot open '/run/x/fifo': permission denied",
                )),
                "late" => Err(RelayError::new(RelayErrorKind::Timeout, "timed out")),
                _ => Err(RelayError::new(RelayErrorKind::Local, "reply dir missing")),
            }
        }
    }

    fn gateway(allow: AllowList) -> Gateway<Fake> {
        Gateway::new(
            GatewayConfig {
                timeout: Duration::from_millis(200),
                max_body: 64,
                allow,
                ..GatewayConfig::new("127.0.0.1:8888".parse().unwrap())
            },
            Fake {
                calls: AtomicUsize::new(0),
            },
        )
    }

    fn post(body: &str) -> hyper::Request<Full<Bytes>> {
        hyper::Request::post("/mi")
            .header(hyper::header::HOST, "127.0.0.1:8888")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    }

    async fn call(
        gw: &Gateway<Fake>,
        req: hyper::Request<Full<Bytes>>,
    ) -> (StatusCode, Option<String>, String) {
        let r = gw.handle("127.0.0.1".parse().unwrap(), req).await;
        let status = r.status();
        let ct = r
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    fn error_code(body: &str) -> i64 {
        let v: Value = serde_json::from_str(body).unwrap();
        v["error"]["code"].as_i64().unwrap()
    }

    #[tokio::test]
    async fn relays_and_passes_the_reply_through() {
        let gw = gateway(AllowList::default());
        let (s, ct, b) = call(&gw, post(r#"{"jsonrpc":"2.0","method":"uptime","id":"7"}"#)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert_eq!(
            b,
            r#"{"jsonrpc":"2.0","result":{"Up time":"1 [sec]"},"id":"7"}"#
        );
    }

    #[tokio::test]
    async fn notification_is_202_without_body() {
        let gw = gateway(AllowList::default());
        let (s, _, b) = call(&gw, post(r#"{"jsonrpc":"2.0","method":"uptime"}"#)).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        assert_eq!(b, "");
    }

    #[tokio::test]
    async fn protocol_errors_as_mi_http() {
        let gw = gateway(AllowList::default());
        let (s, _, b) = call(&gw, post("{not json")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            b,
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#
        );
        let (s, _, b) = call(&gw, post(r#"[{"jsonrpc":"2.0","method":"uptime","id":1}]"#)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(error_code(&b), -32600);
        assert!(b.contains("batch"), "{b}");
        let (s, _, b) = call(&gw, post(r#"{"jsonrpc":"1.0","method":"uptime","id":4}"#)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            b,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":4}"#
        );
        let (s, _, _) = call(&gw, post("")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        // None of these reached the relay.
        assert_eq!(gw.relay.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn path_method_size_and_allow_list() {
        let gw = gateway(AllowList::default());
        let req = hyper::Request::post("/json")
            .body(Full::new(Bytes::from("{}")))
            .unwrap();
        assert_eq!(call(&gw, req).await.0, StatusCode::NOT_FOUND);
        let req = hyper::Request::get("/mi")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = gw.handle("127.0.0.1".parse().unwrap(), req).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers().get(ALLOW).unwrap(), "POST");
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"uptime","id":"{}"}}"#,
            "x".repeat(100)
        );
        let (s, _, b) = call(&gw, post(&big)).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error_code(&b), code::BODY_TOO_LARGE);

        let gw = gateway(AllowList(vec!["192.0.2.0/24".parse().unwrap()]));
        let body = r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
        let r = gw.handle("198.51.100.1".parse().unwrap(), post(body)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = gw.handle("192.0.2.9".parse().unwrap(), post(body)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn transport_failures_map_to_statuses() {
        let gw = gateway(AllowList::default());
        let cases = [
            (
                "noserver",
                StatusCode::SERVICE_UNAVAILABLE,
                code::FIFO_UNAVAILABLE,
            ),
            ("denied", StatusCode::BAD_GATEWAY, code::FIFO_PERMISSION),
            ("late", StatusCode::GATEWAY_TIMEOUT, code::FIFO_TIMEOUT),
            ("sleep", StatusCode::GATEWAY_TIMEOUT, code::FIFO_TIMEOUT),
            ("text", StatusCode::BAD_GATEWAY, code::FIFO_BAD_REPLY),
            ("silent", StatusCode::BAD_GATEWAY, code::FIFO_BAD_REPLY),
            (
                "other",
                StatusCode::INTERNAL_SERVER_ERROR,
                code::GATEWAY_ERROR,
            ),
        ];
        for (method, status, c) in cases {
            let body = format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":"{method}"}}"#);
            let (s, ct, b) = call(&gw, post(&body)).await;
            assert_eq!(s, status, "{method}: {b}");
            assert_eq!(ct.as_deref(), Some("application/json"));
            assert_eq!(error_code(&b), c, "{method}: {b}");
            let v: Value = serde_json::from_str(&b).unwrap();
            assert_eq!(v["id"], json!(method), "{b}");
        }
        let (_, _, b) = call(&gw, post(r#"{"jsonrpc":"2.0","method":"text","id":1}"#)).await;
        assert!(b.contains("failed to print response"), "{b}");
    }

    fn post_with(body: &str, headers: &[(&str, &str)]) -> hyper::Request<Full<Bytes>> {
        let mut b = hyper::Request::post("/mi");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
    }

    #[tokio::test]
    async fn browser_requests_are_refused_before_the_relay() {
        let gw = gateway(AllowList::default());
        let kill = r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
        // The issue's request: text/plain, foreign Origin, rebound Host.
        let (s, _, b) = call(
            &gw,
            post_with(
                kill,
                &[
                    ("content-type", "text/plain"),
                    ("origin", "http://evil.example"),
                    ("host", "rebind.evil.example:8888"),
                ],
            ),
        )
        .await;
        assert_eq!(s, StatusCode::MISDIRECTED_REQUEST, "{b}");
        let (s, _, b) = call(
            &gw,
            post_with(
                kill,
                &[
                    ("content-type", "application/json"),
                    ("origin", "http://evil.example"),
                    ("host", "127.0.0.1:8888"),
                ],
            ),
        )
        .await;
        assert_eq!(
            (s, error_code(&b)),
            (StatusCode::FORBIDDEN, code::FORBIDDEN)
        );
        let (s, _, _) = call(
            &gw,
            post_with(
                kill,
                &[("content-type", "text/plain"), ("host", "127.0.0.1:8888")],
            ),
        )
        .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(gw.relay.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_cors_preflight_is_never_approved() {
        // Browsers send OPTIONS before a cross-origin application/json POST;
        // without Access-Control-Allow-* in the answer they never send the POST.
        let gw = gateway(AllowList::default());
        let req = hyper::Request::builder()
            .method(Method::OPTIONS)
            .uri("/mi")
            .header("host", "127.0.0.1:8888")
            .header("origin", "http://evil.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = gw.handle("127.0.0.1".parse().unwrap(), req).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            !r.headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")),
            "{:?}",
            r.headers()
        );
    }

    fn with_users(users: &str, policy: Policy) -> Gateway<Fake> {
        Gateway::new(
            GatewayConfig {
                users: Some(std::sync::Arc::new(crate::gateway::auth::UserStore::fixed(
                    crate::gateway::auth::Users::parse(users).unwrap(),
                ))),
                policy,
                ..GatewayConfig::new("127.0.0.1:8888".parse().unwrap())
            },
            Fake {
                calls: AtomicUsize::new(0),
            },
        )
    }

    fn basic(user: &str, pw: &str) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    }

    /// POSTs JSON `body` with `authorization`, as the tests' client does.
    async fn call_as(
        gw: &Gateway<Fake>,
        authorization: &str,
        body: &str,
    ) -> (StatusCode, Option<String>, String) {
        let headers = [
            ("content-type", "application/json"),
            ("host", "127.0.0.1:8888"),
            ("authorization", authorization),
        ];
        call(gw, post_with(body, &headers)).await
    }

    #[tokio::test]
    async fn authentication_and_per_user_policy() {
        let gw = with_users(
            "admin:{PLAIN}a:all\npanel:{PLAIN}p:read-only\n",
            Policy::allow_all(),
        );
        let json = ("content-type", "application/json");
        let host = ("host", "127.0.0.1:8888");
        let r = gw
            .handle(
                "127.0.0.1".parse().unwrap(),
                post_with(
                    r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#,
                    &[json, host],
                ),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers().get(WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"mififo\", charset=\"UTF-8\""
        );
        let bad = basic("admin", "wrong");
        let (s, _, _) = call_as(&gw, &bad, r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(gw.relay.calls.load(Ordering::SeqCst), 0);
        let panel = basic("panel", "p");
        let (s, _, b) = call_as(&gw, &panel, r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, _, b) = call_as(&gw, &panel, r#"{"jsonrpc":"2.0","method":"kill","id":"k"}"#).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(error_code(&b), code::METHOD_REFUSED);
        assert_eq!(serde_json::from_str::<Value>(&b).unwrap()["id"], "k");
        assert!(b.contains("panel"), "{b}");
        let admin = basic("admin", "a");
        let (s, _, b) = call_as(&gw, &admin, r#"{"jsonrpc":"2.0","method":"other","id":1}"#).await;
        // Allowed by policy, so it reached the relay (whose fake fails it).
        assert_eq!(error_code(&b), code::GATEWAY_ERROR, "{s} {b}");
    }

    #[tokio::test]
    async fn global_policy_applies_to_everyone() {
        let gw = with_users("admin:{PLAIN}a:all\n", Policy::read_only());
        let admin = basic("admin", "a");
        let hdrs = [
            ("content-type", "application/json"),
            ("host", "127.0.0.1:8888"),
            ("authorization", admin.as_str()),
        ];
        let (s, _, b) = call(
            &gw,
            post_with(
                r#"{"jsonrpc":"2.0","method":"reload_routes","id":2}"#,
                &hdrs,
            ),
        )
        .await;
        assert_eq!(
            (s, error_code(&b)),
            (StatusCode::FORBIDDEN, code::METHOD_REFUSED)
        );
        let (s, _, _) = call(
            &gw,
            post_with(r#"{"jsonrpc":"2.0","method":"uptime","id":2}"#, &hdrs),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
}
