//! The production [`Relay`]: the library MI client over the FIFO.
//!
//! The client owns reply-FIFO creation and cleanup (its guards unlink the
//! reply FIFO when the exchange future is dropped), so a timed-out or
//! abandoned HTTP request leaves nothing behind in the reply directory.
//!
//! The HTTP caller's id never goes down the FIFO: each request gets the
//! client's own fresh id (random, 1..2^31−1, which OpenSIPS echoes exactly —
//! it clamps larger ids), so the client's id match holds whatever the caller
//! sent (a string, a float, 2^53), and the caller's id is put back into the
//! reply, printed as OpenSIPS's mi_http prints it (cJSON, compact).

use super::relay::{Relay, RelayError, RelayErrorKind, Relayed};
use crate::client::{fresh_id, Client, ErrorKind, ReplyKind};
use crate::proto::jsonrpc::Request;

impl Relay for Client {
    async fn relay(&self, req: &Request) -> Result<Relayed, RelayError> {
        let ours = Request {
            id: req.id.as_ref().map(|_| fresh_id().into()),
            method: req.method.clone(),
            params: req.params.clone(),
        };
        match self.send(&ours).await {
            Ok(reply) => Ok(match reply.kind {
                ReplyKind::Json(mut resp) => match &req.id {
                    Some(caller) => {
                        resp.id = caller.clone();
                        Relayed::Json(crate::proto::print::print(&resp.to_value(), false).into())
                    }
                    None => Relayed::Json(reply.raw),
                },
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
                let message = crate::error::chain(&e);
                Err(RelayError::new(kind, message))
            }
        }
    }
}
