//! SIGKILL at a random moment under concurrent writes: every write that was acknowledged with a
//! 2xx survives the restart, and SQLite's integrity check passes.
//!
//! The soak version runs the same loop for longer: `SCIMSYNC_CRASH_ROUNDS=200 cargo nextest run
//! -p cli crash` (docs/bad-input.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::*;

#[derive(Default)]
struct Acked {
    /// userName → id of every 201.
    created: HashMap<String, String>,
    /// id → highest counter acknowledged by a PATCH.
    patched: HashMap<String, u64>,
}

async fn writer(base: String, token: String, worker: usize, acked: Arc<Mutex<Acked>>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for n in 0.. {
        let user_name = format!("w{worker}-u{n}");
        let r = client
            .post(format!("{base}/Users"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(json!({"userName": user_name, "displayName": "0"}).to_string())
            .send()
            .await;
        let Ok(r) = r else { return };
        if r.status() != 201 {
            return;
        }
        let Ok(body) = r.json::<Value>().await else {
            return;
        };
        let id = body["id"].as_str().unwrap().to_owned();
        acked.lock().unwrap().created.insert(user_name, id.clone());
        for k in 1..=3u64 {
            let r = client
                .patch(format!("{base}/Users/{id}"))
                .bearer_auth(&token)
                .header("Content-Type", "application/scim+json")
                .body(
                    json!({"Operations": [{"op": "replace", "path": "displayName", "value": k.to_string()}]})
                        .to_string(),
                )
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 200 => {
                    acked.lock().unwrap().patched.insert(id.clone(), k);
                }
                _ => return,
            }
        }
    }
}

fn rounds() -> usize {
    std::env::var("SCIMSYNC_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let token = create_token(&db, "crash");
    let mut all = Acked::default();
    for round in 0..rounds() {
        let mut s = serve(&db);
        let acked = Arc::new(Mutex::new(Acked::default()));
        let mut tasks = Vec::new();
        for w in 0..8 {
            tasks.push(tokio::spawn(writer(
                s.base.clone(),
                token.clone(),
                round * 100 + w,
                acked.clone(),
            )));
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let delay = Duration::from_millis(150 + u64::from(nanos % 600));
        tokio::time::sleep(delay).await;
        s.child.kill().unwrap(); // SIGKILL
        s.child.wait().unwrap();
        for t in tasks {
            let _ = t.await;
        }
        let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();
        eprintln!(
            "round {round}: killed after {delay:?} with {} creates and {} patches acknowledged",
            acked.created.len(),
            acked.patched.len()
        );
        all.created.extend(acked.created);
        all.patched.extend(acked.patched);

        // Restart and check everything acknowledged so far.
        let mut s = serve(&db);
        let client = reqwest::Client::new();
        for (user_name, id) in &all.created {
            let r = client
                .get(format!("{}/Users/{id}", s.base))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                200,
                "acknowledged create of {user_name} lost (delay {delay:?})"
            );
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["userName"], json!(user_name));
            let stored: u64 = body["displayName"].as_str().unwrap().parse().unwrap();
            let want = all.patched.get(id).copied().unwrap_or(0);
            assert!(
                stored >= want,
                "acknowledged PATCH {want} of {user_name} lost: stored {stored}"
            );
        }
        s.child.kill().unwrap();
        s.child.wait().unwrap();
    }
    assert!(
        !all.created.is_empty(),
        "no write was acknowledged; the test proved nothing"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
