//! `arg`: the server's own command line, one string per argument.

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::Value;

pub(super) fn command() -> Command {
    Command::builtin(
        "arg",
        "prints the full list of arguments used at startup",
        &[&[]],
        run,
    )
}

fn run(_: &Builtin, _: &Args) -> Result<Value, RpcError> {
    Ok(Value::Array(
        std::env::args_os()
            .map(|a| Value::String(a.to_string_lossy().into_owned()))
            .collect(),
    ))
}
