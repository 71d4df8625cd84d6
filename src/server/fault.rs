//! `serve --fault RULE`: failures on demand, for testing clients' error paths.
//!
//! Off unless asked for: a server without `--fault` never injects anything.
//! A rule is `[METHOD=]KIND[:ARG]` and applies to every request of that
//! method (either dialect), or to every request without `METHOD=`; the first
//! matching rule wins, so `uptime=close` before `delay:1s` gives `uptime` the
//! close and everything else the delay.
//!
//! | rule | what the server does | the real failure it imitates |
//! |---|---|---|
//! | `delay:DUR` | waits DUR before it opens the reply FIFO, then answers | a busy MI process (OpenSIPS has one) working through a queue |
//! | `no-reply` | never opens the reply FIFO (the command is not run) | bad reply name, unparseable request, `no client at …` in OpenSIPS |
//! | `close` | opens the reply FIFO and closes it without writing | a notification, or OpenSIPS's answer to a batch just before it crashes |
//! | `truncate[:N]` | writes the first N bytes of the reply (default: half), then closes | an async reply cut at the first 4096-byte chunk, a server killed mid-write |
//! | `garbage` | writes `failed to print response` (plain text), then closes | OpenSIPS's plain-text engine errors (`"id":{…}`) |
//! | `wrong-id` | answers with another `id` (the sent one with `-wrong` appended, or +1 for a number) | a late reply of an earlier request read from a reused reply FIFO |
//! | `clamp-id` | echoes an integer id outside −2^31…2^31−1 as the nearest end (2147483647, −2147483648) | OpenSIPS 3.6's `mi_fifo`, which keeps the id in a C `int` |
//! | `trickle[:DUR]` | writes the reply one byte at a time, DUR apart (default 20ms) | a reply written in many small chunks, a loaded host |
//! | `late:DUR` | opens the reply FIFO, runs the command, holds DUR, then writes | a reply that arrives after the client's timeout |
//! | `die` | opens the reply FIFO, closes it empty and exits at once with status 139, leaving the FIFO file behind | OpenSIPS 3.6's segfault on a batch request, taking the whole server down |

use crate::config::parse_duration;
use crate::fifo::reply::ReplyFifo;
use serde_json::Value;
use std::time::Duration;

/// What a rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Wait before opening the reply FIFO.
    Delay(Duration),
    /// Never open the reply FIFO.
    NoReply,
    /// Open and close without writing.
    Close,
    /// Write only this many bytes (`None`: half the reply).
    Truncate(Option<usize>),
    /// Write a plain-text non-JSON line.
    Garbage,
    /// Answer with a different id.
    WrongId,
    /// Clamp integer ids to a C `int`, as OpenSIPS does.
    ClampId,
    /// One byte at a time, this far apart.
    Trickle(Duration),
    /// Hold the opened reply FIFO this long, then write.
    Late(Duration),
    /// Exit the process at once.
    Die,
}

/// One `--fault` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `None`: every method.
    pub method: Option<String>,
    /// The fault.
    pub kind: Kind,
}

/// The exit status of `die` (what a segfault gives a shell).
pub const DIE_STATUS: i32 = 139;

/// The bytes `garbage` writes (OpenSIPS's plain-text answer to an object id).
pub const GARBAGE: &[u8] = b"failed to print response";

impl std::str::FromStr for Rule {
    type Err = String;

    /// `[METHOD=]KIND[:ARG]`.
    fn from_str(s: &str) -> Result<Rule, String> {
        let (method, rest) = match s.split_once('=') {
            Some((m, r)) if !m.is_empty() => (Some(m.to_string()), r),
            Some(_) => return Err(format!("'{s}': empty method before '='")),
            None => (None, s),
        };
        let (kind, arg) = match rest.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (rest, None),
        };
        let dur = |default: Option<Duration>| -> Result<Duration, String> {
            match (arg, default) {
                (Some(a), _) => parse_duration(a).map_err(|e| format!("'{s}': {e}")),
                (None, Some(d)) => Ok(d),
                (None, None) => Err(format!("'{s}': {kind} needs a duration ({kind}:2s)")),
            }
        };
        let no_arg = |k: Kind| match arg {
            None => Ok(k),
            Some(_) => Err(format!("'{s}': {kind} takes no argument")),
        };
        let kind = match kind {
            "delay" => Kind::Delay(dur(None)?),
            "no-reply" => no_arg(Kind::NoReply)?,
            "close" => no_arg(Kind::Close)?,
            "truncate" => Kind::Truncate(
                arg.map(|a| {
                    a.parse::<usize>()
                        .map_err(|_| format!("'{s}': truncate takes a byte count"))
                })
                .transpose()?,
            ),
            "garbage" => no_arg(Kind::Garbage)?,
            "wrong-id" => no_arg(Kind::WrongId)?,
            "clamp-id" => no_arg(Kind::ClampId)?,
            "trickle" => Kind::Trickle(dur(Some(Duration::from_millis(20)))?),
            "late" => Kind::Late(dur(None)?),
            "die" => no_arg(Kind::Die)?,
            other => {
                return Err(format!(
                "'{s}': unknown fault '{other}' (delay, no-reply, close, truncate, garbage, wrong-id, clamp-id, trickle, late, die)"
            ))
            }
        };
        Ok(Rule { method, kind })
    }
}

/// The rules of one server, first match wins.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Vec<Rule>,
}

/// What the request path does before opening the reply FIFO.
pub enum Before {
    /// Go on (open, run, then [`Faults::deliver`]).
    Proceed,
    /// Do not open the reply FIFO; do not run the command.
    Drop,
}

impl Faults {
    /// These rules.
    pub fn new(rules: Vec<Rule>) -> Faults {
        Faults { rules }
    }

    /// No rules (the default).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule for `method`.
    pub fn rule(&self, method: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.method.as_deref().is_none_or(|m| m == method))
    }

    /// Applies the part of `rule` that happens before the reply FIFO is opened.
    pub async fn before_open(rule: Option<&Rule>) -> Before {
        match rule.map(|r| &r.kind) {
            Some(Kind::Delay(d)) => {
                tokio::time::sleep(*d).await;
                Before::Proceed
            }
            Some(Kind::NoReply) => Before::Drop,
            _ => Before::Proceed,
        }
    }

    /// Rewrites the reply's id for `wrong-id`.
    pub fn reply_id(rule: Option<&Rule>, id: Value) -> Value {
        match rule.map(|r| &r.kind) {
            Some(Kind::WrongId) => {}
            Some(Kind::ClampId) => return clamp_id(id),
            _ => return id,
        }
        match id {
            Value::Number(n) => n
                .as_i64()
                .map_or(Value::Null, |i| Value::from(i.wrapping_add(1))),
            Value::String(s) => Value::String(format!("{s}-wrong")),
            _ => Value::String("wrong".into()),
        }
    }

    /// True when `rule` answers with an id other than the request's (the
    /// request's exact id text must then not be echoed).
    pub fn rewrites_id(rule: Option<&Rule>) -> bool {
        matches!(rule.map(|r| &r.kind), Some(Kind::WrongId | Kind::ClampId))
    }

    /// Writes `bytes` to `reply` the way `rule` says; `Err` is a delivery
    /// failure as [`ReplyFifo::write_and_close`] reports it.
    pub async fn deliver(
        rule: Option<&Rule>,
        mut reply: ReplyFifo,
        bytes: &[u8],
        timeout: Duration,
    ) -> Result<(), crate::fifo::reply::ReplyError> {
        match rule.map(|r| &r.kind) {
            Some(Kind::Close) => Ok(()),
            Some(Kind::Die) => {
                drop(reply);
                tracing::error!("--fault die: exiting abruptly");
                std::process::exit(DIE_STATUS);
            }
            Some(Kind::Truncate(n)) => {
                let n = n.unwrap_or(bytes.len() / 2).min(bytes.len());
                reply.write_and_close(&bytes[..n], timeout).await
            }
            Some(Kind::Garbage) => reply.write_and_close(GARBAGE, timeout).await,
            Some(Kind::Trickle(gap)) => {
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(*gap).await;
                    }
                    reply.write_part(std::slice::from_ref(b), timeout).await?;
                }
                Ok(())
            }
            Some(Kind::Late(d)) => {
                tokio::time::sleep(*d).await;
                reply.write_and_close(bytes, timeout).await
            }
            _ => reply.write_and_close(bytes, timeout).await,
        }
    }
}

/// An integer id as a C `int` holds it: out-of-range values become the
/// nearest end; other ids are left alone.
fn clamp_id(id: Value) -> Value {
    let Value::Number(n) = &id else {
        return id;
    };
    if n.is_f64() {
        return id;
    }
    let negative = n.to_string().starts_with('-');
    match n.as_i64() {
        Some(i) => Value::from(i.clamp(i32::MIN.into(), i32::MAX.into())),
        None if negative => Value::from(i32::MIN),
        None => Value::from(i32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_the_first_match_wins() {
        let r: Rule = "uptime=close".parse().unwrap();
        assert_eq!(r.method.as_deref(), Some("uptime"));
        assert_eq!(r.kind, Kind::Close);
        assert_eq!(
            "delay:250ms".parse::<Rule>().unwrap().kind,
            Kind::Delay(Duration::from_millis(250))
        );
        assert_eq!(
            "truncate:5".parse::<Rule>().unwrap().kind,
            Kind::Truncate(Some(5))
        );
        assert_eq!(
            "trickle".parse::<Rule>().unwrap().kind,
            Kind::Trickle(Duration::from_millis(20))
        );
        for bad in ["delay", "close:1", "nosuch", "=close", "truncate:x", "late"] {
            assert!(bad.parse::<Rule>().is_err(), "{bad}");
        }
        let f = Faults::new(vec![
            "uptime=close".parse().unwrap(),
            "garbage".parse().unwrap(),
        ]);
        assert_eq!(f.rule("uptime").unwrap().kind, Kind::Close);
        assert_eq!(f.rule("which").unwrap().kind, Kind::Garbage);
        assert!(Faults::default().rule("uptime").is_none());
    }

    #[test]
    fn wrong_id_differs_from_the_sent_one() {
        let c: Rule = "clamp-id".parse().unwrap();
        let big: Value = serde_json::from_str("9007199254740993").unwrap();
        assert_eq!(Faults::reply_id(Some(&c), big), Value::from(2147483647));
        assert_eq!(
            Faults::reply_id(Some(&c), Value::from(-3_000_000_000i64)),
            Value::from(-2147483648i64)
        );
        assert_eq!(Faults::reply_id(Some(&c), Value::from(7)), Value::from(7));
        assert_eq!(
            Faults::reply_id(Some(&c), Value::from("a")),
            Value::from("a")
        );
        let r: Rule = "wrong-id".parse().unwrap();
        assert_eq!(Faults::reply_id(Some(&r), Value::from(7)), Value::from(8));
        assert_eq!(
            Faults::reply_id(Some(&r), Value::from("a")),
            Value::from("a-wrong")
        );
        assert_eq!(Faults::reply_id(None, Value::from(7)), Value::from(7));
    }
}
