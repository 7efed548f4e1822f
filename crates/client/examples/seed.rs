//! Fills a SCIM server with generated users through the client's Bulk path, for the export
//! benchmark (see the crate's README section in the report of issue 8):
//!
//! ```text
//! cargo run --release -p client --example seed -- http://127.0.0.1:8099/scim/v2 TOKEN 100000
//! ```

use std::time::Instant;

use client::Client;
use scim::messages::{BulkMethod, BulkOperation};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(token)) = (args.next(), args.next()) else {
        return Err("usage: seed URL TOKEN [USERS] [FIRST]".into());
    };
    let users: u64 = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let first: u64 = args.next().map_or(Ok(0), |s| s.parse())?;
    let client = Client::builder(url).bearer(token).build()?;
    let started = Instant::now();
    let mut failed = 0usize;
    let batch = 1000;
    let mut next = first;
    while next < first + users {
        let end = (next + batch).min(first + users);
        let ops = (next..end)
            .map(|i| BulkOperation {
                method: BulkMethod::Post,
                bulk_id: Some(format!("u{i}")),
                version: None,
                path: "/Users".into(),
                data: Some(json!({
                    "schemas": [scim::urn::USER],
                    "userName": format!("user{i:07}@example.com"),
                    "externalId": format!("E{i:07}"),
                    "active": true,
                    "name": {"givenName": "Given", "familyName": format!("Family{i}")},
                    "emails": [{"value": format!("user{i:07}@example.com"), "type": "work", "primary": true}],
                })),
            })
            .collect();
        let results = client.bulk(ops, None).await?;
        failed += results.iter().filter(|r| r.outcome.is_err()).count();
        if let Some(e) = results.iter().find_map(|r| r.outcome.as_ref().err()) {
            eprintln!("e.g. {e}");
        }
        next = end;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seeded {users} users ({failed} failed) in {secs:.1}s ({:.0}/s)",
        users as f64 / secs
    );
    Ok(())
}
