//! Where the MI FIFO and the reply directory come from, and why.
//!
//! Precedence, highest first (the same for every subcommand that talks to a FIFO):
//!
//! | value | 1. flag | 2. environment (python-opensips) | 3. opensips-cli config | 4. default |
//! |---|---|---|---|---|
//! | server FIFO | `--fifo` | `OPENSIPS_MI_FIFO_FILE` | `fifo_file` | first existing of `/run/opensips/opensips_fifo`, `/var/run/opensips/opensips_fifo`, `/tmp/opensips_fifo` |
//! | fallback FIFO | — | `OPENSIPS_MI_FIFO_FALLBACK` | `fifo_file_fallback` | (`/tmp/opensips_fifo`, last default) |
//! | reply dir | `--reply-dir` | `OPENSIPS_MI_FIFO_REPLY_DIR` | `fifo_reply_dir` | `/tmp/` |
//!
//! The transport (a URL instead of the FIFO, see `mififo::client::transport`),
//! with the same flag > environment > config order: `--url` > `--fifo` (the
//! FIFO) > `MIFIFO_URL` > `OPENSIPS_MI_FIFO_FILE` (the FIFO) > opensips-cli's
//! `communication_type` (`http`: its
//! `url`, default `http://127.0.0.1:8888/mi`; `datagram`:
//! `unix:<datagram_unix_socket>` if set, else
//! `udp://<datagram_ip>:<datagram_port>`, defaults `127.0.0.1`/`8080`) > the
//! FIFO. [`resolve_url`] returns `None` for the FIFO.
//!
//! The fallback is used as python-opensips does: only when the FIFO chosen
//! from the environment, the config file or the defaults does not exist and
//! the fallback does (never after an explicit `--fifo`).
//!
//! The config file is the first readable of `~/.opensips-cli.cfg`,
//! `/etc/opensips-cli.cfg`, `/etc/opensips/opensips-cli.cfg` (opensips-cli's
//! order), or the one given explicitly. It is INI as Python's `configparser`
//! reads it: `[default]` holds values shared by every instance; keys are
//! case-insensitive; `key = value` or `key: value`; `#`/`;` comment lines;
//! `%(key)s` and `%%` interpolation.
//!
//! Everything that touches the process (environment, `HOME`, file existence
//! of defaults) comes through [`Environment`], so tests inject their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// python-opensips: the server FIFO.
pub const ENV_FIFO: &str = "OPENSIPS_MI_FIFO_FILE";
/// python-opensips: the FIFO tried when the first one does not exist.
pub const ENV_FALLBACK: &str = "OPENSIPS_MI_FIFO_FALLBACK";
/// python-opensips: the reply directory.
pub const ENV_REPLY_DIR: &str = "OPENSIPS_MI_FIFO_REPLY_DIR";
/// mififo: the MI URL (`http://`, `https://`, `udp://HOST:PORT`, `unix:PATH`).
pub const ENV_URL: &str = "MIFIFO_URL";
/// The FIFOs probed when nothing is configured, in order.
pub const DEFAULT_FIFOS: [&str; 3] = [
    "/run/opensips/opensips_fifo",
    "/var/run/opensips/opensips_fifo",
    "/tmp/opensips_fifo",
];
/// The reply directory when nothing is configured (OpenSIPS's own default).
pub const DEFAULT_REPLY_DIR: &str = "/tmp/";
/// opensips-cli's section for values shared by all instances.
pub const DEFAULT_INSTANCE: &str = "default";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag (its name).
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// A key in the opensips-cli config file.
    Config {
        /// The file.
        file: PathBuf,
        /// The key.
        key: &'static str,
    },
    /// Built in.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "flag {name}"),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::Config { file, key } => write!(f, "{} ({key})", file.display()),
            Source::Default => f.write_str("built-in default"),
        }
    }
}

/// A value and its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

/// The process context the resolver reads: environment variables, config
/// file candidates, default FIFO candidates, and a file-existence test.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Environment variables (only `OPENSIPS_*` and `MIFIFO_URL` matter).
    pub vars: BTreeMap<String, String>,
    /// Config files to try, in order; the first readable one is used.
    pub config_files: Vec<PathBuf>,
    /// Default FIFO candidates, in order.
    pub default_fifos: Vec<PathBuf>,
    /// Default reply directory.
    pub default_reply_dir: PathBuf,
}

impl Environment {
    /// The real process: its `OPENSIPS_*` variables, `MIFIFO_URL`, and
    /// opensips-cli's config file list (`$HOME/.opensips-cli.cfg`, then `/etc`).
    pub fn from_process() -> Environment {
        let vars = std::env::vars()
            .filter(|(k, _)| k.starts_with("OPENSIPS_") || k == ENV_URL)
            .collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Environment::with_home(vars, home.as_deref())
    }

    /// A context with these variables and `home` (`None`: no per-user config),
    /// and the standard `/etc` config files and defaults.
    pub fn with_home(vars: BTreeMap<String, String>, home: Option<&Path>) -> Environment {
        let mut config_files = Vec::new();
        if let Some(h) = home {
            config_files.push(h.join(".opensips-cli.cfg"));
        }
        config_files.push(PathBuf::from("/etc/opensips-cli.cfg"));
        config_files.push(PathBuf::from("/etc/opensips/opensips-cli.cfg"));
        Environment {
            vars,
            config_files,
            default_fifos: DEFAULT_FIFOS.iter().map(PathBuf::from).collect(),
            default_reply_dir: PathBuf::from(DEFAULT_REPLY_DIR),
        }
    }

    fn var(&self, name: &'static str) -> Option<Setting<PathBuf>> {
        self.vars
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| Setting {
                value: PathBuf::from(v),
                source: Source::Env(name),
            })
    }
}

/// Values given on the command line (they win).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--fifo`.
    pub fifo: Option<PathBuf>,
    /// `--reply-dir`.
    pub reply_dir: Option<PathBuf>,
    /// `--config`: read this file instead of searching (it must be readable).
    pub config: Option<PathBuf>,
    /// `--instance`: the opensips-cli config section (default `default`).
    pub instance: Option<String>,
}

/// The outcome of [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The server FIFO.
    pub fifo: Setting<PathBuf>,
    /// The reply directory.
    pub reply_dir: Setting<PathBuf>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// FIFO paths considered, in order (to say what was tried when none exists).
    pub tried: Vec<PathBuf>,
}

/// Why the configuration could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An explicitly named config file cannot be read.
    #[error("cannot read config file '{}'", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Resolves the FIFO and reply directory (flag > env > config > default).
pub fn resolve(over: &Overrides, env: &Environment) -> Result<Resolved, ConfigError> {
    resolve_with(over, env, &|p: &Path| p.exists())
}

/// [`resolve`] with an injected existence test (for tests).
pub fn resolve_with(
    over: &Overrides,
    env: &Environment,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<Resolved, ConfigError> {
    let (config_file, section) = load_config(over, env)?;
    let cfg = |key: &'static str| -> Option<Setting<PathBuf>> {
        let file = config_file.as_ref()?;
        section.get(key).filter(|v| !v.is_empty()).map(|v| Setting {
            value: PathBuf::from(v),
            source: Source::Config {
                file: file.clone(),
                key,
            },
        })
    };

    let reply_dir = over
        .reply_dir
        .clone()
        .map(|value| Setting {
            value,
            source: Source::Flag("--reply-dir"),
        })
        .or_else(|| env.var(ENV_REPLY_DIR))
        .or_else(|| cfg("fifo_reply_dir"))
        .unwrap_or_else(|| Setting {
            value: env.default_reply_dir.clone(),
            source: Source::Default,
        });

    let fallback = env.var(ENV_FALLBACK).or_else(|| cfg("fifo_file_fallback"));
    let mut tried = Vec::new();
    let fifo = if let Some(value) = over.fifo.clone() {
        tried.push(value.clone());
        Setting {
            value,
            source: Source::Flag("--fifo"),
        }
    } else {
        let candidates: Vec<Setting<PathBuf>> = match env.var(ENV_FIFO).or_else(|| cfg("fifo_file"))
        {
            Some(primary) => std::iter::once(primary).chain(fallback).collect(),
            None => {
                // python-opensips: the fallback replaces the last default (/tmp/opensips_fifo).
                let n = env.default_fifos.len();
                let keep = if fallback.is_some() {
                    n.saturating_sub(1)
                } else {
                    n
                };
                env.default_fifos[..keep]
                    .iter()
                    .map(|p| Setting {
                        value: p.clone(),
                        source: Source::Default,
                    })
                    .chain(fallback)
                    .collect()
            }
        };
        tried.extend(candidates.iter().map(|s| s.value.clone()));
        let first = candidates.first().cloned();
        candidates
            .into_iter()
            .find(|c| exists(&c.value))
            .or(first)
            .unwrap_or_else(|| Setting {
                value: PathBuf::from(DEFAULT_FIFOS[0]),
                source: Source::Default,
            })
    };
    Ok(Resolved {
        fifo,
        reply_dir,
        config_file,
        tried,
    })
}

/// The MI URL to use instead of the FIFO, if any (`--url` > `--fifo` >
/// `MIFIFO_URL` > `OPENSIPS_MI_FIFO_FILE` > opensips-cli's
/// `communication_type` and its keys); `None` means the FIFO.
///
/// # Errors
/// An explicit config file that cannot be read.
pub fn resolve_url(
    flag: Option<&str>,
    over: &Overrides,
    env: &Environment,
) -> Result<Option<Setting<String>>, ConfigError> {
    if let Some(u) = flag {
        return Ok(Some(Setting {
            value: u.to_string(),
            source: Source::Flag("--url"),
        }));
    }
    // An explicit FIFO, by flag or environment, outranks the lower levels'
    // URL: flag > environment > config holds for the transport too.
    if over.fifo.is_some() {
        return Ok(None);
    }
    if let Some(v) = env.vars.get(ENV_URL).filter(|v| !v.is_empty()) {
        return Ok(Some(Setting {
            value: v.clone(),
            source: Source::Env(ENV_URL),
        }));
    }
    if env.vars.get(ENV_FIFO).is_some_and(|v| !v.is_empty()) {
        return Ok(None);
    }
    let (config_file, section) = load_config(over, env)?;
    let Some(file) = config_file else {
        return Ok(None);
    };
    let get = |k: &str| section.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let src = |key: &'static str| Source::Config {
        file: file.clone(),
        key,
    };
    let value = match get("communication_type")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("http") => Setting {
            value: get("url").unwrap_or("http://127.0.0.1:8888/mi").to_string(),
            source: src(if get("url").is_some() {
                "url"
            } else {
                "communication_type"
            }),
        },
        Some("datagram") => match get("datagram_unix_socket") {
            Some(p) => Setting {
                value: format!("unix:{p}"),
                source: src("datagram_unix_socket"),
            },
            None => {
                let ip = get("datagram_ip").unwrap_or("127.0.0.1");
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                Setting {
                    value: format!("udp://{ip}:{}", get("datagram_port").unwrap_or("8080")),
                    source: src("datagram_ip"),
                }
            }
        },
        _ => return Ok(None),
    };
    Ok(Some(value))
}

/// Finds and parses the config file; returns it and the merged values of the
/// chosen instance (its own keys over `[default]`).
fn load_config(
    over: &Overrides,
    env: &Environment,
) -> Result<(Option<PathBuf>, BTreeMap<String, String>), ConfigError> {
    let text_and_path = if let Some(path) = &over.config {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Some((text, path.clone()))
    } else {
        env.config_files.iter().find_map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            if !meta.is_file() {
                return None;
            }
            std::fs::read_to_string(p).ok().map(|t| (t, p.clone()))
        })
    };
    let Some((text, path)) = text_and_path else {
        return Ok((None, BTreeMap::new()));
    };
    let ini = parse_ini(&text);
    let instance = over.instance.as_deref().unwrap_or(DEFAULT_INSTANCE);
    let mut merged = ini.get(DEFAULT_INSTANCE).cloned().unwrap_or_default();
    if instance != DEFAULT_INSTANCE {
        match ini.get(instance) {
            Some(sec) => merged.extend(sec.clone()),
            None => tracing::warn!(
                "unknown instance '{instance}' in '{}': using [{DEFAULT_INSTANCE}]",
                path.display()
            ),
        }
    }
    let merged = interpolate(&merged);
    Ok((Some(path), merged))
}

/// Parses INI text the way Python's `configparser` reads opensips-cli files:
/// section → lowercased key → raw value. Malformed lines are ignored.
pub fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if indented {
            // Continuation of the previous value.
            if let (Some(s), Some(k)) = (&section, &last_key) {
                if let Some(v) = out.get_mut(s).and_then(|m| m.get_mut(k)) {
                    v.push('\n');
                    v.push_str(line);
                }
                continue;
            }
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            out.entry(name.to_string()).or_default();
            last_key = None;
            continue;
        }
        let Some(s) = &section else { continue };
        let Some(at) = line.find(['=', ':']) else {
            continue;
        };
        let key = line[..at].trim().to_lowercase();
        let value = line[at + 1..].trim().to_string();
        out.entry(s.clone()).or_default().insert(key.clone(), value);
        last_key = Some(key);
    }
    out
}

/// `configparser.BasicInterpolation`: `%(key)s` → value of key, `%%` → `%`.
fn interpolate(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    fn expand(v: &str, map: &BTreeMap<String, String>, depth: u8) -> String {
        let mut out = String::new();
        let mut rest = v;
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            let tail = &rest[i + 1..];
            if let Some(t) = tail.strip_prefix('%') {
                out.push('%');
                rest = t;
            } else if let Some((name, t)) = tail.strip_prefix('(').and_then(|t| t.split_once(")s"))
            {
                match map.get(&name.to_lowercase()) {
                    Some(val) if depth < 10 => out.push_str(&expand(val, map, depth + 1)),
                    _ => {
                        out.push_str(&rest[i..i + 1 + 1 + name.len() + 2]);
                    }
                }
                rest = t;
            } else {
                out.push('%');
                rest = tail;
            }
        }
        out.push_str(rest);
        out
    }
    map.iter()
        .map(|(k, v)| (k.clone(), expand(v, map, 0)))
        .collect()
}

/// The longest duration any flag takes: a day. Longer waits are a typo, and
/// deadlines computed from them (`Instant::now() + d`) must never overflow.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Parses `500ms`, `2s`, `1m`, `1h`, or a bare number of seconds (`1.5`):
/// the one parser of every duration flag. Positive and at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}': expected e.g. 500ms, 2s, 1m"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => {
            return Err(format!(
                "invalid duration unit '{u}' in '{s}': use ms, s, m or h"
            ))
        }
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("duration '{s}' must be positive"));
    }
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(format!("duration '{s}' is too long: at most 24h"));
    }
    let d = std::time::Duration::from_secs_f64(secs);
    // Under a nanosecond rounds to zero, which is not positive either (a
    // zero period or timeout would spin or panic where it is used).
    if d.is_zero() {
        return Err(format!("duration '{s}' must be positive"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Fixture {
        dir: tempfile::TempDir,
        env: Environment,
    }

    /// A context with a fake home, fake /etc config paths and fake default
    /// FIFO locations, all inside a temp dir.
    fn fixture(vars: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("home")).unwrap();
        std::fs::create_dir(d.join("etc")).unwrap();
        let env = Environment {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config_files: vec![
                d.join("home/.opensips-cli.cfg"),
                d.join("etc/opensips-cli.cfg"),
                d.join("etc/opensips/opensips-cli.cfg"),
            ],
            default_fifos: vec![
                d.join("run_fifo"),
                d.join("varrun_fifo"),
                d.join("tmp_fifo"),
            ],
            default_reply_dir: PathBuf::from("/tmp/"),
        };
        Fixture { dir, env }
    }

    impl Fixture {
        fn p(&self, s: &str) -> PathBuf {
            self.dir.path().join(s)
        }
        fn touch(&self, s: &str) -> PathBuf {
            let p = self.p(s);
            std::fs::write(&p, b"").unwrap();
            p
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.p(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        }
        fn resolve(&self, over: &Overrides) -> Resolved {
            resolve(over, &self.env).unwrap()
        }
    }

    #[test]
    fn defaults_pick_the_first_existing_fifo() {
        let f = fixture(&[]);
        let r = f.resolve(&Overrides::default());
        assert_eq!(r.fifo.value, f.p("run_fifo"), "none exists: the first");
        assert_eq!(r.fifo.source, Source::Default);
        assert_eq!(r.tried.len(), 3);
        f.touch("tmp_fifo");
        assert_eq!(f.resolve(&Overrides::default()).fifo.value, f.p("tmp_fifo"));
        f.touch("varrun_fifo");
        assert_eq!(
            f.resolve(&Overrides::default()).fifo.value,
            f.p("varrun_fifo")
        );
        let r = f.resolve(&Overrides::default());
        assert_eq!(r.reply_dir.value, Path::new("/tmp/"));
        assert_eq!(r.reply_dir.source, Source::Default);
        assert_eq!(r.config_file, None);
    }

    #[test]
    fn precedence_flag_env_config_default() {
        let mut f = fixture(&[]);
        let cfg = f.write(
            "home/.opensips-cli.cfg",
            "[default]\nfifo_file = /cfg/fifo\nfifo_reply_dir: /cfg/replies\n",
        );
        let r = f.resolve(&Overrides::default());
        assert_eq!(r.fifo.value, Path::new("/cfg/fifo"));
        assert_eq!(
            r.fifo.source,
            Source::Config {
                file: cfg.clone(),
                key: "fifo_file"
            }
        );
        assert_eq!(r.reply_dir.value, Path::new("/cfg/replies"));

        f.env.vars.insert(ENV_FIFO.into(), "/env/fifo".into());
        f.env
            .vars
            .insert(ENV_REPLY_DIR.into(), "/env/replies/".into());
        let r = f.resolve(&Overrides::default());
        assert_eq!(r.fifo.value, Path::new("/env/fifo"));
        assert_eq!(r.fifo.source, Source::Env(ENV_FIFO));
        assert_eq!(r.reply_dir.source, Source::Env(ENV_REPLY_DIR));

        let over = Overrides {
            fifo: Some("/flag/fifo".into()),
            reply_dir: Some("/flag/replies".into()),
            ..Overrides::default()
        };
        let r = f.resolve(&over);
        assert_eq!(r.fifo.value, Path::new("/flag/fifo"));
        assert_eq!(r.fifo.source, Source::Flag("--fifo"));
        assert_eq!(r.reply_dir.value, Path::new("/flag/replies"));
        assert_eq!(r.fifo.source.to_string(), "flag --fifo");
        assert_eq!(
            f.resolve(&Overrides::default()).fifo.source.to_string(),
            "environment OPENSIPS_MI_FIFO_FILE"
        );
    }

    #[test]
    fn empty_env_values_are_ignored() {
        let f = fixture(&[(ENV_FIFO, ""), (ENV_REPLY_DIR, "")]);
        let r = f.resolve(&Overrides::default());
        assert_eq!(r.fifo.source, Source::Default);
        assert_eq!(r.reply_dir.source, Source::Default);
    }

    #[test]
    fn fallback_as_python_opensips() {
        let f = fixture(&[]);
        let fb = f.touch("fallback_fifo");
        let mut env = f.env.clone();
        env.vars
            .insert(ENV_FALLBACK.into(), fb.display().to_string());
        // No FIFO set, no default exists: the fallback (which exists) is used.
        let r = resolve(&Overrides::default(), &env).unwrap();
        assert_eq!(r.fifo.value, fb);
        assert_eq!(r.fifo.source, Source::Env(ENV_FALLBACK));
        // It replaces the last default, as in python-opensips.
        assert!(!r.tried.contains(&f.p("tmp_fifo")));
        // A missing primary from the environment falls back too.
        env.vars
            .insert(ENV_FIFO.into(), f.p("missing").display().to_string());
        let r = resolve(&Overrides::default(), &env).unwrap();
        assert_eq!(r.fifo.value, fb);
        // An existing primary wins over the fallback.
        let primary = f.touch("primary");
        env.vars
            .insert(ENV_FIFO.into(), primary.display().to_string());
        assert_eq!(
            resolve(&Overrides::default(), &env).unwrap().fifo.value,
            primary
        );
        // An explicit flag is never replaced, even when missing.
        let over = Overrides {
            fifo: Some(f.p("nope")),
            ..Overrides::default()
        };
        assert_eq!(resolve(&over, &env).unwrap().fifo.value, f.p("nope"));
    }

    #[test]
    fn config_file_order_instances_and_fallback_key() {
        let f = fixture(&[]);
        let etc = f.write(
            "etc/opensips/opensips-cli.cfg",
            "# packaged\n[default]\nfifo_file=/etc2/fifo\n",
        );
        assert_eq!(f.resolve(&Overrides::default()).config_file, Some(etc));
        let first_etc = f.write(
            "etc/opensips-cli.cfg",
            "[default]\nFIFO_FILE = /etc1/fifo\nfifo_file_fallback = FB\n\n[edge]\nfifo_file = /edge/fifo\n",
        );
        let r = f.resolve(&Overrides::default());
        assert_eq!(r.config_file, Some(first_etc.clone()));
        assert_eq!(
            r.fifo.value,
            Path::new("/etc1/fifo"),
            "keys are case-insensitive"
        );
        assert_eq!(
            r.tried,
            vec![PathBuf::from("/etc1/fifo"), PathBuf::from("FB")]
        );
        let over = Overrides {
            instance: Some("edge".into()),
            ..Overrides::default()
        };
        assert_eq!(f.resolve(&over).fifo.value, Path::new("/edge/fifo"));
        // Unknown instance: [default] values.
        let over = Overrides {
            instance: Some("nope".into()),
            ..Overrides::default()
        };
        assert_eq!(f.resolve(&over).fifo.value, Path::new("/etc1/fifo"));
        // An explicit config file replaces the search; a missing one is an error.
        let mine = f.write("mine.cfg", "[default]\nfifo_file=/mine\n");
        let over = Overrides {
            config: Some(mine),
            ..Overrides::default()
        };
        assert_eq!(f.resolve(&over).fifo.value, Path::new("/mine"));
        let over = Overrides {
            config: Some(f.p("absent.cfg")),
            ..Overrides::default()
        };
        let e = resolve(&over, &f.env).unwrap_err();
        assert!(e.to_string().contains("absent.cfg"), "{e}");
    }

    #[test]
    fn ini_like_configparser() {
        let ini = parse_ini(
            "; comment\n[default]\nbase = /srv\nfifo_file = %(base)s/fifo\npct = 100%%\nmulti = a\n  b\nnovalue\n",
        );
        let d = interpolate(&ini["default"]);
        assert_eq!(d["fifo_file"], "/srv/fifo");
        assert_eq!(d["pct"], "100%");
        assert_eq!(d["multi"], "a\nb");
        assert!(!d.contains_key("novalue"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("0.0000000001").is_err(), "rounds to zero");
        assert!(parse_duration("0.0000001ms").is_err(), "rounds to zero");
        assert_eq!(
            parse_duration("0.000000001").unwrap(),
            Duration::from_nanos(1)
        );
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("24h").unwrap(), MAX_DURATION);
        for huge in [
            "99999999999999999999999h",
            "2600000000000000h",
            "1e30",
            "25h",
            "inf",
        ] {
            let err = parse_duration(huge).unwrap_err();
            assert!(
                err.contains("at most 24h") || err.contains("invalid"),
                "{huge}: {err}"
            );
        }
    }

    #[test]
    fn url_precedence_flag_env_config_fifo() {
        let f = fixture(&[]);
        let o = Overrides::default();
        assert_eq!(resolve_url(None, &o, &f.env).unwrap(), None);
        std::fs::write(
            f.p("home/.opensips-cli.cfg"),
            "[default]\ncommunication_type = datagram\ndatagram_ip = 10.0.0.1\ndatagram_port = 9\n",
        )
        .unwrap();
        assert_eq!(
            resolve_url(None, &o, &f.env).unwrap().unwrap().value,
            "udp://10.0.0.1:9"
        );
        std::fs::write(
            f.p("home/.opensips-cli.cfg"),
            "[default]\ncommunication_type = datagram\ndatagram_unix_socket = /run/o.sock\n[http]\ncommunication_type = http\n",
        )
        .unwrap();
        assert_eq!(
            resolve_url(None, &o, &f.env).unwrap().unwrap().value,
            "unix:/run/o.sock"
        );
        let http = Overrides {
            instance: Some("http".into()),
            ..Overrides::default()
        };
        assert_eq!(
            resolve_url(None, &http, &f.env).unwrap().unwrap().value,
            "http://127.0.0.1:8888/mi"
        );
        let mut env = f.env.clone();
        env.vars.insert(ENV_URL.into(), "udp://127.0.0.1:1".into());
        let s = resolve_url(None, &o, &env).unwrap().unwrap();
        assert_eq!(
            (s.value.as_str(), s.source),
            ("udp://127.0.0.1:1", Source::Env(ENV_URL))
        );
        let s = resolve_url(Some("unix:/x"), &o, &env).unwrap().unwrap();
        assert_eq!(
            (s.value.as_str(), s.source),
            ("unix:/x", Source::Flag("--url"))
        );
        // An explicit FIFO outranks what the levels below it say.
        let fifo_flag = Overrides {
            fifo: Some("/run/x_fifo".into()),
            ..Overrides::default()
        };
        assert_eq!(resolve_url(None, &fifo_flag, &env).unwrap(), None);
        assert!(resolve_url(Some("unix:/x"), &fifo_flag, &env)
            .unwrap()
            .is_some());
        let mut fifo_env = f.env.clone();
        fifo_env.vars.insert(ENV_FIFO.into(), "/run/x_fifo".into());
        assert_eq!(resolve_url(None, &o, &fifo_env).unwrap(), None);
        fifo_env
            .vars
            .insert(ENV_URL.into(), "udp://127.0.0.1:1".into());
        assert!(resolve_url(None, &o, &fifo_env).unwrap().is_some());
    }
}
