//! `mififo serve`: owns an MI FIFO and answers like OpenSIPS's `mi_fifo`.
//!
//! - [`run`] (in `serve.rs`): create the FIFO, drop privileges, read, frame,
//!   dispatch, recreate the FIFO when it disappears or on SIGHUP, unlink on exit.
//! - `dispatch`: one request → reply-name check → open the reply FIFO →
//!   [`Executor`] → print → write with a deadline (JSON and text dialects).
//! - [`command`]: the built-in commands, one file each, and [`command::Builtin`].
//! - [`commands_file`]: `--commands FILE` canned methods and statistics.
//! - [`params`]: OpenSIPS's parameter recipes and typed access.
//! - [`stats`]: the statistics store (the server counts itself in it).
//! - [`forward`]: `serve --forward URL`, an [`Executor`] relaying to an HTTP JSON-RPC MI.
//! - `privileges`: the `--user` drop; `pidfile`: `--pidfile`.
//! - [`fairness`]: waiting slots per reply FIFO (slow clients leave the common path).
//! - [`throttle`]: per-cause log aggregation (first line now, a summary per 10 s).

pub mod command;
pub mod commands_file;
pub mod core_stats;
mod dispatch;
pub mod embed;
pub mod fairness;
pub mod fault;
pub mod forward;
pub mod notify;
pub mod params;
mod pidfile;
mod privileges;
mod serve;
pub mod stats;
pub mod throttle;

pub use privileges::{resolve_group, Credentials, PrivilegeError};
pub use serve::run;

use crate::fifo::create::FifoSpec;
use crate::proto::jsonrpc::{Outcome, Request};
use crate::proto::Dialect;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use crate::error::chain as error_chain;

/// Answers validated JSON-RPC requests. The built-in commands implement it;
/// `serve --forward` replaces them with a relay to another server.
pub trait Executor: Send + Sync + 'static {
    /// Runs one request.
    fn execute<'a>(
        &'a self,
        req: &'a Request,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

    /// The parameter of `method` that takes an array (text dialect: every
    /// argument line goes into it, as 1.x `get_statistics dialog: tm:`).
    fn array_param(&self, _method: &str) -> Option<String> {
        None
    }
}

/// Everything `serve` needs.
#[derive(Clone)]
pub struct ServeConfig {
    /// The FIFO to create (path, mode, owner, group, ACL, force).
    pub fifo: FifoSpec,
    /// Where reply FIFOs live (a missing trailing `/` is added).
    pub reply_dir: PathBuf,
    /// The dialect spoken (`Json` or `Text`; `Kamailio` is refused).
    pub dialect: Dialect,
    /// Tab-indented replies (OpenSIPS `pretty_printing=1`).
    pub pretty: bool,
    /// Write our pid here (removed on exit).
    pub pidfile: Option<PathBuf>,
    /// Drop to these credentials after creating the FIFO.
    pub drop_to: Option<Credentials>,
    /// Extra methods and statistics.
    pub commands: Option<commands_file::CommandsFile>,
    /// Called once the FIFO exists and is being read (`sd_notify`,
    /// `--ready-file`, [`embed`]); after the privilege drop.
    pub on_ready: Option<Arc<dyn Fn() + Send + Sync>>,
    /// `--fault` rules: failures on demand for tests (none by default).
    pub faults: Vec<fault::Rule>,
    /// The OpenSIPS imitated: `version`, and the names `which` lists.
    pub opensips_version: command::OpenSipsVersion,
    /// Replaces the built-in commands (e.g. a forwarder). `None` = built-ins.
    pub executor: Option<Arc<dyn Executor>>,
    /// Requests handled at the same time (each waits for its reply FIFO).
    pub max_in_flight: usize,
    /// Deadline for writing one reply.
    pub reply_timeout: Duration,
    /// How often the FIFO path is checked (deleted/replaced → recreated).
    pub check_interval: Duration,
    /// Reassembly cap for one request.
    pub buffer_cap: usize,
    /// A partial request with no new bytes for this long is given up
    /// (JSON: answered with -32700 when its reply name is known).
    pub partial_timeout: Duration,
    /// How long the FIFO path may stay unservable (squatted, deleted and not
    /// recreatable) before the server exits with an error.
    pub give_up_after: Duration,
}

impl ServeConfig {
    /// Defaults for everything but the FIFO path: reply dir `/tmp/`, JSON,
    /// compact, 64 requests in flight, 5 s reply deadline, 250 ms check, 64 KiB
    /// cap, partial requests given up after 1 s of silence.
    pub fn new(fifo: impl Into<PathBuf>) -> ServeConfig {
        ServeConfig {
            fifo: FifoSpec::new(fifo),
            reply_dir: PathBuf::from("/tmp/"),
            dialect: Dialect::Json,
            pretty: false,
            pidfile: None,
            drop_to: None,
            commands: None,
            opensips_version: command::OpenSipsVersion::V3_6,
            faults: Vec::new(),
            on_ready: None,
            executor: None,
            max_in_flight: 64,
            reply_timeout: Duration::from_secs(5),
            check_interval: Duration::from_millis(250),
            buffer_cap: crate::proto::framing::DEFAULT_CAP,
            partial_timeout: Duration::from_secs(1),
            give_up_after: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("fifo", &self.fifo)
            .field("reply_dir", &self.reply_dir)
            .field("dialect", &self.dialect)
            .field("pretty", &self.pretty)
            .field("executor", &self.executor.as_ref().map(|_| "custom"))
            .finish_non_exhaustive()
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Creating the FIFO failed.
    #[error(transparent)]
    Create(#[from] crate::fifo::create::CreateError),
    /// The reply directory is not a directory.
    #[error("reply directory '{0}' does not exist or is not a directory")]
    ReplyDir(PathBuf),
    /// `serve` does not speak this dialect.
    #[error("serve speaks the 'json' (OpenSIPS 3.x/4.x) and 'text' (1.x/2.x) dialects; '{0}' is client-only (use 'mififo call --dialect kamailio' against a real Kamailio)")]
    Dialect(Dialect),
    /// Dropping privileges failed.
    #[error("cannot drop privileges to '{user}'")]
    Privileges {
        /// The target user.
        user: String,
        /// What failed.
        #[source]
        source: PrivilegeError,
    },
    /// Writing the pid file failed.
    #[error("cannot write pid file '{path}'")]
    Pidfile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The FIFO path could not be served (squatted, deleted and not
    /// recreatable) for the configured time.
    #[error("gave up: could not serve '{path}' for {} s: {reason}", after.as_secs_f64())]
    Unservable {
        /// The FIFO path.
        path: PathBuf,
        /// How long it was lost.
        after: Duration,
        /// The last reason.
        reason: String,
    },
    /// Other I/O (signal handlers, registering the FIFO with the runtime).
    #[error("cannot {op}")]
    Io {
        /// What we were doing.
        op: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
