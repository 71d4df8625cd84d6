//! Client errors: each names the operation, the path and the cause, and maps
//! to one [`ErrorKind`] (and so to one `mififo call` exit code).

use crate::proto::reply_name::ReplyNameError;
use crate::proto::PIPE_BUF;
use std::path::PathBuf;
use std::time::Duration;

/// Coarse class of an [`Error`]; `mififo call` maps it to its exit code.
///
/// The reply checks have one kind (and exit code) each, so scripts can tell
/// a forged or injected reply (6, 7, 8) from an oversized one (9) and from a
/// server FIFO we refused to talk to (10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No server: the FIFO is missing, not a FIFO, or nothing reads it (exit 3).
    NoServer,
    /// The kernel refused an open or create (exit 4).
    PermissionDenied,
    /// The server did not take the request or did not answer in time (exit 5).
    Timeout,
    /// Anything else on our side: bad request, I/O error, reply dir problems (exit 2).
    Local,
    /// The reply's id is not the request's: it answers another request (exit 6).
    ForeignReply,
    /// More than one reply arrived on the reply FIFO (exit 7).
    SecondReply,
    /// Bytes that are not a reply followed the reply (exit 8).
    TrailingData,
    /// The reply grew past the configured maximum (exit 9).
    ReplyTooLarge,
    /// The server FIFO may belong to someone else; nothing was sent (exit 10).
    Untrusted,
}

impl ErrorKind {
    /// The `mififo call` exit code for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Local => 2,
            ErrorKind::NoServer => 3,
            ErrorKind::PermissionDenied => 4,
            ErrorKind::Timeout => 5,
            ErrorKind::ForeignReply => 6,
            ErrorKind::SecondReply => 7,
            ErrorKind::TrailingData => 8,
            ErrorKind::ReplyTooLarge => 9,
            ErrorKind::Untrusted => 10,
        }
    }
}

/// Where a timeout happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutStage {
    /// The server FIFO stayed full: the server is not reading requests.
    Send,
    /// The request was sent but no writer ever opened the reply FIFO.
    NoReply,
    /// A writer opened the reply FIFO but did not close it in time.
    PartialReply {
        /// Bytes received before the deadline.
        received: usize,
    },
}

/// Why an exchange with an MI server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server FIFO does not exist.
    #[error("server FIFO '{}' does not exist: the server is not running or uses another path (its fifo_name)", path.display())]
    Missing {
        /// The server FIFO path.
        path: PathBuf,
    },
    /// `ENXIO`: the FIFO exists and we may write it, but no process reads it.
    #[error("server FIFO '{}' exists but nothing reads it: the server is not running or the FIFO is stale", path.display())]
    NoReader {
        /// The server FIFO path.
        path: PathBuf,
    },
    /// Something other than a FIFO is at the server path.
    #[error("'{}' is not a FIFO but {what}: no MI server listens there", path.display())]
    NotFifo {
        /// The path.
        path: PathBuf,
        /// What was found, e.g. `a regular file`.
        what: &'static str,
    },
    /// `EACCES`/`EPERM` opening the server FIFO or creating the reply FIFO.
    #[error("permission denied: cannot {op} '{}': {os_error}; run 'mififo doctor --fifo {}' to see why", path.display(), fifo.display())]
    PermissionDenied {
        /// What we tried, e.g. `open the server FIFO`.
        op: &'static str,
        /// The path the kernel refused.
        path: PathBuf,
        /// The server FIFO (for the doctor hint).
        fifo: PathBuf,
        /// The OS error: in the message, before the hint, so not a
        /// `source()` (which would print it a second time after the hint).
        os_error: std::io::Error,
    },
    /// The deadline passed.
    #[error("{}", timeout_message(fifo, reply_path, reply_dir, *timeout, *stage, *server_gone))]
    Timeout {
        /// The server FIFO.
        fifo: PathBuf,
        /// The reply FIFO we waited on.
        reply_path: PathBuf,
        /// The reply directory we used.
        reply_dir: PathBuf,
        /// The configured timeout.
        timeout: Duration,
        /// Where it happened.
        stage: TimeoutStage,
        /// Nothing read the server FIFO any more when the deadline passed
        /// (the server exited while we waited).
        server_gone: bool,
    },
    /// The request does not fit in one atomic write.
    #[error("request is {len} bytes, more than PIPE_BUF ({PIPE_BUF}): it cannot be written atomically, so concurrent clients could interleave with it and the server may lose it; shorten it or pass --allow-large")]
    TooLarge {
        /// Encoded request size including the framing.
        len: usize,
    },
    /// The reply name or path is refused by the server's rules.
    #[error("cannot use reply directory '{}'", dir.display())]
    ReplyName {
        /// The reply directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: ReplyNameError,
    },
    /// The request cannot be expressed in the chosen dialect.
    #[error("cannot encode the request for the {dialect} dialect: {reason}")]
    Encode {
        /// The dialect.
        dialect: crate::proto::Dialect,
        /// Why.
        reason: String,
    },
    /// The reply carries another id than the request: it is the answer to
    /// someone else's request (injected by a local user who wrote a request
    /// naming our reply FIFO) or forged. Nothing of it is used.
    #[error("rejected the reply on '{}': its id {got} is not this request's id {sent}, so it answers another request (someone else wrote to the server naming our reply FIFO, or forged it); nothing of it is used", reply_path.display())]
    ForeignReply {
        /// The reply FIFO.
        reply_path: PathBuf,
        /// The id we sent (`null` for a notification).
        sent: String,
        /// The id in the reply, as JSON, cut to 64 bytes.
        got: String,
    },
    /// A second complete reply followed the first.
    #[error("rejected the reply on '{}': a second reply ({extra} bytes) followed the first, so someone else's reply was mixed into ours; nothing of it is used", reply_path.display())]
    SecondReply {
        /// The reply FIFO.
        reply_path: PathBuf,
        /// Bytes after the end of the first reply.
        extra: usize,
    },
    /// Bytes that are not a reply followed the end of the reply.
    #[error("rejected the reply on '{}': {extra} bytes that are not part of it followed its end; nothing of it is used", reply_path.display())]
    TrailingData {
        /// The reply FIFO.
        reply_path: PathBuf,
        /// Bytes after the end of the reply.
        extra: usize,
    },
    /// The reply grew past the maximum size.
    #[error("the reply on '{}' is larger than the maximum of {max} bytes; stopped reading (raise it with --max-reply)", reply_path.display())]
    ReplyTooLarge {
        /// The reply FIFO.
        reply_path: PathBuf,
        /// The maximum.
        max: usize,
    },
    /// The server FIFO may belong to someone other than the server: nothing
    /// was sent to it, and no reply FIFO was made.
    #[error("refusing to send to '{}': {reason}. If that user really runs the MI server, trust it with --trust-user {suggest}", fifo.display())]
    Untrusted {
        /// The server FIFO.
        fifo: PathBuf,
        /// Who owns or reads it, and why that is suspicious.
        reason: String,
        /// The user name (or uid) to pass to `--trust-user`.
        suggest: String,
    },
    /// A URL that is not one of the transports' forms.
    #[error("bad --url '{url}': {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP auth file cannot be used.
    #[error("cannot use auth file '{}': {reason}", path.display())]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Nothing answers at the URL (connection refused, ICMP unreachable,
    /// no such host, TLS handshake failed).
    #[error("no MI server at '{url}'")]
    Unreachable {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The URL transport's deadline passed.
    #[error("no reply from '{url}' within {}: the server is not running there, is busy, or dropped the request (a datagram server sends nothing for a reply too large for one datagram)", format_duration(*timeout))]
    UrlTimeout {
        /// The URL.
        url: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The HTTP server refused us (401/403).
    #[error("'{url}' answered HTTP {status}: {}", if *sent_credentials { "the credentials of the auth file were refused" } else { "it needs credentials; pass --auth-file FILE (user:password)" })]
    HttpAuth {
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// Whether we sent credentials.
        sent_credentials: bool,
    },
    /// Another I/O failure.
    #[error("cannot {op} '{}'", path.display())]
    Io {
        /// What we tried.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The coarse class (and exit code) of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Missing { .. } | Error::NoReader { .. } | Error::NotFifo { .. } => {
                ErrorKind::NoServer
            }
            Error::Unreachable { .. } => ErrorKind::NoServer,
            Error::PermissionDenied { .. } | Error::HttpAuth { .. } => ErrorKind::PermissionDenied,
            Error::Timeout { .. } | Error::UrlTimeout { .. } => ErrorKind::Timeout,
            Error::ForeignReply { .. } => ErrorKind::ForeignReply,
            Error::SecondReply { .. } => ErrorKind::SecondReply,
            Error::TrailingData { .. } => ErrorKind::TrailingData,
            Error::ReplyTooLarge { .. } => ErrorKind::ReplyTooLarge,
            Error::Untrusted { .. } => ErrorKind::Untrusted,
            Error::TooLarge { .. }
            | Error::ReplyName { .. }
            | Error::Encode { .. }
            | Error::BadUrl { .. }
            | Error::AuthFile { .. }
            | Error::Io { .. } => ErrorKind::Local,
        }
    }
}

/// `1.5s`, `500ms`, `2m` — the way durations are written on our command line.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        format!("{}µs", d.as_micros())
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn timeout_message(
    fifo: &std::path::Path,
    reply_path: &std::path::Path,
    reply_dir: &std::path::Path,
    timeout: Duration,
    stage: TimeoutStage,
    server_gone: bool,
) -> String {
    let t = format_duration(timeout);
    if server_gone {
        return format!(
            "timed out after {t}: the server stopped reading '{}' while we waited for the reply (it exited or was restarted)",
            fifo.display()
        );
    }
    match stage {
        TimeoutStage::Send => format!(
            "timed out after {t} writing to '{}': the FIFO stayed full, so the server is not reading requests (hung or overloaded)",
            fifo.display()
        ),
        TimeoutStage::NoReply => format!(
            "timed out after {t}: no reply from '{}' — nothing opened the reply FIFO '{}'. The server's reply directory \
             (OpenSIPS mi_fifo reply_dir, Kamailio jsonrpcs fifo_reply_dir) must be the client's, '{}'. \
             Otherwise the server is busy, dropped the request, or cannot write there (try 'mififo doctor --fifo {}')",
            fifo.display(),
            reply_path.display(),
            reply_dir.display(),
            fifo.display()
        ),
        TimeoutStage::PartialReply { received } => format!(
            "timed out after {t}: the server started replying on '{}' ({received} bytes) but never finished",
            reply_path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_command_line() {
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn kinds_map_to_exit_codes() {
        let e = Error::NoReader { path: "/x".into() };
        assert_eq!(e.kind().exit_code(), 3);
        let e = Error::TooLarge { len: 5000 };
        assert_eq!(e.kind().exit_code(), 2);
        assert!(e.to_string().contains("--allow-large"));
    }

    #[test]
    fn messages_do_not_repeat_their_source() {
        use std::error::Error as _;
        let io = || std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        for e in [
            Error::Unreachable {
                url: "http://127.0.0.1:1/mi".into(),
                source: io(),
            },
            Error::Io {
                op: "read the reply",
                path: "/tmp/r".into(),
                source: io(),
            },
        ] {
            let cause = e.source().unwrap().to_string();
            assert!(!e.to_string().contains(&cause), "{e}");
            let line = crate::error::chain(&e);
            assert_eq!(line.matches(&cause).count(), 1, "{line}");
            assert_eq!(line, format!("{e}: {cause}"));
        }
        // The one that names its cause mid-sentence does not also return it.
        let e = Error::PermissionDenied {
            op: "open the server FIFO",
            path: "/tmp/f".into(),
            fifo: "/tmp/f".into(),
            os_error: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        assert!(e.source().is_none());
        let line = crate::error::chain(&e);
        assert_eq!(line.matches("os error 13").count(), 1, "{line}");
    }

    #[test]
    fn timeout_names_the_reply_dir() {
        let e = Error::Timeout {
            fifo: "/run/opensips/opensips_fifo".into(),
            reply_path: "/tmp/x".into(),
            reply_dir: "/tmp/".into(),
            timeout: Duration::from_secs(10),
            stage: TimeoutStage::NoReply,
            server_gone: false,
        };
        let s = e.to_string();
        assert!(s.contains("reply directory"), "{s}");
        assert!(s.contains("'/tmp/'"), "{s}");
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
}
