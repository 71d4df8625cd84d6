//! The floor: the MI FIFO request/reply cycle done by the smallest possible
//! code, so that a server (and our client) can be reported as a ratio of it.
//!
//! - [`Responder`]: a minimal server on one blocking thread — read the FIFO,
//!   take `:name:` and the JSON value, open `reply_dir/name` for writing, write
//!   a fixed `uptime`-like result with the request's id, close. No validation,
//!   no async runtime, no allocation beyond what parsing needs.
//! - [`run`]: N blocking client threads doing per request exactly what a
//!   correct client must do — `mkfifo` the reply FIFO, open it for reading,
//!   open the server FIFO, write the request, close, `poll`/`read` the reply
//!   to EOF, `unlink` — against a [`Responder`] in the same process.
//!
//! Both sides use the same system calls as `mififo serve` and the library
//! client; what the floor leaves out is everything else (Tokio, validation,
//! command dispatch, reply-FIFO verification, access rights).

use super::stats::{Outcome, Tally};
use super::Progress;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The byte that tells a [`Responder`] to stop (no request starts with NUL).
const STOP: u8 = 0;

/// A minimal MI FIFO server on its own thread; stopped and its FIFO removed on drop.
#[derive(Debug)]
pub struct Responder {
    fifo: PathBuf,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Responder {
    /// Creates the FIFO `fifo` (mode 0600) and answers on it, replying into `reply_dir`.
    pub fn start(fifo: &Path, reply_dir: &Path) -> io::Result<Responder> {
        nix::unistd::mkfifo(fifo, Mode::from_bits_truncate(0o600))?;
        // Reader first (non-blocking so the open does not wait for a writer),
        // then our own writer so the reader never sees EOF between clients —
        // what OpenSIPS's mi_fifo does too.
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)?;
        let keepalive = std::fs::OpenOptions::new().write(true).open(fifo)?;
        nix::fcntl::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&reader),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )?;
        let dir = reply_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("floor-responder".into())
            .spawn(move || {
                let _keepalive = keepalive;
                serve(reader, &dir);
            })?;
        Ok(Responder {
            fifo: fifo.to_path_buf(),
            thread: Some(thread),
        })
    }

    /// The FIFO it serves.
    pub fn fifo(&self) -> &Path {
        &self.fifo
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Ok(mut w) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.fifo)
        {
            let _ = w.write_all(&[STOP]);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.fifo);
    }
}

fn serve(mut reader: std::fs::File, reply_dir: &Path) {
    let mut buf = vec![0u8; 65536];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut at = 0;
        loop {
            match next_request(&pending[at..]) {
                Parsed::Request { name, id, used } => {
                    reply(reply_dir, name, id);
                    at += used;
                }
                Parsed::Stop => return,
                Parsed::Incomplete => break,
                Parsed::Garbage(used) => at += used,
            }
        }
        pending.drain(..at);
    }
}

enum Parsed<'a> {
    Request {
        name: &'a [u8],
        id: serde_json::Value,
        used: usize,
    },
    Stop,
    Incomplete,
    Garbage(usize),
}

fn next_request(b: &[u8]) -> Parsed<'_> {
    let start = match b.iter().position(|c| !c.is_ascii_whitespace()) {
        None => return Parsed::Incomplete,
        Some(i) => i,
    };
    let b2 = &b[start..];
    if b2[0] == STOP {
        return Parsed::Stop;
    }
    if b2[0] != b':' {
        // Skip to the next line or colon; the floor does not try harder.
        let skip = b2[1..]
            .iter()
            .position(|&c| c == b':')
            .map_or(b2.len(), |i| i + 1);
        return Parsed::Garbage(start + skip);
    }
    let Some(end) = b2[1..].iter().position(|&c| c == b':') else {
        return Parsed::Incomplete;
    };
    let name = &b2[1..1 + end];
    let json_at = 2 + end;
    let mut it =
        serde_json::Deserializer::from_slice(&b2[json_at..]).into_iter::<serde_json::Value>();
    match it.next() {
        Some(Ok(v)) => Parsed::Request {
            name,
            id: v.get("id").cloned().unwrap_or(serde_json::Value::Null),
            used: start + json_at + it.byte_offset(),
        },
        Some(Err(e)) if e.is_eof() => Parsed::Incomplete,
        None => Parsed::Incomplete,
        Some(Err(_)) => Parsed::Garbage(start + json_at),
    }
}

fn reply(reply_dir: &Path, name: &[u8], id: serde_json::Value) {
    if name.is_empty() {
        return;
    }
    let mut path = reply_dir.as_os_str().as_encoded_bytes().to_vec();
    if !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    let path = PathBuf::from(std::ffi::OsString::from(
        String::from_utf8_lossy(&path).into_owned(),
    ));
    let body = format!(
        r#"{{"jsonrpc":"2.0","result":{{"Now":"Sun Nov 29 09:42:39 2026","Up since":"Sun Nov 29 09:42:30 2026","Up time":"9 [sec]"}},"id":{id}}}"#
    );
    // The client holds the read end open, so a non-blocking open succeeds at once.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
    {
        let _ = f.write_all(body.as_bytes());
    }
}

/// Runs the floor loop: `clients` threads against a fresh [`Responder`] in a
/// private directory under `work_dir`, until `stop`.
pub fn run(
    work_dir: &Path,
    clients: usize,
    stop: super::load::Stop,
    timeout: Duration,
    progress: &Progress,
) -> io::Result<(Tally, Duration)> {
    let dir = work_dir.join(format!("mififo-floor-{}", std::process::id()));
    std::fs::create_dir(&dir)?;
    struct RmDir(PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = RmDir(dir.clone());
    let fifo = dir.join("mi_fifo");
    let responder = Responder::start(&fifo, &dir)?;
    let result = drive(responder.fifo(), &dir, clients, stop, timeout, progress);
    drop(responder);
    Ok(result)
}

/// Drives any JSON-dialect server at `fifo` with the floor's minimal client
/// (blocking threads, one request in flight per thread).
pub fn drive(
    fifo: &Path,
    reply_dir: &Path,
    clients: usize,
    stop: super::load::Stop,
    timeout: Duration,
    progress: &Progress,
) -> (Tally, Duration) {
    let start = Instant::now();
    let next = super::load::Sequence::new(stop, start);
    let tally = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients.max(1))
            .map(|t| {
                let next = next.clone();
                let progress = progress.clone();
                s.spawn(move || {
                    let mut tally = Tally::default();
                    let reply = reply_dir.join(format!("floor_{}_{t}", std::process::id()));
                    while let Some(seq) = next.take() {
                        let t0 = Instant::now();
                        let (outcome, error) = match cycle(fifo, &reply, seq, timeout) {
                            Ok(body) => check(&body, seq),
                            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                                (Outcome::Timeout, Some(e.to_string()))
                            }
                            Err(e) => (Outcome::Error, Some(e.to_string())),
                        };
                        let replied = matches!(outcome, Outcome::Ok | Outcome::Misrouted);
                        tally.record(outcome, replied.then(|| t0.elapsed()), error);
                        progress.tick(outcome != Outcome::Ok);
                    }
                    tally
                })
            })
            .collect();
        let mut total = Tally::default();
        for h in handles {
            total.merge(h.join().unwrap_or_default());
        }
        total
    });
    (tally, start.elapsed())
}

fn check(body: &[u8], seq: u64) -> (Outcome, Option<String>) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.get("id").and_then(serde_json::Value::as_u64) == Some(seq) => {
            if v.get("result").is_some() {
                (Outcome::Ok, None)
            } else {
                (
                    Outcome::Error,
                    Some(String::from_utf8_lossy(body).into_owned()),
                )
            }
        }
        Ok(v) => (
            Outcome::Misrouted,
            Some(format!("reply id {} for request id {seq}", v["id"])),
        ),
        Err(_) => (
            Outcome::Error,
            Some(format!("not JSON: {}", String::from_utf8_lossy(body))),
        ),
    }
}

/// One request/reply cycle: mkfifo, open (reply, then server), write, read, unlink.
pub fn cycle(fifo: &Path, reply: &Path, seq: u64, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    nix::unistd::mkfifo(reply, Mode::from_bits_truncate(0o600))?;
    let result = (|| {
        let mut r = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(reply)?;
        let name = reply
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let request = format!(r#":{name}:{{"jsonrpc":"2.0","method":"uptime","id":{seq}}}"#);
        {
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(fifo)?;
            w.write_all(request.as_bytes())?;
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        let mut writer_seen = false;
        loop {
            match r.read(&mut buf) {
                Ok(0) if writer_seen => return Ok(out),
                Ok(0) => {}
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    writer_seen = true;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply in time"));
            }
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(ms))?;
            // POLLIN or POLLHUP: a writer connected (before that Linux reports nothing).
            if fds[0].revents().is_some_and(|e| !e.is_empty()) {
                writer_seen = true;
            }
        }
    })();
    let _ = std::fs::remove_file(reply);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::load::Stop;

    #[test]
    fn the_floor_answers_every_request_with_its_own_id() {
        let dir = tempfile::tempdir().unwrap();
        let (tally, _) = run(
            dir.path(),
            4,
            Stop::Requests(400),
            Duration::from_secs(10),
            &Progress::hidden(),
        )
        .unwrap();
        assert_eq!(tally.requests, 400);
        assert_eq!(tally.ok, 400, "{:?}", tally.first_error);
        assert_eq!(tally.latencies_ns.len(), 400);
        // Nothing left behind: the private directory is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_responder_splits_concatenated_and_split_requests() {
        let b = br#" :a:{"id":1} :b:{"id":"x"}:c:{"id""#;
        let Parsed::Request { name, id, used } = next_request(b) else {
            panic!()
        };
        assert_eq!((name, id), (&b"a"[..], serde_json::json!(1)));
        let Parsed::Request { name, id, used: u2 } = next_request(&b[used..]) else {
            panic!()
        };
        assert_eq!((name, id), (&b"b"[..], serde_json::json!("x")));
        assert!(matches!(next_request(&b[used + u2..]), Parsed::Incomplete));
        assert!(matches!(next_request(b"xyz:a:{}"), Parsed::Garbage(3)));
        assert!(matches!(next_request(b"\0"), Parsed::Stop));
    }

    #[test]
    fn a_missing_server_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let e = cycle(
            &dir.path().join("none"),
            &dir.path().join("r"),
            1,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(!dir.path().join("r").exists());
    }
}
