//! Audit-log parsing (`/var/log/audit/audit.log` and rotations): SELinux and
//! AppArmor `AVC` records, `SYSCALL`, `PATH`, `CWD` and `ANOM_CREAT`
//! (protected_fifos) records, grouped into events by their
//! `audit(TIME:SERIAL)` stamp. Hex-encoded untrusted strings
//! (`name=2F746D70…`) are decoded; the ENRICHED format's interpreted tail
//! (after `0x1D`) is ignored.

use std::collections::BTreeMap;

/// One record (one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `type=` (AVC, SYSCALL, PATH, ANOM_CREAT, …).
    pub rtype: String,
    /// Time stamp text (`1700000000.123`).
    pub time: String,
    /// Serial.
    pub serial: u64,
    /// SELinux AVC: `denied` or `granted`.
    pub avc_result: Option<String>,
    /// SELinux AVC permissions (`{ write open }`).
    pub avc_perms: Vec<String>,
    /// `key=value` pairs in order; quoted values unquoted, hex values decoded.
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// A field as (lossy) text.
    pub fn get(&self, key: &str) -> Option<String> {
        self.get_bytes(key)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// A field's bytes.
    pub fn get_bytes(&self, key: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Keys whose unquoted values are hex-encoded strings (`audit_log_untrustedstring`).
const HEX_KEYS: &[&str] = &["name", "path", "comm", "exe", "cwd", "proctitle", "profile"];

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Parses one line; `None` for lines that are not audit records.
pub fn parse_line(line: &str) -> Option<Record> {
    let line = line.split('\u{1d}').next().unwrap_or(line).trim_end();
    let rest = line.strip_prefix("type=")?;
    let (rtype, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("msg=audit(")?;
    let (stamp, mut rest) = rest.split_once("):")?;
    let (time, serial) = stamp.split_once(':')?;
    let mut rec = Record {
        rtype: rtype.to_string(),
        time: time.to_string(),
        serial: serial.parse().ok()?,
        avc_result: None,
        avc_perms: Vec::new(),
        fields: Vec::new(),
    };
    if let Some(avc) = rest.trim_start().strip_prefix("avc:") {
        let avc = avc.trim_start();
        let (result, after) = avc.split_once(' ').unwrap_or((avc, ""));
        rec.avc_result = Some(result.to_string());
        if let Some(open) = after.find('{') {
            if let Some(close) = after[open..].find('}') {
                rec.avc_perms = after[open + 1..open + close]
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                rest = after[open + close + 1..].trim_start();
                rest = rest.strip_prefix("for").unwrap_or(rest);
            }
        }
    }
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        let key = rest[ks..i].to_string();
        i += 1;
        let value: Vec<u8> = if i < b.len() && b[i] == b'"' {
            let vs = i + 1;
            let end = rest[vs..].find('"').map_or(b.len(), |e| vs + e);
            i = (end + 1).min(b.len());
            b[vs..end].to_vec()
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            let raw = &rest[vs..i];
            match HEX_KEYS
                .contains(&key.as_str())
                .then(|| decode_hex(raw))
                .flatten()
            {
                Some(d) => d,
                None => raw.as_bytes().to_vec(),
            }
        };
        rec.fields.push((key, value));
    }
    Some(rec)
}

/// Records sharing one serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Serial.
    pub serial: u64,
    /// Records in file order.
    pub records: Vec<Record>,
}

impl Event {
    /// The first record of a type.
    pub fn record(&self, rtype: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.rtype == rtype)
    }
}

/// Parses a whole log into events (by serial, in serial order).
pub fn parse_log(text: &str) -> Vec<Event> {
    let mut by: BTreeMap<(String, u64), Vec<Record>> = BTreeMap::new();
    for r in text.lines().filter_map(parse_line) {
        by.entry((r.time.clone(), r.serial)).or_default().push(r);
    }
    let mut events: Vec<Event> = by
        .into_iter()
        .map(|((_, serial), records)| Event { serial, records })
        .collect();
    events.sort_by_key(|e| e.serial);
    events
}

/// What identifies the FIFO in a log.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Full path (as the client names it).
    pub path: Vec<u8>,
    /// Inode, when known.
    pub ino: Option<u64>,
}

impl Target {
    fn basename(&self) -> &[u8] {
        self.path
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(&self.path)
    }

    /// The logged name is the path, or its file name when the logged inode
    /// does not say it is another file (an inode in the record that differs
    /// from the target's: a FIFO of the same name elsewhere, such as another
    /// instance's `/tmp/opensips_fifo`).
    fn name_matches(&self, v: &[u8], ino: Option<u64>) -> bool {
        let other_file = self.ino.is_some() && ino.is_some() && ino != self.ino;
        v == self.path.as_slice() || (v == self.basename() && !other_file)
    }
}

/// An SELinux denial about the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelinuxDenial {
    /// Stamp `time:serial`.
    pub stamp: String,
    /// Permissions denied.
    pub perms: Vec<String>,
    /// Process pid.
    pub pid: Option<i32>,
    /// Process comm.
    pub comm: Option<String>,
    /// Source context.
    pub scontext: String,
    /// Target context.
    pub tcontext: String,
    /// `permissive=1`: logged, not enforced.
    pub permissive: bool,
    /// Object name/path as logged (decoded).
    pub name: String,
}

/// SELinux `avc: denied` records about a fifo_file matching the target (by inode, name or path).
pub fn selinux_denials(events: &[Event], target: &Target) -> Vec<SelinuxDenial> {
    let mut out = Vec::new();
    for ev in events {
        for r in ev
            .records
            .iter()
            .filter(|r| r.rtype == "AVC" && r.avc_result.as_deref() == Some("denied"))
        {
            if r.get("tclass").is_some_and(|c| c != "fifo_file") {
                continue;
            }
            let name = r
                .get_bytes("name")
                .or_else(|| r.get_bytes("path"))
                .unwrap_or_default();
            let ino: Option<u64> = r.get("ino").and_then(|i| i.parse().ok());
            let ino_hit = target.ino.is_some() && ino == target.ino;
            let path_hit = ev.records.iter().filter(|p| p.rtype == "PATH").any(|p| {
                p.get_bytes("name")
                    .is_some_and(|n| target.name_matches(n, ino))
            });
            if !(ino_hit || target.name_matches(name, ino) || path_hit) {
                continue;
            }
            out.push(SelinuxDenial {
                stamp: format!("{}:{}", r.time, r.serial),
                perms: r.avc_perms.clone(),
                pid: r.get("pid").and_then(|p| p.parse().ok()),
                comm: r.get("comm"),
                scontext: r.get("scontext").unwrap_or_default(),
                tcontext: r.get("tcontext").unwrap_or_default(),
                permissive: r.get("permissive").as_deref() == Some("1"),
                name: String::from_utf8_lossy(name).into_owned(),
            });
        }
    }
    out
}

/// An AppArmor denial about the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApparmorDenial {
    /// Stamp `time:serial`.
    pub stamp: String,
    /// Profile.
    pub profile: String,
    /// Operation.
    pub operation: String,
    /// Denied mask.
    pub denied_mask: String,
    /// Process comm.
    pub comm: Option<String>,
    /// Process pid.
    pub pid: Option<i32>,
}

/// AppArmor `apparmor="DENIED"` records naming the target path.
pub fn apparmor_denials(events: &[Event], target: &Target) -> Vec<ApparmorDenial> {
    events
        .iter()
        .flat_map(|e| e.records.iter())
        .filter(|r| matches!(r.rtype.as_str(), "AVC" | "APPARMOR_DENIED" | "1400"))
        .filter(|r| r.get("apparmor").as_deref() == Some("DENIED"))
        .filter(|r| {
            r.get_bytes("name")
                .is_some_and(|n| n == target.path.as_slice())
        })
        .map(|r| ApparmorDenial {
            stamp: format!("{}:{}", r.time, r.serial),
            profile: r.get("profile").unwrap_or_default(),
            operation: r.get("operation").unwrap_or_default(),
            denied_mask: r.get("denied_mask").unwrap_or_default(),
            comm: r.get("comm"),
            pid: r.get("pid").and_then(|p| p.parse().ok()),
        })
        .collect()
}

/// A protected_fifos/protected_regular denial record (`ANOM_CREAT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickyDenial {
    /// Stamp.
    pub stamp: String,
    /// `op=` (`sticky_create_fifo`, `sticky_create`).
    pub op: String,
    /// Pid.
    pub pid: Option<i32>,
    /// comm.
    pub comm: Option<String>,
    /// fsuid.
    pub fsuid: Option<u32>,
}

/// `ANOM_CREAT` records for FIFOs (all op names kernels have used).
pub fn sticky_denials(events: &[Event]) -> Vec<StickyDenial> {
    events
        .iter()
        .flat_map(|e| e.records.iter())
        .filter(|r| r.rtype == "ANOM_CREAT")
        .filter(|r| {
            matches!(
                r.get("op").as_deref(),
                Some("sticky_create_fifo" | "sticky_create")
            )
        })
        .map(|r| StickyDenial {
            stamp: format!("{}:{}", r.time, r.serial),
            op: r.get("op").unwrap_or_default(),
            pid: r.get("pid").and_then(|p| p.parse().ok()),
            comm: r.get("comm"),
            fsuid: r.get("fsuid").and_then(|p| p.parse().ok()),
        })
        .collect()
}

#[cfg(test)]
pub(crate) const FIXTURE: &str = r#"type=AVC msg=audit(1700000000.123:412): avc:  denied  { write } for  pid=2401 comm="httpd" name="opensips_fifo" dev="dm-0" ino=33577 scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:tmp_t:s0 tclass=fifo_file permissive=0
type=SYSCALL msg=audit(1700000000.123:412): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7f3a2c0010a0 a2=241 a3=1b6 items=1 ppid=2399 pid=2401 auid=4294967295 uid=48 gid=48 euid=48 suid=48 fsuid=48 egid=48 sgid=48 fsgid=48 tty=(none) ses=4294967295 comm="httpd" exe="/usr/sbin/httpd" subj=system_u:system_r:httpd_t:s0 key=(null)
type=CWD msg=audit(1700000000.123:412): cwd="/"
type=PATH msg=audit(1700000000.123:412): item=0 name="/tmp/opensips_fifo" inode=33577 dev=fd:00 mode=010666 ouid=990 ogid=988 rdev=00:00 obj=system_u:object_r:tmp_t:s0 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1700000000.123:412): proctitle=2f7573722f7362696e2f6874747064002d44464f524547524f554e44
type=ANOM_CREAT msg=audit(1700000100.456:431): op=sticky_create_fifo ppid=2399 pid=2402 auid=4294967295 uid=48 gid=48 euid=48 suid=48 fsuid=48 egid=48 sgid=48 fsgid=48 tty=(none) ses=4294967295 comm="httpd" exe="/usr/sbin/httpd" subj=system_u:system_r:httpd_t:s0 res=0
type=AVC msg=audit(1700000200.789:455): avc:  denied  { write } for  pid=2410 comm="httpd" name=2F746D702F6F70656E736970735F6669666F20 dev="dm-0" ino=33578 scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:tmp_t:s0 tclass=fifo_file permissive=1
type=ANOM_CREAT msg=audit(1700000300.001:460): op=sticky_create pid=2403 uid=48 fsuid=48 comm="php-fpm" res=0
type=AVC msg=audit(1700000400.000:470): apparmor="DENIED" operation="open" profile="/usr/sbin/php-fpm" name="/tmp/opensips_fifo" pid=2401 comm="php-fpm" requested_mask="w" denied_mask="w" fsuid=33 ouid=999
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_avc_with_perms_and_double_spaces() {
        let r = parse_line(FIXTURE.lines().next().unwrap()).unwrap();
        assert_eq!(r.rtype, "AVC");
        assert_eq!(r.serial, 412);
        assert_eq!(r.avc_result.as_deref(), Some("denied"));
        assert_eq!(r.avc_perms, vec!["write"]);
        assert_eq!(r.get("comm").as_deref(), Some("httpd"));
        assert_eq!(r.get("ino").as_deref(), Some("33577"));
        assert_eq!(r.get("tclass").as_deref(), Some("fifo_file"));
    }

    #[test]
    fn groups_records_and_decodes_hex() {
        let ev = parse_log(FIXTURE);
        assert_eq!(ev.len(), 5);
        assert_eq!(ev[0].records.len(), 5);
        let title = ev[0]
            .record("PROCTITLE")
            .unwrap()
            .get_bytes("proctitle")
            .unwrap()
            .to_vec();
        assert_eq!(title, b"/usr/sbin/httpd\0-DFOREGROUND");
        assert_eq!(
            ev[0].record("SYSCALL").unwrap().get("a0").as_deref(),
            Some("ffffff9c")
        );
        let hex = ev[2].record("AVC").unwrap().get("name").unwrap();
        assert_eq!(hex, "/tmp/opensips_fifo ");
    }

    #[test]
    fn finds_denials_for_the_fifo() {
        let ev = parse_log(FIXTURE);
        let t = Target {
            path: b"/tmp/opensips_fifo".to_vec(),
            ino: Some(33577),
        };
        let d = selinux_denials(&ev, &t);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].scontext, "system_u:system_r:httpd_t:s0");
        assert!(!d[0].permissive);
        // The hex-named record is for "/tmp/opensips_fifo " (trailing space): another path.
        let spaced = Target {
            path: b"/tmp/opensips_fifo ".to_vec(),
            ino: None,
        };
        let d = selinux_denials(&ev, &spaced);
        assert_eq!(d.len(), 1);
        assert!(d[0].permissive);
        // A FIFO of the same file name elsewhere, another inode: the record
        // (name="opensips_fifo" ino=33577) is about another file.
        let elsewhere = Target {
            path: b"/run/test/opensips_fifo".to_vec(),
            ino: Some(99),
        };
        assert!(selinux_denials(&ev, &elsewhere).is_empty());
        // A logged name that is the whole path matches whatever the inode
        // (the FIFO was recreated there).
        let recreated = Target {
            path: b"opensips_fifo".to_vec(),
            ino: Some(99),
        };
        assert_eq!(selinux_denials(&ev, &recreated).len(), 1);
        let s = sticky_denials(&ev);
        assert_eq!(
            s.iter().map(|s| s.op.as_str()).collect::<Vec<_>>(),
            vec!["sticky_create_fifo", "sticky_create"]
        );
        let a = apparmor_denials(&ev, &t);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].profile, "/usr/sbin/php-fpm");
        assert_eq!(a[0].denied_mask, "w");
    }

    #[test]
    fn ignores_enriched_tail_and_junk() {
        let r = parse_line("type=CWD msg=audit(1.2:3): cwd=\"/\"\u{1d}X=1").unwrap();
        assert_eq!(r.fields.len(), 1);
        assert!(parse_line("garbage").is_none());
    }
}
