//! What checks produce: [`Finding`]s (a problem or a confirmation, with
//! evidence and a pasteable fix) and one [`CheckLine`] per check run.

use super::code::Code;
use serde::Serialize;

/// How bad a finding is. `Error` makes the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational (e.g. `access-ok`).
    Info,
    /// Suspicious, or a problem for some clients only.
    Warning,
    /// Access is (or would be) refused.
    Error,
}

/// A line to put into a configuration file (never a shell command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edit {
    /// The file, in the server's or client's namespace.
    pub file: String,
    /// The line to add or change.
    pub line: String,
}

/// A fix: what to do, the shell commands to paste, the config lines to
/// edit, and what it weakens (if anything).
///
/// `edits` then `commands` are ONE sequence of steps: applied in that order,
/// all of them, they make this finding go away (the verdict `ok` when it was
/// the only one). Other ways to the same end are whole fixes of their own in
/// `alternatives`, worse first to last ("or:" in human output); a tool or a
/// test applying a fix applies the main one, or, when it has nothing to
/// paste (described in words only), the first alternative that has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// One sentence.
    pub summary: String,
    /// Shell commands only (pasteable as they are), to run in order, all of them.
    pub commands: Vec<String>,
    /// Configuration lines, each naming its file (applied before the commands).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Edit>,
    /// What protection the fix removes, when it removes one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weakens: Option<String>,
    /// Other complete fixes for the same finding, in order of preference
    /// (each its own sequence; never combined with the main one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Fix>,
}

impl Fix {
    /// A fix with commands.
    pub fn new(summary: impl Into<String>, commands: impl IntoIterator<Item = String>) -> Fix {
        Fix {
            summary: summary.into(),
            commands: commands.into_iter().collect(),
            edits: Vec::new(),
            weakens: None,
            alternatives: Vec::new(),
        }
    }

    /// Adds an alternative (after the ones already there).
    pub fn or(mut self, alt: Fix) -> Fix {
        self.alternatives.push(alt);
        self
    }

    /// Adds a configuration line to put into `file`.
    pub fn edit(mut self, file: impl Into<String>, line: impl Into<String>) -> Fix {
        self.edits.push(Edit {
            file: file.into(),
            line: line.into(),
        });
        self
    }

    /// Notes what the fix weakens.
    pub fn weakens(mut self, what: impl Into<String>) -> Fix {
        self.weakens = Some(what.into());
        self
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// Severity.
    pub severity: Severity,
    /// Which client or server it concerns (`None` = the FIFO itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// What is wrong, specifically.
    pub message: String,
    /// Facts that support it (ordered key → value).
    #[serde(serialize_with = "evidence_map")]
    pub evidence: Vec<(String, String)>,
    /// How to fix it.
    pub fix: Option<Fix>,
}

fn evidence_map<S: serde::Serializer>(ev: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(ev.len()))?;
    for (k, v) in ev {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

impl Finding {
    /// A finding with no evidence and no fix yet.
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity,
            subject: None,
            message: message.into(),
            evidence: Vec::new(),
            fix: None,
        }
    }

    /// Sets the subject.
    pub fn subject(mut self, s: impl Into<String>) -> Finding {
        self.subject = Some(s.into());
        self
    }

    /// Adds one piece of evidence.
    pub fn evidence(mut self, key: impl Into<String>, value: impl Into<String>) -> Finding {
        self.evidence.push((key.into(), value.into()));
        self
    }

    /// Sets the fix.
    pub fn fix(mut self, fix: Fix) -> Finding {
        self.fix = Some(fix);
        self
    }
}

/// Result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Ok,
    /// Produced at least one warning or error.
    Problem,
    /// Not run.
    Skipped,
    /// Could not be decided with the doctor's privileges (the report says
    /// what `sudo` would add).
    Unknown,
}

/// One line of the report: a check, its status, and a short detail (the
/// reason when skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckLine {
    /// Check name, e.g. `access www-data (pid 812)`.
    pub name: String,
    /// Status.
    pub status: Status,
    /// One line of detail.
    pub detail: String,
}
