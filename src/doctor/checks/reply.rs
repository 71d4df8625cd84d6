//! The other direction: can the client create its reply FIFO in the reply
//! directory (`reply-dir-denied`, `read-only-mount`), do client and server
//! see the same directory there (`reply-dir-mismatch`), can the server reach
//! it and write a reply FIFO the client created with its umask (`umask`)?

use super::access::outcome_finding;
use super::Ctx;
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use crate::doctor::model::{dac, Model, Outcome, W};
use crate::doctor::procfs;
use crate::doctor::subject::Subject;
use crate::doctor::view::{FileKind, Meta};
use std::path::{Path, PathBuf};

fn retag(mut f: Finding, code: Code, prefix: &str) -> Finding {
    f.code = code;
    f.message = format!("{prefix}: {}", f.message);
    f
}

/// Runs the check for one client.
pub fn check(ctx: &mut Ctx<'_>, c: &Subject) {
    let name = format!("reply dir {}", c.name);
    let dir: PathBuf = if ctx.cfg.reply_dir.is_absolute() {
        ctx.cfg.reply_dir.clone()
    } else {
        c.cwd.join(&ctx.cfg.reply_dir)
    };
    let shown = dir.display().to_string();
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    // 1. The client creates its reply FIFO there.
    let mut m = Model::new(ctx.view, &c.root, &c.creds, ctx.sysctls);
    let outcome = m.create_in(&dir);
    let client_dir = match &outcome {
        Outcome::Allowed(t) => Some(t.clone()),
        Outcome::NotFound { .. } | Outcome::NotDir { .. } => {
            let f = Finding::new(
                Code::ReplyDirDenied,
                Severity::Error,
                format!("the reply directory {shown} does not exist for {}: it cannot create reply FIFOs", c.name),
            )
            .subject(c.name.clone())
            .fix(Fix::new("create it, or pass the reply directory the server uses", [format!("install -d -m 1777 '{shown}'")]));
            ctx.add(f);
            problems.push("missing".into());
            None
        }
        Outcome::Denied { target, dac: d } => {
            let f = Finding::new(
                Code::ReplyDirDenied,
                Severity::Error,
                format!(
                    "{} cannot create its reply FIFO in {shown} ({}): creating needs write and search on the directory ({:?} applied)",
                    c.name,
                    ctx.describe_meta(&target.meta),
                    d.via
                ),
            )
            .subject(c.name.clone())
            .fix(Fix::new(
                "use a reply directory the client may write and the server may reach (e.g. a 1777 or group-writable directory)",
                [format!("chmod 1777 '{shown}'   # or: setfacl -m u:{}:rwx '{shown}'", ctx.user(c.creds.uid))],
            ));
            ctx.add(f);
            problems.push("client cannot create".into());
            Some(target.clone())
        }
        other => {
            if let Some(f) = outcome_finding(ctx, c, other, "reply") {
                ctx.add(retag(
                    f,
                    Code::ReplyDirDenied,
                    &format!("reply directory {shown}"),
                ));
                problems.push("client cannot reach".into());
            }
            None
        }
    };

    // 2. Read-only mount (blocks mkfifo with EROFS; writing an existing FIFO is unaffected).
    if let Some(t) = &client_dir {
        let mountinfo = match c.pid() {
            Some(p) => format!("/proc/{p}/mountinfo"),
            None => ctx.me.as_ref().map_or_else(
                || "/proc/self/mountinfo".into(),
                |m| format!("/proc/{}/mountinfo", m.pid),
            ),
        };
        let mounts = ctx
            .view
            .read_string(Path::new(&mountinfo))
            .map(|t| procfs::parse_mountinfo(&t))
            .unwrap_or_default();
        if let Some(mnt) = procfs::mount_for(&mounts, &t.path).filter(|m| m.read_only()) {
            ctx.add(
                Finding::new(
                    Code::ReadOnlyMount,
                    Severity::Error,
                    format!(
                        "{shown} is on a read-only mount ({} on {}) for {}: creating reply FIFOs fails with EROFS (writing the existing server FIFO is not affected)",
                        mnt.source,
                        mnt.mount_point.display(),
                        c.name
                    ),
                )
                .subject(c.name.clone())
                .evidence("mount options", format!("{} / {}", mnt.options, mnt.super_options))
                // A unit's read-only view is fixed by a drop-in; any other
                // read-only mount by a reply directory elsewhere, which is the
                // client's configuration (words only).
                .fix(match &c.unit {
                    Some(u) => Fix::new(
                        format!("let {u} write {shown} (ReadWritePaths=), or use a writable reply directory such as /run/opensips/"),
                        [format!("systemctl daemon-reload && systemctl restart {u}")],
                    )
                    .edit(
                        format!("/etc/systemd/system/{u}.d/mififo-reply-dir.conf"),
                        format!("[Service]\nReadWritePaths={shown}"),
                    ),
                    None => Fix::new(
                        format!("use a writable reply directory in the client (e.g. /run/opensips/); which mount makes it read-only: findmnt -T {shown}"),
                        [],
                    ),
                }),
            );
            problems.push("read-only".into());
        }
    }

    // 3. The server's side. First its configured reply directory (OpenSIPS and
    // Kamailio default to /tmp/).
    // Every server that reads this FIFO or is configured with it (OpenSIPS,
    // Kamailio: their config file; mififo serve: its --reply-dir).
    let mine: Vec<_> = ctx
        .candidates
        .iter()
        .filter(|c| c.rank <= 1 && (c.cfg.is_some() || c.reply_dir.is_some()))
        .cloned()
        .collect();
    for sc in mine {
        let theirs = sc
            .reply_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/tmp/"));
        let source = sc.cfg.as_ref().map_or_else(
            || "--reply-dir".to_string(),
            |f| format!("reply_dir in {}", f.display()),
        );
        if !super::servercfg::same_dir(&theirs, &dir) {
            ctx.add(
                Finding::new(
                    Code::ReplyDirMismatch,
                    Severity::Error,
                    format!(
                        "{} writes replies into {} ({source}), but the client creates its reply FIFOs in {shown}: the server never finds them and the client waits forever",
                        sc.describe(),
                        theirs.display(),
                    ),
                )
                .subject(c.name.clone())
                .evidence("server reply_dir", theirs.display().to_string())
                .evidence("client reply dir", shown.clone())
                // The client's configuration is not known to the doctor (words);
                // the server's is: its edit is the pasteable alternative.
                .fix(Fix::new(
                    format!("make both use the same directory: configure the client's reply directory as {} (then check it: mififo doctor --fifo '{}' --reply-dir '{}')", theirs.display(), ctx.fifo.display(), theirs.display()),
                    [],
                )
                .or(sc.set_param(
                    super::servers::Param::ReplyDir,
                    &shown,
                    format!("set {}'s reply directory to the client's, {shown}", sc.describe()),
                ))),
            );
            problems.push("server reply_dir differs".into());
        }
    }
    let Some(s) = ctx.servers.first().cloned() else {
        notes.push("server side skipped: no server found".into());
        finish(ctx, name, problems, notes);
        return;
    };
    let in_client = crate::doctor::model::stat_in(ctx.view, &c.root, &dir);
    let in_server = crate::doctor::model::stat_in(ctx.view, &s.root, &dir).map(|(_, m)| m);
    let closed = |e: &std::io::Error| matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM));
    if ctx.unprivileged
        && (in_client.as_ref().is_err_and(closed) || in_server.as_ref().is_err_and(closed))
    {
        // A root the doctor may not look into is not a different directory.
        ctx.hide(format!(
            "whether {} and the server see the same reply directory (their /proc/PID/root)",
            c.name
        ));
        notes.push("server side unknown without root".into());
        finish(ctx, name, problems, notes);
        return;
    }
    let (client_dir_path, in_client) = match in_client {
        Ok((p, m)) => (p, Ok(m)),
        Err(e) => (dir.clone(), Err(e)),
    };
    match (&in_client, &in_server) {
        (Ok(a), Ok(b)) if a.dev == b.dev && a.ino == b.ino => {}
        (Ok(a), b) => {
            let what = match b {
                Ok(b) => format!("another directory (inode {} vs {})", b.ino, a.ino),
                Err(_) => "nothing".to_string(),
            };
            ctx.add(
                Finding::new(
                    Code::ReplyDirMismatch,
                    Severity::Error,
                    format!(
                        "{} creates its reply FIFOs in {shown}, but in the server's mount namespace {shown} is {what}: the server cannot find the reply FIFO and the client waits forever",
                        c.name
                    ),
                )
                .subject(c.name.clone())
                .fix({
                    let safe = super::servers::safe_fifo_path(ctx);
                    let to = Path::new(&safe)
                        .parent()
                        .map_or_else(|| "/run/opensips/".to_string(), |p| format!("{}/", p.display()));
                    let f = super::servers::param_fix(
                        ctx,
                        super::servers::Param::ReplyDir,
                        &to,
                        &format!("use a reply directory both see (outside a private /tmp), e.g. {to} with group access, and the same in the client"),
                    );
                    match &c.unit {
                        Some(u) => f.or(super::servers::private_tmp_off(
                            Fix::new(format!("turn PrivateTmp off for {u}"), []),
                            u,
                        )
                        .weakens(format!("PrivateTmp=false lets {u} see (and be seen in) the shared /tmp"))),
                        None => {
                            let mut f = f;
                            f.summary += "; or turn PrivateTmp off for the client (which /tmp it has: findmnt -T /tmp)";
                            f
                        }
                    }
                }),
            );
            problems.push("mismatch".into());
        }
        _ => {}
    }
    let mut sm = Model::new(ctx.view, &s.root, &s.creds, ctx.sysctls);
    match sm.resolve(&dir, true) {
        Ok(t) if t.meta.kind == FileKind::Dir => {
            // The reply FIFO as a bare mkfifo(path, 0666) by the client creates it.
            let Ok(dm) = in_client else {
                finish(ctx, name, problems, notes);
                return;
            };
            let default_acl = ctx
                .view
                .xattr(
                    &Ctx::host(&c.root, &client_dir_path),
                    "system.posix_acl_default",
                )
                .ok()
                .flatten()
                .is_some();
            if default_acl {
                notes.push("default ACL on the reply dir overrides umask".into());
            } else {
                let gid = if dm.mode & 0o2000 != 0 {
                    dm.gid
                } else {
                    c.creds.gid
                };
                let reply = |mode: u32| Meta {
                    kind: FileKind::Fifo,
                    mode,
                    uid: c.creds.uid,
                    gid,
                    dev: 0,
                    ino: 0,
                };
                let mode = 0o666 & !c.umask;
                let d = dac(&reply(mode), None, &s.creds, W);
                if !d.ok && dac(&reply(0o666), None, &s.creds, W).ok {
                    // 0022/0002/0027 are ordinary and every known client (OpenSIPS-CP, python-opensips,
                    // opensipsctl) chmods its reply FIFO; an owner-only umask (066/077) is deliberate
                    // hardening that also catches helper scripts doing a bare mkfifo.
                    let severity = if c.umask & 0o066 == 0o066 {
                        Severity::Warning
                    } else {
                        Severity::Info
                    };
                    ctx.add(
                        Finding::new(
                            Code::Umask,
                            severity,
                            format!(
                                "{}'s umask {:04o} turns a reply FIFO made with mkfifo(…, 0666) into {} owned by {}: the server {} cannot open it for writing; clients that chmod their reply FIFO (OpenSIPS-CP, python-opensips) are not affected",
                                c.name,
                                c.umask,
                                reply(mode).mode_string(),
                                ctx.user(c.creds.uid),
                                s.name
                            ),
                        )
                        .subject(c.name.clone())
                        .evidence("client umask", format!("{:04o}", c.umask))
                        .evidence(
                            "server",
                            format!(
                                "fsuid {} fsgid {} groups {}",
                                ctx.user(s.creds.uid),
                                ctx.group(s.creds.gid),
                                s.creds.groups.iter().map(|g| ctx.group(*g)).collect::<Vec<_>>().join(",")
                            ),
                        )
                        .fix(Fix::new(
                            "chmod the reply FIFO after creating it, or relax the client's umask (UMask= in its unit)",
                            [c.unit.as_ref().map_or_else(|| "umask 0000   # in the client's start script".to_string(), |u| format!("systemctl edit {u}   # add: [Service] UMask=0000"))],
                        )),
                    );
                    if severity == Severity::Warning {
                        problems.push("umask".into());
                    } else {
                        notes.push(format!(
                            "umask {:04o}: bare mkfifo reply FIFOs need a chmod",
                            c.umask
                        ));
                    }
                }
            }
        }
        Ok(_) => {}
        Err(Outcome::NotFound { .. }) => {}
        Err(o) => {
            if let Some(f) = outcome_finding(ctx, &s, &o, "reply") {
                let f = retag(
                    f,
                    Code::ReplyDirDenied,
                    &format!("the server cannot reach the reply directory {shown}"),
                );
                ctx.add(Finding {
                    subject: Some(c.name.clone()),
                    ..f
                });
                problems.push("server cannot reach".into());
            }
        }
    }
    finish(ctx, name, problems, notes);
}

fn finish(ctx: &mut Ctx<'_>, name: String, problems: Vec<String>, notes: Vec<String>) {
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    if problems.is_empty() {
        ctx.line(
            name,
            Status::Ok,
            format!("{} usable both ways{notes}", ctx.cfg.reply_dir.display()),
        );
    } else {
        ctx.line(
            name,
            Status::Problem,
            format!("{}{notes}", problems.join(", ")),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::doctor::fixture::*;
    use crate::doctor::{ClientSpec, Code, Config, Severity};
    use std::path::PathBuf;

    const FIFO: &str = "/tmp/opensips_fifo";

    fn cfg(f: &Fixture, client: ClientSpec, reply: &str) -> Config {
        let mut c = f.config(FIFO, client);
        c.reply_dir = PathBuf::from(reply);
        c
    }

    #[test]
    fn client_cannot_create_in_reply_dir() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o666);
        f.view.dir("/var/replies", 0o755, 0, 0);
        let r = f.run(&cfg(&f, ClientSpec::User("apache".into()), "/var/replies/"));
        let d = r.finding(Code::ReplyDirDenied).unwrap();
        assert!(d.message.contains("cannot create"));
    }

    #[test]
    fn server_cannot_reach_reply_dir() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o666);
        f.view
            .dir("/srv", 0o700, APACHE, APACHE_G)
            .dir("/srv/replies", 0o777, APACHE, APACHE_G);
        let r = f.run(&cfg(&f, ClientSpec::User("apache".into()), "/srv/replies/"));
        let d = r.finding(Code::ReplyDirDenied).expect("reply-dir-denied");
        assert!(d.message.contains("server cannot reach"), "{}", d.message);
    }

    #[test]
    fn private_tmp_client_mismatches_reply_dir() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o666);
        f.proc(ProcSpec {
            pid: 500,
            comm: "httpd",
            unit: Some("httpd.service"),
            ..Default::default()
        });
        f.private_tmp(500, "httpd.service", &[]);
        let r = f.run(&cfg(&f, ClientSpec::Pids(vec![500]), "/tmp/"));
        assert!(r.has(Code::ReplyDirMismatch), "{:#?}", r.findings);
    }

    #[test]
    fn configured_reply_dir_differs() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o666);
        f.view
            .file("/proc/100/cmdline", "opensips\0")
            .file(
                "/proc/100/root/etc/opensips/opensips.cfg",
                "modparam(\"mi_fifo\", \"fifo_name\", \"/tmp/opensips_fifo\")\nmodparam(\"mi_fifo\", \"reply_dir\", \"/run/opensips/\")\n",
            );
        let r = f.run(&cfg(&f, ClientSpec::User("apache".into()), "/tmp/"));
        let m = r.finding(Code::ReplyDirMismatch).expect("mismatch");
        assert!(m.message.contains("/run/opensips/"), "{}", m.message);
        assert!(!f
            .run(&cfg(&f, ClientSpec::User("apache".into()), "/run/opensips"))
            .findings
            .iter()
            .any(|x| x.code == Code::ReplyDirMismatch && x.message.contains("reply_dir in")));
    }

    #[test]
    fn umask_077_blocks_the_server() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o666);
        f.proc(ProcSpec {
            pid: 900,
            comm: "python3",
            umask: 0o077,
            ..Default::default()
        });
        let r = f.run(&cfg(&f, ClientSpec::Pids(vec![900]), "/tmp/"));
        let u = r.finding(Code::Umask).expect("umask");
        assert_eq!(u.severity, Severity::Warning);
        assert!(u.message.contains("prw-------"));
        f.proc(ProcSpec {
            pid: 901,
            comm: "python3",
            umask: 0o000,
            ..Default::default()
        });
        assert!(!f
            .run(&cfg(&f, ClientSpec::Pids(vec![901]), "/tmp/"))
            .has(Code::Umask));
    }

    #[test]
    fn read_only_reply_dir() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o666);
        f.view.dir("/srv/ro", 0o1777, 0, 0);
        f.proc(ProcSpec {
            pid: 950,
            comm: "php-fpm",
            mountinfo: Some("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n42 22 8:1 /srv/rodir /srv/ro ro,relatime - ext4 /dev/sda1 rw\n".into()),
            ..Default::default()
        });
        let r = f.run(&cfg(&f, ClientSpec::Pids(vec![950]), "/srv/ro/"));
        assert!(r.has(Code::ReadOnlyMount), "{:#?}", r.findings);
        // Writing the existing server FIFO is still fine: no access error.
        assert!(!r.has(Code::DacDenied));
    }
}
