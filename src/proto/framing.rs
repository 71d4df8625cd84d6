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

/// An oversized value is skipped for at most this many times the cap after
/// the cap was hit (1 MiB by default): long enough that a large legitimate
/// value (e.g. relayed by the gateway) never has its tail parsed as requests,
/// bounded so that an unterminated string cannot swallow the stream. The
/// server also stops skipping after a time bound ([`Framer::give_up`]).
pub const SKIP_FACTOR: usize = 16;

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
///
/// Cost is linear in the bytes received: consumed bytes are only counted
/// (`pos`) and compacted away in bulk, and the body of a request is scanned
/// once, incrementally, by a bracket/string tracker (`Scanner`); `serde_json`
/// parses it once, when the tracker saw its end.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
    cap: usize,
    /// Progress through the body of the request at `pos`.
    scan: Option<Scan>,
    /// Skipping the rest of an oversized value.
    skip: Option<Skip>,
    /// The exact text of the `id` of the last [`Frame::Request`] returned,
    /// when its parsed number is not exact (see [`Framer::take_raw_id`]).
    raw_id: Option<String>,
    /// Bytes fed to the scanner (tests check that framing is linear).
    #[cfg(test)]
    fed: usize,
}

/// The body scan of the request at `pos` (offsets relative to `pos`).
#[derive(Debug)]
struct Scan {
    /// Bytes of `buf[pos..]` already fed to the scanner.
    scanned: usize,
    sc: Scanner,
}

/// Skipping an oversized value.
#[derive(Debug)]
struct Skip {
    sc: Scanner,
    /// Bytes discarded so far (reported as garbage when the skip ends).
    skipped: usize,
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

/// What the scanner says after being fed bytes.
enum Scanned {
    /// The value ended; this many bytes of the input belong to it.
    End(usize),
    /// A plausible request start outside any string at this input offset:
    /// the value is malformed (another writer's request, or garbage).
    Resync(usize),
    /// More bytes needed (all input consumed, or a possible request start at
    /// this offset needs more bytes to decide).
    More(usize),
}

impl Framer {
    /// A framer that buffers at most `cap` bytes of one incomplete request.
    pub fn new(cap: usize) -> Self {
        Framer {
            buf: Vec::new(),
            pos: 0,
            cap: cap.max(crate::proto::PIPE_BUF),
            scan: None,
            skip: None,
            raw_id: None,
            #[cfg(test)]
            fed: 0,
        }
    }

    /// The reassembly cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True while a partial request is buffered or an oversized one is being skipped.
    pub fn pending(&self) -> bool {
        self.buffered() > 0 || self.skip.is_some()
    }

    /// Drops everything buffered (e.g. when the FIFO was recreated).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.scan = None;
        self.skip = None;
    }

    /// Appends bytes read from the FIFO.
    pub fn push(&mut self, data: &[u8]) {
        // Compact in bulk: the consumed prefix is dropped only when it is at
        // least half the buffer, so each byte is moved O(1) times.
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    fn rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.scan = None;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.skip.is_some() {
            return self.skip_more();
        }
        if self.scan.is_none() {
            let start = self.rest().iter().position(|b| !is_ws(*b));
            let Some(start) = start else {
                self.consume(self.buffered());
                return None;
            };
            if start > 0 {
                self.consume(start);
            }
        }
        match head(self.rest()) {
            Head::NeedMore => None,
            Head::Invalid => Some(self.discard_garbage(1)),
            Head::Complete {
                name_end,
                json_start,
            } => self.parse_body(name_end, json_start),
        }
    }

    fn parse_body(&mut self, name_end: usize, json_start: usize) -> Option<Frame> {
        let rest_len = self.buffered();
        let scan = self.scan.get_or_insert(Scan {
            scanned: json_start,
            sc: Scanner::default(),
        });
        let from = scan.scanned;
        // Scan at most up to the cap: a request must fit in it even when all
        // of it has already arrived.
        let limit = rest_len.min(self.cap.max(json_start + 1));
        let outcome = scan.sc.feed(&self.buf[self.pos..self.pos + limit], from);
        #[cfg(test)]
        {
            self.fed += limit.saturating_sub(from);
        }
        let reply_name = || self.buf[self.pos + 1..self.pos + name_end].to_vec();
        match outcome {
            Scanned::End(end) => {
                let body = &self.buf[self.pos + json_start..self.pos + end];
                let parsed = serde_json::from_slice::<Value>(body);
                self.raw_id = match &parsed {
                    Ok(v) => inexact_id(v, body),
                    Err(_) => None,
                };
                let (frame, used) = match parsed {
                    Ok(v) => (
                        Frame::Request {
                            reply_name: reply_name(),
                            body: v,
                        },
                        end,
                    ),
                    // Drop only the head: garbage handling then finds the
                    // next plausible request inside or after the broken body.
                    Err(e) => (
                        Frame::Unparseable {
                            reply_name: reply_name(),
                            error: e.to_string(),
                        },
                        json_start,
                    ),
                };
                self.consume(used);
                Some(frame)
            }
            Scanned::Resync(at) => {
                let frame = Frame::Unparseable {
                    reply_name: reply_name(),
                    error: "the request was cut off by the start of another one".into(),
                };
                self.consume(at);
                Some(frame)
            }
            Scanned::More(upto) => {
                if let Some(scan) = &mut self.scan {
                    scan.scanned = upto;
                }
                if limit == rest_len && upto < self.cap {
                    return None;
                }
                // Over the cap: skip the rest of this value as it streams in.
                let name = reply_name();
                let buffered = upto;
                let sc = self.scan.take().map(|s| s.sc).unwrap_or_default();
                self.pos += upto;
                self.skip = Some(Skip { sc, skipped: 0 });
                Some(Frame::TooLarge {
                    reply_name: name,
                    buffered,
                })
            }
        }
    }

    /// Continues skipping an oversized value over what is buffered; ends at
    /// the value's end, at a plausible request start outside strings, or
    /// after [`Framer::cap`] more bytes. Returns the discarded byte count
    /// (as [`Frame::Garbage`]) when the skip ends.
    fn skip_more(&mut self) -> Option<Frame> {
        let rest_len = self.buffered();
        let skip = self.skip.as_mut()?;
        let budget = (SKIP_FACTOR * self.cap).saturating_sub(skip.skipped).max(1);
        let n = rest_len.min(budget);
        let outcome = skip.sc.feed(&self.buf[self.pos..self.pos + n], 0);
        let (used, done) = match outcome {
            Scanned::End(e) => (e, true),
            Scanned::Resync(at) => (at, true),
            // Stopped early before a possible request start at the end of
            // the budget: the budget is spent.
            Scanned::More(upto) => (
                upto,
                skip.skipped + upto >= SKIP_FACTOR * self.cap || (n < rest_len && upto < n),
            ),
        };
        skip.skipped += used;
        // A fresh scanner state for a possible-start that needs more bytes:
        // those bytes stay buffered and are fed again.
        let skipped = skip.skipped;
        self.consume(used);
        if done {
            self.skip = None;
            return Some(Frame::Garbage {
                len: skipped,
                sample: "(rest of an oversized request)".into(),
            });
        }
        None
    }

    /// Gives up on whatever is buffered (the writer went quiet in the middle
    /// of a request): a complete `:name:` head becomes [`Frame::Unparseable`]
    /// so the client gets `-32700` instead of waiting forever; anything else
    /// is [`Frame::Garbage`]. `None` when nothing is buffered.
    pub fn flush(&mut self) -> Option<Frame> {
        if let Some(skip) = self.skip.take() {
            let len = skip.skipped + self.buffered();
            self.reset();
            return (len > 0).then(|| Frame::Garbage {
                len,
                sample: "(rest of an oversized request)".into(),
            });
        }
        let frame = self.give_up_at(self.buffered());
        self.reset();
        frame
    }

    /// Gives up on the request at the head of the buffer (it has been
    /// incomplete for too long while more bytes kept trickling in) and
    /// resynchronises at the next plausible request start after it, so
    /// requests other writers appended behind it are still framed. An
    /// oversized value being skipped stops being skipped.
    pub fn give_up(&mut self) -> Option<Frame> {
        if let Some(skip) = self.skip.take() {
            return (skip.skipped > 0).then(|| Frame::Garbage {
                len: skip.skipped,
                sample: "(rest of an oversized request)".into(),
            });
        }
        let rest = self.rest();
        let next = (1..rest.len())
            .find(|&p| rest[p] == b':' && plausible_start(&rest[p..]))
            .unwrap_or(rest.len());
        let frame = self.give_up_at(next);
        self.consume(next);
        frame
    }

    /// The frame reporting that the first `len` buffered bytes are given up.
    fn give_up_at(&self, len: usize) -> Option<Frame> {
        let part = &self.rest()[..len];
        if part.iter().all(|b| is_ws(*b)) {
            return None;
        }
        Some(match head(self.rest()) {
            Head::Complete { name_end, .. } => Frame::Unparseable {
                reply_name: self.rest()[1..name_end].to_vec(),
                error: "incomplete request: the writer sent nothing more".into(),
            },
            _ => Frame::Garbage {
                len,
                sample: String::from_utf8_lossy(&part[..len.min(40)]).into_owned(),
            },
        })
    }

    /// The exact text of the numeric `id` of the [`Frame::Request`] just
    /// returned by [`Framer::next_frame`], when the parsed [`Value`] cannot
    /// hold it exactly (beyond 64-bit integers, or a fraction/exponent):
    /// `123456789012345678901234567890` parses as a `f64`. The server echoes
    /// this text byte for byte. `None` for every other id.
    pub fn take_raw_id(&mut self) -> Option<String> {
        self.raw_id.take()
    }

    /// Discards bytes up to the next plausible request start at or after `from`.
    fn discard_garbage(&mut self, from: usize) -> Frame {
        let rest = self.rest();
        let next = (from..rest.len())
            .find(|&p| rest[p] == b':' && plausible_start(&rest[p..]))
            .unwrap_or(rest.len());
        let sample = String::from_utf8_lossy(&rest[..next.min(40)]).into_owned();
        self.consume(next);
        Frame::Garbage { len: next, sample }
    }
}

/// The raw text of `v["id"]` when it is a number that `Value` holds only
/// approximately (a `f64`).
fn inexact_id(v: &Value, body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow)]
        id: &'a serde_json::value::RawValue,
    }
    match v.get("id") {
        Some(Value::Number(n)) if n.is_f64() => serde_json::from_slice::<IdOnly>(body)
            .ok()
            .map(|x| x.id.get().to_string()),
        _ => None,
    }
}

/// Tracks one JSON value byte by byte without storing it (bracket depth and
/// string state only): finds its end, and notices a plausible request start
/// (`:name:{`) outside any string, which valid JSON cannot contain — the
/// value was cut off by another writer's request, or is garbage.
#[derive(Debug, Default)]
struct Scanner {
    depth: usize,
    started: bool,
    in_string: bool,
    escape: bool,
}

impl Scanner {
    /// Feeds `buf[from..]`; offsets in the result are into `buf`. `buf`
    /// must hold the bytes before `from` unchanged between calls (the
    /// request-start check looks ahead, never back).
    fn feed(&mut self, buf: &[u8], from: usize) -> Scanned {
        let mut i = from;
        while i < buf.len() {
            let b = buf[i];
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Scanned::End(i + 1);
                    }
                }
                i += 1;
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
                        return Scanned::End(i + 1);
                    }
                }
                b':' if self.started => match head(&buf[i..]) {
                    Head::NeedMore => return Scanned::More(i),
                    Head::Complete { .. } if plausible_start(&buf[i..]) => {
                        // plausible_start is true both for "{ follows" and
                        // "cannot tell yet"; wait in the second case.
                        if ends_undecided(&buf[i..]) {
                            return Scanned::More(i);
                        }
                        return Scanned::Resync(i);
                    }
                    _ => {}
                },
                b if is_ws(b) => {
                    if self.started && self.depth == 0 {
                        return Scanned::End(i);
                    }
                }
                _ => self.started = true,
            }
            i += 1;
        }
        if self.started && self.depth == 0 && !self.in_string {
            // A bare scalar (`42`, `true`) ends with the input, as serde
            // reads it.
            return Scanned::End(buf.len());
        }
        Scanned::More(buf.len())
    }
}

/// True when `buf` starts with a complete `:name:` head but no byte after it
/// (other than whitespace) has arrived yet.
fn ends_undecided(buf: &[u8]) -> bool {
    match head(buf) {
        Head::Complete { json_start, .. } => buf[json_start..].iter().all(|b| is_ws(*b)),
        _ => false,
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
        big.extend(std::iter::repeat_n(b'a', 5000));
        // A request hidden inside the string value (the OpenSIPS smuggling case).
        big.extend_from_slice(b":evil:{\\\"method\\\":\\\"kill\\\"}");
        big.extend(std::iter::repeat_n(b'b', 5000));
        big.extend_from_slice(b"\"],\"id\":1}");
        let mut got = Vec::new();
        for chunk in big.chunks(4096) {
            f.push(chunk);
            got.extend(frames(&mut f));
        }
        f.push(b":after:{\"id\":2}");
        got.extend(frames(&mut f));
        assert!(matches!(&got[0], Frame::TooLarge { reply_name, .. } if reply_name == b"big"));
        // The rest of the value is discarded (and counted), never parsed.
        let skipped: usize = got[1..got.len() - 1]
            .iter()
            .map(|g| match g {
                Frame::Garbage { len, .. } => *len,
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(skipped, big.len() - 4096);
        assert_eq!(got.last(), Some(&req("after", json!({"id":2}))));
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
        big.extend(std::iter::repeat_n(b'a', 5000));
        big.extend_from_slice(b"\"]:next:{}");
        f.push(&big);
        let got = frames(&mut f);
        assert!(matches!(&got[0], Frame::TooLarge { .. }), "{got:?}");
        assert!(
            matches!(&got[1], Frame::Garbage { len: 913, .. }),
            "{got:?}"
        );
        assert_eq!(got[2..], [req("next", json!({}))]);
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

    /// Issue 10, finding 11: 60 KB delivered one byte per read used to be
    /// re-parsed from the start on every read (quadratic). Each byte is now
    /// scanned about once.
    #[test]
    fn framing_cost_is_linear_in_bytes_received() {
        let mut f = Framer::default();
        let mut big = br#":r:{"jsonrpc":"2.0","method":"x","params":[""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', 60_000));
        big.extend_from_slice(br#""],"id":1}"#);
        let mut got = Vec::new();
        for b in &big {
            f.push(std::slice::from_ref(b));
            got.extend(frames(&mut f));
        }
        assert!(matches!(&got[..], [Frame::Request { .. }]), "{got:?}");
        assert!(
            f.fed <= 2 * big.len(),
            "{} bytes scanned for {}",
            f.fed,
            big.len()
        );
    }

    /// Issue 10, finding 5: a value that never ends (2,000 open brackets,
    /// then a space now and then) no longer swallows the requests of others:
    /// a request start outside any string cuts it off.
    #[test]
    fn an_endless_value_is_cut_off_by_the_next_request() {
        let mut f = Framer::default();
        let mut evil = b":x:[\"".to_vec();
        evil.extend(std::iter::repeat_n(b'a', 70_000));
        evil.push(b'"');
        evil.extend(std::iter::repeat_n(b'[', 2000));
        let mut got = Vec::new();
        for chunk in evil.chunks(4096) {
            f.push(chunk);
            got.extend(frames(&mut f));
        }
        f.push(b" ");
        f.push(br#":victim:{"jsonrpc":"2.0","method":"uptime","id":1}"#);
        got.extend(frames(&mut f));
        assert!(matches!(&got[0], Frame::TooLarge { .. }), "{got:?}");
        assert_eq!(
            got.last(),
            Some(&req(
                "victim",
                json!({"jsonrpc":"2.0","method":"uptime","id":1})
            ))
        );
        let discarded: usize = got
            .iter()
            .map(|g| match g {
                Frame::Garbage { len, .. } => *len,
                Frame::TooLarge { buffered, .. } => *buffered,
                _ => 0,
            })
            .sum();
        assert_eq!(discarded, evil.len() + 1, "every discarded byte is counted");
        // Under the cap too: an unfinished array is cut off (-32700 for it).
        f.push(b":y:[[[[ ");
        f.push(br#":v2:{"id":2}"#);
        let got = frames(&mut f);
        assert!(matches!(&got[0], Frame::Unparseable { reply_name, .. } if reply_name == b"y"));
        assert_eq!(got[1..], [req("v2", json!({"id":2}))]);
    }

    /// An unterminated string hides the next requests inside it; the skip
    /// is bounded in bytes, and `give_up` (the server's time bound)
    /// resynchronises at the next request start in what is buffered.
    #[test]
    fn an_unterminated_string_is_bounded_and_given_up() {
        let mut f = Framer::new(4096);
        f.push(b":x:[\"");
        f.push(&vec![b'a'; 5000]);
        let got = frames(&mut f);
        assert!(matches!(&got[..], [Frame::TooLarge { .. }]), "{got:?}");
        // Skipping stops after SKIP_FACTOR caps.
        let mut n = 0;
        let mut ended = false;
        while !ended {
            f.push(&[b'a'; 1000]);
            n += 1000;
            ended = frames(&mut f)
                .iter()
                .any(|g| matches!(g, Frame::Garbage { .. }));
            assert!(n <= SKIP_FACTOR * 4096 + 2000, "skip never ended");
        }
        // Under the cap, a partial request holding others inside its string
        // is given up and the others are framed.
        f.reset();
        f.push(b":x:[\"aaa");
        f.push(br#":v:{"id":3}"#);
        assert!(frames(&mut f).is_empty(), "inside a string: ambiguous");
        assert!(matches!(f.give_up(), Some(Frame::Unparseable { .. })));
        assert_eq!(frames(&mut f), vec![req("v", json!({"id":3}))]);
    }

    /// Issue 10, finding 9: ids that `Value` cannot hold exactly keep their text.
    #[test]
    fn inexact_numeric_ids_keep_their_exact_text() {
        let mut f = Framer::default();
        for (id, raw) in [
            (
                "123456789012345678901234567890",
                Some("123456789012345678901234567890"),
            ),
            ("-9223372036854775809", Some("-9223372036854775809")),
            ("1.50", Some("1.50")),
            ("18446744073709551615", None),
            ("-9223372036854775808", None),
            ("\"x\"", None),
        ] {
            f.push(format!(r#":r:{{"jsonrpc":"2.0","method":"m","id":{id}}}"#).as_bytes());
            assert!(matches!(f.next_frame(), Some(Frame::Request { .. })));
            assert_eq!(f.take_raw_id().as_deref(), raw, "{id}");
        }
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
