//! `--pidfile`: our pid and a newline, written once the FIFO's path has
//! passed its checks and before the FIFO appears there (so it exists by the
//! time a client sees the FIFO served), removed on exit only if it still
//! holds our pid (a newer instance may have taken it).
//!
//! The pid file is written before the privilege drop, often as root, in a
//! directory another user may be able to write. So it is never opened
//! through a symlink (`O_NOFOLLOW`), and an existing file is reused only when
//! it is a regular file of ours with one link: a foreign file, a hard link
//! or anything that is not a regular file is refused with the reason, never
//! truncated.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A written pid file; removed on drop.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
}

fn refuse(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, why)
}

/// Opens `path` for writing without following a symlink, creating it 0644 if
/// missing; refuses what is not a regular file of ours with one link.
fn open_own(path: &Path) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => {
                refuse("it is a symbolic link; refusing to follow it (remove it)".into())
            }
            Some(libc::ENXIO) => refuse("it is a FIFO, not a pid file".into()),
            _ => e,
        })?;
    let m = f.metadata()?;
    let me = nix::unistd::geteuid().as_raw();
    if !m.file_type().is_file() {
        return Err(refuse(format!(
            "it is a {}, not a pid file",
            crate::sys::FileKind::of(m.file_type()).name()
        )));
    }
    if m.uid() != me {
        return Err(refuse(format!(
            "it belongs to uid {}, not to us (uid {me}); remove it if it is stale",
            m.uid()
        )));
    }
    if m.nlink() != 1 {
        return Err(refuse(format!(
            "it has {} hard links; refusing to write through a link",
            m.nlink()
        )));
    }
    Ok(f)
}

impl Pidfile {
    /// Writes the pid file.
    ///
    /// # Errors
    /// The I/O error, or `PermissionDenied` naming why an existing file at
    /// the path is not ours to overwrite.
    pub fn write(path: &Path) -> std::io::Result<Pidfile> {
        let mut f = open_own(path)?;
        f.set_len(0)?;
        f.write_all(format!("{}\n", std::process::id()).as_bytes())?;
        Ok(Pidfile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let ours = format!("{}\n", std::process::id());
        let still_ours = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&self.path)
            .and_then(|f| {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::Read::take(f, 32), &mut s)?;
                Ok(s)
            })
            .is_ok_and(|s| s == ours);
        if still_ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!("cannot remove pid file '{}': {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_creates_and_reuses_its_own_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pid");
        std::fs::write(&p, b"999999999\nold junk\n").unwrap();
        let pf = Pidfile::write(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(pf);
        assert!(!p.exists());
    }

    #[test]
    fn refuses_symlinks_hard_links_and_non_files() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let p = d.path().join("pid");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let e = Pidfile::write(&p).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::remove_file(&p).unwrap();
        std::fs::hard_link(&victim, &p).unwrap();
        let e = Pidfile::write(&p).unwrap_err();
        assert!(e.to_string().contains("hard links"), "{e}");
        std::fs::remove_file(&p).unwrap();
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = Pidfile::write(&p).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
