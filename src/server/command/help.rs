//! `help`: usage without parameters; `{"Help":…,"Exported by":…}` for `mi_cmd`.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::{json, Value};

pub(super) fn command() -> Command {
    Command::builtin(
        "help",
        "prints information about MI commands usage",
        &[&[], &["mi_cmd"]],
        run,
    )
}

fn run(b: &Builtin, a: &Args) -> Result<Value, RpcError> {
    if !a.has("mi_cmd") {
        return Ok(Value::String(
            "Usage: help mi_cmd - returns information about 'mi_cmd'".into(),
        ));
    }
    let name = a.string("mi_cmd")?;
    let cmd = b
        .find(&name)
        .ok_or_else(|| RpcError::new(404, "unknown MI command"))?;
    let help = if cmd.help.is_empty() {
        "not available for this command"
    } else {
        &cmd.help
    };
    Ok(json!({"Help": help, "Exported by": cmd.module}))
}
