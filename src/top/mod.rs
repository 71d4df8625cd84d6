//! `mififo top`: live statistics, as numbers that can be tested without a
//! terminal.
//!
//! A [`Board`] takes one sample after another (`get_statistics` values and
//! the `list_statistics` kinds, see [`sample`]) and keeps, per statistic, the
//! current value, the rate per second of incremental counters, the change
//! since the previous sample and a bounded history for the sparkline. A
//! sample that failed (the server is down or restarting) is a *gap*: it is
//! drawn in every history, and the next good sample starts a new baseline; a
//! counter that went down (a restart between two samples, `reset_statistics`)
//! is marked as reset instead of showing a negative rate.
//!
//! Names come from the server: they are escaped ([`crate::term`]) wherever
//! they are shown, and the board keeps at most [`MAX_ROWS`] of them.

pub mod render;
pub mod sample;

use serde_json::{Map, Number, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Most statistics tracked; further names are counted in [`Board::ignored`].
pub const MAX_ROWS: usize = 10_000;
/// History points kept per statistic (the sparkline shows the newest ones).
pub const HISTORY: usize = 120;

/// Counter (incremental: shown as a rate) or gauge (shown as a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `list_statistics` says `incremental`.
    Counter,
    /// `non-incremental`, or unknown.
    Gauge,
}

impl Kind {
    /// `counter` / `gauge`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One statistic as the board sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `module:name` as the server sent it (not escaped).
    pub name: String,
    /// Counter or gauge.
    pub kind: Kind,
    /// The latest value as sent.
    pub value: Number,
    /// Per second since the previous sample (counters only; `None` on the
    /// first sample, after a gap, and after a reset).
    pub rate: Option<f64>,
    /// How much it moved: |rate| for counters, |Δ value| for gauges.
    pub change: f64,
    /// The counter went down since the previous sample.
    pub reset: bool,
    /// Rates (counters) or values (gauges), oldest first; `None` = gap.
    pub history: VecDeque<Option<f64>>,
}

impl Row {
    /// The module part of the name (`core` when there is no `:`).
    pub fn module(&self) -> &str {
        self.name.split_once(':').map_or("core", |(m, _)| m)
    }

    /// The name without its module.
    pub fn short_name(&self) -> &str {
        self.name.split_once(':').map_or(&self.name, |(_, n)| n)
    }

    fn push(&mut self, point: Option<f64>) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(point);
    }
}

/// How rows are ordered (within their module group; groups follow their first row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Biggest change first, then by name.
    #[default]
    Change,
    /// Biggest rate (counters) or value (gauges) first.
    Value,
    /// Alphabetical.
    Name,
}

impl Sort {
    /// The next order (the `s` key).
    pub fn next(self) -> Sort {
        match self {
            Sort::Change => Sort::Value,
            Sort::Value => Sort::Name,
            Sort::Name => Sort::Change,
        }
    }

    /// `change` / `value` / `name`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Change => "change",
            Sort::Value => "value",
            Sort::Name => "name",
        }
    }
}

/// Every statistic seen, and how sampling went.
#[derive(Debug, Clone, Default)]
pub struct Board {
    rows: BTreeMap<String, Row>,
    /// Time of the previous good sample (seconds, any origin).
    last_at: Option<f64>,
    /// The previous sample failed.
    after_gap: bool,
    /// Good samples taken.
    pub samples: u64,
    /// Failed samples.
    pub gaps: u64,
    /// When the current run of failures started (same clock as `at`).
    pub gap_since: Option<f64>,
    /// The latest failure (not escaped).
    pub last_error: Option<String>,
    /// Names not tracked because of [`MAX_ROWS`].
    pub ignored: usize,
}

fn as_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

impl Board {
    /// An empty board.
    pub fn new() -> Board {
        Board::default()
    }

    /// Records a good sample taken at `at` seconds: `values` as returned by
    /// `get_statistics`, `incremental` by name from `list_statistics` (names
    /// it lacks are gauges). Non-numeric values are ignored.
    pub fn update(
        &mut self,
        at: f64,
        values: &Map<String, Value>,
        incremental: &HashMap<String, bool>,
    ) {
        let dt = self.last_at.map(|t| at - t).filter(|dt| *dt > 0.0);
        let baseline = self.after_gap || dt.is_none();
        let mut seen = std::collections::HashSet::new();
        for (name, v) in values {
            let Value::Number(n) = v else { continue };
            let kind = if incremental.get(name).copied().unwrap_or(false) {
                Kind::Counter
            } else {
                Kind::Gauge
            };
            if !self.rows.contains_key(name) {
                if self.rows.len() >= MAX_ROWS {
                    self.ignored += 1;
                    continue;
                }
                self.rows.insert(
                    name.clone(),
                    Row {
                        name: name.clone(),
                        kind,
                        value: n.clone(),
                        rate: None,
                        change: 0.0,
                        reset: false,
                        history: VecDeque::new(),
                    },
                );
                // A counter's first point is its first rate, one sample later.
                if kind == Kind::Gauge {
                    let row = self.rows.get_mut(name).expect("just inserted");
                    row.push(Some(as_f64(n)));
                }
                seen.insert(name.clone());
                continue;
            }
            seen.insert(name.clone());
            let row = self.rows.get_mut(name).expect("present");
            let prev = as_f64(&row.value);
            let cur = as_f64(n);
            row.kind = kind;
            row.value = n.clone();
            row.reset = false;
            match kind {
                Kind::Counter => {
                    row.rate = None;
                    row.change = 0.0;
                    if cur < prev {
                        row.reset = true;
                        row.push(None);
                    } else if let (Some(dt), false) = (dt, baseline) {
                        let r = (cur - prev) / dt;
                        row.rate = Some(r);
                        row.change = r.abs();
                        row.push(Some(r));
                    }
                }
                Kind::Gauge => {
                    row.rate = None;
                    row.change = if baseline { 0.0 } else { (cur - prev).abs() };
                    row.push(Some(cur));
                }
            }
        }
        // Statistics the server no longer reports (a module gone after a restart).
        self.rows.retain(|k, _| seen.contains(k));
        self.last_at = Some(at);
        self.after_gap = false;
        self.samples += 1;
        self.gap_since = None;
        self.last_error = None;
    }

    /// Records a failed sample at `at`: a gap in every history.
    pub fn gap(&mut self, at: f64, error: impl Into<String>) {
        for row in self.rows.values_mut() {
            row.rate = None;
            row.change = 0.0;
            row.push(None);
        }
        self.after_gap = true;
        self.gaps += 1;
        self.gap_since.get_or_insert(at);
        self.last_error = Some(error.into());
    }

    /// True when the previous sample failed.
    pub fn in_gap(&self) -> bool {
        self.after_gap
    }

    /// Number of statistics tracked.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// One statistic by its full name.
    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.get(name)
    }

    /// The rows grouped by module, ordered by `sort`: within a group by the
    /// sort key, groups by their first row (alphabetical for [`Sort::Name`]).
    pub fn groups(&self, sort: Sort) -> Vec<(String, Vec<&Row>)> {
        let mut by_module: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for r in self.rows.values() {
            by_module.entry(r.module()).or_default().push(r);
        }
        let key = |r: &Row| match sort {
            Sort::Change => r.change,
            Sort::Value => r.rate.unwrap_or_else(|| match r.kind {
                Kind::Counter => 0.0,
                Kind::Gauge => as_f64(&r.value),
            }),
            Sort::Name => 0.0,
        };
        let mut groups: Vec<(String, Vec<&Row>)> = by_module
            .into_iter()
            .map(|(m, mut rows)| {
                rows.sort_by(|a, b| key(b).total_cmp(&key(a)).then_with(|| a.name.cmp(&b.name)));
                (m.to_string(), rows)
            })
            .collect();
        if sort != Sort::Name {
            groups.sort_by(|(ma, a), (mb, b)| {
                key(b[0]).total_cmp(&key(a[0])).then_with(|| ma.cmp(mb))
            });
        }
        groups
    }

    /// One JSON object for this interval (`mififo top --json`):
    /// `{"time":…,"ok":true,"stats":{"mod:name":{"kind","value","rate"[,"reset"]}}}`
    /// or `{"time":…,"ok":false,"error":"…"}` after a failed sample.
    pub fn to_json(&self, unix_time: f64) -> Value {
        let mut o = Map::new();
        o.insert("time".into(), Value::from(round3(unix_time)));
        if self.after_gap {
            o.insert("ok".into(), Value::Bool(false));
            o.insert(
                "error".into(),
                Value::String(self.last_error.clone().unwrap_or_default()),
            );
            return Value::Object(o);
        }
        o.insert("ok".into(), Value::Bool(true));
        let mut stats = Map::new();
        for r in self.rows.values() {
            let mut s = Map::new();
            s.insert("kind".into(), Value::String(r.kind.as_str().into()));
            s.insert("value".into(), Value::Number(r.value.clone()));
            if r.kind == Kind::Counter {
                s.insert(
                    "rate".into(),
                    r.rate.map_or(Value::Null, |x| Value::from(round3(x))),
                );
                if r.reset {
                    s.insert("reset".into(), Value::Bool(true));
                }
            }
            stats.insert(r.name.clone(), Value::Object(s));
        }
        o.insert("stats".into(), Value::Object(stats));
        Value::Object(o)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The blocks of a sparkline, lowest first.
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// A gap in the history.
pub const GAP: char = '·';

/// The newest `width` points of `history` as a sparkline: counters' rates
/// scale from 0 to the maximum shown, gauges from the minimum to the
/// maximum shown; a gap is [`GAP`]; a flat line is the lowest block.
pub fn sparkline(history: &VecDeque<Option<f64>>, kind: Kind, width: usize) -> String {
    let skip = history.len().saturating_sub(width);
    let points: Vec<Option<f64>> = history.iter().skip(skip).copied().collect();
    let vals = points.iter().flatten().copied();
    let max = vals.clone().fold(f64::NEG_INFINITY, f64::max);
    let min = match kind {
        Kind::Counter => 0.0_f64.min(vals.fold(f64::INFINITY, f64::min)),
        Kind::Gauge => vals.fold(f64::INFINITY, f64::min),
    };
    points
        .iter()
        .map(|p| match p {
            None => GAP,
            Some(v) if max > min => {
                let i = ((v - min) / (max - min) * (BLOCKS.len() - 1) as f64).round() as usize;
                BLOCKS[i.min(BLOCKS.len() - 1)]
            }
            Some(_) => BLOCKS[0],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vals(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn kinds() -> HashMap<String, bool> {
        [
            ("core:req".to_string(), true),
            ("shmem:used".to_string(), false),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn counters_become_rates_and_gauges_stay_values() {
        let mut b = Board::new();
        b.update(
            0.0,
            &vals(json!({"core:req": 100, "shmem:used": 5000})),
            &kinds(),
        );
        assert_eq!(b.row("core:req").unwrap().rate, None);
        b.update(
            2.0,
            &vals(json!({"core:req": 110, "shmem:used": 4000})),
            &kinds(),
        );
        let req = b.row("core:req").unwrap();
        assert_eq!(
            (req.kind, req.rate, req.change),
            (Kind::Counter, Some(5.0), 5.0)
        );
        let used = b.row("shmem:used").unwrap();
        assert_eq!(
            (used.kind, used.rate, used.change),
            (Kind::Gauge, None, 1000.0)
        );
        assert_eq!(
            used.history.iter().copied().collect::<Vec<_>>(),
            vec![Some(5000.0), Some(4000.0)]
        );
        let j = b.to_json(1000.0);
        assert_eq!(
            j["stats"]["core:req"],
            json!({"kind":"counter","value":110,"rate":5.0})
        );
        assert_eq!(
            j["stats"]["shmem:used"],
            json!({"kind":"gauge","value":4000})
        );
    }

    #[test]
    fn a_gap_and_a_restart_show_and_do_not_invent_rates() {
        let mut b = Board::new();
        b.update(0.0, &vals(json!({"core:req": 100})), &kinds());
        b.update(1.0, &vals(json!({"core:req": 150})), &kinds());
        b.gap(2.0, "no server");
        assert!(b.in_gap());
        assert_eq!(
            b.to_json(2.0),
            json!({"time": 2.0, "ok": false, "error": "no server"})
        );
        b.gap(3.0, "no server");
        assert_eq!(b.gap_since, Some(2.0));
        // Restarted server: counter back near zero. No rate, no negative.
        b.update(4.0, &vals(json!({"core:req": 3})), &kinds());
        let r = b.row("core:req").unwrap();
        assert!(r.reset && r.rate.is_none(), "{r:?}");
        b.update(5.0, &vals(json!({"core:req": 13})), &kinds());
        let r = b.row("core:req").unwrap();
        assert_eq!(r.rate, Some(10.0));
        // 50/s, two gaps, the reset, 10/s
        assert_eq!(sparkline(&r.history, r.kind, 10), "█···▂");
        assert_eq!(b.gap_since, None);
    }

    #[test]
    fn history_and_rows_are_bounded() {
        let mut b = Board::new();
        for i in 0..(HISTORY + 50) {
            b.update(i as f64, &vals(json!({"core:req": i * 2})), &kinds());
        }
        assert_eq!(b.row("core:req").unwrap().history.len(), HISTORY);
        let mut many = Map::new();
        for i in 0..MAX_ROWS + 5 {
            many.insert(format!("m:s{i}"), json!(1));
        }
        let mut b = Board::new();
        b.update(0.0, &many, &HashMap::new());
        assert_eq!((b.len(), b.ignored), (MAX_ROWS, 5));
    }

    #[test]
    fn groups_sort_by_change_within_and_across_modules() {
        let mut b = Board::new();
        let k: HashMap<String, bool> = ["a:x", "a:y", "b:z"]
            .into_iter()
            .map(|n| (n.to_string(), true))
            .collect();
        b.update(0.0, &vals(json!({"a:x": 0, "a:y": 0, "b:z": 0})), &k);
        b.update(1.0, &vals(json!({"a:x": 1, "a:y": 5, "b:z": 9})), &k);
        let g = b.groups(Sort::Change);
        let names: Vec<(&str, Vec<&str>)> = g
            .iter()
            .map(|(m, rows)| (m.as_str(), rows.iter().map(|r| r.short_name()).collect()))
            .collect();
        assert_eq!(names, vec![("b", vec!["z"]), ("a", vec!["y", "x"])]);
        let g = b.groups(Sort::Name);
        assert_eq!(g[0].0, "a");
        assert_eq!(g[0].1[0].short_name(), "x");
        assert_eq!(Sort::Change.next().next().next(), Sort::Change);
    }

    #[test]
    fn sparkline_scales() {
        let h: VecDeque<Option<f64>> = [Some(0.0), Some(5.0), None, Some(10.0)].into();
        assert_eq!(sparkline(&h, Kind::Counter, 10), "▁▅·█");
        assert_eq!(sparkline(&h, Kind::Counter, 2), "·█");
        let flat: VecDeque<Option<f64>> = [Some(7.0), Some(7.0)].into();
        assert_eq!(sparkline(&flat, Kind::Gauge, 5), "▁▁");
        let g: VecDeque<Option<f64>> = [Some(100.0), Some(104.0), Some(102.0)].into();
        assert_eq!(sparkline(&g, Kind::Gauge, 5), "▁█▅");
    }
}
