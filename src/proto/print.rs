//! cJSON-compatible printers for MI replies.
//!
//! OpenSIPS prints replies with its bundled cJSON (`lib/cJSON.c`): compact by
//! default, tab-indented with `pretty_printing=1`. Clients that compare bytes
//! (or parse with `readline()`) depend on those exact bytes, so this module
//! reproduces them instead of using serde_json's printers:
//!
//! - numbers follow cJSON's rules (`0`, `%d`, `%.0f`, `%e`, `%f`; NaN/Inf as `null`);
//! - strings escape `"` `\` and control bytes only (`\b \f \n \r \t`, else `\u00xx`);
//! - pretty mode: one TAB per depth, `"key":` + TAB, array items joined by
//!   `", "` on one line, `{` followed by LF, empty object as `{` LF indent `}`;
//! - never a trailing newline.
//!
//! See `mi-fifo-protocol.md` §2.5 for the reference bytes.

use serde_json::{Number, Value};

/// Compact (`pretty_printing=0`) text of `v`.
pub fn compact(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0, false);
    out
}

/// Appends the compact text of `v` to `out` (the server builds a reply in
/// one buffer instead of a `Value` tree around the result).
pub fn compact_into(out: &mut String, v: &Value) {
    write_value(out, v, 0, false);
}

/// Pretty (`pretty_printing=1`) text of `v`.
pub fn pretty(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0, true);
    out
}

/// Prints with the chosen style.
pub fn print(v: &Value, pretty_printing: bool) -> String {
    if pretty_printing {
        pretty(v)
    } else {
        compact(v)
    }
}

fn write_value(out: &mut String, v: &Value, depth: usize, fmt: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(if fmt { ", " } else { "," });
                }
                write_value(out, item, depth + 1, fmt);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let depth = depth + 1;
            out.push('{');
            if fmt {
                out.push('\n');
            }
            let n = members.len();
            for (i, (k, val)) in members.iter().enumerate() {
                if fmt {
                    push_tabs(out, depth);
                }
                write_string(out, k);
                out.push(':');
                if fmt {
                    out.push('\t');
                }
                write_value(out, val, depth, fmt);
                if i + 1 < n {
                    out.push(',');
                }
                if fmt {
                    out.push('\n');
                }
            }
            if fmt {
                push_tabs(out, depth - 1);
            }
            out.push('}');
        }
    }
}

fn push_tabs(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push('\t');
    }
}

/// A JSON string as cJSON prints it.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number as cJSON's `print_number` formats it.
///
/// Integers that serde_json holds exactly (`i64`/`u64`) are printed exactly;
/// cJSON would go through a `double` and lose digits beyond 2^53 — the only
/// deliberate difference.
pub fn number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let d = n.as_f64().unwrap_or(f64::NAN);
    double(d)
}

/// A `double` as cJSON formats it.
pub fn double(d: f64) -> String {
    if d.is_nan() || d.is_infinite() {
        return "null".into();
    }
    if d == 0.0 {
        return "0".into();
    }
    let as_int = d as i32 as f64;
    if (as_int - d).abs() <= f64::EPSILON && d <= i32::MAX as f64 && d >= i32::MIN as f64 {
        return format!("{}", d as i32);
    }
    if (d.floor() - d).abs() <= f64::EPSILON && d.abs() < 1.0e60 {
        return format!("{d:.0}");
    }
    if d.abs() < 1.0e-6 || d.abs() > 1.0e9 {
        return c_exp(d);
    }
    format!("{d:.6}")
}

/// C's `%e`: six decimals and an exponent with a sign and at least two digits.
fn c_exp(d: f64) -> String {
    let s = format!("{d:.6e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The reference value of `mi-fifo-protocol.md` §2.5, built in key order.
    fn sample() -> Value {
        json!({
            "jsonrpc": "2.0",
            "result": {
                "Now": "Thu Nov 28 10:00:00 2024",
                "arr": [1, 2.5, "a\"b\\c\n\t\u{1}", {"k": null, "big": 4294967296u64, "neg": -32601}],
                "empty_obj": {},
                "empty_arr": []
            },
            "id": "5672"
        })
    }

    #[test]
    fn compact_matches_cjson() {
        assert_eq!(
            compact(&sample()),
            r#"{"jsonrpc":"2.0","result":{"Now":"Thu Nov 28 10:00:00 2024","arr":[1,2.500000,"a\"b\\c\n\t\u0001",{"k":null,"big":4294967296,"neg":-32601}],"empty_obj":{},"empty_arr":[]},"id":"5672"}"#
        );
    }

    #[test]
    fn pretty_matches_cjson() {
        let expected = "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{\n\t\t\"Now\":\t\"Thu Nov 28 10:00:00 2024\",\n\t\t\"arr\":\t[1, 2.500000, \"a\\\"b\\\\c\\n\\t\\u0001\", {\n\t\t\t\t\"k\":\tnull,\n\t\t\t\t\"big\":\t4294967296,\n\t\t\t\t\"neg\":\t-32601\n\t\t\t}],\n\t\t\"empty_obj\":\t{\n\t\t},\n\t\t\"empty_arr\":\t[]\n\t},\n\t\"id\":\t\"5672\"\n}";
        assert_eq!(pretty(&sample()), expected);
    }

    #[test]
    fn number_rules() {
        assert_eq!(double(0.0), "0");
        assert_eq!(double(-0.0), "0");
        assert_eq!(double(42.0), "42");
        assert_eq!(double(4294967296.0), "4294967296");
        assert_eq!(double(2.5), "2.500000");
        assert_eq!(double(0.0000001), "1.000000e-07");
        assert_eq!(double(12345678901.5), "1.234568e+10");
        assert_eq!(double(f64::NAN), "null");
        assert_eq!(double(1e300), "1.000000e+300");
        assert_eq!(number(&Number::from(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn control_bytes_and_unicode() {
        let mut s = String::new();
        write_string(&mut s, "\u{8}\u{c}\r\u{1f}\u{7f}é/");
        assert_eq!(s, "\"\\b\\f\\r\\u001f\u{7f}é/\"");
    }
}
