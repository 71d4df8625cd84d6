//! `version`: `{"Server":"OpenSIPS (<ver> (<arch>/<os>))"}`; with `revision`
//! also the build's revision (here: the mififo version under key `mififo`).

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::{Map, Value};

pub(super) fn command() -> Command {
    Command::builtin(
        "version",
        "prints the version string of a running OpenSIPS",
        &[&[], &["revision"]],
        run,
    )
}

fn run(b: &Builtin, a: &Args) -> Result<Value, RpcError> {
    let mut m = Map::new();
    m.insert("Server".into(), Value::String(b.version().server_string()));
    if a.has("revision") {
        m.insert(
            "mififo".into(),
            Value::String(env!("CARGO_PKG_VERSION").into()),
        );
    }
    Ok(Value::Object(m))
}
