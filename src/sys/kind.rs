//! The type of a file, from `st_mode & S_IFMT`, and how messages name it.

use std::os::unix::fs::FileTypeExt;

/// File type, from `st_mode & S_IFMT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `p`
    Fifo,
    /// `d`
    Dir,
    /// `-`
    Regular,
    /// `l`
    Symlink,
    /// `s`
    Socket,
    /// `c`
    Char,
    /// `b`
    Block,
}

impl FileKind {
    /// The kind of a [`std::fs::FileType`].
    pub fn of(ft: std::fs::FileType) -> FileKind {
        if ft.is_fifo() {
            FileKind::Fifo
        } else if ft.is_dir() {
            FileKind::Dir
        } else if ft.is_symlink() {
            FileKind::Symlink
        } else if ft.is_socket() {
            FileKind::Socket
        } else if ft.is_char_device() {
            FileKind::Char
        } else if ft.is_block_device() {
            FileKind::Block
        } else {
            FileKind::Regular
        }
    }

    /// The `ls -l` type letter.
    pub fn letter(self) -> char {
        match self {
            FileKind::Fifo => 'p',
            FileKind::Dir => 'd',
            FileKind::Regular => '-',
            FileKind::Symlink => 'l',
            FileKind::Socket => 's',
            FileKind::Char => 'c',
            FileKind::Block => 'b',
        }
    }

    /// A word for messages, with its article ("a regular file").
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Fifo => "a FIFO",
            FileKind::Dir => "a directory",
            FileKind::Regular => "a regular file",
            FileKind::Symlink => "a symbolic link",
            FileKind::Socket => "a UNIX socket",
            FileKind::Char => "a character device",
            FileKind::Block => "a block device",
        }
    }

    /// The same word without its article ("regular file").
    pub fn name(self) -> &'static str {
        let d = self.describe();
        d.strip_prefix("a ").unwrap_or(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_real_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"").unwrap();
        let kind =
            |p: &std::path::Path| FileKind::of(std::fs::symlink_metadata(p).unwrap().file_type());
        assert_eq!(kind(d.path()), FileKind::Dir);
        assert_eq!(kind(&f), FileKind::Regular);
        assert_eq!(kind(std::path::Path::new("/dev/null")), FileKind::Char);
        let l = d.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert_eq!(kind(&l), FileKind::Symlink);
        assert_eq!(FileKind::Regular.name(), "regular file");
        assert_eq!(FileKind::Socket.describe(), "a UNIX socket");
    }
}
