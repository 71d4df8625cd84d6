//! Plain HTTP clients (a raw TcpStream client, curl, opensips-cli in HTTP
//! mode) against `mififo gateway` in front of `mififo serve`.

use super::{error_code, opensips_cli, stray_fifos, Gateway, SilentFifo};
use crate::util::{self, TestEnv};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request with `Connection: close`, read to EOF.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> HttpReply {
    let mut s = TcpStream::connect(addr).expect("connect to gateway");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read reply");
    parse(&raw)
}

/// POST `body` to the gateway's path.
pub fn post(gw: &Gateway, body: &str) -> HttpReply {
    let path = gw
        .url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap();
    http(gw.addr, "POST", &path, body.as_bytes())
}

/// Splits a raw HTTP/1.1 response into status, headers and body.
pub fn parse(raw: &[u8]) -> HttpReply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn json(r: &HttpReply) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

#[test]
fn relays_json_rpc_like_mi_http() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    assert!(gw.url.ends_with("/mi"), "{}", gw.url);

    let r = post(&gw, r#"{"jsonrpc":"2.0","method":"uptime","id":"42"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = json(&r);
    assert_eq!(v["id"], "42");
    assert!(v["result"]["Up time"].is_string(), "{v}");

    // Positional array parameters, as opensips-cli sends get_statistics.
    let r = post(
        &gw,
        r#"{"jsonrpc":"2.0","method":"get_statistics","params":[["all"]],"id":7}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(json(&r)["result"].is_object(), "{}", r.text());

    // A command error is a JSON-RPC error with HTTP 200, as mi_http.
    let r = post(&gw, r#"{"jsonrpc":"2.0","method":"no_such_cmd","id":1}"#);
    assert_eq!(r.status, 200);
    assert_eq!(error_code(&r.body), -32601);

    // Notification: 202, no body.
    let r = post(&gw, r#"{"jsonrpc":"2.0","method":"uptime"}"#);
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.body.is_empty());

    // Refused locally, as mi_http would: parse error, batch, invalid request.
    let r = post(&gw, "{oops");
    assert_eq!((r.status, error_code(&r.body)), (200, -32700));
    let r = post(&gw, r#"[{"jsonrpc":"2.0","method":"uptime","id":1}]"#);
    assert_eq!((r.status, error_code(&r.body)), (200, -32600));
    assert!(r.text().contains("batch"), "{}", r.text());
    let r = post(
        &gw,
        r#"{"jsonrpc":"2.0","method":"uptime","params":"x","id":9}"#,
    );
    assert_eq!((r.status, error_code(&r.body)), (200, -32600));
    assert_eq!(json(&r)["id"], 9);

    // HTTP-level refusals.
    let r = http(gw.addr, "GET", "/mi", b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = http(
        gw.addr,
        "POST",
        "/json",
        br#"{"jsonrpc":"2.0","method":"uptime","id":1}"#,
    );
    assert_eq!(r.status, 404);
    let r = http(gw.addr, "POST", "/mi", b"");
    assert_eq!(r.status, 400);
    // The reply FIFOs the gateway pools for reuse go when it does.
    let mut gw = gw;
    assert!(gw.stop().success());
    assert_eq!(
        stray_fifos(env.dir.path(), &[&env.fifo()]),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn body_limit_is_413() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &["--max-body", "100"]);
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"uptime","params":["{}"],"id":1}}"#,
        "x".repeat(200)
    );
    let r = post(&gw, &big);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(error_code(&r.body), -32015);
    let r = post(&gw, r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#);
    assert_eq!(r.status, 200);
}

#[test]
fn concurrent_requests_get_their_own_replies() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    let addr = gw.addr;
    let threads: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                for j in 0..5 {
                    let id = format!("t{i}-{j}");
                    let body = format!(r#"{{"jsonrpc":"2.0","method":"uptime","id":"{id}"}}"#);
                    let r = http(addr, "POST", "/mi", body.as_bytes());
                    assert_eq!(r.status, 200, "{}", r.text());
                    assert_eq!(json(&r)["id"], id.as_str());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The reply FIFOs the gateway pools for reuse go when it does.
    let mut gw = gw;
    assert!(gw.stop().success());
    assert!(stray_fifos(env.dir.path(), &[&env.fifo()]).is_empty());
}

#[test]
fn no_server_is_503() {
    let env = TestEnv::new();
    // Missing FIFO.
    let gw = Gateway::start(&env, &env.path("absent_fifo"), &["--timeout", "5s"]);
    let r = post(&gw, r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(error_code(&r.body), -32010);
    assert_eq!(json(&r)["id"], 1);
    assert!(r.text().contains("absent_fifo"), "{}", r.text());
    // A stale FIFO: exists, nobody reads it.
    let stale = env.path("stale_fifo");
    nix::unistd::mkfifo(&stale, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let gw = Gateway::start(&env, &stale, &["--timeout", "5s"]);
    let r = post(&gw, r#"{"jsonrpc":"2.0","method":"uptime","id":2}"#);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(error_code(&r.body), -32010);
    assert!(stray_fifos(env.dir.path(), &[&stale]).is_empty());
}

#[test]
fn timeout_is_504_and_leaks_no_reply_fifo() {
    let env = TestEnv::new();
    let silent = SilentFifo::new(&env, "silent_fifo");
    let gw = Gateway::start(&env, &silent.path, &["--timeout", "700ms"]);
    let r = post(&gw, r#"{"jsonrpc":"2.0","method":"uptime","id":"slow"}"#);
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(error_code(&r.body), -32012);
    assert_eq!(json(&r)["id"], "slow");
    assert_eq!(
        stray_fifos(env.dir.path(), &[&silent.path]),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn client_disconnect_leaks_no_reply_fifo() {
    let env = TestEnv::new();
    let silent = SilentFifo::new(&env, "silent_fifo");
    let gw = Gateway::start(&env, &silent.path, &["--timeout", "30s"]);
    let body = br#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
    let mut s = TcpStream::connect(gw.addr).unwrap();
    let head = format!(
        "POST /mi HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        gw.addr,
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    // Wait until the gateway's client made its reply FIFO, then hang up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stray_fifos(env.dir.path(), &[&silent.path]).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no reply FIFO appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !stray_fifos(env.dir.path(), &[&silent.path]).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "reply FIFO left behind after the client hung up: {:?}",
            stray_fifos(env.dir.path(), &[&silent.path])
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The abandoned request still has its audit line, with status 499.
    let audited = |log: &str| {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|v| v["message"] == "request" && v["status"] == 499 && v["method"] == "uptime")
    };
    while !audited(&gw.log()) {
        assert!(
            std::time::Instant::now() < deadline,
            "no audit line for the abandoned request: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_stops_cleanly_and_non_loopback_is_refused() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let mut gw = Gateway::start(&env, &env.fifo(), &[]);
    assert_eq!(
        post(&gw, r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#).status,
        200
    );
    let status = gw.stop();
    assert!(status.success(), "{status}; {}", gw.log());
    assert!(TcpStream::connect(gw.addr).is_err());

    let out = env
        .cmd()
        .args(["gateway", "--listen", "0.0.0.0:0", "--fifo"])
        .arg(env.fifo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allow-remote") && err.contains("0.0.0.0"),
        "{err}"
    );
}

#[test]
fn curl_gets_the_reply() {
    if !util::require("curl", util::have_tool("curl")) {
        return;
    }
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{content_type}",
            "-X",
            "POST",
        ])
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(r#"{"jsonrpc":"2.0","method":"which","id":"c"}"#)
        .arg(&gw.url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, meta) = text.rsplit_once('\n').unwrap();
    assert_eq!(meta, "200 application/json", "{text}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["id"], "c");
    assert!(v["result"].to_string().contains("uptime"), "{v}");
}

#[test]
fn opensips_cli_in_http_mode() {
    let Some(cli) = opensips_cli() else {
        util::require("opensips-cli (PyPI opensipscli)", false);
        return;
    };
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&cli)
            .env("HOME", env.dir.path())
            .args(["-o", "communication_type=http", "-o"])
            .arg(format!("url={}", gw.url))
            .arg("-x")
            .args(args)
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (st, out, err) = run(&["mi", "uptime"]);
    assert!(st.success(), "{out}{err}");
    assert!(out.contains("Up time"), "{out}{err}");
    let (st, out, err) = run(&["mi", "get_statistics", "all"]);
    assert!(st.success(), "{out}{err}");
    assert!(out.contains(':'), "{out}{err}");
    // A command error travels as a JSON-RPC error inside HTTP 200, as with mi_http.
    let (st, out, err) = run(&["mi", "get_statistics", "nosuch:"]);
    assert!(!st.success(), "{out}{err}");
    assert!(
        format!("{out}{err}").contains("404: Statistics Not Found"),
        "{out}{err}"
    );
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn permission_denied_is_502() {
    if !util::require("root (to run the gateway as nobody)", util::is_root())
        || !util::require("setpriv (util-linux)", util::have_tool("setpriv"))
    {
        return;
    }
    let env = TestEnv::new();
    let _server = env.serve(&[]); // the temp dir is 0700 root: nobody cannot reach the FIFO
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(util::bin())
        .args(["gateway", "--listen", "127.0.0.1:0", "--fifo"])
        .arg(env.fifo())
        .arg("--reply-dir")
        .arg(env.reply_dir())
        .env("HOME", env.dir.path());
    let gw = Gateway::spawn(&env, cmd);
    let r = post(&gw, r#"{"jsonrpc":"2.0","method":"uptime","id":"p"}"#);
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(error_code(&r.body), -32011);
    assert_eq!(json(&r)["id"], "p");
    assert!(
        r.text().to_lowercase().contains("permission"),
        "{}",
        r.text()
    );
}

/// The caller's id never goes down the FIFO: OpenSIPS 3.6 echoes ids outside
/// a C `int` clamped (the stand-in's `clamp-id` fault does the same), which
/// made every such request a mismatched reply. The gateway sends its own id
/// and gives the caller back exactly the id it sent, string or number.
#[test]
fn caller_ids_survive_a_server_that_clamps_ids() {
    let env = TestEnv::new();
    let _server = env.serve(&["--fault", "clamp-id"]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    for id in [
        "9007199254740993",
        "-3000000000",
        "\"abc\"",
        "2147483648",
        "7",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"uptime","id":{id}}}"#);
        let r = post(&gw, &body);
        assert_eq!(r.status, 200, "id {id}: {}", r.text());
        let text = r.text();
        assert!(text.contains(&format!(r#""id":{id}"#)), "id {id}: {text}");
        assert!(json(&r)["result"]["Up time"].is_string(), "id {id}: {text}");
    }
    // Many in a row: the pooled reply FIFOs are reused, never mixed up.
    for n in 0..50u64 {
        let id = (1u64 << 40) + n;
        let r = post(
            &gw,
            &format!(r#"{{"jsonrpc":"2.0","method":"uptime","id":{id}}}"#),
        );
        assert_eq!(json(&r)["id"], id, "{}", r.text());
    }
}

/// Issue 16 item 10: a gateway whose FIFO does not exist says so at start,
/// naming the path, where it came from and what to do (it still starts: the
/// server may come later).
#[test]
fn missing_fifo_is_warned_at_start() {
    let env = TestEnv::new();
    let fifo = env.path("not_yet_fifo");
    let mut gw = Gateway::start(&env, &fifo, &[]);
    let log = gw.log();
    let warn = log
        .lines()
        .find(|l| l.contains("no server FIFO at this path"))
        .unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(
        warn.contains(&fifo.display().to_string())
            && warn.contains("flag --fifo")
            && warn.contains("start the server"),
        "{warn}"
    );
    assert!(gw.stop().success());
}
