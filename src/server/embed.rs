//! The stand-in inside a Rust test: a builder starts `serve` on its own
//! thread in a private directory; the handle gives the FIFO path and the reply
//! directory and stops the server (and removes the directory) when dropped.
//!
//! It is the same server as `mififo serve`, in your process: it installs a
//! SIGHUP handler (SIGHUP then recreates its FIFO instead of ending the test
//! process), and the `die` fault rule exits the whole process, so use `die`
//! with the `mififo serve` binary instead.
//!
//! ```
//! use mififo::client::{Client, ClientConfig, ReplyKind};
//! use mififo::proto::jsonrpc::{Outcome, Params};
//! use mififo::server::embed::StandIn;
//!
//! let server = StandIn::builder()
//!     .fault("version=garbage".parse().unwrap())
//!     .start()
//!     .expect("stand-in started");
//! let client = Client::new(ClientConfig {
//!     fifo: server.fifo().to_path_buf(),
//!     reply_dir: server.reply_dir().to_path_buf(),
//!     ..ClientConfig::default()
//! });
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let reply = rt.block_on(client.call("get_statistics", Params::Positional(vec![
//!     serde_json::json!(["shmem:"]),
//! ]))).unwrap();
//! let ReplyKind::Json(r) = reply.kind else { panic!("not JSON") };
//! let Outcome::Result(stats) = r.outcome else { panic!("an error") };
//! assert!(stats["shmem:used_size"].as_i64().unwrap() > 0);
//! // The fault rule: `version` answers with plain text.
//! let reply = rt.block_on(client.call("version", Params::None)).unwrap();
//! assert_eq!(reply.kind, ReplyKind::Text("failed to print response".into()));
//! let fifo = server.fifo().to_path_buf();
//! drop(server); // stops the server, removes its directory
//! assert!(!fifo.exists());
//! ```

use super::command::OpenSipsVersion;
use super::commands_file::CommandsFile;
use super::fault::Rule;
use super::{Error, ServeConfig};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Starts a stand-in ([`StandIn::builder`]).
#[derive(Debug, Default)]
pub struct Builder {
    commands: Option<CommandsFile>,
    faults: Vec<Rule>,
    version: OpenSipsVersion,
    dir: Option<PathBuf>,
}

/// A running stand-in; dropping it stops the server and removes its private
/// directory (the FIFO and whatever reply FIFOs are left in it).
#[derive(Debug)]
pub struct StandIn {
    dir: PathBuf,
    owned_dir: bool,
    fifo: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

/// Why the stand-in did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The private directory could not be made.
    #[error("cannot create the stand-in's directory '{path}'")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server refused to start.
    #[error(transparent)]
    Serve(#[from] Error),
    /// The server thread or runtime failed.
    #[error("the stand-in's thread failed: {0}")]
    Thread(String),
}

impl StandIn {
    /// A builder with the defaults of `mififo serve` (3.6, no commands file, no faults).
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The server FIFO (`fifo_name`).
    pub fn fifo(&self) -> &Path {
        &self.fifo
    }

    /// The reply directory clients must use (`reply_dir`), with a trailing `/`.
    pub fn reply_dir(&self) -> &Path {
        &self.dir
    }
}

impl Builder {
    /// Extra methods and statistics, as `serve --commands`.
    pub fn commands(mut self, file: CommandsFile) -> Builder {
        self.commands = Some(file);
        self
    }

    /// A `--fault` rule (repeatable; first match wins).
    pub fn fault(mut self, rule: Rule) -> Builder {
        self.faults.push(rule);
        self
    }

    /// The OpenSIPS imitated (`--opensips-version`).
    pub fn opensips_version(mut self, v: OpenSipsVersion) -> Builder {
        self.version = v;
        self
    }

    /// Serve in `dir` (FIFO `dir/opensips_fifo`, replies in `dir/`) instead of
    /// a fresh private directory; `dir` must exist and is left in place on drop.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.dir = Some(dir.into());
        self
    }

    /// Starts the server on its own thread and returns once its FIFO is
    /// being read.
    ///
    /// # Errors
    /// [`StartError`] when the directory, the FIFO or the thread fail.
    pub fn start(self) -> Result<StandIn, StartError> {
        let (dir, owned_dir) = match self.dir {
            Some(d) => (d, false),
            None => {
                let d = std::env::temp_dir().join(format!(
                    "mififo-standin-{}-{:016x}",
                    std::process::id(),
                    fastrand::u64(..)
                ));
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&d)
                    .map_err(|source| StartError::Dir {
                        path: d.clone(),
                        source,
                    })?;
                (d, true)
            }
        };
        let mut dir_slash = dir.clone().into_os_string();
        dir_slash.push("/");
        let dir = PathBuf::from(dir_slash);
        let fifo = dir.join("opensips_fifo");
        let mut cfg = ServeConfig::new(&fifo);
        cfg.reply_dir = dir.clone();
        cfg.commands = self.commands;
        cfg.faults = self.faults;
        cfg.opensips_version = self.version;
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<()>(1);
        cfg.on_ready = Some(Arc::new(move || {
            let _ = ready_tx.try_send(());
        }));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("mififo-standin".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(|source| Error::Io {
                        op: "start the stand-in's runtime".into(),
                        source,
                    })?;
                rt.block_on(super::run(cfg, async move {
                    let _ = stop_rx.await;
                }))
            })
            .map_err(|e| StartError::Thread(e.to_string()))?;
        let mut standin = StandIn {
            dir,
            owned_dir,
            fifo,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(()) => return Ok(standin),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if standin.thread.as_ref().is_some_and(|t| t.is_finished()) {
                        break;
                    }
                }
            }
        }
        // The server stopped before it was ready: report why.
        let t = standin.thread.take().expect("thread");
        match t.join() {
            Ok(Err(e)) => Err(StartError::Serve(e)),
            Ok(Ok(())) => Err(StartError::Thread("stopped before it was ready".into())),
            Err(_) => Err(StartError::Thread("panicked".into())),
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if self.owned_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_directory_is_reported_not_hung_on() {
        let e = StandIn::builder()
            .dir("/nonexistent/mififo-standin")
            .start()
            .unwrap_err();
        assert!(matches!(e, StartError::Serve(Error::ReplyDir(_))), "{e:?}");
    }

    #[test]
    fn two_stand_ins_side_by_side_then_gone() {
        let a = StandIn::builder().start().unwrap();
        let b = StandIn::builder().start().unwrap();
        assert_ne!(a.fifo(), b.fifo());
        use std::os::unix::fs::FileTypeExt;
        for s in [&a, &b] {
            assert!(std::fs::metadata(s.fifo()).unwrap().file_type().is_fifo());
        }
        let dir = a.reply_dir().to_path_buf();
        drop(a);
        assert!(!dir.exists());
        assert!(b.fifo().exists());
    }
}
