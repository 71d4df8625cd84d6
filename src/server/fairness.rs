//! Fairness between writers that share one FIFO.
//!
//! A request whose reply FIFO has no reader yet (the ENXIO retry window) or
//! no room (EAGAIN, a client that does not read) leaves the common path: it
//! gives back its in-flight permit, so waiting never consumes the capacity
//! other clients need, and it takes a *waiting slot* instead. Slots are
//! bounded per reply path ([`PER_NAME`]) and in total ([`TOTAL`], at most half
//! the descriptor limit: it also bounds the reply FIFO descriptors held while
//! waiting for room). A request
//! that finds no slot is dropped at once, counted in `mififo:dropped` and
//! logged (rate-limited): a writer naming slow, full or absent reply FIFOs
//! delays only its own requests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Requests that may wait at the same time for one reply path.
pub const PER_NAME: usize = 4;

/// Requests that may wait at the same time in total.
pub const TOTAL: usize = 256;

/// The waiting slots in use.
#[derive(Debug)]
pub struct Waiters {
    per_name: usize,
    total: usize,
    used: Mutex<(usize, HashMap<PathBuf, usize>)>,
}

impl Default for Waiters {
    /// [`PER_NAME`], and [`TOTAL`] or half the descriptor limit
    /// (`RLIMIT_NOFILE`) if that is lower: a request waiting for room holds
    /// its reply FIFO open, and waiting ones must not starve the common path
    /// of descriptors.
    fn default() -> Self {
        let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024);
        let half = usize::try_from(nofile / 2).unwrap_or(usize::MAX);
        Waiters::new(PER_NAME, TOTAL.min(half).max(4))
    }
}

/// A held waiting slot; given back on drop.
#[derive(Debug)]
pub struct Slot {
    waiters: Arc<Waiters>,
    path: PathBuf,
}

impl Waiters {
    /// Limits per reply path and in total.
    pub fn new(per_name: usize, total: usize) -> Waiters {
        Waiters {
            per_name: per_name.max(1),
            total: total.max(1),
            used: Mutex::new((0, HashMap::new())),
        }
    }

    /// Takes a slot for `path`, or says which limit is reached.
    ///
    /// # Errors
    /// The reason, for the log.
    pub fn enter(self: &Arc<Self>, path: &Path) -> Result<Slot, String> {
        let mut g = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let (total, map) = &mut *g;
        let n = map.get(path).copied().unwrap_or(0);
        if n >= self.per_name {
            return Err(format!(
                "{n} requests already wait for this reply FIFO (limit {})",
                self.per_name
            ));
        }
        if *total >= self.total {
            return Err(format!(
                "{total} requests already wait for slow reply FIFOs (limit {})",
                self.total
            ));
        }
        *total += 1;
        map.insert(path.to_path_buf(), n + 1);
        Ok(Slot {
            waiters: self.clone(),
            path: path.to_path_buf(),
        })
    }

    /// Slots in use (for tests and statistics).
    pub fn in_use(&self) -> usize {
        self.used.lock().unwrap_or_else(|e| e.into_inner()).0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut g = self.waiters.used.lock().unwrap_or_else(|e| e.into_inner());
        let (total, map) = &mut *g;
        *total -= 1;
        if let Some(n) = map.get_mut(&self.path) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_path_and_in_total() {
        let w = Arc::new(Waiters::new(2, 3));
        let a = Path::new("/tmp/a");
        let s1 = w.enter(a).unwrap();
        let _s2 = w.enter(a).unwrap();
        assert!(w.enter(a).unwrap_err().contains("limit 2"));
        let _s3 = w.enter(Path::new("/tmp/b")).unwrap();
        assert!(w
            .enter(Path::new("/tmp/c"))
            .unwrap_err()
            .contains("limit 3"));
        drop(s1);
        assert_eq!(w.in_use(), 2);
        let _s4 = w.enter(a).unwrap();
    }
}
