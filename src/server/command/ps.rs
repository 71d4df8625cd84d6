//! `ps`: `{"Processes":[{"ID":0,"PID":…,"Type":"MI FIFO"}]}` — the one
//! process that serves the FIFO (OpenSIPS lists all its processes).

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::{json, Value};

/// The `Type` reported for this process by `ps` and `log_level`.
pub const PROCESS_TYPE: &str = "MI FIFO";

pub(super) fn command() -> Command {
    Command::builtin("ps", "lists all processes used by OpenSIPS", &[&[]], run)
}

fn run(_: &Builtin, _: &Args) -> Result<Value, RpcError> {
    Ok(json!({"Processes": [{"ID": 0, "PID": std::process::id(), "Type": PROCESS_TYPE}]}))
}
