//! `which`: every command name; with `command`, that command's recipes;
//! with `module:` (OpenSIPS 4.0), the names of that module's commands.

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
        return Ok((0..b.commands().len())
            .map(|i| Value::String(b.listed_name(i).into()))
            .collect());
    }
    let name = a.string("command")?;
    if let Some(module) = name.strip_suffix(':') {
        let names: Vec<Value> = (0..b.commands().len())
            .filter(|&i| b.listed_module(i) == module)
            .map(|i| Value::String(b.listed_name(i).into()))
            .collect();
        if names.is_empty() {
            return Err(RpcError::new(404, "unknown MI module"));
        }
        return Ok(Value::Array(names));
    }
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
