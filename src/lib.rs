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
//! - [`sys`]: the only module allowed to use `unsafe` (raw syscalls).
//!
//! The binary (`src/main.rs`, `src/cli/`) only parses arguments, sets up
//! logging and maps results to exit codes.

pub mod bench;
pub mod client;
pub mod config;
pub mod doctor;
pub mod fifo;
pub mod gateway;
pub mod proto;
pub mod server;
#[allow(unsafe_code)]
pub mod sys;
