//! Creating the server's MI FIFO.
//!
//! Order of operations (OpenSIPS `mi_create_fifo`, then our extras):
//! 1. look at what is at the path: nothing → fine; a FIFO some live process
//!    reads → refuse, naming the holder pid (OpenSIPS unlinks it and steals
//!    the path from the other instance); a stale FIFO → unlink; anything else
//!    → refuse unless `force` (OpenSIPS unlinks it silently);
//! 2. `mkfifo`, then `chmod` to the exact mode (the umask never matters);
//! 3. `chown` when an owner or group was asked for;
//! 4. write the ACL to `system.posix_acl_access` when entries were asked for;
//! 5. open the reader (`O_RDONLY|O_NONBLOCK`) and a keep-alive writer
//!    (`O_WRONLY|O_NONBLOCK`), so the read side never sees EOF when clients
//!    come and go, and check the reader is the inode we created.

use super::acl::{self, Acl};
use super::FifoGuard;
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use std::fs::File;
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
    /// Something other than a FIFO is at the path.
    #[error(
        "'{path}' exists and is a {kind}, not a FIFO; remove it or pass --force to replace it"
    )]
    NotAFifo {
        /// The path.
        path: PathBuf,
        /// `regular file`, `directory`…
        kind: &'static str,
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

/// The kind of a file, for messages.
pub fn kind_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "device"
    } else {
        "regular file"
    }
}

/// A process holding a FIFO open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: i32,
    /// The fd number in that process.
    pub fd: i32,
    /// `O_ACCMODE` of the open: 0 read, 1 write, 2 read-write.
    pub access: u32,
}

/// Scans `/proc/*/fd/*` for descriptors open on the inode `(dev, ino)`.
/// Processes whose fds we may not read (other users, without root) are skipped.
pub fn holders(dev: u64, ino: u64) -> Vec<Holder> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(m) = std::fs::metadata(fd.path()) else {
                continue;
            };
            if (m.dev(), m.ino()) != (dev, ino) {
                continue;
            }
            let Some(fdn) = fd.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let access = std::fs::read_to_string(p.path().join(format!("fdinfo/{fdn}")))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("flags:"))
                        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                })
                .map_or(2, |f| f & 3);
            out.push(Holder {
                pid,
                fd: fdn,
                access,
            });
        }
    }
    out
}

/// True when some process has `path` open for reading (a non-blocking write
/// open succeeds). Opens and closes a writer, which a server must tolerate.
pub fn has_reader(path: &Path) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .is_ok()
}

/// Creates the FIFO at start-up, applying the existing-path policy of the
/// module documentation.
///
/// # Errors
/// [`CreateError`] naming the path and the step that failed.
pub fn create(spec: &FifoSpec) -> Result<ServerFifo, CreateError> {
    clear_path(spec, false)?;
    make(spec)
}

/// Recreates the FIFO while serving (path deleted or replaced, or SIGHUP):
/// whatever is at the path is removed — except a FIFO another live process
/// reads, and a directory.
///
/// # Errors
/// As [`create`].
pub fn recreate(spec: &FifoSpec) -> Result<ServerFifo, CreateError> {
    clear_path(spec, true)?;
    make(spec)
}

fn clear_path(spec: &FifoSpec, replacing: bool) -> Result<(), CreateError> {
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
        let live = match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(_) => true,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => false,
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
            let pids: Vec<i32> = holders(meta.dev(), meta.ino())
                .into_iter()
                .filter(|h| h.access != 1 && h.pid != std::process::id() as i32)
                .map(|h| h.pid)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
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
        tracing::info!(path = %path.display(), "replacing stale FIFO (no reader)");
    } else if ft.is_dir() || !(spec.force || replacing) {
        return Err(CreateError::NotAFifo {
            path: path.clone(),
            kind: kind_name(ft),
        });
    } else {
        tracing::warn!(path = %path.display(), kind = kind_name(ft), "replacing a non-FIFO at the FIFO path");
    }
    std::fs::remove_file(path).map_err(io("remove", path))
}

fn make(spec: &FifoSpec) -> Result<ServerFifo, CreateError> {
    let path = &spec.path;
    let mode = if spec.mode & 0o7777 == 0 {
        tracing::warn!("FIFO mode 0 makes no sense; using 0600 as OpenSIPS does");
        0o600
    } else {
        spec.mode & 0o7777
    };
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600))
        .map_err(|e| io("create FIFO", path)(errno(e)))?;
    // From here on, a failure removes what we created.
    let guard = FifoGuard::new(path);
    nix::sys::stat::fchmodat(
        None,
        path,
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| io("chmod", path)(errno(e)))?;
    if spec.owner.is_some() || spec.group.is_some() {
        nix::unistd::chown(path, spec.owner, spec.group)
            .map_err(|e| io("chown", path)(errno(e)))?;
    }
    if !spec.acl.is_empty() {
        let acl = Acl::from_mode_with(mode, &spec.acl);
        acl::write(path, &acl).map_err(io("set the ACL of", path))?;
    }
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io("open for reading", path))?;
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io("open the keep-alive writer of", path))?;
    let m = reader.metadata().map_err(io("inspect", path))?;
    if Some((m.dev(), m.ino())) != guard.dev_ino() {
        return Err(io("open", path)(std::io::Error::other(
            "the path was replaced while it was being created",
        )));
    }
    Ok(ServerFifo {
        reader,
        writer,
        guard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
        // Missing parent.
        let spec = FifoSpec::new(d.path().join("no/such/f"));
        let e = create(&spec).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn holders_are_found() {
        let d = tempfile::tempdir().unwrap();
        let s = create(&FifoSpec::new(d.path().join("f"))).unwrap();
        let (dev, ino) = s.dev_ino().unwrap();
        let hs = holders(dev, ino);
        let me = std::process::id() as i32;
        assert!(hs.iter().any(|h| h.pid == me && h.access == 0), "{hs:?}");
        assert!(hs.iter().any(|h| h.pid == me && h.access == 1), "{hs:?}");
    }
}
