//! The client's reply FIFO: created with the least rights that let the
//! server's user write it, opened for reading before the request is sent,
//! read to EOF with a deadline, and unlinked whatever happens.
//!
//! Access, in order of preference:
//! 1. the server FIFO's owner is us → mode `0600`, nothing else;
//! 2. otherwise `0600` plus a POSIX ACL entry `user:<owner>:-w-` (written as the
//!    `system.posix_acl_access` xattr; the mode then reads `0620` because the
//!    group bits show the ACL mask, while the owning group itself gets nothing);
//! 3. file systems without ACLs → mode `0622` (anyone may write, nobody else may read).

use super::error::{Error, TimeoutStage};
use crate::fifo::acl::{Acl, Entry, Tag, XATTR_ACCESS, XATTR_DEFAULT};
use crate::fifo::FifoGuard;
use nix::sys::stat::Mode;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::unix::pipe;
use tokio::time::Instant;

/// How the reply FIFO was made writable for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyAccess {
    /// Mode 0600: the server runs as our uid (or as root).
    OwnerOnly,
    /// Mode 0600 + ACL `user:UID:-w-`.
    Acl(u32),
    /// Mode 0622: no ACL support on the reply directory's file system.
    WorldWritable,
}

/// What every reply FIFO of one client needs to know about this process and
/// its reply directory. Found once per [`super::Client`] (on its first
/// request) instead of with a syscall each per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    /// Our effective uid: the owner of the FIFOs we make.
    pub euid: u32,
    /// Our pid, part of the reply name.
    pub pid: u32,
    /// The reply directory has (or may have) a default ACL, so a new FIFO
    /// inherits an access ACL that is removed when the server runs as us.
    pub inherits_acl: bool,
}

impl Local {
    /// Looks at this process and at `reply_dir`'s default ACL. When the
    /// directory cannot be asked (missing, unreadable), it is taken to have
    /// one, which only costs an `fremovexattr` per request.
    pub fn probe(reply_dir: &Path) -> Local {
        let inherits_acl = match xattr::get(reply_dir, XATTR_DEFAULT) {
            Ok(v) => v.is_some(),
            Err(e) => !is_no_acl(&e),
        };
        Local {
            euid: nix::unistd::geteuid().as_raw(),
            pid: std::process::id(),
            inherits_acl,
        }
    }
}

/// An open, guarded reply FIFO.
#[derive(Debug)]
pub struct ReplyFifo {
    receiver: pipe::Receiver,
    guard: FifoGuard,
    access: ReplyAccess,
    /// Our own write end, held by a pooled FIFO ([`ReplyFifo::hold_writer`]).
    keep_writer: Option<std::fs::File>,
    /// The read buffer of [`ReplyFifo::read_one_reply`], allocated (and
    /// zeroed) once per FIFO, not once per exchange of a pooled FIFO.
    scratch: Vec<u8>,
    /// How many times [`ReplyFifo::read_one_reply`] parsed or scanned its
    /// buffer for a complete reply: once per reply however many reads it
    /// took (tests hold it to that; parsing after every read was quadratic).
    parses: u64,
}

/// How [`ReplyFifo::read_one_reply`] found a reply's end.
#[derive(Debug)]
pub enum Ended {
    /// At the writer's close.
    Closed,
    /// At the end of its first JSON value, parsed: the value and its length.
    Parsed(serde_json::Value, usize),
    /// At the end of a compact reply ([`super::compact`]), not parsed.
    Compact(super::compact::Compact),
}

/// Size of one read of a reply (a quarter of Linux's default pipe buffer).
const READ_CHUNK: usize = 16 * 1024;

impl ReplyFifo {
    /// Creates the FIFO at `path`, makes it writable for `writer_uid`, and
    /// opens it non-blocking for reading. `fifo` is only used in errors.
    pub fn create(path: &Path, writer_uid: u32, fifo: &Path) -> Result<ReplyFifo, Error> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        Self::create_with(path, writer_uid, fifo, &Local::probe(dir))
    }

    /// [`ReplyFifo::create`] with what is known about us and the directory
    /// (`local`, from [`Local::probe`] on `path`'s directory).
    pub fn create_with(
        path: &Path,
        writer_uid: u32,
        fifo: &Path,
        local: &Local,
    ) -> Result<ReplyFifo, Error> {
        let dir =
            crate::proto::reply_name::normalize_reply_dir(path.parent().unwrap_or(Path::new("/")));
        if let Err(errno) = nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)) {
            let source = io::Error::from(errno);
            return Err(match errno {
                nix::errno::Errno::EACCES | nix::errno::Errno::EPERM => Error::PermissionDenied {
                    op: "create the reply FIFO in",
                    path: dir,
                    fifo: fifo.to_path_buf(),
                    os_error: source,
                },
                nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => Error::Io {
                    op: "create the reply FIFO in",
                    path: dir,
                    source,
                },
                _ => Error::Io {
                    op: "create the reply FIFO",
                    path: path.to_path_buf(),
                    source,
                },
            });
        }
        let io_err = |op: &'static str| {
            let p = path.to_path_buf();
            move |source: io::Error| Error::Io {
                op,
                path: p,
                source,
            }
        };
        let me = local.euid;
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .and_then(|file| file.metadata().map(|meta| (file, meta)));
        let (file, meta) = match opened {
            Ok(ok) => ok,
            Err(e) => {
                // Not opened, so its identity is unknown: remove it only if
                // the path still holds a FIFO of ours.
                if let Ok(m) = std::fs::symlink_metadata(path) {
                    if m.file_type().is_fifo() && m.uid() == me {
                        drop(FifoGuard::with_identity(path, m.dev(), m.ino()));
                    }
                }
                return Err(io_err("open the reply FIFO")(e));
            }
        };
        // The guard's identity is the inode we hold open (O_NOFOLLOW: never a
        // symlink's target), so every return path from here unlinks exactly
        // that inode and nothing another process put at the path later.
        // It must be a FIFO we own: anything else was substituted between
        // mkfifo and open (e.g. by another user with write access to the
        // directory) and is neither used nor removed.
        if !meta.file_type().is_fifo() || meta.uid() != me {
            return Err(Error::Io {
                op: "open the reply FIFO (it was replaced after creation)",
                path: path.to_path_buf(),
                source: io::Error::from(io::ErrorKind::AlreadyExists),
            });
        }
        let guard = FifoGuard::with_identity(path, meta.dev(), meta.ino());
        let access = grant_access(&file, meta.mode(), writer_uid, local)
            .map_err(io_err("set the reply FIFO's rights"))?;
        // Opened O_RDONLY|O_NONBLOCK and known to be a FIFO: skip Tokio's
        // fstat + fcntl re-check.
        let receiver =
            pipe::Receiver::from_file_unchecked(file).map_err(io_err("watch the reply FIFO"))?;
        tracing::debug!(path = %path.display(), ?access, "reply FIFO ready");
        Ok(ReplyFifo {
            receiver,
            guard,
            access,
            keep_writer: None,
            scratch: Vec::new(),
            parses: 0,
        })
    }

    /// How the server was given write access.
    pub fn access(&self) -> ReplyAccess {
        self.access
    }

    /// The FIFO's path.
    pub fn path(&self) -> &Path {
        self.guard.path()
    }

    /// Reads until a writer appeared and closed the FIFO, or `deadline`, or
    /// more than `max` bytes arrived ([`Error::ReplyTooLarge`]: memory stays
    /// bounded by `max` whatever the server sends).
    ///
    /// Linux FIFO semantics (protocol reference §7): before any writer
    /// connected, `read` returns 0 without meaning end-of-reply and `poll`
    /// reports nothing; once a writer connected and left, `POLLHUP` stays set.
    /// So a 0-byte read counts as EOF only while `POLLHUP` is reported, or
    /// once data has arrived (then a writer was there, and `read` returns 0
    /// only when no writer is left).
    pub async fn read_reply(
        &self,
        deadline: Instant,
        max: usize,
        timeout_error: impl Fn(TimeoutStage) -> Error,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        loop {
            let ready = tokio::time::timeout_at(deadline, self.receiver.readable()).await;
            let stage = if out.is_empty() {
                TimeoutStage::NoReply
            } else {
                TimeoutStage::PartialReply {
                    received: out.len(),
                }
            };
            match ready {
                Err(_) => return Err(timeout_error(stage)),
                Ok(Err(e)) => {
                    return Err(Error::Io {
                        op: "wait for the reply on",
                        path: self.path().to_path_buf(),
                        source: e,
                    })
                }
                Ok(Ok(())) => {}
            }
            loop {
                // Read straight into `out`'s spare room (never zeroed), at
                // most one byte past `max` so an oversized reply is seen.
                reserve_bounded(&mut out, max);
                let room = (max + 1).saturating_sub(out.len()).max(1);
                match self
                    .receiver
                    .try_read_buf(&mut bytes::BufMut::limit(&mut out, room))
                {
                    Ok(0) => {
                        // After data, a writer certainly connected, and a
                        // 0-byte read means none is left: EOF without asking
                        // poll (which would report POLLHUP).
                        if !out.is_empty() || self.writer_gone() {
                            return Ok(out);
                        }
                        // No writer has connected yet: not the end of anything.
                        // The readiness that woke us stays set after a 0-byte
                        // read, so pause instead of spinning on it.
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        break;
                    }
                    Ok(_) if out.len() > max => {
                        return Err(Error::ReplyTooLarge {
                            reply_path: self.path().to_path_buf(),
                            max,
                        })
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(Error::Io {
                            op: "read the reply from",
                            path: self.path().to_path_buf(),
                            source: e,
                        })
                    }
                }
            }
        }
    }

    /// Opens and keeps a write end of our own FIFO (through `/proc/self/fd`,
    /// or by path with `O_NOFOLLOW` and an identity check), for a FIFO kept
    /// across exchanges: with a writer always there, the kernel never reports
    /// `POLLHUP` and `read` never returns 0 — a server writer's close leaves
    /// no stale state behind for the next exchange (Tokio keeps a `POLLHUP`
    /// readiness for good).
    ///
    /// # Errors
    /// The open failed, or the path holds something else now.
    pub fn hold_writer(&mut self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
        let proc_path = format!("/proc/self/fd/{}", self.receiver.as_raw_fd());
        let file = match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(flags)
            .open(&proc_path)
        {
            Ok(f) => f,
            Err(_) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(flags | libc::O_NOFOLLOW)
                    .open(self.path())?;
                let m = f.metadata()?;
                if self.guard.dev_ino() != Some((m.dev(), m.ino())) || !m.file_type().is_fifo() {
                    return Err(io::ErrorKind::AlreadyExists.into());
                }
                f
            }
        };
        self.keep_writer = Some(file);
        Ok(())
    }

    /// True while our own write end is held (the FIFO may be pooled again).
    pub fn holds_writer(&self) -> bool {
        self.keep_writer.is_some()
    }

    /// For a reply FIFO kept across exchanges, with our own write end held
    /// ([`ReplyFifo::hold_writer`]): reads one reply, ending at the end of
    /// the reply itself ([`reply_end`]: one complete JSON value); or fails at
    /// `deadline` or past `max` bytes.
    ///
    /// A reply that has not ended when its bytes pause (not JSON, such as
    /// OpenSIPS's `failed to print response`, or JSON still on its way) can
    /// only end at the writer's close: our write end is then dropped, so the
    /// server writer's close reads as EOF, and the FIFO cannot be pooled
    /// again. A server that opens and closes without writing is seen only
    /// as a timeout — the pool is for requests with an id, which every server
    /// answers with bytes.
    ///
    /// With `compact`, a JSON reply is first scanned for the compact form
    /// ([`super::compact`]): such a reply ends without a parse
    /// ([`Ended::Compact`]); any other ends as without `compact`.
    ///
    /// [`reply_end`]: super::accept::reply_end
    pub async fn read_one_reply(
        &mut self,
        dialect: crate::proto::Dialect,
        compact: bool,
        deadline: Instant,
        max: usize,
        timeout_error: impl Fn(TimeoutStage) -> Error,
    ) -> Result<(Vec<u8>, Ended), Error> {
        enum Step {
            Done,
            /// Ended at the reply itself: its JSON value and length, handed
            /// on so that it is not parsed twice.
            Parsed(serde_json::Value, usize),
            /// Ended at a compact reply, not parsed.
            Compact(super::compact::Compact),
            TooLarge,
            Paused,
        }
        let mut out = Vec::new();
        let mut end = ObjectEnd::default();
        if self.scratch.is_empty() {
            self.scratch = vec![0u8; READ_CHUNK];
        }
        loop {
            let stage = if out.is_empty() {
                TimeoutStage::NoReply
            } else {
                TimeoutStage::PartialReply {
                    received: out.len(),
                }
            };
            match tokio::time::timeout_at(deadline, self.receiver.readable()).await {
                Err(_) => return Err(timeout_error(stage)),
                Ok(Err(source)) => {
                    return Err(Error::Io {
                        op: "wait for the reply on",
                        path: self.path().to_path_buf(),
                        source,
                    })
                }
                Ok(Ok(())) => {}
            }
            let fd = std::os::fd::AsRawFd::as_raw_fd(&self.receiver);
            let holding = self.keep_writer.is_some();
            let step = self.receiver.try_io(|| loop {
                let n = match nix::unistd::read(fd, &mut self.scratch) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(nix::errno::Errno::EAGAIN) if holding && !out.is_empty() => {
                        return Ok(Step::Paused)
                    }
                    Err(e) => return Err(io::Error::from(e)),
                };
                if n == 0 {
                    if out.is_empty() {
                        // No writer at all (ours dropped): nothing to wait on
                        // but a new writer's event.
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    return Ok(Step::Done); // the writer closed after its data
                }
                if append_bounded(&mut out, &self.scratch[..n], max).is_err() {
                    return Ok(Step::TooLarge);
                }
                // Only the new bytes are looked at; the buffer is parsed
                // once, when its first object has closed (parsing all of it
                // after every read was quadratic in a reply's length).
                if !end.feed(&self.scratch[..n]) {
                    continue;
                }
                self.parses += 1;
                match dialect {
                    crate::proto::Dialect::Text => {
                        if super::accept::reply_end(dialect, &out).is_some() {
                            return Ok(Step::Done); // one complete reply
                        }
                    }
                    crate::proto::Dialect::Json | crate::proto::Dialect::Kamailio => {
                        if let Some(c) = compact.then(|| super::compact::scan(&out)).flatten() {
                            return Ok(Step::Compact(c)); // one complete reply
                        }
                        if let Some((v, end)) = super::accept::json_end(&out) {
                            return Ok(Step::Parsed(v, end)); // one complete reply
                        }
                    }
                }
            });
            match step {
                Ok(Step::Done) => return Ok((out, Ended::Closed)),
                Ok(Step::Parsed(v, end)) => return Ok((out, Ended::Parsed(v, end))),
                Ok(Step::Compact(c)) => return Ok((out, Ended::Compact(c))),
                Ok(Step::TooLarge) => {
                    return Err(Error::ReplyTooLarge {
                        reply_path: self.path().to_path_buf(),
                        max,
                    })
                }
                // From now on only the writer's close ends it.
                Ok(Step::Paused) => self.keep_writer = None,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(source) => {
                    return Err(Error::Io {
                        op: "read the reply from",
                        path: self.path().to_path_buf(),
                        source,
                    })
                }
            }
        }
    }

    /// Reads whatever arrived while nobody asked (between two exchanges of a
    /// kept-open FIFO). `true` when there was anything: a late or foreign
    /// writer, and the FIFO must not be reused.
    pub fn has_stray_bytes(&self) -> bool {
        let mut buf = [0u8; 512];
        match self.receiver.try_read(&mut buf) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// True when a writer has connected and closed (`POLLHUP` without data).
    fn writer_gone(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&self.receiver),
            PollFlags::POLLIN,
        )];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(_) => fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP)),
            Err(_) => false,
        }
    }
}

/// Finds, a read at a time, where the first top-level JSON object of a reply
/// closes: brackets counted outside strings, each byte looked at once. Only
/// then can the reply be one complete JSON object, so only then is it worth
/// a parse — once: if that parse fails, no later byte completes it.
#[derive(Debug, Default)]
struct ObjectEnd {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The first top-level value closed (or can never be an object).
    done: bool,
}

impl ObjectEnd {
    /// Takes the next bytes of the reply; `true` once, for the bytes in which
    /// the first top-level object closed with its `}`.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return false;
        }
        for &b in bytes {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    if self.depth <= 1 {
                        // Closed (`}`: maybe a complete object), or a
                        // bracket with none open: never an object.
                        self.done = true;
                        return self.depth == 1 && b == b'}';
                    }
                    self.depth -= 1;
                }
                _ => {}
            }
        }
        false
    }
}

/// Makes room in `out` for the next read: at least a chunk when little is
/// left, the buffer doubling as it fills, never past `max + 1` bytes (one past
/// `max` shows a reply is too large).
fn reserve_bounded(out: &mut Vec<u8>, max: usize) {
    let limit = max.saturating_add(1);
    if out.capacity() - out.len() >= READ_CHUNK.min(limit - out.len().min(limit)).max(1) {
        return;
    }
    let want = out
        .len()
        .max(READ_CHUNK)
        .min(limit.saturating_sub(out.len()))
        .max(1);
    out.reserve_exact(want);
}

/// Appends `data` to `out` unless that makes it longer than `max`; grows the
/// buffer at most to `max` (never a doubling past it).
pub(crate) fn append_bounded(out: &mut Vec<u8>, data: &[u8], max: usize) -> Result<(), ()> {
    let need = out.len() + data.len();
    if need > max {
        return Err(());
    }
    if need > out.capacity() {
        let want = (out.capacity() * 2).max(need).min(max);
        out.reserve_exact(want - out.len());
    }
    out.extend_from_slice(data);
    Ok(())
}

/// Applies the least rights that let `writer_uid` write the FIFO open as
/// `file` (whose `st_mode` is `mode`).
fn grant_access(
    file: &std::fs::File,
    mode: u32,
    writer_uid: u32,
    local: &Local,
) -> io::Result<ReplyAccess> {
    use xattr::FileExt;
    // The umask (or the directory's default ACL) must not decide: 0600
    // exactly. mkfifo(0600) already gives that under any umask that leaves
    // the owner's bits alone, as the fstat shows; chmod only otherwise.
    if mode & 0o7777 != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    if writer_uid == local.euid || writer_uid == 0 {
        // A default ACL on the reply dir added entries: drop them. (With
        // mode 0600 the inherited mask is `---`, so they grant nothing even
        // if the directory got its default ACL after `local` was probed.)
        if local.inherits_acl {
            match file.remove_xattr(XATTR_ACCESS) {
                Ok(()) => {}
                Err(e) if is_no_acl(&e) => {}
                Err(e) => return Err(e),
            }
        }
        return Ok(ReplyAccess::OwnerOnly);
    }
    match file.set_xattr(XATTR_ACCESS, &acl_owner_plus_writer(writer_uid)) {
        Ok(()) => Ok(ReplyAccess::Acl(writer_uid)),
        Err(e) if is_unsupported(&e) => {
            file.set_permissions(std::fs::Permissions::from_mode(0o622))?;
            Ok(ReplyAccess::WorldWritable)
        }
        Err(e) => Err(e),
    }
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP))
}

fn is_no_acl(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENODATA) | Some(libc::EOPNOTSUPP)
    )
}

/// `system.posix_acl_access` value: `user::rw-`, `user:UID:-w-`, `group::---`,
/// `mask::-w-`, `other::---` (linux-fifo-access.md §3.9 layout).
pub fn acl_owner_plus_writer(uid: u32) -> Vec<u8> {
    // Mode 0600 plus `user:UID:-w-`; the mask comes out as `-w-`.
    let writer = Entry {
        tag: Tag::User(uid),
        perm: 2,
    };
    Acl::from_mode_with(0o600, &[writer]).to_xattr()
}

/// A fresh reply name and its path in `reply_dir`. The usual name is
/// `mififo_reply_<pid>_<random>`; when a long reply directory would push the
/// path past OpenSIPS's 128-byte limit, a short `mr<pid>_<random>` is used.
pub fn unique_name(reply_dir: &Path) -> Result<(String, PathBuf), Error> {
    unique_name_for(reply_dir, std::process::id())
}

/// [`unique_name`] for a caller that knows its pid.
pub fn unique_name_for(reply_dir: &Path, pid: u32) -> Result<(String, PathBuf), Error> {
    let name = crate::proto::reply_name::generate_for(pid);
    match path_for(reply_dir, &name) {
        Ok(p) => Ok((name, p)),
        Err(Error::ReplyName {
            source: crate::proto::reply_name::ReplyNameError::TooLong { .. },
            ..
        }) => {
            let short = format!("mr{pid:x}_{:08x}", fastrand::u32(..));
            let p = path_for(reply_dir, &short)?;
            Ok((short, p))
        }
        Err(e) => Err(e),
    }
}

/// The reply path for `name` in `reply_dir`, checked against the server's rules.
pub fn path_for(reply_dir: &Path, name: &str) -> Result<PathBuf, Error> {
    crate::proto::reply_name::reply_path(reply_dir, name.as_bytes()).map_err(|source| {
        Error::ReplyName {
            dir: reply_dir.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reply_dirs_get_short_names_until_nothing_fits() {
        let (n, p) = unique_name(Path::new("/tmp/")).unwrap();
        assert!(n.starts_with("mififo_reply_"), "{n}");
        assert_eq!(p, Path::new("/tmp/").join(&n));
        let long = format!("/{}/", "d".repeat(100));
        let (n, p) = unique_name(Path::new(&long)).unwrap();
        assert!(n.starts_with("mr"), "{n}");
        assert!(p.as_os_str().len() < 128);
        let too_long = format!("/{}/", "d".repeat(120));
        assert!(matches!(
            unique_name(Path::new(&too_long)),
            Err(Error::ReplyName { .. })
        ));
    }

    #[test]
    fn acl_bytes_match_setfacl() {
        // setfacl -m u:995:-w- then mask -w-, group ---, other --- (layout of §3.9).
        let hex: String = acl_owner_plus_writer(995)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "02000000\
             01000600ffffffff\
             02000200e3030000\
             04000000ffffffff\
             10000200ffffffff\
             20000000ffffffff"
        );
    }

    #[tokio::test]
    async fn created_private_then_unlinked_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        let me = nix::unistd::geteuid().as_raw();
        let r = ReplyFifo::create(&p, me, Path::new("/x")).unwrap();
        assert_eq!(r.access(), ReplyAccess::OwnerOnly);
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600);
        drop(r);
        assert!(!p.exists());
    }

    #[tokio::test]
    async fn other_writer_gets_an_acl_entry_or_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        let r = ReplyFifo::create(&p, 4242, Path::new("/x")).unwrap();
        let mode = std::fs::symlink_metadata(&p).unwrap().mode() & 0o7777;
        match r.access() {
            ReplyAccess::Acl(4242) => {
                assert_eq!(mode, 0o620, "group bits show the ACL mask");
                let got = xattr::get(&p, XATTR_ACCESS).unwrap().unwrap();
                assert_eq!(got, acl_owner_plus_writer(4242));
            }
            ReplyAccess::WorldWritable => assert_eq!(mode, 0o622),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_acl_inherited_from_the_reply_dir_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        // Default ACL user::rwx, user:4242:rwx, group::r-x, mask::rwx, other::r-x.
        let writer = Entry {
            tag: Tag::User(4242),
            perm: 7,
        };
        let default = Acl::from_mode_with(0o755, &[writer]).to_xattr();
        match xattr::set(dir.path(), XATTR_DEFAULT, &default) {
            Ok(()) => {}
            Err(e) if is_unsupported(&e) => return, // no ACLs on this file system
            Err(e) => panic!("{e}"),
        }
        let local = Local::probe(dir.path());
        assert!(local.inherits_acl);
        let p = dir.path().join("r");
        let r = ReplyFifo::create_with(&p, local.euid, Path::new("/x"), &local).unwrap();
        assert_eq!(r.access(), ReplyAccess::OwnerOnly);
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600);
        assert_eq!(xattr::get(&p, XATTR_ACCESS).unwrap(), None);
        drop(r);

        // Control: told the directory has none, the inherited ACL stays
        // (granting nothing: its mask is `---` under mode 0600).
        let stale = Local {
            inherits_acl: false,
            ..local
        };
        let r = ReplyFifo::create_with(&p, local.euid, Path::new("/x"), &stale).unwrap();
        let acl = crate::fifo::acl::read(&p).unwrap().expect("inherited ACL");
        assert_eq!(acl.mask(), Some(0));
        assert_eq!(
            std::fs::symlink_metadata(&p).unwrap().mode() & 0o7777,
            0o600
        );
        drop(r);

        let plain = tempfile::tempdir().unwrap();
        assert!(!Local::probe(plain.path()).inherits_acl);
        assert!(Local::probe(&plain.path().join("missing")).inherits_acl);
    }

    #[test]
    fn the_first_object_closes_once_at_its_brace() {
        let reply = "  {\"a\":\"}]\\\\\",\"b\":[{},[]],\"c\":\"\\\"}\"} {\"x\":1}";
        let close = reply.find("} {").unwrap();
        // Byte by byte and in one piece: true exactly at the closing brace.
        let mut e = ObjectEnd::default();
        let hits: Vec<usize> = (0..reply.len())
            .filter(|&i| e.feed(&reply.as_bytes()[i..=i]))
            .collect();
        assert_eq!(hits, [close]);
        assert!(ObjectEnd::default().feed(reply.as_bytes()));
        // No object first: never.
        for other in ["[{}]", "\"x\"}", "failed to print response", "]{}"] {
            let mut e = ObjectEnd::default();
            assert!(!other.bytes().any(|b| e.feed(&[b])), "{other}");
        }
    }

    /// A long reply whose reads end in `}` again and again (a hostile writer
    /// can arrange that) is parsed once, not once per read: on the parse
    /// path (`mififo call`, `send`) and on the compact scan (the gateway's).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_reply_in_many_reads_is_parsed_once() {
        for compact in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("r");
            let me = nix::unistd::geteuid().as_raw();
            let mut r = ReplyFifo::create(&p, me, Path::new("/x")).unwrap();
            r.hold_writer().unwrap();
            let n = 1 << 20;
            let writer = std::thread::spawn({
                let p = p.clone();
                move || {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                    f.write_all(br#"{"jsonrpc":"2.0","result":[{}"#).unwrap();
                    let piece = b",{}".repeat(1000);
                    for _ in 0..n / 1000 {
                        f.write_all(&piece).unwrap();
                    }
                    f.write_all(br#"],"id":7}"#).unwrap();
                }
            });
            let timeout = std::time::Duration::from_secs(20);
            let (raw, ended) = r
                .read_one_reply(
                    crate::proto::Dialect::Json,
                    compact,
                    Instant::now() + timeout,
                    64 << 20,
                    |stage| Error::Timeout {
                        fifo: "/x".into(),
                        reply_path: p.clone(),
                        reply_dir: dir.path().into(),
                        timeout,
                        stage,
                        server_gone: false,
                    },
                )
                .await
                .unwrap();
            writer.join().unwrap();
            assert!(raw.ends_with(br#"],"id":7}"#));
            // The reply is compact: the scan ends it when asked to, the parse
            // otherwise; never the writer's close (it is held open).
            match ended {
                Ended::Compact(c) if compact => assert_eq!(c.end, raw.len()),
                Ended::Parsed(_, end) if !compact => assert_eq!(end, raw.len()),
                Ended::Closed => panic!("compact {compact}: ended at a close"),
                Ended::Parsed(..) => panic!("compact {compact}: parsed"),
                Ended::Compact(_) => panic!("compact {compact}: scanned as compact"),
            }
            // One parse for the whole reply, not one per read that ended in
            // `}` (quadratic: 21 s against 0.1 s for these 3 MB, debug build).
            assert_eq!(r.parses, 1, "compact {compact}");
        }
    }

    #[tokio::test]
    async fn zero_byte_read_before_any_writer_is_not_eof() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        let me = nix::unistd::geteuid().as_raw();
        let r = ReplyFifo::create(&p, me, Path::new("/x")).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_millis(200);
        let e = r
            .read_reply(deadline, 1 << 20, |stage| Error::Timeout {
                fifo: "/x".into(),
                reply_path: p.clone(),
                reply_dir: dir.path().into(),
                timeout: std::time::Duration::from_millis(200),
                stage,
                server_gone: false,
            })
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            Error::Timeout {
                stage: TimeoutStage::NoReply,
                ..
            }
        ));
    }
}
