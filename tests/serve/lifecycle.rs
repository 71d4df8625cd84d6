//! Start-up policy, recreation, signals, pid file, `kill`.

use super::*;
use crate::util::{has_reader, read_reply};
use crate::util::{open_writer, reply_fifo};
use nix::sys::signal::Signal;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::time::Instant;

fn ino(p: &Path) -> Option<u64> {
    std::fs::symlink_metadata(p).ok().map(|m| m.ino())
}

/// Waits until `fifo` is a FIFO with a reader and inode != `old`.
fn wait_recreated(fifo: &Path, old: Option<u64>) {
    let deadline = Instant::now() + HANG;
    loop {
        let m = std::fs::symlink_metadata(fifo);
        if let Ok(m) = m {
            if m.file_type().is_fifo() && Some(m.ino()) != old && has_reader(fifo) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "FIFO not recreated");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve_output(env: &TestEnv, args: &[&str]) -> (Option<i32>, String) {
    let out = env
        .cmd_at("serve", &env.fifo())
        .args(crate::util::serve_user_args())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn deleted_fifo_is_recreated_by_the_timer() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    std::fs::remove_file(env.fifo()).unwrap();
    wait_recreated(&env.fifo(), None);
    assert_serving(&env);
}

#[test]
fn replaced_fifo_is_recreated() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    // By a regular file.
    std::fs::remove_file(env.fifo()).unwrap();
    std::fs::write(env.fifo(), b"x").unwrap();
    wait_recreated(&env.fifo(), None);
    // By a FIFO nobody reads (kept alive under another name so its inode
    // number cannot be reused by the recreated FIFO).
    std::fs::remove_file(env.fifo()).unwrap();
    nix::unistd::mkfifo(&env.fifo(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::hard_link(env.fifo(), env.path("stale")).unwrap();
    let stale = ino(&env.fifo());
    wait_recreated(&env.fifo(), stale);
    assert_serving(&env);
}

#[test]
fn sighup_replaces_the_fifo() {
    let env = TestEnv::new();
    let s = env.serve(&["--mode", "0640"]);
    // Keep the old inode alive so a new one cannot reuse its number.
    let keep = env.path("old");
    std::fs::hard_link(env.fifo(), &keep).unwrap();
    let old = ino(&env.fifo());
    s.signal(Signal::SIGHUP);
    wait_recreated(&env.fifo(), old);
    let m = std::fs::metadata(env.fifo()).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    assert_serving(&env);
}

#[test]
fn sighup_keeps_reading_the_old_fifo_without_splicing() {
    use std::io::Write;
    let env = TestEnv::new();
    let s = env.serve(&[]);
    let keep = env.path("old");
    std::fs::hard_link(env.fifo(), &keep).unwrap();
    let old = ino(&env.fifo());
    // Client `a` opened the FIFO before the swap and writes half its request
    // before it, half after.
    let reply = env.path("a");
    let mut r = reply_fifo(&reply);
    let mut w = open_writer(env.fifo());
    let req = br#":a:{"jsonrpc":"2.0","method":"uptime","id":7}"#;
    w.write_all(&req[..10]).unwrap();
    s.signal(Signal::SIGHUP);
    wait_recreated(&env.fifo(), old);
    // A request on the new FIFO meanwhile: answered, and not spliced into
    // the half request of the old one (each FIFO has its own framer).
    assert_serving(&env);
    w.write_all(&req[10..])
        .expect("the old FIFO is still read after the swap");
    drop(w);
    let got = read_reply(&mut r, HANG).expect("a reply to the request on the old FIFO");
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.contains(r#""result""#) && got.ends_with(r#""id":7}"#),
        "{got}"
    );
    std::fs::remove_file(&reply).unwrap();
    // Once its last writer is gone the old FIFO is closed (seen through the
    // second name, since the path is the new FIFO).
    assert!(
        crate::util::wait_until(HANG, || !has_reader(&keep)),
        "the old FIFO is never closed"
    );
    std::fs::remove_file(&keep).unwrap();
    assert!(has_reader(&env.fifo()));
}

#[test]
fn sigterm_and_sigint_unlink_the_fifo_and_the_pidfile() {
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let env = TestEnv::new();
        let pidfile = env.path("serve.pid");
        let mut s = env.serve(&["--pidfile", pidfile.to_str().unwrap()]);
        // Served (`env.serve` waited for a reader) means the pid file is
        // there: it is written before the FIFO appears at its path.
        assert_eq!(
            std::fs::read_to_string(&pidfile).ok(),
            Some(format!("{}\n", s.pid())),
            "{sig}: the FIFO is served before its pid file exists"
        );
        s.signal(sig);
        let (status, err) = s.wait_exit(HANG);
        assert!(status.success(), "{sig}: {status} {err}");
        assert!(!env.fifo().exists(), "{sig}: FIFO left behind");
        assert!(!pidfile.exists(), "{sig}: pid file left behind");
    }
}

/// The moment the FIFO is at its path, the pid file is already there. The
/// old order (pid file after the FIFO) left a window that a tight poll finds
/// in most starts; five starts make a miss unlikely.
#[test]
fn the_pid_file_is_there_before_the_fifo_appears() {
    for round in 0..5 {
        let env = TestEnv::new();
        let pidfile = env.path("serve.pid");
        let mut child = env
            .cmd_at("serve", &env.fifo())
            .args(crate::util::serve_user_args())
            .args(["--pidfile", pidfile.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + HANG;
        let seen = loop {
            if std::fs::symlink_metadata(env.fifo()).is_ok() {
                break Some(pidfile.exists());
            }
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                break None;
            }
            std::hint::spin_loop();
        };
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            seen,
            Some(true),
            "round {round}: the FIFO appeared before the pid file (None: never appeared)"
        );
    }
}

#[test]
fn kill_command_replies_then_stops_cleanly() {
    let env = TestEnv::new();
    let mut s = env.serve(&[]);
    assert_eq!(
        call_raw(&env, "kill", None),
        r#"{"jsonrpc":"2.0","result":"OK","id":1}"#
    );
    let (status, _) = s.wait_exit(HANG);
    assert!(status.success());
    assert!(!env.fifo().exists());
}

#[test]
fn a_second_instance_is_refused_naming_the_first() {
    let env = TestEnv::new();
    let s = env.serve(&[]);
    let (code, err) = serve_output(&env, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("another instance is serving"), "{err}");
    assert!(err.contains(&format!("pid {}", s.pid())), "{err}");
    // The first one still serves.
    assert_serving(&env);
}

#[test]
fn stale_fifo_is_replaced_and_other_files_need_force() {
    let env = TestEnv::new();
    nix::unistd::mkfifo(&env.fifo(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    drop(env.serve(&[]));
    std::fs::write(env.fifo(), b"important").unwrap();
    let (code, err) = serve_output(&env, &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("is a regular file, not a FIFO") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(env.fifo()).unwrap(), b"important");
    let _s = env.serve(&["--force"]);
    // `serve` returns once a writer can open the path, which a regular file
    // also allows: wait for the FIFO itself.
    wait_recreated(&env.fifo(), None);
}

#[test]
fn startup_errors_are_clear() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .arg("serve")
        .args(crate::util::serve_user_args())
        .arg("--fifo")
        .arg(env.path("no/such/dir/fifo"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("mififo: cannot create FIFO") && l.contains("does not exist")),
        "{err}"
    );
    let (code, err) = serve_output(&env, &["--dialect", "kamailio"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("'kamailio' is client-only"), "{err}");
    let (code, err) = serve_output(&env, &["--mode", "999"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("octal"), "{err}");
    let (code, err) = serve_output(&env, &["--acl", "u:root"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("invalid ACL entry 'u:root'"), "{err}");
    let out = env
        .cmd()
        .arg("serve")
        .args(crate::util::serve_user_args())
        .arg("--fifo")
        .arg(env.fifo())
        .args(["--reply-dir"])
        .arg(env.path("nodir"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reply directory"));
    assert!(!env.fifo().exists());
}

#[test]
fn mode_is_exact_whatever_the_umask() {
    let env = TestEnv::new();
    // umask 077 would turn a plain mkfifo(0666) into 0600.
    let s = crate::util::Server::start(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 077; exec '{}' serve {} --fifo '{}' --reply-dir '{}' --mode 0666",
                crate::util::bin().display(),
                crate::util::serve_user_args().join(" "),
                env.fifo().display(),
                env.reply_dir()
            ))
            .stdin(Stdio::null())
            .stderr(Stdio::piped()),
        &env.fifo(),
        HANG,
    );
    assert_eq!(
        std::fs::metadata(env.fifo()).unwrap().permissions().mode() & 0o7777,
        0o666
    );
    drop(s);
    let _s = env.serve(&[]);
    assert_eq!(
        std::fs::metadata(env.fifo()).unwrap().permissions().mode() & 0o7777,
        0o660,
        "default mode"
    );
}

#[test]
fn reply_dir_without_trailing_slash_works() {
    let env = TestEnv::new();
    let _s = crate::util::Server::start(
        env.cmd()
            .arg("serve")
            .args(crate::util::serve_user_args())
            .arg("--fifo")
            .arg(env.fifo())
            .arg("--reply-dir")
            .arg(env.dir.path())
            .stdin(Stdio::null())
            .stderr(Stdio::piped()),
        &env.fifo(),
        HANG,
    );
    assert_serving(&env);
}

/// `mififo bench --server-pid PID` reports the server's own CPU per request
/// (issue 10): a positive figure, in the table and in the JSON.
#[test]
fn bench_reports_the_servers_cpu_per_request() {
    let env = TestEnv::new();
    let s = env.serve(&[]);
    let out = env
        .cmd_at("bench", &env.fifo())
        .args(["-n", "300", "-c", "2", "--json", "--server-pid"])
        .arg(s.pid().to_string())
        .arg("uptime")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["ok"], 300, "{v}");
    let us = v["server_cpu_us_per_request"].as_f64().expect("the figure");
    assert!(us > 0.0 && us < 1e6, "{us}");
    // A pid that does not exist is an error, not a zero.
    let out = env
        .cmd_at("bench", &env.fifo())
        .args(["-n", "1", "--server-pid", "999999999", "uptime"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 16 item 10: `--mode 0` is warned about once at start, not again at
/// every recreation of the FIFO.
#[test]
fn mode_zero_is_warned_once() {
    let env = TestEnv::new();
    let mut s = env.serve(&["--mode", "0"]);
    let fifo = env.fifo();
    assert_eq!(std::fs::metadata(&fifo).unwrap().mode() & 0o7777, 0o600);
    for _ in 0..2 {
        let before = std::fs::metadata(&fifo).unwrap().ino();
        std::fs::remove_file(&fifo).unwrap();
        let recreated = crate::util::wait_until(Duration::from_secs(10), || {
            std::fs::metadata(&fifo).is_ok_and(|m| m.file_type().is_fifo() && m.ino() != before)
        });
        assert!(recreated, "not recreated");
        assert_eq!(std::fs::metadata(&fifo).unwrap().mode() & 0o7777, 0o600);
    }
    let (_, log) = s.stop();
    assert_eq!(log.matches("--mode 0 makes no sense").count(), 1, "{log}");
}
