//! Fake MI servers for client tests: a thread that reads the server FIFO,
//! hands each request to a handler, and writes whatever bytes the handler
//! chose to the reply FIFO (or nothing, slowly, in chunks, as another user…).
//! They exist to make the server misbehave in ways a real server will not.

use mififo::proto::Dialect;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the fake server parsed it.
#[derive(Debug, Clone)]
pub struct Req {
    /// The raw request bytes.
    pub raw: Vec<u8>,
    /// The reply FIFO name the client asked for.
    pub reply_name: String,
    /// JSON dialects: the request object.
    pub json: Option<Value>,
    /// Text dialect: the command and its argument lines.
    pub text: Option<(String, Vec<String>)>,
}

impl Req {
    /// The JSON-RPC id (JSON dialects).
    pub fn id(&self) -> Option<Value> {
        self.json.as_ref().and_then(|j| j.get("id").cloned())
    }
}

/// What the fake server does with a request.
pub enum Act {
    /// Open the reply FIFO, write these bytes in one go, close.
    Reply(Vec<u8>),
    /// Never open the reply FIFO.
    Silent,
    /// Wait, then do the inner action.
    Delay(Duration, Box<Act>),
    /// Open once, write each chunk with a pause between, close.
    Chunks(Vec<Vec<u8>>, Duration),
    /// Open the reply FIFO and keep it open this long without writing, then close.
    Hold(Duration),
    /// Write the reply into another directory (a server with another reply_dir).
    ReplyIn(PathBuf, Vec<u8>),
    /// Open once and write this chunk again and again until the reader is
    /// gone (EPIPE) or a minute passed: a reply that never ends.
    Endless(Vec<u8>),
}

/// Handler type.
pub type Handler = Arc<dyn Fn(&Req) -> Act + Send + Sync>;

/// A running fake server; stopped (and its FIFO removed) on drop.
pub struct Fake {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The server FIFO.
    pub fifo: PathBuf,
    /// Every request received, in order.
    pub requests: Arc<Mutex<Vec<Req>>>,
}

/// Options for a fake server.
pub struct FakeOpts {
    /// The dialect it parses.
    pub dialect: Dialect,
    /// Reply directory (name is appended as OpenSIPS does, after normalising the slash).
    pub reply_dir: PathBuf,
    /// Write replies with this filesystem uid (per-thread `setfsuid`), as a server running as that user would.
    pub writer_fsuid: Option<u32>,
}

impl Fake {
    /// Creates `fifo` (mode 0600 if missing) and serves it with `handler`.
    pub fn start(
        fifo: &Path,
        opts: FakeOpts,
        handler: impl Fn(&Req) -> Act + Send + Sync + 'static,
    ) -> Fake {
        if !fifo.exists() {
            nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        // O_RDWR: we are reader and keep-alive writer at once (never EOF).
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let opts = Arc::new(opts);
        let thread = {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    match file.read(&mut chunk) {
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                            use std::os::fd::AsFd;
                            let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
                            let _ = poll(&mut fds, PollTimeout::from(20u8));
                            continue;
                        }
                        Err(e) => panic!("fake server read: {e}"),
                    }
                    while let Some((req, used)) = parse(opts.dialect, &buf) {
                        buf.drain(..used);
                        if req.json.is_none() && req.text.is_none() {
                            continue; // junk, dropped
                        }
                        requests.lock().unwrap().push(req.clone());
                        let act = handler(&req);
                        let opts = opts.clone();
                        std::thread::spawn(move || perform(act, &req, &opts));
                    }
                }
            })
        };
        Fake {
            stop,
            thread: Some(thread),
            fifo: fifo.to_path_buf(),
            requests,
        }
    }

    /// Number of requests received so far.
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.fifo);
    }
}

fn skip_ws(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_whitespace()).count()
}

/// Parses one complete request at the start of `b`; `None` if incomplete.
fn parse(dialect: Dialect, b: &[u8]) -> Option<(Req, usize)> {
    let start = skip_ws(b);
    let b0 = &b[start..];
    match dialect {
        Dialect::Json => {
            let Some(rest) = b0.strip_prefix(b":") else {
                // OpenSIPS: "command must begin with ':'", the read is dropped.
                return (!b0.is_empty()).then(|| (junk(b), b.len()));
            };
            let colon = rest.iter().position(|&c| c == b':')?;
            let name = String::from_utf8_lossy(&rest[..colon]).into_owned();
            let body = &rest[colon + 1..];
            let mut it = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
            let v = match it.next()? {
                Ok(v) => v,
                Err(e) if e.is_eof() => return None,
                // Not JSON: dropped with the rest of the buffer, as OpenSIPS
                // drops a read that does not parse.
                Err(_) => return Some((junk(b), b.len())),
            };
            let used = start + 1 + colon + 1 + it.byte_offset();
            Some((
                Req {
                    raw: b[start..used].to_vec(),
                    reply_name: name,
                    json: Some(v),
                    text: None,
                },
                used,
            ))
        }
        Dialect::Kamailio => {
            let mut it = serde_json::Deserializer::from_slice(b0).into_iter::<Value>();
            let v = match it.next()? {
                Ok(v) => v,
                Err(e) if e.is_eof() => return None,
                Err(_) => return Some((junk(b), b.len())),
            };
            let used = start + it.byte_offset();
            let name = v.get("reply_name")?.as_str()?.to_string();
            Some((
                Req {
                    raw: b[start..used].to_vec(),
                    reply_name: name,
                    json: Some(v),
                    text: None,
                },
                used,
            ))
        }
        Dialect::Text => {
            let end = b0.windows(2).position(|w| w == b"\n\n")? + 2;
            let text = String::from_utf8_lossy(&b0[..end]).into_owned();
            let mut lines = text.lines();
            let first = lines.next()?.strip_prefix(':')?;
            let (cmd, name) = first.split_once(':')?;
            let args = lines
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            Some((
                Req {
                    raw: b0[..end].to_vec(),
                    reply_name: name.to_string(),
                    json: None,
                    text: Some((cmd.to_string(), args)),
                },
                start + end,
            ))
        }
    }
}

/// Bytes that are no request of the fake's dialect (dropped, not answered).
fn junk(b: &[u8]) -> Req {
    Req {
        raw: b.to_vec(),
        reply_name: String::new(),
        json: None,
        text: None,
    }
}

fn reply_path(dir: &Path, name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/{name}",
        dir.display().to_string().trim_end_matches('/')
    ))
}

/// Opens the reply FIFO as OpenSIPS does: `O_WRONLY|O_NONBLOCK`, 5 tries 80 ms apart on ENXIO.
fn open_reply(path: &Path) -> Option<std::fs::File> {
    for _ in 0..5 {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => {
                // Blocking from here on, like OpenSIPS ("we want server blocking for big writes").
                let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
                let fl = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).unwrap();
                let mut flags = nix::fcntl::OFlag::from_bits_truncate(fl);
                flags.remove(nix::fcntl::OFlag::O_NONBLOCK);
                nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
                return Some(f);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                std::thread::sleep(Duration::from_millis(80))
            }
            Err(_) => return None,
        }
    }
    None
}

fn perform(act: Act, req: &Req, opts: &FakeOpts) {
    if let Some(uid) = opts.writer_fsuid {
        // Per-thread on Linux; also drops CAP_DAC_OVERRIDE from this thread.
        nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
    }
    perform_inner(act, &reply_path(&opts.reply_dir, &req.reply_name));
}

fn perform_inner(act: Act, path: &Path) {
    match act {
        Act::Silent => {}
        Act::Delay(d, inner) => {
            std::thread::sleep(d);
            perform_inner(*inner, path)
        }
        Act::Reply(bytes) => {
            if let Some(mut f) = open_reply(path) {
                let _ = f.write_all(&bytes);
            }
        }
        Act::Chunks(chunks, pause) => {
            if let Some(mut f) = open_reply(path) {
                for c in chunks {
                    let _ = f.write_all(&c);
                    std::thread::sleep(pause);
                }
            }
        }
        Act::Hold(d) => {
            if let Some(f) = open_reply(path) {
                std::thread::sleep(d);
                drop(f);
            }
        }
        Act::Endless(chunk) => {
            if let Some(mut f) = open_reply(path) {
                let until = std::time::Instant::now() + Duration::from_secs(60);
                while std::time::Instant::now() < until && f.write_all(&chunk).is_ok() {}
            }
        }
        Act::ReplyIn(dir, bytes) => {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            perform_inner(Act::Reply(bytes), &reply_path(&dir, &name));
        }
    }
}

/// An OpenSIPS-3.x-like handler: `{"jsonrpc":"2.0","result":{"method":M,"params":P},"id":ID}`;
/// notifications get an empty reply (opened and closed).
pub fn echo(req: &Req) -> Act {
    let j = req.json.as_ref().expect("JSON dialect");
    let result =
        json!({"method": j["method"], "params": j.get("params").cloned().unwrap_or(Value::Null)});
    match req.id() {
        None if j.get("reply_name").is_none() => Act::Reply(Vec::new()),
        id => Act::Reply(
            json!({"jsonrpc": "2.0", "result": result, "id": id.unwrap_or(Value::Null)})
                .to_string()
                .into_bytes(),
        ),
    }
}

/// A JSON-RPC reply carrying `result` for `req`.
pub fn result_for(req: &Req, result: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "result": result, "id": req.id()})
        .to_string()
        .into_bytes()
}

/// A JSON-RPC error reply for `req`.
pub fn error_for(req: &Req, code: i64, message: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": req.id()})
        .to_string()
        .into_bytes()
}

/// Options for a JSON (or other) dialect fake replying into `reply_dir`.
pub fn opts(dialect: Dialect, reply_dir: &Path) -> FakeOpts {
    FakeOpts {
        dialect,
        reply_dir: reply_dir.to_path_buf(),
        writer_fsuid: None,
    }
}

/// A fake server on the env's FIFO that writes replies into the env's dir.
pub fn fake(
    env: &crate::util::TestEnv,
    dialect: Dialect,
    h: impl Fn(&Req) -> Act + Send + Sync + 'static,
) -> Fake {
    Fake::start(&env.fifo(), opts(dialect, env.dir.path()), h)
}

/// Waits (30 s at most) until a client has made its `mififo_reply_*` FIFO in `dir`.
pub fn wait_for_reply_fifo(dir: &Path) {
    assert!(
        crate::util::wait_until(std::time::Duration::from_secs(30), || {
            !entries_with_prefix(dir, "mififo_reply_").is_empty()
        }),
        "reply FIFO never appeared"
    );
}

/// Entries in `dir` (to prove nothing is left behind).
pub fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Names in `dir` starting with `prefix`.
pub fn entries_with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}
