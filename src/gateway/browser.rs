//! Browser-proofing: a web page open in a local browser can send HTTP to
//! `127.0.0.1`, so three header checks stand between it and the MI.
//!
//! - **Content-Type** must be `application/json` (parameters such as
//!   `charset` allowed). A page can POST `text/plain`, form encodings or a
//!   typeless Blob without a CORS preflight ("simple requests"); a JSON
//!   content type always forces the preflight, which the gateway never
//!   answers with CORS headers. → 415.
//! - **Origin**, sent by browsers on every cross-origin request and on every
//!   POST, must be absent (curl, opensips-cli, PHP, Python clients send none)
//!   or one of `--allow-origin`. → 403.
//! - **Host** must name the listening socket: its IP literal (or `localhost`
//!   when it listens on loopback) with its port, or a `--host` name. DNS
//!   rebinding points an attacker's name at 127.0.0.1 so the page counts as
//!   same-origin; the browser still sends that name as `Host`. → 421.

use super::code;
use crate::proto::jsonrpc::RpcError;
use hyper::header::{HeaderMap, CONTENT_TYPE, HOST, ORIGIN};
use std::net::{IpAddr, SocketAddr};

/// Which `Host` and `Origin` values the gateway accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserPolicy {
    /// The bound address (its port is the one `Host` must carry).
    pub local: SocketAddr,
    /// True when serving HTTPS (an omitted port then means 443, else 80).
    pub tls: bool,
    /// Extra host names (`--host`), lower case, without port.
    pub hosts: Vec<String>,
    /// Allowed `Origin` values (`--allow-origin`), exactly as browsers send
    /// them (`scheme://host[:port]`), compared case-insensitively.
    pub origins: Vec<String>,
}

impl BrowserPolicy {
    /// Accepts only the listen address itself (and `localhost` on loopback).
    pub fn for_listener(local: SocketAddr) -> Self {
        BrowserPolicy {
            local,
            tls: false,
            hosts: Vec::new(),
            origins: Vec::new(),
        }
    }

    /// Checks the three headers; the error is what the client gets.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), RpcError> {
        self.check_host(headers)?;
        self.check_origin(headers)?;
        check_content_type(headers)
    }

    fn check_host(&self, headers: &HeaderMap) -> Result<(), RpcError> {
        let refuse = |why: String| {
            Err(RpcError::with_data(
                code::MISDIRECTED,
                "Misdirected request",
                why,
            ))
        };
        let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
            return refuse("the request has no usable Host header".into());
        };
        if self.host_allowed(host) {
            Ok(())
        } else {
            refuse(format!(
                "Host '{}' does not name this gateway ({}); add the name with --host",
                crate::term::excerpt(host, 80),
                self.local
            ))
        }
    }

    /// True when `host` (a `Host` header value) names this gateway.
    pub fn host_allowed(&self, host: &str) -> bool {
        let (name, port) = split_host_port(host);
        let port = match port {
            None => {
                if self.tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => match p.parse::<u16>() {
                Ok(p) => p,
                Err(_) => return false,
            },
        };
        if port != self.local.port() {
            return false;
        }
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name);
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            // An IP literal cannot be rebound; it must be the one we listen
            // on, or any address when listening on the unspecified address.
            return ip == self.local.ip() || self.local.ip().is_unspecified();
        }
        (name == "localhost" && self.local.ip().is_loopback())
            || self.hosts.iter().any(|h| h == name)
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), RpcError> {
        let Some(origin) = headers.get(ORIGIN) else {
            return Ok(());
        };
        let text = origin.to_str().unwrap_or("");
        if self
            .origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(text.trim_end_matches('/')))
        {
            return Ok(());
        }
        Err(RpcError::with_data(
            code::FORBIDDEN,
            "Forbidden",
            format!(
                "requests from web pages are refused (Origin '{}'); allow one with --allow-origin",
                crate::term::excerpt(text, 80)
            ),
        ))
    }
}

/// Only `application/json` (with optional parameters) passes.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), RpcError> {
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let essence = ct
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .unwrap_or("");
    if essence.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(RpcError::with_data(
        code::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type",
        match ct {
            Some(v) => format!(
                "Content-Type '{}' refused; send application/json",
                crate::term::excerpt(v, 80)
            ),
            None => "no Content-Type; send application/json".to_string(),
        },
    ))
}

/// `host[:port]`, `[v6][:port]`, `v6` (bare, without brackets: no port).
fn split_host_port(h: &str) -> (&str, Option<&str>) {
    if h.starts_with('[') {
        return match h.find(']') {
            Some(end) => {
                let rest = &h[end + 1..];
                (&h[..=end], rest.strip_prefix(':'))
            }
            None => (h, None),
        };
    }
    match h.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') => (n, Some(p)),
        _ => (h, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(hyper::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn policy() -> BrowserPolicy {
        BrowserPolicy::for_listener("127.0.0.1:8888".parse().unwrap())
    }

    #[test]
    fn host_names_the_listener() {
        let p = policy();
        for ok in ["127.0.0.1:8888", "localhost:8888", "LOCALHOST:8888"] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "rebind.evil.example:8888",
            "127.0.0.1:8889",
            "127.0.0.1",
            "127.0.0.2:8888",
            "localhost:x",
            "",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        let mut p = BrowserPolicy::for_listener("[::1]:80".parse().unwrap());
        assert!(p.host_allowed("[::1]"));
        assert!(p.host_allowed("[::1]:80"));
        assert!(p.host_allowed("localhost"));
        assert!(!p.host_allowed("panel.example"));
        p.hosts.push("panel.example".into());
        assert!(p.host_allowed("panel.example:80"));
        assert!(p.host_allowed("Panel.Example."));
        let any = BrowserPolicy::for_listener("0.0.0.0:8888".parse().unwrap());
        assert!(any.host_allowed("192.0.2.1:8888"));
        assert!(!any.host_allowed("localhost:8888"));
        assert!(!any.host_allowed("evil.example:8888"));
        let tls = BrowserPolicy {
            tls: true,
            ..BrowserPolicy::for_listener("127.0.0.1:443".parse().unwrap())
        };
        assert!(tls.host_allowed("127.0.0.1"));
    }

    #[test]
    fn the_csrf_request_of_the_issue_is_refused() {
        // curl -H 'Content-Type: text/plain' -H 'Origin: http://evil.example'
        //      -H 'Host: rebind.evil.example:PORT'
        let p = policy();
        let h = headers(&[
            (CONTENT_TYPE, "text/plain"),
            (ORIGIN, "http://evil.example"),
            (HOST, "rebind.evil.example:8888"),
        ]);
        assert_eq!(p.check(&h).unwrap_err().code, code::MISDIRECTED);
        let h = headers(&[
            (CONTENT_TYPE, "text/plain"),
            (ORIGIN, "http://evil.example"),
            (HOST, "127.0.0.1:8888"),
        ]);
        assert_eq!(p.check(&h).unwrap_err().code, code::FORBIDDEN);
        let h = headers(&[(CONTENT_TYPE, "text/plain"), (HOST, "127.0.0.1:8888")]);
        assert_eq!(p.check(&h).unwrap_err().code, code::UNSUPPORTED_MEDIA_TYPE);
        let h = headers(&[(HOST, "127.0.0.1:8888")]);
        assert_eq!(p.check(&h).unwrap_err().code, code::UNSUPPORTED_MEDIA_TYPE);
        let h = headers(&[
            (CONTENT_TYPE, "Application/JSON; charset=utf-8"),
            (HOST, "127.0.0.1:8888"),
        ]);
        assert!(p.check(&h).is_ok());
    }

    #[test]
    fn allowed_origins() {
        let mut p = policy();
        p.origins.push("https://cp.example".into());
        let h = |o| {
            headers(&[
                (CONTENT_TYPE, "application/json"),
                (HOST, "127.0.0.1:8888"),
                (ORIGIN, o),
            ])
        };
        assert!(p.check(&h("https://cp.example")).is_ok());
        assert!(p.check(&h("https://CP.example/")).is_ok());
        assert!(p.check(&h("https://cp.example.evil")).is_err());
        assert!(p.check(&h("null")).is_err());
    }

    #[test]
    fn excerpts_escape_and_are_bounded() {
        assert_eq!(crate::term::excerpt("a\nb", 10), "a\\x0ab");
        assert_eq!(crate::term::excerpt("abcdef", 3), "abc…");
    }
}
