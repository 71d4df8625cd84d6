//! The command policy: which MI methods a client may run.
//!
//! A policy is a list of rules, each a glob over the method name (`*` any
//! run of characters, `?` one character): `GLOB` allows, `!GLOB` denies.
//! A method passes when no deny rule matches it and, if there are allow
//! rules, one of them does. The gateway checks the global policy (flags)
//! and the user's own policy separately and needs both to pass, so a
//! user's rules can only narrow what the flags allow.
//!
//! The `read-only` preset allows the commands that only report (statistics,
//! lists, dumps, `uptime`, `version`, `which`, `help`, `ps`, …) for OpenSIPS
//! and Kamailio names alike, and denies the dangerous families explicitly,
//! so `read-only` combined with a broad allow glob still refuses them.

/// Methods that only read state, OpenSIPS (`get_statistics`) and Kamailio
/// (`core.uptime`, `stats.get_statistics`) spellings.
pub const READ_ONLY_ALLOW: &[&str] = &[
    "uptime",
    "version",
    "which",
    "help",
    "ps",
    "pwd",
    "arg",
    "get_statistics",
    "list_statistics",
    "get_*",
    "list_*",
    "*_list",
    "*_list_*",
    "*_dump",
    "*_show",
    "*_show_*",
    "*_get_size",
    "*_get_values",
    "cache_fetch",
    "core.*",
    "stats.get_statistics",
    "stats.fetch",
    "*.list",
    "*.list_*",
    "*.dump",
    "*.show",
    "*.stats",
    "system.listMethods",
    "system.methodHelp",
];

/// Never read-only, whatever an allow glob says: stopping, reloading,
/// ending calls, changing log levels or stored data.
pub const READ_ONLY_DENY: &[&str] = &[
    "kill",
    "*.kill",
    "*shutdown*",
    "reload_*",
    "*_reload",
    "*_reload_*",
    "*.reload",
    "*reload*",
    "dlg_end_dlg",
    "*end_dlg*",
    "log_level",
    "*log_level*",
    "*debug*",
    "*reset*",
    "*set*",
    "*_add",
    "*_delete",
    "*_remove",
    "*.add",
    "*.delete",
    "*.remove",
    "*_flush",
    "*.flush",
    "core.kill",
    "core.psx",
    "cfg.*",
    "*_gw_status",
    "*_carrier_status",
    "*_status_set",
    "ds_set_state",
    "t_uac_dlg",
    "*_store",
    "cache_store",
    "cache_remove",
    "raise_event",
];

/// One rule: allow or deny methods matching a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// True for `!GLOB`.
    pub deny: bool,
    /// The glob.
    pub glob: String,
}

/// An ordered set of allow/deny rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
}

/// A policy item that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid method policy '{item}': {reason}")]
pub struct PolicyError {
    /// The item as written.
    pub item: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Policy {
    /// Everything allowed.
    pub fn allow_all() -> Policy {
        Policy::default()
    }

    /// The `read-only` preset.
    pub fn read_only() -> Policy {
        let mut p = Policy::default();
        p.add_preset_read_only();
        p
    }

    fn add_preset_read_only(&mut self) {
        for g in READ_ONLY_ALLOW {
            self.rules.push(Rule {
                deny: false,
                glob: (*g).into(),
            });
        }
        for g in READ_ONLY_DENY {
            self.rules.push(Rule {
                deny: true,
                glob: (*g).into(),
            });
        }
    }

    /// Parses comma-separated items: `read-only`, `all`, `GLOB`, `!GLOB`.
    pub fn parse(spec: &str) -> Result<Policy, PolicyError> {
        let mut p = Policy::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            p.add(item)?;
        }
        Ok(p)
    }

    /// Adds one item (see [`Policy::parse`]).
    pub fn add(&mut self, item: &str) -> Result<(), PolicyError> {
        let bad = |reason| PolicyError {
            item: item.to_string(),
            reason,
        };
        match item {
            "read-only" | "readonly" => self.add_preset_read_only(),
            "all" => self.rules.push(Rule {
                deny: false,
                glob: "*".into(),
            }),
            _ => {
                let (deny, glob) = match item.strip_prefix('!') {
                    Some(g) => (true, g),
                    None => (false, item),
                };
                if glob.is_empty() {
                    return Err(bad("empty glob"));
                }
                if !glob
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-*?".contains(&b))
                {
                    return Err(bad(
                        "a method glob has letters, digits, '_', '.', '-', '*' and '?'",
                    ));
                }
                self.rules.push(Rule {
                    deny,
                    glob: glob.into(),
                });
            }
        }
        Ok(())
    }

    /// Adds a deny rule for `glob`.
    pub fn deny(&mut self, glob: &str) -> Result<(), PolicyError> {
        self.add(&format!("!{glob}"))
    }

    /// True when there are no rules (everything allowed).
    pub fn is_open(&self) -> bool {
        self.rules.is_empty()
    }

    /// True when `method` passes this policy.
    pub fn permits(&self, method: &str) -> bool {
        let mut any_allow = false;
        let mut allowed = false;
        for r in &self.rules {
            if r.deny {
                if glob_match(&r.glob, method) {
                    return false;
                }
            } else {
                any_allow = true;
                allowed = allowed || glob_match(&r.glob, method);
            }
        }
        !any_allow || allowed
    }
}

/// Glob match with `*` and `?`, byte-wise, iterative (no backtracking blow-up
/// on hostile method names).
pub fn glob_match(glob: &str, text: &str) -> bool {
    let (g, t) = (glob.as_bytes(), text.as_bytes());
    let (mut gi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && (g[gi] == b'?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == b'*' {
            star = Some((gi, ti));
            gi += 1;
        } else if let Some((sg, st)) = star {
            gi = sg + 1;
            ti = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    while gi < g.len() && g[gi] == b'*' {
        gi += 1;
    }
    gi == g.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("reload_*", "reload_routes"));
        assert!(!glob_match("reload_*", "dr_reload"));
        assert!(glob_match("*_reload", "dr_reload"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("*a*b*", "xxbxxaxx"));
        let long = "a".repeat(10_000);
        assert!(!glob_match("*a*a*a*a*a*b", &long));
    }

    #[test]
    fn read_only_preset() {
        let p = Policy::read_only();
        for ok in [
            "uptime",
            "version",
            "which",
            "help",
            "ps",
            "get_statistics",
            "list_statistics",
            "dlg_list",
            "ul_dump",
            "ds_list",
            "profile_get_size",
            "core.uptime",
            "stats.get_statistics",
            "dlg.list",
        ] {
            assert!(p.permits(ok), "{ok} should be read-only");
        }
        for bad in [
            "kill",
            "reload_routes",
            "dr_reload",
            "dlg_end_dlg",
            "log_level",
            "reset_statistics",
            "core.kill",
            "cfg.set_now_int",
            "dr_gw_status",
            "address_reload",
            "ul_rm",
            "t_uac_dlg",
            "cache_store",
            "debug",
            "sl_stats_reset",
            "rtpengine_reload",
        ] {
            assert!(!p.permits(bad), "{bad} must not be read-only");
        }
    }

    #[test]
    fn allow_deny_and_narrowing() {
        assert!(Policy::allow_all().permits("kill"));
        let p = Policy::parse("get_*, uptime").unwrap();
        assert!(p.permits("get_statistics"));
        assert!(p.permits("uptime"));
        assert!(!p.permits("kill"));
        let p = Policy::parse("!kill,!*reload*").unwrap();
        assert!(p.permits("uptime"));
        assert!(!p.permits("kill"));
        assert!(!p.permits("reload_routes"));
        // read-only plus a broad allow still denies the dangerous families.
        let p = Policy::parse("read-only, *").unwrap();
        assert!(!p.permits("kill"));
        assert!(!p.permits("reload_routes"));
        assert!(Policy::parse("a b").is_err());
        assert!(Policy::parse("!").is_err());
    }
}
