//! Reliability of `mififo serve` under load and abuse, measured with the
//! library client: every request has a unique id and its own reply FIFO, and
//! every reply is checked against its request, so a lost or misrouted reply is
//! counted, never hidden.
//!
//! - `soak`: many clients, mixed methods and request sizes up to 4 KiB; zero
//!   lost, zero misrouted, no reply FIFO left behind, RSS flat. Sized for
//!   seconds; `MIFIFO_SOAK=1` runs 64 clients × 1,000 requests.
//! - `faults`: while loaded — clients SIGKILLed between request and reply, a
//!   client that never reads, the FIFO deleted and replaced, SIGHUP, garbage
//!   writers, the server SIGKILLed and restarted.
//! - `bench_cli`: `mififo bench` counts misrouted and error replies, never hides them.
//! - `props`: property tests — any byte stream, to the framers and to a live
//!   server: no panic, and later valid requests are still answered.

mod bench_cli;
mod faults;
mod props;
mod soak;

use crate::util::{Server, TestEnv};
use mififo::bench::load::classify;
use mififo::bench::stats::Outcome as Seen;
use mififo::client::{Client, ClientConfig, ErrorKind};
use mififo::proto::jsonrpc::{Params, Request};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Generous per-request deadline: only detects a lost request.
pub const LOST: Duration = Duration::from_secs(5);

/// A `--commands` file with a command that accepts any payload, one that is
/// slow, and one whose reply is larger than a pipe's buffer.
pub fn commands_file(env: &TestEnv) -> PathBuf {
    let path = env.path("commands.json");
    let big = "x".repeat(256 * 1024);
    let v = json!({
        "commands": {
            "payload": {"help": "accepts anything", "result": {"ok": true}},
            "slow": {"help": "answers late", "result": {"slow": true}, "delay_ms": 400},
            "big": {"help": "a 256 KiB reply", "result": big},
        }
    });
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

/// `mififo serve` with [`commands_file`] and extra `args`.
pub fn serve(env: &TestEnv, args: &[&str]) -> Server {
    let cmds = commands_file(env);
    let mut all = vec!["--commands", cmds.to_str().unwrap()];
    all.extend_from_slice(args);
    env.serve(&all)
}

/// A library client for the env's server.
pub fn client(env: &TestEnv, timeout: Duration) -> Client {
    Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        timeout,
        ..Default::default()
    })
}

/// Entries of the env's directory that are neither the server FIFO nor our files:
/// reply FIFOs somebody left behind.
pub fn leftovers(env: &TestEnv) -> Vec<String> {
    std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "mi_fifo" && !n.ends_with(".json"))
        .collect()
}

/// Resident memory of `pid`, KiB.
pub fn rss(pid: i32) -> u64 {
    mififo::bench::rss_kib(pid as u32).expect("server VmRSS")
}

/// One request of the mixed workload and the answer it must get.
pub struct Mixed {
    /// Method.
    pub method: &'static str,
    /// Params.
    pub params: Params,
    /// `Some(code)` when the correct answer is that JSON-RPC error.
    pub error: Option<i64>,
}

/// The `n`-th request of the mixed workload: small and large requests (up to
/// 4 KiB on the wire), small and large replies, a correct error.
pub fn mixed(n: u64) -> Mixed {
    let payload = |len: usize| Params::Positional(vec![Value::String("p".repeat(len))]);
    match n % 7 {
        0 => Mixed {
            method: "uptime",
            params: Params::None,
            error: None,
        },
        1 => Mixed {
            method: "get_statistics",
            params: Params::Positional(vec![json!(["all"])]),
            error: None,
        },
        2 => Mixed {
            method: "which",
            params: Params::None,
            error: None,
        },
        // ~4000 bytes on the wire: the largest a client sends atomically.
        3 => Mixed {
            method: "payload",
            params: payload(3900),
            error: None,
        },
        4 => Mixed {
            method: "payload",
            params: payload((n as usize * 37) % 3900),
            error: None,
        },
        5 => Mixed {
            method: "no_such_command",
            params: Params::None,
            error: Some(-32601),
        },
        _ => Mixed {
            method: "version",
            params: Params::None,
            error: None,
        },
    }
}

/// What a load saw.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: u64,
    pub ok: u64,
    pub misrouted: u64,
    pub timeouts: u64,
    pub no_server: u64,
    pub other: u64,
    /// The first few failure messages (shown by `{:?}` in assertions).
    #[allow(dead_code)]
    pub samples: Vec<String>,
}

impl Counts {
    /// Failures of any kind.
    pub fn failures(&self) -> u64 {
        self.misrouted + self.timeouts + self.no_server + self.other
    }
}

/// Counters shared by the tasks of a load.
#[derive(Default)]
struct Shared {
    requests: AtomicU64,
    ok: AtomicU64,
    misrouted: AtomicU64,
    timeouts: AtomicU64,
    no_server: AtomicU64,
    other: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Shared {
    fn note(&self, what: &AtomicU64, msg: String) {
        what.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap();
        if s.len() < 5 {
            s.push(msg);
        }
    }
    fn snapshot(&self) -> Counts {
        Counts {
            requests: self.requests.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            misrouted: self.misrouted.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            no_server: self.no_server.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
            samples: self.samples.lock().unwrap().clone(),
        }
    }
}

/// Sends one mixed request `n` with id `id` and records what came back.
async fn one(client: &Client, shared: &Shared, n: u64, id: u64) {
    let m = mixed(n);
    let req = Request::new(m.method, m.params, Some(json!(id)));
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let result = client.send(&req).await;
    let kind = result.as_ref().err().map(|e| e.kind());
    let (seen, _, why) = classify(client.config().dialect, &req, result);
    let why = why.unwrap_or_default();
    match (seen, m.error) {
        (Seen::Ok, None) => {
            shared.ok.fetch_add(1, Ordering::Relaxed);
        }
        (Seen::Error, Some(code)) if why.contains(&code.to_string()) => {
            shared.ok.fetch_add(1, Ordering::Relaxed);
        }
        (Seen::Misrouted, _) => shared.note(&shared.misrouted, why),
        (Seen::Timeout, _) => shared.note(&shared.timeouts, why),
        _ if kind == Some(ErrorKind::NoServer) => shared.note(&shared.no_server, why),
        _ => shared.note(&shared.other, format!("{}: {why}", m.method)),
    }
}

/// Runs `clients` tasks × `per_client` mixed requests to completion.
pub fn run_fixed(client: &Client, clients: usize, per_client: u64) -> Counts {
    let shared = Arc::new(Shared::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = fastrand::u64(1..1 << 40) << 12;
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for c in 0..clients as u64 {
            let client = client.clone();
            let shared = shared.clone();
            set.spawn(async move {
                for i in 0..per_client {
                    let n = c * per_client + i;
                    one(&client, &shared, n, base + n).await;
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    });
    shared.snapshot()
}

/// A load running in the background until [`Background::stop`].
pub struct Background {
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts `clients` tasks sending mixed requests in a loop.
    pub fn start(client: &Client, clients: usize) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let (c, st, sh) = (client.clone(), stop.clone(), shared.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let next = Arc::new(AtomicU64::new(0));
            let base = fastrand::u64(1..1 << 40) << 12;
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..clients {
                    let (c, st, sh, next) = (c.clone(), st.clone(), sh.clone(), next.clone());
                    set.spawn(async move {
                        while !st.load(Ordering::Relaxed) {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            one(&c, &sh, n, base + n).await;
                        }
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            });
        });
        Background {
            stop,
            shared,
            thread: Some(thread),
        }
    }

    /// Requests finished so far.
    pub fn done(&self) -> u64 {
        let s = self.shared.snapshot();
        s.ok + s.failures()
    }

    /// Waits until at least `n` more requests finished (or a generous deadline).
    pub fn wait_for(&self, n: u64) {
        let target = self.done() + n;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.done() < target {
            assert!(
                std::time::Instant::now() < deadline,
                "load made no progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the load (requests in flight finish) and returns what it saw.
    pub fn stop(mut self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.shared.snapshot()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
