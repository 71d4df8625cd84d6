//! HTTP Basic authentication against a users file (`--users-file`).
//!
//! The file is read at start (before privileges are dropped) and again on
//! SIGHUP ([`UserStore::reload`], then as the gateway's user); passwords are
//! never on the command line. One user per line:
//!
//! ```text
//! # name:password-hash[:policy]
//! panel:$6$GxT0gq3N$…:read-only
//! admin:$6$rounds=10000$…:all
//! ```
//!
//! The hash is a crypt(3) SHA-512 (`$6$`) or SHA-256 (`$5$`) string, as
//! `openssl passwd -6` or `mkpasswd -m sha-512` print it; `{PLAIN}secret`
//! is accepted but discouraged. The optional policy is a
//! [`Policy`] spec (`read-only`, `get_*,!kill`, …).
//!
//! Checking a hash costs milliseconds of CPU, and web panels send the
//! credentials with every request. So each user keeps the SHA-256 of the
//! last password that verified (keyed per process); a request with the
//! same password is compared against it in constant time, and full hash
//! checks run off the async workers, at most [`HASH_WORKERS`] at a time, so
//! a client guessing passwords cannot starve the others of CPU threads.

use super::policy::{Policy, PolicyError};
use base64::Engine;
use hyper::header::{HeaderMap, AUTHORIZATION};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use subtle::ConstantTimeEq;

/// Concurrent full password-hash checks.
pub const HASH_WORKERS: usize = 2;
/// Longest `Authorization` header considered.
const MAX_HEADER: usize = 1024;
/// Largest users file read.
pub const MAX_FILE: u64 = 1024 * 1024;

/// How a password is stored.
#[derive(Clone)]
enum Secret {
    /// `$6$…` (crypt SHA-512).
    Sha512(String),
    /// `$5$…` (crypt SHA-256).
    Sha256(String),
    /// `{PLAIN}…`.
    Plain(Vec<u8>),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::Sha512(_) => "Sha512(…)",
            Secret::Sha256(_) => "Sha256(…)",
            Secret::Plain(_) => "Plain(…)",
        })
    }
}

impl Secret {
    fn verify(&self, password: &str) -> bool {
        match self {
            Secret::Sha512(h) => sha_crypt::sha512_check(password, h).is_ok(),
            Secret::Sha256(h) => sha_crypt::sha256_check(password, h).is_ok(),
            Secret::Plain(p) => p.as_slice().ct_eq(password.as_bytes()).into(),
        }
    }
}

/// One user of the gateway.
#[derive(Debug)]
pub struct User {
    /// The login name.
    pub name: String,
    secret: Secret,
    /// The user's own method policy (open when none was given).
    pub policy: Arc<Policy>,
    /// Keyed SHA-256 of the last password that verified.
    verified: Mutex<Option<[u8; 32]>>,
}

/// Why a users file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersError {
    /// Reading the file failed.
    #[error("cannot read users file '{path}'")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("users file '{path}' line {line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No users at all.
    #[error("users file '{0}' has no users")]
    Empty(PathBuf),
    /// The file could be changed by someone the gateway should not trust.
    #[error("refusing users file '{path}': {reason}")]
    Unsafe {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The users of the gateway, and the machinery that checks passwords.
#[derive(Debug)]
pub struct Users {
    users: Vec<User>,
    key: [u8; 32],
    workers: Arc<tokio::sync::Semaphore>,
}

/// A failed authentication (→ 401 with `WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// The user name the client claimed, if any (for the audit log).
    pub user: Option<String>,
    /// Why, for the JSON-RPC error's `data`.
    pub reason: &'static str,
}

impl Users {
    /// Reads a users file. It must be a regular file of at most
    /// [`MAX_FILE`] bytes, owned by root or by the gateway's own user, and
    /// not writable by everyone: whoever can write it can add a user. The
    /// checks look at the opened descriptor, so the file read is the file
    /// checked.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        use std::io::Read;
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let read_err = |source| UsersError::Read {
            path: path.to_path_buf(),
            source,
        };
        let unsafe_file = |reason: String| UsersError::Unsafe {
            path: path.to_path_buf(),
            reason,
        };
        // O_NONBLOCK: a FIFO put in its place must not hang the start.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(read_err)?;
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            return Err(unsafe_file("not a regular file".into()));
        }
        if meta.mode() & 0o002 != 0 {
            return Err(unsafe_file(format!(
                "every user may write it (mode {:04o}); chmod o-w",
                meta.mode() & 0o7777
            )));
        }
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != 0 && meta.uid() != me {
            return Err(unsafe_file(format!(
                "owned by uid {}, neither root nor the gateway's uid {me}",
                meta.uid()
            )));
        }
        let mut text = String::new();
        file.take(MAX_FILE + 1)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        if text.len() as u64 > MAX_FILE {
            return Err(unsafe_file(format!("larger than {MAX_FILE} bytes")));
        }
        Self::parse(&text).map_err(|(line, reason)| match line {
            0 => UsersError::Empty(path.to_path_buf()),
            line => UsersError::Line {
                path: path.to_path_buf(),
                line,
                reason,
            },
        })
    }

    /// Parses users-file text; errors are (1-based line, reason), line 0 = empty.
    pub fn parse(text: &str) -> Result<Users, (usize, String)> {
        let mut users: Vec<User> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.splitn(3, ':');
            let name = parts.next().unwrap_or("").trim();
            let hash = parts.next().unwrap_or("").trim();
            let policy = parts.next().unwrap_or("").trim();
            if name.is_empty() || hash.is_empty() {
                return Err((i + 1, "expected name:password-hash[:policy]".into()));
            }
            if users.iter().any(|u| u.name == name) {
                return Err((i + 1, format!("user '{name}' is listed twice")));
            }
            let secret = if hash.starts_with("$6$") {
                Secret::Sha512(hash.to_string())
            } else if hash.starts_with("$5$") {
                Secret::Sha256(hash.to_string())
            } else if let Some(p) = hash.strip_prefix("{PLAIN}") {
                Secret::Plain(p.as_bytes().to_vec())
            } else {
                return Err((
                    i + 1,
                    format!(
                        "the password of '{name}' is neither a $6$/$5$ crypt hash \
                         (openssl passwd -6) nor {{PLAIN}}text"
                    ),
                ));
            };
            let policy = Policy::parse(policy)
                .map_err(|e: PolicyError| (i + 1, format!("user '{name}': {e}")))?;
            users.push(User {
                name: name.to_string(),
                secret,
                policy: Arc::new(policy),
                verified: Mutex::new(None),
            });
        }
        if users.is_empty() {
            return Err((0, String::new()));
        }
        let mut key = [0u8; 32];
        for b in &mut key {
            *b = fastrand::u8(..);
        }
        Ok(Users {
            users,
            key,
            workers: Arc::new(tokio::sync::Semaphore::new(HASH_WORKERS)),
        })
    }

    /// The user names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(|u| u.name.as_str())
    }

    fn digest(&self, name: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Checks the request's `Authorization: Basic …` header.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<&User, AuthFailure> {
        let (name, password) = basic_credentials(headers).ok_or(AuthFailure {
            user: None,
            reason: "HTTP Basic credentials required",
        })?;
        let failure = AuthFailure {
            user: Some(name.clone()),
            reason: "wrong user name or password",
        };
        let Some(index) = self.users.iter().position(|u| u.name == name) else {
            // Spend the same effort as for a real user, so timing does not
            // tell which names exist.
            let dummy = self.users[0].secret.clone();
            let _ = self.verify_blocking(dummy, password).await;
            return Err(failure);
        };
        let user = &self.users[index];
        let digest = self.digest(&name, &password);
        let cached = *user.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached {
            if bool::from(c.ct_eq(&digest)) {
                return Ok(user);
            }
        }
        if self.verify_blocking(user.secret.clone(), password).await {
            *user.verified.lock().unwrap_or_else(|e| e.into_inner()) = Some(digest);
            Ok(user)
        } else {
            Err(failure)
        }
    }

    async fn verify_blocking(&self, secret: Secret, password: String) -> bool {
        let Ok(_permit) = self.workers.clone().acquire_owned().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || secret.verify(&password))
            .await
            .unwrap_or(false)
    }
}

/// An authenticated user, as a request keeps it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The login name.
    pub name: String,
    /// The user's own policy.
    pub policy: Arc<Policy>,
}

/// The users in force, replaceable while the gateway runs (SIGHUP).
#[derive(Debug)]
pub struct UserStore {
    path: Option<PathBuf>,
    current: RwLock<Arc<Users>>,
}

impl UserStore {
    /// Users read from `path`, which [`UserStore::reload`] reads again.
    pub fn load(path: &Path) -> Result<UserStore, UsersError> {
        Ok(UserStore {
            path: Some(path.to_path_buf()),
            current: RwLock::new(Arc::new(Users::load(path)?)),
        })
    }

    /// Fixed users (tests).
    pub fn fixed(users: Users) -> UserStore {
        UserStore {
            path: None,
            current: RwLock::new(Arc::new(users)),
        }
    }

    /// Reads the file again and, when it is usable, puts its users in force
    /// (requests already past authentication are unaffected). On error the
    /// old users stay. Returns the number of users now in force.
    pub fn reload(&self) -> Result<usize, UsersError> {
        let Some(path) = &self.path else {
            return Ok(self.users().users.len());
        };
        let fresh = Users::load(path)?;
        let n = fresh.users.len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(n)
    }

    fn users(&self) -> Arc<Users> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks the request's `Authorization: Basic …` header against the
    /// users in force.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, AuthFailure> {
        let users = self.users();
        let user = users.authenticate(headers).await?;
        Ok(Authenticated {
            name: user.name.clone(),
            policy: user.policy.clone(),
        })
    }
}

/// The user name and password of an `Authorization: Basic` header.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    if value.len() > MAX_HEADER {
        return None;
    }
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    /// `openssl passwd -6 -salt saltsalt secret`
    const SECRET_SHA512: &str =
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

    fn basic(user: &str, pw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        h
    }

    fn users() -> Arc<Users> {
        Arc::new(
            Users::parse(&format!(
                "# comment\n\nadmin:{SECRET_SHA512}:all\npanel:{{PLAIN}}pw:read-only\n"
            ))
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn good_bad_missing_and_hashed() {
        let u = users();
        let ok = u.authenticate(&basic("admin", "secret")).await.unwrap();
        assert_eq!(ok.name, "admin");
        // The second time comes from the verified-password digest.
        assert!(u.authenticate(&basic("admin", "secret")).await.is_ok());
        let e = u.authenticate(&basic("admin", "Secret")).await.unwrap_err();
        assert_eq!(e.user.as_deref(), Some("admin"));
        assert!(u.authenticate(&basic("nobody", "secret")).await.is_err());
        assert!(u.authenticate(&HeaderMap::new()).await.is_err());
        let p = u.authenticate(&basic("panel", "pw")).await.unwrap();
        assert!(p.policy.permits("uptime"));
        assert!(!p.policy.permits("kill"));
        assert!(u.authenticate(&basic("panel", "pw2")).await.is_err());
        // A password with a colon: everything after the first one.
        let c = Arc::new(Users::parse("a:{PLAIN}x:y\n").unwrap());
        // {PLAIN}x with policy "y" — the policy field, not part of the password.
        assert!(c.authenticate(&basic("a", "x")).await.is_ok());
    }

    #[test]
    fn header_parsing() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(basic_credentials(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("basic YTpiOmM="));
        assert_eq!(basic_credentials(&h), Some(("a".into(), "b:c".into())));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h), None);
    }

    #[test]
    fn bad_files() {
        for (text, needle) in [
            ("admin\n", "name:password-hash"),
            ("admin:secret\n", "crypt hash"),
            ("a:{PLAIN}x\na:{PLAIN}y\n", "twice"),
            ("a:{PLAIN}x:nope nope\n", "invalid method policy"),
        ] {
            let (line, reason) = Users::parse(text).unwrap_err();
            assert!(line >= 1 && reason.contains(needle), "{text}: {reason}");
        }
        assert_eq!(Users::parse("# none\n").unwrap_err().0, 0);
    }

    #[test]
    fn files_others_could_change_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "a:{PLAIN}x\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            Users::load(&path).unwrap().names().collect::<Vec<_>>(),
            ["a"]
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = Users::load(&path).unwrap_err().to_string();
        assert!(e.contains("every user may write it"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        if nix::unistd::geteuid().is_root() {
            nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
            let e = Users::load(&path).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        }
        let e = Users::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = Users::load(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[tokio::test]
    async fn reload_replaces_users_and_keeps_them_on_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "a:{PLAIN}x\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let store = UserStore::load(&path).unwrap();
        assert!(store.authenticate(&basic("a", "x")).await.is_ok());
        assert!(store.authenticate(&basic("b", "y")).await.is_err());
        std::fs::write(&path, "b:{PLAIN}y:uptime\n").unwrap();
        assert_eq!(store.reload().unwrap(), 1);
        let b = store.authenticate(&basic("b", "y")).await.unwrap();
        assert!(!b.policy.permits("kill"));
        assert!(store.authenticate(&basic("a", "x")).await.is_err());
        std::fs::write(&path, "broken\n").unwrap();
        assert!(store.reload().is_err());
        assert!(store.authenticate(&basic("b", "y")).await.is_ok());
    }
}
