//! A guard that removes a FIFO when it goes out of scope.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Unlinks `path` on drop — but only while it is still the FIFO this guard
/// created (same device and inode), so a guard never removes a FIFO that
/// another process put at the same path in the meantime.
#[derive(Debug)]
pub struct FifoGuard {
    path: PathBuf,
    dev_ino: Option<(u64, u64)>,
}

impl FifoGuard {
    /// Guards the FIFO now at `path` (its identity is read immediately).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let dev_ino = std::fs::symlink_metadata(&path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        FifoGuard { path, dev_ino }
    }

    /// Guards the FIFO at `path` whose identity the caller already knows
    /// (`st_dev`, `st_ino`, e.g. from the `fstat` of the descriptor it
    /// opened), saving the `lstat` of [`FifoGuard::new`].
    pub fn with_identity(path: impl Into<PathBuf>, dev: u64, ino: u64) -> Self {
        FifoGuard {
            path: path.into(),
            dev_ino: Some((dev, ino)),
        }
    }

    /// The guarded path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `(st_dev, st_ino)` of the guarded FIFO, if it existed when guarded.
    pub fn dev_ino(&self) -> Option<(u64, u64)> {
        self.dev_ino
    }

    /// Removes the FIFO now (if it is still ours) and disarms the guard.
    pub fn remove(mut self) -> std::io::Result<()> {
        self.unlink_if_ours()
    }

    /// The same FIFO after it was renamed to `path`: the returned guard
    /// unlinks `path` while it is still this inode; `self` is disarmed.
    pub fn moved_to(mut self, path: impl Into<PathBuf>) -> FifoGuard {
        FifoGuard {
            path: path.into(),
            dev_ino: self.dev_ino.take(),
        }
    }

    /// Forgets the FIFO without removing it.
    pub fn disarm(mut self) {
        self.dev_ino = None;
    }

    fn unlink_if_ours(&mut self) -> std::io::Result<()> {
        let Some(ours) = self.dev_ino.take() else {
            return Ok(());
        };
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == ours => std::fs::remove_file(&self.path),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for FifoGuard {
    fn drop(&mut self) {
        if let Err(e) = self.unlink_if_ours() {
            tracing::warn!("cannot remove FIFO '{}': {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;

    #[test]
    fn removes_its_own_fifo_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).unwrap();
        drop(FifoGuard::new(&p));
        assert!(!p.exists());

        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).unwrap();
        let g = FifoGuard::new(&p);
        // Move ours aside (keeping its inode alive) and put another FIFO there.
        std::fs::rename(&p, dir.path().join("old")).unwrap();
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).unwrap();
        drop(g);
        assert!(p.exists(), "a replaced FIFO belongs to someone else");
    }

    #[test]
    fn a_known_identity_is_guarded_like_a_read_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).unwrap();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let g = FifoGuard::with_identity(&p, m.dev(), m.ino());
        let read = FifoGuard::new(&p);
        assert_eq!(g.dev_ino(), read.dev_ino());
        read.disarm();
        drop(g);
        assert!(!p.exists());

        // Not our inode (ours moved aside, another FIFO at the path): left alone.
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).unwrap();
        let m = std::fs::symlink_metadata(&p).unwrap();
        std::fs::rename(&p, dir.path().join("old")).unwrap();
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).unwrap();
        drop(FifoGuard::with_identity(&p, m.dev(), m.ino()));
        assert!(
            p.exists(),
            "another inode at the path belongs to someone else"
        );
    }
}
