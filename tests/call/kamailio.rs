//! Interop with a real Kamailio `jsonrpcs` FIFO (Debian's `kamailio` package):
//! the test writes a config into its temp dir, starts `/usr/sbin/kamailio` in
//! the foreground (UDP on 127.0.0.1 only), and kills it on drop.

use super::fake::{count_entries, entries_with_prefix};
use crate::util::{has_reader, require, TestEnv};
use mififo::client::{Client, ClientConfig, ReplyKind};
use mififo::proto::jsonrpc::{Outcome, Params};
use mififo::proto::Dialect;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KAMAILIO: &str = "/usr/sbin/kamailio";

fn module_dir() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/kamailio/modules",
        "/usr/lib/aarch64-linux-gnu/kamailio/modules",
        "/usr/lib/kamailio/modules",
        "/usr/lib64/kamailio/modules",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|d| d.join("jsonrpcs.so").exists())
}

/// A running Kamailio; SIGTERM then SIGKILL on drop.
pub(crate) struct Kamailio {
    child: Child,
    pub(crate) fifo: PathBuf,
}

impl Kamailio {
    pub(crate) fn start(env: &TestEnv) -> Option<Kamailio> {
        Self::start_with(env, 2, "")
    }

    /// Starts with the jsonrpcs `transport` bitmask and extra config lines
    /// (e.g. a `dgram_socket` for transport 6 = FIFO + datagram).
    pub(crate) fn start_with(env: &TestEnv, transport: u32, extra: &str) -> Option<Kamailio> {
        let available = Path::new(KAMAILIO).exists() && module_dir().is_some();
        if !require("kamailio with the jsonrpcs module", available) {
            return None;
        }
        let fifo = env.path("kamailio_rpc.fifo");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = fastrand::u16(20000..60000);
            let cfg = env.path("kamailio.cfg");
            std::fs::write(
                &cfg,
                format!(
                    "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\ndisable_tcp=yes\n\
                     listen=udp:127.0.0.1:{port}\nmpath=\"{}/\"\n\
                     loadmodule \"jsonrpcs.so\"\nloadmodule \"kex.so\"\nloadmodule \"corex.so\"\n\
                     modparam(\"jsonrpcs\", \"transport\", {transport})\n{extra}\
                     modparam(\"jsonrpcs\", \"fifo_name\", \"{}\")\n\
                     modparam(\"jsonrpcs\", \"fifo_reply_dir\", \"{}\")\n\
                     request_route {{\n    drop;\n}}\n",
                    module_dir().unwrap().display(),
                    fifo.display(),
                    env.reply_dir()
                ),
            )
            .unwrap();
            let mut child = Command::new(KAMAILIO)
                .arg("-f")
                .arg(&cfg)
                .args(["-DD", "-E", "-Y"])
                .arg(env.dir.path())
                .arg("-P")
                .arg(env.path("kamailio.pid"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn kamailio");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if has_reader(&fifo) {
                    return Some(Kamailio { child, fifo });
                }
                if child.try_wait().unwrap().is_some() {
                    let out = child.wait_with_output().unwrap();
                    last_err = String::from_utf8_lossy(&out.stderr).into_owned();
                    break; // most likely the port was taken: try another
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let out = child.wait_with_output().unwrap();
                    panic!(
                        "kamailio did not open its FIFO: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("kamailio did not start: {last_err}");
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        crate::util::terminate(&mut self.child, Duration::from_secs(10));
    }
}

fn call(env: &TestEnv, k: &Kamailio, args: &[&str]) -> (i32, String, String) {
    let o = env
        .cmd_at("call", &k.fifo)
        .args(["--dialect", "kamailio"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    crate::util::code_and_text(&o)
}

#[test]
fn kamailio_core_commands_and_errors() {
    let env = TestEnv::new();
    let Some(k) = Kamailio::start(&env) else {
        return;
    };
    let before = count_entries(env.dir.path());

    let (code, out, err) = call(&env, &k, &["core.uptime"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["uptime"].is_number() && v["up_since"].is_string(), "{v}");

    let (code, out, err) = call(&env, &k, &["core.version"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.to_lowercase().contains("kamailio"), "{out}");

    let (code, out, err) = call(&env, &k, &["core.psx"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|p| p["DSC"] == "JSONRPCS FIFO"),
        "{v}"
    );

    // Kamailio pretty-prints with tabs; --raw shows exactly that.
    let (code, out, _) = call(&env, &k, &["core.uptime", "--raw"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("{\n\t\"jsonrpc\":\t\"2.0\""), "{out:?}");

    let (code, _, err) = call(&env, &k, &["core.no_such_method"]);
    assert_eq!(code, 1);
    assert!(err.contains("500: Method Not Found"), "{err}");

    // Positional parameters: system.methodHelp takes a method name.
    let (code, out, err) = call(&env, &k, &["system.methodHelp", "core.uptime"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.trim().is_empty());

    assert_eq!(
        count_entries(env.dir.path()),
        before,
        "no reply FIFO left behind"
    );
}

#[test]
fn kamailio_with_the_wrong_reply_dir_times_out_and_says_why() {
    let env = TestEnv::new();
    let Some(k) = Kamailio::start(&env) else {
        return;
    };
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let o = env
        .cmd()
        .args(["call", "--dialect", "kamailio", "--timeout", "1s", "--fifo"])
        .arg(&k.fifo)
        .arg("--reply-dir")
        .arg(&elsewhere)
        .arg("core.uptime")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("fifo_reply_dir") && err.contains("elsewhere"),
        "{err}"
    );
    assert!(entries_with_prefix(&elsewhere, "mififo_reply_").is_empty());
}

#[tokio::test]
async fn kamailio_serves_many_concurrent_library_calls() {
    kamailio_library_calls(0).await;
}

/// Kamailio writes pretty JSON and closes per reply: the pool finds each
/// reply's end and reuses its FIFOs.
#[tokio::test]
async fn kamailio_serves_pooled_library_calls() {
    kamailio_library_calls(4).await;
}

async fn kamailio_library_calls(pool: usize) {
    let env = TestEnv::new();
    let Some(k) = Kamailio::start(&env) else {
        return;
    };
    let c = Client::new(ClientConfig {
        fifo: k.fifo.clone(),
        reply_dir: env.dir.path().to_path_buf(),
        timeout: Duration::from_secs(60),
        dialect: Dialect::Kamailio,
        allow_large: false,
        pool,
        ..Default::default()
    });
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.call("core.uptime", Params::None).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        match r.kind {
            ReplyKind::Json(resp) => {
                assert!(matches!(resp.outcome, Outcome::Result(ref v) if v["uptime"].is_number()))
            }
            other => panic!("{other:?}"),
        }
    }
    drop(c);
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}
