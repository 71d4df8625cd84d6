//! Who reads the FIFO (`/proc/*/fd`): `no-reader` when nobody holds it for
//! reading, `multiple-servers` when unrelated processes read it or a server
//! still reads a deleted FIFO of the same name (the path was replaced).

use super::Ctx;
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use crate::doctor::procfs;
use crate::doctor::view::FileKind;
use std::collections::BTreeSet;
use std::path::Path;

/// The server instance a reader belongs to: the topmost ancestor that has the
/// same name or also reads the FIFO (an OpenSIPS main process and its forked
/// MI child, or a child that inherited the fd, are one instance; two servers
/// started from the same shell or supervisor are two).
fn instance_of(ctx: &Ctx<'_>, pid: i32, readers: &[i32]) -> i32 {
    let status = |p: i32| {
        ctx.view
            .read_string(Path::new(&format!("/proc/{p}/status")))
            .ok()
            .and_then(|t| procfs::parse_status(&t))
    };
    let Some(me) = status(pid) else { return pid };
    let mut cur = pid;
    let mut parent = me.ppid;
    for _ in 0..64 {
        match status(parent) {
            Some(st) if parent > 1 && (st.name == me.name || readers.contains(&parent)) => {
                cur = parent;
                parent = st.ppid;
            }
            _ => break,
        }
    }
    cur
}

fn comm(ctx: &Ctx<'_>, pid: i32) -> String {
    procfs::comm(ctx.view, pid).unwrap_or_else(|| "?".into())
}

/// Runs the check.
pub fn check(ctx: &mut Ctx<'_>) {
    let Some(meta) = ctx.fifo_meta.filter(|m| m.kind == FileKind::Fifo) else {
        ctx.line("reader", Status::Skipped, "no FIFO at the path");
        return;
    };
    let shown = ctx.fifo_shown();
    let readers: Vec<_> = ctx
        .holders
        .current
        .iter()
        .filter(|h| h.reads())
        .cloned()
        .collect();
    let deleted: Vec<_> = ctx
        .holders
        .deleted
        .iter()
        .filter(|h| h.reads())
        .cloned()
        .collect();
    let mut problem = false;
    // Readers found through /proc/*/fd, or (when other users' fds are hidden
    // from an unprivileged doctor) through one non-blocking write-open.
    let mut hidden_reader = None;
    if readers.is_empty() && ctx.holders.unreadable > 0 && ctx.unprivileged {
        let path = ctx
            .fifo_resolved
            .clone()
            .unwrap_or_else(|| ctx.fifo.clone());
        let n = ctx.holders.unreadable;
        match ctx.view.reader_present(&path, &meta) {
            Ok(true) => hidden_reader = Some(Ok(n)),
            Ok(false) => hidden_reader = Some(Err(None)),
            Err(e) => hidden_reader = Some(Err(Some(e))),
        }
    }
    match &hidden_reader {
        Some(Ok(n)) => {
            let n = *n;
            ctx.hide(format!(
                "which process reads the FIFO ({n} processes' /proc/PID/fd)"
            ));
            ctx.line(
                "reader",
                Status::Ok,
                format!("a process reads {shown}: a non-blocking write-open as the doctor's user succeeded (ENXIO would mean none); which process is hidden: {n} processes' fds need root"),
            );
            return;
        }
        Some(Err(Some(e))) => {
            let n = ctx.holders.unreadable;
            ctx.hide(format!("whether a process reads the FIFO ({n} processes' /proc/PID/fd; a write-open as the doctor's user got: {e})"));
            ctx.line(
                "reader",
                Status::Unknown,
                format!("cannot tell: {n} processes' fds need root, and a write-open as the doctor's user got {e}"),
            );
            return;
        }
        _ => {}
    }

    if readers.is_empty() {
        problem = true;
        let writers: Vec<String> = ctx
            .holders
            .current
            .iter()
            .map(|h| {
                format!(
                    "pid {} ({}) fd {} write-only",
                    h.pid,
                    comm(ctx, h.pid),
                    h.fd
                )
            })
            .collect();
        // Unprivileged with hidden fds and no write-open answer: never got here.
        let incomplete = ctx.holders.unreadable > 0 && ctx.unprivileged && hidden_reader.is_none();
        let mut f = Finding::new(
            Code::NoReader,
            if incomplete { Severity::Warning } else { Severity::Error },
            format!(
                "{shown} exists but no process has it open for reading: the MI server is down or this is a stale FIFO; blocking clients (PHP fopen, shell) hang, non-blocking ones (mififo) get ENXIO"
            ),
        )
        .evidence("inode", meta.ino.to_string());
        if !writers.is_empty() {
            f = f.evidence("writers only", writers.join("; "));
        }
        if hidden_reader.is_some() {
            f = f.evidence(
                "write-open",
                "a non-blocking write-open as the doctor's user got ENXIO: no process has it open for reading (this needs no root)",
            );
        }
        if incomplete {
            f = f.evidence(
                "incomplete",
                format!(
                    "{} processes' fds were unreadable; run the doctor as root",
                    ctx.holders.unreadable
                ),
            );
            ctx.undecided.push(String::new());
        }
        let fix = super::servers::restart_fix(
            ctx,
            "start (or restart) the MI server so it reads the FIFO again",
        );
        ctx.add(f.fix(fix));
    }

    let reader_pids: Vec<i32> = readers.iter().map(|h| h.pid).collect();
    let instances: BTreeSet<i32> = readers
        .iter()
        .map(|h| instance_of(ctx, h.pid, &reader_pids))
        .collect();
    if instances.len() > 1 {
        problem = true;
        let who: Vec<String> = readers
            .iter()
            .map(|h| format!("pid {} ({})", h.pid, comm(ctx, h.pid)))
            .collect();
        ctx.add(
            Finding::new(
                Code::MultipleServers,
                Severity::Error,
                format!("{} unrelated processes read {shown}: each command goes to one of them at random, and either one's shutdown removes the FIFO", instances.len()),
            )
            .evidence("readers", who.join("; "))
            .fix(Fix::new(
                "give each server instance its own fifo_name, or stop the extra instance",
                ["ps -o pid,ppid,user,args -p ".to_string() + &readers.iter().map(|h| h.pid.to_string()).collect::<Vec<_>>().join(",")],
            )),
        );
    }
    if !deleted.is_empty() {
        problem = true;
        let who: Vec<String> = deleted
            .iter()
            .map(|h| {
                format!(
                    "pid {} ({}) fd {} -> {}",
                    h.pid,
                    comm(ctx, h.pid),
                    h.fd,
                    h.link.display()
                )
            })
            .collect();
        let pids: Vec<String> = deleted.iter().map(|h| h.pid.to_string()).collect();
        ctx.add(
            Finding::new(
                Code::MultipleServers,
                Severity::Warning,
                format!(
                    "a server still reads a deleted FIFO that was at {shown}: the path was replaced (another instance, or someone ran rm + mkfifo), so that server is unreachable until it recreates the FIFO — which then removes the other one"
                ),
            )
            .evidence("deleted FIFO held by", who.join("; "))
            .fix(Fix::new(
                "run one server per fifo_name; restart the one holding the deleted FIFO (or give it its own path)",
                [format!("ps -o pid,ppid,user,args -p {}", pids.join(","))],
            )),
        );
    }
    if !problem {
        let who: Vec<String> = readers
            .iter()
            .map(|h| format!("pid {} ({})", h.pid, comm(ctx, h.pid)))
            .collect();
        ctx.line("reader", Status::Ok, format!("read by {}", who.join(", ")));
    } else {
        ctx.line(
            "reader",
            Status::Problem,
            format!(
                "{} reader(s), {} deleted FIFO(s) of this name",
                readers.len(),
                deleted.len()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::doctor::fixture::*;
    use crate::doctor::{Code, Severity, Verdict};

    #[test]
    fn nobody_reads() {
        let mut f = Fixture::new();
        f.view
            .fifo("/tmp/opensips_fifo", 0o666, OPENSIPS, OPENSIPS_G);
        let r = f.as_apache("/tmp/opensips_fifo");
        let n = r.finding(Code::NoReader).unwrap();
        assert_eq!(n.severity, Severity::Error);
        assert_eq!(r.verdict(), Verdict::Denied);
    }

    #[test]
    fn healthy_server_gives_access_ok() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        let r = f.as_apache("/tmp/opensips_fifo");
        assert!(
            r.findings.iter().all(|x| x.severity != Severity::Error),
            "{:#?}",
            r.findings
        );
        assert!(r.has(Code::AccessOk));
        assert_eq!(r.verdict(), Verdict::Ok);
        assert_eq!(r.exit_code(), 0);
    }

    #[test]
    fn a_forked_child_of_the_same_server_is_one_instance() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        f.proc(ProcSpec {
            pid: 150,
            comm: "opensips",
            uid: OPENSIPS,
            gid: OPENSIPS_G,
            ppid: 100,
            ..Default::default()
        });
        f.hold(150, 5, "/tmp/opensips_fifo", 0);
        let r = f.as_apache("/tmp/opensips_fifo");
        assert!(!r.has(Code::MultipleServers), "{:#?}", r.findings);
    }

    #[test]
    fn replaced_fifo_and_two_instances() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        f.opensips(300);
        f.hold_deleted(300, 5, "/tmp/opensips_fifo");
        let r = f.as_apache("/tmp/opensips_fifo");
        let m = r.finding(Code::MultipleServers).unwrap();
        assert!(m
            .evidence
            .iter()
            .any(|(_, v)| v.contains("pid 300") && v.contains("(deleted)")));
        f.hold(300, 6, "/tmp/opensips_fifo", 0);
        let r = f.as_apache("/tmp/opensips_fifo");
        assert!(r
            .findings
            .iter()
            .any(|x| x.code == Code::MultipleServers && x.severity == Severity::Error));
    }
}
