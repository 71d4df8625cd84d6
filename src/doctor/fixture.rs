//! Fixture builders for unit tests: a fake system with users, processes,
//! namespaces and FIFOs, built on [`FakeView`].

use super::procfs::cap;
use super::userdb::UserDb;
use super::view::{FakeView, FileKind, Meta};
use super::{ClientSpec, Config, Report};
use std::path::PathBuf;

/// apache uid (as in the reference's audit fixture).
pub const APACHE: u32 = 48;
/// apache gid.
pub const APACHE_G: u32 = 48;
/// opensips uid.
pub const OPENSIPS: u32 = 990;
/// opensips gid.
pub const OPENSIPS_G: u32 = 988;
/// The doctor's own mount namespace.
pub const SELF_NS: u64 = 4026531841;
/// The doctor's pid in fixtures.
pub const SELF_PID: i32 = 1;

/// A fake process.
#[derive(Debug, Clone)]
pub struct ProcSpec {
    /// Pid.
    pub pid: i32,
    /// comm.
    pub comm: &'static str,
    /// All four uids.
    pub uid: u32,
    /// All four gids.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// umask.
    pub umask: u32,
    /// CapEff.
    pub cap: u64,
    /// Mount namespace.
    pub ns: u64,
    /// Unit.
    pub unit: Option<&'static str>,
    /// Security label.
    pub label: Option<&'static str>,
    /// mountinfo text (default: one ext4 root).
    pub mountinfo: Option<String>,
    /// Parent pid.
    pub ppid: i32,
}

impl Default for ProcSpec {
    fn default() -> Self {
        ProcSpec {
            pid: 0,
            comm: "proc",
            uid: APACHE,
            gid: APACHE_G,
            groups: vec![],
            umask: 0o022,
            cap: 0,
            ns: SELF_NS,
            unit: None,
            label: None,
            mountinfo: None,
            ppid: 1,
        }
    }
}

/// A fake system.
pub struct Fixture {
    /// The tree.
    pub view: FakeView,
}

/// The stat of `/` (`drwxr-xr-x root root`, inode 2) as `/proc/PID/root` etc. resolve to.
pub const ROOT_DIR: Meta = Meta {
    kind: FileKind::Dir,
    mode: 0o755,
    uid: 0,
    gid: 0,
    dev: 1,
    ino: 2,
};

const ROOT_MOUNTINFO: &str = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n";

impl Fixture {
    /// Users root/apache/opensips, `/tmp` 1777, the doctor as pid 1 (root), sysctls 0.
    pub fn new() -> Fixture {
        let mut view = FakeView::new();
        view.file(
            "/etc/passwd",
            format!("root:x:0:0::/root:/bin/sh\napache:x:{APACHE}:{APACHE_G}::/:/sbin/nologin\nopensips:x:{OPENSIPS}:{OPENSIPS_G}::/:/sbin/nologin\n"),
        )
        .file("/etc/group", format!("root:x:0:\napache:x:{APACHE_G}:\nopensips:x:{OPENSIPS_G}:\n"))
        .dir("/tmp", 0o1777, 0, 0)
        .dir("/run", 0o755, 0, 0)
        .file("/proc/sys/fs/protected_fifos", "0\n")
        .file("/proc/sys/fs/protected_symlinks", "1\n");
        let mut f = Fixture { view };
        f.proc(ProcSpec {
            pid: SELF_PID,
            comm: "mififo",
            uid: 0,
            gid: 0,
            cap: cap::ALL,
            ..Default::default()
        });
        f
    }

    /// Sets a sysctl under `/proc/sys/fs`.
    pub fn sysctl(&mut self, name: &str, value: u8) -> &mut Self {
        self.view
            .file(format!("/proc/sys/fs/{name}"), format!("{value}\n"));
        self
    }

    /// Adds a user to `/etc/group`'s member list of `gid`.
    pub fn add_member(&mut self, gid: u32, user: &str) -> &mut Self {
        use super::view::SystemView;
        let text = self
            .view
            .read_string(std::path::Path::new("/etc/group"))
            .unwrap();
        let out: String = text
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() >= 4 && f[2] == gid.to_string() {
                    let mut m: Vec<&str> = f[3].split(',').filter(|s| !s.is_empty()).collect();
                    m.push(user);
                    format!("{}:{}:{}:{}\n", f[0], f[1], f[2], m.join(","))
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        self.view.file("/etc/group", out);
        self
    }

    /// Adds a process.
    pub fn proc(&mut self, p: ProcSpec) -> &mut Self {
        let base = format!("/proc/{}", p.pid);
        let groups: Vec<String> = p.groups.iter().map(|g| g.to_string()).collect();
        let status = format!(
            "Name:\t{}\nUmask:\t{:04o}\nPPid:\t{}\nUid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{g}\t{g}\t{g}\t{g}\nGroups:\t{} \nCapEff:\t{:016x}\n",
            p.comm,
            p.umask,
            p.ppid,
            groups.join(" "),
            p.cap,
            u = p.uid,
            g = p.gid
        );
        self.view
            .file(format!("{base}/status"), status)
            .file(format!("{base}/comm"), format!("{}\n", p.comm))
            .file(
                format!("{base}/cgroup"),
                format!("0::/system.slice/{}\n", p.unit.unwrap_or("user.slice")),
            )
            .file(
                format!("{base}/mountinfo"),
                p.mountinfo
                    .clone()
                    .unwrap_or_else(|| ROOT_MOUNTINFO.to_string()),
            )
            .magic(
                format!("{base}/ns/mnt"),
                format!("mnt:[{}]", p.ns),
                ROOT_DIR,
            )
            .magic(format!("{base}/root"), "/", ROOT_DIR)
            .magic(format!("{base}/cwd"), "/", ROOT_DIR)
            .dir(format!("{base}/fd"), 0o500, p.uid, p.gid)
            .dir(format!("{base}/fdinfo"), 0o500, p.uid, p.gid);
        if let Some(l) = p.label {
            self.view
                .file(format!("{base}/attr/current"), format!("{l}\0"));
        }
        self
    }

    /// Gives a process a systemd PrivateTmp: its own namespace, a
    /// `systemd-private-…` mount on /tmp, and an (empty, 1777) private /tmp
    /// under `/proc/PID/root`; other directories are copied from `dirs`.
    pub fn private_tmp(&mut self, pid: i32, unit: &str, dirs: &[&str]) -> &mut Self {
        let base = format!("/proc/{pid}");
        self.view
            .magic(format!("{base}/ns/mnt"), "mnt:[4026532177]", ROOT_DIR)
            .file(
                format!("{base}/mountinfo"),
                format!(
                    "{ROOT_MOUNTINFO}63 22 8:1 /tmp/systemd-private-bd2e9bd56d6f430d8402a508a068a6a4-{unit}-VS2vD4/tmp /tmp rw,relatime - ext4 /dev/sda1 rw\n"
                ),
            )
            .dir(format!("{base}/root/tmp"), 0o1777, 0, 0);
        for d in dirs {
            let m = self.view.meta(d);
            self.view
                .dir(format!("{base}/root{d}"), m.mode, m.uid, m.gid);
        }
        self
    }

    /// `pid` holds `path` open on `fd` with access mode `acc`.
    pub fn hold(&mut self, pid: i32, fd: u32, path: &str, acc: u32) -> &mut Self {
        let meta = self.view.meta(path);
        self.view
            .magic(format!("/proc/{pid}/fd/{fd}"), path, meta)
            .file(
                format!("/proc/{pid}/fdinfo/{fd}"),
                format!("pos:\t0\nflags:\t0200{acc}\n"),
            );
        self
    }

    /// `pid` holds a deleted FIFO that was at `path` (for reading).
    pub fn hold_deleted(&mut self, pid: i32, fd: u32, path: &str) -> &mut Self {
        let meta = Meta {
            kind: FileKind::Fifo,
            mode: 0o660,
            uid: OPENSIPS,
            gid: OPENSIPS_G,
            dev: 1,
            ino: 999_999,
        };
        self.view
            .magic(
                format!("/proc/{pid}/fd/{fd}"),
                format!("{path} (deleted)"),
                meta,
            )
            .file(format!("/proc/{pid}/fdinfo/{fd}"), "flags:\t02004000\n");
        self
    }

    /// The user database.
    pub fn db(&self) -> UserDb {
        UserDb::read(&self.view)
    }

    /// A config for `fifo` examining `clients`, no probe, no audit log.
    pub fn config(&self, fifo: &str, clients: ClientSpec) -> Config {
        Config {
            fifo: PathBuf::from(fifo),
            clients,
            audit_logs: Some(vec![]),
            php_ini: Some(vec![]),
            probe: false,
            self_pid: Some(SELF_PID),
            ..Config::default()
        }
    }

    /// Runs the doctor on this fixture with `cfg` (no prober); panics if it fails.
    pub fn run(&self, cfg: &Config) -> Report {
        crate::doctor::run(&self.view, cfg, None).expect("the doctor runs")
    }

    /// Runs the doctor for `fifo` as the user `apache`.
    pub fn as_apache(&self, fifo: &str) -> Report {
        self.run(&self.config(fifo, ClientSpec::User("apache".into())))
    }

    /// A process `opensips` running as opensips:opensips (no open FIFO).
    pub fn opensips(&mut self, pid: i32) -> &mut Self {
        self.proc(ProcSpec {
            pid,
            comm: "opensips",
            uid: OPENSIPS,
            gid: OPENSIPS_G,
            ..Default::default()
        })
    }

    /// A `mififo serve --fifo FIFO` process (root), reading nothing yet.
    pub fn mififo_serve(&mut self, pid: i32, fifo: &str) -> &mut Self {
        self.proc(ProcSpec {
            pid,
            comm: "mififo",
            uid: 0,
            gid: 0,
            ..Default::default()
        });
        self.view.file(
            format!("/proc/{pid}/cmdline"),
            format!("/usr/bin/mififo\0serve\0--fifo\0{fifo}\0"),
        );
        self
    }

    /// A healthy opensips server (pid 100) reading `path` (mode 0660, opensips:opensips).
    pub fn server(&mut self, path: &str, mode: u32) -> &mut Self {
        self.view.fifo(path, mode, OPENSIPS, OPENSIPS_G);
        self.opensips(100);
        self.hold(100, 5, path, 0).hold(100, 6, path, 1)
    }
}
