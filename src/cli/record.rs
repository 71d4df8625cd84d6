//! `mififo record`: options → [`mififo::record::RecordConfig`] → a commands file.

use anyhow::Context as _;
use mififo::client::ClientConfig;
use mififo::proto::Dialect;
use mififo::record::{Call, RecordConfig, Source};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Options of `mififo record`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:\n  \
    mififo record --fifo /run/opensips/opensips_fifo -o opensips.json\n  \
    mififo record --url http://127.0.0.1:8888/mi --redact --call 'dlg_list {\"callid\":\"x\"}' -o cp.json\n  \
    mififo record --fifo /run/kamailio/kamailio_rpc.fifo --dialect kamailio -o kamailio.json\n  \
    mififo serve --commands opensips.json      # replay\n\n\
    Only read-only commands are run: get_*, list_*, *_list, *_status, *_show, ps, uptime,\n\
    version, which, help (also as 4.0 module:cmd and Kamailio mod.cmd names), plus --call.")]
pub struct Args {
    /// --fifo, --reply-dir, --config, --instance: resolved as `mififo call` resolves them.
    #[command(flatten)]
    pub fifo: super::common::FifoArgs,
    /// FIFO dialect: json (OpenSIPS 3.x/4.x) or kamailio (jsonrpcs).
    #[arg(long, value_parser = super::values::dialect(), default_value_t = Dialect::Json)]
    pub dialect: Dialect,
    /// Record over HTTP JSON-RPC instead (OpenSIPS mi_http, mififo gateway).
    // As for call, shell, top and bench: a FIFO flag beside it would be ignored.
    #[arg(long, value_name = "URL", conflicts_with_all = ["fifo", "reply_dir"])]
    pub url: Option<String>,
    /// One more call to record: 'METHOD' or 'METHOD JSON-PARAMS' (repeatable). The
    /// method is run even if it is not on the safe list: you asked for it.
    #[arg(long = "call", value_name = "'METHOD [PARAMS]'")]
    pub calls: Vec<Call>,
    /// Replace IP addresses, SIP user parts and host names consistently.
    #[arg(long)]
    pub redact: bool,
    /// Time allowed for each request.
    #[arg(long, value_name = "DURATION", default_value = "10s",
          value_parser = mififo::config::parse_duration)]
    pub timeout: Duration,
    /// Write the commands file here (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `mififo record`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = match &args.url {
        Some(url) => Source::Http {
            url: url.clone(),
            timeout: args.timeout,
        },
        None => {
            let resolved = args.fifo.resolve()?;
            Source::Fifo(ClientConfig {
                fifo: resolved.fifo.value,
                reply_dir: resolved.reply_dir.value,
                timeout: args.timeout,
                dialect: args.dialect,
                ..ClientConfig::default()
            })
        }
    };
    let cfg = RecordConfig {
        source,
        calls: args.calls,
        redact: args.redact,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let file = rt.block_on(mififo::record::record(&cfg))?;
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    match &args.output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write '{}'", p.display()))?
        }
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
