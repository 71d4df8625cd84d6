//! Who is examined: the clients (`--as`, `--pid`, `--unit`, or detected web
//! processes) and the servers (`--server-pid`, or the processes holding the
//! FIFO open, found through `/proc/*/fd`). Processes with identical
//! credentials, namespace and label are examined once.

use super::model::Creds;
use super::procfs::{self, cap, Process};
use super::userdb::UserDb;
use super::view::{FileKind, Meta, SystemView};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A client or server as the kernel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Display name, e.g. `httpd (pids 10, 11)` or `user apache`.
    pub name: String,
    /// Pids sharing this identity (empty for `--as`).
    pub pids: Vec<i32>,
    /// Permission credentials.
    pub creds: Creds,
    /// Real, effective, saved, fs uid (for the probe).
    pub uids: [u32; 4],
    /// Real, effective, saved, fs gid (for the probe).
    pub gids: [u32; 4],
    /// User name, when known.
    pub user: Option<String>,
    /// umask (0022 when unknown).
    pub umask: u32,
    /// Host path of its root: `/` or `/proc/PID/root`.
    pub root: PathBuf,
    /// Mount namespace inode.
    pub mnt_ns: Option<u64>,
    /// systemd unit.
    pub unit: Option<String>,
    /// Security label.
    pub label: Option<String>,
    /// comm.
    pub comm: Option<String>,
    /// Working directory in its namespace.
    pub cwd: PathBuf,
    /// Built from the user database (`--as`), not a running process.
    pub from_db: bool,
}

impl Subject {
    /// The representative pid.
    pub fn pid(&self) -> Option<i32> {
        self.pids.first().copied()
    }

    /// Builds a subject from a running process.
    pub fn from_process(p: &Process, me: Option<&Process>, db: &UserDb) -> Subject {
        let s = &p.status;
        let same_ns = me.is_some_and(|m| m.mnt_ns.is_some() && m.mnt_ns == p.mnt_ns);
        let root = if same_ns && p.root_link.as_deref() == Some(Path::new("/")) {
            PathBuf::from("/")
        } else {
            PathBuf::from(format!("/proc/{}/root", p.pid))
        };
        let user = db.user_by_uid(s.uid[3]).map(|u| u.name.clone());
        Subject {
            name: format!(
                "{} (pid {}, user {})",
                s.name,
                p.pid,
                db.user_name(s.uid[3])
            ),
            pids: vec![p.pid],
            creds: Creds {
                uid: s.uid[3],
                gid: s.gid[3],
                groups: s.groups.clone(),
                cap_eff: s.cap_eff,
            },
            uids: s.uid,
            gids: s.gid,
            user,
            umask: s.umask.unwrap_or(0o022),
            root,
            mnt_ns: p.mnt_ns,
            unit: p.unit.clone(),
            label: p.label.clone(),
            comm: Some(s.name.clone()),
            cwd: p.cwd.clone().unwrap_or_else(|| PathBuf::from("/")),
            from_db: false,
        }
    }

    /// Builds a subject from the user database (`--as USER`), in the doctor's own namespace.
    pub fn from_user(name: &str, db: &UserDb, me: Option<&Process>) -> Option<Subject> {
        let u = db
            .user(name)
            .or_else(|| name.parse().ok().and_then(|uid| db.user_by_uid(uid)))?;
        let groups = db.configured_groups(u);
        Some(Subject {
            name: format!("user {}", u.name),
            pids: Vec::new(),
            creds: Creds {
                uid: u.uid,
                gid: u.gid,
                groups,
                cap_eff: if u.uid == 0 { cap::ALL } else { 0 },
            },
            uids: [u.uid; 4],
            gids: [u.gid; 4],
            user: Some(u.name.clone()),
            umask: 0o022,
            root: PathBuf::from("/"),
            mnt_ns: me.and_then(|m| m.mnt_ns),
            unit: None,
            label: None,
            comm: None,
            cwd: PathBuf::from("/"),
            from_db: true,
        })
    }

    fn identity(&self) -> impl std::fmt::Debug + '_ {
        (
            &self.creds.uid,
            &self.creds.gid,
            &self.creds.groups,
            &self.creds.cap_eff,
            &self.mnt_ns,
            &self.label,
            &self.umask,
            &self.comm,
        )
    }
}

/// Merges processes with the same identity, naming them together.
pub fn dedup(subjects: Vec<Subject>, db: &UserDb) -> Vec<Subject> {
    let mut groups: BTreeMap<_, Subject> = BTreeMap::new();
    let mut order = Vec::new();
    for s in subjects {
        let key = format!("{:?}", s.identity());
        match groups.get_mut(&key) {
            Some(g) => g.pids.extend(s.pids),
            None => {
                order.push(key.clone());
                groups.insert(key, s);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|k| groups.remove(&k))
        .map(|mut s| {
            if s.pids.len() > 1 {
                let shown: Vec<String> = s.pids.iter().take(5).map(|p| p.to_string()).collect();
                let more = if s.pids.len() > 5 {
                    format!(" +{}", s.pids.len() - 5)
                } else {
                    String::new()
                };
                s.name = format!(
                    "{} (pids {}{more}, user {})",
                    s.comm.clone().unwrap_or_default(),
                    shown.join(", "),
                    db.user_name(s.creds.uid)
                );
            }
            s
        })
        .collect()
}

/// Process names detected as MI clients when no client is given.
pub fn is_web_process(comm: &str) -> bool {
    matches!(comm, "httpd" | "apache2" | "nginx") || comm.starts_with("php-fpm")
}

/// Pids whose cgroup puts them in `unit` (`.service` appended when no suffix).
pub fn unit_pids(view: &dyn SystemView, unit: &str) -> Vec<i32> {
    let typed = [".service", ".scope", ".socket", ".mount", ".slice"]
        .iter()
        .any(|s| unit.ends_with(s));
    let unit = if typed {
        unit.to_string()
    } else {
        format!("{unit}.service")
    };
    procfs::list_pids(view)
        .into_iter()
        .filter(|pid| {
            view.read_string(Path::new(&format!("/proc/{pid}/cgroup")))
                .ok()
                .and_then(|c| procfs::parse_cgroup_unit(&c))
                .is_some_and(|u| u == unit)
        })
        .collect()
}

/// Detected web/PHP processes among `(pid, comm)` pairs.
pub fn web_pids(comms: &[(i32, String)], exclude: Option<i32>) -> Vec<i32> {
    comms
        .iter()
        .filter(|(p, c)| Some(*p) != exclude && is_web_process(c))
        .map(|(p, _)| *p)
        .collect()
}

pub use crate::sys::proc::Holder;

/// A holder the doctor found: the process and fd, what its fd link says and
/// the FIFO's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The process, its fd and access mode.
    pub holder: Holder,
    /// The link text (path in the holder's namespace, maybe ` (deleted)`).
    pub link: PathBuf,
    /// The FIFO's identity.
    pub meta: Meta,
}

impl std::ops::Deref for Held {
    type Target = Holder;
    fn deref(&self) -> &Holder {
        &self.holder
    }
}

/// Processes holding FIFOs related to the path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    /// Hold the inode now at the path.
    pub current: Vec<Held>,
    /// Hold a deleted FIFO that had the same path.
    pub deleted: Vec<Held>,
    /// Hold a FIFO of the same path name but another inode (another mount namespace).
    pub elsewhere: Vec<Held>,
    /// Processes whose fds could not be read (permission).
    pub unreadable: usize,
}

/// Every process's fd links, read in one pass over `/proc/*/fd` and kept
/// for the run: absolute paths (FIFO holder candidates) and sockets (the
/// owners of a listener). Pipes and anonymous inodes are dropped right there.
/// A `--url` run takes it once, before its HTTP exchange, and both the
/// socket owners and the FIFO leg's holders come from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdSnapshot {
    pids: Vec<i32>,
    /// Per pid (same order): its kept links, `None` when unreadable.
    links: Vec<Option<Vec<(u32, PathBuf)>>>,
}

impl FdSnapshot {
    /// Reads every process's fd links (readlink, in parallel).
    pub fn take(view: &dyn SystemView) -> FdSnapshot {
        let pids = procfs::list_pids(view);
        let links = procfs::par_map(&pids, |pid| {
            view.fd_links(pid).ok().map(|links| {
                links
                    .into_iter()
                    .filter(|(_, link)| {
                        let t = link.as_os_str().as_bytes();
                        t.starts_with(b"/") || t.starts_with(b"socket:[")
                    })
                    .collect::<Vec<_>>()
            })
        });
        FdSnapshot { pids, links }
    }

    /// The pids that hold a socket, or whose fds could not be read (they
    /// may): the only processes that can own a listener.
    pub fn socket_holders(&self) -> Vec<i32> {
        self.pids
            .iter()
            .copied()
            .zip(&self.links)
            .filter(|(_, links)| {
                links.as_ref().is_none_or(|l| {
                    l.iter()
                        .any(|(_, t)| t.as_os_str().as_bytes().starts_with(b"socket:["))
                })
            })
            .map(|(p, _)| p)
            .collect()
    }

    /// The pids holding `socket:[INODE]` for any of `inodes`.
    pub fn socket_owners(&self, inodes: &[u64]) -> Vec<(i32, u64)> {
        let mut out = Vec::new();
        for (pid, links) in self.pids.iter().copied().zip(&self.links) {
            for (_, l) in links.iter().flatten() {
                let t = l.as_os_str().as_bytes();
                let ino = t
                    .strip_prefix(b"socket:[")
                    .and_then(|r| r.strip_suffix(b"]"))
                    .and_then(|d| std::str::from_utf8(d).ok())
                    .and_then(|d| d.parse::<u64>().ok());
                if let Some(ino) = ino.filter(|i| inodes.contains(i)) {
                    out.push((pid, ino));
                }
            }
        }
        out
    }
}

/// Scans `/proc/*/fd/*` for FIFOs that are `target` or carry `path`'s name
/// (one fresh [`FdSnapshot`]; see [`scan_holders_in`]).
pub fn scan_holders(view: &dyn SystemView, path: &Path, target: Option<&Meta>) -> Holders {
    scan_holders_in(view, &FdSnapshot::take(view), path, target)
}

/// The holders of FIFOs that are `target` or carry `path`'s name, among the
/// links of `snap`.
///
/// Only fds whose link text has the FIFO's file name are `stat`ed (the cost
/// of a run is dominated by the readlink pass): a server that opened the
/// same inode through a hard link of another name is not found.
pub fn scan_holders_in(
    view: &dyn SystemView,
    snap: &FdSnapshot,
    path: &Path,
    target: Option<&Meta>,
) -> Holders {
    let mut h = Holders::default();
    let path_bytes = path.as_os_str().as_bytes();
    let name = path_bytes
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or(path_bytes);
    let scanned = snap.links.iter().map(|links| {
        links.as_ref().map(|links| {
            links
                .iter()
                .filter(|(_, link)| {
                    let text = link.as_os_str().as_bytes();
                    let bare = text.strip_suffix(b" (deleted)").unwrap_or(text);
                    bare.starts_with(b"/") && bare.rsplit(|&b| b == b'/').next() == Some(name)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    for (pid, links) in snap.pids.iter().copied().zip(scanned) {
        let fd_dir = PathBuf::from(format!("/proc/{pid}/fd"));
        let Some(links) = links else {
            h.unreadable += 1;
            continue;
        };
        for (fd_num, link) in links {
            let link_path = fd_dir.join(fd_num.to_string());
            let text = link.as_os_str().as_bytes();
            let Ok(meta) = view.stat(&link_path) else {
                continue;
            };
            if meta.kind != FileKind::Fifo {
                continue;
            }
            let is_current = target.is_some_and(|t| t.dev == meta.dev && t.ino == meta.ino);
            let deleted = text.strip_suffix(b" (deleted)") == Some(path_bytes);
            let same_name = text == path_bytes;
            if !(is_current || deleted || same_name) {
                continue;
            }
            let accmode = view
                .read_string(Path::new(&format!("/proc/{pid}/fdinfo/{fd_num}")))
                .ok()
                .and_then(|t| crate::sys::proc::fdinfo_accmode(&t));
            let holder = Held {
                holder: Holder {
                    pid,
                    fd: fd_num,
                    accmode,
                },
                link,
                meta,
            };
            if is_current {
                h.current.push(holder);
            } else if deleted {
                h.deleted.push(holder);
            } else {
                h.elsewhere.push(holder);
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    /// A `--url` run reads every process's fds once: the same snapshot gives
    /// the listener's owner and the FIFO's holders; pipes are not kept.
    #[test]
    fn one_snapshot_gives_socket_owners_and_fifo_holders() {
        let mut f = Fixture::new();
        f.opensips(100);
        f.opensips(101);
        f.view
            .fifo("/tmp/opensips_fifo", 0o660, OPENSIPS, OPENSIPS_G);
        f.hold(100, 3, "/tmp/opensips_fifo", 0);
        let sock = f.view.meta("/tmp/opensips_fifo");
        f.view.magic("/proc/101/fd/5", "socket:[4242]", sock).magic(
            "/proc/101/fd/6",
            "pipe:[77]",
            sock,
        );
        let snap = FdSnapshot::take(&f.view);
        assert_eq!(snap.socket_owners(&[4242, 1]), vec![(101, 4242)]);
        assert!(snap.socket_holders().contains(&101));
        assert!(!snap.socket_holders().contains(&100), "holds only a FIFO");
        assert!(
            snap.socket_owners(&[77]).is_empty(),
            "a pipe is not a socket"
        );
        assert!(snap
            .links
            .iter()
            .flatten()
            .flatten()
            .all(|(_, l)| !l.as_os_str().as_bytes().starts_with(b"pipe:")));
        let meta = f.view.meta("/tmp/opensips_fifo");
        let h = scan_holders_in(&f.view, &snap, Path::new("/tmp/opensips_fifo"), Some(&meta));
        assert_eq!(h.current.len(), 1);
        assert_eq!(h.current[0].pid, 100);
        assert_eq!(
            h,
            scan_holders(&f.view, Path::new("/tmp/opensips_fifo"), Some(&meta))
        );
    }

    #[test]
    fn holders_current_deleted_and_dedup() {
        let mut f = Fixture::new();
        f.opensips(100);
        f.opensips(101);
        f.view
            .fifo("/tmp/opensips_fifo", 0o660, OPENSIPS, OPENSIPS_G);
        f.hold(100, 3, "/tmp/opensips_fifo", 0);
        f.hold_deleted(101, 4, "/tmp/opensips_fifo");
        let meta = f.view.meta("/tmp/opensips_fifo");
        let h = scan_holders(&f.view, Path::new("/tmp/opensips_fifo"), Some(&meta));
        assert_eq!(h.current.len(), 1);
        assert_eq!(h.current[0].pid, 100);
        assert!(h.current[0].reads());
        assert_eq!(h.deleted.len(), 1);
        assert_eq!(h.deleted[0].pid, 101);
        let db = f.db();
        let me = Process::read(&f.view, 1);
        let subs: Vec<Subject> = [100, 101]
            .iter()
            .map(|&p| Subject::from_process(&Process::read(&f.view, p).unwrap(), me.as_ref(), &db))
            .collect();
        let d = dedup(subs, &db);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].pids, vec![100, 101]);
        assert_eq!(d[0].root, PathBuf::from("/"));
        assert!(d[0].name.contains("pids 100, 101"));
    }

    #[test]
    fn auto_detects_web_processes_and_merges_workers() {
        use crate::doctor::{run, ClientSpec, Code};
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        for pid in [210, 211, 212] {
            f.proc(ProcSpec {
                pid,
                comm: "httpd",
                unit: Some("httpd.service"),
                ..Default::default()
            });
        }
        f.proc(ProcSpec {
            pid: 213,
            comm: "httpd",
            uid: 0,
            gid: 0,
            cap: crate::doctor::procfs::cap::ALL,
            ..Default::default()
        });
        let r = f.run(&f.config("/tmp/opensips_fifo", ClientSpec::Auto));
        assert_eq!(r.clients.len(), 2, "{:?}", r.clients);
        assert!(
            r.clients[0].contains("pids 210, 211, 212"),
            "{:?}",
            r.clients
        );
        assert_eq!(
            r.findings
                .iter()
                .filter(|x| x.code == Code::AccessOk)
                .count(),
            2
        );
        // No web process: the invoking user.
        let mut g = Fixture::new();
        g.server("/tmp/opensips_fifo", 0o666);
        let r = run(
            &g.view,
            &g.config("/tmp/opensips_fifo", ClientSpec::Auto),
            None,
        )
        .unwrap();
        assert_eq!(r.clients, vec!["invoking user root (pid 1)".to_string()]);
        let mut cfg = g.config("/tmp/opensips_fifo", ClientSpec::Auto);
        cfg.invoking_user = Some("apache".into());
        let r = run(&g.view, &cfg, None).unwrap();
        assert_eq!(r.clients, vec!["user apache".to_string()]);
    }

    #[test]
    fn web_and_unit_detection() {
        let mut f = Fixture::new();
        f.proc(ProcSpec {
            pid: 200,
            comm: "php-fpm8.2",
            unit: Some("php8.2-fpm.service"),
            ..Default::default()
        });
        f.proc(ProcSpec {
            pid: 201,
            comm: "bash",
            ..Default::default()
        });
        assert_eq!(web_pids(&procfs::comms(&f.view), None), vec![200]);
        assert_eq!(unit_pids(&f.view, "php8.2-fpm"), vec![200]);
        assert!(unit_pids(&f.view, "httpd").is_empty());
    }
}
