//! `mififo call` and the library client (`mififo::client`).
//!
//! - [`fake`]: in-process fake servers that misbehave on purpose.
//! - [`library`]: the client API against fake servers: dialects, reply shapes,
//!   timeouts, cleanup, concurrency, reply FIFO rights.
//! - [`cli`]: the binary: exit codes, parameters, output, signals.
//! - [`access`]: root-only: permission denied, `fs.protected_fifos`, another writer uid.
//! - [`kamailio`]: interop with a real Kamailio `jsonrpcs` FIFO.
//! - [`serve`]: against the real `mififo serve`, both dialects, slow commands, privilege drop.
//! - [`latency`]: side-by-side latency with python-opensips (ignored; a measurement).

mod access;
mod cli;
mod fake;
mod kamailio;
mod latency;
mod library;
mod serve;
