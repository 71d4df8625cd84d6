//! Does the client see the same FIFO as the server? A different mount
//! namespace with a `systemd-private-…` mount on `/tmp` is `private-tmp`
//! (name the unit); any other difference (containers, chroots, bind mounts)
//! is `mount-namespace`.

use super::Ctx;
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use crate::doctor::procfs::{self, Mount};
use crate::doctor::subject::Subject;
use std::path::{Path, PathBuf};

/// A systemd private /tmp (or /var/tmp) mount: `(unit, mount point, mount root)`.
pub fn private_tmp(mounts: &[Mount], path: &Path) -> Option<(Option<String>, PathBuf, PathBuf)> {
    let m = procfs::mount_for(mounts, path)?;
    if !(m.mount_point == Path::new("/tmp") || m.mount_point == Path::new("/var/tmp")) {
        return None;
    }
    let root = m.root.to_string_lossy().into_owned();
    let comp = root
        .split('/')
        .find(|c| c.starts_with("systemd-private-"))?;
    // systemd-private-<32 hex boot id>-<unit>-<6 random>
    let rest = &comp["systemd-private-".len()..];
    let unit = rest
        .split_once('-')
        .and_then(|(_, u)| u.rsplit_once('-'))
        .map(|(u, _)| u.to_string());
    Some((unit, m.mount_point.clone(), m.root.clone()))
}

/// Runs the check for one client.
pub fn check(ctx: &mut Ctx<'_>, c: &Subject) {
    let name = format!("namespace {}", c.name);
    if c.root == ctx.ref_root && (ctx.servers.is_empty() || ctx.servers[0].mnt_ns == c.mnt_ns) {
        let whom = if ctx.servers.is_empty() {
            "the doctor (no server found)"
        } else {
            "the server"
        };
        // Configured but not (yet) in effect: the next restart hides /tmp from the client.
        let pending = c
            .unit
            .as_ref()
            .filter(|_| ctx.fifo.starts_with("/tmp") || ctx.fifo.starts_with("/var/tmp"))
            .and_then(|u| {
                crate::doctor::unitfile::private_tmp(ctx.view, u)
                    .filter(|s| s.value)
                    .map(|s| (u.clone(), s))
            });
        if let Some((unit, s)) = pending {
            ctx.add(
                Finding::new(
                    Code::PrivateTmp,
                    Severity::Warning,
                    format!(
                        "{} still shares /tmp with the server, but {unit} is configured with PrivateTmp (at {}): after its next restart it will no longer see {}",
                        c.name,
                        s.source,
                        ctx.fifo_shown()
                    ),
                )
                .subject(c.name.clone())
                .evidence("configured", s.source.clone())
                .fix(super::servers::private_tmp_off(
                    super::servers::move_fifo_fix(ctx, "move the FIFO out of /tmp before restarting (or turn PrivateTmp off for the unit)"),
                    &unit,
                )
                .weakens(format!("PrivateTmp=false lets {unit} see the shared /tmp"))),
            );
            ctx.line(
                name,
                Status::Problem,
                format!("same mount namespace as {whom}, but PrivateTmp is configured for {unit}"),
            );
            return;
        }
        ctx.line(
            name,
            Status::Ok,
            format!("same mount namespace and root as {whom}"),
        );
        return;
    }
    let Some(ref_meta) = ctx.fifo_meta else {
        ctx.line(name, Status::Skipped, "no FIFO at the path to compare");
        return;
    };
    let seen = crate::doctor::model::stat_in(ctx.view, &c.root, &ctx.fifo).map(|(_, m)| m);
    if ctx.unprivileged
        && seen
            .as_ref()
            .is_err_and(|e| matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)))
    {
        // Another user's /proc/PID/root is closed to us: that is not "nothing there".
        ctx.hide(format!(
            "{}'s mount namespace and root (/proc/PID/root)",
            c.name
        ));
        ctx.line(
            name,
            Status::Unknown,
            "the client's root is not readable without root",
        );
        return;
    }
    if let Ok(m) = &seen {
        if m.dev == ref_meta.dev && m.ino == ref_meta.ino {
            ctx.line(
                name,
                Status::Ok,
                format!("other mount namespace, same FIFO (inode {})", m.ino),
            );
            return;
        }
    }
    let what = match &seen {
        Ok(m) => format!("a different file ({} inode {})", m.kind.describe(), m.ino),
        Err(_) => "nothing".to_string(),
    };
    let shown = ctx.fifo_shown();
    let mounts = c
        .pid()
        .and_then(|p| {
            ctx.view
                .read_string(Path::new(&format!("/proc/{p}/mountinfo")))
                .ok()
        })
        .map(|t| procfs::parse_mountinfo(&t))
        .unwrap_or_default();
    let ns = |n: Option<u64>| n.map_or_else(|| "?".into(), |n| format!("mnt:[{n}]"));
    let server_ns = ctx
        .servers
        .first()
        .and_then(|s| s.mnt_ns)
        .or(ctx.me.as_ref().and_then(|m| m.mnt_ns));
    if let Some((unit, mp, root)) = private_tmp(&mounts, &ctx.fifo) {
        let unit = unit
            .or_else(|| c.unit.clone())
            .unwrap_or_else(|| "UNIT".into());
        let configured = crate::doctor::unitfile::private_tmp(ctx.view, &unit);
        let mut f = Finding::new(
            Code::PrivateTmp,
            Severity::Error,
            format!(
                "{} runs with a private {} (systemd PrivateTmp= of {unit}): at {shown} it sees {what}, not the server's FIFO (inode {})",
                c.name,
                mp.display(),
                ref_meta.ino
            ),
        )
        .subject(c.name.clone())
        .evidence("unit", unit.clone())
        .evidence("client mount namespace", ns(c.mnt_ns))
        .evidence("server mount namespace", ns(server_ns))
        .evidence(format!("{} mounted from", mp.display()), root.display().to_string());
        if let Some(s) = &configured {
            f = f.evidence(
                "configured",
                format!(
                    "{} at {}",
                    if s.value {
                        "PrivateTmp=yes"
                    } else {
                        "PrivateTmp=no (not yet restarted?)"
                    },
                    s.source
                ),
            );
        }
        let f = f.fix(
            super::servers::move_fifo_fix(
                ctx,
                "put the FIFO outside /tmp (fixes PrivateTmp and protected_fifos at once)",
            )
            .or(super::servers::private_tmp_off(
                Fix::new(format!("turn PrivateTmp off for {unit} (the only way for OpenSIPS-CP, which hard-codes its reply dir /tmp/)"), []),
                &unit,
            )
            .weakens(format!("PrivateTmp=false lets {unit} see (and be seen in) the shared /tmp"))),
        );
        ctx.add(f);
        ctx.line(
            name,
            Status::Problem,
            format!("private {} of {unit}: sees {what}", mp.display()),
        );
        return;
    }
    let covering = procfs::mount_for(&mounts, &ctx.fifo)
        .map(|m| {
            format!(
                "{} on {} ({}, root {})",
                m.source,
                m.mount_point.display(),
                m.fstype,
                m.root.display()
            )
        })
        .unwrap_or_else(|| "unknown".into());
    let f = Finding::new(
        Code::MountNamespace,
        Severity::Error,
        format!(
            "{} is in another mount namespace or root (container, chroot, sandbox): at {shown} it sees {what}, not the server's FIFO (inode {})",
            c.name, ref_meta.ino
        ),
    )
    .subject(c.name.clone())
    .evidence("client mount namespace", ns(c.mnt_ns))
    .evidence("server mount namespace", ns(server_ns))
    .evidence("client root", c.root.display().to_string())
    .evidence("mount covering the path (client)", covering)
    .fix(Fix::new(
        "share the FIFO's directory with the client (bind-mount it into the container/sandbox, e.g. docker -v /run/opensips:/run/opensips) or run both in one namespace",
        [format!("findmnt -N {} -T {}", c.pid().unwrap_or(0), ctx.fifo.display())],
    ));
    ctx.add(f);
    ctx.line(
        name,
        Status::Problem,
        format!("other mount namespace: sees {what}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::fixture::*;
    use crate::doctor::{ClientSpec, Code};

    #[test]
    fn parses_the_unit_from_the_mount_root() {
        let m = procfs::parse_mountinfo(
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n63 1 8:1 /tmp/systemd-private-bd2e9bd56d6f430d8402a508a068a6a4-php8.2-fpm.service-VS2vD4/tmp /tmp rw - ext4 /dev/sda1 rw\n",
        );
        let (unit, mp, _) = private_tmp(&m, Path::new("/tmp/opensips_fifo")).unwrap();
        assert_eq!(unit.as_deref(), Some("php8.2-fpm.service"));
        assert_eq!(mp, PathBuf::from("/tmp"));
        assert!(private_tmp(&m, Path::new("/run/opensips/f")).is_none());
    }

    #[test]
    fn private_tmp_client_names_the_unit() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        f.proc(ProcSpec {
            pid: 500,
            comm: "httpd",
            unit: Some("httpd.service"),
            ..Default::default()
        });
        f.private_tmp(500, "httpd.service", &[]);
        let r = f.run(&f.config("/tmp/opensips_fifo", ClientSpec::Pids(vec![500])));
        let p = r.finding(Code::PrivateTmp).expect("private-tmp");
        assert!(p.message.contains("httpd.service"));
        // Turning PrivateTmp off is the alternative to moving the FIFO.
        let fix = &p.fix.as_ref().unwrap().alternatives[0];
        assert!(fix.weakens.is_some());
        assert!(fix
            .edits
            .iter()
            .any(|e| e.line.contains("PrivateTmp=false") && e.file.contains("httpd.service.d/")));
        assert!(fix
            .commands
            .iter()
            .any(|c| c.ends_with("systemctl restart httpd.service")));
        assert!(!r.has(Code::FifoMissing), "the FIFO exists for the server");
        assert!(!r.has(Code::AccessOk));
    }

    #[test]
    fn configured_but_not_yet_active_private_tmp_warns() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        f.proc(ProcSpec {
            pid: 510,
            comm: "php-fpm",
            unit: Some("php-fpm.service"),
            ..Default::default()
        });
        f.view.file(
            "/etc/systemd/system/php-fpm.service.d/hardening.conf",
            "[Service]\nPrivateTmp=yes\n",
        );
        let r = f.run(&f.config("/tmp/opensips_fifo", ClientSpec::Pids(vec![510])));
        let p = r.finding(Code::PrivateTmp).expect("private-tmp warning");
        assert_eq!(p.severity, crate::doctor::Severity::Warning);
        assert!(p.message.contains("next restart"));
    }

    #[test]
    fn container_is_mount_namespace() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        f.proc(ProcSpec {
            pid: 600,
            comm: "php-fpm",
            ns: 4026532999,
            ..Default::default()
        });
        f.view.dir("/proc/600/root/tmp", 0o1777, 0, 0);
        let r = f.run(&f.config("/tmp/opensips_fifo", ClientSpec::Pids(vec![600])));
        assert!(r.has(Code::MountNamespace), "{:#?}", r.findings);
        assert!(!r.has(Code::PrivateTmp));
    }
}
