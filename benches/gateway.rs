//! The gateway's own CPU per HTTP request next to the floor's whole-cycle CPU
//! per request, side by side in one run, FIFOs on tmpfs (`/dev/shm`) and on
//! the disk file system (`/var/tmp`, ext4 here); and its requests/s in front
//! of `mififo serve`.
//!
//! - load: 64 keep-alive HTTP/1.1 connections (one thread each, plain
//!   `TcpStream`), each POSTing `uptime` back to back for the duration;
//! - gateway: `mififo gateway`'s own CPU (all its threads, from
//!   `/proc/PID/task/*/schedstat`) ÷ HTTP requests answered; serve's CPU is
//!   shown beside it;
//! - floor cycle: this process's CPU running the floor (16 blocking clients
//!   and the in-process responder) ÷ requests — the smallest whole exchange.
//!
//! Issue 12 targets gateway ≤ 1.3 × the floor's cycle at 64 connections.
//!
//! `cargo bench --bench gateway`; `MIFIFO_BENCH_SECS` (default 3) per point,
//! `MIFIFO_BENCH_CONNS` (default 64), `MIFIFO_BENCH_GATEWAY_BIN` (another
//! `mififo` build to run the gateway, to compare builds side by side with
//! the same server and load; `MIFIFO_BENCH_SERVE_BIN` does so for serve).

mod common;

use common::*;
use mififo::bench::cpu;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running `mififo gateway`, killed on drop.
struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Gateway {
    fn start(serve: &Serve) -> Gateway {
        let gateway_bin = std::env::var_os("MIFIFO_BENCH_GATEWAY_BIN").map_or_else(bin, Into::into);
        let mut child = Command::new(gateway_bin)
            .arg("-q")
            .arg("gateway")
            .args(if nix::unistd::geteuid().is_root() {
                &["--user", "root"][..]
            } else {
                &[]
            })
            .args(["--listen", "127.0.0.1:0", "--fifo"])
            .arg(&serve.fifo)
            .arg("--reply-dir")
            .arg(&serve.reply_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mififo gateway");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("gateway's URL line");
        let hostport = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        Gateway {
            child,
            addr: hostport.parse().expect("host:port"),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BODY: &str = r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;

/// One keep-alive connection posting until `stop`; returns answered requests.
fn connection(addr: SocketAddr, stop: &AtomicBool) -> u64 {
    let request = format!(
        "POST /mi HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut done = 0;
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        writer.write_all(request.as_bytes()).expect("send");
        let mut length = 0usize;
        line.clear();
        reader.read_line(&mut line).expect("status line");
        assert!(line.starts_with("HTTP/1.1 200"), "{line:?}");
        loop {
            line.clear();
            reader.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        assert!(body.windows(7).any(|w| w == b"Up time"), "{body:?}");
        done += 1;
    }
    done
}

/// `conns` connections for `dur`; total answered requests.
fn http_load(addr: SocketAddr, conns: usize, dur: Duration) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, total) = (stop.clone(), total.clone());
            std::thread::spawn(move || {
                total.fetch_add(connection(addr, &stop), Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(dur);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("connection thread");
    }
    total.load(Ordering::Relaxed)
}

fn main() {
    let dur = secs(3.0);
    let conns = count("MIFIFO_BENCH_CONNS", 64);
    println!(
        "gateway CPU per HTTP request, {conns} connections, {} per point",
        mififo::client::error::format_duration(dur)
    );
    println!();
    println!(
        "| FIFOs on | floor cycle µs/req | gateway µs/req | gateway / floor cycle | serve µs/req | HTTP req/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    on_each_filesystem(
        " (missing) | | | | |",
        |label, serve, responder, floor_dir| {
            let gateway = Gateway::start(serve);
            let (f, f_cpu) =
                cpu::during_self(|| floor_client_load(responder.fifo(), floor_dir, 16, dur));
            assert_clean("floor at 16 clients", &f);
            let serve_before = cpu::process_cpu(serve.pid()).ok();
            let (n, g_cpu) =
                cpu::during(gateway.child.id(), || http_load(gateway.addr, conns, dur));
            let serve_after = cpu::process_cpu(serve.pid()).ok();
            let f_us = cpu::per_request_us(f_cpu.expect("own CPU"), f.requests);
            let g_us = cpu::per_request_us(g_cpu.expect("gateway's CPU"), n);
            let s_us = match (serve_before, serve_after) {
                (Some(a), Some(b)) => cpu::per_request_us(b.saturating_sub(a), n),
                _ => f64::NAN,
            };
            println!(
                "| {label} | {f_us:.1} | {g_us:.1} | {:.2} | {s_us:.1} | {:.0} |",
                g_us / f_us,
                n as f64 / dur.as_secs_f64()
            );
        },
    );
    println!();
    println!("floor cycle = this process (16 floor clients + floor responder) ÷ requests;");
    println!("gateway = mififo gateway's own threads ÷ HTTP requests; serve = mififo serve's ÷ the same.");
}
