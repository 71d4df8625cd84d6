//! The audit log: one structured line per HTTP request.
//!
//! Fields: `peer`, `user` (`-` without authentication), `method` (the MI
//! method, `-` when the request never got that far), `status` (HTTP; 499
//! when the client went away before the answer),
//! `code` (the JSON-RPC error code, 0 for a result), `ms` (duration). The
//! time comes from the log format (JSON lines carry `timestamp`; the journal
//! stamps each entry). Params are logged only with `--audit-params`, and
//! then bounded. Everything the client chose (user, method, params) is
//! escaped and cut to a fixed length, so one line stays one line.
//!
//! The events use the target `mififo::audit`: successful requests at INFO,
//! refused or failed ones at WARN (journal priority 4), so
//! `MIFIFO_LOG=mififo::audit=info,mififo=warn` keeps just the audit trail.

use crate::term::excerpt as printable;
use std::net::IpAddr;
use std::time::Instant;

/// Longest `params` excerpt logged with `--audit-params`.
const MAX_PARAMS: usize = 512;
/// Longest user or method name logged.
const MAX_NAME: usize = 64;

/// What the audit line says about one request, filled in as it is handled.
#[derive(Debug)]
pub struct Audit {
    start: Instant,
    /// The client address.
    pub peer: IpAddr,
    /// The authenticated (or claimed, when refused) user.
    pub user: Option<String>,
    /// The MI method.
    pub method: Option<String>,
    /// The params as JSON, when `--audit-params` is on.
    pub params: Option<String>,
    emitted: bool,
}

/// The status logged for a request whose client went away before the
/// answer (nginx's convention; never sent).
pub const CLIENT_GONE: u16 = 499;

impl Drop for Audit {
    /// A request dropped unanswered (the client hung up, the gateway
    /// stopped) still gets its line.
    fn drop(&mut self) {
        if !self.emitted {
            self.emit(CLIENT_GONE, 0);
        }
    }
}

impl Audit {
    /// Starts the clock for a request from `peer`.
    pub fn new(peer: IpAddr) -> Audit {
        Audit {
            start: Instant::now(),
            peer,
            user: None,
            method: None,
            params: None,
            emitted: false,
        }
    }

    /// Writes the line (once).
    pub fn emit(&mut self, status: u16, code: i64) {
        self.emitted = true;
        let ok = status < 400 && code == 0;
        // With the audit target filtered out (`-q`, `MIFIFO_LOG`), nothing
        // is formatted.
        let on = if ok {
            tracing::enabled!(target: "mififo::audit", tracing::Level::INFO)
        } else {
            tracing::enabled!(target: "mififo::audit", tracing::Level::WARN)
        };
        if !on {
            return;
        }
        let user = self
            .user
            .as_deref()
            .map_or_else(|| "-".to_string(), |u| printable(u, MAX_NAME));
        let method = self
            .method
            .as_deref()
            .map_or_else(|| "-".to_string(), |m| printable(m, MAX_NAME));
        let ms = self.start.elapsed().as_millis() as u64;
        let peer = self.peer;
        match (&self.params, ok) {
            (Some(p), true) => {
                let params = printable(p, MAX_PARAMS);
                tracing::info!(target: "mififo::audit", %peer, user, method, status, code, ms, params, "request");
            }
            (Some(p), false) => {
                let params = printable(p, MAX_PARAMS);
                tracing::warn!(target: "mififo::audit", %peer, user, method, status, code, ms, params, "request");
            }
            (None, true) => {
                tracing::info!(target: "mififo::audit", %peer, user, method, status, code, ms, "request");
            }
            (None, false) => {
                tracing::warn!(target: "mififo::audit", %peer, user, method, status, code, ms, "request");
            }
        }
    }
}

/// The JSON-RPC error code in a reply body, 0 when it is a result. Only
/// bodies that mention `"error"` are parsed.
pub fn reply_code(body: &[u8]) -> i64 {
    if !body.windows(7).any(|w| w == b"\"error\"") {
        return 0;
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("code")?.as_i64())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_from_replies() {
        assert_eq!(reply_code(br#"{"jsonrpc":"2.0","result":"ok","id":1}"#), 0);
        assert_eq!(
            reply_code(br#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"x"},"id":1}"#),
            -32601
        );
        assert_eq!(reply_code(b""), 0);
    }
}
