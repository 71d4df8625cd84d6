//! Errors as an admin meets them: one line, one `mififo:` prefix, every cause
//! said once, and no panic whatever the input.

use super::mififo;

/// The stderr of `mififo ARGS`, which must exit 2.
fn fails(args: &[&str]) -> String {
    let out = mififo(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "mififo {args:?}: {err}");
    assert!(!err.contains("panicked"), "mififo {args:?} panicked: {err}");
    err
}

/// The lines of `err` that are not log records (the gateway logs JSON lines
/// off a terminal).
fn message_lines(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| !l.starts_with('{') && !l.trim().is_empty())
        .collect()
}

/// `cause: cause` must not occur: a message that embeds its source *and*
/// returns it as `source()` is printed twice by the `{:#}` at the edge.
fn assert_cause_once(err: &str, cause: &str) {
    assert_eq!(err.matches(cause).count(), 1, "cause repeated: {err}");
}

#[test]
fn config_file_cause_is_said_once() {
    let err = fails(&["call", "--config", "/nonexistent/mififo-test.cfg", "uptime"]);
    assert!(err.starts_with("mififo: cannot read config file"), "{err}");
    assert_cause_once(&err, "No such file or directory");
}

/// `gateway ARGS`, as root with `--user root` (a root gateway refuses to
/// start without `--user`, before it gets to the error under test).
fn gateway(args: &[&str]) -> Vec<String> {
    let mut v = vec!["gateway".to_owned()];
    if crate::util::is_root() {
        v.extend(["--user".to_owned(), "root".to_owned()]);
    }
    v.extend(args.iter().map(|a| a.to_string()));
    v
}

#[test]
fn gateway_netns_cause_is_said_once() {
    let args = gateway(&["--netns", "mififo-test-no-such-ns"]);
    let err = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let lines = message_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("mififo: cannot open network namespace"),
        "{err}"
    );
    assert_cause_once(&err, "No such file or directory");
}

#[test]
fn gateway_busy_port_cause_is_said_once() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let args = gateway(&["--listen", &addr]);
    let err = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let lines = message_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with(&format!("mififo: cannot listen on '{addr}'")),
        "{err}"
    );
    assert_cause_once(&err, "Address already in use");
}

/// Every duration flag goes through one bounded parser: absurd values are a
/// usage error (exit 2, `mififo: invalid value`), never a panic (exit 101) or an
/// overflow when the deadline is computed.
#[test]
fn huge_durations_are_usage_errors() {
    let cases: &[&[&str]] = &[
        &["call", "--timeout", "99999999999999999999999h", "uptime"],
        &["call", "--timeout", "2600000000000000h", "uptime"],
        &["serve", "--reply-timeout", "1e30"],
        &["serve", "--reply-timeout", "100000000000"],
        &[
            "serve",
            "--forward-timeout",
            "9999999h",
            "--forward",
            "http://127.0.0.1:1/mi",
        ],
        &["gateway", "--timeout", "9999999h"],
        &["bench", "--duration", "9999999h", "uptime"],
        &["bench", "--timeout", "0", "uptime"],
        // Positive, but under a nanosecond: Duration::ZERO.
        &["bench", "--timeout", "0.0000000001", "uptime"],
        &["call", "--timeout", "0.0000001ms", "uptime"],
    ];
    for args in cases {
        let err = fails(args);
        assert!(err.contains("invalid value"), "mififo {args:?}: {err}");
    }
}

/// `--reply-timeout` takes the same forms as every other duration flag.
#[test]
fn reply_timeout_takes_units() {
    let out = mififo(&["serve", "--reply-timeout", "5s", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--reply-timeout <DURATION>"), "{help}");
}

/// Issue 16 item 10: argument errors carry the same `mififo:` prefix as
/// runtime errors (clap's own `error:` replaced), still exit 2, still point
/// to `--help`; help still goes to stdout with exit 0.
#[test]
fn usage_errors_share_the_mififo_prefix() {
    let err = fails(&["call", "--timeout", "soon", "uptime"]);
    assert!(err.starts_with("mififo: invalid value 'soon'"), "{err}");
    assert!(!err.contains("error:"), "{err}");
    assert!(err.contains("try '--help'"), "{err}");
    let err = fails(&["no-such-command"]);
    assert!(err.starts_with("mififo: unrecognized subcommand"), "{err}");
    let out = mififo(&["call", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
}

/// Issue 16 item 10: a `--php-ini` that cannot be read is said on stderr at
/// once, naming it, and the report's php line names it, instead of a silent
/// "no php.ini found". (Not fatal: a missing file is how callers say "no PHP".)
#[test]
fn php_ini_that_cannot_be_read_is_said() {
    let out = mififo(&[
        "doctor",
        "--fifo",
        "/nonexistent-mififo-dir/fifo",
        "--no-probe",
        "--json",
        "--php-ini",
        "/nonexistent-mififo.ini",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines = message_lines(&err);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("mififo: cannot read --php-ini '/nonexistent-mififo.ini'")),
        "{err}"
    );
    assert_cause_once(&err, "No such file or directory");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let php = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "php open_basedir")
        .expect("a php line");
    assert_eq!(
        php["detail"],
        "none of the --php-ini files can be read (/nonexistent-mififo.ini)"
    );
}

/// Issue 16 item 5: `--help` and completions offer only the values the
/// command then accepts; `doctor --json` is `--format json`, like `--json`
/// elsewhere.
#[test]
fn help_offers_only_accepted_values() {
    let help = |sub: &str| String::from_utf8_lossy(&mififo(&[sub, "--help"]).stdout).into_owned();
    let serve = help("serve");
    assert!(
        serve.contains("- json: ") && serve.contains("- text: "),
        "{serve}"
    );
    assert!(!serve.contains("- kamailio: "), "{serve}");
    let err = fails(&["serve", "--dialect", "kamailio"]);
    assert!(err.contains("client-only"), "{err}");
    let gateway = help("gateway");
    assert!(
        gateway.contains("- json: ") && gateway.contains("- kamailio: "),
        "{gateway}"
    );
    assert!(!gateway.contains("- text: "), "{gateway}");
    let bash = String::from_utf8_lossy(&mififo(&["completions", "bash"]).stdout).into_owned();
    let serve_opts = bash
        .split("mififo__serve)")
        .nth(1)
        .and_then(|s| s.split(";;").find(|s| s.contains("--dialect)")))
        .unwrap_or_default();
    assert!(!serve_opts.contains("kamailio"), "{serve_opts}");
    let args = ["doctor", "--fifo", "/nonexistent-mififo/fifo", "--no-probe"];
    let json = mififo(&[&args[..], &["--json"]].concat());
    let format = mififo(&[&args[..], &["--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    let w: serde_json::Value = serde_json::from_slice(&format.stdout).unwrap();
    assert_eq!(v["verdict"], w["verdict"]);
    assert_eq!(v["fifo"], "/nonexistent-mififo/fifo");
    fails(&["doctor", "--json", "--format", "human"]);
}

/// Issue 16 item 2/"what to do next": `gateway --netns` as an ordinary user
/// says that entering a namespace needs root, and how to start it instead.
#[test]
fn gateway_netns_as_non_root_says_what_to_do() {
    let mut cmd = if crate::util::is_root() {
        if !crate::util::require("setpriv (util-linux)", crate::util::have_tool("setpriv")) {
            return;
        }
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(crate::util::bin());
        c
    } else {
        std::process::Command::new(crate::util::bin())
    };
    let out = cmd
        .args(["gateway", "--netns", "1", "--listen", "127.0.0.1:0"])
        .env("HOME", "/nonexistent-mififo-home")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines = message_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("mififo: cannot open network namespace '/proc/1/ns/net'")
            && lines[0].contains("needs root (CAP_SYS_ADMIN)")
            && lines[0].contains("--user"),
        "{err}"
    );
    assert_cause_once(&err, "Permission denied");
}
