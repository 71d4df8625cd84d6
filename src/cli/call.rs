//! `mififo call`. TODO: owned by a helper.

use std::process::ExitCode;

/// Options of `mififo call`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mififo call`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'call' is not implemented yet")
}
