//! Flags shared by every subcommand that talks to an existing MI FIFO
//! (`call`, `gateway`, `doctor`), resolved by [`mififo::config`] with one
//! precedence: flag > environment > opensips-cli config > built-in default.

use mififo::config::{self, ConfigError, Environment, Overrides, Resolved};
use std::path::{Path, PathBuf};

/// `--fifo`, `--reply-dir`, `--config`, `--instance`.
#[derive(Debug, Clone, clap::Args)]
pub struct FifoArgs {
    /// The server's MI FIFO, taken byte for byte [default: $OPENSIPS_MI_FIFO_FILE,
    /// opensips-cli's fifo_file, or the first existing of /run/opensips/opensips_fifo,
    /// /var/run/opensips/opensips_fifo, /tmp/opensips_fifo].
    #[arg(long, value_name = "PATH")]
    pub fifo: Option<PathBuf>,
    /// Where reply FIFOs are created; must be the server's reply_dir
    /// [default: $OPENSIPS_MI_FIFO_REPLY_DIR, opensips-cli's fifo_reply_dir, or /tmp/].
    #[arg(long, value_name = "DIR")]
    pub reply_dir: Option<PathBuf>,
    /// opensips-cli config file to read fifo_file/fifo_reply_dir from (instead of searching).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// opensips-cli config section (instance) to read.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

impl FifoArgs {
    /// The flags as resolver overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            fifo: self.fifo.clone(),
            reply_dir: self.reply_dir.clone(),
            config: self.config.clone(),
            instance: self.instance.clone(),
        }
    }

    /// Resolves against this process's environment and file system.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let resolved = config::resolve(&self.overrides(), &Environment::from_process())?;
        log_resolved(&resolved);
        Ok(resolved)
    }

    /// Resolves with `exists` deciding which default FIFO is there and the
    /// opensips-cli config files looked up under `root` (the doctor's
    /// `--sysroot`; `/` is the live system).
    pub fn resolve_in(
        &self,
        root: &Path,
        exists: &dyn Fn(&Path) -> bool,
    ) -> Result<Resolved, ConfigError> {
        let mut env = Environment::from_process();
        if root != Path::new("/") {
            for f in &mut env.config_files {
                *f = root.join(f.strip_prefix("/").unwrap_or(f));
            }
        }
        let resolved = config::resolve_with(&self.overrides(), &env, exists)?;
        log_resolved(&resolved);
        Ok(resolved)
    }
}

fn log_resolved(r: &Resolved) {
    tracing::info!(
        fifo = %r.fifo.value.display(), fifo_from = %r.fifo.source,
        reply_dir = %r.reply_dir.value.display(), reply_dir_from = %r.reply_dir.source,
        "using"
    );
}

/// `--max-reply`, `--trust-user`: what every FIFO client (call, shell, top)
/// accepts from the server.
#[derive(Debug, Clone, clap::Args)]
pub struct AcceptArgs {
    /// The largest reply accepted (4096, 512K, 64M, 1G); past it: exit 9, reading stops.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub max_reply: usize,
    /// Trust this user (name or uid) to own or read the server FIFO, e.g. OpenSIPS's user for a
    /// FIFO in /tmp; repeatable. Us, root and the FIFO directory's owner are always trusted.
    #[arg(long, value_name = "USER", value_parser = mififo::client::trust::parse_user)]
    pub trust_user: Vec<u32>,
}

impl AcceptArgs {
    /// The users named by `--trust-user`.
    pub fn trust(&self) -> mififo::client::Trust {
        mififo::client::Trust {
            uids: self.trust_user.clone(),
        }
    }
}

/// `4096`, `512K`, `64M`, `1G` (powers of 1024; `KiB`/`MiB`/`GiB` and `B` accepted).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = t.split_at(digits);
    let n: usize = n
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 64M)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("'{s}': unknown unit (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("'{s}' is not a usable size"))
}

/// `--url`, `--auth-file`, `--ca-file`: talk to the MI server over HTTP(S)
/// or datagrams instead of the FIFO.
#[derive(Debug, Clone, clap::Args)]
pub struct UrlArgs {
    /// Reach the server at a URL instead of the FIFO: http://HOST:PORT/mi, https://…,
    /// udp://HOST:PORT or unix:PATH [default: $MIFIFO_URL, opensips-cli's communication_type
    /// with url / datagram_ip+datagram_port / datagram_unix_socket, else the FIFO].
    #[arg(long, value_name = "URL", conflicts_with_all = ["fifo", "reply_dir"])]
    pub url: Option<String>,
    /// HTTP Basic credentials for --url: a file whose first line is user:password
    /// (mode 600 or stricter; never on the command line).
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// PEM CA certificates that verify an https:// server.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

impl UrlArgs {
    /// The URL transport chosen by flag, environment or the opensips-cli
    /// config (same file and instance as the FIFO's), or `None` for the FIFO.
    pub fn transport(
        &self,
        fifo: &FifoArgs,
        timeout: std::time::Duration,
        max_reply: usize,
    ) -> anyhow::Result<Option<(String, mififo::client::transport::Transport)>> {
        use mififo::client::transport::{read_auth_file, Target, Transport, UrlConfig};
        let Some(url) = config::resolve_url(
            self.url.as_deref(),
            &fifo.overrides(),
            &Environment::from_process(),
        )?
        else {
            if self.auth_file.is_some() || self.ca_file.is_some() {
                anyhow::bail!("--auth-file and --ca-file need an http(s) --url");
            }
            return Ok(None);
        };
        tracing::info!(url = %url.value, from = %url.source, "using");
        let target = Target::parse(&url.value)?;
        let basic_auth = self.auth_file.as_deref().map(read_auth_file).transpose()?;
        let t = Transport::for_target(
            &target,
            UrlConfig {
                timeout,
                max_reply,
                basic_auth,
                ca_file: self.ca_file.clone(),
            },
        )?;
        Ok(Some((url.value, t)))
    }
}

/// Where the server is and what to accept from it, for the long-lived
/// clients (`shell`, `top`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub fifo: FifoArgs,
    #[command(flatten)]
    pub url: UrlArgs,
    /// What to accept from the server.
    #[command(flatten)]
    pub accept: AcceptArgs,
}

impl ServerArgs {
    /// A connection for a long-lived client asking one thing at a time: one
    /// reused reply FIFO.
    pub fn open_session(
        &self,
        timeout: std::time::Duration,
        dialect: mififo::proto::Dialect,
    ) -> anyhow::Result<Connection> {
        Connection::open(
            &self.fifo,
            &self.url,
            mififo::client::ClientConfig {
                timeout,
                dialect,
                max_reply: self.accept.max_reply,
                trust: self.accept.trust(),
                pool: 1,
                ..Default::default()
            },
        )
    }

    /// What to call the server on screen (see [`Connection::name`]).
    pub fn name(&self, conn: &Connection) -> String {
        conn.name(self.fifo.instance.as_deref())
    }
}

/// The server a client subcommand (`call`, `shell`, `top`, `bench`) talks
/// to: the URL transport chosen by flag, environment or config, else the
/// resolved FIFO.
pub struct Connection {
    /// The FIFO and reply directory as resolved (also when a URL is used:
    /// they name the instance).
    pub resolved: Resolved,
    /// The URL, when the transport is one.
    pub url: Option<String>,
    /// How requests travel.
    pub transport: mififo::client::transport::Transport,
}

impl Connection {
    /// Resolves `fifo` and `url`; `client` gives everything but the FIFO
    /// paths, which come from the resolution. The text dialect is refused
    /// with a URL (URLs speak JSON-RPC).
    pub fn open(
        fifo: &FifoArgs,
        url: &UrlArgs,
        client: mififo::client::ClientConfig,
    ) -> anyhow::Result<Connection> {
        use mififo::client::{transport::Transport, Client, ClientConfig};
        let resolved = fifo.resolve()?;
        let via = url.transport(fifo, client.timeout, client.max_reply)?;
        if via.is_some() && client.dialect == mififo::proto::Dialect::Text {
            anyhow::bail!("--url speaks JSON-RPC; the text dialect is for the FIFO only");
        }
        let (url, transport) = match via {
            Some((u, t)) => (Some(u), t),
            None => (
                None,
                Transport::Fifo(Client::new(ClientConfig {
                    fifo: resolved.fifo.value.clone(),
                    reply_dir: resolved.reply_dir.value.clone(),
                    ..client
                })),
            ),
        };
        Ok(Connection {
            resolved,
            url,
            transport,
        })
    }

    /// What to call the server on screen: the config instance if one was
    /// named, else the URL, else the FIFO path.
    pub fn name(&self, instance: Option<&str>) -> String {
        match (instance, &self.url) {
            (Some(i), _) => i.to_owned(),
            (None, Some(u)) => u.clone(),
            (None, None) => self.resolved.fifo.value.display().to_string(),
        }
    }
}

/// Every signal whose default action ends the process and that a handler
/// may catch: on each, the exchange futures are dropped, which unlinks their
/// reply FIFOs, and call, bench exit with 128+N. Not here: SIGKILL/SIGSTOP (cannot be
/// caught), SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP (faults of our own code, not
/// requests to stop), SIGPIPE (ignored by the Rust runtime, so it ends
/// nothing), and the real-time signals (Tokio cannot register them).
pub const TERMINATING: &[nix::sys::signal::Signal] = {
    use nix::sys::signal::Signal::*;
    &[
        SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGSTKFLT, SIGXCPU,
        SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSYS,
    ]
};

/// Registers a handler for every [`TERMINATING`] signal and returns the
/// future of the first one caught. Registered before any reply FIFO exists,
/// so no signal can end the process while one does.
///
/// Make it once for everything a command does and poll it by `&mut` (as
/// `call --watch` does): once the handlers are installed, the process no
/// longer dies of these signals, and a signal taken by a listener that is
/// then dropped (the other branch of a `select!` won) is lost — a fresh
/// listener never sees it.
pub fn terminating_signal(
) -> std::io::Result<impl std::future::Future<Output = nix::sys::signal::Signal>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut streams = Vec::with_capacity(TERMINATING.len());
    for &sig in TERMINATING {
        streams.push((sig, signal(SignalKind::from_raw(sig as i32))?));
    }
    Ok(std::future::poll_fn(move |cx| {
        for (sig, stream) in &mut streams {
            if stream.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(*sig);
            }
        }
        std::task::Poll::Pending
    }))
}
