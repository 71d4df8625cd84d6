//! Finding codes: the doctor's stable contract, in one place.
//!
//! Names are kebab-case and never change meaning; `docs/doctor.md` documents
//! each with its typical fix. Adding a code is fine, renaming one is not.

use serde::Serialize;

macro_rules! codes {
    ($($variant:ident = $name:literal : $desc:literal,)*) => {
        /// Every finding code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(#[doc = $desc] $variant,)*
        }

        impl Code {
            /// All codes, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The kebab-case name used in JSON and docs.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// One sentence on what the code means.
            pub fn description(self) -> &'static str {
                match self { $(Code::$variant => $desc,)* }
            }
        }
    };
}

codes! {
    FifoPathWhitespace = "fifo-path-whitespace": "The FIFO path has leading/trailing whitespace or control bytes.",
    FifoMissing = "fifo-missing": "Nothing exists at the FIFO path (or a component of it).",
    FifoNotAFifo = "fifo-not-a-fifo": "Something other than a FIFO is at the path (a regular file, socket, directory).",
    DirSearchDenied = "dir-search-denied": "The client lacks search (x) permission on a directory of the path.",
    DacDenied = "dac-denied": "Mode bits refuse write; says which class (owner, group, other) applied and why.",
    GroupNotMember = "group-not-member": "Write is granted to a group the client's user is not in.",
    GroupStale = "group-stale": "The user is in the granting group per the database, but the running process lacks it.",
    AclDenied = "acl-denied": "A POSIX ACL entry applied and refuses write.",
    AclMask = "acl-mask": "An ACL entry grants write but the ACL mask (the mode's group bits) removes it.",
    ProtectedFifos = "protected-fifos": "fs.protected_fifos refuses an O_CREAT open of another user's FIFO in a sticky directory.",
    ProtectedSymlinks = "protected-symlinks": "fs.protected_symlinks refuses to follow a symlink in a sticky world-writable directory.",
    PrivateTmp = "private-tmp": "The client runs with a private /tmp (systemd PrivateTmp) and cannot see the FIFO.",
    MountNamespace = "mount-namespace": "The client's mount namespace shows a different (or no) file at the path.",
    SelinuxDenied = "selinux-denied": "SELinux denies (or denied) the client access to the FIFO.",
    ApparmorDenied = "apparmor-denied": "AppArmor denies (or denied) the client access to the FIFO.",
    NoReader = "no-reader": "The FIFO exists but no process reads it: server down or a stale FIFO.",
    MultipleServers = "multiple-servers": "Several servers read FIFOs of this name, or a server holds a deleted FIFO of this name.",
    ReplyDirDenied = "reply-dir-denied": "The client cannot create its reply FIFO, or the server cannot open it.",
    ReplyDirMismatch = "reply-dir-mismatch": "Client and server see different directories at the reply-dir path.",
    Umask = "umask": "The client's umask gives reply FIFOs a mode the server cannot open.",
    PhpOpenBasedir = "php-open-basedir": "PHP's open_basedir excludes the FIFO or the reply directory.",
    ReadOnlyMount = "read-only-mount": "The reply directory is on a read-only mount: reply FIFOs cannot be created.",
    ProbeDisagrees = "probe-disagrees": "A real open with the client's credentials disagrees with the model (usually an LSM).",
    AccessOk = "access-ok": "The client can open the FIFO for writing and a server reads it.",
    HttpNoListener = "http-no-listener": "`--url`: nothing listens on the URL's port in any network namespace.",
    HttpOtherNamespace = "http-other-namespace": "`--url`: the endpoint listens in another network namespace than the client's.",
    HttpBoundAddress = "http-bound-address": "`--url`: in the client's namespace the port is bound to another address than the URL's.",
    HttpUnreachable = "http-unreachable": "`--url`: no route, or the connection times out.",
    HttpRefused = "http-refused": "`--url`: the connection is refused (RST, firewall REJECT, or a sandbox's EPERM).",
    HttpForbidden = "http-forbidden": "`--url`: the endpoint answers 403 (the gateway's --allow list).",
    HttpAuthRequired = "http-auth-required": "`--url`: the endpoint answers 401: credentials are required.",
    HttpTlsMismatch = "http-tls-mismatch": "`--url`: http:// to a TLS endpoint, or https:// to a plain one.",
    HttpNoAnswer = "http-no-answer": "`--url`: connected, but no HTTP answer.",
    HttpSandbox = "http-systemd-sandbox": "`--url`: the client's unit forbids the connection (PrivateNetwork=, IPAddressDeny=, RestrictAddressFamilies=).",
    HttpOk = "http-ok": "`--url`: the client reaches the endpoint and gets an HTTP answer.",
    CallAnswered = "call-answered": "`--call`: the server answered the client's request in the client's dialect.",
    CallWrongDialect = "call-wrong-dialect": "`--call`: no reply in the client's dialect, but the server answers in another (JSON, text, Kamailio).",
    CallNoReply = "call-no-reply": "`--call`: the request was sent but nothing answered in any dialect.",
    CallReplyUnreachable = "call-reply-unreachable": "`--call`: no reply, and the server cannot reach the client's reply FIFO.",
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_kebab_case_and_documented() {
        let names: HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for c in Code::ALL {
            let n = c.as_str();
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{n}"
            );
            assert!(
                !n.starts_with('-') && !n.ends_with('-') && !n.contains("--"),
                "{n}"
            );
            assert!(c.description().ends_with('.'), "{n}");
        }
    }

    #[test]
    fn the_issue_codes_are_all_present() {
        let issue = "fifo-path-whitespace fifo-missing fifo-not-a-fifo dir-search-denied dac-denied \
            group-not-member group-stale acl-denied acl-mask protected-fifos private-tmp mount-namespace \
            selinux-denied apparmor-denied no-reader multiple-servers reply-dir-denied reply-dir-mismatch \
            umask php-open-basedir read-only-mount access-ok";
        for name in issue.split_whitespace() {
            assert!(
                Code::ALL.iter().any(|c| c.as_str() == name),
                "missing {name}"
            );
        }
    }

    #[test]
    fn docs_list_every_code() {
        let doc = include_str!("../../docs/doctor.md");
        for c in Code::ALL {
            assert!(
                doc.contains(&format!("`{}`", c.as_str())),
                "docs/doctor.md lacks {c}"
            );
        }
    }
}
