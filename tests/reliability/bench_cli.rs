//! `mififo bench` itself: its JSON report against a real server, the floor,
//! and failures that must be counted — misrouted replies and error replies.

use super::*;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;

fn bench(env: &TestEnv, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = env
        .cmd()
        .arg("bench")
        .arg("--fifo")
        .arg(env.fifo())
        .arg("--reply-dir")
        .arg(env.dir.path())
        .args(["--json", "--timeout", "5s"])
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

/// A server that answers every request with the id 0: every reply is someone else's.
fn misrouting_server(fifo: &std::path::Path, dir: &std::path::Path) -> std::thread::JoinHandle<()> {
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
        let mut buf = vec![0u8; 65536];
        while answered < 10 {
            let n = match r.read(&mut buf) {
                Ok(n) => n,
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
            };
            // Requests arrive whole (≤ PIPE_BUF); each starts with ":name:".
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            for part in text.split(":{").filter(|p| p.contains(':')) {
                let name = part.rsplit(':').next().unwrap();
                if name.is_empty() || name.contains('"') {
                    continue;
                }
                if let Ok(mut w) = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(dir.join(name))
                {
                    w.write_all(br#"{"jsonrpc":"2.0","result":{},"id":0}"#)
                        .unwrap();
                    answered += 1;
                }
            }
        }
    })
}

#[test]
fn misrouted_replies_are_counted_not_hidden() {
    let env = TestEnv::new();
    let server = misrouting_server(&env.fifo(), env.dir.path());
    let (code, r, _) = bench(&env, &["-n", "10", "uptime"]);
    server.join().unwrap();
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(
        (r["misrouted"].as_u64(), r["ok"].as_u64()),
        (Some(10), Some(0)),
        "{r}"
    );
    assert!(
        r["first_error"].as_str().unwrap().contains("reply id 0"),
        "{r}"
    );
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
