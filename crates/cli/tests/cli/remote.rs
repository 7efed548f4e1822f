//! `scimsync remote` against a real `scimsync serve`: the commands people type.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::*;

fn remote(base: &str, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c: Command = scimsync();
    c.arg("remote")
        .args(args)
        .env("SCIMSYNC_REMOTE_URL", base)
        .env("SCIMSYNC_REMOTE_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "remote {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_out(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn create_list_patch_export_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let source = create_token(&db, "source");
    let target = create_token(&db, "target");
    let mut s = serve(&db);

    for name in ["ann", "bob", "cleo"] {
        let user =
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
        let out = remote(
            &s.base,
            &source,
            &["--output", "json", "users", "create", "-"],
            Some(&user.to_string()),
        );
        assert_eq!(json_out(&out)["userName"], json!(name));
    }
    let out = remote(
        &s.base,
        &source,
        &["--output", "json", "users", "list"],
        None,
    );
    let listed = String::from_utf8(out.stdout.clone()).unwrap();
    for name in ["ann", "bob", "cleo"] {
        assert!(listed.contains(name), "{listed}");
    }
    let out = remote(&s.base, &source, &["users", "list"], None);
    assert!(
        String::from_utf8(out.stdout).unwrap().contains("cleo"),
        "table output"
    );

    // Find ann's id through the exported lines, then disable her.
    let out = remote(&s.base, &source, &["export", "--type", "Users"], None);
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let ann = lines
        .iter()
        .find(|u| u["userName"] == json!("ann"))
        .unwrap();
    let id = ann["id"].as_str().unwrap();
    let out = remote(
        &s.base,
        &source,
        &[
            "--output",
            "json",
            "users",
            "patch",
            id,
            "--set",
            "active=false",
        ],
        None,
    );
    assert_eq!(json_out(&out)["active"], json!(false));

    // Import the export into another tenant.
    let file = dir.path().join("users.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, text).unwrap();
    remote(&s.base, &target, &["import", file.to_str().unwrap()], None);
    let out = remote(&s.base, &target, &["export", "--type", "Users"], None);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);

    remote(&s.base, &source, &["users", "delete", id], None);
    let out = remote(&s.base, &source, &["export", "--type", "Users"], None);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    let _ = s.child.kill();
    let _ = s.child.wait();
}
