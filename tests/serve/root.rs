//! Root only (CI is root): ownership, mode and ACL exactly as asked, compared
//! with what `stat`/`getfacl` show for a reference FIFO made by the standard
//! tools; privilege drop. Test users and groups are named `mififo-test-*` and
//! removed by a guard even when the test fails.

use super::*;
use crate::util::open_reader;
use crate::util::root::{TestGroup, TestUser};
use crate::util::{have_tool, is_root, require};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

fn root_env() -> Option<TestEnv> {
    if !require("root (ownership, ACL and privilege tests)", is_root()) {
        return None;
    }
    let env = TestEnv::new();
    // The dropped server must reach the FIFO's directory and the reply dir.
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    Some(env)
}

fn out(cmd: &str, args: &[&str]) -> String {
    let o = crate::util::output_ok(Command::new(cmd).args(args));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn user_group_and_mode_are_exactly_as_asked() {
    let Some(env) = root_env() else { return };
    let user = TestUser::new();
    let group = TestGroup::new();
    let _s = env.serve(&[
        "--user",
        &user.name,
        "--group",
        &group.name,
        "--mode",
        "0640",
    ]);
    let fifo = env.fifo();
    let f = fifo.to_str().unwrap();
    assert_eq!(
        out("stat", &["-c", "%U %G %a %F", f]).trim(),
        format!("{} {} 640 fifo", user.name, group.name)
    );
    let m = std::fs::metadata(&fifo).unwrap();
    assert_eq!((m.uid(), m.gid()), (user.uid, group.gid));
    // Numeric ids work too; --user alone gives the user's primary group.
    drop(_s);
    let _s = env.serve(&["--user", &user.uid.to_string()]);
    let m = std::fs::metadata(&fifo).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (user.uid, user.gid, 0o660)
    );
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn acl_entries_match_setfacl() {
    let Some(env) = root_env() else { return };
    if !require(
        "getfacl/setfacl (package acl)",
        have_tool("getfacl") && have_tool("setfacl"),
    ) {
        return;
    }
    let user = TestUser::new();
    let group = TestGroup::new();
    for mode in ["0600", "0660", "0604"] {
        let _s = env.serve(&[
            "--mode",
            mode,
            "--acl",
            &format!("u:{}:rw", user.name),
            "--acl",
            &format!("g:{}:r", group.name),
        ]);
        let reference = env.path("reference");
        let _ = std::fs::remove_file(&reference);
        let r = reference.to_str().unwrap();
        out("mkfifo", &["-m", mode, r]);
        out(
            "setfacl",
            &["-m", &format!("u:{}:rw,g:{}:r", user.name, group.name), r],
        );
        let ours = out("getfacl", &["-c", "-p", env.fifo().to_str().unwrap()]);
        let theirs = out("getfacl", &["-c", "-p", r]);
        assert_eq!(ours, theirs, "mode {mode}");
        assert!(ours.contains(&format!("user:{}:rw-", user.name)), "{ours}");
        assert!(ours.contains("mask::rw-"), "{ours}");
        assert_eq!(
            out("stat", &["-c", "%a", env.fifo().to_str().unwrap()]),
            out("stat", &["-c", "%a", r]),
            "mode {mode}: the mask shows in the group bits"
        );
        // Our parser reads back what the kernel stored.
        let acl = mififo::fifo::acl::read(&env.fifo())
            .unwrap()
            .expect("an ACL");
        assert_eq!(acl.get(mififo::fifo::acl::Tag::User(user.uid)), Some(6));
        assert_eq!(acl.get(mififo::fifo::acl::Tag::Group(group.gid)), Some(4));
    }
}

#[test]
#[cfg_attr(not(mififo_test_root), ignore = "needs root: run cargo test as root")]
fn privileges_are_dropped_to_the_user_and_its_groups() {
    let Some(env) = root_env() else { return };
    let group = TestGroup::new();
    let user = TestUser::with_groups(&[&group.name]);
    let s = env.serve(&["--user", &user.name]);
    // The FIFO gets its reader before the switch (requests are only read
    // after it), so wait for the switch itself.
    let status_path = format!("/proc/{}/status", s.pid());
    let deadline = std::time::Instant::now() + HANG;
    let status = loop {
        let st = std::fs::read_to_string(&status_path).unwrap();
        if st
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains(&user.uid.to_string()))
        {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "never switched: {st}");
        std::thread::sleep(Duration::from_millis(10));
    };
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .split_whitespace()
            .map(|x| x.parse::<u32>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(field("Uid:"), vec![user.uid; 4]);
    assert_eq!(field("Gid:"), vec![user.gid; 4]);
    let groups = field("Groups:");
    assert!(
        groups.contains(&group.gid) && groups.contains(&user.gid),
        "{groups:?}"
    );
    assert!(!groups.contains(&0), "root group kept: {groups:?}");
    // Replies are written with the user's rights: a root-only reply FIFO gets
    // nothing (the server gives up after its 320 ms window), one the user may
    // write gets the reply.
    let ask = |mode: u32| {
        let name = format!("r{mode:o}");
        let reply = env.path(&name);
        let _ = std::fs::remove_file(&reply);
        nix::unistd::mkfifo(&reply, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::set_permissions(&reply, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut r = open_reader(&reply);
        std::io::Write::write_all(
            &mut std::fs::OpenOptions::new().write(true).open(env.fifo()).unwrap(),
            format!(r#":{name}:{{"jsonrpc":"2.0","method":"get_statistics","params":[["mififo:dropped"]],"id":1}}"#).as_bytes(),
        )
        .unwrap();
        crate::util::read_reply(&mut r, Duration::from_secs(3))
    };
    assert_eq!(ask(0o600), None, "root-only reply FIFO must be refused");
    assert_eq!(
        String::from_utf8(ask(0o666).expect("a reply")).unwrap(),
        r#"{"jsonrpc":"2.0","result":{"mififo:dropped":1},"id":1}"#
    );
    // …and the FIFO is recreated as the user after deletion.
    std::fs::remove_file(env.fifo()).unwrap();
    let deadline = std::time::Instant::now() + HANG;
    loop {
        if crate::util::has_reader(&env.fifo()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not recreated");
        std::thread::sleep(Duration::from_millis(20));
    }
    let m = std::fs::metadata(env.fifo()).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (user.uid, user.gid, 0o660)
    );
}
