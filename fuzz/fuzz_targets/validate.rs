//! Any bytes as a JSON resource, validated for creation as a User and as a Group. Nothing may
//! panic, and the canonical form is a fixed point: validating an accepted result again as a
//! replace of itself gives the same value.

#![no_main]

mod common;

use common::{REGISTRY, group_type, user_type};
use libfuzzer_sys::fuzz_target;
use scim::validate::{Mode, validate};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for rt in [user_type(), group_type()] {
        let Ok(created) = validate(&REGISTRY, rt, &input, Mode::Create) else {
            continue;
        };
        let again = validate(
            &REGISTRY,
            rt,
            &created,
            Mode::Replace { existing: &created },
        );
        assert_eq!(again.as_ref(), Ok(&created), "created from {input}");
    }
});
