//! Parameter recipes and typed parameter access, as OpenSIPS's `mi/mi.c`
//! (`get_cmd_recipe`) and `mi/item.c` (`get_mi_*_param`) do them.
//!
//! A command declares recipes (lists of parameter names). No parameters match
//! the empty recipe; positional parameters match the one recipe of that length
//! (two → ambiguous); named parameters match the recipe with the same count
//! and all names present. Handlers then read parameters by name: int params
//! accept a number or a numeric string, string params a string or a number,
//! array params must be non-empty JSON arrays of strings.

use crate::proto::jsonrpc::{Params, RpcError};
use serde_json::{Map, Value};

/// `data` of -32602 when no recipe has that many parameters.
pub const TOO_FEW_OR_MANY: &str = "Too few or too many parameters";
/// `data` of -32602 for positional params to a named-only command.
pub const NAMED_ONLY: &str = "Command only supports named parameters";
/// `data` of -32602 when two recipes have that many parameters.
pub const AMBIGUOUS: &str = "Ambiguous call, use named parameters instead";
/// `data` of -32602 when the names do not match any recipe.
pub const NAMES_DO_NOT_MATCH: &str = "Named parameters do not match";

/// Matches `params` against `recipes`; returns the parameters by name.
///
/// # Errors
/// -32602 `Invalid params` with OpenSIPS's `data` text.
pub fn match_recipe(
    recipes: &[Vec<String>],
    named_only: bool,
    params: &Params,
) -> Result<Map<String, Value>, RpcError> {
    match params {
        Params::None => {
            if recipes.iter().any(Vec::is_empty) {
                Ok(Map::new())
            } else {
                Err(RpcError::invalid_params(TOO_FEW_OR_MANY))
            }
        }
        Params::Positional(values) => {
            if named_only {
                return Err(RpcError::invalid_params(NAMED_ONLY));
            }
            let mut same_len = recipes.iter().filter(|r| r.len() == values.len());
            let recipe = match (same_len.next(), same_len.next()) {
                (None, _) => return Err(RpcError::invalid_params(TOO_FEW_OR_MANY)),
                (Some(_), Some(_)) => return Err(RpcError::invalid_params(AMBIGUOUS)),
                (Some(r), None) => r,
            };
            Ok(recipe.iter().cloned().zip(values.iter().cloned()).collect())
        }
        Params::Named(map) => {
            let same_len: Vec<_> = recipes.iter().filter(|r| r.len() == map.len()).collect();
            if same_len.is_empty() {
                return Err(RpcError::invalid_params(TOO_FEW_OR_MANY));
            }
            if same_len
                .iter()
                .any(|r| r.iter().all(|name| map.contains_key(name)))
            {
                Ok(map.clone())
            } else {
                Err(RpcError::invalid_params(NAMES_DO_NOT_MATCH))
            }
        }
    }
}

fn bad_type(name: &str) -> RpcError {
    RpcError::invalid_params(format!("Bad type for parameter '{name}'"))
}

/// Typed access to matched parameters.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Map<String, Value>);

impl Args {
    /// True when the parameter is present.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// An int parameter: a number or a numeric string (OpenSIPS `str2sint`).
    ///
    /// # Errors
    /// -32602 `Bad type for parameter '<name>'`; -32000 when missing.
    pub fn int(&self, name: &str) -> Result<i64, RpcError> {
        match self.0.get(name) {
            None => Err(RpcError::server_error("Failed to handle parameter")),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .ok_or_else(|| bad_type(name)),
            Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| bad_type(name)),
            Some(_) => Err(bad_type(name)),
        }
    }

    /// A string parameter: a string, or a number converted to text.
    ///
    /// # Errors
    /// -32602 `Bad type for parameter '<name>'`; -32000 when missing.
    pub fn string(&self, name: &str) -> Result<String, RpcError> {
        match self.0.get(name) {
            None => Err(RpcError::server_error("Failed to handle parameter")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(crate::proto::print::number(n)),
            Some(_) => Err(bad_type(name)),
        }
    }

    /// An array-of-strings parameter (e.g. `statistics`).
    ///
    /// # Errors
    /// -32602 `Bad type for parameter`, `Bad type for array item in parameter`,
    /// `Empty array in parameter`; -32000 when missing.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, RpcError> {
        match self.0.get(name) {
            None => Err(RpcError::server_error("Failed to handle parameter")),
            Some(Value::Array(a)) if a.is_empty() => Err(RpcError::invalid_params(format!(
                "Empty array in parameter '{name}'"
            ))),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(RpcError::invalid_params(format!(
                        "Bad type for array item in parameter '{name}'"
                    ))),
                })
                .collect(),
            Some(_) => Err(bad_type(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recipes(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|x| x.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    fn data(e: RpcError) -> String {
        e.data.unwrap().as_str().unwrap().to_string()
    }

    #[test]
    fn recipe_rules() {
        let ll = recipes(&[&[], &["level"], &["level", "pid"]]);
        assert!(match_recipe(&ll, false, &Params::None).unwrap().is_empty());
        let m = match_recipe(&ll, false, &Params::Positional(vec![json!(4), json!(1)])).unwrap();
        assert_eq!(Value::Object(m), json!({"level":4,"pid":1}));
        let e = match_recipe(&ll, false, &Params::Positional(vec![json!(1); 3])).unwrap_err();
        assert_eq!(data(e), TOO_FEW_OR_MANY);
        let named = |v: Value| Params::Named(v.as_object().unwrap().clone());
        let e = match_recipe(&ll, false, &named(json!({"lvl":1}))).unwrap_err();
        assert_eq!(data(e), NAMES_DO_NOT_MATCH);
        let e = match_recipe(&ll, true, &Params::Positional(vec![json!(1)])).unwrap_err();
        assert_eq!(data(e), NAMED_ONLY);
        let amb = recipes(&[&["a"], &["b"]]);
        let e = match_recipe(&amb, false, &Params::Positional(vec![json!(1)])).unwrap_err();
        assert_eq!(data(e), AMBIGUOUS);
        let st = recipes(&[&["statistics"]]);
        let e = match_recipe(&st, false, &Params::None).unwrap_err();
        assert_eq!(e.code, -32602);
    }

    #[test]
    fn typed_access() {
        let a = Args(
            json!({"n":"12","s":5,"arr":["a"],"bad":["a",1],"e":[],"o":{}})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(a.int("n").unwrap(), 12);
        assert_eq!(a.string("s").unwrap(), "5");
        assert_eq!(a.strings("arr").unwrap(), vec!["a"]);
        assert_eq!(
            data(a.strings("bad").unwrap_err()),
            "Bad type for array item in parameter 'bad'"
        );
        assert_eq!(
            data(a.strings("e").unwrap_err()),
            "Empty array in parameter 'e'"
        );
        assert_eq!(data(a.int("o").unwrap_err()), "Bad type for parameter 'o'");
        assert_eq!(a.int("missing").unwrap_err().code, -32000);
    }
}
