//! A model of the kernel's decision for `open(path, O_WRONLY[|O_CREAT])` on a
//! FIFO, in the kernel's order (linux-fifo-access.md §2): path walk with
//! search permission on every directory → `protected_symlinks` → the last
//! component (missing: `O_CREAT` needs W+X on the directory) →
//! `protected_fifos` for `O_CREAT` opens → DAC with POSIX ACLs (owner class
//! first, the ACL walk with its mask, the mask-zero shortcut, group class
//! before other) → capabilities. LSMs and "is there a reader" (`ENXIO`) are
//! decided elsewhere; `ENXIO` only matters once everything here allowed.
//!
//! Evaluation happens in the subject's own view of the filesystem: `root` is a
//! host path such as `/proc/PID/root`, so PrivateTmp and containers are seen
//! as that process sees them.

use super::procfs::cap;
use super::view::{FileKind, Meta, SystemView};
use crate::fifo::acl::{self, Acl, Tag};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Read.
pub const R: u8 = 4;
/// Write.
pub const W: u8 = 2;
/// Execute / search.
pub const X: u8 = 1;

/// The credentials the kernel uses for permission checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Creds {
    /// fsuid.
    pub uid: u32,
    /// fsgid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Effective capabilities.
    pub cap_eff: u64,
}

impl Creds {
    /// fsgid or a supplementary group (`in_group_p`).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// The sysctls that change the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sysctls {
    /// `fs.protected_fifos` (0, 1, 2).
    pub protected_fifos: u8,
    /// `fs.protected_symlinks` (0, 1).
    pub protected_symlinks: u8,
}

impl Sysctls {
    /// Reads `/proc/sys/fs/protected_{fifos,symlinks}` (missing = 0).
    pub fn read(view: &dyn SystemView) -> Sysctls {
        let get = |name: &str| {
            view.read_string(Path::new(&format!("/proc/sys/fs/{name}")))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        Sysctls {
            protected_fifos: get("protected_fifos"),
            protected_symlinks: get("protected_symlinks"),
        }
    }
}

/// Which class or ACL entry decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The owner bits (fsuid == inode uid; the ACL is never consulted).
    Owner,
    /// The group bits (a member of the owning group).
    Group,
    /// The other bits.
    Other,
    /// ACL `user:ID:` entry.
    AclUser(u32),
    /// ACL `group::` entry.
    AclGroupObj,
    /// ACL `group:ID:` entry.
    AclGroup(u32),
    /// ACL `other::` entry.
    AclOther,
    /// ACL walk: a group entry matched but lacked the bits, so `other::` was not consulted.
    AclGroupNoFallThrough,
}

impl Via {
    /// Words for messages.
    pub fn describe(self, user: &dyn Fn(u32) -> String, group: &dyn Fn(u32) -> String) -> String {
        match self {
            Via::Owner => "owner class (the process's fsuid owns the file)".into(),
            Via::Group => "group class (the process is in the file's group)".into(),
            Via::Other => "other class (not the owner, not in the file's group)".into(),
            Via::AclUser(id) => format!("ACL entry user:{}", user(id)),
            Via::AclGroupObj => "ACL entry group:: (owning group)".into(),
            Via::AclGroup(id) => format!("ACL entry group:{}", group(id)),
            Via::AclOther => "ACL entry other::".into(),
            Via::AclGroupNoFallThrough => {
                "ACL group entries (a matching group entry lacks the bits; other:: is then not consulted)".into()
            }
        }
    }
}

/// The outcome of one DAC check (`generic_permission`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dac {
    /// Requested bits.
    pub want: u8,
    /// Final answer (after capabilities).
    pub ok: bool,
    /// Answer from mode/ACL alone.
    pub dac_ok: bool,
    /// What decided.
    pub via: Via,
    /// The deciding class's or entry's bits (before any mask).
    pub bits: u8,
    /// The ACL mask applied to a named or group entry.
    pub mask: Option<u8>,
    /// The file has an extended ACL but its group bits (= mask) are 0, so the
    /// kernel skipped the ACL and used plain mode bits.
    pub mask_zero_shortcut: bool,
    /// A member of the owning group was refused by the group bits while the
    /// other bits would have allowed.
    pub other_would_grant: bool,
    /// The capability that overrode a DAC refusal.
    pub cap: Option<&'static str>,
}

/// `generic_permission` for `want` on an inode with mode/owner `meta` and
/// optional access ACL.
pub fn dac(meta: &Meta, acl: Option<&Acl>, creds: &Creds, want: u8) -> Dac {
    let mode = meta.mode;
    let mut d = Dac {
        want,
        ok: false,
        dac_ok: false,
        via: Via::Other,
        bits: 0,
        mask: None,
        mask_zero_shortcut: false,
        other_would_grant: false,
        cap: None,
    };
    let grants = |bits: u8| bits & want == want;
    let acl = acl.filter(|a| a.is_extended());
    if meta.uid == creds.uid {
        d.via = Via::Owner;
        d.bits = ((mode >> 6) & 7) as u8;
        d.dac_ok = grants(d.bits);
    } else if let Some(acl) = acl.filter(|_| mode & 0o070 != 0) {
        acl_walk(&mut d, acl, meta, creds);
    } else {
        d.mask_zero_shortcut = acl.is_some();
        let other = (mode & 7) as u8;
        let group = ((mode >> 3) & 7) as u8;
        if want & (group ^ other) != 0 && creds.in_group(meta.gid) {
            d.via = Via::Group;
            d.bits = group;
            d.other_would_grant = grants(other);
        } else {
            d.via = if creds.in_group(meta.gid) {
                Via::Group
            } else {
                Via::Other
            };
            d.bits = if creds.in_group(meta.gid) {
                group
            } else {
                other
            };
        }
        d.dac_ok = grants(d.bits);
    }
    d.ok = d.dac_ok;
    if !d.ok {
        if meta.kind == FileKind::Dir {
            if creds.cap_eff & cap::DAC_OVERRIDE != 0 {
                d.cap = Some("CAP_DAC_OVERRIDE");
            } else if want & W == 0 && creds.cap_eff & cap::DAC_READ_SEARCH != 0 {
                d.cap = Some("CAP_DAC_READ_SEARCH");
            }
        } else if want == R && creds.cap_eff & cap::DAC_READ_SEARCH != 0 {
            d.cap = Some("CAP_DAC_READ_SEARCH");
        } else if creds.cap_eff & cap::DAC_OVERRIDE != 0 && (want & X == 0 || mode & 0o111 != 0) {
            d.cap = Some("CAP_DAC_OVERRIDE");
        }
        d.ok = d.cap.is_some();
    }
    d
}

/// `posix_acl_permission`.
fn acl_walk(d: &mut Dac, acl: &Acl, meta: &Meta, creds: &Creds) {
    let want = d.want;
    let mask = acl.mask();
    let mut found = false;
    for e in &acl.entries {
        let hit = match e.tag {
            Tag::UserObj | Tag::Mask => None,
            Tag::User(id) if id == creds.uid => Some(Via::AclUser(id)),
            Tag::User(_) => None,
            Tag::GroupObj if creds.in_group(meta.gid) => {
                found = true;
                (e.perm & want == want).then_some(Via::AclGroupObj)
            }
            Tag::Group(id) if creds.in_group(id) => {
                found = true;
                (e.perm & want == want).then_some(Via::AclGroup(id))
            }
            Tag::GroupObj | Tag::Group(_) => None,
            Tag::Other => {
                if found {
                    d.via = Via::AclGroupNoFallThrough;
                    d.bits = 0;
                    d.dac_ok = false;
                } else {
                    d.via = Via::AclOther;
                    d.bits = e.perm;
                    d.dac_ok = e.perm & want == want;
                }
                return;
            }
        };
        if let Some(via) = hit {
            d.via = via;
            d.bits = e.perm;
            d.mask = mask;
            d.dac_ok = e.perm & mask.unwrap_or(7) & want == want;
            return;
        }
    }
    // No OTHER entry (malformed ACL): the kernel denies.
    d.via = Via::AclOther;
    d.dac_ok = false;
}

/// A named ACL entry (or owning-group entry) that matches `creds` and holds
/// `want` before masking — what `acl-mask` is about.
pub fn acl_entry_granting(acl: &Acl, meta: &Meta, creds: &Creds, want: u8) -> Option<Tag> {
    acl.entries.iter().find_map(|e| {
        let matches = match e.tag {
            Tag::User(id) => id == creds.uid,
            Tag::GroupObj => creds.in_group(meta.gid),
            Tag::Group(id) => creds.in_group(id),
            _ => false,
        };
        (matches && e.perm & want == want).then_some(e.tag)
    })
}

/// The file an evaluation reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Resolved path in the subject's namespace.
    pub path: PathBuf,
    /// Its `lstat`.
    pub meta: Meta,
    /// Its access ACL.
    pub acl: Option<Acl>,
    /// The directory holding it.
    pub parent: PathBuf,
    /// That directory's `lstat`.
    pub parent_meta: Meta,
}

/// The result of evaluating an open or a create, first failure wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every modelled check passed.
    Allowed(Target),
    /// A path component is missing.
    NotFound {
        /// The first missing path.
        path: PathBuf,
        /// The directory it should be in and its mode.
        parent: PathBuf,
        /// Parent `lstat`.
        parent_meta: Meta,
        /// The missing component is the last one.
        last: bool,
        /// With `O_CREAT`: the W+X check on the parent (`ok` = a regular file would be created).
        create: Option<Dac>,
    },
    /// A non-directory in the middle of the path.
    NotDir {
        /// The offending path.
        path: PathBuf,
    },
    /// More than 40 symlinks.
    Loop {
        /// Where it stopped.
        path: PathBuf,
    },
    /// An unexpected error reading the path.
    Io {
        /// The path.
        path: PathBuf,
        /// errno.
        errno: i32,
    },
    /// No search permission on a directory.
    SearchDenied {
        /// The directory.
        dir: PathBuf,
        /// Its `lstat`.
        meta: Meta,
        /// The DAC check.
        dac: Dac,
    },
    /// `fs.protected_symlinks` refused to follow a link.
    ProtectedSymlink {
        /// The link.
        link: PathBuf,
        /// Link owner.
        link_uid: u32,
        /// The sticky directory.
        dir: PathBuf,
        /// Its `lstat`.
        dir_meta: Meta,
    },
    /// `fs.protected_fifos` refused an `O_CREAT` open.
    ProtectedFifo {
        /// The FIFO.
        target: Target,
        /// The sysctl value.
        level: u8,
    },
    /// DAC/ACL refused the final inode.
    Denied {
        /// The FIFO.
        target: Target,
        /// The check.
        dac: Dac,
    },
}

impl Outcome {
    /// The errno the kernel would return (`None` = allowed).
    pub fn errno(&self) -> Option<i32> {
        Some(match self {
            Outcome::Allowed(_) => return None,
            Outcome::NotFound {
                create: Some(d),
                last: true,
                ..
            } => {
                if d.ok {
                    return None;
                }
                libc::EACCES
            }
            Outcome::NotFound { .. } => libc::ENOENT,
            Outcome::NotDir { .. } => libc::ENOTDIR,
            Outcome::Loop { .. } => libc::ELOOP,
            Outcome::Io { errno, .. } => *errno,
            _ => libc::EACCES,
        })
    }

    /// True when the open is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Outcome::Allowed(_))
    }
}

/// An evaluation of one path for one set of credentials in one root.
pub struct Model<'a> {
    /// The system.
    pub view: &'a dyn SystemView,
    /// Host path of the subject's root (`/` or `/proc/PID/root`).
    pub root: &'a Path,
    /// Credentials.
    pub creds: &'a Creds,
    /// Sysctls.
    pub sysctls: Sysctls,
    /// Human-readable steps taken, in order.
    pub trace: Vec<String>,
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

impl<'a> Model<'a> {
    /// A model for `creds` in `root`.
    pub fn new(
        view: &'a dyn SystemView,
        root: &'a Path,
        creds: &'a Creds,
        sysctls: Sysctls,
    ) -> Self {
        Model {
            view,
            root,
            creds,
            sysctls,
            trace: Vec::new(),
        }
    }

    /// The host path of `path` (absolute in the subject's namespace).
    pub fn host(&self, path: &Path) -> PathBuf {
        let rel = path.strip_prefix("/").unwrap_or(path);
        if rel.as_os_str().is_empty() {
            self.root.to_path_buf()
        } else {
            self.root.join(rel)
        }
    }

    /// `lstat` in the subject's view.
    pub fn lstat(&self, path: &Path) -> io::Result<Meta> {
        if path == Path::new("/") {
            self.view.stat(self.root)
        } else {
            self.view.lstat(&self.host(path))
        }
    }

    /// The access ACL of `path` (None when absent or unparsable).
    pub fn acl(&self, path: &Path) -> Option<Acl> {
        let raw = self
            .view
            .xattr(&self.host(path), acl::XATTR_ACCESS)
            .ok()??;
        Acl::from_xattr(&raw).ok()
    }

    fn check(&mut self, path: &Path, meta: &Meta, want: u8, what: &str) -> Dac {
        let acl = self.acl(path);
        let d = dac(meta, acl.as_ref(), self.creds, want);
        self.trace.push(format!(
            "{what} {} ({} {}:{}): {} via {:?}{}",
            path.display(),
            meta.mode_string(),
            meta.uid,
            meta.gid,
            if d.ok { "ok" } else { "denied" },
            d.via,
            d.cap.map(|c| format!(" + {c}")).unwrap_or_default()
        ));
        d
    }

    /// Walks `path`, checking search permission on every directory and
    /// following symlinks (the last one too when `follow_last`). The error is
    /// the first refusal, as a full [`Outcome`] (large, but built once per walk).
    #[allow(clippy::result_large_err)]
    pub fn resolve(&mut self, path: &Path, follow_last: bool) -> Result<Target, Outcome> {
        let mut todo: Vec<OsString> = Vec::new();
        push_components(&mut todo, path);
        let mut cur = PathBuf::from("/");
        let mut cur_meta = match self.lstat(&cur) {
            Ok(m) => m,
            Err(e) => {
                return Err(Outcome::Io {
                    path: cur,
                    errno: errno_of(&e),
                })
            }
        };
        let mut links = 0;
        while let Some(c) = todo.pop() {
            // The kernel checks every component the same way (link_path_walk:
            // may_lookup before the name is even looked at), so `.` and `..`
            // need search permission on the directory they are met in, and any
            // component after a non-directory is ENOTDIR.
            if cur_meta.kind != FileKind::Dir {
                return Err(Outcome::NotDir { path: cur });
            }
            let d = self.check(&cur.clone(), &cur_meta, X, "search");
            if !d.ok {
                return Err(Outcome::SearchDenied {
                    dir: cur,
                    meta: cur_meta,
                    dac: d,
                });
            }
            if c == "." {
                continue;
            }
            if c == ".." {
                // At the subject's root `..` stays there (chroot and container roots too);
                // crossing a mount upwards lands on the mountpoint's parent, which is
                // what the path's parent names.
                cur.pop();
                cur_meta = self.lstat(&cur).map_err(|e| Outcome::Io {
                    path: cur.clone(),
                    errno: errno_of(&e),
                })?;
                continue;
            }
            let child = cur.join(&c);
            let last = todo.is_empty();
            let meta = match self.lstat(&child) {
                Ok(m) => m,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    self.trace
                        .push(format!("lookup {}: missing", child.display()));
                    return Err(Outcome::NotFound {
                        path: child,
                        parent: cur,
                        parent_meta: cur_meta,
                        last,
                        create: None,
                    });
                }
                Err(e) => {
                    return Err(Outcome::Io {
                        path: child,
                        errno: errno_of(&e),
                    })
                }
            };
            if meta.kind == FileKind::Symlink && (!last || follow_last) {
                links += 1;
                if links > 40 {
                    return Err(Outcome::Loop { path: child });
                }
                if self.sysctls.protected_symlinks > 0
                    && cur_meta.mode & 0o1002 == 0o1002
                    && meta.uid != self.creds.uid
                    && meta.uid != cur_meta.uid
                {
                    return Err(Outcome::ProtectedSymlink {
                        link: child,
                        link_uid: meta.uid,
                        dir: cur,
                        dir_meta: cur_meta,
                    });
                }
                let target = self
                    .view
                    .read_link(&self.host(&child))
                    .map_err(|e| Outcome::Io {
                        path: child.clone(),
                        errno: errno_of(&e),
                    })?;
                self.trace.push(format!(
                    "follow {} -> {}",
                    child.display(),
                    target.display()
                ));
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                    cur_meta = self.lstat(&cur).map_err(|e| Outcome::Io {
                        path: cur.clone(),
                        errno: errno_of(&e),
                    })?;
                }
                push_components(&mut todo, &target);
                continue;
            }
            if last {
                let acl = self.acl(&child);
                return Ok(Target {
                    path: child,
                    meta,
                    acl,
                    parent: cur,
                    parent_meta: cur_meta,
                });
            }
            cur = child;
            cur_meta = meta;
        }
        // The path named a directory ("/" or ending in "..").
        let acl = self.acl(&cur);
        let parent = cur.parent().unwrap_or(Path::new("/")).to_path_buf();
        let parent_meta = self.lstat(&parent).unwrap_or(cur_meta);
        Ok(Target {
            path: cur,
            meta: cur_meta,
            acl,
            parent,
            parent_meta,
        })
    }

    /// `open(path, O_WRONLY [| O_CREAT | O_TRUNC])`.
    pub fn open_write(&mut self, path: &Path, creat: bool) -> Outcome {
        let target = match self.resolve(path, true) {
            Ok(t) => t,
            Err(Outcome::NotFound {
                path,
                parent,
                parent_meta,
                last: true,
                ..
            }) if creat => {
                let d = self.check(&parent, &parent_meta, W | X, "create in");
                return Outcome::NotFound {
                    path,
                    parent,
                    parent_meta,
                    last: true,
                    create: Some(d),
                };
            }
            Err(o) => return o,
        };
        if creat && target.meta.kind == FileKind::Fifo {
            let dir = target.parent_meta;
            let level = self.sysctls.protected_fifos;
            if level > 0
                && dir.mode & 0o1000 != 0
                && target.meta.uid != dir.uid
                && target.meta.uid != self.creds.uid
                && (dir.mode & 0o002 != 0 || (level >= 2 && dir.mode & 0o020 != 0))
            {
                self.trace.push(format!(
                    "protected_fifos={level}: O_CREAT of a FIFO owned by uid {} in sticky {} ({}, owner uid {}): denied",
                    target.meta.uid,
                    target.parent.display(),
                    dir.mode_string(),
                    dir.uid
                ));
                return Outcome::ProtectedFifo { target, level };
            }
        }
        let d = self.check(&target.path.clone(), &target.meta, W, "write");
        if d.ok {
            Outcome::Allowed(target)
        } else {
            Outcome::Denied { target, dac: d }
        }
    }

    /// May the subject create a new entry (e.g. a reply FIFO) in `dir`? Search
    /// to it, then W+X on it (`may_o_create`).
    pub fn create_in(&mut self, dir: &Path) -> Outcome {
        let t = match self.resolve(dir, true) {
            Ok(t) => t,
            Err(o) => return o,
        };
        if t.meta.kind != FileKind::Dir {
            return Outcome::NotDir { path: t.path };
        }
        let d = self.check(&t.path.clone(), &t.meta, W | X, "create in");
        if d.ok {
            Outcome::Allowed(t)
        } else {
            Outcome::Denied { target: t, dac: d }
        }
    }
}

/// `stat(2)` of `path` as seen from `root` (a host path such as
/// `/proc/PID/root`, or `/`), resolving symlinks against that root without
/// following any itself. The kernel would
/// resolve an absolute symlink met under `/proc/PID/root/…` against the
/// *doctor's* root (`/var/run -> /run` in a container would land on the host's
/// `/run`), so other roots are walked here instead. Returns the resolved path
/// (in the subject's namespace) with the metadata.
///
/// # Errors
/// `ENOENT`, `ENOTDIR`, `ELOOP` or the underlying error.
pub fn stat_in(view: &dyn SystemView, root: &Path, path: &Path) -> io::Result<(PathBuf, Meta)> {
    // Always walked with lstat/readlink, also in the doctor's own root: the
    // doctor's own stat() is subject to fs.protected_symlinks (root too), and
    // its refusal must not read as "the FIFO does not exist".
    let all = Creds {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        cap_eff: cap::ALL,
    };
    let mut m = Model::new(view, root, &all, Sysctls::default());
    match m.resolve(path, true) {
        Ok(t) => Ok((t.path, t.meta)),
        Err(o) => Err(io::Error::from_raw_os_error(match o {
            Outcome::Io { errno, .. } => errno,
            other => other.errno().unwrap_or(libc::EIO),
        })),
    }
}

/// The components of `path` as the kernel splits them: runs of `/` are one
/// separator, `.` and `..` are kept wherever they are (std's `components()`
/// drops inner `.`s), and a trailing `/` becomes a final `.` — the last
/// component must then be a directory (`fifo/` is `ENOTDIR`).
pub fn kernel_components(path: &Path) -> Vec<OsString> {
    let bytes = path.as_os_str().as_bytes();
    let mut comps: Vec<OsString> = bytes
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect();
    if bytes.len() > 1 && bytes.ends_with(b"/") && !comps.is_empty() {
        comps.push(OsString::from("."));
    }
    comps
}

/// Pushes the components of `path` onto a stack (last component at the bottom).
fn push_components(todo: &mut Vec<OsString>, path: &Path) {
    todo.extend(kernel_components(path).into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::super::fixture::ROOT_DIR;
    use super::super::view::FakeView;
    use super::*;
    use crate::fifo::acl::encode_raw as encode;

    const APACHE: u32 = 995;
    const APACHE_G: u32 = 994;
    const OPENSIPS: u32 = 990;
    const OPENSIPS_G: u32 = 995;

    fn apache(groups: &[u32]) -> Creds {
        Creds {
            uid: APACHE,
            gid: APACHE_G,
            groups: groups.to_vec(),
            cap_eff: 0,
        }
    }

    fn fifo(mode: u32) -> Meta {
        Meta {
            kind: FileKind::Fifo,
            mode,
            uid: OPENSIPS,
            gid: OPENSIPS_G,
            dev: 1,
            ino: 9,
        }
    }

    fn user_acl(mask: u8, other: u8) -> Acl {
        Acl::from_xattr(&encode(&[
            (0x01, 6, u32::MAX),
            (0x02, 6, APACHE),
            (0x04, 6, u32::MAX),
            (0x10, mask, u32::MAX),
            (0x20, other, u32::MAX),
        ]))
        .unwrap()
    }

    /// The worked cases of linux-fifo-access.md §2.3, verified against a live kernel there.
    #[test]
    fn reference_worked_cases() {
        // mode 0660, no ACL, not in group → other --- → denied.
        let d = dac(&fifo(0o660), None, &apache(&[APACHE_G]), W);
        assert!(!d.ok);
        assert_eq!(d.via, Via::Other);
        // + user:apache:rw- with mask rw- → allowed by the named entry.
        let d = dac(&fifo(0o660), Some(&user_acl(6, 0)), &apache(&[APACHE_G]), W);
        assert!(d.ok);
        assert_eq!(d.via, Via::AclUser(APACHE));
        // chmod 0600 → mask --- → shortcut to plain bits → other --- → denied.
        let d = dac(&fifo(0o600), Some(&user_acl(0, 0)), &apache(&[APACHE_G]), W);
        assert!(!d.ok);
        assert!(d.mask_zero_shortcut);
        // mode 0606, in the owning group → group bits --- apply, other ignored.
        let d = dac(&fifo(0o606), None, &apache(&[APACHE_G, OPENSIPS_G]), W);
        assert!(!d.ok);
        assert_eq!(d.via, Via::Group);
        assert!(d.other_would_grant);
        // mode 0606, not in group → other rw-.
        assert!(dac(&fifo(0o606), None, &apache(&[APACHE_G]), W).ok);
        // user:apache:rw-, other::rw-, mode 0606 (mask ---) → shortcut, other grants.
        let d = dac(&fifo(0o606), Some(&user_acl(0, 6)), &apache(&[APACHE_G]), W);
        assert!(d.ok);
        assert!(d.mask_zero_shortcut);
        // same with mode 0646 (mask r--) → ACL walk, named entry masked to r--, no fall-through.
        let d = dac(&fifo(0o646), Some(&user_acl(4, 6)), &apache(&[APACHE_G]), W);
        assert!(!d.ok);
        assert_eq!(d.via, Via::AclUser(APACHE));
        assert_eq!(d.mask, Some(4));
    }

    #[test]
    fn acl_group_entry_lacking_bits_does_not_fall_through_to_other() {
        let acl = Acl::from_xattr(&encode(&[
            (0x01, 6, u32::MAX),
            (0x04, 4, u32::MAX),
            (0x08, 4, 50),
            (0x10, 6, u32::MAX),
            (0x20, 6, u32::MAX),
        ]))
        .unwrap();
        let d = dac(&fifo(0o666), Some(&acl), &apache(&[50]), W);
        assert!(!d.ok);
        assert_eq!(d.via, Via::AclGroupNoFallThrough);
        assert!(dac(&fifo(0o666), Some(&acl), &apache(&[]), W).ok);
    }

    #[test]
    fn capabilities_override_dac_but_not_exec_without_x_bits() {
        let root = Creds {
            uid: 0,
            gid: 0,
            groups: vec![],
            cap_eff: cap::ALL,
        };
        let d = dac(&fifo(0o600), None, &root, W);
        assert!(d.ok && !d.dac_ok);
        assert_eq!(d.cap, Some("CAP_DAC_OVERRIDE"));
        let reader = Creds {
            cap_eff: cap::DAC_READ_SEARCH,
            ..apache(&[])
        };
        let dir = Meta {
            kind: FileKind::Dir,
            mode: 0o700,
            uid: 0,
            gid: 0,
            dev: 1,
            ino: 3,
        };
        assert_eq!(dac(&dir, None, &reader, X).cap, Some("CAP_DAC_READ_SEARCH"));
        assert!(!dac(&dir, None, &reader, W | X).ok);
    }

    fn tmp_tree(fifo_mode: u32) -> FakeView {
        let mut v = FakeView::new();
        v.dir("/tmp", 0o1777, 0, 0)
            .fifo("/tmp/opensips_fifo", fifo_mode, OPENSIPS, OPENSIPS_G);
        v
    }

    #[test]
    fn protected_fifos_blocks_only_o_creat_and_only_in_sticky_dirs() {
        let v = tmp_tree(0o666);
        let c = apache(&[]);
        let s = Sysctls {
            protected_fifos: 1,
            protected_symlinks: 1,
        };
        let p = Path::new("/tmp/opensips_fifo");
        assert!(matches!(
            Model::new(&v, Path::new("/"), &c, s).open_write(p, true),
            Outcome::ProtectedFifo { level: 1, .. }
        ));
        assert!(Model::new(&v, Path::new("/"), &c, s)
            .open_write(p, false)
            .allowed());
        let off = Sysctls {
            protected_fifos: 0,
            ..s
        };
        assert!(Model::new(&v, Path::new("/"), &c, off)
            .open_write(p, true)
            .allowed());
        // Root is not exempt.
        let root = Creds {
            uid: 0,
            gid: 0,
            groups: vec![],
            cap_eff: cap::ALL,
        };
        assert!(!Model::new(&v, Path::new("/"), &root, s)
            .open_write(p, true)
            .allowed());
        // Level 2 extends to group-writable sticky dirs.
        let mut g = FakeView::new();
        g.dir("/srv", 0o1770, 0, OPENSIPS_G)
            .fifo("/srv/f", 0o666, OPENSIPS, OPENSIPS_G);
        let member = apache(&[OPENSIPS_G]);
        let f = Path::new("/srv/f");
        assert!(Model::new(&g, Path::new("/"), &member, s)
            .open_write(f, true)
            .allowed());
        let two = Sysctls {
            protected_fifos: 2,
            ..s
        };
        assert!(!Model::new(&g, Path::new("/"), &member, two)
            .open_write(f, true)
            .allowed());
        // FIFO owned by the directory owner is fine.
        let mut o = FakeView::new();
        o.dir("/tmp", 0o1777, OPENSIPS, 0)
            .fifo("/tmp/f", 0o666, OPENSIPS, OPENSIPS_G);
        assert!(Model::new(&o, Path::new("/"), &c, s)
            .open_write(Path::new("/tmp/f"), true)
            .allowed());
    }

    #[test]
    fn search_denied_names_the_directory() {
        let mut v = FakeView::new();
        v.dir("/run/opensips", 0o750, OPENSIPS, OPENSIPS_G).fifo(
            "/run/opensips/f",
            0o666,
            OPENSIPS,
            OPENSIPS_G,
        );
        let c = apache(&[]);
        match Model::new(&v, Path::new("/"), &c, Sysctls::default())
            .open_write(Path::new("/run/opensips/f"), false)
        {
            Outcome::SearchDenied { dir, .. } => assert_eq!(dir, PathBuf::from("/run/opensips")),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn missing_with_o_creat_would_create_a_regular_file() {
        let v = tmp_tree(0o666);
        let c = apache(&[]);
        let o = Model::new(&v, Path::new("/"), &c, Sysctls::default())
            .open_write(Path::new("/tmp/other"), true);
        assert!(matches!(&o, Outcome::NotFound { create: Some(d), last: true, .. } if d.ok));
        assert_eq!(o.errno(), None);
        let o = Model::new(&v, Path::new("/"), &c, Sysctls::default())
            .open_write(Path::new("/tmp/other"), false);
        assert_eq!(o.errno(), Some(libc::ENOENT));
    }

    #[test]
    fn symlinks_are_followed_and_protected() {
        let mut v = tmp_tree(0o666);
        v.symlink("/tmp/link", "opensips_fifo", 4242);
        let c = apache(&[]);
        let on = Sysctls {
            protected_fifos: 0,
            protected_symlinks: 1,
        };
        let o = Model::new(&v, Path::new("/"), &c, on).open_write(Path::new("/tmp/link"), false);
        assert!(matches!(
            o,
            Outcome::ProtectedSymlink { link_uid: 4242, .. }
        ));
        let off = Sysctls::default();
        match Model::new(&v, Path::new("/"), &c, off).open_write(Path::new("/tmp/link"), false) {
            Outcome::Allowed(t) => assert_eq!(t.path, PathBuf::from("/tmp/opensips_fifo")),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn stat_in_resolves_absolute_links_in_the_subjects_root() {
        let dir = ROOT_DIR;
        let mut v = FakeView::new();
        v.magic("/proc/7/root", "/", dir)
            .dir("/proc/7/root/run/opensips", 0o755, 0, 0)
            .fifo("/proc/7/root/run/opensips/f", 0o660, 0, 0)
            .symlink("/proc/7/root/var/run", "/run", 0);
        let (p, m) = stat_in(
            &v,
            Path::new("/proc/7/root"),
            Path::new("/var/run/opensips/f"),
        )
        .unwrap();
        assert_eq!(p, PathBuf::from("/run/opensips/f"));
        assert_eq!(m.kind, FileKind::Fifo);
        let e = stat_in(&v, Path::new("/proc/7/root"), Path::new("/var/run/nope")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn evaluates_inside_another_root() {
        let mut v = FakeView::new();
        v.magic("/proc/7/root", "/", ROOT_DIR)
            .dir("/proc/7/root/tmp", 0o1777, 0, 0);
        let c = apache(&[]);
        let o = Model::new(&v, Path::new("/proc/7/root"), &c, Sysctls::default())
            .open_write(Path::new("/tmp/opensips_fifo"), false);
        assert!(
            matches!(o, Outcome::NotFound { ref path, .. } if path == Path::new("/tmp/opensips_fifo"))
        );
    }
}

#[cfg(test)]
mod walk_tests {
    use super::super::view::FakeView;
    use super::*;

    fn apache() -> Creds {
        Creds {
            uid: 48,
            gid: 48,
            groups: vec![],
            cap_eff: 0,
        }
    }

    #[test]
    fn components_keep_dots_and_the_trailing_slash() {
        let c = |p: &str| {
            kernel_components(Path::new(p))
                .into_iter()
                .map(|o| o.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(c("/a/./b"), ["a", ".", "b"]);
        assert_eq!(c("//a//b/"), ["a", "b", "."]);
        assert_eq!(c("/a/../b"), ["a", "..", "b"]);
        assert!(c("/").is_empty());
    }

    #[test]
    fn dotdot_needs_search_on_the_directory_it_leaves() {
        let mut v = FakeView::new();
        v.dir("/d", 0o755, 0, 0)
            .dir("/d/sub", 0o700, 0, 0)
            .fifo("/d/f", 0o666, 0, 0);
        let c = apache();
        let mut m = Model::new(&v, Path::new("/"), &c, Sysctls::default());
        match m.open_write(Path::new("/d/sub/../f"), false) {
            Outcome::SearchDenied { dir, .. } => assert_eq!(dir, PathBuf::from("/d/sub")),
            o => panic!("{o:?}"),
        }
        let mut m = Model::new(&v, Path::new("/"), &c, Sysctls::default());
        assert!(m.open_write(Path::new("/d/./f"), false).allowed());
        let mut m = Model::new(&v, Path::new("/"), &c, Sysctls::default());
        assert_eq!(
            m.open_write(Path::new("/d/f/"), false).errno(),
            Some(libc::ENOTDIR)
        );
        // `..` at the root stays there.
        let mut m = Model::new(&v, Path::new("/"), &c, Sysctls::default());
        assert!(m.open_write(Path::new("/../../d/f"), false).allowed());
    }
}
