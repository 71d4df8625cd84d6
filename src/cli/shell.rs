//! `mififo shell`: an interactive MI shell (line editing, persistent history,
//! Tab completion from the server's `which`), or, when stdin is not a
//! terminal, one command per line for scripts. The logic is in
//! [`mififo::shell`]; this file owns the terminal, the history file and signals.

use super::call::ColorWhen;
use super::common::ServerArgs;
use mififo::config;
use mififo::proto::Dialect;
use mififo::shell::{self, catalog, Output, Session};
use mififo::term;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Context, Editor};
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long Tab waits for the server's command or parameter names.
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(2);

/// Options of `mififo shell`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
In the shell:
  get_statistics core: shmem:    a command with parameters, as for `mififo call`
  log_level level=4 pid:=1234    named; := takes raw JSON; quote with '…' or \"…\"
  help [CMD]                     the shell's words and the server's commands, or CMD's help
  .refresh                       re-read the server's command names (`which`)
  exit, quit, Ctrl-D             leave

Tab completes command names (from `which`) and parameter names (from
`which CMD`); Up/Down and Ctrl-R search the history, kept in
$XDG_STATE_HOME/mififo/history (default ~/.local/state/mififo/history).
A line starting with a space is not recorded. Ctrl-C cancels a command
in flight (its reply FIFO is removed) or clears the line.

When stdin is not a terminal, each line is one command (blank lines and
# comments are skipped); the exit status is that of the last command that
failed, as for `mififo call` (1 server error, 2 usage, 3 no server,
4 permission denied, 5 timeout), or 0.")]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Give up on each command after this long (500ms, 2s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = config::parse_duration)]
    pub timeout: Duration,
    /// Wire dialect: OpenSIPS 3.x/4.x, OpenSIPS 1.x/2.x, or Kamailio jsonrpcs.
    #[arg(long, value_parser = super::values::dialect(), default_value_t = Dialect::Json)]
    pub dialect: Dialect,
    /// Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// Do not read or write the history file.
    #[arg(long)]
    pub no_history: bool,
}

/// Runs `mififo shell`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let conn = args.server.open_session(args.timeout, args.dialect)?;
    let colour = super::call::colour_enabled(args.color);
    let name = args.server.name(&conn);
    let session = Session::new(conn.transport, colour);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    if std::io::stdin().is_terminal() {
        let history = (!args.no_history)
            .then(|| {
                shell::history_path(
                    std::env::var_os("XDG_STATE_HOME").as_deref().map(Path::new),
                    std::env::var_os("HOME").as_deref().map(Path::new),
                )
            })
            .flatten();
        interactive_loop(&rt, session, &name, history)
    } else {
        let signals = Signals::install(&rt, false)?;
        script_loop(&rt, session, &signals)
    }
}

/// Which signal ended or interrupted a command.
#[derive(Debug, Clone, Copy)]
struct Caught {
    name: &'static str,
    code: u8,
}

/// SIGINT/SIGTERM/SIGHUP, handled by a task on the runtime: while a command
/// is in flight they are passed to the main thread, which drops the command
/// (removing its reply FIFO); otherwise the process restores the terminal
/// and exits at once (SIGINT at the interactive prompt is ignored: the line
/// editor reads Ctrl-C as a key).
struct Signals {
    in_call: Arc<Mutex<bool>>,
    rx: RefCell<mpsc::UnboundedReceiver<Caught>>,
    /// The terminal settings to restore before exiting on a signal.
    saved: Option<nix::sys::termios::Termios>,
}

impl Signals {
    fn install(rt: &tokio::runtime::Runtime, interactive: bool) -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let _guard = rt.enter();
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let saved = if interactive {
            nix::sys::termios::tcgetattr(std::io::stdin()).ok()
        } else {
            None
        };
        let in_call = Arc::new(Mutex::new(false));
        let (tx, rx) = mpsc::unbounded_channel();
        let flag = in_call.clone();
        let restore = saved.clone();
        rt.spawn(async move {
            loop {
                let caught = tokio::select! {
                    _ = int.recv() => Caught { name: "SIGINT", code: 130 },
                    _ = term.recv() => Caught { name: "SIGTERM", code: 143 },
                    _ = hup.recv() => Caught { name: "SIGHUP", code: 129 },
                };
                let busy = flag.lock().unwrap_or_else(|p| p.into_inner());
                if *busy {
                    let _ = tx.send(caught);
                } else if !(interactive && caught.code == 130) {
                    exit_restoring(restore.as_ref(), caught.code);
                }
            }
        });
        Ok(Signals {
            in_call,
            rx: RefCell::new(rx),
            saved,
        })
    }

    /// Runs `work` (which talks to the server) on the runtime; a signal
    /// drops it — removing its reply FIFO — and is returned. A signal that
    /// arrived just as `work` finished comes back with its result.
    fn guard<T>(
        &self,
        rt: &tokio::runtime::Handle,
        work: impl std::future::Future<Output = T>,
    ) -> (Option<T>, Option<Caught>) {
        let Ok(mut rx) = self.rx.try_borrow_mut() else {
            return (Some(rt.block_on(work)), None);
        };
        while rx.try_recv().is_ok() {}
        *self.in_call.lock().unwrap_or_else(|p| p.into_inner()) = true;
        let out = rt.block_on(async {
            tokio::select! {
                o = work => Ok(o),
                Some(c) = rx.recv() => Err(c),
            }
        });
        *self.in_call.lock().unwrap_or_else(|p| p.into_inner()) = false;
        match out {
            Ok(o) => (Some(o), rx.try_recv().ok()),
            Err(c) => (None, Some(c)),
        }
    }

    /// Runs one line.
    fn run(
        &self,
        rt: &tokio::runtime::Runtime,
        session: &mut Session,
        line: &str,
    ) -> (Option<Output>, Option<Caught>) {
        self.guard(rt.handle(), session.run(line))
    }
}

/// Restores the terminal settings (the line editor may be in raw mode) and exits.
fn exit_restoring(saved: Option<&nix::sys::termios::Termios>, code: u8) -> ! {
    if let Some(t) = saved {
        let _ =
            nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
    }
    std::process::exit(code.into());
}

fn print(o: &Output) -> std::io::Result<()> {
    if !o.out.is_empty() {
        let mut out = std::io::stdout().lock();
        out.write_all(o.out.as_bytes())?;
        out.flush()?;
    }
    if !o.err.is_empty() {
        std::io::stderr().write_all(o.err.as_bytes())?;
    }
    Ok(())
}

fn interrupted(c: Caught) {
    super::report_error(&anyhow::anyhow!(
        "interrupted by {}; reply FIFO removed",
        c.name
    ));
}

fn script_loop(
    rt: &tokio::runtime::Runtime,
    mut session: Session,
    signals: &Signals,
) -> anyhow::Result<ExitCode> {
    let mut failed = 0u8;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let (out, caught) = signals.run(rt, &mut session, &line);
        if let Some(o) = &out {
            print(o)?;
            if o.code != 0 {
                failed = o.code;
            }
            if o.exit {
                break;
            }
        }
        if let Some(c) = caught {
            interrupted(c);
            return Ok(ExitCode::from(c.code));
        }
    }
    Ok(ExitCode::from(failed))
}

/// The line editor's helper: completion from the session's catalog,
/// fetched from the server on first use.
struct Helper {
    session: Rc<RefCell<Session>>,
    rt: tokio::runtime::Handle,
    signals: Rc<Signals>,
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, want) = catalog::want(line, pos);
        let Ok(mut session) = self.session.try_borrow_mut() else {
            return Ok((start, Vec::new()));
        };
        let fetch = async {
            let _ = tokio::time::timeout(COMPLETION_TIMEOUT, async {
                let _ = session.ensure_commands().await;
                if let catalog::Want::Param { command, .. } = &want {
                    if *command != "help" {
                        session.ensure_params(command).await;
                    }
                }
            })
            .await;
        };
        match self.signals.guard(&self.rt, fetch) {
            (_, None) => {}
            // kill -INT while completing: no candidates (Ctrl-C is a key here).
            (_, Some(c)) if c.code == 130 => return Ok((start, Vec::new())),
            (_, Some(c)) => exit_restoring(self.signals.saved.as_ref(), c.code),
        }
        let pairs = catalog::candidates(&session.catalog, &want)
            .into_iter()
            .map(|c| Pair {
                // `name=` waits for its value; whole words get their space.
                replacement: if c.ends_with('=') {
                    c.clone()
                } else {
                    format!("{c} ")
                },
                display: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl rustyline::hint::Hinter for Helper {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for Helper {}
impl rustyline::validate::Validator for Helper {}
impl rustyline::Helper for Helper {}

fn interactive_loop(
    rt: &tokio::runtime::Runtime,
    session: Session,
    name: &str,
    history: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let config = Config::builder()
        .max_history_size(shell::HISTORY_SIZE)?
        .history_ignore_space(true)
        .history_ignore_dups(true)?
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<Helper, DefaultHistory> = Editor::with_config(config)?;
    // After the editor: it installs its own SIGINT handler when created;
    // ours (signal-hook-registry, through tokio) chains to it, so Ctrl-C
    // during a command reaches us, and at the prompt the editor.
    let signals = Rc::new(Signals::install(rt, true)?);
    let session = Rc::new(RefCell::new(session));
    editor.set_helper(Some(Helper {
        session: session.clone(),
        rt: rt.handle().clone(),
        signals: signals.clone(),
    }));
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        if path.exists() {
            if let Err(e) = editor.load_history(path) {
                super::report_error(&anyhow::anyhow!(
                    "cannot read the history '{}': {e}",
                    path.display()
                ));
            }
        }
    }
    let prompt = format!("mififo {}> ", term::line(name));
    {
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "mififo shell on {}: Tab completes, `help` lists commands, Ctrl-D leaves",
            term::line(name)
        )?;
    }
    let mut history_failed = false;
    loop {
        let line = match editor.readline(&prompt) {
            Ok(l) => l,
            // Ctrl-C at the prompt, or the editor's late note of a Ctrl-C
            // that cancelled the previous command.
            Err(ReadlineError::Interrupted | ReadlineError::Signal(_)) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let leaving = matches!(shell::parse_line(&line), Ok(shell::Line::Exit));
        if !line.trim().is_empty() && !leaving {
            editor.add_history_entry(line.as_str())?;
            if let (Some(path), false) = (&history, history_failed) {
                // Appended at once: a shell killed later keeps its history.
                if let Err(e) = editor.append_history(path) {
                    history_failed = true;
                    super::report_error(&anyhow::anyhow!(
                        "cannot write the history '{}': {e}",
                        path.display()
                    ));
                }
            }
        }
        let (out, caught) = {
            let mut s = session.borrow_mut();
            signals.run(rt, &mut s, &line)
        };
        if let Some(o) = &out {
            print(o)?;
            if o.exit {
                break;
            }
        }
        if let Some(c) = caught {
            interrupted(c);
            if c.code != 130 {
                return Ok(ExitCode::from(c.code));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
