//! `/proc`, read once for everyone: which processes hold an inode open
//! (`serve` refusing to steal a live FIFO, the client's trust check), the
//! `fdinfo` access mode, a process's effective uid, and the fd links of one
//! process (the doctor's hottest loop, through its view).
//!
//! The fd walks are `openat` + `getdents64` of `/proc/PID/fd` and one
//! `*at` call per fd relative to that directory descriptor: no per-fd path
//! walk, no `fdopendir` extras.

use rustix::fs::{openat, readlinkat_raw, statat, AtFlags, Mode, OFlags, RawDir, CWD};
use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// A process holding a file open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: i32,
    /// The fd number in that process.
    pub fd: u32,
    /// `O_ACCMODE` of the open (0 read, 1 write, 2 read-write), when
    /// `fdinfo` could be read.
    pub accmode: Option<u32>,
}

impl Holder {
    /// Holds it open for reading (read-only, read-write, or unknown: a
    /// holder whose mode cannot be read is counted as a reader).
    pub fn reads(&self) -> bool {
        matches!(self.accmode, Some(0 | 2) | None)
    }
}

/// The numeric entries of `/proc` (empty when `/proc` cannot be read).
pub fn pids() -> Vec<i32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| p.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// Opens a `/proc/PID/fd` directory for [`each_fd`] and `*at` calls.
fn open_fd_dir(fd_dir: &Path) -> io::Result<OwnedFd> {
    Ok(openat(
        CWD,
        fd_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Calls `each(fd number, entry name)` for every fd entry of the open
/// `/proc/PID/fd` directory `dir` (`getdents64` into a stack buffer), until
/// `each` breaks.
fn each_fd(
    dir: &OwnedFd,
    mut each: impl FnMut(u32, &CStr) -> ControlFlow<()>,
) -> io::Result<ControlFlow<()>> {
    let mut dents = [MaybeUninit::<u8>::uninit(); 2048];
    let mut entries = RawDir::new(dir, &mut dents);
    while let Some(e) = entries.next() {
        let e = e?;
        let name = e.file_name();
        let Some(n) = fd_number(name.to_bytes()) else {
            continue;
        };
        if each(n, name).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// `(fd number, link text)` of every fd in `fd_dir` (a `/proc/PID/fd`).
///
/// # Errors
/// The directory cannot be opened or read (e.g. another user's process).
pub fn fd_links(fd_dir: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
    use std::os::unix::ffi::OsStrExt;
    let path = fd_dir;
    // openat, then either the counted fds 0..N (dense_fd_links: two
    // fstat) or getdents64 into a stack buffer, and one readlinkat per fd
    // into another, relative to the directory descriptor: no fdopendir
    // fcntl, no per-fd path walk, no allocation but the kept links.
    let fd = open_fd_dir(path)?;
    let mut link = [0u8; 4096];
    // The fds 0..k read before a gap are not read again.
    let mut out = match dense_fd_links(&fd, &mut link) {
        Ok(all) => return Ok(all),
        Err(prefix) => prefix,
    };
    let known = out.len() as u32;
    let _ = each_fd(&fd, |n, name| {
        if n < known {
            return ControlFlow::Continue(());
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
        ControlFlow::Continue(())
    })?;
    Ok(out)
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

/// The one scan of `/proc/*/fd/*` for descriptors open on the inode
/// `(dev, ino)`: only the processes `want` accepts are walked; `found` is
/// called for each holder and may stop the scan. Processes whose fds may not
/// be read (other users, without root) are skipped.
pub fn scan(
    dev: u64,
    ino: u64,
    mut want: impl FnMut(i32) -> bool,
    mut found: impl FnMut(Holder) -> ControlFlow<()>,
) {
    for pid in pids() {
        if !want(pid) {
            continue;
        }
        let Ok(dir) = open_fd_dir(Path::new(&format!("/proc/{pid}/fd"))) else {
            continue;
        };
        let walked = each_fd(&dir, |fd, name| {
            let Ok(st) = statat(&dir, name, AtFlags::empty()) else {
                return ControlFlow::Continue(());
            };
            #[allow(clippy::unnecessary_cast)] // dev_t/ino_t widths differ by target
            if (st.st_dev as u64, st.st_ino as u64) != (dev, ino) {
                return ControlFlow::Continue(());
            }
            let accmode = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
                .ok()
                .and_then(|s| fdinfo_accmode(&s));
            found(Holder { pid, fd, accmode })
        });
        if matches!(walked, Ok(ControlFlow::Break(()))) {
            return;
        }
    }
}

/// Every process holding the inode `(dev, ino)` open.
pub fn holders(dev: u64, ino: u64) -> Vec<Holder> {
    let mut out = Vec::new();
    scan(
        dev,
        ino,
        |_| true,
        |h| {
            out.push(h);
            ControlFlow::Continue(())
        },
    );
    out
}

/// The access mode from `/proc/PID/fdinfo/FD` (`flags:\t0100002` & 3): 0 RDONLY, 1 WRONLY, 2 RDWR.
pub fn fdinfo_accmode(text: &str) -> Option<u32> {
    let flags = text.lines().find_map(|l| l.strip_prefix("flags:"))?;
    let v = u32::from_str_radix(flags.trim(), 8).ok()?;
    Some(v & 3)
}

/// The effective uid of `pid` (`/proc/PID/status`, second `Uid:` column; the
/// owner of `/proc/PID` is root for non-dumpable processes, so not that).
pub fn euid(pid: i32) -> Option<u32> {
    use std::io::Read;
    // `Uid:` is within the first lines: one read(2) of 1 KiB, not
    // read_to_string's stat and growing reads.
    let mut buf = [0u8; 1024];
    let n = std::fs::File::open(format!("/proc/{pid}/status"))
        .ok()?
        .read(&mut buf)
        .ok()?;
    let status = std::str::from_utf8(&buf[..n]).ok()?;
    let ids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    ids.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fifo::create::{create, FifoSpec};

    #[test]
    fn holders_are_found() {
        let d = tempfile::tempdir().unwrap();
        let s = create(&FifoSpec::new(d.path().join("f"))).unwrap();
        let (dev, ino) = s.dev_ino().unwrap();
        let hs = holders(dev, ino);
        let me = std::process::id() as i32;
        assert!(
            hs.iter().any(|h| h.pid == me && h.accmode == Some(0)),
            "{hs:?}"
        );
        assert!(
            hs.iter().any(|h| h.pid == me && h.accmode == Some(1)),
            "{hs:?}"
        );
        assert!(hs.iter().filter(|h| h.pid == me).any(Holder::reads));
    }

    #[test]
    fn own_fd_links_name_the_fifo() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let _s = create(&FifoSpec::new(p.clone())).unwrap();
        let links = fd_links(Path::new("/proc/self/fd")).unwrap();
        assert!(links.iter().any(|(_, l)| l == &p), "{links:?}");
    }

    #[test]
    fn own_euid() {
        assert_eq!(
            euid(std::process::id() as i32),
            Some(nix::unistd::geteuid().as_raw())
        );
    }

    #[test]
    fn fdinfo_access_mode() {
        assert_eq!(
            fdinfo_accmode("pos:\t0\nflags:\t02104000\nmnt_id:\t1\n"),
            Some(0)
        );
        assert_eq!(fdinfo_accmode("flags:\t0100001\n"), Some(1));
        assert_eq!(fdinfo_accmode("flags:\t0100002\n"), Some(2));
        assert_eq!(fdinfo_accmode("pos:\t0\n"), None);
    }
}
