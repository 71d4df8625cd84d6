//! `get_statistics statistics=[…]`: `{"mod:stat":value,…}`; items are `all`,
//! `module:`, `name` or `module:name`; nothing matched → 404.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::{Map, Value};

pub(super) fn command() -> Command {
    Command::builtin(
        "get_statistics",
        "prints the statistics (all, group or one) realtime values.",
        &[&["statistics"]],
        run,
    )
    .with_array_param("statistics")
}

fn run(b: &Builtin, a: &Args) -> Result<Value, RpcError> {
    let items = a.strings("statistics")?;
    b.live.refresh(&b.ctx.stats);
    let found = b.ctx.stats.select(&items);
    if found.is_empty() {
        return Err(RpcError::new(404, "Statistics Not Found"));
    }
    let m: Map<String, Value> = found
        .into_iter()
        .map(|s| (s.full_name(), Value::Number(s.value)))
        .collect();
    Ok(Value::Object(m))
}
