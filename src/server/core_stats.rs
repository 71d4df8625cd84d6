//! OpenSIPS's core statistics groups, registered by default so that a
//! dashboard asking `get_statistics shmem: load: core:` (OpenSIPS-CP's
//! widgets) gets what a real 3.6 reports instead of `404`.
//!
//! Names, order and incremental flags are those of a real OpenSIPS 3.6.8
//! (`list_statistics`, protocol reference appendix B). `load:` and `pkmem:`
//! are per process, named after the process IDs `ps` lists (here one
//! process, ID 0).
//!
//! Live values (refreshed on every `get_statistics`), the rest stay at 0 (the
//! stand-in carries no SIP traffic, DNS, SQL or cache queries):
//!
//! | statistic | value |
//! |---|---|
//! | `core:timestamp` | seconds since the server started (OpenSIPS: ticks) |
//! | `shmem:used_size`, `real_used_size` | the process's resident memory (VmRSS) |
//! | `shmem:max_used_size` | its peak (VmHWM) |
//! | `shmem:total_size`, `free_size` | 32 MiB (OpenSIPS's default `-m`), or the next power of two above the peak; total − used |
//! | `pkmem:0-*` | the same figures for anonymous memory (RssAnon) against 8 MiB |
//! | `load:load`, `load1m`, `load10m` (and `-proc-0`, `-all`) | CPU busy percent of the process since the previous sample at least 1 s old, over the last minute, ten minutes (or since start); samples are taken by `get_statistics`, at most one per second |
//! | `load:processes_number` | 1 |
//!
//! A `--commands` file that sets one of these names keeps its value (a
//! recording of a real server answers with the recorded figures).

use super::stats::Stats;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The process ID `ps` reports (and the `N` of `load-proc-N`, `N-total_size`).
pub const PROCESS_ID: u32 = 0;

const SHM_DEFAULT: i64 = 32 * 1024 * 1024;
const PKG_DEFAULT: i64 = 8 * 1024 * 1024;

/// `(module:name, incremental)` of the groups registered before the module
/// groups (a real server registers these at start-up, modules after them).
pub fn early_groups() -> Vec<(String, bool)> {
    let mut v = Vec::new();
    let mut g = |module: &str, names: &[&str], incremental: bool| {
        for n in names {
            v.push((format!("{module}:{n}"), incremental));
        }
    };
    g(
        "shmem",
        &[
            "total_size",
            "max_used_size",
            "free_size",
            "used_size",
            "real_used_size",
            "fragments",
        ],
        false,
    );
    g(
        "rpmem",
        &[
            "rpm_total_size",
            "rpm_used_size",
            "rpm_real_used_size",
            "rpm_fragments",
            "rpm_max_used_size",
            "rpm_free_size",
        ],
        false,
    );
    g(
        "core",
        &[
            "rcv_requests",
            "rcv_replies",
            "fwd_requests",
            "fwd_replies",
            "drop_requests",
            "drop_replies",
            "err_requests",
            "err_replies",
            "bad_URIs_rcvd",
            "bad_msg_hdr",
            "slow_messages",
        ],
        true,
    );
    g("core", &["timestamp"], false);
    g("net", &["waiting_udp", "waiting_tcp", "waiting_tls"], false);
    g("dns", &["dns_total_queries", "dns_slow_queries"], true);
    g("sql", &["sql_total_queries", "sql_slow_queries"], true);
    g("cdb", &["cdb_total_queries", "cdb_slow_queries"], true);
    v
}

/// The per-process groups (`load:`, `pkmem:`), registered after the modules'.
pub fn late_groups() -> Vec<(String, bool)> {
    let p = PROCESS_ID;
    let mut v: Vec<(String, bool)> = Vec::new();
    for n in ["load", "load1m", "load10m"] {
        v.push((format!("load:{n}-proc-{p}"), false));
    }
    for n in [
        "load",
        "load1m",
        "load10m",
        "load-all",
        "load1m-all",
        "load10m-all",
        "processes_number",
    ] {
        v.push((format!("load:{n}"), false));
    }
    for n in [
        "total_size",
        "used_size",
        "real_used_size",
        "max_used_size",
        "free_size",
        "fragments",
    ] {
        v.push((format!("pkmem:{p}-{n}"), false));
    }
    v
}

/// Memory figures of this process, in bytes (from `/proc/self/status`).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Memory {
    /// VmRSS.
    pub rss: i64,
    /// VmHWM.
    pub peak: i64,
    /// RssAnon.
    pub anon: i64,
}

impl Memory {
    /// Reads `/proc/self/status` (zeros where it cannot).
    pub fn read() -> Memory {
        std::fs::read_to_string("/proc/self/status")
            .map(|s| Memory::parse(&s))
            .unwrap_or_default()
    }

    /// Parses the `VmRSS:  1234 kB` lines.
    pub fn parse(status: &str) -> Memory {
        let mut m = Memory::default();
        for line in status.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let kb = v
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<i64>()
                .unwrap_or(0);
            match k {
                "VmRSS" => m.rss = kb * 1024,
                "VmHWM" => m.peak = kb * 1024,
                "RssAnon" => m.anon = kb * 1024,
                _ => {}
            }
        }
        m
    }
}

/// CPU time used by the whole process so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let us = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            us(u.user_time()) + us(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// Samples of (wall, cpu), at most one per second, for 10 minutes.
#[derive(Debug)]
struct Samples {
    v: std::collections::VecDeque<(Instant, Duration)>,
}

/// Busy percent between two samples, 0..=100.
fn busy(from: (Instant, Duration), to: (Instant, Duration)) -> i64 {
    let wall = to.0.saturating_duration_since(from.0).as_secs_f64();
    if wall <= 0.0 {
        return 0;
    }
    let cpu = to.1.saturating_sub(from.1).as_secs_f64();
    ((cpu / wall) * 100.0).round().clamp(0.0, 100.0) as i64
}

/// The live part of the core statistics.
#[derive(Debug)]
pub struct Live {
    started: Instant,
    /// Names a `--commands` file set: never overwritten.
    fixed: Vec<String>,
    samples: Mutex<Samples>,
}

impl Live {
    /// Starts sampling; `fixed` are names whose values come from a file.
    pub fn new(fixed: Vec<String>) -> Live {
        let now = Instant::now();
        let mut v = std::collections::VecDeque::new();
        v.push_back((now, cpu_time()));
        Live {
            started: now,
            fixed,
            samples: Mutex::new(Samples { v }),
        }
    }

    fn loads(&self) -> (i64, i64, i64) {
        let now = (Instant::now(), cpu_time());
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        // The oldest sample inside the window; with none inside it, the
        // newest one (older than the window: the best estimate there is).
        let within = |age: Duration| {
            s.v.iter()
                .find(|(t, _)| now.0.saturating_duration_since(*t) <= age)
                .or(s.v.back())
                .copied()
                .unwrap_or(now)
        };
        // The last second: the newest sample at least ~1 s old, else the oldest.
        let last =
            s.v.iter()
                .rev()
                .find(|(t, _)| now.0.saturating_duration_since(*t) >= Duration::from_secs(1))
                .copied()
                .unwrap_or_else(|| s.v.front().copied().unwrap_or(now));
        let l = busy(last, now);
        let l1 = busy(within(Duration::from_secs(60)), now);
        let l10 = busy(within(Duration::from_secs(600)), now);
        if s.v
            .back()
            .is_none_or(|(t, _)| now.0.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            s.v.push_back(now);
        }
        while s.v.len() > 610 {
            s.v.pop_front();
        }
        (l, l1, l10)
    }

    /// Writes the current live values into `stats`.
    pub fn refresh(&self, stats: &Stats) {
        let set = |name: &str, v: i64| {
            if !self.fixed.iter().any(|f| f == name) {
                stats.set(name, v.into());
            }
        };
        set("core:timestamp", self.started.elapsed().as_secs() as i64);
        let m = Memory::read();
        let shm_total = size_for(SHM_DEFAULT, m.peak.max(m.rss));
        set("shmem:total_size", shm_total);
        set("shmem:used_size", m.rss);
        set("shmem:real_used_size", m.rss);
        set("shmem:max_used_size", m.peak.max(m.rss));
        set("shmem:free_size", shm_total - m.rss);
        set("shmem:fragments", 1);
        let p = PROCESS_ID;
        let pkg_total = size_for(PKG_DEFAULT, m.anon);
        set(&format!("pkmem:{p}-total_size"), pkg_total);
        set(&format!("pkmem:{p}-used_size"), m.anon);
        set(&format!("pkmem:{p}-real_used_size"), m.anon);
        set(&format!("pkmem:{p}-max_used_size"), m.anon);
        set(&format!("pkmem:{p}-free_size"), pkg_total - m.anon);
        set(&format!("pkmem:{p}-fragments"), 1);
        let (l, l1, l10) = self.loads();
        for (suffix, v) in [("", l), ("1m", l1), ("10m", l10)] {
            set(&format!("load:load{suffix}-proc-{p}"), v);
            set(&format!("load:load{suffix}"), v);
            set(&format!("load:load{suffix}-all"), v);
        }
        set("load:processes_number", 1);
    }
}

/// `default`, or the next power of two that holds `used`.
fn size_for(default: i64, used: i64) -> i64 {
    if used <= default {
        default
    } else {
        (used as u64).next_power_of_two() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_as_a_real_3_6_lists_them() {
        let early = early_groups();
        assert_eq!(early[0], ("shmem:total_size".into(), false));
        assert!(early.contains(&("core:rcv_requests".into(), true)));
        assert!(early.contains(&("core:timestamp".into(), false)));
        assert!(early.contains(&("net:waiting_udp".into(), false)));
        let late = late_groups();
        assert_eq!(late[0].0, "load:load-proc-0");
        assert!(
            late.iter().all(|(_, inc)| !inc),
            "load and pkmem are gauges"
        );
        assert!(late.contains(&("pkmem:0-total_size".into(), false)));
    }

    #[test]
    fn memory_from_proc_status() {
        let m = Memory::parse(
            "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nRssAnon:\t  512 kB\n",
        );
        assert_eq!(
            m,
            Memory {
                rss: 1024 * 1024,
                peak: 2048 * 1024,
                anon: 512 * 1024
            }
        );
        assert!(Memory::read().rss > 0, "this process has resident memory");
    }

    #[test]
    fn live_values_land_in_the_store_but_not_over_a_files() {
        let stats = Stats::with_server_counters();
        for (n, inc) in late_groups() {
            stats.register(&n, 0.into(), inc);
        }
        stats.register("shmem:fragments", 37.into(), false);
        let live = Live::new(vec!["shmem:fragments".into()]);
        // Burn some CPU so that the load is above zero.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        live.refresh(&stats);
        let get = |n: &str| stats.select(&[n.to_string()])[0].value.as_i64().unwrap();
        assert!(get("shmem:used_size") > 0);
        assert_eq!(
            get("shmem:free_size"),
            get("shmem:total_size") - get("shmem:used_size")
        );
        assert_eq!(get("shmem:fragments"), 37, "the file's value is kept");
        assert!(get("load:load") > 0, "busy since start");
        assert_eq!(get("load:load"), get("load:load-proc-0"));
        assert_eq!(get("load:processes_number"), 1);
        assert!(busy((t, Duration::ZERO), (t, Duration::from_secs(1))) == 0);
        assert_eq!(
            busy(
                (t, Duration::ZERO),
                (t + Duration::from_secs(2), Duration::from_secs(1))
            ),
            50
        );
    }
}
