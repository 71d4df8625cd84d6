//! Creating the gateway's TCP listener, optionally inside another network
//! namespace.
//!
//! A socket belongs to the network namespace of the thread that created it,
//! for its whole life. So `--netns` spawns one short-lived thread that joins
//! the target namespace with `setns(CLONE_NEWNET)` (only that thread
//! switches: network namespaces are per thread), binds, and hands the bound
//! std listener back. Every other thread — the tokio runtime, and with it
//! every FIFO open — stays in the gateway's own namespaces, so the FIFO is
//! reached through the gateway's mount namespace.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

/// Where a network namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netns {
    /// A name made by `ip netns add NAME`: `/run/netns/NAME`.
    Named(String),
    /// The namespace of a running process: `/proc/PID/ns/net`.
    Pid(u32),
}

impl Netns {
    /// Reads `NAME|PID` as given to `--netns`: all digits is a PID.
    pub fn parse(s: &str) -> Result<Netns, ListenError> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let pid = s
                .parse()
                .map_err(|_| ListenError::BadNetns(s.to_string()))?;
            return Ok(Netns::Pid(pid));
        }
        if s.is_empty() || s.contains('/') || s == "." || s == ".." {
            return Err(ListenError::BadNetns(s.to_string()));
        }
        Ok(Netns::Named(s.to_string()))
    }

    /// The namespace file to open.
    pub fn path(&self) -> PathBuf {
        match self {
            Netns::Named(n) => PathBuf::from("/run/netns").join(n),
            Netns::Pid(p) => PathBuf::from(format!("/proc/{p}/ns/net")),
        }
    }
}

/// Why the listener could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// `--netns` is neither a name nor a PID.
    #[error("invalid network namespace '{0}': expected a name made by 'ip netns add' or a PID")]
    BadNetns(String),
    /// The namespace file could not be opened.
    #[error("cannot open network namespace '{path}'")]
    OpenNetns {
        /// `/run/netns/NAME` or `/proc/PID/ns/net`.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `setns(CLONE_NEWNET)` failed (needs CAP_SYS_ADMIN).
    #[error("cannot enter network namespace '{path}' (setns needs CAP_SYS_ADMIN)")]
    Setns {
        /// The namespace file.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// bind/listen failed.
    #[error("cannot listen on '{addr}'{where_}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// ` in network namespace '…'` or empty.
        where_: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The binding thread died.
    #[error("the network-namespace thread failed unexpectedly")]
    Thread,
}

/// Binds `addr` (in `netns` when given) and returns a non-blocking std
/// listener ready for `tokio::net::TcpListener::from_std`.
pub fn bind(addr: SocketAddr, netns: Option<&Netns>) -> Result<TcpListener, ListenError> {
    let Some(ns) = netns else {
        return bind_here(addr, String::new());
    };
    let path = ns.path();
    let file = std::fs::File::open(&path).map_err(|source| ListenError::OpenNetns {
        path: path.clone(),
        source,
    })?;
    let where_ = format!(" in network namespace '{}'", path.display());
    // A dedicated thread: it alone switches namespaces and then exits, so no
    // pooled thread is ever left in the other namespace.
    std::thread::Builder::new()
        .name("mififo-netns".into())
        .spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|source| ListenError::Setns { path, source })?;
            bind_here(addr, where_)
        })
        .map_err(|_| ListenError::Thread)?
        .join()
        .map_err(|_| ListenError::Thread)?
}

fn bind_here(addr: SocketAddr, where_: String) -> Result<TcpListener, ListenError> {
    let bind_err = |source| ListenError::Bind {
        addr,
        where_: where_.clone(),
        source,
    };
    let l = TcpListener::bind(addr).map_err(bind_err)?;
    l.set_nonblocking(true).map_err(bind_err)?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_names_and_pids() {
        assert_eq!(Netns::parse("1234").unwrap(), Netns::Pid(1234));
        assert_eq!(
            Netns::parse("1234").unwrap().path(),
            PathBuf::from("/proc/1234/ns/net")
        );
        assert_eq!(
            Netns::parse("blue").unwrap().path(),
            PathBuf::from("/run/netns/blue")
        );
        for bad in ["", "a/b", "..", "."] {
            assert!(Netns::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn missing_namespace_is_named() {
        let e = bind(
            "127.0.0.1:0".parse().unwrap(),
            Some(&Netns::Named("mififo-test-does-not-exist".into())),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("'/run/netns/mififo-test-does-not-exist'"),
            "{e}"
        );
    }

    #[test]
    fn own_namespace_by_pid_binds() {
        // Entering our own namespace is allowed for root and a no-op; as a
        // non-root user setns fails with EPERM and the error says why.
        let ns = Netns::Pid(std::process::id());
        match bind("127.0.0.1:0".parse().unwrap(), Some(&ns)) {
            Ok(l) => assert!(l.local_addr().unwrap().port() != 0),
            Err(e) => assert!(e.to_string().contains("CAP_SYS_ADMIN"), "{e}"),
        }
    }
}
