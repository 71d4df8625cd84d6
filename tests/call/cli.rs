//! The `mififo call` binary: exit codes, parameters, output, config, signals.

use super::fake::{
    self, count_entries, echo, entries_with_prefix, fake, wait_for_reply_fifo, Act, Fake,
};
use crate::util::TestEnv;
use mififo::proto::Dialect;
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `mififo call --fifo <env fifo> --reply-dir <env dir> ARGS…`
fn call(env: &TestEnv) -> Command {
    env.cmd_at("call", &env.fifo())
}

fn run(mut c: Command, args: &[&str]) -> Output {
    c.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mififo call")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn last_params(srv: &Fake) -> Value {
    srv.requests
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .json
        .as_ref()
        .unwrap()
        .get("params")
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn exit_0_prints_the_result_pretty_without_colour_off_a_terminal() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        Act::Reply(fake::result_for(
            r,
            json!({"Up time": "3600 [sec]", "n": 1}),
        ))
    });
    let o = run(call(&env), &["uptime"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\n  \"Up time\": \"3600 [sec]\",\n  \"n\": 1\n}\n"
    );
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let o = run(call(&env), &["uptime", "--color", "always"]);
    assert!(stdout(&o).contains("\x1b["), "colour forced");
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}

#[test]
fn exit_1_for_rpc_error_plain_text_and_text_status() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        match r.json.as_ref().unwrap()["method"].as_str().unwrap() {
            "engine" => Act::Reply(b"failed to print response".to_vec()),
            _ => Act::Reply(fake::error_for(r, -32601, "Method not found")),
        }
    });
    let o = run(call(&env), &["nope"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("'nope' failed: -32601: Method not found"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
    let o = run(call(&env), &["engine"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("plain text") && stderr(&o).contains("failed to print response"),
        "{}",
        stderr(&o)
    );
    // --json still prints the error response (scripts want it), exit stays 1.
    let o = run(call(&env), &["nope", "--json"]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["code"], -32601);
}

#[test]
fn exit_2_for_usage_and_local_errors() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, echo);
    for args in [
        &["x", "a=1", "positional"][..],
        &["x", "--timeout", "5parsecs"],
        &["x", "--dialect", "text", "--json"],
        &["x", "n:={bad"],
        &["x", "--params", "5"],
    ] {
        let o = run(call(&env), args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("mififo") || stderr(&o).contains("error"),
            "{}",
            stderr(&o)
        );
    }
    let big = format!("v={}", "x".repeat(5000));
    let o = run(call(&env), &["x", &big]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("PIPE_BUF") && stderr(&o).contains("--allow-large"),
        "{}",
        stderr(&o)
    );
    assert_eq!(srv.count(), 0, "nothing was sent for a local error");
    // --url with --fifo: one of them would be ignored, so both are refused.
    let o = run(call(&env), &["x", "--url", "http://127.0.0.1:9/mi"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("'--fifo <PATH>' cannot be used with '--url <URL>'"),
        "{}",
        stderr(&o)
    );
    let o = run(call(&env), &["x", &big, "--allow-large"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // A reply dir that does not exist is a local error too.
    let mut c = env.cmd();
    c.args(["call", "--fifo"])
        .arg(env.fifo())
        .args(["--reply-dir", "/nonexistent-mififo-dir/"]);
    let o = run(c, &["x"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent-mififo-dir/"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn exit_3_for_missing_fifo_and_no_reader() {
    let env = TestEnv::new();
    let before = count_entries(env.dir.path());
    let o = run(call(&env), &["uptime"]);
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("does not exist")
            && stderr(&o).contains(&env.fifo().display().to_string()),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("the one you gave with --fifo"),
        "says where the path came from: {}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("set --fifo"),
        "no --fifo offered right after --fifo was given: {}",
        stderr(&o)
    );
    nix::unistd::mkfifo(&env.fifo(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let t0 = Instant::now();
    let o = run(call(&env), &["uptime", "--timeout", "1m"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("nothing reads it"), "{}", stderr(&o));
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "reported at once, not after the timeout"
    );
    assert_eq!(
        count_entries(env.dir.path()),
        before + 1,
        "only the stale FIFO itself"
    );
}

#[test]
fn exit_5_for_a_silent_server_and_nothing_left_behind() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |_| Act::Silent);
    let before = count_entries(env.dir.path());
    let o = run(call(&env), &["uptime", "--timeout", "300ms"]);
    assert_eq!(code(&o), 5);
    let e = stderr(&o);
    assert!(
        e.contains("timed out after 300ms") && e.contains("reply directory"),
        "{e}"
    );
    assert!(e.contains("the one you gave with --reply-dir"), "{e}");
    assert!(
        !e.contains("pass --reply-dir"),
        "no --reply-dir offered after it was given: {e}"
    );
    assert_eq!(count_entries(env.dir.path()), before);
}

#[test]
fn parameters_reach_the_server_as_typed() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, echo);
    let ok = |args: &[&str]| {
        let o = run(call(&env), args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    };
    ok(&["get_statistics", "dialog:", "tm:"]);
    assert_eq!(last_params(&srv), json!([["dialog:", "tm:"]]));
    ok(&["statistics:get", "statistics=dialog: tm:"]);
    assert_eq!(last_params(&srv), json!({"statistics": ["dialog:", "tm:"]}));
    ok(&["log_level", "level:=-1", "pid=123"]);
    assert_eq!(last_params(&srv), json!({"level": -1, "pid": "123"}));
    ok(&["ul_show_contact", "location", "sip:alice@example.com", "-1"]);
    assert_eq!(
        last_params(&srv),
        json!(["location", "sip:alice@example.com", "-1"])
    );
    ok(&["x", "--params", r#"{"a":[1,{"b":null}]}"#]);
    assert_eq!(last_params(&srv), json!({"a": [1, {"b": null}]}));
    ok(&["uptime"]);
    assert_eq!(last_params(&srv), Value::Null, "no params member at all");
}

#[test]
fn raw_and_json_output() {
    let env = TestEnv::new();
    let pretty = "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{\n\t\t\"a\":\t1\n\t},\n\t\"id\":\t";
    let _srv = fake(&env, Dialect::Json, move |r| {
        Act::Reply(format!("{pretty}{}\n}}", r.id().unwrap()).into_bytes())
    });
    let o = run(call(&env), &["x", "--raw"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).starts_with(pretty),
        "bytes untouched: {:?}",
        stdout(&o)
    );
    let o = run(call(&env), &["x", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["result"], json!({"a": 1}));
    assert!(v["id"].is_number());
}

#[test]
fn notification_and_unexpected_empty_reply() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, |_| Act::Reply(Vec::new()));
    let o = run(call(&env), &["log_level", "--notification"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert!(
        srv.requests.lock().unwrap()[0].id().is_none(),
        "sent without id"
    );
    let o = run(call(&env), &["log_level"]);
    assert_eq!(
        code(&o),
        1,
        "an empty reply to a request with an id is a server fault"
    );
    assert!(stderr(&o).contains("without writing"), "{}", stderr(&o));
}

#[test]
fn text_dialect_prints_the_body_and_fails_on_error_status() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Text, |r| {
        let (cmd, args) = r.text.clone().unwrap();
        match cmd.as_str() {
            "uptime" => Act::Reply(
                b"200 OK\nNow:: Thu Nov 28 10:00:00 2024\nUp time:: 3600 [sec]\n\n".to_vec(),
            ),
            "get_statistics" => Act::Reply(format!("200 OK\n{}\n\n", args.join("\n")).into_bytes()),
            _ => Act::Reply(format!("500 command '{cmd}' not available\n").into_bytes()),
        }
    });
    let o = run(call(&env), &["--dialect", "text", "uptime"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "Now:: Thu Nov 28 10:00:00 2024\nUp time:: 3600 [sec]\n"
    );
    let o = run(
        call(&env),
        &["--dialect", "text", "get_statistics", "dialog:", "tm:"],
    );
    assert_eq!(stdout(&o), "dialog:\ntm:\n");
    let o = run(call(&env), &["--dialect", "text", "nope"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("500 command 'nope' not available"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn kamailio_dialect_through_the_binary() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Kamailio, |r| {
        let v = json!({"jsonrpc": "2.0", "result": {"uptime": 5}, "id": r.id()});
        Act::Reply(serde_json::to_string_pretty(&v).unwrap().into_bytes())
    });
    let o = run(call(&env), &["--dialect", "kamailio", "core.uptime"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o)).unwrap(),
        json!({"uptime": 5})
    );
    let req = srv.requests.lock().unwrap()[0].clone();
    assert!(req.raw.starts_with(b"{"), "bare JSON, no :name: framing");
}

#[test]
fn environment_and_opensips_cli_config_are_honoured_and_flags_win() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, echo);
    // Environment only (no flags).
    let o = run(
        {
            let mut c = env.cmd();
            c.arg("call")
                .env("OPENSIPS_MI_FIFO_FILE", env.fifo())
                .env("OPENSIPS_MI_FIFO_REPLY_DIR", env.reply_dir());
            c
        },
        &["uptime"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Config file in $HOME (TestEnv's HOME is its temp dir).
    std::fs::write(
        env.path(".opensips-cli.cfg"),
        format!(
            "[default]\nfifo_file = {}\nfifo_reply_dir = {}\n",
            env.fifo().display(),
            env.reply_dir()
        ),
    )
    .unwrap();
    let o = run(
        {
            let mut c = env.cmd();
            c.arg("call");
            c
        },
        &["uptime"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The environment beats the config file: a bogus env FIFO is what gets used.
    let o = run(
        {
            let mut c = env.cmd();
            c.arg("call")
                .env("OPENSIPS_MI_FIFO_FILE", env.path("bogus"));
            c
        },
        &["uptime"],
    );
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("bogus") && stderr(&o).contains("OPENSIPS_MI_FIFO_FILE"),
        "{}",
        stderr(&o)
    );
    // The flag beats the environment.
    let o = run(
        {
            let mut c = env.cmd();
            c.arg("call")
                .arg("--fifo")
                .arg(env.fifo())
                .env("OPENSIPS_MI_FIFO_FILE", env.path("bogus"));
            c
        },
        &["uptime"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Any catchable signal that would end the process, while waiting: the reply
/// FIFO is removed, exit 128+N (issue 11, finding 6: SIGUSR1 left it behind).
/// SIGPIPE ends nothing (the Rust runtime ignores it): the call goes on and
/// cleans up as usual.
#[test]
fn signals_remove_the_reply_fifo() {
    use nix::sys::signal::{kill, Signal};
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |_| Act::Silent);
    let before = count_entries(env.dir.path());
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGALRM,
        Signal::SIGXCPU,
        Signal::SIGPROF,
    ] {
        let expect = 128 + sig as i32;
        let child = call(&env)
            .args(["uptime", "--timeout", "1m"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_reply_fifo(env.dir.path());
        kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(expect),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            count_entries(env.dir.path()),
            before,
            "{sig}: reply FIFO left behind"
        );
    }
    let child = call(&env)
        .args(["uptime", "--timeout", "1500ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_reply_fifo(env.dir.path());
    kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGPIPE,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "SIGPIPE is ignored: {out:?}");
    assert_eq!(count_entries(env.dir.path()), before);
}

#[test]
fn fallback_fifo_and_explicit_config_instance() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, echo);
    // python-opensips: a missing OPENSIPS_MI_FIFO_FILE falls back to OPENSIPS_MI_FIFO_FALLBACK.
    let mut c = env.cmd();
    c.arg("call")
        .args(["--reply-dir", &env.reply_dir()])
        .env("OPENSIPS_MI_FIFO_FILE", env.path("missing"))
        .env("OPENSIPS_MI_FIFO_FALLBACK", env.fifo());
    let o = run(c, &["uptime"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // --config + --instance pick a section; [default] supplies the reply dir.
    let cfg = env.path("cli.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[default]\nfifo_reply_dir = {}\nfifo_file = {}\n\n[lab]\nfifo_file = {}\n",
            env.reply_dir(),
            env.path("wrong").display(),
            env.fifo().display()
        ),
    )
    .unwrap();
    let mut c = env.cmd();
    c.arg("call")
        .arg("--config")
        .arg(&cfg)
        .args(["--instance", "lab"]);
    let o = run(c, &["uptime"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut c = env.cmd();
    c.arg("call").arg("--config").arg(&cfg);
    let o = run(c, &["uptime"]);
    assert_eq!(code(&o), 3, "[default] names the wrong FIFO");
    assert!(stderr(&o).contains("cli.cfg (fifo_file)"), "{}", stderr(&o));
}

#[test]
fn reply_fifo_is_exactly_0600_whatever_the_umask() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    let dir = env.dir.path().to_path_buf();
    // The server reports the mode it finds on the reply FIFO when the request arrives.
    let _srv = fake(&env, Dialect::Json, move |r| {
        let mode = std::fs::symlink_metadata(dir.join(&r.reply_name))
            .map(|m| format!("{:o}", m.mode() & 0o7777))
            .unwrap_or_else(|e| e.to_string());
        Act::Reply(fake::result_for(r, json!(mode)))
    });
    // 000/022/077 leave mkfifo(0600) alone; 277/377 strip the owner's write bit.
    for umask in ["000", "022", "077", "277", "377"] {
        let c = call(&env);
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(c.get_program())
            .args(c.get_args());
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        let o = run(sh, &["uptime"]);
        assert_eq!(code(&o), 0, "umask {umask}: {}", stderr(&o));
        assert_eq!(stdout(&o).trim(), "\"600\"", "umask {umask}");
        assert_eq!(
            count_entries(env.dir.path()),
            1,
            "umask {umask}: only the server FIFO is left"
        );
    }
}

/// Issue 13: a JSON-dialect call to a text-dialect server times out; the
/// message then says which dialect the server answered instead.
#[test]
fn a_timeout_against_another_dialect_says_which() {
    let env = TestEnv::new();
    let _srv = env.serve(&["--dialect", "text"]);
    let o = run(call(&env), &["--timeout", "700ms", "uptime"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --dialect text"), "{}", stderr(&o));
    // And the other way round.
    drop(_srv);
    let _srv = env.serve(&[]);
    let o = run(
        call(&env),
        &["--dialect", "text", "--timeout", "700ms", "uptime"],
    );
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --dialect json"), "{}", stderr(&o));
}

/// Issue 16 item 6: the hint names the source the value came from and the
/// remedy that fits it (the environment variable to change, not `--fifo`
/// or `--reply-dir` as if they had not been considered).
#[test]
fn hints_follow_where_the_value_came_from() {
    let env = TestEnv::new();
    let o = env
        .cmd()
        .env("OPENSIPS_MI_FIFO_FILE", env.fifo())
        .env("OPENSIPS_MI_FIFO_REPLY_DIR", env.reply_dir())
        .args(["call", "uptime"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 3);
    let e = stderr(&o);
    assert!(
        e.contains("environment OPENSIPS_MI_FIFO_FILE")
            && e.contains("change OPENSIPS_MI_FIFO_FILE"),
        "{e}"
    );
    let _srv = fake(&env, Dialect::Json, |_| Act::Silent);
    let o = env
        .cmd()
        .env("OPENSIPS_MI_FIFO_FILE", env.fifo())
        .env("OPENSIPS_MI_FIFO_REPLY_DIR", env.reply_dir())
        .args(["call", "uptime", "--timeout", "300ms"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 5);
    let e = stderr(&o);
    assert!(
        e.contains("environment OPENSIPS_MI_FIFO_REPLY_DIR")
            && e.contains("change OPENSIPS_MI_FIFO_REPLY_DIR or pass --reply-dir"),
        "{e}"
    );
}
