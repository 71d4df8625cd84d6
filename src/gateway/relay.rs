//! The seam between the HTTP side and the MI FIFO: [`Relay`] sends one
//! validated JSON-RPC request somewhere and brings back what came back.
//!
//! The production relay is the library client ([`crate::client::Client`]);
//! unit tests use fakes, so the HTTP behaviour is tested without FIFOs.

use crate::proto::jsonrpc::Request;
use std::future::Future;

/// What the MI server answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Relayed {
    /// A JSON-RPC response, passed to the HTTP client byte for byte.
    Json(Vec<u8>),
    /// Nothing (the answer to a notification).
    Empty,
    /// Something that is not a JSON-RPC response (OpenSIPS's plain-text
    /// engine errors such as `failed to print response`).
    Text(String),
}

/// Which way a relay failed; decides the HTTP status and JSON-RPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayErrorKind {
    /// No server: the FIFO is missing, not a FIFO, or has no reader.
    NoServer,
    /// The gateway may not open the FIFO or create its reply FIFO.
    PermissionDenied,
    /// No complete reply in time.
    Timeout,
    /// Anything else local to the gateway.
    Local,
}

/// A failed relay: its kind and a human message naming the path and cause.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RelayError {
    /// The class of failure.
    pub kind: RelayErrorKind,
    /// The full message (becomes the JSON-RPC error's `data`).
    pub message: String,
}

impl RelayError {
    /// An error of `kind` with `message`.
    pub fn new(kind: RelayErrorKind, message: impl Into<String>) -> Self {
        RelayError {
            kind,
            message: message.into(),
        }
    }
}

/// Sends one request to the MI server and returns its answer.
pub trait Relay: Send + Sync + 'static {
    /// Relays `req` (its `id` unchanged). Dropping the future must release
    /// everything it holds (reply FIFOs included): the gateway drops it on
    /// timeout, on client disconnect and at shutdown.
    fn relay(&self, req: &Request) -> impl Future<Output = Result<Relayed, RelayError>> + Send;
}
