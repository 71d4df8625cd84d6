//! Root-only fixtures shared by every integration module. All modules run as
//! threads of one test binary, so host-global state has exactly one lock here:
//!
//! - `fs.protected_fifos`: [`ProtectedFifos::set`] changes it under the write
//!   side of one `RwLock` and restores it on drop; every test whose outcome
//!   depends on the sysctl holds [`protected_fifos_stable`] (the read side).
//! - `fs.protected_symlinks`: [`ProtectedSymlinks::set`] (only the doctor's
//!   tests change it) serialises its writers and restores the value on drop.
//! - the user database: [`TestUser`] and [`TestGroup`] (`mififo-test-*`, unique)
//!   serialise `useradd`/`usermod`/`userdel`/`groupadd`/`groupdel` on one
//!   mutex, retry while another process holds the `/etc/passwd` lock, and are
//!   removed on drop (also when the test panics), after killing any process
//!   left running as the user.

use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// The sysctl file of `fs.protected_fifos`.
pub const PROTECTED_FIFOS: &str = "/proc/sys/fs/protected_fifos";

/// Writers change `fs.protected_fifos`; readers depend on its value staying put.
static SYSCTL: RwLock<()> = RwLock::new(());

/// Serialises this binary's user-database commands.
static USERDB: Mutex<()> = Mutex::new(());

/// Holds `fs.protected_fifos` unchanged for as long as the guard lives.
pub fn protected_fifos_stable() -> RwLockReadGuard<'static, ()> {
    SYSCTL.read().unwrap_or_else(|e| e.into_inner())
}

/// True when `fs.protected_fifos` exists and may be written.
pub fn protected_fifos_writable() -> bool {
    std::fs::metadata(PROTECTED_FIFOS).is_ok_and(|m| !m.permissions().readonly())
}

/// Sets `fs.protected_fifos` and restores the old value on drop, even when the
/// test fails; holds the sysctl lock for writing meanwhile.
pub struct ProtectedFifos {
    old: String,
    _lock: RwLockWriteGuard<'static, ()>,
}

impl ProtectedFifos {
    /// Takes the write lock, saves the current value and writes `value`.
    pub fn set(value: &str) -> ProtectedFifos {
        let lock = SYSCTL.write().unwrap_or_else(|e| e.into_inner());
        let old = std::fs::read_to_string(PROTECTED_FIFOS)
            .unwrap()
            .trim()
            .to_string();
        std::fs::write(PROTECTED_FIFOS, value).unwrap();
        ProtectedFifos { old, _lock: lock }
    }
}

impl Drop for ProtectedFifos {
    fn drop(&mut self) {
        let _ = std::fs::write(PROTECTED_FIFOS, &self.old);
    }
}

/// `useradd`/`groupadd` exit status: the name is already taken.
const NAME_IN_USE: i32 = 9;

/// Runs a user-database command under [`USERDB`], retrying while another
/// process holds the database lock. Returns the last output (success, or the
/// "name in use" failure so the caller can pick another name); panics otherwise.
fn userdb(args: &[&str]) -> Output {
    let _g = USERDB.lock().unwrap_or_else(|e| e.into_inner());
    let mut last = None;
    for _ in 0..50 {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
        if out.status.success() || out.status.code() == Some(NAME_IN_USE) {
            return out;
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = last.unwrap();
    panic!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A fresh `mififo-test-<tag><6 hex>` name (at most 20 bytes, under useradd's 32).
fn fresh_name(tag: &str) -> String {
    format!("mififo-test-{tag}{:06x}", fastrand::u32(..0x100_0000))
}

/// A throw-away system user with a group of the same name (no home, nologin);
/// deleted on drop.
pub struct TestUser {
    /// `mififo-test-u…`.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary (own) group's gid.
    pub gid: u32,
}

impl TestUser {
    /// A user whose only group is its own.
    pub fn new() -> TestUser {
        Self::with_groups(&[])
    }

    /// `program` run as this user, with its groups from /etc/group
    /// (`setpriv --reuid --regid --init-groups`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            "--init-groups".into(),
        ])
        .arg(program);
        c
    }

    /// A user that is also a member of the supplementary `groups`.
    pub fn with_groups(groups: &[&str]) -> TestUser {
        let groups = groups.join(",");
        loop {
            let name = fresh_name("u");
            let mut args = vec![
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ];
            if !groups.is_empty() {
                args.extend(["--groups", &groups]);
            }
            args.push(&name);
            if !userdb(&args).status.success() {
                continue; // name in use: draw another
            }
            let u = nix::unistd::User::from_name(&name)
                .unwrap()
                .expect("the user just added exists");
            return TestUser {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                name,
            };
        }
    }

    /// Adds the user to the supplementary group `group`.
    pub fn join(&self, group: &str) {
        let out = userdb(&["usermod", "-aG", group, &self.name]);
        assert!(
            out.status.success(),
            "usermod -aG {group} {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// SIGKILLs every process whose real, effective, saved or fs uid is `uid`.
fn kill_processes_of(uid: u32) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let runs_as = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .is_some_and(|ids| ids.split_whitespace().any(|id| id == uid.to_string()));
        if runs_as {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _g = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..50 {
            // A process left running as the user makes userdel refuse.
            if i >= 1 {
                kill_processes_of(self.uid);
            }
            // After 2 s, force: a straggler must not leak the account.
            let force = if i >= 20 { "-f" } else { "--" };
            let ok = Command::new("userdel")
                .args([force, &self.name])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // --user-group groups go with the user; remove a leftover if any.
        let _ = Command::new("groupdel")
            .arg(&self.name)
            .stderr(Stdio::null())
            .status();
    }
}

/// A throw-away system group, deleted on drop.
pub struct TestGroup {
    /// `mififo-test-g…`.
    pub name: String,
    /// Its gid.
    pub gid: u32,
}

impl TestGroup {
    /// A new, empty group.
    pub fn new() -> TestGroup {
        loop {
            let name = fresh_name("g");
            if !userdb(&["groupadd", "--system", &name]).status.success() {
                continue; // name in use: draw another
            }
            let g = nix::unistd::Group::from_name(&name)
                .unwrap()
                .expect("the group just added exists");
            return TestGroup {
                gid: g.gid.as_raw(),
                name,
            };
        }
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _g = USERDB.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..50 {
            // 6: the group does not exist (any more).
            let done = Command::new("groupdel")
                .arg(&self.name)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success() || s.code() == Some(6));
            if done {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The sysctl file of `fs.protected_symlinks`.
pub const PROTECTED_SYMLINKS: &str = "/proc/sys/fs/protected_symlinks";

/// Writers change `fs.protected_symlinks` (only the doctor's tests do).
static SYMLINKS: Mutex<()> = Mutex::new(());

/// Sets `fs.protected_symlinks` and restores the old value on drop, even when
/// the test fails; serialises the tests that change it.
pub struct ProtectedSymlinks {
    old: String,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl ProtectedSymlinks {
    /// Takes the lock, saves the current value and writes `value`.
    pub fn set(value: &str) -> ProtectedSymlinks {
        let lock = SYMLINKS.lock().unwrap_or_else(|e| e.into_inner());
        let old = std::fs::read_to_string(PROTECTED_SYMLINKS)
            .unwrap()
            .trim()
            .to_string();
        std::fs::write(PROTECTED_SYMLINKS, value).unwrap();
        ProtectedSymlinks { old, _lock: lock }
    }
}

impl Drop for ProtectedSymlinks {
    fn drop(&mut self) {
        let _ = std::fs::write(PROTECTED_SYMLINKS, &self.old);
    }
}
