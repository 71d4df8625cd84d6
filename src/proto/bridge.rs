//! The JSON-RPC error codes of the bridges: `mififo gateway` (HTTP → FIFO) and
//! `mififo serve --forward` (FIFO → HTTP), documented in `docs/gateway.md`.
//! The HTTP status of each is the gateway's business (`gateway::code::status_of`).
//!
//! OpenSIPS uses the JSON-RPC reserved codes (-32700…-32600), -32000 and, in
//! 4.0, -32001. JSON-RPC leaves -32000…-32099 to the implementation, so the
//! transport failures that only a bridge can have live in -32010…-32029,
//! clear of anything OpenSIPS sends. They are shared by `mififo gateway`
//! (HTTP → FIFO, -32010…) and `mififo serve --forward` (FIFO → HTTP, -32020…).

/// Nothing reads the MI FIFO (missing, not a FIFO, or no reader): HTTP 503.
pub const FIFO_UNAVAILABLE: i64 = -32010;
/// The gateway may not open the MI FIFO or its reply directory: HTTP 502.
pub const FIFO_PERMISSION: i64 = -32011;
/// No complete reply within the timeout: HTTP 504.
pub const FIFO_TIMEOUT: i64 = -32012;
/// A local failure of the gateway (cannot create a reply FIFO, request too
/// large for one FIFO write, …): HTTP 500.
pub const GATEWAY_ERROR: i64 = -32013;
/// The FIFO server answered something that is not a JSON-RPC reply: HTTP 502.
pub const FIFO_BAD_REPLY: i64 = -32014;
/// The request body is larger than `--max-body`: HTTP 413.
pub const BODY_TOO_LARGE: i64 = -32015;
/// The client address is not in the allow-list: HTTP 403.
pub const FORBIDDEN: i64 = -32016;
/// Wrong URL path (HTTP 404) or method (HTTP 405).
pub const NOT_FOUND: i64 = -32017;
/// The `Host` header names neither the listen address nor a `--host` name
/// (DNS rebinding): HTTP 421.
pub const MISDIRECTED: i64 = -32018;
/// The body is not declared `Content-Type: application/json` (a browser's
/// preflight-free "simple" request): HTTP 415.
pub const UNSUPPORTED_MEDIA_TYPE: i64 = -32019;
/// No or wrong credentials while `--users-file` is set: HTTP 401.
pub const UNAUTHORIZED: i64 = -32024;
/// The command policy refuses this method (for this user): HTTP 403.
pub const METHOD_REFUSED: i64 = -32025;
/// The client did not send its headers or body within `--client-timeout`: HTTP 408.
pub const REQUEST_TIMEOUT: i64 = -32026;
/// Too many connections (`--max-connections`): HTTP 503, sent before closing.
pub const OVERLOADED: i64 = -32027;

/// `serve --forward`: the upstream refused the connection or could not be reached.
pub const UPSTREAM_UNREACHABLE: i64 = -32020;
/// `serve --forward`: the upstream did not answer within the timeout.
pub const UPSTREAM_TIMEOUT: i64 = -32021;
/// `serve --forward`: the upstream answered with an HTTP error status and no JSON-RPC error.
pub const UPSTREAM_HTTP_ERROR: i64 = -32022;
/// `serve --forward`: the upstream's body is not a JSON-RPC response.
pub const UPSTREAM_BAD_REPLY: i64 = -32023;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_clear_of_opensips() {
        let all = [
            FIFO_UNAVAILABLE,
            FIFO_PERMISSION,
            FIFO_TIMEOUT,
            GATEWAY_ERROR,
            FIFO_BAD_REPLY,
            BODY_TOO_LARGE,
            FORBIDDEN,
            NOT_FOUND,
            MISDIRECTED,
            UNSUPPORTED_MEDIA_TYPE,
            UNAUTHORIZED,
            METHOD_REFUSED,
            REQUEST_TIMEOUT,
            OVERLOADED,
            UPSTREAM_UNREACHABLE,
            UPSTREAM_TIMEOUT,
            UPSTREAM_HTTP_ERROR,
            UPSTREAM_BAD_REPLY,
        ];
        let mut seen = std::collections::HashSet::new();
        for c in all {
            assert!(seen.insert(c), "duplicate code {c}");
            assert!((-32099..=-32002).contains(&c), "{c} outside the free range");
        }
    }
}
