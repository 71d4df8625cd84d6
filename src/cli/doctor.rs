//! `mififo doctor`: explain why a client cannot talk to the MI FIFO. Thin:
//! flags → [`mififo::doctor::Config`] → report → renderer → exit code
//! (0 no error finding, 1 at least one, 2 the doctor itself failed).
//! Also the arguments of `mififo __probe`, the child the doctor re-executes itself as.

use super::common::FifoArgs;
use anyhow::Context;
use mififo::doctor::{
    self, probe, render, view::RealView, view::SystemView, ClientOpen, ClientSpec,
};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Check lines, numbered problems with fixes, a verdict.
    Human,
    /// One JSON object: verdict, checks, findings.
    Json,
}

/// Options of `mififo doctor`.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Exit status: 0 no error found, 1 at least one error finding, 2 the doctor failed.\n\
Finding codes and what they mean: docs/doctor.md."
)]
pub struct Args {
    /// Examine USER: its credentials from /etc/passwd and /etc/group, in the doctor's own namespaces.
    #[arg(long = "as", value_name = "USER", conflicts_with_all = ["pid", "unit"])]
    pub as_user: Option<String>,
    /// Examine running process PID exactly (groups, umask, capabilities, namespace, label); repeatable.
    #[arg(long, value_name = "PID", conflicts_with = "unit")]
    pub pid: Vec<i32>,
    /// Examine the processes of a systemd unit (found through /proc/*/cgroup).
    #[arg(long, value_name = "NAME")]
    pub unit: Option<String>,
    // --fifo/--reply-dir/--config/--instance, resolved as `call` resolves them.
    #[command(flatten)]
    pub fifo: FifoArgs,
    /// The server process (default: the processes reading the FIFO); repeatable.
    #[arg(long = "server-pid", value_name = "PID")]
    pub server_pid: Vec<i32>,
    /// How the client opens the FIFO (default: judge all and say which are affected).
    #[arg(long, value_parser = super::values::client_open(), value_name = "CLIENT")]
    pub client_open: Option<ClientOpen>,
    /// Audit log to search for SELinux/AppArmor/protected_fifos denials (repeatable;
    /// default /var/log/audit/audit.log and its rotations).
    #[arg(long, value_name = "PATH")]
    pub audit_log: Vec<PathBuf>,
    /// php.ini or FPM pool file to check for open_basedir (repeatable; default: the usual locations).
    #[arg(long, value_name = "PATH")]
    pub php_ini: Vec<PathBuf>,
    /// Do not run the probe (a real open with the client's identity in a child process; root only).
    #[arg(long)]
    pub no_probe: bool,
    /// Also make one real exchange with METHOD as the client (through the
    /// probe) and classify it: answered, wrong dialect, no reply, reply FIFO unreachable.
    #[arg(long, value_name = "METHOD")]
    pub call: Option<String>,
    /// The client's MI dialect for --call.
    #[arg(long, value_parser = super::values::dialect(), default_value_t = mififo::proto::Dialect::Json, requires = "call")]
    pub dialect: mififo::proto::Dialect,
    /// Timeout of the --call exchange, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3.0, requires = "call")]
    pub call_timeout: f64,
    /// Examine the HTTP path to an MI endpoint (mi_http, mififo gateway)
    /// instead of the FIFO: network namespaces, bound address, allow list,
    /// auth, TLS, systemd sandboxing, SELinux; then the gateway's FIFO leg.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Same as --format json (the flag the other subcommands take).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Read the system under this directory instead of / (for offline analysis; disables the probe).
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    /// Where selinuxfs is mounted.
    #[arg(long, value_name = "DIR", default_value = "/sys/fs/selinux")]
    pub selinuxfs: PathBuf,
}

/// Runs `mififo doctor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = args.sysroot.clone().unwrap_or_else(|| PathBuf::from("/"));
    let view = RealView::new(root.clone());
    // The same FIFO and reply dir `call` would use (an explicit --fifo is kept
    // byte for byte); which default FIFO exists is seen through the view.
    let resolved = args
        .fifo
        .resolve_in(&root, &|p: &std::path::Path| view.lstat(p).is_ok())?;
    // A file named on the command line that cannot be read is said at once
    // (a typo would otherwise read as "no php.ini found" and hide an
    // open_basedir problem); the report's php line names it too. Not fatal:
    // a missing file is also how a caller says "no PHP here".
    for f in &args.php_ini {
        if let Err(e) = view.read(f) {
            super::report_error(&anyhow::Error::new(e).context(format!(
                "cannot read --php-ini '{}' (the PHP open_basedir check skips it); \
                 check the path, or leave --php-ini out to search the usual places",
                f.display()
            )));
        }
    }
    let sudo_line = sudo_line(
        &std::env::args_os().collect::<Vec<_>>(),
        &resolved.fifo.value,
        &resolved.reply_dir.value,
    );
    let clients = if let Some(u) = args.as_user {
        ClientSpec::User(u)
    } else if !args.pid.is_empty() {
        ClientSpec::Pids(args.pid)
    } else if let Some(u) = args.unit {
        ClientSpec::Unit(u)
    } else {
        ClientSpec::Auto
    };
    let cfg = doctor::Config {
        fifo: resolved.fifo.value,
        clients,
        server_pids: args.server_pid,
        reply_dir: resolved.reply_dir.value,
        client_open: args.client_open,
        audit_logs: (!args.audit_log.is_empty()).then_some(args.audit_log),
        php_ini: (!args.php_ini.is_empty()).then_some(args.php_ini),
        probe: !args.no_probe && args.sysroot.is_none(),
        selinuxfs: args.selinuxfs,
        self_pid: if args.sysroot.is_some() {
            Some(0)
        } else {
            Some(std::process::id() as i32)
        },
        invoking_user: std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()),
        sudo_line: Some(sudo_line),
        url: args.url,
        call: args.call.map(|method| doctor::CallSpec {
            method,
            dialect: args.dialect,
            timeout: std::time::Duration::from_secs_f64(args.call_timeout.clamp(0.1, 60.0)),
        }),
    };
    let prober = probe::ChildProber {
        exe: std::env::current_exe().context("cannot find the mififo binary for the probe")?,
    };
    let report = doctor::run(&view, &cfg, Some(&prober))?;
    let format = if args.json { Format::Json } else { args.format };
    let text = match format {
        Format::Human => render::human::render(&report),
        Format::Json => render::json::render(&report),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::from(report.exit_code()))
}

/// Quotes one argument for a POSIX shell (bare when that is safe).
fn shell_quote(a: &std::ffi::OsStr) -> String {
    let s = a.to_string_lossy();
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=@%+,-".contains(&b));
    if safe {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// This very run as root: `sudo` + the command line as given, plus the FIFO
/// and reply directory as resolved now (sudo drops `OPENSIPS_MI_FIFO_*` and
/// the user's opensips-cli config would not be read).
fn sudo_line(
    argv: &[std::ffi::OsString],
    fifo: &std::path::Path,
    reply: &std::path::Path,
) -> String {
    let mut parts = vec!["sudo".to_string()];
    parts.extend(argv.iter().map(|a| shell_quote(a)));
    let given = |flag: &str| {
        argv.iter().any(|a| {
            let a = a.to_string_lossy();
            a == flag || a.starts_with(&format!("{flag}="))
        })
    };
    if !given("--fifo") {
        parts.push("--fifo".into());
        parts.push(shell_quote(fifo.as_os_str()));
    }
    if !given("--reply-dir") {
        parts.push("--reply-dir".into());
        parts.push(shell_quote(reply.as_os_str()));
    }
    parts.join(" ")
}

/// Arguments of `mififo __probe` (the doctor's child process; not in --help).
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Enter this process's mount namespace and root.
    #[arg(long)]
    pub pid: Option<i32>,
    /// ruid,euid,suid,fsuid.
    #[arg(long, value_delimiter = ',')]
    pub uids: Vec<u32>,
    /// rgid,egid,sgid,fsgid.
    #[arg(long, value_delimiter = ',')]
    pub gids: Vec<u32>,
    /// Supplementary groups (comma-separated, may be empty).
    #[arg(long, default_value = "")]
    pub groups: String,
    /// Open with O_CREAT (never O_TRUNC: a FIFO ignores it, a swapped-in file would not).
    #[arg(long)]
    pub creat: bool,
    /// The path in the client's namespace.
    #[arg(long)]
    pub path: PathBuf,
    /// Make one MI exchange with this method instead of an open.
    #[arg(long)]
    pub call: Option<String>,
    /// Dialect of the exchange.
    #[arg(long, value_parser = super::values::dialect(), default_value_t = mififo::proto::Dialect::Json)]
    pub dialect: mififo::proto::Dialect,
    /// Reply directory of the exchange.
    #[arg(long, default_value = "/tmp/")]
    pub reply_dir: PathBuf,
    /// Timeout of the exchange.
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
    /// Keep our own credentials and namespace (the doctor is not root).
    #[arg(long)]
    pub as_self: bool,
    /// Make one HTTP exchange with this URL from --pid's network namespace.
    #[arg(long)]
    pub http: Option<String>,
    /// JSON-RPC method of the HTTP exchange.
    #[arg(long, default_value = "version")]
    pub http_method: String,
}

/// Runs the probe child: one result line on stdout, exit 0.
pub fn probe(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.http {
        // The network namespace first (needs our privileges), then the
        // client's mount namespace, root and credentials, as for an open.
        let become_it = || -> Result<(), String> {
            if let Some(pid) = args.pid {
                mififo::doctor::net::enter_netns(pid)?;
            }
            if args.as_self {
                return Ok(());
            }
            let four = |v: &[u32]| -> Result<[u32; 4], String> {
                v.try_into().map_err(|_| "need 4 ids".to_string())
            };
            let groups = args
                .groups
                .split(',')
                .filter(|g| !g.is_empty())
                .map(|g| g.parse::<u32>().map_err(|_| format!("bad group '{g}'")))
                .collect::<Result<Vec<u32>, String>>()?;
            probe::become_client(&probe::ProbeRequest {
                pid: args.pid,
                uids: four(&args.uids)?,
                gids: four(&args.gids)?,
                groups,
                path: args.path.clone(),
                creat: false,
            })
        };
        let line = match (mififo::doctor::net::Url::parse(url), become_it()) {
            (Err(e), _) | (_, Err(e)) => format!("failed {e}"),
            (Ok(u), Ok(())) => serde_json::to_string(&mififo::doctor::net::exchange(
                &u,
                &args.http_method,
                std::time::Duration::from_secs(3),
            ))?,
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let four = |v: &[u32], what: &str| -> anyhow::Result<[u32; 4]> {
        v.try_into()
            .map_err(|_| anyhow::anyhow!("--{what} needs 4 comma-separated ids"))
    };
    let groups = args
        .groups
        .split(',')
        .filter(|g| !g.is_empty())
        .map(|g| g.parse::<u32>().with_context(|| format!("bad group '{g}'")))
        .collect::<anyhow::Result<Vec<u32>>>()?;
    let req = probe::ProbeRequest {
        pid: args.pid,
        uids: four(&args.uids, "uids")?,
        gids: four(&args.gids, "gids")?,
        groups,
        path: args.path,
        creat: args.creat,
    };
    if let Some(method) = args.call {
        let call = mififo::doctor::exchange::CallRequest {
            fifo: req.path.clone(),
            reply_dir: args.reply_dir,
            method,
            dialect: args.dialect,
            timeout: std::time::Duration::from_millis(args.timeout_ms.min(60_000)),
        };
        let line = match if args.as_self {
            Ok(())
        } else {
            probe::become_client(&req)
        } {
            Ok(()) => mififo::doctor::exchange::format_outcome(
                &mififo::doctor::exchange::exchange_here(&call),
            ),
            Err(e) => format!("failed {e}"),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let line = probe::format_output(&probe::probe_here(&req));
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(ExitCode::SUCCESS)
}
