//! Bounds on what clients can hold: the connection cap, derived from the
//! file-descriptor limit, and rate-limited logging of accept failures.
//!
//! Each connection holds one socket and, while its one request is in flight
//! (HTTP/1.1 serves a connection's requests one after another), the server
//! FIFO and a reply FIFO: [`FDS_PER_CONNECTION`] descriptors. The cap keeps
//! `cap × 3 + idle pool × 2 + reserve` under the soft `RLIMIT_NOFILE`, which
//! is first raised to the hard limit, so `accept` never meets `EMFILE` and a
//! connection over the cap never waits in the backlog (see [`super::slots`]
//! for who gets a slot when all are taken). An idle pooled reply FIFO holds
//! its read end and its own write end ([`pool_for`]).

use std::time::{Duration, Instant};

/// Descriptors one connection may need at once.
pub const FDS_PER_CONNECTION: u64 = 3;
/// Descriptors kept for the runtime, the listener, logging, NSS, TLS files.
pub const FD_RESERVE: u64 = 64;
/// Default connection cap when the descriptor limit allows it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit
/// now in force.
pub fn raise_nofile() -> std::io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Ok(hard);
    }
    Ok(soft)
}

/// Most reply FIFOs the gateway keeps idle for reuse.
pub const MAX_POOL: usize = 64;
/// Descriptors an idle pooled reply FIFO holds.
pub const FDS_PER_POOLED_FIFO: u64 = 2;

/// Reply FIFOs to keep idle for reuse with `nofile` descriptors: up to
/// [`MAX_POOL`] (as many as requests in flight at once, so that a steady
/// load of up to that many concurrent requests never makes a FIFO), at most
/// an eighth of the descriptors left over the reserve.
pub fn pool_for(nofile: u64) -> usize {
    let spare = nofile.saturating_sub(FD_RESERVE) / 8 / FDS_PER_POOLED_FIFO;
    (spare as usize).min(MAX_POOL)
}

/// The largest connection cap that fits `nofile` descriptors, with the idle
/// pool of [`pool_for`] beside it.
pub fn cap_for(nofile: u64) -> usize {
    let pooled = pool_for(nofile) as u64 * FDS_PER_POOLED_FIFO;
    (nofile.saturating_sub(FD_RESERVE + pooled) / FDS_PER_CONNECTION) as usize
}

/// The connection cap to use: `requested` (or the default), lowered to what
/// the descriptor limit allows, at least 1.
pub fn connection_cap(requested: Option<usize>, nofile: u64) -> usize {
    requested
        .unwrap_or(DEFAULT_MAX_CONNECTIONS)
        .min(cap_for(nofile))
        .max(1)
}

/// Logs a repeated failure at most once per interval, with the number of
/// occurrences left out in between.
#[derive(Debug)]
pub struct RateLimitedLog {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// One line per `interval` at most.
    pub fn new(interval: Duration) -> Self {
        RateLimitedLog {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Returns `Some(suppressed since the last line)` when a line may be
    /// written now, `None` when this occurrence is only counted.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        assert_eq!(pool_for(128), 4);
        assert_eq!(cap_for(128), 18);
        assert_eq!(connection_cap(None, 128), 18);
        assert_eq!(pool_for(1024), 60);
        assert_eq!(pool_for(4096), MAX_POOL);
        assert_eq!(pool_for(1 << 20), MAX_POOL);
        assert_eq!(cap_for(1024), (1024 - 64 - 120) / 3);
        assert_eq!(connection_cap(None, 1 << 20), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(10_000), 1 << 20), 10_000);
        assert_eq!(connection_cap(Some(10_000), 1024), 280);
        assert_eq!(connection_cap(Some(5), 10), 1);
    }

    #[test]
    fn raising_keeps_or_raises() {
        let (soft, _) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert!(raise_nofile().unwrap() >= soft);
    }

    #[test]
    fn rate_limit() {
        let mut l = RateLimitedLog::new(Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(l.hit(t), Some(0));
        for i in 1..=100 {
            assert_eq!(l.hit(t + Duration::from_millis(i)), None);
        }
        assert_eq!(l.hit(t + Duration::from_secs(11)), Some(100));
        assert_eq!(l.hit(t + Duration::from_secs(12)), None);
    }
}
