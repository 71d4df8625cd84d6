//! What the shell knows about one server: its command names (from `which`)
//! and each command's parameter names (from `which <command>`, the recipes
//! that OpenSIPS's `help` text refers to), and Tab completion over them.
//!
//! Everything here comes from the server, so it is bounded and filtered:
//! at most [`MAX_COMMANDS`] names of at most [`MAX_NAME`] bytes, at most
//! [`MAX_PARAMS`] parameter names per command and [`MAX_RECIPE_CACHE`]
//! commands' recipes cached; names with control characters or white space
//! are never offered for completion (they could not be typed back anyway).

use crate::term;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Most command names kept from one `which` reply.
pub const MAX_COMMANDS: usize = 4096;
/// Longest command or parameter name kept, in bytes.
pub const MAX_NAME: usize = 128;
/// Most parameter names kept per command.
pub const MAX_PARAMS: usize = 64;
/// Most commands whose parameter names are cached.
pub const MAX_RECIPE_CACHE: usize = 256;

/// Names the shell itself understands (see [`super::Line`]).
pub const BUILTINS: &[&str] = &["help", "exit", "quit", ".refresh"];

/// The cached command and parameter names of one server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Command names, sorted, deduplicated, filtered; `None` until fetched.
    commands: Option<Vec<String>>,
    /// Parameter names per command, from its recipes.
    params: HashMap<String, Vec<String>>,
    /// Names dropped because they were unsafe or over the limits.
    pub dropped: usize,
}

/// Keeps `name` when it is a plain word within the length limit.
fn keep(name: &str) -> bool {
    name.len() <= MAX_NAME && term::is_plain_word(name)
}

impl Catalog {
    /// True once the command list was fetched.
    pub fn has_commands(&self) -> bool {
        self.commands.is_some()
    }

    /// The command names (empty until fetched).
    pub fn commands(&self) -> &[String] {
        self.commands.as_deref().unwrap_or(&[])
    }

    /// Forgets everything (`.refresh`).
    pub fn clear(&mut self) {
        *self = Catalog::default();
    }

    /// Stores the command names of a `which` reply: a JSON array of strings
    /// (OpenSIPS 3.x, Kamailio `system.listMethods`) or text lines (1.x/2.x).
    pub fn set_commands(&mut self, names: impl IntoIterator<Item = String>) {
        let mut set = BTreeSet::new();
        for n in names {
            if set.len() < MAX_COMMANDS && keep(&n) {
                set.insert(n);
            } else {
                self.dropped += 1;
            }
        }
        self.commands = Some(set.into_iter().collect());
    }

    /// The parameter names cached for `command`, if fetched.
    pub fn params(&self, command: &str) -> Option<&[String]> {
        self.params.get(command).map(Vec::as_slice)
    }

    /// Stores the parameter names of `command` from a `which <command>`
    /// result (an array of recipes, each an array of names).
    pub fn set_recipes(&mut self, command: &str, recipes: &Value) {
        if self.params.len() >= MAX_RECIPE_CACHE && !self.params.contains_key(command) {
            // Bounded: forget an arbitrary entry rather than grow.
            if let Some(k) = self.params.keys().next().cloned() {
                self.params.remove(&k);
            }
        }
        let mut names = BTreeSet::new();
        if let Value::Array(recipes) = recipes {
            for r in recipes {
                if let Value::Array(ps) = r {
                    for p in ps {
                        match p.as_str() {
                            Some(s) if names.len() < MAX_PARAMS && keep(s) => {
                                names.insert(s.to_string());
                            }
                            _ => self.dropped += 1,
                        }
                    }
                }
            }
        }
        self.params
            .insert(command.to_string(), names.into_iter().collect());
    }
}

/// Command names from a `which` result value.
pub fn names_from_json(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Command names from a text-dialect `which` body (status line removed).
pub fn names_from_text(body: &str) -> Vec<String> {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// What Tab should complete at `pos` in `line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want<'a> {
    /// The first word: a command name starting with the prefix.
    Command(&'a str),
    /// A later word of `command`: a parameter name starting with the prefix.
    Param {
        /// The command (first word).
        command: &'a str,
        /// The partial word under the cursor.
        prefix: &'a str,
    },
    /// Nothing to complete (inside a value, after `=`).
    Nothing,
}

/// Where the word under the cursor starts, and what it is.
pub fn want(line: &str, pos: usize) -> (usize, Want<'_>) {
    let pos = pos.min(line.len());
    let head = &line[..pos];
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let prefix = &head[start..];
    let before = head[..start].trim();
    if before.is_empty() {
        return (start, Want::Command(prefix));
    }
    if prefix.contains('=') {
        return (start, Want::Nothing);
    }
    let command = before.split_whitespace().next().unwrap_or("");
    (start, Want::Param { command, prefix })
}

/// Completion candidates for `want`: command names (and the shell's own
/// words) or `name=` for parameters, each starting with the prefix.
pub fn candidates(catalog: &Catalog, want: &Want<'_>) -> Vec<String> {
    match want {
        Want::Command(prefix) => {
            let mut out: Vec<String> = catalog
                .commands()
                .iter()
                .map(String::as_str)
                .chain(BUILTINS.iter().copied())
                .filter(|c| c.starts_with(prefix))
                .map(str::to_string)
                .collect();
            out.sort();
            out.dedup();
            out
        }
        Want::Param { command, prefix } => {
            let names = if *command == "help" {
                catalog.commands()
            } else {
                catalog.params(command).unwrap_or(&[])
            };
            names
                .iter()
                .filter(|p| p.starts_with(prefix))
                .map(|p| {
                    if *command == "help" {
                        p.clone()
                    } else {
                        format!("{p}=")
                    }
                })
                .collect()
        }
        Want::Nothing => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cat() -> Catalog {
        let mut c = Catalog::default();
        c.set_commands(
            ["get_statistics", "list_statistics", "log_level", "uptime"]
                .map(String::from)
                .into_iter()
                .chain([String::from("evil\x1b]0;pwned\x07"), "a".repeat(500)]),
        );
        c.set_recipes("log_level", &json!([[], ["level"], ["level", "pid"]]));
        c
    }

    #[test]
    fn unsafe_and_oversized_names_are_dropped() {
        let c = cat();
        assert_eq!(
            c.commands(),
            ["get_statistics", "list_statistics", "log_level", "uptime"]
        );
        assert_eq!(c.dropped, 2);
        let mut c = Catalog::default();
        c.set_commands((0..MAX_COMMANDS + 10).map(|i| format!("c{i}")));
        assert_eq!(c.commands().len(), MAX_COMMANDS);
    }

    #[test]
    fn command_and_param_completion() {
        let c = cat();
        assert_eq!(want("get_s", 5), (0, Want::Command("get_s")));
        assert_eq!(candidates(&c, &want("get_s", 5).1), vec!["get_statistics"]);
        assert_eq!(
            candidates(&c, &want("l", 1).1),
            vec!["list_statistics", "log_level"]
        );
        // Builtins complete too.
        assert_eq!(candidates(&c, &want("ex", 2).1), vec!["exit"]);
        let (start, w) = want("log_level le", 12);
        assert_eq!(start, 10);
        assert_eq!(candidates(&c, &w), vec!["level="]);
        assert_eq!(
            candidates(&c, &want("log_level level=4 p", 19).1),
            vec!["pid="]
        );
        assert_eq!(want("log_level level=", 16).1, Want::Nothing);
        assert_eq!(candidates(&c, &want("help up", 7).1), vec!["uptime"]);
        // Unknown recipes: nothing, not a guess.
        assert!(candidates(&c, &want("uptime x", 8).1).is_empty());
    }

    #[test]
    fn recipe_cache_is_bounded() {
        let mut c = Catalog::default();
        for i in 0..MAX_RECIPE_CACHE + 20 {
            c.set_recipes(&format!("c{i}"), &json!([["p"]]));
        }
        assert!(c.params.len() <= MAX_RECIPE_CACHE);
    }

    #[test]
    fn names_from_replies() {
        assert_eq!(names_from_json(&json!(["a", 1, "b"])), vec!["a", "b"]);
        assert_eq!(
            names_from_text("uptime\n\nwhich\n"),
            vec!["uptime", "which"]
        );
    }
}
