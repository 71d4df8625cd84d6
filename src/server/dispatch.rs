//! One framed request → one reply, for both dialects.
//!
//! The order is OpenSIPS's: check the reply name, open the reply FIFO (with
//! the retry window), and only then run the command — a command whose client
//! cannot receive the answer is not run. Each request runs in its own task,
//! so waiting for a slow client or a slow command never holds up the others.

use super::fairness::{Slot, Waiters};
use super::fault::{Before, Faults};
use super::stats::{names, Stats};
use super::throttle::Throttle;
use super::Executor;
use crate::fifo::reply::{ReplyError, ReplyFifo};
use crate::proto::framing::Frame;
use crate::proto::jsonrpc::{code, Outcome, Params, Request, Response, RpcError};
use crate::proto::text::{self, TextRequest};
use crate::proto::{print, reply_name};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// What every request task needs.
pub struct Shared {
    /// Runs the commands.
    pub executor: Arc<dyn Executor>,
    /// The statistics store.
    pub stats: Arc<Stats>,
    /// Reply FIFO directory.
    pub reply_dir: PathBuf,
    /// Pretty JSON replies.
    pub pretty: bool,
    /// Deadline for writing one reply.
    pub reply_timeout: Duration,
    /// The reassembly cap (for the too-large message).
    pub buffer_cap: usize,
    /// Aggregates repeated log lines.
    pub throttle: Arc<Throttle>,
    /// `--fault` rules (empty by default).
    pub faults: Arc<super::fault::Faults>,
    /// Waiting slots for requests whose reply FIFO is slow.
    pub waiters: Arc<Waiters>,
}

/// One request's claim on the server's capacity: the in-flight permit while
/// it runs on the common path, or a waiting slot once its reply FIFO made it
/// wait (no reader yet, or no room).
pub struct Turn {
    permit: Option<OwnedSemaphorePermit>,
    slot: Option<Slot>,
}

impl Turn {
    /// A request holding an in-flight permit.
    pub fn new(permit: OwnedSemaphorePermit) -> Turn {
        Turn {
            permit: Some(permit),
            slot: None,
        }
    }

    /// Moves to the side path: takes a waiting slot for `path` and gives the
    /// permit back. A request already there keeps its slot.
    fn leave_common_path(
        &mut self,
        waiters: &Arc<Waiters>,
        path: &std::path::Path,
    ) -> Result<(), String> {
        if self.slot.is_none() {
            self.slot = Some(waiters.enter(path)?);
            self.permit = None;
        }
        Ok(())
    }
}

/// The compact reply, byte for byte what `print::compact(&resp.to_value())`
/// gives (members `jsonrpc`, `result`/`error`, `id`), written straight into
/// one buffer: no `Map` is built and the result is not cloned. A numeric id
/// the `Value` holds only approximately is written as `raw_id`.
fn render_compact(resp: &Response, raw_id: Option<&str>) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(r#"{"jsonrpc":"2.0","#);
    match &resp.outcome {
        Outcome::Result(r) => {
            out.push_str(r#""result":"#);
            print::compact_into(&mut out, r);
        }
        Outcome::Error(e) => {
            out.push_str(r#""error":"#);
            print::compact_into(&mut out, &e.to_value());
        }
    }
    out.push_str(r#","id":"#);
    match raw_id.filter(|_| resp.id.is_number()) {
        Some(raw) => out.push_str(raw),
        None => print::compact_into(&mut out, &resp.id),
    }
    out.push('}');
    out
}

/// Log causes (see [`Throttle`]).
const DROPPED: &str = "dropped requests (no reply could be delivered)";
const MALFORMED: &str = "malformed requests answered with an error";

fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl Shared {
    /// Resolves the reply path, or logs and counts the drop.
    fn reply_path(&self, name: &[u8]) -> Option<PathBuf> {
        match reply_name::reply_path(&self.reply_dir, name) {
            Ok(p) => Some(p),
            Err(e) => {
                if self.throttle.hit(DROPPED, 0) {
                    tracing::warn!("dropping request: {e}");
                }
                self.stats.add(names::DROPPED, 1);
                None
            }
        }
    }

    /// Opens the reply FIFO, or logs and counts the drop. While there is
    /// no reader yet, the request waits on the side path (see [`Turn`]).
    async fn open(&self, path: &std::path::Path, turn: &mut Turn) -> Option<ReplyFifo> {
        // Common path: one attempt, no future of its own. The retry loop
        // (boxed, so the request's future stays small) only when it waits.
        let opened = match ReplyFifo::open_now(path) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => {
                Box::pin(ReplyFifo::open_with(path, || {
                    turn.leave_common_path(&self.waiters, path)
                        .map_err(|reason| ReplyError::Busy {
                            path: path.to_path_buf(),
                            reason,
                        })
                }))
                .await
            }
            Err(e) => Err(e),
        };
        match opened {
            Ok(r) => Some(r),
            Err(e) => {
                if self.throttle.hit(DROPPED, 0) {
                    tracing::warn!("command not run: {}", super::error_chain(&e));
                }
                self.stats.add(names::DROPPED, 1);
                None
            }
        }
    }

    async fn write(&self, mut reply: ReplyFifo, bytes: &[u8], turn: &mut Turn) {
        // Common path: the reply fits into the FIFO now.
        let done = match reply.write_now(bytes) {
            Ok(n) => n,
            Err(e) => return self.write_failed(&e),
        };
        if done == bytes.len() {
            return;
        }
        // No room: wait on the side path, without the in-flight permit.
        if let Err(reason) = turn.leave_common_path(&self.waiters, reply.path()) {
            let e = ReplyError::Busy {
                path: reply.path().to_path_buf(),
                reason,
            };
            return self.write_failed(&e);
        }
        if let Err(e) = Box::pin(reply.write_and_close(&bytes[done..], self.reply_timeout)).await {
            self.write_failed(&e);
        }
    }

    fn write_failed(&self, e: &ReplyError) {
        if self.throttle.hit(DROPPED, 0) {
            tracing::warn!("{}", super::error_chain(e));
        }
        self.stats.add(names::DROPPED, 1);
    }

    /// Prints a response; a numeric id that `Value` holds only approximately
    /// is echoed with the exact text the client sent (`raw_id`). The id is
    /// the last member, so it is printed as `null` and that token replaced.
    fn render(&self, resp: &Response, raw_id: Option<&str>) -> String {
        if !self.pretty {
            return render_compact(resp, raw_id);
        }
        let Some(raw) = raw_id.filter(|_| resp.id.is_number()) else {
            return print::print(&resp.to_value(), self.pretty);
        };
        let placeholder = Response {
            outcome: resp.outcome.clone(),
            id: Value::Null,
        };
        let mut out = print::print(&placeholder.to_value(), self.pretty);
        match out.rfind("null") {
            Some(at) => out.replace_range(at..at + 4, raw),
            None => return print::print(&resp.to_value(), self.pretty),
        }
        out
    }

    /// Handles one JSON-dialect frame (not `Garbage`, which the reader logs).
    pub async fn json_frame(&self, frame: Frame, raw_id: Option<String>, turn: &mut Turn) {
        match frame {
            Frame::Request { reply_name, body } => {
                self.json_request(reply_name, body, raw_id.as_deref(), turn)
                    .await
            }
            Frame::Unparseable { reply_name, error } => {
                if self.throttle.hit(MALFORMED, 0) {
                    tracing::warn!(reply = %show(&reply_name), "cannot parse command: {error}");
                }
                self.json_error(&reply_name, RpcError::parse_error(), turn)
                    .await;
            }
            Frame::TooLarge {
                reply_name,
                buffered,
            } => {
                if self.throttle.hit(MALFORMED, buffered as u64) {
                    tracing::warn!(
                        reply = %show(&reply_name),
                        "discarding a request larger than {} bytes ({buffered} buffered); skipping the rest of it",
                        self.buffer_cap
                    );
                }
                let e = RpcError::with_data(
                    code::INVALID_REQUEST,
                    "Invalid Request",
                    format!("request larger than {} bytes", self.buffer_cap),
                );
                self.json_error(&reply_name, e, turn).await;
            }
            Frame::Garbage { .. } => {}
        }
    }

    /// An error reply with `"id":null` for a frame that has no usable request.
    async fn json_error(&self, name: &[u8], e: RpcError, turn: &mut Turn) {
        self.stats.add(names::REQUESTS, 1);
        self.stats.add(names::ERRORS, 1);
        if name.is_empty() {
            return;
        }
        let Some(path) = self.reply_path(name) else {
            return;
        };
        let Some(reply) = self.open(&path, turn).await else {
            return;
        };
        let resp = Response {
            outcome: Outcome::Error(e),
            id: Value::Null,
        };
        self.write(reply, self.render(&resp, None).as_bytes(), turn)
            .await;
    }

    async fn json_request(
        &self,
        name: Vec<u8>,
        body: Value,
        raw_id: Option<&str>,
        turn: &mut Turn,
    ) {
        self.stats.add(names::REQUESTS, 1);
        let parsed = Request::from_value(&body);
        if name.is_empty() {
            // `::{…}`: run, reply to nobody (OpenSIPS does the same).
            if let Ok(req) = parsed {
                let out = self.executor.execute(&req).await;
                if matches!(out, Outcome::Error(_)) {
                    self.stats.add(names::ERRORS, 1);
                }
            }
            return;
        }
        // --fault hook (off unless configured): see fault.rs.
        let rule = match &parsed {
            Ok(req) => self.faults.rule(&req.method),
            Err(_) => None,
        };
        if let Before::Drop = Faults::before_open(rule).await {
            return;
        }
        let Some(path) = self.reply_path(&name) else {
            return;
        };
        let Some(reply) = self.open(&path, turn).await else {
            return;
        };
        let (outcome, id, notification) = match parsed {
            Ok(req) => {
                let out = self.executor.execute(&req).await;
                (out, req.id.clone().unwrap_or(Value::Null), req.id.is_none())
            }
            // Unusable id types (object, array, bool) get id null: OpenSIPS
            // answers them with the plain text `failed to print response`.
            Err(inv) => (
                Outcome::Error(RpcError::invalid_request()),
                inv.reply_id.unwrap_or(Value::Null),
                false,
            ),
        };
        if let Outcome::Error(e) = &outcome {
            self.stats.add(names::ERRORS, 1);
            tracing::debug!(reply = %show(&name), "error reply: {e}");
        }
        if notification {
            // Opened, nothing written, closed: the client sees EOF at once.
            drop(reply);
            return;
        }
        let raw_id = if Faults::rewrites_id(rule) {
            None
        } else {
            raw_id
        };
        let id = Faults::reply_id(rule, id);
        let resp = Response { outcome, id };
        if rule.is_some() {
            let bytes = self.render(&resp, raw_id);
            if let Err(e) = Faults::deliver(rule, reply, bytes.as_bytes(), self.reply_timeout).await
            {
                tracing::warn!("{}", super::error_chain(&e));
            }
            return;
        }
        self.write(reply, self.render(&resp, raw_id).as_bytes(), turn)
            .await;
    }

    /// Handles one text-dialect request.
    pub async fn text_request(&self, tr: TextRequest, turn: &mut Turn) {
        self.stats.add(names::REQUESTS, 1);
        if tr.reply_name.is_empty() {
            // 1.x/2.x: the reply FIFO is mandatory; without it the command is not run.
            if self.throttle.hit(DROPPED, 0) {
                tracing::warn!(command = %tr.command, "dropping request without a reply FIFO name");
            }
            self.stats.add(names::DROPPED, 1);
            return;
        }
        // --fault hook (off unless configured): see fault.rs.
        let rule = self.faults.rule(&tr.command);
        if let Before::Drop = Faults::before_open(rule).await {
            return;
        }
        let Some(path) = self.reply_path(&tr.reply_name) else {
            return;
        };
        let Some(reply) = self.open(&path, turn).await else {
            return;
        };
        let bytes = self.text_answer(&tr).await;
        if !bytes.starts_with("200 ") {
            self.stats.add(names::ERRORS, 1);
        }
        if rule.is_some() {
            if let Err(e) = Faults::deliver(rule, reply, bytes.as_bytes(), self.reply_timeout).await
            {
                tracing::warn!("{}", super::error_chain(&e));
            }
            return;
        }
        self.write(reply, bytes.as_bytes(), turn).await;
    }

    async fn text_answer(&self, tr: &TextRequest) -> String {
        let cmd = &tr.command;
        let args = match &tr.args {
            Ok(a) => a,
            Err(e) => {
                if self.throttle.hit(MALFORMED, 0) {
                    tracing::warn!(command = %cmd, "argument parse error: {e}");
                }
                return text::parse_error(cmd);
            }
        };
        let params = if args.is_empty() {
            Params::None
        } else if let Some(p) = self.executor.array_param(cmd) {
            let items = args
                .iter()
                .map(|a| Value::String(a.value.clone()))
                .collect();
            Params::Named(Map::from_iter([(p, Value::Array(items))]))
        } else if args.iter().all(|a| a.name.is_some()) {
            Params::Named(
                args.iter()
                    .map(|a| {
                        (
                            a.name.clone().unwrap_or_default(),
                            Value::String(a.value.clone()),
                        )
                    })
                    .collect(),
            )
        } else {
            Params::Positional(
                args.iter()
                    .map(|a| Value::String(a.value.clone()))
                    .collect(),
            )
        };
        let req = Request::new(cmd.clone(), params, Some(Value::Null));
        match self.executor.execute(&req).await {
            Outcome::Result(v) => text::write_tree(200, "OK", &text::tree_from_result(&v), "\t"),
            Outcome::Error(e) => match e.code {
                code::METHOD_NOT_FOUND => text::not_available(cmd),
                code::SERVER_ERROR => text::failed(cmd),
                code::INVALID_PARAMS => {
                    let reason = match e.data.as_ref().and_then(Value::as_str) {
                        Some(super::params::TOO_FEW_OR_MANY) | None => {
                            "Too few or too many arguments".to_string()
                        }
                        Some(d) => d.to_string(),
                    };
                    text::write_tree(400, &reason, &[], "\t")
                }
                c if c > 0 => text::write_tree(c, &e.message, &[], "\t"),
                _ => text::write_tree(500, &e.message, &[], "\t"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_rendering_is_the_printed_value() {
        for resp in [
            Response {
                outcome: Outcome::Result(json!({"Now":"x","n":[1,2.5,"\u{1}"]})),
                id: json!(7),
            },
            Response {
                outcome: Outcome::Result(json!("OK")),
                id: json!("a\"b"),
            },
            Response {
                outcome: Outcome::Error(RpcError::invalid_params("Bad PID")),
                id: Value::Null,
            },
            Response {
                outcome: Outcome::Error(RpcError::method_not_found()),
                id: json!(-3),
            },
        ] {
            assert_eq!(
                render_compact(&resp, None),
                print::compact(&resp.to_value())
            );
        }
        let r = Response {
            outcome: Outcome::Result(json!(1)),
            id: json!(1.2345678901234568e29),
        };
        assert_eq!(
            render_compact(&r, Some("123456789012345678901234567890")),
            r#"{"jsonrpc":"2.0","result":1,"id":123456789012345678901234567890}"#
        );
    }
}
