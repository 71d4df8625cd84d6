//! Test harness shared by every integration module (after fd's `TestEnv`).
#![allow(dead_code)]

pub mod root;
pub mod tmux;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mififo"))
}

/// True when running as root (root-only tests run in CI, which is root).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// What `mififo serve` needs to start as the current user: as root, an
/// explicit `--user root` (serve refuses a root start without `--user`).
pub fn serve_user_args() -> &'static [&'static str] {
    if is_root() {
        &["--user", "root"]
    } else {
        &[]
    }
}

/// Interop and root tests call this: `false` means "skip" locally, but when
/// `MIFIFO_REQUIRE_INTEROP=1` (set by `.ci/run`) a missing tool fails the test.
///
/// A skip is said on the real stderr, past the test harness's capture, so a
/// plain `cargo test` shows `skipped: <test>: <what> not available` beside
/// the harness's "N passed" (a test that returns early counts as passed).
/// Root-only tests are also marked, so that a build as an ordinary user lists
/// them as *ignored* with the reason (the cfg comes from build.rs):
///
/// ```ignore
/// #[test]
/// #[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
/// fn owned_by_another_user() {
///     if !require("root (chown)", is_root()) {
///         return;
///     }
/// }
/// ```
pub fn require(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if std::env::var_os("MIFIFO_REQUIRE_INTEROP").is_some_and(|v| v == "1") {
        panic!("{what} is required (MIFIFO_REQUIRE_INTEROP=1) but not available");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // Not eprintln!: the harness captures that and shows it only on failure.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped: {test}: {what} not available (counted as passed)"
    );
    false
}

/// True when `tool` is an executable on PATH.
pub fn have_tool(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The absolute path of `tool` on PATH, if any (for commands run with a cleared PATH).
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .ok()?;
    let p = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && p.starts_with('/')).then(|| PathBuf::from(p))
}

/// A temporary directory with helpers to run `mififo` inside it.
pub struct TestEnv {
    /// The directory; removed on drop.
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// A new, empty environment.
    pub fn new() -> Self {
        TestEnv {
            dir: tempfile::Builder::new()
                .prefix("mififo-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// `dir/name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The default server FIFO of this environment.
    pub fn fifo(&self) -> PathBuf {
        self.path("mi_fifo")
    }

    /// The reply directory of this environment (with its trailing slash).
    pub fn reply_dir(&self) -> String {
        format!("{}/", self.dir.path().display())
    }

    /// A `mififo` command with a scrubbed environment (no OPENSIPS_*/MIFIFO_*,
    /// `NO_COLOR`, `HOME` inside the temp dir so no user config is read).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("OPENSIPS_") || k.starts_with("MIFIFO_") {
                c.env_remove(k);
            }
        }
        c.env("NO_COLOR", "1").env("HOME", self.dir.path());
        c
    }

    /// `mififo SUBCOMMAND --fifo FIFO --reply-dir <dir>/` (scrubbed like [`TestEnv::cmd`]).
    pub fn cmd_at(&self, subcommand: &str, fifo: &Path) -> Command {
        let mut c = self.cmd();
        c.arg(subcommand)
            .arg("--fifo")
            .arg(fifo)
            .arg("--reply-dir")
            .arg(self.reply_dir());
        c
    }

    /// Starts `mififo serve --fifo <fifo> --reply-dir <dir>/ ARGS…` and waits
    /// until the FIFO has a reader.
    pub fn serve(&self, args: &[&str]) -> Server {
        self.serve_at(&self.fifo(), args)
    }

    /// Like [`TestEnv::serve`] with an explicit FIFO path.
    pub fn serve_at(&self, fifo: &Path, args: &[&str]) -> Server {
        let as_root: &[&str] = if args.contains(&"--user") {
            &[]
        } else {
            serve_user_args()
        };
        Server::start(
            self.cmd_at("serve", fifo)
                .args(as_root)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
            fifo,
            Duration::from_secs(10),
        )
    }
}

/// A running `mififo serve`; terminated (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    /// The child process (taken by `stop`).
    pub child: Option<Child>,
    /// The FIFO it serves.
    pub fifo: PathBuf,
}

impl Server {
    /// Spawns `cmd` (a `serve` command line, stdio set up by the caller) and
    /// waits until `fifo` has a reader.
    pub fn start(cmd: &mut Command, fifo: &Path, timeout: Duration) -> Server {
        let mut server = Server {
            child: Some(cmd.spawn().expect("spawn mififo serve")),
            fifo: fifo.to_path_buf(),
        };
        server.wait_ready(timeout);
        server
    }

    /// The server's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Waits until `fifo` exists and has a reader, or panics with the server's stderr.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if has_reader(&self.fifo) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let out = self.child.take().unwrap().wait_with_output().unwrap();
                panic!(
                    "mififo serve exited early ({status}): {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("mififo serve did not open {} in time", self.fifo.display());
    }

    /// Sends a signal to the server.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// SIGTERM and wait; returns the exit status and stderr.
    pub fn stop(&mut self) -> (std::process::ExitStatus, String) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(10))
    }

    /// Waits for the server to exit by itself; returns the exit status and stderr.
    pub fn wait_exit(&mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "server did not exit in time; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, Duration::from_secs(5));
        }
    }
}

/// Polls `cond` every 10 ms until it holds (`true`) or `timeout` has passed
/// (`false`): for waiting on something observable instead of sleeping a
/// fixed time, which is both slower and flaky on a loaded machine. Callers
/// assert on the result with their own context.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGTERM, then SIGKILL if `child` has not exited within `grace`; reaps it.
pub fn terminate(child: &mut Child, grace: Duration) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Children that are killed (SIGKILL) and reaped on drop, so a test that
/// fails half-way leaves none of them running.
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Runs `cmd` to its end and returns its output; panics, naming the
/// command and quoting its stderr, unless it exited 0.
pub fn output_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A finished command's exit code (-1 if killed by a signal), stdout and stderr.
pub fn code_and_text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub use mififo::fifo::create::has_reader;

/// Creates FIFO `path` (mode 0600, replacing what is there) and opens it
/// non-blocking for reading, as a client opens its reply FIFO before sending.
pub fn reply_fifo(path: &Path) -> std::fs::File {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    open_reader(path)
}

/// Opens FIFO `path` non-blocking for reading (never waits for a writer).
pub fn open_reader(path: impl AsRef<Path>) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap()
}

/// Opens FIFO `path` for writing, waiting for its reader (the server).
pub fn open_writer(path: impl AsRef<Path>) -> std::fs::File {
    std::fs::OpenOptions::new().write(true).open(path).unwrap()
}

/// Opens FIFO `path` non-blocking for writing (fails without a reader).
pub fn open_writer_nonblocking(path: impl AsRef<Path>) -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap()
}

/// Makes a self-signed EC certificate for 127.0.0.1 with openssl, written to
/// `cert` and `key`; `false` (a skip, see [`require`]) without openssl. A
/// `leaf` is not a CA: webpki refuses a CA as a server's own certificate,
/// curl takes either.
pub fn self_signed_cert(cert: &Path, key: &Path, leaf: bool) -> bool {
    if !require("openssl", have_tool("openssl")) {
        return false;
    }
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"]);
    if leaf {
        cmd.args(["-addext", "basicConstraints=critical,CA:FALSE"]);
    }
    output_ok(cmd.arg("-keyout").arg(key).arg("-out").arg(cert));
    true
}

/// Sends raw request bytes to `fifo` and reads the reply FIFO `reply_dir/name`
/// to EOF, independent of the library client: creates the reply FIFO (0600),
/// opens it non-blocking before sending, polls until a writer came and went.
/// Returns `None` when no writer appeared within `timeout`.
pub fn raw_exchange(
    fifo: &Path,
    reply_dir: &Path,
    name: &str,
    request: &[u8],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let reply = reply_dir.join(name);
    let mut r = reply_fifo(&reply);
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .expect("open server FIFO");
    write_within(&mut w, request, Instant::now() + timeout);
    drop(w);
    let result = read_reply(&mut r, timeout);
    let _ = std::fs::remove_file(&reply);
    result
}

/// Writes all of `data` to the non-blocking `w`, waiting for room (a server
/// FIFO may still be full of an earlier flood) until `deadline`; panics past
/// it or on any other error.
pub fn write_within(w: &mut std::fs::File, mut data: &[u8], deadline: Instant) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Write;
    use std::os::fd::AsFd;
    while !data.is_empty() {
        match w.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "the FIFO stayed full");
                let mut fds = [PollFd::new(w.as_fd(), PollFlags::POLLOUT)];
                poll(&mut fds, PollTimeout::from(50u16)).unwrap();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("write to the FIFO: {e}"),
        }
    }
}

/// Reads a non-blocking reply FIFO until a writer appeared and closed it.
pub fn read_reply(r: &mut std::fs::File, timeout: Duration) -> Option<Vec<u8>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Read;
    use std::os::fd::AsFd;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        if Instant::now() >= deadline {
            return None;
        }
        let revents = {
            let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(50u16)).unwrap();
            fds[0].revents().unwrap_or(PollFlags::empty())
        };
        if revents.is_empty() {
            // No writer has connected yet (a read would return 0 without meaning EOF).
            continue;
        }
        let mut buf = [0u8; 65536];
        match r.read(&mut buf) {
            Ok(0) if revents.contains(PollFlags::POLLHUP) => return Some(out),
            Ok(0) => {}
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read reply: {e}"),
        }
    }
}
