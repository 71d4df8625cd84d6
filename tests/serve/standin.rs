//! The stand-in answers like a real OpenSIPS 3.6 by default: core statistics
//! groups with live values, 4.0 `module:cmd` names, OpenSIPS-CP-style PHP
//! reading the dashboard statistics through the FIFO and through the gateway.

use super::{call_raw, dialog_fixture, result};
use crate::gateway::Gateway;
use crate::util::{self, TestEnv};
use serde_json::Value;
use std::process::Command;

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn a_default_server_has_opensips_core_statistics_with_live_values() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let r = result(
        &env,
        "get_statistics",
        Some(r#"{"statistics":["shmem:","load:","core:"]}"#),
    );
    let k = keys(&r);
    assert_eq!(
        &k[..6],
        [
            "shmem:total_size",
            "shmem:max_used_size",
            "shmem:free_size",
            "shmem:used_size",
            "shmem:real_used_size",
            "shmem:fragments"
        ],
        "{r}"
    );
    for name in [
        "load:load-proc-0",
        "load:load",
        "load:load1m",
        "load:load10m",
        "load:load-all",
        "load:processes_number",
        "core:rcv_requests",
        "core:bad_URIs_rcvd",
        "core:timestamp",
    ] {
        assert!(r.get(name).is_some_and(Value::is_i64), "{name} in {r}");
    }
    let n = |name: &str| r[name].as_i64().unwrap();
    assert!(n("shmem:used_size") > 100_000, "resident memory: {r}");
    assert!(n("shmem:max_used_size") >= n("shmem:used_size"));
    assert_eq!(
        n("shmem:free_size"),
        n("shmem:total_size") - n("shmem:used_size")
    );
    assert!((0..=100).contains(&n("load:load")));
    assert_eq!(n("load:processes_number"), 1);
    // core:timestamp counts seconds since the start.
    let ticked = || {
        let later = result(&env, "get_statistics", Some(r#"[["core:timestamp"]]"#));
        later["core:timestamp"].as_i64().unwrap() > n("core:timestamp")
    };
    assert!(
        util::wait_until(std::time::Duration::from_secs(3), ticked),
        "core:timestamp did not advance"
    );

    let list = result(&env, "list_statistics", None);
    for (name, kind) in [
        ("shmem:used_size", "non-incremental"),
        ("rpmem:rpm_free_size", "non-incremental"),
        ("core:rcv_requests", "incremental"),
        ("core:timestamp", "non-incremental"),
        ("net:waiting_tcp", "non-incremental"),
        ("dns:dns_total_queries", "incremental"),
        ("sql:sql_slow_queries", "incremental"),
        ("cdb:cdb_total_queries", "incremental"),
        ("load:load10m-all", "non-incremental"),
        ("pkmem:0-total_size", "non-incremental"),
        ("mififo:requests", "incremental"),
    ] {
        assert_eq!(list[name], kind, "{name} in {list}");
    }
    assert_eq!(keys(&list)[0], "shmem:total_size");
    assert_eq!(
        keys(&list).last().unwrap(),
        "pkmem:0-fragments",
        "per-process groups come last, as in OpenSIPS"
    );
}

#[test]
fn a_commands_files_statistics_override_the_live_ones() {
    let env = TestEnv::new();
    let _s = env.serve(&["--commands", &dialog_fixture()]);
    let r = result(&env, "get_statistics", Some(r#"[["shmem:"]]"#));
    assert_eq!(r["shmem:total_size"], 33554432, "{r}");
    assert_eq!(r["shmem:fragments"], 37, "{r}");
    // Groups the file does not set are still there, live.
    let r = result(&env, "get_statistics", Some(r#"[["load:"]]"#));
    assert_eq!(r["load:processes_number"], 1, "{r}");
}

#[test]
fn opensips_4_names_are_aliases_and_the_version_picks_the_listing() {
    let env = TestEnv::new();
    let _s = env.serve(&["--commands", &dialog_fixture()]);
    // 3.6 (default): 3.x names listed, 4.0 names answered.
    let which = result(&env, "which", None);
    assert_eq!(which[0], "get_statistics");
    assert_eq!(
        call_raw(
            &env,
            "statistics:get",
            Some(r#"[["dialog:active_dialogs"]]"#)
        ),
        r#"{"jsonrpc":"2.0","result":{"dialog:active_dialogs":1},"id":1}"#
    );
    assert!(result(&env, "core:uptime", None)["Up time"].is_string());
    assert_eq!(
        result(&env, "dialog:list", Some(r#"{"callid":"abc@host"}"#))["Dialog"]["callid"],
        "abc@host"
    );
    assert!(result(&env, "version", None)["Server"]
        .as_str()
        .unwrap()
        .starts_with("OpenSIPS (3.6."));
    assert_eq!(
        result(&env, "which", Some(r#"{"command":"dialog:"}"#)),
        serde_json::json!(["dlg_list", "dlg_end_dlg", "profile_get_size"]),
    );

    let env4 = TestEnv::new();
    let _s4 = env4.serve(&["--commands", &dialog_fixture(), "--opensips-version", "4.0"]);
    let which = result(&env4, "which", None);
    let names: Vec<&str> = which
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        &names[..5],
        [
            "statistics:get",
            "statistics:list",
            "statistics:reset",
            "statistics:reset_all",
            "core:uptime"
        ]
    );
    assert!(names.contains(&"dialog:list"), "{names:?}");
    assert!(!names.contains(&"get_statistics"), "{names:?}");
    assert_eq!(
        result(&env4, "which", Some(r#"{"command":"dialog:"}"#)),
        serde_json::json!(["dialog:list", "dialog:end_dlg", "dialog:profile_get_size"]),
    );
    assert_eq!(
        call_raw(&env4, "which", Some(r#"{"command":"nosuch:"}"#)),
        r#"{"jsonrpc":"2.0","error":{"code":404,"message":"unknown MI module"},"id":1}"#
    );
    // 4.0 also takes an unambiguous local name; an ambiguous one is -32001.
    assert_eq!(
        result(&env4, "end_dlg", Some(r#"{"dialog_id":"1234.5678"}"#)),
        "OK"
    );
    assert_eq!(
        call_raw(&env4, "reset", Some(r#"[["all"]]"#)),
        r#"{"jsonrpc":"2.0","result":"OK","id":1}"#,
        "statistics:reset is the only 'reset'"
    );
    assert_eq!(
        call_raw(&env4, "list", None),
        r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Method ambiguous","data":"supported names: statistics:list, dialog:list"},"id":1}"#
    );
    // Not on a 3.6 stand-in.
    assert_eq!(
        call_raw(&env, "list", None),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#
    );
    // The 3.x spelling still works on a 4.0 stand-in.
    assert!(result(&env4, "get_statistics", Some(r#"[["core:"]]"#))["core:timestamp"].is_i64());
    assert!(result(&env4, "version", None)["Server"]
        .as_str()
        .unwrap()
        .starts_with("OpenSIPS (4.0."));
    assert_eq!(
        result(&env4, "help", Some(r#"{"mi_cmd":"statistics:get"}"#))["Exported by"],
        "core"
    );
}

/// OpenSIPS-CP's dashboard widgets: `get_statistics` with
/// `{"statistics":["shmem:"]}` (and `load:`, `core:`), JSON-RPC over a FIFO
/// (`fifo:` box: write `:reply:{json}`, read the reply FIFO) or over HTTP
/// (`json:` box, libcurl, status >= 300 is a failure).
const CP_DASHBOARD_PHP: &str = r#"
$where = $argv[1];
$group = $argv[2];
$body = json_encode(array("jsonrpc" => "2.0", "id" => 1, "method" => "get_statistics",
    "params" => array("statistics" => array($group))));
if (substr($where, 0, 5) == "json:") {
    $ch = curl_init();
    curl_setopt($ch, CURLOPT_URL, substr($where, 5));
    curl_setopt($ch, CURLOPT_CUSTOMREQUEST, "POST");
    curl_setopt($ch, CURLOPT_POSTFIELDS, $body);
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, TRUE);
    curl_setopt($ch, CURLOPT_HTTPHEADER, array("Content-Type: application/json"));
    $reply = curl_exec($ch);
    if ($reply === false) { echo "curl error: " . curl_error($ch) . "\n"; exit(2); }
    $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    if ($status >= 300) { echo "MI HTTP request failed with " . $status . " reply\n"; exit(1); }
} else {
    list($fifo, $dir) = explode(",", substr($where, 5));
    $name = "cp_reply_" . getmypid();
    $reply_path = $dir . $name;
    @unlink($reply_path);
    if (!posix_mkfifo($reply_path, 0666)) { echo "mkfifo failed\n"; exit(2); }
    $fp = fopen($fifo, "w");
    fwrite($fp, ":" . $name . ":" . $body);
    fclose($fp);
    $rp = fopen($reply_path, "r");
    $reply = stream_get_contents($rp);
    fclose($rp);
    unlink($reply_path);
}
$res = json_decode($reply, true);
if (array_key_exists("error", $res)) { echo "MI error " . $res["error"]["code"] . "\n"; exit(1); }
foreach ($res["result"] as $k => $v) { echo $k . "=" . $v . "\n"; }
"#;

#[test]
fn cp_style_php_reads_dashboard_statistics_through_the_fifo_and_the_gateway() {
    let have_php = util::have_tool("php")
        && Command::new("php")
            .args([
                "-r",
                "exit(function_exists('curl_init') && function_exists('posix_mkfifo') ? 0 : 1);",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if !util::require("php-cli with php-curl and posix", have_php) {
        return;
    }
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let gw = Gateway::start(&env, &env.fifo(), &[]);
    let script = env.path("dashboard.php");
    std::fs::write(&script, format!("<?php\n{CP_DASHBOARD_PHP}")).unwrap();
    let fifo_box = format!("fifo:{},{}", env.fifo().display(), env.reply_dir());
    let http_box = format!("json:{}", gw.url);
    for target in [fifo_box, http_box] {
        for (group, must) in [
            ("shmem:", "shmem:used_size="),
            ("load:", "load:load="),
            ("core:", "core:timestamp="),
        ] {
            let out = Command::new("php")
                .arg(&script)
                .arg(&target)
                .arg(group)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{target} {group}: {text}");
            let line = text
                .lines()
                .find(|l| l.starts_with(must))
                .unwrap_or_else(|| panic!("{target} {group}: no {must} in {text}"));
            let value: i64 = line[must.len()..].parse().expect(line);
            if group == "shmem:" {
                assert!(value > 0, "{target}: {line}");
            }
            assert!(
                text.lines().all(|l| l.starts_with(group)),
                "only that group: {text}"
            );
        }
    }
}

#[test]
fn ready_file_and_sd_notify_say_when_the_fifo_is_served() {
    let env = TestEnv::new();
    let sock_path = env.path("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let ready = env.path("ready");
    let mut child = env
        .cmd_at("serve", &env.fifo())
        .args(util::serve_user_args())
        .arg("--ready-file")
        .arg(&ready)
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).expect("READY=1 within 10 s");
    assert_eq!(&buf[..n], b"READY=1");
    // By then the ready file is there and the FIFO is served.
    let text = std::fs::read_to_string(&ready).unwrap();
    assert_eq!(
        text,
        format!("fifo={}\npid={}\n", env.fifo().display(), child.id())
    );
    assert!(util::has_reader(&env.fifo()));
    assert!(result(&env, "uptime", None)["Up time"].is_string());
    util::terminate(&mut child, std::time::Duration::from_secs(5));
}
