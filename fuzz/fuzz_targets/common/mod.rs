//! Fixtures shared by the fuzz targets: the RFC 7643 registry and the §8 example resources in
//! the form a store holds them (validated, with the server's `id` and `meta` put back).

#![allow(dead_code)] // each target uses a different part

use std::sync::LazyLock;

use scim::Registry;
use scim::schema::ResourceType;
use scim::validate::{self, Mode};
use serde_json::Value;

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::rfc7643);

/// RFC 7643 §8.2 full user with the §8.3 enterprise extension.
pub static USER: LazyLock<Value> = LazyLock::new(|| {
    stored(
        "User",
        include_str!("../../../crates/scim/tests/fixtures/rfc7643_8_3_enterprise_user.json"),
    )
});

/// RFC 7643 §8.4 group.
pub static GROUP: LazyLock<Value> = LazyLock::new(|| {
    stored(
        "Group",
        include_str!("../../../crates/scim/tests/fixtures/rfc7643_8_4_group.json"),
    )
});

pub fn user_type() -> &'static ResourceType {
    REGISTRY.resource_type("User").expect("User is built in")
}

pub fn group_type() -> &'static ResourceType {
    REGISTRY.resource_type("Group").expect("Group is built in")
}

fn stored(rt: &str, json: &str) -> Value {
    let sent: Value = serde_json::from_str(json).expect("fixture is JSON");
    let rt = REGISTRY.resource_type(rt).expect("built-in resource type");
    let mut out = validate::validate(&REGISTRY, rt, &sent, Mode::Create).expect("fixture is valid");
    out["id"] = sent["id"].clone();
    out["meta"] = sent["meta"].clone();
    out
}
