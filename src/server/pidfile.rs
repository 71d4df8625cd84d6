//! `--pidfile`: our pid and a newline, written after start-up, removed on
//! exit only if it still holds our pid (a newer instance may have taken it).

use std::path::{Path, PathBuf};

/// A written pid file; removed on drop.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
}

impl Pidfile {
    /// Writes the pid file.
    ///
    /// # Errors
    /// The I/O error.
    pub fn write(path: &Path) -> std::io::Result<Pidfile> {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
        Ok(Pidfile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let ours = format!("{}\n", std::process::id());
        if std::fs::read_to_string(&self.path).is_ok_and(|s| s == ours) {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!("cannot remove pid file '{}': {e}", self.path.display());
            }
        }
    }
}
