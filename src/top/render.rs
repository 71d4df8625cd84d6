//! A [`Board`] as text lines: module headers and one row per statistic
//! (`NAME  RATE/VALUE  TOTAL  HISTORY`). The terminal view styles these
//! lines; `--once`/`--count` and non-terminal output print them as they are.
//! Every name is escaped with [`crate::term::line`].

use super::{sparkline, Board, Kind, Row, Sort};
use crate::term;

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A module header.
    Group(String),
    /// A statistic.
    Row {
        /// Name without the module, escaped.
        name: String,
        /// `12.5/s` for counters, the value for gauges; `reset` after a reset.
        main: String,
        /// A counter's total; empty for gauges.
        total: String,
        /// The sparkline.
        spark: String,
        /// Counter or gauge.
        kind: Kind,
    },
}

/// A rate per second, short.
pub fn rate(r: f64) -> String {
    if r.abs() >= 100.0 {
        format!("{r:.0}/s")
    } else if r.abs() >= 10.0 {
        format!("{r:.1}/s")
    } else {
        format!("{r:.2}/s")
    }
}

fn main_column(r: &Row) -> String {
    match r.kind {
        Kind::Counter if r.reset => "reset".into(),
        Kind::Counter => r.rate.map_or_else(|| "-".into(), rate),
        Kind::Gauge => r.value.to_string(),
    }
}

/// The board as lines, grouped by module and ordered by `sort`.
pub fn lines(board: &Board, sort: Sort, spark_width: usize) -> Vec<Line> {
    let mut out = Vec::new();
    for (module, rows) in board.groups(sort) {
        out.push(Line::Group(term::line(&module).into_owned()));
        for r in rows {
            out.push(Line::Row {
                name: term::line(r.short_name()).into_owned(),
                main: main_column(r),
                total: match r.kind {
                    Kind::Counter => r.value.to_string(),
                    Kind::Gauge => String::new(),
                },
                spark: sparkline(&r.history, r.kind, spark_width),
                kind: r.kind,
            });
        }
    }
    out
}

/// Width of the name column.
pub const NAME_WIDTH: usize = 30;

/// The column header.
pub fn header() -> String {
    format!(
        "{:<w$} {:>12} {:>14}  HISTORY",
        "NAME",
        "RATE|VALUE",
        "TOTAL",
        w = NAME_WIDTH + 2
    )
}

/// One line as plain text.
pub fn plain_line(l: &Line) -> String {
    match l {
        Line::Group(m) => m.clone(),
        Line::Row {
            name,
            main,
            total,
            spark,
            ..
        } => format!("  {name:<NAME_WIDTH$} {main:>12} {total:>14}  {spark}"),
    }
}

/// The whole board as plain text (`--once`, `--count`, not a terminal).
pub fn plain(board: &Board, sort: Sort, spark_width: usize) -> String {
    let mut s = header();
    s.push('\n');
    for l in lines(board, sort, spark_width) {
        s.push_str(&plain_line(&l));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn plain_table_escapes_names_and_shows_rates() {
        let mut b = Board::new();
        let k: HashMap<String, bool> = [("core:rcv\x1b]0;x\x07".to_string(), true)].into();
        let v = |n: u64| {
            json!({"core:rcv\x1b]0;x\x07": n, "shmem:used_size": 4096})
                .as_object()
                .unwrap()
                .clone()
        };
        b.update(0.0, &v(10), &k);
        b.update(1.0, &v(35), &k);
        let text = plain(&b, Sort::Change, 5);
        assert!(!text.contains('\x1b'), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"));
        assert_eq!(lines[1], "core");
        assert!(lines[2].contains("rcv\\x1b]0;x\\x07"), "{}", lines[2]);
        assert!(
            lines[2].contains("25.0/s") && lines[2].contains(" 35 "),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "shmem");
        assert!(lines[4].contains("used_size") && lines[4].contains("4096"));
    }

    #[test]
    fn rates_are_short() {
        assert_eq!(rate(1234.4), "1234/s");
        assert_eq!(rate(12.34), "12.3/s");
        assert_eq!(rate(0.5), "0.50/s");
    }
}
