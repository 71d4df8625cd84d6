//! The OpenSIPS 1.x/2.x line dialect (`--dialect text`).

use super::*;
use crate::util::{open_writer, reply_fifo};

fn text(env: &TestEnv, request: &str) -> String {
    exchange(env, "tr", request.as_bytes()).expect("a reply")
}

#[test]
fn core_commands_in_1x_format() {
    let env = TestEnv::new();
    let s = env.serve(&["--dialect", "text", "--commands", &dialog_fixture()]);
    let up = text(&env, ":uptime:tr\n\n");
    assert!(up.starts_with("200 OK\nNow:: "), "{up:?}");
    assert!(
        up.contains("\nUp since:: ") && up.ends_with(" [sec]\n\n"),
        "{up:?}"
    );
    assert_eq!(
        text(&env, ":ps:tr\n\n"),
        format!("200 OK\nProcess::  ID=0 PID={} Type=MI FIFO\n\n", s.pid())
    );
    let which = text(&env, ":which:tr\n\n");
    assert!(
        which.starts_with("200 OK\nget_statistics\nlist_statistics\n"),
        "{which:?}"
    );
    assert!(
        which.ends_with("dlg_list\ndlg_end_dlg\nprofile_get_size\n\n"),
        "{which:?}"
    );
    assert_eq!(
        text(
            &env,
            ":get_statistics:tr\ndialog:active_dialogs\nshmem:fragments\n\n"
        ),
        "200 OK\ndialog:active_dialogs:: 1\nshmem:fragments:: 37\n\n"
    );
    assert_eq!(text(&env, ":reset_all_statistics:tr\n\n"), "200 OK\n\n");
    assert_eq!(
        text(&env, ":log_level:tr\nlevel:: 2\n\n"),
        "200 OK\nNew global log level:: 2\n\n"
    );
    assert_eq!(
        text(&env, ":log_level:tr\n\"4\"\n\n"),
        "200 OK\nNew global log level:: 4\n\n"
    );
    assert_eq!(
        text(&env, ":dlg_list:tr\ncallid:: \"abc@host\"\n\n"),
        "200 OK\nDialog:: \n\tID:: 1234.5678\n\tstate:: 4\n\tcallid:: abc@host\n\tfrom_uri:: sip:a@x\n\tto_uri:: sip:b@y\n\n"
    );
}

#[test]
fn error_lines_are_exact() {
    let env = TestEnv::new();
    let _s = env.serve(&["--dialect", "text", "--commands", &dialog_fixture()]);
    for (request, reply) in [
        (":nosuch:tr\n\n", "500 command 'nosuch' not available\n"),
        (
            ":log_level:tr\nbad\"quote\n\n",
            "400 Parse error in command 'log_level'\n",
        ),
        (
            ":get_statistics:tr\nnosuch:\n\n",
            "404 Statistics Not Found\n\n",
        ),
        (
            ":get_statistics:tr\n\n",
            "400 Too few or too many arguments\n\n",
        ),
        (
            ":log_level:tr\n1\n2\n3\n\n",
            "400 Too few or too many arguments\n\n",
        ),
        (
            ":dlg_list:tr\nabc@host\n\n",
            "400 Command only supports named parameters\n\n",
        ),
        (":dlg_list:tr\ncallid::nosuch\n\n", "404 No such dialog\n\n"),
    ] {
        assert_eq!(text(&env, request), reply, "{request:?}");
    }
}

#[test]
fn garbage_lines_resync_on_the_empty_line() {
    let env = TestEnv::new();
    let _s = env.serve(&["--dialect", "text"]);
    let mut w = open_writer(env.fifo());
    std::io::Write::write_all(&mut w, b"garbage line\nmore\n\n\xff\xfe\n\n").unwrap();
    drop(w);
    assert!(text(&env, ":ps:tr\n\n").starts_with("200 OK\nProcess::  ID=0 "));
    assert!(stat_text(&env) > 10);
}

fn stat_text(env: &TestEnv) -> i64 {
    let r = text(env, ":get_statistics:tr\nmififo:garbage_bytes\n\n");
    r.trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{r:?}"))
}

/// Issue 10, finding 12: an unterminated `:which:atk\nfoo\n` absorbed the
/// next client's request (secret included) and the attacker got the reply;
/// a 70 KB request over the cap still ran. Now the victim is answered, the
/// attacker gets nothing, and the oversized request does not run.
#[test]
fn an_unterminated_request_cannot_absorb_the_next_one() {
    let env = TestEnv::new();
    let _s = env.serve(&["--dialect", "text", "--commands", &dialog_fixture()]);
    let atk = env.path("atk");
    let mut atk_r = reply_fifo(&atk);
    let mut w = open_writer(env.fifo());
    std::io::Write::write_all(&mut w, b":which:atk\nfoo\n").unwrap();
    assert_eq!(
        text(&env, ":log_level:tr\nlevel:: 2\n\n"),
        "200 OK\nNew global log level:: 2\n\n",
        "the victim's own request ran"
    );
    assert_eq!(
        crate::util::read_reply(&mut atk_r, Duration::from_millis(500)),
        None,
        "the attacker got a reply"
    );
    // Over the cap (64 KiB), complete in one write: never run (it would
    // reset the counter core:rcv_requests, 12 in the fixture).
    let mut big = String::from(":reset_statistics:tr2\n");
    for _ in 0..5000 {
        big.push_str("core:rcv_requests\n");
    }
    big.push('\n');
    std::io::Write::write_all(&mut w, big.as_bytes()).unwrap();
    assert_eq!(
        text(&env, ":get_statistics:tr\ncore:rcv_requests\n\n"),
        "200 OK\ncore:rcv_requests:: 12\n\n"
    );
}
