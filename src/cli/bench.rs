//! `mififo bench`: drive an MI FIFO server with N concurrent clients (or run
//! the in-process floor loop) and report throughput, latency and every failure.
//! Exit 0 when every request was answered correctly, 1 otherwise.

use super::common::Connection;
use mififo::bench::{cpu, floor, load, stats::Report, Progress};
use mififo::client::{params, ClientConfig};
use mififo::config;
use mififo::proto::Dialect;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Options of `mififo bench`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Every request carries an id unique in the run (within 1..2^31-1, which every server echoes
unchanged) and has its own reply FIFO; a reply with another request's id is counted as
misrouted, one with an id the run never sent as \"ids rewritten\" (the server does not echo ids:
reported once, with an example), a missing one as a timeout — never hidden.

--floor runs the same request/reply cycle (mkfifo, open, write, read, unlink) between minimal
blocking client threads and a minimal responder thread in this process: the best this machine
can do, to report a server as a ratio of it. METHOD is then not needed.

Examples:
  mififo bench --fifo /tmp/opensips_fifo --clients 16 --duration 5s uptime
  mififo bench --clients 64 --requests 100000 --json get_statistics all
  mififo bench --floor --clients 16 --duration 5s

Exit codes: 0 every request answered correctly, 1 any error, timeout, misrouted or rewritten reply,
2 usage or local error.")]
pub struct Args {
    /// The MI command to send (not needed with --floor).
    #[arg(value_name = "METHOD", required_unless_present = "floor")]
    pub method: Option<String>,
    /// Parameters, as for `mififo call`: key=value, key:=JSON, or positional values.
    #[arg(value_name = "PARAM", allow_negative_numbers = true)]
    pub param: Vec<String>,
    /// The whole params value as JSON (an array or an object), instead of PARAMs.
    #[arg(long = "params", value_name = "JSON", conflicts_with = "param")]
    pub params_json: Option<String>,
    /// --fifo, --reply-dir, --config, --instance: resolved as `mififo call` resolves them.
    #[command(flatten)]
    pub fifo_args: super::common::FifoArgs,
    /// Concurrent clients, each with one request in flight.
    #[arg(long, short = 'c', value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub clients: u32,
    /// Total requests to send (shared by all clients).
    #[arg(long, short = 'n', value_name = "N", conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Run for this long instead (500ms, 10s, 1m).
    #[arg(long, short = 'd', value_name = "DURATION", value_parser = config::parse_duration)]
    pub duration: Option<Duration>,
    /// Give up on one request after this long (counted as a timeout).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = config::parse_duration)]
    pub timeout: Duration,
    /// Wire dialect: OpenSIPS 3.x/4.x, OpenSIPS 1.x/2.x, or Kamailio jsonrpcs.
    #[arg(long, value_parser = super::values::dialect(), default_value_t = Dialect::Json)]
    pub dialect: Dialect,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Measure the in-process floor loop instead of a server.
    #[arg(long, conflicts_with_all = ["fifo", "dialect", "params_json"])]
    pub floor: bool,
    /// With --floor: where to make the floor's private directory.
    #[arg(long, value_name = "DIR", requires = "floor", default_value = "/tmp")]
    pub floor_dir: PathBuf,
    /// Also report this process's CPU per request (all its threads, from
    /// /proc/PID/task/*/schedstat): the server's own cost, for any server.
    #[arg(long, value_name = "PID", conflicts_with = "floor")]
    pub server_pid: Option<u32>,
    /// Send requests larger than PIPE_BUF (4096 bytes) although concurrent writers may interleave.
    #[arg(long)]
    pub allow_large: bool,
    /// Reply FIFOs the client keeps open and reuses, as a long-lived client does [default: one
    /// per client]; 0 makes a fresh reply FIFO per request, as `mififo call` does.
    #[arg(long, value_name = "N")]
    pub pool: Option<usize>,
    #[command(flatten)]
    pub url: super::common::UrlArgs,
}

/// Default request count when neither --requests nor --duration is given.
const DEFAULT_REQUESTS: u64 = 1000;

/// Runs `mififo bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stop = match (args.requests, args.duration) {
        (_, Some(d)) => load::Stop::Duration(d),
        (Some(n), None) => load::Stop::Requests(n),
        (None, None) => load::Stop::Requests(DEFAULT_REQUESTS),
    };
    let total = match stop {
        load::Stop::Requests(n) => Some(n),
        load::Stop::Duration(_) => None,
    };
    let progress = Progress::new(std::io::stderr().is_terminal(), total);
    let clients = args.clients as usize;

    // (what, µs of CPU per request) lines printed after the report.
    let mut cpu_lines: Vec<(&str, String, f64)> = Vec::new();
    let report = if args.floor {
        let line = progress.display();
        let (run, cpu) = cpu::during_self(|| {
            floor::run(&args.floor_dir, clients, stop, args.timeout, &progress)
        });
        let (tally, elapsed) = run.map_err(|e| {
            anyhow::anyhow!(
                "cannot run the floor loop in '{}': {e}",
                args.floor_dir.display()
            )
        })?;
        drop(line);
        let report = tally.report(
            "floor (in-process minimal client and responder)",
            clients,
            elapsed,
        );
        if let Some(cpu) = cpu {
            cpu_lines.push((
                "cycle_cpu_us_per_request",
                "whole cycle: clients + responder".into(),
                cpu::per_request_us(cpu, report.requests),
            ));
        }
        report
    } else {
        let method = args
            .method
            .clone()
            .expect("clap requires METHOD without --floor");
        let params = params::build(&method, &args.param, args.params_json.as_deref())?;
        let conn = Connection::open(
            &args.fifo_args,
            &args.url,
            ClientConfig {
                timeout: args.timeout,
                dialect: args.dialect,
                allow_large: args.allow_large,
                pool: args.pool.unwrap_or(clients),
                ..Default::default()
            },
        )?;
        let plan = load::Plan {
            method: method.clone(),
            params,
            clients,
            stop,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let line = progress.display();
        let via = conn.name(None);
        let client = conn.transport;
        // A terminating signal ends the run early: the clients' futures and
        // the client are dropped, which unlinks every reply FIFO, and the exit
        // code is 128+N, as for call.
        let run = || {
            rt.block_on(async {
                let caught = super::common::terminating_signal()?;
                Ok::<_, std::io::Error>(tokio::select! {
                    r = load::run_on(&client, &plan, &progress) => Ok(r),
                    sig = caught => Err(sig),
                })
            })
        };
        let (ran, cpu) = match args.server_pid {
            Some(pid) => {
                let (r, cpu) = cpu::during(pid, run);
                if cpu.is_none() {
                    anyhow::bail!("cannot read the CPU time of pid {pid} under /proc");
                }
                (r, cpu)
            }
            None => (run(), None),
        };
        drop(line);
        let (tally, elapsed) = match ran? {
            Ok(r) => r,
            Err(sig) => {
                drop(client);
                drop(rt);
                return Ok(ExitCode::from(128 + sig as u8));
            }
        };
        let target = format!("{method} via {via}");
        let report = tally.report(&target, clients, elapsed);
        if let (Some(cpu), Some(pid)) = (cpu, args.server_pid) {
            cpu_lines.push((
                "server_cpu_us_per_request",
                format!("server pid {pid}, all threads"),
                cpu::per_request_us(cpu, report.requests),
            ));
        }
        report
    };
    print(&report, &cpu_lines, args.json)?;
    Ok(ExitCode::from(if report.failures() == 0 { 0 } else { 1 }))
}

fn print(report: &Report, cpu: &[(&str, String, f64)], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = serde_json::to_value(report)?;
        if let Some(o) = v.as_object_mut() {
            for (key, _, us) in cpu {
                o.insert((*key).to_string(), serde_json::json!(us));
            }
        }
        writeln!(out, "{v}")?;
    } else {
        out.write_all(report.to_text().as_bytes())?;
        for (_, what, us) in cpu {
            writeln!(out, "cpu/request   {us:.1} µs ({what})")?;
        }
    }
    out.flush()?;
    Ok(())
}
