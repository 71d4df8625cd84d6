//! `mififo completions SHELL` and `mififo man`: generated from the same clap definition.

use clap::CommandFactory;
use std::process::ExitCode;

/// Options of `mififo completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: clap_complete::Shell,
}

/// Options of `mififo man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

/// Prints the completion script for a shell on stdout.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "mififo", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Prints the man page (roff) on stdout.
pub fn man(_args: ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = super::Cli::command();
    clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}
