//! Recognises a JSON-RPC reply that is already, byte for byte, what
//! [`crate::proto::print::compact`] prints for the [`Response`] that
//! [`super::accept`] makes of it: OpenSIPS's compact cJSON replies and
//! `mififo serve`'s. Such a reply can be relayed with only its id replaced,
//! without building a `Value` tree and printing it again (the gateway's hot
//! path, [`super::Client::send_for_relay`]).
//!
//! The scan is conservative. It says yes only to a subset of JSON that
//! serde_json parses and cJSON prints back unchanged:
//! - exactly `{"jsonrpc":"2.0","result":VALUE,"id":VALUE}` or
//!   `{"jsonrpc":"2.0","error":{"code":INT,"message":STRING[,"data":VALUE]},"id":VALUE}`
//!   at the top, with no white space anywhere outside strings;
//! - integers of at most 18 digits (no `-0`, no fraction, no exponent: those
//!   are printed in cJSON's own way);
//! - strings in valid UTF-8 whose only escapes are the ones cJSON writes
//!   (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, lower-case `\u00xx` for the
//!   other control bytes), and no raw control byte;
//! - no key twice in one object (a parsed map keeps only one);
//! - nesting at most [`MAX_DEPTH`] deep (serde_json's limit is 128).
//!
//! Anything else is a "no", and the caller parses the reply as before. The
//! scan accepts nothing: whether the reply answers the request (its id, what
//! follows it) is still [`super::accept`]'s decision.
//!
//! [`Response`]: crate::proto::jsonrpc::Response

use std::ops::Range;

/// Deepest nesting accepted (the top object is depth 1).
pub const MAX_DEPTH: usize = 64;

/// Where the parts of a compact reply are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compact {
    /// The length of the reply's JSON value (white space may follow).
    pub end: usize,
    /// The bytes of its `id` member's value.
    pub id: Range<usize>,
}

/// `buf`'s first JSON value, when it is a JSON-RPC response in the form
/// described in the [module](self) documentation; `None` for anything else,
/// incomplete replies included.
pub fn scan(buf: &[u8]) -> Option<Compact> {
    let mut s = Scan {
        b: buf,
        i: 0,
        keys: Vec::new(),
    };
    s.lit(b"{\"jsonrpc\":\"2.0\",")?;
    if s.lit(b"\"result\":").is_some() {
        s.value(1)?;
    } else {
        s.lit(b"\"error\":{\"code\":")?;
        s.integer()?;
        s.lit(b",\"message\":")?;
        s.string()?;
        if s.lit(b",\"data\":").is_some() {
            s.value(2)?;
        }
        s.lit(b"}")?;
    }
    s.lit(b",\"id\":")?;
    let start = s.i;
    s.value(1)?;
    let id = start..s.i;
    s.lit(b"}")?;
    // Outside strings only ASCII was accepted; this checks the strings.
    std::str::from_utf8(&buf[..s.i]).ok()?;
    Some(Compact { end: s.i, id })
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    /// The keys of the objects being scanned, innermost last.
    keys: Vec<Range<usize>>,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn lit(&mut self, s: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(s) {
            self.i += s.len();
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'n' => self.lit(b"null"),
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.integer(),
            b'[' => self.array(depth + 1),
            b'{' => self.object(depth + 1),
            _ => None,
        }
    }

    fn integer(&mut self) -> Option<()> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || digits > 18 || (self.b[start] == b'0' && (digits > 1 || negative)) {
            return None;
        }
        match self.peek()? {
            b'.' | b'e' | b'E' => None,
            _ => Some(()),
        }
    }

    fn string(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    match *self.b.get(self.i + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let h = self.b.get(self.i + 2..self.i + 6)?;
                            let low = |c: u8| match c {
                                b'0'..=b'9' => Some(c - b'0'),
                                b'a'..=b'f' => Some(c - b'a' + 10),
                                _ => None,
                            };
                            if h[0] != b'0' || h[1] != b'0' {
                                return None;
                            }
                            let v = low(h[2])? * 16 + low(h[3])?;
                            // cJSON writes these five with their short forms.
                            if v >= 0x20 || matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.i += 4;
                        }
                        _ => return None,
                    }
                    self.i += 2;
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        let base = self.keys.len();
        loop {
            let start = self.i;
            self.string()?;
            self.keys.push(start..self.i);
            self.lit(b":")?;
            self.value(depth)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        // Each string has one compact form, so equal keys are equal bytes.
        let b = self.b;
        let keys = &mut self.keys[base..];
        let repeated = if keys.len() <= 16 {
            keys.iter()
                .enumerate()
                .any(|(n, k)| keys[..n].iter().any(|o| b[o.clone()] == b[k.clone()]))
        } else {
            keys.sort_unstable_by(|x, y| b[x.clone()].cmp(&b[y.clone()]));
            keys.windows(2).any(|w| b[w[0].clone()] == b[w[1].clone()])
        };
        self.keys.truncate(base);
        if repeated {
            None
        } else {
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::jsonrpc::Response;
    use serde_json::Value;

    /// What the parse-and-print path makes of `raw`'s first value.
    fn reprinted(raw: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(raw).ok()?;
        Some(crate::proto::print::compact(
            &Response::from_value(&v).to_value(),
        ))
    }

    /// A "yes" must mean: the parse-and-print path gives the same bytes.
    fn yes(raw: &str) -> Compact {
        let c = scan(raw.as_bytes()).unwrap_or_else(|| panic!("not compact: {raw}"));
        assert_eq!(c.end, raw.len(), "{raw}");
        assert_eq!(reprinted(raw.as_bytes()).as_deref(), Some(raw), "{raw}");
        c
    }

    fn no(raw: &str) {
        assert_eq!(scan(raw.as_bytes()), None, "{raw}");
    }

    #[test]
    fn compact_replies_are_recognised_and_print_back_unchanged() {
        let cases = [
            r#"{"jsonrpc":"2.0","result":{"Now":"Tue Dec  1 17:00:00 2026","Up time":"5 [sec]"},"id":1234567}"#,
            r#"{"jsonrpc":"2.0","result":"OK","id":1}"#,
            r#"{"jsonrpc":"2.0","result":null,"id":"abc"}"#,
            r#"{"jsonrpc":"2.0","result":[],"id":null}"#,
            r#"{"jsonrpc":"2.0","result":{},"id":-5}"#,
            r#"{"jsonrpc":"2.0","result":[true,false,null,0,-1,123456789012345678],"id":0}"#,
            r#"{"jsonrpc":"2.0","result":{"a":{"b":{"c":[{"d":[]}]}},"b":{"a":1}},"id":2}"#,
            r#"{"jsonrpc":"2.0","result":"é ü 日本 😀 \" \\ \b \f \n \r \t \u0000 \u001f /","id":3}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":4}"#,
            r#"{"jsonrpc":"2.0","error":{"code":500,"message":"","data":{"x":[1,"y"]}},"id":"s"}"#,
        ];
        for raw in cases {
            let c = yes(raw);
            let v: Value = serde_json::from_slice(raw.as_bytes()).unwrap();
            assert_eq!(
                serde_json::from_slice::<Value>(&raw.as_bytes()[c.id.clone()]).unwrap(),
                v["id"],
                "{raw}"
            );
        }
        // The id's bytes, exactly.
        let raw = r#"{"jsonrpc":"2.0","result":{"id":9},"id":77}"#;
        assert_eq!(&raw[yes(raw).id], "77");
    }

    #[test]
    fn anything_printed_otherwise_is_left_to_the_parser() {
        for raw in [
            // white space, pretty printing
            r#"{ "jsonrpc":"2.0","result":1,"id":1}"#,
            "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":1,\n\t\"id\":1\n}",
            r#"{"jsonrpc":"2.0","result":[1, 2],"id":1}"#,
            // member order or set other than the reprint's
            r#"{"jsonrpc":"2.0","id":1,"result":1}"#,
            r#"{"result":1,"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"id":1,"x":2}"#,
            r#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"m"},"id":1}"#,
            r#"{"jsonrpc":"2.0","error":{"message":"m","code":1},"id":1}"#,
            r#"{"jsonrpc":"2.0","error":{"code":1,"message":"m","x":1},"id":1}"#,
            r#"{"jsonrpc":"2.0","error":{"code":1.5,"message":"m"},"id":1}"#,
            r#"{"jsonrpc":"2.0","error":{"code":1},"id":1}"#,
            r#"{"jsonrpc":"1.0","result":1,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1}"#,
            // numbers cJSON prints its own way
            r#"{"jsonrpc":"2.0","result":1.5,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1e3,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":-0,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1234567890123456789,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"id":7.0}"#,
            // escapes cJSON does not write
            r#"{"jsonrpc":"2.0","result":"\/","id":1}"#,
            r#"{"jsonrpc":"2.0","result":"\u00e9","id":1}"#,
            r#"{"jsonrpc":"2.0","result":"\u000a","id":1}"#,
            r#"{"jsonrpc":"2.0","result":"\u001F","id":1}"#,
            r#"{"jsonrpc":"2.0","result":"\ud83d\ude00","id":1}"#,
            "{\"jsonrpc\":\"2.0\",\"result\":\"a\tb\",\"id\":1}",
            // a key twice
            r#"{"jsonrpc":"2.0","result":{"a":1,"a":2},"id":1}"#,
            r#"{"jsonrpc":"2.0","result":{"a":1,"b":{"a":1,"c":1,"a":1}},"id":1}"#,
            // not JSON, incomplete, not a response
            r#"{"jsonrpc":"2.0","result":"x","id":1"#,
            r#"{"jsonrpc":"2.0","result":"x,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":[1,],"id":1}"#,
            r#"{"jsonrpc":"2.0","result":{"a"},"id":1}"#,
            r#"{"jsonrpc":"2.0","result":01,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":nul,"id":1}"#,
            "failed to print response",
            "",
            "[]",
        ] {
            no(raw);
        }
        // Invalid UTF-8 in a string.
        let mut raw = br#"{"jsonrpc":"2.0","result":"x"#.to_vec();
        raw.extend_from_slice(&[0xff, 0xfe]);
        raw.extend_from_slice(br#"","id":1}"#);
        assert_eq!(scan(&raw), None);
    }

    #[test]
    fn many_keys_and_deep_nesting() {
        let keys: Vec<String> = (0..200).map(|n| format!("\"k{n}\":{n}")).collect();
        let raw = format!(
            r#"{{"jsonrpc":"2.0","result":{{{}}},"id":1}}"#,
            keys.join(",")
        );
        yes(&raw);
        let twice = format!(
            r#"{{"jsonrpc":"2.0","result":{{{},"k150":0}},"id":1}}"#,
            keys.join(",")
        );
        no(&twice);
        // Top object = depth 1, result's arrays from depth 2 on.
        let nest = |n: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","result":{}{},"id":1}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        yes(&nest(MAX_DEPTH - 1));
        no(&nest(MAX_DEPTH));
        no(&nest(100_000));
    }

    #[test]
    fn a_reply_followed_by_more_bytes_ends_at_its_value() {
        let raw = br#"{"jsonrpc":"2.0","result":1,"id":1} {"x":1}"#;
        assert_eq!(scan(raw).unwrap().end, 35);
        let raw = b"{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":1}\n";
        assert_eq!(scan(raw).unwrap().end, 35);
    }

    mod differential {
        use super::*;
        use proptest::prelude::*;

        /// JSON values of every kind; floats only when `floats`.
        fn json(floats: bool) -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                (any::<f64>(), Just(floats)).prop_map(|(f, on)| if on {
                    Value::from(f)
                } else {
                    Value::Null
                }),
                "\\PC{0,6}".prop_map(Value::from),
                "[\\x00-\\x7f]{0,6}".prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 32, 5, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    proptest::collection::vec(("[a-c\\n\"é]{0,2}", inner), 0..5)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// A "yes" is always right, and every cJSON-printed reply without
            /// floats or large integers is a "yes".
            #[test]
            fn a_yes_prints_back_unchanged(
                v in json(true),
                id in json(false),
                error in any::<bool>(),
            ) {
                let reply = if error {
                    serde_json::json!({"jsonrpc":"2.0","error":{"code":-1,"message":"m","data":v},"id":id})
                } else {
                    serde_json::json!({"jsonrpc":"2.0","result":v,"id":id})
                };
                let raw = crate::proto::print::compact(&reply);
                match scan(raw.as_bytes()) {
                    Some(c) => {
                        prop_assert_eq!(c.end, raw.len());
                        prop_assert_eq!(reprinted(raw.as_bytes()), Some(raw.clone()));
                    }
                    None => {
                        let big = |t: &str| t.split(|c: char| !c.is_ascii_digit())
                            .any(|d| d.len() > 18);
                        prop_assert!(
                            raw.contains(['.', 'e', 'E']) || big(&raw) || raw.contains("-0"),
                            "declined: {}", raw
                        );
                    }
                }
            }

            /// Any bytes at all: a "yes" is a reply that parses and prints
            /// back to the same bytes.
            #[test]
            fn a_yes_on_any_bytes_is_right(
                body in "[\\[\\]{}:,\"a\\\\u0-9.e-]{0,24}",
            ) {
                let raw = format!(r#"{{"jsonrpc":"2.0","result":{body},"id":1}}"#);
                if let Some(c) = scan(raw.as_bytes()) {
                    let value = &raw.as_bytes()[..c.end];
                    prop_assert_eq!(reprinted(value), Some(String::from_utf8(value.to_vec()).unwrap()));
                }
            }
        }
    }
}
