//! `mififo bench`. TODO: owned by a helper.

use std::process::ExitCode;

/// Options of `mififo bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mififo bench`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'bench' is not implemented yet")
}
