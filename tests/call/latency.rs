//! Client latency side by side with python-opensips (`opensips-mi` and its
//! library) on the same server. A measurement, not a check: `#[ignore]`d,
//! run with `cargo test --test integration latency -- --ignored --nocapture`.
//! `MIFIFO_BENCH_BIN` may point at a release build of `mififo`.

use super::fake::{self, echo, Fake};
use crate::util::{bin, Server, TestEnv};
use mififo::client::{Client, ClientConfig};
use mififo::proto::jsonrpc::Params;
use mififo::proto::Dialect;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn python_bin_dir() -> Option<PathBuf> {
    crate::util::find_tool("opensips-mi").and_then(|p| p.parent().map(PathBuf::from))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_cmd(mut c: Command, n: usize) -> Duration {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                let s = c.status().unwrap();
                assert!(s.success());
                t.elapsed()
            })
            .collect(),
    )
}

#[test]
#[ignore = "measurement; run explicitly"]
fn latency_against_python_opensips() {
    let Some(py) = python_bin_dir() else {
        eprintln!("python-opensips not found");
        return;
    };
    let mififo = std::env::var_os("MIFIFO_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(bin);
    eprintln!("mififo binary: {}", mififo.display());

    let env = TestEnv::new();
    let srv = Fake::start(&env.fifo(), fake::opts(Dialect::Json, env.dir.path()), echo);
    measure("fake echo server", &env, &py, &mififo);
    drop(srv);

    // The real server, from the same binary.
    let env = TestEnv::new();
    let _server = Server::start(
        env.cmd()
            .env_remove("MIFIFO_LOG")
            .args(["-q", "serve"])
            .args(crate::util::serve_user_args())
            .arg("--fifo")
            .arg(env.fifo())
            .arg("--reply-dir")
            .arg(env.reply_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        &env.fifo(),
        Duration::from_secs(20),
    );
    measure("mififo serve", &env, &py, &mififo);
}

fn measure(label: &str, env: &TestEnv, py: &Path, mififo: &Path) {
    let fifo = env.fifo().display().to_string();
    let dir = env.reply_dir();
    let n = 40;

    // One process per command, as admins and scripts use both tools.
    let mut ours = Command::new(mififo);
    ours.args(["call", "--fifo", &fifo, "--reply-dir", &dir, "uptime"]);
    let mut theirs = Command::new(py.join("opensips-mi"));
    theirs
        .args(["-f", &fifo, "-fd", &dir, "uptime"])
        .current_dir(env.dir.path());
    let cli_ours = time_cmd(ours, n);
    let cli_theirs = time_cmd(theirs, n);

    // In-process library round trips, sequential.
    let m = 200;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = Client::new(ClientConfig {
        fifo: env.fifo(),
        reply_dir: env.dir.path().to_path_buf(),
        timeout: Duration::from_secs(30),
        dialect: Dialect::Json,
        allow_large: false,
        ..Default::default()
    });
    let lib_ours: Vec<Duration> = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..m {
            let t = Instant::now();
            c.call("uptime", Params::None).await.unwrap();
            v.push(t.elapsed());
        }
        v
    });
    // python-opensips in one long-lived process, timed per call.
    let script = format!(
        "import time\nfrom opensips.mi import OpenSIPSMI\n\
         mi = OpenSIPSMI('fifo', fifo_file='{fifo}', fifo_file_fallback='{fifo}', fifo_reply_dir='{dir}')\n\
         for i in range({m}):\n    t = time.perf_counter()\n    mi.execute('uptime', [])\n    print(time.perf_counter() - t)\n"
    );
    let out = Command::new(py.join("python"))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib_theirs: Vec<Duration> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| Duration::from_secs_f64(l.trim().parse().unwrap()))
        .collect();

    let show = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len() as u32;
    let slow = |v: &[Duration]| v.iter().filter(|d| **d > Duration::from_millis(50)).count();
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
    eprintln!("== {label}");
    eprintln!(
        "CLI median of {n} runs: mififo call {}  opensips-mi {}  ratio {:.1}x",
        show(cli_ours),
        show(cli_theirs),
        ratio(cli_ours, cli_theirs)
    );
    let (mo, mt) = (median(lib_ours.clone()), median(lib_theirs.clone()));
    eprintln!(
        "library median of {m}: mififo::client {}  python-opensips {}  ratio {:.1}x",
        show(mo),
        show(mt),
        ratio(mo, mt)
    );
    let (ao, at) = (mean(&lib_ours), mean(&lib_theirs));
    eprintln!(
        "library mean of {m}:   mififo::client {}  python-opensips {}  ratio {:.1}x",
        show(ao),
        show(at),
        ratio(ao, at)
    );
    // python-opensips opens its reply FIFO after writing; when the server is
    // faster, it waits out the server's 80 ms ENXIO retry (OpenSIPS does the same).
    eprintln!(
        "calls over 50 ms: mififo::client {}  python-opensips {}",
        slow(&lib_ours),
        slow(&lib_theirs)
    );
}
