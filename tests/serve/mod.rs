//! `mififo serve` driven over real FIFOs: raw bytes in, exact bytes out.
//!
//! - `json`: every command and every error code of the 3.x/4.x dialect, ids,
//!   notifications, pretty printing, `--commands`.
//! - `stream`: framing — partial, concatenated, oversized requests, garbage.
//! - `hostile`: reply paths a client must not be able to abuse; stuck clients.
//! - `lifecycle`: start-up policy, recreation, signals, pid file, `kill`.
//! - `lost`: the FIFO path squatted or not recreatable: error logs, then exit.
//! - `text`: the 1.x/2.x line dialect.
//! - `takeover`: races, symlinks and confused-deputy tricks against a root start.
//! - `root`: ownership, mode, ACL and privilege drop (root only).
//! - `interop`: the PyPI clients `opensips-mi` and `opensips-cli`.
//! - `faults`: every `--fault` rule against `mififo call` and `opensips-mi`.
//! - `record`: `mififo record` from `mififo serve` and Kamailio, replayed and compared.
//! - `standin`: answering like OpenSIPS by default (core statistics, 4.0 names, CP-style PHP).

mod faults;
mod hostile;
mod interop;
mod json;
mod lifecycle;
mod lost;
mod newuser;
mod record;
mod root;
mod standin;
mod stream;
mod takeover;
mod text;

use crate::util::{raw_exchange, TestEnv};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Generous timeout that only detects hangs.
pub const HANG: Duration = Duration::from_secs(10);

/// Sends raw bytes to the env's FIFO with reply FIFO `name`; returns the reply text.
pub fn exchange(env: &TestEnv, name: &str, bytes: &[u8]) -> Option<String> {
    exchange_at(env, &env.fifo(), name, bytes)
}

/// Like [`exchange`] for another FIFO path.
pub fn exchange_at(env: &TestEnv, fifo: &Path, name: &str, bytes: &[u8]) -> Option<String> {
    raw_exchange(fifo, env.dir.path(), name, bytes, HANG)
        .map(|b| String::from_utf8(b).expect("reply is UTF-8"))
}

/// `:r:{"jsonrpc":"2.0","method":M[,"params":P],"id":1}` → the reply bytes.
pub fn call_raw(env: &TestEnv, method: &str, params: Option<&str>) -> String {
    let body = match params {
        Some(p) => format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{p},"id":1}}"#),
        None => format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":1}}"#),
    };
    exchange(env, "r", format!(":r:{body}").as_bytes()).expect("a reply")
}

/// Asserts that the server answers a request on its FIFO
/// (`reset_all_statistics` → `OK`).
pub fn assert_serving(env: &TestEnv) {
    assert_eq!(
        call_raw(env, "reset_all_statistics", None),
        r#"{"jsonrpc":"2.0","result":"OK","id":1}"#
    );
}

/// Like [`call_raw`], parsed; returns the `result` (panics on an error reply).
pub fn result(env: &TestEnv, method: &str, params: Option<&str>) -> Value {
    let raw = call_raw(env, method, params);
    let v: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    v.get("result")
        .cloned()
        .unwrap_or_else(|| panic!("no result: {raw}"))
}

/// The value of one statistic.
pub fn stat(env: &TestEnv, name: &str) -> i64 {
    let r = result(env, "get_statistics", Some(&format!(r#"[["{name}"]]"#)));
    r[name].as_i64().unwrap_or_else(|| panic!("{name} in {r}"))
}

/// Writes a commands file into the env and returns its path.
pub fn commands_file(env: &TestEnv, json: &str) -> String {
    let p = env.path("commands.json");
    std::fs::write(&p, json).unwrap();
    p.display().to_string()
}

/// The shipped OpenSIPS 3.x core + dialog fixture.
pub fn dialog_fixture() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/opensips-3.x-core-dialog.json"
    )
    .to_string()
}
