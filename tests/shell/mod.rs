//! `mififo shell` as a person uses it: in a real terminal (tmux), Tab
//! completes the server's command and parameter names, Up recalls history,
//! the history survives the session, Ctrl-C cancels a slow command, Ctrl-D
//! leaves, and no reply FIFO is left behind; hostile names from the server
//! never reach the terminal raw. Without a terminal: one command per line.

use crate::util::tmux::{self, assert_no_reply_fifos, other_fifos, Tmux};
use crate::util::{code_and_text, require, wait_until, Server, TestEnv};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// A server with a `dialog`-like command (recipes, canned answer), a slow
/// command, and a command and a statistic whose names set the window title.
pub fn hostile_server(env: &TestEnv) -> Server {
    let file = env.path("commands.json");
    let doc = serde_json::json!({
        "statistics": {
            "evil:\u{1b}]0;pwned\u{7}": 1,
            "dialog:active_dialogs": {"value": 2, "incremental": false}
        },
        "commands": {
            "dlg_list": {
                "module": "dialog",
                "help": "lists the dialogs",
                "named_only": true,
                "recipes": [[], ["callid"], ["callid", "from_tag"]],
                "result": {"Dialogs": []},
                "responses": [{"params": {"callid": "abc@host"}, "result": {"Dialog": {"callid": "abc@host"}}}]
            },
            "slow": {"result": "late", "delay_ms": 20000},
            "evil\u{1b}]0;pwned\u{7}": {"result": "x"}
        }
    });
    std::fs::write(&file, doc.to_string()).unwrap();
    env.serve(&["--commands", file.to_str().unwrap()])
}

/// `mififo shell` in tmux against `env`'s server, history under `env/state`.
fn shell(env: &TestEnv) -> Tmux {
    let fifo = env.fifo();
    let reply_dir = env.reply_dir();
    let state = env.path("state");
    Tmux::start(
        env,
        &[
            OsStr::new("shell"),
            OsStr::new("--fifo"),
            fifo.as_os_str(),
            OsStr::new("--reply-dir"),
            OsStr::new(&reply_dir),
        ],
        &[("XDG_STATE_HOME", state.as_os_str())],
    )
}

fn prompt(env: &TestEnv) -> String {
    format!("mififo {}>", env.fifo().display())
}

/// Waits until the shell waits for input: the last line is the bare
/// prompt. (A key typed before the line editor took the terminal can be
/// lost — Ctrl-D in particular — just as for a person typing too early.)
fn ready(t: &Tmux, env: &TestEnv) {
    let p = prompt(env);
    t.wait_for("the prompt", T, |s| last_line(s) == p);
}

/// Types `line` at the prompt and presses Enter.
fn enter(t: &Tmux, env: &TestEnv, line: &str) {
    ready(t, env);
    t.type_text(line);
    t.keys(&["Enter"]);
}

/// Ctrl-D at the prompt: the shell exits 0.
fn quit(t: &Tmux, env: &TestEnv) {
    ready(t, env);
    t.keys(&["C-d"]);
    assert_eq!(t.wait_exit(T), 0);
}

/// tmux (or a skip) and a hostile stand-in server on a fresh [`TestEnv`].
pub fn tmux_and_server() -> Option<(TestEnv, Server)> {
    if !require("tmux", tmux::available()) {
        return None;
    }
    let env = TestEnv::new();
    let srv = hostile_server(&env);
    Some((env, srv))
}

/// Tab-completes `dlg_l` to `dlg_list` (a name from the server's `which`),
/// then `cal` to its parameter `callid=` (from `which dlg_list`), and runs
/// `dlg_list callid=abc@host`.
fn complete_dlg_list_callid(t: &Tmux) {
    t.type_text("dlg_l");
    t.keys(&["Tab"]);
    t.wait_for("dlg_list completed", T, |s| {
        last_line(s).ends_with("> dlg_list")
    });
    t.type_text("cal");
    t.keys(&["Tab"]);
    t.wait_for("callid= completed", T, |s| {
        last_line(s).ends_with("> dlg_list callid=")
    });
    t.type_text("abc@host");
    t.keys(&["Enter"]);
}

/// The last non-empty line of the screen.
fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

#[test]
fn tab_completes_server_names_and_up_recalls_history() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let t = shell(&env);
    t.wait_text(&prompt(&env), T);

    // A command name from the server's `which`, completed by Tab.
    ready(&t, &env);
    complete_dlg_list_callid(&t);
    t.wait_text("\"Dialog\": {", T);

    ready(&t, &env);
    t.type_text("upt");
    t.keys(&["Tab"]);
    t.wait_for("uptime completed", T, |s| {
        last_line(s).ends_with("> uptime")
    });
    t.keys(&["Enter"]);
    t.wait_text("\"Up time\"", T);

    // Up twice: the dlg_list line comes back, exactly as typed.
    ready(&t, &env);
    t.keys(&["Up", "Up"]);
    t.wait_for("history recall", T, |s| {
        last_line(s).ends_with("> dlg_list callid=abc@host")
    });
    t.keys(&["Enter"]);
    t.wait_for("the recalled command ran", T, |s| {
        s.matches("\"callid\": \"abc@host\"").count() == 2
    });

    quit(&t, &env);
    assert_no_reply_fifos(&env);
}

#[test]
fn history_persists_in_the_xdg_state_dir_across_sessions() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let t = shell(&env);
    enter(&t, &env, "get_statistics dialog:");
    t.wait_text("\"dialog:active_dialogs\": 2", T);
    // A line starting with a space is not recorded.
    enter(&t, &env, " version");
    t.wait_text("\"Server\"", T);
    enter(&t, &env, "exit");
    assert_eq!(t.wait_exit(T), 0);
    drop(t);

    let file = env.path("state/mififo/history");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("get_statistics dialog:"), "{text}");
    assert!(!text.contains("version"), "{text}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "history file mode {mode:o}");

    let t = shell(&env);
    ready(&t, &env);
    t.keys(&["Up"]);
    t.wait_for("recall from the previous session", T, |s| {
        last_line(s).ends_with("> get_statistics dialog:")
    });
    t.keys(&["C-u"]);
    t.wait_for("an empty line", T, |s| last_line(s).ends_with('>'));
    quit(&t, &env);
}

#[test]
fn ctrl_c_cancels_a_slow_command_and_removes_its_reply_fifo() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let t = shell(&env);
    enter(&t, &env, "slow");
    assert!(
        wait_until(T, || !other_fifos(env.dir.path(), &env.fifo()).is_empty()),
        "no reply FIFO appeared"
    );
    t.keys(&["C-c"]);
    t.wait_text("interrupted by SIGINT; reply FIFO removed", T);
    assert_no_reply_fifos(&env);
    // Still usable.
    enter(&t, &env, "uptime");
    t.wait_text("\"Up time\"", T);
    quit(&t, &env);
}

#[test]
fn server_sent_escape_sequences_never_reach_the_terminal() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let t = shell(&env);
    t.wait_text(&prompt(&env), T);
    let title = t.title();
    enter(&t, &env, "which");
    // JSON escaping shows the name; the terminal never saw ESC ] 0 ; … BEL.
    t.wait_text("\"evil\\u001b]0;pwned\\u0007\"", T);
    // Tab on "ev" offers nothing: names with control characters are not completion candidates.
    ready(&t, &env);
    t.type_text("ev");
    t.keys(&["Tab", "Enter"]);
    t.wait_text("'ev' failed: -32601: Method not found", T);
    enter(&t, &env, "help");
    let screen = t.wait_text("Server commands:", T);
    assert!(screen.contains("dlg_list"), "{screen}");
    assert_eq!(t.title(), title, "the pane title changed");
    assert!(!t.title().contains("pwned"));
    quit(&t, &env);
}

fn script(env: &TestEnv, input: &str, fifo: &std::path::Path) -> (i32, String, String) {
    let mut child = env
        .cmd_at("shell", fifo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    code_and_text(&child.wait_with_output().unwrap())
}

#[test]
fn scripts_run_one_command_per_line_and_exit_with_the_last_failure() {
    let env = TestEnv::new();
    let _srv = hostile_server(&env);
    let (code, out, err) = script(
        &env,
        "uptime\n# a comment\n\nnosuch\nlog_level level:=2 pid:=1\nversion\n",
        &env.fifo(),
    );
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("\"Up time\"") && out.contains("\"Server\""),
        "{out}"
    );
    assert!(
        err.contains("'nosuch' failed: -32601: Method not found"),
        "{err}"
    );
    assert!(err.contains("-32602"), "{err}");

    // The shell's own words work in scripts too.
    let (code, out, err) = script(&env, "help\nhelp log_level\n.refresh\n", &env.fifo());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Server commands:") && out.contains("dlg_list"),
        "{out}"
    );
    assert!(
        out.contains("\"Exported by\": \"core\"") && out.contains("Parameters: level pid"),
        "{out}"
    );
    // 13 built-in commands, dlg_list and slow; the name with ESC is not kept.
    assert!(out.contains("\n15 commands\n"), "{out}");
    assert!(!out.contains('\x1b'), "{out:?}");

    let (code, out, _) = script(&env, "uptime\nexit\nnosuch\n", &env.fifo());
    assert_eq!(code, 0, "exit stops the script: {out}");

    let (code, _, err) = script(&env, "uptime 'unbalanced\n", &env.fifo());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unbalanced quotes"), "{err}");

    let (code, _, err) = script(&env, "uptime\n", &env.path("nothing_here"));
    assert_eq!(code, 3, "{err}");
    assert_no_reply_fifos(&env);
    // No history file without a terminal.
    assert!(!env.path(".local/state/mififo/history").exists());
}

#[test]
fn sigterm_during_a_scripted_command_removes_the_reply_fifo() {
    let env = TestEnv::new();
    let _srv = hostile_server(&env);
    let mut child = env
        .cmd_at("shell", &env.fifo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"slow\n").unwrap();
    assert!(
        wait_until(T, || !other_fifos(env.dir.path(), &env.fifo()).is_empty()),
        "no reply FIFO appeared"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (code, _, err) = code_and_text(&child.wait_with_output().unwrap());
    assert_eq!(code, 143, "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert_no_reply_fifos(&env);
}

#[test]
fn sigterm_at_the_prompt_ends_the_shell_with_143() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let t = shell(&env);
    ready(&t, &env);
    t.type_text("upt");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(t.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(t.wait_exit(T), 143);
    assert_no_reply_fifos(&env);
}

#[test]
fn over_http_the_prompt_names_the_url_and_tab_completes_the_servers_names() {
    let Some((env, _srv)) = tmux_and_server() else {
        return;
    };
    let gw = crate::gateway::Gateway::start(&env, &env.fifo(), &[]);
    let state = env.path("state");
    let t = Tmux::start(
        &env,
        &[
            OsStr::new("shell"),
            OsStr::new("--url"),
            OsStr::new(&gw.url),
        ],
        &[("XDG_STATE_HOME", state.as_os_str())],
    );
    let p = format!("mififo {}>", gw.url);
    t.wait_for("the prompt", T, |s| last_line(s) == p);
    // `which` and `which dlg_list` went over HTTP.
    complete_dlg_list_callid(&t);
    t.wait_text("\"callid\": \"abc@host\"", T);
    t.wait_for("the prompt again", T, |s| last_line(s) == p);
    t.keys(&["C-d"]);
    assert_eq!(t.wait_exit(T), 0);
}
