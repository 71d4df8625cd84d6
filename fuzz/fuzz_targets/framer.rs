//! The `:name:{json}` stream framer (`src/proto/framing.rs`) on arbitrary bytes
//! cut at arbitrary points: it must not panic, must not buffer without bound,
//! and after `flush`/`reset` must still frame a valid request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mififo::proto::framing::{Frame, Framer};

const CAP: usize = 4096;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the chunk size, so the same bytes are also tried
    // split across reads as the FIFO would deliver them.
    let (chunk, body) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c).max(1), rest),
        None => (1, data),
    };
    let mut f = Framer::new(CAP);
    for piece in body.chunks(chunk) {
        f.push(piece);
        while let Some(frame) = f.next_frame() {
            check(&frame);
        }
    }
    if let Some(frame) = f.flush() {
        check(&frame);
    }
    while let Some(frame) = f.next_frame() {
        check(&frame);
    }
    // Whatever came before, a clean request after a reset is framed exactly.
    f.reset();
    f.push(br#":r1:{"jsonrpc":"2.0","method":"uptime","id":1}"#);
    match f.next_frame() {
        Some(Frame::Request { reply_name, body }) => {
            assert_eq!(reply_name, b"r1");
            assert_eq!(body["method"], "uptime");
        }
        other => panic!("valid request after reset not framed: {other:?}"),
    }
});

fn check(frame: &Frame) {
    match frame {
        Frame::Request { reply_name, .. }
        | Frame::Unparseable { reply_name, .. }
        | Frame::TooLarge { reply_name, .. } => {
            assert!(reply_name.len() <= mififo::proto::framing::MAX_NAME);
            assert!(!reply_name.contains(&b':'));
        }
        Frame::Garbage { len, .. } => assert!(*len > 0),
    }
}
