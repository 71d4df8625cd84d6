//! `kill`: answers `"OK"`, then the server stops cleanly (the reply is
//! written first and the FIFO is unlinked; OpenSIPS races its reply against
//! `kill(0, SIGTERM)`).

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::Value;

pub(super) fn command() -> Command {
    Command::builtin("kill", "terminates OpenSIPS", &[&[]], run)
}

fn run(b: &Builtin, _: &Args) -> Result<Value, RpcError> {
    tracing::info!("stopping on MI command 'kill'");
    b.ctx.shutdown.send_replace(true);
    Ok(Value::String("OK".into()))
}
