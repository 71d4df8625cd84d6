//! The library's enums as command-line values. The library knows nothing of
//! clap: each enum's values and their help live here, next to the flags.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use mififo::doctor::ClientOpen;
use mififo::proto::Dialect;
use mififo::server::command::OpenSipsVersion;

/// A parser accepting exactly `values` (name, help), mapped by `from`.
fn choice<T: Clone + Send + Sync + 'static, const N: usize>(
    values: [(&'static str, &'static str); N],
    from: fn(&str) -> T,
) -> impl TypedValueParser<Value = T> {
    choice_hiding(values, &[], from)
}

/// [`choice`], with the values in `hidden` still parsed but not offered
/// (help, completions): a command refuses them later, saying what to use.
fn choice_hiding<T: Clone + Send + Sync + 'static, const N: usize>(
    values: [(&'static str, &'static str); N],
    hidden: &'static [&'static str],
    from: fn(&str) -> T,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(values.map(|(name, help)| {
        PossibleValue::new(name)
            .help(help)
            .hide(hidden.contains(&name))
    }))
    .map(move |s: String| from(&s))
}

/// `--dialect`, every dialect offered (the client).
pub fn dialect() -> impl TypedValueParser<Value = Dialect> {
    dialect_hiding(&[])
}

/// `--dialect` of a command that takes only some dialects: those in
/// `hidden` are parsed (to be refused with a word on what to use instead)
/// but not offered.
pub fn dialect_hiding(hidden: &'static [&'static str]) -> impl TypedValueParser<Value = Dialect> {
    choice_hiding(
        [
            ("json", "OpenSIPS 3.x/4.x: `:reply_name:{JSON-RPC request}`"),
            (
                "text",
                "OpenSIPS 1.x/2.x: `:command:reply_name` + argument lines + empty line",
            ),
            (
                "kamailio",
                "Kamailio `jsonrpcs` FIFO: a bare JSON-RPC object with a `reply_name` member",
            ),
        ],
        hidden,
        |s| match s {
            "text" => Dialect::Text,
            "kamailio" => Dialect::Kamailio,
            _ => Dialect::Json,
        },
    )
}

/// `serve --opensips-version`.
pub fn opensips_version() -> impl TypedValueParser<Value = OpenSipsVersion> {
    choice(
        [
            (
                "3.6",
                "3.6: `get_statistics`, `dlg_list`, … (the 4.0 names work as aliases)",
            ),
            (
                "4.0",
                "4.0: `statistics:get`, `dialog:list`, `core:uptime`, … (the 3.x names work as aliases)",
            ),
        ],
        |s| match s {
            "4.0" => OpenSipsVersion::V4_0,
            _ => OpenSipsVersion::V3_6,
        },
    )
}

/// `doctor --client-open`.
pub fn client_open() -> impl TypedValueParser<Value = ClientOpen> {
    choice(
        [
            ("php", "PHP `fopen($f, \"w\")`: `O_WRONLY|O_CREAT|O_TRUNC`"),
            (
                "python",
                "Python `open(f, \"w\")`: `O_WRONLY|O_CREAT|O_TRUNC`",
            ),
            ("mififo", "`mififo call`: `O_WRONLY|O_NONBLOCK`"),
            (
                "opensipsctl",
                "opensipsctl/kamctl (shell `> fifo`): `O_WRONLY|O_CREAT|O_TRUNC`",
            ),
        ],
        |s| match s {
            "php" => ClientOpen::Php,
            "python" => ClientOpen::Python,
            "opensipsctl" => ClientOpen::Opensipsctl,
            _ => ClientOpen::Mififo,
        },
    )
}
