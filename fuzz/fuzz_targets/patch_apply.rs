//! Any bytes as a PATCH request body, applied to the RFC 7643 full user (with the enterprise
//! extension) and to the RFC 7643 group. Nothing may panic. When the PATCH succeeds, the result
//! must be in stored form (validating it again as a replace of itself changes nothing), and a
//! PATCH that reports no change must have returned the resource untouched. Applied to the
//! stored text (`patch::apply_to_text`, what the SQLite store runs), it must give the text of
//! the whole-document result, or the same error, or decline.

#![no_main]

mod common;

use common::{GROUP, REGISTRY, USER, group_type, user_type};
use libfuzzer_sys::fuzz_target;
use scim::messages::{self, PatchRequest};
use scim::patch::{self, TextOutcome};
use scim::validate::{self, Limits, Mode};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = messages::from_slice::<PatchRequest>(data) else {
        return;
    };
    let _ = request.validate();
    let Ok(ops) = patch::parse_operations(&request) else {
        return;
    };
    for (rt, resource) in [(user_type(), &*USER), (group_type(), &*GROUP)] {
        let Ok(outcome) = patch::apply(&REGISTRY, rt, resource, &ops) else {
            continue;
        };
        if !outcome.changed {
            assert_eq!(
                &outcome.resource, resource,
                "unchanged PATCH altered the resource"
            );
        }
        let again = validate::validate(
            &REGISTRY,
            rt,
            &outcome.resource,
            Mode::Replace {
                existing: &outcome.resource,
            },
        );
        assert_eq!(
            again.as_ref(),
            Ok(&outcome.resource),
            "PATCH result is not in stored form"
        );
    }
    for (rt, resource) in [(user_type(), &*USER), (group_type(), &*GROUP)] {
        same_by_text(rt, resource, &ops);
    }
});

/// The text path against the whole document, on the resource as a store holds it (without
/// `id` and `meta`).
fn same_by_text(rt: &scim::schema::ResourceType, resource: &Value, ops: &[patch::Operation]) {
    let mut doc = resource.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.shift_remove("id");
        obj.shift_remove("meta");
    }
    let text = serde_json::to_string(&doc).expect("a Value serialises");
    let whole = patch::apply(&REGISTRY, rt, &doc, ops);
    match patch::apply_to_text(&REGISTRY, rt, &text, ops, &Limits::default()) {
        Ok(None) => {}
        Ok(Some(TextOutcome::Unchanged)) => {
            let whole = whole.expect("the whole-document path failed where the text path did not");
            assert!(
                !whole.changed || scim::json_eq(&whole.resource, &doc),
                "the text path saw no change"
            );
        }
        Ok(Some(TextOutcome::Changed(r))) => {
            let whole = whole.expect("the whole-document path failed where the text path did not");
            assert!(
                whole.changed,
                "the text path changed what the whole path did not"
            );
            let expected = serde_json::to_string(&whole.resource).expect("a Value serialises");
            assert_eq!(r.text, expected, "the two paths wrote different documents");
        }
        Err(e) => assert_eq!(whole.err(), Some(e), "the two paths failed differently"),
    }
}
