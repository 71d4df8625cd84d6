//! A real terminal for the interactive subcommands: the program runs in a
//! detached tmux session on a private server (`tmux -L mififo-test-…`), keys
//! go in with `send-keys`, the screen comes out with `capture-pane -p`. On
//! drop (also when the test panics) the program's process group gets
//! SIGKILL and the tmux server is killed.

use super::{have_tool, TestEnv};
use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// True when tmux is installed.
pub fn available() -> bool {
    have_tool("tmux")
}

/// One program in one tmux pane (120×40).
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `mififo ARGS` in a new pane, with the scrubbed environment of
    /// [`TestEnv::cmd`] plus `env`. The pane stays after the program ends
    /// (`remain-on-exit`, set in the server's config before the program
    /// starts) so that tests can read its exit status.
    pub fn start(test: &TestEnv, args: &[&OsStr], env: &[(&str, &OsStr)]) -> Tmux {
        let socket = format!("mififo-test-{}-{}", std::process::id(), fastrand::u64(..));
        let mut c = Command::new("tmux");
        // The pane inherits the tmux server's environment, which is this
        // command's: nothing but PATH, the locale and what TestEnv sets.
        c.env_clear();
        for k in ["PATH", "LANG", "LC_ALL"] {
            if let Some(v) = std::env::var_os(k) {
                c.env(k, v);
            }
        }
        if std::env::var_os("LANG").is_none() && std::env::var_os("LC_ALL").is_none() {
            c.env("LANG", "C.UTF-8");
        }
        for (k, v) in test.cmd().get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c.env("TERM", "xterm-256color");
        for (k, v) in env {
            c.env(k, v);
        }
        let conf = test.path(&format!("{socket}.conf"));
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").unwrap();
        c.args(["-L", &socket, "-f"])
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "40",
                "-s",
                "main",
                "--",
            ])
            .arg(super::bin())
            .args(args);
        let out = c
            .stdin(Stdio::null())
            .output()
            .expect("run tmux new-session");
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmux { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` literally (no key names).
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    /// Sends key names (`Enter`, `Tab`, `Up`, `C-d`, `q`).
    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "main"];
        a.extend_from_slice(keys);
        self.tmux(&a);
    }

    /// The visible screen.
    pub fn capture(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    /// The program's pid (it runs directly in the pane, without a shell).
    pub fn pid(&self) -> i32 {
        self.tmux(&["display-message", "-p", "-t", "main", "#{pane_pid}"])
            .trim()
            .parse()
            .unwrap()
    }

    /// Closes the terminal as a lost ssh session does: the tmux server
    /// goes away and the program gets SIGHUP and EOF; it must end by itself.
    pub fn close_terminal(&self) {
        self.tmux(&["kill-server"]);
    }

    /// The pane title (what an OSC 0/2 sequence would set).
    pub fn title(&self) -> String {
        self.tmux(&["display-message", "-p", "-t", "main", "#{pane_title}"])
            .trim_end()
            .to_string()
    }

    /// Polls the screen until `pred` holds; panics with the last screen after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen contains `needle`.
    pub fn wait_text(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for(&format!("{needle:?}"), timeout, |s| s.contains(needle))
    }

    /// Waits for the program to end and returns its exit status; panics
    /// with the screen when a signal killed it or after `timeout`. The
    /// status comes from tmux once it has reaped the program, or from
    /// `/proc/PID/stat` while the program is a zombie (a busy tmux server
    /// can take seconds to reap it).
    pub fn wait_exit(&self, timeout: Duration) -> i32 {
        let pid = self.pid();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = zombie_status(pid) {
                return exit_code(status, || self.capture());
            }
            let state = self.tmux(&[
                "display-message",
                "-p",
                "-t",
                "main",
                "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}",
            ]);
            // tmux may mark the pane dead (pty closed) before it has reaped
            // the process: wait for the status or the signal to appear.
            let f: Vec<&str> = state.trim_end().split(':').collect();
            match f.as_slice() {
                ["1", code, _] if !code.is_empty() => return code.parse().unwrap(),
                ["1", _, sig] if !sig.is_empty() => panic!(
                    "the program was killed by signal {sig}; screen:\n{}",
                    self.capture()
                ),
                _ => {}
            }
            if Instant::now() > deadline {
                panic!(
                    "the program (pid {pid}) did not exit; screen:\n{}",
                    self.capture()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The wait status of `pid` if it is a zombie (`exit_code`, field 52 of
/// `/proc/PID/stat`, Linux ≥ 3.5).
fn zombie_status(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3 (state).
    (fields.first() == Some(&"Z")).then(|| fields.get(49)?.parse().ok())?
}

fn exit_code(status: i32, screen: impl Fn() -> String) -> i32 {
    let signal = status & 0x7f;
    if signal != 0 {
        panic!(
            "the program was killed by signal {signal}; screen:\n{}",
            screen()
        );
    }
    (status >> 8) & 0xff
}

impl Drop for Tmux {
    /// Ends the program first, then the tmux server: `kill-server` alone
    /// only hangs up the pane, and a program that survives SIGHUP (or is
    /// stuck) would outlive a panicking test. The program runs directly in
    /// the pane as the leader of its own process group, so SIGKILL to the
    /// group also ends anything it started.
    fn drop(&mut self) {
        let pid = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(["display-message", "-p", "-t", "main"])
            .arg("#{pane_dead} #{pane_pid}")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .and_then(|o| {
                // A dead pane's pid may already be someone else's.
                let s = String::from_utf8(o.stdout).ok()?;
                s.trim().strip_prefix("0 ")?.parse::<i32>().ok()
            })
            .filter(|&p| p > 1);
        if let Some(pid) = pid {
            use nix::sys::signal::{kill, killpg, Signal};
            use nix::unistd::Pid;
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The FIFOs in `dir` other than `server` (left-over reply FIFOs are bugs).
pub fn other_fifos(dir: &std::path::Path, server: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::FileTypeExt;
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            (e.file_type().ok()?.is_fifo() && e.path() != server)
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// Asserts that no FIFO but the server's is left in `env`'s directory (a
/// left-over reply FIFO is a bug).
pub fn assert_no_reply_fifos(env: &super::TestEnv) {
    assert_eq!(
        other_fifos(env.dir.path(), &env.fifo()),
        Vec::<String>::new()
    );
}
