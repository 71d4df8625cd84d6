//! The empirical probe: a real `open()` of the FIFO with the client's exact
//! identity, to confirm the model.
//!
//! It runs in a freshly spawned, single-threaded child (`mififo __probe …`,
//! see `src/cli/doctor.rs`), because `setns(CLONE_NEWNS)` fails in a
//! multi-threaded process and credentials must not change in the doctor
//! itself. The child enters the client's mount namespace and root, takes its
//! groups and real/effective/saved/fs ids, and opens the path with the
//! client's flags plus `O_NONBLOCK` — never for reading (that could steal an
//! MI command). `O_CREAT` is only used when the path already exists, so the
//! probe never creates a file. Capabilities are not replayed: a root client
//! keeps all of root's.

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// Enter this process's mount namespace and root (`None`: stay in ours).
    pub pid: Option<i32>,
    /// Real, effective, saved, fs uid.
    pub uids: [u32; 4],
    /// Real, effective, saved, fs gid.
    pub gids: [u32; 4],
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The path, in the client's namespace.
    pub path: PathBuf,
    /// Add `O_CREAT` (the client's flag; `O_TRUNC` is never replayed).
    pub creat: bool,
}

impl ProbeRequest {
    /// A probe as the client `c`: its ids and groups, and its namespace
    /// when it is a running process (not a user from `--as`).
    pub fn as_client(c: &super::subject::Subject, path: PathBuf, creat: bool) -> ProbeRequest {
        ProbeRequest {
            pid: if c.from_db { None } else { c.pid() },
            uids: c.uids,
            gids: c.gids,
            groups: c.creds.groups.clone(),
            path,
            creat,
        }
    }
}

/// What the open did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// Opened: allowed and a reader is present.
    Opened,
    /// Failed with this errno (`ENXIO`: allowed, no reader).
    Errno(i32),
    /// Not attempted (reason).
    Skipped(String),
}

impl ProbeResult {
    /// Text for evidence, e.g. `EACCES (Permission denied)`.
    pub fn describe(&self) -> String {
        match self {
            ProbeResult::Opened => "opened (allowed, a reader is present)".into(),
            ProbeResult::Errno(e) => errno_text(*e),
            ProbeResult::Skipped(r) => format!("skipped: {r}"),
        }
    }
}

/// `EACCES (Permission denied)`.
pub fn errno_text(e: i32) -> String {
    let en = Errno::from_raw(e);
    format!("{en:?} ({})", en.desc())
}

/// Why a probe gave no result.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The child could not be started.
    #[error("cannot spawn probe '{}'", exe.display())]
    Spawn {
        /// The `mififo` binary.
        exe: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The child did not finish in time and was killed: "the probe", "the exchange".
    #[error("{0} did not finish in time")]
    Late(&'static str),
    /// The child's output could not be read.
    #[error("cannot read the probe's output")]
    Output(#[source] std::io::Error),
    /// The child's output is not a result line (the text says which).
    #[error("{0}")]
    BadOutput(String),
    /// The child ran and reported this failure (`failed …`).
    #[error("{0}")]
    Failed(String),
    /// This prober cannot make that kind of exchange.
    #[error("this prober cannot make {0}")]
    Unsupported(&'static str),
}

/// Runs probes (a child process in production, a stub in tests).
pub trait Prober: Sync {
    /// Runs one probe.
    ///
    /// # Errors
    /// The probe itself could not run.
    fn probe(&self, req: &ProbeRequest) -> Result<ProbeResult, ProbeError>;

    /// Runs several probes, results in the same order ([`ChildProber`]:
    /// at once).
    fn probe_all(&self, reqs: &[ProbeRequest]) -> Vec<Result<ProbeResult, ProbeError>> {
        reqs.iter().map(|r| self.probe(r)).collect()
    }

    /// Runs one `--call` exchange as the client (`as_self`: with the
    /// doctor's own credentials, in its own namespace).
    ///
    /// # Errors
    /// The child could not run.
    fn call(
        &self,
        req: &ProbeRequest,
        call: &super::exchange::CallRequest,
        as_self: bool,
    ) -> Result<super::exchange::CallOutcome, ProbeError> {
        let _ = (req, call, as_self);
        Err(ProbeError::Unsupported("exchanges"))
    }

    /// One HTTP exchange as the client of `req`: from its network namespace
    /// (`req.pid`; `None`: ours), in its mount namespace, with its credentials.
    ///
    /// # Errors
    /// The child could not run.
    fn http(
        &self,
        req: &ProbeRequest,
        url: &str,
        method: &str,
    ) -> Result<super::net::HttpOutcome, ProbeError> {
        let _ = (req, url, method);
        Err(ProbeError::Unsupported("HTTP exchanges"))
    }
}

/// Spawns `EXE __probe ARGS` and reads one result line.
#[derive(Debug, Clone)]
pub struct ChildProber {
    /// The `mififo` binary.
    pub exe: PathBuf,
}

/// The most a probe child may print: its answer is one short line.
const PROBE_OUTPUT_MAX: usize = 64 * 1024;

/// A spawned probe child, its output read as it comes.
struct Running {
    child: std::process::Child,
    out: Vec<u8>,
}

impl ChildProber {
    /// Spawns `cmd` with stdin and stderr closed and stdout piped.
    fn spawn(&self, cmd: &mut Command) -> Result<Running, ProbeError> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| ProbeError::Spawn {
                exe: self.exe.clone(),
                source,
            })?;
        Ok(Running {
            child,
            out: Vec::new(),
        })
    }

    /// Reads the child's stdout until it closes (its exit), waking on its
    /// output instead of polling its status on a timer; then reaps it. Past
    /// `deadline`, one still running is killed and reaped, and the error is
    /// `late`.
    fn finish(
        mut r: Running,
        deadline: Instant,
        late: &'static str,
    ) -> Result<Vec<u8>, ProbeError> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::io::Read;
        let give_up = |mut child: std::process::Child| {
            let _ = child.kill();
            let _ = child.wait();
            Err(ProbeError::Late(late))
        };
        let Some(mut stdout) = r.child.stdout.take() else {
            return give_up(r.child);
        };
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Past the deadline, a child that has already exited is not late:
            // its answer waits in the pipe (probe_all finishes its children
            // in turn, so an earlier one's delay uses up a later one's time).
            // That pipe is only read, never waited on.
            if left.is_zero() && !matches!(r.child.try_wait(), Ok(Some(_))) {
                return give_up(r.child);
            }
            let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(
                std::os::fd::AsFd::as_fd(&stdout),
                PollFlags::POLLIN,
            )];
            match poll(&mut fds, wait) {
                Ok(0) if left.is_zero() => return give_up(r.child),
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(Self::abandon(r.child, e.into())),
            }
            match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if r.out.len() + n <= PROBE_OUTPUT_MAX => r.out.extend_from_slice(&buf[..n]),
                Ok(_) => {
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                    return Err(ProbeError::BadOutput(format!(
                        "the probe printed more than {PROBE_OUTPUT_MAX} bytes"
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Self::abandon(r.child, e)),
            }
        }
        // Its stdout is closed: it has exited or is exiting; reap it (a child
        // that closed stdout and lingers is bounded by the same deadline).
        loop {
            match r.child.try_wait() {
                Ok(Some(_)) => return Ok(r.out),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(200))
                }
                _ => return give_up(r.child),
            }
        }
    }

    /// Kills and reaps a child whose output could not be read (dropping a
    /// `Child` does neither: it would run on unbounded, then linger as a
    /// zombie for the rest of the run).
    fn abandon(mut child: std::process::Child, e: std::io::Error) -> ProbeError {
        let _ = child.kill();
        let _ = child.wait();
        ProbeError::Output(e)
    }

    /// Runs `cmd` and returns its stdout once it has exited; past `limit` it
    /// is killed and reaped, and the error is `late`.
    fn run(
        &self,
        cmd: &mut Command,
        limit: Duration,
        late: &'static str,
    ) -> Result<Vec<u8>, ProbeError> {
        let r = self.spawn(cmd)?;
        Self::finish(r, Instant::now() + limit, late)
    }

    fn probe_command(&self, req: &ProbeRequest) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("__probe").args(to_args(req));
        cmd
    }
}

fn join(v: &[u32]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The child's arguments for a request (after `__probe`).
pub fn to_args(req: &ProbeRequest) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = Vec::new();
    if let Some(p) = req.pid {
        a.push("--pid".into());
        a.push(p.to_string().into());
    }
    a.push("--uids".into());
    a.push(join(&req.uids).into());
    a.push("--gids".into());
    a.push(join(&req.gids).into());
    a.push(format!("--groups={}", join(&req.groups)).into());
    if req.creat {
        a.push("--creat".into());
    }
    a.push("--path".into());
    a.push(req.path.clone().into_os_string());
    a
}

/// Parses the child's output line.
pub fn parse_output(out: &str) -> Result<ProbeResult, ProbeError> {
    let line = out.lines().next().unwrap_or("").trim();
    let bad = || ProbeError::BadOutput(format!("bad probe output '{line}'"));
    if line == "opened" {
        Ok(ProbeResult::Opened)
    } else if let Some(e) = line.strip_prefix("errno ") {
        e.parse().map(ProbeResult::Errno).map_err(|_| bad())
    } else if let Some(r) = line.strip_prefix("skipped ") {
        Ok(ProbeResult::Skipped(r.to_string()))
    } else if let Some(r) = line.strip_prefix("failed ") {
        Err(ProbeError::Failed(r.to_string()))
    } else {
        Err(bad())
    }
}

/// Formats a result as the child's output line.
pub fn format_output(r: &Result<ProbeResult, String>) -> String {
    match r {
        Ok(ProbeResult::Opened) => "opened".into(),
        Ok(ProbeResult::Errno(e)) => format!("errno {e}"),
        Ok(ProbeResult::Skipped(s)) => format!("skipped {s}"),
        Err(e) => format!("failed {e}"),
    }
}

impl Prober for ChildProber {
    fn probe(&self, req: &ProbeRequest) -> Result<ProbeResult, ProbeError> {
        let out = self.run(
            &mut self.probe_command(req),
            Duration::from_secs(5),
            "the probe",
        )?;
        parse_output(&String::from_utf8_lossy(&out))
    }

    /// The children run at once (each is mostly exec and start-up).
    fn probe_all(&self, reqs: &[ProbeRequest]) -> Vec<Result<ProbeResult, ProbeError>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let started: Vec<_> = reqs
            .iter()
            .map(|r| self.spawn(&mut self.probe_command(r)))
            .collect();
        started
            .into_iter()
            .map(|r| {
                let out = Self::finish(r?, deadline, "the probe")?;
                parse_output(&String::from_utf8_lossy(&out))
            })
            .collect()
    }

    fn http(
        &self,
        req: &ProbeRequest,
        url: &str,
        method: &str,
    ) -> Result<super::net::HttpOutcome, ProbeError> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("__probe")
            .args(to_args(req))
            .arg("--http")
            .arg(url)
            .arg("--http-method")
            .arg(method);
        // The child bounds its exchange itself (net::exchange's deadline);
        // this limit only keeps a wedged child from holding the doctor.
        let out = self.run(&mut cmd, Duration::from_secs(30), "the HTTP exchange")?;
        let text = String::from_utf8_lossy(&out);
        let line = text.lines().next().unwrap_or("");
        match line.strip_prefix("failed ") {
            Some(e) => Err(ProbeError::Failed(e.to_string())),
            None => serde_json::from_str(line)
                .map_err(|e| ProbeError::BadOutput(format!("bad http probe output '{line}': {e}"))),
        }
    }

    fn call(
        &self,
        req: &ProbeRequest,
        call: &super::exchange::CallRequest,
        as_self: bool,
    ) -> Result<super::exchange::CallOutcome, ProbeError> {
        let mut req = req.clone();
        req.path = call.fifo.clone();
        req.creat = false;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("__probe").args(to_args(&req));
        cmd.arg("--call")
            .arg(&call.method)
            .arg("--dialect")
            .arg(call.dialect.to_string())
            .arg("--reply-dir")
            .arg(&call.reply_dir)
            .arg("--timeout-ms")
            .arg(call.timeout.as_millis().to_string());
        if as_self {
            cmd.arg("--as-self");
        }
        // The exchange plus at most three short dialect probes.
        let out = self.run(
            &mut cmd,
            call.timeout + Duration::from_secs(6),
            "the exchange",
        )?;
        let text = String::from_utf8_lossy(&out);
        match text.lines().next().unwrap_or("") {
            l if l.starts_with("failed ") => {
                Err(ProbeError::Failed(l["failed ".len()..].to_string()))
            }
            l => super::exchange::parse_outcome(l).map_err(ProbeError::BadOutput),
        }
    }
}

/// The child's work: enter the namespace, become the client, open, close.
/// Must run in a single-threaded process (the `__probe` subcommand).
///
/// # Errors
/// A message naming the step that failed (setns, chroot, setgroups, …).
pub fn probe_here(req: &ProbeRequest) -> Result<ProbeResult, String> {
    become_client(req)?;
    Ok(open_once(&req.path, req.creat))
}

/// Enters the client's mount namespace and root and takes its credentials.
///
/// # Errors
/// A message naming the step that failed.
pub fn become_client(req: &ProbeRequest) -> Result<(), String> {
    use nix::sched::{setns, CloneFlags};
    if let Some(pid) = req.pid {
        let open_dir = |p: String| std::fs::File::open(&p).map_err(|e| format!("open '{p}': {e}"));
        let ns = open_dir(format!("/proc/{pid}/ns/mnt"))?;
        let root = open_dir(format!("/proc/{pid}/root"))?;
        let cwd = open_dir(format!("/proc/{pid}/cwd")).ok();
        let own = std::fs::read_link("/proc/self/ns/mnt").ok();
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
        if own != theirs {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNS)
                .map_err(|e| format!("setns(mnt of pid {pid}): {e}"))?;
        }
        nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&root))
            .map_err(|e| format!("fchdir(root): {e}"))?;
        nix::unistd::chroot(".").map_err(|e| format!("chroot: {e}"))?;
        let cwd_fd = cwd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
        match cwd_fd {
            Some(fd) if !req.path.is_absolute() => {
                nix::unistd::fchdir(fd).map_err(|e| format!("fchdir(cwd): {e}"))?
            }
            _ => nix::unistd::chdir("/").map_err(|e| format!("chdir: {e}"))?,
        }
    }
    let groups: Vec<Gid> = req.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    nix::unistd::setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
    let [rg, eg, sg, fg] = req.gids.map(Gid::from_raw);
    nix::unistd::setresgid(rg, eg, sg).map_err(|e| format!("setresgid: {e}"))?;
    nix::unistd::setfsgid(fg);
    let [ru, eu, su, fu] = req.uids.map(Uid::from_raw);
    nix::unistd::setresuid(ru, eu, su).map_err(|e| format!("setresuid: {e}"))?;
    nix::unistd::setfsuid(fu);
    Ok(())
}

/// Opens `path` for writing (never reading) with `O_NONBLOCK`, closes it at once.
pub fn open_once(path: &Path, creat: bool) -> ProbeResult {
    open_once_between(path, creat, || {})
}

/// [`open_once`] with `between` run after the `stat` and before the `open`
/// (tests swap the path there).
fn open_once_between(path: &Path, creat: bool, between: impl FnOnce()) -> ProbeResult {
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .mode(0o666);
    // Only ever open a FIFO: opening a device can have side effects. (Follows
    // symlinks, as open(2) does.) The stat is advisory; the opened fd is
    // checked below, and O_TRUNC is never used (it has no effect on a FIFO,
    // and would truncate a regular file swapped in after the stat).
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && creat => {
            return ProbeResult::Skipped(
                "the path is missing; an O_CREAT probe would create a file".into(),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return ProbeResult::Errno(e.raw_os_error().unwrap_or(libc::ENOENT))
        }
        Ok(m) if !std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()) => {
            return ProbeResult::Skipped("the path is not a FIFO; not opening it".into())
        }
        _ => {}
    }
    between();
    if creat {
        opts.create(true);
    }
    match opts.open(path) {
        Ok(f) => match f.metadata() {
            Ok(m) if std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()) => ProbeResult::Opened,
            _ => ProbeResult::Skipped(
                "the path stopped being a FIFO while probing; nothing written".into(),
            ),
        },
        Err(e) => ProbeResult::Errno(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;

    /// A child is waited for through its output (no status polling), and
    /// is bounded: late, lingering after closing stdout, or flooding.
    #[test]
    fn a_child_is_read_to_its_exit_and_bounded() {
        let p = ChildProber { exe: "sh".into() };
        let sh = |script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let out = p
            .run(&mut sh("echo opened"), Duration::from_secs(5), "t")
            .unwrap();
        assert_eq!(out, b"opened\n");
        let t = Instant::now();
        for script in ["exec sleep 5", "exec >&-; exec sleep 5"] {
            let e = p.run(&mut sh(script), Duration::from_millis(200), "t");
            assert!(matches!(e, Err(ProbeError::Late("t"))), "{script}: {e:?}");
        }
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        let e = p.run(&mut sh("exec yes"), Duration::from_secs(5), "t");
        assert!(matches!(e, Err(ProbeError::BadOutput(_))), "{e:?}");
        // Several at once, answers in order.
        let all: Vec<_> = [Duration::from_millis(300), Duration::ZERO]
            .iter()
            .map(|d| {
                p.spawn(&mut sh(&format!(
                    "sleep {}; echo {}",
                    d.as_secs_f64(),
                    d.as_millis()
                )))
                .unwrap()
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        let outs: Vec<Vec<u8>> = all
            .into_iter()
            .map(|r| ChildProber::finish(r, deadline, "t").unwrap())
            .collect();
        assert_eq!(outs, [b"300\n".to_vec(), b"0\n".to_vec()]);
    }

    /// Children run at once and are finished in turn: one that answered in
    /// time is not reported late because an earlier one used up the
    /// shared deadline.
    #[test]
    fn a_child_that_answered_is_not_late_for_an_earlier_ones_delay() {
        let p = ChildProber { exe: "sh".into() };
        let sh = |script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        let slow = p.spawn(&mut sh("exec sleep 30")).unwrap();
        let quick = p.spawn(&mut sh("echo answered")).unwrap();
        let e = ChildProber::finish(slow, deadline, "t");
        assert!(matches!(e, Err(ProbeError::Late("t"))), "{e:?}");
        assert!(Instant::now() >= deadline);
        let out = ChildProber::finish(quick, deadline, "t").unwrap();
        assert_eq!(out, b"answered\n");
        // Past the deadline, one still running is late at once.
        let t = Instant::now();
        let running = p.spawn(&mut sh("exec sleep 30")).unwrap();
        let e = ChildProber::finish(running, deadline, "t");
        assert!(matches!(e, Err(ProbeError::Late("t"))), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn output_round_trips() {
        for r in [
            ProbeResult::Opened,
            ProbeResult::Errno(13),
            ProbeResult::Skipped("x y".into()),
        ] {
            assert_eq!(parse_output(&format_output(&Ok(r.clone()))).unwrap(), r);
        }
        assert!(matches!(
            parse_output(&format_output(&Err("setns: EPERM".into()))),
            Err(ProbeError::Failed(e)) if e == "setns: EPERM"
        ));
        assert!(matches!(parse_output(""), Err(ProbeError::BadOutput(_))));
    }

    #[test]
    fn args_keep_the_path_bytes() {
        let req = ProbeRequest {
            pid: Some(7),
            uids: [1, 2, 3, 4],
            gids: [5, 6, 7, 8],
            groups: vec![],
            path: PathBuf::from(" /tmp/x "),
            creat: true,
        };
        let a = to_args(&req);
        assert_eq!(a.last().unwrap(), " /tmp/x ");
        assert!(a.contains(&"--groups=".into()));
        assert!(a.contains(&"--creat".into()));
    }

    #[test]
    fn open_once_reports_enxio_without_a_reader_and_never_creates() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        nix::unistd::mkfifo(&f, Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(open_once(&f, false), ProbeResult::Errno(libc::ENXIO));
        let missing = d.path().join("missing");
        assert!(matches!(open_once(&missing, true), ProbeResult::Skipped(_)));
        assert!(!missing.exists());
        assert_eq!(open_once(&missing, false), ProbeResult::Errno(libc::ENOENT));
        let plain = d.path().join("plain");
        std::fs::write(&plain, "keep").unwrap();
        assert!(matches!(open_once(&plain, true), ProbeResult::Skipped(_)));
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "keep");
    }

    #[test]
    fn a_regular_file_swapped_in_after_the_stat_is_not_truncated() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        nix::unistd::mkfifo(&f, Mode::from_bits_truncate(0o600)).unwrap();
        let swap = || {
            std::fs::remove_file(&f).unwrap();
            std::fs::write(&f, "keep").unwrap();
        };
        let r = open_once_between(&f, true, swap);
        assert!(matches!(r, ProbeResult::Skipped(_)), "{r:?}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "keep");
    }
}
