//! Wall time of a full `mififo doctor` run on this machine, with a few hundred
//! extra processes: `cargo bench --bench doctor` (root for the probe and for
//! reading every process's fds). Prints min / median / p90 / max; asserts
//! nothing (timings on a shared machine are noisy).

use mififo::doctor::{self, probe::ChildProber, view::RealView, ClientSpec, Config};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stats(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    println!(
        "{name:<44} n={:<3} min {:>7.2} ms  median {:>7.2} ms  p90 {:>7.2} ms  max {:>7.2} ms",
        d.len(),
        ms(d[0]),
        ms(d[d.len() / 2]),
        ms(d[d.len() * 9 / 10]),
        ms(d[d.len() - 1])
    );
}

fn main() {
    let extra: usize = std::env::var("MIFIFO_BENCH_PROCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::Builder::new()
        .prefix("mififo-bench-")
        .tempdir()
        .unwrap();
    let fifo = dir.path().join("mi_fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    let mut kids = Kill(Vec::new());
    kids.0.push(
        Command::new("sh")
            .args(["-c", "exec 3<>\"$0\"; exec sleep 600"])
            .arg(&fifo)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..extra {
        kids.0.push(
            Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let procs = std::fs::read_dir("/proc")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        })
        .count();
    let fds: usize = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_dir(e.path().join("fd")).ok())
        .map(|d| d.count())
        .sum();
    println!(
        "machine: {procs} processes, {fds} open fds visible; root: {}",
        nix::unistd::geteuid().is_root()
    );

    let view = RealView::new("/");
    let cfg = |probe: bool| Config {
        fifo: fifo.clone(),
        clients: ClientSpec::User("nobody".into()),
        reply_dir: PathBuf::from(format!("{}/", dir.path().display())),
        audit_logs: None,
        php_ini: None,
        probe,
        self_pid: Some(std::process::id() as i32),
        ..Config::default()
    };
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_mififo"));
    let prober = ChildProber { exe: exe.clone() };
    let time = |n: usize, f: &dyn Fn()| -> Vec<Duration> {
        f();
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect()
    };
    let no_probe = cfg(false);
    stats(
        "library run, --no-probe",
        time(50, &|| {
            doctor::run(&view, &no_probe, None).unwrap();
        }),
    );
    let with_probe = cfg(true);
    stats(
        "library run, with probe (2 child processes)",
        time(30, &|| {
            doctor::run(&view, &with_probe, Some(&prober)).unwrap();
        }),
    );
    let cli = |extra: &[&str]| {
        let out = Command::new(&exe)
            .args(["doctor", "--format", "json", "--as", "nobody", "--fifo"])
            .arg(&fifo)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c < 2));
    };
    stats(
        "CLI end to end, --no-probe",
        time(30, &|| cli(&["--no-probe"])),
    );
    stats("CLI end to end, with probe", time(30, &|| cli(&[])));
    stats(
        "CLI end to end, auto-detect clients, probe",
        time(20, &|| {
            let out = Command::new(&exe)
                .args(["doctor", "--format", "json", "--fifo"])
                .arg(&fifo)
                .output()
                .unwrap();
            assert!(out.status.code().is_some_and(|c| c < 2));
        }),
    );
}
