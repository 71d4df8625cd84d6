//! Who holds a FIFO open: a scan of `/proc/*/fd/*` (used by `serve` to refuse
//! stealing a live FIFO) and the parser of `/proc/PID/fdinfo/FD` that the
//! doctor shares while reading `/proc` through its own view.

use std::os::unix::fs::MetadataExt;

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
                .and_then(|s| fdinfo_accmode(&s))
                .unwrap_or(2);
            out.push(Holder {
                pid,
                fd: fdn,
                access,
            });
        }
    }
    out
}

/// The access mode from `/proc/PID/fdinfo/FD` (`flags:\t0100002` & 3): 0 RDONLY, 1 WRONLY, 2 RDWR.
pub fn fdinfo_accmode(text: &str) -> Option<u32> {
    let flags = text.lines().find_map(|l| l.strip_prefix("flags:"))?;
    let v = u32::from_str_radix(flags.trim(), 8).ok()?;
    Some(v & 3)
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
        assert!(hs.iter().any(|h| h.pid == me && h.access == 0), "{hs:?}");
        assert!(hs.iter().any(|h| h.pid == me && h.access == 1), "{hs:?}");
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
