//! `--user`: after the FIFO is created (as root), switch to the user and its
//! groups, so replies are written with the rights OpenSIPS would have.
//! Order: supplementary groups, gid, uid (after `setuid` the others are no
//! longer allowed). glibc applies the change to every thread of the process.

use nix::unistd::{Gid, Group, Uid, User};
use std::ffi::CString;

/// Resolved target credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The name as given (for messages).
    pub name: String,
    /// User id.
    pub uid: Uid,
    /// Primary group id (the `--group`, else the user's primary group).
    pub gid: Gid,
    /// Supplementary groups (from the group database; `[gid]` for a bare uid).
    pub groups: Vec<Gid>,
}

impl Credentials {
    /// Resolves a user name or numeric uid; `group` overrides the primary group.
    ///
    /// # Errors
    /// A message when the user does not exist.
    pub fn resolve(user: &str, group: Option<Gid>) -> Result<Credentials, String> {
        let found = match user.parse::<u32>() {
            Ok(n) => User::from_uid(Uid::from_raw(n)).map_err(|e| e.to_string())?,
            Err(_) => User::from_name(user).map_err(|e| e.to_string())?,
        };
        match found {
            Some(u) => {
                let gid = group.unwrap_or(u.gid);
                let cname = CString::new(u.name.clone()).map_err(|e| e.to_string())?;
                let mut groups =
                    nix::unistd::getgrouplist(&cname, u.gid).unwrap_or_else(|_| vec![u.gid]);
                if !groups.contains(&gid) {
                    groups.push(gid);
                }
                Ok(Credentials {
                    name: user.to_string(),
                    uid: u.uid,
                    gid,
                    groups,
                })
            }
            None => match user.parse::<u32>() {
                Ok(n) => {
                    let gid = group.unwrap_or(Gid::from_raw(n));
                    Ok(Credentials {
                        name: user.to_string(),
                        uid: Uid::from_raw(n),
                        gid,
                        groups: vec![gid],
                    })
                }
                Err(_) => Err(format!("no such user '{user}'")),
            },
        }
    }

    /// Switches the whole process to these credentials.
    ///
    /// # Errors
    /// The failing step and errno.
    pub fn apply(&self) -> Result<(), String> {
        nix::unistd::setgroups(&self.groups).map_err(|e| format!("setgroups: {e}"))?;
        nix::unistd::setgid(self.gid).map_err(|e| format!("setgid({}): {e}", self.gid))?;
        nix::unistd::setuid(self.uid).map_err(|e| format!("setuid({}): {e}", self.uid))?;
        if nix::unistd::geteuid() != self.uid || nix::unistd::getegid() != self.gid {
            return Err("credentials did not change".into());
        }
        Ok(())
    }
}

/// Resolves a group name or numeric gid.
///
/// # Errors
/// A message when the group does not exist.
pub fn resolve_group(group: &str) -> Result<Gid, String> {
    if let Ok(n) = group.parse::<u32>() {
        return Ok(Gid::from_raw(n));
    }
    Group::from_name(group)
        .map_err(|e| e.to_string())?
        .map(|g| g.gid)
        .ok_or_else(|| format!("no such group '{group}'"))
}
