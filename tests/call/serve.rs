//! `mififo call` against the real `mififo serve` (both dialects, slow
//! commands, signals, a server dropping to another user, concurrency).

use super::fake::{count_entries, entries_with_prefix, wait_for_reply_fifo};
use crate::util::{is_root, require, TestEnv};
use mififo::client::{Client, ClientConfig, ReplyKind};
use mififo::proto::jsonrpc::{Outcome, Params};
use mififo::proto::Dialect;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::time::Duration;

/// A commands file: two statistics and a command that answers after 3 s.
fn commands_file(env: &TestEnv) -> String {
    let p = env.path("commands.json");
    std::fs::write(
        &p,
        json!({
            "statistics": {"dialog:active_dialogs": 3, "tm:UAS_transactions": 7},
            "commands": {"slow": {"result": "done", "delay_ms": 3000}}
        })
        .to_string(),
    )
    .unwrap();
    p.display().to_string()
}

fn call(env: &TestEnv, args: &[&str]) -> Output {
    env.cmd_at("call", &env.fifo())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

use crate::util::code_and_text as out;

#[test]
fn every_exit_code_against_mififo_serve() {
    let env = TestEnv::new();
    let cmds = commands_file(&env);
    let mut srv = env.serve(&["--commands", &cmds]);
    let before = count_entries(env.dir.path());

    let (code, stdout, stderr) = out(&call(&env, &["uptime"]));
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["Up time"].as_str().unwrap().ends_with("[sec]"), "{v}");

    let (code, stdout, stderr) = out(&call(&env, &["get_statistics", "dialog:", "tm:"]));
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["dialog:active_dialogs"], 3, "{v}");
    assert_eq!(v["tm:UAS_transactions"], 7, "{v}");

    let (code, _, stderr) = out(&call(&env, &["no_such_command"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("-32601: Method not found"), "{stderr}");

    let (code, stdout, stderr) = out(&call(&env, &["log_level", "--notification"]));
    assert_eq!(code, 0, "notification: {stderr}");
    assert!(stdout.is_empty());

    let (code, _, stderr) = out(&call(&env, &["x", "a=1", "b"]));
    assert_eq!(code, 2, "{stderr}");

    let (code, _, stderr) = out(&call(&env, &["slow", "--timeout", "500ms"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("reply directory"), "{stderr}");

    assert_eq!(
        count_entries(env.dir.path()),
        before,
        "no reply FIFO left behind"
    );

    srv.stop();
    let (code, _, stderr) = out(&call(&env, &["uptime"]));
    assert_eq!(code, 3, "{stderr}");
}

#[test]
fn text_dialect_against_mififo_serve() {
    let env = TestEnv::new();
    let cmds = commands_file(&env);
    let _srv = env.serve(&["--dialect", "text", "--commands", &cmds]);
    let (code, stdout, stderr) = out(&call(&env, &["--dialect", "text", "uptime"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Up time:: "), "{stdout}");
    let (code, stdout, stderr) = out(&call(
        &env,
        &["--dialect", "text", "get_statistics", "dialog:", "tm:"],
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("dialog:active_dialogs"), "{stdout}");
    let (code, _, stderr) = out(&call(&env, &["--dialect", "text", "no_such_command"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("500 command 'no_such_command' not available"),
        "{stderr}"
    );
}

#[test]
fn pretty_server_replies_are_parsed_and_raw_is_untouched() {
    let env = TestEnv::new();
    let _srv = env.serve(&["--pretty"]);
    let (code, stdout, stderr) = out(&call(&env, &["uptime", "--raw"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("{\n\t\"jsonrpc\":\t\"2.0\""),
        "{stdout:?}"
    );
    let (code, stdout, _) = out(&call(&env, &["uptime"]));
    assert_eq!(code, 0);
    assert!(serde_json::from_str::<Value>(&stdout).unwrap()["Up since"].is_string());
}

#[test]
fn sigint_during_a_slow_command_against_mififo_serve() {
    let env = TestEnv::new();
    let cmds = commands_file(&env);
    let _srv = env.serve(&["--commands", &cmds]);
    let before = count_entries(env.dir.path());
    let child = env
        .cmd_at("call", &env.fifo())
        .arg("slow")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_reply_fifo(env.dir.path());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    assert_eq!(count_entries(env.dir.path()), before);
    // The server survives a client that vanished mid-command.
    let (code, _, stderr) = out(&call(&env, &["uptime"]));
    assert_eq!(code, 0, "{stderr}");
}

/// As root, `serve --user nobody` writes replies as nobody: the client's
/// reply FIFO (root-owned, 0600) must carry an ACL entry for nobody.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn server_running_as_another_user_can_answer_root() {
    if !require("root", is_root()) {
        return;
    }
    let env = TestEnv::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let _srv = env.serve(&["--user", "nobody"]);
    let (code, stdout, stderr) = out(&call(&env, &["uptime"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Up time"));
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}

#[tokio::test]
async fn many_concurrent_library_calls_against_mififo_serve() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let c = Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        timeout: Duration::from_secs(60),
        dialect: Dialect::Json,
        allow_large: false,
        ..Default::default()
    });
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                let method = if i % 2 == 0 { "uptime" } else { "version" };
                (i, c.call(method, Params::None).await)
            })
        })
        .collect();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        let r = r.unwrap();
        match r.kind {
            ReplyKind::Json(resp) => match resp.outcome {
                Outcome::Result(v) => {
                    let key = if i % 2 == 0 { "Up time" } else { "Server" };
                    assert!(v.get(key).is_some(), "{i}: {v}");
                }
                Outcome::Error(e) => panic!("{e}"),
            },
            other => panic!("{other:?}"),
        }
    }
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}

/// Exit 4 with the real server: a 0600 root FIFO refuses a client running as nobody.
#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn permission_denied_against_mififo_serve() {
    if !require(
        "root and setpriv",
        is_root() && crate::util::have_tool("setpriv"),
    ) {
        return;
    }
    let env = TestEnv::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let _srv = env.serve(&["--mode", "0600"]);
    let fifo = env.fifo().display().to_string();
    let o =
        super::access::call_as_nobody(&env, &["--fifo", &fifo, "--reply-dir", "/tmp/", "uptime"]);
    let (code, _, stderr) = out(&o);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&format!("mififo doctor --fifo {fifo}")),
        "{stderr}"
    );
}

/// The reply-FIFO pool against the real server: 8 tasks × 25 calls through
/// at most 8 reply FIFOs, every reply the right one, nothing left after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_library_calls_against_mififo_serve() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let c = Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        timeout: Duration::from_secs(60),
        pool: 8,
        ..Default::default()
    });
    let mut set = tokio::task::JoinSet::new();
    for t in 0..8 {
        let c = c.clone();
        set.spawn(async move {
            for i in 0..25 {
                let method = if (t + i) % 2 == 0 {
                    "uptime"
                } else {
                    "version"
                };
                let r = c.call(method, Params::None).await.unwrap();
                let key = if method == "uptime" {
                    "Up time"
                } else {
                    "Server"
                };
                match r.kind {
                    ReplyKind::Json(resp) => match resp.outcome {
                        Outcome::Result(v) => assert!(v.get(key).is_some(), "{v}"),
                        Outcome::Error(e) => panic!("{e}"),
                    },
                    other => panic!("{other:?}"),
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").len() <= 8);
    drop(c);
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}

/// A pooled client keeps the server FIFO open for writing: when the server
/// goes, the next call says "no server" at once (EPIPE, then the path is
/// opened again), and when it comes back on a new FIFO the client follows.
#[tokio::test]
async fn a_pooled_client_follows_the_server_away_and_back() {
    let env = TestEnv::new();
    let srv = env.serve(&[]);
    let c = Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        timeout: Duration::from_secs(20),
        pool: 2,
        ..Default::default()
    });
    c.call("uptime", Params::None).await.unwrap();
    drop(srv);
    let e = c.call("uptime", Params::None).await.unwrap_err();
    assert_eq!(e.kind(), mififo::client::ErrorKind::NoServer, "{e}");
    let _srv = env.serve(&[]);
    let r = c.call("uptime", Params::None).await.unwrap();
    assert!(matches!(r.kind, ReplyKind::Json(_)));
}
