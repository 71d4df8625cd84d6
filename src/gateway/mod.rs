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
//! - [`browser`]: `Host`, `Origin` and `Content-Type` checks (CSRF, DNS rebinding).
//! - [`auth`]: HTTP Basic users from a file, password hashes.
//! - [`policy`]: which MI methods may run (globs, the read-only preset).
//! - [`audit`]: one structured log line per request.
//! - [`limits`]: connection cap from the descriptor limit; log rate limits.
//! - [`slots`]: the connection slots; a stalled connection makes room.
//! - [`tls`]: optional HTTPS (rustls).
//! - [`listen`]: binding, optionally inside another network namespace.
//! - `fifo`: the production relay, [`crate::client::Client`].
//!
//! [`serve`] runs the accept loop: one task per connection, at most
//! `max_connections` of them (the next one closes the longest-stalled
//! connection and takes its slot, or, when none has stalled, is answered
//! 503 and closed at once),
//! HTTP/1.1 keep-alive with one request in flight per connection, headers,
//! body and idle keep-alive each bounded by `client_timeout`, and a
//! graceful stop that lets in-flight requests finish (or, after a grace
//! period, drops them — which releases their reply FIFOs).

pub mod access;
pub mod audit;
pub mod auth;
pub mod browser;
pub mod code;
mod fifo;
pub mod limits;
pub mod listen;
pub mod policy;
pub mod relay;
pub mod service;
pub mod slots;
pub mod tls;

pub use access::AllowList;
pub use browser::BrowserPolicy;
pub use policy::Policy;
pub use relay::{Relay, RelayError, RelayErrorKind, Relayed};
pub use service::Gateway;

use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Default `--max-body`: comfortably above the 4096-byte FIFO request limit.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// Default `--client-timeout`: headers, body, TLS handshake, keep-alive idle.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Accepted `Host` and `Origin` values.
    pub browser: BrowserPolicy,
    /// HTTP Basic users; `None` = no authentication.
    pub users: Option<Arc<auth::UserStore>>,
    /// The global command policy (every user's own policy applies on top).
    pub policy: Policy,
    /// Log request params in the audit line (`--audit-params`).
    pub audit_params: bool,
    /// Limit for a client to send its headers, its body, a TLS handshake,
    /// and for an idle keep-alive connection.
    pub client_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl GatewayConfig {
    /// Defaults for a gateway bound to `local`: `/mi`, 10 s, no auth, no policy.
    pub fn new(local: SocketAddr) -> Self {
        GatewayConfig {
            path: "/mi".into(),
            timeout: Duration::from_secs(10),
            max_body: DEFAULT_MAX_BODY,
            allow: AllowList::default(),
            browser: BrowserPolicy::for_listener(local),
            users: None,
            policy: Policy::allow_all(),
            audit_params: false,
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
            max_connections: limits::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// How long a stopping gateway waits for in-flight requests beyond their timeout.
const DRAIN_MARGIN: Duration = Duration::from_secs(1);
/// At most one line per this interval for repeated accept failures.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// What a connection over the cap gets before it is closed.
const OVERLOADED_REPLY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\nConnection: close\r\nContent-Length: 129\r\n\r\n\
{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32027,\"message\":\"Too many connections\",\
\"data\":\"try again later (--max-connections)\"},\"id\":null}";

/// Serves HTTP (or HTTPS with `tls`) on `listener` until `shutdown`
/// completes, then stops accepting, lets in-flight requests finish (at most
/// their timeout plus a margin) and returns.
pub async fn serve<R: Relay>(
    listener: TcpListener,
    gateway: Arc<Gateway<R>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = JoinSet::new();
    let slots = slots::Slots::new(gateway.config().max_connections);
    let mut accept_errors = limits::RateLimitedLog::new(ACCEPT_LOG_INTERVAL);
    let mut over_cap = limits::RateLimitedLog::new(ACCEPT_LOG_INTERVAL);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let gw = gateway.clone();
                    let stop = stop_rx.clone();
                    let tls = tls.clone();
                    if let Some(slot) = slots.try_take() {
                        conns.spawn(run(stream, peer, slot, gw, stop, tls));
                    } else if let Some(handover) = slots.evict_stalled(slots::STALL) {
                        // A stalled connection was told to close; take its slot.
                        let slots = slots.clone();
                        conns.spawn(async move {
                            match slots.take_handed_over(handover).await {
                                Some(slot) => run(stream, peer, slot, gw, stop, tls).await,
                                None => {
                                    let _ = stream.try_write(OVERLOADED_REPLY);
                                }
                            }
                        });
                    } else {
                        // Every slot is relaying or fresh: refused at once,
                        // one non-blocking write, then close.
                        let _ = stream.try_write(OVERLOADED_REPLY);
                        if let Some(n) = over_cap.hit(std::time::Instant::now()) {
                            tracing::warn!(
                                %peer,
                                max_connections = gateway.config().max_connections,
                                refused_since_last_line = n,
                                "connection refused: too many connections"
                            );
                        }
                    }
                }
                Err(e) => {
                    if let Some(n) = accept_errors.hit(std::time::Instant::now()) {
                        tracing::warn!(error = %e, repeated_since_last_line = n, "accept failed");
                    }
                    // EMFILE and friends: back off instead of spinning.
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

/// One accepted connection in its slot: the TLS handshake if any, then
/// its requests; closed early when the slot is needed for a newcomer.
async fn run<R: Relay>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut slot: slots::Slot,
    gw: Arc<Gateway<R>>,
    stop: tokio::sync::watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let state = slot.state.clone();
    let watched = state.clone();
    let limit = gw.config().client_timeout;
    let work = async move {
        match tls {
            None => connection(stream, peer, gw, stop, state).await,
            Some(acceptor) => match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(s)) => connection(s, peer, gw, stop, state).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            },
        }
    };
    let evicted = async {
        // A request that reached the relay between the choice and the signal
        // is finished, not cut (the newcomer then gives up after its wait).
        if (&mut slot.evicted).await.is_err() || watched.is_relaying() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = work => {}
        () = evicted => tracing::debug!(%peer, "stalled connection closed to make room"),
    }
}

/// Serves one connection's requests, one at a time, until it closes, idles
/// past `client_timeout`, or the gateway stops.
async fn connection<R, S>(
    stream: S,
    peer: SocketAddr,
    gw: Arc<Gateway<R>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    state: Arc<slots::ConnState>,
) where
    R: Relay,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limit = gw.config().client_timeout;
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let gw = gw.clone();
        let state = state.clone();
        req.extensions_mut().insert(slots::Activity(state.clone()));
        async move {
            let resp = gw.handle(peer.ip(), req).await;
            state.answered();
            Ok::<_, Infallible>(resp)
        }
    });
    // header_read_timeout also runs while a keep-alive connection waits for
    // its next request, so it bounds idle connections too.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limit)
        .max_buf_size(64 * 1024)
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
        try_post(addr, body).await.unwrap()
    }

    /// [`post`], with a refused or reset connection as an error (a 503 sent
    /// and closed while the request is still being written resets it).
    async fn try_post(addr: std::net::SocketAddr, body: String) -> std::io::Result<String> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!(
            "POST /mi HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
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
                timeout: Duration::from_secs(30),
                ..GatewayConfig::new(addr)
            },
            slow,
        ));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(l, gw.clone(), None, async {
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
                timeout: Duration::from_secs(3600),
                ..GatewayConfig::new(addr)
            },
            Abandoned {
                started: std::sync::atomic::AtomicBool::new(false),
                dropped: dropped.clone(),
            },
        ));
        let _task = tokio::spawn(serve(l, gw.clone(), None, std::future::pending()));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = r#"{"jsonrpc":"2.0","method":"x","id":1}"#;
        let req = format!(
            "POST /mi HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
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

    /// A gateway with two connection slots and a client timeout long enough
    /// never to free one.
    async fn start_two_slots() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        start_with(|c| GatewayConfig {
            max_connections: 2,
            client_timeout: Duration::from_secs(60),
            ..c
        })
        .await
    }

    async fn start_with(
        cfg: impl FnOnce(GatewayConfig) -> GatewayConfig,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let gw = Arc::new(Gateway::new(cfg(GatewayConfig::new(addr)), slow()));
        let task = tokio::spawn(serve(l, gw, None, std::future::pending()));
        (addr, task)
    }

    /// Reads until the gateway closes the connection; panics when it is
    /// still open after 20 s.
    async fn read_until_closed(s: &mut tokio::net::TcpStream) -> String {
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
        assert!(
            read.is_ok(),
            "connection still open after 20 s; got {:?}",
            String::from_utf8_lossy(&out)
        );
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_that_never_completes_gets_408_and_the_connection_closes() {
        // Issue finding 2: Content-Length 100 and one byte kept the connection for > 90 s.
        let (addr, _task) = start_with(|c| GatewayConfig {
            client_timeout: Duration::from_millis(300),
            ..c
        })
        .await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /mi HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let out = read_until_closed(&mut s).await;
        assert!(out.starts_with("HTTP/1.1 408"), "{out:?}");
        assert!(out.contains("-32026"), "{out}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_and_slow_header_connections_are_closed() {
        let (addr, _task) = start_with(|c| GatewayConfig {
            client_timeout: Duration::from_millis(300),
            ..c
        })
        .await;
        // Keep-alive: one request answered, then idle → closed.
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = r#"{"jsonrpc":"2.0","method":"s","params":[0],"id":1}"#;
        let req = format!(
            "POST /mi HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let out = read_until_closed(&mut s).await;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        // Half a header line, never finished.
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /mi HTTP/1.1\r\nHost: ").await.unwrap();
        let _ = read_until_closed(&mut s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_over_the_cap_are_refused_at_once() {
        // Issue finding 3: with no cap, connections starved real clients.
        // Both slots are busy relaying (nothing stalled): the next is refused.
        let (addr, _task) = start_two_slots().await;
        let mut held = Vec::new();
        for i in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let body = format!(r#"{{"jsonrpc":"2.0","method":"s","params":[5000],"id":{i}}}"#);
            let req = format!(
                "POST /mi HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).await.unwrap();
            held.push(s);
        }
        // Let the gateway accept both and start relaying.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        let out = read_until_closed(&mut extra).await;
        assert!(out.starts_with("HTTP/1.1 503"), "{out:?}");
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], code::OVERLOADED);
        // A slot freed is a slot usable again.
        drop(held.pop());
        let mut ok = None;
        for _ in 0..100 {
            let r = try_post(
                addr,
                r#"{"jsonrpc":"2.0","method":"s","params":[0],"id":2}"#.into(),
            )
            .await;
            // Until the slot is back: a 503, or a reset after one.
            if let Some(r) = r.ok().filter(|r| r.starts_with("HTTP/1.1 200")) {
                ok = Some(r);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok.is_some(), "no slot came back after a client left");
    }

    #[test]
    fn overloaded_reply_is_well_formed() {
        let text = std::str::from_utf8(OVERLOADED_REPLY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], code::OVERLOADED);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_requests_on_one_connection_run_one_at_a_time() {
        let (addr, gw, _tx, _task) = start(slow()).await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut all = String::new();
        for i in 0..4 {
            let body = format!(r#"{{"jsonrpc":"2.0","method":"s","params":[100],"id":{i}}}"#);
            let close = if i == 3 { "Connection: close\r\n" } else { "" };
            all.push_str(&format!(
                "POST /mi HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 {close}Content-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        }
        s.write_all(all.as_bytes()).await.unwrap();
        let out = read_until_closed(&mut s).await;
        let ids: Vec<_> = out
            .match_indices(r#""id":"#)
            .map(|(i, _)| &out[i + 5..i + 6])
            .collect();
        assert_eq!(ids, ["0", "1", "2", "3"], "{out}");
        assert_eq!(gw.relay_ref().peak.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_connections_make_room_for_prompt_clients() {
        // One hostile client holding every slot by trickling delays only
        // itself: a prompt client takes the slot of the longest-stalled one.
        let (addr, _task) = start_two_slots().await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"POST /mi HTTP/1.1\r\n").await.unwrap();
            held.push(s);
        }
        tokio::time::sleep(slots::STALL + Duration::from_millis(300)).await;
        let r = post(
            addr,
            r#"{"jsonrpc":"2.0","method":"s","params":[0],"id":"prompt"}"#.into(),
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains(r#""id":"prompt""#), "{r}");
        // Exactly one of the trickling connections was closed for it.
        let mut closed = 0;
        for s in &mut held {
            let mut buf = [0u8; 1];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await
            {
                closed += 1;
            }
        }
        assert_eq!(closed, 1);
    }
}
