//! Server memory: RSS (`VmRSS` of /proc/PID/status) at idle, under 64 clients,
//! and after a 1 MiB garbage write — one server, one run.
//!
//! `cargo bench --bench memory`; `MIFIFO_BENCH_SECS` (default 2) of load.

mod common;

use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let dur = secs(2.0);
    let work = workdir();
    let serve = Serve::start(work.path());
    std::thread::sleep(Duration::from_millis(200));
    let idle = serve.rss_kib();

    // Peak RSS while 64 library clients hammer it, sampled every 10 ms.
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop, pid) = (peak.clone(), stop.clone(), serve.pid());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(k) = mififo::bench::rss_kib(pid) {
                    peak.fetch_max(k, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let rt = runtime();
    let load = lib_load(&rt, &serve.fifo, &serve.reply_dir, 64, dur);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_clean("64 clients", &load);
    let after_load = serve.rss_kib();

    // 1 MiB of random bytes in one write (split by the kernel into pipe-sized pieces).
    let mut rng = fastrand::Rng::with_seed(1);
    let garbage: Vec<u8> = (0..1 << 20).map(|_| rng.u8(..)).collect();
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .open(&serve.fifo)
        .unwrap();
    w.write_all(&garbage).unwrap();
    drop(w);
    // Past the server's partial-request timeout, then prove it still answers.
    std::thread::sleep(Duration::from_millis(1500));
    let check = lib_load(
        &rt,
        &serve.fifo,
        &serve.reply_dir,
        1,
        Duration::from_millis(200),
    );
    assert_clean("after garbage", &check);
    let after_garbage = serve.rss_kib();

    println!(
        "memory: mififo serve pid {}, {:.0} req/s during the 64-client load",
        serve.pid(),
        load.requests_per_second
    );
    println!();
    println!("| state | RSS MiB |");
    println!("|---|---:|");
    println!("| idle | {:.1} |", mib(idle));
    println!(
        "| peak under 64 clients ({} requests) | {:.1} |",
        load.requests,
        mib(peak.load(Ordering::Relaxed))
    );
    println!("| after the load | {:.1} |", mib(after_load));
    println!(
        "| after a 1 MiB garbage write | {:.1} |",
        mib(after_garbage)
    );
    println!();
    println!("target: < 15 MiB under load");
}
