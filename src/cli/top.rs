//! `mififo top`: live statistics. On a terminal a full-screen view (ratatui);
//! with `--json`, `--once`, `--count` or when stdout is not a terminal, one
//! report per interval. Sampling and rates are in [`mififo::top`].

use super::common::ServerArgs;
use mififo::config;
use mififo::term;
use mififo::top::sample::{Failed, Sampler};
use mififo::top::{render, Board, Sort};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Options of `mififo top`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Counters (incremental in list_statistics) are shown as rates per second with
their total, gauges as values; each row has a sparkline of its recent history,
rows are grouped by module and sorted by how much they changed. A failed
sample (server down or restarting) shows as a gap (·) and the time since the
last answer; a counter that went down is shown as `reset`.

Keys: q/Esc quit, p/space pause, s cycle the sort (change, value, name).

--json prints one object per interval:
  {\"time\":UNIX,\"ok\":true,\"stats\":{\"core:rcv_requests\":{\"kind\":\"counter\",\"value\":12,\"rate\":3.5},…}}
  {\"time\":UNIX,\"ok\":false,\"error\":\"…\"}
The first sample is the baseline: --once and --count N report after one
interval each. Exit status: 0, or as `mififo call` when the last sample failed.")]
pub struct Args {
    /// Statistics to show, as for get_statistics: `module:`, `name`, `module:name` [default: all].
    #[arg(value_name = "STAT")]
    pub stat: Vec<String>,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Time between samples (500ms, 2s, 1m).
    #[arg(long, short = 'i', value_name = "DURATION", default_value = "1s", value_parser = config::parse_duration)]
    pub interval: Duration,
    /// Give up on each sample after this long.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = config::parse_duration)]
    pub timeout: Duration,
    /// Print one JSON object per interval instead of the live view.
    #[arg(long)]
    pub json: bool,
    /// Print one report after one interval and exit (for cron).
    #[arg(long, conflicts_with = "count")]
    pub once: bool,
    /// Print N reports, one per interval, and exit.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Initial sort order.
    #[arg(long, value_enum, default_value_t = SortArg::Change)]
    pub sort: SortArg,
}

/// `--sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortArg {
    /// Biggest change first.
    Change,
    /// Biggest rate or value first.
    Value,
    /// By name.
    Name,
}

impl From<SortArg> for Sort {
    fn from(s: SortArg) -> Sort {
        match s {
            SortArg::Change => Sort::Change,
            SortArg::Value => Sort::Value,
            SortArg::Name => Sort::Name,
        }
    }
}

/// Runs `mififo top`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.interval < Duration::from_millis(100) {
        anyhow::bail!("--interval must be at least 100ms");
    }
    let conn = args
        .server
        .open_session(args.timeout, mififo::proto::Dialect::Json)?;
    let name = args.server.name(&conn);
    let sampler = Sampler::new(conn.transport, &args.stat);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let count = if args.once { Some(1) } else { args.count };
    if args.json || count.is_some() || !std::io::stdout().is_terminal() {
        rt.block_on(batch(sampler, &args, count))
    } else {
        live(&rt, sampler, &args, &name)
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `HH:MM:SS UTC` of a UNIX time.
fn clock(unix: f64) -> String {
    let s = unix as u64 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// One sample into the board; the failure, if any.
async fn take(sampler: &mut Sampler, board: &mut Board, start: Instant) -> Option<Failed> {
    let result = sampler.sample().await;
    let at = start.elapsed().as_secs_f64();
    match result {
        Ok(values) => {
            board.update(at, &values, sampler.kinds());
            None
        }
        Err(e) => {
            board.gap(at, e.message.clone());
            sampler.forget_kinds();
            Some(e)
        }
    }
}

/// `--json`, `--once`, `--count`, or stdout not a terminal.
async fn batch(mut sampler: Sampler, args: &Args, count: Option<u64>) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term_sig = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let work = async {
        let start = Instant::now();
        let mut board = Board::new();
        let mut tick = tokio::time::interval(args.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        take(&mut sampler, &mut board, start).await;
        let mut reports = 0u64;
        let mut last = None;
        while count.is_none_or(|n| reports < n) {
            tick.tick().await;
            last = take(&mut sampler, &mut board, start).await;
            let now = unix_now();
            let mut out = std::io::stdout().lock();
            if args.json {
                writeln!(out, "{}", board.to_json(now))?;
            } else {
                writeln!(out, "# {}", clock(now))?;
                match &last {
                    Some(e) => writeln!(out, "no answer: {}", term::line(&e.message))?,
                    None => {
                        out.write_all(render::plain(&board, args.sort.into(), 20).as_bytes())?
                    }
                }
                writeln!(out)?;
            }
            out.flush()?;
            reports += 1;
        }
        anyhow::Ok(last.map_or(0, |e| e.code))
    };
    // Dropping `work` on a signal removes the reply FIFO of a sample in flight.
    let code = tokio::select! {
        r = work => r?,
        _ = int.recv() => 130,
        _ = term_sig.recv() => 143,
        _ = hup.recv() => 129,
    };
    Ok(ExitCode::from(code))
}

/// What the sampling task tells the screen.
enum Event {
    Sample(Box<Board>),
    Signal(u8),
}

/// The full-screen view.
fn live(
    rt: &tokio::runtime::Runtime,
    mut sampler: Sampler,
    args: &Args,
    name: &str,
) -> anyhow::Result<ExitCode> {
    use ratatui::crossterm::event::{self, Event as Term, KeyCode, KeyEventKind, KeyModifiers};
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, mut rx) = mpsc::channel::<Event>(4);
    let interval = args.interval;
    let sig_tx = tx.clone();
    // The board lives in the task; the screen gets a copy per sample.
    let sampling = rt.spawn(async move {
        let start = Instant::now();
        let mut board = Board::new();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            take(&mut sampler, &mut board, start).await;
            if tx
                .send(Event::Sample(Box::new(board.clone())))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    // Whoever ends the program stops sampling: the screen loop, or the
    // signal task when the screen loop does not answer.
    let sampling = std::sync::Arc::new(std::sync::Mutex::new(Some(sampling)));
    let sampling_for_signals = sampling.clone();
    let signals = {
        let _guard = rt.enter();
        let mut term_sig = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut int = signal(SignalKind::interrupt())?;
        rt.spawn(async move {
            let code = tokio::select! {
                _ = term_sig.recv() => 143,
                _ = hup.recv() => 129,
                _ = int.recv() => 130,
            };
            // The screen loop sees the signal within its 100 ms poll. When
            // the terminal is gone (SIGHUP from a closed pty), crossterm's
            // poll spins on EOF and never returns (and the queue fills up):
            // end the program here.
            let _ =
                tokio::time::timeout(Duration::from_millis(500), sig_tx.send(Event::Signal(code)))
                    .await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let handle = sampling_for_signals.lock().ok().and_then(|mut s| s.take());
            if let Some(h) = handle {
                h.abort();
                // Dropped: a sample in flight has removed its reply FIFO.
                let _ = h.await;
                ratatui::restore();
                std::process::exit(i32::from(code));
            }
        })
    };

    let mut terminal = ratatui::init();
    let mut view = View {
        board: Board::new(),
        sort: args.sort.into(),
        paused: false,
        name: term::line(name).into_owned(),
        interval,
        last_seen: None,
    };
    let result = (|| -> anyhow::Result<u8> {
        loop {
            terminal.draw(|f| view.draw(f))?;
            if event::poll(Duration::from_millis(100))? {
                if let Term::Key(k) = event::read()? {
                    if k.kind != KeyEventKind::Release {
                        match k.code {
                            KeyCode::Char('q') | KeyCode::Esc => return Ok(0),
                            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                                return Ok(0)
                            }
                            KeyCode::Char('p') | KeyCode::Char(' ') => view.paused = !view.paused,
                            KeyCode::Char('s') => view.sort = view.sort.next(),
                            _ => {}
                        }
                    }
                }
            }
            while let Ok(ev) = rx.try_recv() {
                match ev {
                    Event::Signal(code) => return Ok(code),
                    Event::Sample(b) if !view.paused => {
                        if !b.in_gap() {
                            view.last_seen = Some(unix_now());
                        }
                        view.board = *b;
                    }
                    Event::Sample(_) => {}
                }
            }
        }
    })();
    // Stop sampling and wait until the task is dropped: a sample in flight
    // removes its reply FIFO before we exit.
    signals.abort();
    let handle = sampling.lock().ok().and_then(|mut s| s.take());
    if let Some(h) = handle {
        h.abort();
        let _ = rt.block_on(h);
    }
    ratatui::restore();
    Ok(ExitCode::from(result?))
}

struct View {
    board: Board,
    sort: Sort,
    paused: bool,
    name: String,
    interval: Duration,
    last_seen: Option<f64>,
}

impl View {
    fn draw(&self, f: &mut ratatui::Frame<'_>) {
        use ratatui::style::{Color, Modifier, Style};
        use ratatui::text::{Line, Span};
        use ratatui::widgets::Paragraph;
        let area = f.area();
        let now = unix_now();
        let mut lines = Vec::new();
        let mut title = format!(
            "mififo top  {}  every {}  sort: {}  {}",
            self.name,
            mififo::client::error::format_duration(self.interval),
            self.sort.as_str(),
            clock(now)
        );
        if self.paused {
            title.push_str("  [paused]");
        }
        lines.push(Line::from(Span::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        )));
        let b = &self.board;
        if b.in_gap() {
            let since = match self.last_seen {
                Some(t) => format!("no answer for {:.0}s", now - t),
                None => "no answer".into(),
            };
            lines.push(Line::from(Span::styled(
                format!(
                    "{since}: {}",
                    term::line(b.last_error.as_deref().unwrap_or(""))
                ),
                Style::default().fg(Color::Red),
            )));
        } else {
            lines.push(Line::from(format!(
                "{} statistics, {} samples, {} gaps{}",
                b.len(),
                b.samples,
                b.gaps,
                if b.ignored > 0 {
                    format!(", {} not shown (limit)", b.ignored)
                } else {
                    String::new()
                }
            )));
        }
        lines.push(Line::from(Span::styled(
            render::header(),
            Style::default().add_modifier(Modifier::REVERSED),
        )));
        let fixed = 2 + render::NAME_WIDTH + 1 + 12 + 1 + 14 + 2;
        let spark = usize::from(area.width)
            .saturating_sub(fixed)
            .min(mififo::top::HISTORY);
        let body_rows = usize::from(area.height).saturating_sub(4);
        for l in render::lines(b, self.sort, spark).iter().take(body_rows) {
            lines.push(match l {
                render::Line::Group(m) => Line::from(Span::styled(
                    m.clone(),
                    Style::default()
                        .fg(Color::Cyan)
                        .add_modifier(Modifier::BOLD),
                )),
                row => Line::from(render::plain_line(row)),
            });
        }
        while lines.len() < usize::from(area.height).saturating_sub(1) {
            lines.push(Line::from(""));
        }
        lines.push(Line::from(Span::styled(
            "q quit  p pause  s sort",
            Style::default().add_modifier(Modifier::DIM),
        )));
        f.render_widget(Paragraph::new(lines), area);
    }
}
