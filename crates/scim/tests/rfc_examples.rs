//! The RFC 7643 §8 example resources kept under `tests/fixtures/` (which the benchmarks and the
//! fuzz targets share), exercised through the public API only: they must stay valid, and the
//! requests the benchmarks time must do what the benchmarks claim.
//!
//! The printed examples of RFC 7643 §8 and RFC 7644 §3.4.2.2 / §3.5.2 are unit tests next to the
//! code they exercise; docs/scim-conformance.md lists where each one is.

use scim::messages::PatchRequest;
use scim::project::{Projection, project};
use scim::validate::{Mode, validate};
use scim::{Filter, Registry, patch, urn};
use serde_json::{Value, json};

const FULL_USER: &str = include_str!("fixtures/rfc7643_8_3_enterprise_user.json");
const GROUP: &str = include_str!("fixtures/rfc7643_8_4_group.json");

/// The fixture as a store holds it: validated on create, with the server's `id` and `meta`.
fn stored(registry: &Registry, rt: &str, json: &str) -> Value {
    let sent: Value = serde_json::from_str(json).unwrap();
    let rt = registry.resource_type(rt).unwrap();
    let mut out = validate(registry, rt, &sent, Mode::Create).unwrap();
    out["id"] = sent["id"].clone();
    out["meta"] = sent["meta"].clone();
    out
}

#[test]
fn rfc7643_8_3_fixture_validates_dropping_only_read_only_values() {
    let registry = Registry::rfc7643();
    let sent: Value = serde_json::from_str(FULL_USER).unwrap();
    let user = stored(&registry, "User", FULL_USER);
    let mut expected = sent.clone();
    // groups (§4.1.2) and manager.displayName (§4.3) are readOnly: the server fills them in.
    expected.as_object_mut().unwrap().remove("groups");
    expected[urn::ENTERPRISE_USER]["manager"]
        .as_object_mut()
        .unwrap()
        .remove("displayName");
    assert_eq!(user, expected);
    // Stored form is a fixed point of replace validation.
    let rt = registry.resource_type("User").unwrap();
    let again = validate(&registry, rt, &user, Mode::Replace { existing: &user });
    assert_eq!(again.as_ref(), Ok(&user));
}

#[test]
fn rfc7643_8_4_fixture_validates() {
    let registry = Registry::rfc7643();
    let group = stored(&registry, "Group", GROUP);
    assert_eq!(group["displayName"], "Tour Guides");
    assert_eq!(
        group["members"],
        json!([
            {
                "value": "2819c223-7f76-453a-919d-413861904646",
                "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
            },
            {
                "value": "902c246b-6245-4190-8e05-00816be7344a",
                "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a"
            }
        ]),
        "members.display is readOnly and not kept from the client"
    );
}

#[test]
fn entra_filters_on_the_full_user() {
    let registry = Registry::rfc7643();
    let rt = registry.resource_type("User").unwrap();
    let user = stored(&registry, "User", FULL_USER);
    for (text, expected) in [
        (r#"userName eq "BJENSEN@example.com""#, true),
        (r#"externalId eq "701984""#, true),
        (
            r#"emails[type eq "work"].value eq "bjensen@example.com" and active eq true"#,
            true,
        ),
        (
            r#"emails[type eq "home"].value eq "bjensen@example.com""#,
            false,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            true,
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            true,
        ),
    ] {
        let filter = Filter::parse(text).unwrap();
        filter.check(&registry, rt).unwrap();
        assert_eq!(filter.matches(&user, &registry, rt), expected, "{text}");
    }
}

#[test]
fn entra_five_operation_patch() {
    let registry = Registry::rfc7643();
    let rt = registry.resource_type("User").unwrap();
    let user = stored(&registry, "User", FULL_USER);
    let request = PatchRequest::from_slice(
        br#"{
          "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
          "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "barbara.jensen@example.com"},
            {"op": "Replace", "path": "name.familyName", "value": "Jensen-Smith"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "0b5b6fc5"},
            {"op": "Replace", "path": "active", "value": "False"}
          ]
        }"#,
    )
    .unwrap();
    let ops = patch::parse_operations(&request).unwrap();
    let out = patch::apply(&registry, rt, &user, &ops).unwrap();
    assert!(out.changed);

    let mut expected = user.clone();
    expected["emails"][0]["value"] = json!("barbara.jensen@example.com");
    expected["name"]["familyName"] = json!("Jensen-Smith");
    // The user already has a mobile number: the filtered add sets it rather than adding one.
    expected["phoneNumbers"][1]["value"] = json!("+1 555 0100");
    // Another manager: the old one's `$ref` goes with it (see the `patch` module doc).
    expected[urn::ENTERPRISE_USER]["manager"] = json!({"value": "0b5b6fc5"});
    expected["active"] = json!(false);
    assert_eq!(out.resource, expected);

    // The same PATCH again changes nothing, so no new version is due.
    let again = patch::apply(&registry, rt, &out.resource, &ops).unwrap();
    assert!(!again.changed);
    assert_eq!(again.resource, out.resource);
}

#[test]
fn projection_of_the_full_user() {
    let registry = Registry::rfc7643();
    let rt = registry.resource_type("User").unwrap();
    let user = stored(&registry, "User", FULL_USER);

    let all = project(&user, &registry, rt, &Projection::all());
    assert!(all.get("password").is_none(), "password is returned: never");
    assert_eq!(all["userName"], "bjensen@example.com");

    let some = Projection::parse(
        Some("userName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
        None,
    )
    .unwrap();
    assert_eq!(
        project(&user, &registry, rt, &some),
        json!({
            "schemas": [urn::USER, urn::ENTERPRISE_USER],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "userName": "bjensen@example.com",
            "emails": [{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}],
            urn::ENTERPRISE_USER: {
                "manager": {
                    "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                    "$ref": "https://example.com/v2/Users/26118915-6090-4610-87e4-49d8ca9f808d"
                }
            }
        })
    );
}

/// RFC 7643 §2.2: canonicalValues "MAY" be used; a value outside them is accepted and kept.
#[test]
fn canonical_values_are_advisory() {
    let registry = Registry::rfc7643();
    let rt = registry.resource_type("User").unwrap();
    let input = json!({
        "userName": "bjensen",
        "emails": [{"value": "b@example.com", "type": "internal"}],
        "ims": [{"value": "babs", "type": "discord"}]
    });
    let out = validate(&registry, rt, &input, Mode::Create).unwrap();
    assert_eq!(out["emails"][0]["type"], "internal");
    assert_eq!(out["ims"][0]["type"], "discord");
}
