//! Server CPU per request next to the floor's whole-cycle CPU per request,
//! side by side in one run, FIFOs on tmpfs (`/dev/shm`) and on the disk
//! file system (`/var/tmp`, ext4 here), at 1 and 16 clients.
//!
//! - floor cycle: this process's CPU (the floor's blocking client threads and
//!   its responder thread, all in-process) ÷ requests — the whole
//!   request/reply exchange done by the smallest code possible;
//! - serve: `mififo serve`'s own CPU (all its threads, from
//!   `/proc/PID/task/*/schedstat`) ÷ requests, driven by the same floor client.
//!
//! Issue 10 targets serve ≤ 0.6 × the floor's cycle at 16 clients (OpenSIPS
//! 3.6's mi_fifo ≈ 0.75) and ≤ 1.0 at 1 client.
//!
//! `cargo bench --bench cpu`; `MIFIFO_BENCH_SECS` (default 2) per point.

mod common;

use common::*;
use mififo::bench::cpu;

fn main() {
    let dur = secs(2.0);
    println!(
        "CPU per request, {} per point",
        mififo::client::error::format_duration(dur)
    );
    println!();
    println!("| FIFOs on | clients | floor cycle µs/req | serve µs/req | serve / floor cycle | serve req/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    on_each_filesystem(
        " – | (missing) | | | |",
        |label, serve, responder, floor_dir| {
            for clients in [1usize, 16] {
                let (f, f_cpu) = cpu::during_self(|| {
                    floor_client_load(responder.fifo(), floor_dir, clients, dur)
                });
                let (s, s_cpu) = cpu::during(serve.pid(), || {
                    floor_client_load(&serve.fifo, &serve.reply_dir, clients, dur)
                });
                assert_clean(&format!("floor at {clients} clients"), &f);
                assert_clean(&format!("serve at {clients} clients"), &s);
                let f_us = cpu::per_request_us(f_cpu.expect("own CPU"), f.requests);
                let s_us = cpu::per_request_us(s_cpu.expect("serve's CPU"), s.requests);
                println!(
                    "| {label} | {clients} | {f_us:.1} | {s_us:.1} | {:.2} | {:.0} |",
                    s_us / f_us,
                    s.requests_per_second
                );
            }
        },
    );
    println!();
    println!("floor cycle = this process (floor clients + floor responder) ÷ requests;");
    println!("serve = mififo serve's own threads ÷ requests, same floor clients.");
}
