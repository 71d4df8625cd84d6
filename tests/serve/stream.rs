//! Framing over the shared byte stream: partial, concatenated and oversized
//! requests, garbage and a 1 MiB garbage writer.

use super::*;
use crate::util::read_reply;
use crate::util::{open_writer, reply_fifo};
use std::io::Write;

/// Creates reply FIFO `name` in the env and opens it non-blocking for reading.
fn reply_reader(env: &TestEnv, name: &str) -> std::fs::File {
    reply_fifo(&env.path(name))
}

fn writer(env: &TestEnv) -> std::fs::File {
    open_writer(env.fifo())
}

fn reply(r: &mut std::fs::File) -> String {
    String::from_utf8(read_reply(r, HANG).expect("a reply")).unwrap()
}

#[test]
fn a_request_split_across_writes_is_reassembled() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let mut r = reply_reader(&env, "s1");
    let mut w = writer(&env);
    w.write_all(b":s1:").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    w.write_all(br#"{"jsonrpc":"2.0","method":"#).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    w.write_all(br#""reset_all_statistics","id":1}"#).unwrap();
    drop(w);
    assert_eq!(reply(&mut r), r#"{"jsonrpc":"2.0","result":"OK","id":1}"#);
}

#[test]
fn concatenated_requests_in_one_write_are_all_answered() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let mut readers: Vec<_> = (0..3)
        .map(|i| reply_reader(&env, &format!("c{i}")))
        .collect();
    let mut bytes = Vec::new();
    for i in 0..3 {
        bytes.extend_from_slice(
            format!(
                "\n :c{i}:{{\"jsonrpc\":\"2.0\",\"method\":\"reset_all_statistics\",\"id\":{i}}}"
            )
            .as_bytes(),
        );
    }
    writer(&env).write_all(&bytes).unwrap();
    for (i, r) in readers.iter_mut().enumerate() {
        assert_eq!(
            reply(r),
            format!(r#"{{"jsonrpc":"2.0","result":"OK","id":{i}}}"#)
        );
    }
}

#[test]
fn requests_straddling_4096_bytes_are_both_answered() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let mut a = reply_reader(&env, "a");
    let mut b = reply_reader(&env, "b");
    let pad = "x".repeat(4000);
    let first =
        format!(r#":a:{{"jsonrpc":"2.0","method":"reset_all_statistics","pad":"{pad}","id":1}}"#);
    let second = r#":b:{"jsonrpc":"2.0","method":"reset_all_statistics","id":2}"#;
    let mut w = writer(&env);
    w.write_all(format!("{first}{second}").as_bytes()).unwrap();
    drop(w);
    assert_eq!(reply(&mut a), r#"{"jsonrpc":"2.0","result":"OK","id":1}"#);
    assert_eq!(reply(&mut b), r#"{"jsonrpc":"2.0","result":"OK","id":2}"#);
}

#[test]
fn garbage_and_invalid_utf8_do_not_poison_later_requests() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    for junk in [
        &b"hello world\n"[..],
        b"\xff\xfe\xfd:::\x00\x01",
        b":r.1:{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":1}",
        b"}}}]]]\"\"",
        // (not "r": the reply name `stat` uses below, which this late reply could hit)
        b":rz:{}trailing",
    ] {
        writer(&env).write_all(junk).unwrap();
        let got = exchange(
            &env,
            "ok",
            br#":ok:{"jsonrpc":"2.0","method":"which","params":{"command":"kill"},"id":9}"#,
        );
        assert_eq!(
            got.as_deref(),
            Some(r#"{"jsonrpc":"2.0","result":[[]],"id":9}"#),
            "after {:?}",
            String::from_utf8_lossy(junk)
        );
    }
    assert!(stat(&env, "mififo:garbage_bytes") > 20);
}

#[test]
fn a_1_mib_garbage_writer_does_not_stop_the_server() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let fifo = env.fifo();
    let garbage = std::thread::spawn(move || {
        let mut rng = fastrand::Rng::with_seed(42);
        let mut w = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
        let mut sent = 0usize;
        while sent < 1 << 20 {
            let chunk: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
            w.write_all(&chunk).unwrap();
            sent += chunk.len();
        }
        sent
    });
    // Requests during the flood may be lost inside garbage (they share one
    // stream); the server must survive and answer once the flood is over.
    let sent = garbage.join().unwrap();
    assert_eq!(sent, 1 << 20);
    let got = exchange(
        &env,
        "after",
        br#"
:after:{"jsonrpc":"2.0","method":"which","params":{"command":"kill"},"id":1}"#,
    );
    assert_eq!(
        got.as_deref(),
        Some(r#"{"jsonrpc":"2.0","result":[[]],"id":1}"#)
    );
    assert!(stat(&env, "mififo:garbage_bytes") > (1 << 20) / 2);
}

#[test]
fn an_oversized_request_is_refused_and_nothing_inside_it_runs() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let mut big_reader = reply_reader(&env, "big");
    let _evil = reply_reader(&env, "evil");
    // A request hidden at an offset beyond the cap, inside a string value:
    // OpenSIPS executes such a tail as a new command.
    let mut req = br#":big:{"jsonrpc":"2.0","method":"uptime","params":[""#.to_vec();
    req.extend(std::iter::repeat_n(b'a', 70_000));
    req.extend_from_slice(br#":evil:{\"jsonrpc\":\"2.0\",\"method\":\"kill\",\"id\":1}"#);
    req.extend(std::iter::repeat_n(b'b', 1000));
    req.extend_from_slice(br#""],"id":5}"#);
    writer(&env).write_all(&req).unwrap();
    assert_eq!(
        reply(&mut big_reader),
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"request larger than 65536 bytes"},"id":null}"#
    );
    // Still alive and resynchronised.
    assert_serving(&env);
}

#[test]
fn a_writer_that_connects_and_sends_nothing_is_harmless() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    for _ in 0..20 {
        drop(writer(&env));
    }
    assert_serving(&env);
}

/// Issue 10, finding 5: `:x:["` + 70,000 × `a` (over the cap), `"` + 2,000
/// × `[`, then one space every 0.5 s kept the old framer skipping forever and
/// swallowed every other client's request. Now other clients are answered
/// while the attacker keeps dripping, and the discarded bytes are counted.
#[test]
fn an_endless_oversized_value_does_not_swallow_other_clients() {
    let env = TestEnv::new();
    let _s = env.serve(&[]);
    let mut attacker = writer(&env);
    let mut evil = b":x:[\"".to_vec();
    evil.extend(std::iter::repeat_n(b'a', 70_000));
    evil.push(b'"');
    evil.extend(std::iter::repeat_n(b'[', 2000));
    attacker.write_all(&evil).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drip = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = attacker.write_all(b" ");
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    for i in 0..3 {
        let name = format!("v{i}");
        let got = exchange(
            &env,
            &name,
            format!(r#":{name}:{{"jsonrpc":"2.0","method":"uptime","id":{i}}}"#).as_bytes(),
        )
        .unwrap_or_else(|| panic!("call {i} swallowed"));
        assert!(
            got.starts_with(r#"{"jsonrpc":"2.0","result":{"Now":"#)
                && got.ends_with(&format!(r#","id":{i}}}"#)),
            "{got}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drip.join().unwrap();
    assert!(stat(&env, "mififo:garbage_bytes") > 0);
}
