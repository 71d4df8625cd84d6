//! Properties over arbitrary byte streams: the framers never panic and always
//! recover; a live server survives any bytes and answers the next valid request.

use super::*;
use crate::util::raw_exchange;
use mififo::proto::framing::{Frame, Framer};
use mififo::proto::text::{TextFrame, TextFramer};
use proptest::prelude::*;
use std::io::Write;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any bytes, delivered in any chunking: no panic, bounded buffering, and
    /// a valid request after the stream is flushed is framed exactly.
    #[test]
    fn json_framer_survives_any_stream(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..512,
    ) {
        let mut f = Framer::new(1024);
        for piece in data.chunks(chunk) {
            f.push(piece);
            while f.next_frame().is_some() {}
            prop_assert!(f.buffered() <= f.cap(), "{} bytes buffered, cap {}", f.buffered(), f.cap());
        }
        let _ = f.flush();
        while f.next_frame().is_some() {}
        f.push(b"\n:ok:{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":1}");
        let mut last = None;
        while let Some(fr) = f.next_frame() {
            last = Some(fr);
        }
        match last {
            Some(Frame::Request { reply_name, body }) => {
                prop_assert_eq!(reply_name, b"ok".to_vec());
                prop_assert_eq!(&body["method"], "uptime");
            }
            other => prop_assert!(false, "not framed after flush: {:?}", other),
        }
    }

    /// Same for the 1.x/2.x text framer, without a reset: whatever came
    /// before, an empty line ends it and the next request is framed exactly.
    #[test]
    fn text_framer_survives_any_stream(
        // Bytes rich in the protocol's own: line ends, colons, quotes, blanks.
        data in proptest::collection::vec(
            prop_oneof![4 => any::<u8>(), 2 => Just(b'\n'), 1 => Just(b':'), 1 => Just(b'"'), 1 => Just(b' ')],
            0..2048,
        ),
        chunk in 1usize..512,
    ) {
        let cap = 1024;
        let mut f = TextFramer::new(cap);
        for piece in data.chunks(chunk) {
            f.push(piece);
            while f.next_frame().is_some() {}
            prop_assert!(f.buffered() <= cap, "{} bytes buffered, cap {cap}", f.buffered());
        }
        // End whatever line and request the garbage left open, then a request.
        f.push(b"\n\n:uptime:ok\n\n");
        let mut last = None;
        while let Some(fr) = f.next_frame() {
            last = Some(fr);
        }
        match last {
            Some(TextFrame::Request(r)) => {
                prop_assert_eq!(r.command, "uptime");
                prop_assert_eq!(r.reply_name, b"ok".to_vec());
            }
            other => prop_assert!(false, "not resynchronised: {:?}", other),
        }
        prop_assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn a_live_server_survives_any_bytes_and_answers_the_next_request() {
    let env = TestEnv::new();
    let server = serve(&env, &[]);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    let strategy = proptest::collection::vec(any::<u8>(), 0..3000);
    let counter = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&strategy, |bytes| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            {
                let mut w = std::fs::OpenOptions::new()
                    .write(true)
                    .open(env.fifo())
                    .unwrap();
                w.write_all(&bytes).unwrap();
            }
            // The garbage may end inside something that looks like a request
            // start; the server gives up on it after its partial timeout, so a
            // request answered within a few tries is the property.
            let name = format!("after{n}");
            let req = format!("\n:{name}:{{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":{n}}}");
            let mut answered = None;
            for _ in 0..5 {
                answered = raw_exchange(
                    &env.fifo(),
                    env.dir.path(),
                    &name,
                    req.as_bytes(),
                    Duration::from_secs(3),
                );
                if answered.is_some() {
                    break;
                }
            }
            let got = answered.map(|b| String::from_utf8_lossy(&b).into_owned());
            prop_assert!(
                got.as_deref().is_some_and(
                    |g| g.contains("\"result\"") && g.ends_with(&format!("\"id\":{n}}}"))
                ),
                "no answer after garbage {:?}: {:?}",
                bytes,
                got
            );
            Ok(())
        })
        .unwrap();
    // Still the same process.
    assert!(rss(server.pid()) > 0);
}
