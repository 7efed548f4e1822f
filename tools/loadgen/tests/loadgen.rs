//! A smoke run of every scenario: the `loadgen` binary against an in-process `scimsync` server
//! (real HTTP, a fresh SQLite file) and against `loadgen baseline`, asserting that nothing
//! failed. Never timings: those belong in BENCHMARKS.md, not in tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::Value;
use server::{AppState, Limits};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

struct Server {
    url: String,
    token: String,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(scim::Registry::rfc7643());
    let store = store::open(dir.path().join("t.db").to_str().unwrap(), registry.clone())
        .await
        .unwrap();
    let (token, _) = server::auth::issue_token(store.as_ref(), "bench", None)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        AppState::new(store, registry, Limits::default()),
        async {
            let _ = rx.await;
        },
    ));
    Server {
        url: format!("http://{addr}/scim/v2"),
        token,
        _dir: dir,
        _stop: tx,
    }
}

/// `loadgen baseline` on a free port; killed when dropped.
struct Baseline(Child, String);

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn baseline() -> Baseline {
    let mut child = Command::new(LOADGEN)
        .args(["baseline", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    Baseline(child, url)
}

/// Runs `loadgen run` in a blocking thread (the server runs on this test's runtime) and
/// returns its JSON report.
async fn loadgen(args: Vec<String>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let mut all = vec!["run".to_owned(), "--json".into(), out.display().to_string()];
    all.extend(args);
    let status = tokio::task::spawn_blocking(move || Command::new(LOADGEN).args(&all).status())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "loadgen run failed: {status}");
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn assert_no_errors(report: &Value, sides: &[&str]) {
    for s in report["scenarios"].as_array().unwrap() {
        for side in sides {
            let figures = &s["sides"][side];
            assert!(figures["requests"].as_u64().unwrap() > 0, "{side}: {s}");
            assert_eq!(figures["errors"], 0, "{side}: {s}");
        }
    }
}

fn common(server: &Server, scenarios: &str) -> Vec<String> {
    [
        "--url",
        &server.url,
        "--token",
        &server.token,
        "--connections",
        "4",
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
        "--scenarios",
        scenarios,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_without_errors_against_the_server_and_the_baseline() {
    let server = server().await;
    // Writes first: they seed the tenant the read scenarios sample.
    let mut args = common(&server, "create,bulk");
    args.extend(["--bulk-size".into(), "10".into()]);
    let report = loadgen(args).await;
    assert_no_errors(&report, &["server"]);

    let base = baseline();
    let mut args = common(&server, "get,username,email,externalid,list,patch,members");
    args.extend([
        "--members".into(),
        "30".into(),
        "--member-window".into(),
        "5".into(),
        "--baseline-url".into(),
        base.1.clone(),
    ]);
    let report = loadgen(args).await;
    assert_no_errors(&report, &["server", "baseline"]);
    let members = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"] == "members")
        .unwrap();
    assert_eq!(members["sides"]["server"]["requests"], 30);
    assert_eq!(members["sides"]["server"]["detail"]["members"], 30);

    // Lookups while other connections write: the writes are reported apart.
    let mut args = common(&server, "get");
    args.extend(["--background-writes".into(), "2".into()]);
    let report = loadgen(args).await;
    assert_no_errors(&report, &["server"]);
    let detail = &report["scenarios"][0]["sides"]["server"]["detail"];
    assert!(
        detail["background_patches_per_s"].as_f64().unwrap() > 0.0,
        "{detail}"
    );
    assert_eq!(detail["background_errors"], 0, "{detail}");
}
