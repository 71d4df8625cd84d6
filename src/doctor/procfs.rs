//! Parsers for the `/proc` files the doctor reads (proc(5)): `status`,
//! `mountinfo` (with octal unescaping), `cgroup`, namespace links (`fdinfo` is
//! [`crate::sys::proc::fdinfo_accmode`], shared with `serve`),
//! and [`Process`], everything known about one running process.

use super::view::SystemView;
use std::path::{Path, PathBuf};

/// Capability bits (capabilities(7)).
pub mod cap {
    /// CAP_DAC_OVERRIDE.
    pub const DAC_OVERRIDE: u64 = 1 << 1;
    /// CAP_DAC_READ_SEARCH.
    pub const DAC_READ_SEARCH: u64 = 1 << 2;
    /// Every capability (what uid 0 has by default).
    pub const ALL: u64 = (1 << 41) - 1;
}

/// The fields of `/proc/PID/status` the doctor uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// `Name:` (comm).
    pub name: String,
    /// `PPid:`.
    pub ppid: i32,
    /// `Uid:` real, effective, saved, fs.
    pub uid: [u32; 4],
    /// `Gid:` real, effective, saved, fs.
    pub gid: [u32; 4],
    /// `Groups:` supplementary groups as the kernel holds them.
    pub groups: Vec<u32>,
    /// `Umask:` (kernels ≥ 4.7).
    pub umask: Option<u32>,
    /// `CapEff:`.
    pub cap_eff: u64,
}

fn ids(v: &str) -> Option<[u32; 4]> {
    let n: Vec<u32> = v
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (n.len() == 4).then(|| [n[0], n[1], n[2], n[3]])
}

/// Parses `/proc/PID/status`; `None` when `Uid:`/`Gid:` are missing.
pub fn parse_status(text: &str) -> Option<Status> {
    let mut s = Status::default();
    let (mut have_uid, mut have_gid) = (false, false);
    for line in text.lines() {
        let Some((key, val)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Name" => s.name = val.trim().to_string(),
            "PPid" => s.ppid = val.trim().parse().unwrap_or(0),
            "Uid" => {
                s.uid = ids(val)?;
                have_uid = true;
            }
            "Gid" => {
                s.gid = ids(val)?;
                have_gid = true;
            }
            "Groups" => {
                s.groups = val
                    .split_whitespace()
                    .filter_map(|g| g.parse().ok())
                    .collect()
            }
            "Umask" => s.umask = u32::from_str_radix(val.trim(), 8).ok(),
            "CapEff" => s.cap_eff = u64::from_str_radix(val.trim(), 16).unwrap_or(0),
            _ => {}
        }
    }
    (have_uid && have_gid).then_some(s)
}

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
pub fn unescape_octal(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn os_path(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// One line of `/proc/PID/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Field 4: the root of the mount within its filesystem (unescaped).
    pub root: PathBuf,
    /// Field 5: the mount point (unescaped).
    pub mount_point: PathBuf,
    /// Field 6: per-mount options.
    pub options: String,
    /// Field 9: filesystem type.
    pub fstype: String,
    /// Field 10: source.
    pub source: String,
    /// Field 11: superblock options.
    pub super_options: String,
}

impl Mount {
    /// Read-only if either the mount or the superblock options say `ro`.
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
            || self.super_options.split(',').any(|o| o == "ro")
    }
}

/// Parses `/proc/PID/mountinfo`, skipping malformed lines.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 3 {
                return None;
            }
            Some(Mount {
                root: os_path(unescape_octal(l[3])),
                mount_point: os_path(unescape_octal(l[4])),
                options: l[5].to_string(),
                fstype: r[0].to_string(),
                source: r[1].to_string(),
                super_options: r[2].to_string(),
            })
        })
        .collect()
}

/// The mount covering `path` (the last, longest mount point that is a prefix of it).
pub fn mount_for<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point)
            && best
                .is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len())
        {
            best = Some(m);
        }
    }
    best
}

/// The systemd unit from `/proc/PID/cgroup` (`0::/system.slice/httpd.service` → `httpd.service`).
pub fn parse_cgroup_unit(text: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("0::"))
        .or_else(|| text.lines().find(|l| l.contains(":name=systemd:")))?;
    let path = line.rsplit_once(':')?.1;
    path.split('/')
        .rev()
        .find(|c| {
            [".service", ".scope", ".socket", ".mount"]
                .iter()
                .any(|s| c.ends_with(s))
        })
        .map(|s| s.to_string())
}

/// The inode of a namespace link text (`mnt:[4026531841]` → 4026531841).
pub fn parse_ns_link(text: &str) -> Option<u64> {
    text.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// Everything the doctor knows about one running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Pid.
    pub pid: i32,
    /// Parsed status.
    pub status: Status,
    /// Mount-namespace inode, when readable.
    pub mnt_ns: Option<u64>,
    /// `readlink /proc/PID/root` (normally `/`).
    pub root_link: Option<PathBuf>,
    /// `readlink /proc/PID/cwd`.
    pub cwd: Option<PathBuf>,
    /// systemd unit from the cgroup.
    pub unit: Option<String>,
    /// Security label (`/proc/PID/attr/current`), NULs and newline stripped.
    pub label: Option<String>,
}

impl Process {
    /// Reads `/proc/PID/*` through the view; `None` when the process is gone
    /// or its status unreadable.
    pub fn read(view: &dyn SystemView, pid: i32) -> Option<Process> {
        let base = PathBuf::from(format!("/proc/{pid}"));
        let status = parse_status(&view.read_string(&base.join("status")).ok()?)?;
        let mnt_ns = view
            .read_link(&base.join("ns/mnt"))
            .ok()
            .and_then(|l| parse_ns_link(&l.to_string_lossy()));
        let label = view.read(&base.join("attr/current")).ok().and_then(|b| {
            let s = String::from_utf8_lossy(&b)
                .trim_end_matches(['\0', '\n'])
                .to_string();
            (!s.is_empty()).then_some(s)
        });
        Some(Process {
            pid,
            status,
            mnt_ns,
            root_link: view.read_link(&base.join("root")).ok(),
            cwd: view.read_link(&base.join("cwd")).ok(),
            unit: view
                .read_string(&base.join("cgroup"))
                .ok()
                .and_then(|c| parse_cgroup_unit(&c)),
            label,
        })
    }

    /// The process's mountinfo.
    pub fn mounts(&self, view: &dyn SystemView) -> Vec<Mount> {
        view.read_string(Path::new(&format!("/proc/{}/mountinfo", self.pid)))
            .map(|t| parse_mountinfo(&t))
            .unwrap_or_default()
    }
}

/// All numeric entries of `/proc`.
pub fn list_pids(view: &dyn SystemView) -> Vec<i32> {
    let mut pids: Vec<i32> = view
        .read_dir(Path::new("/proc"))
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// `f` for every pid, spread over up to 4 threads when there are many
/// (a busy host runs thousands of processes; results keep the pid order).
pub fn par_map<T: Send>(pids: &[i32], f: impl Fn(i32) -> T + Sync) -> Vec<T> {
    // Asked once per process: std reads the cgroup's CPU quota (mountinfo,
    // cgroup files: some twenty syscalls) on every call.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4)
    });
    if threads < 2 || pids.len() < 256 {
        return pids.iter().map(|&p| f(p)).collect();
    }
    let chunk = pids.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = pids
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(|&p| f(p)).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// `(pid, comm)` of every process, read once per run.
pub fn comms(view: &dyn SystemView) -> Vec<(i32, String)> {
    let pids = list_pids(view);
    par_map(&pids, |p| comm(view, p).map(|c| (p, c)))
        .into_iter()
        .flatten()
        .collect()
}

/// `/proc/PID/comm` without the newline.
///
/// Read for every process on every run: one `read` of up to 64 bytes gets
/// all of it (at most 15 bytes and a newline); only a text without its
/// newline (not the kernel's) is read again whole.
pub fn comm(view: &dyn SystemView, pid: i32) -> Option<String> {
    let path = format!("/proc/{pid}/comm");
    let path = Path::new(&path);
    let head = view.read_head(path, 64).ok()?;
    let text = match head.strip_suffix(b"\n") {
        Some(t) => t.to_vec(),
        None => {
            let mut all = view.read(path).ok()?;
            if all.last() == Some(&b'\n') {
                all.pop();
            }
            all
        }
    };
    Some(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_of_a_stale_group_process() {
        let s = parse_status(
            "Name:\tsleep\nUmask:\t0022\nPPid:\t1\nUid:\t995\t995\t995\t995\nGid:\t994\t994\t994\t994\nGroups:\t994 \nCapEff:\t0000000000000000\n",
        )
        .unwrap();
        assert_eq!(s.name, "sleep");
        assert_eq!(s.uid, [995; 4]);
        assert_eq!(s.gid[3], 994);
        assert_eq!(s.groups, vec![994]);
        assert_eq!(s.umask, Some(0o022));
        assert_eq!(s.cap_eff, 0);
        let root = parse_status(
            "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t \nCapEff:\t000001ffffffffff\n",
        )
        .unwrap();
        assert!(root.groups.is_empty());
        assert_ne!(root.cap_eff & cap::DAC_OVERRIDE, 0);
        assert!(parse_status("Name:\tx\n").is_none());
    }

    #[test]
    fn mountinfo_unescapes_and_finds_private_tmp() {
        let text = "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
            63 22 254:0 /tmp/systemd-private-bd2e-httpd.service-VS2vD4/tmp /tmp rw,relatime - ext4 /dev/vda rw,discard\n\
            42 27 254:0 /srv/rodir /srv/ro\\040mnt ro,relatime - ext4 /dev/vda rw,discard\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[2].mount_point, PathBuf::from("/srv/ro mnt"));
        assert!(m[2].read_only());
        assert!(!m[1].read_only());
        let t = mount_for(&m, Path::new("/tmp/opensips_fifo")).unwrap();
        assert!(t.root.to_string_lossy().contains("systemd-private-"));
        assert_eq!(
            mount_for(&m, Path::new("/etc")).unwrap().mount_point,
            PathBuf::from("/")
        );
        assert_eq!(unescape_octal("a\\134b\\011"), b"a\\b\t");
    }

    #[test]
    fn cgroup_and_ns() {
        assert_eq!(
            parse_cgroup_unit("0::/system.slice/httpd.service\n").as_deref(),
            Some("httpd.service")
        );
        assert_eq!(
            parse_cgroup_unit("0::/system.slice/php-fpm.service/pool\n").as_deref(),
            Some("php-fpm.service")
        );
        assert_eq!(parse_cgroup_unit("0::/user.slice\n"), None);
        assert_eq!(parse_ns_link("mnt:[4026531841]"), Some(4026531841));
    }
}
