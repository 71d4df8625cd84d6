//! Command-line interface: one file per subcommand, each with `Args` and `run`.
//!
//! Errors reach `main` as `anyhow::Error` and are printed once, as
//! `mififo: <error chain>`, with exit code 2 unless the subcommand chose another.

mod bench;
mod call;
mod common;
mod doctor;
mod gateway;
mod logging;
mod man;
mod record;
mod serve;
mod shell;
mod top;
mod values;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Server, client, doctor and HTTP gateway for the OpenSIPS/Kamailio MI FIFO.
#[derive(Debug, Parser)]
#[command(name = "mififo", version, max_term_width = 100)]
#[command(after_long_help = "Trouble talking to a FIFO? Start with: mififo doctor --fifo PATH")]
pub struct Cli {
    /// More log output (repeat for more); overrides MIFIFO_LOG.
    // display_order: after each subcommand's own options in help and man pages.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, display_order = 900)]
    pub verbose: u8,
    /// Less log output (repeat for less).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, display_order = 901)]
    pub quiet: u8,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and own an MI FIFO and answer MI commands as OpenSIPS does.
    Serve(serve::Args),
    /// Send one MI command through the FIFO and print the reply.
    Call(call::Args),
    /// Interactive MI shell: completion from the server, history, one command per line.
    Shell(shell::Args),
    /// Live statistics: counters as rates, gauges as values, with history.
    Top(top::Args),
    /// Explain why a user or process cannot talk to the MI FIFO, and how to fix it.
    Doctor(doctor::Args),
    /// Bridge HTTP JSON-RPC (as OpenSIPS mi_http) to the MI FIFO.
    Gateway(gateway::Args),
    /// Record a real server's commands and read-only replies for serve --commands.
    Record(record::Args),
    /// Drive an MI FIFO server with concurrent clients and report throughput and latency.
    Bench(bench::Args),
    /// Print a shell completion script.
    Completions(man::CompletionsArgs),
    /// Print the man pages (roff), or write them all with --out.
    Man(man::ManArgs),
}

/// The doctor's probe child, `mififo __probe …` (enters a namespace, takes ids,
/// opens once). Parsed apart from [`Cli`] so that `--help`, man pages and shell
/// completions never offer it.
#[derive(Debug, Parser)]
#[command(name = "__probe", bin_name = "mififo __probe")]
struct ProbeCli {
    #[command(flatten)]
    args: doctor::ProbeArgs,
}

/// The first argument that selects the probe child.
const PROBE: &str = "__probe";

/// Entry point called by `main.rs`.
pub fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == PROBE) {
        let probe = ProbeCli::parse_from(std::env::args_os().skip(1));
        logging::init(0, 0, false);
        return finish(doctor::probe(probe.args));
    }
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_exit(e));
    logging::init(
        cli.verbose,
        cli.quiet,
        matches!(cli.command, Command::Serve(_) | Command::Gateway(_)),
    );
    let result = match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Call(a) => call::run(a),
        Command::Shell(a) => shell::run(a),
        Command::Top(a) => top::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Gateway(a) => gateway::run(a),
        Command::Record(a) => record::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Completions(a) => man::completions(a),
        Command::Man(a) => man::man(a),
    };
    finish(result)
}

/// Maps a subcommand's result to the exit code, printing the error once.
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            report_error(&err);
            ExitCode::from(2)
        }
    }
}

/// Exits on an argument error: help and version as clap prints them, usage
/// errors under the same `mififo:` prefix as every runtime error (clap's own
/// `error:` prefix replaced), with clap's exit code (2).
fn usage_exit(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    #[allow(clippy::disallowed_macros)]
    {
        eprint!("mififo: {text}");
    }
    std::process::exit(e.exit_code())
}

/// Prints `mififo: <error chain>` on stderr.
pub fn report_error(err: &anyhow::Error) {
    #[allow(clippy::disallowed_macros)]
    {
        eprintln!("mififo: {err:#}");
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
