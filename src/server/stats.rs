//! The statistics store behind `get_statistics` & co.
//!
//! Statistics are `module:name` counters in registration order, each either
//! incremental (a counter; `reset_statistics` zeroes it) or non-incremental (a
//! gauge; resets leave it alone, as OpenSIPS's `STAT_NO_RESET`). The server
//! registers its own `mififo:` counters and updates them for every request;
//! `--commands` files add more with initial values.
//!
//! One `Mutex<Vec<_>>`: the store is tiny, every operation is a short scan,
//! and requests run concurrently on several worker threads.

use std::sync::Mutex;

/// Server counters (module `mififo`).
pub mod names {
    /// Every framed request (JSON or text), including invalid ones.
    pub const REQUESTS: &str = "mififo:requests";
    /// Replies that carried an error.
    pub const ERRORS: &str = "mififo:errors";
    /// Requests dropped without a reply (bad reply name, no client, unsafe reply path).
    pub const DROPPED: &str = "mififo:dropped";
    /// Bytes discarded because they could not start a request.
    pub const GARBAGE_BYTES: &str = "mififo:garbage_bytes";
    /// Requests being handled right now (non-incremental).
    pub const IN_FLIGHT: &str = "mififo:in_flight";
}

/// One statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// `module` part of `module:name`.
    pub module: String,
    /// `name` part.
    pub name: String,
    /// Current value.
    pub value: serde_json::Number,
    /// Counter (`true`) or gauge.
    pub incremental: bool,
}

impl Stat {
    /// `module:name`.
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.module, self.name)
    }

    /// `self.full_name() == full`, without allocating (on every request's path).
    pub fn is_named(&self, full: &str) -> bool {
        let (m, n) = (self.module.as_str(), self.name.as_str());
        full.len() == m.len() + 1 + n.len()
            && full.starts_with(m)
            && full.as_bytes()[m.len()] == b':'
            && full.ends_with(n)
    }

    /// Does one `get_statistics` item (`all`, `module:`, `name`, `module:name`) select this stat?
    pub fn selected_by(&self, item: &str) -> bool {
        if item == "all" {
            return true;
        }
        if let Some(module) = item.strip_suffix(':') {
            return self.module == module;
        }
        match item.split_once(':') {
            Some((m, n)) => self.module == m && self.name == n,
            None => self.name == item,
        }
    }
}

/// The store.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<Vec<Stat>>,
}

impl Stats {
    /// A store with OpenSIPS's early core groups (`shmem:`, `core:`, `net:`
    /// …, see [`super::core_stats`]) at zero, then the server's own counters.
    pub fn with_server_counters() -> Self {
        let s = Stats::default();
        for (n, inc) in super::core_stats::early_groups() {
            s.register(&n, 0.into(), inc);
        }
        for n in [
            names::REQUESTS,
            names::ERRORS,
            names::DROPPED,
            names::GARBAGE_BYTES,
        ] {
            s.register(n, 0.into(), true);
        }
        s.register(names::IN_FLIGHT, 0.into(), false);
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Stat>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `module:name` (or replaces its value and kind when it exists).
    /// A name without `:` goes to module `core`.
    pub fn register(&self, full: &str, value: serde_json::Number, incremental: bool) {
        let (module, name) = full.split_once(':').unwrap_or(("core", full));
        let mut v = self.lock();
        if let Some(s) = v.iter_mut().find(|s| s.module == module && s.name == name) {
            s.value = value;
            s.incremental = incremental;
        } else {
            v.push(Stat {
                module: module.into(),
                name: name.into(),
                value,
                incremental,
            });
        }
    }

    /// Removes every statistic (a standalone commands file brings its own).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Sets the value of an existing statistic (no-op for unknown names).
    pub fn set(&self, full: &str, value: serde_json::Number) {
        if let Some(s) = self.lock().iter_mut().find(|s| s.is_named(full)) {
            s.value = value;
        }
    }

    /// Is `module:name` registered?
    pub fn contains(&self, full: &str) -> bool {
        self.lock().iter().any(|s| s.is_named(full))
    }

    /// Adds `delta` to an integer statistic (no-op for unknown names).
    pub fn add(&self, full: &str, delta: i64) {
        let mut v = self.lock();
        if let Some(s) = v.iter_mut().find(|s| s.is_named(full)) {
            let cur = s.value.as_i64().unwrap_or(0);
            s.value = cur.saturating_add(delta).into();
        }
    }

    /// Statistics selected by `items`, in item order (registration order
    /// within an item), each once.
    pub fn select(&self, items: &[String]) -> Vec<Stat> {
        let v = self.lock();
        let mut out: Vec<Stat> = Vec::new();
        for item in items {
            for s in v.iter().filter(|s| s.selected_by(item)) {
                if !out.iter().any(|o| o.module == s.module && o.name == s.name) {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    /// Zeroes the incremental statistics selected by `items`; returns how many matched.
    pub fn reset(&self, items: &[String]) -> usize {
        let mut n = 0;
        for s in self.lock().iter_mut() {
            if items.iter().any(|i| s.selected_by(i)) {
                n += 1;
                if s.incremental {
                    s.value = 0.into();
                }
            }
        }
        n
    }

    /// Zeroes every incremental statistic.
    pub fn reset_all(&self) {
        self.reset(&["all".to_string()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_add_reset() {
        let s = Stats::with_server_counters();
        s.register("dialog:active_dialogs", 3.into(), false);
        s.register("core:rcv_requests", 7.into(), true);
        s.add(names::REQUESTS, 2);
        s.add("core:rcv_request", 100); // a prefix of a name is not that name
        s.add("ore:rcv_requests", 100); // nor a suffix
        let got = s.select(&["mififo:".into(), "rcv_requests".into()]);
        assert_eq!(got[0].full_name(), names::REQUESTS);
        assert_eq!(got[0].value, 2.into());
        assert_eq!(got.last().unwrap().full_name(), "core:rcv_requests");
        assert_eq!(got.last().unwrap().value, 7.into());
        let got = s.select(&[
            "rcv_requests".into(),
            "mififo:requests".into(),
            "all".into(),
        ]);
        assert_eq!(got[0].full_name(), "core:rcv_requests");
        assert_eq!(got[1].full_name(), names::REQUESTS);
        let n = 7 + super::super::core_stats::early_groups().len() - 1; // rcv_requests is a core stat
        assert_eq!(got.len(), n, "each once");
        assert_eq!(s.select(&["nosuch:".into()]).len(), 0);
        assert_eq!(s.reset(&["all".into()]), n);
        assert_eq!(s.select(&["core:rcv_requests".into()])[0].value, 0.into());
        assert_eq!(s.select(&["active_dialogs".into()])[0].value, 3.into());
    }
}
