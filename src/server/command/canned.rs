//! Canned answers of a command a commands file defines
//! ([`crate::server::commands_file`] parses them).

use crate::proto::jsonrpc::{Outcome, Params, RpcError};
use serde_json::{Map, Value};
use std::time::Duration;

/// Canned answers of one command.
#[derive(Debug, Clone)]
pub struct StaticCommand {
    default: Option<Outcome>,
    responses: Vec<(Option<Value>, Outcome)>,
    delay: Duration,
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            crate::proto::print::number(n) == *s
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| loose_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loose_eq(v, w)))
        }
        _ => a == b,
    }
}

impl StaticCommand {
    /// `default` answers when no `responses` entry's parameters match; every
    /// answer comes after `delay`.
    pub fn new(
        default: Option<Outcome>,
        responses: Vec<(Option<Value>, Outcome)>,
        delay: Duration,
    ) -> StaticCommand {
        StaticCommand {
            default,
            responses,
            delay,
        }
    }

    /// The answer for a call: `named` are the recipe-matched parameters (when
    /// the command has recipes), `raw` the request's parameters.
    pub async fn answer(&self, named: Option<&Map<String, Value>>, raw: &Params) -> Outcome {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let actual = match named {
            Some(m) => Value::Object(m.clone()),
            None => raw.to_value().unwrap_or(Value::Null),
        };
        for (params, outcome) in &self.responses {
            let want = match params {
                None | Some(Value::Null) if named.is_some() => Value::Object(Map::new()),
                None => Value::Null,
                Some(p) => p.clone(),
            };
            if loose_eq(&want, &actual) {
                return outcome.clone();
            }
        }
        self.default.clone().unwrap_or_else(|| {
            Outcome::Error(RpcError::invalid_params(
                "no response configured for these parameters",
            ))
        })
    }
}
