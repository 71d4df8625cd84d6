//! JSON-RPC over datagrams: OpenSIPS `mi_datagram` and Kamailio `jsonrpcs`
//! (`dgram_socket`), over UDP (`udp://HOST:PORT`) or a UNIX socket
//! (`unix:PATH`). One request datagram, one reply datagram.
//!
//! UDP: the socket is connected to the server, so the kernel drops datagrams
//! from anyone else. UNIX: OpenSIPS answers from an unnamed socket, so the
//! client cannot connect; it binds its own name (both servers reply to the
//! sender address) in a private directory made for the exchange and removed
//! on every exit path (the guard's `Drop`, also when the future is dropped on
//! a signal or timeout). In both cases the reply is accepted only if it
//! carries the request's id.

use super::UrlConfig;
use crate::client::error::Error;
use crate::client::{accept, Reply};
use crate::proto::jsonrpc::Request;
use crate::proto::Dialect;
use std::path::{Path, PathBuf};
use tokio::time::Instant;

/// The largest datagram read: a UNIX datagram may reach about 208 KiB
/// (Linux `wmem_max`); UDP stops at 65 507 bytes.
const MAX_DATAGRAM: usize = 256 << 10;

/// A datagram MI client.
#[derive(Debug, Clone)]
pub struct DatagramClient {
    peer: Peer,
    cfg: UrlConfig,
}

#[derive(Debug, Clone)]
enum Peer {
    Udp(String),
    Unix(PathBuf),
}

impl DatagramClient {
    /// A client for `udp://HOST:PORT`.
    pub fn udp(host_port: String, cfg: UrlConfig) -> Self {
        DatagramClient {
            peer: Peer::Udp(host_port),
            cfg,
        }
    }

    /// A client for the UNIX datagram socket at `path`.
    pub fn unix(path: PathBuf, cfg: UrlConfig) -> Self {
        DatagramClient {
            peer: Peer::Unix(path),
            cfg,
        }
    }

    fn url(&self) -> String {
        match &self.peer {
            Peer::Udp(hp) => format!("udp://{hp}"),
            Peer::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    /// Sends `request` as one datagram and waits for the reply datagram.
    ///
    /// # Errors
    /// [`Error::Unreachable`], [`Error::UrlTimeout`],
    /// [`Error::ReplyTooLarge`], or a rejected reply.
    pub async fn send(&self, request: &Request) -> Result<Reply, Error> {
        let deadline = Instant::now() + self.cfg.timeout;
        let url = self.url();
        let timeout = || Error::UrlTimeout {
            url: url.clone(),
            timeout: self.cfg.timeout,
        };
        match tokio::time::timeout_at(deadline, self.exchange(request, &url)).await {
            Ok(r) => r,
            Err(_) => Err(timeout()),
        }
    }

    async fn exchange(&self, request: &Request, url: &str) -> Result<Reply, Error> {
        let bytes = request.to_json().into_bytes();
        let cap = self.cfg.max_reply.min(MAX_DATAGRAM) + 1;
        let mut buf = vec![0u8; cap];
        let unreachable = |source| Error::Unreachable {
            url: url.to_string(),
            source,
        };
        let n = match &self.peer {
            Peer::Udp(hp) => {
                let addr = tokio::net::lookup_host(hp.as_str())
                    .await
                    .map_err(unreachable)?
                    .next()
                    .ok_or_else(|| unreachable(std::io::ErrorKind::NotFound.into()))?;
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let sock = tokio::net::UdpSocket::bind(local)
                    .await
                    .map_err(unreachable)?;
                sock.connect(addr).await.map_err(unreachable)?;
                sock.send(&bytes).await.map_err(unreachable)?;
                // A connected socket sees ICMP port-unreachable as ECONNREFUSED.
                sock.recv(&mut buf).await.map_err(unreachable)?
            }
            Peer::Unix(server) => {
                let own = OwnSocket::new()?;
                let sock =
                    tokio::net::UnixDatagram::bind(&own.path).map_err(|source| Error::Io {
                        op: "bind the reply socket",
                        path: own.path.clone(),
                        source,
                    })?;
                // The server (maybe another user) must be able to send to it;
                // the directory's name is random and unlistable.
                set_mode(&own.path, 0o666)?;
                sock.send_to(&bytes, server)
                    .await
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
                            op: "send to the datagram socket",
                            path: server.clone(),
                            fifo: server.clone(),
                            os_error: e,
                        },
                        _ => unreachable(e),
                    })?;
                let (n, _) = sock.recv_from(&mut buf).await.map_err(unreachable)?;
                drop(sock);
                drop(own);
                n
            }
        };
        if n > self.cfg.max_reply {
            return Err(Error::ReplyTooLarge {
                reply_path: PathBuf::from(url),
                max: self.cfg.max_reply,
            });
        }
        buf.truncate(n);
        accept::accept(Dialect::Json, request.id.as_ref(), buf, Path::new(url))
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        Error::Io {
            op: "set the mode of",
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Our reply socket's name in a fresh private directory; both are removed
/// when this is dropped.
#[derive(Debug)]
struct OwnSocket {
    dir: PathBuf,
    path: PathBuf,
}

impl OwnSocket {
    fn new() -> Result<Self, Error> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        for _ in 0..8 {
            let dir = base.join(format!("mififo-dgram-{:016x}", fastrand::u64(..)));
            // 0711: the server may reach the socket by name, nobody may list it.
            match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
                Ok(()) => {
                    let path = dir.join("reply.sock");
                    return Ok(OwnSocket { dir, path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(Error::Io {
                        op: "create a private directory in",
                        path: base,
                        source,
                    })
                }
            }
        }
        Err(Error::Io {
            op: "create a private directory in",
            path: base,
            source: std::io::ErrorKind::AlreadyExists.into(),
        })
    }
}

impl Drop for OwnSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_socket_dir_is_removed_on_drop() {
        let own = OwnSocket::new().unwrap();
        let dir = own.dir.clone();
        let _s = std::os::unix::net::UnixDatagram::bind(&own.path).unwrap();
        assert!(own.path.exists());
        drop(own);
        assert!(!dir.exists());
    }
}
