//! The CLI surface as an admin meets it: `--help` of every subcommand and its
//! contract flags, man pages and shell completions generated from the same
//! clap definition, the systemd units, and configuration precedence.
//!
//! Subcommands and their flags are discovered from the binary's own `--help`,
//! so these tests follow the `Command` enum as it grows.

use crate::util::{bin, TestEnv};
use std::collections::BTreeSet;
use std::process::{Command, Output};

/// `mififo help`, `--help`, contract flags, man pages, completions.
mod surface;

/// `contrib/systemd/*`: `systemd-analyze verify`, the FIFO-safe hardening, and
/// the units' command lines run for real.
mod units;

/// flag > environment > opensips-cli config file > default, end to end.
mod config;

/// Error messages: one prefix, each cause once, no panics on any input.
mod errors;

/// Snapshots (insta) of every --help and man page.
mod snap;

/// The README's sh blocks, run as written against a stand-in.
mod readme;

/// Runs `mififo ARGS` with a scrubbed environment and returns its output.
pub fn mififo(args: &[&str]) -> Output {
    let env = TestEnv::new();
    env.cmd().args(args).output().expect("run mififo")
}

/// Like [`mififo`], but panics with stderr unless it exits 0; returns stdout.
pub fn mififo_ok(args: &[&str]) -> String {
    let out = mififo(args);
    assert!(
        out.status.success(),
        "mififo {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The subcommands listed under "Commands:" in `mififo --help` (without `help`).
pub fn subcommands() -> Vec<String> {
    let help = mififo_ok(&["--help"]);
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            let Some(name) = line.split_whitespace().next() else {
                break; // the blank line that ends the section
            };
            if name != "help" {
                names.push(name.to_owned());
            }
        }
    }
    assert!(names.len() >= 4, "too few subcommands in --help: {names:?}");
    names
}

/// The long flags (`--name`) on the option lines of a `--help` text: only the
/// left column, so flags mentioned in descriptions do not count.
pub fn long_flags(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for line in help.lines() {
        if !line.trim_start().starts_with('-') {
            continue;
        }
        for token in line.split_whitespace() {
            if token.starts_with("--") {
                let name: String = token
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                flags.insert(name);
            } else if !(token.starts_with('-') || token.starts_with('<') || token.starts_with('['))
            {
                break; // the description starts
            }
        }
    }
    flags
}

/// Undoes roff escapes (`\-` for `-`, font changes) so text can be searched.
pub fn unroff(text: &str) -> String {
    let mut out = text.replace("\\-", "-").replace("\\(aq", "'");
    for font in ["\\fB", "\\fI", "\\fR", "\\fP"] {
        out = out.replace(font, "");
    }
    out
}

/// True when `tool` runs at all (for optional syntax checkers).
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The path of the binary under test, as a string.
pub fn bin_str() -> String {
    bin().to_str().expect("utf-8 binary path").to_owned()
}

#[test]
fn long_flags_reads_only_the_option_column() {
    let help = "Usage: x\n\nOptions:\n  -f, --fifo <PATH>  The FIFO; see --other\n      \
                --acl <ENTRY>...\n  -v, --verbose...\n      --no-probe\n  text --not-this\n";
    let got: Vec<String> = long_flags(help).into_iter().collect();
    assert_eq!(got, ["--acl", "--fifo", "--no-probe", "--verbose"]);
}

/// A system user `mififo-test-TAG-NNNN` with its own group, removed on drop
/// (root only). `useradd` is retried: parallel tests may hold the passwd lock.
pub struct TestUser {
    /// The user name.
    pub name: String,
    /// Its uid.
    pub uid: nix::unistd::Uid,
    /// Its primary gid.
    pub gid: nix::unistd::Gid,
}

impl TestUser {
    /// Creates the user or panics.
    pub fn new(tag: &str) -> TestUser {
        let name = format!("mififo-test-{tag}-{:04}", fastrand::u16(..10000));
        let mut last = String::new();
        for _ in 0..50 {
            let out = Command::new("useradd")
                .args(["--system", "--user-group", "--no-create-home", "--shell"])
                .args(["/usr/sbin/nologin", &name])
                .output()
                .expect("run useradd");
            if out.status.success() {
                let user = nix::unistd::User::from_name(&name)
                    .unwrap()
                    .expect("new user");
                return TestUser {
                    name,
                    uid: user.uid,
                    gid: user.gid,
                };
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("useradd {name}: {last}");
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for _ in 0..50 {
            let ok = Command::new("userdel")
                .arg(&self.name)
                .output()
                .is_ok_and(|o| o.status.success() || o.status.code() == Some(6));
            if ok {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("warning: could not remove test user {}", self.name);
    }
}
