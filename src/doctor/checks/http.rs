//! `mififo doctor --url http://HOST:PORT/PATH`: why a client (a PHP panel,
//! opensips-cli over http) cannot reach an HTTP MI endpoint (mi_http or
//! `mififo gateway`).
//!
//! Per client, in order: its network namespace against the listeners of
//! every namespace (`/proc/PID/net/tcp{,6}`, one process per namespace) —
//! no listener, another namespace, another bound address; its unit's
//! `PrivateNetwork=`/`IPAddressDeny=`/`RestrictAddressFamilies=`; SELinux
//! `httpd_can_network_connect` for an `httpd_t` client; then one real HTTP
//! POST from the client's namespace (the probe child does `setns`) —
//! refused, unreachable, 403 (the gateway's `--allow`), 401, TLS mismatch.
//! When the endpoint is a `mififo gateway`, the FIFO leg behind it is then
//! examined as usual, with the gateway process as the client.

use super::{new_ctx, resolve_clients, Ctx};
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use crate::doctor::net::{self, HttpOutcome, Listener, Url};
use crate::doctor::probe::Prober;
use crate::doctor::subject::Subject;
use crate::doctor::view::SystemView;
use crate::doctor::{Config, Error, Report};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A listener with what is known about its owner.
#[derive(Debug, Clone)]
struct Endpoint {
    l: Listener,
    pid: Option<i32>,
    comm: String,
    args: Vec<String>,
}

impl Endpoint {
    fn is_gateway(&self) -> bool {
        self.comm == "mififo" && self.args.iter().skip(1).any(|a| a == "gateway")
    }
    fn describe(&self) -> String {
        let who = match self.pid {
            Some(p) => format!(
                "{} pid {p}",
                if self.is_gateway() {
                    "mififo gateway".to_string()
                } else {
                    self.comm.clone()
                }
            ),
            None => "a process the doctor cannot see (root needed)".into(),
        };
        format!(
            "{who} on {} (net:[{}])",
            sock(self.l.addr, self.l.port),
            self.l.netns
        )
    }
    fn flag(&self, name: &str) -> Vec<String> {
        let eq = format!("{name}=");
        let mut out = Vec::new();
        for (i, a) in self.args.iter().enumerate() {
            if a == name {
                if let Some(v) = self.args.get(i + 1) {
                    out.push(v.clone());
                }
            } else if let Some(v) = a.strip_prefix(&eq) {
                out.push(v.to_string());
            }
        }
        out
    }
}

fn sock(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V6(_) => format!("[{a}]:{port}"),
        IpAddr::V4(_) => format!("{a}:{port}"),
    }
}

fn args_of(view: &dyn SystemView, pid: i32) -> Vec<String> {
    view.read(Path::new(&format!("/proc/{pid}/cmdline")))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Runs the URL checks.
///
/// # Errors
/// A bad URL, or a client that does not exist.
pub fn run(
    view: &dyn SystemView,
    cfg: &Config,
    prober: Option<&dyn Prober>,
    url_text: &str,
) -> Result<Report, Error> {
    let url = Url::parse(url_text).map_err(Error::BadUrl)?;
    let mut ctx = new_ctx(view, cfg, prober);
    ctx.report.fifo = url_text.to_string();
    resolve_clients(&mut ctx)?;
    ctx.report.clients = ctx.clients.iter().map(|c| c.name.clone()).collect();

    // Every namespace's listeners on the port, and who owns them.
    let own_ns = ctx.me.as_ref().and_then(|m| net::netns_of(view, m.pid));
    // One pass over every process's fds, before the exchange: the socket
    // owners now, the FIFO leg's holders (behind a gateway) later. Only a
    // process holding a socket (or whose fds are hidden) can own a listener,
    // so only those are asked for their network namespace (a readlink of
    // /proc/PID/ns/net for every process was a seventh of a run's CPU).
    let snap = crate::doctor::subject::FdSnapshot::take(view);
    let mut listeners: Vec<Listener> = Vec::new();
    let mut asked = snap.socket_holders();
    // The doctor's own namespace always (an in-kernel listener there).
    asked.extend(ctx.me.as_ref().map(|m| m.pid));
    for (ns, pid) in net::namespaces_of(view, &asked) {
        listeners.extend(net::listeners_of(view, pid, ns, url.port));
    }
    let inodes: Vec<u64> = listeners.iter().map(|l| l.inode).collect();
    let fds = (!inodes.is_empty()).then_some(snap);
    let owners = fds
        .as_ref()
        .map(|s| s.socket_owners(&inodes))
        .unwrap_or_default();
    let endpoints: Vec<Endpoint> = listeners
        .into_iter()
        .map(|l| {
            let pid = owners.iter().find(|(_, i)| *i == l.inode).map(|(p, _)| *p);
            let comm = pid
                .and_then(|p| crate::doctor::procfs::comm(view, p))
                .unwrap_or_default();
            let args = pid.map(|p| args_of(view, p)).unwrap_or_default();
            Endpoint { l, pid, comm, args }
        })
        .collect();
    if endpoints.iter().any(|e| e.pid.is_none()) && ctx.unprivileged {
        ctx.hide("which process owns the listening socket (other users' /proc/PID/fd)");
    }
    let shown: Vec<String> = endpoints.iter().map(Endpoint::describe).collect();
    ctx.report.servers = shown.clone();
    ctx.line(
        "listeners",
        if endpoints.is_empty() {
            Status::Problem
        } else {
            Status::Ok
        },
        if endpoints.is_empty() {
            format!(
                "nothing listens on TCP port {} in any network namespace",
                url.port
            )
        } else {
            shown.join("; ")
        },
    );
    let addrs = url.addrs();
    if addrs.is_empty() {
        ctx.line(
            "url host",
            Status::Problem,
            format!("'{}' does not resolve", url.host),
        );
    }
    let method = cfg
        .call
        .as_ref()
        .map_or("version", |c| c.method.as_str())
        .to_string();
    let mut gateway: Option<Endpoint> = None;
    for c in ctx.clients.clone() {
        let ns = c.pid().and_then(|p| net::netns_of(view, p)).or(own_ns);
        let (explained, pending) = check_client(&mut ctx, &c, ns, &url, &addrs, &endpoints);
        // The endpoint the client reaches: in its own namespace, else one bound to
        // the URL's address elsewhere (reached through a veth or a route).
        let accepts = |e: &&Endpoint| addrs.iter().any(|a| e.l.accepts(*a));
        let mut mine: Vec<&Endpoint> = endpoints
            .iter()
            .filter(|e| Some(e.l.netns) == ns)
            .filter(accepts)
            .collect();
        if mine.is_empty() {
            mine = endpoints
                .iter()
                .filter(|e| !e.l.addr.is_loopback() && !e.l.addr.is_unspecified())
                .filter(accepts)
                .collect();
        }
        if let Some(g) = mine.iter().find(|e| e.is_gateway()) {
            gateway = Some((*g).clone());
        }
        exchange(
            &mut ctx,
            &c,
            ns,
            own_ns,
            &url,
            &method,
            explained,
            pending,
            mine.first().copied(),
        );
    }
    let comms = ctx.comms.clone();
    let mut report = conclude(ctx);
    // The FIFO leg behind a mififo gateway: the gateway is the FIFO's client.
    if let Some(g) = gateway.filter(|g| g.pid.is_some()) {
        let fifo = g.flag("--fifo").pop();
        let reply = g.flag("--reply-dir").pop();
        if let Some(fifo) = fifo {
            let sub = Config {
                fifo: PathBuf::from(fifo),
                reply_dir: PathBuf::from(reply.unwrap_or_else(|| "/tmp/".into())),
                clients: crate::doctor::ClientSpec::Pids(vec![g.pid.unwrap_or_default()]),
                url: None,
                call: None,
                ..cfg.clone()
            };
            if let Ok(leg) = super::run_with_comms(view, &sub, prober, comms, fds) {
                for mut l in leg.checks {
                    l.name = format!("fifo leg: {}", l.name);
                    report.checks.push(l);
                }
                for f in leg.findings {
                    if f.code != Code::AccessOk {
                        report.findings.push(f);
                    }
                }
            }
        }
    }
    Ok(report)
}

fn conclude(ctx: Ctx<'_>) -> Report {
    let mut r = ctx.report;
    if !r.needs_root.is_empty() {
        r.rerun = ctx.cfg.sudo_line.clone();
    }
    r
}

/// Static reasons. Returns whether a sandbox/LSM error already explains a
/// failure, and the findings about the path (no listener, other namespace,
/// bound address): those are only reported when the real exchange cannot
/// connect — a listener in another namespace may still be reachable through
/// a veth or a route.
fn check_client(
    ctx: &mut Ctx<'_>,
    c: &Subject,
    ns: Option<u64>,
    url: &Url,
    addrs: &[IpAddr],
    endpoints: &[Endpoint],
) -> (bool, Vec<Finding>) {
    let mut explained = false;
    let mut pending: Vec<Finding> = Vec::new();
    let name = format!("network {}", c.name);
    let ns_text = ns.map_or_else(|| "?".into(), |n| format!("net:[{n}]"));
    let here: Vec<&Endpoint> = endpoints.iter().filter(|e| Some(e.l.netns) == ns).collect();
    let reach: Vec<&&Endpoint> = here
        .iter()
        .filter(|e| addrs.iter().any(|a| e.l.accepts(*a)))
        .collect();
    if endpoints.is_empty() {
        pending.push(
            Finding::new(
                Code::HttpNoListener,
                Severity::Error,
                format!("nothing listens on TCP port {} in any network namespace: the endpoint (mi_http or mififo gateway) is not running, or uses another port", url.port),
            )
            .subject(c.name.clone())
            .fix(Fix::new(
                format!("start the endpoint on {}:{} (OpenSIPS: httpd's ip/port and mi_http's root; mififo: gateway --listen)", url.host, url.port),
                [format!("mififo gateway --listen {}:{} --path {}", url.host, url.port, url.path)],
            )),
        );
    } else if here.is_empty() {
        let others: Vec<String> = endpoints.iter().map(Endpoint::describe).collect();
        let first = &endpoints[0];
        let mut fix = Fix::new(
            format!("run the client and the endpoint in one network namespace, or make the endpoint listen in the client's ({ns_text}) — e.g. mififo gateway --netns; a veth or a host-reachable address also works"),
            [],
        );
        if let (Some(p), Some(cp)) = (first.pid, c.pid()) {
            fix.commands
                .push(format!("nsenter -t {cp} -n ip -brief address"));
            fix.commands
                .push(format!("nsenter -t {p} -n ip -brief address"));
        }
        pending.push(
            Finding::new(
                Code::HttpOtherNamespace,
                Severity::Error,
                format!(
                    "{} is in network namespace {ns_text}, where nothing listens on port {}; the endpoint listens in another namespace: {}",
                    c.name,
                    url.port,
                    others.join("; ")
                ),
            )
            .subject(c.name.clone())
            .evidence("client netns", ns_text.clone())
            .fix(fix),
        );
    } else if reach.is_empty() {
        let bound: Vec<String> = here.iter().map(|e| e.describe()).collect();
        let to = addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let e = here[0];
        let fix = if e.is_gateway() {
            Fix::new(
                format!("use the bound address in the URL (http://{}{}), or restart the gateway with --listen on the URL's address", sock(e.l.addr, e.l.port), url.path),
                [format!("mififo doctor --url 'http://{}{}'", sock(e.l.addr, e.l.port), url.path)],
            )
        } else {
            Fix::new(
                format!("use the bound address in the URL (http://{}{}), or bind the endpoint to {} (OpenSIPS: modparam(\"httpd\", \"ip\", …))", sock(e.l.addr, e.l.port), url.path, url.host),
                [format!("mififo doctor --url 'http://{}{}'", sock(e.l.addr, e.l.port), url.path)],
            )
        };
        pending.push(
            Finding::new(
                Code::HttpBoundAddress,
                Severity::Error,
                format!(
                    "in {}'s namespace port {} is bound to {} only; the URL's host {} ({to}) is another address, so connections are refused",
                    c.name,
                    url.port,
                    here.iter().map(|e| e.l.addr.to_string()).collect::<Vec<_>>().join(", "),
                    url.host
                ),
            )
            .subject(c.name.clone())
            .evidence("listeners", bound.join("; "))
            .fix(fix),
        );
    }
    // systemd sandboxing of the client's unit.
    if let Some(unit) = c.unit.clone() {
        let v = |k: &str| crate::doctor::unitfile::values(ctx.view, &unit, k);
        let mut why = Vec::new();
        if let Some(s) =
            crate::doctor::unitfile::setting(ctx.view, &unit, "PrivateNetwork").filter(|s| s.value)
        {
            why.push(format!(
                "PrivateNetwork=yes ({}): the unit has its own network namespace with only lo",
                s.source
            ));
        }
        let deny = v("IPAddressDeny");
        let allow = v("IPAddressAllow");
        if !deny.is_empty() {
            let allowed = allow.iter().any(|(a, _)| {
                a.split_whitespace().any(|w| {
                    w == "any"
                        || (w == "localhost" && addrs.iter().any(IpAddr::is_loopback))
                        || addrs
                            .iter()
                            .any(|ad| w.split('/').next() == Some(&ad.to_string()))
                })
            });
            if !allowed {
                why.push(format!(
                    "IPAddressDeny={} ({}) without an IPAddressAllow= for {}: the kernel drops the packets (connect gets EPERM)",
                    deny.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(" "),
                    deny[0].1,
                    url.host
                ));
            }
        }
        let fams = v("RestrictAddressFamilies");
        if let Some((last, src)) = fams.last() {
            let all: Vec<&str> = fams
                .iter()
                .flat_map(|(f, _)| f.split_whitespace())
                .collect();
            let deny_list = all.first().is_some_and(|f| f.starts_with('~'));
            let need = if addrs.iter().any(IpAddr::is_ipv6) && !addrs.iter().any(IpAddr::is_ipv4) {
                "AF_INET6"
            } else {
                "AF_INET"
            };
            let listed = all.iter().any(|f| f.trim_start_matches('~') == need);
            if listed == deny_list {
                why.push(format!("RestrictAddressFamilies={last} ({src}) does not allow {need}: socket() fails with EAFNOSUPPORT"));
            }
        }
        if !why.is_empty() {
            explained = true;
            ctx.add(
                Finding::new(
                    Code::HttpSandbox,
                    Severity::Error,
                    format!("the unit {unit} of {} forbids this connection: {}", c.name, why.join("; ")),
                )
                .subject(c.name.clone())
                .fix(
                    Fix::new(
                        format!("allow exactly this endpoint in a drop-in for {unit}"),
                        [format!("systemctl daemon-reload && systemctl restart {unit}")],
                    )
                    .edit(
                        format!("/etc/systemd/system/{unit}.d/mififo-mi-http.conf"),
                        format!("[Service]\nPrivateNetwork=no\nIPAddressAllow={}\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", addrs.first().map_or_else(|| url.host.clone(), |a| a.to_string())),
                    )
                    .weakens(format!("{unit} may open network connections to {}", url.host)),
                ),
            );
        }
    }
    // SELinux: an httpd_t client needs httpd_can_network_connect (or an http_port_t port).
    if c.label
        .as_deref()
        .is_some_and(|l| l.split(':').nth(2) == Some("httpd_t"))
    {
        let b = ctx
            .view
            .read_string(&ctx.cfg.selinuxfs.join("booleans/httpd_can_network_connect"))
            .ok();
        let enforcing = ctx
            .view
            .read_string(&ctx.cfg.selinuxfs.join("enforce"))
            .is_ok_and(|t| t.trim() == "1");
        if b.as_deref()
            .is_some_and(|t| t.split_whitespace().next() == Some("0"))
        {
            ctx.add(
                Finding::new(
                    Code::SelinuxDenied,
                    if enforcing { Severity::Error } else { Severity::Warning },
                    format!(
                        "{} runs as httpd_t and the boolean httpd_can_network_connect is off: it may connect only to ports labelled http_port_t (80, 443, 8008, 8009, 8443, …), so port {} is refused unless labelled",
                        c.name, url.port
                    ),
                )
                .subject(c.name.clone())
                .fix(
                    Fix::new(
                        "turn the boolean on, or label the port as an http port",
                        [
                            "setsebool -P httpd_can_network_connect 1".to_string(),
                            format!("semanage port -a -t http_port_t -p tcp {}", url.port),
                        ],
                    )
                    .weakens("httpd_can_network_connect lets every httpd_t process connect to any TCP port"),
                ),
            );
            explained |= enforcing;
        }
    }
    ctx.line(
        name,
        if explained || !pending.is_empty() {
            Status::Problem
        } else {
            Status::Ok
        },
        format!(
            "{ns_text}; {} listener(s) here on port {}, {} reachable at {}",
            here.len(),
            url.port,
            reach.len(),
            url.host
        ),
    );
    (explained, pending)
}

#[allow(clippy::too_many_arguments)]
fn exchange(
    ctx: &mut Ctx<'_>,
    c: &Subject,
    ns: Option<u64>,
    own_ns: Option<u64>,
    url: &Url,
    method: &str,
    explained: bool,
    pending: Vec<Finding>,
    endpoint: Option<&Endpoint>,
) {
    let name = format!("http {}", c.name);
    let outcome = if !ctx.unprivileged {
        match ctx.prober.filter(|_| ctx.cfg.probe) {
            Some(p) => p
                .http(
                    &crate::doctor::probe::ProbeRequest::as_client(c, PathBuf::from("/"), false),
                    &url.text(),
                    method,
                )
                .map_err(|e| crate::error::chain(&e)),
            None if ns == own_ns => Ok(net::exchange(
                url,
                method,
                std::time::Duration::from_secs(3),
            )),
            None => Err("no probe (--no-probe): the client's namespace is not entered".into()),
        }
    } else if ns == own_ns {
        Ok(net::exchange(
            url,
            method,
            std::time::Duration::from_secs(3),
        ))
    } else {
        ctx.hide(format!(
            "an HTTP exchange from {}'s network namespace (setns needs root)",
            c.name
        ));
        ctx.line(
            name,
            Status::Unknown,
            "the client's network namespace needs root",
        );
        // Not confirmed by an exchange: what the listeners show still stands.
        for f in pending {
            ctx.add(f);
        }
        return;
    };
    let o = match outcome {
        Ok(o) => o,
        Err(e) => {
            ctx.undecided.push(c.name.clone());
            ctx.line(name, Status::Skipped, e);
            for f in pending {
                ctx.add(f);
            }
            return;
        }
    };
    // A connection proves a path (a veth, a route) whatever the listeners
    // of the client's own namespace suggested; a failed one is explained by them.
    let connected = !matches!(o, HttpOutcome::Connect { .. });
    let explained = explained || (!connected && !pending.is_empty());
    if !connected {
        for f in pending {
            ctx.add(f);
        }
    }
    let sub = |f: Finding| f.subject(c.name.clone());
    match o {
        HttpOutcome::Status {
            status,
            auth,
            body,
            local,
        } => {
            ctx.line(
                &name,
                if status < 300 {
                    Status::Ok
                } else {
                    Status::Problem
                },
                format!("HTTP {status} (client address {local})"),
            );
            match status {
                401 => ctx.add(sub(Finding::new(
                    Code::HttpAuthRequired,
                    Severity::Error,
                    format!("{} answers 401: it requires credentials the client must send", url.text()),
                ))
                .evidence("WWW-Authenticate", auth.unwrap_or_else(|| "(none)".into()))
                .fix(Fix::new("give the client the credentials (opensips-cli: user:password@ in url; OpenSIPS-CP: the box's MI URL), or drop auth for this path in the proxy", []))),
                403 => {
                    let allow = endpoint.map(|e| e.flag("--allow")).unwrap_or_default();
                    let mut f = sub(Finding::new(
                        Code::HttpForbidden,
                        Severity::Error,
                        format!("{} answers 403 to {} (address {local})", url.text(), c.name),
                    ))
                    .evidence("client address", local.clone())
                    .evidence("body", body);
                    f = if endpoint.is_some_and(Endpoint::is_gateway) {
                        f.evidence("gateway --allow", allow.join(", ")).fix(Fix::new(
                            format!("add the client's address to the gateway's allow list (restart it with --allow {local} added)"),
                            endpoint.and_then(|e| e.pid).map(|p| format!("ps -o args= -p {p}")),
                        ))
                    } else {
                        f.fix(Fix::new(format!("allow {local} in the endpoint's access rules"), []))
                    };
                    ctx.add(f);
                }
                200..=299 => ctx.add(sub(Finding::new(
                    Code::HttpOk,
                    Severity::Info,
                    format!("{} reaches {} and gets HTTP {status}", c.name, url.text()),
                ))
                .evidence("body", body)),
                _ => ctx.add(sub(Finding::new(
                    Code::HttpNoAnswer,
                    if status >= 500 { Severity::Warning } else { Severity::Error },
                    format!("{} answers HTTP {status}{}", url.text(), if status >= 500 { ": the endpoint works, its MI backend does not (see the FIFO leg)" } else { "" }),
                ))
                .evidence("body", body)),
            }
        }
        HttpOutcome::TlsMismatch { detail } => {
            ctx.line(&name, Status::Problem, detail.clone());
            ctx.add(
                sub(Finding::new(Code::HttpTlsMismatch, Severity::Error, detail)).fix(Fix::new(
                    format!(
                        "use {} in the client's URL",
                        if url.tls { "http://" } else { "https://" }
                    ),
                    [],
                )),
            );
        }
        HttpOutcome::TlsOnly { local } => {
            ctx.undecided.push(c.name.clone());
            ctx.line(name, Status::Ok, format!("TCP reaches a TLS endpoint (client address {local}); HTTP over TLS is not checked"));
        }
        HttpOutcome::Connect { detail, errno } => {
            ctx.line(&name, Status::Problem, format!("connect: {detail}"));
            if explained {
                return;
            }
            let code = match errno {
                libc::ETIMEDOUT | libc::EHOSTUNREACH | libc::ENETUNREACH => Code::HttpUnreachable,
                _ => Code::HttpRefused,
            };
            let why = match errno {
                libc::EPERM | libc::EACCES => "EPERM/EACCES on connect: a cgroup BPF filter (systemd IPAddressDeny=), seccomp or an LSM",
                libc::ECONNREFUSED => "RST: a firewall REJECT rule, or the listener went away",
                _ => "no route to the address from the client's namespace, or a firewall DROP",
            };
            let fix = match (code, c.pid()) {
                (Code::HttpUnreachable, Some(p)) => Fix::new(
                    "check the route from the client's namespace",
                    [format!("nsenter -t {p} -n ip route get {}", url.host)],
                ),
                (Code::HttpUnreachable, None) => {
                    Fix::new("check the route", [format!("ip route get {}", url.host)])
                }
                _ => Fix::new(
                    "look for a REJECT rule or a sandbox",
                    ["nft list ruleset".to_string()],
                ),
            };
            ctx.add(
                sub(Finding::new(
                    code,
                    Severity::Error,
                    format!(
                        "{} cannot connect to {}: {detail} ({why})",
                        c.name,
                        url.text()
                    ),
                ))
                .fix(fix),
            );
        }
        HttpOutcome::NoAnswer { detail } => {
            ctx.line(&name, Status::Problem, detail.clone());
            ctx.add(sub(Finding::new(
                Code::HttpNoAnswer,
                Severity::Error,
                format!(
                    "{} connects to {} but gets no HTTP answer: {detail}",
                    c.name,
                    url.text()
                ),
            )));
        }
    }
}

impl Url {
    /// Back to text.
    pub fn text(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{}://{host}:{}{}",
            if self.tls { "https" } else { "http" },
            self.port,
            self.path
        )
    }
}
