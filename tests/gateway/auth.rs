//! Authentication, command policy, audit log and TLS against the real
//! binary, with the clients that use them: curl, PHP curl code written the
//! way OpenSIPS-CP's `mi_comm.php` sends MI commands
//! (`json:http://user:pass@host:port/mi`), and opensips-cli in HTTP mode.

use super::http::{http, HttpReply};
use super::{error_code, opensips_cli, Gateway};
use crate::util::{self, TestEnv};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A users file with a hashed admin (all), a hashed read-only panel user,
/// and a plain-text user limited to `uptime`.
pub(crate) fn users_file(env: &TestEnv) -> PathBuf {
    let params = sha_crypt::Sha512Params::new(5000).unwrap();
    let admin = sha_crypt::sha512_simple("admin-pw", &params).unwrap();
    let panel = sha_crypt::sha512_simple("panel pw:with colon", &params).unwrap();
    let path = env.path("gateway.users");
    std::fs::write(
        &path,
        format!(
            "# name:hash[:policy]\nadmin:{admin}:all\npanel:{panel}:read-only\n\
             probe:{{PLAIN}}probe-pw:uptime\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// POST `body` with optional Basic credentials.
fn post_as(gw: &Gateway, creds: Option<(&str, &str)>, body: &str) -> HttpReply {
    use base64::Engine;
    let auth = creds.map_or_else(String::new, |(u, p)| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    });
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST /mi HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{auth}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        gw.addr,
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    super::http::parse(&raw)
}

/// A gateway on `env`'s FIFO with the users of [`users_file`] and `extra` flags.
fn gateway_with_users(env: &TestEnv, extra: &[&str]) -> Gateway {
    let users = users_file(env);
    let mut args = vec!["--users-file", users.to_str().unwrap()];
    args.extend_from_slice(extra);
    Gateway::start(env, &env.fifo(), &args)
}

fn rpc(method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":"{method}"}}"#)
}

#[test]
fn basic_auth_good_bad_missing_and_hashed() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = gateway_with_users(&env, &[]);
    // Missing.
    let r = post_as(&gw, None, &rpc("uptime"));
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Basic realm="mififo", charset="UTF-8""#)
    );
    assert_eq!(error_code(&r.body), -32024);
    // Bad password, unknown user.
    let r = post_as(&gw, Some(("admin", "admin-pw2")), &rpc("uptime"));
    assert_eq!(r.status, 401);
    let r = post_as(&gw, Some(("nobody", "admin-pw")), &rpc("uptime"));
    assert_eq!(r.status, 401);
    // Good ($6$ hashes; a password with a space and a colon), twice each
    // (the second comes from the verified-password digest).
    for _ in 0..2 {
        let r = post_as(&gw, Some(("admin", "admin-pw")), &rpc("uptime"));
        assert_eq!(r.status, 200, "{}", r.text());
        let r = post_as(&gw, Some(("panel", "panel pw:with colon")), &rpc("uptime"));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // The old password no longer matches once another one verified.
    let r = post_as(&gw, Some(("panel", "panel pw")), &rpc("uptime"));
    assert_eq!(r.status, 401);
    // curl with -u, and with the credentials in the URL as CP's json: URL has them.
    if util::require("curl", util::have_tool("curl")) {
        for args in [
            vec![
                "-u".to_string(),
                "admin:admin-pw".to_string(),
                gw.url.clone(),
            ],
            vec![gw.url.replacen("http://", "http://admin:admin-pw@", 1)],
        ] {
            let out = Command::new("curl")
                .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
                .args(["-H", "Content-Type: application/json", "-d", &rpc("uptime")])
                .args(&args)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.ends_with("\n200"), "{args:?}: {text}");
        }
    }
}

#[test]
fn the_users_file_is_required_to_parse_and_never_on_the_command_line() {
    let env = TestEnv::new();
    let bad = env.path("bad.users");
    std::fs::write(&bad, "admin:secret\n").unwrap();
    let out = env
        .cmd_at("gateway", &env.fifo())
        .args(["--listen", "127.0.0.1:0", "--users-file"])
        .arg(&bad)
        .args(if util::is_root() {
            &["--user", "root"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 1") && err.contains("openssl passwd -6"),
        "{err}"
    );
    // There is no flag that takes a password.
    let help = env.cmd().args(["gateway", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(!help.contains("--password"), "{help}");
}

#[test]
fn command_policy_allow_deny_read_only_and_per_user() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    // Global read-only, no auth.
    let gw = Gateway::start(&env, &env.fifo(), &["--read-only"]);
    for ok in ["uptime", "version", "which", "get_statistics"] {
        let r = post_as(&gw, None, &rpc(ok));
        assert_eq!(r.status, 200, "{ok}: {}", r.text());
    }
    for refused in ["kill", "reload_routes", "dlg_end_dlg", "log_level"] {
        let r = post_as(&gw, None, &rpc(refused));
        assert_eq!(r.status, 403, "{refused}: {}", r.text());
        assert_eq!(error_code(&r.body), -32025);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["id"], refused);
    }
    // Allow and deny globs.
    let gw = Gateway::start(
        &env,
        &env.fifo(),
        &[
            "--allow-method",
            "get_*,uptime",
            "--deny-method",
            "get_statistics",
        ],
    );
    assert_eq!(post_as(&gw, None, &rpc("uptime")).status, 200);
    assert_eq!(post_as(&gw, None, &rpc("which")).status, 403);
    assert_eq!(post_as(&gw, None, &rpc("get_statistics")).status, 403);
    // Per user: admin may kill (the server then stops), panel may not.
    let gw = gateway_with_users(&env, &[]);
    let r = post_as(&gw, Some(("panel", "panel pw:with colon")), &rpc("kill"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("panel"), "{}", r.text());
    let r = post_as(&gw, Some(("probe", "probe-pw")), &rpc("which"));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = post_as(&gw, Some(("probe", "probe-pw")), &rpc("uptime"));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_as(&gw, Some(("admin", "admin-pw")), &rpc("which"));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The gateway's audit lines (JSON lines: stderr is a file).
fn audit_lines(gw: &Gateway) -> Vec<serde_json::Value> {
    gw.log()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect()
}

#[test]
fn audit_log_has_one_line_per_request_without_params() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = gateway_with_users(&env, &["--read-only"]);
    let secret_params =
        r#"{"jsonrpc":"2.0","method":"get_statistics","params":[["s3cr3t-value"]],"id":1}"#;
    assert_eq!(
        post_as(&gw, Some(("admin", "admin-pw")), &rpc("uptime")).status,
        200
    );
    assert_eq!(
        post_as(&gw, Some(("admin", "admin-pw")), &rpc("kill")).status,
        403
    );
    assert_eq!(
        post_as(&gw, Some(("admin", "nope")), &rpc("uptime")).status,
        401
    );
    let r = post_as(&gw, Some(("admin", "admin-pw")), secret_params);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http(gw.addr, "POST", "/mi", b"{oops");
    assert_eq!(r.status, 401);
    // Lines are written after the response; give the last one a moment.
    util::wait_until(Duration::from_secs(2), || audit_lines(&gw).len() >= 5);
    let lines = audit_lines(&gw);
    assert_eq!(lines.len(), 5, "{}", gw.log());
    // (user, method, status, code, level); get_statistics of an unknown
    // statistic is the server's own error, passed through with 200.
    let want = [
        ("admin", "uptime", 200, Some(0), Some("INFO")),
        ("admin", "kill", 403, Some(-32025), Some("WARN")),
        ("admin", "-", 401, Some(-32024), Some("WARN")),
        ("admin", "get_statistics", 200, None, None),
        ("-", "-", 401, Some(-32024), Some("WARN")),
    ];
    for (line, (user, method, status, code, level)) in lines.iter().zip(want) {
        assert_eq!(line["user"], user, "{line}");
        assert_eq!(line["method"], method, "{line}");
        assert_eq!(line["status"], status, "{line}");
        if let Some(code) = code {
            assert_eq!(line["code"], code, "{line}");
        }
        if let Some(level) = level {
            assert_eq!(line["level"], level, "{line}");
        }
        assert_eq!(line["peer"], "127.0.0.1", "{line}");
        assert!(line["ms"].is_u64(), "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
    }
    assert!(!gw.log().contains("s3cr3t-value"), "{}", gw.log());

    // With --audit-params the params are in the line.
    let gw = Gateway::start(&env, &env.fifo(), &["--audit-params"]);
    assert_eq!(post_as(&gw, None, secret_params).status, 200);
    // Lines are written after the response.
    assert!(
        util::wait_until(Duration::from_secs(2), || audit_lines(&gw).iter().any(
            |l| l["params"]
                .as_str()
                .is_some_and(|p| p.contains("s3cr3t-value"))
        )),
        "{}",
        gw.log()
    );
}

/// A self-signed certificate for 127.0.0.1 (openssl), as (cert, key).
fn self_signed(env: &TestEnv) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (env.path("cert.pem"), env.path("key.pem"));
    util::self_signed_cert(&cert, &key, false).then_some((cert, key))
}

#[test]
fn tls_with_curl_and_opensips_cli() {
    if !util::require("curl", util::have_tool("curl")) {
        return;
    }
    let env = TestEnv::new();
    let Some((cert, key)) = self_signed(&env) else {
        return;
    };
    let _server = env.serve(&[]);
    let users = users_file(&env);
    let gw = Gateway::start(
        &env,
        &env.fifo(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--users-file",
            users.to_str().unwrap(),
        ],
    );
    assert!(gw.url.starts_with("https://127.0.0.1:"), "{}", gw.url);
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
            .arg(&cert)
            .args(["-H", "Content-Type: application/json", "-d", &rpc("uptime")])
            .args(extra)
            .arg(&gw.url)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (out, err) = curl(&["-u", "admin:admin-pw"]);
    assert!(
        out.ends_with("\n200") && out.contains("Up time"),
        "{out}{err}"
    );
    let (out, _) = curl(&[]);
    assert!(out.ends_with("\n401"), "{out}");
    // Plain HTTP to the TLS port gets nowhere.
    let plain = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10"])
        .args(["-H", "Content-Type: application/json", "-d", &rpc("uptime")])
        .arg(gw.url.replacen("https://", "http://", 1))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");

    // opensips-cli over https (python-opensips does not verify the
    // certificate and cannot send credentials: a read-only gateway without
    // --users-file is how it is meant to be used).
    let Some(cli) = opensips_cli() else {
        util::require("opensips-cli (PyPI opensipscli)", false);
        return;
    };
    let gw = Gateway::start(
        &env,
        &env.fifo(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--read-only",
        ],
    );
    let run = |cmd: &[&str]| {
        let out = Command::new(&cli)
            .env("HOME", env.dir.path())
            .args(["-o", "communication_type=http", "-o"])
            .arg(format!("url={}", gw.url))
            .arg("-x")
            .args(cmd)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = run(&["mi", "uptime"]);
    assert!(ok && out.contains("Up time"), "{out}");
    let (ok, out) = run(&["mi", "kill"]);
    assert!(!ok, "{out}");
    assert!(out.contains("403"), "{out}");
}

/// PHP doing what OpenSIPS-CP's `mi_comm.php` does for a `json:` box: a
/// JSON-RPC POST with libcurl, `Content-Type: application/json`, the URL
/// with its credentials, "failed" for any status >= 300.
const CP_STYLE_PHP: &str = r#"
$mi_url = $argv[1];
$method = $argv[2];
$url = substr($mi_url, strlen("json:"));
$body = json_encode(array("jsonrpc" => "2.0", "id" => 1, "method" => $method));
$ch = curl_init();
curl_setopt($ch, CURLOPT_URL, $url);
curl_setopt($ch, CURLOPT_CUSTOMREQUEST, "POST");
curl_setopt($ch, CURLOPT_POSTFIELDS, $body);
curl_setopt($ch, CURLOPT_RETURNTRANSFER, TRUE);
curl_setopt($ch, CURLOPT_HTTPHEADER, array("Content-Type: application/json",
    "Content-Length: " . strlen($body)));
$reply = curl_exec($ch);
if ($reply === false) { echo "curl error: " . curl_error($ch) . "\n"; exit(2); }
$status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
if ($status >= 300) { echo "MI HTTP request failed with " . $status . " reply\n"; exit(1); }
$res = json_decode($reply, true);
if (array_key_exists("error", $res)) { echo "MI error " . $res["error"]["code"] . "\n"; exit(1); }
echo json_encode($res["result"]) . "\n";
"#;

#[test]
fn cp_style_php_with_credentials_in_the_json_url() {
    let have_php = util::have_tool("php")
        && Command::new("php")
            .args(["-r", "exit(function_exists('curl_init') ? 0 : 1);"])
            .status()
            .is_ok_and(|s| s.success());
    if !util::require("php-cli with php-curl", have_php) {
        return;
    }
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = gateway_with_users(&env, &["--read-only"]);
    let script = env.path("mi_comm_test.php");
    std::fs::write(&script, format!("<?php\n{CP_STYLE_PHP}")).unwrap();
    let php = |url: &str, method: &str| {
        let out = Command::new("php")
            .arg(&script)
            .arg(url)
            .arg(method)
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let with_creds = |u: &str, p: &str| {
        format!(
            "json:{}",
            gw.url.replacen("http://", &format!("http://{u}:{p}@"), 1)
        )
    };
    let (code, out) = php(&with_creds("panel", "panel%20pw%3Awith%20colon"), "uptime");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Up time"), "{out}");
    let (code, out) = php(&with_creds("admin", "wrong"), "uptime");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("failed with 401"), "{out}");
    let (code, out) = php(&with_creds("admin", "admin-pw"), "kill");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("failed with 403"), "{out}");
}

#[test]
fn sighup_reloads_the_users_file_and_keeps_the_old_users_on_error() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let users = users_file(&env);
    let gw = Gateway::start(
        &env,
        &env.fifo(),
        &["--users-file", users.to_str().unwrap()],
    );
    let hup = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(gw.pid() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
    };
    assert_eq!(
        post_as(&gw, Some(("late", "late-pw")), &rpc("uptime")).status,
        401
    );
    std::fs::write(&users, "late:{PLAIN}late-pw:uptime\n").unwrap();
    hup();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while post_as(&gw, Some(("late", "late-pw")), &rpc("uptime")).status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "users file not reloaded: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The users of the old file are gone.
    assert_eq!(
        post_as(&gw, Some(("admin", "admin-pw")), &rpc("uptime")).status,
        401
    );
    // A broken file is refused and the users in force stay.
    std::fs::write(&users, "broken line\n").unwrap();
    hup();
    while !gw.log().contains("users file not reloaded") {
        assert!(std::time::Instant::now() < deadline, "{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        post_as(&gw, Some(("late", "late-pw")), &rpc("uptime")).status,
        200
    );
}
