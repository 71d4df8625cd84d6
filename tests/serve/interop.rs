//! The real PyPI clients against `mififo serve`: python-opensips's
//! `opensips-mi` and opensipscli's `opensips-cli -x mi`. CI puts them on PATH
//! (`.ci/venv/bin`); locally they are skipped unless installed.

use super::*;
use crate::util::{have_tool, require};
use std::process::{Command, Output};

fn opensips_mi(env: &TestEnv, args: &[&str]) -> Output {
    Command::new("opensips-mi")
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .arg("-f")
        .arg(env.fifo())
        .arg("-fd")
        .arg(env.reply_dir())
        .args(args)
        .output()
        .unwrap()
}

fn opensips_cli(env: &TestEnv, args: &[&str]) -> Output {
    let cfg = env.path("opensips-cli.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[default]\ncommunication_type: fifo\nfifo_file: {}\nfifo_reply_dir: {}\nlog_level: WARNING\n",
            env.fifo().display(),
            env.dir.path().display()
        ),
    )
    .unwrap();
    Command::new("opensips-cli")
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .arg("-f")
        .arg(&cfg)
        .args(["-x", "mi"])
        .args(args)
        .output()
        .unwrap()
}

fn json_out(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn opensips_mi_python_client() {
    if !require("opensips-mi (PyPI opensips)", have_tool("opensips-mi")) {
        return;
    }
    let env = TestEnv::new();
    let _s = env.serve(&["--commands", &dialog_fixture()]);
    let up = json_out(&opensips_mi(&env, &["uptime"]));
    assert!(up["Up time"].as_str().unwrap().ends_with(" [sec]"), "{up}");
    let which = json_out(&opensips_mi(&env, &["which"]));
    assert_eq!(which[0], "get_statistics");
    assert!(which.as_array().unwrap().iter().any(|c| c == "dlg_list"));
    let st = json_out(&opensips_mi(&env, &["-s", "dialog:", "processed_dialogs"]));
    assert_eq!(st["dialog:active_dialogs"], 1);
    assert_eq!(st["dialog:processed_dialogs"], 2);
    let bad = opensips_mi(&env, &["nosuch"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("-32601: Method not found"),
        "{bad:?}"
    );
    let dlg = json_out(&opensips_mi(
        &env,
        &["dlg_list", "-j", r#"{"callid":"abc@host"}"#],
    ));
    assert_eq!(dlg["Dialog"]["to_uri"], "sip:b@y");
    let e = opensips_mi(&env, &["dlg_list", "-j", r#"{"callid":"nosuch"}"#]);
    assert!(
        String::from_utf8_lossy(&e.stdout).contains("404: No such dialog"),
        "{e:?}"
    );
    // Every call left no reply FIFO behind.
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("opensips_fifo_reply")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn opensips_cli_x_mi() {
    if !require("opensips-cli (PyPI opensipscli)", have_tool("opensips-cli")) {
        return;
    }
    let env = TestEnv::new();
    let _s = env.serve(&["--commands", &dialog_fixture()]);
    let up = json_out(&opensips_cli(&env, &["uptime"]));
    assert!(up["Up since"].is_string(), "{up}");
    let which = json_out(&opensips_cli(&env, &["which"]));
    assert!(which
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "profile_get_size"));
    let st = json_out(&opensips_cli(
        &env,
        &["get_statistics", "shmem:", "core:rcv_requests"],
    ));
    assert_eq!(st["shmem:fragments"], 37);
    assert_eq!(st["core:rcv_requests"], 12);
    // opensips-cli checks the name against `which` first, then reports it.
    let bad = opensips_cli(&env, &["nosuch"]);
    assert!(!bad.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(text.contains("nosuch"), "{text}");
    let dlg = json_out(&opensips_cli(&env, &["dlg_list", "callid=abc@host"]));
    assert_eq!(dlg["Dialog"]["callid"], "abc@host");
    let e = opensips_cli(&env, &["dlg_end_dlg", "dialog_id=nosuch"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&e.stdout),
        String::from_utf8_lossy(&e.stderr)
    );
    assert!(text.contains("No such dialog"), "{text}");
}
