//! One sample: `get_statistics` for the values and, when the set of names
//! changed (first sample, after a gap, a module appeared), `list_statistics`
//! for which of them are incremental.

use crate::client::transport::Transport;
use crate::client::ReplyKind;
use crate::proto::jsonrpc::{Outcome, Params};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Why a sample failed. The message is not escaped (it may quote the server).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Failed {
    /// What went wrong.
    pub message: String,
    /// `mififo call`'s exit code for it (1 server error, 3 no server, 5 timeout…).
    pub code: u8,
}

/// Fetches statistics from one server.
#[derive(Debug)]
pub struct Sampler {
    client: Transport,
    items: Vec<Value>,
    kinds: HashMap<String, bool>,
    /// The names `kinds` was fetched for (sorted).
    kinds_for: Vec<String>,
}

/// `get_statistics` items for the filter words (`all` when there are none).
pub fn items(filter: &[String]) -> Vec<Value> {
    if filter.is_empty() {
        vec![Value::String("all".into())]
    } else {
        filter.iter().cloned().map(Value::String).collect()
    }
}

impl Sampler {
    /// A sampler for the statistics selected by `filter` (`get_statistics`
    /// items: `module:`, `name`, `module:name`, `all`).
    pub fn new(client: impl Into<Transport>, filter: &[String]) -> Sampler {
        Sampler {
            client: client.into(),
            items: items(filter),
            kinds: HashMap::new(),
            kinds_for: Vec::new(),
        }
    }

    /// `incremental` by name, from the latest `list_statistics`.
    pub fn kinds(&self) -> &HashMap<String, bool> {
        &self.kinds
    }

    /// Forgets the kinds (after a gap: the server may have restarted with other modules).
    pub fn forget_kinds(&mut self) {
        self.kinds.clear();
        self.kinds_for.clear();
    }

    async fn object(&self, method: &str) -> Result<Map<String, Value>, Failed> {
        let params = Params::Positional(vec![Value::Array(self.items.clone())]);
        let reply = self.client.call(method, params).await.map_err(|e| Failed {
            message: crate::error::chain(&e),
            code: e.kind().exit_code(),
        })?;
        let server = |message: String| Failed { message, code: 1 };
        match reply.kind {
            ReplyKind::Json(r) => match r.outcome {
                Outcome::Result(Value::Object(m)) => Ok(m),
                Outcome::Result(other) => Err(server(format!(
                    "'{method}' returned {} instead of an object",
                    json_type(&other)
                ))),
                Outcome::Error(e) => Err(server(format!("'{method}' failed: {e}"))),
            },
            ReplyKind::Empty => Err(server(format!("'{method}': empty reply"))),
            ReplyKind::Text(t) => Err(server(format!(
                "'{method}': plain-text reply: '{}'",
                t.trim_end()
            ))),
        }
    }

    /// Takes one sample: the values, with the kinds refreshed first when the
    /// set of names changed. A failed `list_statistics` leaves every
    /// statistic a gauge (servers without it).
    pub async fn sample(&mut self) -> Result<Map<String, Value>, Failed> {
        let values = self.object("get_statistics").await?;
        let mut names: Vec<String> = values.keys().cloned().collect();
        names.sort();
        if names != self.kinds_for {
            self.kinds = match self.object("list_statistics").await {
                Ok(m) => m
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str() == Some("incremental")))
                    .collect(),
                Err(_) => HashMap::new(),
            };
            self.kinds_for = names;
        }
        Ok(values)
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
