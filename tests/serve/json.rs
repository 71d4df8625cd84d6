//! The 3.x/4.x JSON dialect: every built-in command, every error code, ids.

use super::*;
use serde_json::json;

const CORE: [&str; 13] = [
    "get_statistics",
    "list_statistics",
    "reset_statistics",
    "reset_all_statistics",
    "uptime",
    "version",
    "pwd",
    "arg",
    "which",
    "ps",
    "kill",
    "log_level",
    "help",
];

#[test]
fn uptime_bytes_have_opensips_shape() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let raw = exchange(
        &env,
        "r1",
        br#":r1:{"jsonrpc":"2.0","method":"uptime","id":"1"}"#,
    )
    .unwrap();
    assert!(
        raw.starts_with(r#"{"jsonrpc":"2.0","result":{"Now":""#),
        "{raw}"
    );
    assert!(raw.ends_with(r#" [sec]"},"id":"1"}"#), "{raw}");
    let v: Value = serde_json::from_str(&raw).unwrap();
    let keys: Vec<&String> = v["result"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Now", "Up since", "Up time"]);
    // ctime format: "Thu Nov 28 10:00:00 2024".
    let now = v["result"]["Now"].as_str().unwrap();
    assert_eq!(now.len(), 24, "{now}");
    assert_eq!(&now[19..20], " ");
}

#[test]
fn which_lists_core_commands_in_opensips_order_then_file_commands() {
    let env = TestEnv::new();
    let _s = env.serve(&["--commands", &dialog_fixture()]);
    let names: Vec<String> = serde_json::from_value(result(&env, "which", None)).unwrap();
    assert_eq!(names[..13], CORE);
    assert_eq!(names[13..], ["dlg_list", "dlg_end_dlg", "profile_get_size"]);
    assert_eq!(
        call_raw(&env, "which", Some(r#"{"command":"log_level"}"#)),
        r#"{"jsonrpc":"2.0","result":[[],["level"],["level","pid"]],"id":1}"#
    );
    assert_eq!(
        call_raw(&env, "which", Some(r#"["nosuch"]"#)),
        r#"{"jsonrpc":"2.0","error":{"code":404,"message":"unknown MI command"},"id":1}"#
    );
}

#[test]
fn help_version_pwd_arg_ps() {
    let env = TestEnv::new();
    let s = env.serve(&["--commands", &dialog_fixture()]);
    assert_eq!(
        call_raw(&env, "help", None),
        r#"{"jsonrpc":"2.0","result":"Usage: help mi_cmd - returns information about 'mi_cmd'","id":1}"#
    );
    assert_eq!(
        call_raw(&env, "help", Some(r#"{"mi_cmd":"uptime"}"#)),
        r#"{"jsonrpc":"2.0","result":{"Help":"prints various time information about OpenSIPS - when it started to run, for how long it runs","Exported by":"core"},"id":1}"#
    );
    assert_eq!(
        result(&env, "help", Some(r#"["dlg_list"]"#))["Exported by"],
        "dialog"
    );
    assert_eq!(
        call_raw(&env, "help", Some(r#"["nosuch"]"#)),
        r#"{"jsonrpc":"2.0","error":{"code":404,"message":"unknown MI command"},"id":1}"#
    );
    let v = result(&env, "version", None);
    assert!(
        v["Server"].as_str().unwrap().starts_with("OpenSIPS ("),
        "{v}"
    );
    assert_eq!(v.as_object().unwrap().len(), 1);
    let v = result(&env, "version", Some(r#"["1"]"#));
    assert_eq!(v["mififo"], env!("CARGO_PKG_VERSION"));
    let wd = std::env::current_dir().unwrap();
    assert_eq!(
        call_raw(&env, "pwd", None),
        format!(
            r#"{{"jsonrpc":"2.0","result":{{"WD":"{}"}},"id":1}}"#,
            wd.display()
        )
    );
    let args: Vec<String> = serde_json::from_value(result(&env, "arg", None)).unwrap();
    assert_eq!(args[1], "serve");
    assert!(args.contains(&env.fifo().display().to_string()), "{args:?}");
    assert_eq!(
        call_raw(&env, "ps", None),
        format!(
            r#"{{"jsonrpc":"2.0","result":{{"Processes":[{{"ID":0,"PID":{},"Type":"MI FIFO"}}]}},"id":1}}"#,
            s.pid()
        )
    );
}

#[test]
fn log_level_get_set_and_bad_pid() {
    let env = TestEnv::new();
    let s = env.serve(&[]);
    let pid = s.pid();
    assert_eq!(
        call_raw(&env, "log_level", None),
        format!(
            r#"{{"jsonrpc":"2.0","result":{{"Processes":[{{"PID":{pid},"Log level":3,"Type":"MI FIFO"}}]}},"id":1}}"#
        )
    );
    assert_eq!(
        call_raw(&env, "log_level", Some(r#"{"level":4}"#)),
        r#"{"jsonrpc":"2.0","result":{"New global log level":4},"id":1}"#
    );
    assert_eq!(
        call_raw(&env, "log_level", Some(&format!(r#"["-1","{pid}"]"#))),
        r#"{"jsonrpc":"2.0","result":{"Log level":-1},"id":1}"#
    );
    assert_eq!(
        result(&env, "log_level", None)["Processes"][0]["Log level"],
        -1
    );
    assert_eq!(
        call_raw(&env, "log_level", Some(r#"{"level":1,"pid":1}"#)),
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Bad PID"},"id":1}"#
    );
    assert_eq!(
        call_raw(&env, "log_level", Some(r#"{"level":"x"}"#)),
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Bad type for parameter 'level'"},"id":1}"#
    );
}

#[test]
fn statistics_commands_with_a_real_store() {
    let env = TestEnv::new();
    let _s = env.serve(&["--commands", &dialog_fixture()]);
    assert_eq!(
        call_raw(&env, "get_statistics", Some(r#"[["dialog:"]]"#)),
        r#"{"jsonrpc":"2.0","result":{"dialog:active_dialogs":1,"dialog:early_dialogs":0,"dialog:processed_dialogs":2,"dialog:expired_dialogs":0,"dialog:failed_dialogs":0,"dialog:create_sent":0,"dialog:update_sent":0,"dialog:delete_sent":0,"dialog:create_recv":0,"dialog:update_recv":0,"dialog:delete_recv":0},"id":1}"#
    );
    assert_eq!(
        call_raw(
            &env,
            "get_statistics",
            Some(r#"{"statistics":["rcv_requests","shmem:fragments"]}"#)
        ),
        r#"{"jsonrpc":"2.0","result":{"core:rcv_requests":12,"shmem:fragments":37},"id":1}"#
    );
    let all = result(&env, "get_statistics", Some(r#"[["all"]]"#));
    assert!(all.as_object().unwrap().len() > 30, "{all}");
    assert_eq!(
        call_raw(&env, "get_statistics", Some(r#"[["nosuch:"]]"#)),
        r#"{"jsonrpc":"2.0","error":{"code":404,"message":"Statistics Not Found"},"id":1}"#
    );
    assert_eq!(
        call_raw(&env, "get_statistics", Some(r#"["all"]"#)),
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Bad type for parameter 'statistics'"},"id":1}"#
    );
    assert_eq!(
        call_raw(&env, "get_statistics", None),
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Too few or too many parameters"},"id":1}"#
    );
    assert_eq!(
        call_raw(
            &env,
            "list_statistics",
            Some(r#"[["core:timestamp","rcv_replies"]]"#)
        ),
        r#"{"jsonrpc":"2.0","result":{"core:timestamp":"non-incremental","core:rcv_replies":"incremental"},"id":1}"#
    );
    assert_eq!(
        call_raw(
            &env,
            "reset_statistics",
            Some(r#"{"statistics":["rcv_requests","active_dialogs"]}"#)
        ),
        r#"{"jsonrpc":"2.0","result":"OK","id":1}"#
    );
    assert_eq!(stat(&env, "core:rcv_requests"), 0);
    assert_eq!(
        stat(&env, "dialog:active_dialogs"),
        1,
        "gauges are not reset"
    );
    assert_eq!(
        call_raw(&env, "reset_statistics", Some(r#"[["nosuch"]]"#)),
        r#"{"jsonrpc":"2.0","error":{"code":404,"message":"Statistics Not Found"},"id":1}"#
    );
    assert_serving(&env);
    assert_eq!(stat(&env, "dialog:processed_dialogs"), 0);
}

#[test]
fn the_server_counts_its_own_requests_and_errors() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let before = stat(&env, "mififo:requests");
    let errors = stat(&env, "mififo:errors");
    call_raw(&env, "nosuch", None);
    call_raw(&env, "uptime", None);
    // The errors read, the two calls and the get_statistics that reads the counter.
    assert_eq!(stat(&env, "mififo:requests"), before + 4);
    assert_eq!(stat(&env, "mififo:errors"), errors + 1);
}

#[test]
fn every_error_code() {
    let env = TestEnv::new();
    let cmds = commands_file(
        &env,
        r#"{"commands":{
            "amb":{"recipes":[["a"],["b"]],"result":"OK"},
            "boom":{"error":{"code":-32000,"message":"Server error","data":"Command handler returned null"}}
        }}"#,
    );
    let _s = env.serve(&["--commands", &cmds]);
    let cases: &[(&[u8], &str)] = &[
        // -32700: unparseable JSON with a known reply name (OpenSIPS drops it).
        (
            br#":r:{not json}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#,
        ),
        (
            b":r:{\"a\":\"\xff\"}",
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#,
        ),
        // Truncated: answered once no more bytes come for a while.
        (
            br#":r:{"jsonrpc":"2.0","method":"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#,
        ),
        // -32600 with the request's id; without id → id null; batch → id null.
        (
            br#":r:{"method":"uptime","id":"1"}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":"1"}"#,
        ),
        (
            br#":r:{"method":"uptime"}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#,
        ),
        (
            br#":r:[{"jsonrpc":"2.0","method":"uptime","id":1}]"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#,
        ),
        (
            br#":r:42"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#,
        ),
        (
            br#":r:{"jsonrpc":"2.0","method":5,"id":2}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":2}"#,
        ),
        (
            br#":r:{"jsonrpc":"2.0","method":"uptime","params":"x","id":2}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":2}"#,
        ),
        (
            br#":r:{"jsonrpc":"2.0","method":"uptime","id":{"a":1}}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#,
        ),
        // -32601.
        (
            br#":r:{"jsonrpc":"2.0","method":"nosuch","id":6}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":6}"#,
        ),
        (
            br#":r:{"jsonrpc":"2.0","method":"Uptime","id":6}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":6}"#,
        ),
        // -32602 variants.
        (
            br#":r:{"jsonrpc":"2.0","method":"uptime","params":[1],"id":3}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Too few or too many parameters"},"id":3}"#,
        ),
        (
            br#":r:{"jsonrpc":"2.0","method":"log_level","params":{"lvl":1},"id":3}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Named parameters do not match"},"id":3}"#,
        ),
        (
            br#":r:{"jsonrpc":"2.0","method":"amb","params":[1],"id":3}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Ambiguous call, use named parameters instead"},"id":3}"#,
        ),
        (
            br#":r:{"jsonrpc":"2.0","method":"get_statistics","params":[["a",1]],"id":3}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Bad type for array item in parameter 'statistics'"},"id":3}"#,
        ),
        (
            br#":r:{"jsonrpc":"2.0","method":"get_statistics","params":[[]],"id":3}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Empty array in parameter 'statistics'"},"id":3}"#,
        ),
        // -32000 (canned: no built-in handler of ours fails).
        (
            br#":r:{"jsonrpc":"2.0","method":"boom","id":4}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Server error","data":"Command handler returned null"},"id":4}"#,
        ),
    ];
    for (req, want) in cases {
        let got = exchange(&env, "r", req);
        assert_eq!(
            got.as_deref(),
            Some(*want),
            "request {}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn named_only_commands_refuse_positional_params() {
    let env = TestEnv::new();
    let _s = env.serve(&["--commands", &dialog_fixture()]);
    assert_eq!(
        exchange(
            &env,
            "r",
            br#":r:{"jsonrpc":"2.0","method":"dlg_list","params":[0,10],"id":7}"#
        )
        .unwrap(),
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Command only supports named parameters"},"id":7}"#
    );
    assert_eq!(
        result(&env, "dlg_list", Some(r#"{"index":"0","counter":10}"#))["count"],
        1
    );
    assert_eq!(
        result(&env, "dlg_list", None)["Dialogs"][0]["CALLEES"][0]["callee_tag"],
        "t2"
    );
    assert_eq!(
        call_raw(&env, "dlg_list", Some(r#"{"callid":"nosuch"}"#)),
        r#"{"jsonrpc":"2.0","error":{"code":404,"message":"No such dialog"},"id":1}"#
    );
}

#[test]
fn ids_are_echoed_and_notifications_get_no_body() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    for (id, shown) in [
        (r#""abc""#, r#""abc""#),
        ("7", "7"),
        ("null", "null"),
        ("-3", "-3"),
        // Issue 10, finding 9: exact, whatever the size (were rounded
        // through a double).
        (
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        ),
        ("-9223372036854775809", "-9223372036854775809"),
        ("18446744073709551615", "18446744073709551615"),
        ("2.50", "2.50"),
    ] {
        let req = format!(r#":r:{{"jsonrpc":"2.0","method":"reset_all_statistics","id":{id}}}"#);
        assert_eq!(
            exchange(&env, "r", req.as_bytes()).unwrap(),
            format!(r#"{{"jsonrpc":"2.0","result":"OK","id":{shown}}}"#)
        );
    }
    // Also in an error reply, and pretty-printed.
    assert_eq!(
        exchange(
            &env,
            "r",
            br#":r:{"jsonrpc":"2.0","method":"nosuch","id":123456789012345678901234567890}"#
        )
        .unwrap(),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":123456789012345678901234567890}"#
    );
    // Notification: the reply FIFO is opened and closed with nothing in it,
    // also for an unknown method; the command still runs.
    let before = stat(&env, "mififo:requests");
    assert_eq!(
        exchange(&env, "n", br#":n:{"jsonrpc":"2.0","method":"nosuch"}"#).unwrap(),
        ""
    );
    assert_eq!(
        exchange(
            &env,
            "n",
            br#":n:{"jsonrpc":"2.0","method":"log_level","params":{"level":1}}"#
        )
        .unwrap(),
        ""
    );
    assert_eq!(
        result(&env, "log_level", None)["Processes"][0]["Log level"],
        1
    );
    assert_eq!(stat(&env, "mififo:requests"), before + 4);
}

#[test]
fn empty_reply_name_runs_the_command_and_writes_nothing() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let reply = env.path("r");
    // Nothing must be written anywhere: send `::{…}`, then a normal request.
    crate::util::raw_exchange(
        &env.fifo(),
        env.dir.path(),
        "unused",
        br#"::{"jsonrpc":"2.0","method":"log_level","params":[2],"id":1}"#,
        Duration::from_millis(600),
    );
    assert!(!reply.exists());
    assert_eq!(
        result(&env, "log_level", None)["Processes"][0]["Log level"],
        2
    );
}

#[test]
fn pretty_replies_are_tab_indented_like_cjson() {
    let env = TestEnv::new();
    let _s = env.serve(&["--pretty"]);
    let raw = call_raw(&env, "which", Some(r#"{"command":"log_level"}"#));
    assert_eq!(
        raw,
        "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t[[], [\"level\"], [\"level\", \"pid\"]],\n\t\"id\":\t1\n}"
    );
    let raw = call_raw(&env, "nosuch", None);
    assert_eq!(
        raw,
        "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"error\":\t{\n\t\t\"code\":\t-32601,\n\t\t\"message\":\t\"Method not found\"\n\t},\n\t\"id\":\t1\n}"
    );
}

#[test]
fn commands_file_methods_and_number_formatting() {
    let env = TestEnv::new();
    let cmds = commands_file(
        &env,
        r#"{"statistics":{"m:gauge":{"value":2.5,"incremental":false}},
            "commands":{"nums":{"result":{"i":1,"f":2.5,"big":4294967296,"tiny":0.0000001,"s":"a\"b\\c\n\t\u0001","n":null,"e":{},"a":[]}},
                        "uptime":{"result":"overridden"}}}"#,
    );
    let _s = env.serve(&["--commands", &cmds]);
    assert_eq!(
        call_raw(&env, "nums", None),
        r#"{"jsonrpc":"2.0","result":{"i":1,"f":2.500000,"big":4294967296,"tiny":1.000000e-07,"s":"a\"b\\c\n\t\u0001","n":null,"e":{},"a":[]},"id":1}"#
    );
    assert_eq!(result(&env, "uptime", None), json!("overridden"));
    assert_eq!(
        call_raw(&env, "get_statistics", Some(r#"[["m:"]]"#)),
        r#"{"jsonrpc":"2.0","result":{"m:gauge":2.500000},"id":1}"#
    );
}

#[test]
fn a_bad_commands_file_is_a_clear_startup_error() {
    let env = TestEnv::new();
    let cmds = commands_file(&env, r#"{"commands":{"x":{"reslt":1}}}"#);
    let out = env
        .cmd()
        .arg("serve")
        .args(crate::util::serve_user_args())
        .arg("--fifo")
        .arg(env.fifo())
        .args(["--commands", &cmds])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid commands file") && err.contains("reslt"),
        "{err}"
    );
    assert!(!env.fifo().exists());
}
