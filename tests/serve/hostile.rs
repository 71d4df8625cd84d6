//! Reply paths a hostile client could use to make the server write elsewhere,
//! and clients that never open or never drain their reply FIFO.

use super::*;
use crate::util::read_reply;
use crate::util::{open_reader, open_writer, open_writer_nonblocking, reply_fifo};
use std::io::Write;

fn send(env: &TestEnv, bytes: &[u8]) {
    open_writer(env.fifo()).write_all(bytes).unwrap();
}

/// Waits until `mififo:dropped` reached `n` (the server handled the bad request).
fn wait_dropped(env: &TestEnv, n: i64) {
    assert!(
        crate::util::wait_until(HANG, || stat(env, "mififo:dropped") >= n),
        "request was not dropped"
    );
}

const KILL: &str = r#"{"jsonrpc":"2.0","method":"log_level","params":[4],"id":1}"#;

#[test]
fn symlinks_regular_files_and_hard_links_get_nothing_written_and_nothing_run() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let precious = env.path("precious");
    std::fs::write(&precious, b"keep me").unwrap();
    // Symlink to a regular file.
    std::os::unix::fs::symlink(&precious, env.path("link")).unwrap();
    // Regular file named like a reply FIFO.
    std::fs::write(env.path("plain"), b"plain").unwrap();
    // Symlink to a FIFO that has a reader (the reader must get nothing).
    let target = env.path("target");
    let mut target_r = reply_fifo(&target);
    std::os::unix::fs::symlink(&target, env.path("fifolink")).unwrap();
    // Hard link to that FIFO.
    std::fs::hard_link(&target, env.path("hard")).unwrap();

    for (i, name) in ["link", "plain", "fifolink", "hard"].iter().enumerate() {
        send(&env, format!(":{name}:{KILL}").as_bytes());
        wait_dropped(&env, i as i64 + 1);
    }
    assert_eq!(std::fs::read(&precious).unwrap(), b"keep me");
    assert_eq!(std::fs::read(env.path("plain")).unwrap(), b"plain");
    assert!(std::fs::symlink_metadata(env.path("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    let got = read_reply(&mut target_r, Duration::from_millis(300));
    assert!(got.is_none(), "nothing was written to the FIFO: {got:?}");
    // The command was not run (log_level still 3).
    assert_eq!(
        result(&env, "log_level", None)["Processes"][0]["Log level"],
        3
    );
}

#[test]
fn forbidden_and_too_long_names_are_dropped() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let long = "a".repeat(120);
    for (i, name) in ["../x", "a.b", "a\\b", long.as_str()].iter().enumerate() {
        send(&env, format!(":{name}:{KILL}").as_bytes());
        wait_dropped(&env, i as i64 + 1);
    }
    assert_eq!(
        result(&env, "log_level", None)["Processes"][0]["Log level"],
        3
    );
    assert!(!env.dir.path().parent().unwrap().join("x").exists());
}

#[test]
fn a_client_that_never_opens_its_reply_fifo_does_not_block_others() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    nix::unistd::mkfifo(
        &env.path("never"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    for _ in 0..10 {
        send(&env, format!(":never:{KILL}").as_bytes());
    }
    // Four requests wait in their 320 ms windows (the per-reply-FIFO limit),
    // six are dropped at once; this one is served.
    let got = call_raw(&env, "version", None);
    assert!(got.starts_with(r#"{"jsonrpc":"2.0","result":"#), "{got}");
    wait_dropped(&env, 10);
    assert_eq!(
        result(&env, "log_level", None)["Processes"][0]["Log level"],
        3,
        "commands of unreachable clients are not run"
    );
}

#[test]
fn a_client_that_never_reads_or_a_slow_command_does_not_stall_others() {
    let env = TestEnv::new();
    let big = "x".repeat(300_000);
    let cmds = commands_file(
        &env,
        &format!(
            r#"{{"commands":{{"big":{{"result":"{big}"}},"slow":{{"delay_ms":60000,"result":"late"}}}}}}"#
        ),
    );
    // A 60 s reply deadline: the stuck write below lasts far longer than the
    // generous hang timeout of the other requests.
    let _s = env.serve(&["--commands", &cmds, "--reply-timeout", "60"]);
    // Opens its reply FIFO, never reads: the 300 KB write blocks once the pipe is full.
    let p = env.path("stuck");
    let _stuck = reply_fifo(&p);
    send(&env, br#":stuck:{"jsonrpc":"2.0","method":"big","id":1}"#);
    // A command that takes a minute.
    nix::unistd::mkfifo(
        &env.path("slowr"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let _slow = open_reader(env.path("slowr"));
    send(&env, br#":slowr:{"jsonrpc":"2.0","method":"slow","id":1}"#);
    // Wait until both are in flight, then others must still be served.
    assert!(
        crate::util::wait_until(HANG, || stat(&env, "mififo:in_flight") >= 3),
        "stuck requests not in flight"
    );
    for _ in 0..5 {
        assert_serving(&env);
    }
}

#[test]
fn a_large_reply_arrives_complete_in_one_open() {
    let env = TestEnv::new();
    let big = "y".repeat(200_000);
    let cmds = commands_file(
        &env,
        &format!(r#"{{"commands":{{"big":{{"result":"{big}"}}}}}}"#),
    );
    let _s = env.serve(&["--commands", &cmds]);
    assert_eq!(
        call_raw(&env, "big", None),
        format!(r#"{{"jsonrpc":"2.0","result":"{big}","id":1}}"#)
    );
}

/// Issue 10, finding 7: 20 KB of `:a:{}` (4,096 invalid requests naming a
/// reply FIFO that does not exist) used to give one WARN line each. Now the
/// first of each cause is logged and the rest summarised per 10 s.
#[test]
fn repeated_causes_are_aggregated_in_the_log() {
    let env = TestEnv::new();
    let mut s = env.serve(&[]);
    let n = 4096;
    send(&env, ":a:{}".repeat(n).as_bytes());
    wait_dropped(&env, n as i64);
    let (_, log) = s.stop();
    let lines = log.lines().count();
    assert!(lines < 20, "{lines} log lines:\n{log}");
    assert!(
        log.contains("dropped requests (no reply could be delivered): 4095 more"),
        "{log}"
    );
}

/// Issue 10, finding 4: 1,000 requests naming a reply FIFO kept full and
/// 1,000 naming one nobody reads used to hold the 64 in-flight slots for
/// the reply timeout (or the retry window): other clients failed for over
/// a minute. Waiting now happens on a side path bounded per reply FIFO; the
/// excess is dropped and counted at once, and others are served.
#[test]
fn a_writer_naming_full_or_absent_reply_fifos_delays_only_itself() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let full = env.path("full");
    let _full_reader = reply_fifo(&full);
    {
        let mut w = open_writer_nonblocking(&full);
        while w.write(&[b'x'; 4096]).is_ok() {}
    }
    nix::unistd::mkfifo(
        &env.path("absent"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let mut flood = Vec::new();
    for name in ["full", "absent"] {
        for i in 0..1000 {
            flood.extend_from_slice(
                format!(r#":{name}:{{"jsonrpc":"2.0","method":"uptime","id":{i}}}"#).as_bytes(),
            );
        }
    }
    send(&env, &flood);
    for _ in 0..3 {
        let got = call_raw(&env, "version", None);
        assert!(
            got.starts_with(r#"{"jsonrpc":"2.0","result":{"Server":"OpenSIPS"#),
            "{got}"
        );
    }
    // All but the few allowed to wait were dropped at once (counted).
    let deadline = std::time::Instant::now() + HANG;
    loop {
        let dropped = stat(&env, "mififo:dropped");
        if dropped >= 1992 - 2 * 8 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "dropped {dropped}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Issue 10, finding 10: under a low descriptor limit, requests waiting for
/// full reply FIFOs used up the descriptors and a normal request failed with
/// EMFILE (dropped; its client waited out its timeout). Waiting requests are
/// now held to half the descriptor limit, and an EMFILE open backs off and
/// retries instead of dropping.
#[test]
fn a_low_descriptor_limit_does_not_drop_normal_requests() {
    let env = TestEnv::new();
    let _s = crate::util::Server::start(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n 40; exec '{}' serve {} --fifo '{}' --reply-dir '{}' --reply-timeout 3",
                crate::util::bin().display(),
                crate::util::serve_user_args().join(" "),
                env.fifo().display(),
                env.reply_dir()
            ))
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
        &env.fifo(),
        HANG,
    );
    let mut readers = Vec::new();
    let mut flood = Vec::new();
    for i in 0..40 {
        let name = format!("full{i}");
        let p = env.path(&name);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        readers.push(open_reader(&p));
        let mut w = open_writer_nonblocking(&p);
        while w.write(&[b'x'; 4096]).is_ok() {}
        flood.extend_from_slice(
            format!(r#":{name}:{{"jsonrpc":"2.0","method":"uptime","id":{i}}}"#).as_bytes(),
        );
    }
    send(&env, &flood);
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        let got = call_raw(&env, "version", None);
        assert!(got.starts_with(r#"{"jsonrpc":"2.0","result":"#), "{got}");
    }
}
