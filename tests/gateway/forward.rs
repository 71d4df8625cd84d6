//! `mififo serve --forward`: a FIFO front for an HTTP-only MI, chained
//! through `mififo gateway` to `mififo serve`, and its upstream errors.

use super::{Gateway, SilentFifo};
use crate::util::{raw_exchange, TestEnv};
use std::time::Duration;

fn exchange(env: &TestEnv, fifo: &std::path::Path, json: &str) -> serde_json::Value {
    let name = format!("fwd_reply_{}", fastrand::u32(..));
    let req = format!(":{name}:{json}");
    let raw = raw_exchange(
        fifo,
        env.dir.path(),
        &name,
        req.as_bytes(),
        Duration::from_secs(30),
    )
    .expect("a reply through the forwarding server");
    serde_json::from_slice(&raw)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&raw)))
}

#[test]
fn serve_forward_to_gateway_to_serve() {
    let env = TestEnv::new();
    let _backend = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    let front_fifo = env.path("front_fifo");
    let _front = env.serve_at(&front_fifo, &["--forward", &gw.url]);

    let v = exchange(
        &env,
        &front_fifo,
        r#"{"jsonrpc":"2.0","method":"uptime","id":"e2e"}"#,
    );
    assert_eq!(v["id"], "e2e", "{v}");
    assert!(v["result"]["Up time"].is_string(), "{v}");

    let v = exchange(
        &env,
        &front_fifo,
        r#"{"jsonrpc":"2.0","method":"get_statistics","params":[["all"]],"id":3}"#,
    );
    assert!(v["result"].is_object(), "{v}");

    let v = exchange(
        &env,
        &front_fifo,
        r#"{"jsonrpc":"2.0","method":"nope","id":4}"#,
    );
    assert_eq!(v["error"]["code"], -32601, "{v}");
    assert_eq!(v["id"], 4);
}

#[test]
fn serve_forward_reports_upstream_failures() {
    let env = TestEnv::new();
    // Refused: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused_fifo = env.path("refused_fifo");
    let url = format!("http://127.0.0.1:{port}/mi");
    let _a = env.serve_at(&refused_fifo, &["--forward", &url]);
    let v = exchange(
        &env,
        &refused_fifo,
        r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#,
    );
    assert_eq!(v["error"]["code"], -32020, "{v}");
    assert!(v["error"]["data"].as_str().unwrap().contains(&url), "{v}");

    // Timeout: the gateway's FIFO never answers; its 504 JSON-RPC error is passed through.
    let silent = SilentFifo::new(&env, "silent_fifo");
    let gw = Gateway::start(&env, &silent.path, &["--timeout", "500ms"]);
    let slow_fifo = env.path("slow_fifo");
    let _b = env.serve_at(&slow_fifo, &["--forward", &gw.url]);
    let v = exchange(
        &env,
        &slow_fifo,
        r#"{"jsonrpc":"2.0","method":"uptime","id":2}"#,
    );
    assert_eq!(v["error"]["code"], -32012, "{v}");
    assert_eq!(v["id"], 2);

    // Not an MI endpoint: the gateway's 404 for a wrong path.
    let wrong_fifo = env.path("wrong_fifo");
    let wrong = gw.url.replace("/mi", "/nope");
    let _c = env.serve_at(&wrong_fifo, &["--forward", &wrong]);
    let v = exchange(
        &env,
        &wrong_fifo,
        r#"{"jsonrpc":"2.0","method":"uptime","id":3}"#,
    );
    assert_eq!(v["error"]["code"], -32017, "{v}");
}

#[test]
fn fifo_clients_work_against_an_http_only_mi() {
    let env = TestEnv::new();
    let _backend = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);

    // 1.x/2.x text-dialect scripts: argument lines become OpenSIPS 3.x's array parameter.
    let text_fifo = env.path("text_fifo");
    let _text = env.serve_at(&text_fifo, &["--dialect", "text", "--forward", &gw.url]);
    let name = "text_fwd_reply";
    let raw = raw_exchange(
        &text_fifo,
        env.dir.path(),
        name,
        format!(":get_statistics:{name}\nall\n\n").as_bytes(),
        Duration::from_secs(30),
    )
    .expect("a text reply through the forwarding server");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("200 OK\n"), "{text}");
    assert!(text.contains("::"), "{text}");

    // opensips-cli in its default FIFO mode, unaware that the MI is HTTP-only.
    let Some(cli) = super::opensips_cli() else {
        crate::util::require("opensips-cli (PyPI opensipscli)", false);
        return;
    };
    let front_fifo = env.path("front_fifo");
    let _front = env.serve_at(&front_fifo, &["--forward", &gw.url]);
    let cfg = env.path("opensips-cli.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[default]\ncommunication_type: fifo\nfifo_file: {}\nfifo_reply_dir: {}\nlog_level: WARNING\n",
            front_fifo.display(),
            env.dir.path().display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(cli)
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .arg("-f")
        .arg(&cfg)
        .args(["-x", "mi", "uptime"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Up time"), "{text}");
}
