//! Logging through `tracing`: `MIFIFO_LOG` (an env-filter directive) sets the
//! level, `-v`/`-q` move it; long-running commands log JSON lines when stderr
//! is not a terminal (the journal keeps the fields).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(verbose: u8, quiet: u8, daemon: bool) {
    let levels = ["off", "error", "warn", "info", "debug", "trace"];
    let base: i32 = if daemon { 3 } else { 2 };
    let level = (base + i32::from(verbose) - i32::from(quiet)).clamp(0, 5) as usize;
    let filter = match std::env::var("MIFIFO_LOG") {
        Ok(v) if verbose == 0 && quiet == 0 && !v.is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new(format!("mififo={}", levels[level])),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let json = daemon && !std::io::stderr().is_terminal();
    if json {
        let _ = builder.json().flatten_event(true).try_init();
    } else {
        let _ = builder.try_init();
    }
}
