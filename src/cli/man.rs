//! `mififo completions SHELL` and `mififo man`: generated from the same clap
//! definition as `--help`, so the three can never disagree.
//!
//! `mififo man` prints the main page `mififo(1)`; `mififo man CMD` prints
//! `mififo-CMD(1)`; `mififo man --out DIR` writes all of them (what the Debian
//! package installs, see `contrib/gen-assets.sh`). The main page adds the
//! sections clap does not know: exit status, environment, files, see also.

use anyhow::Context as _;
use clap::CommandFactory;
use clap_mangen::Man;
use mififo::config;
use roff::{bold, italic, roman, Inline, Roff};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `mififo completions`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Install (system-wide):\n  \
    mififo completions bash > /usr/share/bash-completion/completions/mififo\n  \
    mififo completions zsh  > /usr/local/share/zsh/site-functions/_mififo\n  \
    mififo completions fish > /usr/share/fish/vendor_completions.d/mififo.fish")]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: clap_complete::Shell,
}

/// Options of `mififo man`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:\n  \
    mififo man | man -l -          read the main page\n  \
    mififo man call | man -l -     read the page of one subcommand\n  \
    mififo man --out /usr/local/share/man/man1")]
pub struct ManArgs {
    /// The subcommand whose page to print (mififo-COMMAND(1)); default: the main page mififo(1).
    #[arg(value_name = "COMMAND", conflicts_with = "out")]
    pub command: Option<String>,
    /// Write every page (mififo.1 and one mififo-COMMAND.1 per subcommand) into DIR.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub out: Option<PathBuf>,
}

/// Prints the completion script for a shell on stdout.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "mififo", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints one man page (roff) on stdout, or writes all of them into `--out`.
pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let pages = pages()?;
    if let Some(dir) = args.out {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create directory '{}'", dir.display()))?;
        for (name, text) in &pages {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write man page '{}'", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wanted = match &args.command {
        None => "mififo.1".to_owned(),
        Some(sub) => format!("mififo-{sub}.1"),
    };
    let Some((_, text)) = pages.iter().find(|(name, _)| *name == wanted) else {
        let known: Vec<&str> = pages
            .iter()
            .filter_map(|(n, _)| n.strip_prefix("mififo-")?.strip_suffix(".1"))
            .collect();
        anyhow::bail!(
            "no man page for '{}'; subcommands: {}",
            args.command.unwrap_or_default(),
            known.join(", ")
        );
    };
    std::io::stdout().lock().write_all(text)?;
    Ok(ExitCode::SUCCESS)
}

/// The sections every page starts with: title, name, synopsis, description, options.
fn page_head(cmd: &clap::Command, source: &str) -> std::io::Result<(Man, Page)> {
    let man = Man::new(cmd.clone())
        .source(source.to_owned())
        .manual("mififo manual");
    let mut page = Page::default();
    page.add(|w| man.render_title(w))?;
    page.add(|w| man.render_name_section(w))?;
    page.add(|w| synopsis(cmd).to_writer(w))?;
    page.add(|w| man.render_description_section(w))?;
    page.add(|w| man.render_options_section(w))?;
    Ok((man, page))
}

/// The SYNOPSIS section with value names (`[--fifo PATH]`), which
/// clap_mangen's own rendering leaves out (`[--fifo]`).
fn synopsis(cmd: &clap::Command) -> Roff {
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let mut line: Vec<Inline> = vec![bold(name)];
    let value_names = |arg: &clap::Arg| -> String {
        match arg.get_value_names() {
            Some(names) => names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            None => arg.get_id().as_str().to_uppercase(),
        }
    };
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
    {
        let (open, close) = if arg.is_required_set() {
            ("", "")
        } else {
            ("[", "]")
        };
        line.push(roman(format!(" {open}")));
        match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => {
                line.push(bold(format!("-{s}")));
                line.push(roman("|"));
                line.push(bold(format!("--{l}")));
            }
            (Some(s), None) => line.push(bold(format!("-{s}"))),
            (None, Some(l)) => line.push(bold(format!("--{l}"))),
            (None, None) => continue,
        }
        if arg.get_num_args().is_some_and(|n| n.takes_values()) {
            line.push(roman(" "));
            line.push(italic(value_names(arg)));
        }
        line.push(roman(close));
        if matches!(
            arg.get_action(),
            clap::ArgAction::Count | clap::ArgAction::Append
        ) {
            line.push(roman("..."));
        }
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let (open, close) = if arg.is_required_set() {
            ("<", ">")
        } else {
            ("[", "]")
        };
        line.push(roman(format!(" {open}")));
        line.push(italic(value_names(arg)));
        line.push(roman(close));
        if arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
            line.push(roman("..."));
        }
    }
    if cmd.has_subcommands() {
        line.push(roman(" "));
        line.push(italic("COMMAND"));
    }
    let mut roff = Roff::default();
    roff.control("SH", ["SYNOPSIS"]);
    roff.text(line);
    roff
}

/// Every page as `(file name, roff)`: `mififo.1` first, then `mififo-CMD.1`
/// for each visible subcommand, in the order of the `Command` enum.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    // Building propagates global flags and gives subcommands their
    // `mififo-serve` display names and `mififo serve` usage lines.
    cmd.build();
    let version = cmd.get_version().unwrap_or_default().to_owned();
    let source = format!("mififo {version}");
    let mut pages = Vec::new();

    let (man, mut page) = page_head(&cmd, &source)?;
    page.add(|w| man.render_subcommands_section(w))?;
    page.add(|w| main_page_sections(&cmd).to_writer(w))?;
    page.add(|w| man.render_version_section(w))?;
    pages.push((man.get_filename(), page.0));

    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let (man, mut page) = page_head(sub, &source)?;
        page.add(|w| sub_page_sections(&cmd, sub).to_writer(w))?;
        pages.push((man.get_filename(), page.0));
    }
    Ok(pages)
}

/// A page assembled from separately rendered sections. Each rendering starts
/// with the same two-line roff preamble (the apostrophe string); keep one.
#[derive(Default)]
struct Page(Vec<u8>);

impl Page {
    fn add(
        &mut self,
        render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut chunk = Vec::new();
        render(&mut chunk)?;
        if self.0.is_empty() {
            self.0 = chunk;
            return Ok(());
        }
        let preamble_end = chunk
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(1)
            .map_or(0, |(i, _)| i + 1);
        let body = if self.0.starts_with(&chunk[..preamble_end]) {
            &chunk[preamble_end..]
        } else {
            &chunk[..]
        };
        self.0.extend_from_slice(body);
        Ok(())
    }
}

/// Exit codes shared by every subcommand (the contract in README "Exit codes").
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success (doctor: no error-severity finding)."),
    (
        "1",
        "The server answered with a JSON-RPC error (call), doctor found at least one \
         error-severity problem, or a bench request failed (error, timeout, misrouted or \
         rewritten reply).",
    ),
    (
        "2",
        "Usage error, or mififo itself failed (bad arguments, I/O error, invalid reply).",
    ),
    (
        "3",
        "No server: the MI FIFO does not exist, or exists but nothing reads it.",
    ),
    (
        "4",
        "Permission denied opening the FIFO or the reply FIFO; run mififo doctor.",
    ),
    ("5", "Timeout: no reply within --timeout."),
    (
        "6",
        "call: the reply carries another request's id (injected or forged); nothing printed.",
    ),
    (
        "7",
        "call: a second reply followed the first; nothing printed.",
    ),
    (
        "8",
        "call: other bytes followed the reply; nothing printed.",
    ),
    ("9", "call: the reply is larger than --max-reply."),
    (
        "10",
        "call: the server FIFO may belong to another user (squatted, or read by an unrelated \
         user); nothing was sent. See --trust-user.",
    ),
    (
        "128+N",
        "Signal N (e.g. 129 for SIGHUP, 130 for Ctrl-C): call and bench remove their reply \
         FIFOs and exit so.",
    ),
];

/// Environment variables (see docs/config.md for the precedence rules).
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "MIFIFO_LOG",
        "Log filter, e.g. debug or mififo=trace (tracing env-filter syntax). \
         Ignored when -v or -q is given.",
    ),
    (
        config::ENV_FIFO,
        "The server FIFO, as python-opensips and opensips-cli use it. Overrides the \
         configuration file; overridden by --fifo.",
    ),
    (
        config::ENV_FALLBACK,
        "A second FIFO path tried when the first does not exist (python-opensips).",
    ),
    (
        config::ENV_REPLY_DIR,
        "Where clients create their reply FIFOs. Must be the server's reply_dir. \
         Overridden by --reply-dir.",
    ),
    ("NO_COLOR", "Disables colour in human-readable output."),
    (
        "XDG_STATE_HOME",
        "Where mififo shell keeps its history (XDG_STATE_HOME/mififo/history); \
         default ~/.local/state.",
    ),
];

/// Files read or created.
const FILES: &[(&str, &str)] = &[
    (
        "~/.opensips-cli.cfg, /etc/opensips-cli.cfg, /etc/opensips/opensips-cli.cfg",
        "opensips-cli configuration: the first that exists is read (or the file given with \
         --config). fifo_file, fifo_file_fallback and fifo_reply_dir of [default] (or of the \
         instance chosen with --instance) are honoured, below flags and environment.",
    ),
    (
        "/run/opensips/opensips_fifo, /var/run/opensips/opensips_fifo, /tmp/opensips_fifo",
        "Default FIFO locations tried by clients, in this order.",
    ),
    (
        "/run/mififo/NAME",
        "The FIFO served by the systemd unit mififo-serve@NAME.service.",
    ),
    (
        "/tmp/",
        "Default reply directory (OpenSIPS reply_dir), where clients create reply FIFOs.",
    ),
    (
        "~/.local/state/mififo/history",
        "The history of mififo shell (mode 0600, at most 1000 lines).",
    ),
];

fn main_page_sections(cmd: &clap::Command) -> Roff {
    let mut roff = Roff::default();
    definition_list(&mut roff, "EXIT STATUS", EXIT_STATUS);
    definition_list(&mut roff, "ENVIRONMENT", ENVIRONMENT);
    definition_list(&mut roff, "FILES", FILES);
    roff.control("SH", ["TROUBLESHOOTING"]);
    roff.text([
        roman(
            "When a client cannot talk to the FIFO (permission denied, no reply, \
               \"Is OpenSIPS running?\"), start with ",
        ),
        bold("mififo doctor --fifo PATH"),
        roman(
            ": it checks the path, directory search rights, ownership, ACLs, \
             fs.protected_fifos, private /tmp namespaces, SELinux/AppArmor denials and the \
             reply direction, and prints the fix.",
        ),
    ]);
    see_also(&mut roff, cmd, None);
    roff
}

fn sub_page_sections(cmd: &clap::Command, sub: &clap::Command) -> Roff {
    let mut roff = Roff::default();
    let name = sub.get_name();
    // clap_mangen would title this section "EXTRA"; it holds examples and notes.
    if let Some(after) = sub.get_after_long_help().or_else(|| sub.get_after_help()) {
        roff.control("SH", ["NOTES"]);
        roff.control("nf", []);
        roff.text([roman(after.to_string())]);
        roff.control("fi", []);
    }
    let unit = match name {
        "serve" => Some(
            "mififo-serve@.service: systemctl enable --now mififo-serve@NAME serves \
             /run/mififo/NAME (user and group mififo, mode 0660); settings in \
             /etc/mififo/NAME.env.",
        ),
        "gateway" => Some(
            "mififo-gateway.service: systemctl enable --now mififo-gateway; settings in \
             /etc/default/mififo-gateway (listen address, OPENSIPS_MI_FIFO_FILE, ...); HTTP \
             Basic users in /etc/mififo/gateway.users (--users-file, with --read-only: one \
             commented line in the settings file).",
        ),
        _ => None,
    };
    if let Some(unit) = unit {
        roff.control("SH", ["SYSTEMD"]);
        roff.text([roman(unit)]);
        roff.text([roman(
            "Why the FIFO lives under /run and the units have no PrivateTmp=: see \
             /usr/share/doc/mififo/install.md.",
        )]);
    }
    if matches!(
        name,
        "call" | "doctor" | "gateway" | "bench" | "shell" | "top"
    ) {
        roff.control("SH", ["CONFIGURATION"]);
        roff.text([roman(
            "The FIFO and the reply directory come from, in this order: the flag, the \
             environment (OPENSIPS_MI_FIFO_FILE, OPENSIPS_MI_FIFO_REPLY_DIR), the opensips-cli \
             configuration file (fifo_file, fifo_reply_dir), the default. See ",
        )]);
        roff.text([bold("mififo"), roman("(1), ENVIRONMENT and FILES.")]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([
        roman("See "),
        bold("mififo"),
        roman("(1), section EXIT STATUS: the codes are shared by all subcommands."),
    ]);
    see_also(&mut roff, cmd, Some(name));
    roff
}

fn definition_list(roff: &mut Roff, title: &str, items: &[(&str, &str)]) {
    roff.control("SH", [title]);
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*text)]);
    }
}

fn see_also(roff: &mut Roff, cmd: &clap::Command, this: Option<&str>) {
    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<Inline> = Vec::new();
    let mut add = |name: String, section: &str| {
        if !refs.is_empty() {
            refs.push(roman(", "));
        }
        refs.push(bold(name));
        refs.push(roman(format!("({section})")));
    };
    if this.is_some() {
        add("mififo".into(), "1");
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if Some(sub.get_name()) != this {
            add(format!("mififo-{}", sub.get_name()), "1");
        }
    }
    for (name, section) in [
        ("opensips-cli", "1"),
        ("opensips", "8"),
        ("kamailio", "8"),
        ("fifo", "7"),
        ("systemd.exec", "5"),
    ] {
        add(name.into(), section);
    }
    refs.extend([
        roman(". The documentation in "),
        italic("/usr/share/doc/mififo/"),
        roman(" (install.md, config.md, troubleshooting.md)."),
    ]);
    roff.text(refs);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_text() -> String {
        FILES.iter().map(|(t, d)| format!("{t} {d}\n")).collect()
    }

    #[test]
    fn files_section_names_the_resolvers_defaults() {
        let text = files_text();
        for fifo in config::DEFAULT_FIFOS {
            assert!(text.contains(fifo), "FILES lacks the default FIFO {fifo}");
        }
        assert!(text.contains(config::DEFAULT_REPLY_DIR));
    }

    #[test]
    fn pages_cover_every_visible_subcommand() {
        let pages = pages().unwrap();
        let cmd = super::super::Cli::command();
        let subs = cmd.get_subcommands().filter(|s| !s.is_hide_set()).count();
        assert_eq!(pages.len(), subs + 1);
        assert_eq!(pages[0].0, "mififo.1");
        for (name, text) in &pages {
            let text = String::from_utf8_lossy(text);
            assert_eq!(text.matches(".TH ").count(), 1, "{name}: one title");
            assert!(text.contains(".SH \"SEE ALSO\""), "{name}: no SEE ALSO");
        }
    }
}
