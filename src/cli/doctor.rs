//! `mififo doctor`. TODO: owned by a helper.

use std::process::ExitCode;

/// Options of `mififo doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `mififo doctor`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'doctor' is not implemented yet")
}
