//! The README's ```sh blocks run as written (issue 16), in order, against a
//! stand-in: `mififo serve` with its defaults (the quick start's server).
//!
//! What differs from a reader's machine, and only that: `mififo` is this
//! build (`cargo run --release --` too); the stand-in's FIFO takes the place
//! of `/tmp/opensips_fifo` and `/run/opensips/opensips_fifo` (text replaced,
//! and a `mififo serve` without `--fifo` gets a private one), so nothing
//! global is touched; the working directory is a temp dir with `fixtures/`.
//!
//! A block preceded by `<!-- needs: WHAT -->` is not run (WHAT must say
//! what it needs); `<!-- readme-test: runs until stopped -->` marks a
//! server or watcher: it must still run after 2 s (a `serve` must be reading
//! its FIFO), then gets SIGTERM. `<!-- readme-test: quick start -->` is the
//! quick start's two commands: its server line runs as such a server, and
//! its `cargo test` line is what runs this check. Every other block must
//! exit 0.

use crate::util::{bin, has_reader, TestEnv};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Block {
    line: usize,
    marker: Option<String>,
    text: String,
}

/// The ```sh blocks of `readme` with the `<!-- … -->` line right above each.
fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut marker = None;
    let mut open: Option<(usize, String)> = None;
    for (i, l) in readme.lines().enumerate() {
        if let Some((line, text)) = &mut open {
            if l.starts_with("```") {
                out.push(Block {
                    line: *line,
                    marker: marker.take(),
                    text: std::mem::take(text),
                });
                open = None;
            } else {
                text.push_str(l);
                text.push('\n');
            }
        } else if l == "```sh" {
            open = Some((i + 1, String::new()));
        } else if let Some(m) = l.strip_prefix("<!-- ").and_then(|r| r.strip_suffix(" -->")) {
            marker = Some(m.to_string());
        } else if !l.trim().is_empty() {
            marker = None;
        }
    }
    out
}

struct Stage {
    env: TestEnv,
    work: PathBuf,
    bin_dir: PathBuf,
}

impl Stage {
    fn new() -> Stage {
        let env = TestEnv::new();
        let work = env.path("work");
        let bin_dir = env.path("bin");
        std::fs::create_dir(&work).unwrap();
        std::fs::create_dir(&bin_dir).unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::os::unix::fs::symlink(repo.join("fixtures"), work.join("fixtures")).unwrap();
        // `mififo serve` without --fifo would serve /tmp/opensips_fifo: give it a private one.
        let wrapper = format!(
            "#!/bin/sh\n\
             if [ \"$1\" = serve ]; then\n\
             \tcase \" $* \" in *\" --fifo \"*) ;; *) shift; set -- serve --fifo \"$README_SERVE_FIFO\" \"$@\" ;; esac\n\
             fi\n\
             exec '{}' \"$@\"\n",
            bin().display()
        );
        let w = bin_dir.join("mififo");
        std::fs::write(&w, wrapper).unwrap();
        std::fs::set_permissions(&w, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        Stage { env, work, bin_dir }
    }

    fn script(&self, text: &str) -> String {
        let fifo = self.env.fifo().display().to_string();
        text.replace("cargo run --release --", "mififo")
            .replace("/run/opensips/opensips_fifo", &fifo)
            .replace("/tmp/opensips_fifo", &fifo)
    }

    /// `sh -e -c SCRIPT` in the work dir, the environment scrubbed as
    /// [`TestEnv::cmd`] does, our `mififo` first on PATH, the stand-in as
    /// the default FIFO.
    fn sh(&self, text: &str, serve_fifo: &Path) -> Command {
        let mut c = Command::new("sh");
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("OPENSIPS_") || name.starts_with("MIFIFO_") {
                c.env_remove(&k);
            }
        }
        let path = format!(
            "{}:{}",
            self.bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.args(["-e", "-c", &self.script(text)])
            .current_dir(&self.work)
            .env("NO_COLOR", "1")
            .env("HOME", self.env.dir.path())
            .env("PATH", path)
            .env("OPENSIPS_MI_FIFO_FILE", self.env.fifo())
            .env("OPENSIPS_MI_FIFO_REPLY_DIR", self.env.reply_dir())
            .env("README_SERVE_FIFO", serve_fifo)
            .stdin(Stdio::null());
        c
    }
}

/// SIGTERM to the block's process group, then waits until the whole group
/// is gone, not only sh (SIGKILL after 10 s). Returns its stderr, and
/// whether anything of it outlived the SIGTERM by 10 s: that is a process
/// that ignores SIGTERM, and it is reported, not waited for (it would hold
/// the stderr pipe open for ever).
fn stop(child: &mut Child) -> (String, bool) {
    use nix::sys::signal::{killpg, Signal};
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = killpg(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut outlived = false;
    loop {
        // sh reaped first: a zombie still counts as a member of its group.
        let sh_gone = child.try_wait().unwrap().is_some();
        if sh_gone && killpg(pgid, None).is_err() {
            break;
        }
        if Instant::now() > deadline && !outlived {
            outlived = true;
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    (err, outlived)
}

#[test]
fn readme_sh_blocks_run_as_written() {
    use std::os::unix::process::CommandExt;
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let stage = Stage::new();
    let _standin = stage.env.serve(&[]);
    let (mut ran, mut needs) = (0, Vec::new());
    for (n, b) in blocks(&readme).iter().enumerate() {
        let serve_fifo = stage.env.path(&format!("serve_{n}_fifo"));
        let quick_start = b.marker.as_deref() == Some("readme-test: quick start");
        let text = if quick_start {
            assert!(
                b.text.lines().any(|l| l.starts_with("cargo test")),
                "README.md:{}: the quick start runs the tests",
                b.line
            );
            let server: String = b
                .text
                .lines()
                .filter(|l| !l.starts_with("cargo test"))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(
                server.lines().count(),
                1,
                "README.md:{}: two commands",
                b.line
            );
            server
        } else {
            b.text.clone()
        };
        let mut cmd = stage.sh(&text, &serve_fifo);
        let marker = if quick_start {
            Some("readme-test: runs until stopped")
        } else {
            b.marker.as_deref()
        };
        match marker {
            Some(m) if m.starts_with("needs:") => {
                let what = m["needs:".len()..].trim();
                assert!(!what.is_empty(), "README.md:{}: say what it needs", b.line);
                needs.push(format!("README.md:{}: {what}", b.line));
            }
            Some("readme-test: runs until stopped") => {
                let mut child = cmd
                    .process_group(0)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let serves = text.contains(" serve");
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline && !(serves && has_reader(&serve_fifo)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if serves {
                    std::thread::sleep(Duration::from_millis(300));
                }
                let exited = child.try_wait().unwrap();
                let reading = !serves || has_reader(&serve_fifo);
                let (err, outlived) = stop(&mut child);
                assert!(
                    !outlived,
                    "README.md:{}: still running 10 s after SIGTERM:\n{}\n{err}",
                    b.line, b.text
                );
                assert!(
                    exited.is_none() && reading,
                    "README.md:{} stopped early ({exited:?}, reading: {reading}):\n{}\n{err}",
                    b.line,
                    b.text
                );
                ran += 1;
            }
            Some(other) => panic!("README.md:{}: unknown marker '{other}'", b.line),
            None => {
                // Its output is read while it runs (a block printing more
                // than a pipe holds would otherwise stall until killed), and
                // after 60 s its whole process group is killed: killing sh
                // alone leaves what it started holding the pipes open.
                let child = cmd
                    .process_group(0)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let (done, finished) = std::sync::mpsc::channel::<()>();
                let watchdog = std::thread::spawn(move || {
                    if finished.recv_timeout(Duration::from_secs(60)).is_err() {
                        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                    }
                });
                let out = child.wait_with_output().unwrap();
                let _ = done.send(());
                watchdog.join().unwrap();
                assert!(
                    out.status.success(),
                    "README.md:{} failed ({}):\n{}\nstdout: {}\nstderr: {}",
                    b.line,
                    out.status,
                    b.text,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                ran += 1;
            }
        }
    }
    assert!(ran >= 8, "only {ran} README blocks ran");
    // Said past the harness's capture, like a skip: what this test did not run.
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "README blocks not run here ({}):", needs.len());
    for n in &needs {
        let _ = writeln!(e, "  {n}");
    }
}
