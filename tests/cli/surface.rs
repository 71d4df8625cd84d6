//! `--help`, man pages and completions: all generated from one clap
//! definition, checked against each other and against the flag contracts.

use super::{bin_str, have, long_flags, mififo, mififo_ok, subcommands, unroff};
use crate::util::{require, TestEnv};
use std::process::{Command, Stdio};

/// Flags that are a contract (issues 2–6, 15); more may exist.
const CONTRACT_FLAGS: &[(&str, &[&str])] = &[
    (
        "serve",
        &[
            "--fifo",
            "--mode",
            "--user",
            "--group",
            "--acl",
            "--reply-dir",
            "--dialect",
            "--commands",
            "--pretty",
            "--pidfile",
        ],
    ),
    (
        "call",
        &[
            "--fifo",
            "--reply-dir",
            "--timeout",
            "--dialect",
            "--raw",
            "--json",
            "--params",
        ],
    ),
    (
        "doctor",
        &[
            "--as",
            "--pid",
            "--unit",
            "--fifo",
            "--server-pid",
            "--reply-dir",
            "--client-open",
            "--audit-log",
            "--php-ini",
            "--no-probe",
            "--format",
        ],
    ),
    (
        "gateway",
        &["--listen", "--path", "--fifo", "--reply-dir", "--netns"],
    ),
    (
        "bench",
        &[
            "--fifo",
            "--reply-dir",
            "--clients",
            "--requests",
            "--duration",
            "--timeout",
            "--dialect",
            "--json",
        ],
    ),
    (
        "shell",
        &[
            "--fifo",
            "--reply-dir",
            "--timeout",
            "--dialect",
            "--no-history",
        ],
    ),
    (
        "top",
        &[
            "--fifo",
            "--reply-dir",
            "--interval",
            "--timeout",
            "--json",
            "--once",
            "--count",
            "--sort",
        ],
    ),
];

fn help_of(sub: &str) -> String {
    mififo_ok(&[sub, "--help"])
}

fn assert_contract(sub: &str) {
    let (_, wanted) = CONTRACT_FLAGS.iter().find(|(s, _)| *s == sub).unwrap();
    let have = long_flags(&help_of(sub));
    let missing: Vec<&&str> = wanted.iter().filter(|f| !have.contains(**f)).collect();
    assert!(
        missing.is_empty(),
        "`mififo {sub} --help` lacks contract flags {missing:?}; it lists {have:?}"
    );
}

#[test]
fn every_subcommand_has_help_with_usage() {
    for sub in subcommands() {
        let help = help_of(&sub);
        assert!(
            help.contains(&format!("Usage: mififo {sub}")),
            "`mififo {sub} --help` has no usage line:\n{help}"
        );
        // Global flags reach every subcommand.
        let flags = long_flags(&help);
        for global in ["--verbose", "--quiet", "--help"] {
            assert!(
                flags.contains(global),
                "`mififo {sub} --help` lacks {global}"
            );
        }
    }
}

#[test]
fn contract_subcommands_exist() {
    let subs = subcommands();
    for (sub, _) in CONTRACT_FLAGS {
        assert!(
            subs.iter().any(|s| s == sub),
            "no subcommand '{sub}' in {subs:?}"
        );
    }
    for extra in ["completions", "man"] {
        assert!(subs.iter().any(|s| s == extra), "no subcommand '{extra}'");
    }
}

// One test per subcommand so a missing flag names its owner. These pass once
// the subcommand's branch has landed (stubs have no flags).
#[test]
fn serve_help_lists_contract_flags() {
    assert_contract("serve");
}

#[test]
fn call_help_lists_contract_flags() {
    assert_contract("call");
}

#[test]
fn doctor_help_lists_contract_flags() {
    assert_contract("doctor");
}

#[test]
fn gateway_help_lists_contract_flags() {
    assert_contract("gateway");
}

#[test]
fn bench_help_lists_contract_flags() {
    assert_contract("bench");
}

#[test]
fn shell_help_lists_contract_flags() {
    assert_contract("shell");
}

#[test]
fn top_help_lists_contract_flags() {
    assert_contract("top");
    // `call --watch` is the live view of any command.
    assert!(long_flags(&help_of("call")).contains("--watch"));
}

#[test]
fn version_is_the_crate_version() {
    let out = mififo_ok(&["--version"]);
    assert_eq!(out.trim(), format!("mififo {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn main_man_page_mentions_every_subcommand_and_the_admin_sections() {
    let page = unroff(&mififo_ok(&["man"]));
    assert!(
        page.lines().any(|l| l.starts_with(".TH mififo 1 ")),
        "not a section-1 page"
    );
    assert_eq!(page.matches(".ds Aq").count(), 2, "roff preamble repeated");
    for sub in subcommands() {
        assert!(
            page.contains(&format!("mififo-{sub}(1)")),
            "mififo(1) does not mention mififo-{sub}(1)"
        );
    }
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "TROUBLESHOOTING",
        "SEE ALSO",
    ] {
        assert!(
            page.contains(&format!(".SH \"{section}\""))
                || page.contains(&format!(".SH {section}\n")),
            "mififo(1) lacks section {section}"
        );
    }
    // The exit codes of README, the environment of docs/config.md.
    for code in ["0", "1", "2", "3", "4", "5"] {
        assert!(
            page.contains(&format!(".TP\n{code}\n")),
            "exit code {code} missing"
        );
    }
    for var in [
        "MIFIFO_LOG",
        "OPENSIPS_MI_FIFO_FILE",
        "OPENSIPS_MI_FIFO_REPLY_DIR",
    ] {
        assert!(page.contains(var), "{var} missing from ENVIRONMENT");
    }
    assert!(page.contains("mififo doctor"), "no pointer to the doctor");
}

#[test]
fn man_out_writes_one_page_per_subcommand_with_all_its_flags() {
    let env = TestEnv::new();
    let dir = env.path("man1");
    let out = env.cmd().args(["man", "--out"]).arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    let mut expected: Vec<String> = subcommands()
        .iter()
        .map(|s| format!("mififo-{s}.1"))
        .chain(["mififo.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(written, expected);
    for sub in subcommands() {
        let page = unroff(&std::fs::read_to_string(dir.join(format!("mififo-{sub}.1"))).unwrap());
        let title = format!(".TH mififo-{sub} 1 ");
        assert!(
            page.lines().any(|l| l.starts_with(&title)),
            "bad title in mififo-{sub}.1"
        );
        for flag in long_flags(&mififo_ok(&[&sub, "--help"])) {
            assert!(
                page.contains(&flag),
                "mififo-{sub}.1 does not document {flag}"
            );
        }
        assert!(
            page.contains("mififo(1)"),
            "mififo-{sub}.1 does not refer to mififo(1)"
        );
        // `mififo man SUB` prints the same page.
        assert_eq!(unroff(&mififo_ok(&["man", &sub])), page);
    }
}

#[test]
fn man_pages_render_without_groff_warnings() {
    if !require("groff", have("groff")) {
        return;
    }
    let env = TestEnv::new();
    let dir = env.path("man1");
    assert!(env
        .cmd()
        .args(["man", "--out"])
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let out = Command::new("groff")
            // -k: preconv, as man(1) does, so UTF-8 help text is fine.
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff warns about {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn man_for_an_unknown_subcommand_fails_and_lists_the_real_ones() {
    let out = mififo(&["man", "nonesuch"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("mififo: no man page for 'nonesuch'"),
        "{err}"
    );
    for sub in subcommands() {
        assert!(err.contains(&sub), "{err}");
    }
}

/// The doctor's internal probe child is not a subcommand a person types:
/// no completion, help or man page offers it, yet the doctor can still run it.
#[test]
fn the_probe_child_is_offered_nowhere() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = mififo_ok(&["completions", shell]);
        assert!(
            !script.contains("__probe"),
            "{shell} completion offers __probe"
        );
    }
    assert!(!mififo_ok(&["--help"]).contains("__probe"));
    assert!(!mififo_ok(&["man"]).contains("probe"));
    // Still reachable: a malformed probe call is a usage error of the probe.
    let out = mififo(&["__probe", "--path", "/nonexistent", "--uids", "1"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("4 comma-separated ids"), "{err}");
}

/// SYNOPSIS lines name each option's value, as `--help` does.
#[test]
fn man_synopsis_names_option_values() {
    let page = unroff(&mififo_ok(&["man", "call"]));
    let synopsis = page
        .split(".SH SYNOPSIS\n")
        .nth(1)
        .or_else(|| {
            page.split(
                ".SH SYNOPSIS
",
            )
            .nth(1)
        })
        .expect("SYNOPSIS section");
    let synopsis = synopsis.lines().next().unwrap();
    for want in [
        "[--fifo PATH]",
        "[--reply-dir DIR]",
        "[--timeout DURATION]",
        "<METHOD>",
    ] {
        assert!(synopsis.contains(want), "SYNOPSIS lacks {want}: {synopsis}");
    }
}

#[test]
fn completions_mention_every_subcommand_and_flag() {
    let subs = subcommands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = mififo_ok(&["completions", shell]);
        assert!(script.len() > 200, "{shell} completion is (nearly) empty");
        for sub in &subs {
            assert!(
                script.contains(sub.as_str()),
                "{shell} completion lacks '{sub}'"
            );
            for flag in long_flags(&mififo_ok(&[sub, "--help"])) {
                // fish writes `-l fifo`, the others `--fifo`.
                let bare = flag.trim_start_matches('-');
                assert!(
                    script.contains(&flag) || script.contains(&format!("-l {bare}")),
                    "{shell} completion lacks {flag} of {sub}"
                );
            }
        }
    }
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let env = TestEnv::new();
    // (shell, syntax-check command); bash is always there, zsh/fish are
    // installed by .ci/run (and checked again by contrib/ci-package.sh).
    for (shell, check) in [
        ("bash", &["bash", "-n"][..]),
        ("zsh", &["zsh", "-n"][..]),
        ("fish", &["fish", "--no-execute"][..]),
    ] {
        if !require(shell, have(check[0])) {
            continue;
        }
        let file = env.path(&format!("completion.{shell}"));
        std::fs::write(&file, mififo_ok(&["completions", shell])).unwrap();
        let out = Command::new(check[0])
            .args(&check[1..])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{shell} rejects its completion: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Completes `words` (the last one being completed) with the bash script.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n_mififo mififo '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = Command::new("bash").arg("-c").arg(prog).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_completes_subcommands_and_their_flags() {
    let env = TestEnv::new();
    let script = env.path("mififo.bash");
    std::fs::write(&script, mififo_ok(&["completions", "bash"])).unwrap();
    assert_eq!(bash_complete(&script, &["mififo", "do"]), ["doctor"]);
    let all = bash_complete(&script, &["mififo", ""]);
    for sub in subcommands() {
        assert!(
            all.contains(&sub),
            "'mififo <TAB>' does not offer {sub}: {all:?}"
        );
    }
    for sub in subcommands() {
        let offered = bash_complete(&script, &["mififo", &sub, "--"]);
        for flag in long_flags(&mififo_ok(&[&sub, "--help"])) {
            assert!(
                offered.contains(&flag),
                "'mififo {sub} --<TAB>' lacks {flag}: {offered:?}"
            );
        }
    }
}

#[test]
fn closed_stdout_ends_quietly() {
    // `mififo completions bash | head -1`: the reader goes away early. The
    // write fails with EPIPE, which main treats as success, without a panic.
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let mut child = Command::new(bin_str())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", out.status);
        assert!(
            out.stderr.is_empty(),
            "{args:?} complained: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_bad_mififo_log_is_reported_not_fatal() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .env("MIFIFO_LOG", "mififo=loud")
        .arg("man")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ignoring MIFIFO_LOG: 'mififo=loud'"), "{err}");
    // -q silences the warning level entirely, and MIFIFO_LOG is not read.
    let out = env
        .cmd()
        .env("MIFIFO_LOG", "mififo=loud")
        .args(["-qq", "man"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn logs_to_the_journal_carry_syslog_priorities() {
    // systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected to
    // stderr; imitate it with a file, whose device and inode we know.
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    let log = env.path("stderr");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let status = env
        .cmd()
        .env("MIFIFO_LOG", "mififo=loud")
        .env("JOURNAL_STREAM", &stream)
        .arg("man")
        .stdout(Stdio::null())
        .stderr(file)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with("<4>ignoring MIFIFO_LOG"),
        "no warning priority prefix: {text:?}"
    );
    assert!(
        !text.contains('\x1b'),
        "colour codes in the journal: {text:?}"
    );

    // A JOURNAL_STREAM that names another stream (inherited by a child whose
    // stderr was redirected) is ignored.
    let other = env.path("other");
    let file = std::fs::File::create(&other).unwrap();
    let status = env
        .cmd()
        .env("MIFIFO_LOG", "mififo=loud")
        .env("JOURNAL_STREAM", &stream)
        .arg("man")
        .stdout(Stdio::null())
        .stderr(file)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&other).unwrap();
    assert!(!text.starts_with('<') && text.contains("WARN"), "{text:?}");
    assert!(
        !text.contains('\x1b'),
        "colour codes off a terminal: {text:?}"
    );
}

/// `--url` beside `--reply-dir` (or `--fifo`) is refused where a FIFO flag
/// would otherwise be silently ignored: every subcommand that takes `--url`.
#[test]
fn url_refuses_fifo_flags_beside_it() {
    for sub in ["call", "shell", "top", "bench", "record"] {
        for flag in [["--reply-dir", "/tmp/"], ["--fifo", "/tmp/mififo-test-x"]] {
            let mut args = vec![sub, "--url", "http://127.0.0.1:9/mi"];
            args.extend(flag);
            let out = mififo(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains("'--url <URL>' cannot be used with")
                    && err.contains(&format!("'{} <", flag[0])),
                "{args:?}: {err}"
            );
        }
    }
}
