//! `mififo call --url`: HTTP(S) against `mififo gateway` (plain, Basic auth
//! from a file, TLS), datagrams against a real Kamailio 5.6 `jsonrpcs`
//! datagram socket (UDP and UNIX) and against hostile UDP peers; the same
//! command over FIFO, HTTP and datagram prints the same result. `shell`,
//! `top` and `bench` over the same transports; the guarantees (timeout,
//! bounded reply, id match, exit codes) over HTTP and datagrams with small
//! in-test peers; opensips-cli's transport keys and the precedence.

use super::kamailio::Kamailio;
use crate::gateway::auth::users_file;
use crate::gateway::Gateway;
use crate::util::{code_and_text, TestEnv};
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `mififo call --url URL ARGS`, with `TMPDIR` the test's own [`tmp_dir`]
/// (where a datagram client makes its reply socket).
fn call_url(env: &TestEnv, url: &str, args: &[&str]) -> (i32, String, String) {
    let o = env
        .cmd()
        .env("TMPDIR", tmp_dir(env))
        .args(["call", "--url", url])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    code_and_text(&o)
}

/// `ENV/tmp`, created on first use: the `TMPDIR` of [`call_url`], so what a
/// call leaves there is its own, not another test's running at the time.
fn tmp_dir(env: &TestEnv) -> std::path::PathBuf {
    let d = env.path("tmp");
    let _ = std::fs::create_dir(&d);
    d
}

fn auth_file(env: &TestEnv, name: &str, line: &str, mode: u32) -> String {
    let p = env.path(name);
    std::fs::write(&p, format!("{line}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn http_to_the_gateway_gives_the_fifo_result() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    let o = env
        .cmd_at("call", &env.fifo())
        .arg("version")
        .output()
        .unwrap();
    let (code, fifo_out, err) = code_and_text(&o);
    assert_eq!(code, 0, "{err}");
    let (code, http_out, err) = call_url(&env, &gw.url, &["version"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(http_out, fifo_out);
    // An unknown method is the server's error: exit 1, as over the FIFO.
    let (code, _, err) = call_url(&env, &gw.url, &["no_such_command"]);
    assert_eq!(code, 1, "{err}");
    // Nothing listening: exit 3.
    let (code, _, err) = call_url(&env, "http://127.0.0.1:1/mi", &["version"]);
    assert_eq!(code, 3, "{err}");
    // A reply over --max-reply: exit 9.
    let (code, _, err) = call_url(&env, &gw.url, &["--max-reply", "8", "version"]);
    assert_eq!(code, 9, "{err}");
    // Credentials in the URL are refused (they would be in argv).
    let u = gw.url.replace("http://", "http://u:p@");
    let (code, _, err) = call_url(&env, &u, &["version"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn http_basic_auth_from_a_file_and_tls() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let Some((gw, cert)) = tls_gateway_with_users(&env) else {
        return;
    };
    let ca = cert.as_str();
    let good = auth_file(&env, "good.auth", "admin:admin-pw", 0o600);
    let (code, out, err) = call_url(
        &env,
        &gw.url,
        &["--ca-file", ca, "--auth-file", &good, "uptime"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Up since"), "{out}");
    // No credentials, wrong ones: exit 4, and the password is never echoed.
    let (code, _, err) = call_url(&env, &gw.url, &["--ca-file", ca, "uptime"]);
    assert_eq!(code, 4, "{err}");
    let bad = auth_file(&env, "bad.auth", "admin:wrong-secret", 0o600);
    let (code, out, err) = call_url(
        &env,
        &gw.url,
        &["--ca-file", ca, "--auth-file", &bad, "uptime"],
    );
    assert_eq!(code, 4, "{err}");
    assert!(!err.contains("wrong-secret") && !out.contains("wrong-secret"));
    // An auth file others can read is refused before anything is sent.
    let open = auth_file(&env, "open.auth", "admin:admin-pw", 0o644);
    let (code, _, err) = call_url(
        &env,
        &gw.url,
        &["--ca-file", ca, "--auth-file", &open, "uptime"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    // Without the CA the self-signed server is not trusted.
    let (code, _, err) = call_url(&env, &gw.url, &["--auth-file", &good, "uptime"]);
    assert_eq!(code, 2, "https without --ca-file: {err}");
}

/// A UDP peer that answers each request with `answer(request)` (or nothing).
fn udp_peer(answer: impl Fn(&serde_json::Value) -> Option<Vec<u8>> + Send + 'static) -> String {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let req: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap_or_default();
            if let Some(r) = answer(&req) {
                let _ = s.send_to(&r, from);
            }
        }
    });
    format!("udp://{addr}")
}

#[test]
fn udp_replies_are_matched_bounded_and_timed() {
    let env = TestEnv::new();
    let echo = udp_peer(|r| {
        Some(
            format!(
                r#"{{"jsonrpc":"2.0","result":{{"ok":1}},"id":{}}}"#,
                r["id"]
            )
            .into_bytes(),
        )
    });
    let (code, out, err) = call_url(&env, &echo, &["uptime"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\"ok\": 1") || out.contains("\"ok\":1"),
        "{out}"
    );

    let foreign = udp_peer(|_| Some(br#"{"jsonrpc":"2.0","result":{},"id":12345}"#.to_vec()));
    let (code, _, err) = call_url(&env, &foreign, &["uptime"]);
    assert_eq!(code, 6, "{err}");

    let big = udp_peer(|r| {
        let pad = "x".repeat(4000);
        Some(format!(r#"{{"jsonrpc":"2.0","result":"{pad}","id":{}}}"#, r["id"]).into_bytes())
    });
    let (code, _, err) = call_url(&env, &big, &["--max-reply", "1K", "uptime"]);
    assert_eq!(code, 9, "{err}");

    let silent = udp_peer(|_| None);
    let t = Instant::now();
    let (code, _, err) = call_url(&env, &silent, &["--timeout", "300ms", "uptime"]);
    assert_eq!(code, 5, "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));

    // Control characters from the server are escaped on stderr.
    let nasty = udp_peer(|r| {
        Some(
            format!(
                r#"{{"jsonrpc":"2.0","error":{{"code":500,"message":"x\u001b[2Jy"}},"id":{}}}"#,
                r["id"]
            )
            .into_bytes(),
        )
    });
    let (code, out, err) = call_url(&env, &nasty, &["uptime"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        !err.contains('\u{1b}') && !out.contains('\u{1b}'),
        "{err:?}"
    );
}

fn wait_for(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Calls until the datagram worker answers (it may start after the FIFO).
fn call_retry(env: &TestEnv, url: &str, args: &[&str]) -> (i32, String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut a = vec!["--timeout", "1s"];
        a.extend_from_slice(args);
        let r = call_url(env, url, &a);
        if r.0 != 5 || Instant::now() > deadline {
            return r;
        }
    }
}

#[test]
fn kamailio_datagram_unix_and_udp_give_the_fifo_result() {
    let env = TestEnv::new();
    let sock = env.path("kamailio_rpc.sock");
    let Some(k) = Kamailio::start_with(
        &env,
        6,
        &format!(
            "modparam(\"jsonrpcs\", \"dgram_socket\", \"{}\")\n",
            sock.display()
        ),
    ) else {
        return;
    };
    wait_for(&sock);
    let fifo = env
        .cmd_at("call", &k.fifo)
        .args(["--dialect", "kamailio", "core.version"])
        .output()
        .unwrap();
    let (code, fifo_out, err) = code_and_text(&fifo);
    assert_eq!(code, 0, "{err}");
    assert!(fifo_out.to_lowercase().contains("kamailio"), "{fifo_out}");
    let url = format!("unix:{}", sock.display());
    let (code, unix_out, err) = call_retry(&env, &url, &["core.version"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(unix_out, fifo_out);
    // Kamailio's own error for an unknown method: exit 1.
    let (code, _, err) = call_url(&env, &url, &["no.such"]);
    assert_eq!(code, 1, "{err}");
    // Our reply sockets and their private directories are gone (in this
    // test's own TMPDIR: other tests' calls may be running meanwhile).
    let left: Vec<_> = std::fs::read_dir(tmp_dir(&env))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(k);

    // UDP: the same command, a Kamailio with a udp: datagram socket.
    let env = TestEnv::new();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(_k) = Kamailio::start_with(
        &env,
        6,
        &format!("modparam(\"jsonrpcs\", \"dgram_socket\", \"udp:127.0.0.1:{port}\")\n"),
    ) else {
        return;
    };
    let (code, udp_out, err) =
        call_retry(&env, &format!("udp://127.0.0.1:{port}"), &["core.version"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(udp_out, fifo_out);
}

// ---------------------------------------------------------------------------
// shell, top and bench over every transport, the guarantees over HTTP and
// datagrams with small in-test peers, and opensips-cli's transport keys.

/// Runs `mififo ARGS` with `stdin` as its input.
fn run(env: &TestEnv, args: &[&str], envs: &[(&str, &str)], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut c = env.cmd();
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_string();
    let w = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let o = child.wait_with_output().unwrap();
    w.join().unwrap();
    code_and_text(&o)
}

/// A leaf certificate for 127.0.0.1 (webpki refuses a CA as the server's
/// own certificate) and its key; `None` without openssl.
fn leaf_cert(env: &TestEnv) -> Option<(String, String)> {
    let (cert, key) = (env.path("leaf.pem"), env.path("leaf.key"));
    crate::util::self_signed_cert(&cert, &key, true).then(|| {
        (
            cert.to_str().unwrap().to_string(),
            key.to_str().unwrap().to_string(),
        )
    })
}

/// A gateway with TLS (a self-signed leaf) and `users_file`'s users in front
/// of the env's FIFO, and the certificate's path (the client's CA file);
/// `None` when no certificate could be made (openssl missing, a local skip).
fn tls_gateway_with_users(env: &TestEnv) -> Option<(Gateway, String)> {
    let users = users_file(env);
    let (cert, key) = leaf_cert(env)?;
    let gw = Gateway::start(
        env,
        &env.fifo(),
        &[
            "--users-file",
            users.to_str().unwrap(),
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
    );
    assert!(gw.url.starts_with("https://"), "{}", gw.url);
    Some((gw, cert))
}

/// `shell` (a script), `top --once`, `top --json --count` and `bench`
/// against the `mififo serve` behind `via` (`--url …` and its options).
fn subcommands_work_over(env: &TestEnv, via: &[&str]) {
    let with = |sub: &str, rest: &[&str]| -> Vec<String> {
        std::iter::once(sub)
            .chain(via.iter().copied())
            .chain(rest.iter().copied())
            .map(String::from)
            .collect()
    };
    fn argv(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    let a = with("shell", &[]);
    let (code, out, err) = run(env, &argv(&a), &[], "uptime\nversion\n");
    assert_eq!(code, 0, "shell {via:?}: {err}");
    assert!(
        out.contains("\"Up time\"") && out.contains("\"Server\""),
        "{out}"
    );
    let (code, _, err) = run(env, &argv(&a), &[], "uptime\nno_such_command\n");
    assert_eq!(code, 1, "the server's error is the script's exit: {err}");
    assert!(err.contains("Method not found"), "{err}");

    let a = with("top", &["--once", "--interval", "200ms", "mififo:"]);
    let (code, out, err) = run(env, &argv(&a), &[], "");
    assert_eq!(code, 0, "top --once {via:?}: {err}");
    let requests = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("requests"))
        .unwrap_or_else(|| panic!("no requests row: {out}"));
    assert!(requests.contains("/s"), "{requests}");

    let a = with(
        "top",
        &["--json", "--count", "2", "--interval", "200ms", "mififo:"],
    );
    let (code, out, err) = run(env, &argv(&a), &[], "");
    assert_eq!(code, 0, "top --json {via:?}: {err}");
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2, "{out}");
    for o in &objs {
        assert_eq!(o["ok"], true, "{o}");
        assert_eq!(o["stats"]["mififo:requests"]["kind"], "counter", "{o}");
        assert!(o["stats"]["mififo:requests"]["rate"].as_f64().unwrap() > 0.0);
    }

    let a = with("bench", &["--json", "-c", "2", "-n", "60", "uptime"]);
    let (code, out, err) = run(env, &argv(&a), &[], "");
    assert_eq!(code, 0, "bench {via:?}: {out} {err}");
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (r["requests"].as_u64(), r["ok"].as_u64()),
        (Some(60), Some(60)),
        "{r}"
    );
    for k in ["errors", "timeouts", "misrouted"] {
        assert_eq!(r[k], 0, "{k}: {r}");
    }
}

#[test]
fn shell_top_and_bench_over_http_to_the_gateway() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    subcommands_work_over(&env, &["--url", &gw.url]);
}

#[test]
fn shell_top_and_bench_over_https_with_basic_auth() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let Some((gw, cert)) = tls_gateway_with_users(&env) else {
        return;
    };
    let good = auth_file(&env, "good.auth", "admin:admin-pw", 0o600);
    subcommands_work_over(
        &env,
        &["--url", &gw.url, "--ca-file", &cert, "--auth-file", &good],
    );
    // Without credentials every subcommand fails as call does: exit 4.
    for (sub, rest) in [
        ("shell", &[][..]),
        ("top", &["--once", "--interval", "100ms"][..]),
    ] {
        let mut a = vec![sub, "--url", &gw.url, "--ca-file", &cert];
        a.extend_from_slice(rest);
        let (code, out, err) = run(&env, &a, &[], "uptime\n");
        assert_eq!(code, 4, "{sub}: {out} {err}");
    }
    let open = auth_file(&env, "open.auth", "admin:admin-pw", 0o644);
    let (code, _, err) = run(
        &env,
        &[
            "bench",
            "--url",
            &gw.url,
            "--ca-file",
            &cert,
            "--auth-file",
            &open,
            "-n",
            "5",
            "uptime",
        ],
        &[],
        "",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}

/// A Kamailio whose jsonrpcs datagram socket is `socket` (`udp:…` or a path).
fn kamailio_dgram(env: &TestEnv, socket: &str) -> Option<Kamailio> {
    Kamailio::start_with(
        env,
        6,
        &format!("modparam(\"jsonrpcs\", \"dgram_socket\", \"{socket}\")\n"),
    )
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn shell_and_bench_over_kamailio_datagrams_and_top_says_what_is_missing() {
    let env = TestEnv::new();
    let port = free_udp_port();
    let Some(k) = kamailio_dgram(&env, &format!("udp:127.0.0.1:{port}")) else {
        return;
    };
    let udp = format!("udp://127.0.0.1:{port}");
    let (code, _, err) = call_retry(&env, &udp, &["core.version"]);
    assert_eq!(code, 0, "{err}");
    let script = "core.version\nsystem.listMethods\n";
    let (code, fifo_out, err) = run(
        &env,
        &[
            "shell",
            "--dialect",
            "kamailio",
            "--fifo",
            k.fifo.to_str().unwrap(),
        ],
        &[("OPENSIPS_MI_FIFO_REPLY_DIR", &env.reply_dir())],
        script,
    );
    assert_eq!(code, 0, "{err}");
    assert!(fifo_out.contains("core.uptime"), "{fifo_out}");
    let (code, udp_out, err) = run(&env, &["shell", "--url", &udp], &[], script);
    assert_eq!(code, 0, "{err}");
    assert_eq!(udp_out, fifo_out);

    let r = bench_50_versions(&env, &udp);
    assert_eq!(
        (r["ok"].as_u64(), r["misrouted"].as_u64()),
        (Some(50), Some(0)),
        "{r}"
    );

    // Kamailio has no get_statistics: top names the failing command, exit 1.
    let (code, out, err) = run(
        &env,
        &["top", "--url", &udp, "--once", "--interval", "100ms"],
        &[],
        "",
    );
    assert_eq!(code, 1, "{out} {err}");
    assert!(
        format!("{out}{err}").contains("get_statistics"),
        "{out} {err}"
    );
    drop(k);

    let env = TestEnv::new();
    let sock = env.path("k.sock");
    let Some(_k) = kamailio_dgram(&env, sock.to_str().unwrap()) else {
        return;
    };
    wait_for(&sock);
    let unix = format!("unix:{}", sock.display());
    let (code, _, err) = call_retry(&env, &unix, &["core.version"]);
    assert_eq!(code, 0, "{err}");
    let (code, unix_out, err) = run(&env, &["shell", "--url", &unix], &[], script);
    assert_eq!(code, 0, "{err}");
    assert_eq!(unix_out, fifo_out);
    let r = bench_50_versions(&env, &unix);
    assert_eq!(r["ok"].as_u64(), Some(50), "{r}");
}

/// `mififo bench --url URL --json -c 2 -n 50 core.version`: its JSON report
/// (the run must succeed).
fn bench_50_versions(env: &TestEnv, url: &str) -> serde_json::Value {
    let (code, out, err) = run(
        env,
        &[
            "bench",
            "--url",
            url,
            "--json",
            "-c",
            "2",
            "-n",
            "50",
            "core.version",
        ],
        &[],
        "",
    );
    assert_eq!(code, 0, "{out} {err}");
    serde_json::from_str(out.trim()).unwrap()
}

/// A UDP peer standing in for OpenSIPS `mi_datagram` with statistics: a
/// counter that grows by 10 per `get_statistics` and a gauge.
fn udp_stats_peer() -> String {
    let n = std::sync::atomic::AtomicU64::new(0);
    udp_peer(move |r| {
        let result = match r["method"].as_str() {
            Some("get_statistics") => {
                let v = n.fetch_add(10, std::sync::atomic::Ordering::Relaxed) + 10;
                serde_json::json!({"core:rcv_requests": v, "shmem:used_size": 4096})
            }
            Some("list_statistics") => {
                serde_json::json!({"core:rcv_requests": "incremental", "shmem:used_size": "non-incremental"})
            }
            _ => return None,
        };
        Some(
            serde_json::json!({"jsonrpc": "2.0", "result": result, "id": r["id"]})
                .to_string()
                .into_bytes(),
        )
    })
}

#[test]
fn top_over_a_udp_datagram_peer_shows_rates_and_gauges() {
    let env = TestEnv::new();
    let url = udp_stats_peer();
    let (code, out, err) = run(
        &env,
        &[
            "top",
            "--url",
            &url,
            "--json",
            "--count",
            "2",
            "--interval",
            "200ms",
        ],
        &[],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let rcv = &last["stats"]["core:rcv_requests"];
    assert_eq!(rcv["kind"], "counter", "{last}");
    // 10 per sample, one sample per 200 ms (or later on a busy machine):
    // at most 50/s, and not a raw count.
    let rate = rcv["rate"].as_f64().unwrap();
    assert!((4.0..=55.0).contains(&rate), "{last}");
    assert_eq!(last["stats"]["shmem:used_size"]["kind"], "gauge", "{last}");
}

#[test]
fn the_same_commands_give_the_same_output_over_fifo_and_http() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    for cmd in [
        &["which"][..],
        &["version"],
        &["help", "get_statistics"],
        &["arg"],
    ] {
        let o = env.cmd_at("call", &env.fifo()).args(cmd).output().unwrap();
        let (code, fifo_out, err) = code_and_text(&o);
        assert_eq!(code, 0, "{cmd:?}: {err}");
        let (code, http_out, err) = call_url(&env, &gw.url, cmd);
        assert_eq!(code, 0, "{cmd:?}: {err}");
        assert_eq!(http_out, fifo_out, "{cmd:?}");
    }
    let script = "which\nversion\nhelp uptime\n";
    let fifo = env.fifo();
    let (code, fifo_out, err) = run(
        &env,
        &[
            "shell",
            "--fifo",
            fifo.to_str().unwrap(),
            "--reply-dir",
            &env.reply_dir(),
        ],
        &[],
        script,
    );
    assert_eq!(code, 0, "{err}");
    let (code, http_out, err) = run(&env, &["shell", "--url", &gw.url], &[], script);
    assert_eq!(code, 0, "{err}");
    assert_eq!(http_out, fifo_out);
}

// -- the guarantees over HTTP, with in-test peers ---------------------------

/// An HTTP peer on 127.0.0.1: for each connection, reads one request and
/// hands the stream and the request's JSON body to `answer`.
fn http_peer(
    answer: impl Fn(&serde_json::Value, &mut std::net::TcpStream) + Send + Sync + 'static,
) -> String {
    use std::io::Read;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let Ok(n) = s.read(&mut chunk) else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break buf[end + 4..end + 4 + len].to_vec();
                    }
                };
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                answer(&req, &mut s);
            });
        }
    });
    format!("http://{addr}/mi")
}

fn http_200(s: &mut std::net::TcpStream, body: &str) {
    use std::io::Write;
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn http_replies_are_matched_bounded_and_timed() {
    use std::io::Write;
    let env = TestEnv::new();
    let echo = http_peer(|r, s| {
        http_200(
            s,
            &format!(
                r#"{{"jsonrpc":"2.0","result":{{"ok":1}},"id":{}}}"#,
                r["id"]
            ),
        )
    });
    let (code, out, err) = call_url(&env, &echo, &["uptime"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"ok\": 1"), "{out}");

    // Another request's id: exit 6, for call, shell and top alike.
    let foreign = http_peer(|_, s| http_200(s, r#"{"jsonrpc":"2.0","result":{},"id":12345}"#));
    let (code, _, err) = call_url(&env, &foreign, &["uptime"]);
    assert_eq!(code, 6, "{err}");
    let (code, _, err) = run(&env, &["shell", "--url", &foreign], &[], "uptime\n");
    assert_eq!(code, 6, "{err}");
    let (code, out, err) = run(
        &env,
        &["top", "--url", &foreign, "--once", "--interval", "100ms"],
        &[],
        "",
    );
    assert_eq!(code, 6, "{out} {err}");

    // A body that never ends: reading stops at --max-reply (exit 9) at once.
    let endless = http_peer(|_, s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = format!("1000\r\n{}\r\n", "x".repeat(0x1000));
        while s.write_all(chunk.as_bytes()).is_ok() {}
    });
    let t = Instant::now();
    let (code, _, err) = call_url(
        &env,
        &endless,
        &["--max-reply", "64K", "--timeout", "20s", "uptime"],
    );
    assert_eq!(code, 9, "{err}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // Accepts and never answers; answers the headers and stalls the body:
    // both end at --timeout (exit 5).
    let silent = http_peer(|_, _| std::thread::sleep(Duration::from_secs(30)));
    let stall = http_peer(|_, s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"");
        std::thread::sleep(Duration::from_secs(30));
    });
    for url in [&silent, &stall] {
        let t = Instant::now();
        let (code, _, err) = call_url(&env, url, &["--timeout", "300ms", "uptime"]);
        assert_eq!(code, 5, "{url}: {err}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
    let t = Instant::now();
    let (code, out, err) = run(
        &env,
        &[
            "top",
            "--url",
            &silent,
            "--timeout",
            "300ms",
            "--once",
            "--interval",
            "100ms",
        ],
        &[],
        "",
    );
    assert_eq!(code, 5, "{out} {err}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn datagram_peers_that_are_gone_or_answer_another_id() {
    let env = TestEnv::new();
    // Nothing on the UDP port: the ICMP port-unreachable is exit 3, at once.
    let url = format!("udp://127.0.0.1:{}", free_udp_port());
    let t = Instant::now();
    let (code, _, err) = call_url(&env, &url, &["--timeout", "5s", "uptime"]);
    assert_eq!(code, 3, "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // No socket at the path: exit 3.
    let none = format!("unix:{}", env.path("none.sock").display());
    let (code, _, err) = call_url(&env, &none, &["uptime"]);
    assert_eq!(code, 3, "{err}");

    // A UNIX peer answering with another id, then with an oversized reply.
    let path = env.path("peer.sock");
    let s = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut n_req = 0;
        while let Ok((_, from)) = s.recv_from(&mut buf) {
            n_req += 1;
            let reply = if n_req == 1 {
                r#"{"jsonrpc":"2.0","result":{},"id":12345}"#.to_string()
            } else {
                format!(
                    r#"{{"jsonrpc":"2.0","result":"{}","id":1}}"#,
                    "x".repeat(8000)
                )
            };
            if let Some(p) = from.as_pathname() {
                let _ = s.send_to(reply.as_bytes(), p);
            }
        }
    });
    let url = format!("unix:{}", path.display());
    let (code, _, err) = call_url(&env, &url, &["uptime"]);
    assert_eq!(code, 6, "{err}");
    let (code, _, err) = call_url(&env, &url, &["--max-reply", "1K", "uptime"]);
    assert_eq!(code, 9, "{err}");
}

// -- opensips-cli's transport keys and the precedence -----------------------

/// A UDP peer answering every request with `{"peer": name}`.
fn named_udp_peer(name: &'static str) -> (String, u16) {
    let url = udp_peer(move |r| {
        Some(
            serde_json::json!({"jsonrpc": "2.0", "result": {"peer": name}, "id": r["id"]})
                .to_string()
                .into_bytes(),
        )
    });
    let port = url.rsplit(':').next().unwrap().parse().unwrap();
    (url, port)
}

/// Writes `~/.opensips-cli.cfg` (HOME is the test's directory).
fn cli_cfg(env: &TestEnv, body: &str) {
    std::fs::write(env.path(".opensips-cli.cfg"), format!("[default]\n{body}")).unwrap();
}

/// `mififo call uptime` with only the config and `envs` choosing the transport.
fn call_cfg(env: &TestEnv, extra: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut a = vec!["call", "--timeout", "2s"];
    a.extend_from_slice(extra);
    a.push("uptime");
    run(env, &a, envs, "")
}

#[test]
fn config_communication_type_and_url_keys() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    let fifo = env.fifo();
    let fifo_keys = format!(
        "fifo_file: {}\nfifo_reply_dir: {}\n",
        fifo.display(),
        env.reply_dir()
    );
    // communication_type: http with url: the gateway answers.
    cli_cfg(
        &env,
        &format!("communication_type: http\nurl: {}\n", gw.url),
    );
    let (code, out, err) = call_cfg(&env, &["-v"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Up since"), "{out}");
    assert!(err.contains(&gw.url), "the log names the URL: {err}");
    // communication_type: http without url: opensips-cli's default URL.
    cli_cfg(&env, "communication_type = HTTP\n");
    let (_, _, err) = call_cfg(&env, &[], &[]);
    assert!(err.contains("http://127.0.0.1:8888/mi"), "{err}");
    // communication_type: fifo (and unset): the FIFO, whatever url says.
    for ct in ["communication_type: fifo\n", ""] {
        cli_cfg(
            &env,
            &format!("{ct}url: http://127.0.0.1:1/mi\n{fifo_keys}"),
        );
        let (code, out, err) = call_cfg(&env, &[], &[]);
        assert_eq!(code, 0, "{ct:?}: {err}");
        assert!(out.contains("Up since"), "{out}");
    }
}

#[test]
fn config_datagram_ip_and_port_keys() {
    let env = TestEnv::new();
    let (_, port) = named_udp_peer("ip-port");
    cli_cfg(
        &env,
        &format!("communication_type: datagram\ndatagram_ip: 127.0.0.1\ndatagram_port: {port}\n"),
    );
    let (code, out, err) = call_cfg(&env, &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"ip-port\""), "{out}");
    // datagram_ip defaults to 127.0.0.1.
    cli_cfg(
        &env,
        &format!("communication_type: datagram\ndatagram_port: {port}\n"),
    );
    let (code, out, err) = call_cfg(&env, &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"ip-port\""), "{out}");
    // datagram_port defaults to 8080 (opensips-cli's default).
    cli_cfg(
        &env,
        "communication_type: datagram\ndatagram_ip: 127.0.0.1\n",
    );
    let (_, _, err) = call_cfg(&env, &[], &[]);
    assert!(err.contains("udp://127.0.0.1:8080"), "{err}");
}

#[test]
fn config_datagram_unix_socket_key() {
    let env = TestEnv::new();
    let path = env.path("dgram.sock");
    let s = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let req: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap_or_default();
            let reply =
                serde_json::json!({"jsonrpc": "2.0", "result": {"peer": "unix"}, "id": req["id"]});
            if let Some(p) = from.as_pathname() {
                let _ = s.send_to(reply.to_string().as_bytes(), p);
            }
        }
    });
    // The socket wins over datagram_ip/datagram_port.
    cli_cfg(
        &env,
        &format!(
            "communication_type: datagram\ndatagram_unix_socket: {}\ndatagram_ip: 127.0.0.1\ndatagram_port: 1\n",
            path.display()
        ),
    );
    let (code, out, err) = call_cfg(&env, &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"unix\""), "{out}");
}

#[test]
fn transport_precedence_url_fifo_env_config() {
    let env = TestEnv::new();
    let _srv = env.serve(&[]);
    let (flag, _) = named_udp_peer("flag");
    let (envu, _) = named_udp_peer("env");
    let (_, cfg_port) = named_udp_peer("config");
    let fifo = env.fifo();
    let fifo = fifo.to_str().unwrap();
    let rd = env.reply_dir();
    cli_cfg(
        &env,
        &format!(
            "communication_type: datagram\ndatagram_port: {cfg_port}\n\
             [other]\ncommunication_type: fifo\nfifo_file: {fifo}\nfifo_reply_dir: {rd}\n"
        ),
    );
    let up = |out: &str| out.contains("Up since");
    let peer = |out: &str, n: &str| out.contains(&format!("\"peer\": \"{n}\""));

    let (_, out, err) = call_cfg(&env, &[], &[]);
    assert!(peer(&out, "config"), "config alone: {out} {err}");
    let (_, out, err) = call_cfg(
        &env,
        &[],
        &[
            ("OPENSIPS_MI_FIFO_FILE", fifo),
            ("OPENSIPS_MI_FIFO_REPLY_DIR", &rd),
        ],
    );
    assert!(
        up(&out),
        "OPENSIPS_MI_FIFO_FILE over the config: {out} {err}"
    );
    let (_, out, err) = call_cfg(
        &env,
        &[],
        &[("MIFIFO_URL", &envu), ("OPENSIPS_MI_FIFO_FILE", fifo)],
    );
    assert!(
        peer(&out, "env"),
        "MIFIFO_URL over the environment's FIFO: {out} {err}"
    );
    let (_, out, err) = call_cfg(
        &env,
        &["--fifo", fifo, "--reply-dir", &rd],
        &[("MIFIFO_URL", &envu)],
    );
    assert!(up(&out), "--fifo over MIFIFO_URL: {out} {err}");
    let (_, out, err) = call_cfg(&env, &["--url", &flag], &[("MIFIFO_URL", &envu)]);
    assert!(peer(&out, "flag"), "--url over everything: {out} {err}");
    // Both flags at once: one would be ignored, so the command is refused.
    let (code, _, err) = call_cfg(&env, &["--url", &flag, "--fifo", fifo], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    // --instance picks the section; [other] says fifo.
    let (_, out, err) = call_cfg(&env, &["--instance", "other"], &[]);
    assert!(up(&out), "{out} {err}");
    // The same precedence for shell, top and bench.
    let (code, out, err) = run(&env, &["shell"], &[("MIFIFO_URL", &envu)], "uptime\n");
    assert_eq!(code, 0, "{err}");
    assert!(peer(&out, "env"), "{out}");
    let (code, out, err) = run(
        &env,
        &["shell", "--url", &flag],
        &[("MIFIFO_URL", &envu)],
        "uptime\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(peer(&out, "flag"), "{out}");
}
