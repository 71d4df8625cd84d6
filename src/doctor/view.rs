//! The one door to the system: every read the doctor makes (`/proc`, `/sys`,
//! `/etc`, xattrs, audit logs, the FIFO's directories) goes through
//! [`SystemView`].
//!
//! [`RealView`] reads the live system, optionally under a `--sysroot`;
//! [`FakeView`] is an in-memory tree for unit tests, so every check runs
//! without root, SELinux or namespaces. Paths given to a view are absolute
//! paths *as the doctor sees them*: another process's view of `/tmp/x` is
//! reached through `/proc/PID/root/tmp/x`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

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

    /// A word for messages ("a regular file").
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
}

/// The parts of `struct stat` the doctor uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// File type.
    pub kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

impl Meta {
    /// `ls -l` style mode string, e.g. `prw-rw----`.
    pub fn mode_string(&self) -> String {
        let mut s = String::with_capacity(10);
        s.push(self.kind.letter());
        let m = self.mode;
        let trio = |shift: u32, special: bool, lower: char, upper: char| {
            let bits = (m >> shift) & 7;
            let mut t = String::new();
            t.push(if bits & 4 != 0 { 'r' } else { '-' });
            t.push(if bits & 2 != 0 { 'w' } else { '-' });
            t.push(match (bits & 1 != 0, special) {
                (true, true) => lower,
                (false, true) => upper,
                (true, false) => 'x',
                (false, false) => '-',
            });
            t
        };
        s.push_str(&trio(6, m & 0o4000 != 0, 's', 'S'));
        s.push_str(&trio(3, m & 0o2000 != 0, 's', 'S'));
        s.push_str(&trio(0, m & 0o1000 != 0, 't', 'T'));
        s
    }

    fn from_std(md: &std::fs::Metadata) -> Meta {
        let ft = md.file_type();
        let kind = if ft.is_fifo() {
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
        };
        Meta {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            dev: md.dev(),
            ino: md.ino(),
        }
    }
}

/// Read-only access to the system.
pub trait SystemView: Sync {
    /// `lstat(2)`.
    fn lstat(&self, path: &Path) -> io::Result<Meta>;
    /// `stat(2)` (follows symlinks, including `/proc` magic links).
    fn stat(&self, path: &Path) -> io::Result<Meta>;
    /// Whole file contents.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// `readlink(2)`.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// Entry names of a directory (no `.`/`..`), unsorted.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// An extended attribute of the path itself (not following a final symlink);
    /// `Ok(None)` when it is absent.
    fn xattr(&self, path: &Path, name: &str) -> io::Result<Option<Vec<u8>>>;

    /// `(fd number, link text)` of every fd of `pid` (`/proc/PID/fd/*`).
    /// The doctor's hottest loop on a busy host: [`RealView`] reads the links
    /// relative to one directory descriptor per process.
    fn fd_links(&self, pid: i32) -> io::Result<Vec<(u32, PathBuf)>> {
        let dir = PathBuf::from(format!("/proc/{pid}/fd"));
        let mut out = Vec::new();
        for name in self.read_dir(&dir)? {
            let Some(n) = name.to_str().and_then(|f| f.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(l) = self.read_link(&dir.join(&name)) {
                out.push((n, l));
            }
        }
        Ok(out)
    }

    /// Is there a reader on the FIFO `expect` (found at `path` by a walk)?
    /// One non-blocking write-open, no `O_CREAT`, nothing written:
    /// `Ok(true)` = opened (a reader exists), `Ok(false)` = `ENXIO` (nobody
    /// reads it), `Err` = anything else (e.g. `EACCES`: the caller may not
    /// write it, so this way of asking is closed). Only the inode `expect`
    /// is ever opened for writing.
    fn reader_present(&self, path: &Path, expect: &Meta) -> io::Result<bool> {
        let _ = (path, expect);
        Err(io::Error::from_raw_os_error(libc::ENOSYS))
    }

    /// At most `limit` bytes from the start of the file, in as few reads as
    /// the view can (the live system: one `read`); for small `/proc` files
    /// whose end is recognisable (`comm` ends in a newline), saving the read
    /// that only sees end-of-file. The caller checks it got the whole text.
    fn read_head(&self, path: &Path, limit: usize) -> io::Result<Vec<u8>> {
        let mut b = self.read(path)?;
        b.truncate(limit);
        Ok(b)
    }

    /// Contents as (lossy) UTF-8.
    fn read_string(&self, path: &Path) -> io::Result<String> {
        self.read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// The fd number a `/proc/PID/fd` entry names (`None` for `.`, `..`).
fn fd_number(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut n: u32 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(n)
}

/// `(fd number, link text)` pairs.
type FdLinks = Vec<(u32, PathBuf)>;

/// The links of a `/proc/PID/fd` whose fds are exactly 0..N, without listing
/// the directory; else (listing it is needed) `Err` with the links of the
/// fds 0..k read before the first gap.
///
/// Since Linux 6.2 the directory's `st_size` is the number of open fds: with
/// N open and 0..N-1 all readable, those are all of them (a `getdents64` of
/// this directory costs a dcache lookup and an fd-table walk per entry, the
/// largest part of the scan). A gap (`ENOENT`), a count that changed by the
/// second `fstat`, an old kernel (size 0) or a large table (a gap costs the
/// links read before it) fall back to listing.
fn dense_fd_links(dir: &std::os::fd::OwnedFd, link: &mut [u8; 4096]) -> Result<FdLinks, FdLinks> {
    use std::os::unix::ffi::OsStrExt;
    let count = rustix::fs::fstat(dir).map_or(0, |s| s.st_size);
    let mut out = Vec::new();
    if !(1..=64).contains(&count) {
        return Err(out);
    }
    for n in 0..count as u32 {
        let name = n.to_string();
        match rustix::fs::readlinkat_raw(dir, name.as_str(), &mut link[..]) {
            Ok(len) if len < link.len() => {
                out.push((n, PathBuf::from(std::ffi::OsStr::from_bytes(&link[..len]))))
            }
            _ => return Err(out),
        }
    }
    if rustix::fs::fstat(dir).is_ok_and(|s| s.st_size == count) {
        Ok(out)
    } else {
        // Changed meanwhile: list it (the links read are still those fds').
        Err(out)
    }
}

/// The live system, seen from `root` (normally `/`).
#[derive(Debug, Clone)]
pub struct RealView {
    root: PathBuf,
}

impl RealView {
    /// A view rooted at `root` (`/` for the live system, or a `--sysroot`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RealView { root: root.into() }
    }

    fn real(&self, path: &Path) -> PathBuf {
        if self.root == Path::new("/") {
            path.to_path_buf()
        } else {
            self.root.join(path.strip_prefix("/").unwrap_or(path))
        }
    }
}

impl SystemView for RealView {
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        std::fs::symlink_metadata(self.real(path)).map(|m| Meta::from_std(&m))
    }
    fn stat(&self, path: &Path) -> io::Result<Meta> {
        std::fs::metadata(self.real(path)).map(|m| Meta::from_std(&m))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        // Not std::fs::read: its size-hint statx is wasted on /proc files (size 0),
        // and a run reads thousands of them on a busy host.
        use std::io::Read;
        let mut v = Vec::new();
        // (`take` keeps File's own read_to_end, and its statx + lseek, out of it.)
        std::fs::File::open(self.real(path))?
            .take(u64::MAX)
            .read_to_end(&mut v)?;
        Ok(v)
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(self.real(path))
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(self.real(path))?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }
    fn xattr(&self, path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
        match xattr::get(self.real(path), name) {
            Ok(v) => Ok(v),
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn fd_links(&self, pid: i32) -> io::Result<Vec<(u32, PathBuf)>> {
        use rustix::fs::{openat, readlinkat_raw, Mode, OFlags, RawDir, CWD};
        use std::mem::MaybeUninit;
        use std::os::unix::ffi::OsStrExt;
        let path = self.real(Path::new(&format!("/proc/{pid}/fd")));
        // openat, then either the counted fds 0..N (dense_fd_links: two
        // fstat) or getdents64 into a stack buffer, and one readlinkat per fd
        // into another, relative to the directory descriptor: no fdopendir
        // fcntl, no per-fd path walk, no allocation but the kept links.
        let fd = openat(
            CWD,
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut link = [0u8; 4096];
        // The fds 0..k read before a gap are not read again.
        let mut out = match dense_fd_links(&fd, &mut link) {
            Ok(all) => return Ok(all),
            Err(prefix) => prefix,
        };
        let known = out.len() as u32;
        let mut dents = [MaybeUninit::<u8>::uninit(); 2048];
        let mut dir = RawDir::new(&fd, &mut dents);
        while let Some(e) = dir.next() {
            let e = e?;
            let name = e.file_name();
            let Some(n) = fd_number(name.to_bytes()) else {
                continue;
            };
            if n < known {
                continue;
            }
            match readlinkat_raw(&fd, name, &mut link[..]) {
                Ok(len) if len < link.len() => {
                    out.push((n, PathBuf::from(std::ffi::OsStr::from_bytes(&link[..len]))))
                }
                // Possibly truncated: the allocating call sizes it.
                Ok(_) => {
                    if let Ok(l) = std::fs::read_link(path.join(n.to_string())) {
                        out.push((n, l));
                    }
                }
                Err(_) => {}
            }
        }
        Ok(out)
    }
    fn read_head(&self, path: &Path, limit: usize) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut buf = [0u8; 256];
        let limit = limit.min(buf.len());
        let n = std::fs::File::open(self.real(path))?.read(&mut buf[..limit])?;
        Ok(buf[..n].to_vec())
    }
    fn reader_present(&self, path: &Path, expect: &Meta) -> io::Result<bool> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        if self.root != Path::new("/") {
            // A copied tree (--sysroot) has no live readers.
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        }
        // O_PATH first: nothing is opened for writing until the descriptor is
        // known to be the FIFO the walk found (a swapped-in symlink, device or
        // file is refused), then the write-open goes through that descriptor.
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open(path)?;
        let md = fd.metadata()?;
        if !md.file_type().is_fifo() || md.dev() != expect.dev || md.ino() != expect.ino {
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(via)
        {
            Ok(w) => {
                drop(w);
                Ok(true)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The counted fast path and the listing agree with `read_dir` +
    /// `read_link` on a real process: a child whose fds are 0..N (dense), and
    /// one with a gap (fd 7 only above 0..2).
    #[test]
    fn real_fd_links_match_a_plain_listing() {
        let plain = |pid: u32| -> Vec<(u32, PathBuf)> {
            let dir = PathBuf::from(format!("/proc/{pid}/fd"));
            let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| {
                    let e = e.ok()?;
                    let n = e.file_name().to_str()?.parse().ok()?;
                    Some((n, std::fs::read_link(e.path()).ok()?))
                })
                .collect();
            v.sort();
            v
        };
        let view = RealView::new("/");
        for script in [
            "exec 3</dev/null; exec sleep 30",
            "exec 7</dev/null; exec sleep 30",
        ] {
            let mut child = std::process::Command::new("sh")
                .args(["-c", script])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let pid = child.id();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default()
                != "sleep\n"
            {
                assert!(std::time::Instant::now() < deadline);
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let mut got = view.fd_links(pid as i32).unwrap();
            got.sort();
            let want = plain(pid);
            let _ = child.kill();
            let _ = child.wait();
            assert_eq!(got, want, "{script}");
            assert!(got
                .iter()
                .any(|(n, l)| matches!(n, 3 | 7) && l == Path::new("/dev/null")));
        }
    }

    #[test]
    fn mode_string_matches_ls() {
        let m = |kind, mode| Meta {
            kind,
            mode,
            uid: 0,
            gid: 0,
            dev: 0,
            ino: 0,
        };
        assert_eq!(m(FileKind::Fifo, 0o660).mode_string(), "prw-rw----");
        assert_eq!(m(FileKind::Dir, 0o1777).mode_string(), "drwxrwxrwt");
        assert_eq!(m(FileKind::Dir, 0o1770).mode_string(), "drwxrwx--T");
        assert_eq!(m(FileKind::Dir, 0o2750).mode_string(), "drwxr-s---");
    }

    #[test]
    fn fake_view_lists_and_follows() {
        let mut v = FakeView::new();
        v.dir("/tmp", 0o1777, 0, 0)
            .fifo("/tmp/f", 0o660, 5, 5)
            .symlink("/tmp/l", "/tmp/f", 0);
        let mut names = v.read_dir(Path::new("/tmp")).unwrap();
        names.sort();
        assert_eq!(names, vec![OsString::from("f"), OsString::from("l")]);
        assert_eq!(v.stat(Path::new("/tmp/l")).unwrap().kind, FileKind::Fifo);
        assert_eq!(
            v.lstat(Path::new("/tmp/l")).unwrap().kind,
            FileKind::Symlink
        );
        assert_eq!(
            v.lstat(Path::new("/nope")).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
    }

    #[test]
    fn real_view_sees_this_file_under_a_sysroot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/group"), "x:x:1:\n").unwrap();
        let v = RealView::new(dir.path());
        assert_eq!(v.read_string(Path::new("/etc/group")).unwrap(), "x:x:1:\n");
        assert_eq!(v.stat(Path::new("/etc")).unwrap().kind, FileKind::Dir);
    }
}
