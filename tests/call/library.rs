//! The library client against fake servers.

use super::fake::{self, count_entries, echo, entries_with_prefix, fake, Act};
use crate::util::TestEnv;
use mififo::client::{Client, ClientConfig, Error, ErrorKind, ReplyKind, TimeoutStage};
use mififo::proto::jsonrpc::{Outcome, Params, Request};
use mififo::proto::Dialect;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn client(env: &TestEnv, dialect: Dialect, timeout: Duration) -> Client {
    Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        timeout,
        dialect,
        allow_large: false,
        ..Default::default()
    })
}

fn result(kind: &ReplyKind) -> &Value {
    match kind {
        ReplyKind::Json(r) => match &r.outcome {
            Outcome::Result(v) => v,
            Outcome::Error(e) => panic!("error reply: {e}"),
        },
        other => panic!("not JSON: {other:?}"),
    }
}

/// Reply FIFOs left in the temp dir (everything except the server FIFO).
fn leftovers(env: &TestEnv) -> Vec<String> {
    entries_with_prefix(env.dir.path(), "mififo_reply_")
}

#[tokio::test]
async fn json_round_trip_carries_params_and_id() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, echo);
    let c = client(&env, Dialect::Json, Duration::from_secs(30));
    let req = Request::new(
        "get_statistics",
        Params::Positional(vec![json!(["dialog:", "tm:"])]),
        Some(json!("abc")),
    );
    let reply = c.send(&req).await.unwrap();
    assert_eq!(
        result(&reply.kind),
        &json!({"method": "get_statistics", "params": [["dialog:", "tm:"]]})
    );
    let ReplyKind::Json(r) = &reply.kind else {
        unreachable!()
    };
    assert_eq!(r.id, json!("abc"));
    // Exactly one request, framed as OpenSIPS expects, in one piece.
    let reqs = srv.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    let raw = String::from_utf8(reqs[0].raw.clone()).unwrap();
    assert!(
        raw.starts_with(&format!(":{}:{{", reqs[0].reply_name)),
        "{raw}"
    );
    assert!(!reqs[0].reply_name.contains('.'));
    assert!(leftovers(&env).is_empty());
}

#[tokio::test]
async fn notification_gets_an_empty_reply() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, echo);
    let c = client(&env, Dialect::Json, Duration::from_secs(30));
    let reply = c
        .send(&Request::new("log_level", Params::None, None))
        .await
        .unwrap();
    assert_eq!(reply.kind, ReplyKind::Empty);
    assert!(reply.raw.is_empty());
}

#[tokio::test]
async fn plain_text_engine_error_and_pretty_json_and_rpc_error() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        match r.json.as_ref().unwrap()["method"].as_str().unwrap() {
        "text" => Act::Reply(b"failed to print response".to_vec()),
        "pretty" => Act::Reply(
            format!("{{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{{\n\t\t\"Up time\":\t\"3600 [sec]\"\n\t}},\n\t\"id\":\t{}\n}}", r.id().unwrap())
                .into_bytes(),
        ),
        _ => Act::Reply(fake::error_for(r, -32601, "Method not found")),
    }
    });
    let c = client(&env, Dialect::Json, Duration::from_secs(30));
    let t = c.call("text", Params::None).await.unwrap();
    assert_eq!(t.kind, ReplyKind::Text("failed to print response".into()));
    assert!(t.is_error(Dialect::Json));
    let p = c.call("pretty", Params::None).await.unwrap();
    assert_eq!(result(&p.kind), &json!({"Up time": "3600 [sec]"}));
    assert!(p.raw.contains(&b'\t'), "raw bytes kept untouched");
    let e = c.call("nope", Params::None).await.unwrap();
    assert!(e.is_error(Dialect::Json));
    match e.kind {
        ReplyKind::Json(r) => match r.outcome {
            Outcome::Error(err) => assert_eq!(err.to_string(), "-32601: Method not found"),
            o => panic!("{o:?}"),
        },
        k => panic!("{k:?}"),
    }
}

#[tokio::test]
async fn chunked_reply_is_read_to_eof() {
    let env = TestEnv::new();
    let big: String = "x".repeat(100_000);
    let big2 = big.clone();
    let _srv = fake(&env, Dialect::Json, move |r| {
        let bytes = fake::result_for(r, json!(big2));
        let chunks = bytes.chunks(7000).map(<[u8]>::to_vec).collect();
        Act::Chunks(chunks, Duration::from_millis(20))
    });
    let c = client(&env, Dialect::Json, Duration::from_secs(60));
    let reply = c.call("big", Params::None).await.unwrap();
    assert_eq!(result(&reply.kind), &json!(big));
}

#[tokio::test]
async fn slow_server_within_timeout_is_fine() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        Act::Delay(Duration::from_millis(400), Box::new(echo(r)))
    });
    let c = client(&env, Dialect::Json, Duration::from_secs(60));
    let reply = c.call("uptime", Params::None).await.unwrap();
    assert_eq!(result(&reply.kind)["method"], "uptime");
}

#[tokio::test]
async fn silent_server_times_out_and_leaves_nothing() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, |_| Act::Silent);
    let before = count_entries(env.dir.path());
    let c = client(&env, Dialect::Json, Duration::from_millis(300));
    let e = c.call("uptime", Params::None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(
        matches!(
            e,
            Error::Timeout {
                stage: TimeoutStage::NoReply,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("reply directory") && msg.contains(&env.reply_dir()),
        "{msg}"
    );
    assert_eq!(srv.count(), 1, "the request itself was delivered");
    assert_eq!(count_entries(env.dir.path()), before);
}

#[tokio::test]
async fn reply_dir_mismatch_is_a_timeout_that_says_so() {
    let env = TestEnv::new();
    let other = env.path("elsewhere");
    std::fs::create_dir(&other).unwrap();
    let o2 = other.clone();
    let _srv = fake(&env, Dialect::Json, move |r| {
        Act::ReplyIn(o2.clone(), fake::result_for(r, json!(1)))
    });
    let c = client(&env, Dialect::Json, Duration::from_millis(800));
    let e = c.call("uptime", Params::None).await.unwrap_err();
    assert!(e.to_string().contains("must be"), "{e}");
    assert!(leftovers(&env).is_empty());
}

#[tokio::test]
async fn writer_that_never_closes_is_a_partial_timeout() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |_| {
        Act::Chunks(vec![b"{\"jsonrpc\"".to_vec()], Duration::from_secs(3))
    });
    let c = client(&env, Dialect::Json, Duration::from_millis(800));
    let e = c.call("uptime", Params::None).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Timeout {
                stage: TimeoutStage::PartialReply { received: 10 },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(leftovers(&env).is_empty());
}

#[tokio::test]
async fn no_reader_and_missing_and_not_a_fifo_fail_at_once() {
    let env = TestEnv::new();
    let c = client(&env, Dialect::Json, Duration::from_secs(60));
    let t0 = Instant::now();
    let e = c.call("uptime", Params::None).await.unwrap_err();
    assert!(matches!(e, Error::Missing { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::NoServer);

    nix::unistd::mkfifo(&env.fifo(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let e = c.call("uptime", Params::None).await.unwrap_err();
    assert!(matches!(e, Error::NoReader { .. }), "{e:?}");
    assert!(e.to_string().contains("nothing reads it"));
    std::fs::remove_file(env.fifo()).unwrap();

    std::fs::write(env.fifo(), b"").unwrap();
    let e = c.call("uptime", Params::None).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFifo {
                what: "a regular file",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        std::fs::read(env.fifo()).unwrap(),
        b"",
        "nothing written into a regular file"
    );
    // Hang detector only (timeout is 60 s): none of these waited for the timeout.
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert!(
        leftovers(&env).is_empty(),
        "no reply FIFO created for a dead server"
    );
}

#[tokio::test]
async fn oversized_request_refused_unless_allowed() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, echo);
    let big = Params::Positional(vec![json!("y".repeat(5000))]);
    let c = client(&env, Dialect::Json, Duration::from_secs(30));
    let e = c.call("echo", big.clone()).await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Local);
    assert_eq!(srv.count(), 0);
    let c = Client::new(ClientConfig {
        allow_large: true,
        ..c.config().clone()
    });
    let reply = c.call("echo", big).await.unwrap();
    assert_eq!(
        result(&reply.kind)["params"][0].as_str().unwrap().len(),
        5000
    );
}

#[tokio::test]
async fn many_concurrent_tasks_each_get_their_own_reply() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        // Answer out of order.
        let d = Duration::from_millis(fastrand::u64(0..50));
        Act::Delay(d, Box::new(echo(r)))
    });
    let c = client(&env, Dialect::Json, Duration::from_secs(60));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let r = c
                .call("m", Params::Positional(vec![json!(i)]))
                .await
                .unwrap();
            assert_eq!(result(&r.kind)["params"], json!([i]));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(leftovers(&env).is_empty());
}

#[tokio::test]
async fn dropped_future_unlinks_the_reply_fifo() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |_| Act::Silent);
    let c = client(&env, Dialect::Json, Duration::from_secs(60));
    let task = tokio::spawn(async move { c.call("uptime", Params::None).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    while leftovers(&env).is_empty() {
        assert!(Instant::now() < deadline, "reply FIFO never appeared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    assert!(leftovers(&env).is_empty());
}

#[tokio::test]
async fn text_dialect_round_trip_and_error_line() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Text, |r| {
        let (cmd, args) = r.text.clone().unwrap();
        if cmd == "get_statistics" {
            Act::Reply(
                format!(
                    "200 OK\n{}\n\n",
                    args.iter()
                        .map(|a| format!("{a}count:: 1"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
                .into_bytes(),
            )
        } else {
            Act::Reply(format!("500 command '{cmd}' not available\n").into_bytes())
        }
    });
    let c = client(&env, Dialect::Text, Duration::from_secs(30));
    let r = c
        .call(
            "get_statistics",
            Params::Positional(vec![json!(["dialog:", "tm:"])]),
        )
        .await
        .unwrap();
    assert_eq!(
        r.kind,
        ReplyKind::Text("200 OK\ndialog:count:: 1\ntm:count:: 1\n\n".into())
    );
    assert!(!r.is_error(Dialect::Text));
    assert_eq!(
        srv.requests.lock().unwrap()[0].text.as_ref().unwrap().1,
        vec!["dialog:", "tm:"]
    );
    let r = c.call("nope", Params::None).await.unwrap();
    assert!(r.is_error(Dialect::Text));
}

#[tokio::test]
async fn kamailio_dialect_puts_reply_name_in_the_json() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Kamailio, |r| {
        // Kamailio pretty-prints by default.
        let v = json!({"jsonrpc": "2.0", "result": [r.json.as_ref().unwrap()["method"].clone()], "id": r.id()});
        Act::Reply(serde_json::to_string_pretty(&v).unwrap().into_bytes())
    });
    let c = client(&env, Dialect::Kamailio, Duration::from_secs(30));
    let r = c.call("core.uptime", Params::None).await.unwrap();
    assert_eq!(result(&r.kind), &json!(["core.uptime"]));
    let req = srv.requests.lock().unwrap()[0].clone();
    assert_eq!(req.json.unwrap()["reply_name"], json!(req.reply_name));
}

#[test]
fn reply_dir_without_trailing_slash_works() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, echo);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: Path::new(env.reply_dir().trim_end_matches('/')).to_path_buf(),
        timeout: Duration::from_secs(30),
        dialect: Dialect::Json,
        allow_large: false,
        ..Default::default()
    });
    let r = rt.block_on(c.call("uptime", Params::None)).unwrap();
    assert_eq!(result(&r.kind)["method"], "uptime");
}

#[tokio::test]
async fn writer_holding_the_fifo_open_is_waited_for() {
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |_| {
        Act::Hold(Duration::from_millis(300))
    });
    let c = client(&env, Dialect::Json, Duration::from_secs(30));
    // Open, silence, close: the reply is complete only at the close, and empty.
    let r = c.call("uptime", Params::None).await.unwrap();
    assert_eq!(r.kind, ReplyKind::Empty);
}

#[tokio::test]
async fn server_exiting_during_the_wait_is_named_in_the_timeout() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, |_| Act::Silent);
    let c = client(&env, Dialect::Json, Duration::from_millis(1500));
    let task = tokio::spawn(async move { c.call("uptime", Params::None).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.count() == 0 {
        assert!(Instant::now() < deadline, "request never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(srv); // the server goes away with our request
    let e = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Timeout {
                server_gone: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("stopped reading"), "{e}");
}
