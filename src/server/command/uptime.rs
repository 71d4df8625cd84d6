//! `uptime`: `{"Now":ctime,"Up since":ctime,"Up time":"<n> [sec]"}` (mi_core.c).
//!
//! Times are printed like C `ctime()` without its newline, in UTC (OpenSIPS
//! uses the local time zone; we do not read the time zone database).

use super::{Builtin, Command};
use crate::proto::jsonrpc::RpcError;
use crate::server::params::Args;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn command() -> Command {
    Command::builtin(
        "uptime",
        "prints various time information about OpenSIPS - when it started to run, for how long it runs",
        &[&[]],
        run,
    )
}

fn run(b: &Builtin, _: &Args) -> Result<Value, RpcError> {
    let now = SystemTime::now();
    let up = now
        .duration_since(b.ctx.started)
        .unwrap_or_default()
        .as_secs();
    Ok(json!({
        "Now": ctime(now),
        "Up since": ctime(b.ctx.started),
        "Up time": format!("{up} [sec]"),
    }))
}

/// `Thu Nov 28 10:00:00 2024` (C `ctime` format, UTC, no newline).
pub fn ctime(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}",
        WD[(days + 4).rem_euclid(7) as usize],
        MO[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ctime_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_732_788_000); // 2024-11-28 10:00:00 UTC
        assert_eq!(ctime(t), "Thu Nov 28 10:00:00 2024");
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000 - 6 * 86_400);
        assert_eq!(ctime(t), "Wed Nov  8 22:13:20 2023");
        assert_eq!(ctime(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
    }
}
