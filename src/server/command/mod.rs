//! The built-in MI commands and the executor that runs them.
//!
//! One file per command, each exporting `command()` → [`Command`] with
//! OpenSIPS's name, help text, parameter recipes and handler. [`Builtin`]
//! holds them in OpenSIPS's registration order (that is what `which` lists),
//! followed by the methods of a `--commands` file (which may also replace a
//! built-in of the same name). Lookup is exact and case-sensitive.

mod arg;
mod canned;
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

use super::params::{match_recipe, Args};
use super::stats::Stats;
use super::Executor;
use crate::proto::jsonrpc::{Outcome, Request, RpcError};
pub use canned::StaticCommand;
use serde_json::{Number, Value};
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

/// Which OpenSIPS the stand-in imitates (`serve --opensips-version`): the
/// `version` it reports and the names `which` lists. Both spellings of a
/// command are accepted either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenSipsVersion {
    /// 3.6: `get_statistics`, `dlg_list`, … (the 4.0 names work as aliases).
    #[default]
    V3_6,
    /// 4.0: `statistics:get`, `dialog:list`, `core:uptime`, … (the 3.x names work as aliases).
    V4_0,
}

impl OpenSipsVersion {
    /// `OpenSIPS (3.6.0 (x86_64/linux))`.
    pub fn server_string(self) -> String {
        let v = match self {
            OpenSipsVersion::V3_6 => "3.6.0",
            OpenSipsVersion::V4_0 => "4.0.0",
        };
        format!(
            "OpenSIPS ({v} ({}/{}))",
            std::env::consts::ARCH,
            std::env::consts::OS
        )
    }
}

/// The 4.0 `module:cmd` name of a 3.x command (OpenSIPS 4.0 registers
/// commands per module and keeps the 3.x names as aliases).
///
/// The statistics commands become `statistics:get|list|reset|reset_all`,
/// other core commands `core:NAME`; a module's command loses the module's
/// usual prefix (`dlg_list` → `dialog:list`, `ds_list` → `dispatcher:list`,
/// `ul_show_contact` → `usrloc:show_contact`), else it is `MODULE:NAME`.
pub fn name_4x(module: &str, name: &str) -> String {
    if let Some(s) = name.strip_suffix("_statistics") {
        if module == "core" {
            return format!("statistics:{s}");
        }
    }
    let prefix = match module {
        "dialog" => "dlg_",
        "dispatcher" => "ds_",
        "drouting" => "dr_",
        "load_balancer" => "lb_",
        "usrloc" => "ul_",
        "tm" => "t_",
        "clusterer" => "clusterer_",
        "rtpengine" => "rtpengine_",
        _ => "",
    };
    let local = if prefix.is_empty() {
        name
    } else {
        name.strip_prefix(prefix).unwrap_or(name)
    };
    format!("{module}:{local}")
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
}

impl Context {
    /// A fresh context with the server's counters.
    pub fn new(stats: Arc<Stats>) -> Context {
        Context {
            stats,
            started: SystemTime::now(),
            log_level: AtomicI64::new(3),
            shutdown: tokio::sync::watch::channel(false).0,
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

/// The built-in called `name` (3.x name or its 4.0 `module:cmd` alias).
pub fn builtin_named(name: &str) -> Option<Command> {
    core_commands()
        .into_iter()
        .find(|c| c.name == name || name_4x(&c.module, &c.name) == name)
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
    /// 4.0 names, one per command (same order).
    names_4x: Vec<String>,
    /// Which names `which` lists.
    version: OpenSipsVersion,
    /// Live core statistics (memory, load, timestamp).
    pub live: super::core_stats::Live,
}

/// What a commands file adds to the built-ins (parsed and validated by
/// [`crate::server::commands_file`]).
#[derive(Debug, Clone, Default)]
pub struct CommandsFile {
    /// Format 2: the file describes the whole server (a recording). Only its
    /// commands exist, in its order (`"builtin": true` entries are answered
    /// by the built-in of that name), and only its statistics.
    pub standalone: bool,
    /// `(module:name, initial value, incremental)` in file order.
    pub statistics: Vec<(String, Number, bool)>,
    /// The commands in file order.
    pub commands: Vec<Command>,
}

impl Builtin {
    /// The core commands in OpenSIPS's order, then `file`'s methods (3.6).
    pub fn new(ctx: Arc<Context>, file: Option<&CommandsFile>) -> Builtin {
        Builtin::with_version(ctx, file, OpenSipsVersion::default())
    }

    /// Like [`Builtin::new`], imitating `version`.
    pub fn with_version(
        ctx: Arc<Context>,
        file: Option<&CommandsFile>,
        version: OpenSipsVersion,
    ) -> Builtin {
        let standalone = file.is_some_and(|f| f.standalone);
        let mut commands = if standalone {
            // A recording: only its commands and statistics.
            ctx.stats.clear();
            Vec::new()
        } else {
            core_commands()
        };
        let mut fixed = Vec::new();
        if let Some(file) = file {
            for (name, value, incremental) in &file.statistics {
                ctx.stats.register(name, value.clone(), *incremental);
                fixed.push(name.clone());
            }
            for c in &file.commands {
                match commands.iter_mut().find(|x| x.name == c.name) {
                    Some(slot) => *slot = c.clone(),
                    None => commands.push(c.clone()),
                }
            }
        }
        for (name, inc) in super::core_stats::late_groups() {
            if !standalone && !ctx.stats.contains(&name) {
                ctx.stats.register(&name, 0.into(), inc);
            }
        }
        let names_4x = commands
            .iter()
            .map(|c| {
                if c.name.contains(':') {
                    c.name.clone()
                } else {
                    name_4x(&c.module, &c.name)
                }
            })
            .collect();
        Builtin {
            ctx,
            commands,
            names_4x,
            version,
            live: super::core_stats::Live::new(fixed),
        }
    }

    /// The command a request names: [`Builtin::find`], and on a 4.0
    /// stand-in also an unambiguous local name (`uptime` for `core:uptime`,
    /// as 4.0's `lookup_mi_cmd`); an ambiguous one is -32001 `Method
    /// ambiguous` with the candidates in `data`.
    ///
    /// # Errors
    /// -32601 when nothing matches, -32001 when the local name is ambiguous.
    pub fn resolve(&self, name: &str) -> Result<&Command, RpcError> {
        if let Some(c) = self.find(name) {
            return Ok(c);
        }
        if self.version == OpenSipsVersion::V4_0 && !name.contains(':') {
            let hits: Vec<usize> = (0..self.commands.len())
                .filter(|&i| {
                    self.names_4x[i]
                        .split_once(':')
                        .is_some_and(|(_, local)| local == name)
                })
                .collect();
            match hits.as_slice() {
                [i] => return Ok(&self.commands[*i]),
                [] => {}
                many => {
                    let names: Vec<&str> =
                        many.iter().map(|&i| self.names_4x[i].as_str()).collect();
                    return Err(RpcError::with_data(
                        -32001,
                        "Method ambiguous",
                        format!("supported names: {}", names.join(", ")),
                    ));
                }
            }
        }
        Err(RpcError::method_not_found())
    }

    /// The OpenSIPS version imitated.
    pub fn version(&self) -> OpenSipsVersion {
        self.version
    }

    /// The name `which` lists for the command at `i`.
    pub fn listed_name(&self, i: usize) -> &str {
        match self.version {
            OpenSipsVersion::V3_6 => &self.commands[i].name,
            OpenSipsVersion::V4_0 => &self.names_4x[i],
        }
    }

    /// The module a name is listed under (`dialog` for `dialog:list` and `dlg_list`).
    pub fn listed_module(&self, i: usize) -> &str {
        self.names_4x[i]
            .split_once(':')
            .map_or(self.commands[i].module.as_str(), |(m, _)| m)
    }

    /// All commands in `which` order.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The command called `name` (3.x name or 4.0 `module:cmd` alias).
    pub fn find(&self, name: &str) -> Option<&Command> {
        self.commands.iter().find(|c| c.name == name).or_else(|| {
            self.names_4x
                .iter()
                .position(|n| n == name)
                .map(|i| &self.commands[i])
        })
    }

    async fn run(&self, req: &Request) -> Outcome {
        let cmd = match self.resolve(&req.method) {
            Ok(c) => c,
            Err(e) => return Outcome::Error(e),
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
