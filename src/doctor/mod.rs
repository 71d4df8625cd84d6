//! `mififo doctor`: explains exactly why a process cannot talk to the MI FIFO,
//! and how to fix it.
//!
//! Shape (after cargo-deny): [`checks`] read the system through one
//! [`view::SystemView`] and produce [`finding::Finding`]s with stable
//! [`code::Code`]s into a [`report::Report`]; [`render`] is the only code that
//! formats them. Nothing here prints. The kernel's decision is modelled in
//! [`model`]; [`probe`] confirms it with a real open in a child process that
//! takes the client's namespace and credentials.
//!
//! Facts: `linux-fifo-access.md` (kernel order, `/proc` formats, ACL xattr,
//! audit records, PrivateTmp signature).

pub mod audit;
pub mod checks;
pub mod code;
pub mod exchange;
pub mod finding;
#[cfg(test)]
pub(crate) mod fixture;
pub mod model;
pub mod net;
pub mod probe;
pub mod procfs;
pub mod render;
pub mod report;
pub mod subject;
pub mod unitfile;
pub mod userdb;
pub mod view;

pub use code::Code;
pub use finding::{Finding, Fix, Severity};
pub use report::{Report, Verdict};

use std::path::PathBuf;

/// How the client opens the FIFO (`--client-open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOpen {
    /// PHP `fopen($f, "w")`: `O_WRONLY|O_CREAT|O_TRUNC`.
    Php,
    /// Python `open(f, "w")`: `O_WRONLY|O_CREAT|O_TRUNC`.
    Python,
    /// `mififo call`: `O_WRONLY|O_NONBLOCK`.
    Mififo,
    /// opensipsctl/kamctl (shell `> fifo`): `O_WRONLY|O_CREAT|O_TRUNC`.
    Opensipsctl,
}

impl ClientOpen {
    /// All clients, for judging each when none was named.
    pub const ALL: [ClientOpen; 4] = [
        ClientOpen::Php,
        ClientOpen::Python,
        ClientOpen::Opensipsctl,
        ClientOpen::Mififo,
    ];

    /// Whether the client's open has `O_CREAT`.
    pub fn creat(self) -> bool {
        !matches!(self, ClientOpen::Mififo)
    }

    /// Name.
    pub fn name(self) -> &'static str {
        match self {
            ClientOpen::Php => "php",
            ClientOpen::Python => "python",
            ClientOpen::Mififo => "mififo",
            ClientOpen::Opensipsctl => "opensipsctl",
        }
    }

    /// The open flags as text.
    pub fn flags(self) -> &'static str {
        if self.creat() {
            "O_WRONLY|O_CREAT|O_TRUNC"
        } else {
            "O_WRONLY|O_NONBLOCK"
        }
    }
}

/// Who the client is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClientSpec {
    /// Detect web/PHP processes; else the invoking user.
    #[default]
    Auto,
    /// `--as USER`.
    User(String),
    /// `--pid PID` (repeatable).
    Pids(Vec<i32>),
    /// `--unit NAME`.
    Unit(String),
}

/// What to examine.
#[derive(Debug, Clone)]
pub struct Config {
    /// The FIFO path, byte for byte.
    pub fifo: PathBuf,
    /// The client(s).
    pub clients: ClientSpec,
    /// Server pids (empty: the readers of the FIFO).
    pub server_pids: Vec<i32>,
    /// The reply directory (default `/tmp/`).
    pub reply_dir: PathBuf,
    /// The client's open flags (`None`: judge every client kind).
    pub client_open: Option<ClientOpen>,
    /// Audit logs (`None`: `/var/log/audit/audit.log` and rotations).
    pub audit_logs: Option<Vec<PathBuf>>,
    /// php.ini / FPM pool files (`None`: the usual locations).
    pub php_ini: Option<Vec<PathBuf>>,
    /// Run the probe (only effective as root with a prober).
    pub probe: bool,
    /// Where selinuxfs is mounted.
    pub selinuxfs: PathBuf,
    /// The doctor's own pid (`None`: `/proc/self`).
    pub self_pid: Option<i32>,
    /// The user who invoked the doctor (e.g. `SUDO_USER`), the client of last resort.
    pub invoking_user: Option<String>,
    /// The same run as root (`sudo mififo doctor …`), shown when the doctor
    /// could not see everything with its own privileges.
    pub sudo_line: Option<String>,
    /// `--call METHOD`: one real exchange as the client, in its dialect.
    pub call: Option<CallSpec>,
    /// `--url URL`: examine the HTTP path to an MI endpoint instead of the FIFO.
    pub url: Option<String>,
}

/// `--call`: what to send and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSpec {
    /// The MI method.
    pub method: String,
    /// The client's dialect.
    pub dialect: crate::proto::Dialect,
    /// Timeout of the exchange.
    pub timeout: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            fifo: PathBuf::from("/tmp/opensips_fifo"),
            clients: ClientSpec::Auto,
            server_pids: Vec::new(),
            reply_dir: PathBuf::from("/tmp/"),
            client_open: None,
            audit_logs: None,
            php_ini: None,
            probe: true,
            selinuxfs: PathBuf::from("/sys/fs/selinux"),
            self_pid: None,
            invoking_user: None,
            sudo_line: None,
            call: None,
            url: None,
        }
    }
}

/// Errors that stop the doctor itself (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--as USER` names nobody.
    #[error("no user '{0}' in /etc/passwd")]
    UnknownUser(String),
    /// `--pid PID` names no readable process.
    #[error("cannot read process {pid}: '/proc/{pid}/status' is missing or unreadable")]
    NoProcess {
        /// The pid.
        pid: i32,
    },
    /// `--url` is not an http(s) URL.
    #[error("bad --url: {0}")]
    BadUrl(String),
    /// `--unit` matched no process.
    #[error("no running process belongs to unit '{0}' (looked in /proc/*/cgroup)")]
    EmptyUnit(String),
}

/// Runs every check and returns the report.
///
/// # Errors
/// Only when the named client does not exist; everything about the FIFO is a finding.
pub fn run(
    view: &dyn view::SystemView,
    cfg: &Config,
    prober: Option<&dyn probe::Prober>,
) -> Result<Report, Error> {
    match &cfg.url {
        Some(u) => checks::http::run(view, cfg, prober, u),
        None => checks::run(view, cfg, prober),
    }
}
