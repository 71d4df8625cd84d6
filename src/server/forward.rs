//! `mififo serve --forward http://HOST:PORT/PATH`: answer FIFO requests by
//! relaying them to an OpenSIPS `mi_http` endpoint (or a `mififo gateway`),
//! so FIFO-only scripts keep working against an HTTP-only OpenSIPS.
//!
//! Each request is POSTed as JSON-RPC (`Content-Type: application/json`,
//! the request's own `id`); the upstream's `result` or `error` becomes the
//! FIFO reply. Failures of the upstream become JSON-RPC errors
//! (codes in [`crate::proto::bridge`], listed in `docs/gateway.md`):
//!
//! | upstream | code | message |
//! |---|---|---|
//! | connection refused / unresolvable / reset | -32020 | `Upstream unreachable` |
//! | no complete answer within the timeout | -32021 | `Upstream timeout` |
//! | HTTP error status without a JSON-RPC body | -32022 | `Upstream HTTP error` |
//! | 2xx body that is not a JSON-RPC response | -32023 | `Bad reply from upstream` |
//!
//! A JSON-RPC error body is passed through whatever the HTTP status (a
//! chained `mififo gateway` answers 504 *with* a JSON-RPC error), and 202
//! without a body (mi_http's answer to a notification) is an empty result.

use super::Executor;
use crate::proto::bridge as code;
use crate::proto::jsonrpc::{Outcome, Request, Response, RpcError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Largest upstream reply accepted (mi_http replies like `ul_dump` can be big).
const MAX_REPLY: usize = 64 * 1024 * 1024;

/// Why `--forward URL` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// Not a URL.
    #[error("invalid --forward URL '{url}': {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

/// Relays MI requests to an HTTP JSON-RPC endpoint.
#[derive(Clone)]
pub struct Forwarder {
    url: Uri,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Forwarder {
    /// A forwarder to `url` (`http://HOST[:PORT][/PATH]`; plain HTTP only),
    /// giving each request at most `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Forwarder, ForwardError> {
        let bad = |reason: &str| ForwardError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported; use http on loopback or a TLS proxy",
                ))
            }
            _ => return Err(bad("expected http://HOST:PORT/PATH")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Forwarder {
            url: uri,
            timeout,
            client,
        })
    }

    /// The upstream URL.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// Sends `req` upstream and returns the outcome to write to the FIFO client.
    pub async fn forward(&self, req: &Request) -> Outcome {
        match tokio::time::timeout(self.timeout, self.exchange(req)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Error(RpcError::with_data(
                code::UPSTREAM_TIMEOUT,
                "Upstream timeout",
                format!("no reply from '{}' within {:?}", self.url, self.timeout),
            )),
        }
    }

    async fn exchange(&self, req: &Request) -> Outcome {
        let http_req = hyper::Request::post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(req.to_json())))
            .expect("a validated URI and static headers make a valid request");
        let resp = match self.client.request(http_req).await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Error(RpcError::with_data(
                    code::UPSTREAM_UNREACHABLE,
                    "Upstream unreachable",
                    format!("cannot reach '{}': {}", self.url, crate::error::chain(&e)),
                ))
            }
        };
        let status = resp.status();
        let body = match Limited::new(resp.into_body(), MAX_REPLY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return Outcome::Error(RpcError::with_data(
                    code::UPSTREAM_BAD_REPLY,
                    "Bad reply from upstream",
                    format!("cannot read the reply of '{}': {e}", self.url),
                ))
            }
        };
        if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(&body) {
            if v.get("result").is_some() || v.get("error").is_some() {
                return Response::from_value(&v).outcome;
            }
        }
        if status.is_success() && body.is_empty() && req.id.is_none() {
            // mi_http answers a notification with 202 and no body.
            return Outcome::Result(Value::Null);
        }
        let text = String::from_utf8_lossy(&body);
        let excerpt: String = text.chars().take(200).collect();
        if !status.is_success() {
            let mut data = format!("'{}' answered HTTP {status}", self.url);
            if !excerpt.trim().is_empty() {
                data.push_str(&format!(": {}", excerpt.trim()));
            }
            return Outcome::Error(RpcError::with_data(
                code::UPSTREAM_HTTP_ERROR,
                "Upstream HTTP error",
                data,
            ));
        }
        Outcome::Error(RpcError::with_data(
            code::UPSTREAM_BAD_REPLY,
            "Bad reply from upstream",
            format!(
                "'{}' answered HTTP {status} with no JSON-RPC response: {:?}",
                self.url, excerpt
            ),
        ))
    }
}

impl Executor for Forwarder {
    fn execute<'a>(
        &'a self,
        req: &'a Request,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(self.forward(req))
    }

    /// The 1.x text dialect sends `get_statistics dialog: tm:` as argument
    /// lines; OpenSIPS 3.x takes them as one array parameter, `statistics`.
    fn array_param(&self, method: &str) -> Option<String> {
        super::command::core_array_param(method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::jsonrpc::Params;
    use hyper_util::rt::TokioIo;
    use serde_json::json;
    use std::convert::Infallible;

    /// A tiny upstream: behaviour chosen by the request path.
    async fn upstream() -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        |req: hyper::Request<hyper::body::Incoming>| async move {
                            let path = req.uri().path().to_string();
                            let ct = req.headers().get(CONTENT_TYPE).cloned();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let v: Value = serde_json::from_slice(&body).unwrap();
                            let reply = |status: u16, body: String| {
                                Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                )
                            };
                            match path.as_str() {
                            "/mi" => {
                                assert_eq!(ct.unwrap(), "application/json");
                                if v.get("id").is_none() {
                                    return reply(202, String::new());
                                }
                                let r = json!({"jsonrpc":"2.0","result":{"echo":v["method"],"params":v["params"]},"id":v["id"]});
                                reply(200, r.to_string())
                            }
                            "/err504" => reply(504, r#"{"jsonrpc":"2.0","error":{"code":-32012,"message":"MI FIFO timeout"},"id":1}"#.into()),
                            "/slow" => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                reply(200, String::new())
                            }
                            "/html" => reply(405, "<html>Method Not Allowed</html>".into()),
                            _ => reply(200, "hello".into()),
                        }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        addr
    }

    fn request(id: Option<Value>) -> Request {
        Request::new("uptime", Params::Positional(vec![json!(1)]), id)
    }

    fn err_code(o: Outcome) -> (i64, String) {
        match o {
            Outcome::Error(e) => (e.code, e.to_string()),
            Outcome::Result(r) => panic!("expected an error, got {r}"),
        }
    }

    #[tokio::test]
    async fn relays_result_and_notification() {
        let addr = upstream().await;
        let f = Forwarder::new(&format!("http://{addr}/mi"), Duration::from_secs(10)).unwrap();
        let o = f.forward(&request(Some(json!(5)))).await;
        assert_eq!(o, Outcome::Result(json!({"echo":"uptime","params":[1]})));
        let o = f.forward(&request(None)).await;
        assert_eq!(o, Outcome::Result(Value::Null));
    }

    #[tokio::test]
    async fn upstream_failures_become_documented_errors() {
        let addr = upstream().await;
        let url = |p: &str| format!("http://{addr}{p}");
        let short = Duration::from_millis(300);

        let f = Forwarder::new(&url("/err504"), short).unwrap();
        assert_eq!(
            err_code(f.forward(&request(Some(json!(1)))).await).0,
            -32012
        );

        let f = Forwarder::new(&url("/slow"), short).unwrap();
        let (c, m) = err_code(f.forward(&request(Some(json!(1)))).await);
        assert_eq!(c, code::UPSTREAM_TIMEOUT, "{m}");
        assert!(m.contains("/slow"), "{m}");

        let f = Forwarder::new(&url("/html"), short).unwrap();
        let (c, m) = err_code(f.forward(&request(Some(json!(1)))).await);
        assert_eq!(c, code::UPSTREAM_HTTP_ERROR, "{m}");
        assert!(m.contains("405"), "{m}");

        let f = Forwarder::new(&url("/text"), short).unwrap();
        let (c, m) = err_code(f.forward(&request(Some(json!(1)))).await);
        assert_eq!(c, code::UPSTREAM_BAD_REPLY, "{m}");
        assert!(m.contains("hello"), "{m}");

        // A port nobody listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let f = Forwarder::new(&format!("http://127.0.0.1:{port}/mi"), short).unwrap();
        let (c, m) = err_code(f.forward(&request(Some(json!(1)))).await);
        assert_eq!(c, code::UPSTREAM_UNREACHABLE, "{m}");
        assert!(m.to_lowercase().contains("refused"), "{m}");
    }

    #[test]
    fn statistics_commands_take_an_array() {
        let f = Forwarder::new("http://127.0.0.1:8888/mi", Duration::from_secs(1)).unwrap();
        assert_eq!(
            f.array_param("get_statistics").as_deref(),
            Some("statistics")
        );
        assert_eq!(
            f.array_param("reset_statistics").as_deref(),
            Some("statistics")
        );
        assert_eq!(f.array_param("uptime"), None);
    }

    #[test]
    fn bad_urls() {
        for u in [
            "https://127.0.0.1/mi",
            "127.0.0.1:8888",
            "ftp://x/mi",
            "http:///mi",
            "not a url",
        ] {
            let e = Forwarder::new(u, Duration::from_secs(1)).unwrap_err();
            assert!(e.to_string().contains(&format!("'{u}'")), "{e}");
        }
    }
}
