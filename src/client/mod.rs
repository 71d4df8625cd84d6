//! The MI FIFO client used by `mififo call`, `doctor`, `gateway` and `bench`.
//!
//! One exchange ([`Client::send`]):
//! 1. open the server FIFO `O_WRONLY|O_NONBLOCK` **without `O_CREAT`** — `ENXIO`
//!    means nothing reads it (reported at once, never a hang), and
//!    `fs.protected_fifos` cannot refuse us because we never ask to create;
//! 2. create a uniquely named reply FIFO with the least rights the server's
//!    user needs ([`reply_fifo`]) and open it for reading **before** sending;
//! 3. write the request in one `write()` (≤ `PIPE_BUF` unless `allow_large`);
//! 4. wait, up to the timeout, for a writer to open, write and close the reply
//!    FIFO; read to EOF;
//! 5. unlink the reply FIFO — also on error, timeout, or when the future is
//!    dropped (Ctrl-C handling in the CLI drops it).
//!
//! - [`error`]: [`Error`] and [`ErrorKind`] (exit codes 3/4/5/2).
//! - [`wire`]: request encoding and reply classification per dialect.
//! - [`reply_fifo`]: creation, rights (mode/ACL), reading, cleanup.
//! - [`params`]: command-line parameter syntax (`key=value`, `key:=JSON`, array commands).
//! - [`render`]: human output of a reply (pretty JSON, optional colour).

pub mod error;
pub mod params;
pub mod render;
pub mod reply_fifo;
pub mod wire;

pub use error::{Error, ErrorKind, TimeoutStage};

use crate::proto::jsonrpc::{Params, Request, Response};
use crate::proto::{reply_name, Dialect, PIPE_BUF};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::unix::pipe;
use tokio::time::Instant;

/// Where and how to reach an MI server.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// The server FIFO (OpenSIPS `fifo_name`, Kamailio jsonrpcs `fifo_name`).
    pub fifo: PathBuf,
    /// Where reply FIFOs are made; must be the server's reply directory.
    pub reply_dir: PathBuf,
    /// Deadline for the whole exchange (sending and the full reply).
    pub timeout: Duration,
    /// Wire dialect.
    pub dialect: Dialect,
    /// Send requests larger than `PIPE_BUF` anyway (they may interleave).
    pub allow_large: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            fifo: PathBuf::from("/tmp/opensips_fifo"),
            reply_dir: PathBuf::from("/tmp/"),
            timeout: Duration::from_secs(10),
            dialect: Dialect::Json,
            allow_large: false,
        }
    }
}

/// An MI client. Cheap to clone; every exchange uses its own reply FIFO, so
/// any number of tasks may use one client at the same time.
#[derive(Debug, Clone)]
pub struct Client {
    cfg: Arc<ClientConfig>,
}

/// A reply as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The bytes the server wrote, untouched.
    pub raw: Vec<u8>,
    /// What they are.
    pub kind: ReplyKind,
}

/// What a reply contains.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyKind {
    /// A JSON-RPC response (result or error).
    Json(Response),
    /// The server closed the reply FIFO without writing (OpenSIPS does this for notifications).
    Empty,
    /// Not JSON: an OpenSIPS engine error (`failed to print response`) in the
    /// JSON dialects, or the whole reply of the text dialect.
    Text(String),
}

impl Reply {
    /// True when the server reported a failure: a JSON-RPC error, a plain-text
    /// reply in a JSON dialect, or a text-dialect status outside 2xx.
    pub fn is_error(&self, dialect: Dialect) -> bool {
        match (&self.kind, dialect) {
            (ReplyKind::Json(r), _) => {
                matches!(r.outcome, crate::proto::jsonrpc::Outcome::Error(_))
            }
            (ReplyKind::Empty, _) => false,
            (ReplyKind::Text(t), Dialect::Text) => {
                !matches!(wire::text_status(t), Some((200..=299, _)))
            }
            (ReplyKind::Text(_), _) => true,
        }
    }
}

impl Client {
    /// A client for `cfg`.
    pub fn new(cfg: ClientConfig) -> Client {
        Client { cfg: Arc::new(cfg) }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Sends `method` with `params` and a fresh numeric id.
    pub async fn call(&self, method: &str, params: Params) -> Result<Reply, Error> {
        let id = serde_json::Value::from(fastrand::u32(1..=i32::MAX as u32));
        self.send(&Request::new(method, params, Some(id))).await
    }

    /// Sends `request` (its `id` used as given; `None` sends a notification)
    /// and waits for the reply.
    pub async fn send(&self, request: &Request) -> Result<Reply, Error> {
        let cfg = &*self.cfg;
        let deadline = Instant::now() + cfg.timeout;
        let reply_dir = reply_name::normalize_reply_dir(&cfg.reply_dir);
        let (name, reply_path) = reply_fifo::unique_name(&reply_dir)?;
        let bytes = wire::encode(cfg.dialect, &name, request)?;
        if bytes.len() > PIPE_BUF && !cfg.allow_large {
            return Err(Error::TooLarge { len: bytes.len() });
        }

        let (sender, owner) = open_server_fifo(&cfg.fifo)?;
        let reply = reply_fifo::ReplyFifo::create(&reply_path, owner, &cfg.fifo)?;
        let timeout_error = |stage| Error::Timeout {
            fifo: cfg.fifo.clone(),
            reply_path: reply_path.clone(),
            reply_dir: reply_dir.clone(),
            timeout: cfg.timeout,
            stage,
            server_gone: stage == TimeoutStage::NoReply && !has_reader(&cfg.fifo),
        };
        write_request(&sender, &bytes, &cfg.fifo, deadline, &timeout_error).await?;
        drop(sender);
        let raw = reply.read_reply(deadline, &timeout_error).await?;
        drop(reply);
        let kind = wire::decode(cfg.dialect, &raw);
        if let (ReplyKind::Json(r), Some(id)) = (&kind, &request.id) {
            if &r.id != id && !r.id.is_null() {
                tracing::warn!(sent = %id, got = %r.id, "reply id differs from the request id");
            }
        }
        Ok(Reply { raw, kind })
    }
}

/// Opens the server FIFO for writing without `O_CREAT` and without blocking;
/// returns the sender and the FIFO owner's uid (the server's user).
fn open_server_fifo(path: &Path) -> Result<(pipe::Sender, u32), Error> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| classify_open_error(path, source))?;
    let meta = file.metadata().map_err(|source| Error::Io {
        op: "stat the server FIFO",
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.file_type().is_fifo() {
        return Err(Error::NotFifo {
            path: path.to_path_buf(),
            what: describe(&meta.file_type()),
        });
    }
    let sender = pipe::Sender::from_file_unchecked(file).map_err(|source| Error::Io {
        op: "watch the server FIFO",
        path: path.to_path_buf(),
        source,
    })?;
    Ok((sender, meta.uid()))
}

/// True when something reads `path` (a non-blocking write open succeeds).
fn has_reader(path: &Path) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .is_ok()
}

fn classify_open_error(path: &Path, source: io::Error) -> Error {
    let path = path.to_path_buf();
    match source.raw_os_error() {
        Some(libc::ENXIO) => {
            // A socket at the path also gives ENXIO.
            match std::fs::metadata(&path) {
                Ok(m) if !m.file_type().is_fifo() => Error::NotFifo {
                    what: describe(&m.file_type()),
                    path,
                },
                _ => Error::NoReader { path },
            }
        }
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => Error::Missing { path },
        Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied {
            op: "open the server FIFO",
            fifo: path.clone(),
            path,
            source,
        },
        Some(libc::EISDIR) => Error::NotFifo {
            path,
            what: "a directory",
        },
        _ => Error::Io {
            op: "open the server FIFO",
            path,
            source,
        },
    }
}

fn describe(t: &std::fs::FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a FIFO"
    }
}

/// Writes `bytes`; a request ≤ `PIPE_BUF` goes out in one atomic `write()`
/// (a non-blocking write of that size is all-or-nothing). Waits for room
/// while the pipe is full, up to the deadline.
async fn write_request(
    sender: &pipe::Sender,
    bytes: &[u8],
    fifo: &Path,
    deadline: Instant,
    timeout_error: &impl Fn(TimeoutStage) -> Error,
) -> Result<(), Error> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match sender.try_write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match tokio::time::timeout_at(deadline, sender.writable()).await {
                    Err(_) => return Err(timeout_error(TimeoutStage::Send)),
                    Ok(Err(source)) => {
                        return Err(Error::Io {
                            op: "wait to write to the server FIFO",
                            path: fifo.to_path_buf(),
                            source,
                        })
                    }
                    Ok(Ok(())) => {}
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The reader went away between open and write.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                return Err(Error::NoReader {
                    path: fifo.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(Error::Io {
                    op: "write the request to",
                    path: fifo.to_path_buf(),
                    source,
                })
            }
        }
    }
    Ok(())
}
