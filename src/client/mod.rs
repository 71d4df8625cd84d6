//! The MI FIFO client used by `mififo call`, `doctor`, `gateway` and `bench`.
//!
//! One exchange ([`Client::send`]):
//! 1. open the server FIFO `O_WRONLY|O_NONBLOCK` **without `O_CREAT`** — `ENXIO`
//!    means nothing reads it (reported at once, never a hang), and
//!    `fs.protected_fifos` cannot refuse us because we never ask to create;
//!    then check whom it belongs to ([`trust`]): a FIFO another user may have
//!    squatted is refused before anything is written;
//! 2. create a uniquely named reply FIFO with the least rights the server's
//!    user needs ([`reply_fifo`]) and open it for reading **before** sending;
//! 3. write the request in one `write()` (≤ `PIPE_BUF` unless `allow_large`);
//! 4. wait, up to the timeout, for a writer to open, write and close the reply
//!    FIFO; read to EOF, at most `max_reply` bytes; accept the bytes only if
//!    they are exactly one reply carrying this request's id ([`accept`]);
//! 5. unlink the reply FIFO — also on error, timeout, or when the future is
//!    dropped (Ctrl-C handling in the CLI drops it).
//!
//! - [`error`]: [`Error`] and [`ErrorKind`] (exit codes 2–10).
//! - [`accept`]: is this the reply to this request (id, one value, nothing after)?
//! - [`compact`]: a reply already in compact cJSON form, relayed without a parse.
//! - [`trust`]: who owns and reads the server FIFO, checked before sending.
//! - [`pool`]: reply FIFOs kept open and reused by a long-lived client
//!   ([`ClientConfig::pool`]).
//! - [`wire`]: request encoding and reply classification per dialect.
//! - [`reply_fifo`]: creation, rights (mode/ACL), reading, cleanup.
//! - [`params`]: command-line parameter syntax (`key=value`, `key:=JSON`, array commands).
//! - [`render`]: human output of a reply (pretty JSON, optional colour).

pub mod accept;
pub mod compact;
pub mod error;
pub mod params;
pub mod pool;
pub mod render;
pub mod reply_fifo;
pub mod transport;
pub mod trust;
pub mod wire;

pub use error::{Error, ErrorKind, TimeoutStage};
pub use trust::Trust;

use crate::proto::jsonrpc::{Params, Request, Response};
use crate::proto::{reply_name, Dialect, PIPE_BUF};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
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
    /// The largest reply accepted, in bytes; past it the exchange fails with
    /// [`Error::ReplyTooLarge`] and reading stops (memory stays bounded).
    pub max_reply: usize,
    /// Users trusted to own or read the server FIFO besides us and root.
    pub trust: Trust,
    /// Reply FIFOs to keep open for reuse ([`pool`]); 0 makes a fresh one per
    /// request. For long-lived clients (gateway, bench, loops); the CLI's one
    /// request gains nothing.
    pub pool: usize,
}

/// Default [`ClientConfig::max_reply`]: 64 MiB, room for a `dlg_list` of some
/// 50 000 dialogs (about 1.2 KiB each as OpenSIPS 3.x prints them).
pub const DEFAULT_MAX_REPLY: usize = 64 << 20;

/// A fresh request id: uniformly random in 1..=2^31−1, from the kernel's
/// generator, so other local users cannot predict it (they can see our reply
/// FIFO names, which come from another generator) and OpenSIPS's clamping of
/// ids to a C `int` never changes it. The kernel's bytes are fetched 64 at a
/// time per thread (one `getrandom` per 16 ids, not one per request: a
/// pooled client's exchange makes only five other system calls).
pub fn fresh_id() -> u32 {
    use std::cell::RefCell;
    thread_local! {
        static AHEAD: RefCell<(usize, [u8; 64])> = const { RefCell::new((64, [0; 64])) };
    }
    let r = AHEAD.with(|ahead| {
        let (used, bytes) = &mut *ahead.borrow_mut();
        if *used + 4 > bytes.len() {
            if getrandom::fill(bytes).is_err() {
                return fastrand::u32(..);
            }
            *used = 0;
        }
        let r = u32::from_ne_bytes(bytes[*used..*used + 4].try_into().expect("4 bytes"));
        // Used bytes are not kept around.
        bytes[*used..*used + 4].fill(0);
        *used += 4;
        r
    });
    1 + r % (i32::MAX as u32)
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            fifo: PathBuf::from("/tmp/opensips_fifo"),
            reply_dir: PathBuf::from("/tmp/"),
            timeout: Duration::from_secs(10),
            dialect: Dialect::Json,
            allow_large: false,
            max_reply: DEFAULT_MAX_REPLY,
            trust: Trust::default(),
            pool: 0,
        }
    }
}

/// An MI client. Cheap to clone; every exchange uses its own reply FIFO, so
/// any number of tasks may use one client at the same time.
#[derive(Debug, Clone)]
pub struct Client {
    cfg: Arc<ClientConfig>,
    /// Our uid/pid and whether the reply dir has a default ACL, found on the
    /// first request and shared by clones.
    local: Arc<OnceLock<reply_fifo::Local>>,
    /// The server FIFO that last passed the trust check, and when.
    vouched: Arc<Mutex<Option<Vouched>>>,
    /// Idle reply FIFOs (used when `cfg.pool > 0`).
    pool: Arc<pool::Pool>,
    /// The server FIFO kept open for writing by a pooled client, and when it
    /// was opened (and vouched for).
    held: Arc<Mutex<Option<Held>>>,
}

/// A write end of the server FIFO kept by a pooled client for up to
/// [`VOUCHED_FOR`]; then the path is opened (and checked) again, so a
/// recreated or replaced FIFO is followed within that time.
#[derive(Debug)]
struct Held {
    file: Arc<std::fs::File>,
    owner: u32,
    at: std::time::Instant,
}

/// A server FIFO identity that passed [`trust::check_server_fifo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Vouched {
    dev: u64,
    ino: u64,
    uid: u32,
    mode: u32,
    at: std::time::Instant,
}

/// How long a trust verdict is reused for the same FIFO inode, owner and
/// mode: a reader that appears later is seen within this time.
const VOUCHED_FOR: Duration = Duration::from_secs(1);

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

/// What [`Client::send_for_relay`] brings back.
#[derive(Debug, Clone, PartialEq)]
pub enum Relayable {
    /// An accepted reply in the compact form ([`compact`]): the bytes the
    /// server wrote, untouched, and where its value ends and its id is.
    Compact {
        /// The bytes the server wrote (white space may follow the value).
        raw: Vec<u8>,
        /// Where its parts are.
        reply: compact::Compact,
    },
    /// Any other reply, as [`Client::send`] returns it.
    Reply(Reply),
}

impl Relayable {
    /// The reply as [`Client::send`] returns it (a compact one parsed now).
    pub fn into_reply(self) -> Reply {
        match self {
            Relayable::Reply(r) => r,
            Relayable::Compact { raw, reply } => {
                let kind = match serde_json::from_slice(&raw[..reply.end]) {
                    Ok(serde_json::Value::Object(obj)) => {
                        ReplyKind::Json(accept::response_from_object(obj))
                    }
                    // Not reached: compact replies are JSON objects.
                    _ => ReplyKind::Text(String::from_utf8_lossy(&raw).into_owned()),
                };
                Reply { raw, kind }
            }
        }
    }
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
        Client {
            cfg: Arc::new(cfg),
            local: Arc::new(OnceLock::new()),
            vouched: Arc::new(Mutex::new(None)),
            pool: Arc::new(pool::Pool::default()),
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// Reply FIFOs idle in the pool now.
    pub fn pooled_idle(&self) -> usize {
        self.pool.idle()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Sends `method` with `params` and a fresh id ([`fresh_id`]).
    pub async fn call(&self, method: &str, params: Params) -> Result<Reply, Error> {
        let id = serde_json::Value::from(fresh_id());
        self.send(&Request::new(method, params, Some(id))).await
    }

    /// Sends `request` (its `id` used as given; `None` sends a notification)
    /// and waits for the reply. The reply is returned only if it answers this
    /// request: exactly one reply, carrying `request.id` ([`accept`]). Give
    /// requests ids others cannot guess ([`fresh_id`]); a guessed id lets a
    /// local user who can write the server FIFO answer in the server's place.
    pub async fn send(&self, request: &Request) -> Result<Reply, Error> {
        let cfg = &*self.cfg;
        if cfg.pool > 0 && request.id.is_some() && cfg.dialect != Dialect::Text {
            return self
                .send_pooled(request, false)
                .await
                .map(Relayable::into_reply);
        }
        let deadline = Instant::now() + cfg.timeout;
        let reply_dir = reply_name::normalize_reply_dir(&cfg.reply_dir);
        let local = self
            .local
            .get_or_init(|| reply_fifo::Local::probe(&reply_dir));
        let (name, reply_path) = reply_fifo::unique_name_for(&reply_dir, local.pid)?;
        let bytes = wire::encode(cfg.dialect, &name, request)?;
        if bytes.len() > PIPE_BUF && !cfg.allow_large {
            return Err(Error::TooLarge { len: bytes.len() });
        }

        let (sender, owner) = self.open_server_fifo(local.euid)?;
        let reply = reply_fifo::ReplyFifo::create_with(&reply_path, owner, &cfg.fifo, local)?;
        let timeout_error = |stage| Error::Timeout {
            fifo: cfg.fifo.clone(),
            reply_path: reply_path.clone(),
            reply_dir: reply_dir.clone(),
            timeout: cfg.timeout,
            stage,
            server_gone: stage == TimeoutStage::NoReply && !has_reader(&cfg.fifo),
        };
        // Consumed: the server FIFO is closed before we wait for the reply.
        write_request(sender, &bytes, &cfg.fifo, deadline, &timeout_error).await?;
        let raw = reply
            .read_reply(deadline, cfg.max_reply, &timeout_error)
            .await?;
        drop(reply);
        accept::accept(cfg.dialect, request.id.as_ref(), raw, &reply_path)
    }

    /// [`Client::send`] for a caller that passes the reply on (the gateway):
    /// a reply in the compact form ([`compact`]) that [`accept`] accepts
    /// comes back unparsed, as [`Relayable::Compact`]; any other reply as
    /// [`Client::send`] returns it. The checks are the same either way.
    pub async fn send_for_relay(&self, request: &Request) -> Result<Relayable, Error> {
        let cfg = &*self.cfg;
        if cfg.pool > 0 && request.id.is_some() && cfg.dialect != Dialect::Text {
            return self.send_pooled(request, true).await;
        }
        self.send(request).await.map(Relayable::Reply)
    }

    /// After a timeout: the other dialect the server answers, if any. Sends
    /// one harmless `uptime` (`core.uptime` for Kamailio) in each other
    /// dialect, waiting at most 500 ms for each; any accepted reply, even an
    /// error, shows the server speaks that dialect.
    pub async fn other_dialect(&self) -> Option<Dialect> {
        let cfg = &*self.cfg;
        for d in [Dialect::Json, Dialect::Text, Dialect::Kamailio] {
            if d == cfg.dialect {
                continue;
            }
            let probe = Client::new(ClientConfig {
                dialect: d,
                timeout: cfg.timeout.min(Duration::from_millis(500)),
                pool: 0,
                ..cfg.clone()
            });
            let method = if d == Dialect::Kamailio {
                "core.uptime"
            } else {
                "uptime"
            };
            if d == Dialect::Text {
                // A 1.x server that got our JSON (no newline) is still reading
                // its first line: end it and the junk request, so that the
                // probe starts a request of its own. Blank lines are white
                // space to the JSON dialects.
                use std::io::Write;
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                    .open(&cfg.fifo)
                {
                    let _ = f.write_all(b"\n\n");
                }
            }
            if probe.call(method, Params::None).await.is_ok() {
                return Some(d);
            }
        }
        None
    }

    /// [`Client::send`] through a reply FIFO from the pool ([`pool`]); with
    /// `compact`, [`Client::send_for_relay`].
    async fn send_pooled(&self, request: &Request, compact: bool) -> Result<Relayable, Error> {
        let cfg = &*self.cfg;
        let deadline = Instant::now() + cfg.timeout;
        let reply_dir = reply_name::normalize_reply_dir(&cfg.reply_dir);
        let local = self
            .local
            .get_or_init(|| reply_fifo::Local::probe(&reply_dir));
        let (sender, owner) = self.held_server_fifo(local.euid)?;
        let mut slot = match self.pool.take(owner) {
            Some(slot) => slot,
            None => {
                let (name, path) = reply_fifo::unique_name_for(&reply_dir, local.pid)?;
                let mut fifo = reply_fifo::ReplyFifo::create_with(&path, owner, &cfg.fifo, local)?;
                fifo.hold_writer().map_err(|source| Error::Io {
                    op: "hold the reply FIFO open for reuse",
                    path: path.clone(),
                    source,
                })?;
                pool::PooledFifo {
                    name,
                    path,
                    fifo,
                    writer_uid: owner,
                }
            }
        };
        let bytes = wire::encode(cfg.dialect, &slot.name, request)?;
        if bytes.len() > PIPE_BUF && !cfg.allow_large {
            self.pool.put(slot, cfg.pool);
            return Err(Error::TooLarge { len: bytes.len() });
        }
        let timeout_error = |stage| Error::Timeout {
            fifo: cfg.fifo.clone(),
            reply_path: slot.path.clone(),
            reply_dir: reply_dir.clone(),
            timeout: cfg.timeout,
            stage,
            server_gone: stage == TimeoutStage::NoReply && !has_reader(&cfg.fifo),
        };
        // Every error below drops `slot`: the FIFO is closed and unlinked,
        // never reused.
        self.write_held(sender, &bytes, local.euid, deadline, &timeout_error)
            .await?;
        let (raw, ended) = slot
            .fifo
            .read_one_reply(
                cfg.dialect,
                compact,
                deadline,
                cfg.max_reply,
                &timeout_error,
            )
            .await?;
        let sent = request.id.as_ref();
        let reply = match ended {
            reply_fifo::Ended::Compact(c) if accept::accepts_compact(sent, &raw, &c) => {
                Relayable::Compact { raw, reply: c }
            }
            // Not accepted as it is: judged (and refused) as any other reply.
            reply_fifo::Ended::Compact(_) | reply_fifo::Ended::Closed => {
                Relayable::Reply(accept::accept(cfg.dialect, sent, raw, &slot.path)?)
            }
            reply_fifo::Ended::Parsed(v, end) => Relayable::Reply(accept::accept_parsed(
                cfg.dialect,
                sent,
                raw,
                Some((v, end)),
                &slot.path,
            )?),
        };
        self.pool.put(slot, cfg.pool);
        Ok(reply)
    }

    /// The held write end of the server FIFO (opened and checked again when
    /// older than [`VOUCHED_FOR`]) and the FIFO owner's uid.
    fn held_server_fifo(&self, me: u32) -> Result<(Arc<std::fs::File>, u32), Error> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.as_ref().filter(|h| h.at.elapsed() < VOUCHED_FOR) {
            return Ok((h.file.clone(), h.owner));
        }
        let (file, owner) = self.open_server_fifo(me)?;
        let file = Arc::new(file);
        *held = Some(Held {
            file: file.clone(),
            owner,
            at: std::time::Instant::now(),
        });
        Ok((file, owner))
    }

    /// Writes a request through the held server FIFO: one non-blocking
    /// `write` (atomic up to `PIPE_BUF`). A full pipe, a larger request, or
    /// `EPIPE` (the server left that inode; nothing was written) go through a
    /// freshly opened and checked descriptor instead, as without a pool.
    async fn write_held(
        &self,
        held: Arc<std::fs::File>,
        bytes: &[u8],
        me: u32,
        deadline: Instant,
        timeout_error: &impl Fn(TimeoutStage) -> Error,
    ) -> Result<(), Error> {
        use std::io::Write;
        if bytes.len() <= PIPE_BUF {
            loop {
                match (&*held).write(bytes) {
                    Ok(n) if n == bytes.len() => return Ok(()),
                    // A non-blocking write up to PIPE_BUF is all or nothing.
                    Ok(_) => {
                        return Err(Error::Io {
                            op: "write the whole request to",
                            path: self.cfg.fifo.clone(),
                            source: io::ErrorKind::WriteZero.into(),
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(write_error(e, &self.cfg.fifo)),
                }
            }
        }
        let (file, _) = self.open_server_fifo(me)?;
        write_request(file, bytes, &self.cfg.fifo, deadline, timeout_error).await
    }

    /// [`open_server_fifo`], with the trust check skipped when the same FIFO
    /// (inode, owner, mode) passed it less than [`VOUCHED_FOR`] ago.
    fn open_server_fifo(&self, me: u32) -> Result<(std::fs::File, u32), Error> {
        let cfg = &*self.cfg;
        let (file, meta) = open_server_fifo(&cfg.fifo)?;
        let now = std::time::Instant::now();
        let id = Vouched {
            dev: meta.dev(),
            ino: meta.ino(),
            uid: meta.uid(),
            mode: meta.mode(),
            at: now,
        };
        let cached = *self.vouched.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cached.is_some_and(|v| {
            Vouched { at: now, ..v } == id && now.duration_since(v.at) < VOUCHED_FOR
        });
        if !fresh {
            trust::check_server_fifo(&cfg.fifo, &meta, me, &cfg.trust)?;
            *self.vouched.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
        }
        Ok((file, meta.uid()))
    }
}

/// Opens the server FIFO for writing without `O_CREAT` and without blocking;
/// returns it and its `fstat` (the caller checks whom it belongs to, with
/// [`trust::check_server_fifo`], before writing). It is not registered with
/// the reactor: [`write_request`] does that only if the pipe is full.
fn open_server_fifo(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), Error> {
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
            what: crate::sys::FileKind::of(meta.file_type()).describe(),
        });
    }
    Ok((file, meta))
}

use crate::fifo::create::has_reader;

fn classify_open_error(path: &Path, source: io::Error) -> Error {
    let path = path.to_path_buf();
    match source.raw_os_error() {
        Some(libc::ENXIO) => {
            // A socket at the path also gives ENXIO.
            match std::fs::metadata(&path) {
                Ok(m) if !m.file_type().is_fifo() => Error::NotFifo {
                    what: crate::sys::FileKind::of(m.file_type()).describe(),
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
            os_error: source,
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

/// Writes `bytes` to the server FIFO opened non-blocking as `file`, then
/// closes it. A request ≤ `PIPE_BUF` goes out in one atomic `write()` (a
/// non-blocking write of that size is all-or-nothing). The first attempt is
/// a plain `write()`; only when the pipe is full (`EAGAIN`) is the FIFO
/// registered with the reactor to wait for room, up to the deadline.
async fn write_request(
    file: std::fs::File,
    bytes: &[u8],
    fifo: &Path,
    deadline: Instant,
    timeout_error: &impl Fn(TimeoutStage) -> Error,
) -> Result<(), Error> {
    use std::io::Write;
    let mut rest = bytes;
    // Usual case: there is room, one write(2) and no reactor round trip.
    while !rest.is_empty() {
        match (&file).write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(write_error(e, fifo)),
        }
    }
    if rest.is_empty() {
        return Ok(());
    }
    // The pipe is full: wait for room through the reactor.
    let sender = pipe::Sender::from_file_unchecked(file).map_err(|source| Error::Io {
        op: "watch the server FIFO",
        path: fifo.to_path_buf(),
        source,
    })?;
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
            Err(e) => return Err(write_error(e, fifo)),
        }
    }
    Ok(())
}

fn write_error(source: io::Error, fifo: &Path) -> Error {
    match source.raw_os_error() {
        // The reader went away between open and write.
        Some(libc::EPIPE) => Error::NoReader {
            path: fifo.to_path_buf(),
        },
        _ => Error::Io {
            op: "write the request to",
            path: fifo.to_path_buf(),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;

    /// Ids stay in OpenSIPS's range and keep coming from fresh kernel bytes
    /// across refills (100 draws = 7 refills; a repeat among them has odds
    /// of about 2e-6).
    #[test]
    fn fresh_ids_are_in_range_and_do_not_repeat() {
        let ids: std::collections::HashSet<u32> = (0..100).map(|_| fresh_id()).collect();
        assert_eq!(ids.len(), 100);
        assert!(ids.iter().all(|&id| (1..=i32::MAX as u32).contains(&id)));
    }

    /// A server FIFO with a reader that is not reading and a pipe filled to
    /// the brim, so the next write gets `EAGAIN`.
    fn full_fifo(dir: &Path) -> (PathBuf, std::fs::File, usize) {
        let fifo = dir.join("mi_fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let mut filler = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let mut filled = 0;
        loop {
            match filler.write(&[b'x'; 512]) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        (fifo, reader, filled)
    }

    fn client(fifo: &Path, dir: &Path, timeout: Duration) -> Client {
        Client::new(ClientConfig {
            fifo: fifo.to_path_buf(),
            reply_dir: dir.to_path_buf(),
            timeout,
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn a_full_server_fifo_times_out_in_the_send_stage_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let (fifo, _reader, _) = full_fifo(dir.path());
        let c = client(&fifo, dir.path(), Duration::from_millis(300));
        let e = c.call("uptime", Params::None).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Timeout {
                    stage: TimeoutStage::Send,
                    ..
                }
            ),
            "{e:?}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("mi_fifo")]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_server_fifo_is_waited_on_and_the_request_arrives_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (fifo, mut reader, filled) = full_fifo(dir.path());
        let reply_dir = dir.path().to_path_buf();
        let server = std::thread::spawn(move || {
            // Drain only after the client made its reply FIFO (it opened the
            // server FIFO before, and writes right after), so that it meets
            // the full pipe. Whatever the timing, the request must arrive whole.
            while !std::fs::read_dir(&reply_dir).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("mififo_reply_")
            }) {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(50));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !(got.len() > filled && got.ends_with(b"}")) {
                match reader.read(&mut buf) {
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(got[..filled].iter().all(|&b| b == b'x'));
            let request = String::from_utf8(got[filled..].to_vec()).unwrap();
            let name = request.split(':').nth(1).unwrap().to_string();
            let body: serde_json::Value = serde_json::from_str(&request[name.len() + 2..]).unwrap();
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(reply_dir.join(&name))
                .unwrap();
            let reply = serde_json::json!({"jsonrpc": "2.0", "result": "ok", "id": body["id"]});
            w.write_all(reply.to_string().as_bytes()).unwrap();
            body
        });
        let c = client(&fifo, dir.path(), Duration::from_secs(60));
        let reply = c.call("uptime", Params::None).await.unwrap();
        let body = server.join().unwrap();
        assert_eq!(body["method"], "uptime");
        match reply.kind {
            ReplyKind::Json(r) => {
                assert_eq!(r.id, body["id"]);
                assert!(
                    matches!(r.outcome, crate::proto::jsonrpc::Outcome::Result(ref v) if v == "ok")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
