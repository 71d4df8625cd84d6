//! Root only: the classic container setup. The gateway listens inside one
//! network namespace, the FIFO server runs in the root namespace, and a
//! client in a second namespace calls the gateway over a veth pair.
//! Addresses (192.0.2.0/24, TEST-NET-1) exist only inside the test's own
//! namespaces; both namespaces (and with them the veth pair) are deleted by
//! Drop guards even when the test fails.

use super::{error_code, Gateway};
use crate::util::{self, TestEnv};
use std::process::Command;

/// `ip netns add NAME`; `ip netns del NAME` on drop (which also destroys
/// any veth end inside it, and so the pair).
struct Netns(String);

impl Netns {
    fn add(name: String) -> Netns {
        // A leftover from a crashed run would make `add` fail.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `python3 -c CODE` inside namespace `ns`; returns (status code, stdout).
fn python_in(ns: &str, code: &str) -> (bool, String, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", code])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// POSTs `body` to `url` with urllib; prints `STATUS BODY` (HTTP errors included).
fn post_script(url: &str, body: &str) -> String {
    format!(
        r#"
import urllib.request, urllib.error
req = urllib.request.Request({url:?}, data={body:?}.encode(), headers={{"Content-Type": "application/json"}})
try:
    r = urllib.request.urlopen(req, timeout=30)
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"#
    )
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn gateway_listens_in_another_network_namespace() {
    if !util::require("root (network namespaces)", util::is_root()) {
        return;
    }
    if !util::require(
        "ip, ping and python3",
        ["ip", "ping", "python3"].iter().all(|t| util::have_tool(t)),
    ) {
        return;
    }
    let tag = std::process::id();
    // Guards first: they are dropped last, after the gateway and server.
    let gw_ns = Netns::add(format!("mififo-test-gw-{tag}"));
    let cl_ns = Netns::add(format!("mififo-test-cl-{tag}"));
    // The veth pair is created inside the namespaces and never appears in the root one.
    ip(&[
        "-n", &gw_ns.0, "link", "add", "veth-gw", "type", "veth", "peer", "name", "veth-cl",
        "netns", &cl_ns.0,
    ]);
    ip(&[
        "-n",
        &gw_ns.0,
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        "veth-gw",
    ]);
    ip(&[
        "-n",
        &cl_ns.0,
        "addr",
        "add",
        "192.0.2.2/24",
        "dev",
        "veth-cl",
    ]);
    for (ns, dev) in [(&gw_ns.0, "veth-gw"), (&cl_ns.0, "veth-cl")] {
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", ns, "link", "set", dev, "up"]);
    }
    let ping = Command::new("ip")
        .args(["netns", "exec", &cl_ns.0, "ping", "-c1", "-W5", "192.0.2.1"])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping across the veth: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    let env = TestEnv::new();
    let _server = env.serve(&[]); // root namespace
    let mut cmd = env.cmd();
    cmd.arg("gateway")
        .args([
            "--netns",
            &gw_ns.0,
            "--listen",
            "192.0.2.1:0",
            "--allow-remote",
            "--allow",
            "192.0.2.2",
        ])
        .arg("--fifo")
        .arg(env.fifo())
        .arg("--reply-dir")
        .arg(env.reply_dir());
    let gw = Gateway::spawn(&env, cmd);
    assert!(gw.url.starts_with("http://192.0.2.1:"), "{}", gw.url);

    // The client in the other namespace reaches it over the veth.
    let (ok, out, err) = python_in(
        &cl_ns.0,
        &post_script(
            &gw.url,
            r#"{"jsonrpc":"2.0","method":"uptime","id":"veth"}"#,
        ),
    );
    assert!(ok, "{out}{err}; gateway: {}", gw.log());
    let (status, body) = out.trim().split_once(' ').unwrap();
    assert_eq!(status, "200", "{out}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["id"], "veth");
    assert!(v["result"]["Up time"].is_string(), "{v}");

    // Inside the gateway's namespace the address exists, but 192.0.2.1 is not in the allow-list.
    let (ok, out, err) = python_in(
        &gw_ns.0,
        &post_script(&gw.url, r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#),
    );
    assert!(ok, "{out}{err}");
    let (status, body) = out.trim().split_once(' ').unwrap();
    assert_eq!(status, "403", "{out}");
    assert_eq!(error_code(body.as_bytes()), -32016);

    // The listening socket lives in the gateway's namespace, not in the root one.
    let listening = |ns: Option<&str>| {
        let mut c = Command::new("ip");
        if let Some(ns) = ns {
            c.args(["netns", "exec", ns]);
        }
        let out = c.args(["ss", "-Hltn"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&gw.addr.to_string())
    };
    if util::have_tool("ss") {
        assert!(
            listening(Some(&gw_ns.0)),
            "no listener in the gateway namespace"
        );
        assert!(!listening(None), "listener leaked into the root namespace");
    }
}
