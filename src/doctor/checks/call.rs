//! `--call METHOD`: one real exchange as the client (through the probe
//! child, which takes the client's namespace and credentials), classified
//! as answered, wrong dialect, no reply, or reply FIFO unreachable — the last
//! when nothing answers and the reply-direction check already found why the
//! server cannot reach the client's reply FIFO.

use super::Ctx;
use crate::doctor::code::Code;
use crate::doctor::exchange::{CallOutcome, CallRequest};
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use crate::doctor::probe::ProbeRequest;
use crate::doctor::subject::Subject;
use std::path::PathBuf;

/// Runs the check for one client.
pub fn check(ctx: &mut Ctx<'_>, c: &Subject) {
    let Some(spec) = ctx.cfg.call.clone() else {
        return;
    };
    let name = format!("call {}", c.name);
    let me_uid = ctx.me.as_ref().map(|m| m.status.uid[1]);
    let as_self = ctx.unprivileged;
    if as_self && me_uid != Some(c.creds.uid) {
        ctx.hide(format!(
            "the --call exchange as {} (needs its credentials)",
            c.name
        ));
        ctx.line(
            name,
            Status::Unknown,
            "an exchange as another user needs root",
        );
        return;
    }
    let (Some(prober), true) = (ctx.prober, ctx.cfg.probe) else {
        ctx.line(name, Status::Skipped, "no probe (--no-probe or --sysroot)");
        return;
    };
    let path: PathBuf = if ctx.cfg.fifo.is_absolute() {
        ctx.cfg.fifo.clone()
    } else {
        c.cwd.join(&ctx.cfg.fifo)
    };
    let req = ProbeRequest::as_client(c, path.clone(), false);
    let call = CallRequest {
        fifo: path,
        reply_dir: ctx.cfg.reply_dir.clone(),
        method: spec.method.clone(),
        dialect: spec.dialect,
        timeout: spec.timeout,
    };
    let m = &spec.method;
    let d = spec.dialect;
    let outcome = match prober.call(&req, &call, as_self) {
        Ok(o) => o,
        Err(e) => {
            ctx.line(
                name,
                Status::Problem,
                format!("the exchange could not run: {}", crate::error::chain(&e)),
            );
            ctx.undecided.push(c.name.clone());
            return;
        }
    };
    match outcome {
        CallOutcome::Answered { reply, error } => {
            let f = Finding::new(
                Code::CallAnswered,
                if error {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                if error {
                    format!(
                        "{} sent {m} ({d} dialect) and the server answered with an error: {reply}",
                        c.name
                    )
                } else {
                    format!("{} sent {m} ({d} dialect) and the server answered", c.name)
                },
            )
            .subject(c.name.clone())
            .evidence("reply", reply);
            ctx.add(f);
            ctx.line(name, Status::Ok, format!("{m} answered in the {d} dialect"));
        }
        CallOutcome::WrongDialect { server, reply } => {
            let f = Finding::new(
                Code::CallWrongDialect,
                Severity::Error,
                format!(
                    "{} sends {d}-dialect requests, which the server ignores, but it answers {server}-dialect ones: client and server speak different MI dialects (OpenSIPS 3.x/4.x: json, OpenSIPS 1.x/2.x and opensipsctl: text, Kamailio jsonrpcs: kamailio), so every client call waits for its timeout",
                    c.name
                ),
            )
            .subject(c.name.clone())
            .evidence("client dialect", d.to_string())
            .evidence(format!("{server} answer"), reply)
            .fix(Fix::new(
                format!("make the client speak {server} (its library/setting for the MI dialect), or run a server of the client's kind; check with"),
                [format!(
                    "mififo call --dialect {server} --fifo '{}' --reply-dir '{}' {}",
                    ctx.cfg.fifo.display(),
                    ctx.cfg.reply_dir.display(),
                    crate::doctor::exchange::harmless_in(&server)
                )],
            ));
            ctx.add(f);
            ctx.line(
                name,
                Status::Problem,
                format!("no {d} reply; the server answers {server}"),
            );
        }
        CallOutcome::NoReply { detail } => {
            let reply_errors: Vec<String> = ctx
                .report
                .findings
                .iter()
                .filter(|f| {
                    f.severity == Severity::Error
                        && f.subject.as_deref() == Some(c.name.as_str())
                        && matches!(
                            f.code,
                            Code::ReplyDirDenied
                                | Code::ReplyDirMismatch
                                | Code::ReadOnlyMount
                                | Code::Umask
                        )
                })
                .map(|f| f.code.to_string())
                .collect();
            let f = if reply_errors.is_empty() {
                let fix = super::servers::restart_fix(
                    ctx,
                    "the request was taken but nothing answered in any dialect: look at the server's log; restart it if it hangs",
                );
                Finding::new(
                    Code::CallNoReply,
                    Severity::Error,
                    format!("{} sent {m} ({d} dialect) but nothing answered, in this or any other MI dialect", c.name),
                )
                .fix(fix)
            } else {
                Finding::new(
                    Code::CallReplyUnreachable,
                    Severity::Error,
                    format!(
                        "{} sent {m} but no reply came back: the server cannot reach the client's reply FIFO in {} ({} above)",
                        c.name,
                        ctx.cfg.reply_dir.display(),
                        reply_errors.join(", ")
                    ),
                )
                .fix(Fix::new(format!("fix the {} problem(s) above", reply_errors.join(", ")), []))
            }
            .subject(c.name.clone())
            .evidence("client", detail);
            let code = f.code;
            ctx.add(f);
            ctx.line(name, Status::Problem, code.to_string());
        }
        CallOutcome::NotSent { detail } => {
            let explained = ctx
                .report
                .findings
                .iter()
                .any(|f| f.severity == Severity::Error);
            if !explained {
                ctx.add(
                    Finding::new(
                        Code::CallNoReply,
                        Severity::Error,
                        format!("{} could not send {m}: {detail}", c.name),
                    )
                    .subject(c.name.clone()),
                );
            }
            ctx.line(name, Status::Problem, format!("not sent: {detail}"));
        }
    }
}
