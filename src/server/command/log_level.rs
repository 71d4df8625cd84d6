//! `log_level`: without parameters the level of each process; with `level`
//! sets the global level; with `level` and `pid` sets one process's level
//! (only our own pid exists; another pid is -32602 `Bad PID`). The value is
//! stored and reported; it does not change mififo's own log filter.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

pub(super) fn command() -> Command {
    Command::builtin(
        "log_level",
        "gets/sets the per process or global log level of OpenSIPS",
        &[&[], &["level"], &["level", "pid"]],
        run,
    )
}

fn run(b: &Builtin, a: &Args) -> Result<Value, RpcError> {
    if !a.has("level") {
        return Ok(json!({"Processes": [{
            "PID": std::process::id(),
            "Log level": b.ctx.log_level.load(Ordering::Relaxed),
            "Type": super::ps::PROCESS_TYPE,
        }]}));
    }
    let level = a.int("level")?;
    if a.has("pid") {
        let pid = a.int("pid")?;
        if pid != i64::from(std::process::id()) {
            return Err(RpcError::invalid_params("Bad PID"));
        }
        b.ctx.log_level.store(level, Ordering::Relaxed);
        return Ok(json!({ "Log level": level }));
    }
    b.ctx.log_level.store(level, Ordering::Relaxed);
    Ok(json!({ "New global log level": level }))
}
