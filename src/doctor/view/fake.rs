//! [`FakeView`]: an in-memory tree for the doctor's unit tests (test builds
//! only: its builders panic on misuse, which is right in a test and wrong in
//! an API).

use super::{FileKind, Meta, SystemView};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// One entry of a [`FakeView`].
#[derive(Debug, Clone)]
pub struct FakeNode {
    /// What `lstat` returns.
    pub meta: Meta,
    /// File contents (for `read`).
    pub content: Vec<u8>,
    /// Link text (for `read_link`) when this is a symlink or a `/proc` magic link.
    pub link: Option<PathBuf>,
    /// What `stat` returns for a link whose target is not in the tree
    /// (e.g. `/proc/PID/fd/N` pointing at a deleted FIFO).
    pub target: Option<Meta>,
    /// Extended attributes.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// An in-memory file tree standing in for the system in unit tests.
///
/// Paths are literal keys: intermediate symlinks are not followed (the
/// doctor's own path walk resolves them with `lstat`/`read_link`).
#[derive(Debug, Clone)]
pub struct FakeView {
    nodes: BTreeMap<PathBuf, FakeNode>,
    next_ino: u64,
    /// What [`SystemView::reader_present`] answers per path: `Ok(bool)` or an errno.
    pub writer_open: BTreeMap<PathBuf, Result<bool, i32>>,
}

impl Default for FakeView {
    fn default() -> Self {
        Self::new()
    }
}

fn enoent() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

impl FakeView {
    /// A tree holding only `/` (`drwxr-xr-x root root`).
    pub fn new() -> Self {
        let mut v = FakeView {
            nodes: BTreeMap::new(),
            next_ino: 2,
            writer_open: BTreeMap::new(),
        };
        v.insert("/", FileKind::Dir, 0o755, 0, 0);
        v
    }

    fn insert(
        &mut self,
        path: impl AsRef<Path>,
        kind: FileKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> &mut FakeNode {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent() {
            if !self.nodes.contains_key(parent) {
                self.insert(parent, FileKind::Dir, 0o755, 0, 0);
            }
        }
        self.next_ino += 1;
        let meta = Meta {
            kind,
            mode,
            uid,
            gid,
            dev: 1,
            ino: self.next_ino,
        };
        let node = FakeNode {
            meta,
            content: Vec::new(),
            link: None,
            target: None,
            xattrs: BTreeMap::new(),
        };
        self.nodes.insert(path.clone(), node);
        self.nodes.get_mut(&path).expect("just inserted")
    }

    /// Adds (or replaces) a directory.
    pub fn dir(&mut self, path: impl AsRef<Path>, mode: u32, uid: u32, gid: u32) -> &mut Self {
        self.insert(path, FileKind::Dir, mode, uid, gid);
        self
    }

    /// Adds a FIFO.
    pub fn fifo(&mut self, path: impl AsRef<Path>, mode: u32, uid: u32, gid: u32) -> &mut Self {
        self.insert(path, FileKind::Fifo, mode, uid, gid);
        self
    }

    /// Adds a node of any kind.
    pub fn node(
        &mut self,
        path: impl AsRef<Path>,
        kind: FileKind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> &mut Self {
        self.insert(path, kind, mode, uid, gid);
        self
    }

    /// Adds a regular file (0644 root) with contents.
    pub fn file(&mut self, path: impl AsRef<Path>, content: impl AsRef<[u8]>) -> &mut Self {
        let n = self.insert(path, FileKind::Regular, 0o644, 0, 0);
        n.content = content.as_ref().to_vec();
        self
    }

    /// Adds a symlink.
    pub fn symlink(
        &mut self,
        path: impl AsRef<Path>,
        target: impl Into<PathBuf>,
        uid: u32,
    ) -> &mut Self {
        let n = self.insert(path, FileKind::Symlink, 0o777, uid, uid);
        n.link = Some(target.into());
        self
    }

    /// Adds a `/proc` magic link: `read_link` gives `text`, `stat` gives `target`.
    pub fn magic(
        &mut self,
        path: impl AsRef<Path>,
        text: impl Into<PathBuf>,
        target: Meta,
    ) -> &mut Self {
        let n = self.insert(path, FileKind::Symlink, 0o777, 0, 0);
        n.link = Some(text.into());
        n.target = Some(target);
        self
    }

    /// Sets an extended attribute.
    pub fn set_xattr(
        &mut self,
        path: impl AsRef<Path>,
        name: &str,
        value: impl AsRef<[u8]>,
    ) -> &mut Self {
        self.nodes
            .get_mut(path.as_ref())
            .expect("xattr on a missing fake node")
            .xattrs
            .insert(name.to_string(), value.as_ref().to_vec());
        self
    }

    /// Removes a node (and everything below it).
    pub fn remove(&mut self, path: impl AsRef<Path>) -> &mut Self {
        let p = path.as_ref();
        self.nodes.retain(|k, _| !k.starts_with(p));
        self
    }

    /// Changes owner and mode of an existing node.
    pub fn chmod(&mut self, path: impl AsRef<Path>, mode: u32) -> &mut Self {
        self.nodes
            .get_mut(path.as_ref())
            .expect("chmod on a missing fake node")
            .meta
            .mode = mode;
        self
    }

    /// The `lstat` of a node (panics when missing).
    pub fn meta(&self, path: impl AsRef<Path>) -> Meta {
        self.nodes[path.as_ref()].meta
    }

    fn get(&self, path: &Path) -> io::Result<&FakeNode> {
        self.nodes.get(path).ok_or_else(enoent)
    }
}

impl SystemView for FakeView {
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        self.get(path).map(|n| n.meta)
    }
    fn stat(&self, path: &Path) -> io::Result<Meta> {
        let mut n = self.get(path)?;
        for _ in 0..40 {
            if let Some(t) = n.target {
                return Ok(t);
            }
            match &n.link {
                Some(l) if l.is_absolute() => n = self.get(l)?,
                Some(l) => n = self.get(&path.parent().unwrap_or(Path::new("/")).join(l))?,
                None => return Ok(n.meta),
            }
        }
        Err(io::Error::from_raw_os_error(libc::ELOOP))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let n = self.get(path)?;
        if n.meta.kind == FileKind::Dir {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        }
        Ok(n.content.clone())
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        self.get(path)?
            .link
            .clone()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let n = self.get(path)?;
        if n.meta.kind != FileKind::Dir {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(self
            .nodes
            .keys()
            .filter(|k| k.parent() == Some(path) && k.as_path() != path)
            .filter_map(|k| k.file_name().map(|f| f.to_os_string()))
            .collect())
    }
    fn xattr(&self, path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.get(path)?.xattrs.get(name).cloned())
    }
    fn reader_present(&self, path: &Path, _expect: &Meta) -> io::Result<bool> {
        match self.writer_open.get(path) {
            Some(Ok(b)) => Ok(*b),
            Some(Err(e)) => Err(io::Error::from_raw_os_error(*e)),
            None => Err(io::Error::from_raw_os_error(libc::ENOSYS)),
        }
    }
}
