use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn first_start_prints_a_token_and_sigterm_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mut s = serve(&db);
    let token = s
        .first_token
        .clone()
        .expect("first start prints an admin token");
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/Users", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A token made by another process while the server runs works at once.
    let other = create_token(&db, "acme");
    let r = client
        .post(format!("{}/Users", s.base))
        .bearer_auth(&other)
        .header("Content-Type", "application/scim+json")
        .body(json!({"userName": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let health = client
        .get(s.base.replace("/scim/v2", "/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let pid = s.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait(&mut s.child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0));

    // Second start: no new token.
    let mut again = serve(&db);
    assert!(again.first_token.is_none());
    let r = client
        .get(format!("{}/Users", again.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["totalResults"], json!(1));
    let _ = again.child.kill();
    let _ = again.child.wait();
}

#[test]
fn token_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let secret = create_token(&db, "acme");
    let out = scimsync()
        .args(["token", "list", "--database", &url])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(&secret), "secrets are never listed");
    let id = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let out = scimsync()
        .args(["token", "revoke", &id, "--database", &url])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = scimsync()
        .args(["token", "list", "--database", &url])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("revoked"));
    let out = scimsync()
        .args(["token", "revoke", "nope", "--database", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

pub fn wait(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let token = create_token(&db, "logs");
    let port = free_port();
    let log = dir.path().join("server.log");
    let mut child = scimsync()
        .env("SCIMSYNC_LOG", "debug")
        .args([
            "serve",
            "--log-format",
            "json",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/scim/v2");
    let client = reqwest::Client::new();
    let bogus = "scim_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up);
    for t in [token.as_str(), bogus] {
        let _ = client
            .get(format!("{base}/Users"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        let _ = client
            .post(format!("{base}/Users"))
            .bearer_auth(t)
            .header("Content-Type", "application/scim+json")
            .body("{not json")
            .send()
            .await
            .unwrap();
    }
    // Log lines reach stderr within 50 ms (they are buffered); a killed server loses the rest.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("\"route\""),
        "request lines are logged: {text}"
    );
    assert!(!text.contains(&token[5..]), "a token leaked into the log");
    assert!(
        !text.contains(&bogus[5..]),
        "a presented token leaked into the log"
    );
}

/// The filter, value and PATCH limits come from `scimsync serve`'s flags and environment
/// variables, and the answers name the limit in force.
#[tokio::test]
async fn filter_value_and_patch_limits_are_flags_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("limits.db");
    let token = create_token(&db, "acme");
    let mut s = serve_with(&format!("sqlite://{}", db.display()), |c| {
        c.args(["--max-filter-length", "30", "--max-filter-depth", "1"])
            .env("SCIMSYNC_MAX_VALUE_BYTES", "10")
            .env("SCIMSYNC_MAX_MULTI_VALUES", "1")
            .env("SCIMSYNC_MAX_PATCH_OPERATIONS", "1");
    });
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: Value| {
        client
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
    };
    let detail = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        (
            status,
            body["detail"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let search = |filter: &str| json!({"filter": filter});

    let r = send(
        reqwest::Method::POST,
        "/Users/.search",
        search("userName eq \"0123456789abcdefghij\""),
    );
    assert_eq!(
        detail(r.await.unwrap()).await,
        (
            400,
            "invalid filter: the filter is 34 bytes long; the limit is 30".into()
        )
    );
    let r = send(
        reqwest::Method::POST,
        "/Users/.search",
        search("((userName pr))"),
    );
    let (status, text) = detail(r.await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(text.contains("deeper than 1 levels"), "{text}");
    let r = send(
        reqwest::Method::POST,
        "/Users",
        json!({"userName": "elevenbytes"}),
    );
    assert_eq!(
        detail(r.await.unwrap()).await,
        (
            400,
            "attribute 'userName' is 11 bytes long; the limit is 10 bytes".into()
        )
    );
    let two = json!({"userName": "u", "emails": [{"value": "a@x"}, {"value": "b@x"}]});
    let r = send(reqwest::Method::POST, "/Users", two);
    assert_eq!(
        detail(r.await.unwrap()).await,
        (
            400,
            "attribute 'emails' has 2 values; the limit is 1".into()
        )
    );
    let r = send(reqwest::Method::POST, "/Users", json!({"userName": "u"}));
    let created: Value = r.await.unwrap().json().await.unwrap();
    let at = format!("/Users/{}", created["id"].as_str().unwrap());
    let ops = json!({"Operations": [
        {"op": "replace", "path": "title", "value": "a"},
        {"op": "replace", "path": "title", "value": "b"}
    ]});
    let r = send(reqwest::Method::PATCH, &at, ops);
    assert_eq!(
        detail(r.await.unwrap()).await,
        (
            413,
            "PATCH request has 2 operations; at most 1 are accepted in one request".into()
        )
    );
    let _ = s.child.kill();
    let _ = s.child.wait();
}

#[test]
fn filter_limits_beyond_their_ceilings_are_refused_at_start() {
    let out = scimsync()
        .args(["serve", "--max-filter-depth", "65"])
        .args(["--database", "sqlite:///nonexistent/dir/x.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value '65' for '--max-filter-depth <MAX_FILTER_DEPTH>'")
            && err.contains("65 is not in 1..=64"),
        "{err}"
    );
    let out = scimsync()
        .args(["serve", "--database", "sqlite:///nonexistent/dir/x.db"])
        .env("SCIMSYNC_MAX_FILTER_LENGTH", "8193")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("8193 is not in 1..=8192"), "{err}");
}
