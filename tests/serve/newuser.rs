//! Issue 16 item 3: an ordinary user whose `serve` meets another user's FIFO
//! in a sticky world-writable directory (root's `/tmp/opensips_fifo`), or
//! asks for a group it cannot give. Each error says what to do next and
//! names the path the user gave, never the temporary one.

use crate::util::root::TestUser;
use crate::util::{is_root, require, TestEnv};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

/// `serve --fifo FIFO ARGS…` as `user` (no supplementary groups): exit code and stderr.
fn serve_as(user: &TestUser, env: &TestEnv, fifo: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = env
        .cmd_at("serve", fifo)
        .args(args)
        .uid(user.uid)
        .gid(user.gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A temp dir like `/tmp`: root's, sticky and world-writable.
fn sticky_env() -> TestEnv {
    let env = TestEnv::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    env
}

fn root_fifo(path: &Path, mode: u32) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn root_fifo_names_the_next_step() {
    if !require("root (a root FIFO met by a test user)", is_root()) {
        return;
    }
    let env = sticky_env();
    let user = TestUser::new();
    root_fifo(&env.fifo(), 0o600);
    let (code, err) = serve_as(&user, &env, &env.fifo(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("user root (uid 0)"), "{err}");
    assert!(
        err.contains("serve another path (--fifo") && err.contains("run serve as that user"),
        "{err}"
    );
    assert_eq!(std::fs::metadata(env.fifo()).unwrap().uid(), 0);
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn stale_root_fifo_in_a_sticky_dir_is_explained() {
    if !require("root (a stale root FIFO met by a test user)", is_root()) {
        return;
    }
    let env = sticky_env();
    let user = TestUser::new();
    root_fifo(&env.fifo(), 0o666);
    let (code, err) = serve_as(&user, &env, &env.fifo(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot replace the stale FIFO") && err.contains("is sticky (mode 1777)"),
        "{err}"
    );
    assert!(
        err.contains("--fifo") && err.contains(&format!("'rm {}'", env.fifo().display())),
        "{err}"
    );
    assert!(
        !err.contains("replacing stale FIFO"),
        "no promise it cannot keep: {err}"
    );
    assert!(!err.contains("Operation not permitted"), "{err}");
    // Nothing of ours left beside it.
    let names: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(std::fs::metadata(env.fifo()).unwrap().uid(), 0);
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn group_as_non_root_names_the_path_not_the_temporary() {
    if !require("root (to add a test user)", is_root()) {
        return;
    }
    let env = sticky_env();
    let user = TestUser::new();
    let fifo = env.path("g_fifo");
    let (code, err) = serve_as(&user, &env, &fifo, &["--group", "root"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        !err.contains(".mififo-new"),
        "temporary name exposed: {err}"
    );
    assert!(
        err.contains(&format!("'{}'", fifo.display()))
            && err.contains("--group of a group you are in"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(env.dir.path()).unwrap().count(), 0);
}
