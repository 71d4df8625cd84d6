//! Server throughput and latency at 1, 4, 16 and 64 clients, as ratios of the
//! floor measured side by side in the same run.
//!
//! For each concurrency, four combinations of client and server are measured,
//! so the gap to the floor can be attributed:
//!
//! | row | client | server |
//! |---|---|---|
//! | floor | minimal blocking threads | minimal in-process responder |
//! | lib→floor | library client (Tokio) | minimal responder |
//! | floor→serve | minimal blocking threads | `mififo serve` |
//! | lib→serve | library client (what `mififo bench` does) | `mififo serve` |
//!
//! `cargo bench --bench server`; `MIFIFO_BENCH_SECS` (default 1) per point,
//! `MIFIFO_BENCH_ROUNDS` (default 1) repetitions, the best kept.

mod common;

use common::*;
use mififo::bench::floor::Responder;
use mififo::bench::stats::Report;

fn best(rounds: usize, mut f: impl FnMut() -> Report) -> Report {
    (0..rounds)
        .map(|_| f())
        .max_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second))
        .expect("at least one round")
}

fn main() {
    let dur = secs(1.0);
    let rounds = count("MIFIFO_BENCH_ROUNDS", 1);
    let work = workdir();
    let serve = Serve::start(work.path());
    let floor_dir = work.path().join("floor");
    std::fs::create_dir(&floor_dir).unwrap();
    let responder = Responder::start(&floor_dir.join("mi_fifo"), &floor_dir).unwrap();
    let rt = runtime();
    println!(
        "server: {} per point, best of {rounds}; mififo serve pid {}",
        mififo::client::error::format_duration(dur),
        serve.pid()
    );
    println!();
    println!("| clients | floor req/s | lib→floor | floor→serve | lib→serve | lib→serve p50 / p99 ms | serve/floor |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for clients in [1usize, 4, 16, 64] {
        let f = best(rounds, || {
            floor_client_load(responder.fifo(), &floor_dir, clients, dur)
        });
        let lf = best(rounds, || {
            lib_load(&rt, responder.fifo(), &floor_dir, clients, dur)
        });
        let fs = best(rounds, || {
            floor_client_load(&serve.fifo, &serve.reply_dir, clients, dur)
        });
        let ls = best(rounds, || {
            lib_load(&rt, &serve.fifo, &serve.reply_dir, clients, dur)
        });
        for (what, r) in [
            ("floor", &f),
            ("lib→floor", &lf),
            ("floor→serve", &fs),
            ("lib→serve", &ls),
        ] {
            assert_clean(&format!("{what} at {clients} clients"), r);
        }
        println!(
            "| {clients} | {:.0} | {:.0} ({:.2}) | {:.0} ({:.2}) | {:.0} ({:.2}) | {:.3} / {:.3} | {:.2} |",
            f.requests_per_second,
            lf.requests_per_second,
            lf.requests_per_second / f.requests_per_second,
            fs.requests_per_second,
            fs.requests_per_second / f.requests_per_second,
            ls.requests_per_second,
            ls.requests_per_second / f.requests_per_second,
            ls.latency_ms.p50,
            ls.latency_ms.p99,
            ls.requests_per_second / f.requests_per_second,
        );
    }
    println!();
    println!("ratios in parentheses are req/s of that row / floor req/s at the same concurrency;");
    println!("serve/floor = lib→serve / floor (target ≥ 0.5 at 16 clients).");
    drop(responder);
    println!("server RSS after the run: {} KiB", serve.rss_kib());
}
