//! `mififo gateway` and `serve --forward`: plain HTTP clients, curl and
//! opensips-cli (HTTP mode) against the gateway in front of `mififo serve`;
//! the documented error statuses; chaining; network namespaces (root); the
//! attacks of issue 12 (`hardening`); authentication, command policy, audit
//! log, TLS, CP-style PHP (`auth`).

pub(crate) mod auth;
mod forward;
mod hardening;
mod http;
mod netns;

use crate::util::{self, TestEnv};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `mififo gateway`; SIGTERM (then SIGKILL) on drop.
pub struct Gateway {
    child: Option<Child>,
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://ADDR/PATH` as printed by the gateway.
    pub url: String,
    log: PathBuf,
}

impl Gateway {
    /// Starts `mififo gateway --listen 127.0.0.1:0 --fifo FIFO --reply-dir DIR ARGS…`.
    pub fn start(env: &TestEnv, fifo: &Path, args: &[&str]) -> Gateway {
        let mut cmd = env.cmd_at("gateway", fifo);
        cmd.args(["--listen", "127.0.0.1:0"]).args(args);
        Self::spawn(env, cmd)
    }

    /// Spawns a prepared `mififo gateway` command and waits for its URL line.
    /// As root, a `mififo` command without `--user` gets `--user root`: the
    /// temp dirs are root's, and the gateway refuses root without `--user`.
    pub fn spawn(env: &TestEnv, mut cmd: Command) -> Gateway {
        if util::is_root()
            && cmd.get_program() == util::bin().as_os_str()
            && !cmd.get_args().any(|a| a == "--user")
        {
            cmd.args(["--user", "root"]);
        }
        let log = env.path(&format!("gateway-{}.log", fastrand_suffix()));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn mififo gateway");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Some(url) = line
            .trim()
            .strip_prefix("listening on ")
            .map(str::to_string)
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "gateway did not start (stdout {line:?}); stderr: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let hostport = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|r| r.split('/').next())
            .unwrap();
        Gateway {
            child: Some(child),
            addr: hostport.parse().unwrap(),
            url,
            log,
        }
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The gateway's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("gateway did not stop on SIGTERM; stderr: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            util::terminate(&mut c, Duration::from_secs(5));
        }
    }
}

fn fastrand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A FIFO with a reader that never answers: requests are accepted, replies never come.
pub struct SilentFifo {
    /// The FIFO's path.
    pub path: PathBuf,
    _reader: std::fs::File,
}

impl SilentFifo {
    /// Creates `env/name` and holds it open read-write.
    pub fn new(env: &TestEnv, name: &str) -> SilentFifo {
        let path = env.path(name);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        SilentFifo {
            path,
            _reader: reader,
        }
    }
}

/// FIFOs in `dir` other than `keep` — leaked reply FIFOs.
pub fn stray_fifos(dir: &Path, keep: &[&Path]) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_fifo()))
        .map(|e| e.path())
        .filter(|p| !keep.iter().any(|k| k == p))
        .collect()
}

/// The JSON-RPC error code of a reply body.
pub fn error_code(body: &[u8]) -> i64 {
    let v: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code: {v}"))
}

/// The opensips-cli binary on PATH (CI puts `.ci/venv/bin` there).
pub fn opensips_cli() -> Option<PathBuf> {
    util::find_tool("opensips-cli")
}
