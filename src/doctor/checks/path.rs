//! The path string itself: leading/trailing whitespace and control bytes,
//! with the existing near-miss suggested (`"/tmp/opensips_fifo "` →
//! `/tmp/opensips_fifo`).

use super::{escape_bytes, Ctx};
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Levenshtein distance on bytes, capped work for short names.
pub fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn is_odd(c: u8) -> bool {
    c.is_ascii_whitespace() || c < 0x20 || c == 0x7f
}

/// Existing entries near `path` in `root`: the trimmed path, and siblings
/// within edit distance 2 of the (trimmed) name.
pub fn near_misses(ctx: &Ctx<'_>, root: &Path, path: &[u8]) -> Vec<PathBuf> {
    let start = path.iter().position(|&c| !is_odd(c)).unwrap_or(path.len());
    let end = path
        .iter()
        .rposition(|&c| !is_odd(c))
        .map_or(start, |p| p + 1);
    let trimmed = Path::new(OsStr::from_bytes(&path[start..end]));
    let (Some(parent), Some(name)) = (trimmed.parent(), trimmed.file_name()) else {
        return Vec::new();
    };
    let Ok(entries) = ctx.view.read_dir(&Ctx::host(root, parent)) else {
        return Vec::new();
    };
    let mut out: Vec<(usize, PathBuf)> = entries
        .iter()
        .filter_map(|e| {
            let d = edit_distance(e.as_bytes(), name.as_bytes());
            let candidate = parent.join(e);
            (d <= 2 && candidate.as_os_str().as_bytes() != path).then_some((d, candidate))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, p)| p).take(5).collect()
}

/// Runs the check.
pub fn check(ctx: &mut Ctx<'_>) {
    let raw = ctx.cfg.fifo.as_os_str().as_bytes().to_vec();
    let mut problems = Vec::new();
    if raw.first().is_some_and(|&c| c.is_ascii_whitespace()) {
        problems.push("leading whitespace");
    }
    if raw.last().is_some_and(|&c| c.is_ascii_whitespace()) {
        problems.push("trailing whitespace");
    }
    if raw.iter().any(|&c| c < 0x20 || c == 0x7f) {
        problems.push("control bytes");
    }
    let shown = escape_bytes(&raw);
    if problems.is_empty() {
        let detail = format!(
            "\"{shown}\" ({} bytes, no whitespace or control bytes)",
            raw.len()
        );
        ctx.line("fifo path", Status::Ok, detail);
        return;
    }
    let root = ctx.ref_root.clone();
    let near = near_misses(ctx, &root, &raw);
    let mut f = Finding::new(
        Code::FifoPathWhitespace,
        Severity::Error,
        format!(
            "the FIFO path \"{shown}\" has {}; the kernel takes it byte for byte, so it names a different file",
            problems.join(" and ")
        ),
    )
    .evidence("path", format!("\"{shown}\""))
    .evidence("bytes", raw.len().to_string());
    let fix = match near.first() {
        Some(n) => {
            f = f.evidence("existing near-miss", n.display().to_string());
            Fix::new(
                format!("use the existing path {} in the client's configuration (OpenSIPS-CP `fifo:` box, opensipsctlrc, scripts)", n.display()),
                [
                    format!("grep -rn -- '{}' /etc/opensips /var/www 2>/dev/null", n.display()),
                    format!("mififo doctor --fifo '{}'", n.display()),
                ],
            )
        }
        None => Fix::new(
            "remove the stray bytes from the configured path (the CP does not trim after `fifo:`)",
            [
                "grep -rn 'fifo' /etc/opensips /var/www 2>/dev/null | cat -A | grep -n ' \\$'"
                    .to_string(),
            ],
        ),
    };
    ctx.add(f.fix(fix));
    ctx.line(
        "fifo path",
        Status::Problem,
        format!("\"{shown}\": {}", problems.join(", ")),
    );
}

#[cfg(test)]
mod tests {
    use super::edit_distance;
    use crate::doctor::fixture::*;
    use crate::doctor::{ClientSpec, Code};

    #[test]
    fn distance() {
        assert_eq!(edit_distance(b"opensips_fifo", b"opensips_fifo"), 0);
        assert_eq!(edit_distance(b"opensips_fifo", b"opensip_fifo"), 1);
        assert_eq!(edit_distance(b"abc", b"xyz"), 3);
    }

    #[test]
    fn trailing_space_suggests_the_existing_fifo() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        let cfg = f.config("/tmp/opensips_fifo ", ClientSpec::User("apache".into()));
        let r = f.run(&cfg);
        let w = r.finding(Code::FifoPathWhitespace).expect("finding");
        assert!(w.message.contains("trailing whitespace"));
        assert!(w.message.contains("\\x20"));
        assert!(w
            .evidence
            .iter()
            .any(|(k, v)| k == "existing near-miss" && v == "/tmp/opensips_fifo"));
        assert!(r.has(Code::FifoMissing));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn clean_path_has_no_finding() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        let r = f.as_apache("/tmp/opensips_fifo");
        assert!(!r.has(Code::FifoPathWhitespace));
    }
}
