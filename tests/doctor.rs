//! `mififo doctor` against real broken setups (root only; CI is root). Each
//! test builds one situation with throwaway `mififo-test-*` users, runs the
//! real binary with `--format json`, and asserts the finding codes and the
//! verdict. Users, processes, mounts and sysctls are undone by Drop guards,
//! also when a test fails.

use crate::util::root::{
    protected_fifos_stable, ProtectedFifos, ProtectedSymlinks, TestGroup, TestUser,
};
use crate::util::{self, TestEnv};
use serde_json::Value;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The runtime half of the root guard: the tests that call it also carry
/// `#[cfg_attr(not(mififo_test_root), ignore = …)]` (build.rs), so a
/// non-root build lists them as ignored instead of counting them as passed.
fn root() -> bool {
    util::require("root (users, chown, namespaces)", util::is_root())
}

/// The other MI servers of a host, started once for the whole module: an
/// OpenSIPS and a Kamailio (`#!/bin/sh` scripts of those names, so their comm
/// is `opensips`/`kamailio`) run as root as `NAME -f DIR/NAME.cfg`, the config
/// setting `fifo_name` to `DIR/NAME_fifo`, which each holds open read-write
/// like a real server. Each then waits on a pipe whose write end this process
/// keeps: when the test binary exits (panics included) the read sees EOF and
/// the script removes its `mififo-test-` directory. A doctor test that
/// asserts on a process or a path it did not set up fails on such a host;
/// these make that happen here.
struct Decoys {
    /// Pids of the decoy OpenSIPS and Kamailio.
    pids: [i32; 2],
    /// Their directory (config files and FIFOs).
    dir: PathBuf,
    /// The write ends of the scripts' stdin (never written, never closed).
    _keep: Vec<std::process::ChildStdin>,
}

static DECOYS: std::sync::OnceLock<Decoys> = std::sync::OnceLock::new();

/// Starts the decoy servers once (every doctor test calls this first).
fn decoys() -> &'static Decoys {
    DECOYS.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("mififo-test-decoy-")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = "#!/bin/sh\n# A decoy MI server: $0 -f DIR/NAME.cfg holds DIR/NAME_fifo until stdin ends.\nd=${2%/*}\nexec 3<>\"$d/${0##*/}_fifo\"\nread -r _\nexec 3>&-\nrm -rf -- \"$d\"\n";
        let mut keep = Vec::new();
        let mut pids = [0; 2];
        for (i, (name, module)) in [("opensips", "mi_fifo"), ("kamailio", "jsonrpcs")]
            .into_iter()
            .enumerate()
        {
            let exe = dir.join(name);
            std::fs::write(&exe, script).unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            let fifo = dir.join(format!("{name}_fifo"));
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o660)).unwrap();
            let cfg = dir.join(format!("{name}.cfg"));
            std::fs::write(
                &cfg,
                format!(
                    "loadmodule \"{module}.so\"\nmodparam(\"{module}\", \"fifo_name\", \"{}\")\n",
                    fifo.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(&exe)
                .arg("-f")
                .arg(&cfg)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            keep.push(child.stdin.take().unwrap());
            let pid = child.id() as i32;
            pids[i] = pid;
            // Never waited for: it lives as long as this process.
            std::mem::forget(child);
            wait_comm(pid, name);
            // Up once it holds its FIFO.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .any(|l| l == fifo)
            {
                assert!(Instant::now() < deadline, "decoy {name} never opened {fifo:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Decoys {
            pids,
            dir,
            _keep: keep,
        }
    })
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A spawned process, killed on drop.
struct Proc(Child);

impl Proc {
    /// Spawns `cmd` and waits until it runs `comm` (setpriv, unshare, sh
    /// and ip exec their target).
    fn start(cmd: &mut Command, comm: &str) -> Proc {
        let p = Proc(cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}")));
        wait_comm(p.pid(), comm);
        p
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `pid` runs `comm` (setpriv/unshare exec'd their target).
fn wait_comm(pid: i32, comm: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} never became {comm}");
}

/// `sleep 120` as `user` with its database groups (init-groups); `wrap` puts
/// shell code around the command (`exec {cmd}` at least).
fn sleeper(user: &TestUser, wrap: impl Fn(&str) -> String) -> Proc {
    let cmd = format!(
        "setpriv --reuid={} --regid={} --init-groups sleep 120",
        user.uid, user.gid
    );
    let script = wrap(&cmd);
    Proc::start(
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null()),
        "sleep",
    )
}

/// A server stand-in: `sh` (run as whoever runs it) holds `fifo` open
/// read-write (a reader that never sees EOF), then sleeps.
fn holding(sh: &mut Command, fifo: &Path) -> Proc {
    Proc::start(
        sh.args(["-c", "exec 3<>\"$0\"; exec sleep 120"])
            .arg(fifo)
            .stdin(Stdio::null()),
        "sleep",
    )
}

/// A server stand-in as `user` (see [`holding`]).
fn reader(user: &TestUser, fifo: &Path) -> Proc {
    holding(&mut user.command("sh"), fifo)
}

/// A FIFO file name no other test (and no server on the host) uses: the
/// doctor ranks every process reading a FIFO of the asked name as a server
/// of it, and tests run in parallel on the real `/proc`; with one shared name
/// a test's fix would name (and the loop restart) another test's server.
fn fifo_name() -> String {
    format!("mi_fifo-{:08x}", fastrand::u32(..))
}

fn mkfifo(path: &Path, mode: u32, owner: &TestUser) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid)).unwrap();
}

fn mkdir(path: &Path, mode: u32, owner: Option<&TestUser>) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    if let Some(o) = owner {
        std::os::unix::fs::chown(path, Some(o.uid), Some(o.gid)).unwrap();
    }
}

/// A test environment others can traverse, with a public reply dir.
fn env() -> (TestEnv, PathBuf) {
    let _ = decoys();
    let env = TestEnv::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let replies = env.path("replies");
    mkdir(&replies, 0o1777, None);
    (env, replies)
}

/// Runs `mififo doctor --format json …` (no audit log or php.ini unless given).
fn doctor(env: &TestEnv, replies: &Path, args: &[&dyn AsRef<OsStr>]) -> (i32, Value) {
    let mut cmd = env.cmd();
    cmd.arg("doctor").arg("--format").arg("json");
    let given: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    if !given.iter().any(|a| a == "--reply-dir") {
        cmd.arg("--reply-dir")
            .arg(format!("{}/", replies.display()));
    }
    if !given.iter().any(|a| a == "--audit-log") {
        cmd.arg("--audit-log").arg(env.path("no-audit.log"));
    }
    if !given.iter().any(|a| a == "--php-ini") {
        cmd.arg("--php-ini").arg(env.path("no-php.ini"));
    }
    for a in args {
        cmd.arg(a.as_ref());
    }
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor output is not JSON ({e}); exit {code}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

fn codes(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn errors(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn finding<'a>(v: &'a Value, code: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {v:#}"))
}

/// Asserts exit 1, verdict denied, and exactly `expected` as error codes.
fn assert_denied(code: i32, v: &Value, expected: &[&str]) {
    let mut e = errors(v);
    e.sort();
    e.dedup();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(e, want, "{v:#}");
    assert_eq!(v["verdict"], "denied");
    assert_eq!(code, 1);
}

/// One root test's set-up: the decoy servers run, `fs.protected_fifos` is
/// held steady (unless the test changes it), an environment others can
/// traverse with a public reply dir, and two throw-away users: `srv` (owns
/// the FIFOs, runs the stand-ins) and `cli` (the client asked about). All
/// of it is undone on drop, also when the test fails.
struct Case {
    env: TestEnv,
    replies: PathBuf,
    srv: TestUser,
    cli: TestUser,
    _stable: Option<std::sync::RwLockReadGuard<'static, ()>>,
}

impl Case {
    /// The set-up, or `None` (a visible skip; a failure in CI) when not root.
    fn new() -> Option<Case> {
        Case::needing(&[])
    }

    /// The set-up when root and every tool in `tools` is on PATH.
    fn needing(tools: &[&str]) -> Option<Case> {
        Case::build(tools, true)
    }

    /// The set-up for a test that changes `fs.protected_fifos` itself (it
    /// takes the write lock; holding the read side too would deadlock).
    fn changing_protected_fifos() -> Option<Case> {
        Case::build(&[], false)
    }

    fn build(tools: &[&str], stable: bool) -> Option<Case> {
        if !root() || !tools.iter().all(|t| util::require(t, util::have_tool(t))) {
            return None;
        }
        let _stable = stable.then(protected_fifos_stable);
        let (env, replies) = env();
        Some(Case {
            env,
            replies,
            srv: TestUser::new(),
            cli: TestUser::new(),
            _stable,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.env.path(name)
    }

    /// A FIFO of a fresh name in `dir`, `srv`'s, with `mode`.
    fn fifo_in(&self, dir: &Path, mode: u32) -> PathBuf {
        let fifo = dir.join(fifo_name());
        mkfifo(&fifo, mode, &self.srv);
        fifo
    }

    /// A FIFO of a fresh name in the environment, `srv`'s, with `mode`.
    fn fifo(&self, mode: u32) -> PathBuf {
        self.fifo_in(self.env.dir.path(), mode)
    }

    /// [`Case::fifo`] and a stand-in server (as `srv`) reading it.
    fn served(&self, mode: u32) -> (PathBuf, Proc) {
        let fifo = self.fifo(mode);
        let server = reader(&self.srv, &fifo);
        (fifo, server)
    }

    /// `mififo serve` as root on `fifo` with this case's reply dir.
    fn serve(&self, fifo: &Path, extra: &[&str]) -> Proc {
        serve(&self.env, fifo, &self.replies, extra)
    }

    /// `sleep 120` as `cli` (a client stand-in), started plainly.
    fn client(&self) -> Proc {
        sleeper(&self.cli, |c| format!("exec {c}"))
    }

    /// `mififo doctor --format json ARGS` (see [`doctor`]).
    fn doctor(&self, args: &[&dyn AsRef<OsStr>]) -> (i32, Value) {
        doctor(&self.env, &self.replies, args)
    }

    /// `doctor --fifo FIFO --as USER`.
    fn doctor_as(&self, fifo: &Path, user: &str) -> (i32, Value) {
        self.doctor(&[&"--fifo", &fifo, &"--as", &user])
    }

    /// `doctor --fifo FIFO --as CLI`.
    fn as_cli(&self, fifo: &Path) -> (i32, Value) {
        self.doctor_as(fifo, &self.cli.name)
    }

    /// `doctor --fifo FIFO --pid PID`.
    fn at_pid(&self, fifo: &Path, pid: i32) -> (i32, Value) {
        self.doctor(&[&"--fifo", &fifo, &"--pid", &pid.to_string()])
    }

    /// The human report of `doctor --fifo FIFO --as USER`: exit code and text.
    fn human_as(&self, fifo: &Path, user: &str) -> (Option<i32>, String) {
        let out = self
            .env
            .cmd()
            .args(["doctor", "--as", user, "--fifo"])
            .arg(fifo)
            .arg("--reply-dir")
            .arg(format!("{}/", self.replies.display()))
            .arg("--php-ini")
            .arg(self.path("none"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// `mififo doctor --format json --fifo FIFO ARGS` run as `cli` itself
    /// (an unprivileged doctor).
    fn unprivileged(&self, fifo: &Path, args: &[&str]) -> (i32, Value) {
        let out = self
            .cli
            .command(util::bin())
            .args(["doctor", "--format", "json", "--fifo"])
            .arg(fifo)
            .args(args)
            .arg("--reply-dir")
            .arg(format!("{}/", self.replies.display()))
            .arg("--audit-log")
            .arg(self.path("no-audit.log"))
            .arg("--php-ini")
            .arg(self.path("no-php.ini"))
            .env("HOME", self.env.dir.path())
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap_or(-1), v)
    }
}

/// The check line whose name starts with `name`.
fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with(name))
        .unwrap_or_else(|| panic!("no check {name} in {v:#}"))
}

/// That check line's detail.
fn detail<'a>(v: &'a Value, name: &str) -> &'a str {
    check(v, name)["detail"].as_str().unwrap()
}

/// That finding's message.
fn message<'a>(v: &'a Value, code: &str) -> &'a str {
    finding(v, code)["message"].as_str().unwrap()
}

/// Whether a finding with `code` was reported.
fn has(v: &Value, code: &str) -> bool {
    codes(v).iter().any(|c| c == code)
}

/// Asserts exit 0 and verdict ok.
fn assert_ok(code: i32, v: &Value) {
    assert_eq!(v["verdict"], "ok", "{v:#}");
    assert_eq!(code, 0, "{v:#}");
}

/// The processes a printed restart replaces: [`Restartable::restart`] kills
/// them and starts `start`'s (the test's equivalent of restarting a service).
struct Restartable<F: Fn() -> Vec<Proc>> {
    now: std::cell::RefCell<Vec<Proc>>,
    start: F,
}

impl<F: Fn() -> Vec<Proc>> Restartable<F> {
    /// `first` runs until the first restart.
    fn new(first: Vec<Proc>, start: F) -> Self {
        Restartable {
            now: std::cell::RefCell::new(first),
            start,
        }
    }

    /// Started by `start` from the outset.
    fn started(start: F) -> Self {
        Restartable::new(start(), start)
    }

    fn restart(&self) {
        // Proc's drop kills and reaps.
        self.now.borrow_mut().clear();
        let fresh = (self.start)();
        *self.now.borrow_mut() = fresh;
    }

    /// The pid of the (first) current process.
    fn pid(&self) -> i32 {
        self.now.borrow()[0].pid()
    }
}

#[test]
fn the_doctor_itself_failing_exits_2() {
    let _ = decoys();
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args([
            "doctor",
            "--as",
            "mififo-test-nobody-at-all",
            "--fifo",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("mififo: no user 'mififo-test-nobody-at-all'"),
        "{err}"
    );
    let out = env
        .cmd()
        .args(["doctor", "--pid", "999999999", "--fifo", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A client in the FIFO's group with a live server: access-ok, the probe agrees, and
/// the host's other servers (the decoys) are listed as unrelated.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn healthy_setup_is_access_ok() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o660);
    t.cli.join(&t.srv.name);
    let (code, v) = t.as_cli(&fifo);
    assert!(errors(&v).is_empty(), "{v:#}");
    assert!(has(&v, "access-ok"), "{v:#}");
    assert!(!has(&v, "probe-disagrees"), "{v:#}");
    assert_ok(code, &v);
    // The probe ran and agreed.
    let access = detail(&v, "access");
    assert!(
        access.contains("probe O_WRONLY|O_NONBLOCK: opened"),
        "{access}"
    );
    // The host's other servers (the decoys) are seen, and ranked unrelated.
    let cands = detail(&v, "server candidates");
    let [os, kam] = decoys().pids;
    for d in [
        format!("OpenSIPS pid {os} "),
        format!("Kamailio pid {kam} "),
    ] {
        let line = cands
            .split("; ")
            .find(|l| l.starts_with(&d))
            .unwrap_or_else(|| panic!("decoy {d} not seen: {cands}"));
        assert!(line.contains("unrelated"), "{line}");
    }
    // The human report says the same.
    let (code, text) = t.human_as(&fifo, &t.cli.name);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("info[access-ok]"), "{text}");
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("verdict: ok"),
        "{text}"
    );
}

/// group-not-member; and with the client in the group, the group class applies
/// even when "other" would allow (dac-denied).
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn not_in_group_and_group_class_before_other() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o660);
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["group-not-member"]);
    let f = finding(&v, "group-not-member");
    assert!(f["fix"]["commands"][0]
        .as_str()
        .unwrap()
        .contains(&format!("usermod -aG {} {}", t.srv.name, t.cli.name)));
    apply_fixes_then_ok(&v, || t.as_cli(&fifo));
    // 0606 with the client in the owning group: group bits apply, other is never consulted.
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o606)).unwrap();
    t.cli.join(&t.srv.name);
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["dac-denied"]);
    assert!(message(&v, "dac-denied").contains("group class applies"));
    apply_fixes_then_ok(&v, || t.as_cli(&fifo));
}

/// The fix-then-recheck loop for a client whose process predates its group:
/// the printed fix is "restart the service these processes belong to" (a
/// `ps` line naming the process; it has no unit). The `ps` is pasted; the
/// restart is done the only way a test can: the test restarts the process it
/// started (a new process gets the new group list), then asks about it.
fn restart_stale_client_then_ok(t: &Case, fifo: &Path, v: &Value, client: Proc) {
    let old = client.pid().to_string();
    let client = Restartable::new(vec![client], || vec![t.client()]);
    apply_fixes_with(
        v,
        |c| {
            assert!(c.contains(&old), "{c}");
            run_ok(Command::new("sh").args(["-c", c]));
            client.restart();
        },
        || t.at_pid(fifo, client.pid()),
    );
}

/// A running client that predates its group membership: group-stale, not usermod.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn stale_group_process() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o660);
    let client = t.client();
    t.cli.join(&t.srv.name);
    let (code, v) = t.at_pid(&fifo, client.pid());
    assert_denied(code, &v, &["group-stale"]);
    // The probe replayed the process's real (stale) groups and was refused too.
    assert!(!has(&v, "probe-disagrees"), "{v:#}");
    // A fresh login of the same user is fine.
    let (code, v2) = t.as_cli(&fifo);
    assert_eq!(code, 0, "{v2:#}");
    restart_stale_client_then_ok(&t, &fifo, &v, client);
}

/// A named ACL entry masked by chmod (acl-mask), and one without w (acl-denied).
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn acl_mask_and_acl_denied() {
    let Some(t) = Case::needing(&["setfacl"]) else {
        return;
    };
    let (fifo, _server) = t.served(0o660);
    let setfacl = |spec: String| run_ok(Command::new("setfacl").arg("-m").arg(spec).arg(&fifo));
    setfacl(format!("u:{}:rw-", t.cli.name));
    let (code, v) = t.as_cli(&fifo);
    assert_eq!(code, 0, "named ACL entry grants: {v:#}");
    // chmod 600 rewrites the mask to ---: the kernel skips the ACL.
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["acl-mask"]);
    assert!(finding(&v, "acl-mask")["fix"]["commands"][0]
        .as_str()
        .unwrap()
        .starts_with("setfacl -m m::rw"));
    apply_fixes_then_ok(&v, || t.as_cli(&fifo));
    // A named entry without w and a full mask: acl-denied.
    setfacl(format!("u:{}:r--,m::rw-", t.cli.name));
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["acl-denied"]);
    apply_fixes_then_ok(&v, || t.as_cli(&fifo));
}

/// fs.protected_fifos refuses O_CREAT clients (root too) in a sticky directory.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn protected_fifos_blocks_o_creat_clients() {
    let Some(t) = Case::changing_protected_fifos() else {
        return;
    };
    let sticky = t.path("sticky");
    mkdir(&sticky, 0o1777, None);
    let fifo = t.fifo_in(&sticky, 0o666);
    let _server = reader(&t.srv, &fifo);
    let _sysctl = ProtectedFifos::set("1");
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["protected-fifos"]);
    assert!(message(&v, "protected-fifos").contains("php, python, opensipsctl"));
    assert!(
        !has(&v, "probe-disagrees"),
        "the probe's O_CREAT open was refused too: {v:#}"
    );
    // Root is not exempt.
    let (_, v) = t.doctor_as(&fifo, "root");
    assert!(errors(&v).contains(&"protected-fifos".to_string()), "{v:#}");
    // mififo opens without O_CREAT.
    let (code, v) = t.doctor(&[
        &"--fifo",
        &fifo,
        &"--as",
        &t.cli.name,
        &"--client-open",
        &"mififo",
    ]);
    assert_ok(code, &v);
    // The fix-then-recheck loop. With a server of unknown kind (a stand-in)
    // the only shell fix is the sysctl (with its sysctl.d line): pasted as
    // printed; `_sysctl` puts the old value back and `_conf` the old file.
    let (_, v) = t.as_cli(&fifo);
    let _conf = SavedFile::new("/etc/sysctl.d/60-mififo.conf");
    apply_fixes_then_ok(&v, || t.as_cli(&fifo));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/fs/protected_fifos")
            .unwrap()
            .trim(),
        "0"
    );
}

/// A client in a systemd-style private /tmp does not see the FIFO in /tmp.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn private_tmp_client() {
    let Some(t) = Case::needing(&["unshare"]) else {
        return;
    };
    // The FIFO must be under /tmp whatever TMPDIR says.
    let shared = tempfile::Builder::new()
        .prefix("mififo-test-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = t.fifo_in(shared.path(), 0o666);
    let _server = reader(&t.srv, &fifo);
    // The systemd-private layout (linux-fifo-access.md §8).
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .replace('-', "");
    let private = tempfile::Builder::new()
        .prefix(&format!("systemd-private-{boot}-mififo-test-web.service-"))
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let ptmp = private.path().join("tmp");
    mkdir(&ptmp, 0o1777, None);
    let client = sleeper(&t.cli, |c| {
        format!(
            "exec unshare -m --propagation private sh -c 'mount --bind {} /tmp && exec {c}'",
            ptmp.display()
        )
    });
    let run = |pid: i32| {
        t.doctor(&[
            &"--fifo",
            &fifo,
            &"--pid",
            &pid.to_string(),
            &"--reply-dir",
            &"/tmp/",
        ])
    };
    let (code, v) = run(client.pid());
    assert!(
        message(&v, "private-tmp").contains("mififo-test-web.service"),
        "{v:#}"
    );
    assert!(
        errors(&v).contains(&"reply-dir-mismatch".to_string()),
        "{v:#}"
    );
    assert!(!has(&v, "fifo-missing"), "{v:#}");
    assert_eq!(code, 1);
    // The fix-then-recheck loop: moving the FIFO / the reply dir is words
    // only here (the server is a stand-in of unknown kind), so the first
    // pasteable alternative is applied: the printed drop-in (PrivateTmp=false
    // for the unit the private /tmp is named after) is written as printed
    // (`_unit` removes it); `systemctl daemon-reload &&
    // systemctl restart mififo-test-web.service` has no manager behind it
    // here, so the test restarts its client the way that unit now would:
    // without the private /tmp.
    let _unit = UnitFile(PathBuf::from("/etc/systemd/system/mififo-test-web.service"));
    let client = Restartable::new(vec![client], || vec![t.client()]);
    apply_fixes_with(
        &v,
        |c| {
            assert_eq!(
                c, "systemctl daemon-reload && systemctl restart mififo-test-web.service",
                "not a step of the chosen fixes"
            );
            client.restart();
        },
        || run(client.pid()),
    );
}

/// A client whose mount namespace hides the FIFO's directory under a tmpfs.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn other_mount_namespace() {
    let Some(t) = Case::needing(&["unshare"]) else {
        return;
    };
    let dir = t.path("run");
    mkdir(&dir, 0o755, None);
    let fifo = t.fifo_in(&dir, 0o666);
    let _server = reader(&t.srv, &fifo);
    let client = sleeper(&t.cli, |c| {
        format!(
            "exec unshare -m --propagation private sh -c 'mount -t tmpfs none {} && exec {c}'",
            dir.display()
        )
    });
    let (code, v) = t.at_pid(&fifo, client.pid());
    assert!(errors(&v).contains(&"mount-namespace".to_string()), "{v:#}");
    assert!(!has(&v, "private-tmp"));
    assert_eq!(code, 1);
    // The fix-then-recheck loop: the printed command (`findmnt -N PID -T FIFO`)
    // shows what covers the path in the client's namespace and is pasted; the
    // fix itself ("share the FIFO's directory with the client") is done here
    // by removing the tmpfs that hides it inside the client's namespace.
    let pid = client.pid().to_string();
    apply_fixes_with(
        &v,
        |c| {
            assert!(c.starts_with(&format!("findmnt -N {pid} ")), "{c}");
            run_ok(Command::new("sh").args(["-c", c]));
            run_ok(
                Command::new("nsenter")
                    .args(["-t", &pid, "-m", "umount"])
                    .arg(&dir),
            );
        },
        || t.at_pid(&fifo, client.pid()),
    );
}

/// A directory on the way the client may not search.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn directory_without_search_permission() {
    let Some(t) = Case::new() else { return };
    let dir = t.path("private");
    mkdir(&dir, 0o700, Some(&t.srv));
    let fifo = t.fifo_in(&dir, 0o666);
    let _server = reader(&t.srv, &fifo);
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["dir-search-denied"]);
    assert!(message(&v, "dir-search-denied").contains(&dir.display().to_string()));
    apply_fixes_then_ok(&v, || t.as_cli(&fifo));
}

/// Nobody reads the FIFO; two unrelated readers; a reader of a replaced (deleted) FIFO.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn no_reader_and_replaced_fifo() {
    let Some(t) = Case::new() else { return };
    let fifo = t.fifo(0o666);
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["no-reader"]);
    // With no server configured for the path there is nothing to paste: the
    // fix says to start the one that should serve it (and how to find its
    // unit), in words. The test does that with its stand-in; then ok.
    let fix = &finding(&v, "no-reader")["fix"];
    assert!(fix_commands(&v).is_empty(), "{v:#}");
    assert!(
        fix["summary"]
            .as_str()
            .unwrap()
            .contains("systemctl list-units --all"),
        "{fix:#}"
    );
    {
        let _started = reader(&t.srv, &fifo);
        let (code, after) = t.as_cli(&fifo);
        assert_ok(code, &after);
    }
    // Two unrelated servers read it: commands are split between them. The
    // printed `ps` (which processes they are) is pasted; "stop the extra
    // instance" is done by stopping the second stand-in.
    {
        let a = reader(&t.srv, &fifo);
        let b = std::cell::RefCell::new(Some(reader(&t.srv, &fifo)));
        let (code, v) = t.as_cli(&fifo);
        assert_denied(code, &v, &["multiple-servers"]);
        let pids = [a.pid(), b.borrow().as_ref().unwrap().pid()];
        apply_fixes_with(
            &v,
            |c| {
                assert!(pids.iter().all(|p| c.contains(&p.to_string())), "{c}");
                run_ok(Command::new("sh").args(["-c", c]));
                b.borrow_mut().take();
            },
            || t.as_cli(&fifo),
        );
    }
    // A server holds it; then the path is replaced (rm + mkfifo): the server holds a deleted FIFO.
    let server = reader(&t.srv, &fifo);
    std::fs::remove_file(&fifo).unwrap();
    mkfifo(&fifo, 0o666, &t.srv);
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["no-reader"]);
    let m = finding(&v, "multiple-servers");
    assert!(m.to_string().contains("(deleted)"), "{m:#}");
    // The fix-then-recheck loop: the server is of unknown kind, so its
    // restart is words ("restart the one holding the deleted FIFO"): the
    // test restarts its stand-in, which opens the FIFO now at the path.
    assert!(fix_commands(&v).is_empty(), "{v:#}");
    drop(server);
    let _server = reader(&t.srv, &fifo);
    let (code, after) = t.as_cli(&fifo);
    assert_ok(code, &after);
}

/// A path with a trailing space (a missing FIFO next to the real one); a regular
/// file where the FIFO should be.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn whitespace_missing_and_not_a_fifo() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o666);
    let spaced = PathBuf::from(format!("{} ", fifo.display()));
    let (code, v) = t.as_cli(&spaced);
    assert_denied(code, &v, &["fifo-path-whitespace", "fifo-missing"]);
    assert_eq!(
        finding(&v, "fifo-path-whitespace")["evidence"]["existing near-miss"],
        fifo.display().to_string()
    );
    // The fix-then-recheck loop: the whitespace finding's fix is the exact
    // path in the client's config (a file the doctor does not know); the
    // printed `grep` that finds where it is set is pasted (a search: exit 1
    // is "not found"), and the printed check (`mififo doctor --fifo EXACT`)
    // is run for the same client, whose "config" is the path it asks about.
    let exact = std::cell::RefCell::new(None);
    apply_fixes_with(
        &v,
        |c| {
            if let Some(p) = c.strip_prefix("mififo doctor --fifo '") {
                *exact.borrow_mut() = Some(PathBuf::from(p.strip_suffix('\'').unwrap()));
                return;
            }
            assert!(c.starts_with("grep -rn -- "), "{c}");
            // (2: a searched directory is missing, as /etc/opensips is here.)
            let st = Command::new("sh").args(["-c", c]).status().unwrap();
            assert!(matches!(st.code(), Some(0..=2)), "{c}: {st}");
        },
        || t.as_cli(exact.borrow().as_ref().expect("no check printed")),
    );
    assert_eq!(exact.into_inner(), Some(fifo.clone()));
    let plain = t.path("plain");
    std::fs::write(&plain, "").unwrap();
    let (code, v) = t.as_cli(&plain);
    assert_denied(code, &v, &["fifo-not-a-fifo"]);
    // The fix-then-recheck loop: `rm -- PATH` is pasted as printed; no
    // server is configured for `plain`, so "start the server" is words, and
    // the test starts its stand-in on a fresh FIFO there.
    assert_eq!(
        fix_commands(&v),
        [format!("rm -- '{}'", plain.display())],
        "{v:#}"
    );
    let started = std::cell::RefCell::new(None);
    apply_fixes_with(
        &v,
        |c| {
            run_ok(Command::new("sh").args(["-c", c]));
            assert!(!plain.exists());
            mkfifo(&plain, 0o666, &t.srv);
            *started.borrow_mut() = Some(reader(&t.srv, &plain));
        },
        || t.as_cli(&plain),
    );
}

/// An SELinux denial from the audit log and the FIFO's label (a fake selinuxfs).
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn selinux_label_and_audit_log() {
    let Some(t) = Case::needing(&["setfattr"]) else {
        return;
    };
    // The decoy OpenSIPS's FIFO has this file name too.
    let fifo = t.path("opensips_fifo");
    mkfifo(&fifo, 0o666, &t.srv);
    let _server = reader(&t.srv, &fifo);
    run_ok(
        Command::new("setfattr")
            .args(["-n", "security.selinux", "-v", "system_u:object_r:tmp_t:s0"])
            .arg(&fifo),
    );
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&fifo).unwrap());
    let log = t.path("audit.log");
    std::fs::write(
        &log,
        format!(
            "type=AVC msg=audit(1700000000.123:412): avc:  denied  {{ write }} for  pid=2401 comm=\"httpd\" name=\"opensips_fifo\" dev=\"dm-0\" ino={ino} scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:tmp_t:s0 tclass=fifo_file permissive=0\n\
             type=SYSCALL msg=audit(1700000000.123:412): arch=c000003e syscall=257 success=no exit=-13 a2=241 pid=2401 comm=\"httpd\" exe=\"/usr/sbin/httpd\" subj=system_u:system_r:httpd_t:s0 key=(null)\n"
        ),
    )
    .unwrap();
    let selinuxfs = t.path("selinuxfs");
    mkdir(&selinuxfs.join("booleans"), 0o755, None);
    std::fs::write(selinuxfs.join("enforce"), "1").unwrap();
    let run = |fifo: &Path| {
        t.doctor(&[
            &"--fifo",
            &fifo,
            &"--as",
            &t.cli.name,
            &"--audit-log",
            &log,
            &"--selinuxfs",
            &selinuxfs,
        ])
    };
    let (code, v) = run(&fifo);
    assert_denied(code, &v, &["selinux-denied"]);
    let f = finding(&v, "selinux-denied");
    assert_eq!(
        f["evidence"]["file label"], "system_u:object_r:tmp_t:s0",
        "label read from the xattr: {f:#}"
    );
    assert!(f["message"].as_str().unwrap().contains("httpd_t"));
    // The main fix is a sequence (move the FIFO), with the policy module as
    // an alternative; neither names the unrelated OpenSIPS whose FIFO has
    // the same file name (the asked FIFO's own reader is of unknown kind).
    let fix = &f["fix"];
    assert!(
        !fix.to_string()
            .contains(&decoys().dir.display().to_string()),
        "{fix:#}"
    );
    let alt = &fix["alternatives"][0];
    assert!(
        alt["commands"][0]
            .as_str()
            .unwrap()
            .contains("audit2allow -M mififo_fifo"),
        "{fix:#}"
    );
    assert!(alt["weakens"].is_string(), "{fix:#}");
    // No pasted fix-then-recheck loop: the denial is a fake audit log and a
    // fake selinuxfs on a host without SELinux; there is no policy to label
    // or load, so the `semanage`/`semodule` steps cannot be applied. The
    // main fix (in words for a server of unknown kind: move the FIFO out of
    // the mislabelled place) is done the way a test can: the stand-in serves
    // a fresh, unlabelled FIFO elsewhere, which the denial does not cover.
    let moved_dir = t.path("moved");
    mkdir(&moved_dir, 0o755, None);
    let moved = moved_dir.join("opensips_fifo");
    mkfifo(&moved, 0o666, &t.srv);
    drop(_server);
    let _server = reader(&t.srv, &moved);
    let (code, after) = run(&moved);
    assert_ok(code, &after);
}

/// PHP's open_basedir keeps the client away from the FIFO's directory.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn php_open_basedir() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o666);
    let ini = t.path("www.conf");
    std::fs::write(
        &ini,
        "[www]\nphp_admin_value[open_basedir] = /var/www/:/usr/share/php/\n",
    )
    .unwrap();
    let run = || t.doctor(&[&"--fifo", &fifo, &"--as", &t.cli.name, &"--php-ini", &ini]);
    let (code, v) = run();
    assert_denied(code, &v, &["php-open-basedir"]);
    // The fix-then-recheck loop: the setting is printed as an edit of the pool
    // file (never behind `$ `) and applied here; the printed `systemctl restart
    // php-fpm` has no PHP to restart in a test (the doctor reads the file).
    let edit = &finding(&v, "php-open-basedir")["fix"]["edits"][0];
    assert_eq!(edit["file"], ini.display().to_string(), "{v:#}");
    apply_fixes_with(
        &v,
        |c| assert!(c.starts_with("systemctl restart php-fpm"), "{c}"),
        run,
    );
    std::fs::write(
        &ini,
        format!("open_basedir = /var/www/:{}/\n", t.env.dir.path().display()),
    )
    .unwrap();
    let (code, v) = run();
    assert_eq!(code, 0, "{v:#}");
}

/// A reply directory the server cannot reach; a client umask that makes reply
/// FIFOs the server cannot open.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn reply_dir_the_server_cannot_use() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o666);
    let home = t.path("clienthome");
    mkdir(&home, 0o700, Some(&t.cli));
    let theirs = home.join("replies");
    mkdir(&theirs, 0o777, Some(&t.cli));
    // `doctor` passes its reply-dir argument as `--reply-dir DIR/`.
    let run = |dir: &Path| doctor(&t.env, dir, &[&"--fifo", &fifo, &"--as", &t.cli.name]);
    let (code, v) = run(&theirs);
    assert_denied(code, &v, &["reply-dir-denied"]);
    assert!(message(&v, "reply-dir-denied").contains("server cannot reach"));
    apply_fixes_then_ok(&v, || run(&theirs));
    // A client with an owner-only umask: reply FIFOs the server cannot open.
    let client = sleeper(&t.cli, |c| format!("umask 077; exec {c}"));
    let (_, v) = t.at_pid(&fifo, client.pid());
    assert_eq!(finding(&v, "umask")["severity"], "warning", "{v:#}");
}
/// A read-only bind mount, unmounted on drop.
struct RoMount(PathBuf);

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A reply directory on a read-only mount: plain, and as a unit's read-only view.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn read_only_reply_dir() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o666);
    let src = t.path("rw");
    mkdir(&src, 0o1777, None);
    let ro = t.path("ro");
    mkdir(&ro, 0o755, None);
    run_ok(Command::new("mount").arg("--bind").arg(&src).arg(&ro));
    let _m = RoMount(ro.clone());
    run_ok(
        Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&ro),
    );
    // `doctor` passes its reply-dir argument as `--reply-dir DIR/`.
    let run = |dir: &Path| doctor(&t.env, dir, &[&"--fifo", &fifo, &"--as", &t.cli.name]);
    let (code, v) = run(&ro);
    assert_denied(code, &v, &["read-only-mount"]);
    // No unit makes it read-only: the fix is the client's reply directory,
    // in words (nothing to paste). The test does that, then ok.
    assert!(fix_commands(&v).is_empty(), "{v:#}");
    assert!(finding(&v, "read-only-mount")["fix"]["summary"]
        .as_str()
        .unwrap()
        .contains("findmnt -T"));
    let (code, after) = run(&src);
    assert_ok(code, &after);
    // A client whose unit makes the reply directory read-only (as
    // ReadOnlyPaths= does: a read-only bind in its own mount namespace).
    // The printed drop-in (ReadWritePaths=) is written as printed (`_unit`
    // removes it); `systemctl daemon-reload && systemctl restart UNIT` has no
    // manager behind the test's cgroup, so the test restarts its client into
    // the same cgroup the way the unit now would: without the read-only view.
    if !util::require("unshare", util::have_tool("unshare")) {
        return;
    }
    let unit = format!("{}.service", t.cli.name);
    let Some(cg) = unit_cgroup(&unit) else {
        return;
    };
    let _unit = UnitFile(PathBuf::from(format!("/etc/systemd/system/{unit}")));
    let client = Restartable::new(
        vec![cg.join(sleeper(&t.cli, |c| {
            format!(
                "exec unshare -m --propagation private sh -c 'mount --bind {0} {0} && mount -o remount,bind,ro {0} && exec {c}'",
                src.display()
            )
        }))],
        || vec![cg.join(t.client())],
    );
    let run = || {
        doctor(
            &t.env,
            &src,
            &[&"--fifo", &fifo, &"--pid", &client.pid().to_string()],
        )
    };
    let (code, v) = run();
    assert_denied(code, &v, &["read-only-mount"]);
    apply_fixes_with(
        &v,
        |c| {
            assert_eq!(
                c,
                format!("systemctl daemon-reload && systemctl restart {unit}")
            );
            client.restart();
        },
        run,
    );
}

/// The cgroup2 mount point, if any.
fn cgroup2() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split(' ').next() != Some("cgroup2") {
            return None;
        }
        left.split(' ').nth(4).map(PathBuf::from)
    })
}

/// A cgroup named like a systemd unit; emptied and removed on drop.
struct Cgroup(PathBuf);

/// A fresh cgroup `unit` in the cgroup2 hierarchy, or `None` (a skip through
/// `util::require`, a failure in CI) without a writable cgroup2.
fn unit_cgroup(unit: &str) -> Option<Cgroup> {
    let Some(root_cg) = cgroup2() else {
        util::require("a cgroup2 mount", false);
        return None;
    };
    let dir = root_cg.join(unit);
    if std::fs::create_dir(&dir).is_err() {
        util::require(
            &format!("a writable cgroup2 at {}", root_cg.display()),
            false,
        );
        return None;
    }
    Some(Cgroup(dir))
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let (Ok(procs), Some(parent)) = (
            std::fs::read_to_string(self.0.join("cgroup.procs")),
            self.0.parent(),
        ) {
            for pid in procs.lines() {
                let _ = std::fs::write(parent.join("cgroup.procs"), pid);
            }
        }
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Cgroup {
    /// Moves `p` into this cgroup (a process of the unit), or `None` (a
    /// skip through `util::require`, a failure in CI) when that is refused.
    fn try_join(&self, p: Proc) -> Option<Proc> {
        match std::fs::write(self.0.join("cgroup.procs"), p.pid().to_string()) {
            Ok(()) => Some(p),
            Err(e) => {
                util::require(
                    &format!("moving a process into {} ({e})", self.0.display()),
                    false,
                );
                None
            }
        }
    }

    /// Moves `p` into this cgroup (a process of the unit).
    fn join(&self, p: Proc) -> Proc {
        std::fs::write(self.0.join("cgroup.procs"), p.pid().to_string()).unwrap();
        p
    }
}

/// Without --as/--pid the doctor examines the web workers it finds on the host.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn auto_detects_web_processes() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o660);
    // Two "php-fpm" workers (a copy of sleep, so comm starts with php-fpm),
    // started before their user joins the FIFO's group.
    let fpm = t.path("php-fpm-mififo");
    std::fs::copy("/bin/sleep", &fpm).unwrap();
    std::fs::set_permissions(&fpm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let workers = Restartable::started(|| {
        (0..2)
            .map(|_| {
                Proc::start(
                    t.cli.command(&fpm).arg("120").stdin(Stdio::null()),
                    "php-fpm-mififo",
                )
            })
            .collect()
    });
    // Auto-detection looks at every web process on the host: only the
    // findings about the test's workers are asserted on (and fixed).
    let ours = || -> (i32, Value) {
        let (_, v) = t.doctor(&[&"--fifo", &fifo]);
        let now = workers.now.borrow();
        let subject = v["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .find(|c| c.contains(&now[0].pid().to_string()))
            .unwrap_or_else(|| panic!("workers not detected: {v:#}"));
        assert!(
            subject.contains(&now[1].pid().to_string()),
            "identical workers are examined once: {subject}"
        );
        about(&v, &subject)
    };
    let (code, v) = ours();
    assert_denied(code, &v, &["group-not-member"]);
    // The fix-then-recheck loop: the group change is pasted as printed (the
    // users are the test's own); the workers' restart (no unit: a `ps` line,
    // pasted) is done by restarting them (new processes get the new groups).
    apply_fixes_with(
        &v,
        |c| {
            run_ok(Command::new("sh").args(["-c", c]));
            if !c.starts_with("usermod ") && !c.starts_with("gpasswd ") {
                workers.restart();
            }
        },
        ours,
    );
    let (_, v) = ours();
    assert!(has(&v, "access-ok"), "{v:#}");
}

/// The findings of `v` about `subject` (and those about no subject), with
/// the verdict and exit code they alone make: what a run of the doctor for
/// that client alone would say.
fn about(v: &Value, subject: &str) -> (i32, Value) {
    let mut v = v.clone();
    let kept: Vec<Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subject"].is_null() || f["subject"] == subject)
        .cloned()
        .collect();
    let denied = kept.iter().any(|f| f["severity"] == "error");
    v["findings"] = Value::Array(kept);
    if denied {
        v["verdict"] = "denied".into();
        (1, v)
    } else {
        if v["verdict"] == "denied" {
            v["verdict"] = "ok".into();
        }
        (0, v)
    }
}

/// --unit selects the processes of the unit's cgroup.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn unit_selects_the_processes_of_a_cgroup() {
    let Some(t) = Case::new() else { return };
    let (fifo, _server) = t.served(0o660);
    let unit = format!("{}.service", t.cli.name);
    let Some(cg) = unit_cgroup(&unit) else {
        return;
    };
    let Some(first) = cg.try_join(t.client()) else {
        return;
    };
    let first_pid = first.pid();
    let run = || t.doctor(&[&"--fifo", &fifo, &"--unit", &t.cli.name]);
    let (code, v) = run();
    assert_denied(code, &v, &["group-not-member"]);
    assert!(
        v["clients"][0]
            .as_str()
            .unwrap()
            .contains(&first_pid.to_string()),
        "{v:#}"
    );
    // The fix-then-recheck loop: the group change is pasted as printed (the
    // users are the test's own, removed on drop); the client's restart has no
    // unit manager behind this cgroup, so the test restarts its process into
    // the same cgroup (a new process gets the new group list).
    let client = Restartable::new(vec![first], || vec![cg.join(t.client())]);
    apply_fixes_with(
        &v,
        |c| {
            if c.starts_with("usermod ") || c.starts_with("gpasswd ") {
                run_ok(Command::new("sh").args(["-c", c]));
            } else {
                assert!(c.contains("restart") || c.starts_with("kill "), "{c}");
                client.restart();
            }
        },
        run,
    );
    let out = t
        .env
        .cmd()
        .args(["doctor", "--unit", "mififo-test-no-such.service", "--fifo"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// An OpenSIPS stand-in (a `#!/bin/sh` script named `opensips`, so that is
/// its comm) run as `user` as `opensips -f CFG FIFO`: it holds FIFO open
/// read-write (a reader that never sees EOF) until killed. `read` is a
/// builtin: no child process outlives the kill (a leftover would keep the
/// user busy and make userdel fail).
fn opensips_stand_in(dir: &Path, user: &TestUser, cfg: &Path, fifo: &Path) -> Proc {
    let bin = dir.join("opensips");
    if !bin.exists() {
        std::fs::write(&bin, "#!/bin/sh\nexec 3<>\"$3\"\nread -r _\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    Proc::start(
        user.command(&bin)
            .arg("-f")
            .arg(cfg)
            .arg(fifo)
            .stdin(Stdio::piped()),
        "opensips",
    )
}

/// An OpenSIPS whose config sets another reply_dir than the client uses; a client
/// naming another path is shown the configured fifo_name.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn server_config_fifo_name_and_reply_dir() {
    let Some(t) = Case::new() else { return };
    let fifo = t.fifo(0o666);
    let cfg = t.path("opensips.cfg");
    std::fs::write(
        &cfg,
        format!(
            "loadmodule \"mi_fifo.so\"\nmodparam(\"mi_fifo\", \"fifo_name\", \"{}\")\nmodparam(\"mi_fifo\", \"reply_dir\", \"/run/mififo-test-elsewhere/\")\n",
            fifo.display()
        ),
    )
    .unwrap();
    let server =
        Restartable::started(|| vec![opensips_stand_in(t.env.dir.path(), &t.srv, &cfg, &fifo)]);
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["reply-dir-mismatch"]);
    assert!(message(&v, "reply-dir-mismatch").contains("/run/mififo-test-elsewhere/"));
    // The fix-then-recheck loop: the printed modparam edit is applied to the
    // config the test wrote; `systemctl restart opensips` has no unit behind
    // it here, so the test restarts its stand-in with the same command line
    // (it reads the FIFO again; the doctor reads the edited config).
    apply_fixes_with(
        &v,
        |c| {
            assert_eq!(c, "systemctl restart opensips", "{c}");
            server.restart();
        },
        || t.as_cli(&fifo),
    );
    // The client names another path: the server's configured fifo_name is shown.
    let wrong = t.path("old_fifo");
    let (code, v) = t.as_cli(&wrong);
    assert_eq!(code, 1);
    let m = finding(&v, "fifo-missing");
    assert!(
        m["fix"]["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("mififo doctor --fifo '{}'", fifo.display())),
        "{m:#}"
    );
}

/// Without `--fifo`/`--reply-dir` the doctor examines what `mififo call` would
/// use: environment over opensips-cli config over defaults; a flag wins.
#[test]
fn defaults_are_resolved_like_call() {
    let _ = decoys();
    let env = TestEnv::new();
    let replies = env.path("replies");
    std::fs::create_dir(&replies).unwrap();
    std::fs::create_dir(env.path("env_replies")).unwrap();
    let cfg = env.path("cli.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[default]\nfifo_file = {}\nfifo_reply_dir = {}/\n",
            env.path("cfg_fifo").display(),
            replies.display()
        ),
    )
    .unwrap();
    let run = |extra: &[&str], vars: &[(&str, PathBuf)]| -> Value {
        let mut cmd = env.cmd();
        cmd.args(["doctor", "--format", "json", "--as", "root", "--no-probe"])
            .arg("--audit-log")
            .arg(env.path("no-audit.log"))
            .arg("--php-ini")
            .arg(env.path("no-php.ini"))
            .args(extra);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)))
    };
    let reply_check = |v: &Value| detail(v, "reply dir").to_string();
    let cfg_arg = cfg.to_str().unwrap();
    // The config file gives both.
    let v = run(&["--config", cfg_arg], &[]);
    assert_eq!(v["fifo"], env.path("cfg_fifo").to_str().unwrap());
    assert!(
        reply_check(&v).starts_with(&format!("{}/", replies.display())),
        "{v:#}"
    );
    assert_eq!(codes(&v)[0], "fifo-missing", "{v:#}");
    // The environment beats the config file.
    let v = run(
        &["--config", cfg_arg],
        &[
            ("OPENSIPS_MI_FIFO_FILE", env.path("env_fifo")),
            ("OPENSIPS_MI_FIFO_REPLY_DIR", env.path("env_replies")),
        ],
    );
    assert_eq!(v["fifo"], env.path("env_fifo").to_str().unwrap());
    assert!(
        reply_check(&v).contains(env.path("env_replies").to_str().unwrap()),
        "{v:#}"
    );
    // The flag beats both, byte for byte (trailing space kept).
    let flagged = format!("{} ", env.path("flag_fifo").display());
    let v = run(
        &["--config", cfg_arg, "--fifo", &flagged],
        &[("OPENSIPS_MI_FIFO_FILE", env.path("env_fifo"))],
    );
    // (The report escapes the space it kept.)
    assert_eq!(
        v["fifo"],
        format!("{}\\x20", env.path("flag_fifo").display())
    );
}

// ---- issue 13: the doctor in the field ----------------------------------

/// A server stand-in running as root (see [`holding`]).
fn root_reader(fifo: &Path) -> Proc {
    holding(&mut Command::new("sh"), fifo)
}

/// A process whose comm is `name` (a copy of `tail`) started as `NAME -f CFG`,
/// exactly how OpenSIPS/Kamailio name their config file; it follows the file
/// until killed.
fn fake_server(env: &TestEnv, name: &str, cfg: &Path) -> Proc {
    let dir = env.path(&format!("bin-{}", fastrand::u32(..)));
    mkdir(&dir, 0o755, None);
    let exe = dir.join(name);
    std::fs::copy("/usr/bin/tail", &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    Proc::start(
        Command::new(&exe)
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::null())
            .stdin(Stdio::null()),
        name,
    )
}

/// `mififo serve` as root (the test binary), killed on drop; waits for its FIFO.
/// Without a `--user` in `extra` it keeps root explicitly (`--user root`).
fn serve(env: &TestEnv, fifo: &Path, replies: &Path, extra: &[&str]) -> Proc {
    let user: &[&str] = if extra.contains(&"--user") {
        &[]
    } else {
        util::serve_user_args()
    };
    let child = env
        .cmd()
        .arg("serve")
        .args(user)
        .arg("--fifo")
        .arg(fifo)
        .arg("--reply-dir")
        .arg(format!("{}/", replies.display()))
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::symlink_metadata(fifo)
        .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
    {
        assert!(Instant::now() < deadline, "serve never created {fifo:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

/// The fix a user would apply for each error finding (docs/doctor.md,
/// "Fixes"): the main one, or, when it only says what to do in words, the
/// first alternative with something to paste. Alternatives are never mixed.
fn chosen_fixes(v: &Value) -> Vec<Value> {
    let pasteable = |f: &Value| {
        ["commands", "edits"]
            .iter()
            .any(|k| f[*k].as_array().is_some_and(|a| !a.is_empty()))
    };
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .filter_map(|f| {
            let main = &f["fix"];
            if pasteable(main) {
                return Some(main.clone());
            }
            main["alternatives"]
                .as_array()
                .and_then(|alts| alts.iter().find(|a| pasteable(a)).cloned())
        })
        .collect()
}

/// Every shell command of the chosen fix of each error finding, in order.
fn fix_commands(v: &Value) -> Vec<String> {
    chosen_fixes(v)
        .iter()
        .flat_map(|f| f["commands"].as_array().cloned().unwrap_or_default())
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// The fix-then-recheck loop: pastes every printed shell fix into `sh`
/// (each must succeed), then the same doctor run must say `ok`.
fn apply_fixes_then_ok(v: &Value, rerun: impl Fn() -> (i32, Value)) {
    let cmds = fix_commands(v);
    assert!(!cmds.is_empty(), "no shell fix printed: {v:#}");
    for c in &cmds {
        run_ok(Command::new("sh").args(["-c", c]));
    }
    let (code, after) = rerun();
    assert_eq!(after["verdict"], "ok", "after {cmds:?}: {after:#}");
    assert_eq!(code, 0);
}

/// The fix-then-recheck loop where a printed line cannot be pasted by a
/// test as it is (a restart of a service, of a process the test owns):
/// `instead` gets each such command and does the test's equivalent (the
/// caller says which in a comment); every printed config edit is applied to
/// the file it names, which must be one the test wrote (the line replaces the
/// one setting the same key, or is appended). Then the verdict must be ok.
fn apply_fixes_with(v: &Value, instead: impl Fn(&str), rerun: impl Fn() -> (i32, Value)) {
    let cmds = fix_commands(v);
    let edits: Vec<(String, String)> = chosen_fixes(v)
        .iter()
        .flat_map(|f| f["edits"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["line"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        !cmds.is_empty() || !edits.is_empty(),
        "no fix printed: {v:#}"
    );
    for (file, line) in &edits {
        let dir = std::env::temp_dir();
        assert!(
            Path::new(file).starts_with(&dir)
                || file.starts_with("/etc/systemd/system/mififo-test-"),
            "an edit of a file the test did not write: {file}"
        );
        // `KEY=value` lines, and `modparam("module", "param", value)` lines
        // whose key is the module and the parameter.
        let key_of = |l: &str| -> String {
            if l.trim_start().starts_with("modparam(") {
                l.splitn(3, ',').take(2).collect::<Vec<_>>().join(",")
            } else {
                l.split('=').next().unwrap().trim().to_string()
            }
        };
        let key = key_of(line);
        let old = std::fs::read_to_string(file).unwrap_or_default();
        let mut out: Vec<String> = Vec::new();
        let mut done = false;
        for l in old.lines() {
            if !key.is_empty() && key_of(l) == key && !done {
                out.push(line.clone());
                done = true;
            } else {
                out.push(l.to_string());
            }
        }
        if !done {
            out.push(line.clone());
        }
        if let Some(parent) = Path::new(file).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(file, out.join("\n") + "\n").unwrap();
    }
    for c in &cmds {
        instead(c);
    }
    let (code, after) = rerun();
    assert_eq!(
        after["verdict"], "ok",
        "after {cmds:?} {edits:?}: {after:#}"
    );
    assert_eq!(code, 0);
}

/// A uid/gid with neither a passwd nor a group entry.
fn nameless_id() -> u32 {
    loop {
        let id = 3_900_000 + fastrand::u32(..100_000);
        let u = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id)).unwrap();
        let g = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(id)).unwrap();
        if u.is_none() && g.is_none() {
            return id;
        }
    }
}

/// Case 3: `..` is looked up in `sub`, so the kernel needs search on `sub`
/// even though the FIFO is not below it.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn dotdot_needs_search_on_the_directory_it_leaves() {
    let Some(t) = Case::new() else { return };
    let d = t.path("pub");
    mkdir(&d, 0o755, Some(&t.srv));
    let sub = d.join("sub");
    mkdir(&sub, 0o700, Some(&t.srv));
    let fifo = t.fifo_in(&d, 0o666);
    let name = fifo.file_name().unwrap().to_str().unwrap();
    let _server = reader(&t.srv, &fifo);
    // `.` and `//` are harmless where every directory is searchable.
    let dotted = PathBuf::from(format!("{}/.//{name}", d.display()));
    let (code, v) = t.as_cli(&dotted);
    assert_ok(code, &v);
    let odd = PathBuf::from(format!("{}/sub/../{name}", d.display()));
    let (code, v) = t.as_cli(&odd);
    assert_denied(code, &v, &["dir-search-denied"]);
    assert!(
        message(&v, "dir-search-denied").contains(&sub.display().to_string()),
        "{v:#}"
    );
    // The probe's EACCES is what the model predicted now.
    assert!(!has(&v, "probe-disagrees"), "{v:#}");
    apply_fixes_then_ok(&v, || t.as_cli(&odd));
}

/// Case 4: fs.protected_symlinks refuses the doctor (root) too; the FIFO
/// still exists and is read, and the refusal is its own finding.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn protected_symlinks_is_not_a_missing_fifo() {
    let Some(t) = Case::new() else { return };
    if !util::require(
        "fs.protected_symlinks",
        Path::new(crate::util::root::PROTECTED_SYMLINKS).exists(),
    ) {
        return;
    }
    let _ps = ProtectedSymlinks::set("1");
    let (fifo, _server) = t.served(0o666);
    let sticky = t.path("sticky");
    mkdir(&sticky, 0o1777, None);
    let link = sticky.join("link");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(t.srv.uid), Some(t.srv.gid)).unwrap();
    // Root itself cannot follow it.
    assert_eq!(
        std::fs::metadata(&link).unwrap_err().raw_os_error(),
        Some(libc::EACCES)
    );
    let (code, v) = t.as_cli(&link);
    assert_denied(code, &v, &["protected-symlinks"]);
    assert!(!has(&v, "fifo-missing"), "{v:#}");
    assert_eq!(check(&v, "reader")["status"], "ok", "{v:#}");
    // The link's owner may follow it.
    let (code, v2) = t.doctor_as(&link, &t.srv.name);
    assert_ok(code, &v2);
    // The fix-then-recheck loop: the printed `readlink -f LINK` is pasted and
    // its output is the path the client is then pointed at.
    let real = std::cell::RefCell::new(None);
    apply_fixes_with(
        &v,
        |c| {
            let out = Command::new("sh").args(["-c", c]).output().unwrap();
            assert!(out.status.success(), "{c}");
            let p = String::from_utf8(out.stdout)
                .unwrap()
                .trim_end()
                .to_string();
            *real.borrow_mut() = Some(PathBuf::from(p));
        },
        || t.as_cli(real.borrow().as_ref().unwrap()),
    );
    assert_eq!(real.into_inner().unwrap(), fifo);
}

/// Case 5: the group that may search a directory is already the user's per
/// /etc/group; the running process predates it: restart, not usermod.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn stale_group_on_a_directory() {
    let Some(t) = Case::new() else { return };
    let grp = TestGroup::new();
    let dir = t.path("grpdir");
    mkdir(&dir, 0o750, None);
    std::os::unix::fs::chown(&dir, Some(0), Some(grp.gid)).unwrap();
    let fifo = t.fifo_in(&dir, 0o666);
    let _server = root_reader(&fifo);
    let client = t.client();
    t.cli.join(&grp.name);
    let (code, v) = t.at_pid(&fifo, client.pid());
    assert_denied(code, &v, &["group-stale"]);
    assert!(message(&v, "group-stale").contains(&grp.name), "{v:#}");
    assert!(
        fix_commands(&v).iter().all(|c| !c.contains("usermod")),
        "{v:#}"
    );
    restart_stale_client_then_ok(&t, &fifo, &v, client);
}

/// Case 6: the FIFO's owner and group have no names: no fix may name a
/// group nobody can join; the printed fix works.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn nameless_owner_gets_a_fix_that_works() {
    let Some(t) = Case::new() else { return };
    let id = nameless_id();
    let fifo = t.fifo(0o660);
    std::os::unix::fs::chown(&fifo, Some(id), Some(id)).unwrap();
    let _server = root_reader(&fifo);
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["group-not-member"]);
    assert!(
        !v.to_string().contains(&format!("usermod -aG {id}")),
        "{v:#}"
    );
    apply_fixes_then_ok(&v, || t.as_cli(&fifo));
}

/// Case 1: run as an ordinary user while root's server is live: what it
/// cannot see is `unknown` (never `no-reader`), a non-blocking write-open
/// shows the reader, and the exact sudo line is printed. With no reader the
/// write-open's ENXIO makes `no-reader` certain even without root.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn unprivileged_doctor_is_honest() {
    let Some(t) = Case::new() else { return };
    let fifo = t.path(&fifo_name());
    let _server = t.serve(&fifo, &["--mode", "0666"]);
    let (code, v) = t.unprivileged(&fifo, &[]);
    assert!(errors(&v).is_empty(), "{v:#}");
    assert!(!has(&v, "no-reader"), "{v:#}");
    assert_eq!(v["verdict"], "unknown", "{v:#}");
    assert_eq!(code, 0);
    assert_eq!(check(&v, "reader")["status"], "ok", "{v:#}");
    assert!(detail(&v, "reader").contains("write-open"));
    let rerun = v["rerun"].as_str().unwrap();
    assert!(
        rerun.starts_with("sudo ")
            && rerun.contains(" doctor ")
            && rerun.contains(&fifo.display().to_string()),
        "{rerun}"
    );
    assert!(!v["needs_root"].as_array().unwrap().is_empty());
    // The candidate list names the root-run mififo serve configured with this path.
    let cands = detail(&v, "server candidates");
    assert!(cands.contains("configured with this fifo_name"), "{cands}");
    // A client process of another user (root): its /proc/PID/root and ns links
    // are closed to the doctor; that is unknown, not a mount-namespace problem.
    let root_client = Proc::start(
        Command::new("sleep").arg("120").stdin(Stdio::null()),
        "sleep",
    );
    let (_, v) = t.unprivileged(&fifo, &["--pid", &root_client.pid().to_string()]);
    assert!(errors(&v).is_empty(), "{v:#}");
    assert_eq!(v["verdict"], "unknown", "{v:#}");
    // A stale FIFO of root's: nobody reads it, which a write-open proves.
    let stale = t.path("stale_fifo");
    nix::unistd::mkfifo(&stale, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, v) = t.unprivileged(&stale, &[]);
    assert_denied(code, &v, &["no-reader"]);
    assert!(finding(&v, "no-reader")["evidence"]["write-open"]
        .as_str()
        .unwrap()
        .contains("ENXIO"));
    // The fix-then-recheck loop: no server is configured for this path, so
    // the fix ("start the one that should serve it") is words; the test
    // starts one (mififo serve on that path, as root), and the unprivileged
    // doctor sees it through the write-open: no error any more.
    assert!(fix_commands(&v).is_empty(), "{v:#}");
    std::fs::remove_file(&stale).unwrap();
    let _started = t.serve(&stale, &["--mode", "0666"]);
    let (code, after) = t.unprivileged(&stale, &[]);
    assert!(errors(&after).is_empty(), "{after:#}");
    assert_eq!(after["verdict"], "unknown", "{after:#}");
    assert_eq!(code, 0);
}

/// Case 2: several server instances; the missing FIFO's fix names the one
/// configured for the asked FIFO's directory, not the lowest pid.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn several_instances_are_ranked_by_relevance() {
    let Some(t) = Case::new() else { return };
    let unrelated = t.path("unrelated.cfg");
    std::fs::write(
        &unrelated,
        "modparam(\"mi_fifo\", \"fifo_name\", \"/var/tmp/mififo-test-elsewhere/opensips_fifo\")\n",
    )
    .unwrap();
    let real = t.path("real_fifo");
    let relevant = t.path("relevant.cfg");
    std::fs::write(
        &relevant,
        format!(
            "modparam(\"mi_fifo\", \"fifo_name\", \"{}\")\nmodparam(\"mi_fifo\", \"reply_dir\", \"{}/\")\n",
            real.display(),
            t.replies.display()
        ),
    )
    .unwrap();
    // The unrelated instance starts first and gets the lower pid.
    let a = fake_server(&t.env, "opensips", &unrelated);
    let b = fake_server(&t.env, "opensips", &relevant);
    assert!(a.pid() < b.pid());
    let asked = t.path(&fifo_name());
    let (code, v) = t.as_cli(&asked);
    assert_denied(code, &v, &["fifo-missing"]);
    let summary = finding(&v, "fifo-missing")["fix"]["summary"]
        .as_str()
        .unwrap();
    assert!(
        summary.contains(&format!("mififo doctor --fifo '{}'", real.display())),
        "{v:#}"
    );
    assert!(summary.contains(&format!("pid {}", b.pid())), "{summary}");
    assert!(summary.contains("same directory"), "{summary}");
    // The fix-then-recheck loop. Pointing the client at the instance's FIFO
    // is words only (the client's config is not known); the first pasteable
    // alternative sets that instance's fifo_name to the asked path in its
    // config (applied to the file the test wrote) and restarts it. The
    // stand-in has no unit and no FIFO code: the test restarts it on the
    // edited config and does what OpenSIPS does on start, create the FIFO at
    // fifo_name and read it.
    let b = Restartable::new(vec![b], || {
        mkfifo(&asked, 0o666, &t.srv);
        vec![
            fake_server(&t.env, "opensips", &relevant),
            reader(&t.srv, &asked),
        ]
    });
    apply_fixes_with(
        &v,
        |c| {
            assert_eq!(c, "systemctl restart opensips", "{c}");
            b.restart();
        },
        || t.as_cli(&asked),
    );
    assert!(std::fs::read_to_string(&relevant)
        .unwrap()
        .contains(&format!("\"{}\"", asked.display())));
    drop(a);
}

/// Case 7: fixes fit the server kind, and only shell commands get `$ `.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn fixes_fit_the_server_kind() {
    let Some(t) = Case::new() else { return };
    // mififo serve as root: the FIFO is root:root 0660, the client is not in group root.
    let fifo = t.path(&fifo_name());
    let server = t.serve(&fifo, &[]);
    let (code, v) = t.as_cli(&fifo);
    assert_eq!(code, 1, "{v:#}");
    let text = v.to_string();
    assert!(!text.contains("modparam"), "{v:#}");
    assert!(!text.contains("systemctl restart opensips"), "{v:#}");
    assert!(text.contains("--group"), "{v:#}");
    // The human report: config lines are never behind `$ `, every `$ ` line is a command.
    let (_, human) = t.human_as(&fifo, &t.cli.name);
    for l in human.lines().filter(|l| l.trim_start().starts_with("$ ")) {
        assert!(
            !l.contains("modparam") && !l.contains("   # "),
            "{l}\n{human}"
        );
    }
    // The fix-then-recheck loop. The fix makes a dedicated group `mififo`;
    // a test may not create a host-global group of that name, so the group's
    // name in each printed line is the test's own group's (made by the test,
    // removed on drop; `groupadd -f` accepts it existing). The printed
    // `kill -TERM` is pasted; "start it again with --group G" is done by
    // starting mififo serve again with the same flags and `--group`.
    let grp = TestGroup::new();
    let server = Restartable::new(vec![server], || {
        let _ = std::fs::remove_file(&fifo);
        vec![t.serve(&fifo, &["--group", &grp.name])]
    });
    let in_test_group = |c: &str| {
        c.replace(" mififo ", &format!(" {} ", grp.name))
            .replace(" mififo &&", &format!(" {} &&", grp.name))
    };
    apply_fixes_with(
        &v,
        |c| {
            let c = in_test_group(c);
            if let Some(pid) = c.strip_prefix("kill -TERM ") {
                assert_eq!(pid, server.pid().to_string(), "{c}");
                run_ok(Command::new("sh").args(["-c", &c]));
                server.restart();
            } else {
                assert!(c.contains(&grp.name), "{c}");
                run_ok(Command::new("sh").args(["-c", &c]));
            }
        },
        || t.as_cli(&fifo),
    );
    // An OpenSIPS configured for this FIFO (the reader is a stand-in): the
    // same fix is an edit of that OpenSIPS's config file.
    let fifo2 = t.path("os_fifo");
    mkfifo(&fifo2, 0o660, &t.srv);
    std::os::unix::fs::chown(&fifo2, Some(0), Some(0)).unwrap();
    let _reader = root_reader(&fifo2);
    let cfg = t.path("opensips.cfg");
    std::fs::write(
        &cfg,
        format!(
            "modparam(\"mi_fifo\", \"fifo_name\", \"{}\")\n",
            fifo2.display()
        ),
    )
    .unwrap();
    let _os = fake_server(&t.env, "opensips", &cfg);
    let (_, v) = t.as_cli(&fifo2);
    let f = finding(&v, "group-not-member");
    let edit = &f["fix"]["edits"][0];
    assert_eq!(edit["file"], cfg.display().to_string(), "{f:#}");
    assert!(
        edit["line"]
            .as_str()
            .unwrap()
            .starts_with("modparam(\"mi_fifo\", \"fifo_group\""),
        "{f:#}"
    );
    for c in f["fix"]["commands"].as_array().unwrap() {
        assert!(!c.as_str().unwrap().contains("modparam"), "{f:#}");
    }
    // The fix-then-recheck loop: the group lines are pasted with the test's
    // group (as above), the fifo_group edit is applied to the test's config;
    // `systemctl restart opensips` has no unit here: the test does what
    // OpenSIPS does on start, give the FIFO its fifo_group.
    apply_fixes_with(
        &v,
        |c| {
            if c == "systemctl restart opensips" {
                let group = nix::unistd::Gid::from_raw(grp.gid);
                nix::unistd::chown(&fifo2, None, Some(group)).unwrap();
            } else {
                run_ok(Command::new("sh").args(["-c", &in_test_group(c)]));
            }
        },
        || t.as_cli(&fifo2),
    );
    assert!(std::fs::read_to_string(&cfg)
        .unwrap()
        .contains("modparam(\"mi_fifo\", \"fifo_group\""));
}

/// `sh -c CMD` with the tested `mififo` first on PATH (a printed
/// `mififo call …` check is pasted as it is).
fn sh_with_mififo(c: &str) -> Command {
    let dir = util::bin().parent().unwrap().to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![dir];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("sh");
    cmd.args(["-c", c])
        .env("PATH", std::env::join_paths(paths).unwrap());
    cmd
}

/// Case 8: `--call METHOD` makes one real exchange as the client and tells
/// answered / wrong dialect / no reply / reply FIFO unreachable.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn call_classifies_the_exchange() {
    let Some(t) = Case::new() else { return };
    let call = |fifo: &Path, extra: &[&str]| -> (i32, Value) {
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![
            &"--fifo",
            &fifo,
            &"--as",
            &t.cli.name,
            &"--call-timeout",
            &"1",
        ];
        for e in extra {
            args.push(e);
        }
        t.doctor(&args)
    };
    // The fix-then-recheck loop for a wrong dialect: the printed check
    // (`mififo call --dialect SERVER'S …`) is pasted and must succeed; "make
    // the client speak it" is the same doctor call in that dialect: ok.
    let dialect_fixed = |v: &Value, fifo: &Path, call_args: &[&str]| {
        apply_fixes_with(
            v,
            |c| {
                assert!(c.starts_with("mififo call --dialect "), "{c}");
                run_ok(&mut sh_with_mififo(c));
            },
            || {
                let (code, v) = call(fifo, call_args);
                assert!(has(&v, "call-answered"), "{v:#}");
                (code, v)
            },
        )
    };
    // JSON client, text server (OpenSIPS 1.x/2.x style): the server's answer shows it.
    let text_fifo = t.path("text_fifo");
    {
        let _server = t.serve(&text_fifo, &["--mode", "0666", "--dialect", "text"]);
        let (code, v) = call(&text_fifo, &["--call", "version"]);
        assert_denied(code, &v, &["call-wrong-dialect"]);
        let f = finding(&v, "call-wrong-dialect");
        assert!(
            f["evidence"]["text answer"]
                .as_str()
                .unwrap()
                .starts_with("200"),
            "{f:#}"
        );
        // In the server's dialect the same call is answered.
        dialect_fixed(&v, &text_fifo, &["--call", "version", "--dialect", "text"]);
    }
    // Kamailio client, OpenSIPS 3.x JSON server.
    let json_fifo = t.path("json_fifo");
    {
        let _server = t.serve(&json_fifo, &["--mode", "0666"]);
        let (code, v) = call(
            &json_fifo,
            &["--call", "core.version", "--dialect", "kamailio"],
        );
        assert_denied(code, &v, &["call-wrong-dialect"]);
        assert!(finding(&v, "call-wrong-dialect")["evidence"]["json answer"].is_string());
        dialect_fixed(&v, &json_fifo, &["--call", "version", "--dialect", "json"]);
    }
    // A reader that never answers. The fix (look at its log, restart it if
    // it hangs) is words for a reader of unknown kind: the test replaces the
    // hung reader by a server that answers; then ok.
    let mute = t.path("mute_fifo");
    mkfifo(&mute, 0o666, &t.srv);
    {
        let hung = root_reader(&mute);
        let (code, v) = call(&mute, &["--call", "version"]);
        assert_denied(code, &v, &["call-no-reply"]);
        assert!(fix_commands(&v).is_empty(), "{v:#}");
        drop(hung);
        std::fs::remove_file(&mute).unwrap();
        let _server = t.serve(&mute, &["--mode", "0666"]);
        let (code, after) = call(&mute, &["--call", "version"]);
        assert_ok(code, &after);
    }
    // The server (dropped to srv) cannot search the client's reply directory.
    let private = t.path("cli-replies");
    mkdir(&private, 0o700, Some(&t.cli));
    let srv_fifo = t.path("srv_fifo");
    let _server = serve(
        &t.env,
        &srv_fifo,
        &private,
        &["--mode", "0666", "--user", &t.srv.name],
    );
    let private_dir = format!("{}/", private.display());
    let run = || {
        call(
            &srv_fifo,
            &["--call", "version", "--reply-dir", &private_dir],
        )
    };
    let (_, v) = run();
    let e = errors(&v);
    assert!(e.contains(&"call-reply-unreachable".to_string()), "{v:#}");
    assert!(e.contains(&"reply-dir-denied".to_string()), "{v:#}");
    // The fix-then-recheck loop: the reply-dir fix is pasted (the call's
    // own fix is "fix the problems above"); then the exchange is answered.
    apply_fixes_then_ok(&v, run);
}

/// The fix-then-recheck loop for a server-side setup: `mififo serve` runs
/// but its FIFO was removed (a tmp cleaner): the printed fix (`kill -HUP`,
/// which makes serve recreate it) is pasted and the doctor then says ok.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn removed_fifo_of_a_running_serve_is_fixed_by_the_printed_restart() {
    let Some(t) = Case::new() else { return };
    let fifo = t.path(&fifo_name());
    let server = t.serve(&fifo, &["--mode", "0666"]);
    // serve recreates a removed FIFO by itself within a second: hold it
    // stopped so the broken state lasts while the doctor looks at it.
    let spid = nix::unistd::Pid::from_raw(server.pid());
    nix::sys::signal::kill(spid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    std::fs::remove_file(&fifo).unwrap();
    let (code, v) = t.as_cli(&fifo);
    assert_denied(code, &v, &["fifo-missing"]);
    let cmds = fix_commands(&v);
    assert_eq!(cmds[0], format!("kill -HUP {}", server.pid()), "{v:#}");
    apply_fixes_then_ok(&v, || {
        // The pasted `kill -HUP` is pending; let the server run again.
        nix::sys::signal::kill(spid, nix::sys::signal::Signal::SIGCONT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::symlink_metadata(&fifo).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        t.as_cli(&fifo)
    });
}

/// A network namespace `mififo-test-…`, deleted on drop (its veth end with it).
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("mififo-test-{:06x}", fastrand::u32(..0x100_0000));
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        run_ok(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        Netns(name)
    }

    /// `ip netns exec NAME prog args…` (ip execs the program: the pid is its pid).
    fn cmd(&self, prog: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).arg(prog);
        c
    }

    /// `sleep 120` inside (a client stand-in), killed on drop.
    fn sleeper(&self) -> Proc {
        Proc::start(self.cmd("sleep").arg("120").stdin(Stdio::null()), "sleep")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// A veth pair in the test's own namespace, deleted on drop (no-op once its
/// ends were moved into namespaces that are deleted themselves).
struct Veth(String);

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// Starts `mififo gateway ARGS` in `ns` (else in the test's own namespace);
/// waits until it prints its URL.
fn gateway_in(ns: Option<&Netns>, env: &TestEnv, args: &[&str]) -> Proc {
    use std::io::BufRead;
    let mut child = ns.map_or_else(|| Command::new(util::bin()), |ns| ns.cmd(util::bin()));
    child
        .arg("gateway")
        .args(util::serve_user_args())
        .args(args)
        .env("HOME", env.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = child.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("http://"), "gateway did not start: {line:?}");
    Proc(child)
}

/// `--url` across two network namespaces joined by a veth pair: the listener
/// in one and the client in the other, the same client in the listener's
/// namespace, a wrong bound address, an allow-list refusal and an auth
/// refusal; each printed fix applied (or its equivalent), then ok.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn url_across_network_namespaces() {
    let Some(t) = Case::needing(&["ip"]) else {
        return;
    };
    let a = Netns::new();
    let b = Netns::new();
    let tag = format!("{:02x}", fastrand::u8(..));
    let (va, vb) = (format!("mififo-test-{tag}a"), format!("mififo-test-{tag}b"));
    run_ok(Command::new("ip").args(["link", "add", &va, "type", "veth", "peer", "name", &vb]));
    // Gone with the namespaces once moved; until then (a panic in between) this removes it.
    let _veth = Veth(va.clone());
    run_ok(Command::new("ip").args(["link", "set", &va, "netns", &a.0]));
    run_ok(Command::new("ip").args(["link", "set", &vb, "netns", &b.0]));
    let net = format!("10.213.{}", fastrand::u8(1..250));
    let (ip_a, ip_b) = (format!("{net}.1"), format!("{net}.2"));
    run_ok(Command::new("ip").args(["-n", &a.0, "addr", "add", &format!("{ip_a}/24"), "dev", &va]));
    run_ok(Command::new("ip").args(["-n", &b.0, "addr", "add", &format!("{ip_b}/24"), "dev", &vb]));
    run_ok(Command::new("ip").args(["-n", &a.0, "link", "set", &va, "up"]));
    run_ok(Command::new("ip").args(["-n", &b.0, "link", "set", &vb, "up"]));
    // The FIFO leg: a server on the host, the gateway in namespace a on loopback.
    let fifo = t.path(&fifo_name());
    let _server = t.serve(&fifo, &["--mode", "0666"]);
    let port = 20000 + fastrand::u16(..20000);
    let fifo_s = fifo.display().to_string();
    let reply_s = format!("{}/", t.replies.display());
    let gateway = |listen: &str, more: &[&str]| {
        let mut args = vec!["--listen", listen];
        args.extend(more);
        args.extend(["--fifo", &fifo_s, "--reply-dir", &reply_s]);
        gateway_in(Some(&a), &t.env, &args)
    };
    let _gw = gateway(&format!("127.0.0.1:{port}"), &[]);
    let url = format!("http://127.0.0.1:{port}/mi");
    let in_b = b.sleeper();
    let in_a = a.sleeper();
    let url_doctor = |pid: i32, url: &str| -> (i32, Value) {
        t.doctor(&[&"--url", &url, &"--pid", &pid.to_string()])
    };
    // Client in b, listener in a. The printed `nsenter … ip -brief address`
    // lines (what each namespace has) are pasted; "run the client in the
    // endpoint's namespace" is the same client in a: it works, and the FIFO
    // leg is examined too.
    let (code, v) = url_doctor(in_b.pid(), &url);
    assert_denied(code, &v, &["http-other-namespace"]);
    apply_fixes_with(
        &v,
        |c| {
            assert!(c.starts_with("nsenter -t "), "{c}");
            run_ok(Command::new("sh").args(["-c", c]));
        },
        || url_doctor(in_a.pid(), &url),
    );
    let (_, v) = url_doctor(in_a.pid(), &url);
    assert!(has(&v, "http-ok"), "{v:#}");
    check(&v, "fifo leg: reader");
    // https:// to the plain-HTTP gateway: the fix (use http://) is words,
    // and the http:// URL is ok above.
    let (code, v) = url_doctor(in_a.pid(), &format!("https://127.0.0.1:{port}/mi"));
    assert_denied(code, &v, &["http-tls-mismatch"]);
    assert!(message(&v, "http-tls-mismatch").contains("http"), "{v:#}");
    assert!(fix_commands(&v).is_empty(), "{v:#}");
    // A port nobody listens on: the printed `mififo gateway --listen …` is
    // started in the client's namespace (with the FIFO leg's flags), then ok.
    let free = format!("127.0.0.1:{}", port + 3);
    let (code, v) = url_doctor(in_a.pid(), &format!("http://{free}/mi"));
    assert_denied(code, &v, &["http-no-listener"]);
    let started = std::cell::RefCell::new(None);
    apply_fixes_with(
        &v,
        |c| {
            assert!(
                c.starts_with(&format!("mififo gateway --listen {free} ")),
                "{c}"
            );
            *started.borrow_mut() = Some(gateway(&free, &[]));
        },
        || url_doctor(in_a.pid(), &format!("http://{free}/mi")),
    );
    drop(started);
    // Wrong bound address: the gateway is on 127.0.0.1 only. The printed
    // check (`mififo doctor --url BOUND`) is run for the same client.
    let (code, v) = url_doctor(in_a.pid(), &format!("http://{ip_a}:{port}/mi"));
    assert_denied(code, &v, &["http-bound-address"]);
    let bound = std::cell::RefCell::new(String::new());
    apply_fixes_with(
        &v,
        |c| {
            let u = c
                .strip_prefix("mififo doctor --url '")
                .and_then(|u| u.strip_suffix('\''))
                .unwrap_or_else(|| panic!("{c}"));
            *bound.borrow_mut() = u.to_string();
        },
        || url_doctor(in_a.pid(), &bound.borrow()),
    );
    assert_eq!(*bound.borrow(), url);
    // Allow list: reachable over the veth, but b's address is not allowed.
    let listen2 = format!("{ip_a}:{}", port + 1);
    let other = format!("{net}.99");
    let gw2 = Restartable::new(
        vec![gateway(&listen2, &["--allow-remote", "--allow", &other])],
        || {
            vec![gateway(
                &listen2,
                &["--allow-remote", "--allow", &other, "--allow", &ip_b],
            )]
        },
    );
    let (code, v) = url_doctor(in_b.pid(), &format!("http://{listen2}/mi"));
    assert_denied(code, &v, &["http-forbidden"]);
    let f = finding(&v, "http-forbidden");
    assert_eq!(f["evidence"]["client address"], ip_b.as_str(), "{f:#}");
    assert_eq!(f["evidence"]["gateway --allow"], other.as_str(), "{f:#}");
    // The fix-then-recheck loop: the printed `ps -o args=` (the gateway's
    // flags) is pasted; "restart it with --allow CLIENT added" is done.
    apply_fixes_with(
        &v,
        |c| {
            let out = Command::new("sh").args(["-c", c]).output().unwrap();
            assert!(
                String::from_utf8_lossy(&out.stdout).contains(&format!("--allow {other}")),
                "{c}"
            );
            gw2.restart();
        },
        || url_doctor(in_b.pid(), &format!("http://{listen2}/mi")),
    );
    // Auth: an endpoint that wants credentials (the fix is words: give the
    // client credentials; there is nothing to paste or to check them with).
    if util::require("python3", util::have_tool("python3")) {
        let port3 = port + 2;
        let script = format!(
            "import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n  def do_POST(s):\n    s.send_response(401); s.send_header('WWW-Authenticate','Basic realm=\"mi\"'); s.send_header('Content-Length','0'); s.end_headers()\n  def log_message(s,*a): pass\nh.HTTPServer(('{ip_a}',{port3}),H).serve_forever()\n"
        );
        let py = util::find_tool("python3").unwrap();
        let _auth = Proc(
            a.cmd(py)
                .arg("-c")
                .arg(script)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let auth_url = format!("http://{ip_a}:{port3}/mi");
        loop {
            let (code, v) = url_doctor(in_b.pid(), &auth_url);
            if has(&v, "http-auth-required") || Instant::now() > deadline {
                assert_denied(code, &v, &["http-auth-required"]);
                assert!(
                    finding(&v, "http-auth-required")["evidence"]["WWW-Authenticate"]
                        .as_str()
                        .unwrap()
                        .contains("Basic")
                );
                assert!(fix_commands(&v).is_empty(), "{v:#}");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A systemd unit file (and its drop-in directory) under /etc/systemd/system,
/// named `mififo-test-*`; both removed on drop.
struct UnitFile(PathBuf);

impl Drop for UnitFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let mut d = self.0.clone().into_os_string();
        d.push(".d");
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A file the test may overwrite or create: its old content (or its absence)
/// is put back on drop, even when the test fails.
struct SavedFile {
    path: PathBuf,
    old: Option<Vec<u8>>,
}

impl SavedFile {
    fn new(path: impl Into<PathBuf>) -> SavedFile {
        let path = path.into();
        let old = std::fs::read(&path).ok();
        SavedFile { path, old }
    }
}

impl Drop for SavedFile {
    fn drop(&mut self) {
        match &self.old {
            Some(b) => {
                let _ = std::fs::write(&self.path, b);
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// `--url` for a client whose systemd unit forbids the connection:
/// `PrivateNetwork=` (in a drop-in), `IPAddressDeny=` and
/// `RestrictAddressFamilies=` (in the unit file) are each named, from the unit
/// files of the unit the client's cgroup puts it in. Then the fix-then-recheck
/// loop: the printed drop-in is written as printed; `systemctl daemon-reload
/// && systemctl restart UNIT` has no manager behind this test's unit (the
/// doctor reads the unit files, which is what the restart would apply).
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn url_client_sandboxed_by_its_unit() {
    let Some(t) = Case::new() else { return };
    let unit = format!("{}.service", t.cli.name);
    let Some(cg) = unit_cgroup(&unit) else {
        return;
    };
    let fifo = t.path(&fifo_name());
    let _server = t.serve(&fifo, &["--mode", "0666"]);
    let port = 20000 + fastrand::u16(..20000);
    let listen = format!("127.0.0.1:{port}");
    let fifo_s = fifo.display().to_string();
    let reply_s = format!("{}/", t.replies.display());
    let _gw = gateway_in(
        None,
        &t.env,
        &[
            "--listen",
            &listen,
            "--fifo",
            &fifo_s,
            "--reply-dir",
            &reply_s,
        ],
    );
    let client = cg.join(t.client());
    let file = PathBuf::from(format!("/etc/systemd/system/{unit}"));
    let _unit = UnitFile(file.clone());
    std::fs::write(
        &file,
        "[Unit]\nDescription=mififo test client\n\n[Service]\nExecStart=/bin/sleep 120\nIPAddressDeny=any\nRestrictAddressFamilies=AF_UNIX\n",
    )
    .unwrap();
    let dropin = PathBuf::from(format!("/etc/systemd/system/{unit}.d"));
    std::fs::create_dir_all(&dropin).unwrap();
    std::fs::write(
        dropin.join("10-net.conf"),
        "[Service]\nPrivateNetwork=yes\n",
    )
    .unwrap();
    let url = format!("http://{listen}/mi");
    let pid = client.pid().to_string();
    let run = || t.doctor(&[&"--url", &url, &"--pid", &pid]);
    let (code, v) = run();
    assert_denied(code, &v, &["http-systemd-sandbox"]);
    let f = finding(&v, "http-systemd-sandbox");
    let m = f["message"].as_str().unwrap();
    assert!(m.contains(&unit), "{f:#}");
    assert!(m.contains("PrivateNetwork=yes"), "{f:#}");
    assert!(m.contains("10-net.conf"), "{f:#}");
    assert!(m.contains("IPAddressDeny=any"), "{f:#}");
    assert!(m.contains("RestrictAddressFamilies=AF_UNIX"), "{f:#}");
    assert!(
        f["fix"]["edits"][0]["file"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/etc/systemd/system/{unit}.d/")),
        "{f:#}"
    );
    apply_fixes_with(
        &v,
        |c| {
            assert_eq!(
                c,
                format!("systemctl daemon-reload && systemctl restart {unit}")
            )
        },
        run,
    );
    drop(client);
}
