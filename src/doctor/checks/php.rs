//! PHP `open_basedir` (php.ini, conf.d, FPM pools): when it excludes the FIFO,
//! `file_exists()` is false and OpenSIPS-CP says "Cannot connect to OpenSIPS
//! Server via Management Interface"; when it excludes the reply directory the
//! reply FIFO cannot be opened.

use super::Ctx;
use crate::doctor::code::Code;
use crate::doctor::finding::{Finding, Fix, Severity, Status};
use crate::doctor::ClientOpen;
use std::path::{Path, PathBuf};

/// One `open_basedir` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// File.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// The `:`-separated value.
    pub value: String,
}

/// Finds `open_basedir` in ini/pool text (`open_basedir = …`,
/// `php_admin_value[open_basedir] = …`, `php_value[open_basedir] = …`).
pub fn parse(file: &Path, text: &str) -> Vec<Setting> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim();
            if l.starts_with(';') || l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            if !matches!(
                k,
                "open_basedir" | "php_admin_value[open_basedir]" | "php_value[open_basedir]"
            ) {
                return None;
            }
            let v = v
                .split(" ;")
                .next()
                .unwrap_or(v)
                .trim()
                .trim_matches('"')
                .trim_matches('\'')
                .to_string();
            Some(Setting {
                file: file.to_path_buf(),
                line: i + 1,
                value: v,
            })
        })
        .collect()
}

/// PHP's `php_check_open_basedir`: an entry ending in `/` is a directory
/// prefix; otherwise a plain string prefix. Empty = no restriction.
pub fn allows(value: &str, path: &Path) -> bool {
    if value.is_empty() {
        return true;
    }
    let p = path.to_string_lossy();
    value
        .split(':')
        .filter(|e| !e.is_empty())
        .any(|e| p.starts_with(e))
}

fn default_files(ctx: &Ctx<'_>) -> Vec<PathBuf> {
    let v = ctx.view;
    let mut out = vec![
        PathBuf::from("/etc/php.ini"),
        PathBuf::from("/etc/php-fpm.conf"),
    ];
    let list = |dir: &str, ext: &str| -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = v
            .read_dir(Path::new(dir))
            .map(|n| {
                n.into_iter()
                    .map(|n| Path::new(dir).join(n))
                    .filter(|p| p.to_string_lossy().ends_with(ext))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    out.extend(list("/etc/php.d", ".ini"));
    out.extend(list("/etc/php-fpm.d", ".conf"));
    let mut versions: Vec<_> = v.read_dir(Path::new("/etc/php")).unwrap_or_default();
    versions.sort();
    for ver in versions {
        let ver = ver.to_string_lossy().into_owned();
        for sapi in ["apache2", "fpm", "cgi"] {
            out.push(PathBuf::from(format!("/etc/php/{ver}/{sapi}/php.ini")));
            out.extend(list(&format!("/etc/php/{ver}/{sapi}/conf.d"), ".ini"));
        }
        out.extend(list(&format!("/etc/php/{ver}/fpm/pool.d"), ".conf"));
    }
    out
}

/// Runs the check.
pub fn check(ctx: &mut Ctx<'_>) {
    if matches!(ctx.cfg.client_open, Some(c) if c != ClientOpen::Php) {
        ctx.line(
            "php open_basedir",
            Status::Skipped,
            "the client is not PHP (--client-open)",
        );
        return;
    }
    let files = ctx
        .cfg
        .php_ini
        .clone()
        .unwrap_or_else(|| default_files(ctx));
    let mut read = 0;
    let mut settings = Vec::new();
    for f in &files {
        if let Ok(t) = ctx.view.read_string(f) {
            read += 1;
            settings.extend(parse(f, &t));
        }
    }
    if read == 0 {
        let detail = match &ctx.cfg.php_ini {
            Some(given) if !given.is_empty() => format!(
                "none of the --php-ini files can be read ({})",
                given
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => "no php.ini or FPM pool file found".to_string(),
        };
        ctx.line("php open_basedir", Status::Skipped, &detail);
        return;
    }
    let reply_probe = ctx.cfg.reply_dir.join("mififo_reply");
    let mut bad = 0;
    for s in &settings {
        let mut excluded = Vec::new();
        if !allows(&s.value, &ctx.fifo) {
            excluded.push(ctx.fifo.display().to_string());
        }
        if !allows(&s.value, &reply_probe) {
            excluded.push(format!(
                "the reply directory {}",
                ctx.cfg.reply_dir.display()
            ));
        }
        if excluded.is_empty() {
            continue;
        }
        bad += 1;
        let add = ctx
            .fifo
            .parent()
            .map(|p| format!("{}/", p.display()))
            .unwrap_or_default();
        let key = if s.file.to_string_lossy().ends_with(".conf") {
            "php_admin_value[open_basedir]"
        } else {
            "open_basedir"
        };
        ctx.add(
            Finding::new(
                Code::PhpOpenBasedir,
                Severity::Error,
                format!(
                    "PHP open_basedir in {}:{} does not include {}: file_exists() returns false (OpenSIPS-CP: \"Cannot connect to OpenSIPS Server via Management Interface\") and fopen() fails with EPERM",
                    s.file.display(),
                    s.line,
                    excluded.join(" and ")
                ),
            )
            .evidence("open_basedir", s.value.clone())
            // The setting is a line of that file, not a command: an edit
            // naming the file (a `$ ` line would break "paste this").
            .fix(
                Fix::new(
                    "add the FIFO's and the reply directory's directories to open_basedir, then restart PHP",
                    ["systemctl restart php-fpm   # or apache2/httpd for mod_php".to_string()],
                )
                .edit(
                    s.file.display().to_string(),
                    format!("{key} = {}:{add}:{}", s.value, ctx.cfg.reply_dir.display()),
                ),
            ),
        );
    }
    if bad == 0 {
        let detail = if settings.is_empty() {
            format!("{read} file(s) read, open_basedir not set")
        } else {
            format!(
                "{} setting(s) include the FIFO and reply dir",
                settings.len()
            )
        };
        ctx.line("php open_basedir", Status::Ok, detail);
    } else {
        ctx.line(
            "php open_basedir",
            Status::Problem,
            format!("{bad} setting(s) exclude the FIFO or reply dir"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::fixture::*;
    use crate::doctor::ClientSpec;

    #[test]
    fn parses_ini_and_pool_syntax() {
        let s = parse(
            Path::new("/etc/php/8.2/fpm/pool.d/www.conf"),
            "[www]\n; open_basedir = /nope\nphp_admin_value[open_basedir] = /var/www/:/usr/share/php ; note\nopen_basedir=\"/srv\"\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].value, "/var/www/:/usr/share/php");
        assert_eq!(s[0].line, 3);
        assert_eq!(s[1].value, "/srv");
        assert!(allows("/var/www/:/tmp/", Path::new("/tmp/opensips_fifo")));
        assert!(!allows("/var/www/", Path::new("/tmp/opensips_fifo")));
        assert!(
            allows("/tmp", Path::new("/tmpx/f")),
            "PHP's plain prefix rule"
        );
        assert!(allows("", Path::new("/x")));
    }

    #[test]
    fn basedir_excluding_the_fifo_is_an_error() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o666);
        f.view.file(
            "/etc/php/8.2/fpm/pool.d/www.conf",
            "[www]\nphp_admin_value[open_basedir] = /var/www/\n",
        );
        let mut cfg = f.config("/tmp/opensips_fifo", ClientSpec::User("apache".into()));
        cfg.php_ini = None;
        let r = f.run(&cfg);
        let p = r
            .findings
            .iter()
            .find(|x| x.code == crate::doctor::Code::PhpOpenBasedir)
            .expect("php-open-basedir");
        assert!(p.message.contains("www.conf:2"));
        let fix = p.fix.as_ref().unwrap();
        assert!(fix.edits[0]
            .line
            .starts_with("php_admin_value[open_basedir] = /var/www/:/tmp/"));
        assert!(fix.edits[0].file.ends_with("www.conf"), "{:?}", fix.edits);
        assert!(fix.commands.iter().all(|c| !c.contains("open_basedir")));
    }
}
