//! systemd unit files (systemd.unit(5)): where a unit's `PrivateTmp=` (and
//! `DynamicUser=`, which implies it) is set, following the search path and
//! drop-ins (`NAME.d/*.conf`, lexicographic, last assignment wins).

use super::view::SystemView;
use std::path::{Path, PathBuf};

/// The system unit search path, highest priority first.
pub const SEARCH_PATH: &[&str] = &[
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/run/systemd/system",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/run/systemd/generator.late",
];

/// A boolean setting and the file that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The value.
    pub value: bool,
    /// `file:line`.
    pub source: String,
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" | "disconnected" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// The `(line number, value)` of each `key=` assignment in the `[Service]`
/// sections of `text` (comments skipped, value untrimmed).
fn service_assignments<'a>(text: &'a str, key: &'a str) -> impl Iterator<Item = (usize, &'a str)> {
    let mut in_service = false;
    text.lines().enumerate().filter_map(move |(i, line)| {
        let l = line.trim();
        if l.starts_with('[') {
            in_service = l == "[Service]";
            return None;
        }
        if !in_service || l.starts_with('#') || l.starts_with(';') {
            return None;
        }
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then_some((i + 1, v))
    })
}

/// Applies `key=` assignments of `[Service]` in `text` to `cur`.
fn apply(cur: &mut Option<Setting>, key: &str, file: &Path, text: &str) {
    for (line, v) in service_assignments(text, key) {
        if let Some(value) = parse_bool(v) {
            *cur = Some(Setting {
                value,
                source: format!("{}:{line}", file.display()),
            });
        }
    }
}

/// The files that configure `unit`, with their text, in the order systemd
/// applies them: the first unit file on the search path, then the drop-ins
/// (`UNIT.d/*.conf`, the first of each name on the search path) in name
/// order. Each is read once; one that cannot be read is left out.
fn unit_files(view: &dyn SystemView, unit: &str) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = SEARCH_PATH
        .iter()
        .map(|d| Path::new(d).join(unit))
        .find_map(|p| view.read_string(&p).ok().map(|t| (p, t)))
        .into_iter()
        .collect();
    let mut dropins: Vec<(String, PathBuf)> = Vec::new();
    for d in SEARCH_PATH {
        let dir = Path::new(d).join(format!("{unit}.d"));
        for name in view.read_dir(&dir).unwrap_or_default() {
            let n = name.to_string_lossy().into_owned();
            if n.ends_with(".conf") && !dropins.iter().any(|(m, _)| m == &n) {
                dropins.push((n, dir.join(&name)));
            }
        }
    }
    dropins.sort();
    files.extend(
        dropins
            .into_iter()
            .filter_map(|(_, p)| view.read_string(&p).ok().map(|t| (p, t))),
    );
    files
}

/// The effective `key` (e.g. `PrivateTmp`) of `unit`: the first unit file on
/// the search path, then its drop-ins in name order.
pub fn setting(view: &dyn SystemView, unit: &str, key: &str) -> Option<Setting> {
    effective(&unit_files(view, unit), key)
}

/// The effective `key` of the files [`unit_files`] found.
fn effective(files: &[(PathBuf, String)], key: &str) -> Option<Setting> {
    let mut cur = None;
    for (p, t) in files {
        apply(&mut cur, key, p, t);
    }
    cur
}

/// Every value assigned to a list-valued `key` (`IPAddressDeny=`,
/// `RestrictAddressFamilies=`) of `unit`, with its `file:line`; an empty
/// assignment resets the list, as systemd does.
pub fn values(view: &dyn SystemView, unit: &str, key: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (f, text) in unit_files(view, unit) {
        for (line, v) in service_assignments(&text, key) {
            let v = v.trim();
            if v.is_empty() {
                out.clear();
            } else {
                out.push((v.to_string(), format!("{}:{line}", f.display())));
            }
        }
    }
    out
}

/// PrivateTmp as configured: `PrivateTmp=` or `DynamicUser=yes`.
pub fn private_tmp(view: &dyn SystemView, unit: &str) -> Option<Setting> {
    let files = unit_files(view, unit);
    match effective(&files, "PrivateTmp") {
        Some(s) if s.value => Some(s),
        other => effective(&files, "DynamicUser")
            .filter(|d| d.value)
            .or(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::view::FakeView;

    #[test]
    fn drop_ins_override_the_unit_file() {
        let mut v = FakeView::new();
        v.file(
            "/usr/lib/systemd/system/httpd.service",
            "[Unit]\nDescription=x\n[Service]\nPrivateTmp=true\n",
        );
        let s = private_tmp(&v, "httpd.service").unwrap();
        assert!(s.value);
        assert_eq!(s.source, "/usr/lib/systemd/system/httpd.service:4");
        v.file(
            "/etc/systemd/system/httpd.service.d/override.conf",
            "[Service]\nPrivateTmp=no\n",
        );
        let s = private_tmp(&v, "httpd.service").unwrap();
        assert!(!s.value);
        assert!(s
            .source
            .starts_with("/etc/systemd/system/httpd.service.d/override.conf"));
        // An [Install] key of the same name does not count; DynamicUser implies PrivateTmp.
        let mut w = FakeView::new();
        w.file(
            "/lib/systemd/system/php.service",
            "[Service]\nDynamicUser=yes\n[Install]\nPrivateTmp=no\n",
        );
        assert!(private_tmp(&w, "php.service").unwrap().value);
        assert_eq!(private_tmp(&w, "none.service"), None);
    }
}
