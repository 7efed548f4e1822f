//! Any UTF-8 text as a SCIM filter. The parser must never panic; a filter it accepts must
//! render canonically to text that parses back to the same tree, and checking and evaluating it
//! against the RFC 7643 user and group must not panic either.

#![no_main]

mod common;

use common::{GROUP, REGISTRY, USER, group_type, user_type};
use libfuzzer_sys::fuzz_target;
use scim::Filter;
use scim::filter::MAX_FILTER_LEN;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = Filter::parse(text) else {
        return;
    };
    let shown = filter.to_string();
    // The canonical form can be a little longer than the input (`not(` gains a space, `1e2`
    // becomes `100.0`): past the length bound the parser rightly refuses it.
    if shown.len() <= MAX_FILTER_LEN {
        assert_eq!(
            Filter::parse(&shown).as_ref(),
            Ok(&filter),
            "{text:?} renders as {shown:?}"
        );
    }
    for (rt, resource) in [(user_type(), &*USER), (group_type(), &*GROUP)] {
        let _ = filter.check(&REGISTRY, rt);
        let _ = filter.matches(resource, &REGISTRY, rt);
    }
});
