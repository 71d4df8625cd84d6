//! Terminal-safe text: whatever a server sends (command names from `which`,
//! statistic names, error messages, text-dialect replies) passes through here
//! before it reaches a terminal, so that a hostile server cannot set the window
//! title, move the cursor, rewrite earlier lines or reorder text on screen.
//!
//! Escaped: C0 controls (except the line feed and tab of multi-line text), DEL,
//! C1 controls (`U+0080`–`U+009F`, of which `U+009B` is an 8-bit CSI) and the
//! Unicode bidirectional overrides and isolates.

use std::borrow::Cow;

/// True for characters that must never reach a terminal raw.
fn is_dangerous(c: char) -> bool {
    c.is_control() // C0, DEL, C1
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_dangerous(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) && !keep(c) {
            let n = c as u32;
            if n <= 0xff {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of untrusted text (a name, an error message): every control
/// character, line feeds and tabs included, shown as `\xNN` / `\u{NNNN}`.
pub fn line(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false)
}

/// At most `max` characters of untrusted text as one [`line()`], with `…`
/// when some were cut (client-supplied values in messages and logs).
pub fn excerpt(s: &str, max: usize) -> String {
    let head: String = s.chars().take(max).collect();
    let mut out = line(&head).into_owned();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Untrusted multi-line text (a text-dialect reply): like [`line()`] but line
/// feeds and tabs are kept.
pub fn text(s: &str) -> Cow<'_, str> {
    escape_with(s, |c| c == '\n' || c == '\t')
}

/// Pretty JSON from [`crate::client::render::pretty`]: JSON escaping already
/// removed C0 controls from strings, but DEL, C1 controls and bidi overrides
/// pass through it. They can only occur inside JSON strings, where the
/// `\uNNNN` escape written here keeps the output valid JSON. The ANSI
/// colours `render` adds (ESC, a C0 control) are left alone.
pub fn json(s: &str) -> Cow<'_, str> {
    let bad = |c: char| is_dangerous(c) && (c as u32) >= 0x7f;
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// True when `s` can be inserted into an input line as it is (completion
/// candidates): no control or bidi characters, no white space.
pub fn is_plain_word(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| is_dangerous(c) || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc_title_and_csi_are_escaped() {
        assert_eq!(line("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(line("x\u{9b}2J"), "x\\x9b2J");
        assert_eq!(line("l1\nl2\t\r"), "l1\\x0al2\\x09\\x0d");
        assert_eq!(text("l1\nl2\t\r\x7f"), "l1\nl2\t\\x0d\\x7f");
        assert_eq!(line("abc\u{202E}cba"), "abc\\u{202e}cba");
        assert!(matches!(line("core:rcv_requests"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escapes_keep_valid_json_and_colours() {
        let v = serde_json::json!({"k\u{9b}": "v\u{7f}\u{202e}", "e": "\x1b[2J"});
        let pretty = crate::client::render::pretty(&v, true);
        let safe = json(&pretty);
        assert!(!safe.contains('\u{9b}') && !safe.contains('\u{7f}'));
        assert!(safe.contains("\x1b[34m"), "colours kept: {safe:?}");
        let plain = json(&crate::client::render::pretty(&v, false)).into_owned();
        let back: serde_json::Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(back, v);
        // Server-sent ESC is already \u001b after JSON escaping.
        assert!(plain.contains("\\u001b[2J"));
    }

    #[test]
    fn plain_words() {
        assert!(is_plain_word("get_statistics"));
        assert!(!is_plain_word("evil\x1b]0;x\x07"));
        assert!(!is_plain_word("two words"));
        assert!(!is_plain_word(""));
    }
}
