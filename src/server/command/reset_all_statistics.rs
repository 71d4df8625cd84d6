//! `reset_all_statistics`: zeroes every counter.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::Value;

pub(super) fn command() -> Command {
    Command::builtin(
        "reset_all_statistics",
        "resets the value of all statistic variables",
        &[&[]],
        run,
    )
}

fn run(b: &Builtin, _: &Args) -> Result<Value, RpcError> {
    b.ctx.stats.reset_all();
    Ok(Value::String("OK".into()))
}
