//! `record --redact`: addresses, SIP user parts and host names replaced
//! consistently (the same original always becomes the same stand-in, within
//! one recording), so replies stay coherent: a dialog's `caller_contact` and
//! a contact's `received` still agree after redaction.
//!
//! - IPv4 addresses → `192.0.2.N`, then `198.51.100.N`, `203.0.113.N` (the
//!   documentation ranges); IPv6 (a token with two or more `:` and hex
//!   digits) → `2001:db8::N`.
//! - In `sip:`/`sips:` URIs, the user part → `userN`; a host that is a name →
//!   `hostN.example.invalid`.
//!
//! Only string values are rewritten (keys and numbers are kept): what a
//! server sent is data, never interpreted further.

use serde_json::Value;
use std::collections::HashMap;

/// Consistent replacement maps.
#[derive(Debug, Default)]
pub struct Redactor {
    v4: HashMap<String, String>,
    v6: HashMap<String, String>,
    users: HashMap<String, String>,
    hosts: HashMap<String, String>,
}

fn is_v4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

fn is_v6(s: &str) -> bool {
    s.matches(':').count() >= 2
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        && s.bytes().any(|b| b.is_ascii_hexdigit())
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

impl Redactor {
    /// A fresh redactor (nothing mapped yet).
    pub fn new() -> Redactor {
        Redactor::default()
    }

    fn map(map: &mut HashMap<String, String>, key: &str, make: impl Fn(usize) -> String) -> String {
        let n = map.len() + 1;
        map.entry(key.to_string())
            .or_insert_with(|| make(n))
            .clone()
    }

    fn v4(&mut self, a: &str) -> String {
        Self::map(&mut self.v4, a, |n| {
            let (net, host) = ((n - 1) / 254, (n - 1) % 254 + 1);
            let prefix = ["192.0.2", "198.51.100", "203.0.113"][net % 3];
            format!("{prefix}.{host}")
        })
    }

    fn host(&mut self, h: &str) -> String {
        if is_v4(h) {
            return self.v4(h);
        }
        let bare = h.trim_start_matches('[').trim_end_matches(']');
        if is_v6(bare) {
            let r = Self::map(&mut self.v6, bare, |n| format!("2001:db8::{n:x}"));
            return if h.starts_with('[') {
                format!("[{r}]")
            } else {
                r
            };
        }
        if is_name(h) {
            return Self::map(&mut self.hosts, h, |n| format!("host{n}.example.invalid"));
        }
        h.to_string()
    }

    /// Rewrites one string.
    pub fn string(&mut self, s: &str) -> String {
        // Tokens: runs of characters that can be part of an address or URI.
        let mut out = String::with_capacity(s.len());
        let mut token = String::new();
        let flush = |this: &mut Redactor, token: &mut String, out: &mut String| {
            if !token.is_empty() {
                out.push_str(&this.token(token));
                token.clear();
            }
        };
        for c in s.chars() {
            if c.is_ascii_alphanumeric() || "._-:@[]+%!~*'".contains(c) {
                token.push(c);
            } else {
                flush(self, &mut token, &mut out);
                out.push(c);
            }
        }
        flush(self, &mut token, &mut out);
        out
    }

    fn token(&mut self, t: &str) -> String {
        for scheme in ["sips:", "sip:"] {
            if let Some(rest) = t.strip_prefix(scheme) {
                let (user, hostport) = match rest.split_once('@') {
                    Some((u, h)) => (Some(u), h),
                    None => (None, rest),
                };
                let user = user.map(|u| Self::map(&mut self.users, u, |n| format!("user{n}")));
                let hostport = self.hostport(hostport);
                return match user {
                    Some(u) => format!("{scheme}{u}@{hostport}"),
                    None => format!("{scheme}{hostport}"),
                };
            }
        }
        // `[v6]:port`, `udp:1.2.3.4:5060`, `1.2.3.4:5060`, `1.2.3.4`, a bare IPv6.
        if t.starts_with('[') && t.contains(']') {
            return self.hostport(t);
        }
        if is_v6(t.trim_start_matches('[').trim_end_matches(']')) && !is_v4(t) {
            return self.host(t);
        }
        let parts: Vec<&str> = t.split(':').collect();
        let mut changed = false;
        let out: Vec<String> = parts
            .iter()
            .map(|p| {
                if is_v4(p) {
                    changed = true;
                    self.v4(p)
                } else {
                    p.to_string()
                }
            })
            .collect();
        if changed {
            return out.join(":");
        }
        // `user@host` without a scheme (AoRs as usrloc prints them).
        if let Some((u, h)) = t.split_once('@') {
            if !u.is_empty() && (is_name(h) || is_v4(h)) {
                let u = Self::map(&mut self.users, u, |n| format!("user{n}"));
                let h = self.host(h);
                return format!("{u}@{h}");
            }
        }
        t.to_string()
    }

    fn hostport(&mut self, hp: &str) -> String {
        // host[:port][;params…] — params are outside the token already.
        if hp.starts_with('[') {
            if let Some(end) = hp.find(']') {
                return format!("{}{}", self.host(&hp[..=end]), &hp[end + 1..]);
            }
        }
        match hp.split_once(':') {
            Some((h, port)) => format!("{}:{port}", self.host(h)),
            None => self.host(hp),
        }
    }

    /// Rewrites every string inside `v`.
    pub fn value(&mut self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.string(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), self.value(x))).collect())
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consistent_and_complete() {
        let mut r = Redactor::new();
        let v = json!({
            "callid": "abc@pbx.corp.example.com",
            "from_uri": "sip:alice@pbx.corp.example.com;transport=udp",
            "caller_contact": "sip:alice@10.1.2.3:5060",
            "caller_bind_addr": "udp:10.1.2.3:5060",
            "received": "sip:10.9.9.9:5062",
            "ipv6": "[2a01:4f8::1]:5060",
            "n": 5,
            "state": "confirmed"
        });
        let out = r.value(&v);
        let text = out.to_string();
        for secret in ["alice", "10.1.2.3", "10.9.9.9", "corp", "2a01"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(out["callid"], "user1@host1.example.invalid");
        assert_eq!(out["caller_contact"], "sip:user2@192.0.2.1:5060");
        assert_eq!(
            out["caller_bind_addr"], "udp:192.0.2.1:5060",
            "same address, same stand-in"
        );
        assert_eq!(
            out["from_uri"],
            "sip:user2@host1.example.invalid;transport=udp"
        );
        assert_eq!(out["received"], "sip:192.0.2.2:5062");
        assert_eq!(out["n"], 5);
        assert_eq!(out["state"], "confirmed");
        // The same input twice gives the same output.
        assert_eq!(r.value(&v), out);
    }
}
