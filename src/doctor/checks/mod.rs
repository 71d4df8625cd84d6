//! The checks, in the order they run. Each reads the system only through the
//! context's view and records check lines and findings in the report.
//!
//! - [`path`]: the path string itself (whitespace, control bytes).
//! - [`fifo`]: what is at the path in the server's view.
//! - [`reader`]: who holds it open (no reader, several servers, replaced FIFO).
//! - [`namespace`]: per client, does it see the same FIFO (PrivateTmp, containers).
//! - [`access`]: per client, the kernel model for each client kind, and the probe.
//! - [`reply`]: per client, the reverse direction (reply dir, umask, read-only mount).
//! - [`lsm`]: SELinux and AppArmor (labels, modes, audit-log denials).
//! - [`php`]: PHP `open_basedir`.
//!
//! Finally every client without an error gets `access-ok`.

pub mod access;
pub mod call;
pub mod fifo;
pub mod http;
pub mod lsm;
pub mod namespace;
pub mod path;
pub mod php;
pub mod reader;
pub mod reply;
pub mod servercfg;
pub mod servers;

use super::audit::{self, Event};
use super::code::Code;
use super::finding::{Finding, Severity, Status};
use super::model::Sysctls;
use super::probe::Prober;
use super::procfs::Process;
use super::report::Report;
use super::subject::{self, Holders, Subject};
use super::userdb::UserDb;
use super::view::{Meta, SystemView};
use super::{ClientOpen, ClientSpec, Config, Error};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Shared state of one run.
pub struct Ctx<'a> {
    /// The system.
    pub view: &'a dyn SystemView,
    /// Options.
    pub cfg: &'a Config,
    /// The probe, when enabled.
    pub prober: Option<&'a dyn Prober>,
    /// Users and groups.
    pub db: UserDb,
    /// Sysctls.
    pub sysctls: Sysctls,
    /// The doctor's own process.
    pub me: Option<Process>,
    /// The FIFO path, absolute (relative paths resolved against the doctor's cwd).
    pub fifo: PathBuf,
    /// Clients.
    pub clients: Vec<Subject>,
    /// Servers.
    pub servers: Vec<Subject>,
    /// Host path of the root in which the FIFO is judged to exist (server's, else ours).
    pub ref_root: PathBuf,
    /// `stat` of the FIFO in that root.
    pub fifo_meta: Option<Meta>,
    /// Where the walk to it ended (symlinks, `.` and `..` resolved).
    pub fifo_resolved: Option<PathBuf>,
    /// Why the walk failed, when it did.
    pub fifo_errno: Option<i32>,
    /// The doctor runs without root: other users' fds and roots are hidden.
    pub unprivileged: bool,
    /// Every MI server process on the host, most relevant first.
    pub candidates: Vec<servers::Candidate>,
    /// Holders of the FIFO.
    pub holders: Holders,
    /// The fd links of a pass the run already made (a `--url` run's, for
    /// its FIFO leg); `None`: `resolve_servers` takes its own.
    pub fds: Option<subject::FdSnapshot>,
    /// Audit events (lazily read).
    pub audit: Option<Vec<Event>>,
    /// `(pid, comm)` of every process.
    pub comms: Vec<(i32, String)>,
    /// Settings of running OpenSIPS/Kamailio instances.
    pub server_cfgs: Vec<servercfg::ServerCfg>,
    /// Subjects (or "" for global) whose outcome is undecided: no `access-ok`.
    pub undecided: Vec<String>,
    /// The report being built.
    pub report: Report,
}

impl<'a> Ctx<'a> {
    /// Host path of `path` inside `root`.
    pub fn host(root: &Path, path: &Path) -> PathBuf {
        let rel = path.strip_prefix("/").unwrap_or(path);
        if rel.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        }
    }

    /// Records a finding.
    pub fn add(&mut self, f: Finding) {
        self.report.add(f);
    }

    /// Notes something the doctor could not see with its privileges: the
    /// verdict cannot be `ok`, and the report names the `sudo` line.
    pub fn hide(&mut self, what: impl Into<String>) {
        let what = what.into();
        if !self.report.needs_root.contains(&what) {
            self.report.needs_root.push(what);
        }
        self.undecided.push(String::new());
    }

    /// Records a check line.
    pub fn line(&mut self, name: impl Into<String>, status: Status, detail: impl Into<String>) {
        self.report.check(name, status, detail);
    }

    /// The client kinds judged.
    pub fn opens(&self) -> Vec<ClientOpen> {
        match self.cfg.client_open {
            Some(c) => vec![c],
            None => ClientOpen::ALL.to_vec(),
        }
    }

    /// The path escaped for display.
    pub fn fifo_shown(&self) -> String {
        escape_bytes(self.cfg.fifo.as_os_str().as_bytes())
    }

    /// The audit events (read once).
    pub fn audit_events(&mut self) -> &[Event] {
        if self.audit.is_none() {
            let files: Vec<PathBuf> = match &self.cfg.audit_logs {
                Some(f) => f.clone(),
                None => {
                    let mut v = vec![PathBuf::from("/var/log/audit/audit.log")];
                    v.extend(
                        (1..=9).map(|i| PathBuf::from(format!("/var/log/audit/audit.log.{i}"))),
                    );
                    v
                }
            };
            let mut events = Vec::new();
            for f in files {
                if let Ok(t) = self.view.read_string(&f) {
                    events.extend(audit::parse_log(&t));
                }
            }
            self.audit = Some(events);
        }
        self.audit.as_deref().unwrap_or_default()
    }

    /// `name` for a uid.
    pub fn user(&self, uid: u32) -> String {
        self.db.user_name(uid)
    }

    /// `name` for a gid.
    pub fn group(&self, gid: u32) -> String {
        self.db.group_name(gid)
    }

    /// `mode owner:group` of a meta.
    pub fn describe_meta(&self, m: &Meta) -> String {
        format!(
            "{} {}:{}",
            m.mode_string(),
            self.user(m.uid),
            self.group(m.gid)
        )
    }
}

/// Shows bytes as text with invisible/odd bytes escaped (`\x20` for a leading
/// or trailing space, `\xNN` for control and non-UTF-8 bytes).
pub fn escape_bytes(b: &[u8]) -> String {
    let first = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let last = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let mut out = String::new();
    let s = String::from_utf8_lossy(b);
    if s.as_bytes() != b {
        for &c in b {
            if c.is_ascii_graphic() || c == b' ' {
                out.push(c as char);
            } else {
                out.push_str(&format!("\\x{c:02x}"));
            }
        }
        return out;
    }
    for (i, ch) in s.char_indices() {
        let edge = i < first || i >= last;
        if ch.is_control() || (edge && ch.is_whitespace()) {
            let mut buf = [0u8; 4];
            for byte in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            out.push(ch);
        }
    }
    out
}

fn read_me(view: &dyn SystemView, cfg: &Config) -> Option<Process> {
    let pid = cfg.self_pid.or_else(|| {
        view.read_link(Path::new("/proc/self"))
            .ok()
            .and_then(|p| p.to_str()?.parse().ok())
    })?;
    Process::read(view, pid)
}

/// The clients named by the configuration (or detected).
pub fn resolve_clients(ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let view = ctx.view;
    let me = ctx.me.clone();
    let from_pids = |pids: &[i32], ctx: &Ctx<'_>| -> Vec<Subject> {
        pids.iter()
            .filter_map(|&p| Process::read(view, p))
            .map(|p| Subject::from_process(&p, me.as_ref(), &ctx.db))
            .collect()
    };
    let subjects = match &ctx.cfg.clients {
        ClientSpec::User(u) => vec![Subject::from_user(u, &ctx.db, me.as_ref())
            .ok_or_else(|| Error::UnknownUser(u.clone()))?],
        ClientSpec::Pids(pids) => {
            for &pid in pids {
                if Process::read(view, pid).is_none() {
                    return Err(Error::NoProcess { pid });
                }
            }
            from_pids(pids, ctx)
        }
        ClientSpec::Unit(unit) => {
            let pids = subject::unit_pids(view, unit);
            if pids.is_empty() {
                return Err(Error::EmptyUnit(unit.clone()));
            }
            from_pids(&pids, ctx)
        }
        ClientSpec::Auto => {
            let pids = subject::web_pids(&ctx.comms, me.as_ref().map(|m| m.pid));
            let found = from_pids(&pids, ctx);
            if !found.is_empty() {
                found
            } else if let Some(s) = ctx
                .cfg
                .invoking_user
                .as_deref()
                .and_then(|u| Subject::from_user(u, &ctx.db, me.as_ref()))
            {
                vec![s]
            } else if let Some(m) = &me {
                let mut s = Subject::from_process(m, Some(m), &ctx.db);
                s.name = format!(
                    "invoking user {} (pid {})",
                    ctx.db.user_name(s.creds.uid),
                    m.pid
                );
                vec![s]
            } else {
                Vec::new()
            }
        }
    };
    ctx.clients = subject::dedup(subjects, &ctx.db);
    Ok(())
}

fn resolve_servers(ctx: &mut Ctx<'_>) {
    let view = ctx.view;
    let me = ctx.me.clone();
    let ours = super::model::stat_in(view, Path::new("/"), &ctx.fifo);
    let our_meta = ours.as_ref().ok().map(|(_, m)| *m);
    // Holders' fd links name the resolved path (no symlinks, `.` or `..`).
    let scan_path = ours
        .as_ref()
        .map_or_else(|_| ctx.fifo.clone(), |(p, _)| p.clone());
    let fds = ctx
        .fds
        .take()
        .unwrap_or_else(|| subject::FdSnapshot::take(view));
    ctx.holders = subject::scan_holders_in(view, &fds, &scan_path, our_meta.as_ref());
    let pids: Vec<i32> = if !ctx.cfg.server_pids.is_empty() {
        ctx.cfg.server_pids.clone()
    } else {
        let mut readers: Vec<i32> = ctx
            .holders
            .current
            .iter()
            .filter(|h| h.reads())
            .map(|h| h.pid)
            .collect();
        if readers.is_empty() {
            readers = ctx
                .holders
                .elsewhere
                .iter()
                .filter(|h| h.reads())
                .map(|h| h.pid)
                .collect();
        }
        readers.sort_unstable();
        readers.dedup();
        readers
    };
    let subjects: Vec<Subject> = pids
        .iter()
        .filter_map(|&p| Process::read(view, p))
        .map(|p| Subject::from_process(&p, me.as_ref(), &ctx.db))
        .collect();
    ctx.servers = subject::dedup(subjects, &ctx.db);
    ctx.ref_root = ctx
        .servers
        .first()
        .map_or_else(|| PathBuf::from("/"), |s| s.root.clone());
    match super::model::stat_in(view, &ctx.ref_root, &ctx.fifo) {
        Ok((p, m)) => {
            ctx.fifo_resolved = Some(p);
            ctx.fifo_meta = Some(m);
        }
        Err(e) => ctx.fifo_errno = Some(e.raw_os_error().unwrap_or(libc::EIO)),
    }
    if ctx.ref_root != Path::new("/") && ctx.fifo_meta != our_meta {
        // The server lives in another mount namespace: find the holders of its inode.
        let p = ctx
            .fifo_resolved
            .clone()
            .unwrap_or_else(|| ctx.fifo.clone());
        ctx.holders = subject::scan_holders_in(view, &fds, &p, ctx.fifo_meta.as_ref());
    }
}

/// Runs all checks.
pub fn run(
    view: &dyn SystemView,
    cfg: &Config,
    prober: Option<&dyn Prober>,
) -> Result<Report, Error> {
    let mut ctx = new_ctx(view, cfg, prober);
    ctx.report.fifo = ctx.fifo_shown();
    resolve_clients(&mut ctx)?;
    run_fifo(ctx)
}

/// [`run`] with the `(pid, comm)` list and the fd links a run of the same
/// moment already read (the FIFO leg behind a gateway, examined within a
/// `--url` run): one pass over every process's `comm` and one over every
/// process's fds fewer.
pub fn run_with_comms(
    view: &dyn SystemView,
    cfg: &Config,
    prober: Option<&dyn Prober>,
    comms: Vec<(i32, String)>,
    fds: Option<subject::FdSnapshot>,
) -> Result<Report, Error> {
    let mut ctx = new_ctx_with(view, cfg, prober, Some(comms));
    ctx.fds = fds;
    ctx.report.fifo = ctx.fifo_shown();
    resolve_clients(&mut ctx)?;
    run_fifo(ctx)
}

/// The shared state of a run, before clients are resolved.
pub fn new_ctx<'a>(
    view: &'a dyn SystemView,
    cfg: &'a Config,
    prober: Option<&'a dyn Prober>,
) -> Ctx<'a> {
    new_ctx_with(view, cfg, prober, None)
}

/// [`new_ctx`], reusing `comms` when given.
fn new_ctx_with<'a>(
    view: &'a dyn SystemView,
    cfg: &'a Config,
    prober: Option<&'a dyn Prober>,
    comms: Option<Vec<(i32, String)>>,
) -> Ctx<'a> {
    let me = read_me(view, cfg);
    let fifo = if cfg.fifo.is_absolute() {
        cfg.fifo.clone()
    } else {
        me.as_ref()
            .and_then(|m| m.cwd.clone())
            .unwrap_or_else(|| PathBuf::from("/"))
            .join(&cfg.fifo)
    };
    let unprivileged = me.as_ref().is_some_and(|m| m.status.uid[1] != 0);
    Ctx {
        view,
        cfg,
        prober,
        db: UserDb::read(view),
        sysctls: Sysctls::read(view),
        me,
        fifo,
        clients: Vec::new(),
        servers: Vec::new(),
        ref_root: PathBuf::from("/"),
        fifo_meta: None,
        fifo_resolved: None,
        fifo_errno: None,
        unprivileged,
        candidates: Vec::new(),
        holders: Holders::default(),
        fds: None,
        audit: None,
        comms: comms.unwrap_or_else(|| super::procfs::comms(view)),
        server_cfgs: Vec::new(),
        undecided: Vec::new(),
        report: Report::default(),
    }
}

/// The FIFO checks for the clients already in `ctx`.
pub fn run_fifo(mut ctx: Ctx<'_>) -> Result<Report, Error> {
    let cfg = ctx.cfg;
    resolve_servers(&mut ctx);
    ctx.server_cfgs = servercfg::read(&ctx);
    ctx.candidates = servers::find(&ctx);
    ctx.report.clients = ctx.clients.iter().map(|c| c.name.clone()).collect();
    ctx.report.servers = ctx.servers.iter().map(|c| c.name.clone()).collect();

    path::check(&mut ctx);
    fifo::check(&mut ctx);
    reader::check(&mut ctx);
    for i in 0..ctx.clients.len() {
        let c = ctx.clients[i].clone();
        namespace::check(&mut ctx, &c);
        access::check(&mut ctx, &c);
        reply::check(&mut ctx, &c);
        call::check(&mut ctx, &c);
    }
    lsm::check_selinux(&mut ctx);
    lsm::check_apparmor(&mut ctx);
    php::check(&mut ctx);
    servers_line(&mut ctx);
    conclude(&mut ctx);
    if !ctx.report.needs_root.is_empty() {
        ctx.report.rerun = cfg.sudo_line.clone();
    }
    Ok(ctx.report)
}

/// The server candidates, ranked (what a fix about "the server" refers to).
fn servers_line(ctx: &mut Ctx<'_>) {
    if ctx.servers.is_empty() && ctx.unprivileged && ctx.holders.unreadable > 0 {
        ctx.hide(format!(
            "the server's identity, credentials and namespace ({} processes' /proc/PID/fd and /proc/PID/root)",
            ctx.holders.unreadable
        ));
    }
    if ctx.candidates.is_empty() {
        ctx.line(
            "server candidates",
            Status::Skipped,
            "no OpenSIPS, Kamailio or mififo serve process runs",
        );
        return;
    }
    let shown: Vec<String> = ctx
        .candidates
        .iter()
        .take(8)
        .map(|c| format!("{} — {}", c.describe(), c.why))
        .collect();
    let more = ctx.candidates.len().saturating_sub(8);
    let detail = if more > 0 {
        format!("{} (+{more} more)", shown.join("; "))
    } else {
        shown.join("; ")
    };
    ctx.line("server candidates", Status::Ok, detail);
}

/// `access-ok` for every client with no error (its own or global) and nothing undecided.
fn conclude(ctx: &mut Ctx<'_>) {
    let blocked = |ctx: &Ctx<'_>, name: &str| {
        ctx.report.findings.iter().any(|f| {
            f.severity == Severity::Error && f.subject.as_deref().is_none_or(|s| s == name)
        }) || ctx.undecided.iter().any(|u| u.is_empty() || u == name)
    };
    let server = ctx
        .servers
        .first()
        .map_or_else(|| "a reader".to_string(), |s| s.name.clone());
    for c in ctx.clients.clone() {
        if blocked(ctx, &c.name) {
            continue;
        }
        let kinds: Vec<&str> = ctx.opens().iter().map(|o| o.name()).collect();
        let f = Finding::new(
            Code::AccessOk,
            Severity::Info,
            format!(
                "{} can open {} for writing ({}) and {server} reads it",
                c.name,
                ctx.fifo_shown(),
                kinds.join(", ")
            ),
        )
        .subject(c.name.clone())
        .evidence("uid", ctx.user(c.creds.uid))
        .evidence(
            "groups",
            c.creds
                .groups
                .iter()
                .map(|g| ctx.group(*g))
                .collect::<Vec<_>>()
                .join(","),
        );
        ctx.add(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_what_is_invisible() {
        assert_eq!(escape_bytes(b"/tmp/opensips_fifo"), "/tmp/opensips_fifo");
        assert_eq!(
            escape_bytes(b"/tmp/opensips_fifo "),
            "/tmp/opensips_fifo\\x20"
        );
        assert_eq!(escape_bytes(b" /tmp/a b"), "\\x20/tmp/a b");
        assert_eq!(escape_bytes(b"/tmp/x\n"), "/tmp/x\\x0a");
        assert_eq!(escape_bytes(b"/tmp/\xff"), "/tmp/\\xff");
    }
}
