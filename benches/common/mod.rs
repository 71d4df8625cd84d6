//! Shared by the bench targets: start `mififo serve` (the release binary cargo
//! built for this bench), run a load point, read the knobs from the environment.
#![allow(dead_code)]

use mififo::bench::load::{self, Plan, Stop};
use mififo::bench::stats::Report;
use mififo::bench::{floor, Progress};
use mififo::client::{Client, ClientConfig};
use mififo::proto::jsonrpc::Params;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `mififo` binary built with this bench (release profile).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mififo"))
}

/// The binary that runs `serve`: `MIFIFO_BENCH_SERVE_BIN` (to compare another
/// build side by side with the same clients), else [`bin`].
pub fn serve_bin() -> PathBuf {
    std::env::var_os("MIFIFO_BENCH_SERVE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(bin)
}

/// Seconds per measurement point: `MIFIFO_BENCH_SECS` (default `default`).
pub fn secs(default: f64) -> Duration {
    let s = std::env::var("MIFIFO_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(default);
    Duration::from_secs_f64(s)
}

/// A count knob from the environment.
pub fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// A private directory for one bench target, removed on drop.
pub fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mififo-bench-")
        .tempdir()
        .expect("tempdir")
}

/// A running `mififo serve`, killed on drop.
pub struct Serve {
    child: Child,
    /// Its FIFO.
    pub fifo: PathBuf,
    /// Its reply directory (with the trailing slash).
    pub reply_dir: PathBuf,
}

impl Serve {
    /// Starts `mififo serve` on `dir/mi_fifo`, replies in `dir/`.
    pub fn start(dir: &Path) -> Serve {
        let fifo = dir.join("mi_fifo");
        let reply_dir = PathBuf::from(format!("{}/", dir.display()));
        let child = Command::new(serve_bin())
            .arg("-q")
            .arg("serve")
            // serve refuses a root start without --user; the bench keeps root.
            .args(if nix::unistd::geteuid().is_root() {
                &["--user", "root"][..]
            } else {
                &[]
            })
            .arg("--fifo")
            .arg(&fifo)
            .arg("--reply-dir")
            .arg(&reply_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mififo serve");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !has_reader(&fifo) {
            assert!(Instant::now() < deadline, "mififo serve did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Serve {
            child,
            fifo,
            reply_dir,
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory now, KiB.
    pub fn rss_kib(&self) -> u64 {
        mififo::bench::rss_kib(self.pid()).expect("VmRSS of the server")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use mififo::fifo::create::has_reader;

/// `clients` library clients sending `uptime` to `fifo` for `dur`.
pub fn lib_load(
    rt: &tokio::runtime::Runtime,
    fifo: &Path,
    reply_dir: &Path,
    clients: usize,
    dur: Duration,
) -> Report {
    let client = Client::new(ClientConfig {
        fifo: fifo.to_path_buf(),
        reply_dir: reply_dir.to_path_buf(),
        timeout: Duration::from_secs(10),
        ..Default::default()
    });
    let plan = Plan {
        method: "uptime".into(),
        params: Params::None,
        clients,
        stop: Stop::Duration(dur),
    };
    let (tally, elapsed) = rt.block_on(load::run(&client, &plan, &Progress::hidden()));
    tally.report("library client", clients, elapsed)
}

/// `clients` minimal blocking clients (the floor's) sending `uptime` to `fifo` for `dur`.
pub fn floor_client_load(fifo: &Path, reply_dir: &Path, clients: usize, dur: Duration) -> Report {
    let (tally, elapsed) = floor::drive(
        fifo,
        reply_dir,
        clients,
        Stop::Duration(dur),
        Duration::from_secs(10),
        &Progress::hidden(),
    );
    tally.report("floor client", clients, elapsed)
}

/// Panics when a run lost, misrouted or failed anything: a fast wrong answer is no figure.
pub fn assert_clean(what: &str, r: &Report) {
    assert_eq!(
        r.failures(),
        0,
        "{what}: {} errors, {} timeouts, {} misrouted; first: {:?}",
        r.errors,
        r.timeouts,
        r.misrouted,
        r.first_error
    );
}

/// A tokio runtime like `mififo bench` uses (`MIFIFO_BENCH_RT=current` for
/// a single-threaded one).
pub fn runtime() -> tokio::runtime::Runtime {
    if std::env::var("MIFIFO_BENCH_RT").is_ok_and(|v| v == "current") {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// For each filesystem the CPU tables compare (tmpfs, ext4): a `serve` and a
/// floor responder with their FIFOs there, passed to `row` with the row's
/// label and the floor's directory. When the filesystem is absent the row is
/// `| label |` followed by `missing`.
pub fn on_each_filesystem(
    missing: &str,
    mut row: impl FnMut(&str, &Serve, &floor::Responder, &Path),
) {
    for (label, base) in [
        ("tmpfs /dev/shm", "/dev/shm"),
        ("ext4 /var/tmp", "/var/tmp"),
    ] {
        if !Path::new(base).is_dir() {
            println!("| {label} |{missing}");
            continue;
        }
        let work = tempfile::Builder::new()
            .prefix("mififo-bench-")
            .tempdir_in(base)
            .expect("tempdir");
        let serve = Serve::start(work.path());
        let floor_dir = work.path().join("floor");
        std::fs::create_dir(&floor_dir).unwrap();
        let responder = floor::Responder::start(&floor_dir.join("mi_fifo"), &floor_dir).unwrap();
        row(label, &serve, &responder, &floor_dir);
    }
}
