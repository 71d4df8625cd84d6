//! mififo: a server, client, doctor and HTTP gateway for the OpenSIPS-style
//! management-interface FIFO (MI FIFO).
//!
//! # Layout
//!
//! - [`proto`]: wire formats — reply names, JSON-RPC types, the `:name:{json}`
//!   framer, cJSON-compatible printers, the 1.x/2.x text dialect, Kamailio's dialect.
//! - [`fifo`]: FIFO creation, reply-FIFO opening and verification, cleanup guards.
//! - [`server`]: `mififo serve` — owns an MI FIFO and answers like OpenSIPS.
//! - [`client`]: `mififo call` — the MI client used by every other part.
//! - [`config`]: where the FIFO and reply directory come from (flag > env > config file > default).
//! - [`doctor`]: `mififo doctor` — explains why a process cannot talk to the FIFO.
//! - [`gateway`]: `mififo gateway` — HTTP JSON-RPC ⇄ FIFO bridge.
//! - [`bench`](mod@bench): `mififo bench` — load generator and measurements.
//! - [`shell`]: `mififo shell` — line parsing, completion catalog, reply formatting.
//! - [`top`]: `mififo top` — statistics sampling, rates, gaps, sparklines.
//! - [`term`]: escaping server-sent text before it reaches a terminal.
//!
//! The binary (`src/main.rs`, `src/cli/`) only parses arguments, sets up
//! logging and maps results to exit codes.
//!
//! There is no `unsafe` code: every system call goes through `nix`, `xattr`
//! or the standard library (the crate denies `unsafe_code`). The doctor's
//! probe, which must enter another mount namespace from a single-threaded
//! process, re-executes the binary (`mififo __probe`) instead of forking.

pub mod bench;
pub mod client;
pub mod config;
pub mod doctor;
pub mod error;
pub mod fifo;
pub mod gateway;
pub mod proto;
pub mod record;
pub mod server;
pub mod shell;
pub mod sys;
pub mod term;
pub mod top;
