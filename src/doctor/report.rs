//! The doctor's result: check lines and findings, the verdict and the exit
//! code derived from them. Rendered by [`super::render`].

use super::code::Code;
use super::finding::{CheckLine, Finding, Severity, Status};
use serde::Serialize;

/// Overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No error, and every client was confirmed (`access-ok`).
    Ok,
    /// At least one error finding.
    Denied,
    /// No error, but not every client could be confirmed.
    Unknown,
}

/// Everything a run found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The FIFO path examined, with invisible bytes escaped.
    pub fifo: String,
    /// The clients examined.
    pub clients: Vec<String>,
    /// The servers found.
    pub servers: Vec<String>,
    /// One line per check, in run order.
    pub checks: Vec<CheckLine>,
    /// Findings in run order.
    pub findings: Vec<Finding>,
    /// What the doctor could not see with its privileges.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_root: Vec<String>,
    /// The exact command that sees it (`sudo mififo doctor …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerun: Option<String>,
}

impl Report {
    /// Records a check line.
    pub fn check(&mut self, name: impl Into<String>, status: Status, detail: impl Into<String>) {
        self.checks.push(CheckLine {
            name: name.into(),
            status,
            detail: detail.into(),
        });
    }

    /// Records a finding.
    pub fn add(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// The codes found (for tests and summaries).
    pub fn codes(&self) -> Vec<Code> {
        self.findings.iter().map(|f| f.code).collect()
    }

    /// True when any finding has `code`.
    pub fn has(&self, code: Code) -> bool {
        self.finding(code).is_some()
    }

    /// The first finding with `code`.
    pub fn finding(&self, code: Code) -> Option<&Finding> {
        self.findings.iter().find(|f| f.code == code)
    }

    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        if self.findings.iter().any(|f| f.severity == Severity::Error) {
            Verdict::Denied
        } else if !self.clients.is_empty()
            && self.clients.iter().all(|c| {
                self.findings.iter().any(|f| {
                    matches!(f.code, Code::AccessOk | Code::HttpOk)
                        && f.subject.as_deref() == Some(c.as_str())
                })
            })
        {
            Verdict::Ok
        } else {
            Verdict::Unknown
        }
    }

    /// 0 without error findings, 1 with.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.verdict() == Verdict::Denied)
    }
}
