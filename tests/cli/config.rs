//! Where the FIFO and the reply directory come from: flag > environment >
//! opensips-cli config file > default (docs/config.md), end to end through
//! `mififo call`. `TestEnv::cmd` points `HOME` at the temp dir, so
//! `~/.opensips-cli.cfg` is the file written here; each source names a
//! different path, and the error (or success) tells which one won.
//!
//! Depends on the `call` branch (its flags, `src/config.rs`) and, for the
//! reply-dir tests, on `serve`.

use crate::util::TestEnv;
use std::process::Output;

/// Writes `~/.opensips-cli.cfg` (opensips-cli's INI format, `[default]` section).
fn write_config(env: &TestEnv, lines: &[(&str, &str)]) {
    let mut text = String::from("# written by mififo's tests\n[default]\nlog_level = WARNING\n");
    for (k, v) in lines {
        text.push_str(&format!("{k} = {v}\n"));
    }
    std::fs::write(env.path(".opensips-cli.cfg"), text).unwrap();
}

fn call(env: &TestEnv, vars: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = env.cmd();
    cmd.arg("call").args(args).arg("uptime");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run mififo call")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The call failed (`why` otherwise) and its error names the missing reply
/// directory `wanted`.
fn assert_missing_reply_dir(out: &Output, wanted: &str, why: &str) {
    assert!(!out.status.success(), "{why}");
    let err = stderr(out);
    assert!(err.contains(wanted), "{err}");
}

/// The call failed with "no server" (exit 3) naming `wanted` and none of `not`.
fn assert_missing_fifo(out: &Output, wanted: &str, not: &[&str]) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "expected exit 3 (no server): {err}"
    );
    assert!(
        err.contains(wanted),
        "error does not name '{wanted}': {err}"
    );
    for other in not {
        assert!(
            !err.contains(other),
            "error names '{other}', which should have lost: {err}"
        );
    }
}

#[test]
fn config_file_names_the_fifo() {
    let env = TestEnv::new();
    let from_config = env.path("fifo-from-config");
    write_config(&env, &[("fifo_file", from_config.to_str().unwrap())]);
    let out = call(&env, &[], &[]);
    assert_missing_fifo(&out, "fifo-from-config", &[]);
}

#[test]
fn environment_beats_config_file() {
    let env = TestEnv::new();
    write_config(
        &env,
        &[("fifo_file", env.path("fifo-from-config").to_str().unwrap())],
    );
    let from_env = env.path("fifo-from-env").to_str().unwrap().to_owned();
    let out = call(&env, &[("OPENSIPS_MI_FIFO_FILE", from_env)], &[]);
    assert_missing_fifo(&out, "fifo-from-env", &["fifo-from-config"]);
}

#[test]
fn flag_beats_environment_and_config_file() {
    let env = TestEnv::new();
    write_config(
        &env,
        &[("fifo_file", env.path("fifo-from-config").to_str().unwrap())],
    );
    let from_env = env.path("fifo-from-env").to_str().unwrap().to_owned();
    let flag = env.path("fifo-from-flag");
    let out = call(
        &env,
        &[("OPENSIPS_MI_FIFO_FILE", from_env)],
        &["--fifo", flag.to_str().unwrap()],
    );
    assert_missing_fifo(
        &out,
        "fifo-from-flag",
        &["fifo-from-env", "fifo-from-config"],
    );
}

#[test]
fn without_any_source_the_default_locations_are_used() {
    let env = TestEnv::new();
    let out = call(&env, &[], &[]);
    let err = stderr(&out);
    if out.status.success() {
        // Something on this machine serves a default FIFO; the default won.
        return;
    }
    assert!(
        err.contains("opensips_fifo"),
        "no default FIFO path named: {err}"
    );
    assert!(!err.contains(env.dir.path().to_str().unwrap()), "{err}");
}

#[test]
fn config_file_names_the_reply_dir() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let fifo = env.fifo();
    write_config(
        &env,
        &[(
            "fifo_reply_dir",
            env.path("replies-from-config/").to_str().unwrap(),
        )],
    );
    let out = call(&env, &[], &["--fifo", fifo.to_str().unwrap()]);
    assert_missing_reply_dir(
        &out,
        "replies-from-config",
        "a missing reply dir from the config was not used",
    );
}

#[test]
fn environment_beats_config_file_for_the_reply_dir() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let fifo = env.fifo();
    // The config names the right directory, the environment a missing one:
    // only if the environment wins does the call fail, naming it.
    write_config(&env, &[("fifo_reply_dir", &env.reply_dir())]);
    let from_env = env.path("replies-from-env/").to_str().unwrap().to_owned();
    let out = call(
        &env,
        &[("OPENSIPS_MI_FIFO_REPLY_DIR", from_env)],
        &["--fifo", fifo.to_str().unwrap()],
    );
    assert_missing_reply_dir(
        &out,
        "replies-from-env",
        "the config file beat the environment",
    );
}

#[test]
fn flag_beats_environment_and_config_file_for_the_reply_dir() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let fifo = env.fifo();
    // Config and environment name missing directories; the flag the real one.
    write_config(
        &env,
        &[(
            "fifo_reply_dir",
            env.path("replies-from-config/").to_str().unwrap(),
        )],
    );
    let from_env = env.path("replies-from-env/").to_str().unwrap().to_owned();
    let out = call(
        &env,
        &[("OPENSIPS_MI_FIFO_REPLY_DIR", from_env)],
        &[
            "--fifo",
            fifo.to_str().unwrap(),
            "--reply-dir",
            &env.reply_dir(),
        ],
    );
    assert!(
        out.status.success(),
        "the flag did not win for the reply dir ({}): {}",
        out.status,
        stderr(&out)
    );
}

#[test]
fn config_file_and_environment_together_reach_a_live_server() {
    // The everyday setup: the FIFO from the environment, the reply dir from
    // the config file, no flags at all.
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    write_config(&env, &[("fifo_reply_dir", &env.reply_dir())]);
    let fifo = env.fifo().to_str().unwrap().to_owned();
    let out = call(&env, &[("OPENSIPS_MI_FIFO_FILE", fifo)], &[]);
    assert!(out.status.success(), "({}) {}", out.status, stderr(&out));
}

/// Issue 16 item 7: `bench` takes `--config`/`--instance` and resolves like
/// the others (README: "call, shell, top, doctor, gateway and bench resolve
/// them the same way").
#[test]
fn bench_resolves_like_the_others() {
    let env = TestEnv::new();
    let _server = env.serve(&[]);
    let cfg = env.path("bench.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[default]\nfifo_file = {}\nfifo_reply_dir = {}\n",
            env.fifo().display(),
            env.reply_dir()
        ),
    )
    .unwrap();
    crate::util::output_ok(env.cmd().arg("bench").arg("--config").arg(&cfg).args([
        "--requests",
        "3",
        "uptime",
    ]));
    // The file really is what names the FIFO: one that names nothing fails.
    std::fs::write(&cfg, "[default]\nfifo_file = /nonexistent-mififo/fifo\n").unwrap();
    let out = env
        .cmd()
        .arg("bench")
        .arg("--config")
        .arg(&cfg)
        .args(["--requests", "1", "uptime"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
}
