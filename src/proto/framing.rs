//! The `:reply_name:{json}` stream framer of the OpenSIPS 3.x/4.x FIFO.
//!
//! All writers of a FIFO share one byte stream, so the server sees requests
//! concatenated, split across reads, and mixed with whatever garbage a broken
//! client wrote. [`Framer`] turns that stream into [`Frame`]s:
//!
//! - leading whitespace (SP, TAB, CR, LF) is skipped, as in OpenSIPS;
//! - several requests in one read are all returned (OpenSIPS ≥ 3.1 does the same);
//! - a request split across reads is reassembled (OpenSIPS drops it), up to
//!   [`Framer::cap`] bytes (64 KiB by default). A request that grows beyond the
//!   cap is reported as [`Frame::TooLarge`] and the rest of its JSON value is
//!   skipped byte by byte, so nothing hidden inside it can be executed (OpenSIPS
//!   parses the tail of an oversized request as new commands — see Appendix A);
//! - bytes that cannot start a request are discarded up to the next plausible
//!   `:name:{` and reported as [`Frame::Garbage`], so garbage and invalid UTF-8
//!   never poison later requests;
//! - a request whose name is known but whose JSON does not parse is reported as
//!   [`Frame::Unparseable`] so the server can answer `-32700` (OpenSIPS drops it
//!   and the client hangs).
//!
//! Reply-name validation is not done here (see [`super::reply_name`]); the
//! framer only requires a name of at most [`MAX_NAME`] bytes without `:`,
//! whitespace, control bytes or JSON brackets/quotes.

use serde_json::Value;

/// Default reassembly cap (bytes buffered for one incomplete request).
pub const DEFAULT_CAP: usize = 64 * 1024;

/// Longest reply name considered a name: OpenSIPS's 128-byte path limit minus
/// the shortest directory (`/`) and the NUL.
pub const MAX_NAME: usize = 126;

/// One unit of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `:name:` followed by one complete JSON value.
    Request {
        /// The raw reply name (may be empty: no reply wanted).
        reply_name: Vec<u8>,
        /// The parsed JSON value (not yet validated as a JSON-RPC request).
        body: Value,
    },
    /// `:name:` followed by bytes that are not JSON.
    Unparseable {
        /// The raw reply name.
        reply_name: Vec<u8>,
        /// The parser's message.
        error: String,
    },
    /// `:name:` followed by a JSON value longer than the cap; the value was skipped.
    TooLarge {
        /// The raw reply name.
        reply_name: Vec<u8>,
        /// Bytes buffered when the cap was hit.
        buffered: usize,
    },
    /// Bytes that could not start a request, discarded.
    Garbage {
        /// How many bytes were discarded.
        len: usize,
        /// The first bytes, lossily decoded, for the log.
        sample: String,
    },
}

/// Incremental framer; feed it with [`Framer::push`], drain it with [`Framer::next_frame`].
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    cap: usize,
    skip: Option<Skipper>,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_CAP)
    }
}

/// Result of looking at the `:name:` head at the start of a buffer.
enum Head {
    /// `:name:` found; the JSON starts at this offset.
    Complete { name_end: usize, json_start: usize },
    /// Could still become a head when more bytes arrive.
    NeedMore,
    /// Cannot be a head.
    Invalid,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes accepted in a reply name by the framer. OpenSIPS only forbids
/// `.`, `/` and `\` (checked later); we also refuse whitespace, control
/// bytes and JSON punctuation so that garbage ending in `:abc` cannot swallow
/// the `:` of the next real request. No real client uses such names.
fn name_byte(b: u8) -> bool {
    b > b' ' && b != 0x7f && !matches!(b, b'{' | b'}' | b'[' | b']' | b'"')
}

fn head(buf: &[u8]) -> Head {
    if buf.first() != Some(&b':') {
        return Head::Invalid;
    }
    for (i, &b) in buf.iter().enumerate().skip(1) {
        if b == b':' {
            return Head::Complete {
                name_end: i,
                json_start: i + 1,
            };
        }
        if !name_byte(b) || i > MAX_NAME {
            return Head::Invalid;
        }
    }
    Head::NeedMore
}

/// True when a request could start at `buf[p]`: `:name:` then (after
/// optional whitespace) `{` or `[`, or not enough bytes yet to tell.
fn plausible_start(buf: &[u8]) -> bool {
    match head(buf) {
        Head::Invalid => false,
        Head::NeedMore => true,
        Head::Complete { json_start, .. } => match buf[json_start..].iter().find(|b| !is_ws(**b)) {
            None => true,
            Some(b) => *b == b'{' || *b == b'[',
        },
    }
}

impl Framer {
    /// A framer that buffers at most `cap` bytes of one incomplete request.
    pub fn new(cap: usize) -> Self {
        Framer {
            buf: Vec::new(),
            cap: cap.max(crate::proto::PIPE_BUF),
            skip: None,
        }
    }

    /// The reassembly cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True while a partial request is buffered or an oversized one is being skipped.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty() || self.skip.is_some()
    }

    /// Drops everything buffered (e.g. when the FIFO was recreated).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.skip = None;
    }

    /// Appends bytes read from the FIFO.
    pub fn push(&mut self, data: &[u8]) {
        let data = match &mut self.skip {
            Some(sk) => match sk.feed(data) {
                Some(consumed) => {
                    self.skip = None;
                    &data[consumed..]
                }
                None => return,
            },
            None => data,
        };
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.skip.is_some() {
            return None;
        }
        let start = self.buf.iter().position(|b| !is_ws(*b));
        let Some(start) = start else {
            self.buf.clear();
            return None;
        };
        self.buf.drain(..start);
        match head(&self.buf) {
            Head::NeedMore => None,
            Head::Invalid => Some(self.discard_garbage(1)),
            Head::Complete {
                name_end,
                json_start,
            } => self.parse_body(name_end, json_start),
        }
    }

    fn parse_body(&mut self, name_end: usize, json_start: usize) -> Option<Frame> {
        let reply_name = self.buf[1..name_end].to_vec();
        // Parse at most `cap` bytes: a request must fit in the cap even when
        // all of it has already arrived.
        let limit = self.buf.len().min(self.cap.max(json_start));
        let body = &self.buf[json_start..limit];
        let mut it = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
        match it.next() {
            None => self.too_large_or_wait(reply_name, json_start),
            Some(Ok(v)) => {
                let end = json_start + it.byte_offset();
                self.buf.drain(..end);
                Some(Frame::Request {
                    reply_name,
                    body: v,
                })
            }
            Some(Err(e)) if e.is_eof() => self.too_large_or_wait(reply_name, json_start),
            Some(Err(e)) => {
                // Resync: drop the head, then let garbage handling find the
                // next plausible request inside or after the broken body.
                self.buf.drain(..json_start);
                Some(Frame::Unparseable {
                    reply_name,
                    error: e.to_string(),
                })
            }
        }
    }

    fn too_large_or_wait(&mut self, reply_name: Vec<u8>, json_start: usize) -> Option<Frame> {
        if self.buf.len() < self.cap {
            return None;
        }
        // Skip the rest of this JSON value as it streams in: feed what we have
        // to a skipper, keep whatever follows the value's end.
        let buffered = self.buf.len();
        let body: Vec<u8> = self.buf.drain(..).skip(json_start).collect();
        let mut sk = Skipper::default();
        match sk.feed(&body) {
            Some(consumed) => self.buf.extend_from_slice(&body[consumed..]),
            None => self.skip = Some(sk),
        }
        Some(Frame::TooLarge {
            reply_name,
            buffered,
        })
    }

    /// Gives up on whatever is buffered (the writer went quiet in the middle
    /// of a request): a complete `:name:` head becomes [`Frame::Unparseable`]
    /// so the client gets `-32700` instead of waiting forever; anything else
    /// is [`Frame::Garbage`]. `None` when nothing is buffered.
    pub fn flush(&mut self) -> Option<Frame> {
        if self.skip.take().is_some() {
            return None;
        }
        if self.buf.iter().all(|b| is_ws(*b)) {
            self.buf.clear();
            return None;
        }
        let frame = match head(&self.buf) {
            Head::Complete { name_end, .. } => Frame::Unparseable {
                reply_name: self.buf[1..name_end].to_vec(),
                error: "incomplete request: the writer sent nothing more".into(),
            },
            _ => Frame::Garbage {
                len: self.buf.len(),
                sample: String::from_utf8_lossy(&self.buf[..self.buf.len().min(40)]).into_owned(),
            },
        };
        self.buf.clear();
        Some(frame)
    }

    /// Discards bytes up to the next plausible request start at or after `from`.
    fn discard_garbage(&mut self, from: usize) -> Frame {
        let next = (from..self.buf.len())
            .find(|&p| self.buf[p] == b':' && plausible_start(&self.buf[p..]))
            .unwrap_or(self.buf.len());
        let sample = String::from_utf8_lossy(&self.buf[..next.min(40)]).into_owned();
        self.buf.drain(..next);
        Frame::Garbage { len: next, sample }
    }
}

/// Skips one JSON value byte by byte without storing it (bracket depth and
/// string state only). Used after the cap was hit.
#[derive(Debug, Default)]
struct Skipper {
    depth: usize,
    started: bool,
    in_string: bool,
    escape: bool,
}

impl Skipper {
    /// Feeds bytes; returns how many were consumed when the value ended.
    fn feed(&mut self, data: &[u8]) -> Option<usize> {
        for (i, &b) in data.iter().enumerate() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.started = true;
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                b if is_ws(b) && self.started && self.depth == 0 => return Some(i),
                _ => self.started = true,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames(f: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    fn req(name: &str, body: Value) -> Frame {
        Frame::Request {
            reply_name: name.as_bytes().to_vec(),
            body,
        }
    }

    #[test]
    fn one_request_with_leading_whitespace() {
        let mut f = Framer::default();
        f.push(b"\r\n \t:r1:{\"id\":1}\n");
        assert_eq!(frames(&mut f), vec![req("r1", json!({"id":1}))]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn concatenated_requests() {
        let mut f = Framer::default();
        f.push(b":a:{\"x\":1}:b:{\"x\":2}\n::{\"x\":3}");
        assert_eq!(
            frames(&mut f),
            vec![
                req("a", json!({"x":1})),
                req("b", json!({"x":2})),
                req("", json!({"x":3}))
            ]
        );
    }

    #[test]
    fn split_across_reads_is_reassembled() {
        let mut f = Framer::default();
        let whole = b":r9:{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":9}";
        for chunk in whole.chunks(3) {
            assert!(frames(&mut f).is_empty());
            f.push(chunk);
        }
        assert_eq!(
            frames(&mut f),
            vec![req("r9", json!({"jsonrpc":"2.0","method":"uptime","id":9}))]
        );
    }

    #[test]
    fn unparseable_json_is_reported_and_later_requests_survive() {
        let mut f = Framer::default();
        f.push(b":r1:{not json}:r2:{\"ok\":true}");
        let got = frames(&mut f);
        assert!(matches!(&got[0], Frame::Unparseable { reply_name, .. } if reply_name == b"r1"));
        assert!(matches!(&got[1], Frame::Garbage { .. }));
        assert_eq!(got[2], req("r2", json!({"ok":true})));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn garbage_and_invalid_utf8_are_discarded() {
        let mut f = Framer::default();
        f.push(b"\xff\xfe garbage : with: colons x:y:z \x00\x01");
        f.push(b":r1:{\"a\":1}");
        let got = frames(&mut f);
        assert_eq!(got.last(), Some(&req("r1", json!({"a":1}))));
        assert!(got[..got.len() - 1]
            .iter()
            .all(|g| matches!(g, Frame::Garbage { .. })));
    }

    #[test]
    fn invalid_utf8_inside_json_is_unparseable() {
        let mut f = Framer::default();
        f.push(b":r1:{\"a\":\"\xff\"}:r2:{}");
        let got = frames(&mut f);
        assert!(matches!(&got[0], Frame::Unparseable { .. }));
        assert_eq!(got.last(), Some(&req("r2", json!({}))));
    }

    #[test]
    fn trailing_garbage_after_a_request() {
        let mut f = Framer::default();
        f.push(b":r1:{}xyz");
        let got = frames(&mut f);
        assert_eq!(got[0], req("r1", json!({})));
        assert!(matches!(got[1], Frame::Garbage { len: 3, .. }));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn oversized_request_is_skipped_without_executing_its_inside() {
        let mut f = Framer::new(4096);
        let mut big = b":big:{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":[\"".to_vec();
        big.extend(std::iter::repeat(b'a').take(5000));
        // A request hidden inside the string value (the OpenSIPS smuggling case).
        big.extend_from_slice(b":evil:{\\\"method\\\":\\\"kill\\\"}");
        big.extend(std::iter::repeat(b'b').take(5000));
        big.extend_from_slice(b"\"],\"id\":1}");
        let mut got = Vec::new();
        for chunk in big.chunks(4096) {
            f.push(chunk);
            got.extend(frames(&mut f));
        }
        f.push(b":after:{\"id\":2}");
        got.extend(frames(&mut f));
        assert!(matches!(&got[0], Frame::TooLarge { reply_name, .. } if reply_name == b"big"));
        assert_eq!(got[1..], [req("after", json!({"id":2}))]);
    }

    #[test]
    fn flush_turns_a_stalled_request_into_unparseable() {
        let mut f = Framer::default();
        f.push(b":r1:{\"jsonrpc\":");
        assert!(frames(&mut f).is_empty());
        assert!(
            matches!(f.flush(), Some(Frame::Unparseable { reply_name, .. }) if reply_name == b"r1")
        );
        assert_eq!(f.flush(), None);
        f.push(b":r1");
        assert!(frames(&mut f).is_empty());
        assert!(matches!(f.flush(), Some(Frame::Garbage { len: 3, .. })));
    }

    #[test]
    fn a_complete_request_over_the_cap_is_too_large() {
        let mut f = Framer::new(4096);
        let mut big = b":big:[\"".to_vec();
        big.extend(std::iter::repeat(b'a').take(5000));
        big.extend_from_slice(b"\"]:next:{}");
        f.push(&big);
        let got = frames(&mut f);
        assert!(matches!(&got[0], Frame::TooLarge { .. }), "{got:?}");
        assert_eq!(got[1..], [req("next", json!({}))]);
    }

    #[test]
    fn head_waits_for_more_bytes() {
        let mut f = Framer::default();
        f.push(b":r1");
        assert!(frames(&mut f).is_empty());
        f.push(b":");
        assert!(frames(&mut f).is_empty());
        f.push(b"  {}");
        assert_eq!(frames(&mut f), vec![req("r1", json!({}))]);
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_poison_a_following_request(garbage in proptest::collection::vec(proptest::num::u8::ANY.prop_filter("no openers", |b| *b != b'{' && *b != b'['), 0..300)) {
            let mut f = Framer::default();
            f.push(&garbage);
            let _ = frames(&mut f);
            // Whatever the garbage left buffered, a request after a newline
            // must come out (possibly after an Unparseable for a dangling head).
            // Garbage may not open an object or array: a request written
            // into the middle of an unfinished JSON value is ambiguous.
            f.push(b"\n:zz:{\"ok\":1}");
            let got = frames(&mut f);
            proptest::prop_assert_eq!(got.last(), Some(&req("zz", json!({"ok":1}))));
        }
    }
}
