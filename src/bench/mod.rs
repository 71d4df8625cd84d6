//! `mififo bench`: load generation and measurement against any MI FIFO server.
//!
//! - [`load`]: N concurrent tasks driving a server through the library
//!   [`crate::client::Client`], every reply checked against its request's id.
//! - [`floor`]: the same request/reply cycle done by a minimal in-process loop,
//!   the baseline every other figure is a ratio of.
//! - [`stats`]: counters, exact latency percentiles, the [`stats::Report`].
//! - [`Progress`]: the live progress line (stderr, only on a terminal, only
//!   for runs that last more than a second).
//! - [`rss_kib`]: a process's resident memory, for the memory benchmarks.
//! - [`cpu`]: a process's CPU time (all threads), for CPU per request.

pub mod cpu;
pub mod floor;
pub mod load;
pub mod stats;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Live counters shared by the clients of a run, and an optional progress line.
#[derive(Debug, Clone)]
pub struct Progress {
    inner: Arc<ProgressInner>,
}

#[derive(Debug)]
struct ProgressInner {
    done: AtomicU64,
    failed: AtomicU64,
    show: bool,
    total: Option<u64>,
}

impl Progress {
    /// Counters only; nothing is printed.
    pub fn hidden() -> Progress {
        Progress::new(false, None)
    }

    /// Counters, and a progress line on stderr when `show` (the caller checks
    /// that stderr is a terminal). `total` is the request count when known.
    pub fn new(show: bool, total: Option<u64>) -> Progress {
        Progress {
            inner: Arc::new(ProgressInner {
                done: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                show,
                total,
            }),
        }
    }

    /// Counts one finished exchange.
    pub fn tick(&self, failed: bool) {
        self.inner.done.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.inner.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Exchanges finished so far.
    pub fn done(&self) -> u64 {
        self.inner.done.load(Ordering::Relaxed)
    }

    /// Starts the progress line (if shown): first drawn after one second,
    /// refreshed ten times a second, erased when the guard is dropped.
    pub fn display(&self) -> ProgressLine {
        let stop = Arc::new(AtomicBool::new(false));
        if !self.inner.show {
            return ProgressLine { stop, thread: None };
        }
        let inner = self.inner.clone();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut drawn = false;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let t = start.elapsed();
                if t < Duration::from_secs(1) {
                    continue;
                }
                let done = inner.done.load(Ordering::Relaxed);
                let failed = inner.failed.load(Ordering::Relaxed);
                let of = inner.total.map(|n| format!("/{n}")).unwrap_or_default();
                let rate = done as f64 / t.as_secs_f64();
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[K{done}{of} requests  {rate:.0}/s  {failed} failed  {:.1}s",
                    t.as_secs_f64()
                );
                let _ = err.flush();
                drawn = true;
            }
            if drawn {
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            }
        });
        ProgressLine {
            stop,
            thread: Some(thread),
        }
    }
}

/// Erases the progress line when dropped.
#[derive(Debug)]
pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Resident set size of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_of_this_process_is_read() {
        let kib = rss_kib(std::process::id()).expect("VmRSS");
        assert!(kib > 100, "{kib} KiB");
        assert_eq!(rss_kib(u32::MAX), None);
    }

    #[test]
    fn progress_counts_ticks() {
        let p = Progress::hidden();
        let q = p.clone();
        q.tick(false);
        q.tick(true);
        assert_eq!(p.done(), 2);
        drop(p.display());
    }
}
