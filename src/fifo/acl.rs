//! POSIX access ACLs as the kernel stores them in the `system.posix_acl_access`
//! xattr: encoder, parser and the `u:NAME:rw` entry syntax of `--acl`. The one
//! ACL codec of the crate: `serve` writes the FIFO's ACL with it, the client
//! its reply FIFO's, and `doctor` parses what it reads through its view.
//!
//! Layout (`include/uapi/linux/posix_acl_xattr.h`), little-endian: `u32`
//! version 2, then 8-byte entries `{u16 tag; u16 perm; u32 id}` sorted by tag
//! (USER_OBJ, USER…, GROUP_OBJ, GROUP…, MASK, OTHER) and, within USER/GROUP,
//! by id. Unnamed entries carry id `0xffffffff`. No libacl needed.
//!
//! The mask is computed as `setfacl -m` does: the union of the group-class
//! entries (named users, owning group, named groups). The kernel mirrors the
//! mask into the mode's group bits, so `stat` then shows the mask there.

use std::path::Path;

/// xattr name of the access ACL.
pub const XATTR_ACCESS: &str = "system.posix_acl_access";

/// xattr name of a directory's default ACL (inherited by new files).
pub const XATTR_DEFAULT: &str = "system.posix_acl_default";

const VERSION: u32 = 2;
const UNDEFINED_ID: u32 = u32::MAX;

/// Entry tag, with the id for named entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tag {
    /// `user::` (the owner).
    UserObj,
    /// `user:ID:`.
    User(u32),
    /// `group::` (the owning group).
    GroupObj,
    /// `group:ID:`.
    Group(u32),
    /// `mask::`.
    Mask,
    /// `other::`.
    Other,
}

impl Tag {
    fn code(self) -> u16 {
        match self {
            Tag::UserObj => 0x01,
            Tag::User(_) => 0x02,
            Tag::GroupObj => 0x04,
            Tag::Group(_) => 0x08,
            Tag::Mask => 0x10,
            Tag::Other => 0x20,
        }
    }

    fn id(self) -> u32 {
        match self {
            Tag::User(id) | Tag::Group(id) => id,
            _ => UNDEFINED_ID,
        }
    }
}

/// One ACL entry: a tag and `rwx` bits (4, 2, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Whom the entry is for.
    pub tag: Tag,
    /// Permission bits, 0..=7.
    pub perm: u8,
}

/// A full access ACL (always has USER_OBJ, GROUP_OBJ and OTHER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// Entries in kernel order.
    pub entries: Vec<Entry>,
}

/// Why an ACL or an entry spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// The xattr bytes are not a version-2 ACL.
    #[error("malformed ACL xattr: {0}")]
    Malformed(String),
    /// An `--acl` entry does not parse.
    #[error("invalid ACL entry '{entry}': {reason} (expected u:USER:PERMS or g:GROUP:PERMS, e.g. 'u:apache:rw')")]
    BadSpec {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `rw-` style text of permission bits.
pub fn perm_text(perm: u8) -> String {
    let b = |bit: u8, c: char| if perm & bit != 0 { c } else { '-' };
    [b(4, 'r'), b(2, 'w'), b(1, 'x')].iter().collect()
}

impl Acl {
    /// The ACL equivalent to `mode` plus named entries, with the mask
    /// recomputed like `setfacl -m`. Later named entries for the same id win.
    pub fn from_mode_with(mode: u32, named: &[Entry]) -> Acl {
        let mut entries = vec![
            Entry {
                tag: Tag::UserObj,
                perm: ((mode >> 6) & 7) as u8,
            },
            Entry {
                tag: Tag::GroupObj,
                perm: ((mode >> 3) & 7) as u8,
            },
            Entry {
                tag: Tag::Other,
                perm: (mode & 7) as u8,
            },
        ];
        for e in named {
            entries.retain(|x| x.tag != e.tag);
            entries.push(*e);
        }
        let has_named = entries
            .iter()
            .any(|e| matches!(e.tag, Tag::User(_) | Tag::Group(_)));
        if has_named {
            let mask = entries
                .iter()
                .filter(|e| matches!(e.tag, Tag::User(_) | Tag::GroupObj | Tag::Group(_)))
                .fold(0, |m, e| m | e.perm);
            entries.push(Entry {
                tag: Tag::Mask,
                perm: mask,
            });
        }
        entries.sort_by_key(|e| e.tag);
        Acl { entries }
    }

    /// The xattr value.
    pub fn to_xattr(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 * self.entries.len());
        out.extend_from_slice(&VERSION.to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.tag.code().to_le_bytes());
            out.extend_from_slice(&u16::from(e.perm).to_le_bytes());
            out.extend_from_slice(&e.tag.id().to_le_bytes());
        }
        out
    }

    /// Parses an xattr value.
    pub fn from_xattr(bytes: &[u8]) -> Result<Acl, AclError> {
        if bytes.len() < 4 || !(bytes.len() - 4).is_multiple_of(8) {
            return Err(AclError::Malformed(format!("length {}", bytes.len())));
        }
        let version = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(AclError::Malformed(format!("version {version}")));
        }
        let mut entries = Vec::new();
        for chunk in bytes[4..].chunks_exact(8) {
            let tag = u16::from_le_bytes([chunk[0], chunk[1]]);
            let perm = u16::from_le_bytes([chunk[2], chunk[3]]);
            let id = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            let tag = match tag {
                0x01 => Tag::UserObj,
                0x02 => Tag::User(id),
                0x04 => Tag::GroupObj,
                0x08 => Tag::Group(id),
                0x10 => Tag::Mask,
                0x20 => Tag::Other,
                t => return Err(AclError::Malformed(format!("unknown tag {t:#x}"))),
            };
            entries.push(Entry {
                tag,
                perm: (perm & 7) as u8,
            });
        }
        Ok(Acl { entries })
    }

    /// The permission of the entry with this tag, if present.
    pub fn get(&self, tag: Tag) -> Option<u8> {
        self.entries.iter().find(|e| e.tag == tag).map(|e| e.perm)
    }

    /// The `mask::` entry's bits, if any.
    pub fn mask(&self) -> Option<u8> {
        self.get(Tag::Mask)
    }

    /// True when the ACL has named entries or a mask (more than the three
    /// mode-equivalent ones).
    pub fn is_extended(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.tag, Tag::User(_) | Tag::Group(_) | Tag::Mask))
    }

    /// `getfacl`-style text, entries joined by `,`; `user`/`group` name the ids.
    pub fn to_text(&self, user: &dyn Fn(u32) -> String, group: &dyn Fn(u32) -> String) -> String {
        self.entries
            .iter()
            .map(|e| {
                let p = perm_text(e.perm);
                match e.tag {
                    Tag::UserObj => format!("user::{p}"),
                    Tag::User(id) => format!("user:{}:{p}", user(id)),
                    Tag::GroupObj => format!("group::{p}"),
                    Tag::Group(id) => format!("group:{}:{p}", group(id)),
                    Tag::Mask => format!("mask::{p}"),
                    Tag::Other => format!("other::{p}"),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Encodes raw `(tag, perm, id)` triples as an xattr value, unchecked (test
/// fixtures, including invalid tags).
#[cfg(test)]
pub(crate) fn encode_raw(entries: &[(u16, u8, u32)]) -> Vec<u8> {
    let mut v = VERSION.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&u16::from(perm).to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

/// Writes `acl` as the access ACL of `path`.
pub fn write(path: &Path, acl: &Acl) -> std::io::Result<()> {
    xattr::set(path, XATTR_ACCESS, &acl.to_xattr())
}

/// Writes `acl` as the access ACL of the open file `file` (`fsetxattr`: no
/// path lookup, so a renamed or swapped directory entry cannot redirect it).
pub fn write_fd(file: &std::fs::File, acl: &Acl) -> std::io::Result<()> {
    xattr::FileExt::set_xattr(file, XATTR_ACCESS, &acl.to_xattr())
}

/// Reads the access ACL of `path`; `Ok(None)` when it has none (mode bits only).
pub fn read(path: &Path) -> std::io::Result<Option<Acl>> {
    match xattr::get(path, XATTR_ACCESS)? {
        None => Ok(None),
        Some(bytes) => Acl::from_xattr(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
    }
}

/// Parses `u:NAME:PERMS` / `user:…` / `g:NAME:PERMS` / `group:…`; NAME may be
/// numeric; PERMS are letters from `rwx` (or `-`) or one octal digit.
pub fn parse_spec(spec: &str) -> Result<Entry, AclError> {
    let bad = |reason: &str| AclError::BadSpec {
        entry: spec.to_string(),
        reason: reason.to_string(),
    };
    let mut parts = spec.splitn(3, ':');
    let (kind, who, perms) = match (parts.next(), parts.next(), parts.next()) {
        (Some(k), Some(w), Some(p)) => (k, w, p),
        _ => return Err(bad("it needs three ':'-separated fields")),
    };
    if who.is_empty() {
        return Err(bad("the user or group name is empty"));
    }
    let perm = parse_perm(perms).ok_or_else(|| bad("permissions must be made of r, w, x, -"))?;
    let tag = match kind {
        "u" | "user" => {
            let uid = match who.parse::<u32>() {
                Ok(n) => n,
                Err(_) => nix::unistd::User::from_name(who)
                    .ok()
                    .flatten()
                    .ok_or_else(|| bad(&format!("no such user '{who}'")))?
                    .uid
                    .as_raw(),
            };
            Tag::User(uid)
        }
        "g" | "group" => {
            let gid = match who.parse::<u32>() {
                Ok(n) => n,
                Err(_) => nix::unistd::Group::from_name(who)
                    .ok()
                    .flatten()
                    .ok_or_else(|| bad(&format!("no such group '{who}'")))?
                    .gid
                    .as_raw(),
            };
            Tag::Group(gid)
        }
        _ => return Err(bad("the type must be 'u' or 'g'")),
    };
    Ok(Entry { tag, perm })
}

fn parse_perm(s: &str) -> Option<u8> {
    if s.len() == 1 && s.as_bytes()[0].is_ascii_digit() {
        let d = s.as_bytes()[0] - b'0';
        return (d <= 7).then_some(d);
    }
    let mut perm = 0;
    for c in s.chars() {
        perm |= match c {
            'r' => 4,
            'w' => 2,
            'x' => 1,
            '-' => 0,
            _ => return None,
        };
    }
    Some(perm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of linux-fifo-access.md §3.9: `setfacl -m u:995:rw-`
    /// on a 0660 file.
    #[test]
    fn encodes_the_reference_example() {
        let acl = Acl::from_mode_with(
            0o660,
            &[Entry {
                tag: Tag::User(995),
                perm: 6,
            }],
        );
        let hex: String = acl.to_xattr().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "0200000001000600ffffffff02000600e303000004000600ffffffff10000600ffffffff20000000ffffffff"
        );
        assert_eq!(Acl::from_xattr(&acl.to_xattr()).unwrap(), acl);
    }

    #[test]
    fn mask_is_the_union_of_the_group_class() {
        let acl = Acl::from_mode_with(
            0o600,
            &[
                Entry {
                    tag: Tag::Group(20),
                    perm: 4,
                },
                Entry {
                    tag: Tag::User(7),
                    perm: 2,
                },
                Entry {
                    tag: Tag::User(3),
                    perm: 1,
                },
            ],
        );
        assert_eq!(acl.get(Tag::Mask), Some(7));
        let tags: Vec<Tag> = acl.entries.iter().map(|e| e.tag).collect();
        assert_eq!(
            tags,
            [
                Tag::UserObj,
                Tag::User(3),
                Tag::User(7),
                Tag::GroupObj,
                Tag::Group(20),
                Tag::Mask,
                Tag::Other
            ]
        );
    }

    #[test]
    fn specs() {
        assert_eq!(
            parse_spec("u:0:rw").unwrap(),
            Entry {
                tag: Tag::User(0),
                perm: 6
            }
        );
        assert_eq!(
            parse_spec("group:root:r-x").unwrap(),
            Entry {
                tag: Tag::Group(0),
                perm: 5
            }
        );
        assert_eq!(parse_spec("g:0:6").unwrap().perm, 6);
        assert!(parse_spec("u:root").is_err());
        assert!(parse_spec("x:root:rw").is_err());
        assert!(parse_spec("u:no-such-user-mififo:rw").is_err());
        assert!(parse_spec("u:root:rwq").is_err());
        assert!(Acl::from_xattr(&[1, 0, 0, 0]).is_err());
        assert_eq!(perm_text(6), "rw-");
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn parses_the_getfattr_dump_of_setfacl_u_apache_rw() {
        let acl = Acl::from_xattr(&hex(
            "0200000001000600ffffffff02000600e303000004000600ffffffff10000600ffffffff20000000ffffffff",
        ))
        .unwrap();
        assert_eq!(
            acl.entries,
            vec![
                Entry {
                    tag: Tag::UserObj,
                    perm: 6
                },
                Entry {
                    tag: Tag::User(995),
                    perm: 6
                },
                Entry {
                    tag: Tag::GroupObj,
                    perm: 6
                },
                Entry {
                    tag: Tag::Mask,
                    perm: 6
                },
                Entry {
                    tag: Tag::Other,
                    perm: 0
                },
            ]
        );
        assert_eq!(acl.mask(), Some(6));
        assert!(acl.is_extended());
        let n = |i: u32| i.to_string();
        assert_eq!(
            acl.to_text(&n, &n),
            "user::rw-,user:995:rw-,group::rw-,mask::rw-,other::---"
        );
        assert!(!Acl::from_mode_with(0o640, &[]).is_extended());
    }

    #[test]
    fn rejects_garbage() {
        let malformed = |m: &str| Err(AclError::Malformed(m.to_string()));
        assert_eq!(Acl::from_xattr(&[2, 0, 0]), malformed("length 3"));
        assert_eq!(Acl::from_xattr(&[1, 0, 0, 0]), malformed("version 1"));
        assert_eq!(
            Acl::from_xattr(&encode_raw(&[(0x40, 7, 0)])),
            malformed("unknown tag 0x40")
        );
    }
}
