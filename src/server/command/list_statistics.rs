//! `list_statistics [statistics=[…]]`: `{"mod:stat":"incremental"|"non-incremental"}`.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::{Map, Value};

pub(super) fn command() -> Command {
    Command::builtin(
        "list_statistics",
        "lists all the registered statistics and their types",
        &[&[], &["statistics"]],
        run,
    )
    .with_array_param("statistics")
}

fn run(b: &Builtin, a: &Args) -> Result<Value, RpcError> {
    let items = if a.has("statistics") {
        a.strings("statistics")?
    } else {
        vec!["all".to_string()]
    };
    let found = b.ctx.stats.select(&items);
    if found.is_empty() {
        return Err(RpcError::new(404, "Statistics Not Found"));
    }
    let m: Map<String, Value> = found
        .into_iter()
        .map(|s| {
            let kind = if s.incremental {
                "incremental"
            } else {
                "non-incremental"
            };
            (s.full_name(), Value::String(kind.into()))
        })
        .collect();
    Ok(Value::Object(m))
}
