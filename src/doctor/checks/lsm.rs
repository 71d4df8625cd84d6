//! SELinux and AppArmor, without libselinux: mode from selinuxfs
//! (`enforce`), labels from `/proc/PID/attr/current` and the
//! `security.selinux` xattr, and the audit-log denials that match this FIFO
//! (by inode, name or path; hex names decoded). The doctor cannot evaluate
//! policy, so it reports denials the kernel logged, and the labels.

use super::Ctx;
use crate::doctor::audit::{self, Target};
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn type_of(ctx: &str) -> &str {
    ctx.split(':').nth(2).unwrap_or(ctx)
}

fn target(ctx: &Ctx<'_>) -> Target {
    Target {
        path: ctx.fifo.as_os_str().as_bytes().to_vec(),
        ino: ctx.fifo_meta.map(|m| m.ino),
    }
}

/// SELinux.
pub fn check_selinux(ctx: &mut Ctx<'_>) {
    let enforce = ctx
        .view
        .read_string(&ctx.cfg.selinuxfs.join("enforce"))
        .ok()
        .map(|s| s.trim() == "1");
    let file_label = ctx
        .view
        .xattr(
            &Ctx::host(
                &ctx.ref_root,
                &crate::doctor::model::stat_in(ctx.view, &ctx.ref_root, &ctx.fifo)
                    .map_or_else(|_| ctx.fifo.clone(), |(p, _)| p),
            ),
            "security.selinux",
        )
        .ok()
        .flatten()
        .map(|v| {
            String::from_utf8_lossy(&v)
                .trim_end_matches('\0')
                .to_string()
        });
    let t = target(ctx);
    let denials = audit::selinux_denials(ctx.audit_events(), &t);
    let mode = match enforce {
        Some(true) => "enforcing",
        Some(false) => "permissive",
        None => "not enabled",
    };
    if denials.is_empty() {
        let labels = format!(
            "file label {}; client labels {}",
            file_label.as_deref().unwrap_or("none"),
            ctx.clients
                .iter()
                .filter_map(|c| c.label.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        );
        match enforce {
            None => {
                let why = format!(
                    "SELinux not enabled (no {})",
                    ctx.cfg.selinuxfs.join("enforce").display()
                );
                ctx.line("selinux", Status::Skipped, why);
            }
            Some(_) => {
                // Known gap in the reference policy: httpd_t may not write tmp_t/var_run_t FIFOs.
                let httpd = ctx
                    .clients
                    .iter()
                    .find(|c| c.label.as_deref().is_some_and(|l| type_of(l) == "httpd_t"))
                    .cloned();
                let tmp = file_label
                    .as_deref()
                    .is_some_and(|l| matches!(type_of(l), "tmp_t" | "var_run_t"));
                if let (Some(c), true, Some(true)) = (httpd, tmp, enforce) {
                    let fl = file_label.clone().unwrap_or_default();
                    ctx.add(
                        Finding::new(
                            Code::SelinuxDenied,
                            Severity::Warning,
                            format!(
                                "SELinux is enforcing, the client runs as httpd_t and the FIFO is labelled {}: the reference policy has no rule letting httpd_t write such FIFOs (no boolean helps); no AVC was found (dontaudit, or auditd not running)",
                                type_of(&fl)
                            ),
                        )
                        .subject(c.name.clone())
                        .evidence("file label", fl)
                        .evidence("client label", c.label.clone().unwrap_or_default())
                        .fix(selinux_fix(ctx, "httpd_t", "tmp_t")),
                    );
                    ctx.undecided.push(c.name.clone());
                    ctx.line("selinux", Status::Problem, format!("{mode}; {labels}"));
                } else {
                    ctx.line(
                        "selinux",
                        Status::Ok,
                        format!("{mode}; no denials logged for this FIFO; {labels}"),
                    );
                }
            }
        }
        return;
    }
    let mut by_domain: BTreeSet<(String, String)> = BTreeSet::new();
    for d in &denials {
        by_domain.insert((
            type_of(&d.scontext).to_string(),
            type_of(&d.tcontext).to_string(),
        ));
    }
    let subject = ctx
        .clients
        .iter()
        .find(|c| {
            denials
                .iter()
                .any(|d| d.pid.is_some_and(|p| c.pids.contains(&p)) || d.comm == c.comm)
        })
        .map(|c| c.name.clone());
    for (s, tt) in by_domain {
        let mine: Vec<_> = denials
            .iter()
            .filter(|d| type_of(&d.scontext) == s && type_of(&d.tcontext) == tt)
            .collect();
        let enforced = mine.iter().any(|d| !d.permissive);
        let severity = match enforce {
            Some(true) if enforced => Severity::Error,
            _ => Severity::Warning,
        };
        let perms: BTreeSet<&str> = mine
            .iter()
            .flat_map(|d| d.perms.iter().map(String::as_str))
            .collect();
        let perms: Vec<&str> = perms.into_iter().collect();
        let state = match (enforce, enforced) {
            (Some(true), true) => "SELinux is enforcing and denied",
            (Some(true), false) => "SELinux logged (permissive domain, not enforced)",
            (Some(false), _) => "SELinux is permissive now; it logged",
            (None, _) => "SELinux is not enabled now, but the audit log shows it denied",
        };
        let mut f = Finding::new(
            Code::SelinuxDenied,
            severity,
            format!("{state} {{ {} }} on the FIFO for domain {s} (file type {tt}): DAC allows it, the policy does not", perms.join(" ")),
        )
        .evidence("mode", mode.to_string())
        .evidence("file label", file_label.clone().unwrap_or_else(|| mine[0].tcontext.clone()));
        if let Some(sub) = &subject {
            f = f.subject(sub.clone());
        }
        for d in mine.iter().take(3) {
            f = f.evidence(
                format!("audit {}", d.stamp),
                format!(
                    "denied {{ {} }} pid={} comm={} name={:?} scontext={} tcontext={} permissive={}",
                    d.perms.join(" "),
                    d.pid.unwrap_or(0),
                    d.comm.clone().unwrap_or_default(),
                    d.name,
                    d.scontext,
                    d.tcontext,
                    u8::from(d.permissive)
                ),
            );
        }
        let fix = selinux_fix(ctx, &s, &tt);
        ctx.add(f.fix(fix));
    }
    ctx.line(
        "selinux",
        Status::Problem,
        format!(
            "{mode}; {} matching denial(s) in the audit log",
            denials.len()
        ),
    );
}

fn selinux_fix(ctx: &Ctx<'_>, domain: &str, ftype: &str) -> Fix {
    let mut fix = super::servers::move_fifo_fix(
        ctx,
        "a FIFO directory with its own label that the client domain may write",
    );
    let dir = Path::new(&super::servers::safe_fifo_path(ctx))
        .parent()
        .map_or_else(|| "/run/opensips".to_string(), |p| p.display().to_string());
    if domain == "httpd_t" {
        // The reference policy lets httpd_t manage httpd_tmpfs_t FIFOs (untested for this use).
        fix.commands.push(format!(
            "semanage fcontext -a -t httpd_tmpfs_t '{dir}(/.*)?' && restorecon -Rv {dir}"
        ));
        fix = fix.weakens(format!(
            "the label lets {domain} manage every FIFO in {dir}"
        ));
    }
    fix.or(
        Fix::new(
            "quick: a local policy module for exactly this access",
            [format!(
                "ausearch -m AVC -ts recent --raw | grep {domain} | audit2allow -M mififo_fifo && semodule -i mififo_fifo.pp"
            )],
        )
        .weakens(format!(
            "the audit2allow module lets every {domain} process write every {ftype} FIFO, not just this one"
        )),
    )
}

/// AppArmor.
pub fn check_apparmor(ctx: &mut Ctx<'_>) {
    let enabled = ctx
        .view
        .lstat(Path::new("/sys/kernel/security/apparmor"))
        .is_ok();
    let t = target(ctx);
    let denials = audit::apparmor_denials(ctx.audit_events(), &t);
    let confined: Vec<String> = ctx
        .clients
        .iter()
        .filter_map(|c| {
            c.label
                .clone()
                .filter(|l| l.ends_with("(enforce)") || l.ends_with("(complain)"))
        })
        .collect();
    if denials.is_empty() {
        if enabled {
            let detail = if confined.is_empty() {
                "no confined client".to_string()
            } else {
                format!("profiles {}", confined.join(", "))
            };
            ctx.line(
                "apparmor",
                Status::Ok,
                format!("enabled; no denials logged for this FIFO; {detail}"),
            );
        } else {
            ctx.line(
                "apparmor",
                Status::Skipped,
                "AppArmor not enabled (no /sys/kernel/security/apparmor)",
            );
        }
        return;
    }
    let profiles: BTreeSet<String> = denials.iter().map(|d| d.profile.clone()).collect();
    for p in profiles {
        let mine: Vec<_> = denials.iter().filter(|d| d.profile == p).collect();
        let subject = ctx
            .clients
            .iter()
            .find(|c| {
                mine.iter()
                    .any(|d| d.pid.is_some_and(|x| c.pids.contains(&x)) || d.comm == c.comm)
            })
            .map(|c| c.name.clone());
        let local = format!(
            "/etc/apparmor.d/local/{}",
            p.trim_start_matches('/').replace('/', ".")
        );
        let mut f = Finding::new(
            Code::ApparmorDenied,
            if enabled {
                Severity::Error
            } else {
                Severity::Warning
            },
            format!(
                "AppArmor profile {p} denied {} ({}) on {}{}",
                mine[0].operation,
                mine[0].denied_mask,
                ctx.fifo.display(),
                if enabled {
                    ""
                } else {
                    " (AppArmor is not enabled now)"
                }
            ),
        );
        if let Some(s) = subject {
            f = f.subject(s);
        }
        for d in mine.iter().take(3) {
            f = f.evidence(
                format!("audit {}", d.stamp),
                format!(
                    "operation={} denied_mask={} pid={} comm={}",
                    d.operation,
                    d.denied_mask,
                    d.pid.unwrap_or(0),
                    d.comm.clone().unwrap_or_default()
                ),
            );
        }
        ctx.add(f.fix(
            Fix::new(
                "allow exactly this FIFO in the profile's local override and reload the profile",
                [
                    format!("echo '{} w,' >> {local}", ctx.fifo.display()),
                    format!("apparmor_parser -r /etc/apparmor.d/{}", p.trim_start_matches('/').replace('/', ".")),
                ],
            )
            .weakens("the profile may then write this one path"),
        ));
    }
    ctx.line(
        "apparmor",
        Status::Problem,
        format!("{} matching denial(s) in the audit log", denials.len()),
    );
}

#[cfg(test)]
mod tests {
    use crate::doctor::audit::FIXTURE;
    use crate::doctor::fixture::*;
    use crate::doctor::{ClientSpec, Code, Config, Severity};
    use std::path::PathBuf;

    fn setup(enforce: Option<&str>) -> (Fixture, Config) {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        f.view.set_xattr(
            "/tmp/opensips_fifo",
            "security.selinux",
            "system_u:object_r:tmp_t:s0\0",
        );
        f.view.file("/var/log/audit/audit.log", FIXTURE);
        if let Some(e) = enforce {
            f.view
                .file("/sys/fs/selinux/enforce", e)
                .file("/sys/fs/selinux/booleans/httpd_unified", "0 0");
        }
        let mut cfg = f.config("/tmp/opensips_fifo", ClientSpec::User("apache".into()));
        cfg.audit_logs = Some(vec![PathBuf::from("/var/log/audit/audit.log")]);
        (f, cfg)
    }

    #[test]
    fn enforcing_denial_is_an_error_with_labels() {
        let (f, cfg) = setup(Some("1"));
        let r = f.run(&cfg);
        let s = r.finding(Code::SelinuxDenied).expect("selinux-denied");
        assert_eq!(s.severity, Severity::Error);
        assert!(
            s.message.contains("httpd_t") && s.message.contains("tmp_t"),
            "{}",
            s.message
        );
        assert!(s
            .evidence
            .iter()
            .any(|(k, v)| k == "file label" && v == "system_u:object_r:tmp_t:s0"));
        assert!(s.fix.as_ref().unwrap().weakens.is_some());
    }

    #[test]
    fn without_selinux_the_old_denial_is_a_warning() {
        let (f, cfg) = setup(None);
        let r = f.run(&cfg);
        let s = r.finding(Code::SelinuxDenied).unwrap();
        assert_eq!(s.severity, Severity::Warning);
    }

    #[test]
    fn httpd_t_on_tmp_t_without_avc_is_suspected() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        f.view.set_xattr(
            "/tmp/opensips_fifo",
            "security.selinux",
            "system_u:object_r:tmp_t:s0\0",
        );
        f.view.file("/sys/fs/selinux/enforce", "1");
        f.proc(ProcSpec {
            pid: 400,
            comm: "httpd",
            label: Some("system_u:system_r:httpd_t:s0"),
            ..Default::default()
        });
        let r = f.run(&f.config("/tmp/opensips_fifo", ClientSpec::Pids(vec![400])));
        assert!(r
            .findings
            .iter()
            .any(|x| x.code == Code::SelinuxDenied && x.severity == Severity::Warning));
        assert!(!r.has(Code::AccessOk));
    }

    #[test]
    fn apparmor_denial() {
        let (mut f, cfg) = setup(None);
        f.view.dir("/sys/kernel/security/apparmor", 0o755, 0, 0);
        let r = f.run(&cfg);
        let a = r.finding(Code::ApparmorDenied).expect("apparmor-denied");
        assert_eq!(a.severity, Severity::Error);
        assert!(a.fix.as_ref().unwrap().commands[0].contains("usr.sbin.php-fpm"));
    }
}
