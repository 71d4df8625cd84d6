//! Integration tests: the real `mififo` binary over real FIFOs in temp dirs.
//!
//! Table of contents (one module per subcommand):

/// Shared harness: `TestEnv`, spawning `mififo serve`, interop gating.
mod util;
