//! A local user trying to turn serve's privileges against the host (issue 10,
//! findings 1, 2 and 6): renames and symlinks raced into the FIFO's
//! directory, a pid file path that points elsewhere, and replies written into
//! FIFOs the requester could not write.

use super::*;
use crate::util::root::TestUser;
use crate::util::{is_root, read_reply, require, serve_user_args};
use crate::util::{open_reader, open_writer};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn serve_status(env: &TestEnv, args: &[&str]) -> (Option<i32>, String) {
    let out = env
        .cmd_at("serve", &env.fifo())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Finding 1: whoever may rename entries in the FIFO's directory swaps a
/// symlink to a file of the server's user over the temporary name as fast as
/// it can, while the server recreates its FIFO hundreds of times (SIGHUP).
/// The old code chmod-ed by path and so, sooner or later, the target. Now
/// nothing after mkfifo looks the path up again, so the target never changes,
/// and the server keeps serving.
#[test]
fn a_symlink_raced_over_the_temporary_fifo_never_redirects_chmod() {
    let env = TestEnv::new();
    // -qq: every failed recreation logs (the stderr pipe is read only at the end).
    let mut s = env.serve(&["-qq", "--mode", "0666"]);
    let victim = env.path("victim");
    std::fs::write(&victim, b"secret").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let (dir, victim, stop) = (env.dir.path().to_path_buf(), victim.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().contains(".mififo-new-") {
                        let link = dir.join(format!("evil{swaps}"));
                        if std::os::unix::fs::symlink(&victim, &link).is_ok() {
                            if std::fs::rename(&link, e.path()).is_ok() {
                                swaps += 1;
                            } else {
                                let _ = std::fs::remove_file(&link);
                            }
                        }
                    }
                }
            }
            swaps
        })
    };
    for _ in 0..400 {
        s.signal(nix::sys::signal::Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(3));
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = attacker.join().unwrap();
    eprintln!("the attacker renamed {swaps} symlinks over temporary FIFOs");
    let m = std::fs::metadata(&victim).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o600, "victim chmod-ed");
    assert_eq!(std::fs::read(&victim).unwrap(), b"secret");
    // Still serving (a failed recreation keeps the old FIFO; SIGHUP again).
    s.signal(nix::sys::signal::Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    let got = exchange(
        &env,
        "r",
        br#":r:{"jsonrpc":"2.0","method":"reset_all_statistics","id":1}"#,
    );
    let (_, log) = s.stop();
    assert_eq!(
        got.as_deref(),
        Some(r#"{"jsonrpc":"2.0","result":"OK","id":1}"#),
        "{}",
        &log[log.len().saturating_sub(3000)..]
    );
}

/// Finding 2: `--pidfile` pointing (symlink) at a file the server must not
/// write is refused with the reason, and the file is untouched.
#[test]
fn a_pidfile_symlink_is_refused_not_followed() {
    let env = TestEnv::new();
    let victim = env.path("victim");
    std::fs::write(&victim, b"root:x:0:0\n").unwrap();
    let pid = env.path("mififo.pid");
    std::os::unix::fs::symlink(&victim, &pid).unwrap();
    let mut args = serve_user_args().to_vec();
    let p = pid.display().to_string();
    args.extend(["--pidfile", &p]);
    let (code, err) = serve_status(&env, &args);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot write pid file") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"root:x:0:0\n");
    assert!(!env.fifo().exists(), "no FIFO left behind");
}

/// Finding 2 as root: a file at the pid file path that belongs to another
/// user (who owns the directory) is refused, naming its owner.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn a_foreign_pidfile_is_refused_as_root() {
    if !require("root (pid file owned by another user)", is_root()) {
        return;
    }
    let env = TestEnv::new();
    let user = TestUser::new();
    let pid = env.path("mififo.pid");
    std::fs::write(&pid, b"1\n").unwrap();
    nix::unistd::chown(&pid, Some(nix::unistd::Uid::from_raw(user.uid)), None).unwrap();
    let p = pid.display().to_string();
    let (code, err) = serve_status(&env, &["--user", "root", "--pidfile", &p]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("belongs to uid {}", user.uid)),
        "{err}"
    );
    assert_eq!(std::fs::read(&pid).unwrap(), b"1\n");
}

/// Finding 6: started as root without `--user`, serve would write replies
/// into any FIFO a request names. It refuses to start and names `--user`;
/// with `--user`, a FIFO only root may write gets nothing.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn root_without_user_is_refused_and_user_confines_replies() {
    if !require("root (confused deputy)", is_root()) {
        return;
    }
    let env = TestEnv::new();
    let (code, err) = serve_status(&env, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("refusing to serve as root without --user") && err.contains("--user NAME"),
        "{err}"
    );
    assert!(!env.fifo().exists());

    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let user = TestUser::new();
    let _s = env.serve(&["--user", &user.name, "--mode", "0666"]);
    // A victim's reply FIFO: root's, 0600, with a reader waiting.
    let victim = env.path("victim");
    nix::unistd::mkfifo(&victim, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert_eq!(std::fs::metadata(&victim).unwrap().uid(), 0);
    let mut r = open_reader(&victim);
    open_writer(env.fifo())
        .write_all(br#":victim:{"jsonrpc":"2.0","method":"uptime","id":1}"#)
        .unwrap();
    assert_eq!(read_reply(&mut r, Duration::from_secs(2)), None);
    // A reply FIFO the user may write gets its answer: the request above was
    // dropped, not lost.
    let open = env.path("open");
    nix::unistd::mkfifo(&open, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut r = open_reader(&open);
    open_writer(env.fifo())
        .write_all(
            br#":open:{"jsonrpc":"2.0","method":"get_statistics","params":[["mififo:dropped"]],"id":1}"#,
        )
        .unwrap();
    assert_eq!(
        read_reply(&mut r, HANG).map(|b| String::from_utf8(b).unwrap()),
        Some(r#"{"jsonrpc":"2.0","result":{"mififo:dropped":1},"id":1}"#.to_string())
    );
}
