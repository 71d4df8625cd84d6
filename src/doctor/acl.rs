//! A parser for the `system.posix_acl_access` xattr
//! (`include/uapi/linux/posix_acl_xattr.h`): a little-endian `u32` version 2,
//! then 8-byte entries `{u16 tag; u16 perm; u32 id}`. No libacl.

/// Entry tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// One ACL entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Tag (and id for named entries).
    pub tag: Tag,
    /// `rwx` bits (4, 2, 1).
    pub perm: u8,
}

/// An access ACL in stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// Entries in stored order (USER_OBJ, USER…, GROUP_OBJ, GROUP…, MASK, OTHER).
    pub entries: Vec<Entry>,
}

/// Why an ACL xattr could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AclError {
    /// Length is not 4 + 8n.
    #[error("posix ACL xattr has a bad length ({0} bytes)")]
    Length(usize),
    /// Version is not 2.
    #[error("posix ACL xattr has version {0}, expected 2")]
    Version(u32),
    /// Unknown tag.
    #[error("posix ACL xattr has an unknown tag {0:#x}")]
    Tag(u16),
}

impl Acl {
    /// Parses the raw xattr value.
    pub fn parse(raw: &[u8]) -> Result<Acl, AclError> {
        if raw.len() < 4 || (raw.len() - 4) % 8 != 0 {
            return Err(AclError::Length(raw.len()));
        }
        let version = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        if version != 2 {
            return Err(AclError::Version(version));
        }
        let entries = raw[4..]
            .chunks_exact(8)
            .map(|c| {
                let tag = u16::from_le_bytes([c[0], c[1]]);
                let perm = (u16::from_le_bytes([c[2], c[3]]) & 7) as u8;
                let id = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
                let tag = match tag {
                    0x01 => Tag::UserObj,
                    0x02 => Tag::User(id),
                    0x04 => Tag::GroupObj,
                    0x08 => Tag::Group(id),
                    0x10 => Tag::Mask,
                    0x20 => Tag::Other,
                    t => return Err(AclError::Tag(t)),
                };
                Ok(Entry { tag, perm })
            })
            .collect::<Result<_, _>>()?;
        Ok(Acl { entries })
    }

    /// The `mask::` entry's bits, if any.
    pub fn mask(&self) -> Option<u8> {
        self.entries
            .iter()
            .find(|e| e.tag == Tag::Mask)
            .map(|e| e.perm)
    }

    /// True when the ACL has named entries (more than the three mode-equivalent ones).
    pub fn is_extended(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.tag, Tag::User(_) | Tag::Group(_) | Tag::Mask))
    }

    /// `getfacl`-style text, one entry per `,`.
    pub fn to_text(&self, user: &dyn Fn(u32) -> String, group: &dyn Fn(u32) -> String) -> String {
        self.entries
            .iter()
            .map(|e| {
                let p = super::model::rwx(e.perm);
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

/// Encodes an ACL as the xattr value (for fixtures).
#[cfg(test)]
pub fn encode(entries: &[(u16, u8, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&u16::from(perm).to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn parses_the_getfattr_dump_of_setfacl_u_apache_rw() {
        let acl = Acl::parse(&hex(
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
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Acl::parse(&[2, 0, 0]), Err(AclError::Length(3)));
        assert_eq!(Acl::parse(&[1, 0, 0, 0]), Err(AclError::Version(1)));
        assert_eq!(
            Acl::parse(&encode(&[(0x40, 7, 0)])),
            Err(AclError::Tag(0x40))
        );
    }
}
