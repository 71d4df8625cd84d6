//! Wall and CPU time of a full `mififo doctor` run, FIFO and `--url` (through
//! a `mififo gateway` to a `mififo serve`), on this machine as the process
//! count grows: `cargo bench --bench doctor` starts 0, 1,000, then 2,000
//! extra processes (`MIFIFO_BENCH_PROCS=0,1000,2000`), each holding 3 fds,
//! prints the medians at each level and the growth per 1,000 processes, then
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
    // MIFIFO_BENCH_EXE: another build's binary (to compare builds side by side).
    let exe = std::env::var_os("MIFIFO_BENCH_EXE").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_mififo")),
        PathBuf::from,
    );
    let root = nix::unistd::geteuid().is_root();
    let user: &[&str] = if root { &["--user", "root"] } else { &[] };
    let reply = format!("{}/", dir.path().display());
    let mut kids = Kill(Vec::new());
    // A real server (the URL run's exchange goes through the gateway to it)...
    kids.0.push(
        Command::new(&exe)
            .arg("serve")
            .args(user)
            .arg("--fifo")
            .arg(&fifo)
            .args(["--mode", "0666", "--reply-dir", &reply])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while !fifo.exists() {
        assert!(t.elapsed() < Duration::from_secs(10), "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...and a gateway in front of it on loopback (what `--url` examines).
    let port = 20000 + std::process::id() % 20000;
    let listen = format!("127.0.0.1:{port}");
    let mut gw = Command::new(&exe)
        .arg("gateway")
        .args(user)
        .args(["--listen", &listen, "--reply-dir", &reply, "--fifo"])
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(gw.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("http://"), "gateway did not start: {line:?}");
    kids.0.push(gw);
    let url = format!("http://{listen}/mi");
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
    let prober = ChildProber { exe: exe.clone() };
    let no_probe = cfg(false);
    let url_cfg = Config {
        url: Some(url.clone()),
        ..cfg(false)
    };
    let cli = |extra: &[&str]| {
        let out = Command::new(&exe)
            .args(["doctor", "--format", "json", "--as", "nobody", "--fifo"])
            .arg(&fifo)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c < 2));
    };
    // (processes, FIFO wall, FIFO CPU, URL wall, URL CPU, CLI wall) in ms.
    let mut points: Vec<(usize, [f64; 5])> = Vec::new();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
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
        let fifo_run = || {
            doctor::run(&view, &no_probe, None).unwrap();
        };
        let url_run = || {
            let r = doctor::run(&view, &url_cfg, None).unwrap();
            assert!(r.findings.iter().any(|f| f.code == doctor::Code::HttpOk));
        };
        let m = [
            ms(median(20, &fifo_run)),
            ms(median_cpu(20, &fifo_run)),
            ms(median(20, &url_run)),
            ms(median_cpu(20, &url_run)),
            ms(median(10, &|| cli(&[]))),
        ];
        println!(
            "{procs:>5} processes: FIFO run {:>6.2} ms wall {:>6.2} ms CPU; URL run {:>6.2} ms wall {:>6.2} ms CPU (library, --no-probe); CLI full FIFO run (probe) {:>6.2} ms wall",
            m[0], m[1], m[2], m[3], m[4]
        );
        points.push((procs, m));
    }
    if let (Some(a), Some(b)) = (points.first(), points.last()) {
        if b.0 > a.0 {
            let k = 1000.0 / (b.0 - a.0) as f64;
            let g = |i: usize| (b.1[i] - a.1[i]) * k;
            println!(
                "growth per 1,000 processes: FIFO run {:+.2} ms wall ({:+.2} ms CPU), URL run {:+.2} ms wall ({:+.2} ms CPU), CLI full FIFO run {:+.2} ms wall",
                g(0),
                g(1),
                g(2),
                g(3),
                g(4)
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
