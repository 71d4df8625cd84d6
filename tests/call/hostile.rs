//! Issue 11: nothing the reply FIFO returns is trusted. Each test is one
//! finding of the issue, reproduced as a hostile local user would, and fails
//! on the client that preceded it:
//!
//! 1. a reply with another id is rejected (exit 6), never printed;
//! 2. a request injected by another user naming our reply FIFO can never
//!    answer our call; two replies (exit 7) or bytes after the reply (exit 8)
//!    reject the whole reply;
//! 4. replies are bounded (exit 9), also endless ones;
//! 5. control characters from the server never reach the terminal or stderr.
//!
//! (3, squatting, is in `access` — it needs a second real user; 6, signals,
//! in `cli`; 7, bench ids, in `reliability::bench_cli`.)

use super::fake::{self, echo, entries_with_prefix, fake, Act};
use crate::util::TestEnv;
use mififo::client::{Client, ClientConfig, Error, ErrorKind};
use mififo::proto::jsonrpc::Params;
use mififo::proto::Dialect;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn call(env: &TestEnv, args: &[&str]) -> Output {
    env.cmd_at("call", &env.fifo())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mififo call")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn leftovers(env: &TestEnv) -> Vec<String> {
    entries_with_prefix(env.dir.path(), "mififo_reply_")
}

#[test]
fn a_reply_with_another_id_is_rejected_and_not_printed() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        let id = r.id().unwrap().as_u64().unwrap();
        Act::Reply(
            json!({"jsonrpc": "2.0", "result": "FORGED-RESULT", "id": id + 1})
                .to_string()
                .into_bytes(),
        )
    });
    let o = call(&env, &["uptime"]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "printed: {:?}", o.stdout);
    assert!(stderr(&o).contains("rejected the reply"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("FORGED-RESULT"), "{}", stderr(&o));
    assert!(leftovers(&env).is_empty());

    // A string id equal in digits is another id, too (and so is null).
    let _srv2 = {
        drop(_srv);
        fake(&env, Dialect::Json, |r| {
            Act::Reply(
                json!({"jsonrpc": "2.0", "result": "x", "id": r.id().unwrap().to_string()})
                    .to_string()
                    .into_bytes(),
            )
        })
    };
    let c = Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        ..Default::default()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(c.call("uptime", Params::None)).unwrap_err();
    assert!(matches!(e, Error::ForeignReply { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::ForeignReply);
}

#[test]
fn a_second_reply_or_bytes_after_the_reply_reject_it() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        let mut bytes = fake::result_for(r, json!("mine"));
        match r.json.as_ref().unwrap()["method"].as_str().unwrap() {
            "two" => bytes.extend_from_slice(
                &json!({"jsonrpc": "2.0", "result": "theirs", "id": 1})
                    .to_string()
                    .into_bytes(),
            ),
            _ => bytes.extend_from_slice(b"\x1b]0;junk\x07"),
        }
        Act::Reply(bytes)
    });
    let o = call(&env, &["two"]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("second reply"), "{}", stderr(&o));
    let o = call(&env, &["tail"]);
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("followed its end"), "{}", stderr(&o));
    // Text dialect: one reply ends at its empty line; a second one after it
    // is refused the same way.
    drop(_srv);
    let _srv = fake(&env, Dialect::Text, |_| {
        Act::Reply(b"200 OK\nmine:: 1\n\n200 OK\ntheirs:: 2\n\n".to_vec())
    });
    let o = call(&env, &["--dialect", "text", "uptime"]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(leftovers(&env).is_empty());
}

/// The attack of finding 2: another local user watches the shared reply
/// directory and, for every new reply FIFO, writes a request of their own
/// naming it to the server FIFO. Their reply (`version`) arrives first and
/// alone; the client that trusted whatever came first printed it and exited 0.
#[test]
fn injected_requests_never_answer_a_victims_call() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        // The victim's own reply comes late, so the injected one wins the race.
        if r.json.as_ref().unwrap()["method"] == "pwd" {
            Act::Delay(Duration::from_millis(100), Box::new(echo(r)))
        } else {
            echo(r)
        }
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = {
        let dir = env.dir.path().to_path_buf();
        let fifo = env.fifo();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut done = std::collections::HashSet::new();
            let mut injected = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for name in entries_with_prefix(&dir, "mififo_reply_") {
                    if done.insert(name.clone()) {
                        let req =
                            format!(r#":{name}:{{"jsonrpc":"2.0","method":"version","id":1}}"#);
                        if let Ok(mut f) = std::fs::OpenOptions::new()
                            .write(true)
                            .custom_flags(libc::O_NONBLOCK)
                            .open(&fifo)
                        {
                            let _ = f.write_all(req.as_bytes());
                            injected += 1;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            injected
        })
    };
    let mut rejected = 0;
    for _ in 0..10 {
        let o = call(&env, &["pwd"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            !out.contains("version"),
            "the attacker's reply was printed (exit {}): {out}",
            code(&o)
        );
        match code(&o) {
            0 => assert!(out.contains("pwd"), "{out}"),
            6 | 7 => {
                rejected += 1;
                assert!(o.stdout.is_empty());
            }
            c => panic!("exit {c}: {}", stderr(&o)),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let injected = attacker.join().unwrap();
    assert!(
        injected >= 5,
        "the attack did not run ({injected} injections)"
    );
    assert!(
        rejected >= 5,
        "the attack did not land ({rejected} rejected)"
    );
}

#[test]
fn replies_are_bounded_also_endless_ones() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        match r.json.as_ref().unwrap()["method"].as_str().unwrap() {
            "endless" => Act::Endless(vec![b' '; 65536]),
            _ => Act::Reply(fake::result_for(r, json!("x".repeat(3 << 20)))),
        }
    });
    // 3 MiB: fine by default (64 MiB), too large for --max-reply 1M.
    let o = call(&env, &["big"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(o.stdout.len() > 3 << 20);
    let o = call(&env, &["--max-reply", "1M", "big"]);
    assert_eq!(code(&o), 9, "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("larger than the maximum of 1048576 bytes"),
        "{}",
        stderr(&o)
    );
    // A reply that never ends stops at the maximum, long before the timeout.
    let t0 = std::time::Instant::now();
    let o = call(&env, &["--max-reply", "2M", "--timeout", "50s", "endless"]);
    assert_eq!(code(&o), 9, "{}", stderr(&o));
    assert!(t0.elapsed() < Duration::from_secs(40));
    assert!(leftovers(&env).is_empty());

    let c = Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        max_reply: 4096,
        ..Default::default()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(c.call("big", Params::None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReplyTooLarge, "{e}");
}

/// Runs `mififo call ARGS` with stdout on a pseudo-terminal; returns the
/// exit code, what the terminal received, and stderr.
fn call_on_a_terminal(env: &TestEnv, args: &[&str]) -> (i32, Vec<u8>, String) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let child = env
        .cmd_at("call", &env.fifo())
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::from(pty.slave))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // The child has exited: read what it left in the terminal (EIO at the end).
    let mut master = std::fs::File::from(pty.master);
    let mut seen = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    (
        out.status.code().unwrap_or(-1),
        seen,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Finding 5: `ESC ] 0 ; pwned BEL` retitles a terminal; C1 `CSI` (U+009B)
/// is ESC [ to some. Neither reaches the terminal nor stderr from a reply,
/// except with --raw, which promises the bytes as received.
#[test]
fn control_characters_from_the_server_are_escaped() {
    let env = TestEnv::new();
    let evil = "\u{1b}]0;pwned\u{7}\u{9b}2J";
    let _srv = fake(&env, Dialect::Json, move |r| {
        match r.json.as_ref().unwrap()["method"].as_str().unwrap() {
            "fail" => Act::Reply(fake::error_for(r, 500, evil)),
            "text" => Act::Reply(format!("failed {evil}").into_bytes()),
            _ => Act::Reply(fake::result_for(r, json!({ "k": evil }))),
        }
    });
    let dangerous = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        s.contains('\u{1b}') || s.contains('\u{7}') || s.contains('\u{9b}')
    };
    for method in ["fail", "text"] {
        let o = call(&env, &[method]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(!dangerous(&o.stderr), "{method}: {:?}", stderr(&o));
        assert!(stderr(&o).contains("\\x1b]0;pwned\\x07"), "{}", stderr(&o));
    }
    let (c, term, err) = call_on_a_terminal(&env, &["--color", "never", "ok"]);
    assert_eq!(c, 0, "{err}");
    assert!(!dangerous(&term), "{:?}", String::from_utf8_lossy(&term));
    assert!(String::from_utf8_lossy(&term).contains("\\u009b2J"));
    let (c, term, _) = call_on_a_terminal(&env, &["--raw", "ok"]);
    assert_eq!(c, 0);
    assert!(dangerous(&term), "--raw keeps the bytes");
    drop(_srv);

    // Text dialect: the body is the server's text, printed as is off a terminal.
    let _srv = fake(&env, Dialect::Text, move |_| {
        Act::Reply(format!("200 OK\nName:: {evil}\n\n").into_bytes())
    });
    let (c, term, err) = call_on_a_terminal(&env, &["--dialect", "text", "uptime"]);
    assert_eq!(c, 0, "{err}");
    assert!(!dangerous(&term), "{:?}", String::from_utf8_lossy(&term));
    let o = call(&env, &["--dialect", "text", "uptime"]);
    assert!(dangerous(&o.stdout), "a pipe gets the bytes for scripts");
}

/// `--help` says what --raw does to control characters.
#[test]
fn help_documents_raw_and_the_exit_codes() {
    let o = Command::new(crate::util::bin())
        .args(["call", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("control characters and all"), "{help}");
    for c in ["6 the reply has another request's id", "10 the server FIFO"] {
        assert!(help.contains(c), "{c}: {help}");
    }
}
