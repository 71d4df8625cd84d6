//! `mififo gateway`: HTTP JSON-RPC, exactly as OpenSIPS `mi_http` speaks it,
//! in front of an MI FIFO.
//!
//! Web panels (OpenSIPS-CP 7+) and opensips-cli in HTTP mode talk to the
//! gateway over loopback TCP; only the gateway touches the FIFO, so a
//! private /tmp, an SELinux domain or a different user no longer matter.
//!
//! - [`service`]: one HTTP request → one HTTP response (status mapping).
//! - [`relay`]: the [`Relay`] seam to the FIFO client (fakes in tests).
//! - [`code`]: the gateway's JSON-RPC error codes and their HTTP statuses.
//! - [`access`]: loopback-only bind policy and the client allow-list.
//! - [`listen`]: binding, optionally inside another network namespace.
//! - `fifo`: the production relay, [`crate::client::Client`].
//!
//! [`serve`] runs the accept loop: one task per connection, HTTP/1.1
//! keep-alive, and a graceful stop that lets in-flight requests finish (or,
//! after a grace period, drops them — which releases their reply FIFOs).

pub mod access;
pub mod code;
mod fifo;
pub mod listen;
pub mod relay;
pub mod service;

pub use access::AllowList;
pub use relay::{Relay, RelayError, RelayErrorKind, Relayed};
pub use service::Gateway;

use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Default `--max-body`: comfortably above the 4096-byte FIFO request limit.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// How the gateway answers.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The URL path served (`/mi`, mi_http's default root).
    pub path: String,
    /// Per-request limit on the FIFO exchange (→ HTTP 504).
    pub timeout: Duration,
    /// Largest accepted request body (→ HTTP 413).
    pub max_body: usize,
    /// Clients allowed to use the gateway (empty = all that can connect).
    pub allow: AllowList,
}

/// How long a stopping gateway waits for in-flight requests beyond their timeout.
const DRAIN_MARGIN: Duration = Duration::from_secs(1);
/// Slow-header protection: a connection must send its headers within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP on `listener` until `shutdown` completes, then stops accepting,
/// lets in-flight requests finish (at most their timeout plus a margin) and
/// returns.
pub async fn serve<R: Relay>(
    listener: TcpListener,
    gateway: Arc<Gateway<R>>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let gw = gateway.clone();
                    let mut stop = stop_rx.clone();
                    conns.spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let gw = gw.clone();
                            async move {
                                let start = std::time::Instant::now();
                                let (method, path) = (req.method().clone(), req.uri().path().to_string());
                                let resp = gw.handle(peer.ip(), req).await;
                                tracing::debug!(
                                    %peer, %method, path, status = resp.status().as_u16(),
                                    ms = start.elapsed().as_millis() as u64, "request"
                                );
                                Ok::<_, Infallible>(resp)
                            }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .serve_connection(TokioIo::new(stream), svc);
                        tokio::pin!(conn);
                        let result = tokio::select! {
                            r = conn.as_mut() => r,
                            () = async { let _ = stop.wait_for(|s| *s).await; } => {
                                conn.as_mut().graceful_shutdown();
                                conn.await
                            }
                        };
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let grace = gateway.config().timeout + DRAIN_MARGIN;
    tracing::info!(
        connections = conns.len(),
        "stopping; waiting for in-flight requests"
    );
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "dropping requests still running after {grace:?}"
        );
        conns.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::jsonrpc::Request;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sleeps `ms` from the params, then answers; tracks the peak concurrency.
    struct Slow {
        running: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Relay for Slow {
        async fn relay(&self, req: &Request) -> Result<Relayed, RelayError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let ms = req
                .params
                .to_value()
                .and_then(|v| v[0].as_u64())
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            let id = req.id.clone().unwrap_or_default();
            Ok(Relayed::Json(
                format!(r#"{{"jsonrpc":"2.0","result":"slept","id":{id}}}"#).into_bytes(),
            ))
        }
    }

    /// One HTTP/1.1 exchange over a raw socket (Connection: close).
    async fn post(addr: std::net::SocketAddr, body: String) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST /mi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    async fn start(
        slow: Slow,
    ) -> (
        std::net::SocketAddr,
        Arc<Gateway<Slow>>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let gw = Arc::new(Gateway::new(
            GatewayConfig {
                path: "/mi".into(),
                timeout: Duration::from_secs(30),
                max_body: DEFAULT_MAX_BODY,
                allow: AllowList::default(),
            },
            slow,
        ));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(l, gw.clone(), async {
            let _ = rx.await;
        }));
        (addr, gw, tx, task)
    }

    fn slow() -> Slow {
        Slow {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_run_concurrently() {
        let (addr, gw, _tx, _task) = start(slow()).await;
        let mut all = JoinSet::new();
        for i in 0..8 {
            all.spawn(post(
                addr,
                format!(r#"{{"jsonrpc":"2.0","method":"s","params":[300],"id":{i}}}"#),
            ));
        }
        while let Some(r) = all.join_next().await {
            let r = r.unwrap();
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
            assert!(r.contains(r#""result":"slept""#), "{r}");
        }
        // Each relay sleeps 300 ms; they overlapped rather than queued.
        assert!(gw.relay_ref().peak.load(Ordering::SeqCst) > 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_finishes_in_flight_requests_and_stops_accepting() {
        let (addr, gw, tx, task) = start(slow()).await;
        let inflight = tokio::spawn(post(
            addr,
            r#"{"jsonrpc":"2.0","method":"s","params":[500],"id":"last"}"#.to_string(),
        ));
        while gw.relay_ref().running.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tx.send(()).unwrap();
        let r = inflight.await.unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains(r#""id":"last""#), "{r}");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("serve returns after draining")
            .unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    /// Sets `dropped` when the relay future is dropped before finishing.
    struct Abandoned {
        started: std::sync::atomic::AtomicBool,
        dropped: Arc<std::sync::atomic::AtomicBool>,
    }

    struct OnDrop(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    impl Relay for Abandoned {
        async fn relay(&self, _req: &Request) -> Result<Relayed, RelayError> {
            let _guard = OnDrop(self.dropped.clone());
            self.started.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Relayed::Empty)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_hang_up_drops_the_relay() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gw = Arc::new(Gateway::new(
            GatewayConfig {
                path: "/mi".into(),
                timeout: Duration::from_secs(3600),
                max_body: DEFAULT_MAX_BODY,
                allow: AllowList::default(),
            },
            Abandoned {
                started: std::sync::atomic::AtomicBool::new(false),
                dropped: dropped.clone(),
            },
        ));
        let _task = tokio::spawn(serve(l, gw.clone(), std::future::pending()));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = r#"{"jsonrpc":"2.0","method":"x","id":1}"#;
        let req = format!(
            "POST /mi HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        while !gw.relay_ref().started.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(s);
        tokio::time::timeout(Duration::from_secs(10), async {
            while !dropped.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the relay future is dropped when the HTTP client hangs up");
    }
}
