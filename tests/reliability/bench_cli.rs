//! `mififo bench` itself: its JSON report against a real server, the floor,
//! and failures that must be counted — misrouted replies and error replies.

use super::*;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;

/// `mififo bench --json` against the env's FIFO, reply FIFOs in its dir.
fn bench_cmd(env: &TestEnv) -> std::process::Command {
    let mut c = env.cmd();
    c.arg("bench")
        .arg("--fifo")
        .arg(env.fifo())
        .arg("--reply-dir")
        .arg(env.dir.path())
        .arg("--json");
    c
}

fn bench(env: &TestEnv, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = bench_cmd(env)
        .args(["--timeout", "5s"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout:?} {out:?}"));
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bench_reports_every_request_of_a_real_server() {
    let env = TestEnv::new();
    let _server = serve(&env, &[]);
    let (code, r, stderr) = bench(&env, &["-c", "4", "-n", "200", "get_statistics", "all"]);
    assert_eq!(code, Some(0), "{r} {stderr}");
    assert_eq!(r["requests"], 200);
    assert_eq!(r["ok"], 200);
    for k in ["errors", "timeouts", "misrouted"] {
        assert_eq!(r[k], 0, "{k}: {r}");
    }
    assert!(r["requests_per_second"].as_f64().unwrap() > 0.0);
    let l = &r["latency_ms"];
    let (p50, p90, p99, max) = (
        l["p50"].as_f64().unwrap(),
        l["p90"].as_f64().unwrap(),
        l["p99"].as_f64().unwrap(),
        l["max"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{l}");
    // Not a terminal: no progress line.
    assert_eq!(stderr, "");
    assert_eq!(leftovers(&env), Vec::<String>::new());
}

#[test]
fn error_replies_are_counted_and_fail_the_run() {
    let env = TestEnv::new();
    let _server = serve(&env, &[]);
    let (code, r, _) = bench(&env, &["-c", "2", "-n", "20", "no_such_command"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        (r["errors"].as_u64(), r["ok"].as_u64()),
        (Some(20), Some(0))
    );
    assert!(
        r["first_error"]
            .as_str()
            .unwrap()
            .contains("Method not found"),
        "{r}"
    );
}

/// A server that answers `n` requests, each with the id `id_for(its id)`.
fn id_server(
    fifo: &std::path::Path,
    dir: &std::path::Path,
    n: usize,
    mut id_for: impl FnMut(&Value) -> Value + Send + 'static,
) -> std::thread::JoinHandle<()> {
    nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut r = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .unwrap();
    let keep = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let _keep = keep;
        let mut answered = 0;
        let mut pending = Vec::new();
        let mut buf = vec![0u8; 65536];
        while answered < n {
            match r.read(&mut buf) {
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
            }
            // Requests: ":name:{json}", one after the other.
            while let Some(rest) = pending.strip_prefix(b":") {
                let Some(colon) = rest.iter().position(|&c| c == b':') else {
                    break;
                };
                let name = String::from_utf8_lossy(&rest[..colon]).into_owned();
                let mut it =
                    serde_json::Deserializer::from_slice(&rest[colon + 1..]).into_iter::<Value>();
                let Some(Ok(req)) = it.next() else { break };
                let used = 1 + colon + 1 + it.byte_offset();
                pending.drain(..used);
                let id = id_for(&req["id"]);
                if let Ok(mut w) = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(dir.join(&name))
                {
                    let reply = serde_json::json!({"jsonrpc": "2.0", "result": {}, "id": id});
                    w.write_all(reply.to_string().as_bytes()).unwrap();
                    answered += 1;
                }
            }
        }
    })
}

#[test]
fn misrouted_replies_are_counted_not_hidden() {
    let env = TestEnv::new();
    // Every reply carries the first request's id: from the second request
    // on, each is the answer to another request of this run.
    let mut first: Option<Value> = None;
    let server = id_server(&env.fifo(), env.dir.path(), 10, move |id| {
        first.get_or_insert_with(|| id.clone()).clone()
    });
    let (code, r, stderr) = bench(&env, &["-n", "10", "uptime"]);
    server.join().unwrap();
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(
        (
            r["misrouted"].as_u64(),
            r["ok"].as_u64(),
            r["ids_rewritten"].as_u64()
        ),
        (Some(9), Some(1), Some(0)),
        "{r}"
    );
    assert!(
        r["first_error"].as_str().unwrap().contains("reply id "),
        "{r}"
    );
    assert_eq!(stderr, "", "no log line per request");
}

/// Issue 11, finding 7: a server that does not echo ids as sent (OpenSIPS
/// clamps ids above 2^31−1 to 2147483647; others stringify them) is reported
/// as rewriting ids, once, not as misrouting, and not with a line per request.
#[test]
fn servers_that_rewrite_ids_are_named_as_such() {
    let clamp = |_: &Value| serde_json::json!(2147483647);
    let stringify = |id: &Value| Value::String(id.to_string());
    type Mangle = fn(&Value) -> Value;
    let mangles: [(&str, Mangle); 2] = [("clamp", clamp), ("stringify", stringify)];
    for (what, mangle) in mangles {
        let env = TestEnv::new();
        let server = id_server(&env.fifo(), env.dir.path(), 10, mangle);
        let (code, r, stderr) = bench(&env, &["-n", "10", "uptime"]);
        server.join().unwrap();
        assert_eq!(code, Some(1), "{what}: {r}");
        assert_eq!(
            (r["ids_rewritten"].as_u64(), r["misrouted"].as_u64()),
            (Some(10), Some(0)),
            "{what}: {r}"
        );
        assert!(
            r["first_rewrite"].as_str().unwrap().starts_with("sent "),
            "{r}"
        );
        assert_eq!(stderr, "", "{what}: no log line per request");
    }
}

/// Every id a bench run sends is an integer in 1..=2^31−1 (what OpenSIPS
/// echoes unchanged), and no two are equal.
#[test]
fn bench_ids_fit_a_c_int_and_are_unique() {
    let env = TestEnv::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = id_server(&env.fifo(), env.dir.path(), 300, move |id| {
        record.lock().unwrap().push(id.clone());
        id.clone()
    });
    let (code, r, _) = bench(&env, &["-c", "4", "-n", "300", "uptime"]);
    server.join().unwrap();
    assert_eq!(code, Some(0), "{r}");
    let ids: Vec<Value> = seen.lock().unwrap().clone();
    let mut ids: Vec<u64> = ids
        .iter()
        .map(|v| {
            v.as_u64()
                .unwrap_or_else(|| panic!("not an integer id: {v}"))
        })
        .collect();
    assert_eq!(ids.len(), 300);
    assert!(
        ids.iter().all(|&i| (1..=i32::MAX as u64).contains(&i)),
        "{ids:?}"
    );
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 300, "ids repeat");
}

#[test]
fn the_floor_runs_without_a_server() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args([
            "bench",
            "--floor",
            "--json",
            "-c",
            "4",
            "-n",
            "300",
            "--floor-dir",
        ])
        .arg(env.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["requests"].as_u64(), r["ok"].as_u64()),
        (Some(300), Some(300)),
        "{r}"
    );
    assert_eq!(
        std::fs::read_dir(env.dir.path()).unwrap().count(),
        0,
        "floor left files"
    );
}

/// SIGINT and SIGTERM in the middle of a run: bench exits 128+N soon and
/// leaves no reply FIFO behind (it used to die on the signal's default action
/// with its clients' FIFOs still in the reply directory).
#[test]
fn a_signal_mid_run_exits_128_plus_n_and_leaves_no_reply_fifo() {
    use std::time::{Duration, Instant};
    let env = TestEnv::new();
    let _server = serve(&env, &[]);
    for (sig, code) in [
        (nix::sys::signal::Signal::SIGINT, 130),
        (nix::sys::signal::Signal::SIGTERM, 143),
    ] {
        let mut child = bench_cmd(&env)
            .args(["-c", "8", "-d", "60s", "uptime"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until its clients have reply FIFOs open.
        assert!(
            crate::util::wait_until(Duration::from_secs(10), || !leftovers(&env).is_empty()),
            "bench never made a reply FIFO"
        );
        let t0 = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "bench ignored {sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(code), "{sig}");
        assert_eq!(leftovers(&env), Vec::<String>::new(), "{sig}");
    }
}
