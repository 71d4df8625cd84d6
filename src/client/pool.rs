//! Reply FIFOs kept for reuse by a long-lived [`super::Client`] (gateway,
//! bench, a library user calling in a loop): `mkfifo`, the rights, the open
//! and the `unlink` are paid once per FIFO instead of once per request.
//!
//! Rules, each for a reason:
//! - one exchange at a time per FIFO: a FIFO is taken out of the pool for
//!   the whole exchange and put back only after a reply was **accepted**
//!   (one reply, this request's id, nothing after it);
//! - the end of a reply comes from the reply itself — one complete JSON
//!   value — or from the writer's close after some data (OpenSIPS opens
//!   `O_WRONLY|O_NONBLOCK`, writes, closes per reply; Kamailio the same), so a
//!   FIFO kept open needs no EOF;
//! - any failure retires the FIFO (dropped: closed and unlinked): a timed-out
//!   request's late reply can never reach a later request on it; ids are
//!   matched anyway;
//! - before reuse, anything that arrived while idle (a late writer, someone
//!   else's injected reply) retires the FIFO too;
//! - each pooled FIFO holds a write end of its own, so a server writer's close
//!   never leaves the lasting `POLLHUP` (sticky in the kernel and in Tokio)
//!   that would wake the next exchange for nothing; a reply that pauses
//!   before its end (not JSON, or JSON in several writes) is then finished by
//!   dropping that write end and reading to the server writer's close, and
//!   the FIFO is retired afterwards;
//! - a FIFO whose ACL names another writer than the server FIFO's current
//!   owner is retired;
//! - only requests with an id in the JSON dialects are pooled: a notification's
//!   reply is an empty open-and-close, which only the `POLLHUP` of a fresh
//!   FIFO shows, and a text-dialect reply's end is ambiguous (a one-line error
//!   has no empty line); those use a fresh FIFO each.
//!
//! The pool holds at most `ClientConfig::pool` idle FIFOs; more concurrent
//! exchanges create more, and the surplus is removed when they finish. All
//! are unlinked when the last clone of the client is dropped. A pooled
//! client should stay in the Tokio runtime it first ran in (its FIFOs are
//! registered with that runtime's reactor).

use super::reply_fifo::ReplyFifo;
use std::path::PathBuf;
use std::sync::Mutex;

/// A reply FIFO kept open between exchanges.
#[derive(Debug)]
pub struct PooledFifo {
    /// The name sent in requests.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// The open, guarded FIFO (dropping it unlinks it).
    pub fifo: ReplyFifo,
    /// The uid its ACL lets write (the server FIFO's owner at creation).
    pub writer_uid: u32,
}

/// The idle FIFOs of one client.
#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<Vec<PooledFifo>>,
}

impl Pool {
    /// An idle FIFO fit for a server FIFO owned by `writer_uid`, if any; unfit
    /// ones met on the way (another writer, stray bytes) are removed.
    pub fn take(&self, writer_uid: u32) -> Option<PooledFifo> {
        loop {
            let f = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
            if f.writer_uid != writer_uid {
                tracing::debug!(path = %f.path.display(), "retiring a pooled reply FIFO: the server's user changed");
                continue;
            }
            if f.fifo.has_stray_bytes() {
                tracing::debug!(path = %f.path.display(), "retiring a pooled reply FIFO: bytes arrived while idle");
                continue;
            }
            return Some(f);
        }
    }

    /// Puts `f` back after an accepted reply, unless `max` FIFOs are idle
    /// already (then it is removed).
    pub fn put(&self, f: PooledFifo, max: usize) {
        if !f.fifo.holds_writer() {
            return; // its reply ended at the writer's close: not reusable
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < max {
            idle.push(f);
        }
    }

    /// Idle FIFOs now.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
