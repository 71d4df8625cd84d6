//! `mififo call --url`: HTTP(S) against `mififo gateway` (plain, Basic auth
//! from a file, TLS), datagrams against a real Kamailio 5.6 `jsonrpcs`
//! datagram socket (UDP and UNIX) and against hostile UDP peers; the same
//! command over FIFO, HTTP and datagram prints the same result.

use super::kamailio::Kamailio;
use crate::gateway::auth::{self_signed, users_file};
use crate::gateway::Gateway;
use crate::util::{code_and_text, TestEnv};
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn call_url(env: &TestEnv, url: &str, args: &[&str]) -> (i32, String, String) {
    let o = env
        .cmd()
        .args(["call", "--url", url])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    code_and_text(&o)
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
    let users = users_file(&env);
    // The gateway tests' self-signed certificate is a CA (curl takes it);
    // webpki refuses a CA as the server's own certificate, so a leaf here.
    if self_signed(&env).is_none() {
        return;
    }
    let (cert, key) = (env.path("leaf.pem"), env.path("leaf.key"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gw = Gateway::start(
        &env,
        &env.fifo(),
        &[
            "--users-file",
            users.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(gw.url.starts_with("https://"), "{}", gw.url);
    let ca = cert.to_str().unwrap();
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
    // Our reply socket and its private directory are gone.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("mififo-dgram-"))
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(5))
        })
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
