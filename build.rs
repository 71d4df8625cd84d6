//! Build script: tells the tests whether the building user is root.
//!
//! Root-only tests carry `#[cfg_attr(not(mififo_test_root), ignore = "…")]`,
//! so a `cargo test` as an ordinary user lists them as *ignored* with the
//! reason instead of counting an early return as *passed*. The tests keep a
//! runtime check as well (a root build run as another user still skips, and
//! `MIFIFO_REQUIRE_INTEROP=1` turns that skip into a failure).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(mififo_test_root)");
    // Re-evaluated when the user changes (`sudo cargo test` after a build as
    // yourself sets SUDO_UID and changes USER).
    println!("cargo:rerun-if-env-changed=USER");
    println!("cargo:rerun-if-env-changed=SUDO_UID");
    println!("cargo:rerun-if-changed=build.rs");
    if effective_uid() == Some(0) {
        println!("cargo:rustc-cfg=mififo_test_root");
    }
}

/// The effective uid of this process, from `/proc/self/status` (`Uid:` real,
/// effective, saved, fs).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
