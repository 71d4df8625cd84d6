//! The production [`Relay`]: the library MI client over the FIFO.
//!
//! The client owns reply-FIFO creation and cleanup (its guards unlink the
//! reply FIFO when the exchange future is dropped), so a timed-out or
//! abandoned HTTP request leaves nothing behind in the reply directory.

use super::relay::{Relay, RelayError, RelayErrorKind, Relayed};
use crate::client::{Client, ErrorKind, ReplyKind};
use crate::proto::jsonrpc::Request;

impl Relay for Client {
    async fn relay(&self, req: &Request) -> Result<Relayed, RelayError> {
        match self.send(req).await {
            Ok(reply) => Ok(match reply.kind {
                ReplyKind::Json(_) => Relayed::Json(reply.raw),
                ReplyKind::Empty => Relayed::Empty,
                ReplyKind::Text(t) => Relayed::Text(t),
            }),
            Err(e) => {
                let kind = match e.kind() {
                    ErrorKind::NoServer => RelayErrorKind::NoServer,
                    ErrorKind::PermissionDenied => RelayErrorKind::PermissionDenied,
                    ErrorKind::Timeout => RelayErrorKind::Timeout,
                    _ => RelayErrorKind::Local,
                };
                let mut message = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(cause) = src {
                    let c = cause.to_string();
                    if !message.contains(&c) {
                        message.push_str(": ");
                        message.push_str(&c);
                    }
                    src = cause.source();
                }
                Err(RelayError::new(kind, message))
            }
        }
    }
}
