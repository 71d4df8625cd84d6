//! Whom a client believes the server FIFO belongs to, checked **before**
//! anything is written to it (and before a reply FIFO is made or an ACL
//! granted).
//!
//! In a world-writable directory such as `/tmp`, any local user can create a
//! FIFO at the server's path first and read it ("squatting"): every request
//! (with its parameters, secrets included) goes to them, and they can answer
//! anything. Two checks, both naming who is involved:
//!
//! 1. **Owner**: the FIFO (or a symlink at the path) lives in a directory
//!    others may write (`o+w`, sticky or not — the `fs.protected_fifos`
//!    pattern), and is owned by a user who is neither us, root, the
//!    directory's owner, nor trusted → refused.
//! 2. **Readers** (as root only — a non-root client cannot see other users'
//!    file descriptors, and cannot be fooled by its own): a process reading
//!    the FIFO runs as a user who is neither the FIFO's owner, root, us, the
//!    directory's owner, nor trusted → refused (someone opened the server's
//!    FIFO to steal requests). Only when the mode lets *others* read the
//!    FIFO (`o+r`): otherwise a reader can only be its owner, root, or a user
//!    the FIFO's group or ACL was granted to — who can write any MI command
//!    anyway — and the scan (~1 ms of a `mififo call`) is skipped.
//!
//! Trusting a user (`--trust-user`) is the documented way out when a server
//! really runs like that (e.g. OpenSIPS in `/tmp` as user `opensips`).
//!
//! The owner that passed these checks is the only uid the reply FIFO's ACL
//! is ever granted to.

use super::error::Error;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Users a client trusts beyond itself and root, by uid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// Trusted uids (`--trust-user`).
    pub uids: Vec<u32>,
}

impl Trust {
    fn trusts(&self, uid: u32, me: u32, extra: &[u32]) -> bool {
        uid == 0 || uid == me || extra.contains(&uid) || self.uids.contains(&uid)
    }
}

/// A user for messages: `name (uid N)`, or `uid N` without a passwd entry.
pub fn user_label(uid: u32) -> String {
    match user_name(uid) {
        Some(n) => format!("{n} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// What `--trust-user` needs to name `uid`: its name when it has one.
fn suggest(uid: u32) -> String {
    user_name(uid).unwrap_or_else(|| uid.to_string())
}

/// Checks the server FIFO open as `meta` (the `fstat` of our descriptor) at
/// `path`, for a client running as `me`.
///
/// # Errors
/// [`Error::Untrusted`] naming the owner or reader and the directory.
pub fn check_server_fifo(
    path: &Path,
    meta: &std::fs::Metadata,
    me: u32,
    trust: &Trust,
) -> Result<(), Error> {
    let untrusted = |reason: String, uid: u32| Error::Untrusted {
        fifo: path.to_path_buf(),
        reason,
        suggest: suggest(uid),
    };
    // A symlink at the path, placed in a directory others may write.
    if let Ok(l) = std::fs::symlink_metadata(path) {
        if l.file_type().is_symlink() {
            let dir = parent(path);
            if let Some(d) = shared_dir(&dir) {
                if !trust.trusts(l.uid(), me, &[d.uid()]) {
                    return Err(untrusted(
                        format!(
                            "it is a symbolic link owned by {} in '{}', a directory anyone may write (owned by {})",
                            user_label(l.uid()),
                            dir.display(),
                            user_label(d.uid())
                        ),
                        l.uid(),
                    ));
                }
            }
        }
    }
    // The FIFO itself: the directory it really is in.
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = parent(&real);
    let owner = meta.uid();
    let dir_meta = std::fs::metadata(&dir).ok();
    let dir_owner = dir_meta.as_ref().map(MetadataExt::uid);
    if let Some(d) = dir_meta.as_ref().filter(|d| others_may_write(d)) {
        if !trust.trusts(owner, me, &[d.uid()]) {
            return Err(untrusted(
                format!(
                    "it is owned by {} in '{}', a directory anyone may write (owned by {}), so another user may have \
                     created it to receive the requests (squatting)",
                    user_label(owner),
                    dir.display(),
                    user_label(d.uid())
                ),
                owner,
            ));
        }
    }
    // Readers: visible to root only; only others (o+r) can be unrelated.
    if me == 0 && meta.permissions().mode() & 0o004 != 0 {
        let related: Vec<u32> = std::iter::once(owner).chain(dir_owner).collect();
        if let Some((pid, uid)) = untrusted_reader(meta.dev(), meta.ino(), |uid| {
            trust.trusts(uid, me, &related)
        }) {
            return Err(untrusted(
                format!(
                    "it is read by pid {pid} running as {}, a user unrelated to the FIFO's owner {}, so requests \
                     could go to someone other than the server",
                    user_label(uid),
                    user_label(owner)
                ),
                uid,
            ));
        }
    }
    Ok(())
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        Some(_) => PathBuf::from("."),
        None => PathBuf::from("/"),
    }
}

/// The directory's metadata when users other than its owner and group may
/// write it.
fn shared_dir(dir: &Path) -> Option<std::fs::Metadata> {
    std::fs::metadata(dir).ok().filter(others_may_write)
}

fn others_may_write(m: &std::fs::Metadata) -> bool {
    m.permissions().mode() & 0o002 != 0
}

/// The first process (pid, effective uid) not `trusted` that holds the
/// inode `(dev, ino)` open for reading. Only the descriptors of untrusted
/// processes are looked at (one `/proc/PID/status` read per process, then the
/// fd scan for the few left), which keeps this to a few hundred syscalls on a
/// busy host instead of a `stat` per descriptor of every process.
fn untrusted_reader(dev: u64, ino: u64, trusted: impl Fn(u32) -> bool) -> Option<(i32, u32)> {
    use crate::sys::proc;
    use std::ops::ControlFlow;
    // The uid of the process being walked (`found` runs right after `want`
    // accepted its pid).
    let uid = std::cell::Cell::new(0);
    let mut found = None;
    proc::scan(
        dev,
        ino,
        |pid| match proc::euid(pid) {
            Some(u) if !trusted(u) => {
                uid.set(u);
                true
            }
            _ => false,
        },
        |h| {
            if h.reads() {
                found = Some((h.pid, uid.get()));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
    );
    found
}

/// Parses a `--trust-user` value: a user name or a numeric uid.
///
/// # Errors
/// A message when the name is unknown.
pub fn parse_user(s: &str) -> Result<u32, String> {
    if let Ok(uid) = s.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(s) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        _ => Err(format!("no user named '{s}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;

    fn fifo_in(dir: &Path) -> (PathBuf, std::fs::Metadata) {
        let p = dir.join("f");
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        (p, m)
    }

    #[test]
    fn our_own_fifo_anywhere_is_fine() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let (p, m) = fifo_in(d.path());
        let me = nix::unistd::geteuid().as_raw();
        check_server_fifo(&p, &m, me, &Trust::default()).unwrap();
    }

    #[test]
    fn another_users_fifo_in_a_world_writable_dir_is_refused_unless_trusted() {
        if !nix::unistd::geteuid().is_root() {
            return; // chown to another uid needs root
        }
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let (p, _) = fifo_in(d.path());
        let other = 4_000_123;
        nix::unistd::chown(&p, Some(nix::unistd::Uid::from_raw(other)), None).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        let e = check_server_fifo(&p, &m, 0, &Trust::default()).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Untrusted { .. }), "{text}");
        assert!(
            text.contains("uid 4000123") && text.contains("--trust-user 4000123"),
            "{text}"
        );
        let t = Trust { uids: vec![other] };
        check_server_fifo(&p, &m, 0, &t).unwrap();
        // Not world-writable: the directory vouches for what is in it.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        check_server_fifo(&p, &m, 0, &Trust::default()).unwrap();
        // World-writable but owned by the FIFO's owner: theirs to begin with.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        nix::unistd::chown(d.path(), Some(nix::unistd::Uid::from_raw(other)), None).unwrap();
        check_server_fifo(&p, &m, 0, &Trust::default()).unwrap();
        nix::unistd::chown(d.path(), Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
        // A symlink in the shared directory, owned by someone else, to a FIFO
        // of ours elsewhere: refused too.
        let safe = tempfile::tempdir().unwrap();
        let (mine, mine_meta) = fifo_in(safe.path());
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&mine, &link).unwrap();
        nix::unistd::fchownat(
            None,
            &link,
            Some(nix::unistd::Uid::from_raw(other)),
            None,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .unwrap();
        let e = check_server_fifo(&link, &mine_meta, 0, &Trust::default()).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn users_parse_by_name_or_number() {
        assert_eq!(parse_user("0"), Ok(0));
        assert_eq!(parse_user("root"), Ok(0));
        assert!(parse_user("mififo-no-such-user").is_err());
    }
}
