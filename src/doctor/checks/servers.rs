//! Every MI server process on the host, whether or not it reads the FIFO
//! asked about: OpenSIPS, Kamailio and `mififo serve` (found by `comm`, read
//! from `/proc/PID/{status,cmdline,cgroup}`, which any user may read). Each
//! candidate is ranked by relevance to the asked path — reads it, is
//! configured with it, reads a FIFO of that name elsewhere, is configured
//! for the same directory or file name — so a fix names the instance that
//! matters and says why, not whichever has the lowest pid.
//!
//! The server kind also decides how a fix is written: `modparam` lines for
//! OpenSIPS (`mi_fifo`) and Kamailio (`jsonrpcs`) as edits of the config
//! file the process was started with; flags and the `mififo-serve@` unit for
//! `mififo serve`; words only for an unknown server.

use super::servercfg;
use super::Ctx;
use crate::doctor::finding::Fix;
use crate::doctor::procfs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What kind of MI server a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OpenSIPS with `mi_fifo`.
    Opensips,
    /// Kamailio with `jsonrpcs`.
    Kamailio,
    /// `mififo serve`.
    MififoServe,
    /// A reader we do not recognise (or none found).
    Unknown,
}

impl Kind {
    /// `mififo serve`, or a reader we do not recognise: not an OpenSIPS or
    /// Kamailio.
    pub fn is_standin(self) -> bool {
        matches!(self, Kind::MififoServe | Kind::Unknown)
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Opensips => "OpenSIPS",
            Kind::Kamailio => "Kamailio",
            Kind::MififoServe => "mififo serve",
            Kind::Unknown => "the MI server",
        }
    }
}

/// One server process (or instance) on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Pid (the lowest of its instance).
    pub pid: i32,
    /// Kind.
    pub kind: Kind,
    /// User it runs as.
    pub user: String,
    /// systemd unit.
    pub unit: Option<String>,
    /// Config file (OpenSIPS/Kamailio), in its namespace.
    pub cfg: Option<PathBuf>,
    /// Configured (or `--fifo`) FIFO path.
    pub fifo_name: Option<PathBuf>,
    /// Configured reply directory.
    pub reply_dir: Option<PathBuf>,
    /// `mififo serve --dialect`.
    pub dialect: Option<String>,
    /// 0 = reads the asked FIFO … 9 = unrelated; lower is more relevant.
    pub rank: u8,
    /// Why it got that rank.
    pub why: String,
}

impl Candidate {
    /// `OpenSIPS pid 100 (user opensips, unit opensips.service)`.
    pub fn describe(&self) -> String {
        format!(
            "{} pid {} (user {}{})",
            self.kind.name(),
            self.pid,
            self.user,
            self.unit
                .as_ref()
                .map(|u| format!(", unit {u}"))
                .unwrap_or_default()
        )
    }

    fn service(&self) -> Option<&str> {
        self.unit.as_deref().filter(|u| u.ends_with(".service"))
    }

    /// The shell command that restarts it (recreating its FIFO).
    pub fn restart(&self) -> String {
        match (self.kind, self.service()) {
            (_, Some(u)) => format!("systemctl restart {u}"),
            // serve recreates its FIFO on SIGHUP (docs/serve.md).
            (Kind::MififoServe, None) => format!("kill -HUP {}", self.pid),
            (Kind::Opensips, None) => "systemctl restart opensips".into(),
            (Kind::Kamailio, None) => "systemctl restart kamailio".into(),
            (Kind::Unknown, None) => format!("ps -o pid,unit,args -p {}", self.pid),
        }
    }

    fn cfg_file(&self) -> String {
        self.cfg.as_ref().map_or_else(
            || match self.kind {
                Kind::Kamailio => "/etc/kamailio/kamailio.cfg".into(),
                _ => "/etc/opensips/opensips.cfg".into(),
            },
            |c| c.display().to_string(),
        )
    }

    /// A fix that sets one MI FIFO parameter (`fifo_name`, `fifo_mode`,
    /// `fifo_group`, `reply_dir`) in the server's own configuration, then
    /// restarts it.
    pub fn set_param(&self, param: Param, value: &str, summary: impl Into<String>) -> Fix {
        let summary = summary.into();
        match self.kind {
            Kind::Opensips | Kind::Kamailio => {
                let (module, name) = match (self.kind, param) {
                    (Kind::Opensips, Param::ReplyDir) => ("mi_fifo", "reply_dir"),
                    (Kind::Opensips, p) => ("mi_fifo", p.opensips()),
                    (_, Param::ReplyDir) => ("jsonrpcs", "fifo_reply_dir"),
                    (_, p) => ("jsonrpcs", p.opensips()),
                };
                let value = if param == Param::Mode {
                    value.to_string()
                } else {
                    format!("\"{value}\"")
                };
                Fix::new(summary, [self.restart()]).edit(
                    self.cfg_file(),
                    format!("modparam(\"{module}\", \"{name}\", {value})"),
                )
            }
            Kind::MififoServe => {
                let flag = format!("{} {value}", param.serve_flag());
                match self.service() {
                    Some(u) => {
                        let inst = u
                            .strip_prefix("mififo-serve@")
                            .and_then(|i| i.strip_suffix(".service"))
                            .unwrap_or("NAME");
                        let line = match param {
                            Param::Mode => format!("MIFIFO_SERVE_MODE={value}"),
                            Param::ReplyDir => format!("MIFIFO_SERVE_REPLY_DIR={value}"),
                            _ => format!("MIFIFO_SERVE_ARGS={flag}"),
                        };
                        Fix::new(summary, [format!("systemctl restart {u}")])
                            .edit(format!("/etc/mififo/{inst}.env"), line)
                    }
                    None => Fix::new(
                        format!(
                            "{summary}: stop mififo serve (pid {}) and start it again with {flag} (its other flags: ps -o args= -p {})",
                            self.pid, self.pid
                        ),
                        [format!("kill -TERM {}", self.pid)],
                    ),
                }
            }
            // Nothing to paste: what to set is known, where is not.
            Kind::Unknown => Fix::new(
                format!(
                    "{summary}: set the server's MI FIFO {} to {value} in its configuration and restart it (which program and unit it is: ps -o pid,unit,args -p {})",
                    param.opensips(),
                    self.pid
                ),
                [],
            ),
        }
    }
}

/// A server-side MI FIFO parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// The FIFO path.
    Name,
    /// Its mode.
    Mode,
    /// Its group.
    Group,
    /// The reply directory.
    ReplyDir,
}

impl Param {
    fn opensips(self) -> &'static str {
        match self {
            Param::Name => "fifo_name",
            Param::Mode => "fifo_mode",
            Param::Group => "fifo_group",
            Param::ReplyDir => "reply_dir",
        }
    }
    fn serve_flag(self) -> &'static str {
        match self {
            Param::Name => "--fifo",
            Param::Mode => "--mode",
            Param::Group => "--group",
            Param::ReplyDir => "--reply-dir",
        }
    }
}

/// The kind of a process from its `comm` and command line.
pub fn kind_of(comm: &str, args: &[String]) -> Option<Kind> {
    match comm {
        "opensips" => Some(Kind::Opensips),
        "kamailio" => Some(Kind::Kamailio),
        "mififo" if args.iter().skip(1).any(|a| a == "serve") => Some(Kind::MififoServe),
        _ => None,
    }
}

fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let eq = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&eq).map(str::to_string)
        }
    })
}

fn parent_of(p: &Path) -> Option<&Path> {
    p.parent().filter(|d| !d.as_os_str().is_empty())
}

/// Every server candidate, most relevant first (ties: OpenSIPS and
/// Kamailio before stand-ins, then the lowest pid).
pub fn find(ctx: &Ctx<'_>) -> Vec<Candidate> {
    let asked = ctx
        .fifo_resolved
        .clone()
        .unwrap_or_else(|| ctx.fifo.clone());
    let asked_dir = parent_of(&asked).map(Path::to_path_buf);
    let asked_name = asked.file_name().map(|n| n.to_os_string());
    let readers: Vec<i32> = ctx
        .holders
        .current
        .iter()
        .filter(|h| h.reads())
        .map(|h| h.pid)
        .chain(ctx.servers.iter().flat_map(|s| s.pids.clone()))
        .collect();
    let elsewhere: Vec<i32> = ctx
        .holders
        .deleted
        .iter()
        .chain(ctx.holders.elsewhere.iter())
        .filter(|h| h.reads())
        .map(|h| h.pid)
        .collect();
    let mut out: Vec<Candidate> = Vec::new();
    for (pid, comm) in &ctx.comms {
        let pid = *pid;
        if !matches!(comm.as_str(), "opensips" | "kamailio" | "mififo") {
            continue;
        }
        // A kernel thread or a vanished process has no command line.
        let cmdline = ctx
            .view
            .read(Path::new(&format!("/proc/{pid}/cmdline")))
            .unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(kind) = kind_of(comm, &args) else {
            continue;
        };
        let Some(p) = procfs::Process::read(ctx.view, pid) else {
            continue;
        };
        let (cfg, fifo_name, reply_dir, dialect) = match kind {
            Kind::MififoServe => (
                None,
                Some(PathBuf::from(
                    flag_value(&args, "--fifo").unwrap_or_else(|| "/tmp/opensips_fifo".into()),
                )),
                Some(PathBuf::from(
                    flag_value(&args, "--reply-dir").unwrap_or_else(|| "/tmp/".into()),
                )),
                Some(flag_value(&args, "--dialect").unwrap_or_else(|| "json".into())),
            ),
            _ => match ctx.server_cfgs.iter().find(|s| {
                s.pid == pid || (s.comm == *comm && servercfg::cfg_of(&args, comm) == s.cfg)
            }) {
                Some(s) => (
                    Some(s.cfg.clone()),
                    s.fifo_name.clone(),
                    s.reply_dir.clone(),
                    None,
                ),
                None => (None, None, None, None),
            },
        };
        let (rank, why) = if readers.contains(&pid) {
            (0, "reads this FIFO".to_string())
        } else if fifo_name.as_deref() == Some(asked.as_path())
            || fifo_name.as_deref() == Some(ctx.fifo.as_path())
        {
            (1, "configured with this fifo_name".to_string())
        } else if elsewhere.contains(&pid) {
            (
                2,
                "reads a FIFO of this name (deleted, or in another mount namespace)".into(),
            )
        } else if fifo_name.is_some()
            && fifo_name.as_deref().and_then(parent_of) == asked_dir.as_deref()
        {
            (
                3,
                format!(
                    "its FIFO {} is in the same directory",
                    fifo_name
                        .as_ref()
                        .map(|f| f.display().to_string())
                        .unwrap_or_default()
                ),
            )
        } else if fifo_name.is_some()
            && fifo_name.as_ref().and_then(|f| f.file_name()) == asked_name.as_deref()
        {
            (
                4,
                format!(
                    "its FIFO {} has the same file name",
                    fifo_name
                        .as_ref()
                        .map(|f| f.display().to_string())
                        .unwrap_or_default()
                ),
            )
        } else if reply_dir.is_some()
            && reply_dir.as_deref().map(|r| {
                r.as_os_str()
                    .as_bytes()
                    .strip_suffix(b"/")
                    .unwrap_or(r.as_os_str().as_bytes())
                    .to_vec()
            }) == asked_dir
                .as_deref()
                .map(|d| d.as_os_str().as_bytes().to_vec())
        {
            (5, "its reply directory is this FIFO's directory".into())
        } else {
            (
                9,
                match &fifo_name {
                    Some(f) => format!("unrelated: its FIFO is {}", f.display()),
                    None => "no fifo_name found in its configuration".into(),
                },
            )
        };
        let c = Candidate {
            pid,
            kind,
            user: ctx.db.user_name(p.status.uid[1]),
            unit: p.unit.clone(),
            cfg,
            fifo_name,
            reply_dir,
            dialect,
            rank,
            why,
        };
        // One entry per instance: forked children share kind, config and FIFO.
        if let Some(prev) = out.iter_mut().find(|o| {
            o.kind == c.kind && o.cfg == c.cfg && o.fifo_name == c.fifo_name && o.unit == c.unit
        }) {
            if c.rank < prev.rank {
                prev.rank = c.rank;
                prev.why = c.why;
            }
            continue;
        }
        out.push(c);
    }
    // Within a rank, OpenSIPS and Kamailio come before stand-ins (mififo
    // serve, readers of unknown kind): on a host with many stand-ins, the
    // real servers are the ones an admin looks for in the shortened list.
    out.sort_by_key(|c| (c.rank, c.kind.is_standin(), c.pid));
    out
}

/// The most relevant candidate for the asked FIFO (None when every server on
/// the host is unrelated to it). A process that reads the asked FIFO is its
/// server whatever its kind: then an instance that is only near the path
/// (same directory, file name or reply directory) is not the one to change.
pub fn best<'c>(ctx: &'c Ctx<'_>) -> Option<&'c Candidate> {
    let read = !ctx.servers.is_empty();
    ctx.candidates
        .first()
        .filter(|c| c.rank < 9 && (serves_this_path(c) || !read))
}

/// Whether restarting `c` brings a FIFO back at the asked path: it reads
/// it, is configured with it, or holds a FIFO of that name (deleted, or in
/// another mount namespace). A server only near the path recreates its own.
fn serves_this_path(c: &Candidate) -> bool {
    c.rank <= 2
}

/// "(mififo serve pid 7 (user root): configured with this fifo_name)".
fn because(c: &Candidate) -> String {
    format!("{}: {}", c.describe(), c.why)
}

/// Start or restart the server of this FIFO.
pub fn restart_fix(ctx: &Ctx<'_>, summary: &str) -> Fix {
    match best(ctx) {
        // Commands are steps of the fix only: a log or a listing to look at
        // is named in the summary.
        Some(c) if c.kind == Kind::Unknown && c.service().is_none() => Fix::new(
            format!(
                "{summary} — {}; how to restart it depends on what it is (ps -o pid,unit,args -p {})",
                because(c),
                c.pid
            ),
            [],
        ),
        Some(c) if !serves_this_path(c) => Fix::new(
            format!(
                "{summary} — no running OpenSIPS, Kamailio or mififo serve is configured for this path (the nearest, {}, recreates its own FIFO on a restart, not this one); start the one that should serve it (its unit, if any: systemctl list-units --all 'opensips*' 'kamailio*' 'mififo-serve@*')",
                because(c)
            ),
            [],
        ),
        Some(c) => {
            let logs = c
                .service()
                .map(|u| format!(" (its log: journalctl -u {u} -n 50)"))
                .unwrap_or_default();
            Fix::new(format!("{summary} — {}{logs}", because(c)), [c.restart()])
        }
        None => Fix::new(
            format!("{summary} — no running OpenSIPS, Kamailio or mififo serve is configured for this path; start the one that should serve it (its unit, if any: systemctl list-units --all 'opensips*' 'kamailio*' 'mififo-serve@*')"),
            [],
        ),
    }
}

/// Set one server-side parameter, in the form the server kind takes.
pub fn param_fix(ctx: &Ctx<'_>, param: Param, value: &str, summary: &str) -> Fix {
    match best(ctx) {
        Some(c) => {
            let mut f = c.set_param(param, value, summary);
            f.summary = format!("{} — {}", f.summary, because(c));
            f
        }
        None => Fix::new(
            format!(
                "{summary}: set the server's {} to {value} (OpenSIPS: modparam(\"mi_fifo\", \"{}\", …) in opensips.cfg; Kamailio: the jsonrpcs module's parameter; mififo serve: {} {value}) and restart it",
                param.opensips(),
                param.opensips(),
                param.serve_flag()
            ),
            [],
        ),
    }
}

/// Where the FIFO should live: a non-sticky directory under `/run` owned by
/// the server (fixes PrivateTmp and protected_fifos at once).
pub fn safe_fifo_path(ctx: &Ctx<'_>) -> String {
    let name = ctx.fifo.file_name().map_or_else(
        || "opensips_fifo".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    match best(ctx).map(|c| c.kind) {
        Some(Kind::Kamailio) => format!("/run/kamailio/{name}"),
        Some(Kind::MififoServe) => format!("/run/mififo/{name}"),
        _ => format!("/run/opensips/{name}"),
    }
}

/// Move the FIFO to [`safe_fifo_path`], in the server kind's terms.
pub fn move_fifo_fix(ctx: &Ctx<'_>, summary: &str) -> Fix {
    let to = safe_fifo_path(ctx);
    let mut f = param_fix(ctx, Param::Name, &to, summary);
    f.summary = format!("{} (then point the client at {to})", f.summary);
    f
}

/// Adds the drop-in that turns PrivateTmp off for `unit`, and its restart.
pub fn private_tmp_off(f: Fix, unit: &str) -> Fix {
    let mut f = f.edit(
        format!("/etc/systemd/system/{unit}.d/mififo-private-tmp.conf"),
        "[Service]\nPrivateTmp=false",
    );
    f.commands.push(format!(
        "systemctl daemon-reload && systemctl restart {unit}"
    ));
    f
}

#[cfg(test)]
mod tests {
    use crate::doctor::fixture::*;
    use crate::doctor::{ClientSpec, Code, Verdict};

    fn opensips_with(f: &mut Fixture, pid: i32, cfg: &str, fifo_name: &str) {
        f.opensips(pid);
        f.view
            .file(
                format!("/proc/{pid}/cmdline"),
                format!("/usr/sbin/opensips\0-f\0{cfg}\0"),
            )
            .file(
                format!("/proc/{pid}/root{cfg}"),
                format!("modparam(\"mi_fifo\", \"fifo_name\", \"{fifo_name}\")\n"),
            );
    }

    #[test]
    fn the_instance_for_the_asked_directory_wins_over_the_lowest_pid() {
        let mut f = Fixture::new();
        opensips_with(
            &mut f,
            100,
            "/etc/opensips/a.cfg",
            "/var/lib/a/opensips_fifo",
        );
        opensips_with(&mut f, 200, "/etc/opensips/b.cfg", "/run/b/real_fifo");
        f.view.dir("/run/b", 0o755, 0, 0);
        let r = f.as_apache("/run/b/opensips_fifo");
        let m = r.finding(Code::FifoMissing).unwrap();
        let fix = m.fix.as_ref().unwrap();
        assert!(fix.commands.is_empty());
        assert!(
            fix.summary.contains("'/run/b/real_fifo'"),
            "{}",
            fix.summary
        );
        assert_eq!(
            fix.alternatives[0].edits[0].file, "/etc/opensips/b.cfg",
            "{fix:#?}"
        );
        assert!(fix.summary.contains("pid 200"), "{}", fix.summary);
        assert!(fix.summary.contains("same directory"), "{}", fix.summary);
    }

    /// Ten unrelated `mififo serve` stand-ins with lower pids do not push
    /// an unrelated OpenSIPS out of the eight candidates shown.
    #[test]
    fn real_servers_come_before_stand_ins_of_the_same_rank() {
        let mut f = Fixture::new();
        for pid in 10..20 {
            f.mififo_serve(pid, &format!("/srv/{pid}/s_fifo"));
        }
        opensips_with(&mut f, 500, "/etc/opensips/o.cfg", "/var/o/o_fifo");
        f.server("/run/x/opensips_fifo", 0o666);
        let r = f.as_apache("/run/x/opensips_fifo");
        let line = &r
            .checks
            .iter()
            .find(|c| c.name == "server candidates")
            .expect("a candidates line")
            .detail;
        // The reader first (rank 0), then the unrelated: OpenSIPS before
        // the stand-ins, though its pid is higher.
        let shown: Vec<&str> = line.split("; ").collect();
        assert!(shown[0].starts_with("OpenSIPS pid 100 "), "{line}");
        assert!(shown[1].starts_with("OpenSIPS pid 500 "), "{line}");
        assert!(shown[2].starts_with("mififo serve pid 10 "), "{line}");
        assert!(line.ends_with("(+4 more)"), "{line}");
    }

    #[test]
    fn a_reader_of_unknown_kind_is_the_server_not_a_namesake_elsewhere() {
        let mut f = Fixture::new();
        // Another instance's FIFO has the same file name (rank: same file name).
        opensips_with(&mut f, 100, "/etc/opensips/a.cfg", "/tmp/opensips_fifo");
        f.view.dir("/run/x", 0o755, 0, 0);
        f.view.fifo("/run/x/opensips_fifo", 0o660, 0, 0);
        f.proc(ProcSpec {
            pid: 300,
            comm: "sleep",
            uid: 0,
            gid: 0,
            ..Default::default()
        });
        f.hold(300, 3, "/run/x/opensips_fifo", 0);
        let r = f.as_apache("/run/x/opensips_fifo");
        let g = r.finding(Code::GroupNotMember).expect("group-not-member");
        let fix = format!("{:?}", g.fix);
        assert!(!fix.contains("/etc/opensips/a.cfg"), "{fix}");
        assert!(!fix.contains("pid 100"), "{fix}");
    }

    #[test]
    fn a_restart_is_printed_only_for_a_server_of_this_path() {
        let mut f = Fixture::new();
        opensips_with(&mut f, 200, "/etc/opensips/b.cfg", "/run/b/real_fifo");
        f.view.dir("/run/b", 0o755, 0, 0);
        f.view.fifo("/run/b/stale_fifo", 0o666, 0, 0);
        let r = f.as_apache("/run/b/stale_fifo");
        let n = r.finding(Code::NoReader).expect("no-reader");
        let fix = n.fix.as_ref().unwrap();
        // Restarting pid 200 recreates /run/b/real_fifo, not this one.
        assert!(fix.commands.is_empty(), "{fix:#?}");
        assert!(fix.summary.contains("pid 200"), "{}", fix.summary);
        assert!(
            fix.summary.contains("recreates its own FIFO"),
            "{}",
            fix.summary
        );
        // Configured with this path: its restart is the fix.
        let mut f = Fixture::new();
        opensips_with(&mut f, 200, "/etc/opensips/b.cfg", "/run/b/stale_fifo");
        f.view.dir("/run/b", 0o755, 0, 0);
        f.view.fifo("/run/b/stale_fifo", 0o666, 0, 0);
        let r = f.as_apache("/run/b/stale_fifo");
        let fix = r.finding(Code::NoReader).unwrap().fix.clone().unwrap();
        assert_eq!(fix.commands, ["systemctl restart opensips"], "{fix:#?}");
    }

    #[test]
    fn unprivileged_doctor_reports_unknown_with_the_sudo_line() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        // The doctor runs as apache; the server's fds are hidden from it.
        f.proc(ProcSpec {
            pid: 2,
            comm: "mififo",
            ..Default::default()
        });
        f.view.remove("/proc/100/fd");
        f.view
            .writer_open
            .insert("/tmp/opensips_fifo".into(), Ok(true));
        let mut cfg = f.config("/tmp/opensips_fifo", ClientSpec::User("apache".into()));
        cfg.self_pid = Some(2);
        cfg.sudo_line = Some("sudo mififo doctor --as apache".into());
        let r = f.run(&cfg);
        assert!(!r.has(Code::NoReader), "{:#?}", r.findings);
        assert_eq!(r.verdict(), Verdict::Unknown);
        assert_eq!(r.rerun.as_deref(), Some("sudo mififo doctor --as apache"));
        assert!(!r.needs_root.is_empty());
        // ENXIO from the write-open: nobody reads it, certain without root.
        f.view
            .writer_open
            .insert("/tmp/opensips_fifo".into(), Ok(false));
        let r = f.run(&cfg);
        let n = r.finding(Code::NoReader).expect("no-reader");
        assert_eq!(n.severity, crate::doctor::Severity::Error);
    }
}
