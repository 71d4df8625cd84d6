//! `mififo gateway`. TODO: owned by a helper.

use std::process::ExitCode;

/// Options of `mififo gateway`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mififo gateway`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'gateway' is not implemented yet")
}
