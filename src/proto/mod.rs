//! Wire formats of the MI FIFO.
//!
//! - [`reply_name`]: reply FIFO naming rules shared by every dialect.
//! - [`jsonrpc`]: OpenSIPS 3.x/4.x JSON-RPC request/response types and error codes.
//! - [`bridge`]: the error codes of the bridges (gateway, serve --forward).
//! - [`framing`]: the `:reply_name:{json}` stream splitter used by the server.
//! - [`print`](mod@print): cJSON-compatible compact and pretty printers for replies.
//! - [`text`]: the OpenSIPS 1.x/2.x line protocol (requests and replies).

pub mod bridge;
pub mod framing;
pub mod jsonrpc;
pub mod print;
pub mod reply_name;
pub mod text;

/// Which MI dialect is spoken on a FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// OpenSIPS 3.x/4.x: `:reply_name:{JSON-RPC request}`.
    #[default]
    Json,
    /// OpenSIPS 1.x/2.x: `:command:reply_name` + argument lines + empty line.
    Text,
    /// Kamailio `jsonrpcs` FIFO: a bare JSON-RPC object with a `reply_name` member.
    Kamailio,
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dialect::Json => "json",
            Dialect::Text => "text",
            Dialect::Kamailio => "kamailio",
        })
    }
}

/// `PIPE_BUF` on Linux: writes up to this size are atomic on a pipe or FIFO.
pub const PIPE_BUF: usize = 4096;
