//! `mififo gateway`: parse flags, bind (possibly in another network
//! namespace), relay through the library client until SIGTERM/SIGINT.

use super::common::FifoArgs;
use mififo::client::{Client, ClientConfig};
use mififo::config::parse_duration;
use mififo::gateway::access::{check_bind, AllowList, Cidr};
use mififo::gateway::listen::{self, Netns};
use mififo::gateway::{self, Gateway, GatewayConfig};
use mififo::proto::Dialect;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Options of `mififo gateway`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Answers POST <path> with a JSON-RPC 2.0 body exactly as OpenSIPS mi_http does, relaying each
request through the MI FIFO. Point opensips-cli (communication_type: http, url: http://ADDR/mi)
or OpenSIPS-CP (json:http://ADDR/mi) at it. See docs/gateway.md for the status mapping.")]
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
    #[arg(long, value_enum, default_value_t = Dialect::Json)]
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
    let resolved = args.fifo.resolve()?;
    let fifo = resolved.fifo.value.clone();
    let reply_dir = resolved.reply_dir.value.clone();
    let netns = args.netns.as_deref().map(Netns::parse).transpose()?;
    // Bind before the runtime exists: the namespace switch happens on a
    // dedicated, short-lived thread either way.
    let std_listener = listen::bind(args.listen, netns.as_ref())?;
    let local = std_listener.local_addr()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let client = Client::new(ClientConfig {
            fifo: fifo.clone(),
            reply_dir: reply_dir.clone(),
            timeout: args.timeout,
            dialect: args.dialect,
            allow_large: false,
            ..Default::default()
        });
        let gw = Arc::new(Gateway::new(
            GatewayConfig {
                path: args.path.clone(),
                timeout: args.timeout,
                max_body: args.max_body,
                allow: AllowList(args.allow.clone()),
            },
            client,
        ));
        let shutdown = shutdown_signal()?;
        tracing::info!(
            listen = %local,
            netns = %netns
                .as_ref()
                .map_or_else(|| "-".to_string(), |n| n.path().display().to_string()),
            fifo = %fifo.display(),
            fifo_from = %resolved.fifo.source,
            reply_dir = %reply_dir.display(),
            "gateway ready"
        );
        {
            // One machine-readable line, so scripts (and tests) using port 0 learn the URL.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on http://{local}{}", args.path);
            let _ = out.flush();
        }
        gateway::serve(listener, gw, shutdown).await;
        tracing::info!("gateway stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
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
