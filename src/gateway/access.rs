//! Who may talk to the gateway: the bind policy (loopback unless
//! `--allow-remote`) and the client allow-list (`--allow IP|CIDR`).
//!
//! The MI can restart or reconfigure a production server, so the default is
//! the narrowest useful exposure.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Why an access setting was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum AccessError {
    /// A non-loopback listen address without `--allow-remote`.
    #[error(
        "refusing to listen on non-loopback address '{0}': the MI can restart the server; \
         pass --allow-remote (and --allow CLIENT) to expose it"
    )]
    NotLoopback(SocketAddr),
    /// An allow-list entry that is not `IP` or `IP/PREFIX`.
    #[error("invalid allow-list entry '{entry}': {reason}")]
    BadEntry {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Checks the bind policy: loopback only, unless `allow_remote`.
pub fn check_bind(addr: SocketAddr, allow_remote: bool) -> Result<(), AccessError> {
    if allow_remote || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(AccessError::NotLoopback(addr))
    }
}

/// One allow-list entry: an address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True when `ip` is inside the block. An IPv4-mapped IPv6 client
    /// (`::ffff:a.b.c.d`, seen on dual-stack sockets) matches IPv4 entries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = AccessError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| AccessError::BadEntry {
            entry: s.to_string(),
            reason,
        };
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = ip.parse().map_err(|_| bad("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| bad("prefix length out of range"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The client allow-list. Empty = every client that can connect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllowList(pub Vec<Cidr>);

impl AllowList {
    /// True when a client at `ip` may use the gateway.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|c| c.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bind_policy() {
        assert!(check_bind("127.0.0.1:0".parse().unwrap(), false).is_ok());
        assert!(check_bind("[::1]:80".parse().unwrap(), false).is_ok());
        let e = check_bind("0.0.0.0:8888".parse().unwrap(), false).unwrap_err();
        assert!(e.to_string().contains("'0.0.0.0:8888'"), "{e}");
        assert!(check_bind("192.0.2.1:8888".parse().unwrap(), false).is_err());
        assert!(check_bind("192.0.2.1:8888".parse().unwrap(), true).is_ok());
    }

    #[test]
    fn cidr_matching() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains(ip("192.0.2.77")));
        assert!(!c.contains(ip("192.0.3.1")));
        assert!(c.contains(ip("::ffff:192.0.2.9")));
        assert!(!c.contains(ip("2001:db8::1")));
        let host: Cidr = "10.1.2.3".parse().unwrap();
        assert!(host.contains(ip("10.1.2.3")));
        assert!(!host.contains(ip("10.1.2.4")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.5")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
    }

    #[test]
    fn bad_entries() {
        for s in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "host.example",
            "10.0.0.1/x",
        ] {
            let e = s.parse::<Cidr>().unwrap_err();
            assert!(e.to_string().contains(&format!("'{s}'")), "{e}");
        }
    }

    #[test]
    fn allow_list() {
        let open = AllowList::default();
        assert!(open.permits(ip("198.51.100.1")));
        let list = AllowList(vec![
            "127.0.0.1".parse().unwrap(),
            "192.0.2.0/25".parse().unwrap(),
        ]);
        assert!(list.permits(ip("127.0.0.1")));
        assert!(list.permits(ip("192.0.2.100")));
        assert!(!list.permits(ip("192.0.2.200")));
    }
}
