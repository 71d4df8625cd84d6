//! What a benchmark run counts and how it is reported: per-outcome counters,
//! exact latency percentiles (every sample kept, sorted once at the end), and
//! the [`Report`] printed for people or as one JSON object for machines.

use serde::Serialize;
use std::time::Duration;

/// The most of a server's text (an error message, a reply, an id) a report
/// quotes, in characters: a reply may be as long as `--max-reply` (64 MiB by
/// default), and the report is one screen.
const QUOTED_MAX: usize = 300;

/// `s` cut to [`QUOTED_MAX`] characters, with `…` when something was cut.
pub(crate) fn quoted(mut s: String) -> String {
    if let Some((at, _)) = s.char_indices().nth(QUOTED_MAX) {
        s.truncate(at);
        s.push('…');
    }
    s
}

/// How one exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A reply that answers this request (same id) with a result.
    Ok,
    /// A reply, but an error: a JSON-RPC error, plain text, an empty body, or a
    /// failure on our side (no server, permission, I/O).
    Error,
    /// No (complete) reply before the deadline: a lost request or reply.
    Timeout,
    /// A reply carrying another request's id: it reached the wrong client.
    Misrouted,
    /// A reply whose id this run never sent: the server does not echo ids as
    /// sent (OpenSIPS clamps numbers above 2^31−1; others turn them into
    /// strings), so the reply cannot be matched — a server trait, not routing.
    IdRewritten,
}

/// The counters a worker's [`Tally`] keeps and a run's [`Report`] shows.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Exchanges started (requests sent).
    pub requests: u64,
    /// [`Outcome::Ok`]: answered with a result, for the right request.
    pub ok: u64,
    /// [`Outcome::Error`]: error replies and local failures.
    pub errors: u64,
    /// [`Outcome::Timeout`]: no complete reply in time (lost).
    pub timeouts: u64,
    /// [`Outcome::Misrouted`]: replies that carried another request's id.
    pub misrouted: u64,
    /// [`Outcome::IdRewritten`]: replies whose id this run never sent (the server rewrites ids).
    pub ids_rewritten: u64,
    /// The first rewritten id seen: `sent 5, got "5"`.
    pub first_rewrite: Option<String>,
}

impl Counts {
    /// Failures of any kind.
    pub fn failures(&self) -> u64 {
        self.errors + self.timeouts + self.misrouted + self.ids_rewritten
    }

    fn add(&mut self, other: Counts) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.misrouted += other.misrouted;
        self.ids_rewritten += other.ids_rewritten;
        if self.first_rewrite.is_none() {
            self.first_rewrite = other.first_rewrite;
        }
    }
}

/// Counters and latency samples of one worker (merged at the end).
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// The counters (also reachable directly: `tally.ok`).
    pub counts: Counts,
    /// Latency of every exchange that got a reply (ok, error replies, misrouted), in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// The first failure seen, for the report.
    pub first_error: Option<String>,
}

impl Tally {
    /// Records one exchange. `latency` is `Some` when a reply came back.
    pub fn record(&mut self, outcome: Outcome, latency: Option<Duration>, error: Option<String>) {
        self.requests += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Timeout => self.timeouts += 1,
            Outcome::Misrouted => self.misrouted += 1,
            Outcome::IdRewritten => self.ids_rewritten += 1,
        }
        if let Some(l) = latency {
            self.latencies_ns
                .push(u64::try_from(l.as_nanos()).unwrap_or(u64::MAX));
        }
        if self.first_error.is_none() {
            self.first_error = error.map(quoted);
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: Tally) {
        self.counts.add(other.counts);
        self.latencies_ns.extend(other.latencies_ns);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Failures of any kind.
    pub fn failures(&self) -> u64 {
        self.counts.failures()
    }

    /// The report of a run that took `elapsed`.
    pub fn report(mut self, label: &str, clients: usize, elapsed: Duration) -> Report {
        self.latencies_ns.sort_unstable();
        let secs = elapsed.as_secs_f64();
        Report {
            target: label.to_string(),
            clients,
            requests_per_second: if secs > 0.0 {
                self.requests as f64 / secs
            } else {
                0.0
            },
            counts: self.counts,
            elapsed_s: secs,
            latency_ms: Percentiles::of_sorted(&self.latencies_ns),
            first_error: self.first_error,
        }
    }
}

/// Latency percentiles in milliseconds (nearest-rank over every sample).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest exchange.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Percentiles {
    /// Percentiles of `sorted` (ascending, nanoseconds); all zero when empty.
    pub fn of_sorted(sorted: &[u64]) -> Percentiles {
        if sorted.is_empty() {
            return Percentiles::default();
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        let rank = |p: f64| {
            // Nearest rank: the smallest sample with at least p% of samples <= it.
            let r = (p / 100.0 * sorted.len() as f64).ceil() as usize;
            sorted[r.clamp(1, sorted.len()) - 1]
        };
        let sum: u128 = sorted.iter().map(|&n| u128::from(n)).sum();
        Percentiles {
            p50: ms(rank(50.0)),
            p90: ms(rank(90.0)),
            p99: ms(rank(99.0)),
            max: ms(*sorted.last().expect("not empty")),
            mean: (sum as f64 / sorted.len() as f64) / 1e6,
        }
    }
}

/// The result of a run; `--json` prints it as one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// What was measured, e.g. `uptime via /tmp/opensips_fifo` or `floor`.
    pub target: String,
    /// Concurrent clients.
    pub clients: usize,
    /// The counters (also reachable directly: `report.ok`), flattened
    /// into the JSON object.
    #[serde(flatten)]
    pub counts: Counts,
    /// Wall-clock time of the run.
    pub elapsed_s: f64,
    /// `requests / elapsed_s`.
    pub requests_per_second: f64,
    /// Latency of the exchanges that got a reply.
    pub latency_ms: Percentiles,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

impl std::ops::Deref for Tally {
    type Target = Counts;
    fn deref(&self) -> &Counts {
        &self.counts
    }
}

impl std::ops::DerefMut for Tally {
    fn deref_mut(&mut self) -> &mut Counts {
        &mut self.counts
    }
}

impl std::ops::Deref for Report {
    type Target = Counts;
    fn deref(&self) -> &Counts {
        &self.counts
    }
}

impl Report {
    /// Failures of any kind.
    pub fn failures(&self) -> u64 {
        self.counts.failures()
    }

    /// The report for people: one `name value` line each.
    pub fn to_text(&self) -> String {
        let l = &self.latency_ms;
        let mut s = format!(
            "target        {}\n\
             clients       {}\n\
             requests      {}\n\
             ok            {}\n\
             errors        {}\n\
             timeouts      {}\n\
             misrouted     {}\n\
             elapsed       {:.3} s\n\
             requests/s    {:.0}\n\
             latency ms    p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  mean {:.3}\n",
            // The texts quoting the server or the user get no control
            // characters; the report's own line breaks stay.
            crate::term::line(&self.target),
            self.clients,
            self.requests,
            self.ok,
            self.errors,
            self.timeouts,
            self.misrouted,
            self.elapsed_s,
            self.requests_per_second,
            l.p50,
            l.p90,
            l.p99,
            l.max,
            l.mean,
        );
        if self.ids_rewritten > 0 {
            s.push_str(&format!(
                "ids rewritten {} — the server does not echo JSON-RPC ids as sent ({}), so its replies \
                 cannot be matched to requests; this is not misrouting\n",
                self.ids_rewritten,
                crate::term::line(self.first_rewrite.as_deref().unwrap_or(""))
            ));
        }
        if let Some(e) = &self.first_error {
            s.push_str(&format!("first error   {}\n", crate::term::line(e)));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_report_keeps_its_fields_in_order() {
        let mut t = Tally::default();
        t.record(Outcome::Ok, Some(Duration::from_millis(2)), None);
        t.record(Outcome::Timeout, None, Some("lost".into()));
        let json = serde_json::to_string(&t.report("floor", 2, Duration::from_secs(1))).unwrap();
        let keys = [
            "target",
            "clients",
            "requests",
            "ok",
            "errors",
            "timeouts",
            "misrouted",
            "ids_rewritten",
            "first_rewrite",
            "elapsed_s",
            "requests_per_second",
            "latency_ms",
            "first_error",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| {
                json.find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("{k} in {json}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(
            json.contains("\"requests\":2,\"ok\":1,\"errors\":0,\"timeouts\":1"),
            "{json}"
        );
    }

    /// A server's error text is quoted, not copied whole, however long its
    /// reply (up to --max-reply, 64 MiB by default).
    #[test]
    fn a_long_first_error_is_cut() {
        let mut t = Tally::default();
        let long = format!("error reply: {}", "é".repeat(1 << 20));
        t.record(Outcome::Error, Some(Duration::from_millis(1)), Some(long));
        let e = t.first_error.clone().unwrap();
        assert_eq!(e.chars().count(), QUOTED_MAX + 1, "{e}");
        assert!(e.starts_with("error reply: éé") && e.ends_with('…'), "{e}");
        let text = t.report("t", 1, Duration::from_secs(1)).to_text();
        assert!(text.len() < 4096, "{} bytes", text.len());
        assert_eq!(quoted("short".into()), "short");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        let p = Percentiles::of_sorted(&v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert!((p.mean - 50.5).abs() < 1e-9);
        let one = Percentiles::of_sorted(&[2_500_000]);
        assert_eq!((one.p50, one.p99, one.max), (2.5, 2.5, 2.5));
        assert_eq!(Percentiles::of_sorted(&[]), Percentiles::default());
    }

    #[test]
    fn tallies_merge_and_report_every_outcome() {
        let mut a = Tally::default();
        a.record(Outcome::Ok, Some(Duration::from_millis(1)), None);
        a.record(Outcome::Timeout, None, Some("timed out".into()));
        let mut b = Tally::default();
        b.record(Outcome::Misrouted, Some(Duration::from_millis(3)), None);
        b.record(
            Outcome::Error,
            Some(Duration::from_millis(2)),
            Some("x".into()),
        );
        a.merge(b);
        assert_eq!(a.failures(), 3);
        let r = a.report("t", 2, Duration::from_secs(2));
        assert_eq!(
            (r.requests, r.ok, r.errors, r.timeouts, r.misrouted),
            (4, 1, 1, 1, 1)
        );
        assert_eq!(r.requests_per_second, 2.0);
        assert_eq!(r.latency_ms.max, 3.0);
        assert_eq!(r.first_error.as_deref(), Some("timed out"));
        let json = serde_json::to_value(&r).unwrap();
        for k in [
            "requests",
            "ok",
            "errors",
            "timeouts",
            "misrouted",
            "requests_per_second",
        ] {
            assert!(json.get(k).is_some(), "{k} missing in {json}");
        }
        for k in ["p50", "p90", "p99", "max"] {
            assert!(json["latency_ms"].get(k).is_some(), "latency_ms.{k}");
        }
        let text = r.to_text();
        assert!(text.contains("\nmisrouted     1\n"), "{text}");
        // One line per figure: the line breaks are not escaped.
        assert!(
            text.lines().count() >= 10 && !text.contains("\\x0a"),
            "{text}"
        );
    }
}
