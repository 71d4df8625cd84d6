//! Human output of replies: JSON pretty-printed with two-space indentation
//! (the layout of `serde_json::to_string_pretty`), optionally coloured with
//! ANSI escapes (keys blue, strings green, numbers cyan, literals magenta).
//!
//! Nothing a server sends reaches a terminal as a control character:
//! [`pretty`] writes DEL and the C1 controls (U+0080–U+009F, which some
//! terminals obey like ESC sequences) inside strings as `\u00XX` — serde_json
//! already escapes the C0 ones — so the output stays the same JSON; every
//! other line that quotes the server goes through [`crate::term`].

use serde_json::Value;
use std::fmt::Write;

/// A JSON string literal with DEL and C1 controls escaped as well.
fn json_string(s: &str) -> String {
    let lit = Value::String(s.to_string()).to_string();
    // serde_json escapes C0 (and `"`, `\`); DEL, C1 and bidi overrides are
    // left, and `\uXXXX` is the same character to a JSON reader.
    crate::term::json(&lit).into_owned()
}

const KEY: &str = "\x1b[34m";
const STR: &str = "\x1b[32m";
const NUM: &str = "\x1b[36m";
const LIT: &str = "\x1b[35m";
const RESET: &str = "\x1b[0m";

/// `v` pretty-printed, with ANSI colours when `colour` is true. Strings that
/// are not JSON (a bare scalar result) print as JSON too, so output is always
/// valid JSON once the escapes are removed.
pub fn pretty(v: &Value, colour: bool) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0, colour);
    out
}

fn paint(out: &mut String, colour: bool, code: &str, text: &str) {
    if colour {
        let _ = write!(out, "{code}{text}{RESET}");
    } else {
        out.push_str(text);
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_value(out: &mut String, v: &Value, depth: usize, colour: bool) {
    match v {
        Value::Null | Value::Bool(_) => paint(out, colour, LIT, &v.to_string()),
        Value::Number(_) => paint(out, colour, NUM, &v.to_string()),
        Value::String(s) => paint(out, colour, STR, &json_string(s)),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(o) if o.is_empty() => out.push_str("{}"),
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, item) in a.iter().enumerate() {
                indent(out, depth + 1);
                write_value(out, item, depth + 1, colour);
                if i + 1 < a.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Object(o) => {
            out.push_str("{\n");
            for (i, (k, item)) in o.iter().enumerate() {
                indent(out, depth + 1);
                paint(out, colour, KEY, &json_string(k));
                out.push_str(": ");
                write_value(out, item, depth + 1, colour);
                if i + 1 < o.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, depth);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_layout_equals_serde_pretty() {
        let v = json!({"a": [1, "x\"y", null, {"b": true, "c": []}], "d": {}, "e": 2.5});
        assert_eq!(pretty(&v, false), serde_json::to_string_pretty(&v).unwrap());
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let v = json!({"t\u{9b}k": "\u{1b}]0;pwned\u{7}\u{7f}\u{9b}2J"});
        for colour in [false, true] {
            let p = pretty(&v, colour);
            let stripped: String = p.replace(KEY, "").replace(STR, "").replace(RESET, "");
            assert!(!stripped.chars().any(is_control_but_layout), "{stripped:?}");
            if !colour {
                // Still the same JSON.
                assert_eq!(serde_json::from_str::<Value>(&p).unwrap(), v);
            }
        }
    }

    /// True for the characters a terminal may act on: C0 controls, DEL, C1 controls.
    fn is_control(c: char) -> bool {
        matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
    }

    fn is_control_but_layout(c: char) -> bool {
        is_control(c) && c != '\n' && c != '\t'
    }

    #[test]
    fn colour_wraps_tokens_and_strips_back_to_plain() {
        let v = json!({"k": "v", "n": 1, "t": true});
        let c = pretty(&v, true);
        assert!(c.contains("\x1b[34m\"k\"\x1b[0m"), "{c:?}");
        assert!(c.contains("\x1b[32m\"v\"\x1b[0m"));
        assert!(c.contains("\x1b[36m1\x1b[0m"));
        let stripped = c
            .replace(KEY, "")
            .replace(STR, "")
            .replace(NUM, "")
            .replace(LIT, "")
            .replace(RESET, "");
        assert_eq!(stripped, pretty(&v, false));
    }
}
