//! `mififo gateway`: parse flags, bind (possibly in another network
//! namespace), relay through the library client until SIGTERM/SIGINT.

use super::common::FifoArgs;
use anyhow::Context;
use mififo::client::{Client, ClientConfig};
use mififo::config::parse_duration;
use mififo::gateway::access::{check_bind, AllowList, Cidr};
use mififo::gateway::auth::UserStore;
use mififo::gateway::listen::{self, Netns};
use mififo::gateway::{self, limits, tls, BrowserPolicy, Gateway, GatewayConfig, Policy};
use mififo::proto::Dialect;
use mififo::server::Credentials;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Options of `mififo gateway`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Answers POST <path> with a JSON-RPC 2.0 body exactly as OpenSIPS mi_http does, relaying each
request through the MI FIFO. Point opensips-cli (communication_type: http, url: http://ADDR/mi)
or OpenSIPS-CP (json:http://ADDR/mi) at it. Only application/json POSTs without a foreign Origin
and with a Host naming the gateway are answered (web pages cannot use it). Started as root it
needs --user: it binds (and enters --netns) as root, then runs as that user. See docs/gateway.md
for the threat model, a hardened example and the status mapping.")]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the bound URL is printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8888")]
    pub listen: SocketAddr,
    /// URL path to serve (mi_http's default root is "mi").
    #[arg(long, value_name = "PATH", default_value = "/mi", value_parser = parse_path)]
    pub path: String,
    #[command(flatten)]
    pub fifo: FifoArgs,
    /// Per-request limit on the FIFO exchange (e.g. 500ms, 10s, 1m); past it: HTTP 504.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// FIFO dialect: json (OpenSIPS 3.x/4.x) or kamailio (jsonrpcs); text has no JSON-RPC.
    // Only the values this command accepts are offered (help, completions);
    // the other is still parsed, to be refused with a word on what to use instead.
    #[arg(long, value_name = "DIALECT", value_parser = super::values::dialect_hiding(&["text"]), default_value_t = Dialect::Json)]
    pub dialect: Dialect,
    /// Listen inside this network namespace: a name from 'ip netns add' or a PID.
    /// The FIFO is still reached from the gateway's own mount namespace.
    #[arg(long, value_name = "NAME|PID")]
    pub netns: Option<String>,
    /// Allow a non-loopback listen address (the MI can restart the server).
    #[arg(long)]
    pub allow_remote: bool,
    /// Only answer clients in these addresses or CIDR blocks (repeatable, or comma-separated).
    #[arg(long, value_name = "IP|CIDR", value_delimiter = ',')]
    pub allow: Vec<Cidr>,
    /// Largest request body accepted; larger ones get HTTP 413.
    #[arg(long, value_name = "BYTES", default_value_t = gateway::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// Extra name the Host header may carry besides the listen address
    /// (and localhost on loopback); anything else gets HTTP 421 (repeatable).
    #[arg(long = "host", value_name = "NAME", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Web origin allowed to call the gateway (scheme://host[:port]); requests
    /// with any other Origin header get HTTP 403 (repeatable).
    #[arg(long, value_name = "ORIGIN", value_delimiter = ',')]
    pub allow_origin: Vec<String>,
    /// Limit for a client to send its headers or body, finish a TLS handshake,
    /// or sit idle between keep-alive requests.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub client_timeout: Duration,
    /// Connections served at once (lowered to fit the descriptor limit);
    /// more are answered 503 and closed at once.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Run as this user (name or uid) once listening: needed when started as root.
    /// Reply FIFOs are then made as this user.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// HTTP Basic users, one "name:hash[:policy]" per line (hash: openssl passwd -6).
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Allow only the methods that report (statistics, lists, uptime, version, ...).
    #[arg(long)]
    pub read_only: bool,
    /// Allow only methods matching these globs (repeatable, comma-separated).
    #[arg(long, value_name = "GLOB", value_delimiter = ',')]
    pub allow_method: Vec<String>,
    /// Refuse methods matching these globs (repeatable, comma-separated).
    #[arg(long, value_name = "GLOB", value_delimiter = ',')]
    pub deny_method: Vec<String>,
    /// Also log each request's params in the audit line (off: they may hold secrets).
    #[arg(long)]
    pub audit_params: bool,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Args {
    /// The global command policy from --read-only, --allow-method, --deny-method.
    fn policy(&self) -> anyhow::Result<Policy> {
        let mut p = Policy::allow_all();
        if self.read_only {
            p.add("read-only")?;
        }
        for g in &self.allow_method {
            p.add(g)?;
        }
        for g in &self.deny_method {
            p.deny(g)?;
        }
        Ok(p)
    }

    /// Who to become after binding: `None` = stay as we are.
    fn target_user(&self) -> anyhow::Result<Option<Credentials>> {
        let me = nix::unistd::geteuid();
        let Some(user) = &self.user else {
            if me.is_root() {
                anyhow::bail!(
                    "refusing to serve as root: pass --user USER (e.g. --user mififo) to run as \
                     that user once listening, or --user root to keep root"
                );
            }
            return Ok(None);
        };
        let creds = Credentials::resolve(user, None).context("invalid --user")?;
        if me.is_root() {
            if creds.uid.is_root() {
                tracing::warn!("--user root: the gateway keeps every privilege of root");
                return Ok(None);
            }
            return Ok(Some(creds));
        }
        if creds.uid != me {
            anyhow::bail!("--user '{user}' needs root (running as uid {me})");
        }
        Ok(None)
    }
}

/// Runs `mififo gateway`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.dialect == Dialect::Text {
        anyhow::bail!(
            "the text dialect (OpenSIPS 1.x/2.x) has no JSON-RPC to relay; use --dialect json or kamailio"
        );
    }
    check_bind(args.listen, args.allow_remote)?;
    if args.allow_remote && args.allow.is_empty() && !args.listen.ip().is_loopback() {
        tracing::warn!(
            "--allow-remote without --allow: every client that can connect may use the MI"
        );
    }
    let policy = args.policy()?;
    let drop_to = args.target_user()?;
    let users = args
        .users_file
        .as_deref()
        .map(|p| {
            warn_if_readable(p);
            UserStore::load(p).map(Arc::new)
        })
        .transpose()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
        _ => None,
    };
    let nofile = limits::raise_nofile().unwrap_or(1024);
    let max_connections = limits::connection_cap(Some(args.max_connections), nofile);
    if max_connections < args.max_connections {
        tracing::warn!(
            requested = args.max_connections,
            max_connections,
            nofile,
            "--max-connections lowered to fit the open-file limit"
        );
    }
    let resolved = args.fifo.resolve()?;
    let fifo = resolved.fifo.value.clone();
    let reply_dir = resolved.reply_dir.value.clone();
    let netns = args.netns.as_deref().map(Netns::parse).transpose()?;
    // Bind before the runtime exists: the namespace switch happens on a
    // dedicated, short-lived thread either way.
    let std_listener = listen::bind(args.listen, netns.as_ref()).map_err(|e| {
        let e = anyhow::Error::new(e);
        let denied = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(io.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
            })
        });
        if netns.is_some() && denied && !nix::unistd::geteuid().is_root() {
            // Said once, on the same line: what the user can do about it.
            anyhow::anyhow!(
                "{e:#}; entering another network namespace needs root (CAP_SYS_ADMIN): start \
                 the gateway as root with --user, which drops to that user once it listens"
            )
        } else {
            e
        }
    })?;
    let local = std_listener.local_addr()?;
    // Everything that needs privileges is done: the socket is bound (in its
    // namespace), the users file and the TLS key are read.
    if let Some(creds) = &drop_to {
        creds
            .apply()
            .with_context(|| format!("cannot switch to --user '{}'", creds.name))?;
    }
    // Said at start, as the user that will open it: otherwise the first
    // sign of a wrong path is a 502 on the first request.
    match std::fs::metadata(&fifo) {
        Err(e) => tracing::warn!(
            fifo = %fifo.display(),
            fifo_from = %resolved.fifo.source,
            "no server FIFO at this path ({e}): requests fail with 502 until a server creates \
             it; start the server, or pass --fifo with its fifo_name"
        ),
        Ok(_) if !mififo::fifo::create::has_reader(&fifo) => tracing::warn!(
            fifo = %fifo.display(),
            fifo_from = %resolved.fifo.source,
            "nothing reads the server FIFO yet (or it is not ours to open): requests fail \
             until the server runs; 'mififo doctor --fifo PATH' says why"
        ),
        Ok(_) => {}
    }

    // One worker thread unless TOKIO_WORKER_THREADS says otherwise: the MI
    // server answers its FIFO one request at a time, and a second worker
    // only added cross-thread wake-ups and work stealing (the gateway's CPU
    // per request was a fifth to a half higher with two; docs/gateway.md,
    // "Performance"). Password checks run on the blocking pool either way.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    let runtime = builder.enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let client = Client::new(ClientConfig {
            fifo: fifo.clone(),
            reply_dir: reply_dir.clone(),
            timeout: args.timeout,
            dialect: args.dialect,
            allow_large: false,
            // Reused reply FIFOs: mknod/unlink once per FIFO, not per request.
            // Up to limits::MAX_POOL (64) kept, within the descriptor limit;
            // requests beyond them in flight at once get a fresh FIFO each.
            pool: limits::pool_for(nofile),
            ..Default::default()
        });
        let browser = BrowserPolicy {
            local,
            tls: tls.is_some(),
            hosts: args
                .hosts
                .iter()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            origins: args
                .allow_origin
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
        };
        let gw = Arc::new(Gateway::new(
            GatewayConfig {
                path: args.path.clone(),
                timeout: args.timeout,
                max_body: args.max_body,
                allow: AllowList(args.allow.clone()),
                browser,
                users,
                policy,
                audit_params: args.audit_params,
                client_timeout: args.client_timeout,
                max_connections,
            },
            client,
        ));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shutdown = shutdown_signal()?;
        reload_on_sighup(gw.config().users.clone())?;
        tracing::info!(
            listen = %local,
            netns = %netns
                .as_ref()
                .map_or_else(|| "-".to_string(), |n| n.path().display().to_string()),
            fifo = %fifo.display(),
            fifo_from = %resolved.fifo.source,
            reply_dir = %reply_dir.display(),
            uid = nix::unistd::geteuid().as_raw(),
            max_connections,
            auth = gw.config().users.is_some(),
            policy = if gw.config().policy.is_open() { "open" } else { "restricted" },
            "gateway ready"
        );
        {
            // One machine-readable line, so scripts (and tests) using port 0 learn the URL.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on {scheme}://{local}{}", args.path);
            let _ = out.flush();
        }
        gateway::serve(listener, gw, tls, shutdown).await;
        tracing::info!("gateway stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP reads the users file again (and no longer ends the process).
fn reload_on_sighup(users: Option<Arc<UserStore>>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match users.as_deref().map(UserStore::reload) {
                None => tracing::info!("SIGHUP: no --users-file to reload"),
                Some(Ok(n)) => tracing::info!(users = n, "SIGHUP: users file reloaded"),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "SIGHUP: users file not reloaded; the old users stay")
                }
            }
        }
    });
    Ok(())
}

/// Completes on the first SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Warns when other users may read the users file (the hashes can be attacked offline).
fn warn_if_readable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o004 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the users file is world-readable; chmod 0640 (or 0600) it"
            );
        }
    }
}

fn parse_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_string())
    } else if !s.is_empty() && !s.contains("://") {
        // mi_http's `root` is given without the slash ("mi"); accept both.
        Ok(format!("/{s}"))
    } else {
        Err(format!("'{s}' is not a URL path; expected e.g. /mi"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("mi").unwrap(), "/mi");
        assert_eq!(parse_path("/json").unwrap(), "/json");
        assert!(parse_path("http://x/mi").is_err());
    }
}
