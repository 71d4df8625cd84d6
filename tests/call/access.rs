//! Root-only access tests: permission denied (client dropped to `nobody` with
//! `setpriv`), `fs.protected_fifos=1`, the reply FIFO's ACL letting a
//! server running as another user write the reply, and (issue 11) server
//! FIFOs squatted or read by another real user.

use super::fake::{self, count_entries, echo, entries_with_prefix, Act, Fake, FakeOpts};
use crate::util::root::{protected_fifos_writable, ProtectedFifos, TestUser};
use crate::util::{bin, find_tool, have_tool, is_root, require, TestEnv};
use mififo::proto::Dialect;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const NOBODY: u32 = 65534;

fn root_and(tool: &str) -> bool {
    require(&format!("root and {tool}"), is_root() && have_tool(tool))
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `mififo call …` as uid/gid `nobody` with no supplementary groups.
pub(super) fn call_as_nobody(env: &TestEnv, args: &[&str]) -> Output {
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
    ])
    .arg(bin())
    .arg("call")
    .args(args)
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("NO_COLOR", "1")
    .env("HOME", env.dir.path())
    .stdin(Stdio::null());
    c.output().unwrap()
}

/// A temp env whose top dir others may traverse, plus a sticky 1777 `replies/`.
fn shared_env() -> (TestEnv, String) {
    let env = TestEnv::new();
    chmod(env.dir.path(), 0o755);
    let replies = env.path("replies");
    std::fs::create_dir(&replies).unwrap();
    chmod(&replies, 0o1777);
    (env, format!("{}/", replies.display()))
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn exit_4_when_the_fifo_denies_the_client() {
    if !root_and("setpriv") {
        return;
    }
    let (env, replies) = shared_env();
    let _srv = Fake::start(
        &env.fifo(),
        fake::opts(Dialect::Json, Path::new(&replies)),
        echo,
    );
    chmod(&env.fifo(), 0o600); // root:root rw-------
    let fifo = env.fifo().display().to_string();
    let o = call_as_nobody(&env, &["--fifo", &fifo, "--reply-dir", &replies, "uptime"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains("permission denied") && err.contains(&format!("mififo doctor --fifo {fifo}")),
        "{err}"
    );
    assert_eq!(
        count_entries(Path::new(&replies)),
        0,
        "no reply FIFO made for a refused open"
    );

    // Allowed to write the FIFO, but not to create anything in the reply dir.
    chmod(&env.fifo(), 0o666);
    let closed = env.path("closed");
    std::fs::create_dir(&closed).unwrap();
    chmod(&closed, 0o755);
    let o = call_as_nobody(
        &env,
        &[
            "--fifo",
            &fifo,
            "--reply-dir",
            &closed.display().to_string(),
            "uptime",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot create the reply FIFO in"), "{err}");

    // And with both allowed, nobody gets an answer (control).
    let o = call_as_nobody(&env, &["--fifo", &fifo, "--reply-dir", &replies, "uptime"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The server FIFO's owner is the server's user: the reply FIFO (owned by
/// root, mode 0600) gets an ACL entry for it, and a writer with that fsuid
/// can deliver the reply. Without the entry (control) it cannot.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn reply_fifo_acl_lets_the_server_user_write() {
    if !root_and("setpriv") {
        return;
    }
    let env = TestEnv::new();
    chmod(env.dir.path(), 0o755);
    let opts = FakeOpts {
        dialect: Dialect::Json,
        reply_dir: env.dir.path().to_path_buf(),
        writer_fsuid: Some(NOBODY),
    };
    let _srv = Fake::start(&env.fifo(), opts, echo);
    let fifo = env.fifo().display().to_string();
    let run = |timeout: &str| {
        env.cmd()
            .args([
                "call",
                "--fifo",
                &fifo,
                "--reply-dir",
                &env.reply_dir(),
                "--timeout",
                timeout,
                "uptime",
            ])
            .output()
            .unwrap()
    };
    // Control first: FIFO owned by root → reply FIFO 0600 only → nobody cannot write.
    let o = run("1500ms");
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // FIFO owned by nobody → ACL user:nobody:-w- → the reply arrives.
    nix::unistd::chown(&env.fifo(), Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    let o = run("30s");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}

/// A FIFO owned by another user in a sticky world-writable dir: an `O_CREAT`
/// open (what Python's `open(f, "w")`, PHP's `fopen` and shell `>` do) is
/// denied even to root; `mififo call` opens without `O_CREAT` and succeeds.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn protected_fifos_denies_o_creat_but_not_mififo_call() {
    if !require(
        "root and writable fs.protected_fifos",
        is_root() && protected_fifos_writable(),
    ) {
        return;
    }
    let (env, replies) = shared_env();
    let sticky = env.path("sticky");
    std::fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    let fifo = sticky.join("opensips_fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    chmod(&fifo, 0o666);
    nix::unistd::chown(&fifo, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    let opts = FakeOpts {
        dialect: Dialect::Json,
        reply_dir: replies.clone().into(),
        writer_fsuid: Some(NOBODY),
    };
    let _srv = Fake::start(&fifo, opts, echo);

    let _guard = ProtectedFifos::set("1");
    let creat = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    assert_eq!(
        creat.map(|_| ()).unwrap_err().raw_os_error(),
        Some(libc::EACCES),
        "the setup must make an O_CREAT open fail"
    );
    // Another user's FIFO in a sticky world-writable dir is exactly what a
    // squatter makes: refused unless the user says the owner runs the server.
    let o = env
        .cmd()
        .arg("call")
        .arg("--fifo")
        .arg(&fifo)
        .args(["--reply-dir", &replies, "uptime"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = env
        .cmd()
        .arg("call")
        .arg("--fifo")
        .arg(&fifo)
        .args(["--reply-dir", &replies, "--trust-user", "nobody", "uptime"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("uptime"));

    // python-opensips's client, for contrast, fails on the same FIFO.
    let py = find_tool("opensips-mi");
    if require("opensips-mi (PyPI opensips)", py.is_some()) {
        let py = py.unwrap();
        let o = Command::new(py)
            .args(["-f", &fifo.display().to_string(), "-fd", &replies, "uptime"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            all.contains("Permission denied") || all.contains("Could not access"),
            "python-opensips: {all}"
        );
    }
    assert!(entries_with_prefix(Path::new(&replies), "mififo_reply_").is_empty());
}

/// A non-root client timing out in a shared sticky reply dir removes its FIFO.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn timeout_as_nobody_leaves_the_shared_reply_dir_clean() {
    if !root_and("setpriv") {
        return;
    }
    let (env, replies) = shared_env();
    let _srv = Fake::start(
        &env.fifo(),
        fake::opts(Dialect::Json, Path::new(&replies)),
        |_| Act::Silent,
    );
    chmod(&env.fifo(), 0o666);
    let fifo = env.fifo().display().to_string();
    let o = call_as_nobody(
        &env,
        &[
            "--fifo",
            &fifo,
            "--reply-dir",
            &replies,
            "--timeout",
            "300ms",
            "uptime",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(count_entries(Path::new(&replies)), 0);
}

/// `setpriv` as `user` (its uid and gid, no other groups) running `sh -c script`.
fn as_user(user: &TestUser, script: &str) -> std::process::Child {
    Command::new("setpriv")
        .args([
            &format!("--reuid={}", user.uid),
            &format!("--regid={}", user.gid),
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (10 s at most) until `fifo` has a reader.
fn wait_for_reader(fifo: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let open = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo);
        if open.is_ok() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reader on {fifo:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Issue 11, finding 3: another user creates a FIFO at the server's path in a
/// sticky world-writable directory and reads it. Root's call used to send it
/// the request (secret included), grant it an ACL on the reply FIFO, and take
/// its answer. Now nothing is sent and no reply FIFO is made (so no ACL), the
/// message names the owner, and `--trust-user` is the way to say otherwise.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn a_squatted_fifo_in_a_sticky_dir_gets_nothing() {
    if !root_and("setpriv") {
        return;
    }
    let squatter = TestUser::new();
    let (env, replies) = shared_env();
    let sticky = env.path("tmp");
    std::fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    let fifo = sticky.join("opensips_fifo");
    let loot = sticky.join("loot");
    let script = format!(
        "mkfifo -m 0622 {f} && exec cat <> {f} > {l}",
        f = fifo.display(),
        l = loot.display()
    );
    let mut reader = as_user(&squatter, &script);
    wait_for_reader(&fifo);
    let fifo_s = fifo.display().to_string();
    let call = |extra: &[&str]| {
        env.cmd()
            .args([
                "call",
                "--fifo",
                &fifo_s,
                "--reply-dir",
                &replies,
                "--timeout",
                "1s",
            ])
            .args(extra)
            .args(["log_level", "level:=4", "secret=hunter2"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = call(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(10), "{err}");
    assert!(
        err.contains(&squatter.name) && err.contains(&format!("--trust-user {}", squatter.name)),
        "{err}"
    );
    assert_eq!(
        count_entries(Path::new(&replies)),
        0,
        "a reply FIFO was made"
    );
    // Control: trusted, the request reaches whoever reads the FIFO.
    let o = call(&["--trust-user", &squatter.name]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = reader.kill();
    let _ = reader.wait();
    let got = std::fs::read_to_string(&loot).unwrap_or_default();
    assert!(
        got.contains("hunter2"),
        "the control did not reach the reader: {got:?}"
    );
    assert_eq!(
        got.matches("hunter2").count(),
        1,
        "the refused call sent it: {got:?}"
    );
}

/// A FIFO the server (root) owns and reads, that another user may read too
/// (mode 0666): a second reader running as that user would get some of the
/// requests. As root the client sees it and refuses, naming pid and user.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn a_reader_running_as_an_unrelated_user_is_refused() {
    if !root_and("setpriv") {
        return;
    }
    let thief = TestUser::new();
    let env = TestEnv::new();
    chmod(env.dir.path(), 0o755);
    let _srv = fake::fake(&env, Dialect::Json, echo);
    chmod(&env.fifo(), 0o666);
    let fifo = env.fifo().display().to_string();
    let call = || {
        env.cmd()
            .args(["call", "--fifo", &fifo, "--reply-dir", &env.reply_dir()])
            .args(["--timeout", "5s", "uptime"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert_eq!(
        call().status.code(),
        Some(0),
        "control: only the server reads"
    );
    let mut reader = as_user(&thief, &format!("exec cat {fifo} > /dev/null"));
    // Its open counts as a reader at once; give setpriv time to get there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let o = loop {
        let o = call();
        if o.status.code() != Some(0) || std::time::Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(10), "{err}");
    assert!(
        err.contains(&thief.name) && err.contains("read by pid"),
        "{err}"
    );
    let _ = reader.kill();
    let _ = reader.wait();
    assert_eq!(call().status.code(), Some(0));
}
