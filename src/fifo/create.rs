//! Creating the server's MI FIFO.
//!
//! Order of operations (OpenSIPS `mi_create_fifo`, then our extras):
//! 1. look at what is at the path: nothing → fine; a FIFO some live process
//!    reads → refuse, naming the holder pid (OpenSIPS unlinks it and steals
//!    the path from the other instance); a stale FIFO → replace; anything else
//!    → refuse unless `force` (OpenSIPS unlinks it silently);
//! 2. `mkfifo` under a temporary name in the same directory ([`temp_path`]),
//!    then `chmod` to the exact mode (the umask never matters);
//! 3. `chown` when an owner or group was asked for;
//! 4. write the ACL to `system.posix_acl_access` when entries were asked for;
//! 5. open the reader (`O_RDONLY|O_NONBLOCK`) and a keep-alive writer
//!    (`O_WRONLY|O_NONBLOCK`), so the read side never sees EOF when clients
//!    come and go, and check the reader is the inode we created;
//! 6. `rename(2)` it over the path. The path goes atomically from whatever
//!    was there to a FIFO that already has its reader, so recreating the FIFO
//!    while serving never leaves a moment where a client is refused (OpenSIPS
//!    unlinks, then creates). Every error removes the temporary FIFO.

use super::acl::{self, Acl};
use super::FifoGuard;
use crate::sys::proc::holders;
use crate::sys::FileKind;
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What to create.
#[derive(Debug, Clone)]
pub struct FifoSpec {
    /// The FIFO path.
    pub path: PathBuf,
    /// Permission bits applied with `chmod` (0 is turned into 0600 as in OpenSIPS).
    pub mode: u32,
    /// New owner, if any.
    pub owner: Option<Uid>,
    /// New group, if any.
    pub group: Option<Gid>,
    /// Named ACL entries (`u:apache:rw`…); empty = no ACL.
    pub acl: Vec<acl::Entry>,
    /// Replace a non-FIFO found at the path.
    pub force: bool,
}

impl FifoSpec {
    /// A spec with mode 0660 and nothing else.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FifoSpec {
            path: path.into(),
            mode: 0o660,
            owner: None,
            group: None,
            acl: Vec::new(),
            force: false,
        }
    }
}

/// An open server FIFO: the reader, the keep-alive writer and the guard that
/// unlinks the path on drop (only while it is still this inode).
#[derive(Debug)]
pub struct ServerFifo {
    /// The read end (non-blocking).
    pub reader: File,
    /// The keep-alive writer (never written to).
    pub writer: File,
    /// Unlinks the FIFO on drop.
    pub guard: FifoGuard,
}

impl ServerFifo {
    /// `(st_dev, st_ino)` of the FIFO.
    pub fn dev_ino(&self) -> Option<(u64, u64)> {
        self.guard.dev_ino()
    }
}

/// Why the FIFO could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// The parent directory does not exist.
    #[error("cannot create FIFO '{path}': directory '{dir}' does not exist")]
    ParentMissing {
        /// The FIFO path.
        path: PathBuf,
        /// The missing directory.
        dir: PathBuf,
    },
    /// Another live process reads the FIFO.
    #[error("another instance is serving '{path}' ({who}); stop it or choose another --fifo")]
    AlreadyServed {
        /// The FIFO path.
        path: PathBuf,
        /// `pid 123` / `pids 1, 2` / a hint when the holder is not visible.
        who: String,
        /// The reader pids found under /proc.
        pids: Vec<i32>,
    },
    /// A FIFO of another user, read by someone, sits at the path: a squatter
    /// (anyone can do this in a sticky world-writable directory like `/tmp`).
    #[error(
        "'{path}' is squatted: a FIFO owned by {owner} ({who}) sits at our path, so clients \
         talk to that user, not to us; serve another path (--fifo, in a directory only the \
         service user can write), run serve as that user, or remove it as root or its owner"
    )]
    Squatted {
        /// The FIFO path.
        path: PathBuf,
        /// `user NAME (uid N)`.
        owner: String,
        /// `read by pid 123` / a hint when the reader is not visible.
        who: String,
        /// The reader pids found under /proc.
        pids: Vec<i32>,
    },
    /// Something other than a FIFO is at the path.
    #[error("'{path}' exists and is a {kind}, not a FIFO; {hint}")]
    NotAFifo {
        /// The path.
        path: PathBuf,
        /// `regular file`, `directory`…
        kind: &'static str,
        /// What to do: `--force` replaces files, never directories.
        hint: &'static str,
    },
    /// A system call failed.
    #[error("cannot {op} '{path}'")]
    Io {
        /// What we were doing (`create FIFO`, `chmod`, …).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CreateError + 'a {
    move |source| CreateError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn errno(e: nix::errno::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// True when some process has `path` open for reading (a non-blocking write
/// open succeeds). Opens and closes a writer, which a server must tolerate.
///
/// The path often sits in a directory others may write (`/tmp`), and callers
/// run as root: a symlink there is not followed (another user could point
/// it at a device, whose open alone may act, e.g. a watchdog), and counts as
/// read, so no caller declares a server gone on its strength; what opens
/// must be a FIFO (a regular file swapped in is not a reader).
pub fn has_reader(path: &Path) -> bool {
    match open_reader_probe(path) {
        Ok(f) => f.metadata().is_ok_and(|m| m.file_type().is_fifo()),
        Err(e) => e.raw_os_error() == Some(libc::ELOOP),
    }
}

/// The non-blocking write-open that asks "does a process read the FIFO at
/// `path`?": `ENXIO` = nobody does. It follows no symlink (`ELOOP`) and never
/// becomes a controlling terminal, since the path is looked at first and
/// opened after, and another user may swap it in between (see [`has_reader`]).
pub(crate) fn open_reader_probe(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
}

/// Creates the FIFO at start-up, applying the existing-path policy of the
/// module documentation.
///
/// # Errors
/// [`CreateError`] naming the path and the step that failed.
pub fn create(spec: &FifoSpec) -> Result<ServerFifo, CreateError> {
    create_after(spec, || Ok::<_, CreateError>(())).map(|(f, ())| f)
}

/// As [`create`], running `prepare` once the path has passed its checks and
/// before the FIFO appears there. The server writes its pid file here, so
/// whoever sees the FIFO served also finds the pid file; a `prepare` error
/// ends it before anything is created.
///
/// # Errors
/// `prepare`'s error, or [`CreateError`] as for [`create`].
pub fn create_after<T, E: From<CreateError>>(
    spec: &FifoSpec,
    prepare: impl FnOnce() -> Result<T, E>,
) -> Result<(ServerFifo, T), E> {
    check_path(spec, false, None)?;
    let prepared = prepare()?;
    Ok((install(spec)?, prepared))
}

/// Recreates the FIFO while serving (path deleted or replaced, or SIGHUP):
/// whatever is at the path is replaced — except a FIFO another live process
/// reads, and a directory. `ours` is the `(st_dev, st_ino)` of the FIFO being
/// served: when it is still at the path (SIGHUP) it is replaced although it
/// has a reader (us).
///
/// The new FIFO is created and opened under a temporary name and renamed over
/// the path, so the path never lacks a reader: a client sees either the old
/// FIFO (which the caller keeps reading for a while) or the new one.
///
/// # Errors
/// As [`create`].
pub fn recreate(spec: &FifoSpec, ours: Option<(u64, u64)>) -> Result<ServerFifo, CreateError> {
    check_path(spec, true, ours)?;
    install(spec)
}

/// The temporary name the FIFO is built under before it is renamed over
/// `path`: same directory (rename(2) must not cross file systems), and a
/// name no client or reply-FIFO cleaner uses (reply names have no `.`). The
/// random part makes it unpredictable, so nobody can put something there
/// in advance (a taken name is drawn again).
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".mififo-new-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    path.with_file_name(name)
}

/// Applies the existing-path policy; removes nothing (the rename does).
fn check_path(
    spec: &FifoSpec,
    replacing: bool,
    ours: Option<(u64, u64)>,
) -> Result<(), CreateError> {
    let path = &spec.path;
    let dir = match path.parent() {
        Some(d) if d.as_os_str().is_empty() => Path::new("."),
        Some(d) => d,
        None => Path::new("/"),
    };
    if !dir.is_dir() {
        return Err(CreateError::ParentMissing {
            path: path.clone(),
            dir: dir.to_path_buf(),
        });
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("inspect", path)(e)),
    };
    let ft = meta.file_type();
    if ft.is_fifo() {
        if ours == Some((meta.dev(), meta.ino())) {
            return Ok(());
        }
        let me = nix::unistd::geteuid();
        let foreign = meta.uid() != me.as_raw() && spec.owner.map(Uid::as_raw) != Some(meta.uid());
        let squatted = |pids: Vec<i32>| {
            let owner = match nix::unistd::User::from_uid(Uid::from_raw(meta.uid())) {
                Ok(Some(u)) => format!("user {} (uid {})", u.name, meta.uid()),
                _ => format!("uid {}", meta.uid()),
            };
            let who = match pids.as_slice() {
                [] => "its reader is not visible to us".to_string(),
                [p] => format!("read by pid {p}"),
                ps => format!(
                    "read by pids {}",
                    ps.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
                ),
            };
            CreateError::Squatted {
                path: path.clone(),
                owner,
                who,
                pids,
            }
        };
        let live = match open_reader_probe(path) {
            Ok(_) => true,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => false,
            Err(e) if foreign && e.raw_os_error() == Some(libc::EACCES) => {
                return Err(squatted(reader_pids(&meta)));
            }
            Err(e) => {
                // EACCES: someone else's FIFO; we cannot tell whether it is
                // served, and must not remove it blindly.
                return Err(CreateError::Io {
                    op: "check whether another server reads",
                    path: path.clone(),
                    source: std::io::Error::new(
                        e.kind(),
                        format!(
                            "{e} (it belongs to uid {}, mode {:o})",
                            meta.uid(),
                            meta.mode() & 0o7777
                        ),
                    ),
                });
            }
        };
        if live {
            let pids = reader_pids(&meta);
            if foreign {
                return Err(squatted(pids));
            }
            let who = match pids.len() {
                0 => "its reader is not visible in /proc; try 'fuser' as root".to_string(),
                1 => format!("pid {} reads it", pids[0]),
                _ => format!(
                    "pids {} read it",
                    pids.iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(CreateError::AlreadyServed {
                path: path.clone(),
                who,
                pids,
            });
        }
        if foreign && !me.is_root() {
            sticky_refusal(path, dir, &meta)?;
        }
        tracing::info!(path = %path.display(), "replacing stale FIFO (no reader)");
    } else if ft.is_dir() || !(spec.force || replacing) {
        return Err(CreateError::NotAFifo {
            path: path.clone(),
            kind: FileKind::of(ft).name(),
            hint: if ft.is_dir() {
                "choose another --fifo path (a directory is never replaced, not even with --force)"
            } else {
                "remove it or pass --force to replace it"
            },
        });
    } else {
        tracing::warn!(path = %path.display(), kind = FileKind::of(ft).name(), "replacing a non-FIFO at the FIFO path");
    }
    Ok(())
}

/// A stale FIFO of another user in a sticky directory (`/tmp`) that is not
/// ours: rename(2) over it fails with EPERM, so say why before building a
/// new FIFO, and what to do instead.
fn sticky_refusal(path: &Path, dir: &Path, meta: &std::fs::Metadata) -> Result<(), CreateError> {
    let Ok(d) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let me = nix::unistd::geteuid().as_raw();
    if d.mode() & 0o1000 == 0 || d.uid() == me {
        return Ok(());
    }
    let owner = match nix::unistd::User::from_uid(Uid::from_raw(meta.uid())) {
        Ok(Some(u)) => format!("user {} (uid {})", u.name, meta.uid()),
        _ => format!("uid {}", meta.uid()),
    };
    Err(CreateError::Io {
        op: "replace the stale FIFO",
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "nothing reads it, but it belongs to {owner} and '{}' is sticky (mode {:o}): \
                 only its owner, the directory's owner or root may remove or replace it; serve \
                 another path (--fifo), or remove it as root ('rm {}') and start again",
                dir.display(),
                d.mode() & 0o7777,
                path.display()
            ),
        ),
    })
}

/// The pids (other than ours) that hold the FIFO `meta` describes open for reading.
fn reader_pids(meta: &std::fs::Metadata) -> Vec<i32> {
    holders(meta.dev(), meta.ino())
        .into_iter()
        .filter(|h| h.reads() && h.pid != std::process::id() as i32)
        .map(|h| h.pid)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Builds the FIFO under [`temp_path`], then renames it over the path. On
/// any error the temporary FIFO is removed (its guard).
fn install(spec: &FifoSpec) -> Result<ServerFifo, CreateError> {
    let path = &spec.path;
    let mut attempt = 0;
    let (tmp, f) = loop {
        let tmp = temp_path(path);
        match make(spec, &tmp) {
            Ok(f) => break (tmp, f),
            Err(CreateError::Io {
                op: "create FIFO",
                source,
                ..
            }) if source.raw_os_error() == Some(libc::EEXIST) && attempt < 3 => {
                attempt += 1;
            }
            Err(e @ CreateError::Io { op: "open", .. }) => {
                // Whatever was renamed over our fresh name: unlink only
                // removes that directory entry (it follows nothing), and only
                // the directory's owner can have put it there — in a sticky
                // directory nobody else may replace our entry.
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    };
    std::fs::rename(&tmp, path).map_err(io("rename the new FIFO over", path))?;
    // Someone who may rename in this directory can swap the temporary name
    // between our open and the rename; then what now sits at the path is
    // theirs and our FIFO is gone. The server notices at its next check.
    match std::fs::symlink_metadata(path) {
        Ok(m) if Some((m.dev(), m.ino())) == f.guard.dev_ino() => {}
        _ => {
            f.guard.disarm();
            return Err(io("open", path)(std::io::Error::other(
                "the new FIFO was replaced while it was renamed into place; someone renames \
                 files in this directory",
            )));
        }
    }
    Ok(ServerFifo {
        reader: f.reader,
        writer: f.writer,
        guard: f.guard.moved_to(path),
    })
}

#[cfg(test)]
type Hook = Box<dyn Fn(&Path)>;

#[cfg(test)]
thread_local! {
    /// Runs right after `mkfifo` in [`make`] (tests play the attacker who
    /// renames something over the fresh temporary name).
    static AFTER_MKFIFO: std::cell::RefCell<Option<Hook>> =
        const { std::cell::RefCell::new(None) };
}

/// `mkfifo` at `at`, then one `open(O_NOFOLLOW)` by path; everything else
/// (the check that it is the FIFO we made, `fchown`, `fchmod`, the ACL
/// through `fsetxattr`, the keep-alive writer) goes through that descriptor.
/// The directory may belong to a less trusted user who can rename anything
/// over the temporary name at any moment: a symlink makes the open fail
/// (`ELOOP`), a FIFO or file of theirs fails the owner check, and no later
/// step looks the path up again, so nothing of theirs is ever chmod-ed,
/// chown-ed or given an ACL.
fn make(spec: &FifoSpec, at: &Path) -> Result<ServerFifo, CreateError> {
    let path = at;
    // Mode 0 makes no sense: 0600, as OpenSIPS does (serve warns once at start).
    let mode = if spec.mode & 0o7777 == 0 {
        0o600
    } else {
        spec.mode & 0o7777
    };
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)).map_err(|e| {
        let mut source = errno(e);
        if e == nix::errno::Errno::EACCES {
            let dir = spec.path.parent().unwrap_or(Path::new("/"));
            source = std::io::Error::new(
                source.kind(),
                format!(
                    "{source}: you cannot create files in '{}'; serve another path (--fifo) \
                     or run serve as a user who can",
                    dir.display()
                ),
            );
        }
        io("create FIFO", &spec.path)(source)
    })?;
    #[cfg(test)]
    AFTER_MKFIFO.with(|h| {
        if let Some(h) = h.borrow().as_ref() {
            h(path)
        }
    });
    let replaced = |what: String| {
        io("open", &spec.path)(std::io::Error::other(format!(
            "the new FIFO (made as '{}') was replaced before it was opened ({what}); someone \
             renames files in this directory",
            path.display()
        )))
    };
    let reader = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(replaced("a symbolic link is there now".into()))
        }
        Err(e) => return Err(io("open for reading", &spec.path)(e)),
    };
    let m = reader.metadata().map_err(io("inspect", &spec.path))?;
    let me = nix::unistd::geteuid().as_raw();
    if !m.file_type().is_fifo() || m.uid() != me || m.nlink() != 1 {
        return Err(replaced(format!(
            "a {} of uid {} with {} links is there now",
            FileKind::of(m.file_type()).name(),
            m.uid(),
            m.nlink()
        )));
    }
    // From here on, a failure removes what we created (only while the name
    // is still this inode).
    let guard = FifoGuard::with_identity(path, m.dev(), m.ino());
    let fd = reader.as_raw_fd();
    // Errors name the path the user gave, never the temporary name.
    let named = &spec.path;
    if spec.owner.is_some() || spec.group.is_some() {
        nix::unistd::fchown(fd, spec.owner, spec.group).map_err(|e| {
            let mut source = errno(e);
            if e == nix::errno::Errno::EPERM {
                source = std::io::Error::new(
                    source.kind(),
                    format!(
                        "{source}: only root may give the FIFO to another user, and a group \
                         needs root or membership in it; run serve as root (it drops to \
                         --user), or pass --group of a group you are in"
                    ),
                );
            }
            io("set the owner or group of", named)(source)
        })?;
    }
    nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(mode))
        .map_err(|e| io("chmod", named)(errno(e)))?;
    if !spec.acl.is_empty() {
        let acl = Acl::from_mode_with(mode, &spec.acl);
        acl::write_fd(&reader, &acl).map_err(io("set the ACL of", named))?;
    }
    let writer = reopen_writer(&reader, path, named)?;
    Ok(ServerFifo {
        reader,
        writer,
        guard,
    })
}

/// The keep-alive writer, opened on the reader's inode through
/// `/proc/self/fd` (no lookup of the directory entry at all). Without
/// `/proc`, `path` (the temporary name) is opened with `O_NOFOLLOW` and
/// must be the same inode. Errors name `named`, the path the user gave.
fn reopen_writer(reader: &File, path: &Path, named: &Path) -> Result<File, CreateError> {
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(p)
    };
    let via_proc = PathBuf::from(format!("/proc/self/fd/{}", reader.as_raw_fd()));
    let writer = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&via_proc)
    {
        Ok(w) => w,
        Err(_) => open(path).map_err(io("open the keep-alive writer of", named))?,
    };
    let (r, w) = (
        reader.metadata().map_err(io("inspect", named))?,
        writer.metadata().map_err(io("inspect", named))?,
    );
    if (r.dev(), r.ino()) != (w.dev(), w.ino()) {
        return Err(io("open the keep-alive writer of", named)(
            std::io::Error::other("the path was replaced while it was being created"),
        ));
    }
    Ok(writer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// `has_reader` never follows a symlink (a FIFO without a reader behind
    /// one would read as "no reader"; a device behind one would be opened)
    /// and never counts a regular file as a reader.
    #[test]
    fn has_reader_does_not_follow_symlinks_or_count_files() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target_fifo");
        nix::unistd::mkfifo(&target, Mode::from_bits_truncate(0o600)).unwrap();
        assert!(!has_reader(&target), "no reader yet");
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(
            has_reader(&link),
            "a symlink is not followed, and counts as read"
        );
        let file = d.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(!has_reader(&file), "a regular file is no reader");
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }

    /// The probe serve's recreation check and `check_path` share: `ENXIO`
    /// without a reader, `ELOOP` for a symlink even to a read FIFO (the path
    /// is looked at before it is opened, and may be swapped in between).
    #[test]
    fn the_reader_probe_follows_no_symlink() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        let errno = |p: &Path| open_reader_probe(p).err().and_then(|e| e.raw_os_error());
        assert_eq!(errno(&fifo), Some(libc::ENXIO));
        let _r = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        assert_eq!(errno(&fifo), None, "read now");
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert_eq!(errno(&link), Some(libc::ELOOP));
    }

    #[test]
    fn creates_with_exact_mode_despite_umask() {
        let d = tempfile::tempdir().unwrap();
        let mut spec = FifoSpec::new(d.path().join("f"));
        spec.mode = 0o666;
        let old = nix::sys::stat::umask(Mode::from_bits_truncate(0o077));
        let s = create(&spec);
        nix::sys::stat::umask(old);
        let s = s.unwrap();
        let m = std::fs::symlink_metadata(&spec.path).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.permissions().mode() & 0o7777, 0o666);
        drop(s);
        assert!(!spec.path.exists(), "guard unlinks");
    }

    #[test]
    fn recreate_renames_a_ready_fifo_over_ours() {
        let d = tempfile::tempdir().unwrap();
        let mut spec = FifoSpec::new(d.path().join("f"));
        spec.mode = 0o640;
        let old = create(&spec).unwrap();
        // Our FIFO, still at the path and read by us, is replaced (not refused).
        let new = recreate(&spec, old.dev_ino()).unwrap();
        assert_ne!(new.dev_ino(), old.dev_ino());
        let m = std::fs::symlink_metadata(&spec.path).unwrap();
        assert_eq!(Some((m.dev(), m.ino())), new.dev_ino());
        assert_eq!(m.permissions().mode() & 0o7777, 0o640);
        assert!(has_reader(&spec.path));
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Someone else's identity does not count as ours: refused while read.
        let other = create(&FifoSpec::new(d.path().join("g"))).unwrap();
        assert!(matches!(
            recreate(&spec, other.dev_ino()),
            Err(CreateError::AlreadyServed { .. })
        ));
        // The old guard no longer matches the path: dropping it unlinks nothing.
        drop(old);
        assert!(spec.path.exists());
        drop(new);
        assert!(!spec.path.exists(), "the renamed guard unlinks the path");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "only g");
    }

    fn names_in(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// The attacker of issue 10 finding 1: owns the directory and renames a
    /// symlink to a file of ours over the temporary name right after mkfifo.
    /// Nothing may follow it (mode, owner and ACL of the target unchanged),
    /// on every single create.
    #[test]
    fn a_symlink_swapped_in_after_mkfifo_is_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"secret").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let victim_fifo = d.path().join("victim_fifo");
        nix::unistd::mkfifo(&victim_fifo, Mode::from_bits_truncate(0o600)).unwrap();
        let mut spec = FifoSpec::new(d.path().join("f"));
        spec.mode = 0o666;
        for target in [&victim, &victim_fifo] {
            let target = target.clone();
            AFTER_MKFIFO.with(|h| {
                *h.borrow_mut() = Some(Box::new(move |tmp: &Path| {
                    let link = tmp.with_file_name("evil");
                    std::os::unix::fs::symlink(&target, &link).unwrap();
                    std::fs::rename(&link, tmp).unwrap();
                }))
            });
            let e = crate::server::error_chain(&create(&spec).unwrap_err());
            assert!(e.contains("symbolic link"), "{e}");
            // Named by the path the user gave (the temporary name only as
            // where the new FIFO was made).
            assert!(e.contains(&format!("'{}'", spec.path.display())), "{e}");
        }
        // A FIFO of someone else (here: a hard link to ours, 2 links) renamed in.
        AFTER_MKFIFO.with(|h| {
            *h.borrow_mut() = Some(Box::new(|tmp: &Path| {
                let other = tmp.with_file_name("other");
                std::fs::hard_link(tmp.with_file_name("victim_fifo"), &other).unwrap();
                std::fs::rename(&other, tmp).unwrap();
            }))
        });
        let e = crate::server::error_chain(&create(&spec).unwrap_err());
        assert!(e.contains("2 links"), "{e}");
        assert!(e.contains(&format!("'{}'", spec.path.display())), "{e}");
        AFTER_MKFIFO.with(|h| *h.borrow_mut() = None);
        for p in [&victim, &victim_fifo] {
            let m = std::fs::symlink_metadata(p).unwrap();
            assert_eq!(m.permissions().mode() & 0o7777, 0o600, "{}", p.display());
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"secret");
        // Without the attacker it works, and nothing is left but what was there.
        for n in names_in(d.path()) {
            if n.contains(".mififo-new-") {
                std::fs::remove_file(d.path().join(n)).unwrap();
            }
        }
        let s = create(&spec).unwrap();
        assert_eq!(names_in(d.path()), ["f", "victim", "victim_fifo"]);
        drop(s);
    }

    #[test]
    fn a_failed_recreation_leaves_no_temporary_name() {
        let d = tempfile::tempdir().unwrap();
        let spec = FifoSpec::new(d.path().join("f"));
        // When the rename fails (a non-empty directory appeared at the
        // path after the check), the temporary FIFO is removed.
        std::fs::create_dir(&spec.path).unwrap();
        std::fs::write(spec.path.join("x"), b"x").unwrap();
        let e = install(&spec).unwrap_err();
        assert!(e.to_string().contains("rename the new FIFO over"), "{e}");
        assert_eq!(names_in(d.path()), ["f"], "temporary FIFO left behind");
    }

    /// `create_after` runs `prepare` once the path has passed its checks and
    /// before the FIFO is there (the pid file exists by the time a client
    /// sees the FIFO); a `prepare` error creates nothing, and a path that
    /// fails its checks never gets as far as `prepare`.
    #[test]
    fn create_after_prepares_between_the_checks_and_the_fifo() {
        #[derive(Debug)]
        enum E {
            Create(CreateError),
            Prepare,
        }
        impl From<CreateError> for E {
            fn from(e: CreateError) -> Self {
                E::Create(e)
            }
        }
        let d = tempfile::tempdir().unwrap();
        let spec = FifoSpec::new(d.path().join("f"));
        let (s, seen) = create_after(&spec, || {
            Ok::<_, E>(std::fs::symlink_metadata(&spec.path).is_err())
        })
        .unwrap();
        assert!(seen, "the FIFO was there before prepare ran");
        assert!(std::fs::symlink_metadata(&spec.path)
            .unwrap()
            .file_type()
            .is_fifo());
        drop(s);
        let e = create_after(&spec, || Err::<(), _>(E::Prepare)).unwrap_err();
        assert!(matches!(e, E::Prepare), "{e:?}");
        assert!(
            std::fs::symlink_metadata(&spec.path).is_err(),
            "a FIFO was made though prepare failed"
        );
        let missing = FifoSpec::new(d.path().join("no/such/f"));
        let mut ran = false;
        let e = create_after(&missing, || {
            ran = true;
            Ok::<_, E>(())
        })
        .unwrap_err();
        assert!(
            matches!(e, E::Create(CreateError::ParentMissing { .. })),
            "{e:?}"
        );
        assert!(!ran, "prepare ran for a path that failed its checks");
        // Nothing else was left in the directory (no temporary name).
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn existing_paths() {
        let d = tempfile::tempdir().unwrap();
        let mut spec = FifoSpec::new(d.path().join("f"));
        // Stale FIFO: replaced.
        nix::unistd::mkfifo(&spec.path, Mode::from_bits_truncate(0o600)).unwrap();
        let first = create(&spec).unwrap();
        // Live FIFO (we hold its reader): refused, naming our pid.
        match create(&spec) {
            Err(CreateError::AlreadyServed { pids, .. }) => {
                assert_eq!(pids, Vec::<i32>::new(), "our own pid is excluded")
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        // Regular file: refused unless forced.
        std::fs::write(&spec.path, b"x").unwrap();
        assert!(matches!(
            create(&spec),
            Err(CreateError::NotAFifo {
                kind: "regular file",
                ..
            })
        ));
        spec.force = true;
        assert!(create(&spec).is_ok());
        // A directory: never replaced, and the message does not offer --force.
        let mut dir_spec = FifoSpec::new(d.path().join("dir"));
        std::fs::create_dir(&dir_spec.path).unwrap();
        dir_spec.force = true;
        let e = create(&dir_spec).unwrap_err();
        assert!(e.to_string().contains("never replaced"), "{e}");
        assert!(!e.to_string().contains("pass --force"), "{e}");
        // Missing parent.
        let spec = FifoSpec::new(d.path().join("no/such/f"));
        let e = create(&spec).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
