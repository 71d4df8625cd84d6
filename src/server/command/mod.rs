//! The built-in MI commands and the executor that runs them.
//!
//! One file per command, each exporting `command()` → [`Command`] with
//! OpenSIPS's name, help text, parameter recipes and handler. [`Builtin`]
//! holds them in OpenSIPS's registration order (that is what `which` lists),
//! followed by the methods of a `--commands` file (which may also replace a
//! built-in of the same name). Lookup is exact and case-sensitive.

mod arg;
mod get_statistics;
mod help;
mod kill;
mod list_statistics;
mod log_level;
mod ps;
mod pwd;
mod reset_all_statistics;
mod reset_statistics;
mod uptime;
mod version;
mod which;

use super::commands_file::{CommandsFile, StaticCommand};
use super::params::{match_recipe, Args};
use super::stats::Stats;
use super::Executor;
use crate::proto::jsonrpc::{Outcome, Request, RpcError};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::SystemTime;

/// A built-in handler: synchronous, fast, reads the shared context.
pub type Handler = fn(&Builtin, &Args) -> Result<Value, RpcError>;

/// How a command is answered.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Built-in code.
    Builtin(Handler),
    /// Canned answers from a `--commands` file.
    Static(Arc<StaticCommand>),
}

/// One MI command.
#[derive(Debug, Clone)]
pub struct Command {
    /// Exact method name.
    pub name: String,
    /// Module shown by `help` (`Exported by`).
    pub module: String,
    /// Help text shown by `help`.
    pub help: String,
    /// Parameter recipes; `None` accepts any parameters (static commands without recipes).
    pub recipes: Option<Vec<Vec<String>>>,
    /// Positional parameters refused (`MI_NAMED_PARAMS_ONLY`).
    pub named_only: bool,
    /// The parameter that takes an array (text dialect: all argument lines go into it).
    pub array_param: Option<String>,
    /// The handler.
    pub kind: Kind,
}

impl Command {
    /// A core built-in.
    pub fn builtin(name: &str, help: &str, recipes: &[&[&str]], handler: Handler) -> Command {
        Command {
            name: name.into(),
            module: "core".into(),
            help: help.into(),
            recipes: Some(
                recipes
                    .iter()
                    .map(|r| r.iter().map(|s| s.to_string()).collect())
                    .collect(),
            ),
            named_only: false,
            array_param: None,
            kind: Kind::Builtin(handler),
        }
    }

    /// Sets the array parameter.
    pub fn with_array_param(mut self, name: &str) -> Command {
        self.array_param = Some(name.into());
        self
    }
}

/// State shared by the built-in commands and the server loop.
#[derive(Debug)]
pub struct Context {
    /// The statistics store (the server counts its own requests in it).
    pub stats: Arc<Stats>,
    /// When the server started (`uptime`).
    pub started: SystemTime,
    /// Global log level as `log_level` reports it (OpenSIPS scale, default 3).
    pub log_level: AtomicI64,
    /// Set by `kill`: the server stops after the reply is written.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// `Server` of `version`.
    pub version: String,
}

impl Context {
    /// A fresh context with the server's counters.
    pub fn new(stats: Arc<Stats>) -> Context {
        Context {
            stats,
            started: SystemTime::now(),
            log_level: AtomicI64::new(3),
            shutdown: tokio::sync::watch::channel(false).0,
            version: format!(
                "OpenSIPS (3.6.0 ({}/{}))",
                std::env::consts::ARCH,
                std::env::consts::OS
            ),
        }
    }
}

/// OpenSIPS's core MI commands, in its registration order.
fn core_commands() -> Vec<Command> {
    vec![
        get_statistics::command(),
        list_statistics::command(),
        reset_statistics::command(),
        reset_all_statistics::command(),
        uptime::command(),
        version::command(),
        pwd::command(),
        arg::command(),
        which::command(),
        ps::command(),
        kill::command(),
        log_level::command(),
        help::command(),
    ]
}

/// The array parameter of an OpenSIPS core command (`statistics` for the
/// `*_statistics` family), for executors that forward instead of running it.
pub fn core_array_param(method: &str) -> Option<String> {
    core_commands()
        .into_iter()
        .find(|c| c.name == method)
        .and_then(|c| c.array_param)
}

/// The built-in executor: core commands plus `--commands` methods.
#[derive(Debug)]
pub struct Builtin {
    /// Shared state.
    pub ctx: Arc<Context>,
    commands: Vec<Command>,
}

impl Builtin {
    /// The core commands in OpenSIPS's order, then `file`'s methods.
    pub fn new(ctx: Arc<Context>, file: Option<&CommandsFile>) -> Builtin {
        let mut commands = core_commands();
        if let Some(file) = file {
            for (name, value, incremental) in &file.statistics {
                ctx.stats.register(name, value.clone(), *incremental);
            }
            for c in &file.commands {
                match commands.iter_mut().find(|x| x.name == c.name) {
                    Some(slot) => *slot = c.clone(),
                    None => commands.push(c.clone()),
                }
            }
        }
        Builtin { ctx, commands }
    }

    /// All commands in `which` order.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The command called `name`.
    pub fn find(&self, name: &str) -> Option<&Command> {
        self.commands.iter().find(|c| c.name == name)
    }

    async fn run(&self, req: &Request) -> Outcome {
        let Some(cmd) = self.find(&req.method) else {
            return Outcome::Error(RpcError::method_not_found());
        };
        let matched = match &cmd.recipes {
            Some(r) => match match_recipe(r, cmd.named_only, &req.params) {
                Ok(m) => Some(m),
                Err(e) => return Outcome::Error(e),
            },
            None if cmd.named_only
                && matches!(req.params, crate::proto::jsonrpc::Params::Positional(_)) =>
            {
                return Outcome::Error(RpcError::invalid_params(super::params::NAMED_ONLY))
            }
            None => None,
        };
        match &cmd.kind {
            Kind::Builtin(h) => match h(self, &Args(matched.unwrap_or_default())) {
                Ok(v) => Outcome::Result(v),
                Err(e) => Outcome::Error(e),
            },
            Kind::Static(s) => s.answer(matched.as_ref(), &req.params).await,
        }
    }
}

impl Executor for Builtin {
    fn execute<'a>(
        &'a self,
        req: &'a Request,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(self.run(req))
    }

    fn array_param(&self, method: &str) -> Option<String> {
        self.find(method).and_then(|c| c.array_param.clone())
    }
}
