//! The HTTP path to an MI endpoint (`mififo doctor --url`): network
//! namespaces, listening sockets and one real HTTP exchange.
//!
//! Facts, all from `/proc` (readable by anyone except other users' fds):
//! - a process's network namespace: the inode of `/proc/PID/ns/net`;
//! - the TCP sockets of a namespace: `/proc/PID/net/tcp` and `tcp6` of any
//!   process in it (`st` `0A` = LISTEN; addresses are hex in host byte order
//!   per 32-bit word);
//! - which process owns a listening socket: an fd whose link is
//!   `socket:[INODE]` (root needed for other users' processes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use super::view::SystemView;

/// A parsed `http[s]://HOST[:PORT]/PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https`.
    pub tls: bool,
    /// Host as written (brackets removed for IPv6).
    pub host: String,
    /// Port (default 80/443).
    pub port: u16,
    /// Path (default `/`).
    pub path: String,
}

impl Url {
    /// Parses the URL.
    ///
    /// # Errors
    /// A message for anything but `http://` / `https://` with a host.
    pub fn parse(s: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!(
                "'{s}': only http:// and https:// URLs are supported"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r
                .split_once(']')
                .ok_or_else(|| format!("'{s}': unclosed '['"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("'{s}': no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("'{s}': bad port '{p}'"))?,
            None if tls => 443,
            None => 80,
        };
        Ok(Url {
            tls,
            host,
            port,
            path,
        })
    }

    /// The addresses the host names (IP literal, `localhost`, else the resolver).
    pub fn addrs(&self) -> Vec<IpAddr> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return vec![ip];
        }
        if self.host == "localhost" {
            return vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ];
        }
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip()).collect())
            .unwrap_or_default()
    }
}

/// One LISTEN socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Bound address (`0.0.0.0`/`::` = any).
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Socket inode.
    pub inode: u64,
    /// Network namespace inode.
    pub netns: u64,
}

impl Listener {
    /// Would a connection to `to` reach this socket (same namespace assumed)?
    pub fn accepts(&self, to: IpAddr) -> bool {
        match (self.addr, to) {
            (a, b) if a == b => true,
            (IpAddr::V4(a), _) if a.is_unspecified() => to.is_ipv4(),
            // A `::` socket (without IPV6_V6ONLY, the default) takes IPv4 too.
            (IpAddr::V6(a), _) if a.is_unspecified() => true,
            (IpAddr::V6(a), IpAddr::V4(b)) => a.to_ipv4_mapped() == Some(b),
            _ => false,
        }
    }
}

fn hex_ip4(h: &str) -> Option<IpAddr> {
    let v = u32::from_str_radix(h, 16).ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(v.swap_bytes())))
}

fn hex_ip6(h: &str) -> Option<IpAddr> {
    if h.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for w in 0..4 {
        let v = u32::from_str_radix(&h[w * 8..w * 8 + 8], 16).ok()?;
        b[w * 4..w * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    Some(IpAddr::V6(Ipv6Addr::from(b)))
}

/// LISTEN sockets in `/proc/net/tcp{,6}` text.
pub fn parse_tcp(text: &str, v6: bool, netns: u64) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                return None;
            }
            let (a, p) = f[1].split_once(':')?;
            let addr = if v6 { hex_ip6(a)? } else { hex_ip4(a)? };
            Some(Listener {
                addr,
                port: u16::from_str_radix(p, 16).ok()?,
                inode: f[9].parse().ok()?,
                netns,
            })
        })
        .collect()
}

/// The network namespace inode of `pid` (`None`: gone or hidden).
pub fn netns_of(view: &dyn SystemView, pid: i32) -> Option<u64> {
    let l = view
        .read_link(Path::new(&format!("/proc/{pid}/ns/net")))
        .ok()?;
    super::procfs::parse_ns_link(&l.to_string_lossy())
}

/// Every namespace that one of `pids` is in: `(netns, first such pid)`.
pub fn namespaces_of(view: &dyn SystemView, pids: &[i32]) -> Vec<(u64, i32)> {
    let ns = super::procfs::par_map(pids, |p| netns_of(view, p).map(|n| (n, p)));
    let mut out: Vec<(u64, i32)> = Vec::new();
    for (n, p) in ns.into_iter().flatten() {
        if !out.iter().any(|(m, _)| *m == n) {
            out.push((n, p));
        }
    }
    out
}

/// LISTEN sockets on `port` in the namespace that `pid` is in.
pub fn listeners_of(view: &dyn SystemView, pid: i32, netns: u64, port: u16) -> Vec<Listener> {
    let mut out = Vec::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        if let Ok(t) = view.read_tcp_listeners(Path::new(&format!("/proc/{pid}/net/{file}"))) {
            out.extend(
                parse_tcp(&t, v6, netns)
                    .into_iter()
                    .filter(|l| l.port == port),
            );
        }
    }
    out
}

/// What one HTTP exchange gave.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum HttpOutcome {
    /// An HTTP answer.
    Status {
        /// Status code.
        status: u16,
        /// `WWW-Authenticate` when present.
        auth: Option<String>,
        /// The start of the body.
        body: String,
        /// Our local address (what the server saw as the client).
        local: String,
    },
    /// The server answered TLS to plain HTTP, or plain HTTP to a TLS URL.
    TlsMismatch {
        /// What was seen.
        detail: String,
    },
    /// `connect()` failed.
    Connect {
        /// errno text.
        detail: String,
        /// errno.
        errno: i32,
    },
    /// Connected, but no answer in time.
    NoAnswer {
        /// Detail.
        detail: String,
    },
    /// An https URL with a server speaking TLS: beyond TCP needs a TLS client.
    TlsOnly {
        /// Our local address.
        local: String,
    },
}

/// POSTs a JSON-RPC `method` to `url` from the current network namespace.
pub fn exchange(url: &Url, method: &str, timeout: Duration) -> HttpOutcome {
    use std::io::{Read, Write};
    let addrs = url.addrs();
    let Some(ip) = addrs.first().copied() else {
        return HttpOutcome::Connect {
            detail: format!("cannot resolve '{}'", url.host),
            errno: 0,
        };
    };
    let mut s = match TcpStream::connect_timeout(&SocketAddr::new(ip, url.port), timeout) {
        Ok(s) => s,
        Err(e) => {
            return HttpOutcome::Connect {
                errno: e.raw_os_error().unwrap_or(0),
                detail: e.to_string(),
            }
        }
    };
    let local = s
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let body = format!(
        "{{\"jsonrpc\":\"2.0\",\"method\":{},\"id\":1}}",
        serde_json::Value::from(method)
    );
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: {host}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        url.path,
        url.port,
        body.len()
    );
    if let Err(e) = s.write_all(req.as_bytes()) {
        return HttpOutcome::NoAnswer {
            detail: e.to_string(),
        };
    }
    // At most 64 KiB and `timeout` in total: a server that drips a byte at a
    // time cannot hold the doctor (each read gets only what is left).
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 64 * 1024 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if buf.is_empty() {
        return HttpOutcome::NoAnswer {
            detail: "the connection closed (or timed out) without an answer".into(),
        };
    }
    // A TLS record (alert/handshake: 0x15/0x16, version 3.x) answering plain text.
    let tls_record = buf.len() >= 3 && matches!(buf[0], 0x15 | 0x16) && buf[1] == 3;
    if tls_record {
        return if url.tls {
            HttpOutcome::TlsOnly { local }
        } else {
            HttpOutcome::TlsMismatch {
                detail: "the server answered with a TLS record: it expects https".into(),
            }
        };
    }
    let text = String::from_utf8_lossy(&buf);
    let Some(status) = text
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse::<u16>().ok())
    else {
        return HttpOutcome::NoAnswer {
            detail: format!(
                "not an HTTP answer: {}",
                crate::term::line(&text.chars().take(80).collect::<String>()).into_owned()
            ),
        };
    };
    if url.tls {
        return HttpOutcome::TlsMismatch {
            detail: format!(
                "the URL says https, but the server answers plain HTTP (status {status})"
            ),
        };
    }
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let auth = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("www-authenticate").then(|| {
            crate::term::line(&v.trim().chars().take(200).collect::<String>()).into_owned()
        })
    });
    HttpOutcome::Status {
        status,
        auth,
        body: crate::term::line(&body.chars().take(300).collect::<String>()).into_owned(),
        local,
    }
}

/// Enters the network namespace of `pid` (single-threaded child only).
///
/// # Errors
/// A message when setns fails.
pub fn enter_netns(pid: i32) -> Result<(), String> {
    use nix::sched::{setns, CloneFlags};
    use std::os::fd::AsFd;
    let own = std::fs::read_link("/proc/self/ns/net").ok();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
    if own == theirs {
        return Ok(());
    }
    let f = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| format!("open /proc/{pid}/ns/net: {e}"))?;
    setns(f.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns(net of pid {pid}): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8888/mi").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (false, "127.0.0.1", 8888, "/mi")
        );
        let u = Url::parse("https://[::1]/x").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 443));
        assert!(Url::parse("ftp://x").is_err());
        assert_eq!(Url::parse("http://localhost").unwrap().path, "/");
    }

    #[test]
    fn peer_text_cannot_reach_the_terminal() {
        assert_eq!(crate::term::line("ok\x1b[2Jx\n"), "ok\\x1b[2Jx\\x0a");
    }

    /// A peer that drips one byte at a time for 20 s does not hold the
    /// exchange past its total limit (3 s here).
    #[test]
    fn a_dripping_server_is_bounded_by_one_deadline() {
        use std::io::Write;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
            for _ in 0..400 {
                if stop2.load(std::sync::atomic::Ordering::Relaxed) || s.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let url = Url::parse(&format!("http://127.0.0.1:{port}/mi")).unwrap();
        let t0 = std::time::Instant::now();
        let o = exchange(&url, "version", Duration::from_secs(3));
        let took = t0.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = t.join();
        assert!(took < Duration::from_secs(15), "held for {took:?}");
        assert!(
            matches!(o, HttpOutcome::Status { status: 200, .. }),
            "{o:?}"
        );
    }

    #[test]
    fn proc_net_tcp_listeners() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:22B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:22B8 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 12346 1\n";
        let l = parse_tcp(v4, false, 7);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(l[0].port, 8888);
        assert_eq!(l[0].inode, 12345);
        let v6 = "  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1\n";
        let l = parse_tcp(v6, true, 7);
        assert_eq!(l[0].addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(l[0].port, 8080);
        assert!(l[0].accepts(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert!(!l[0].accepts(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let any = Listener {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 1,
            inode: 1,
            netns: 1,
        };
        assert!(any.accepts("10.1.2.3".parse().unwrap()));
    }
}
