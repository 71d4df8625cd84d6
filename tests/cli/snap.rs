//! Snapshots of what a user reads without a server: `--help` of every
//! subcommand and every man page (`tests/cli/snapshots/`). A changed flag,
//! default or wording fails here until the snapshot is reviewed and
//! accepted (`INSTA_UPDATE=always cargo test --test integration cli::snap`,
//! then `git diff`).

use super::subcommands;
use crate::util::TestEnv;
use std::process::Stdio;

/// `mififo ARGS` stdout, the same wherever it runs: the help is wrapped at
/// 100 columns (`COLUMNS`; clap would otherwise ask a terminal on stdin) and
/// no OPENSIPS_*/MIFIFO_* variable can show up as an `[env: …]` value.
fn stable(args: &[&str]) -> String {
    let env = TestEnv::new();
    let out = crate::util::output_ok(
        env.cmd()
            .args(args)
            .env("COLUMNS", "100")
            .stdin(Stdio::null()),
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_of_every_subcommand() {
    insta::assert_snapshot!("help", stable(&["--help"]));
    for sub in subcommands() {
        insta::assert_snapshot!(format!("help_{sub}"), stable(&[&sub, "--help"]));
    }
}

#[test]
fn man_pages() {
    insta::assert_snapshot!("man", stable(&["man"]));
    for sub in subcommands() {
        insta::assert_snapshot!(format!("man_{sub}"), stable(&["man", &sub]));
    }
}
