//! `pwd`: `{"WD":"<cwd>"}`; a `getcwd` failure is -32000 as in OpenSIPS.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::{json, Value};

pub(super) fn command() -> Command {
    Command::builtin(
        "pwd",
        "prints the working directory of OpenSIPS",
        &[&[]],
        run,
    )
}

fn run(_: &Builtin, _: &Args) -> Result<Value, RpcError> {
    let wd = std::env::current_dir()
        .map_err(|e| RpcError::server_error(format!("getcwd failed: {e}")))?;
    Ok(json!({ "WD": wd.to_string_lossy() }))
}
