//! Any bytes as a PATCH request body, applied to the RFC 7643 full user (with the enterprise
//! extension) and to the RFC 7643 group. Nothing may panic. When the PATCH succeeds, the result
//! must be in stored form (validating it again as a replace of itself changes nothing), and a
//! PATCH that reports no change must have returned the resource untouched.

#![no_main]

mod common;

use common::{GROUP, REGISTRY, USER, group_type, user_type};
use libfuzzer_sys::fuzz_target;
use scim::messages::{self, PatchRequest};
use scim::patch;
use scim::validate::{self, Mode};

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
});
