//! `mififo call --watch INTERVAL`: the same command again and again until
//! interrupted; each round has its own reply FIFO and none is left behind.
//! Like every reply `call` prints, what the server sends is escaped first.

use crate::shell::hostile_server;
use crate::util::tmux::assert_no_reply_fifos;
use crate::util::{code_and_text, TestEnv};
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn watch_repeats_until_sigint_and_leaves_no_reply_fifo() {
    let env = TestEnv::new();
    let _srv = hostile_server(&env);
    let mut child = env
        .cmd_at("call", &env.fifo())
        .args(["--watch", "200ms", "get_statistics", "mififo:requests"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while seen.matches("Every 200ms: get_statistics").count() < 3 {
        assert!(Instant::now() < deadline, "too few rounds: {seen}");
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "call --watch ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // Every round asks again: the counter grows from round to round.
    let values: Vec<u64> = seen
        .lines()
        .filter_map(|l| l.trim().strip_prefix("\"mififo:requests\": "))
        .map(|v| v.trim_end_matches(',').parse().unwrap())
        .collect();
    assert!(
        values.len() >= 2 && values.windows(2).all(|w| w[1] > w[0]),
        "{seen}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (code, _, stderr) = code_and_text(&child.wait_with_output().unwrap());
    assert_eq!(code, 130, "{stderr}");
    assert_no_reply_fifos(&env);
}

#[test]
fn call_escapes_control_characters_the_server_sends() {
    let env = TestEnv::new();
    let file = env.path("evil.json");
    let doc = serde_json::json!({"commands": {
        "evil_error": {"error": {"code": 500, "message": "bad\u{1b}]0;pwned\u{7}"}},
        "evil_result": {"result": {"k\u{9b}2J": "v\u{7f}\u{202e}"}}
    }});
    std::fs::write(&file, doc.to_string()).unwrap();
    let _srv = env.serve(&["--commands", file.to_str().unwrap()]);

    let (code, _, stderr) = code_and_text(
        &env.cmd_at("call", &env.fifo())
            .arg("evil_error")
            .output()
            .unwrap(),
    );
    assert_eq!(code, 1);
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(stderr.contains("bad\\x1b]0;pwned\\x07"), "{stderr:?}");

    let (code, stdout, _) = code_and_text(
        &env.cmd_at("call", &env.fifo())
            .arg("evil_result")
            .output()
            .unwrap(),
    );
    assert_eq!(code, 0);
    assert!(
        !stdout.contains(['\u{9b}', '\u{7f}', '\u{202e}']),
        "{stdout:?}"
    );
    // Still JSON, and the same value once parsed.
    let back: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(back, doc["commands"]["evil_result"]["result"]);
}
