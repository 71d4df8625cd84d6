//! Log aggregation: one hostile writer must not turn 1 MiB of garbage into
//! 200,000 log lines. The first occurrence of a cause is logged at once (with
//! its detail); further ones within [`WINDOW`] are only counted, and when the
//! window is over a single summary line says how many there were
//! ("discarded 209715 malformed requests (1048576 bytes) in the last 10 s").

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Length of one aggregation window.
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Entry {
    /// When the window of this cause started (its first logged occurrence).
    start: Instant,
    /// Occurrences after the first one, in this window.
    count: u64,
    /// Sum of their amounts (bytes, requests…).
    amount: u64,
}

/// A summary of what was not logged in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The cause, as given to [`Throttle::hit`] (a phrase like "discarded malformed requests").
    pub cause: &'static str,
    /// How many occurrences were not logged one by one.
    pub count: u64,
    /// Their summed amount.
    pub amount: u64,
    /// The time they were counted over (the window, or less at exit).
    pub over: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} more in the last {} s",
            self.cause,
            self.count,
            self.over.as_secs().max(1)
        )?;
        if self.amount > 0 {
            write!(f, " ({} bytes)", self.amount)?;
        }
        Ok(())
    }
}

/// Per-cause log throttle, shared by the reader loop and the request tasks.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<&'static str, Entry>>,
}

impl Throttle {
    /// An empty throttle.
    pub fn new() -> Throttle {
        Throttle::default()
    }

    /// Records one occurrence of `cause`; true when it should be logged now
    /// (the first one of a window), false when it was only counted.
    pub fn hit(&self, cause: &'static str, amount: u64) -> bool {
        self.hit_at(cause, amount, Instant::now())
    }

    fn hit_at(&self, cause: &'static str, amount: u64, now: Instant) -> bool {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(cause) {
            Some(e) if now < e.start + WINDOW => {
                e.count += 1;
                e.amount += amount;
                false
            }
            _ => {
                m.insert(
                    cause,
                    Entry {
                        start: now,
                        count: 0,
                        amount: 0,
                    },
                );
                true
            }
        }
    }

    /// Summaries of the windows that are over and had unlogged occurrences
    /// (their entries are removed, so the next occurrence is logged again).
    pub fn flush(&self) -> Vec<Summary> {
        self.flush_at(Instant::now())
    }

    fn flush_at(&self, now: Instant) -> Vec<Summary> {
        self.flush_where(now, false)
    }

    fn flush_where(&self, now: Instant, all: bool) -> Vec<Summary> {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        m.retain(|cause, e| {
            if !all && now < e.start + WINDOW {
                return true;
            }
            if e.count > 0 {
                out.push(Summary {
                    cause,
                    count: e.count,
                    amount: e.amount,
                    over: (now - e.start).min(WINDOW),
                });
            }
            false
        });
        out.sort_by_key(|s| s.cause);
        out
    }

    /// Logs the summaries of [`Throttle::flush`] at warn level.
    pub fn log_summaries(&self) {
        for s in self.flush() {
            tracing::warn!("{s}");
        }
    }

    /// Logs what is still counted, windows over or not (at exit).
    pub fn log_all_summaries(&self) {
        for s in self.flush_where(Instant::now(), true) {
            tracing::warn!("{s}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_logged_rest_counted_then_summarised() {
        let t = Throttle::new();
        let t0 = Instant::now();
        assert!(t.hit_at("discarded malformed requests", 5, t0));
        for i in 0..209_714u64 {
            assert!(!t.hit_at(
                "discarded malformed requests",
                5,
                t0 + Duration::from_nanos(i)
            ));
        }
        assert!(t.hit_at("dropped requests", 0, t0));
        assert_eq!(t.flush_at(t0 + Duration::from_secs(1)), vec![]);
        let s = t.flush_at(t0 + WINDOW);
        assert_eq!(
            s,
            vec![Summary {
                cause: "discarded malformed requests",
                count: 209_714,
                amount: 209_714 * 5,
                over: WINDOW,
            }]
        );
        assert_eq!(
            s[0].to_string(),
            "discarded malformed requests: 209714 more in the last 10 s (1048570 bytes)"
        );
        // A new window logs its first occurrence again.
        assert!(t.hit_at("discarded malformed requests", 5, t0 + WINDOW));
    }
}
