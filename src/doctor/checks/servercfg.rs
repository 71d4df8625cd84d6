//! What running OpenSIPS/Kamailio instances are configured with: the config
//! file from their command line (`-f FILE`, default
//! `/etc/{opensips,kamailio}/{opensips,kamailio}.cfg`), read in their own root,
//! and its `fifo_name` / `reply_dir` module parameters (`mi_fifo`, Kamailio
//! `jsonrpcs` `fifo_name` / `fifo_reply_dir`). `include_file` and m4
//! preprocessing are not followed.

use super::Ctx;
use std::path::{Path, PathBuf};

/// One instance's MI FIFO settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCfg {
    /// Pid of the process the settings were read for.
    pub pid: i32,
    /// `opensips` or `kamailio`.
    pub comm: String,
    /// The config file (in the server's namespace).
    pub cfg: PathBuf,
    /// `fifo_name`, when set.
    pub fifo_name: Option<PathBuf>,
    /// `reply_dir` / `fifo_reply_dir`, when set.
    pub reply_dir: Option<PathBuf>,
}

/// The quoted strings of a line (`modparam("mi_fifo", "fifo_name", "/x")` → 3).
fn quoted(line: &str) -> Vec<&str> {
    line.split('"').skip(1).step_by(2).collect()
}

/// Parses `fifo_name` and `reply_dir` from config text.
pub fn parse(text: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let (mut fifo, mut reply) = (None, None);
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with('#') || l.starts_with("//") || !l.starts_with("modparam") {
            continue;
        }
        let q = quoted(l);
        if q.len() < 3 || !matches!(q[0], "mi_fifo" | "jsonrpcs" | "jsonrpc") {
            continue;
        }
        match q[1] {
            "fifo_name" => fifo = Some(PathBuf::from(q[2])),
            "reply_dir" | "fifo_reply_dir" => reply = Some(PathBuf::from(q[2])),
            _ => {}
        }
    }
    (fifo, reply)
}

/// The config file named on a command line (`-f FILE` / `-fFILE`), else the
/// default `/etc/COMM/COMM.cfg`; relative as given.
pub fn cfg_of(args: &[String], comm: &str) -> PathBuf {
    let mut cfg = PathBuf::from(format!("/etc/{comm}/{comm}.cfg"));
    for (i, a) in args.iter().enumerate() {
        if a == "-f" {
            if let Some(v) = args.get(i + 1) {
                cfg = PathBuf::from(v);
            }
        } else if let Some(v) = a
            .strip_prefix("-f")
            .filter(|v| !v.is_empty() && !a.starts_with("--"))
        {
            cfg = PathBuf::from(v);
        }
    }
    cfg
}

/// Reads the settings of every running `opensips`/`kamailio` main process
/// (children with the same name and config are skipped).
pub fn read(ctx: &Ctx<'_>) -> Vec<ServerCfg> {
    let mut out: Vec<ServerCfg> = Vec::new();
    for (pid, comm) in &ctx.comms {
        let (pid, comm) = (*pid, comm.clone());
        if comm != "opensips" && comm != "kamailio" {
            continue;
        }
        let Ok(cmdline) = ctx.view.read(Path::new(&format!("/proc/{pid}/cmdline"))) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let cfg = cfg_of(&args, &comm);
        if out.iter().any(|s| s.comm == comm && s.cfg == cfg) {
            continue;
        }
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        let cfg_abs = if cfg.is_absolute() {
            cfg.clone()
        } else {
            ctx.view
                .read_link(Path::new(&format!("/proc/{pid}/cwd")))
                .unwrap_or_default()
                .join(&cfg)
        };
        // The name comes from a command line any user can write: only a
        // regular file is opened (not /dev/watchdog, a tape, a terminal, a
        // FIFO; opening some devices acts).
        let Ok(bytes) = ctx.view.read_regular(&Ctx::host(&root, &cfg_abs)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let (fifo_name, reply_dir) = parse(&text);
        out.push(ServerCfg {
            pid,
            comm,
            cfg: cfg_abs,
            fifo_name,
            reply_dir,
        });
    }
    out
}

/// Compares two directory paths ignoring trailing slashes.
pub fn same_dir(a: &Path, b: &Path) -> bool {
    let t = |p: &Path| p.to_string_lossy().trim_end_matches('/').to_string();
    t(a) == t(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config named on a command line is read only when it is a regular
    /// file: `-f /dev/watchdog` must not make the doctor open the device.
    #[test]
    fn only_a_regular_config_file_is_read() {
        use crate::doctor::fixture::Fixture;
        use crate::sys::FileKind;
        let text = "modparam(\"mi_fifo\", \"fifo_name\", \"/tmp/x_fifo\")\n";
        let mut f = Fixture::new();
        f.opensips(100);
        f.view
            .file("/proc/100/cmdline", "opensips\0-f\0/etc/o.cfg\0")
            .file("/proc/100/root/etc/o.cfg", text);
        let cfg = f.config("/tmp/x_fifo", crate::doctor::ClientSpec::Pids(vec![]));
        let ctx = crate::doctor::checks::new_ctx(&f.view, &cfg, None);
        let got = read(&ctx);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].fifo_name, Some(PathBuf::from("/tmp/x_fifo")));
        for (kind, name) in [(FileKind::Char, "watchdog"), (FileKind::Fifo, "p")] {
            let mut f = Fixture::new();
            f.opensips(100);
            f.view
                .file("/proc/100/cmdline", format!("opensips\0-f\0/dev/{name}\0"))
                .node(format!("/proc/100/root/dev/{name}"), kind, 0o666, 0, 0);
            let ctx = crate::doctor::checks::new_ctx(&f.view, &cfg, None);
            assert_eq!(read(&ctx), Vec::new(), "{kind:?}");
        }
    }

    #[test]
    fn parses_modparams() {
        let (f, r) = parse(
            "loadmodule \"mi_fifo.so\"\n# modparam(\"mi_fifo\", \"fifo_name\", \"/old\")\nmodparam(\"mi_fifo\", \"fifo_name\", \"/run/opensips/opensips_fifo\")\nmodparam(\"mi_fifo\",\"reply_dir\",\"/run/opensips/\")\nmodparam(\"tm\", \"fr_timeout\", 5)\n",
        );
        assert_eq!(f, Some(PathBuf::from("/run/opensips/opensips_fifo")));
        assert_eq!(r, Some(PathBuf::from("/run/opensips/")));
        let (f, r) = parse("modparam(\"jsonrpcs\", \"fifo_name\", \"/run/kamailio/kamailio_rpc.fifo\")\nmodparam(\"jsonrpcs\", \"fifo_reply_dir\", \"/tmp/\")\n");
        assert_eq!(f, Some(PathBuf::from("/run/kamailio/kamailio_rpc.fifo")));
        assert_eq!(r, Some(PathBuf::from("/tmp/")));
        assert!(same_dir(Path::new("/tmp/"), Path::new("/tmp")));
    }
}
