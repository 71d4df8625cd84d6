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

/// A signal is never lost, whatever the watch is doing when it lands. Here
/// it lands with a reply: the server answers each request after 300 ms, each
/// watcher is stopped (SIGSTOP) while it waits for its answer, the answer is
/// written meanwhile, then SIGTERM and SIGCONT, so the reply and the signal
/// wake it together. The watch used to make a new signal listener for every
/// exchange and every wait; when the reply won that tie (about one time in
/// two) the signal was gone and the watch ran on for ever: with ten
/// watchers, the old code passed this test about one run in a thousand.
#[test]
fn a_signal_that_lands_with_a_reply_still_ends_the_watch() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let env = TestEnv::new();
    let _srv = env.serve(&["--fault", "delay:300ms"]);
    let mut kids = crate::util::Children(
        (0..10)
            .map(|_| {
                env.cmd_at("call", &env.fifo())
                    .args(["--watch", "100ms", "uptime"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    // Each has printed a round; rounds now follow each other at once (each
    // takes longer than the interval), so it is almost always waiting for a
    // reply.
    for k in &mut kids.0 {
        let out = k.stdout.as_mut().unwrap();
        let (mut seen, mut buf) = (String::new(), [0u8; 1024]);
        while !seen.contains("Up time") {
            assert!(Instant::now() < deadline, "no round printed: {seen}");
            let n = out.read(&mut buf).unwrap();
            assert!(n > 0, "call --watch ended early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let pid = |k: &std::process::Child| Pid::from_raw(k.id() as i32);
    for k in &kids.0 {
        kill(pid(k), Signal::SIGSTOP).unwrap();
    }
    for k in &kids.0 {
        let stat = format!("/proc/{}/stat", k.id());
        while !std::fs::read_to_string(&stat)
            .unwrap()
            .rsplit(") ")
            .next()
            .is_some_and(|rest| rest.starts_with('T'))
        {
            assert!(Instant::now() < deadline, "not stopped");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Longer than the server's delay: every answer is in its reply FIFO.
    std::thread::sleep(Duration::from_millis(700));
    for k in &kids.0 {
        kill(pid(k), Signal::SIGTERM).unwrap();
    }
    for k in &kids.0 {
        kill(pid(k), Signal::SIGCONT).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lost = 0;
    for k in &mut kids.0 {
        let status = loop {
            if let Some(st) = k.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        match status {
            Some(st) => assert_eq!(st.code(), Some(143), "{st}"),
            None => lost += 1,
        }
    }
    assert_eq!(
        lost, 0,
        "{lost} of 10 watchers lost their SIGTERM and ran on"
    );
    assert_no_reply_fifos(&env);
}
