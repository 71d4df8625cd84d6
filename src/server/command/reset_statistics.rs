//! `reset_statistics statistics=[…]`: zeroes the selected counters (gauges
//! are left alone); nothing matched → 404.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::Value;

pub(super) fn command() -> Command {
    Command::builtin(
        "reset_statistics",
        "resets the value of a statistic variable",
        &[&["statistics"]],
        run,
    )
    .with_array_param("statistics")
}

fn run(b: &Builtin, a: &Args) -> Result<Value, RpcError> {
    let items = a.strings("statistics")?;
    if b.ctx.stats.reset(&items) == 0 {
        return Err(RpcError::new(404, "Statistics Not Found"));
    }
    Ok(Value::String("OK".into()))
}
