//! JSON-RPC over HTTP(S): OpenSIPS `mi_http` and `mififo gateway`. One POST
//! of `application/json` per request, on its own connection.
//!
//! Basic credentials come from [`UrlConfig::basic_auth`] (a file), never
//! from the URL. `https://` verifies the server against the CAs of
//! [`UrlConfig::ca_file`] (no system store is built in). A status other
//! than 200 may come without the end of its body (mi_http sends the last
//! chunk of a no-body 202/400/405/500 only when it handles another
//! connection), so such bodies get a short grace and the status decides.

use super::UrlConfig;
use crate::client::error::Error;
use crate::client::{accept, Reply, ReplyKind};
use crate::proto::jsonrpc::Request;
use crate::proto::Dialect;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long the body of a non-200 response may take after its headers.
const NON_OK_GRACE: Duration = Duration::from_millis(500);

/// Scheme, host, port and path of an `http(s)://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://`.
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80/443 by default).
    pub port: u16,
    /// Path and query, `/` at least.
    pub path: String,
}

impl Endpoint {
    /// Parses `url`; credentials in it (`user:pass@`) are refused, as
    /// they would sit in argv and shell history.
    ///
    /// # Errors
    /// [`Error::BadUrl`].
    pub fn parse(url: &str) -> Result<Endpoint, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: hyper::Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("expected http:// or https://")),
        };
        let auth = uri.authority().ok_or_else(|| bad("no host"))?;
        if auth.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL would be visible in the process list; use --auth-file",
            ));
        }
        let host = auth.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Endpoint {
            tls,
            host: host.to_string(),
            port: auth.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        })
    }
}

/// An HTTP(S) MI client.
#[derive(Clone)]
pub struct HttpClient {
    url: String,
    ep: Endpoint,
    cfg: UrlConfig,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("HttpClient")
            .field("url", &self.url)
            .field("auth", &self.cfg.basic_auth.is_some())
            .finish()
    }
}

impl HttpClient {
    /// A client for `url`.
    ///
    /// # Errors
    /// [`Error::BadUrl`]; for `https://`, a missing or unreadable CA file.
    pub fn new(url: &str, cfg: UrlConfig) -> Result<HttpClient, Error> {
        let ep = Endpoint::parse(url)?;
        let tls = if ep.tls {
            Some(connector(url, cfg.ca_file.as_deref())?)
        } else {
            None
        };
        Ok(HttpClient {
            url: url.to_string(),
            ep,
            cfg,
            tls,
        })
    }

    /// POSTs `request` and returns its accepted reply.
    ///
    /// # Errors
    /// [`Error::Unreachable`], [`Error::UrlTimeout`], [`Error::HttpAuth`],
    /// [`Error::ReplyTooLarge`] or a rejected reply.
    pub async fn send(&self, request: &Request) -> Result<Reply, Error> {
        let deadline = Instant::now() + self.cfg.timeout;
        match tokio::time::timeout_at(deadline, self.exchange(request, deadline)).await {
            Ok(r) => r,
            Err(_) => Err(Error::UrlTimeout {
                url: self.url.clone(),
                timeout: self.cfg.timeout,
            }),
        }
    }

    async fn exchange(&self, request: &Request, deadline: Instant) -> Result<Reply, Error> {
        let unreachable = |source: std::io::Error| Error::Unreachable {
            url: self.url.clone(),
            source,
        };
        let tcp = tokio::net::TcpStream::connect((self.ep.host.as_str(), self.ep.port))
            .await
            .map_err(unreachable)?;
        let req = self.build(request)?;
        let resp = if let Some(tls) = &self.tls {
            let name = rustls_pki_types::ServerName::try_from(self.ep.host.clone())
                .map_err(|e| unreachable(std::io::Error::other(e)))?;
            let stream = tls.connect(name, tcp).await.map_err(unreachable)?;
            round_trip(TokioIo::new(stream), req).await
        } else {
            round_trip(TokioIo::new(tcp), req).await
        }
        .map_err(|e| unreachable(std::io::Error::other(e)))?;

        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(Error::HttpAuth {
                url: self.url.clone(),
                status,
                sent_credentials: self.cfg.basic_auth.is_some(),
            });
        }
        let body_deadline = if status == 200 {
            deadline
        } else {
            deadline.min(Instant::now() + NON_OK_GRACE)
        };
        let body = match tokio::time::timeout_at(body_deadline, self.read_body(resp)).await {
            Ok(b) => b?,
            Err(_) if status != 200 => Vec::new(),
            Err(_) => {
                return Err(Error::UrlTimeout {
                    url: self.url.clone(),
                    timeout: self.cfg.timeout,
                })
            }
        };
        let path = Path::new(&self.url);
        if (200..300).contains(&status) {
            return accept::accept(Dialect::Json, request.id.as_ref(), body, path);
        }
        // A JSON-RPC error with our id is the server's answer; anything else
        // is reported with its status.
        if let Ok(
            r @ Reply {
                kind: ReplyKind::Json(_),
                ..
            },
        ) = accept::accept(Dialect::Json, request.id.as_ref(), body.clone(), path)
        {
            return Ok(r);
        }
        let text = format!(
            "HTTP {status}{}{}",
            if body.is_empty() { "" } else { ": " },
            accept::cut(&String::from_utf8_lossy(&body), 512)
        );
        Ok(Reply {
            raw: body,
            kind: ReplyKind::Text(text),
        })
    }

    fn build(&self, request: &Request) -> Result<hyper::Request<Full<Bytes>>, Error> {
        let host = if self.ep.host.contains(':') {
            format!("[{}]:{}", self.ep.host, self.ep.port)
        } else {
            format!("{}:{}", self.ep.host, self.ep.port)
        };
        let mut b = hyper::Request::post(self.ep.path.as_str())
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::CONNECTION, "close");
        if let Some(cred) = &self.cfg.basic_auth {
            use base64::Engine;
            let v = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(cred)
            );
            let mut hv = hyper::header::HeaderValue::from_str(&v).map_err(|_| Error::BadUrl {
                url: self.url.clone(),
                reason: "the credentials are not a valid header value".into(),
            })?;
            hv.set_sensitive(true);
            b = b.header(hyper::header::AUTHORIZATION, hv);
        }
        b.body(Full::new(Bytes::from(request.to_json())))
            .map_err(|e| Error::BadUrl {
                url: self.url.clone(),
                reason: e.to_string(),
            })
    }

    /// The body, stopping past `max_reply`.
    async fn read_body(
        &self,
        resp: hyper::Response<hyper::body::Incoming>,
    ) -> Result<Vec<u8>, Error> {
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::Unreachable {
                url: self.url.clone(),
                source: std::io::Error::other(e),
            })?;
            if let Some(d) = frame.data_ref() {
                if out.len() + d.len() > self.cfg.max_reply {
                    return Err(Error::ReplyTooLarge {
                        reply_path: self.url.clone().into(),
                        max: self.cfg.max_reply,
                    });
                }
                out.extend_from_slice(d);
            }
        }
        Ok(out)
    }
}

async fn round_trip<S>(
    io: TokioIo<S>,
    req: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await
}

fn connector(url: &str, ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, Error> {
    use rustls_pki_types::pem::PemObject;
    let bad = |reason: String| Error::BadUrl {
        url: url.to_string(),
        reason,
    };
    let ca = ca_file.ok_or_else(|| {
        bad("https:// needs --ca-file (PEM CA certificates to verify the server)".into())
    })?;
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(ca)
        .map_err(|e| bad(format!("cannot read CA file '{}': {e}", ca.display())))?;
    for c in certs {
        let c = c.map_err(|e| bad(format!("CA file '{}': {e}", ca.display())))?;
        roots
            .add(c)
            .map_err(|e| bad(format!("CA file '{}': {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(bad(format!(
            "CA file '{}' has no certificate",
            ca.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parts_and_no_credentials_in_urls() {
        let e = Endpoint::parse("http://127.0.0.1:8888/mi").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (false, "127.0.0.1", 8888, "/mi")
        );
        let e = Endpoint::parse("https://[::1]/mi").unwrap();
        assert_eq!((e.tls, e.host.as_str(), e.port), (true, "::1", 443));
        assert!(Endpoint::parse("http://u:p@127.0.0.1/mi").is_err());
    }
}
