//! `mififo serve`: options → [`ServeConfig`] → [`mififo::server::run`] on a tokio runtime.

use anyhow::Context as _;
use mififo::fifo::acl;
use mififo::proto::Dialect;
use mififo::server::commands_file::CommandsFile;
use mififo::server::{resolve_group, Credentials, ServeConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Options of `mififo serve`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:\n  \
    mififo serve                                   # /tmp/opensips_fifo, replies in /tmp/\n  \
    mififo serve --commands fixtures/opensips-3.x-core-dialog.json\n  \
    sudo mififo serve --fifo /run/opensips/opensips_fifo --user opensips --acl u:www-data:rw\n\n\
    Stop with SIGTERM/SIGINT or the MI command 'kill'; SIGHUP recreates the FIFO.\n\
    As root, --user is required ('--user root' keeps root on purpose).\n\
    Exits with status 2 when the FIFO path stays unservable (squatted, or not\n\
    recreatable) for --give-up-after.")]
pub struct Args {
    /// The MI FIFO to create and serve (OpenSIPS ≥ 3.1 default).
    #[arg(long, value_name = "PATH", default_value = "/tmp/opensips_fifo")]
    pub fifo: PathBuf,
    /// Permission bits of the FIFO, octal, applied with chmod (the umask never matters).
    #[arg(long, value_name = "OCTAL", default_value = "0660", value_parser = parse_mode)]
    pub mode: u32,
    /// Owner of the FIFO (name or uid); as root, also the user the server drops to.
    /// Required when started as root ('--user root' keeps root explicitly).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Group of the FIFO (name or gid); with --user also the primary group after the drop.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Extra ACL entry on the FIFO, e.g. u:apache:rw or g:web:rw (repeatable; mask computed).
    #[arg(long = "acl", value_name = "ENTRY")]
    pub acl: Vec<String>,
    /// Directory of the clients' reply FIFOs (a missing trailing '/' is added).
    #[arg(long, value_name = "DIR", default_value = "/tmp/")]
    pub reply_dir: PathBuf,
    /// Protocol: json (OpenSIPS 3.x/4.x) or text (1.x/2.x).
    // Only the values this command accepts are offered (help, completions);
    // the other is still parsed, to be refused with a word on what to use instead.
    #[arg(long, value_name = "DIALECT", value_parser = super::values::dialect_hiding(&["kamailio"]), default_value_t = Dialect::Json)]
    pub dialect: Dialect,
    /// JSON file with extra methods and statistics (see docs/serve.md).
    #[arg(long, value_name = "FILE")]
    pub commands: Option<PathBuf>,
    /// The OpenSIPS to imitate: its `version`, and which names `which` lists
    /// (3.6: get_statistics, dlg_list; 4.0: statistics:get, dialog:list). Both
    /// spellings are answered either way.
    #[arg(long, value_parser = super::values::opensips_version(), value_name = "VERSION", default_value = "3.6")]
    pub opensips_version: mififo::server::command::OpenSipsVersion,
    /// Fail on purpose, for testing clients (repeatable, first match wins):
    /// [METHOD=]KIND[:ARG] with KIND delay:DUR, no-reply, close, truncate[:N],
    /// garbage, wrong-id, trickle[:DUR], late:DUR, die (see docs/serve.md).
    /// Never on by default.
    #[arg(long = "fault", value_name = "RULE")]
    pub faults: Vec<mififo::server::fault::Rule>,
    /// Once the FIFO is being read, write 'fifo=PATH' and 'pid=PID' lines to this
    /// file (atomically, for scripts and test fixtures to wait on). Under systemd
    /// (NOTIFY_SOCKET set, Type=notify) READY=1 is sent as well.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// Tab-indented JSON replies, as OpenSIPS with pretty_printing=1.
    #[arg(long)]
    pub pretty: bool,
    /// Write the server's pid to this file (removed on exit).
    #[arg(long, value_name = "PATH")]
    pub pidfile: Option<PathBuf>,
    /// Replace a non-FIFO found at --fifo (a FIFO with a live reader is never taken over).
    #[arg(long)]
    pub force: bool,
    /// Requests handled at the same time.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_in_flight: usize,
    /// Time allowed for writing one reply (e.g. 500ms, 5s; a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "5s",
          value_parser = mififo::config::parse_duration)]
    pub reply_timeout: Duration,
    /// When the FIFO path cannot be served (squatted by another user, or deleted and not
    /// recreatable after the privilege drop), log an error every 5 s and exit non-zero after
    /// this long, so a supervisor notices (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "30s",
          value_parser = mififo::config::parse_duration)]
    pub give_up_after: Duration,
    /// Answer by relaying every request to this HTTP JSON-RPC MI (OpenSIPS mi_http or
    /// mififo gateway), e.g. http://127.0.0.1:8888/mi (see docs/gateway.md).
    #[arg(long, value_name = "URL", conflicts_with = "commands")]
    pub forward: Option<String>,
    /// Time allowed for one forwarded request (e.g. 500ms, 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s",
          value_parser = mififo::config::parse_duration)]
    pub forward_timeout: Duration,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!("'{s}' is not an octal mode like 0660")),
    }
}

impl Args {
    /// Validates the options into a [`ServeConfig`].
    fn into_config(self) -> anyhow::Result<ServeConfig> {
        if self.dialect == Dialect::Kamailio {
            anyhow::bail!(
                "serve speaks --dialect json (OpenSIPS 3.x/4.x) or text (1.x/2.x); \
                 'kamailio' is client-only (mififo call --dialect kamailio)"
            );
        }
        let mut cfg = ServeConfig::new(&self.fifo);
        // Said once here, not by every recreation of the FIFO.
        cfg.fifo.mode = if self.mode & 0o7777 == 0 {
            tracing::warn!("--mode 0 makes no sense; using 0600 as OpenSIPS does");
            0o600
        } else {
            self.mode
        };
        cfg.fifo.force = self.force;
        let group = self
            .group
            .as_deref()
            .map(resolve_group)
            .transpose()
            .context("invalid --group")?;
        cfg.fifo.group = group;
        let me = nix::unistd::geteuid();
        if me.is_root() && self.user.is_none() {
            anyhow::bail!(
                "refusing to serve as root without --user: reply FIFO names come from the \
                 clients, so every user who can write the FIFO could make a root process \
                 write into any FIFO on the host. Pass --user NAME (e.g. --user opensips): \
                 the FIFO is created as root and given to NAME, and the server then runs as \
                 NAME. '--user root' keeps root and accepts that risk"
            );
        }
        if let Some(user) = &self.user {
            let creds = Credentials::resolve(user, group).context("invalid --user")?;
            cfg.fifo.owner = Some(creds.uid);
            cfg.fifo.group = Some(creds.gid);
            if me.is_root() {
                if creds.uid.is_root() {
                    tracing::warn!(
                        "serving as root (--user root): anyone who can write the FIFO can make \
                         this process write replies into any FIFO on the host"
                    );
                } else {
                    cfg.drop_to = Some(creds);
                }
            } else if me != creds.uid {
                anyhow::bail!(
                    "--user '{user}' needs root: only root can give the FIFO to another user \
                     and switch to it (running as uid {me})"
                );
            }
        }
        for entry in &self.acl {
            cfg.fifo.acl.push(acl::parse_spec(entry)?);
        }
        cfg.reply_dir = self.reply_dir;
        cfg.dialect = self.dialect;
        cfg.pretty = self.pretty;
        cfg.opensips_version = self.opensips_version;
        cfg.faults = self.faults;
        let ready_file = self.ready_file.map(|p| {
            // Relative to where we started: the path is resolved before any chdir.
            std::path::absolute(&p).unwrap_or(p)
        });
        let fifo_path = cfg.fifo.path.clone();
        cfg.on_ready = Some(std::sync::Arc::new(move || {
            if let Some(p) = &ready_file {
                if let Err(e) = mififo::server::notify::write_ready_file(p, &fifo_path) {
                    tracing::error!("cannot write --ready-file '{}': {e}", p.display());
                }
            }
            match mififo::server::notify::sd_notify("READY=1") {
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot notify systemd (NOTIFY_SOCKET): {e}"),
            }
        }));
        for r in &cfg.faults {
            tracing::warn!(rule = ?r, "--fault: this server fails on purpose");
        }
        cfg.pidfile = self.pidfile;
        if let Some(path) = &self.commands {
            cfg.commands = Some(CommandsFile::load(path)?);
        }
        cfg.max_in_flight = self.max_in_flight.max(1);
        cfg.reply_timeout = self.reply_timeout;
        cfg.give_up_after = self.give_up_after;
        if let Some(url) = &self.forward {
            let forwarder = mififo::server::forward::Forwarder::new(url, self.forward_timeout)?;
            cfg.executor = Some(std::sync::Arc::new(forwarder));
        }
        Ok(cfg)
    }
}

/// Runs `mififo serve` until SIGTERM/SIGINT or the `kill` command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = args.into_config()?;
    // One thread, as OpenSIPS's MI FIFO process: the common request path
    // runs inline in the reader loop, and waiting requests are cheap tasks on
    // the same thread, so no request pays for a thread hand-off.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        mififo::server::run(cfg, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}
