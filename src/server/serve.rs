//! The server loop: one reader, a bounded set of request tasks, a timer that
//! recreates the FIFO, and signal handling.
//!
//! Recreation (SIGHUP, or the path deleted/replaced) renames a new, already
//! opened FIFO over the path (see `fifo::create`), so the path always has a
//! reader. Clients may still hold the old FIFO open and write to it after the
//! swap, so the old FIFO is handed to a drain task ([`drain_old`]) with its
//! own framer — a request is never spliced across two streams — which keeps
//! reading it for [`RETIRE_AFTER`] and until it is idle, then closes it.
//!
//! Why this shape: a FIFO has no per-client connection — every writer shares
//! one byte stream — so one task reads and frames, and each request gets its
//! own task (bounded by a semaphore) that waits for its client's reply FIFO,
//! runs the command and writes with a deadline. A queue between the two gives
//! backpressure: when `max_in_flight` requests are stuck on slow clients, the
//! reader stops reading and writers block in the kernel, instead of memory
//! growing without bound.

use super::command::{Builtin, Context};
use super::dispatch::{Shared, Turn};
use super::pidfile::Pidfile;
use super::stats::{names, Stats};
use super::throttle::Throttle;
use super::{Error, Executor, ServeConfig};
use crate::fifo::create::{self, FifoSpec, ServerFifo};
use crate::fifo::FifoGuard;
use crate::proto::framing::{Frame, Framer};
use crate::proto::text::{TextFrame, TextFramer, TextRequest};
use crate::proto::{reply_name, Dialect};
use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::unix::pipe;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// A replaced FIFO is read for at least this long after the swap: a client
/// that looked the path up just before the rename opens and writes the old
/// FIFO a moment later.
const RETIRE_AFTER: Duration = Duration::from_secs(1);

/// After [`RETIRE_AFTER`], a replaced FIFO is closed once every writer has
/// closed it (EOF), or once nothing arrived on it for this long (a writer
/// that holds it open forever must not keep it alive).
const RETIRE_IDLE: Duration = Duration::from_secs(1);

/// How often a replaced FIFO at EOF is looked at again before it is retired
/// (EOF keeps it readable, so waiting for readiness would spin).
const EOF_POLL: Duration = Duration::from_millis(50);

/// A request that keeps receiving bytes but never completes is given up
/// after this many times the quiet timeout (a writer dripping one byte now
/// and then must not hold the stream that all writers share).
const PARTIAL_MAX_AGE_FACTOR: u32 = 2;

/// When the incomplete request at the head of the stream is given up: after
/// `quiet` without bytes, or [`PARTIAL_MAX_AGE_FACTOR`] × `quiet` after it
/// started, whichever comes first.
fn partial_deadline(
    last_data: tokio::time::Instant,
    since: Option<tokio::time::Instant>,
    quiet: Duration,
) -> tokio::time::Instant {
    let q = last_data + quiet;
    match since {
        Some(t) => q.min(t + quiet * PARTIAL_MAX_AGE_FACTOR),
        None => q,
    }
}

/// How long running requests may still write their replies at shutdown.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The FIFO currently served.
struct Live {
    rx: pipe::Receiver,
    writer: File,
    guard: FifoGuard,
}

impl Live {
    fn new(f: ServerFifo) -> Result<Live, Error> {
        let rx = pipe::Receiver::from_file(f.reader).map_err(|source| Error::Io {
            op: "register the FIFO with the runtime".into(),
            source,
        })?;
        Ok(Live {
            rx,
            writer: f.writer,
            guard: f.guard,
        })
    }
}

/// The log cause of discarded bytes (see [`Throttle`]).
const GARBAGE: &str = "discarded bytes that are not a request";

enum Work {
    /// A frame, and the exact text of its numeric id when `Value` is lossy.
    Json(Frame, Option<String>),
    Text(TextRequest),
}

enum Framers {
    Json(Framer),
    Text(TextFramer),
}

impl Framers {
    fn new(dialect: Dialect, cap: usize) -> Framers {
        match dialect {
            Dialect::Text => Framers::Text(TextFramer::new(cap)),
            _ => Framers::Json(Framer::new(cap)),
        }
    }

    fn push(&mut self, data: &[u8]) {
        match self {
            Framers::Json(f) => f.push(data),
            Framers::Text(f) => f.push(data),
        }
    }

    /// Next request to run; garbage is logged and counted here.
    fn next(&mut self, stats: &Stats, throttle: &Throttle) -> Option<Work> {
        loop {
            match self {
                Framers::Json(f) => match f.next_frame()? {
                    Frame::Garbage { len, sample } => {
                        if throttle.hit(GARBAGE, len as u64) {
                            tracing::warn!("discarding {len} bytes that do not start a request (\":name:{{json}}\"): {sample:?}");
                        }
                        stats.add(names::GARBAGE_BYTES, len as i64);
                    }
                    frame @ Frame::TooLarge { buffered, .. } => {
                        stats.add(names::GARBAGE_BYTES, buffered as i64);
                        return Some(Work::Json(frame, None));
                    }
                    frame => return Some(Work::Json(frame, f.take_raw_id())),
                },
                Framers::Text(f) => match f.next_frame()? {
                    TextFrame::Discarded { len, reason } => {
                        if throttle.hit(GARBAGE, len as u64) {
                            tracing::warn!("discarding {len} bytes: {reason}");
                        }
                        stats.add(names::GARBAGE_BYTES, len as i64);
                    }
                    TextFrame::Request(r) => return Some(Work::Text(r)),
                },
            }
        }
    }

    /// Gives up on a stalled partial request (see `Framer::flush`).
    fn flush(&mut self, stats: &Stats, throttle: &Throttle) -> Option<Work> {
        match self {
            Framers::Json(f) => match f.flush()? {
                Frame::Garbage { len, sample } => {
                    if throttle.hit(GARBAGE, len as u64) {
                        tracing::warn!(
                            "discarding {len} bytes of an incomplete request: {sample:?}"
                        );
                    }
                    stats.add(names::GARBAGE_BYTES, len as i64);
                    None
                }
                frame => Some(Work::Json(frame, None)),
            },
            Framers::Text(f) => {
                if let Some(TextFrame::Discarded { len, reason }) = f.flush() {
                    if throttle.hit(GARBAGE, len as u64) {
                        tracing::warn!("discarding {len} bytes: {reason}");
                    }
                    stats.add(names::GARBAGE_BYTES, len as i64);
                }
                None
            }
        }
    }

    /// Gives up the request at the head of the stream (incomplete for too
    /// long while bytes keep coming) and frames what follows it.
    fn give_up(&mut self, stats: &Stats, throttle: &Throttle) -> Vec<Work> {
        let mut out = Vec::new();
        match self {
            Framers::Json(f) => {
                match f.give_up() {
                    Some(Frame::Garbage { len, sample }) => {
                        if throttle.hit(GARBAGE, len as u64) {
                            tracing::warn!("discarding {len} bytes of a request that never completed: {sample:?}");
                        }
                        stats.add(names::GARBAGE_BYTES, len as i64);
                    }
                    Some(frame) => out.push(Work::Json(frame, None)),
                    None => {}
                }
            }
            Framers::Text(f) => {
                if let Some(TextFrame::Discarded { len, reason }) = f.give_up() {
                    if throttle.hit(GARBAGE, len as u64) {
                        tracing::warn!("discarding {len} bytes: {reason}");
                    }
                    stats.add(names::GARBAGE_BYTES, len as i64);
                }
            }
        }
        out.extend(std::iter::from_fn(|| self.next(stats, throttle)));
        out
    }

    fn buffered(&self) -> bool {
        match self {
            Framers::Json(f) => f.pending(),
            Framers::Text(f) => f.buffered() > 0,
        }
    }
}

fn io_err(op: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        op: op.to_string(),
        source,
    }
}

/// Serves until `shutdown` completes, SIGTERM/SIGINT arrive (when the caller
/// maps them to `shutdown`), or the `kill` command runs. The FIFO is unlinked
/// on return (if it is still ours) and the pid file removed.
///
/// # Errors
/// Start-up failures ([`Error`]); once serving, problems are logged instead.
pub async fn run(cfg: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    if cfg.dialect == Dialect::Kamailio {
        return Err(Error::Dialect(cfg.dialect));
    }
    let reply_dir = reply_name::normalize_reply_dir(&cfg.reply_dir);
    if !reply_dir.is_dir() {
        return Err(Error::ReplyDir(reply_dir));
    }
    // Before the FIFO exists: a SIGHUP sent as soon as clients can see the
    // server must not hit the default action (terminate).
    let mut hup = signal(SignalKind::hangup()).map_err(io_err("install the SIGHUP handler"))?;
    // The pid file is written before the FIFO appears at its path: a script
    // that waits for the FIFO to be served then reads the pid file must find
    // it. It is removed again (dropped) if the FIFO cannot be made.
    let (fifo, pidfile) = create::create_after(&cfg.fifo, || match &cfg.pidfile {
        Some(p) => Pidfile::write(p)
            .map(Some)
            .map_err(|source| Error::Pidfile {
                path: p.clone(),
                source,
            }),
        None => Ok(None),
    })?;
    let respec = recreation_spec(&cfg);
    if let Some(c) = &cfg.drop_to {
        c.apply().map_err(|source| Error::Privileges {
            user: c.name.clone(),
            source,
        })?;
        tracing::info!(
            uid = c.uid.as_raw(),
            gid = c.gid.as_raw(),
            "dropped privileges to '{}'",
            c.name
        );
    }
    let mut live = Live::new(fifo)?;
    let stats = Arc::new(Stats::with_server_counters());
    let ctx = Arc::new(Context::new(stats.clone()));
    let mut kill_rx = ctx.shutdown.subscribe();
    let executor: Arc<dyn Executor> = match &cfg.executor {
        Some(e) => e.clone(),
        None => Arc::new(Builtin::with_version(
            ctx.clone(),
            cfg.commands.as_ref(),
            cfg.opensips_version,
        )),
    };
    let shared = Arc::new(Shared {
        executor,
        stats: stats.clone(),
        reply_dir: reply_dir.clone(),
        pretty: cfg.pretty,
        reply_timeout: cfg.reply_timeout,
        buffer_cap: cfg.buffer_cap,
        throttle: Arc::new(Throttle::new()),
        faults: Arc::new(super::fault::Faults::new(cfg.faults.clone())),
        waiters: Arc::new(super::fairness::Waiters::default()),
    });
    let mut framers = Framers::new(cfg.dialect, cfg.buffer_cap);
    let mut tick = tokio::time::interval(cfg.check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max = cfg.max_in_flight.max(1);
    let sem = Arc::new(Semaphore::new(max));
    let mut queue: VecDeque<Work> = VecDeque::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    // Requests run inline on this thread (see `run_or_spawn`); the waker is
    // never used to wake anything: a request that has to wait is spawned.
    let waker = std::task::Waker::from(Arc::new(NoWake));
    let mut cx = std::task::Context::from_waker(&waker);
    // Replaced FIFOs still being read, and the requests they frame.
    let mut drainers = JoinSet::new();
    let (old_tx, mut old_rx) = mpsc::channel::<Work>(max);
    let mut buf = vec![0u8; 64 * 1024];
    let mut path_state = PathState::default();
    let mut exit_error: Option<Error> = None;
    let throttle = shared.throttle.clone();
    let mut last_data = tokio::time::Instant::now();
    // When the request at the head of the stream started to be incomplete.
    let mut partial_since: Option<tokio::time::Instant> = None;
    tracing::info!(
        fifo = %cfg.fifo.path.display(),
        reply_dir = %reply_dir.display(),
        dialect = %cfg.dialect,
        pid = std::process::id(),
        "serving"
    );
    if let Some(ready) = &cfg.on_ready {
        ready();
    }
    tokio::pin!(shutdown);
    // Set by SIGHUP and by a tick that finds the path not ours: replace the
    // FIFO (`Some(lost)`, lost = clients cannot reach us meanwhile).
    let mut replace: Option<bool> = None;
    let mut held = HeldPath::default();
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                break;
            }
            r = kill_rx.changed() => {
                if r.is_err() || *kill_rx.borrow() {
                    break;
                }
            }
            _ = hup.recv() => {
                tracing::info!(path = %respec.path.display(), "SIGHUP: replacing the FIFO");
                replace = Some(!still_ours(&live.guard));
                // A SIGHUP always makes a full attempt.
                held = HeldPath::default();
            }
            _ = tick.tick() => {
                throttle.log_summaries();
                if !still_ours(&live.guard) {
                    replace = Some(true);
                }
            }
            Some(w) = old_rx.recv(), if queue.len() < max => {
                queue.push_back(w);
            }
            Some(res) = drainers.join_next(), if !drainers.is_empty() => {
                if let Err(e) = res {
                    tracing::error!("draining a replaced FIFO failed: {e}");
                }
            }
            r = live.rx.readable(), if queue.len() < max => {
                if let Err(e) = r {
                    tracing::error!("waiting for FIFO data: {e}");
                    continue;
                }
                match live.rx.try_read(&mut buf) {
                    Ok(0) => {}
                    Ok(n) => {
                        last_data = tokio::time::Instant::now();
                        framers.push(&buf[..n]);
                        let before = queue.len();
                        while let Some(w) = framers.next(&stats, &throttle) {
                            queue.push_back(w);
                        }
                        let framed = queue.len() > before;
                        run_queued(&mut queue, &sem, &shared, &mut tasks, &mut cx);
                        partial_since = match (framers.buffered(), partial_since) {
                            (false, _) => None,
                            (true, Some(t)) if !framed => Some(t),
                            (true, _) => Some(last_data),
                        };
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => tracing::error!("reading the FIFO: {e}"),
                }
            }
            _ = tokio::time::sleep_until(partial_deadline(last_data, partial_since, cfg.partial_timeout)), if framers.buffered() => {
                let quiet = tokio::time::Instant::now() >= last_data + cfg.partial_timeout;
                if quiet {
                    if let Some(w) = framers.flush(&stats, &throttle) {
                        queue.push_back(w);
                    }
                    partial_since = None;
                } else {
                    // Bytes keep trickling in but the request at the head
                    // never completes: give it up and resynchronise, so a
                    // slow writer cannot hold the stream.
                    queue.extend(framers.give_up(&stats, &throttle));
                    partial_since = framers.buffered().then(tokio::time::Instant::now);
                }
            }
            permit = sem.clone().acquire_owned(), if !queue.is_empty() => {
                let Ok(permit) = permit else { break };
                let Some(work) = queue.pop_front() else { continue };
                run_or_spawn(work, permit, &shared, &mut tasks, &mut cx);
                run_queued(&mut queue, &sem, &shared, &mut tasks, &mut cx);
            }
            Some(res) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = res {
                    tracing::error!("request task failed: {e}");
                }
            }
        }
        if let Some(lost) = replace.take() {
            let now = tokio::time::Instant::now();
            match held.step(&respec.path, now, || recreate(&mut live, &respec)) {
                Ok(old) => {
                    path_state.recovered(&respec.path);
                    let old_framers =
                        std::mem::replace(&mut framers, Framers::new(cfg.dialect, cfg.buffer_cap));
                    drainers.spawn(drain_old(
                        old,
                        old_framers,
                        stats.clone(),
                        old_tx.clone(),
                        cfg.partial_timeout,
                        throttle.clone(),
                    ));
                }
                Err(why) => {
                    if let Some(e) = path_state.failed(&respec.path, why, lost, cfg.give_up_after) {
                        exit_error = Some(e);
                        break;
                    }
                }
            }
        }
    }
    // Replaced FIFOs still draining are closed now.
    drainers.shutdown().await;
    if !queue.is_empty() {
        tracing::warn!("{} queued requests not handled at shutdown", queue.len());
    }
    // Let running requests finish their replies (the `kill` reply among them),
    // but do not let a client that never reads hold up the exit.
    let grace = cfg.reply_timeout.min(SHUTDOWN_GRACE)
        + crate::fifo::reply::RETRY_WAIT * (crate::fifo::reply::RETRIES + 1);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            "{} requests still running at shutdown; abandoned",
            tasks.len()
        );
        tasks.shutdown().await;
    }
    let path = live.guard.path().to_path_buf();
    drop(live);
    drop(pidfile);
    throttle.log_all_summaries();
    tracing::info!(path = %path.display(), "stopped");
    match exit_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The spec used to recreate the FIFO after privileges were dropped: an
/// owner or group equal to what the process now runs as needs no `chown`.
fn recreation_spec(cfg: &ServeConfig) -> FifoSpec {
    let mut spec = cfg.fifo.clone();
    if let Some(c) = &cfg.drop_to {
        if spec.owner == Some(c.uid) {
            spec.owner = None;
        }
        if spec.group == Some(c.gid) {
            spec.group = None;
        }
    }
    spec
}

fn still_ours(guard: &FifoGuard) -> bool {
    match (std::fs::symlink_metadata(guard.path()), guard.dev_ino()) {
        (Ok(m), Some(ours)) => (m.dev(), m.ino()) == ours,
        _ => false,
    }
}

/// A waker for the inline first poll of a request: whatever it registers is
/// re-registered with the task's own waker when the request is spawned.
struct NoWake;

impl std::task::Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

/// The lean common path: runs `work` on this thread up to its first wait.
/// A request whose reply FIFO is ready and whose command answers at once
/// (the common case) is read, framed, opened, run, written and closed here,
/// without a task, a thread hand-off or a join. Only one that has to wait
/// (no reader yet, no room, a slow command) is spawned, with its permit or
/// waiting slot (see `dispatch::Turn`).
fn run_or_spawn(
    work: Work,
    permit: tokio::sync::OwnedSemaphorePermit,
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    cx: &mut std::task::Context<'_>,
) {
    let shared = shared.clone();
    let mut fut = Box::pin(async move {
        let mut turn = Turn::new(permit);
        shared.stats.add(names::IN_FLIGHT, 1);
        match work {
            Work::Json(f, raw_id) => shared.json_frame(f, raw_id, &mut turn).await,
            Work::Text(t) => shared.text_request(t, &mut turn).await,
        }
        shared.stats.add(names::IN_FLIGHT, -1);
        drop(turn);
    });
    if fut.as_mut().poll(cx).is_pending() {
        tasks.spawn(fut);
    }
}

/// Runs queued requests inline while in-flight permits are free.
fn run_queued(
    queue: &mut VecDeque<Work>,
    sem: &Arc<Semaphore>,
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    cx: &mut std::task::Context<'_>,
) {
    while !queue.is_empty() {
        let Ok(permit) = sem.clone().try_acquire_owned() else {
            return;
        };
        if let Some(work) = queue.pop_front() {
            run_or_spawn(work, permit, shared, tasks, cx);
        }
    }
}

/// Puts a new FIFO at the path; returns the one served until now, which the
/// caller drains. On failure the current FIFO stays in service and the
/// reason is returned for the caller to log (rate-limited).
fn recreate(live: &mut Live, spec: &FifoSpec) -> Result<Live, String> {
    // When our FIFO is still at the path (SIGHUP) it is replaced, not refused
    // as "served by someone".
    let f = create::recreate(spec, live.guard.dev_ino()).map_err(|e| super::error_chain(&e))?;
    let new = Live::new(f).map_err(|e| super::error_chain(&e))?;
    tracing::info!(path = %spec.path.display(), "FIFO recreated");
    Ok(std::mem::replace(live, new))
}

/// How often "cannot serve" is logged while the path stays lost.
const LOST_LOG_EVERY: Duration = Duration::from_secs(5);

/// While the same live FIFO of another server holds the path, how often a
/// full recreation attempt (whose refusal names the holders: a whole-host
/// `/proc/*/fd` scan) is made. The refusal is logged only this often anyway.
const HELD_RECHECK_EVERY: Duration = LOST_LOG_EVERY;

/// Keeps the recreation check cheap while another server holds the path: a
/// tick that finds the same FIFO there, still read, within
/// [`HELD_RECHECK_EVERY`] of the last failed attempt reports that failure
/// again (one `lstat` and one non-blocking write-open) instead of attempting
/// anew. Another FIFO at the path, or its reader gone, means a full attempt
/// at once.
#[derive(Default)]
struct HeldPath {
    /// The FIFO the last failed attempt met `(dev, ino)`, when, and why it failed.
    last: Option<((u64, u64), tokio::time::Instant, String)>,
    /// Full attempts made (each may scan `/proc`).
    attempts: u64,
}

impl HeldPath {
    /// Makes the full `attempt`, or returns the last failure when nothing changed.
    fn step<T>(
        &mut self,
        path: &std::path::Path,
        now: tokio::time::Instant,
        attempt: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, String> {
        if let Some(why) = self.unchanged(path, now) {
            return Err(why);
        }
        self.attempts += 1;
        let r = attempt();
        self.last = match &r {
            Ok(_) => None,
            Err(why) => identity(path).map(|id| (id, now, why.clone())),
        };
        r
    }

    fn unchanged(&self, path: &std::path::Path, now: tokio::time::Instant) -> Option<String> {
        let (id, at, why) = self.last.as_ref()?;
        if now >= *at + HELD_RECHECK_EVERY || identity(path)? != *id {
            return None;
        }
        // A FIFO nobody reads any more is stale: replace it now.
        let gone = crate::fifo::create::open_reader_probe(path)
            .is_err_and(|e| e.raw_os_error() == Some(libc::ENXIO));
        (!gone).then(|| why.clone())
    }
}

/// `(dev, ino)` of the FIFO at `path` (not following a symlink).
fn identity(path: &std::path::Path) -> Option<(u64, u64)> {
    let m = std::fs::symlink_metadata(path).ok()?;
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_fifo().then(|| (m.dev(), m.ino()))
}

/// The state of the FIFO path while serving: ours, or lost since when.
#[derive(Default)]
struct PathState {
    /// When the path stopped being ours and could not be recreated.
    lost_since: Option<tokio::time::Instant>,
    /// When the last error about it was logged.
    last_log: Option<tokio::time::Instant>,
}

impl PathState {
    /// The path is served again.
    fn recovered(&mut self, path: &std::path::Path) {
        if self.lost_since.take().is_some() {
            tracing::info!(path = %path.display(), "serving the FIFO path again");
        }
        self.last_log = None;
    }

    /// A recreation failed; `lost` is true when the path is not ours (so
    /// clients cannot reach us), false for a SIGHUP with our FIFO still in
    /// place. Logs at error level, at most every [`LOST_LOG_EVERY`]; returns
    /// the error to exit with once the path was lost for `give_up`.
    fn failed(
        &mut self,
        path: &std::path::Path,
        why: String,
        lost: bool,
        give_up: Duration,
    ) -> Option<Error> {
        let now = tokio::time::Instant::now();
        if lost && self.lost_since.is_none() {
            // Losing the path is news even right after another error.
            self.last_log = None;
        }
        let since = if lost {
            Some(*self.lost_since.get_or_insert(now))
        } else {
            self.lost_since
        };
        if self.last_log.is_none_or(|t| now >= t + LOST_LOG_EVERY) {
            self.last_log = Some(now);
            match since {
                Some(since) => tracing::error!(
                    path = %path.display(),
                    "cannot serve the FIFO path (clients cannot reach us) for {:.1} s; exiting \
                     after {:.0} s: {why}",
                    (now - since).as_secs_f64(),
                    give_up.as_secs_f64()
                ),
                None => {
                    tracing::error!(path = %path.display(), "cannot replace the FIFO (the current one stays in service): {why}")
                }
            }
        }
        match since {
            Some(since) if now >= since + give_up => Some(Error::Unservable {
                path: path.to_path_buf(),
                after: give_up,
                reason: why,
            }),
            _ => None,
        }
    }
}

/// Keeps reading a replaced FIFO with its own framer, sending what it frames
/// to the server loop, until [`RETIRE_AFTER`] has passed and it is at EOF or
/// idle for [`RETIRE_IDLE`]; then reads what is left and closes it.
async fn drain_old(
    old: Live,
    mut framers: Framers,
    stats: Arc<Stats>,
    tx: mpsc::Sender<Work>,
    partial_timeout: Duration,
    throttle: Arc<Throttle>,
) {
    let Live { rx, writer, guard } = old;
    // It is no longer at the path: nothing to unlink, ever.
    guard.disarm();
    // Without our keep-alive writer, EOF means every client has closed it.
    drop(writer);
    let start = tokio::time::Instant::now();
    let mut last_data = start;
    let mut eof = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = tokio::time::Instant::now();
        if now >= start + RETIRE_AFTER && (eof || now >= last_data + RETIRE_IDLE) {
            break;
        }
        tokio::select! {
            biased;
            r = rx.readable() => {
                if let Err(e) = r {
                    tracing::error!("waiting for data on the replaced FIFO: {e}");
                    break;
                }
                match rx.try_read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        tokio::time::sleep(EOF_POLL).await;
                    }
                    Ok(n) => {
                        eof = false;
                        last_data = tokio::time::Instant::now();
                        framers.push(&buf[..n]);
                        while let Some(w) = framers.next(&stats, &throttle) {
                            if tx.send(w).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        tracing::error!("reading the replaced FIFO: {e}");
                        break;
                    }
                }
            }
            _ = tokio::time::sleep_until(last_data + partial_timeout), if framers.buffered() => {
                if let Some(w) = framers.flush(&stats, &throttle) {
                    if tx.send(w).await.is_err() {
                        return;
                    }
                }
            }
            _ = tokio::time::sleep_until((start + RETIRE_AFTER).max(last_data + RETIRE_IDLE)) => {}
        }
    }
    // What was written before we decided is still answered.
    while let Ok(n) = rx.try_read(&mut buf) {
        if n == 0 {
            break;
        }
        framers.push(&buf[..n]);
    }
    let mut rest: Vec<Work> = std::iter::from_fn(|| framers.next(&stats, &throttle)).collect();
    rest.extend(framers.flush(&stats, &throttle));
    for w in rest {
        if tx.send(w).await.is_err() {
            return;
        }
    }
    drop(rx);
    tracing::debug!("replaced FIFO closed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;

    fn reader(path: &Path) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap()
    }

    #[test]
    fn a_held_path_is_attempted_in_full_only_when_it_changes_or_rarely() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("f");
        // Another server's FIFO at the path, read.
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        let r1 = reader(&path);
        let mut held = HeldPath::default();
        let refused = || -> Result<(), String> { Err("served by pid 1".into()) };
        let start = tokio::time::Instant::now();
        let tick = Duration::from_millis(250);
        let ticks = 400u32; // 100 s of 250 ms checks
        for i in 0..ticks {
            let r = held.step(&path, start + tick * i, refused);
            assert_eq!(r.unwrap_err(), "served by pid 1");
        }
        // One attempt per HELD_RECHECK_EVERY, not one per tick (400).
        let every = (tick * ticks).as_secs() / HELD_RECHECK_EVERY.as_secs();
        assert_eq!(held.attempts, every, "attempts in {ticks} ticks");

        // Its reader gone: the stale FIFO is attempted at the next tick.
        let mut now = start + tick * ticks;
        let before = held.attempts;
        drop(r1);
        let _ = held.step(&path, now, refused);
        assert_eq!(held.attempts, before + 1);

        // Another FIFO put at the path: attempted at once too.
        now += tick;
        let _r2 = {
            // Renamed over the old one, so it is surely another inode.
            let tmp = d.path().join("g");
            nix::unistd::mkfifo(&tmp, Mode::from_bits_truncate(0o600)).unwrap();
            let r = reader(&tmp);
            std::fs::rename(&tmp, &path).unwrap();
            r
        };
        let _ = held.step(&path, now, refused);
        assert_eq!(held.attempts, before + 2);
        // ... and then left alone again.
        let _ = held.step(&path, now + tick, refused);
        assert_eq!(held.attempts, before + 2);

        // Success forgets the failure.
        let _ = held.step(&path, now + HELD_RECHECK_EVERY, || Ok::<(), String>(()));
        assert!(held.last.is_none());
    }
}
