//! `mififo serve`. TODO: owned by a helper.

use std::process::ExitCode;

/// Options of `mififo serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mififo serve`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'serve' is not implemented yet")
}
