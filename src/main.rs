//! The `mififo` binary: parse arguments, set up logging, run, map to an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
