//! The MI transports besides the FIFO: HTTP(S) (OpenSIPS `mi_http`, `mififo
//! gateway`) and datagrams over UDP or a UNIX socket (OpenSIPS `mi_datagram`,
//! Kamailio `jsonrpcs`). [`Transport`] puts them and the FIFO [`Client`]
//! behind one type, so every command picks one the same way.
//!
//! Each transport keeps the FIFO client's guarantees: one deadline for the
//! whole exchange, replies bounded by `max_reply` (reading stops there), and
//! a reply accepted only when it is exactly one JSON-RPC response carrying the
//! request's id ([`super::accept::accept`]).

pub mod datagram;
pub mod http;

use super::error::Error;
use super::{Client, Reply};
use crate::proto::jsonrpc::{Params, Request};
use std::path::PathBuf;
use std::time::Duration;

/// Where an MI server listens, parsed from `--url` (or opensips-cli's keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http://HOST:PORT/PATH` or `https://…`.
    Http(String),
    /// `udp://HOST:PORT`.
    Udp(String),
    /// `unix:PATH`.
    Unix(PathBuf),
}

impl Target {
    /// Parses `http://`, `https://`, `udp://HOST:PORT` or `unix:PATH`.
    ///
    /// # Errors
    /// [`Error::BadUrl`] for any other form.
    pub fn parse(url: &str) -> Result<Target, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        if url.starts_with("http://") || url.starts_with("https://") {
            http::Endpoint::parse(url)?;
            Ok(Target::Http(url.to_string()))
        } else if let Some(hp) = url.strip_prefix("udp://") {
            let hp = hp.trim_end_matches('/');
            if hp
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(bad("expected udp://HOST:PORT"));
            }
            Ok(Target::Udp(hp.to_string()))
        } else if let Some(p) = url.strip_prefix("unix:") {
            let p = p.strip_prefix("//").unwrap_or(p);
            if p.is_empty() {
                return Err(bad("expected unix:PATH"));
            }
            Ok(Target::Unix(PathBuf::from(p)))
        } else {
            Err(bad("use http://, https://, udp://HOST:PORT or unix:PATH"))
        }
    }
}

/// Options of the URL transports.
#[derive(Debug, Clone)]
pub struct UrlConfig {
    /// Deadline for the whole exchange.
    pub timeout: Duration,
    /// Largest reply accepted, in bytes.
    pub max_reply: usize,
    /// HTTP Basic credentials, `user:password` (read from a file, never argv).
    pub basic_auth: Option<String>,
    /// PEM file of CA certificates trusted for `https://`.
    pub ca_file: Option<PathBuf>,
}

/// One way to reach an MI server.
#[derive(Debug, Clone)]
pub enum Transport {
    /// The MI FIFO (the default).
    Fifo(Client),
    /// HTTP or HTTPS.
    Http(http::HttpClient),
    /// A UDP or UNIX datagram socket.
    Datagram(datagram::DatagramClient),
}

impl Transport {
    /// A URL transport for `target`.
    ///
    /// # Errors
    /// [`Error::BadUrl`] or an error loading the CA file.
    pub fn for_target(target: &Target, cfg: UrlConfig) -> Result<Transport, Error> {
        Ok(match target {
            Target::Http(url) => Transport::Http(http::HttpClient::new(url, cfg)?),
            Target::Udp(hp) => Transport::Datagram(datagram::DatagramClient::udp(hp.clone(), cfg)),
            Target::Unix(p) => Transport::Datagram(datagram::DatagramClient::unix(p.clone(), cfg)),
        })
    }

    /// Sends `request` and waits for its accepted reply.
    ///
    /// # Errors
    /// As [`Client::send`]; URL transports add [`Error::Unreachable`],
    /// [`Error::UrlTimeout`] and [`Error::HttpAuth`].
    pub async fn send(&self, request: &Request) -> Result<Reply, Error> {
        match self {
            Transport::Fifo(c) => c.send(request).await,
            Transport::Http(c) => c.send(request).await,
            Transport::Datagram(c) => c.send(request).await,
        }
    }

    /// Sends `method` with `params` and a fresh id.
    ///
    /// # Errors
    /// As [`Transport::send`].
    pub async fn call(&self, method: &str, params: Params) -> Result<Reply, Error> {
        let id = serde_json::Value::from(super::fresh_id());
        self.send(&Request::new(method, params, Some(id))).await
    }

    /// The wire dialect: the FIFO client's, JSON-RPC for the URL transports.
    pub fn dialect(&self) -> crate::proto::Dialect {
        match self {
            Transport::Fifo(c) => c.config().dialect,
            _ => crate::proto::Dialect::Json,
        }
    }

    /// The FIFO client, when this is the FIFO.
    pub fn fifo(&self) -> Option<&Client> {
        match self {
            Transport::Fifo(c) => Some(c),
            _ => None,
        }
    }
}

impl From<Client> for Transport {
    fn from(c: Client) -> Transport {
        Transport::Fifo(c)
    }
}

/// Reads `user:password` from `path`, refusing a file others may read
/// (mode & 0o077) or a line without a colon. Only the first line counts.
///
/// # Errors
/// [`Error::Io`] or [`Error::BadUrl`] (reason says what is wrong).
pub fn read_auth_file(path: &std::path::Path) -> Result<String, Error> {
    use std::os::unix::fs::MetadataExt;
    let io = |source| Error::Io {
        op: "read the auth file",
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.mode() & 0o077 != 0 {
        return Err(Error::AuthFile {
            path: path.to_path_buf(),
            reason: format!(
                "mode {:04o} lets other users read it; chmod 600 it",
                meta.mode() & 0o7777
            ),
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if !line.contains(':') {
        return Err(Error::AuthFile {
            path: path.to_path_buf(),
            reason: "its first line is not user:password".into(),
        });
    }
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_url_forms() {
        assert_eq!(
            Target::parse("udp://127.0.0.1:8080").unwrap(),
            Target::Udp("127.0.0.1:8080".into())
        );
        assert_eq!(
            Target::parse("unix:/run/k.sock").unwrap(),
            Target::Unix("/run/k.sock".into())
        );
        assert!(matches!(
            Target::parse("http://127.0.0.1:8888/mi").unwrap(),
            Target::Http(_)
        ));
        for bad in [
            "udp://host",
            "udp://:1",
            "ftp://x",
            "unix:",
            "http://",
            "/tmp/x",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
