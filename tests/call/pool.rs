//! The reply-FIFO pool (`ClientConfig::pool`): reuse, one exchange per FIFO
//! at a time, end of reply from the reply itself, retirement after a timeout
//! or stray bytes, cleanup when the client goes.

use super::fake::{self, echo, entries_with_prefix, fake, Act};
use crate::util::TestEnv;
use mififo::client::{Client, ClientConfig, Error, ReplyKind};
use mififo::proto::jsonrpc::{Outcome, Params};
use mififo::proto::Dialect;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

fn pooled(env: &TestEnv, dialect: Dialect, pool: usize, timeout: Duration) -> Client {
    Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        timeout,
        dialect,
        pool,
        ..Default::default()
    })
}

fn result(kind: &ReplyKind) -> Value {
    match kind {
        ReplyKind::Json(r) => match &r.outcome {
            Outcome::Result(v) => v.clone(),
            Outcome::Error(e) => panic!("error reply: {e}"),
        },
        other => panic!("not JSON: {other:?}"),
    }
}

fn names(srv: &fake::Fake) -> Vec<String> {
    srv.requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.reply_name.clone())
        .collect()
}

#[tokio::test]
async fn sequential_requests_reuse_one_reply_fifo_and_it_goes_with_the_client() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, echo);
    let c = pooled(&env, Dialect::Json, 2, Duration::from_secs(30));
    for i in 0..20 {
        let r = c
            .call("uptime", Params::Positional(vec![json!(i)]))
            .await
            .unwrap();
        assert_eq!(result(&r.kind)["params"], json!([i]));
    }
    let used: HashSet<String> = names(&srv).into_iter().collect();
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(c.pooled_idle(), 1);
    assert_eq!(
        entries_with_prefix(env.dir.path(), "mififo_reply_").len(),
        1
    );
    drop(c);
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_never_share_a_fifo_or_a_reply() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, echo);
    let c = pooled(&env, Dialect::Json, 4, Duration::from_secs(60));
    let mut set = tokio::task::JoinSet::new();
    for t in 0..8 {
        let c = c.clone();
        set.spawn(async move {
            for i in 0..15 {
                let p = json!(format!("{t}-{i}"));
                let r = c
                    .call("m", Params::Positional(vec![p.clone()]))
                    .await
                    .unwrap();
                assert_eq!(result(&r.kind)["params"], json!([p]));
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let used: HashSet<String> = names(&srv).into_iter().collect();
    assert!(used.len() <= 8, "{} FIFOs for 8 tasks", used.len());
    assert!(c.pooled_idle() <= 4);
    drop(c);
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}

/// A FIFO whose request timed out is never used again: the late reply finds
/// it gone, and the next request gets another FIFO and its own reply.
#[tokio::test]
async fn a_timed_out_fifo_is_retired() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, |r| {
        if r.json.as_ref().unwrap()["method"] == "slow" {
            Act::Delay(Duration::from_millis(700), Box::new(echo(r)))
        } else {
            echo(r)
        }
    });
    let c = pooled(&env, Dialect::Json, 2, Duration::from_millis(300));
    c.call("uptime", Params::None).await.unwrap();
    let e = c.call("slow", Params::None).await.unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert_eq!(
        c.pooled_idle(),
        0,
        "the timed-out FIFO went back to the pool"
    );
    tokio::time::sleep(Duration::from_millis(800)).await; // the late reply is written (or not)
    let r = c.call("fast", Params::None).await.unwrap();
    assert_eq!(result(&r.kind)["method"], "fast");
    let n = names(&srv);
    assert_eq!(n[0], n[1], "the first FIFO was reused for the slow request");
    assert_ne!(n[1], n[2], "the timed-out FIFO was reused");
}

/// Bytes that arrive while a FIFO is idle (a late or foreign writer) retire
/// it; the next request uses a fresh one and is answered correctly.
#[tokio::test]
async fn stray_bytes_while_idle_retire_the_fifo() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, echo);
    let c = pooled(&env, Dialect::Json, 2, Duration::from_secs(30));
    c.call("one", Params::None).await.unwrap();
    let name = names(&srv)[0].clone();
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(env.dir.path().join(&name))
        .unwrap();
    w.write_all(br#"{"jsonrpc":"2.0","result":"forged","id":1}"#)
        .unwrap();
    drop(w);
    let r = c.call("two", Params::None).await.unwrap();
    assert_eq!(result(&r.kind)["method"], "two");
    assert_ne!(names(&srv)[1], name);
    assert!(!env.dir.path().join(&name).exists());
}

/// The end of a reply comes from the reply: chunked writes with pauses, and
/// Kamailio's pretty JSON; and from the writer's close for plain text.
#[tokio::test]
async fn replies_end_at_their_last_byte_or_at_the_writers_close() {
    let env = TestEnv::new();
    let big = "x".repeat(20_000);
    let big2 = big.clone();
    let _srv = fake(&env, Dialect::Json, move |r| {
        match r.json.as_ref().unwrap()["method"].as_str().unwrap() {
            "chunked" => {
                let bytes = fake::result_for(r, json!(big2));
                let chunks = bytes.chunks(4096).map(<[u8]>::to_vec).collect();
                Act::Chunks(chunks, Duration::from_millis(20))
            }
            "pretty" => Act::Reply(
                format!(
                    "{{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{{\n\t\t\"a\":\t\"}}\"\n\t}},\n\t\"id\":\t{}\n}}",
                    r.id().unwrap()
                )
                .into_bytes(),
            ),
            _ => Act::Reply(b"failed to print response".to_vec()),
        }
    });
    let c = pooled(&env, Dialect::Json, 1, Duration::from_secs(30));
    for _ in 0..2 {
        let r = c.call("chunked", Params::None).await.unwrap();
        assert_eq!(result(&r.kind), json!(big));
        let r = c.call("pretty", Params::None).await.unwrap();
        assert_eq!(result(&r.kind), json!({"a": "}"}));
        let r = c.call("text", Params::None).await.unwrap();
        assert_eq!(r.kind, ReplyKind::Text("failed to print response".into()));
    }
}

/// Two replies on a pooled FIFO are refused like on a fresh one, and the
/// FIFO is retired; notifications and the text dialect use fresh FIFOs.
#[tokio::test]
async fn second_replies_are_refused_and_unpooled_requests_still_work() {
    let env = TestEnv::new();
    let srv = fake(&env, Dialect::Json, |r| {
        if r.json.as_ref().unwrap()["method"] == "two" {
            let mut b = fake::result_for(r, json!(1));
            b.extend_from_slice(&fake::result_for(r, json!(2)));
            Act::Reply(b)
        } else {
            echo(r)
        }
    });
    let c = pooled(&env, Dialect::Json, 2, Duration::from_secs(30));
    let e = c.call("two", Params::None).await.unwrap_err();
    assert!(matches!(e, Error::SecondReply { .. }), "{e}");
    assert_eq!(c.pooled_idle(), 0);
    let n = c
        .send(&mififo::proto::jsonrpc::Request::new(
            "log_level",
            Params::None,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(n.kind, ReplyKind::Empty);
    assert_eq!(c.pooled_idle(), 0, "a notification is not pooled");
    drop(srv);
    assert!(entries_with_prefix(env.dir.path(), "mififo_reply_").is_empty());
}

/// `send_for_relay` (the gateway's path): a compact reply comes back
/// unparsed with its id located, any other reply as `send` returns it, and
/// a foreign id, a second reply or bytes after the reply are refused exactly
/// as by `send` (and retire the FIFO).
#[tokio::test]
async fn relayed_replies_are_judged_as_strictly_as_sent_ones() {
    use mififo::client::Relayable;
    use mififo::proto::jsonrpc::Request;
    let env = TestEnv::new();
    let _srv = fake(&env, Dialect::Json, |r| {
        let id = r.id().unwrap();
        let compact =
            format!(r#"{{"jsonrpc":"2.0","result":{{"a":"é \"}}","b":[1,{{}}]}},"id":{id}}}"#);
        match r.json.as_ref().unwrap()["method"].as_str().unwrap() {
            "compact" => Act::Reply(compact.into_bytes()),
            "split" => {
                let b = compact.into_bytes();
                let (x, y) = b.split_at(20);
                Act::Chunks(vec![x.to_vec(), y.to_vec()], Duration::from_millis(20))
            }
            "error" => Act::Reply(fake::error_for(r, -32601, "Method not found")),
            "pretty" => Act::Reply(
                format!("{{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t1,\n\t\"id\":\t{id}\n}}")
                    .into_bytes(),
            ),
            "foreign" => Act::Reply(
                format!(
                    r#"{{"jsonrpc":"2.0","result":1,"id":{}}}"#,
                    id.as_u64().unwrap() + 1
                )
                .into_bytes(),
            ),
            "two" => Act::Reply(format!("{compact}{compact}").into_bytes()),
            "tail" => Act::Reply(format!("{compact}junk").into_bytes()),
            _ => Act::Reply(b"failed to print response".to_vec()),
        }
    });
    let c = pooled(&env, Dialect::Json, 2, Duration::from_secs(30));
    let req = |m: &str| Request::new(m, Params::None, Some(json!(mififo::client::fresh_id())));
    for m in ["compact", "split", "error"] {
        let r = req(m);
        let id = r.id.clone().unwrap().to_string();
        match c.send_for_relay(&r).await.unwrap() {
            Relayable::Compact { raw, reply } => {
                assert_eq!(reply.end, raw.len(), "{m}");
                assert_eq!(&raw[reply.id.clone()], id.as_bytes(), "{m}");
                // The same reply as send makes of it.
                let kind = Relayable::Compact { raw, reply }.into_reply().kind;
                assert!(matches!(kind, ReplyKind::Json(_)), "{m}: {kind:?}");
            }
            other => panic!("{m}: not passed on as written: {other:?}"),
        }
        if m != "split" {
            // (A reply that pauses before its end retires its FIFO.)
            assert_eq!(c.pooled_idle(), 1, "{m}: the FIFO is reused");
        }
    }
    match c.send_for_relay(&req("pretty")).await.unwrap() {
        Relayable::Reply(r) => assert_eq!(result(&r.kind), json!(1)),
        other => panic!("pretty: {other:?}"),
    }
    match c.send_for_relay(&req("text")).await.unwrap() {
        Relayable::Reply(r) => {
            assert_eq!(r.kind, ReplyKind::Text("failed to print response".into()))
        }
        other => panic!("text: {other:?}"),
    }
    for (m, want) in [
        ("foreign", "ForeignReply"),
        ("two", "SecondReply"),
        ("tail", "TrailingData"),
    ] {
        let before = c.pooled_idle();
        let e = c.send_for_relay(&req(m)).await.unwrap_err();
        assert!(format!("{e:?}").starts_with(want), "{m}: {e:?}");
        assert!(c.pooled_idle() < before.max(1), "{m}: the FIFO is retired");
    }
}
