//! Faults injected while clients are loading the server. The background load
//! checks every reply; after each fault the server must still answer, and
//! nothing may have been misrouted.

use super::*;
use crate::util::{has_reader, raw_exchange};
use crate::util::{open_writer, reply_fifo};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Write;
use std::process::Stdio;
use std::time::Instant;

/// Clients of the background load in fault tests.
const LOAD: usize = 16;

fn assert_answers(env: &TestEnv) {
    let got = raw_exchange(
        &env.fifo(),
        env.dir.path(),
        "check",
        br#":check:{"jsonrpc":"2.0","method":"uptime","id":1}"#,
        LOST,
    )
    .expect("the server answers after the fault");
    assert!(String::from_utf8_lossy(&got).contains("\"result\""));
}

/// Waits until `cond` holds, or panics after a generous deadline.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn clients_killed_between_request_and_reply_harm_nobody_else() {
    let env = TestEnv::new();
    let _server = serve(&env, &[]);
    let load = Background::start(&client(&env, LOST), LOAD);
    load.wait_for(100);
    // `slow` answers after 400 ms: once a client's reply FIFO exists its request
    // is on its way, and the SIGKILL lands before the reply.
    for _ in 0..6 {
        let mut child = env
            .cmd()
            .args(["call", "--fifo"])
            .arg(env.fifo())
            .arg("--reply-dir")
            .arg(env.dir.path())
            .arg("slow")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mine = format!("_{pid}_");
        eventually("the client's reply FIFO", || {
            leftovers(&env).iter().any(|n| n.contains(&mine))
        });
        std::thread::sleep(Duration::from_millis(50));
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
    // The server tries each dead client's reply FIFO (no reader: OpenSIPS's
    // 4 × 80 ms retry) without blocking anyone else.
    std::thread::sleep(Duration::from_millis(800));
    load.wait_for(100);
    let seen = load.stop();
    assert_eq!(seen.failures(), 0, "{seen:?}");
    assert_answers(&env);
}

#[test]
fn a_client_that_never_reads_its_reply_blocks_nobody() {
    let env = TestEnv::new();
    let _server = serve(&env, &["--reply-timeout", "2"]);
    let load = Background::start(&client(&env, LOST), LOAD);
    load.wait_for(50);
    // Open the reply FIFO for reading, ask for a 256 KiB reply, never read:
    // the server's write blocks once the pipe (64 KiB) is full.
    let reply = env.path("stuck");
    let _r = reply_fifo(&reply);
    let mut w = open_writer(env.fifo());
    w.write_all(br#":stuck:{"jsonrpc":"2.0","method":"big","id":1}"#)
        .unwrap();
    drop(w);
    let t0 = Instant::now();
    // Meanwhile everybody else is answered.
    load.wait_for(300);
    let during = t0.elapsed();
    let seen = load.stop();
    assert_eq!(seen.failures(), 0, "{seen:?}");
    assert!(
        during < Duration::from_secs(10),
        "other clients were held up for {during:?}"
    );
    assert_answers(&env);
    std::fs::remove_file(&reply).unwrap();
}

#[test]
fn the_fifo_deleted_or_replaced_under_load_comes_back() {
    let env = TestEnv::new();
    let _server = serve(&env, &[]);
    let load = Background::start(&client(&env, LOST), LOAD);
    load.wait_for(100);

    std::fs::remove_file(env.fifo()).unwrap();
    eventually("the FIFO recreated", || has_reader(&env.fifo()));
    load.wait_for(100);

    // Replaced by someone else's FIFO (nobody reads it): taken back (our
    // FIFO is renamed over it, as docs/serve.md promises for a stale FIFO).
    std::fs::remove_file(env.fifo()).unwrap();
    nix::unistd::mkfifo(&env.fifo(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    eventually("the FIFO taken back", || has_reader(&env.fifo()));
    load.wait_for(100);
    let seen = load.stop();

    // Here a gap is inherent and not ours to close: from the moment someone
    // deletes the path (or puts their own, unread FIFO there) until the next
    // check (250 ms) notices, a client finds no FIFO or one nobody reads, and
    // is told so at once (no server) — so `no_server` is not asserted. Once
    // we put our FIFO back it arrives already read (rename of an opened FIFO),
    // and the FIFO clients had opened before the deletion is still read until
    // its writers are gone, so no request is lost (no timeout). Nothing is
    // misrouted, nothing else fails.
    eprintln!("deleted/replaced under load: {seen:?}");
    assert_eq!(seen.misrouted, 0, "{seen:?}");
    assert_eq!(seen.timeouts, 0, "requests lost: {seen:?}");
    assert_eq!(seen.other, 0, "{seen:?}");
    assert!(seen.ok > 200, "{seen:?}");
    assert!(
        leftovers(&env).is_empty(),
        "left behind: {:?}",
        leftovers(&env)
    );
    assert_answers(&env);
}

#[test]
fn sighup_under_load_loses_nothing() {
    let env = TestEnv::new();
    let server = serve(&env, &[]);
    let load = Background::start(&client(&env, LOST), LOAD);
    load.wait_for(100);
    for _ in 0..5 {
        server.signal(Signal::SIGHUP);
        load.wait_for(100);
    }
    let seen = load.stop();
    // SIGHUP renames a new FIFO, already opened by the server, over the path
    // (the path always has a reader: no "nothing reads it"), and the old FIFO
    // is still read, with its own framer, until its writers are gone (no
    // request written into it is lost). Before that fix: 2 timeouts and 6
    // "nothing reads it" out of 662 requests.
    eprintln!("SIGHUP x5 under load: {seen:?}");
    assert_eq!(seen.misrouted, 0, "{seen:?}");
    assert_eq!(seen.timeouts, 0, "requests lost: {seen:?}");
    assert_eq!(seen.no_server, 0, "{seen:?}");
    assert_eq!(seen.failures(), 0, "{seen:?}");
    assert!(seen.ok > 400, "{seen:?}");
    assert!(
        leftovers(&env).is_empty(),
        "left behind: {:?}",
        leftovers(&env)
    );
    assert_answers(&env);
}

#[test]
fn garbage_writers_under_load_lose_nothing() {
    let env = TestEnv::new();
    let server = serve(&env, &[]);
    let load = Background::start(&client(&env, LOST), LOAD);
    load.wait_for(100);
    let rss_before = rss(server.pid());
    // Binary garbage in atomic writes (no ':' so it can never start a request
    // head that would swallow the next client's bytes), then one 1 MiB write
    // that the kernel splits and interleaves with the clients' requests.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut w = open_writer(env.fifo());
    for _ in 0..50 {
        let len = rng.usize(1..=4096);
        let chunk: Vec<u8> = (0..len)
            .map(|_| rng.u8(..))
            .filter(|b| *b != b':')
            .collect();
        w.write_all(&chunk).unwrap();
    }
    let big: Vec<u8> = (0..1 << 20)
        .map(|_| rng.u8(..))
        .filter(|b| *b != b':')
        .collect();
    w.write_all(&big).unwrap();
    drop(w);
    load.wait_for(300);
    let seen = load.stop();
    assert_eq!(seen.failures(), 0, "{seen:?}");
    assert_answers(&env);
    let rss_after = rss(server.pid());
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "RSS {rss_before} KiB -> {rss_after} KiB after 1 MiB of garbage"
    );
}

#[test]
fn server_killed_under_load_clients_fail_fast_then_restart_serves() {
    let env = TestEnv::new();
    let mut server = serve(&env, &[]);
    let timeout = Duration::from_secs(3);
    let load = Background::start(&client(&env, timeout), LOAD);
    load.wait_for(100);
    server.signal(Signal::SIGKILL);
    let _ = server.child.take().unwrap().wait();
    // Requests in flight time out (their deadline), new ones are refused at
    // once: the FIFO is still there but nothing reads it.
    // (`wait_for` panics if the clients stop making progress.)
    let t0 = Instant::now();
    load.wait_for(LOAD as u64 + 100);
    let seen = load.stop();
    assert!(
        t0.elapsed() < timeout + Duration::from_secs(10),
        "a client hung past its timeout"
    );
    // Only the requests in flight at the kill (one per client) may end
    // otherwise: at their deadline, or with an empty reply when the server
    // had opened their reply FIFO and died before writing. A client whose
    // request ended that way at once may write one more before the killed
    // process is gone (its read end still open): that one waits out its
    // deadline. So at most two per client; every later one is refused.
    // (CI once saw 16 timeouts + 1 empty reply with 16 clients.)
    assert_eq!(seen.misrouted, 0, "{seen:?}");
    assert!(seen.timeouts + seen.other <= 2 * LOAD as u64, "{seen:?}");
    assert!(
        seen.no_server > 0,
        "nobody noticed the dead server: {seen:?}"
    );

    // `mififo call` says so and exits 3, at once.
    let t0 = Instant::now();
    let out = env
        .cmd()
        .args(["call", "--timeout", "10s", "--fifo"])
        .arg(env.fifo())
        .arg("--reply-dir")
        .arg(env.dir.path())
        .arg("uptime")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing reads it"));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );

    // Restarted on the stale FIFO: it takes it over and serves again.
    let _server = serve(&env, &[]);
    let seen = run_fixed(&client(&env, LOST), LOAD, 20);
    assert_eq!(seen.failures(), 0, "{seen:?}");
}
