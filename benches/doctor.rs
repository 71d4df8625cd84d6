//! Wall time of a full `mififo doctor` run on this machine as the process
//! count grows: `cargo bench --bench doctor` starts 0, 1,000, then 2,000
//! extra processes (`MIFIFO_BENCH_PROCS=0,1000,2000`), each holding 3 fds,
//! prints the median at each level and the growth per 1,000 processes, then
//! min / median / p90 / max of each kind of run at the last level (root for
//! the probe and for reading every process's fds). Asserts nothing (timings
//! on a shared machine are noisy); the target is < 50 ms with 2,000 extra.

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

/// Median of `n` timed runs of `f` (after one warm-up).
fn median(n: usize, f: &dyn Fn()) -> Duration {
    f();
    let mut d: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    d.sort();
    d[d.len() / 2]
}

/// CPU time of this process, all threads (wall time on a loaded shared
/// machine is mostly waiting for a CPU; this is what a run costs).
fn cpu_now() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Median CPU time of `n` runs of `f` in this process.
fn median_cpu(n: usize, f: &dyn Fn()) -> Duration {
    f();
    let mut d: Vec<Duration> = (0..n)
        .map(|_| {
            let t = cpu_now();
            f();
            cpu_now().saturating_sub(t)
        })
        .collect();
    d.sort();
    d[d.len() / 2]
}

fn count_procs() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        })
        .count()
}

fn main() {
    // Process-count levels for the growth measurement (extra `sleep`s, each
    // holding 3 fds), then the detailed runs at the last level.
    let levels: Vec<usize> = std::env::var("MIFIFO_BENCH_PROCS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![0, 1000, 2000]);
    let extra = *levels.iter().max().unwrap();
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
    let no_probe = cfg(false);
    let cli = |extra: &[&str]| {
        let out = Command::new(&exe)
            .args(["doctor", "--format", "json", "--as", "nobody", "--fifo"])
            .arg(&fifo)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c < 2));
    };
    let mut points: Vec<(usize, f64, f64, f64)> = Vec::new();
    let mut started = 0;
    for &level in &levels {
        while started < level {
            kids.0.push(
                Command::new("sleep")
                    .arg("600")
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            started += 1;
        }
        std::thread::sleep(Duration::from_millis(300));
        let procs = count_procs();
        let lib = median(20, &|| {
            doctor::run(&view, &no_probe, None).unwrap();
        });
        let cpu = median_cpu(20, &|| {
            doctor::run(&view, &no_probe, None).unwrap();
        });
        let full = median(10, &|| cli(&[]));
        println!(
            "{procs:>5} processes: library --no-probe median {:>6.2} ms wall, {:>6.2} ms CPU; CLI full run (probe) median {:>6.2} ms wall",
            lib.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e3
        );
        points.push((
            procs,
            lib.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
        ));
    }
    if let (Some(a), Some(b)) = (points.first(), points.last()) {
        if b.0 > a.0 {
            let k = 1000.0 / (b.0 - a.0) as f64;
            println!(
                "growth per 1,000 processes: library {:+.2} ms wall ({:+.2} ms CPU), CLI full run {:+.2} ms wall",
                (b.1 - a.1) * k,
                (b.3 - a.3) * k,
                (b.2 - a.2) * k
            );
        }
    }
    let procs = count_procs();
    let fds: usize = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_dir(e.path().join("fd")).ok())
        .map(|d| d.count())
        .sum();
    println!(
        "machine: {procs} processes ({extra} extra), {fds} open fds visible; root: {}",
        nix::unistd::geteuid().is_root()
    );
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
    stats(
        "library run, --no-probe",
        time(30, &|| {
            doctor::run(&view, &no_probe, None).unwrap();
        }),
    );
    let with_probe = cfg(true);
    stats(
        "library run, with probe (2 child processes)",
        time(20, &|| {
            doctor::run(&view, &with_probe, Some(&prober)).unwrap();
        }),
    );
    stats(
        "CLI end to end, --no-probe",
        time(20, &|| cli(&["--no-probe"])),
    );
    stats("CLI end to end, with probe", time(20, &|| cli(&[])));
    stats(
        "CLI end to end, auto-detect clients, probe",
        time(10, &|| {
            let out = Command::new(&exe)
                .args(["doctor", "--format", "json", "--fifo"])
                .arg(&fifo)
                .output()
                .unwrap();
            assert!(out.status.code().is_some_and(|c| c < 2));
        }),
    );
}
