//! The user and group database as files (`/etc/passwd`, `/etc/group`), read
//! through the view so fixtures can stand in. This is the *configured*
//! membership; the kernel's is in `/proc/PID/status` (stale groups differ).
//! NSS sources (LDAP, sssd) are not consulted.

use super::view::SystemView;
use std::path::Path;

/// A `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
}

/// A `/etc/group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Gid.
    pub gid: u32,
    /// Listed members.
    pub members: Vec<String>,
}

/// Users and groups.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    /// `/etc/passwd`.
    pub users: Vec<User>,
    /// `/etc/group`.
    pub groups: Vec<Group>,
}

impl UserDb {
    /// Reads `/etc/passwd` and `/etc/group` (missing files give an empty database).
    pub fn read(view: &dyn SystemView) -> UserDb {
        let passwd = view
            .read_string(Path::new("/etc/passwd"))
            .unwrap_or_default();
        let group = view
            .read_string(Path::new("/etc/group"))
            .unwrap_or_default();
        UserDb::parse(&passwd, &group)
    }

    /// Parses the two files.
    pub fn parse(passwd: &str, group: &str) -> UserDb {
        let users = passwd
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() < 4 {
                    return None;
                }
                Some(User {
                    name: f[0].to_string(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                })
            })
            .collect();
        let groups = group
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() < 4 {
                    return None;
                }
                Some(Group {
                    name: f[0].to_string(),
                    gid: f[2].parse().ok()?,
                    members: f[3]
                        .split(',')
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
            })
            .collect();
        UserDb { users, groups }
    }

    /// User by name.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// User by uid.
    pub fn user_by_uid(&self, uid: u32) -> Option<&User> {
        self.users.iter().find(|u| u.uid == uid)
    }

    /// Group by gid.
    pub fn group(&self, gid: u32) -> Option<&Group> {
        self.groups.iter().find(|g| g.gid == gid)
    }

    /// A uid as `name` or the number.
    pub fn user_name(&self, uid: u32) -> String {
        self.user_by_uid(uid)
            .map_or_else(|| uid.to_string(), |u| u.name.clone())
    }

    /// A gid as `name` or the number.
    pub fn group_name(&self, gid: u32) -> String {
        self.group(gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    }

    /// The groups the database gives `user` (primary + listed memberships), as `initgroups` would.
    pub fn configured_groups(&self, user: &User) -> Vec<u32> {
        let mut g = vec![user.gid];
        for grp in &self.groups {
            if grp.members.iter().any(|m| m == &user.name) && !g.contains(&grp.gid) {
                g.push(grp.gid);
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lists_memberships() {
        let db = UserDb::parse(
            "root:x:0:0:root:/root:/bin/bash\napache:x:995:994::/:/sbin/nologin\nbroken\n",
            "root:x:0:\napache:x:994:\nopensips:x:995:apache,other\n",
        );
        let apache = db.user("apache").unwrap();
        assert_eq!(apache.uid, 995);
        assert_eq!(db.configured_groups(apache), vec![994, 995]);
        assert_eq!(db.group_name(995), "opensips");
        assert_eq!(db.user_name(4242), "4242");
        assert_eq!(db.users.len(), 2);
    }
}
