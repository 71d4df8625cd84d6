//! What is at the path, in the server's view (or ours when no server is
//! found): `fifo-missing` and `fifo-not-a-fifo`.

use super::path::near_misses;
use super::Ctx;
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use crate::doctor::view::FileKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The deepest existing ancestor of `path` in `root`.
fn deepest_existing(ctx: &Ctx<'_>, root: &Path, path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    while p.pop() {
        if ctx.view.lstat(&Ctx::host(root, &p)).is_ok() {
            return p;
        }
    }
    PathBuf::from("/")
}

/// Runs the check.
pub fn check(ctx: &mut Ctx<'_>) {
    let root = ctx.ref_root.clone();
    let whose = if ctx.servers.is_empty() {
        "the doctor's view".to_string()
    } else {
        format!("the view of {}", ctx.servers[0].name)
    };
    let shown = ctx.fifo_shown();
    if ctx.fifo_meta.is_none()
        && ctx.unprivileged
        && matches!(ctx.fifo_errno, Some(libc::EACCES | libc::EPERM))
    {
        // The doctor may not look; that says nothing about whether it exists.
        ctx.hide(format!("whether {shown} exists (a directory of the path is not searchable by the doctor's user)"));
        ctx.line(
            "fifo exists",
            Status::Unknown,
            format!("{shown}: the doctor's user may not search a directory of the path"),
        );
        return;
    }
    let Some(meta) = ctx.fifo_meta else {
        let exists = deepest_existing(ctx, &root, &ctx.fifo.clone());
        let near = near_misses(ctx, &root, ctx.fifo.as_os_str().as_bytes());
        let mut f = Finding::new(
            Code::FifoMissing,
            Severity::Error,
            format!(
                "nothing exists at {shown} ({whose}): the server is not running, uses another fifo_name, or the FIFO was removed (tmp cleaner, another instance's shutdown)"
            ),
        )
        .evidence("deepest existing directory", exists.display().to_string());
        if !near.is_empty() {
            f = f.evidence(
                "similar names",
                near.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        for sc in &ctx.server_cfgs {
            let name = sc.fifo_name.clone().unwrap_or_else(|| "(default)".into());
            f = f.evidence(
                format!("{} pid {} configured fifo_name", sc.comm, sc.pid),
                format!("{} ({})", name.display(), sc.cfg.display()),
            );
        }
        for c in ctx.candidates.iter().take(8) {
            f = f.evidence(format!("server candidate {}", c.describe()), c.why.clone());
        }
        for h in &ctx.holders.deleted {
            f = f.evidence(
                format!("pid {} fd {}", h.pid, h.fd),
                h.link.display().to_string(),
            );
        }
        f = f.evidence(
            "note",
            "a PHP/Python client (O_CREAT) would now create a regular file there and hang or lose its commands",
        );
        // The most relevant running server decides the fix; it is named with the reason.
        let asked = ctx.fifo.clone();
        let fix = match super::servers::best(ctx) {
            Some(c) if c.rank > 1 && c.fifo_name.as_ref().is_some_and(|n| *n != asked) => {
                let n = c.fifo_name.clone().unwrap_or_default();
                // Pointing the client elsewhere is an edit of a file the doctor
                // does not know; changing the server's path is a fix it can print.
                Fix::new(
                    format!(
                        "the most relevant running server, {} ({}), uses {}: point the client there (check it with: mififo doctor --fifo '{}')",
                        c.describe(),
                        c.why,
                        n.display(),
                        n.display()
                    ),
                    [],
                )
                .or(c.set_param(
                    super::servers::Param::Name,
                    &asked.display().to_string(),
                    format!("make that server create {} instead", asked.display()),
                ))
            }
            _ => {
                let mut fix = super::servers::restart_fix(
                    ctx,
                    "start (or restart) the MI server: it creates the FIFO",
                );
                fix.summary += &format!(" (what is there now: ls -la '{}')", exists.display());
                fix
            }
        };
        ctx.add(f.fix(fix));
        ctx.line(
            "fifo exists",
            Status::Problem,
            format!("{shown}: missing ({whose})"),
        );
        return;
    };
    if meta.kind != FileKind::Fifo {
        let why = match meta.kind {
            FileKind::Regular => "writes \"succeed\" but nothing reads them: usually an O_CREAT client (PHP, Python, shell `>`) created it after the FIFO was removed",
            FileKind::Socket => "opening a socket gives ENXIO: the server may use mi_datagram/a UNIX socket, not mi_fifo",
            FileKind::Dir => "the path is a directory",
            _ => "the MI FIFO must be a FIFO",
        };
        let f = Finding::new(
            Code::FifoNotAFifo,
            Severity::Error,
            format!("{shown} is {}, not a FIFO; {why}", meta.kind.describe()),
        )
        .evidence("file", ctx.describe_meta(&meta))
        .fix({
            let r = super::servers::restart_fix(
                ctx,
                "remove it and restart the server so it creates the FIFO again",
            );
            Fix::new(
                r.summary,
                std::iter::once(format!("rm -- '{}'", ctx.fifo.display())).chain(r.commands),
            )
        });
        ctx.add(f);
        ctx.line(
            "fifo exists",
            Status::Problem,
            format!(
                "{shown}: {} ({})",
                meta.kind.describe(),
                ctx.describe_meta(&meta)
            ),
        );
        return;
    }
    let detail = format!(
        "{shown}: FIFO {} (inode {})",
        ctx.describe_meta(&meta),
        meta.ino
    );
    ctx.line("fifo exists", Status::Ok, detail);
}

#[cfg(test)]
mod tests {
    use crate::doctor::fixture::*;
    use crate::doctor::view::FileKind;
    use crate::doctor::{Code, Severity};

    #[test]
    fn missing_fifo_is_an_error_with_similar_names() {
        let mut f = Fixture::new();
        f.view
            .fifo("/tmp/opensips_fifo2", 0o660, OPENSIPS, OPENSIPS_G);
        let r = f.as_apache("/tmp/opensips_fifo");
        let m = r.finding(Code::FifoMissing).unwrap();
        assert_eq!(m.severity, Severity::Error);
        assert!(m
            .evidence
            .iter()
            .any(|(k, v)| k == "similar names" && v.contains("opensips_fifo2")));
        assert!(!r.has(Code::AccessOk));
        assert!(!r.has(Code::NoReader), "no-reader needs an existing FIFO");
    }

    #[test]
    fn missing_fifo_names_the_running_servers_fifo_name() {
        let mut f = Fixture::new();
        f.opensips(100);
        f.view
            .file(
                "/proc/100/cmdline",
                "/usr/sbin/opensips\0-f\0/etc/opensips/test.cfg\0",
            )
            .file(
                "/proc/100/root/etc/opensips/test.cfg",
                "modparam(\"mi_fifo\", \"fifo_name\", \"/run/opensips/opensips_fifo\")\n",
            );
        let r = f.as_apache("/tmp/opensips_fifo");
        let m = r.finding(Code::FifoMissing).unwrap();
        assert!(
            m.evidence
                .iter()
                .any(|(k, v)| k == "opensips pid 100 configured fifo_name"
                    && v.starts_with("/run/opensips/opensips_fifo")),
            "{m:#?}"
        );
        // Pointing the client there is words (its config is unknown); the
        // pasteable alternative makes that server create the asked path.
        let fix = m.fix.as_ref().unwrap();
        assert!(fix.commands.is_empty() && fix.edits.is_empty());
        assert!(fix
            .summary
            .contains("mififo doctor --fifo '/run/opensips/opensips_fifo'"));
        let alt = &fix.alternatives[0];
        assert_eq!(
            alt.edits[0].line,
            "modparam(\"mi_fifo\", \"fifo_name\", \"/tmp/opensips_fifo\")"
        );
        assert!(!alt.commands.is_empty());
    }

    #[test]
    fn regular_file_is_not_a_fifo() {
        let mut f = Fixture::new();
        f.view
            .node("/tmp/opensips_fifo", FileKind::Regular, 0o644, 0, 0);
        let r = f.as_apache("/tmp/opensips_fifo");
        let m = r.finding(Code::FifoNotAFifo).unwrap();
        assert!(m.message.contains("regular file"));
    }
}
