//! `cargo bench --bench pool`: the library client with a fresh reply FIFO per
//! request against the same client with the reply-FIFO pool, side by side,
//! against one `mififo serve`, on a tmpfs and on an ext4 directory.
//!
//! Per request: the client's CPU (user + system of this process, from
//! `getrusage`, so the server is not in it) and, with `strace` installed, the
//! client's syscalls (a second, fixed-size run under `strace -f -c`; strace
//! slows it down but does not change the count). Prints a Markdown table and
//! the pooled/per-request CPU ratio (target ≤ 0.5 at 16 clients).
//!
//! Knobs: `MIFIFO_BENCH_SECS` (seconds per point, default 2),
//! `MIFIFO_BENCH_CLIENTS` (default 16), `MIFIFO_BENCH_TMPFS` (default
//! `/dev/shm`), `MIFIFO_BENCH_EXT4` (default `/var/tmp`),
//! `MIFIFO_BENCH_STRACE_REQUESTS` (default 2000; 0 skips the syscall count).

mod common;

use common::{count, runtime, secs, Serve};
use mififo::bench::load::{self, Plan, Stop};
use mififo::bench::Progress;
use mififo::client::{Client, ClientConfig};
use mififo::proto::jsonrpc::Params;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// User + system CPU of this process so far.
fn cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let tv =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(u.user_time()) + tv(u.system_time())
}

fn client(serve: &Serve, pool: usize) -> Client {
    Client::new(ClientConfig {
        fifo: serve.fifo.clone(),
        reply_dir: serve.reply_dir.clone(),
        timeout: Duration::from_secs(10),
        pool,
        ..Default::default()
    })
}

fn plan(clients: usize, stop: Stop) -> Plan {
    Plan {
        method: "uptime".into(),
        params: Params::None,
        clients,
        stop,
    }
}

/// One measured point: (requests/s, CPU µs per request).
fn measure(rt: &tokio::runtime::Runtime, c: &Client, clients: usize, dur: Duration) -> (f64, f64) {
    // Warm-up: the pool fills, the runtime's threads exist.
    rt.block_on(load::run(
        c,
        &plan(clients, Stop::Requests(200)),
        &Progress::hidden(),
    ));
    let before = cpu();
    let (tally, elapsed) = rt.block_on(load::run(
        c,
        &plan(clients, Stop::Duration(dur)),
        &Progress::hidden(),
    ));
    let used = cpu() - before;
    let report = tally.report("", clients, elapsed);
    common::assert_clean("pool bench", &report);
    (
        report.requests_per_second,
        used.as_secs_f64() * 1e6 / report.requests as f64,
    )
}

/// Syscalls per request of `n` requests, counted by `strace -f -c` attached
/// to this process; `None` without strace.
fn syscalls(rt: &tokio::runtime::Runtime, c: &Client, clients: usize, n: u64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    rt.block_on(load::run(
        c,
        &plan(clients, Stop::Requests(200)),
        &Progress::hidden(),
    ));
    let out = tempfile::NamedTempFile::new().ok()?;
    let mut strace = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(out.path())
        .arg("-p")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(500)); // attached to every thread
    rt.block_on(load::run(
        c,
        &plan(clients, Stop::Requests(n)),
        &Progress::hidden(),
    ));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(strace.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .ok()?;
    strace.wait().ok()?;
    let text = std::fs::read_to_string(out.path()).ok()?;
    // The "total" line: "100.00  0.123456  1  123456  789  total".
    let total: f64 = text
        .lines()
        .find(|l| l.trim_end().ends_with("total"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(total / n as f64)
}

fn dir_from(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn fs_type(p: &Path) -> String {
    Command::new("findmnt")
        .args(["-no", "FSTYPE", "-T"])
        .arg(p)
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let clients = count("MIFIFO_BENCH_CLIENTS", 16);
    let dur = secs(2.0);
    let strace_n = std::env::var("MIFIFO_BENCH_STRACE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000u64);
    let rt = runtime();
    println!(
        "pool: per-request vs pooled reply FIFOs, {clients} clients, 'uptime' against mififo serve"
    );
    println!();
    println!("| directory | fs | client | requests/s | client CPU µs/request | client syscalls/request |");
    println!("|---|---|---|---:|---:|---:|");
    let mut ratios = Vec::new();
    for base in [
        dir_from("MIFIFO_BENCH_TMPFS", "/dev/shm"),
        dir_from("MIFIFO_BENCH_EXT4", "/var/tmp"),
    ] {
        let Ok(work) = tempfile::Builder::new()
            .prefix("mififo-bench-")
            .tempdir_in(&base)
        else {
            println!(
                "| {} | — | cannot make a directory there | | | |",
                base.display()
            );
            continue;
        };
        let serve = Serve::start(work.path());
        let fs = fs_type(work.path());
        let mut cpu_of = [0.0; 2];
        for (i, pool) in [0, clients].into_iter().enumerate() {
            let c = client(&serve, pool);
            let (rps, us) = measure(&rt, &c, clients, dur);
            let sys = syscalls(&rt, &c, clients, strace_n)
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "—".into());
            let label = if pool == 0 { "per request" } else { "pooled" };
            println!(
                "| {} | {fs} | {label} | {rps:.0} | {us:.1} | {sys} |",
                base.display()
            );
            cpu_of[i] = us;
        }
        ratios.push((base, cpu_of[1] / cpu_of[0]));
    }
    println!();
    for (base, r) in ratios {
        println!(
            "{}: pooled client CPU per request = {r:.2} of per-request (target <= 0.5)",
            base.display()
        );
    }
}
