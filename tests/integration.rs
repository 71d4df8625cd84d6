//! Integration tests: the real `mififo` binary over real FIFOs in temp dirs.
//!
//! Table of contents (one module per subcommand):

/// Shared harness: `TestEnv`, spawning `mififo serve`, raw exchanges, interop gating.
mod util;

/// `mififo serve`: raw bytes in, exact bytes out; lifecycle; root-only ownership/ACL; PyPI clients.
mod serve;

/// `mififo call`: exit codes, dialects, timeouts, cleanup, protected_fifos; Kamailio interop.
mod call;

/// `mififo shell`: in a real terminal (tmux): completion, history, Ctrl-C/Ctrl-D; scripts.
mod shell;

/// `mififo top`: live rates under load in a terminal, keys, gaps across a restart, --json/--once.
mod top;

/// `mififo doctor`: each broken setup built for real (root) and the codes it must report.
mod doctor;

/// `mififo gateway` and `serve --forward`: HTTP clients, chaining, network namespaces.
mod gateway;

/// CLI surface: help, completions, man page, config precedence, packaging.
mod cli;

/// Soak and fault injection under load (sized for seconds; longer behind a flag).
mod reliability;
