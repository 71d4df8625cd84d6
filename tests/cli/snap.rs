//! Snapshots of what a user reads without a server: `--help` of every
//! subcommand and every man page (`tests/cli/snapshots/`). A changed flag,
//! default or wording fails here until the snapshot is reviewed and
//! accepted (`INSTA_UPDATE=always cargo test --test integration cli::snap`,
//! then `git diff`).

use super::{mififo_ok, subcommands};

#[test]
fn help_of_every_subcommand() {
    insta::assert_snapshot!("help", mififo_ok(&["--help"]));
    for sub in subcommands() {
        insta::assert_snapshot!(format!("help_{sub}"), mififo_ok(&[&sub, "--help"]));
    }
}

#[test]
fn man_pages() {
    insta::assert_snapshot!("man", mififo_ok(&["man"]));
    for sub in subcommands() {
        insta::assert_snapshot!(format!("man_{sub}"), mififo_ok(&["man", &sub]));
    }
}
