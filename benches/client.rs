//! Whole-process client comparison against the same `mififo serve`, side by
//! side in one run: `mififo call uptime` vs python-opensips `opensips-mi uptime`
//! (found on PATH or in .ci/venv/bin), alternating calls.
//!
//! `cargo bench --bench client`; `MIFIFO_BENCH_CALLS` (default 20) calls each.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn find_opensips_mi() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin"));
    dirs.into_iter()
        .map(|d| d.join("opensips-mi"))
        .find(|p| p.is_file())
}

/// Runs `cmd`, checks it printed the uptime, returns its wall time.
fn timed(mut cmd: Command) -> Duration {
    let t0 = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().expect("spawn client");
    let took = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Up time"),
        "{cmd:?} failed: {} {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let calls = count("MIFIFO_BENCH_CALLS", 20);
    let work = workdir();
    let serve = Serve::start(work.path());
    let mififo_call = || {
        let mut c = Command::new(bin());
        c.arg("call")
            .arg("--fifo")
            .arg(&serve.fifo)
            .arg("--reply-dir")
            .arg(&serve.reply_dir)
            .arg("uptime");
        c
    };
    let python = find_opensips_mi();
    let python_call = |p: &Path| {
        let mut c = Command::new(p);
        c.args(["-t", "fifo", "-f"])
            .arg(&serve.fifo)
            .arg("-fd")
            .arg(&serve.reply_dir)
            .arg("uptime");
        c
    };
    // One warm-up each (page cache, Python bytecode cache).
    timed(mififo_call());
    if let Some(p) = &python {
        timed(python_call(p));
    }
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..calls {
        ours.push(timed(mififo_call()));
        if let Some(p) = &python {
            theirs.push(timed(python_call(p)));
        }
    }
    let total_ours: Duration = ours.iter().sum();
    let m_ours = median(&mut ours);
    println!(
        "client: {calls} alternating whole-process calls of 'uptime' against one mififo serve"
    );
    println!();
    println!("| client | median ms/call | mean ms/call | calls/s |");
    println!("|---|---:|---:|---:|");
    let mean_ours = total_ours / calls as u32;
    println!(
        "| mififo call | {:.2} | {:.2} | {:.0} |",
        ms(m_ours),
        ms(mean_ours),
        1.0 / mean_ours.as_secs_f64()
    );
    match &python {
        Some(p) => {
            let total: Duration = theirs.iter().sum();
            let m = median(&mut theirs);
            let mean = total / calls as u32;
            println!(
                "| opensips-mi ({}) | {:.2} | {:.2} | {:.1} |",
                p.display(),
                ms(m),
                ms(mean),
                1.0 / mean.as_secs_f64()
            );
            println!();
            println!(
                "mififo call is {:.1}x faster (median), {:.1}x (mean); target >= 50x (median)",
                m.as_secs_f64() / m_ours.as_secs_f64(),
                mean.as_secs_f64() / mean_ours.as_secs_f64()
            );
        }
        None => {
            println!("\nopensips-mi not found (PATH, .ci/venv/bin): no comparison")
        }
    }
}
