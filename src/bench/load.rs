//! The load generator: N concurrent tasks, each sending one request at a time
//! through the library [`Client`] (so each exchange has its own reply FIFO)
//! with an id unique in the run, and checking that the reply carries that id.
//!
//! Ids stay within 1..=2^31−1, what every server echoes unchanged (OpenSIPS
//! prints ids as a C `int`, clamping larger ones to 2147483647). A reply with
//! an id of this run that is not its request's is *misrouted*; one with an id
//! this run never sent is *rewritten* by the server — reported as such, once,
//! in the summary (no log line per request).

use super::stats::{Outcome, Tally};
use super::Progress;
use crate::client::transport::Transport;
use crate::client::{Client, ErrorKind, Reply, ReplyKind};
use crate::proto::jsonrpc::{self, Params, Request};
use crate::proto::Dialect;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many requests in total (shared by all clients).
    Requests(u64),
    /// When this much time has passed (requests in flight are completed).
    Duration(Duration),
}

/// Hands out request sequence numbers, shared by every worker of a run,
/// until its [`Stop`]: a request count or a deadline.
#[derive(Debug, Clone)]
pub struct Sequence {
    next: Arc<AtomicU64>,
    limit: u64,
    deadline: Option<Instant>,
}

impl Sequence {
    /// A sequence from 0 for a run that starts at `start`.
    pub fn new(stop: Stop, start: Instant) -> Sequence {
        let (limit, deadline) = match stop {
            Stop::Requests(n) => (n, None),
            Stop::Duration(d) => (u64::MAX, Some(start + d)),
        };
        Sequence {
            next: Arc::new(AtomicU64::new(0)),
            limit,
            deadline,
        }
    }

    /// The next number, or `None` once the run is over.
    pub fn take(&self) -> Option<u64> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        (seq < self.limit).then_some(seq)
    }

    /// How many numbers have been handed out so far.
    pub fn issued(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.limit)
    }
}

/// One run of the load generator.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The MI method.
    pub method: String,
    /// Its parameters.
    pub params: Params,
    /// Concurrent clients (tasks), at least 1.
    pub clients: usize,
    /// When to stop.
    pub stop: Stop,
}

/// Runs `plan` against the server `client` talks to; returns the merged tally
/// and the wall-clock time. Must be called inside a Tokio runtime.
pub async fn run(client: &Client, plan: &Plan, progress: &Progress) -> (Tally, Duration) {
    run_on(&Transport::Fifo(client.clone()), plan, progress).await
}

/// [`run`] over any transport (FIFO, HTTP, datagram).
pub async fn run_on(client: &Transport, plan: &Plan, progress: &Progress) -> (Tally, Duration) {
    // Ids: a counter from a random start, wrapping within 1..=2^31−1, so
    // unique in any run shorter than 2^31−1 requests, and two runs against the
    // same server are unlikely to share one.
    let ids = Ids::new();
    let start = Instant::now();
    let next = Sequence::new(plan.stop, start);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.clients.max(1) {
        let client = client.clone();
        let plan = plan.clone();
        let next = next.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while let Some(seq) = next.take() {
                let id = Value::from(ids.id(seq));
                let request = Request::new(plan.method.clone(), plan.params.clone(), Some(id));
                let t0 = Instant::now();
                let result = client.send(&request).await;
                let latency = t0.elapsed();
                let got = match &result {
                    Err(crate::client::Error::ForeignReply { got, sent, .. }) => {
                        Some((got.clone(), sent.clone()))
                    }
                    _ => None,
                };
                let (mut outcome, replied, error) = classify(client.dialect(), &request, result);
                // Misrouted only if the id is one this run sent (by now).
                if let (Outcome::Misrouted, Some((got, _))) = (outcome, &got) {
                    let issued = next.issued();
                    if !got.parse::<u64>().is_ok_and(|g| ids.issued(g, issued)) {
                        outcome = Outcome::IdRewritten;
                    }
                }
                if let (Outcome::IdRewritten, Some((got, sent)), None) =
                    (outcome, &got, &tally.first_rewrite)
                {
                    tally.first_rewrite =
                        Some(super::stats::quoted(format!("sent {sent}, got {got}")));
                }
                tally.record(outcome, replied.then_some(latency), error);
                progress.tick(outcome != Outcome::Ok);
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(t) = tasks.join_next().await {
        match t {
            Ok(t) => total.merge(t),
            Err(e) => total.record(
                Outcome::Error,
                None,
                Some(format!("client task failed: {e}")),
            ),
        }
    }
    (total, start.elapsed())
}

/// The ids of one run: `1 + (start + seq) mod (2^31 − 1)`.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    start: u64,
}

/// How many ids there are: 1..=2^31−1.
const ID_SPACE: u64 = i32::MAX as u64;

impl Ids {
    /// A random start.
    pub fn new() -> Ids {
        Ids {
            start: fastrand::u64(..ID_SPACE),
        }
    }

    /// The id of request `seq`.
    pub fn id(&self, seq: u64) -> u64 {
        1 + (self.start + seq) % ID_SPACE
    }

    /// True when `id` is the id of one of the first `issued` requests.
    pub fn issued(&self, id: u64, issued: u64) -> bool {
        if !(1..=ID_SPACE).contains(&id) {
            return false;
        }
        let seq = (id - 1 + ID_SPACE - self.start % ID_SPACE) % ID_SPACE;
        seq < issued
    }
}

impl Default for Ids {
    fn default() -> Self {
        Ids::new()
    }
}

/// How an exchange ended: outcome, whether a reply came back, and a failure text.
///
/// A reply with another id ([`crate::client::Error::ForeignReply`]) is
/// [`Outcome::Misrouted`] when that id could be one of ours (an integer in
/// 1..=2^31−1), else [`Outcome::IdRewritten`]; [`run`] refines this with the
/// ids it actually sent.
pub fn classify(
    dialect: Dialect,
    request: &Request,
    result: Result<Reply, crate::client::Error>,
) -> (Outcome, bool, Option<String>) {
    let reply = match result {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::Timeout => {
            return (Outcome::Timeout, false, Some(e.to_string()))
        }
        Err(crate::client::Error::ForeignReply { sent, got, .. }) => {
            let ours = got
                .parse::<u64>()
                .is_ok_and(|g| (1..=ID_SPACE).contains(&g));
            let why = format!("reply id {got} for request id {sent}");
            let outcome = if ours {
                Outcome::Misrouted
            } else if got == "null" {
                // The server could not read the id (-32600): an error reply.
                Outcome::Error
            } else {
                Outcome::IdRewritten
            };
            return (outcome, true, Some(why));
        }
        Err(e) => return (Outcome::Error, false, Some(crate::error::chain(&e))),
    };
    let text = |raw: &[u8]| {
        String::from_utf8_lossy(raw)
            .chars()
            .take(200)
            .collect::<String>()
    };
    match (&reply.kind, dialect) {
        // The client accepted it: its id is the request's.
        (ReplyKind::Json(resp), _) => match &resp.outcome {
            jsonrpc::Outcome::Result(_) => (Outcome::Ok, true, None),
            jsonrpc::Outcome::Error(e) => (
                Outcome::Error,
                true,
                Some(format!("'{}' failed: {e}", request.method)),
            ),
        },
        (ReplyKind::Empty, _) => (
            Outcome::Error,
            true,
            Some("the server closed the reply FIFO without writing anything".into()),
        ),
        (ReplyKind::Text(_), Dialect::Text) if !reply.is_error(Dialect::Text) => {
            (Outcome::Ok, true, None)
        }
        (ReplyKind::Text(_), _) => (
            Outcome::Error,
            true,
            Some(format!("error reply: {}", text(&reply.raw))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(dialect: Dialect, raw: &[u8]) -> Result<Reply, crate::client::Error> {
        crate::client::accept::accept(
            dialect,
            Some(&json!(42)),
            raw.to_vec(),
            std::path::Path::new("/r"),
        )
    }

    #[test]
    fn replies_are_checked_against_their_request() {
        let req = Request::new("uptime", Params::None, Some(json!(42)));
        let ok = reply(Dialect::Json, br#"{"jsonrpc":"2.0","result":{},"id":42}"#);
        assert_eq!(classify(Dialect::Json, &req, ok).0, Outcome::Ok);
        let other = reply(Dialect::Json, br#"{"jsonrpc":"2.0","result":{},"id":43}"#);
        assert_eq!(classify(Dialect::Json, &req, other).0, Outcome::Misrouted);
        // Ids no run of ours sends: the server rewrote ours.
        for rewritten in [r#""42""#, "2147483647.5", "0", "-42", "4294967296"] {
            let raw = format!(r#"{{"jsonrpc":"2.0","result":{{}},"id":{rewritten}}}"#);
            let (o, replied, _) =
                classify(Dialect::Json, &req, reply(Dialect::Json, raw.as_bytes()));
            assert_eq!((o, replied), (Outcome::IdRewritten, true), "{rewritten}");
        }
        let err = reply(
            Dialect::Json,
            br#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":42}"#,
        );
        let (o, replied, why) = classify(Dialect::Json, &req, err);
        assert_eq!((o, replied), (Outcome::Error, true));
        assert!(why.unwrap().contains("Method not found"));
        let null = reply(
            Dialect::Json,
            br#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#,
        );
        assert_eq!(classify(Dialect::Json, &req, null).0, Outcome::Error);
        assert_eq!(
            classify(Dialect::Json, &req, reply(Dialect::Json, b"")).0,
            Outcome::Error
        );
        assert_eq!(
            classify(
                Dialect::Json,
                &req,
                reply(Dialect::Json, b"failed to print response")
            )
            .0,
            Outcome::Error
        );
        assert_eq!(
            classify(
                Dialect::Text,
                &req,
                reply(Dialect::Text, b"200 OK\nx:: 1\n\n")
            )
            .0,
            Outcome::Ok
        );
        assert_eq!(
            classify(
                Dialect::Text,
                &req,
                reply(Dialect::Text, b"500 command 'x' not available\n")
            )
            .0,
            Outcome::Error
        );
        let (o, replied, why) = classify(Dialect::Json, &req, Err(timeout_error()));
        assert_eq!((o, replied), (Outcome::Timeout, false));
        assert_eq!(why, Some(timeout_error().to_string()));
    }

    fn timeout_error() -> crate::client::Error {
        crate::client::Error::Timeout {
            fifo: "/f".into(),
            reply_path: "/r".into(),
            reply_dir: "/".into(),
            timeout: Duration::from_secs(1),
            stage: crate::client::TimeoutStage::NoReply,
            server_gone: false,
        }
    }

    /// A client of the FIFO `fifo` with its reply FIFOs in `dir`.
    fn client_for(fifo: &std::path::Path, dir: &std::path::Path) -> Client {
        Client::new(crate::client::ClientConfig {
            fifo: fifo.to_path_buf(),
            reply_dir: dir.to_path_buf(),
            timeout: Duration::from_secs(10),
            ..Default::default()
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_library_client_drives_the_floor_responder_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("mi_fifo");
        let responder = crate::bench::floor::Responder::start(&fifo, dir.path()).unwrap();
        let client = client_for(&fifo, dir.path());
        let plan = Plan {
            method: "uptime".into(),
            params: Params::None,
            clients: 8,
            stop: Stop::Requests(300),
        };
        let progress = Progress::hidden();
        let (tally, _) = run(&client, &plan, &progress).await;
        assert_eq!(
            (tally.requests, tally.ok),
            (300, 300),
            "{:?}",
            tally.first_error
        );
        assert_eq!(progress.done(), 300);
        drop(responder);
        // Every reply FIFO was removed, and the responder removed its FIFO.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn ids_stay_in_range_unique_and_are_recognised() {
        let ids = Ids {
            start: ID_SPACE - 3,
        };
        let got: Vec<u64> = (0..6).map(|s| ids.id(s)).collect();
        assert_eq!(got, vec![ID_SPACE - 2, ID_SPACE - 1, ID_SPACE, 1, 2, 3]);
        assert!(ids.issued(ID_SPACE, 3));
        assert!(!ids.issued(1, 3));
        assert!(ids.issued(1, 4));
        assert!(!ids.issued(0, 100) && !ids.issued(ID_SPACE + 1, 100));
        let r = Ids::new();
        let mut seen: Vec<u64> = (0..10_000).map(|s| r.id(s)).collect();
        assert!(seen.iter().all(|&i| (1..=ID_SPACE).contains(&i)));
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10_000);
    }

    #[tokio::test]
    async fn a_dead_server_counts_errors_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let client = client_for(&dir.path().join("none"), dir.path());
        let plan = Plan {
            method: "uptime".into(),
            params: Params::None,
            clients: 3,
            stop: Stop::Requests(10),
        };
        let (tally, _) = run(&client, &plan, &Progress::hidden()).await;
        assert_eq!((tally.requests, tally.errors, tally.ok), (10, 10, 0));
        assert!(tally.first_error.unwrap().contains("does not exist"));
    }
}
