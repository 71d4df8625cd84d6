//! `mififo record` → `serve --commands recording.json`: every recorded call
//! gets the same answer from the replay as from the original.
//!
//! Time-varying fields (blanked on both sides before comparing; everything
//! else must be byte-identical):
//! - `uptime` / `core:uptime`: `Now`, `Up since`, `Up time`;
//! - statistics of a live mififo original: `core:timestamp`, `shmem:*`,
//!   `pkmem:*`, `load:*`, `mififo:*` (its own request counters);
//! - Kamailio: `core.uptime` (`now`, `uptime`), the values of
//!   `stats.get_statistics` (`name = value` → `name`).

use super::dialog_fixture;
use crate::call::kamailio::Kamailio;
use crate::util::{raw_exchange, TestEnv};
use mififo::client::{Client, ClientConfig, ReplyKind};
use mififo::proto::jsonrpc::{Outcome, Params};
use mififo::proto::Dialect;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn record(env: &TestEnv, fifo: &Path, extra: &[&str]) -> (std::path::PathBuf, Value) {
    let out = env.path(&format!("recording-{}.json", fastrand::u32(..)));
    crate::util::output_ok(env.cmd_at("record", fifo).args(extra).arg("-o").arg(&out));
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    (out, v)
}

/// Every (method, params) the recording answers: the recorded calls, plus
/// what the replay computes from the recording (which, help per command,
/// list_statistics, get_statistics all).
fn recorded_calls(rec: &Value) -> Vec<(String, Option<Value>)> {
    let mut out = Vec::new();
    let cmds = rec["commands"].as_object().unwrap();
    for (name, c) in cmds {
        for r in c["responses"].as_array().into_iter().flatten() {
            out.push((name.clone(), r.get("params").cloned()));
        }
    }
    if rec["recorded"]["flavour"] == "opensips" {
        out.push(("which".into(), None));
        out.push(("list_statistics".into(), None));
        out.push(("get_statistics".into(), Some(json!([["all"]]))));
        for name in cmds.keys() {
            out.push(("help".into(), Some(json!({ "mi_cmd": name }))));
            out.push(("which".into(), Some(json!({ "command": name }))));
        }
    }
    out
}

fn blank_time_varying(method: &str, v: &mut Value) {
    let Some(result) = v.get_mut("result") else {
        return;
    };
    match method {
        "uptime" | "core:uptime" => {
            for k in ["Now", "Up since", "Up time"] {
                result[k] = Value::Null;
            }
        }
        "core.uptime" => {
            for k in ["now", "uptime"] {
                if result.get(k).is_some() {
                    result[k] = Value::Null;
                }
            }
        }
        "get_statistics" => {
            if let Some(o) = result.as_object_mut() {
                for (k, x) in o.iter_mut() {
                    if k == "core:timestamp"
                        || ["shmem:", "pkmem:", "load:", "mififo:"]
                            .iter()
                            .any(|p| k.starts_with(p))
                    {
                        *x = Value::Null;
                    }
                }
            }
        }
        "stats.get_statistics" => {
            if let Some(a) = result.as_array_mut() {
                for x in a {
                    if let Some(s) = x.as_str() {
                        *x = Value::String(s.split(" = ").next().unwrap().to_string());
                    }
                }
            }
        }
        _ => {}
    }
}

fn raw_call(env: &TestEnv, fifo: &Path, method: &str, params: Option<&Value>) -> Vec<u8> {
    let mut req = json!({"jsonrpc": "2.0", "method": method, "id": 7});
    if let Some(p) = params {
        req["params"] = p.clone();
    }
    raw_exchange(
        fifo,
        env.dir.path(),
        "cmp",
        format!(":cmp:{req}").as_bytes(),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|| panic!("no reply to {method} from {}", fifo.display()))
}

#[test]
fn a_recording_of_mififo_serve_replays_identically() {
    let env = TestEnv::new();
    let original_fifo = env.path("original");
    let _orig = env.serve_at(&original_fifo, &["--commands", &dialog_fixture()]);
    let (file, rec) = record(
        &env,
        &original_fifo,
        &[
            "--call",
            r#"dlg_list {"callid":"abc@host"}"#,
            "--call",
            r#"get_statistics [["dialog:"]]"#,
        ],
    );
    assert_eq!(rec["version"], 2);
    assert_eq!(rec["standalone"], true);
    // Never run: not on the safe list.
    for unsafe_ in ["kill", "dlg_end_dlg", "reset_statistics", "log_level"] {
        assert!(
            rec["commands"][unsafe_].get("responses").is_none(),
            "{unsafe_} was run: {}",
            rec["commands"][unsafe_]
        );
    }
    assert!(
        rec["commands"]["dlg_list"]["responses"]
            .as_array()
            .unwrap()
            .len()
            == 2
    );
    let replay_fifo = env.path("replay");
    let _replay = env.serve_at(&replay_fifo, &["--commands", file.to_str().unwrap()]);
    let calls = recorded_calls(&rec);
    assert!(calls.len() > 30, "{calls:?}");
    for (method, params) in calls {
        let a = raw_call(&env, &original_fifo, &method, params.as_ref());
        let b = raw_call(&env, &replay_fifo, &method, params.as_ref());
        let (mut va, mut vb): (Value, Value) = (
            serde_json::from_slice(&a).unwrap(),
            serde_json::from_slice(&b).unwrap(),
        );
        blank_time_varying(&method, &mut va);
        blank_time_varying(&method, &mut vb);
        if va == serde_json::from_slice::<Value>(&a).unwrap() {
            assert_eq!(
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                "{method} {params:?}: byte-identical"
            );
        } else {
            assert_eq!(va.to_string(), vb.to_string(), "{method} {params:?}");
        }
    }
    // The recorded version is reported; other params get the documented error.
    let r = raw_call(
        &env,
        &replay_fifo,
        "dlg_list",
        Some(&json!({"callid": "other"})),
    );
    assert!(
        String::from_utf8_lossy(&r).contains("no response configured for these parameters"),
        "{}",
        String::from_utf8_lossy(&r)
    );
}

#[test]
fn redaction_is_consistent_and_the_redacted_recording_replays() {
    let env = TestEnv::new();
    let _orig = env.serve(&["--commands", &dialog_fixture()]);
    let (file, rec) = record(&env, &env.fifo(), &["--redact"]);
    let text = rec.to_string();
    for secret in ["1.2.3.4", "5.6.7.8", "sip:a@x", "abc@host"] {
        assert!(!text.contains(secret), "{secret} left in the recording");
    }
    let d = &rec["commands"]["dlg_list"]["responses"][0]["result"]["Dialogs"][0];
    // The same address, the same stand-in.
    assert_eq!(
        d["caller_contact"].as_str().unwrap().rsplit('@').next(),
        d["caller_bind_addr"]
            .as_str()
            .unwrap()
            .strip_prefix("udp:")
            .and_then(|a| a.strip_suffix(":5060"))
    );
    let replay_fifo = env.path("replay");
    let _replay = env.serve_at(&replay_fifo, &["--commands", file.to_str().unwrap()]);
    let r = raw_call(&env, &replay_fifo, "dlg_list", None);
    assert!(String::from_utf8_lossy(&r).contains("192.0.2.1"));
}

async fn outcome(c: &Client, method: &str, params: Option<&Value>) -> Value {
    let p = match params {
        Some(Value::Array(a)) => Params::Positional(a.clone()),
        Some(Value::Object(o)) => Params::Named(o.clone()),
        _ => Params::None,
    };
    let r = c.call(method, p).await.unwrap();
    match r.kind {
        ReplyKind::Json(resp) => match resp.outcome {
            Outcome::Result(v) => json!({ "result": v }),
            Outcome::Error(e) => json!({ "error": e.to_value() }),
        },
        other => panic!("{method}: {other:?}"),
    }
}

#[test]
fn a_recording_of_kamailio_replays_the_same_answers() {
    let env = TestEnv::new();
    let Some(k) = Kamailio::start(&env) else {
        return;
    };
    let (file, rec) = record(&env, &k.fifo, &["--dialect", "kamailio"]);
    assert_eq!(rec["recorded"]["flavour"], "kamailio");
    assert!(
        rec["commands"]["core.uptime"]["responses"].is_array(),
        "{rec}"
    );
    assert!(rec["commands"]["core.kill"].get("responses").is_none());
    let replay_fifo = env.path("replay");
    let _replay = env.serve_at(&replay_fifo, &["--commands", file.to_str().unwrap()]);
    let client = |fifo: &Path, dialect| {
        Client::new(ClientConfig {
            fifo: fifo.to_path_buf(),
            reply_dir: env.dir.path().to_path_buf(),
            dialect,
            timeout: Duration::from_secs(10),
            ..ClientConfig::default()
        })
    };
    let original = client(&k.fifo, Dialect::Kamailio);
    let replay = client(&replay_fifo, Dialect::Json);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let calls = recorded_calls(&rec);
    assert!(calls.len() > 5, "{calls:?}");
    for (method, params) in calls {
        let (mut a, mut b) = rt.block_on(async {
            (
                outcome(&original, &method, params.as_ref()).await,
                outcome(&replay, &method, params.as_ref()).await,
            )
        });
        blank_time_varying(&method, &mut a);
        blank_time_varying(&method, &mut b);
        assert_eq!(a.to_string(), b.to_string(), "{method} {params:?}");
    }
}

#[test]
fn recording_over_http_through_the_gateway_equals_the_fifo_recording() {
    let env = TestEnv::new();
    let _orig = env.serve(&["--commands", &dialog_fixture()]);
    let gw = crate::gateway::Gateway::start(&env, &env.fifo(), &[]);
    let (_, by_fifo) = record(&env, &env.fifo(), &[]);
    let out = env.path("by-http.json");
    crate::util::output_ok(env.cmd().args(["record", "--url", &gw.url, "-o"]).arg(&out));
    let by_http: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(by_http["recorded"]["from"], gw.url.as_str());
    let names = |v: &Value| {
        v["commands"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&by_http), names(&by_fifo));
    for m in ["dlg_list", "ps", "version", "help", "get_statistics"] {
        assert_eq!(by_http["commands"][m], by_fifo["commands"][m], "{m}");
    }
    assert_eq!(
        by_http["statistics"]["dialog:active_dialogs"],
        json!({"value": 1, "incremental": false})
    );
    // A FIFO flag beside --url would be ignored: refused, as by call.
    let fifo = env.fifo().display().to_string();
    let refused = env.path("refused.json");
    for flags in [["--fifo", fifo.as_str()], ["--reply-dir", "/tmp/"]] {
        let o = env
            .cmd()
            .args(["record", "--url", &gw.url])
            .args(flags)
            .arg("-o")
            .arg(&refused)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {err}");
        assert!(
            err.contains("cannot be used with") && err.contains("'--url <URL>'"),
            "{flags:?}: {err}"
        );
        assert!(!refused.exists(), "{flags:?}");
    }
}
