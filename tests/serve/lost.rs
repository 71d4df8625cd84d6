//! When serve cannot serve its path (issue 10, findings 3 and 8): a FIFO of
//! another user squatting it, or a deleted FIFO that cannot be recreated
//! after the privilege drop. Serve says so at error level, repeatedly but
//! rate-limited, and exits non-zero after `--give-up-after`.

use super::*;
use crate::util::open_reader;
use crate::util::root::TestUser;
use crate::util::{is_root, require};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

fn error_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("\"ERROR\"")).collect()
}

/// Finding 3: in a sticky world-writable directory, after our FIFO is
/// deleted, another user puts a FIFO at the path and reads it.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn a_squatted_path_is_named_and_serve_exits() {
    if !require("root (a second user squats the path)", is_root()) {
        return;
    }
    let env = TestEnv::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let service = TestUser::new();
    let squatter = TestUser::new();
    let mut s = env.serve(&[
        "--user",
        &service.name,
        "--give-up-after",
        "2s",
        "--mode",
        "0666",
    ]);
    let fifo = env.fifo();
    std::fs::remove_file(&fifo).unwrap();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622)).unwrap();
    nix::unistd::chown(
        &fifo,
        Some(nix::unistd::Uid::from_raw(squatter.uid)),
        Some(nix::unistd::Gid::from_raw(squatter.gid)),
    )
    .unwrap();
    let _squatter_reads = open_reader(&fifo);
    let (status, log) = s.wait_exit(HANG);
    assert!(!status.success(), "{status}: {log}");
    let errors = error_lines(&log);
    assert!(
        errors.iter().any(|l| l.contains("squatted")
            && l.contains(&format!("user {} (uid {})", squatter.name, squatter.uid))),
        "{log}"
    );
    assert!(!log.contains("another instance"), "{log}");
    assert!(errors.len() <= 3, "not rate-limited: {log}");
    assert!(log.contains("gave up"), "{log}");
    // A fresh server names the squatter too, and refuses.
    let out = env
        .cmd_at("serve", &fifo)
        .args(["--user", &service.name])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is squatted") && err.contains(&squatter.name),
        "{err}"
    );
    // Started as root, it can see who reads the squatted FIFO: this test
    // (and, for an instant, any child another test thread is forking, which
    // holds a copy of the descriptor until its exec).
    let me = std::process::id().to_string();
    let readers = err
        .split_once("read by pid")
        .map(|(_, rest)| rest.trim_start_matches('s').split(')').next().unwrap_or(""))
        .unwrap_or("");
    assert!(
        readers
            .split(|c: char| !c.is_ascii_digit())
            .any(|p| p == me),
        "{err}"
    );
}

/// Finding 8: the FIFO lives in a root-owned directory; after the drop to
/// `--user` a deleted FIFO cannot be recreated. SIGHUP keeps the current FIFO
/// (error logged); a deletion makes serve exit non-zero after the bounded time.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn a_fifo_that_cannot_be_recreated_after_the_drop_ends_the_server() {
    if !require("root (privilege drop)", is_root()) {
        return;
    }
    let env = TestEnv::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = TestUser::new();
    let mut s = env.serve(&[
        "--user",
        &user.name,
        "--give-up-after",
        "1500ms",
        "--mode",
        "0666",
    ]);
    // Wait for the drop (the FIFO gets its reader before it).
    let status_path = format!("/proc/{}/status", s.pid());
    let dropped = || {
        std::fs::read_to_string(&status_path)
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains(&user.uid.to_string()))
    };
    assert!(crate::util::wait_until(HANG, dropped), "never dropped");
    s.signal(nix::sys::signal::Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert!(crate::util::has_reader(&env.fifo()), "SIGHUP lost the FIFO");
    std::fs::remove_file(env.fifo()).unwrap();
    let (status, log) = s.wait_exit(HANG);
    assert!(!status.success(), "{status}: {log}");
    let errors = error_lines(&log);
    assert!(
        errors
            .iter()
            .any(|l| l.contains("cannot replace the FIFO") && l.contains("Permission denied")),
        "{log}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("cannot serve the FIFO path")),
        "{log}"
    );
    assert!(log.contains("gave up"), "{log}");
}
