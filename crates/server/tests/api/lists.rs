use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

async fn seeded(n: usize) -> TestServer {
    let s = TestServer::start().await;
    for i in 0..n {
        s.create_user(&format!("user{i:03}")).await;
    }
    s
}

fn names(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_cover_the_set_exactly() {
    let s = seeded(23).await;
    let mut seen = BTreeSet::new();
    let mut start = 1;
    loop {
        let (_, page) = s
            .send(
                Method::GET,
                &format!("/Users?startIndex={start}&count=5&sortBy=userName"),
                None,
            )
            .await;
        assert_eq!(page["totalResults"], json!(23));
        assert_eq!(page["startIndex"], json!(start));
        let n = names(&page);
        if n.is_empty() {
            break;
        }
        for name in n {
            assert!(seen.insert(name), "duplicate across pages");
        }
        start += 5;
    }
    assert_eq!(seen.len(), 23);
    // count=0 gives only the total.
    let (_, page) = s.send(Method::GET, "/Users?count=0", None).await;
    assert_eq!(page["totalResults"], json!(23));
    assert_eq!(page["Resources"], json!([]));
}

#[tokio::test]
async fn cursor_pages_cover_the_set_exactly() {
    let s = seeded(12).await;
    let mut seen = BTreeSet::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let (_, page) = s
            .send(
                Method::GET,
                &format!("/Users?count=5&cursor={cursor}"),
                None,
            )
            .await;
        for name in names(&page) {
            assert!(seen.insert(name));
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 12);
}

#[tokio::test]
async fn sort_orders() {
    let s = seeded(5).await;
    let (_, asc) = s
        .send(
            Method::GET,
            "/Users?sortBy=userName&sortOrder=ascending",
            None,
        )
        .await;
    let (_, desc) = s
        .send(
            Method::GET,
            "/Users?sortBy=userName&sortOrder=descending",
            None,
        )
        .await;
    let mut a = names(&asc);
    let d = names(&desc);
    assert_eq!(
        a,
        vec!["user000", "user001", "user002", "user003", "user004"]
    );
    a.reverse();
    assert_eq!(a, d);
}

#[tokio::test]
async fn filters_and_search() {
    let s = seeded(6).await;
    let (_, l) = s.send(Method::GET, "/Users?filter=userName%20sw%20%22USER00%22%20and%20not%20(userName%20eq%20%22user003%22)", None).await;
    assert_eq!(l["totalResults"], json!(5), "{l}");
    let (st, l) = s
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "emails.value co \"user004\"",
                "attributes": ["userName"],
            })),
        )
        .await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(names(&l), vec!["user004"]);
    assert!(l["Resources"][0].get("emails").is_none());
    s.create_group("G1", &[]).await;
    let (st, l) = s
        .send(
            Method::POST,
            "/.search",
            Some(json!({"filter": "meta.created pr"})),
        )
        .await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["totalResults"], json!(7));
}
