//! CPU time of a process, for "CPU per request" figures: a server's own CPU
//! (`mififo bench --server-pid PID`) and the floor's whole request/reply cycle
//! (client threads and responder of this process).
//!
//! The time is the sum over every live thread of the first field of
//! `/proc/PID/task/TID/schedstat` (nanoseconds on a CPU), which is exact,
//! unlike the clock ticks of `/proc/PID/stat`. Threads that exited during
//! the measurement are lost, so it suits long-lived servers (serve runs one
//! thread); without schedstat (kernel without `CONFIG_SCHEDSTATS`), `utime +
//! stime` of `/proc/PID/stat` (all threads, dead ones included) is used.
//! For this process ([`self_cpu`], the floor) `getrusage` counts exited
//! threads too.

use std::io;
use std::time::Duration;

/// CPU time consumed so far by all threads of `pid`.
///
/// # Errors
/// The process is gone or `/proc` is not readable.
pub fn process_cpu(pid: u32) -> io::Result<Duration> {
    match schedstat_sum(pid) {
        Ok(d) => Ok(d),
        Err(_) => stat_ticks(pid),
    }
}

fn schedstat_sum(pid: u32) -> io::Result<Duration> {
    let mut ns: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread that exited between readdir and read counts for nothing.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let first = text.split_whitespace().next().unwrap_or("");
        ns += first
            .parse::<u64>()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "schedstat"))?;
    }
    Ok(Duration::from_nanos(ns))
}

fn stat_ticks(pid: u32) -> io::Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let ticks: u64 = f
        .get(11..13)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "stat"))?
        .iter()
        .map(|v| v.parse::<u64>().unwrap_or(0))
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|h| *h > 0)
        .unwrap_or(100) as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// CPU time of this process so far, threads that already exited included
/// (`getrusage(RUSAGE_SELF)`): for the floor, whose client threads end with
/// each run.
///
/// # Errors
/// `getrusage` failed.
pub fn self_cpu() -> io::Result<Duration> {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_err(io::Error::from)?;
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    Ok(tv(u.user_time()) + tv(u.system_time()))
}

/// Measures this process's CPU (exited threads included) while `f` runs.
pub fn during_self<T>(f: impl FnOnce() -> T) -> (T, Option<Duration>) {
    let before = self_cpu().ok();
    let out = f();
    let after = self_cpu().ok();
    let cpu = match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    (out, cpu)
}

/// Measures `pid`'s CPU while `f` runs; returns `f`'s result and the CPU
/// time (`None` when `/proc` could not be read).
pub fn during<T>(pid: u32, f: impl FnOnce() -> T) -> (T, Option<Duration>) {
    let before = process_cpu(pid).ok();
    let out = f();
    let after = process_cpu(pid).ok();
    let cpu = match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    (out, cpu)
}

/// Microseconds of CPU per request.
pub fn per_request_us(cpu: Duration, requests: u64) -> f64 {
    if requests == 0 {
        return 0.0;
    }
    cpu.as_secs_f64() * 1e6 / requests as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_shows_up_and_stat_agrees() {
        let me = std::process::id();
        let (_, cpu) = during(me, || {
            let t = std::time::Instant::now();
            let mut x = 0u64;
            while t.elapsed() < Duration::from_millis(50) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        });
        let cpu = cpu.expect("/proc readable");
        // Threads that ended are counted by the RUSAGE_SELF variant.
        let (_, own) = during_self(|| {
            std::thread::spawn(|| {
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_millis(30) {
                    std::hint::black_box(0u64);
                }
            })
            .join()
            .unwrap()
        });
        assert!(own.expect("getrusage") > Duration::ZERO);
        // On a loaded machine a 50 ms spin gets at least some CPU.
        assert!(cpu > Duration::ZERO, "{cpu:?}");
        assert!(stat_ticks(me).is_ok());
        assert_eq!(per_request_us(Duration::from_millis(1), 10), 100.0);
        assert!(process_cpu(u32::MAX).is_err());
    }
}
