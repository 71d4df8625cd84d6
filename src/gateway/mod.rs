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
//!
//! [`serve`] runs the accept loop: one task per connection, HTTP/1.1
//! keep-alive, and a graceful stop that lets in-flight requests finish (or,
//! after a grace period, drops them — which releases their reply FIFOs).

pub mod access;
pub mod code;
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
                            async move { Ok::<_, Infallible>(gw.handle(peer.ip(), req).await) }
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
