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
        Decoys { pids, _keep: keep }
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
    let child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(child);
    wait_comm(p.pid(), "sleep");
    p
}

/// A server stand-in: holds `fifo` open read-write (a reader that never sees EOF) as `user`.
fn reader(user: &TestUser, fifo: &Path) -> Proc {
    let child = user
        .command("sh")
        .args(["-c", "exec 3<>\"$0\"; exec sleep 120"])
        .arg(fifo)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(child);
    wait_comm(p.pid(), "sleep");
    p
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

/// `doctor(… --fifo FIFO --as USER)`.
fn doctor_as(env: &TestEnv, replies: &Path, fifo: &Path, user: &str) -> (i32, Value) {
    doctor(env, replies, &[&"--fifo", &fifo, &"--as", &user])
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

struct Pair {
    srv: TestUser,
    cli: TestUser,
}

fn pair() -> Pair {
    Pair {
        srv: TestUser::new(),
        cli: TestUser::new(),
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

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn healthy_setup_is_access_ok() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o660, &p.srv);
    p.cli.join(&p.srv.name);
    let _server = reader(&p.srv, &fifo);
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert!(errors(&v).is_empty(), "{v:#}");
    assert!(codes(&v).contains(&"access-ok".to_string()), "{v:#}");
    assert!(!codes(&v).contains(&"probe-disagrees".to_string()), "{v:#}");
    assert_eq!(v["verdict"], "ok");
    assert_eq!(code, 0);
    // The probe ran and agreed.
    let access = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("access"))
        .unwrap();
    assert!(
        access["detail"]
            .as_str()
            .unwrap()
            .contains("probe O_WRONLY|O_NONBLOCK: opened"),
        "{access}"
    );
    // The host's other servers (the decoys) are seen, and ranked unrelated.
    let cands = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "server candidates")
        .unwrap()["detail"]
        .as_str()
        .unwrap();
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
    let out = env
        .cmd()
        .args(["doctor", "--as", &p.cli.name, "--fifo"])
        .arg(&fifo)
        .arg("--reply-dir")
        .arg(format!("{}/", replies.display()))
        .arg("--php-ini")
        .arg(env.path("none"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
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

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn not_in_group_and_group_class_before_other() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o660, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["group-not-member"]);
    let f = finding(&v, "group-not-member");
    assert!(f["fix"]["commands"][0]
        .as_str()
        .unwrap()
        .contains(&format!("usermod -aG {} {}", p.srv.name, p.cli.name)));
    apply_fixes_then_ok(&v, || doctor_as(&env, &replies, &fifo, &p.cli.name));
    // 0606 with the client in the owning group: group bits apply, other is never consulted.
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o606)).unwrap();
    p.cli.join(&p.srv.name);
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["dac-denied"]);
    assert!(finding(&v, "dac-denied")["message"]
        .as_str()
        .unwrap()
        .contains("group class applies"));
    apply_fixes_then_ok(&v, || doctor_as(&env, &replies, &fifo, &p.cli.name));
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn stale_group_process() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o660, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let client = sleeper(&p.cli, |c| format!("exec {c}"));
    p.cli.join(&p.srv.name);
    let (code, v) = doctor(
        &env,
        &replies,
        &[&"--fifo", &fifo, &"--pid", &client.pid().to_string()],
    );
    assert_denied(code, &v, &["group-stale"]);
    // The probe replayed the process's real (stale) groups and was refused too.
    assert!(!codes(&v).contains(&"probe-disagrees".to_string()), "{v:#}");
    // A fresh login of the same user is fine.
    let (code, v2) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_eq!(code, 0, "{v2:#}");
    // The fix-then-recheck loop: the printed fix is "restart the service these
    // processes belong to" (a `ps` line naming the process; it has no unit). The
    // `ps` is pasted; the restart is done the only way a test can: this test
    // restarts the process it started, then asks about the new one.
    let fresh = std::cell::RefCell::new(None);
    apply_fixes_with(
        &v,
        |c| {
            assert!(c.contains(&client.pid().to_string()), "{c}");
            run_ok(Command::new("sh").args(["-c", c]));
            let old = nix::unistd::Pid::from_raw(client.pid());
            let _ = nix::sys::signal::kill(old, nix::sys::signal::Signal::SIGKILL);
            let f = sleeper(&p.cli, |c| format!("exec {c}"));
            *fresh.borrow_mut() = Some(f);
        },
        || {
            let pid = fresh.borrow().as_ref().map(Proc::pid).unwrap();
            doctor(
                &env,
                &replies,
                &[&"--fifo", &fifo, &"--pid", &pid.to_string()],
            )
        },
    );
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn acl_mask_and_acl_denied() {
    if !root() || !util::require("setfacl", util::have_tool("setfacl")) {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o660, &p.srv);
    let _server = reader(&p.srv, &fifo);
    run_ok(
        Command::new("setfacl")
            .arg("-m")
            .arg(format!("u:{}:rw-", p.cli.name))
            .arg(&fifo),
    );
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_eq!(code, 0, "named ACL entry grants: {v:#}");
    // chmod 600 rewrites the mask to ---: the kernel skips the ACL.
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["acl-mask"]);
    assert!(finding(&v, "acl-mask")["fix"]["commands"][0]
        .as_str()
        .unwrap()
        .starts_with("setfacl -m m::rw"));
    apply_fixes_then_ok(&v, || doctor_as(&env, &replies, &fifo, &p.cli.name));
    // A named entry without w and a full mask: acl-denied.
    run_ok(
        Command::new("setfacl")
            .arg("-m")
            .arg(format!("u:{}:r--,m::rw-", p.cli.name))
            .arg(&fifo),
    );
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["acl-denied"]);
    apply_fixes_then_ok(&v, || doctor_as(&env, &replies, &fifo, &p.cli.name));
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn protected_fifos_blocks_o_creat_clients() {
    if !root() {
        return;
    }
    let (env, replies) = env();
    let p = pair();
    let sticky = env.path("sticky");
    mkdir(&sticky, 0o1777, None);
    let fifo = sticky.join(fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let _sysctl = ProtectedFifos::set("1");
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["protected-fifos"]);
    let f = finding(&v, "protected-fifos");
    assert!(f["message"]
        .as_str()
        .unwrap()
        .contains("php, python, opensipsctl"));
    assert!(
        !codes(&v).contains(&"probe-disagrees".to_string()),
        "the probe's O_CREAT open was refused too: {v:#}"
    );
    // Root is not exempt.
    let (_, v) = doctor(&env, &replies, &[&"--fifo", &fifo, &"--as", &"root"]);
    assert!(errors(&v).contains(&"protected-fifos".to_string()), "{v:#}");
    // mififo opens without O_CREAT.
    let (code, v) = doctor(
        &env,
        &replies,
        &[
            &"--fifo",
            &fifo,
            &"--as",
            &p.cli.name,
            &"--client-open",
            &"mififo",
        ],
    );
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["verdict"], "ok");
    // The fix-then-recheck loop. With a server of unknown kind (a stand-in)
    // the only shell fix is the sysctl (with its sysctl.d line): pasted as
    // printed; `_sysctl` puts the old value back and `_conf` the old file.
    let (_, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    let _conf = SavedFile::new("/etc/sysctl.d/60-mififo.conf");
    apply_fixes_then_ok(&v, || doctor_as(&env, &replies, &fifo, &p.cli.name));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/fs/protected_fifos")
            .unwrap()
            .trim(),
        "0"
    );
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

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn private_tmp_client() {
    if !root() || !util::require("unshare", util::have_tool("unshare")) {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    // The FIFO must be under /tmp whatever TMPDIR says.
    let shared = tempfile::Builder::new()
        .prefix("mififo-test-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = pair();
    let fifo = shared.path().join(fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
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
    let client = sleeper(&p.cli, |c| {
        format!(
            "exec unshare -m --propagation private sh -c 'mount --bind {} /tmp && exec {c}'",
            ptmp.display()
        )
    });
    let (code, v) = doctor(
        &env,
        &replies,
        &[
            &"--fifo",
            &fifo,
            &"--pid",
            &client.pid().to_string(),
            &"--reply-dir",
            &"/tmp/",
        ],
    );
    let f = finding(&v, "private-tmp");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("mififo-test-web.service"),
        "{f:#}"
    );
    assert!(
        errors(&v).contains(&"reply-dir-mismatch".to_string()),
        "{v:#}"
    );
    assert!(!codes(&v).contains(&"fifo-missing".to_string()), "{v:#}");
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
    let fresh = std::cell::RefCell::new(None);
    apply_fixes_with(
        &v,
        |c| {
            if c == "systemctl daemon-reload && systemctl restart mififo-test-web.service" {
                let old = nix::unistd::Pid::from_raw(client.pid());
                let _ = nix::sys::signal::kill(old, nix::sys::signal::Signal::SIGKILL);
                *fresh.borrow_mut() = Some(sleeper(&p.cli, |c| format!("exec {c}")));
            } else {
                panic!("not a step of the chosen fixes: {c}");
            }
        },
        || {
            let pid = fresh.borrow().as_ref().map(Proc::pid).unwrap();
            doctor(
                &env,
                &replies,
                &[
                    &"--fifo",
                    &fifo,
                    &"--pid",
                    &pid.to_string(),
                    &"--reply-dir",
                    &"/tmp/",
                ],
            )
        },
    );
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn other_mount_namespace() {
    if !root() || !util::require("unshare", util::have_tool("unshare")) {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let dir = env.path("run");
    mkdir(&dir, 0o755, None);
    let fifo = dir.join(fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let client = sleeper(&p.cli, |c| {
        format!(
            "exec unshare -m --propagation private sh -c 'mount -t tmpfs none {} && exec {c}'",
            dir.display()
        )
    });
    let (code, v) = doctor(
        &env,
        &replies,
        &[&"--fifo", &fifo, &"--pid", &client.pid().to_string()],
    );
    assert!(errors(&v).contains(&"mount-namespace".to_string()), "{v:#}");
    assert!(!codes(&v).contains(&"private-tmp".to_string()));
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
        || doctor(&env, &replies, &[&"--fifo", &fifo, &"--pid", &pid]),
    );
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn directory_without_search_permission() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let dir = env.path("private");
    mkdir(&dir, 0o700, Some(&p.srv));
    let fifo = dir.join(fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["dir-search-denied"]);
    assert!(finding(&v, "dir-search-denied")["message"]
        .as_str()
        .unwrap()
        .contains(&dir.display().to_string()));
    apply_fixes_then_ok(&v, || doctor_as(&env, &replies, &fifo, &p.cli.name));
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn no_reader_and_replaced_fifo() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
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
        let _started = reader(&p.srv, &fifo);
        let (code, after) = doctor_as(&env, &replies, &fifo, &p.cli.name);
        assert_eq!(after["verdict"], "ok", "{after:#}");
        assert_eq!(code, 0);
    }
    // Two unrelated servers read it: commands are split between them.
    {
        let _a = reader(&p.srv, &fifo);
        let _b = reader(&p.srv, &fifo);
        let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
        assert_denied(code, &v, &["multiple-servers"]);
    }
    // A server holds it; then the path is replaced (rm + mkfifo): the server holds a deleted FIFO.
    let _server = reader(&p.srv, &fifo);
    std::fs::remove_file(&fifo).unwrap();
    mkfifo(&fifo, 0o666, &p.srv);
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["no-reader"]);
    let m = finding(&v, "multiple-servers");
    assert!(m.to_string().contains("(deleted)"), "{m:#}");
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn whitespace_missing_and_not_a_fifo() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let spaced = PathBuf::from(format!("{} ", fifo.display()));
    let (code, v) = doctor_as(&env, &replies, &spaced, &p.cli.name);
    assert_denied(code, &v, &["fifo-path-whitespace", "fifo-missing"]);
    assert_eq!(
        finding(&v, "fifo-path-whitespace")["evidence"]["existing near-miss"],
        fifo.display().to_string()
    );
    // The whitespace finding's fix is the exact path in the client's config
    // (a file the doctor does not know): nothing a test can paste.
    let plain = env.path("plain");
    std::fs::write(&plain, "").unwrap();
    let (code, v) = doctor_as(&env, &replies, &plain, &p.cli.name);
    assert_denied(code, &v, &["fifo-not-a-fifo"]);
    // The fix-then-recheck loop: `rm -- PATH` is pasted as printed; no
    // server is configured for `plain`, so "start the server" is words, and
    // the test starts its stand-in on a fresh FIFO there.
    let cmds = fix_commands(&v);
    assert_eq!(cmds, [format!("rm -- '{}'", plain.display())], "{v:#}");
    for c in &cmds {
        run_ok(Command::new("sh").args(["-c", c]));
    }
    assert!(!plain.exists());
    mkfifo(&plain, 0o666, &p.srv);
    let _server2 = reader(&p.srv, &plain);
    let (code, after) = doctor_as(&env, &replies, &plain, &p.cli.name);
    assert_eq!(after["verdict"], "ok", "{after:#}");
    assert_eq!(code, 0);
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn selinux_label_and_audit_log() {
    if !root() || !util::require("setfattr", util::have_tool("setfattr")) {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path("opensips_fifo");
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    run_ok(
        Command::new("setfattr")
            .args(["-n", "security.selinux", "-v", "system_u:object_r:tmp_t:s0"])
            .arg(&fifo),
    );
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&fifo).unwrap());
    let log = env.path("audit.log");
    std::fs::write(
        &log,
        format!(
            "type=AVC msg=audit(1700000000.123:412): avc:  denied  {{ write }} for  pid=2401 comm=\"httpd\" name=\"opensips_fifo\" dev=\"dm-0\" ino={ino} scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:tmp_t:s0 tclass=fifo_file permissive=0\n\
             type=SYSCALL msg=audit(1700000000.123:412): arch=c000003e syscall=257 success=no exit=-13 a2=241 pid=2401 comm=\"httpd\" exe=\"/usr/sbin/httpd\" subj=system_u:system_r:httpd_t:s0 key=(null)\n"
        ),
    )
    .unwrap();
    let selinuxfs = env.path("selinuxfs");
    mkdir(&selinuxfs.join("booleans"), 0o755, None);
    std::fs::write(selinuxfs.join("enforce"), "1").unwrap();
    let (code, v) = doctor(
        &env,
        &replies,
        &[
            &"--fifo",
            &fifo,
            &"--as",
            &p.cli.name,
            &"--audit-log",
            &log,
            &"--selinuxfs",
            &selinuxfs,
        ],
    );
    assert_denied(code, &v, &["selinux-denied"]);
    let f = finding(&v, "selinux-denied");
    assert_eq!(
        f["evidence"]["file label"], "system_u:object_r:tmp_t:s0",
        "label read from the xattr: {f:#}"
    );
    assert!(f["message"].as_str().unwrap().contains("httpd_t"));
    // No fix-then-recheck loop here: the denial is a fake audit log and a
    // fake selinuxfs on a host without SELinux; there is no policy to label
    // or load, so the printed `semanage`/`semodule` steps cannot be applied
    // and re-checked by a test. The main fix must still be a sequence
    // (move the FIFO), with the policy module as an alternative.
    let fix = &f["fix"];
    let alt = &fix["alternatives"][0];
    assert!(
        alt["commands"][0]
            .as_str()
            .unwrap()
            .contains("audit2allow -M mififo_fifo"),
        "{fix:#}"
    );
    assert!(alt["weakens"].is_string(), "{fix:#}");
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn php_open_basedir() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let ini = env.path("www.conf");
    std::fs::write(
        &ini,
        "[www]\nphp_admin_value[open_basedir] = /var/www/:/usr/share/php/\n",
    )
    .unwrap();
    let (code, v) = doctor(
        &env,
        &replies,
        &[&"--fifo", &fifo, &"--as", &p.cli.name, &"--php-ini", &ini],
    );
    assert_denied(code, &v, &["php-open-basedir"]);
    // The fix-then-recheck loop: the setting is printed as an edit of the pool
    // file (never behind `$ `) and applied here; the printed `systemctl restart
    // php-fpm` has no PHP to restart in a test (the doctor reads the file).
    let edit = &finding(&v, "php-open-basedir")["fix"]["edits"][0];
    assert_eq!(edit["file"], ini.display().to_string(), "{v:#}");
    apply_fixes_with(
        &v,
        |c| assert!(c.starts_with("systemctl restart php-fpm"), "{c}"),
        || {
            doctor(
                &env,
                &replies,
                &[&"--fifo", &fifo, &"--as", &p.cli.name, &"--php-ini", &ini],
            )
        },
    );
    std::fs::write(
        &ini,
        format!("open_basedir = /var/www/:{}/\n", env.dir.path().display()),
    )
    .unwrap();
    let (code, v) = doctor(
        &env,
        &replies,
        &[&"--fifo", &fifo, &"--as", &p.cli.name, &"--php-ini", &ini],
    );
    assert_eq!(code, 0, "{v:#}");
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn reply_dir_the_server_cannot_use() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let home = env.path("clienthome");
    mkdir(&home, 0o700, Some(&p.cli));
    let theirs = home.join("replies");
    mkdir(&theirs, 0o777, Some(&p.cli));
    // `doctor` passes its reply-dir argument as `--reply-dir DIR/`.
    let (code, v) = doctor_as(&env, &theirs, &fifo, &p.cli.name);
    assert_denied(code, &v, &["reply-dir-denied"]);
    assert!(finding(&v, "reply-dir-denied")["message"]
        .as_str()
        .unwrap()
        .contains("server cannot reach"));
    apply_fixes_then_ok(&v, || doctor_as(&env, &theirs, &fifo, &p.cli.name));
    // A client with an owner-only umask: reply FIFOs the server cannot open.
    let client = sleeper(&p.cli, |c| format!("umask 077; exec {c}"));
    let (_, v) = doctor(
        &env,
        &replies,
        &[&"--fifo", &fifo, &"--pid", &client.pid().to_string()],
    );
    assert_eq!(finding(&v, "umask")["severity"], "warning", "{v:#}");
}

/// A read-only bind mount, unmounted on drop.
struct RoMount(PathBuf);

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn read_only_reply_dir() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, _replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let src = env.path("rw");
    mkdir(&src, 0o1777, None);
    let ro = env.path("ro");
    mkdir(&ro, 0o755, None);
    run_ok(Command::new("mount").arg("--bind").arg(&src).arg(&ro));
    let _m = RoMount(ro.clone());
    run_ok(
        Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&ro),
    );
    // `doctor` passes its reply-dir argument as `--reply-dir DIR/`.
    let (code, v) = doctor_as(&env, &ro, &fifo, &p.cli.name);
    assert_denied(code, &v, &["read-only-mount"]);
    // No unit makes it read-only: the fix is the client's reply directory,
    // in words (nothing to paste). The test does that, then ok.
    assert!(fix_commands(&v).is_empty(), "{v:#}");
    assert!(finding(&v, "read-only-mount")["fix"]["summary"]
        .as_str()
        .unwrap()
        .contains("findmnt -T"));
    let (code, after) = doctor_as(&env, &src, &fifo, &p.cli.name);
    assert_eq!(after["verdict"], "ok", "{after:#}");
    assert_eq!(code, 0);
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn auto_detects_web_processes() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o660, &p.srv);
    p.cli.join(&p.srv.name);
    let _server = reader(&p.srv, &fifo);
    // Two "php-fpm" workers (a copy of sleep, so comm starts with php-fpm).
    let fpm = env.path("php-fpm-mififo");
    std::fs::copy("/bin/sleep", &fpm).unwrap();
    std::fs::set_permissions(&fpm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let workers: Vec<Proc> = (0..2)
        .map(|_| {
            let c = p
                .cli
                .command(&fpm)
                .arg("120")
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            let w = Proc(c);
            wait_comm(w.pid(), "php-fpm-mififo");
            w
        })
        .collect();
    let (_, v) = doctor(&env, &replies, &[&"--fifo", &fifo]);
    let ours = v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .find(|c| c.contains(&workers[0].pid().to_string()))
        .unwrap_or_else(|| panic!("workers not detected: {v:#}"));
    assert!(
        ours.contains(&workers[1].pid().to_string()),
        "identical workers are examined once: {ours}"
    );
    let ok = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "access-ok" && f["subject"] == ours.as_str());
    assert!(ok, "{v:#}");
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

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn unit_selects_the_processes_of_a_cgroup() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o660, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let unit = format!("{}.service", p.cli.name);
    let Some(cg) = unit_cgroup(&unit) else {
        return;
    };
    let client = sleeper(&p.cli, |c| format!("exec {c}"));
    if let Err(e) = std::fs::write(cg.0.join("cgroup.procs"), client.pid().to_string()) {
        util::require(
            &format!("moving a process into {} ({e})", cg.0.display()),
            false,
        );
        return;
    }
    let (code, v) = doctor(&env, &replies, &[&"--fifo", &fifo, &"--unit", &p.cli.name]);
    assert_denied(code, &v, &["group-not-member"]);
    assert!(
        v["clients"][0]
            .as_str()
            .unwrap()
            .contains(&client.pid().to_string()),
        "{v:#}"
    );
    // The fix-then-recheck loop: the group change is pasted as printed (the
    // users are the test's own, removed on drop); the client's restart has no
    // unit manager behind this cgroup, so the test restarts its process into
    // the same cgroup (a new process gets the new group list).
    let client = std::cell::RefCell::new(client);
    apply_fixes_with(
        &v,
        |c| {
            if c.starts_with("usermod ") || c.starts_with("gpasswd ") {
                run_ok(Command::new("sh").args(["-c", c]));
            } else {
                assert!(c.contains("restart") || c.starts_with("kill "), "{c}");
                let fresh = sleeper(&p.cli, |c| format!("exec {c}"));
                std::fs::write(cg.0.join("cgroup.procs"), fresh.pid().to_string()).unwrap();
                *client.borrow_mut() = fresh;
            }
        },
        || doctor(&env, &replies, &[&"--fifo", &fifo, &"--unit", &p.cli.name]),
    );
    let client = client.into_inner();
    let out = env
        .cmd()
        .args(["doctor", "--unit", "mififo-test-no-such.service", "--fifo"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    drop(client);
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn server_config_fifo_name_and_reply_dir() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let cfg = env.path("opensips.cfg");
    std::fs::write(
        &cfg,
        format!(
            "loadmodule \"mi_fifo.so\"\nmodparam(\"mi_fifo\", \"fifo_name\", \"{}\")\nmodparam(\"mi_fifo\", \"reply_dir\", \"/run/mififo-test-elsewhere/\")\n",
            fifo.display()
        ),
    )
    .unwrap();
    // A stand-in server named "opensips" (comm of a script is its file name) started with -f CFG.
    let bin = env.path("opensips");
    // `read` is a builtin: no child process outlives the kill (a leftover `sleep` would keep
    // the user busy and make userdel fail).
    std::fs::write(&bin, "#!/bin/sh\nexec 3<>\"$3\"\nread -r _\n").unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let start = || {
        let child = p
            .srv
            .command(&bin)
            .arg("-f")
            .arg(&cfg)
            .arg(&fifo)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let server = Proc(child);
        wait_comm(server.pid(), "opensips");
        server
    };
    let server = start();
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["reply-dir-mismatch"]);
    assert!(finding(&v, "reply-dir-mismatch")["message"]
        .as_str()
        .unwrap()
        .contains("/run/mififo-test-elsewhere/"));
    // The fix-then-recheck loop: the printed modparam edit is applied to the
    // config the test wrote; `systemctl restart opensips` has no unit behind
    // it here, so the test restarts its stand-in with the same command line
    // (it reads the FIFO again; the doctor reads the edited config).
    let server = std::cell::RefCell::new(server);
    apply_fixes_with(
        &v,
        |c| {
            assert_eq!(c, "systemctl restart opensips", "{c}");
            let old = server.borrow().pid();
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(old),
                nix::sys::signal::Signal::SIGKILL,
            );
            *server.borrow_mut() = start();
        },
        || doctor_as(&env, &replies, &fifo, &p.cli.name),
    );
    // The client names another path: the server's configured fifo_name is shown.
    let wrong = env.path("old_fifo");
    let (code, v) = doctor_as(&env, &replies, &wrong, &p.cli.name);
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
    let reply_check = |v: &Value| -> String {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"].as_str().unwrap().starts_with("reply dir"))
            .map(|c| c["detail"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no reply dir check in {v:#}"))
    };
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

/// A server stand-in running as root: holds `fifo` open read-write.
fn root_reader(fifo: &Path) -> Proc {
    let child = Command::new("sh")
        .args(["-c", "exec 3<>\"$0\"; exec sleep 120"])
        .arg(fifo)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(child);
    wait_comm(p.pid(), "sleep");
    p
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
    let child = Command::new(&exe)
        .arg("-f")
        .arg(cfg)
        .stdout(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(child);
    wait_comm(p.pid(), name);
    p
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
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let d = env.path("pub");
    mkdir(&d, 0o755, Some(&p.srv));
    let sub = d.join("sub");
    mkdir(&sub, 0o700, Some(&p.srv));
    let name = fifo_name();
    let fifo = d.join(&name);
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    // `.` and `//` are harmless where every directory is searchable.
    let dotted = PathBuf::from(format!("{}/.//{name}", d.display()));
    let (code, v) = doctor_as(&env, &replies, &dotted, &p.cli.name);
    assert_eq!(v["verdict"], "ok", "{v:#}");
    assert_eq!(code, 0);
    let odd = PathBuf::from(format!("{}/sub/../{name}", d.display()));
    let (code, v) = doctor_as(&env, &replies, &odd, &p.cli.name);
    assert_denied(code, &v, &["dir-search-denied"]);
    let f = finding(&v, "dir-search-denied");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains(&sub.display().to_string()),
        "{f:#}"
    );
    // The probe's EACCES is what the model predicted now.
    assert!(!codes(&v).contains(&"probe-disagrees".to_string()), "{v:#}");
    apply_fixes_then_ok(&v, || doctor_as(&env, &replies, &odd, &p.cli.name));
}

/// Case 4: fs.protected_symlinks refuses the doctor (root) too; the FIFO
/// still exists and is read, and the refusal is its own finding.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn protected_symlinks_is_not_a_missing_fifo() {
    if !root()
        || !util::require(
            "fs.protected_symlinks",
            Path::new(crate::util::root::PROTECTED_SYMLINKS).exists(),
        )
    {
        return;
    }
    let _s = protected_fifos_stable();
    let _ps = ProtectedSymlinks::set("1");
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = reader(&p.srv, &fifo);
    let sticky = env.path("sticky");
    mkdir(&sticky, 0o1777, None);
    let link = sticky.join("link");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(p.srv.uid), Some(p.srv.gid)).unwrap();
    // Root itself cannot follow it.
    assert_eq!(
        std::fs::metadata(&link).unwrap_err().raw_os_error(),
        Some(libc::EACCES)
    );
    let (code, v) = doctor_as(&env, &replies, &link, &p.cli.name);
    assert_denied(code, &v, &["protected-symlinks"]);
    assert!(!codes(&v).contains(&"fifo-missing".to_string()), "{v:#}");
    let reader_line = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "reader")
        .unwrap();
    assert_eq!(reader_line["status"], "ok", "{v:#}");
    // The link's owner may follow it.
    let (code, v) = doctor_as(&env, &replies, &link, &p.srv.name);
    assert_eq!(v["verdict"], "ok", "{v:#}");
    assert_eq!(code, 0);
}

/// Case 5: the group that may search a directory is already the user's per
/// /etc/group; the running process predates it: restart, not usermod.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn stale_group_on_a_directory() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let grp = TestGroup::new();
    let dir = env.path("grpdir");
    mkdir(&dir, 0o750, None);
    std::os::unix::fs::chown(&dir, Some(0), Some(grp.gid)).unwrap();
    let fifo = dir.join(fifo_name());
    mkfifo(&fifo, 0o666, &p.srv);
    let _server = root_reader(&fifo);
    let client = sleeper(&p.cli, |c| format!("exec {c}"));
    p.cli.join(&grp.name);
    let (code, v) = doctor(
        &env,
        &replies,
        &[&"--fifo", &fifo, &"--pid", &client.pid().to_string()],
    );
    assert_denied(code, &v, &["group-stale"]);
    let f = finding(&v, "group-stale");
    assert!(f["message"].as_str().unwrap().contains(&grp.name), "{f:#}");
    assert!(
        fix_commands(&v).iter().all(|c| !c.contains("usermod")),
        "{v:#}"
    );
    // A restarted client (a fresh process of the same user) is fine.
    drop(client);
    let fresh = sleeper(&p.cli, |c| format!("exec {c}"));
    let (code, v) = doctor(
        &env,
        &replies,
        &[&"--fifo", &fifo, &"--pid", &fresh.pid().to_string()],
    );
    assert_eq!(v["verdict"], "ok", "{v:#}");
    assert_eq!(code, 0);
}

/// Case 6: the FIFO's owner and group have no names: no fix may name a
/// group nobody can join; the printed fix works.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn nameless_owner_gets_a_fix_that_works() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let id = nameless_id();
    let fifo = env.path(&fifo_name());
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o660)).unwrap();
    std::os::unix::fs::chown(&fifo, Some(id), Some(id)).unwrap();
    let _server = root_reader(&fifo);
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_denied(code, &v, &["group-not-member"]);
    let text = v.to_string();
    assert!(!text.contains(&format!("usermod -aG {id}")), "{v:#}");
    apply_fixes_then_ok(&v, || doctor_as(&env, &replies, &fifo, &p.cli.name));
}

/// Case 1: run as an ordinary user while root's server is live: what it
/// cannot see is `unknown` (never `no-reader`), a non-blocking write-open
/// shows the reader, and the exact sudo line is printed. With no reader the
/// write-open's ENXIO makes `no-reader` certain even without root.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn unprivileged_doctor_is_honest() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    let _server = serve(&env, &fifo, &replies, &["--mode", "0666"]);
    let as_cli = |fifo: &Path| -> (i32, Value) {
        let out = p
            .cli
            .command(util::bin())
            .args(["doctor", "--format", "json", "--fifo"])
            .arg(fifo)
            .arg("--reply-dir")
            .arg(format!("{}/", replies.display()))
            .arg("--audit-log")
            .arg(env.path("no-audit.log"))
            .arg("--php-ini")
            .arg(env.path("no-php.ini"))
            .env("HOME", env.dir.path())
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap_or(-1), v)
    };
    let (code, v) = as_cli(&fifo);
    assert!(errors(&v).is_empty(), "{v:#}");
    assert!(!codes(&v).contains(&"no-reader".to_string()), "{v:#}");
    assert_eq!(v["verdict"], "unknown", "{v:#}");
    assert_eq!(code, 0);
    let reader_line = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "reader")
        .unwrap();
    assert_eq!(reader_line["status"], "ok", "{v:#}");
    assert!(reader_line["detail"]
        .as_str()
        .unwrap()
        .contains("write-open"));
    let rerun = v["rerun"].as_str().unwrap();
    assert!(
        rerun.starts_with("sudo ")
            && rerun.contains(" doctor ")
            && rerun.contains(&fifo.display().to_string()),
        "{rerun}"
    );
    assert!(!v["needs_root"].as_array().unwrap().is_empty());
    // The candidate list names the root-run mififo serve configured with this path.
    let cands = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "server candidates")
        .unwrap();
    assert!(
        cands["detail"]
            .as_str()
            .unwrap()
            .contains("configured with this fifo_name"),
        "{cands:#}"
    );
    // A client process of another user (root): its /proc/PID/root and ns links
    // are closed to the doctor; that is unknown, not a mount-namespace problem.
    let root_client = Proc(
        Command::new("sleep")
            .arg("120")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_comm(root_client.pid(), "sleep");
    let out = p
        .cli
        .command(util::bin())
        .args(["doctor", "--format", "json", "--fifo"])
        .arg(&fifo)
        .arg("--pid")
        .arg(root_client.pid().to_string())
        .arg("--reply-dir")
        .arg(format!("{}/", replies.display()))
        .arg("--audit-log")
        .arg(env.path("no-audit.log"))
        .arg("--php-ini")
        .arg(env.path("no-php.ini"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(errors(&v).is_empty(), "{v:#}");
    assert_eq!(v["verdict"], "unknown", "{v:#}");
    // A stale FIFO of root's: nobody reads it, which a write-open proves.
    let stale = env.path("stale_fifo");
    nix::unistd::mkfifo(&stale, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, v) = as_cli(&stale);
    assert_denied(code, &v, &["no-reader"]);
    assert!(finding(&v, "no-reader")["evidence"]["write-open"]
        .as_str()
        .unwrap()
        .contains("ENXIO"));
}

/// Case 2: several server instances; the missing FIFO's fix names the one
/// configured for the asked FIFO's directory, not the lowest pid.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn several_instances_are_ranked_by_relevance() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let unrelated = env.path("unrelated.cfg");
    std::fs::write(
        &unrelated,
        "modparam(\"mi_fifo\", \"fifo_name\", \"/var/tmp/mififo-test-elsewhere/opensips_fifo\")\n",
    )
    .unwrap();
    let real = env.path("real_fifo");
    let relevant = env.path("relevant.cfg");
    std::fs::write(
        &relevant,
        format!(
            "modparam(\"mi_fifo\", \"fifo_name\", \"{}\")\nmodparam(\"mi_fifo\", \"reply_dir\", \"{}/\")\n",
            real.display(),
            replies.display()
        ),
    )
    .unwrap();
    // The unrelated instance starts first and gets the lower pid.
    let a = fake_server(&env, "opensips", &unrelated);
    let b = fake_server(&env, "opensips", &relevant);
    assert!(a.pid() < b.pid());
    let asked = env.path(&fifo_name());
    let (code, v) = doctor_as(&env, &replies, &asked, &p.cli.name);
    assert_denied(code, &v, &["fifo-missing"]);
    let fix = &finding(&v, "fifo-missing")["fix"];
    let summary = fix["summary"].as_str().unwrap();
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
    let restarted = std::cell::RefCell::new(Vec::new());
    let b = std::cell::RefCell::new(Some(b));
    apply_fixes_with(
        &v,
        |c| {
            assert_eq!(c, "systemctl restart opensips", "{c}");
            drop(b.borrow_mut().take());
            let mut r = restarted.borrow_mut();
            r.push(fake_server(&env, "opensips", &relevant));
            mkfifo(&asked, 0o666, &p.srv);
            r.push(reader(&p.srv, &asked));
        },
        || doctor_as(&env, &replies, &asked, &p.cli.name),
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
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    // mififo serve as root: the FIFO is root:root 0660, the client is not in group root.
    let fifo = env.path(&fifo_name());
    let _server = serve(&env, &fifo, &replies, &[]);
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
    assert_eq!(code, 1, "{v:#}");
    let text = v.to_string();
    assert!(!text.contains("modparam"), "{v:#}");
    assert!(!text.contains("systemctl restart opensips"), "{v:#}");
    assert!(text.contains("--group"), "{v:#}");
    // The human report: config lines are never behind `$ `, every `$ ` line is a command.
    let out = env
        .cmd()
        .args(["doctor", "--as", &p.cli.name, "--fifo"])
        .arg(&fifo)
        .arg("--reply-dir")
        .arg(format!("{}/", replies.display()))
        .arg("--php-ini")
        .arg(env.path("none"))
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&out.stdout);
    for l in human.lines().filter(|l| l.trim_start().starts_with("$ ")) {
        assert!(
            !l.contains("modparam") && !l.contains("   # "),
            "{l}\n{human}"
        );
    }
    // An OpenSIPS configured for this FIFO (the reader is a stand-in): the
    // same fix is an edit of that OpenSIPS's config file.
    let fifo2 = env.path("os_fifo");
    mkfifo(&fifo2, 0o660, &p.srv);
    std::os::unix::fs::chown(&fifo2, Some(0), Some(0)).unwrap();
    let _reader = root_reader(&fifo2);
    let cfg = env.path("opensips.cfg");
    std::fs::write(
        &cfg,
        format!(
            "modparam(\"mi_fifo\", \"fifo_name\", \"{}\")\n",
            fifo2.display()
        ),
    )
    .unwrap();
    let _os = fake_server(&env, "opensips", &cfg);
    let (_, v) = doctor_as(&env, &replies, &fifo2, &p.cli.name);
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
}

/// Case 8: `--call METHOD` makes one real exchange as the client and tells
/// answered / wrong dialect / no reply / reply FIFO unreachable.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn call_classifies_the_exchange() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let call = |fifo: &Path, extra: &[&str]| -> (i32, Value) {
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![
            &"--fifo",
            &fifo,
            &"--as",
            &p.cli.name,
            &"--call-timeout",
            &"1",
        ];
        for e in extra {
            args.push(e);
        }
        doctor(&env, &replies, &args)
    };
    // JSON client, text server (OpenSIPS 1.x/2.x style): the server's answer shows it.
    let text_fifo = env.path("text_fifo");
    {
        let _server = serve(
            &env,
            &text_fifo,
            &replies,
            &["--mode", "0666", "--dialect", "text"],
        );
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
        let (code, v) = call(&text_fifo, &["--call", "version", "--dialect", "text"]);
        assert!(codes(&v).contains(&"call-answered".to_string()), "{v:#}");
        assert_eq!(v["verdict"], "ok", "{v:#}");
        assert_eq!(code, 0);
    }
    // Kamailio client, OpenSIPS 3.x JSON server.
    let json_fifo = env.path("json_fifo");
    {
        let _server = serve(&env, &json_fifo, &replies, &["--mode", "0666"]);
        let (code, v) = call(
            &json_fifo,
            &["--call", "core.version", "--dialect", "kamailio"],
        );
        assert_denied(code, &v, &["call-wrong-dialect"]);
        assert!(finding(&v, "call-wrong-dialect")["evidence"]["json answer"].is_string());
    }
    // A reader that never answers.
    let mute = env.path("mute_fifo");
    mkfifo(&mute, 0o666, &p.srv);
    {
        let _reader = root_reader(&mute);
        let (code, v) = call(&mute, &["--call", "version"]);
        assert_denied(code, &v, &["call-no-reply"]);
    }
    // The server (dropped to srv) cannot search the client's reply directory.
    let private = env.path("cli-replies");
    mkdir(&private, 0o700, Some(&p.cli));
    let srv_fifo = env.path("srv_fifo");
    let _server = serve(
        &env,
        &srv_fifo,
        &private,
        &["--mode", "0666", "--user", &p.srv.name],
    );
    let (_, v) = doctor(
        &env,
        &replies,
        &[
            &"--fifo",
            &srv_fifo,
            &"--as",
            &p.cli.name,
            &"--call-timeout",
            &"1",
            &"--call",
            &"version",
            &"--reply-dir",
            &format!("{}/", private.display()),
        ],
    );
    let e = errors(&v);
    assert!(e.contains(&"call-reply-unreachable".to_string()), "{v:#}");
    assert!(e.contains(&"reply-dir-denied".to_string()), "{v:#}");
}

/// The fix-then-recheck loop for a server-side setup: `mififo serve` runs
/// but its FIFO was removed (a tmp cleaner): the printed fix (`kill -HUP`,
/// which makes serve recreate it) is pasted and the doctor then says ok.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn removed_fifo_of_a_running_serve_is_fixed_by_the_printed_restart() {
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let fifo = env.path(&fifo_name());
    let server = serve(&env, &fifo, &replies, &["--mode", "0666"]);
    // serve recreates a removed FIFO by itself within a second: hold it
    // stopped so the broken state lasts while the doctor looks at it.
    let spid = nix::unistd::Pid::from_raw(server.pid());
    nix::sys::signal::kill(spid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    std::fs::remove_file(&fifo).unwrap();
    let (code, v) = doctor_as(&env, &replies, &fifo, &p.cli.name);
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
        doctor_as(&env, &replies, &fifo, &p.cli.name)
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
        let p = Proc(
            self.cmd("sleep")
                .arg("120")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_comm(p.pid(), "sleep");
        p
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
/// namespace, a wrong bound address, an allow-list refusal and an auth refusal.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn url_across_network_namespaces() {
    if !root() || !util::require("ip (iproute2)", util::have_tool("ip")) {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
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
    let fifo = env.path(&fifo_name());
    let _server = serve(&env, &fifo, &replies, &["--mode", "0666"]);
    let port = 20000 + fastrand::u16(..20000);
    let fifo_s = fifo.display().to_string();
    let reply_s = format!("{}/", replies.display());
    let listen = format!("127.0.0.1:{port}");
    let _gw = gateway_in(
        Some(&a),
        &env,
        &[
            "--listen",
            &listen,
            "--fifo",
            &fifo_s,
            "--reply-dir",
            &reply_s,
        ],
    );
    let url = format!("http://127.0.0.1:{port}/mi");
    let in_b = b.sleeper();
    let in_a = a.sleeper();
    let url_doctor = |pid: i32, url: &str| -> (i32, Value) {
        doctor(
            &env,
            &replies,
            &[&"--url", &url, &"--pid", &pid.to_string()],
        )
    };
    // Client in b, listener in a.
    let (code, v) = url_doctor(in_b.pid(), &url);
    assert_denied(code, &v, &["http-other-namespace"]);
    // The same kind of client in a: it works, and the FIFO leg is examined too.
    let (code, v) = url_doctor(in_a.pid(), &url);
    assert_eq!(v["verdict"], "ok", "{v:#}");
    assert_eq!(code, 0);
    assert!(codes(&v).contains(&"http-ok".to_string()), "{v:#}");
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("fifo leg: reader")),
        "{v:#}"
    );
    // https:// to the plain-HTTP gateway; and a port nobody listens on.
    let (code, v) = url_doctor(in_a.pid(), &format!("https://127.0.0.1:{port}/mi"));
    assert_denied(code, &v, &["http-tls-mismatch"]);
    let (code, v) = url_doctor(in_a.pid(), &format!("http://127.0.0.1:{}/mi", port + 3));
    assert_denied(code, &v, &["http-no-listener"]);
    // Wrong bound address: the gateway is on 127.0.0.1 only.
    let (code, v) = url_doctor(in_a.pid(), &format!("http://{ip_a}:{port}/mi"));
    assert_denied(code, &v, &["http-bound-address"]);
    // Allow list: reachable over the veth, but b's address is not allowed.
    let port2 = port + 1;
    let listen2 = format!("{ip_a}:{port2}");
    let other = format!("{net}.99");
    let _gw2 = gateway_in(
        Some(&a),
        &env,
        &[
            "--listen",
            &listen2,
            "--allow-remote",
            "--allow",
            &other,
            "--fifo",
            &fifo_s,
            "--reply-dir",
            &reply_s,
        ],
    );
    let (code, v) = url_doctor(in_b.pid(), &format!("http://{listen2}/mi"));
    assert_denied(code, &v, &["http-forbidden"]);
    let f = finding(&v, "http-forbidden");
    assert_eq!(f["evidence"]["client address"], ip_b.as_str(), "{f:#}");
    assert_eq!(f["evidence"]["gateway --allow"], other.as_str(), "{f:#}");
    // Auth: an endpoint that wants credentials.
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
            if codes(&v).contains(&"http-auth-required".to_string()) || Instant::now() > deadline {
                assert_denied(code, &v, &["http-auth-required"]);
                assert!(
                    finding(&v, "http-auth-required")["evidence"]["WWW-Authenticate"]
                        .as_str()
                        .unwrap()
                        .contains("Basic")
                );
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
    if !root() {
        return;
    }
    let _s = protected_fifos_stable();
    let (env, replies) = env();
    let p = pair();
    let unit = format!("{}.service", p.cli.name);
    let Some(cg) = unit_cgroup(&unit) else {
        return;
    };
    let fifo = env.path(&fifo_name());
    let _server = serve(&env, &fifo, &replies, &["--mode", "0666"]);
    let port = 20000 + fastrand::u16(..20000);
    let listen = format!("127.0.0.1:{port}");
    let fifo_s = fifo.display().to_string();
    let reply_s = format!("{}/", replies.display());
    let _gw = gateway_in(
        None,
        &env,
        &[
            "--listen",
            &listen,
            "--fifo",
            &fifo_s,
            "--reply-dir",
            &reply_s,
        ],
    );
    let client = sleeper(&p.cli, |c| format!("exec {c}"));
    std::fs::write(cg.0.join("cgroup.procs"), client.pid().to_string()).unwrap();
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
    let run = || doctor(&env, &replies, &[&"--url", &url, &"--pid", &pid]);
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
