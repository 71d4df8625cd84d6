//! The one door to the system: every read the doctor makes (`/proc`, `/sys`,
//! `/etc`, xattrs, audit logs, the FIFO's directories) goes through
//! [`SystemView`].
//!
//! [`RealView`] reads the live system, optionally under a `--sysroot`;
//! `FakeView` (test builds only) is an in-memory tree for unit tests, so every check runs
//! without root, SELinux or namespaces. Paths given to a view are absolute
//! paths *as the doctor sees them*: another process's view of `/tmp/x` is
//! reached through `/proc/PID/root/tmp/x`.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub use crate::sys::FileKind;

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
        let kind = FileKind::of(md.file_type());
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
    /// Whole file contents ([`RealView`]: at most [`READ_MAX`] bytes, else
    /// `EFBIG`; a FIFO is read without waiting for a writer).
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// `readlink(2)`.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// Entry names of a directory (no `.`/`..`), unsorted.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// [`read`](SystemView::read), only when `path` leads to a regular
    /// file (else `EINVAL`): for a path another user names, so that no
    /// device or FIFO is opened by it. [`RealView`] checks the very file it
    /// then reads (no stat-then-open race).
    fn read_regular(&self, path: &Path) -> io::Result<Vec<u8>> {
        if self.stat(path)?.kind != FileKind::Regular {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.read(path)
    }

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

    /// A `/proc/PID/net/tcp{,6}` table up to the end of its listening
    /// section (the kernel lists every LISTEN socket before the established
    /// hash), at most [`TCP_TABLE_MAX`] bytes. The fake view returns the
    /// whole text; [`RealView`] stops reading at the first complete line in
    /// another state: every `read(2)` of these tables walks the kernel's
    /// socket hashes (about a millisecond here, however little it returns),
    /// and a SIP host with tens of thousands of connections has megabytes
    /// of them after its few listeners.
    fn read_tcp_listeners(&self, path: &Path) -> io::Result<String> {
        self.read_string(path)
    }

    /// Contents as (lossy) UTF-8.
    fn read_string(&self, path: &Path) -> io::Result<String> {
        self.read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// The most of a `/proc/PID/net/tcp{,6}` table read
/// ([`SystemView::read_tcp_listeners`]): about 27,000 listening sockets.
pub const TCP_TABLE_MAX: usize = 4 << 20;

/// Finds where the listening section of a `/proc/net/tcp{,6}` text ends,
/// as the text grows: the start of its first complete record whose state
/// (4th field) is not `0A` (LISTEN). Each line is looked at once.
#[derive(Debug, Default)]
pub struct TcpScan {
    /// The start of the first line not looked at yet.
    at: usize,
    /// The header line was passed.
    header: bool,
}

impl TcpScan {
    /// `Some(end of the listening section)` once `table` (the text so far,
    /// the same bytes as before plus more) shows it, else `None`.
    pub fn feed(&mut self, table: &[u8]) -> Option<usize> {
        while let Some(nl) = table[self.at..].iter().position(|&b| b == b'\n') {
            let line = &table[self.at..self.at + nl];
            if self.header {
                let state = line
                    .split(|b| b.is_ascii_whitespace())
                    .filter(|f| !f.is_empty())
                    .nth(3);
                if state.is_some_and(|s| s != b"0A") {
                    return Some(self.at);
                }
            }
            self.header = true;
            self.at += nl + 1;
        }
        None
    }
}

/// The most [`RealView`] reads of one file (`EFBIG` past it): far above
/// any `/proc` text, config file or rotated audit log the doctor reads.
pub const READ_MAX: u64 = 64 << 20;

/// [`RealView::read`] of a path as the system names it.
fn read_real(path: &Path) -> io::Result<Vec<u8>> {
    // Not std::fs::read: its size-hint statx is wasted on /proc files (size 0),
    // and a run reads thousands of them on a busy host.
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Room for a whole status/cmdline/comm file: one read and the one
    // that sees end-of-file, not read_to_end's 32-byte probe and growth.
    let mut v = Vec::with_capacity(4096);
    // The paths read include ones other users choose (a server's `-f`
    // config, read in its root): O_NONBLOCK so a FIFO there cannot hold
    // the open (or a read) forever, O_NOCTTY so a terminal is never
    // taken as ours, and `take` (which also keeps File's own
    // read_to_end, and its statx + lseek, out of it) so /dev/zero or a
    // writer that never stops cannot fill memory.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?
        .take(READ_MAX + 1)
        .read_to_end(&mut v)?;
    if v.len() as u64 > READ_MAX {
        return Err(io::Error::from_raw_os_error(libc::EFBIG));
    }
    Ok(v)
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
        read_real(&self.real(path))
    }
    fn read_regular(&self, path: &Path) -> io::Result<Vec<u8>> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        // O_PATH opens nothing: the file is read only once the descriptor is
        // known to be a regular file (a device or FIFO swapped in after a
        // check is refused), and through that descriptor.
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(self.real(path))?;
        if !fd.metadata()?.is_file() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        read_real(Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())))
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
        crate::sys::proc::fd_links(&self.real(Path::new(&format!("/proc/{pid}/fd"))))
    }
    fn read_tcp_listeners(&self, path: &Path) -> io::Result<String> {
        use std::io::Read;
        let mut f = std::fs::File::open(self.real(path))?;
        // Large reads (the kernel fills one page of records per call, and
        // each call costs a walk of its hashes); each new line looked at once.
        // Read straight into the table's tail, never past the bound: no
        // second buffer to copy from, no lossy copy of the whole table.
        const CHUNK: usize = 64 * 1024;
        let mut buf: Vec<u8> = Vec::new();
        let mut scan = TcpScan::default();
        loop {
            let have = buf.len();
            buf.resize(have + CHUNK.min(TCP_TABLE_MAX - have), 0);
            let n = f.read(&mut buf[have..])?;
            buf.truncate(have + n);
            if let Some(end) = scan.feed(&buf) {
                buf.truncate(end);
                break;
            }
            if buf.len() == TCP_TABLE_MAX {
                // Whole records only.
                let keep = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                buf.truncate(keep);
                break;
            }
            if n == 0 {
                break;
            }
        }
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
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
#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::{FakeNode, FakeView};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_section_ends_at_the_first_other_state() {
        let head = "  sl  local_address rem_address   st tx_queue rx_queue\n";
        let listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1\n";
        let est = "   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 222 1\n";
        let text = format!("{head}{listen}{listen}{est}{listen}");
        let mut scan = TcpScan::default();
        assert_eq!(
            scan.feed(text.as_bytes()),
            Some(head.len() + 2 * listen.len())
        );
        // Fed as it arrives, a byte at a time: the same end, found once.
        let mut scan = TcpScan::default();
        let ends: Vec<usize> = (1..=text.len())
            .filter_map(|n| scan.feed(&text.as_bytes()[..n]))
            .collect();
        assert_eq!(ends[0], head.len() + 2 * listen.len());
        // Only listeners (or nothing): no end yet.
        let mut scan = TcpScan::default();
        assert_eq!(scan.feed(format!("{head}{listen}").as_bytes()), None);
        // An incomplete record is not judged.
        let mut scan = TcpScan::default();
        assert_eq!(scan.feed(format!("{head}{}", &est[..40]).as_bytes()), None);
    }

    /// The live table, read only to the end of its listeners: this test's
    /// listener is there, its established connection is not.
    #[test]
    fn real_tcp_table_is_read_to_the_end_of_its_listeners() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_a, _) = l.accept().unwrap();
        let t = RealView::new("/")
            .read_tcp_listeners(Path::new("/proc/self/net/tcp"))
            .unwrap();
        let listeners = crate::doctor::net::parse_tcp(&t, false, 0);
        assert!(listeners.iter().any(|x| x.port == port), "{t}");
        let local = format!(":{:04X} ", c.local_addr().unwrap().port());
        assert!(!t.contains(&local), "the established side was read: {t}");
        assert!(t
            .lines()
            .skip(1)
            .all(|l| l.split_whitespace().nth(3) == Some("0A")));
    }

    /// A table whose listeners run past [`TCP_TABLE_MAX`] is cut there, at
    /// a record's end; one that ends within it is read whole.
    #[test]
    fn real_tcp_table_is_bounded_at_whole_records() {
        let d = tempfile::tempdir().unwrap();
        let head = "  sl  local_address rem_address   st tx_queue rx_queue\n";
        let listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1\n";
        let view = RealView::new(d.path());
        let big = format!("{head}{}", listen.repeat(TCP_TABLE_MAX / listen.len() + 10));
        std::fs::write(d.path().join("big"), &big).unwrap();
        let t = view.read_tcp_listeners(Path::new("/big")).unwrap();
        assert!(t.len() <= TCP_TABLE_MAX && t.len() > TCP_TABLE_MAX - listen.len());
        assert!(big.starts_with(&t) && t.ends_with('\n'));
        let small = format!("{head}{}", listen.repeat(3000));
        std::fs::write(d.path().join("small"), &small).unwrap();
        assert_eq!(view.read_tcp_listeners(Path::new("/small")).unwrap(), small);
    }

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

    /// A file another user names (a server's `-f` config) may be a FIFO
    /// nobody writes, or endless: the read neither waits nor grows without
    /// bound.
    #[test]
    fn real_read_neither_waits_on_a_fifo_nor_reads_without_bound() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("cfg");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = fifo.clone();
        // A blocking open would never return: the thread is left behind and
        // the test fails on the timeout instead of hanging.
        std::thread::spawn(move || {
            let _ = tx.send(RealView::new("/").read(&p).map_err(|e| e.kind()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO without a writer waited");
        assert_eq!(got, Ok(Vec::new()));
        let e = RealView::new("/")
            .read(Path::new("/dev/zero"))
            .expect_err("/dev/zero was read whole");
        assert_eq!(e.raw_os_error(), Some(libc::EFBIG));
    }

    /// `read_regular` reads a regular file (also through a symlink) and
    /// opens nothing else: not a device, not a FIFO (no wait for a writer).
    #[test]
    fn real_read_regular_opens_only_regular_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("o.cfg");
        std::fs::write(&f, "modparam\n").unwrap();
        let l = d.path().join("l.cfg");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let fifo = d.path().join("p");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let view = RealView::new("/");
        assert_eq!(view.read_regular(&f).unwrap(), b"modparam\n");
        assert_eq!(view.read_regular(&l).unwrap(), b"modparam\n");
        for p in [Path::new("/dev/null"), &fifo, d.path()] {
            let e = view.read_regular(p).expect_err("not a regular file");
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{}", p.display());
        }
        // Under a sysroot, the path is the view's.
        let sub = RealView::new(d.path());
        assert_eq!(
            sub.read_regular(Path::new("/o.cfg")).unwrap(),
            b"modparam\n"
        );
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
