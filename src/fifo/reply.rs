//! Opening a client's reply FIFO the way OpenSIPS does, and refusing anything
//! a hostile client could use to make the server write elsewhere.
//!
//! OpenSIPS (`mi_open_reply_pipe`, `mi_fifo_check`): `open(O_WRONLY|O_NONBLOCK)`,
//! on ENXIO (no reader yet) 4 more tries 80 ms apart, then `fstat` must say
//! FIFO with one link, `lstat` must not be a symlink and must be the same
//! device and inode. We do the same checks, plus an `lstat` *before* opening
//! (a regular file, a symlink or a hard link is never opened at all, so
//! not even an EOF reaches whoever reads the target) and `O_NOFOLLOW`. The
//! retries sleep asynchronously, so one slow client does not block the others
//! (OpenSIPS blocks its whole MI process for ~320 ms).
//!
//! Writes stay non-blocking and have a deadline: a client that keeps its reply
//! FIFO open without reading only loses its own reply.

use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;

/// Extra attempts after the first ENXIO (`FIFO_REPLY_RETRIES`).
pub const RETRIES: u32 = 4;
/// Pause between attempts (`FIFO_REPLY_WAIT`).
pub const RETRY_WAIT: Duration = Duration::from_millis(80);

/// First pause when opening a reply FIFO fails for lack of descriptors
/// (EMFILE/ENFILE); doubled up to [`FD_BACKOFF_MAX`].
pub const FD_BACKOFF_FIRST: Duration = Duration::from_millis(5);
/// Longest pause between attempts while out of descriptors.
pub const FD_BACKOFF_MAX: Duration = Duration::from_millis(200);
/// How long a request keeps retrying while out of descriptors.
pub const FD_WAIT_MAX: Duration = Duration::from_secs(5);

/// Why a reply could not be delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// Nobody opened the reply FIFO for reading within the retry window.
    #[error("no client at '{path}' (nobody read the reply FIFO within {} ms)", RETRY_WAIT.as_millis() * u128::from(RETRIES))]
    NoClient {
        /// The reply path.
        path: PathBuf,
    },
    /// `open` or `lstat` failed (ENOENT, EACCES…).
    #[error("cannot open reply FIFO '{path}'")]
    Open {
        /// The reply path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The path is unsafe to write: not a FIFO, a symlink, hard-linked, or swapped.
    #[error("refusing to write reply to '{path}': {reason}")]
    Unsafe {
        /// The reply path.
        path: PathBuf,
        /// `is a symbolic link`, `is a regular file, not a FIFO`, …
        reason: String,
    },
    /// The reply could not be written in time.
    #[error(
        "writing the reply to '{path}' timed out after {timeout:?} (the client does not read)"
    )]
    Timeout {
        /// The reply path.
        path: PathBuf,
        /// The deadline.
        timeout: Duration,
    },
    /// Too many requests already wait for this reply FIFO (or in total).
    #[error("dropping reply to '{path}': {reason}")]
    Busy {
        /// The reply path.
        path: PathBuf,
        /// Which limit was hit.
        reason: String,
    },
    /// A write failed (EPIPE: the client went away).
    #[error("cannot write reply to '{path}'")]
    Write {
        /// The reply path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// An open, verified reply FIFO.
#[derive(Debug)]
pub struct ReplyFifo {
    /// The non-blocking descriptor; registered with the runtime only when a
    /// write has to wait ([`ReplyFifo::write_and_close`]).
    file: std::fs::File,
    path: PathBuf,
}

fn check_lstat(path: &Path) -> Result<std::fs::Metadata, ReplyError> {
    let m = std::fs::symlink_metadata(path).map_err(|source| ReplyError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let unsafe_ = |reason: String| ReplyError::Unsafe {
        path: path.to_path_buf(),
        reason,
    };
    let ft = m.file_type();
    if ft.is_symlink() {
        return Err(unsafe_("it is a symbolic link".into()));
    }
    if !ft.is_fifo() {
        return Err(unsafe_(format!(
            "it is a {}, not a FIFO",
            crate::sys::FileKind::of(ft).name()
        )));
    }
    if m.nlink() > 1 {
        return Err(unsafe_(format!("it is hard-linked {} times", m.nlink())));
    }
    Ok(m)
}

/// One open attempt with all checks; `Ok(None)` on ENXIO (no reader yet).
///
/// # Errors
/// [`ReplyError::Open`] or [`ReplyError::Unsafe`].
pub fn open_once(path: &Path) -> Result<Option<std::fs::File>, ReplyError> {
    check_lstat(path)?;
    let file = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReplyError::Unsafe {
                path: path.to_path_buf(),
                reason: "it is a symbolic link".into(),
            })
        }
        Err(source) => {
            return Err(ReplyError::Open {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let unsafe_ = |reason: String| ReplyError::Unsafe {
        path: path.to_path_buf(),
        reason,
    };
    let f = file.metadata().map_err(|source| ReplyError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if !f.file_type().is_fifo() {
        return Err(unsafe_("the opened file is not a FIFO".into()));
    }
    if f.nlink() > 1 {
        return Err(unsafe_(format!("it is hard-linked {} times", f.nlink())));
    }
    let l = check_lstat(path)?;
    if (l.dev(), l.ino()) != (f.dev(), f.ino()) {
        return Err(unsafe_("the path changed while it was being opened".into()));
    }
    Ok(Some(file))
}

impl ReplyFifo {
    /// Opens and verifies `path`, retrying ENXIO like OpenSIPS (5 attempts, 80 ms apart).
    ///
    /// # Errors
    /// [`ReplyError::NoClient`] after the retries, or the first other failure.
    pub async fn open(path: &Path) -> Result<ReplyFifo, ReplyError> {
        Self::open_with(path, || Ok(())).await
    }

    /// One attempt, without waiting: `Ok(None)` when the caller has to wait
    /// (no reader yet, or out of descriptors) and should use
    /// [`ReplyFifo::open_with`].
    ///
    /// # Errors
    /// As [`open_once`], except the conditions worth waiting for.
    pub fn open_now(path: &Path) -> Result<Option<ReplyFifo>, ReplyError> {
        match open_once(path) {
            Ok(Some(file)) => Ok(Some(ReplyFifo {
                file,
                path: path.to_path_buf(),
            })),
            Ok(None) => Ok(None),
            Err(ReplyError::Open { source, .. })
                if matches!(source.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Like [`ReplyFifo::open`]; `before_waiting` runs once, when the first
    /// attempt found no reader and the retry window begins (the server moves
    /// the request to its side path there, or refuses with the error it
    /// returns).
    ///
    /// # Errors
    /// As [`ReplyFifo::open`], or what `before_waiting` returned.
    pub async fn open_with(
        path: &Path,
        mut before_waiting: impl FnMut() -> Result<(), ReplyError>,
    ) -> Result<ReplyFifo, ReplyError> {
        let mut waiting = false;
        let mut wait = |waiting: &mut bool| {
            if !*waiting {
                *waiting = true;
                return before_waiting();
            }
            Ok(())
        };
        let mut attempt = 0;
        let mut fd_backoff = FD_BACKOFF_FIRST;
        let mut fd_waited = Duration::ZERO;
        loop {
            match open_once(path) {
                Ok(Some(file)) => {
                    return Ok(ReplyFifo {
                        file,
                        path: path.to_path_buf(),
                    });
                }
                Ok(None) if attempt < RETRIES => {
                    wait(&mut waiting)?;
                    attempt += 1;
                    tokio::time::sleep(RETRY_WAIT).await;
                }
                Ok(None) => {
                    return Err(ReplyError::NoClient {
                        path: path.to_path_buf(),
                    })
                }
                // Out of descriptors (ours or the system's): other requests
                // will close theirs soon. Back off and retry instead of
                // dropping the request (its client would wait out its
                // timeout); give up, with the error, after FD_WAIT_MAX.
                Err(ReplyError::Open { source, .. })
                    if matches!(source.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
                        && fd_waited < FD_WAIT_MAX =>
                {
                    wait(&mut waiting)?;
                    tokio::time::sleep(fd_backoff).await;
                    fd_waited += fd_backoff;
                    fd_backoff = (fd_backoff * 2).min(FD_BACKOFF_MAX);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The reply path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes all of `bytes` within `timeout` and keeps the FIFO open (for
    /// `serve --fault trickle`; dropping the value closes it).
    ///
    /// # Errors
    /// [`ReplyError::Timeout`] or [`ReplyError::Write`].
    pub async fn write_part(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), ReplyError> {
        // A test-only path (a few bytes at a time): poll for room rather than
        // registering the descriptor with the reactor.
        let deadline = tokio::time::Instant::now() + timeout;
        let mut done = 0;
        while done < bytes.len() {
            done += self.write_now(&bytes[done..])?;
            if done < bytes.len() {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ReplyError::Timeout {
                        path: self.path.clone(),
                        timeout,
                    });
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Ok(())
    }

    /// Writes what fits into the FIFO now, without waiting; returns how many
    /// bytes were written (fewer than `bytes.len()` when the pipe is full).
    ///
    /// # Errors
    /// [`ReplyError::Write`] (EPIPE: the client went away).
    pub fn write_now(&mut self, bytes: &[u8]) -> Result<usize, ReplyError> {
        let mut done = 0;
        while done < bytes.len() {
            match std::io::Write::write(&mut self.file, &bytes[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ReplyError::Write {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
        Ok(done)
    }

    /// Writes all of `bytes` within `timeout`, then closes (EOF = end of reply).
    ///
    /// # Errors
    /// [`ReplyError::Timeout`] or [`ReplyError::Write`].
    pub async fn write_and_close(self, bytes: &[u8], timeout: Duration) -> Result<(), ReplyError> {
        let path = self.path;
        let mut sender =
            pipe::Sender::from_file(self.file).map_err(|source| ReplyError::Write {
                path: path.clone(),
                source,
            })?;
        match tokio::time::timeout(timeout, sender.write_all(bytes)).await {
            Err(_) => Err(ReplyError::Timeout { path, timeout }),
            Ok(Err(source)) => Err(ReplyError::Write { path, source }),
            Ok(Ok(())) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;

    fn fifo(p: &Path) {
        nix::unistd::mkfifo(p, Mode::from_bits_truncate(0o600)).unwrap();
    }

    fn reader(p: &Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(p)
            .unwrap()
    }

    #[test]
    fn refuses_hostile_paths() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(open_once(&link), Err(ReplyError::Unsafe { .. })));
        assert!(matches!(open_once(&target), Err(ReplyError::Unsafe { .. })));
        // Symlink to a FIFO with a reader: still refused.
        let f = d.path().join("f");
        fifo(&f);
        let _r = reader(&f);
        let flink = d.path().join("flink");
        std::os::unix::fs::symlink(&f, &flink).unwrap();
        assert!(matches!(open_once(&flink), Err(ReplyError::Unsafe { .. })));
        // Hard-linked FIFO.
        let hard = d.path().join("hard");
        std::fs::hard_link(&f, &hard).unwrap();
        assert!(matches!(open_once(&hard), Err(ReplyError::Unsafe { .. })));
        std::fs::remove_file(&hard).unwrap();
        assert!(open_once(&f).unwrap().is_some());
        assert!(matches!(
            open_once(&d.path().join("missing")),
            Err(ReplyError::Open { .. })
        ));
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    }

    // Paused time: the retry pauses are counted exactly, and take no time.
    #[tokio::test(start_paused = true)]
    async fn retries_then_gives_up_without_a_reader() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fifo(&f);
        let t0 = tokio::time::Instant::now();
        assert!(matches!(
            ReplyFifo::open(&f).await,
            Err(ReplyError::NoClient { .. })
        ));
        // OpenSIPS's schedule: RETRIES pauses of RETRY_WAIT, then give up.
        assert_eq!(t0.elapsed(), RETRY_WAIT * RETRIES);
    }

    #[tokio::test]
    async fn a_reader_arriving_within_the_window_gets_the_reply() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fifo(&f);
        let f2 = f.clone();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut r = std::fs::File::open(&f2).unwrap();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut r, &mut s).unwrap();
            s
        });
        let w = ReplyFifo::open(&f).await.unwrap();
        w.write_and_close(b"hello", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(late.join().unwrap(), "hello");
    }

    #[tokio::test]
    async fn a_reader_that_never_reads_times_out() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fifo(&f);
        let _r = reader(&f);
        let w = ReplyFifo::open(&f).await.unwrap();
        let big = vec![b'x'; 1 << 20];
        assert!(matches!(
            w.write_and_close(&big, Duration::from_millis(200)).await,
            Err(ReplyError::Timeout { .. })
        ));
    }
}
