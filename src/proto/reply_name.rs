//! Reply FIFO names: the rules OpenSIPS applies (`get_reply_filename` in
//! `modules/mi_fifo/fifo_fnc.c`) and the way clients build names that pass them.
//!
//! OpenSIPS joins `reply_dir` and the name with a plain `memcpy` — no separator
//! is inserted — so `reply_dir` must end with `/`. We normalise a missing slash
//! instead of producing `/tmpNAME` as OpenSIPS would.

use std::path::{Path, PathBuf};

/// `MAX_MI_FILENAME` in OpenSIPS: `reply_dir` + name + NUL must fit in 128 bytes.
pub const MAX_REPLY_PATH: usize = 128;

/// Why a reply name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyNameError {
    /// The name is empty (a request that wants no reply).
    #[error("empty reply name")]
    Empty,
    /// The name contains `.`, `/` or `\` (OpenSIPS: `forbidden filename`).
    #[error("forbidden reply name '{0}': it must not contain '.', '/' or '\\'")]
    Forbidden(String),
    /// `reply_dir` + name + NUL is longer than 128 bytes (OpenSIPS: `reply fifoname too long`).
    #[error("reply FIFO path too long: {len} bytes (reply dir + name + 1 must be at most {MAX_REPLY_PATH})")]
    TooLong {
        /// `strlen(reply_dir) + strlen(name) + 1`.
        len: usize,
    },
}

/// Returns `dir` as a string that ends with exactly one trailing `/`.
pub fn normalize_reply_dir(dir: &Path) -> PathBuf {
    let s = dir.as_os_str().as_encoded_bytes();
    if s.ends_with(b"/") {
        dir.to_path_buf()
    } else {
        let mut p = dir.as_os_str().to_os_string();
        p.push("/");
        PathBuf::from(p)
    }
}

/// Checks `name` as OpenSIPS would and returns the full reply path.
///
/// `reply_dir` is normalised with [`normalize_reply_dir`] first; the length rule
/// uses the normalised directory, so a name accepted here is accepted by an
/// OpenSIPS configured with the same directory (with its trailing slash).
pub fn reply_path(reply_dir: &Path, name: &[u8]) -> Result<PathBuf, ReplyNameError> {
    if name.is_empty() {
        return Err(ReplyNameError::Empty);
    }
    if name.iter().any(|b| matches!(b, b'.' | b'/' | b'\\')) {
        return Err(ReplyNameError::Forbidden(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    let dir = normalize_reply_dir(reply_dir);
    let len = dir.as_os_str().len() + name.len() + 1;
    if len > MAX_REPLY_PATH {
        return Err(ReplyNameError::TooLong { len });
    }
    let mut p = dir.into_os_string();
    p.push(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name));
    Ok(PathBuf::from(p))
}

/// A fresh, unique reply name: `mififo_reply_<pid>_<random>` (no `.`, so
/// OpenSIPS accepts it; random so concurrent tasks of one process never collide).
pub fn generate() -> String {
    generate_for(std::process::id())
}

/// [`generate`] with the pid given (a caller that already knows it saves a
/// `getpid` per name).
pub fn generate_for(pid: u32) -> String {
    format!("mififo_reply_{pid}_{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_is_added_once() {
        assert_eq!(normalize_reply_dir(Path::new("/tmp")), Path::new("/tmp/"));
        assert_eq!(normalize_reply_dir(Path::new("/tmp/")), Path::new("/tmp/"));
    }

    #[test]
    fn forbidden_bytes_are_refused() {
        for bad in [&b"a.b"[..], b"../x", b"a/b", b"a\\b"] {
            assert!(matches!(
                reply_path(Path::new("/tmp/"), bad),
                Err(ReplyNameError::Forbidden(_))
            ));
        }
        assert_eq!(
            reply_path(Path::new("/tmp"), b""),
            Err(ReplyNameError::Empty)
        );
    }

    #[test]
    fn length_limit_matches_opensips() {
        // "/tmp/" (5) + name + 1 <= 128  =>  name may be 122 bytes, not 123.
        let ok = vec![b'a'; 122];
        let bad = vec![b'a'; 123];
        assert!(reply_path(Path::new("/tmp/"), &ok).is_ok());
        assert_eq!(
            reply_path(Path::new("/tmp"), &bad),
            Err(ReplyNameError::TooLong { len: 129 })
        );
    }

    #[test]
    fn generated_names_are_valid_and_unique() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(reply_path(Path::new("/tmp/"), a.as_bytes()).is_ok());
    }
}
