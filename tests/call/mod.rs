//! `mififo call` and the library client (`mififo::client`).
//!
//! - [`fake`]: in-process fake servers that misbehave on purpose.
//! - [`library`]: the client API against fake servers: dialects, reply shapes,
//!   timeouts, cleanup, concurrency, reply FIFO rights.
//! - [`pool`]: the reply-FIFO pool of long-lived clients: reuse, retirement, cleanup.
//! - [`cli`]: the binary: exit codes, parameters, output, signals.
//! - [`hostile`]: issue 11's findings: forged, injected, doubled, oversized
//!   replies and terminal escapes are refused.
//! - [`access`]: root-only: permission denied, `fs.protected_fifos`, another writer uid,
//!   squatted server FIFOs and readers running as unrelated users.
//! - [`kamailio`]: interop with a real Kamailio `jsonrpcs` FIFO.
//! - [`serve`]: against the real `mififo serve`, both dialects, slow commands, privilege drop.
//! - [`latency`]: side-by-side latency with python-opensips (ignored; a measurement).

mod access;
mod cli;
mod fake;
mod hostile;
pub(crate) mod kamailio;
mod latency;
mod library;
mod pool;
mod serve;
mod transport;
