//! Logging through `tracing`, on stderr.
//!
//! Level: `MIFIFO_LOG` (an env-filter directive such as `debug` or
//! `mififo=trace`) when set, else `warn` for one-shot commands and `info` for
//! the long-running ones (`serve`, `gateway`); each `-v` raises and each `-q`
//! lowers that level, and either flag makes `MIFIFO_LOG` ignored.
//!
//! Format, chosen once at start-up:
//! - **journal** when stderr is the systemd journal (`JOURNAL_STREAM` names
//!   stderr's device and inode): one line per event with a `<N>` syslog
//!   priority prefix, which journald turns into the entry's PRIORITY (so
//!   `journalctl -p warning` works), no timestamp (the journal adds it);
//! - **json** for `serve`/`gateway` when stderr is not a terminal (pipes,
//!   files, log shippers): one JSON object per line;
//! - **human** otherwise, coloured only on a terminal without `NO_COLOR`.

use std::io::IsTerminal;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable, with timestamps; `ansi` = colour.
    Human { ansi: bool },
    /// One JSON object per line.
    Json,
    /// `<N>message` lines for journald's stdout/stderr stream protocol.
    Journal,
}

/// Installs the global subscriber; `daemon` is true for `serve` and `gateway`.
pub fn init(verbose: u8, quiet: u8, daemon: bool) {
    let stderr = std::io::stderr();
    let format = choose_format(
        daemon,
        stderr.is_terminal(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        stderr_is_journal(),
    );
    let env = std::env::var("MIFIFO_LOG").ok();
    let (filter, bad_env) = filter(verbose, quiet, daemon, env.as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        Format::Human { ansi } => builder.with_ansi(ansi).try_init(),
        Format::Json => builder.json().flatten_event(true).try_init(),
        Format::Journal => builder
            .with_ansi(false)
            .event_format(JournalFormat)
            .try_init(),
    };
    if let Some(err) = bad_env {
        tracing::warn!("ignoring MIFIFO_LOG: {err}");
    }
}

/// The default level for the command kind, moved by `-v`/`-q`.
pub fn level(verbose: u8, quiet: u8, daemon: bool) -> &'static str {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let base: i32 = if daemon { 3 } else { 2 };
    let index = (base + i32::from(verbose) - i32::from(quiet)).clamp(0, 5);
    LEVELS[index as usize]
}

/// The filter: `MIFIFO_LOG` unless `-v`/`-q` was given or it does not parse
/// (then the error is returned so it can be logged once logging works).
pub fn filter(
    verbose: u8,
    quiet: u8,
    daemon: bool,
    env: Option<&str>,
) -> (EnvFilter, Option<String>) {
    let fallback = || EnvFilter::new(format!("mififo={}", level(verbose, quiet, daemon)));
    match env {
        Some(v) if verbose == 0 && quiet == 0 && !v.trim().is_empty() => {
            match EnvFilter::try_new(v) {
                Ok(f) => (f, None),
                Err(e) => (fallback(), Some(format!("'{v}': {e}"))),
            }
        }
        _ => (fallback(), None),
    }
}

/// The format for the circumstances (pure, for tests).
pub fn choose_format(daemon: bool, terminal: bool, no_color: bool, journal: bool) -> Format {
    if journal {
        Format::Journal
    } else if daemon && !terminal {
        Format::Json
    } else {
        Format::Human {
            ansi: terminal && !no_color,
        }
    }
}

/// True when `JOURNAL_STREAM` (set by systemd as `DEVICE:INODE`) names our
/// stderr: a child whose stderr was redirected elsewhere must not use it.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    journal_stream_matches(&value.to_string_lossy(), meta.dev(), meta.ino())
}

/// Parses `DEVICE:INODE` (decimal) and compares it with stderr's.
pub fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.split_once(':') else {
        return false;
    };
    d.parse::<u64>() == Ok(dev) && i.parse::<u64>() == Ok(ino)
}

/// The syslog priority journald should record for a level.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// `<N>span{fields}: message key=value` — what journald's stream protocol parses.
struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}", span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<tracing_subscriber::fmt::FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(writer, "{{{fields}}}")?;
                    }
                }
                write!(writer, ": ")?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_moves_with_flags_and_clamps() {
        assert_eq!(level(0, 0, false), "warn");
        assert_eq!(level(0, 0, true), "info");
        assert_eq!(level(1, 0, false), "info");
        assert_eq!(level(2, 0, true), "trace");
        assert_eq!(level(9, 0, true), "trace");
        assert_eq!(level(0, 2, false), "off");
        assert_eq!(level(0, 9, true), "off");
        assert_eq!(level(1, 1, true), "info");
    }

    #[test]
    fn env_filter_is_used_only_without_flags() {
        let (f, err) = filter(0, 0, false, Some("debug"));
        assert_eq!(f.to_string(), "debug");
        assert!(err.is_none());
        let (f, _) = filter(1, 0, false, Some("debug"));
        assert_eq!(f.to_string(), "mififo=info");
        let (f, _) = filter(0, 0, true, Some("  "));
        assert_eq!(f.to_string(), "mififo=info");
    }

    #[test]
    fn invalid_env_filter_falls_back_and_says_why() {
        let (f, err) = filter(0, 0, false, Some("mififo=loud"));
        assert_eq!(f.to_string(), "mififo=warn");
        let err = err.expect("an error for an invalid directive");
        assert!(err.contains("'mififo=loud'"), "{err}");
    }

    #[test]
    fn format_choice() {
        assert_eq!(choose_format(true, false, false, true), Format::Journal);
        assert_eq!(choose_format(false, false, false, true), Format::Journal);
        assert_eq!(choose_format(true, false, false, false), Format::Json);
        assert_eq!(
            choose_format(true, true, false, false),
            Format::Human { ansi: true }
        );
        assert_eq!(
            choose_format(false, false, false, false),
            Format::Human { ansi: false }
        );
        assert_eq!(
            choose_format(false, true, true, false),
            Format::Human { ansi: false }
        );
    }

    #[test]
    fn journal_stream_parsing() {
        assert!(journal_stream_matches("8:12345", 8, 12345));
        assert!(!journal_stream_matches("8:12345", 8, 12346));
        assert!(!journal_stream_matches("8", 8, 12345));
        assert!(!journal_stream_matches("x:y", 8, 12345));
    }

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }
}
