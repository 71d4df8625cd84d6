//! The 1.x/2.x text dialect (`src/proto/text.rs`): the request framer on
//! arbitrary bytes cut at arbitrary points, and the argument parser on
//! arbitrary bodies. Neither may panic; a clean request after a reset parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mififo::proto::text::{parse_args, TextFrame, TextFramer};

fuzz_target!(|data: &[u8]| {
    let _ = parse_args(data);
    let (chunk, body) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c).max(1), rest),
        None => (1, data),
    };
    let mut f = TextFramer::new(4096);
    for piece in body.chunks(chunk) {
        f.push(piece);
        while f.next_frame().is_some() {}
    }
    let _ = f.flush();
    f.reset();
    f.push(b":uptime:r1\n\n");
    match f.next_frame() {
        Some(TextFrame::Request(r)) => {
            assert_eq!(r.command, "uptime");
            assert_eq!(r.reply_name, b"r1");
        }
        other => panic!("valid request after reset not framed: {other:?}"),
    }
});
