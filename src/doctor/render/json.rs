//! JSON report: one object with `verdict` (`ok`, `denied`, `unknown`),
//! `exit_code`, `fifo`, `clients`, `servers`, `checks` and `findings`
//! (`code`, `severity`, `subject`?, `message`, `evidence` {key: value},
//! `fix` {summary, commands, edits? [{file, line}], weakens?} or null), and
//! when the doctor could not see everything without root: `needs_root`
//! (what) and `rerun` (the `sudo mififo doctor …` line).

use crate::doctor::report::Report;
use serde_json::json;

/// Renders the report as one pretty JSON object (with a trailing newline).
pub fn render(r: &Report) -> String {
    let mut v = json!({
        "verdict": r.verdict(),
        "exit_code": r.exit_code(),
        "fifo": r.fifo,
        "clients": r.clients,
        "servers": r.servers,
        "checks": r.checks,
        "findings": r.findings,
    });
    if let Some(rerun) = &r.rerun {
        v["needs_root"] = json!(r.needs_root);
        v["rerun"] = json!(rerun);
    }
    let mut s =
        serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    // serde_json escapes C0 controls only; DEL, C1 (an 8-bit CSI) and bidi
    // overrides in other users' names would reach a terminal raw.
    crate::term::json(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::fixture::*;

    /// A name carrying DEL, an 8-bit CSI or a bidi override comes out as
    /// `\uNNNN`, and the JSON still reads back to the same text.
    #[test]
    fn terminal_controls_are_escaped_and_the_json_stays_valid() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o660);
        let mut r = f.as_apache("/tmp/opensips_fifo");
        let evil = "a\u{9b}2Jb\u{202e}c\u{7f}";
        r.clients.push(evil.into());
        let s = render(&r);
        assert!(!s.contains(['\u{9b}', '\u{202e}', '\u{7f}']), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["clients"].as_array().unwrap().last().unwrap(), evil);
    }

    #[test]
    fn contract_fields() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o660);
        let r = f.as_apache("/tmp/opensips_fifo");
        let v: serde_json::Value = serde_json::from_str(&render(&r)).unwrap();
        assert_eq!(v["verdict"], "denied");
        assert_eq!(v["exit_code"], 1);
        let f0 = &v["findings"][0];
        assert_eq!(f0["code"], "group-not-member");
        assert_eq!(f0["severity"], "error");
        assert!(f0["message"].as_str().unwrap().contains("opensips"));
        assert!(f0["evidence"].is_object());
        assert!(f0["fix"]["commands"].is_array());
        assert!(v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"].is_string()));
    }
}
