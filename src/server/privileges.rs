//! `--user`: after the FIFO is created (as root), switch to the user and its
//! groups, so replies are written with the rights OpenSIPS would have.
//! Order: supplementary groups, gid, uid (after `setuid` the others are no
//! longer allowed). glibc applies the change to every thread of the process.

use nix::unistd::{Gid, Group, Uid, User};
use std::ffi::CString;

/// Why credentials could not be resolved or applied.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// No user of that name (a numeric uid is always accepted).
    #[error("no such user '{0}'")]
    NoUser(String),
    /// No group of that name.
    #[error("no such group '{0}'")]
    NoGroup(String),
    /// The user or group database could not be read.
    #[error("cannot look up '{name}' in the {db} database")]
    Lookup {
        /// The name looked up.
        name: String,
        /// `user` or `group`.
        db: &'static str,
        /// The cause.
        #[source]
        source: nix::Error,
    },
    /// The user name cannot be passed to the C library.
    #[error("user name '{0}' contains a NUL byte")]
    Nul(String),
    /// A step of the switch failed: `setgroups`, `setgid(N)`, `setuid(N)`.
    #[error("{step} failed")]
    Step {
        /// The call.
        step: String,
        /// The cause.
        #[source]
        source: nix::Error,
    },
    /// Every call succeeded but the effective ids are not the asked ones.
    #[error("credentials did not change")]
    Unchanged,
}

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
    /// The user does not exist, or the database cannot be read.
    pub fn resolve(user: &str, group: Option<Gid>) -> Result<Credentials, PrivilegeError> {
        let lookup = |source| PrivilegeError::Lookup {
            name: user.to_string(),
            db: "user",
            source,
        };
        let found = match user.parse::<u32>() {
            Ok(n) => User::from_uid(Uid::from_raw(n)).map_err(lookup)?,
            Err(_) => User::from_name(user).map_err(lookup)?,
        };
        match found {
            Some(u) => {
                let gid = group.unwrap_or(u.gid);
                let cname = CString::new(u.name.clone())
                    .map_err(|_| PrivilegeError::Nul(u.name.clone()))?;
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
                Err(_) => Err(PrivilegeError::NoUser(user.to_string())),
            },
        }
    }

    /// Switches the whole process to these credentials.
    ///
    /// # Errors
    /// The failing step and errno.
    pub fn apply(&self) -> Result<(), PrivilegeError> {
        let step = |step: String| move |source| PrivilegeError::Step { step, source };
        nix::unistd::setgroups(&self.groups).map_err(step("setgroups".into()))?;
        nix::unistd::setgid(self.gid).map_err(step(format!("setgid({})", self.gid)))?;
        nix::unistd::setuid(self.uid).map_err(step(format!("setuid({})", self.uid)))?;
        if nix::unistd::geteuid() != self.uid || nix::unistd::getegid() != self.gid {
            return Err(PrivilegeError::Unchanged);
        }
        Ok(())
    }
}

/// Resolves a group name or numeric gid.
///
/// # Errors
/// The group does not exist, or the database cannot be read.
pub fn resolve_group(group: &str) -> Result<Gid, PrivilegeError> {
    if let Ok(n) = group.parse::<u32>() {
        return Ok(Gid::from_raw(n));
    }
    Group::from_name(group)
        .map_err(|source| PrivilegeError::Lookup {
            name: group.to_string(),
            db: "group",
            source,
        })?
        .map(|g| g.gid)
        .ok_or_else(|| PrivilegeError::NoGroup(group.to_string()))
}
