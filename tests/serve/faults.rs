//! `serve --fault RULE`: for every rule, what `mififo call` and python-opensips's
//! `opensips-mi` (no timeout of its own: its hang is cut here after 3 s) do
//! against it. docs/serve.md has the same table in prose.

use crate::util::{have_tool, require, TestEnv};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a client did: exit code (`None`: still running at the cut-off,
/// killed), its output, how long it took.
#[derive(Debug)]
struct Seen {
    code: Option<i32>,
    text: String,
    took: Duration,
}

fn run(mut cmd: Command, cut: Duration) -> Seen {
    let out = tempfile::NamedTempFile::new().unwrap();
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if start.elapsed() > cut {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Seen {
        code,
        text: std::fs::read_to_string(out.path()).unwrap(),
        took: start.elapsed(),
    }
}

/// `mififo call --timeout 1s uptime` against a fresh server with `--fault uptime=RULE`.
fn call_against(rule: &str) -> Seen {
    call_within(rule, "1s")
}

/// [`call_against`] with another `--timeout`, for rules whose reply takes
/// long on a loaded machine.
fn call_within(rule: &str, timeout: &str) -> Seen {
    let env = TestEnv::new();
    let _s = env.serve(&["--fault", &format!("uptime={rule}")]);
    let mut c = env.cmd_at("call", &env.fifo());
    c.args(["--timeout", timeout, "uptime"]);
    run(c, Duration::from_secs(20))
}

/// `opensips-mi uptime` against a fresh server with `--fault uptime=RULE`,
/// for a rule it answers: killed after 20 s, room for a Python start on a
/// loaded machine (it took over 3 s with 32 test threads on 2 cores).
/// `None` when opensips-mi is not installed.
fn opensips_mi_against(rule: &str) -> Option<Seen> {
    opensips_mi_within(rule, Duration::from_secs(20))
}

/// [`opensips_mi_against`], killed after `limit`.
fn opensips_mi_within(rule: &str, limit: Duration) -> Option<Seen> {
    if !require("opensips-mi (PyPI opensips)", have_tool("opensips-mi")) {
        return None;
    }
    let env = TestEnv::new();
    let _s = env.serve(&["--fault", &format!("uptime={rule}")]);
    let mut c = Command::new("opensips-mi");
    c.current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .arg("-f")
        .arg(env.fifo())
        .arg("-fd")
        .arg(env.reply_dir())
        .arg("uptime");
    Some(run(c, limit))
}

#[test]
fn without_fault_rules_nothing_fails() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let mut c = env.cmd_at("call", &env.fifo());
    c.args(["--timeout", "2s", "uptime"]);
    let s = run(c, Duration::from_secs(10));
    assert_eq!(s.code, Some(0), "{s:?}");
}

#[test]
fn other_methods_are_untouched() {
    let env = TestEnv::new();
    let _s = env.serve(&["--fault", "uptime=no-reply"]);
    let mut c = env.cmd_at("call", &env.fifo());
    c.args(["--timeout", "2s", "version"]);
    let s = run(c, Duration::from_secs(10));
    assert_eq!(s.code, Some(0), "{s:?}");
}

#[test]
fn bad_rules_are_refused_at_start() {
    let env = TestEnv::new();
    let out = env
        .cmd_at("serve", &env.fifo())
        .args(crate::util::serve_user_args())
        .args(["--fault", "uptime=explode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fault 'explode'"));
}

#[test]
fn delay() {
    let s = call_against("delay:400ms");
    assert_eq!(s.code, Some(0), "{s:?}");
    assert!(s.took >= Duration::from_millis(400), "{s:?}");
    if let Some(s) = opensips_mi_against("delay:400ms") {
        assert_eq!(s.code, Some(0), "{s:?}");
        assert!(s.text.contains("Up time"), "{s:?}");
    }
}

#[test]
fn no_reply() {
    let s = call_against("no-reply");
    assert_eq!(s.code, Some(5), "call times out: {s:?}");
    assert!(s.text.contains("timed out after 1s"), "{s:?}");
    // It never ends by itself: cut at 3 s, which proves the hang.
    if let Some(s) = opensips_mi_within("no-reply", Duration::from_secs(3)) {
        assert_eq!(s.code, None, "opensips-mi hangs (no timeout): {s:?}");
    }
}

#[test]
fn close() {
    let s = call_against("close");
    assert_eq!(s.code, Some(1), "{s:?}");
    assert!(
        s.text.contains("closed the reply FIFO without writing"),
        "{s:?}"
    );
    if let Some(s) = opensips_mi_against("close") {
        assert_eq!(s.code, Some(1), "{s:?}");
        assert!(s.text.contains("could not decode json: ''"), "{s:?}");
    }
}

#[test]
fn truncate() {
    let s = call_against("truncate:10");
    assert_eq!(s.code, Some(1), "{s:?}");
    assert!(
        s.text
            .contains(r#"plain text instead of JSON: '{"jsonrpc"'"#),
        "{s:?}"
    );
    if let Some(s) = opensips_mi_against("truncate:10") {
        assert_eq!(s.code, Some(1), "{s:?}");
        assert!(
            s.text.contains(r#"could not decode json: '{"jsonrpc"'"#),
            "{s:?}"
        );
    }
}

#[test]
fn garbage() {
    let s = call_against("garbage");
    assert_eq!(s.code, Some(1), "{s:?}");
    assert!(s.text.contains("'failed to print response'"), "{s:?}");
    if let Some(s) = opensips_mi_against("garbage") {
        assert_eq!(s.code, Some(1), "{s:?}");
        assert!(
            s.text
                .contains("could not decode json: 'failed to print response'"),
            "{s:?}"
        );
    }
}

#[test]
fn wrong_id() {
    let s = call_against("wrong-id");
    assert_eq!(
        s.code,
        Some(6),
        "call rejects a reply to another request: {s:?}"
    );
    assert!(s.text.contains("is not this request's id"), "{s:?}");
    if let Some(s) = opensips_mi_against("wrong-id") {
        assert_eq!(s.code, Some(0), "opensips-mi does not check the id: {s:?}");
        assert!(s.text.contains("Up time"), "{s:?}");
    }
}

#[test]
fn trickle() {
    // Each byte is its own timer wake-up: give a loaded machine room.
    let s = call_within("trickle:2ms", "10s");
    assert_eq!(s.code, Some(0), "{s:?}");
    // ~90 bytes, 2 ms apart.
    assert!(s.took >= Duration::from_millis(150), "{s:?}");
    if let Some(s) = opensips_mi_against("trickle:2ms") {
        assert_eq!(s.code, Some(0), "{s:?}");
        assert!(s.text.contains("Up time"), "{s:?}");
    }
}

#[test]
fn late() {
    let s = call_against("late:2s");
    assert_eq!(s.code, Some(5), "past --timeout 1s: {s:?}");
    // Python's start-up on a loaded machine comes on top of the 2 s.
    if let Some(s) = opensips_mi_within("late:2s", Duration::from_secs(15)) {
        assert_eq!(
            s.code,
            Some(0),
            "opensips-mi waits as long as it takes: {s:?}"
        );
        assert!(s.took >= Duration::from_secs(2), "{s:?}");
    }
}

#[test]
fn die() {
    let env = TestEnv::new();
    let mut server = env.serve(&["--fault", "uptime=die"]);
    let mut c = env.cmd_at("call", &env.fifo());
    c.args(["--timeout", "1s", "uptime"]);
    let s = run(c, Duration::from_secs(10));
    assert_eq!(s.code, Some(1), "{s:?}");
    assert!(
        s.text.contains("closed the reply FIFO without writing"),
        "{s:?}"
    );
    let (status, _) = server.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(139));
    assert!(
        env.fifo().exists(),
        "the FIFO file is left behind, as after a crash"
    );
    // The next call finds nobody reading.
    let mut c = env.cmd_at("call", &env.fifo());
    c.args(["--timeout", "1s", "uptime"]);
    let s = run(c, Duration::from_secs(10));
    assert_eq!(s.code, Some(3), "{s:?}");
    if let Some(s) = opensips_mi_against("die") {
        // It writes its request, reads an empty reply, and reports it.
        assert_eq!(s.code, Some(1), "{s:?}");
        assert!(s.text.contains("could not decode json: ''"), "{s:?}");
    }
}

#[test]
fn text_dialect_rules_too() {
    let env = TestEnv::new();
    let _s = env.serve(&["--dialect", "text", "--fault", "uptime=truncate:1"]);
    let mut c = env.cmd_at("call", &env.fifo());
    c.args(["--dialect", "text", "--timeout", "2s", "uptime"]);
    let s = run(c, Duration::from_secs(10));
    assert_eq!(
        s.code,
        Some(1),
        "'200' is not a complete status line: {s:?}"
    );
    let mut c = env.cmd_at("call", &env.fifo());
    c.args(["--dialect", "text", "--timeout", "2s", "version"]);
    let s = run(c, Duration::from_secs(10));
    assert_eq!(s.code, Some(0), "{s:?}");
}
