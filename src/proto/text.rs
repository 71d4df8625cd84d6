//! The OpenSIPS 1.x/2.x line protocol (`mi_fifo` before 3.0; also Kamailio ≤ 4.x).
//!
//! Request: `:command:reply_name` LF, argument lines, one empty line. Reply:
//! `code SP reason` LF, one line per tree node, an empty line. Fifo-layer
//! errors are a single line with no empty line after it. See
//! `mi-fifo-protocol.md` §3 for the upstream rules this module follows:
//!
//! - whitespace-only lines before the first line are ignored; whitespace-only
//!   argument lines are skipped; the request ends at the first line that is
//!   exactly empty (`\n`);
//! - an argument is `name::value` or a bare value; `::` separates, a single `:`
//!   is data; a value may be quoted (`"…"`, only `\"` is an escape, may span
//!   lines); a `"` inside an unquoted name or value is a parse error;
//! - a first line that is not `:command:reply` is discarded with everything up
//!   to the next empty line (`mi_do_consume`), so the stream resynchronises.

use serde_json::Value;

/// Default cap on one buffered request (OpenSIPS: 1024 + 8192 bytes; we allow more).
pub const DEFAULT_CAP: usize = 64 * 1024;

/// One argument line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// `name` of `name::value`; `None` for a bare value.
    pub name: Option<String>,
    /// The value (quotes removed, `\"` unescaped).
    pub value: String,
}

/// A complete text request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRequest {
    /// The command name.
    pub command: String,
    /// The raw reply name (may be empty).
    pub reply_name: Vec<u8>,
    /// The arguments, or `Err` with the reason when they do not parse.
    pub args: Result<Vec<Arg>, String>,
}

/// One unit of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextFrame {
    /// A request.
    Request(TextRequest),
    /// Bytes discarded (bad first line, or a request over the cap).
    Discarded {
        /// How many bytes.
        len: usize,
        /// Why.
        reason: String,
    },
}

/// The framer's buffer: consumed bytes are only skipped (`pos`) and dropped
/// in bulk when they are at least half of it, so framing many small requests
/// from one read moves each byte O(1) times (a `Vec::drain` per request
/// would move the rest of the buffer each time: quadratic).
#[derive(Debug, Default)]
struct Buf {
    v: Vec<u8>,
    pos: usize,
}

impl Buf {
    fn extend_from_slice(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos * 2 >= self.v.len() {
            self.v.drain(..self.pos);
            self.pos = 0;
        }
        self.v.extend_from_slice(data);
    }

    /// Consumes the first bytes of the unconsumed part.
    fn drain(&mut self, range: impl std::ops::RangeBounds<usize>) {
        let n = match range.end_bound() {
            std::ops::Bound::Included(e) => e + 1,
            std::ops::Bound::Excluded(e) => *e,
            std::ops::Bound::Unbounded => self.len(),
        };
        self.pos += n;
        if self.pos >= self.v.len() {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.v.clear();
        self.pos = 0;
    }
}

impl std::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.v[self.pos..]
    }
}

/// Incremental framer for the text dialect.
#[derive(Debug)]
pub struct TextFramer {
    buf: Buf,
    cap: usize,
    /// Discarding up to the next empty line (after an overflow).
    consuming: bool,
    /// Bytes of the current request already searched for its end (so each
    /// byte is looked at once however the request is split).
    scanned: usize,
}

impl Default for TextFramer {
    fn default() -> Self {
        TextFramer::new(DEFAULT_CAP)
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !is_ws(*b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ws(*b)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Offset just past the first `\n\n` at or after `from` (the terminating empty line).
fn find_empty_line(buf: &[u8], from: usize) -> Option<usize> {
    if from > 0 && buf.get(from) == Some(&b'\n') && buf[from - 1] == b'\n' {
        return Some(from + 1);
    }
    buf[from..]
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| from + p + 2)
}

impl TextFramer {
    /// A framer buffering at most `cap` bytes of one request.
    pub fn new(cap: usize) -> Self {
        TextFramer {
            buf: Buf::default(),
            cap,
            consuming: false,
            scanned: 0,
        }
    }

    /// Drops everything buffered.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.consuming = false;
        self.scanned = 0;
    }

    /// Appends bytes read from the FIFO.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<TextFrame> {
        if self.consuming {
            let end = find_empty_line(&self.buf, 0);
            return match end {
                Some(end) => {
                    self.consuming = false;
                    self.buf.drain(..end);
                    self.scanned = 0;
                    Some(TextFrame::Discarded {
                        len: end,
                        reason: "rest of an oversized request".into(),
                    })
                }
                None => {
                    // Keep only a trailing LF that may begin the terminator.
                    let keep = usize::from(self.buf.last() == Some(&b'\n'));
                    let n = self.buf.len() - keep;
                    self.buf.drain(..n);
                    None
                }
            };
        }
        if self.scanned == 0 {
            // Skip whitespace-only lines before the first line.
            while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
                if !trim(&self.buf[..nl]).is_empty() {
                    break;
                }
                self.buf.drain(..=nl);
            }
        }
        let Some(nl) = self.buf.iter().position(|b| *b == b'\n') else {
            return self.overflow();
        };
        // The terminating empty line, or a line that starts another request
        // (the writer of this one never finished it): scan each byte once.
        let mut line_start = self.scanned.max(nl + 1);
        let mut end = None;
        let mut cut = None;
        while let Some(p) = self.buf[line_start..].iter().position(|b| *b == b'\n') {
            let line_end = line_start + p;
            if line_end == line_start {
                end = Some(line_end + 1);
                break;
            }
            if looks_like_first_line(&self.buf[line_start..line_end]) {
                cut = Some(line_start);
                break;
            }
            line_start = line_end + 1;
        }
        if let Some(at) = cut {
            self.buf.drain(..at);
            self.scanned = 0;
            return Some(TextFrame::Discarded {
                len: at,
                reason: "request without its terminating empty line (another request started)"
                    .into(),
            });
        }
        let Some(end) = end else {
            self.scanned = line_start;
            return self.overflow();
        };
        self.scanned = 0;
        if end > self.cap {
            // Over the cap: never run, even when it arrived complete.
            self.buf.drain(..end);
            return Some(TextFrame::Discarded {
                len: end,
                reason: format!("request larger than {} bytes", self.cap),
            });
        }
        let first = trim(&self.buf[..nl]).to_vec();
        let head = parse_first_line(&first);
        let body = self.buf[nl + 1..end - 1].to_vec();
        self.buf.drain(..end);
        Some(match head {
            Ok((command, reply_name)) => TextFrame::Request(TextRequest {
                command,
                reply_name,
                args: parse_args(&body),
            }),
            Err(reason) => TextFrame::Discarded { len: end, reason },
        })
    }

    /// Gives up the request at the head of the buffer (it has been
    /// incomplete for too long while bytes kept coming): discards it up to
    /// the next line that starts a request, or everything.
    pub fn give_up(&mut self) -> Option<TextFrame> {
        if self.consuming {
            return self.flush();
        }
        let mut at = self
            .buf
            .iter()
            .position(|b| *b == b'\n')
            .map_or(self.buf.len(), |p| p + 1);
        loop {
            match self.buf[at..].iter().position(|b| *b == b'\n') {
                Some(p) if looks_like_first_line(&self.buf[at..at + p]) => break,
                Some(p) => at += p + 1,
                None => {
                    at = self.buf.len();
                    break;
                }
            }
        }
        self.scanned = 0;
        if trim(&self.buf[..at]).is_empty() {
            self.buf.drain(..at);
            return None;
        }
        self.buf.drain(..at);
        Some(TextFrame::Discarded {
            len: at,
            reason: "request that never completed".into(),
        })
    }

    /// Gives up on a buffered, unterminated request (the writer went quiet
    /// before the empty line); `None` when nothing is buffered.
    pub fn flush(&mut self) -> Option<TextFrame> {
        self.consuming = false;
        self.scanned = 0;
        if trim(&self.buf).is_empty() {
            self.buf.clear();
            return None;
        }
        let len = self.buf.len();
        self.buf.clear();
        Some(TextFrame::Discarded {
            len,
            reason: "request without its terminating empty line".into(),
        })
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn overflow(&mut self) -> Option<TextFrame> {
        if self.buf.len() <= self.cap {
            return None;
        }
        let len = self.buf.len();
        self.buf.clear();
        self.scanned = 0;
        self.consuming = true;
        Some(TextFrame::Discarded {
            len,
            reason: format!("request larger than {} bytes", self.cap),
        })
    }
}

/// True for a line of the form `:command:reply` (command letters, digits,
/// `_`, `-`; reply name bytes without whitespace, `.` or `/`): the first line
/// of a request. Inside the arguments of an unterminated request it means
/// another writer started a request; the 1.x protocol cannot tell such a
/// line from an argument value (even a quoted one), so it always starts a
/// new request.
pub fn looks_like_first_line(line: &[u8]) -> bool {
    let line = trim(line);
    let Some(rest) = line.strip_prefix(b":") else {
        return false;
    };
    let Some(colon) = rest.iter().position(|b| *b == b':') else {
        return false;
    };
    let (cmd, reply) = (&rest[..colon], &rest[colon + 1..]);
    !cmd.is_empty()
        && cmd
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        && reply
            .iter()
            .all(|b| *b > b' ' && *b != 0x7f && !matches!(b, b'.' | b'/' | b'\\' | b':'))
}

fn parse_first_line(line: &[u8]) -> Result<(String, Vec<u8>), String> {
    if line.len() < 3 {
        return Err("command line too short".into());
    }
    if line[0] != b':' {
        return Err("command must begin with ':'".into());
    }
    let rest = &line[1..];
    let Some(colon) = rest.iter().position(|b| *b == b':') else {
        return Err("file separator missing".into());
    };
    if colon == 0 {
        return Err("command name empty".into());
    }
    let command = String::from_utf8_lossy(&rest[..colon]).into_owned();
    Ok((command, rest[colon + 1..].to_vec()))
}

/// Parses argument lines (without the terminating empty line).
pub fn parse_args(body: &[u8]) -> Result<Vec<Arg>, String> {
    let text = String::from_utf8_lossy(body);
    let mut args = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_start_matches([' ', '\t', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('"') {
            let value = quoted(line, &mut lines)?;
            args.push(Arg { name: None, value });
            continue;
        }
        match line.find("::") {
            Some(p) => {
                let name = line[..p].trim_end();
                if name.contains('"') {
                    return Err(format!("unexpected '\"' in name '{name}'"));
                }
                let rest = line[p + 2..].trim_start_matches([' ', '\t']);
                let value = if rest.starts_with('"') {
                    quoted(rest, &mut lines)?
                } else {
                    let v = rest.trim();
                    if v.contains('"') {
                        return Err(format!("unexpected '\"' in value '{v}'"));
                    }
                    v.to_string()
                };
                args.push(Arg {
                    name: (!name.is_empty()).then(|| name.to_string()),
                    value,
                });
            }
            None => {
                let v = line.trim();
                if v.contains('"') {
                    return Err(format!("unexpected '\"' in value '{v}'"));
                }
                args.push(Arg {
                    name: None,
                    value: v.to_string(),
                });
            }
        }
    }
    Ok(args)
}

/// Reads a quoted value starting at `first` (which begins with `"`),
/// continuing on the following lines until the closing unescaped quote.
fn quoted<'a>(
    first: &str,
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut cur = first[1..].to_string();
    loop {
        let mut chars = cur.chars().peekable();
        let mut closed_at = None;
        let mut i = 0;
        while let Some(c) = chars.next() {
            i += c.len_utf8();
            if c == '\\' && chars.peek() == Some(&'"') {
                chars.next();
                i += 1;
                out.push('"');
            } else if c == '"' {
                closed_at = Some(i);
                break;
            } else {
                out.push(c);
            }
        }
        if let Some(i) = closed_at {
            if !cur[i..].trim().is_empty() {
                return Err("unexpected characters after a closing quote".into());
            }
            return Ok(out);
        }
        match lines.next() {
            Some(next) => {
                out.push('\n');
                cur = next.to_string();
            }
            None => return Err("unterminated quoted value".into()),
        }
    }
}

/// One node of a reply tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The name (`name:: ` prefix) or none.
    pub name: Option<String>,
    /// The value, printed raw (no escaping, as OpenSIPS).
    pub value: String,
    /// ` attr=value` pairs after the value.
    pub attrs: Vec<(String, String)>,
    /// Child nodes, one indent deeper.
    pub children: Vec<Node>,
}

/// A full reply: `code reason` LF, the tree, an empty line.
pub fn write_tree(code: i64, reason: &str, nodes: &[Node], indent: &str) -> String {
    let mut out = format!("{code} {reason}\n");
    for n in nodes {
        write_node(&mut out, n, 0, indent);
    }
    out.push('\n');
    out
}

fn write_node(out: &mut String, n: &Node, depth: usize, indent: &str) {
    for _ in 0..depth {
        out.push_str(indent);
    }
    if let Some(name) = &n.name {
        out.push_str(name);
        out.push_str(":: ");
    }
    out.push_str(&n.value);
    for (k, v) in &n.attrs {
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out.push('\n');
    for c in &n.children {
        write_node(out, c, depth + 1, indent);
    }
}

/// `500 command '<cmd>' not available` LF (single line, no empty line).
pub fn not_available(cmd: &str) -> String {
    format!("500 command '{cmd}' not available\n")
}

/// `400 Parse error in command '<cmd>'` LF (the 2.x wording).
pub fn parse_error(cmd: &str) -> String {
    format!("400 Parse error in command '{cmd}'\n")
}

/// `500 command '<cmd>' failed` LF (handler returned NULL).
pub fn failed(cmd: &str) -> String {
    format!("500 command '{cmd}' failed\n")
}

/// The text of a scalar as the 1.x writer would show it.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => super::print::number(n),
        Value::Bool(b) => b.to_string(),
        other => super::print::compact(other),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// `Processes` → `Process`, `Dialogs` → `Dialog`: the 1.x node name of one array item.
fn singular(name: &str) -> &str {
    if let Some(stem) = name.strip_suffix("es") {
        if stem.ends_with('s') {
            return stem;
        }
    }
    name.strip_suffix('s').unwrap_or(name)
}

/// Maps a 3.x JSON result onto a 1.x reply tree:
/// object members become `name:: value` nodes (nested objects become children),
/// objects inside arrays keep their scalar members as ` attr=value` pairs,
/// array items of a member become repeated nodes named by the singular of the
/// member (`Processes` → `Process::  ID=0 PID=1 Type=…`, scalar members as
/// attributes), top-level arrays become unnamed value lines, and a bare
/// `"OK"` result becomes an empty tree (`200 OK` and the empty line).
pub fn tree_from_result(v: &Value) -> Vec<Node> {
    match v {
        Value::String(s) if s == "OK" => Vec::new(),
        Value::Object(m) => m.iter().flat_map(|(k, v)| member(k, v)).collect(),
        Value::Array(items) => items.iter().map(|i| item(None, i)).collect(),
        other => vec![Node {
            value: scalar(other),
            ..Node::default()
        }],
    }
}

fn member(name: &str, v: &Value) -> Vec<Node> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                if is_scalar(i) {
                    item(Some(name), i)
                } else {
                    item(Some(singular(name)), i)
                }
            })
            .collect(),
        Value::Object(m) => vec![Node {
            name: Some(name.to_string()),
            children: m.iter().flat_map(|(k, v)| member(k, v)).collect(),
            ..Node::default()
        }],
        other => vec![item(Some(name), other)],
    }
}

fn item(name: Option<&str>, v: &Value) -> Node {
    let name = name.map(str::to_string);
    match v {
        Value::Object(m) => {
            let mut node = Node {
                name,
                ..Node::default()
            };
            for (k, val) in m {
                if is_scalar(val) {
                    node.attrs.push((k.clone(), scalar(val)));
                } else {
                    node.children.extend(member(k, val));
                }
            }
            // A node with only attributes keeps them on its line (1.x `ps`);
            // one with children lists everything as children instead.
            if !node.children.is_empty() && !node.attrs.is_empty() {
                let attrs = std::mem::take(&mut node.attrs);
                let mut kids: Vec<Node> = attrs
                    .into_iter()
                    .map(|(k, v)| Node {
                        name: Some(k),
                        value: v,
                        ..Node::default()
                    })
                    .collect();
                kids.append(&mut node.children);
                node.children = kids;
            }
            node
        }
        Value::Array(items) => Node {
            name,
            children: items.iter().map(|i| item(None, i)).collect(),
            ..Node::default()
        },
        other => Node {
            name,
            value: scalar(other),
            ..Node::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames(f: &mut TextFramer) -> Vec<TextFrame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    fn arg(name: Option<&str>, value: &str) -> Arg {
        Arg {
            name: name.map(str::to_string),
            value: value.into(),
        }
    }

    /// Issue 10, finding 12: an unterminated request no longer absorbs the
    /// next writer's request (with its secret), and a request over the cap
    /// never runs even when it arrives complete in one read.
    #[test]
    fn an_unterminated_request_is_cut_off_and_oversized_ones_never_run() {
        let mut f = TextFramer::new(4096);
        f.push(b":which:atk\nfoo\n");
        assert!(frames(&mut f).is_empty());
        f.push(b":uptime:r\nsecret::hunter2\n\n");
        let got = frames(&mut f);
        assert!(
            matches!(&got[0], TextFrame::Discarded { len: 15, .. }),
            "{got:?}"
        );
        assert_eq!(
            got[1],
            TextFrame::Request(TextRequest {
                command: "uptime".into(),
                reply_name: b"r".to_vec(),
                args: Ok(vec![arg(Some("secret"), "hunter2")]),
            })
        );
        let mut big = b":which:r\n".to_vec();
        for _ in 0..50 {
            big.extend_from_slice(&[b'x'; 99]);
            big.push(b'\n');
        }
        big.extend_from_slice(b"\n:uptime:r2\n\n");
        f.push(&big);
        let got = frames(&mut f);
        assert!(
            matches!(&got[0], TextFrame::Discarded { reason, .. } if reason.contains("larger than 4096")),
            "{got:?}"
        );
        assert!(matches!(&got[1], TextFrame::Request(r) if r.command == "uptime"));
        assert_eq!(got.len(), 2);
        // Giving up (the time bound) resynchronises at the next request line.
        f.push(b":which:atk\n\"open quote\n:uptime:r3\n");
        let got = frames(&mut f);
        assert!(matches!(&got[..], [TextFrame::Discarded { .. }]), "{got:?}");
        assert!(frames(&mut f).is_empty());
        assert_eq!(
            f.give_up(),
            Some(TextFrame::Discarded {
                len: 11,
                reason: "request that never completed".into()
            })
        );
        assert!(!looks_like_first_line(b"::1"));
        assert!(looks_like_first_line(b":get_statistics:reply_fifo\r"));
    }

    #[test]
    fn many_small_requests_in_one_read_are_all_framed() {
        let mut f = TextFramer::default();
        let one = b":uptime:r\n\n";
        let mut all = Vec::new();
        for _ in 0..10_000 {
            all.extend_from_slice(one);
        }
        f.push(&all[..all.len() - 3]);
        let n = frames(&mut f).len();
        f.push(&all[all.len() - 3..]);
        assert_eq!(n + frames(&mut f).len(), 10_000);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn request_with_arguments_and_terminator() {
        let mut f = TextFramer::default();
        f.push(b"\n  \n:get_statistics:reply_fifo\ndialog:\ntm:\n\n:uptime:r2\n\n");
        let got = frames(&mut f);
        assert_eq!(
            got,
            vec![
                TextFrame::Request(TextRequest {
                    command: "get_statistics".into(),
                    reply_name: b"reply_fifo".to_vec(),
                    args: Ok(vec![arg(None, "dialog:"), arg(None, "tm:")]),
                }),
                TextFrame::Request(TextRequest {
                    command: "uptime".into(),
                    reply_name: b"r2".to_vec(),
                    args: Ok(vec![]),
                }),
            ]
        );
    }

    #[test]
    fn waits_for_the_empty_line() {
        let mut f = TextFramer::default();
        f.push(b":debug:r\n4\n");
        assert!(frames(&mut f).is_empty());
        f.push(b"\n");
        assert_eq!(frames(&mut f).len(), 1);
    }

    #[test]
    fn whitespace_lines_are_not_terminators() {
        let mut f = TextFramer::default();
        f.push(b":cmd:r\na\r\n  \nb\n\n");
        let got = frames(&mut f);
        let TextFrame::Request(r) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(r.args, Ok(vec![arg(None, "a"), arg(None, "b")]));
    }

    #[test]
    fn names_values_and_quotes() {
        let args = parse_args(
            b"level:: 4\n name ::  x y \n\"a \\\"q\\\" \\n\"\nk::\"multi\nline\"\nempty::\n:: anon",
        )
        .unwrap();
        assert_eq!(
            args,
            vec![
                arg(Some("level"), "4"),
                arg(Some("name"), "x y"),
                arg(None, "a \"q\" \\n"),
                arg(Some("k"), "multi\nline"),
                arg(Some("empty"), ""),
                arg(None, "anon"),
            ]
        );
        assert!(parse_args(b"a\"b").is_err());
        assert!(parse_args(b"\"open").is_err());
        assert!(parse_args(b"\"x\" y").is_err());
    }

    #[test]
    fn bad_first_line_is_consumed_to_the_empty_line() {
        let mut f = TextFramer::default();
        f.push(b"garbage\nmore\n\n:uptime:r\n\n");
        let got = frames(&mut f);
        assert!(matches!(got[0], TextFrame::Discarded { len: 14, .. }));
        assert!(matches!(&got[1], TextFrame::Request(r) if r.command == "uptime"));
    }

    #[test]
    fn overflow_resyncs_on_the_next_empty_line() {
        let mut f = TextFramer::new(100);
        f.push(b":cmd:r\n");
        f.push(&[b'x'; 200]);
        assert!(matches!(frames(&mut f)[..], [TextFrame::Discarded { .. }]));
        f.push(b"yyy\n\n:uptime:r\n\n");
        let got = frames(&mut f);
        assert!(matches!(&got[1], TextFrame::Request(r) if r.command == "uptime"));
    }

    #[test]
    fn writer_matches_1x_bytes() {
        let up = json!({"Now":"Thu Nov 28 10:00:00 2024","Up time":"3600 [sec]"});
        assert_eq!(
            write_tree(200, "OK", &tree_from_result(&up), "\t"),
            "200 OK\nNow:: Thu Nov 28 10:00:00 2024\nUp time:: 3600 [sec]\n\n"
        );
        let ps = json!({"Processes":[{"ID":0,"PID":9467,"Type":"attendant"}]});
        assert_eq!(
            write_tree(200, "OK", &tree_from_result(&ps), "\t"),
            "200 OK\nProcess::  ID=0 PID=9467 Type=attendant\n\n"
        );
        let which = json!(["uptime", "ps"]);
        assert_eq!(
            write_tree(200, "OK", &tree_from_result(&which), "\t"),
            "200 OK\nuptime\nps\n\n"
        );
        assert_eq!(
            write_tree(200, "OK", &tree_from_result(&json!("OK")), "\t"),
            "200 OK\n\n"
        );
        let nested = json!({"dialog":{"ID":"1","context":{"profiles":{"x":2}}}});
        assert_eq!(
            write_tree(200, "OK", &tree_from_result(&nested), "\t"),
            "200 OK\ndialog:: \n\tID:: 1\n\tcontext:: \n\t\tprofiles:: \n\t\t\tx:: 2\n\n"
        );
        assert_eq!(not_available("foo"), "500 command 'foo' not available\n");
        assert_eq!(parse_error("foo"), "400 Parse error in command 'foo'\n");
    }
}
