//! Connection slots: at most `max_connections` connections are served, and
//! when all slots are taken, a connection that has stalled makes room.
//!
//! A connection is *stalled* when it is not relaying a request and has not
//! finished one (or been accepted) for [`STALL`]: it is trickling headers or
//! a body, or idling on keep-alive. Real clients send a request in
//! milliseconds. So when a new connection finds no free slot, the
//! connection stalled longest is closed and the newcomer waits (at most
//! [`HANDOVER_WAIT`]) for its slot; only when nothing is stalled — every
//! slot busy with a relay or a fresh connection — is the newcomer answered
//! 503 at once. A client that holds slots by sending slowly then delays
//! only itself, never the clients that send their request promptly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// How long a connection may go without a request in progress at the relay
/// or answered before it may be closed to make room.
pub const STALL: Duration = Duration::from_secs(1);
/// How long a newcomer waits for the slot of the connection it displaced.
pub const HANDOVER_WAIT: Duration = Duration::from_secs(1);
/// Newcomers waiting for a displaced connection's slot at once.
pub const MAX_HANDOVERS: usize = 32;

/// What a connection is doing, shared with its requests.
#[derive(Debug)]
pub struct ConnState {
    epoch: Instant,
    busy: AtomicBool,
    last_ms: AtomicU64,
}

impl ConnState {
    fn new(epoch: Instant) -> Self {
        let s = ConnState {
            epoch,
            busy: AtomicBool::new(false),
            last_ms: AtomicU64::new(0),
        };
        s.touch();
        s
    }

    fn touch(&self) {
        self.last_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// A request of this connection is now at the relay: never stalled.
    pub fn relaying(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    /// True while a request of this connection is at the relay.
    pub fn is_relaying(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }

    /// A request was answered: the connection is active, the clock restarts.
    pub fn answered(&self) {
        self.busy.store(false, Ordering::Relaxed);
        self.touch();
    }

    fn stalled_for(&self, now_ms: u64) -> Option<u64> {
        if self.busy.load(Ordering::Relaxed) {
            return None;
        }
        Some(now_ms.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Put into each request's extensions so the handler can mark the relay.
#[derive(Debug, Clone)]
pub struct Activity(pub Arc<ConnState>);

struct Registered {
    state: Arc<ConnState>,
    evict: Option<oneshot::Sender<()>>,
}

/// The slot table.
pub struct Slots {
    sem: Arc<Semaphore>,
    conns: Mutex<HashMap<u64, Registered>>,
    next: AtomicU64,
    epoch: Instant,
    handovers: AtomicUsize,
}

/// One connection's slot; dropping it frees the slot.
pub struct Slot {
    id: u64,
    slots: Arc<Slots>,
    _permit: OwnedSemaphorePermit,
    /// The connection's activity, for its requests.
    pub state: Arc<ConnState>,
    /// Fires when the connection is closed to make room.
    pub evicted: oneshot::Receiver<()>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Counts a newcomer waiting for a handed-over slot.
pub struct Handover(Arc<Slots>);

impl Drop for Handover {
    fn drop(&mut self) {
        self.0.handovers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    /// `cap` slots.
    pub fn new(cap: usize) -> Arc<Slots> {
        Arc::new(Slots {
            sem: Arc::new(Semaphore::new(cap)),
            conns: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            epoch: Instant::now(),
            handovers: AtomicUsize::new(0),
        })
    }

    fn register(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(self.epoch));
        let (tx, rx) = oneshot::channel();
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(
            id,
            Registered {
                state: state.clone(),
                evict: Some(tx),
            },
        );
        Slot {
            id,
            slots: self.clone(),
            _permit: permit,
            state,
            evicted: rx,
        }
    }

    /// A free slot, if any (never one a waiting newcomer is owed).
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let permit = self.sem.clone().try_acquire_owned().ok()?;
        Some(self.register(permit))
    }

    /// Closes the connection stalled longest (at least `stall`) and returns
    /// a [`Handover`] for the newcomer, which then waits with
    /// [`Slots::take_handed_over`]. `None` when nothing is stalled, or too
    /// many newcomers are already waiting.
    pub fn evict_stalled(self: &Arc<Self>, stall: Duration) -> Option<Handover> {
        if self.handovers.fetch_add(1, Ordering::SeqCst) >= MAX_HANDOVERS {
            self.handovers.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let handover = Handover(self.clone());
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let stall_ms = stall.as_millis() as u64;
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let victim = conns
            .values_mut()
            .filter(|r| r.evict.is_some())
            .filter_map(|r| r.state.stalled_for(now_ms).map(|age| (age, r)))
            .filter(|(age, _)| *age >= stall_ms)
            .max_by_key(|(age, _)| *age)
            .map(|(_, r)| r)?;
        let _ = victim.evict.take().map(|tx| tx.send(()));
        Some(handover)
    }

    /// Waits (at most [`HANDOVER_WAIT`]) for a slot after an eviction.
    pub async fn take_handed_over(self: &Arc<Self>, _handover: Handover) -> Option<Slot> {
        let permit = tokio::time::timeout(HANDOVER_WAIT, self.sem.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        Some(self.register(permit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_longest_stalled_idle_connection_makes_room() {
        let slots = Slots::new(2);
        let mut old = slots.try_take().unwrap();
        let mut busy = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        // Nothing has stalled for an hour.
        assert!(slots.evict_stalled(Duration::from_secs(3600)).is_none());
        busy.state.relaying();
        let handover = slots.evict_stalled(Duration::ZERO).expect("a victim");
        // The idle one is told to go, the relaying one is not.
        assert!(old.evicted.try_recv().is_ok());
        assert!(busy.evicted.try_recv().is_err());
        // Told once only: no second victim while the only idle one is leaving.
        assert!(slots.evict_stalled(Duration::ZERO).is_none());
        drop(old);
        assert!(slots.take_handed_over(handover).await.is_some());
    }

    #[tokio::test]
    async fn no_victim_when_every_slot_is_relaying() {
        let slots = Slots::new(1);
        let s = slots.try_take().unwrap();
        s.state.relaying();
        assert!(slots.evict_stalled(Duration::ZERO).is_none());
        s.state.answered();
        assert!(slots.evict_stalled(Duration::ZERO).is_some());
    }

    // Paused time: the newcomer's HANDOVER_WAIT passes exactly, at once.
    #[tokio::test(start_paused = true)]
    async fn handovers_are_bounded_and_time_out() {
        let slots = Slots::new(MAX_HANDOVERS + 1);
        let _all: Vec<_> = (0..=MAX_HANDOVERS)
            .map(|_| slots.try_take().unwrap())
            .collect();
        let waiting: Vec<_> = (0..MAX_HANDOVERS)
            .map(|_| slots.evict_stalled(Duration::ZERO).expect("a victim"))
            .collect();
        // One stalled connection is left, but too many newcomers wait already.
        assert!(slots.evict_stalled(Duration::ZERO).is_none());
        drop(waiting);
        assert!(slots.evict_stalled(Duration::ZERO).is_some());
        // A victim that does not leave: the newcomer gives up.
        let slots = Slots::new(1);
        let _stuck = slots.try_take().unwrap();
        let h = slots.evict_stalled(Duration::ZERO).unwrap();
        let t0 = tokio::time::Instant::now();
        assert!(slots.take_handed_over(h).await.is_none());
        assert_eq!(t0.elapsed(), HANDOVER_WAIT);
    }
}
