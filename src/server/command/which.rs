//! `which`: every command name; with `command`, that command's recipes.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::Value;

pub(super) fn command() -> Command {
    Command::builtin(
        "which",
        "lists all available MI commands",
        &[&[], &["command"]],
        run,
    )
}

fn run(b: &Builtin, a: &Args) -> Result<Value, RpcError> {
    if !a.has("command") {
        return Ok(b
            .commands()
            .iter()
            .map(|c| Value::String(c.name.clone()))
            .collect());
    }
    let name = a.string("command")?;
    let cmd = b
        .find(&name)
        .ok_or_else(|| RpcError::new(404, "unknown MI command"))?;
    Ok(cmd
        .recipes
        .iter()
        .flatten()
        .map(|r| Value::Array(r.iter().map(|p| Value::String(p.clone())).collect()))
        .collect())
}
