//! `mififo top` as a person uses it: in a real terminal (tmux) the rate of
//! the server's request counter moves while `mififo bench` loads it, the keys
//! pause, sort and quit, a server restart shows as a gap and the view
//! recovers, hostile statistic names are escaped; `--json`, `--once` and
//! `--count` for scripts. `call --watch` is in [`watch`].

mod watch;

use crate::shell::{hostile_server, tmux_and_server};
use crate::util::tmux::{assert_no_reply_fifos, Tmux};
use crate::util::{code_and_text, TestEnv};
use std::ffi::OsStr;
use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn top(env: &TestEnv, extra: &[&str]) -> Tmux {
    let fifo = env.fifo();
    let reply_dir = env.reply_dir();
    let mut args = vec![
        OsStr::new("top"),
        OsStr::new("--fifo"),
        fifo.as_os_str(),
        OsStr::new("--reply-dir"),
        OsStr::new(&reply_dir),
        OsStr::new("--interval"),
        OsStr::new("300ms"),
    ];
    args.extend(extra.iter().map(OsStr::new));
    Tmux::start(env, &args, &[])
}

/// The row of statistic `name` (without its module) on the screen.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
}

/// The rate shown for counter `name`, if any.
fn rate(screen: &str, name: &str) -> Option<f64> {
    row(screen, name)?
        .split_whitespace()
        .find_map(|w| w.strip_suffix("/s")?.parse().ok())
}

#[test]
fn a_rate_moves_under_load_and_keys_pause_sort_and_quit() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let t = top(&env, &["mififo:"]);
    // Idle: only top's own requests (one or two per 300 ms).
    let screen = t.wait_for("an idle rate", T, |s| rate(s, "requests").is_some());
    let idle = rate(&screen, "requests").unwrap();
    assert!(idle < 20.0, "idle rate {idle}:\n{screen}");
    assert!(screen.contains("sort: change"), "{screen}");

    let mut bench = env
        .cmd_at("bench", &env.fifo())
        .args(["--clients", "2", "--duration", "4s", "uptime"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let busy = t.wait_for("the rate to rise under load", T, |s| {
        rate(s, "requests").is_some_and(|r| r > 10.0 * idle.max(5.0))
    });
    let line = row(&busy, "requests").unwrap();
    let blocks: std::collections::BTreeSet<char> =
        line.chars().filter(|c| ('▁'..='█').contains(c)).collect();
    assert!(blocks.len() >= 2, "the sparkline should rise: {line}");
    // Grouped by module: the header line precedes the rows.
    assert!(busy.lines().any(|l| l == "mififo"), "{busy}");

    t.keys(&["s"]);
    t.wait_text("sort: value", T);
    t.keys(&["p"]);
    let paused = t.wait_text("[paused]", T);
    let frozen = row(&paused, "requests").unwrap().to_string();
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(
        row(&t.capture(), "requests").unwrap(),
        frozen,
        "paused view moved"
    );
    t.keys(&["p"]);
    t.wait_for("resumed", T, |s| !s.contains("[paused]"));
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(T), 0);
    // bench ends by itself (and removes its own reply FIFOs).
    assert!(bench.wait().unwrap().success());
    assert_no_reply_fifos(&env);
}

#[test]
fn a_server_restart_shows_a_gap_and_hostile_names_stay_escaped() {
    let Some((env, mut srv)) = tmux_and_server() else {
        return;
    };
    // Only these groups: a default stand-in also has OpenSIPS's core groups,
    // more rows than the pane shows.
    let t = top(&env, &["mififo:", "evil:", "dialog:"]);
    let title = t.title();
    let screen = t.wait_for("statistics", T, |s| rate(s, "requests").is_some());
    // The name is shown escaped; the terminal title is untouched.
    assert!(screen.contains("\\x1b]0;pwned\\x07"), "{screen}");
    assert_eq!(t.title(), title);
    assert!(screen.contains("active_dialogs"), "{screen}");

    srv.stop();
    let gap = t.wait_text("no answer", T);
    assert!(row(&gap, "requests").unwrap().contains('·'), "{gap}");
    let _srv = hostile_server(&env);
    t.wait_for("the view to recover", T, |s| {
        s.contains("statistics, ") && rate(s, "requests").is_some()
    });
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(T), 0);
    assert_no_reply_fifos(&env);
}

#[test]
fn json_reports_one_object_per_interval_across_a_restart() {
    let env = TestEnv::new();
    let mut srv = hostile_server(&env);
    let mut child = env
        .cmd_at("top", &env.fifo())
        .args(["--json", "--interval", "200ms", "mififo:"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> serde_json::Value {
        serde_json::from_str(&lines.next().expect("a line").unwrap()).unwrap()
    };
    let first = next();
    assert_eq!(first["ok"], true, "{first}");
    let req = &first["stats"]["mififo:requests"];
    assert_eq!(req["kind"], "counter");
    assert!(req["rate"].as_f64().unwrap() > 0.0, "{first}");
    assert_eq!(first["stats"]["mififo:in_flight"]["kind"], "gauge");
    assert!(first["stats"].get("dialog:active_dialogs").is_none());

    srv.stop();
    let gap = loop {
        let v = next();
        if v["ok"] == false {
            break v;
        }
    };
    assert!(!gap["error"].as_str().unwrap().is_empty(), "{gap}");
    assert!(gap.get("stats").is_none(), "{gap}");
    let _srv = hostile_server(&env);
    let back = loop {
        let v = next();
        if v["ok"] == true {
            break v;
        }
    };
    // The counter restarted: no rate invented across the gap.
    assert!(back["stats"]["mififo:requests"]["rate"].is_null(), "{back}");
    let after = next();
    assert!(
        after["stats"]["mififo:requests"]["rate"].as_f64().is_some(),
        "{after}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert_no_reply_fifos(&env);
}

#[test]
fn once_and_count_report_after_each_interval_and_fail_like_call() {
    let env = TestEnv::new();
    let _srv = hostile_server(&env);
    let out = env
        .cmd_at("top", &env.fifo())
        .args(["--once", "--interval", "200ms", "dialog:", "mififo:"])
        .output()
        .unwrap();
    let (code, stdout, stderr) = code_and_text(&out);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().any(|l| l.starts_with("NAME")), "{stdout}");
    assert!(stdout.lines().any(|l| l == "dialog"), "{stdout}");
    let active = row(&stdout, "active_dialogs").unwrap();
    assert_eq!(active.split_whitespace().nth(1), Some("2"), "{active}");
    assert!(rate(&stdout, "requests").is_some(), "{stdout}");
    assert!(
        !stdout.contains("evil"),
        "the filter selects modules: {stdout}"
    );

    let out = env
        .cmd_at("top", &env.fifo())
        .args(["--count", "3", "--interval", "150ms", "mififo:"])
        .output()
        .unwrap();
    let (code, stdout, _) = code_and_text(&out);
    assert_eq!(code, 0);
    assert_eq!(
        stdout.matches("\nNAME").count() + usize::from(stdout.starts_with("NAME")),
        3,
        "{stdout}"
    );

    let out = env
        .cmd_at("top", &env.path("no_fifo"))
        .args(["--once", "--interval", "100ms"])
        .output()
        .unwrap();
    let (code, stdout, _) = code_and_text(&out);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("no answer:"), "{stdout}");
    assert_no_reply_fifos(&env);
}

/// `pid` has ended (gone, or a zombie nobody reaped yet) within 5 s.
fn ends(pid: i32) -> bool {
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    crate::util::wait_until(Duration::from_secs(5), gone)
}

/// Closing the terminal (a lost ssh session) ends `top` and removes its
/// reply FIFO; it used to spin on the closed terminal for ever.
#[test]
fn closing_the_terminal_ends_top() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let t = top(&env, &["mififo:"]);
    t.wait_for("the live view", T, |s| rate(s, "requests").is_some());
    let pid = t.pid();
    t.close_terminal();
    let ended = ends(pid);
    if !ended {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        ended,
        "mififo top (pid {pid}) still runs without its terminal"
    );
    assert_no_reply_fifos(&env);
}

/// The tmux guard ends the program when a test panics: nothing is left
/// running (a live `top` would otherwise poll the server forever).
#[test]
fn a_panicking_test_leaves_no_top_running() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let pid = std::sync::Mutex::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let t = top(&env, &["mififo:"]);
        t.wait_for("the live view", T, |s| rate(s, "requests").is_some());
        *pid.lock().unwrap() = t.pid();
        panic!("a failing assertion while top runs");
    }));
    assert!(r.is_err());
    let pid = *pid.lock().unwrap();
    assert!(pid > 1);
    assert!(ends(pid), "mififo top (pid {pid}) outlived its test");
}
