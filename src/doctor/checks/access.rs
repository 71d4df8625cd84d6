//! Per client: the kernel model for each kind of client open (with and
//! without `O_CREAT`), turned into the specific cause — `dir-search-denied`,
//! `protected-fifos`, `protected-symlinks`, `dac-denied` (which class and
//! why), `group-not-member`, `group-stale`, `acl-denied`, `acl-mask` — and
//! the probe, whose disagreement with the model is reported as such.

use super::Ctx;
use crate::doctor::audit;
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use crate::doctor::model::{acl_entry_granting, Dac, Model, Outcome, Target, Via, W};
use crate::doctor::probe::{errno_text, ProbeRequest, ProbeResult};
use crate::doctor::subject::Subject;
use crate::doctor::view::Meta;
use crate::fifo::acl::{perm_text, Acl, Tag};
use std::path::{Path, PathBuf};

/// Groups whose membership would grant `want` on the file.
pub fn granting_groups(meta: &Meta, acl: Option<&Acl>, want: u8) -> Vec<u32> {
    let group_bits = ((meta.mode >> 3) & 7) as u8;
    match acl.filter(|a| a.is_extended() && meta.mode & 0o070 != 0) {
        None => {
            if group_bits & want == want {
                vec![meta.gid]
            } else {
                vec![]
            }
        }
        Some(a) => {
            let mask = a.mask().unwrap_or(7);
            a.entries
                .iter()
                .filter(|e| e.perm & mask & want == want)
                .filter_map(|e| match e.tag {
                    Tag::GroupObj => Some(meta.gid),
                    Tag::Group(id) => Some(id),
                    _ => None,
                })
                .collect()
        }
    }
}

fn user_of(ctx: &Ctx<'_>, c: &Subject) -> String {
    c.user.clone().unwrap_or_else(|| ctx.user(c.creds.uid))
}

/// How to restart the client so it gets its current groups. Never the
/// doctor's own process (or its login session): for the invoking user that is
/// a new login, not a restart.
/// `None` when there is nothing to run (log in again).
pub fn restart_hint(ctx: &Ctx<'_>, c: &Subject) -> Option<String> {
    let me = ctx.me.as_ref().map(|m| m.pid);
    let pids: Vec<i32> = c.pids.iter().copied().filter(|p| Some(*p) != me).collect();
    match &c.unit {
        Some(u) if u.ends_with(".service") => Some(format!("systemctl restart {u}")),
        _ => match pids.as_slice() {
            [] => None,
            pids => Some(format!(
                "ps -o pid,unit,args -p {}   # restart the service these processes belong to",
                pids.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        },
    }
}

fn creds_evidence(ctx: &Ctx<'_>, c: &Subject, f: Finding) -> Finding {
    let groups: Vec<String> = c
        .creds
        .groups
        .iter()
        .map(|g| format!("{}({g})", ctx.group(*g)))
        .collect();
    f.evidence(
        "client fsuid",
        format!("{}({})", ctx.user(c.creds.uid), c.creds.uid),
    )
    .evidence(
        "client fsgid",
        format!("{}({})", ctx.group(c.creds.gid), c.creds.gid),
    )
    .evidence(
        if c.from_db {
            "client groups (from /etc/group)"
        } else {
            "client groups (kernel, /proc/PID/status)"
        },
        groups.join(" "),
    )
}

/// Turns a group-class opportunity into `group-stale` / `group-not-member`.
fn group_finding(
    ctx: &Ctx<'_>,
    c: &Subject,
    grant: &[u32],
    what: &str,
    path: &Path,
    meta: &Meta,
) -> Option<Finding> {
    if grant.is_empty() {
        return None;
    }
    let user = user_of(ctx, c);
    let configured = ctx
        .db
        .user(&user)
        .map(|u| ctx.db.configured_groups(u))
        .unwrap_or_default();
    let gname = ctx.group(grant[0]);
    if !c.from_db {
        if let Some(&g) = grant.iter().find(|g| configured.contains(g)) {
            let f = Finding::new(
                Code::GroupStale,
                Severity::Error,
                format!(
                    "{user} is in group {} per /etc/group, and that group may {what} {}, but the running process {} does not have it: it was started before the user was added (usermod -aG) and keeps its old groups",
                    ctx.group(g),
                    path.display(),
                    c.name
                ),
            )
            .subject(c.name.clone())
            .evidence("file", format!("{} {}", path.display(), ctx.describe_meta(meta)));
            return Some(creds_evidence(ctx, c, f).fix(Fix::new(
                "restart the client so it picks up its current groups (a graceful reload only refreshes new httpd children; a login session needs a new login)",
                restart_hint(ctx, c),
            )));
        }
    }
    let f = Finding::new(
        Code::GroupNotMember,
        Severity::Error,
        format!(
            "group {gname} may {what} {}, but {user} is not a member",
            path.display()
        ),
    )
    .subject(c.name.clone())
    .evidence(
        "file",
        format!("{} {}", path.display(), ctx.describe_meta(meta)),
    );
    let named_user = ctx.db.user(&user).is_some();
    let named_group = ctx.db.group(grant[0]).is_some();
    let perm = if what == "search" { "x" } else { "rw" };
    let fix = if !named_user || !named_group {
        // Nobody can be added to a group without an /etc/group entry, and usermod
        // needs a login name: an ACL entry works with bare ids.
        let why = match (named_user, named_group) {
            (false, false) => format!(
                "neither uid {} nor gid {} has a name in /etc/passwd and /etc/group",
                c.creds.uid, grant[0]
            ),
            (false, true) => format!(
                "uid {} has no /etc/passwd entry, so usermod cannot add it to {gname}",
                c.creds.uid
            ),
            _ => format!(
                "gid {} has no /etc/group entry: nobody can be added to it",
                grant[0]
            ),
        };
        Fix::new(
            format!(
                "{why}; grant {user} {perm} with an ACL entry instead (or give {} a named group)",
                path.display()
            ),
            [format!("setfacl -m u:{user}:{perm} '{}'", path.display())],
        )
    } else if grant[0] == 0 {
        // Never suggest joining the root group: give the FIFO a dedicated group
        // instead, set the way this server kind sets its FIFO's group.
        let mut fix = super::servers::param_fix(
            ctx,
            super::servers::Param::Group,
            "mififo",
            &format!(
                "give the FIFO a dedicated group that {user} is in (do not add {user} to {gname})"
            ),
        );
        fix.commands.insert(
            0,
            format!("groupadd -f mififo && usermod -aG mififo {user}"),
        );
        fix.commands.extend(restart_hint(ctx, c));
        fix
    } else {
        Fix::new(
            format!("add {user} to {gname}, then restart the client (running processes keep their old groups; a login session needs a new login)"),
            std::iter::once(format!("usermod -aG {gname} {user}")).chain(restart_hint(ctx, c)),
        )
    };
    Some(creds_evidence(ctx, c, f).fix(fix))
}

fn via_text(ctx: &Ctx<'_>, v: Via) -> String {
    v.describe(&|u| ctx.user(u), &|g| ctx.group(g))
}

/// The finding for a DAC/ACL refusal of `want` on `target`.
fn dac_finding(ctx: &Ctx<'_>, c: &Subject, t: &Target, d: &Dac, what: &str) -> Finding {
    let meta = &t.meta;
    let path = &t.path;
    let user = user_of(ctx, c);
    let acl_text = t
        .acl
        .as_ref()
        .filter(|a| a.is_extended())
        .map(|a| a.to_text(&|u| ctx.user(u), &|g| ctx.group(g)));
    let with_file = |f: Finding| {
        let f = f.subject(c.name.clone()).evidence(
            "file",
            format!("{} {}", path.display(), ctx.describe_meta(meta)),
        );
        let f = match &acl_text {
            Some(a) => f.evidence("acl", a.clone()),
            None => f,
        };
        creds_evidence(ctx, c, f).evidence("decided by", via_text(ctx, d.via))
    };
    let p = path.display();
    // acl-mask: an entry granted it, the mask took it away (or the mask-zero shortcut hid the ACL).
    if let Some(acl) = t.acl.as_ref().filter(|a| a.is_extended()) {
        let masked = d
            .mask
            .is_some_and(|m| d.bits & d.want == d.want && m & d.want != d.want);
        let shortcut =
            d.mask_zero_shortcut && acl_entry_granting(acl, meta, &c.creds, d.want).is_some();
        if masked || shortcut {
            let mask = acl.mask().unwrap_or(0);
            let msg = if shortcut {
                format!("an ACL entry gives {user} {} on {p}, but the ACL mask is --- (the mode's group bits are 0), so the kernel ignores the ACL entirely and uses the plain mode bits", perm_text(d.want))
            } else {
                format!("{} grants {} on {p}, but the ACL mask {} removes it (getfacl shows #effective:{})", via_text(ctx, d.via), perm_text(d.bits), perm_text(mask), perm_text(d.bits & mask))
            };
            return with_file(Finding::new(Code::AclMask, Severity::Error, msg)).fix(Fix::new(
                "restore the mask: chmod rewrites the mask from the mode's group bits (so chmod 600 silently revokes named ACL entries)",
                [format!("setfacl -m m::rw '{p}'"), format!("getfacl '{p}'")],
            ));
        }
        if matches!(
            d.via,
            Via::AclUser(_) | Via::AclGroupNoFallThrough | Via::AclGroup(_) | Via::AclGroupObj
        ) {
            return with_file(Finding::new(
                Code::AclDenied,
                Severity::Error,
                format!("{} on {p} applies to {user} and lacks {} (a matching entry stops the walk: other:: is not consulted)", via_text(ctx, d.via), perm_text(d.want)),
            ))
            .fix(Fix::new(format!("grant {user} {} with an ACL entry", perm_text(d.want)), [format!("setfacl -m u:{user}:{} '{p}'", perm_text(d.want | 4))]));
        }
    }
    let acl = t.acl.as_ref().filter(|a| a.is_extended());
    if matches!(d.via, Via::Other | Via::AclOther) {
        if let Some(g) = group_finding(
            ctx,
            c,
            &granting_groups(meta, acl, d.want),
            what,
            path,
            meta,
        ) {
            return g;
        }
    }
    let (msg, fix) = match d.via {
        Via::Owner => (
            format!("owner class applies ({user} owns {p}) and the owner bits {} lack {}", perm_text(d.bits), perm_text(d.want)),
            Fix::new("give the owner the bit", [format!("chmod u+{} '{p}'", if d.want & W != 0 { "w" } else { "x" })]),
        ),
        Via::Group if d.other_would_grant => (
            format!(
                "group class applies ({user} is in group {}), so the group bits {} decide and lack {}; the other bits {} would allow, but the kernel never falls through to other",
                ctx.group(meta.gid), perm_text(d.bits), perm_text(d.want), perm_text((meta.mode & 7) as u8)
            ),
            Fix::new("give the group the bit (or take the user out of the group)", [format!("chmod g+{} '{p}'", if d.want & W != 0 { "w" } else { "x" })]),
        ),
        Via::Group => (
            format!("group class applies ({user} is in group {}) and the group bits {} lack {}", ctx.group(meta.gid), perm_text(d.bits), perm_text(d.want)),
            Fix::new("give the group the bit", [format!("chmod g+{} '{p}'", if d.want & W != 0 { "w" } else { "x" })]),
        ),
        _ => (
            format!(
                "other class applies ({user} is neither the owner {} nor in group {}) and the other bits {} lack {}",
                ctx.user(meta.uid), ctx.group(meta.gid), perm_text((meta.mode & 7) as u8), perm_text(d.want)
            ),
            Fix::new(
                format!("let {user} in through the group (durable: OpenSIPS recreates the FIFO with fifo_mode/fifo_group) or a named ACL entry"),
                [
                    if meta.gid == 0 {
                        None
                    } else if ctx.db.group(meta.gid).is_some() && ctx.db.user(&user).is_some() {
                        Some(format!("usermod -aG {} {user}", ctx.group(meta.gid)))
                    } else {
                        None
                    },
                    Some(format!("setfacl -m u:{user}:{} '{p}'", perm_text(d.want | 4))),
                ]
                .into_iter()
                .flatten(),
            ),
        ),
    };
    let code = if acl.is_some() && matches!(d.via, Via::AclOther) {
        Code::AclDenied
    } else {
        Code::DacDenied
    };
    with_file(Finding::new(code, Severity::Error, msg)).fix(fix)
}

/// The finding for a non-allowed outcome (None for "missing": reported by the fifo/namespace checks).
pub fn outcome_finding(
    ctx: &mut Ctx<'_>,
    c: &Subject,
    o: &Outcome,
    kinds: &str,
) -> Option<Finding> {
    let user = user_of(ctx, c);
    match o {
        Outcome::Allowed(_) | Outcome::NotFound { .. } | Outcome::NotDir { .. } => None,
        Outcome::Loop { path } => Some(
            Finding::new(Code::FifoMissing, Severity::Error, format!("too many symbolic links resolving {}", path.display()))
                .subject(c.name.clone()),
        ),
        Outcome::Io { path, errno }
            if ctx.unprivileged && matches!(*errno, libc::EACCES | libc::EPERM) =>
        {
            ctx.hide(format!(
                "{}'s view of {} (the doctor's user may not look there)",
                c.name,
                path.display()
            ));
            None
        }
        Outcome::Io { path, errno } => Some(
            Finding::new(
                Code::FifoMissing,
                Severity::Warning,
                format!("cannot examine {} as {}: {}", path.display(), c.name, errno_text(*errno)),
            )
            .subject(c.name.clone()),
        ),
        Outcome::SearchDenied { dir, meta, dac } => {
            let t = Target {
                path: dir.clone(),
                meta: *meta,
                acl: Model::new(ctx.view, &c.root, &c.creds, ctx.sysctls).acl(dir),
                parent: dir.clone(),
                parent_meta: *meta,
            };
            let inner = dac_finding(ctx, c, &t, dac, "search");
            if inner.code == Code::GroupStale {
                // The user is already in the group that may search the directory;
                // the running process predates that: a restart, not usermod.
                return Some(inner.evidence("directory", format!("{} {}", dir.display(), ctx.describe_meta(meta))));
            }
            let f = Finding::new(
                Code::DirSearchDenied,
                Severity::Error,
                format!("{user} cannot search (x) the directory {}: {}", dir.display(), inner.message),
            )
            .subject(c.name.clone());
            let mut f = f;
            f.evidence = inner.evidence;
            let mut fix = inner.fix.unwrap_or_else(|| Fix::new("", []));
            fix.summary = format!("let {user} traverse {} ({}); or move the FIFO to a directory it can reach", dir.display(), inner.code);
            fix.commands.push(format!("setfacl -m u:{user}:x '{}'", dir.display()));
            Some(f.fix(fix))
        }
        Outcome::ProtectedSymlink { link, link_uid, dir, dir_meta } => Some(
            Finding::new(
                Code::ProtectedSymlinks,
                Severity::Error,
                format!(
                    "fs.protected_symlinks refuses to follow {} (owned by {}) in the sticky world-writable {} ({}): only the link's owner or the directory's owner may follow it",
                    link.display(), ctx.user(*link_uid), dir.display(), ctx.describe_meta(dir_meta)
                ),
            )
            .subject(c.name.clone())
            .fix(Fix::new("point the client at the real FIFO path instead of the symlink", [format!("readlink -f '{}'", link.display())])),
        ),
        Outcome::ProtectedFifo { target, level } => {
            let mut f = Finding::new(
                Code::ProtectedFifos,
                Severity::Error,
                format!(
                    "fs.protected_fifos={level} refuses the O_CREAT open used by {kinds} clients: {} is owned by {}, lives in the sticky {}-writable {} ({}) owned by {}, and the opener is neither; no capability bypasses this (root too). Opens without O_CREAT (mififo) are not affected",
                    target.path.display(),
                    ctx.user(target.meta.uid),
                    if target.parent_meta.mode & 0o002 != 0 { "world" } else { "group" },
                    target.parent.display(),
                    target.parent_meta.mode_string(),
                    ctx.user(target.parent_meta.uid)
                ),
            )
            .subject(c.name.clone())
            .evidence("sysctl", format!("fs.protected_fifos = {level}"))
            .evidence("fifo", ctx.describe_meta(&target.meta))
            .evidence("directory", format!("{} {}", target.parent.display(), ctx.describe_meta(&target.parent_meta)));
            let comm = c.comm.clone();
            let uid = c.creds.uid;
            for s in audit::sticky_denials(ctx.audit_events()) {
                if s.fsuid == Some(uid) || (comm.is_some() && s.comm == comm) {
                    f = f.evidence(format!("audit {}", s.stamp), format!("ANOM_CREAT op={} pid={} comm={}", s.op, s.pid.unwrap_or(0), s.comm.clone().unwrap_or_default()));
                }
            }
            let fix = super::servers::move_fifo_fix(
                ctx,
                "move the FIFO out of the sticky directory (also fixes PrivateTmp)",
            )
            .or(Fix::new(
                "open it without O_CREAT (Python os.open(p, os.O_WRONLY), mififo call)",
                [],
            ))
            .or(Fix::new(
                "last resort: turn the protection off",
                ["sysctl -w fs.protected_fifos=0 && echo 'fs.protected_fifos = 0' > /etc/sysctl.d/60-mififo.conf".to_string()],
            )
            .weakens("fs.protected_fifos=0 re-opens FIFO spoofing attacks in /tmp for the whole host"));
            Some(f.fix(fix))
        }
        Outcome::Denied { target, dac } => Some(dac_finding(ctx, c, target, dac, "write")),
    }
}

fn errno_of_probe(r: &ProbeResult) -> Option<Option<i32>> {
    match r {
        ProbeResult::Opened => Some(None),
        ProbeResult::Errno(e) if *e == libc::ENXIO => Some(None),
        ProbeResult::Errno(e) => Some(Some(*e)),
        ProbeResult::Skipped(_) => None,
    }
}

/// Runs the check for one client.
pub fn check(ctx: &mut Ctx<'_>, c: &Subject) {
    let name = format!("access {}", c.name);
    if let Some(m) = ctx
        .fifo_meta
        .filter(|m| m.kind != crate::doctor::view::FileKind::Fifo)
    {
        ctx.line(
            name,
            Status::Skipped,
            format!("the path is {}, not a FIFO", m.kind.describe()),
        );
        return;
    }
    let path: PathBuf = if ctx.cfg.fifo.is_absolute() {
        ctx.cfg.fifo.clone()
    } else {
        c.cwd.join(&ctx.cfg.fifo)
    };
    let opens = ctx.opens();
    let creat_kinds: Vec<&str> = opens
        .iter()
        .filter(|o| o.creat())
        .map(|o| o.name())
        .collect();
    let plain_kinds: Vec<&str> = opens
        .iter()
        .filter(|o| !o.creat())
        .map(|o| o.name())
        .collect();
    let mut evaluated: Vec<(bool, Outcome, String)> = Vec::new();
    let mut traces: Vec<String> = Vec::new();
    for (creat, kinds) in [(false, &plain_kinds), (true, &creat_kinds)] {
        if kinds.is_empty() {
            continue;
        }
        let mut m = Model::new(ctx.view, &c.root, &c.creds, ctx.sysctls);
        let o = m.open_write(&path, creat);
        traces.push(m.trace.join(" → "));
        evaluated.push((creat, o, kinds.join(", ")));
    }
    let mut problems = Vec::new();
    let mut reported_common = false;
    for (i, (creat, o, kinds)) in evaluated.iter().enumerate() {
        let specific = matches!(o, Outcome::ProtectedFifo { .. });
        if !specific && reported_common {
            continue;
        }
        if let Some(f) = outcome_finding(ctx, c, o, kinds) {
            let f = f.evidence("kernel steps (model)", traces[i].clone());
            problems.push(format!(
                "{} ({})",
                f.code,
                if *creat {
                    "with O_CREAT"
                } else {
                    "without O_CREAT"
                }
            ));
            ctx.add(f);
            if !specific {
                reported_common = true;
            }
        }
    }
    // The probe: a real open as the client, to confirm the model.
    let root_me = ctx.me.as_ref().is_some_and(|m| m.status.uid[1] == 0);
    let mut probe_notes = Vec::new();
    if let (true, true, Some(prober)) = (ctx.cfg.probe, root_me, ctx.prober) {
        let reqs: Vec<ProbeRequest> = evaluated
            .iter()
            .map(|(creat, _, _)| ProbeRequest::as_client(c, path.clone(), *creat))
            .collect();
        for ((creat, o, kinds), result) in evaluated.iter().zip(prober.probe_all(&reqs)) {
            let flags = if *creat {
                "O_WRONLY|O_CREAT|O_NONBLOCK"
            } else {
                "O_WRONLY|O_NONBLOCK"
            };
            match result {
                Err(e) => {
                    probe_notes.push(format!("probe {flags} failed: {}", crate::error::chain(&e)))
                }
                Ok(r) => {
                    probe_notes.push(format!("probe {flags}: {}", r.describe()));
                    let Some(real) = errno_of_probe(&r) else {
                        continue;
                    };
                    let model = o.errno();
                    if real != model {
                        let lsm = ctx.view.lstat(&ctx.cfg.selinuxfs.join("enforce")).is_ok()
                            || ctx
                                .view
                                .lstat(Path::new("/sys/kernel/security/apparmor"))
                                .is_ok();
                        let why = match real {
                            Some(e) if e == libc::EPERM => "EPERM usually means an immutable or append-only attribute (lsattr/chattr)".to_string(),
                            Some(_) if lsm => "an LSM (SELinux/AppArmor) is active and is the usual reason; see its check".to_string(),
                            Some(_) => "something the model does not see (an LSM, seccomp, an idmapped mount, reduced capabilities)".to_string(),
                            None => "the model is missing something that grants access (e.g. capabilities the probe kept as root)".to_string(),
                        };
                        let f = Finding::new(
                            Code::ProbeDisagrees,
                            if real.is_some() { Severity::Error } else { Severity::Warning },
                            format!(
                                "for {kinds} clients the model predicts {} but a real open ({flags}) as {} got {}: {why}",
                                model.map_or("success".to_string(), errno_text),
                                c.name,
                                r.describe()
                            ),
                        )
                        .subject(c.name.clone())
                        .evidence("model", model.map_or("allowed".to_string(), errno_text))
                        .evidence("probe", r.describe());
                        if real.is_none() {
                            ctx.undecided.push(c.name.clone());
                        }
                        problems.push(f.code.to_string());
                        ctx.add(f);
                    }
                }
            }
        }
    } else if ctx.cfg.probe && !root_me {
        probe_notes.push("probe skipped: needs root".into());
    }
    let seen_missing = evaluated
        .iter()
        .all(|(_, o, _)| matches!(o, Outcome::NotFound { .. } | Outcome::NotDir { .. }));
    let probe_text = if probe_notes.is_empty() {
        String::new()
    } else {
        format!("; {}", probe_notes.join("; "))
    };
    let hidden = ctx.unprivileged
        && evaluated.iter().any(|(_, o, _)| {
            matches!(o, Outcome::Io { errno, .. } if matches!(*errno, libc::EACCES | libc::EPERM))
        });
    if !problems.is_empty() {
        ctx.line(
            name,
            Status::Problem,
            format!("{}{probe_text}", problems.join(", ")),
        );
    } else if hidden {
        ctx.line(
            name,
            Status::Unknown,
            format!("a directory of the path is not searchable by the doctor's user{probe_text}"),
        );
    } else if seen_missing {
        ctx.line(
            name,
            Status::Skipped,
            format!("the FIFO is not visible to this client (see above){probe_text}"),
        );
    } else {
        let kinds: Vec<String> = evaluated.iter().map(|(_, _, k)| k.clone()).collect();
        ctx.line(
            name,
            Status::Ok,
            format!("write allowed for {}{probe_text}", kinds.join(", ")),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::doctor::fixture::*;
    use crate::doctor::probe::{ProbeRequest, ProbeResult, Prober};
    use crate::doctor::{run, ClientOpen, ClientSpec, Code, Report, Severity};
    use crate::fifo::acl::{encode_raw as encode, XATTR_ACCESS};

    const FIFO: &str = "/tmp/opensips_fifo";

    fn only_error(r: &Report) -> Code {
        let e: Vec<Code> = r
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.code)
            .collect();
        assert_eq!(e.len(), 1, "{:#?}", r.findings);
        e[0]
    }

    #[test]
    fn other_class_without_group_is_group_not_member() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o660);
        let r = f.as_apache(FIFO);
        assert_eq!(only_error(&r), Code::GroupNotMember);
        let g = &r.findings[0];
        assert!(
            g.fix.as_ref().unwrap().commands[0].contains("usermod -aG opensips apache"),
            "{g:?}"
        );
    }

    #[test]
    fn never_suggests_joining_the_root_group() {
        let mut f = Fixture::new();
        f.view.fifo(FIFO, 0o660, 0, 0);
        f.proc(ProcSpec {
            pid: 100,
            comm: "opensips",
            uid: 0,
            gid: 0,
            cap: crate::doctor::procfs::cap::ALL,
            ..Default::default()
        });
        f.hold(100, 5, FIFO, 0);
        let r = f.as_apache(FIFO);
        let g = r.finding(Code::GroupNotMember).unwrap();
        let cmds = &g.fix.as_ref().unwrap().commands;
        assert!(
            cmds.iter().all(|c| !c.contains("usermod -aG root")),
            "{cmds:?}"
        );
        // A config line, as an edit of OpenSIPS's config file; never behind `$ `.
        let edits = &g.fix.as_ref().unwrap().edits;
        assert!(
            edits.iter().any(
                |e| e.line == "modparam(\"mi_fifo\", \"fifo_group\", \"mififo\")"
                    && e.file == "/etc/opensips/opensips.cfg"
            ),
            "{edits:?}"
        );
        assert!(cmds.iter().all(|c| !c.contains("modparam")), "{cmds:?}");
    }

    #[test]
    fn other_class_when_group_cannot_help_is_dac_denied() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o640);
        let r = f.as_apache(FIFO);
        assert_eq!(only_error(&r), Code::DacDenied);
        assert!(r
            .findings
            .iter()
            .any(|x| x.message.contains("other class applies")));
    }

    #[test]
    fn group_class_before_other_is_explained() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o606);
        f.add_member(OPENSIPS_G, "apache");
        let r = f.as_apache(FIFO);
        assert_eq!(only_error(&r), Code::DacDenied);
        let d = r.finding(Code::DacDenied).unwrap();
        assert!(
            d.message.contains("never falls through to other"),
            "{}",
            d.message
        );
    }

    #[test]
    fn running_process_without_a_configured_group_is_group_stale() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o660);
        f.add_member(OPENSIPS_G, "apache");
        f.proc(ProcSpec {
            pid: 700,
            comm: "httpd",
            unit: Some("httpd.service"),
            ..Default::default()
        });
        let r = f.run(&f.config(FIFO, ClientSpec::Pids(vec![700])));
        assert_eq!(only_error(&r), Code::GroupStale);
        let s = r.finding(Code::GroupStale).unwrap();
        assert_eq!(
            s.fix.as_ref().unwrap().commands,
            vec!["systemctl restart httpd.service"]
        );
        // The same user from the database (fresh groups) is fine.
        assert!(f.as_apache(FIFO).has(Code::AccessOk));
    }

    fn with_acl(mode: u32, mask: u8, other: u8, user_perm: u8) -> Fixture {
        let mut f = Fixture::new();
        f.server(FIFO, mode);
        f.view.set_xattr(
            FIFO,
            XATTR_ACCESS,
            encode(&[
                (1, 6, u32::MAX),
                (2, user_perm, APACHE),
                (4, 6, u32::MAX),
                (0x10, mask, u32::MAX),
                (0x20, other, u32::MAX),
            ]),
        );
        f
    }

    #[test]
    fn acl_cases_from_the_reference() {
        assert!(with_acl(0o660, 6, 0, 6).as_apache(FIFO).has(Code::AccessOk));
        // chmod 600 → mask --- → shortcut → acl-mask.
        let r = with_acl(0o600, 0, 0, 6).as_apache(FIFO);
        assert_eq!(only_error(&r), Code::AclMask);
        assert!(r.findings[0].message.contains("ignores the ACL"));
        // mask r-- → the named entry is masked → acl-mask.
        let r = with_acl(0o646, 4, 6, 6).as_apache(FIFO);
        assert_eq!(only_error(&r), Code::AclMask);
        // named entry r-- with a full mask → acl-denied.
        let r = with_acl(0o660, 6, 6, 4).as_apache(FIFO);
        assert_eq!(only_error(&r), Code::AclDenied);
        // mask-zero shortcut with other rw- → allowed.
        assert!(with_acl(0o606, 0, 6, 6).as_apache(FIFO).has(Code::AccessOk));
    }

    #[test]
    fn protected_fifos_hits_o_creat_clients_only() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o666);
        f.sysctl("protected_fifos", 1);
        f.view
            .file("/var/log/audit/audit.log", crate::doctor::audit::FIXTURE);
        let mut cfg = f.config(FIFO, ClientSpec::User("apache".into()));
        cfg.audit_logs = None;
        let r = f.run(&cfg);
        assert_eq!(only_error(&r), Code::ProtectedFifos);
        let p = r.finding(Code::ProtectedFifos).unwrap();
        assert!(
            p.message.contains("php, python, opensipsctl"),
            "{}",
            p.message
        );
        assert!(p
            .evidence
            .iter()
            .any(|(k, v)| k.starts_with("audit") && v.contains("sticky_create_fifo")));
        // The main fix keeps the protection; the sysctl is the last
        // alternative and says what it weakens.
        let fix = p.fix.as_ref().unwrap();
        assert!(fix.weakens.is_none());
        let last = fix.alternatives.last().unwrap();
        assert!(last.commands[0].starts_with("sysctl -w fs.protected_fifos=0"));
        assert!(last.weakens.is_some());
        // mififo opens without O_CREAT.
        let mut cfg = f.config(FIFO, ClientSpec::User("apache".into()));
        cfg.client_open = Some(ClientOpen::Mififo);
        assert!(f.run(&cfg).has(Code::AccessOk));
        // Root is not exempt.
        let r = f.run(&f.config(FIFO, ClientSpec::User("root".into())));
        assert!(r.has(Code::ProtectedFifos));
    }

    #[test]
    fn search_denied_names_the_directory() {
        let mut f = Fixture::new();
        f.view.dir("/run/opensips", 0o750, OPENSIPS, OPENSIPS_G);
        f.server("/run/opensips/opensips_fifo", 0o666);
        let r = run(
            &f.view,
            &f.config(
                "/run/opensips/opensips_fifo",
                ClientSpec::User("apache".into()),
            ),
            None,
        )
        .unwrap();
        assert_eq!(only_error(&r), Code::DirSearchDenied);
        assert!(r.findings[0].message.contains("/run/opensips"));
        let fix = r.findings[0].fix.as_ref().unwrap();
        assert!(
            fix.commands
                .iter()
                .any(|c| c.contains("usermod -aG opensips apache")),
            "{fix:?}"
        );
    }

    #[test]
    fn capabilities_let_root_through_dac() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o600);
        let r = f.run(&f.config(FIFO, ClientSpec::User("root".into())));
        assert!(r.has(Code::AccessOk), "{:#?}", r.findings);
        f.proc(ProcSpec {
            pid: 800,
            comm: "capless",
            uid: 0,
            gid: 0,
            cap: 0,
            ..Default::default()
        });
        let r = f.run(&f.config(FIFO, ClientSpec::Pids(vec![800])));
        assert!(r.has(Code::DacDenied));
    }

    struct Stub(ProbeResult);
    impl Prober for Stub {
        fn probe(&self, _: &ProbeRequest) -> Result<ProbeResult, crate::doctor::probe::ProbeError> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn probe_disagreement_is_reported() {
        let mut f = Fixture::new();
        f.server(FIFO, 0o666);
        let mut cfg = f.config(FIFO, ClientSpec::User("apache".into()));
        cfg.probe = true;
        let agree = Stub(ProbeResult::Opened);
        assert!(run(&f.view, &cfg, Some(&agree))
            .unwrap()
            .has(Code::AccessOk));
        let denied = Stub(ProbeResult::Errno(libc::EACCES));
        let r = run(&f.view, &cfg, Some(&denied)).unwrap();
        let d = r.finding(Code::ProbeDisagrees).unwrap();
        assert_eq!(d.severity, Severity::Error);
        assert!(d.message.contains("EACCES"));
        assert!(!r.has(Code::AccessOk));
    }
}

#[cfg(test)]
mod restart_tests {
    use crate::doctor::fixture::*;
    use crate::doctor::{ClientSpec, Code};

    /// The invoking user's own doctor process is never the thing to restart.
    #[test]
    fn never_suggests_restarting_the_doctor_itself() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o660);
        f.add_member(OPENSIPS_G, "apache");
        // The doctor (pid 2) runs as apache with its old groups (stale).
        f.proc(ProcSpec {
            pid: 2,
            comm: "mififo",
            ..Default::default()
        });
        let mut cfg = f.config("/tmp/opensips_fifo", ClientSpec::Auto);
        cfg.self_pid = Some(2);
        let r = f.run(&cfg);
        let g = r.finding(Code::GroupStale).expect("group-stale");
        let fix = g.fix.as_ref().unwrap();
        assert!(
            fix.commands
                .iter()
                .all(|c| !c.contains(" 2") && !c.contains("-p 2")),
            "{fix:?}"
        );
        assert!(fix.summary.contains("new login"), "{}", fix.summary);
    }
}
