//! Any UTF-8 text as a PATCH path. The parser must never panic, and a path it accepts must
//! render to text that parses back to the same path.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::PatchPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = PatchPath::parse(text) else {
        return;
    };
    let shown = path.to_string();
    // Rendering may lengthen the input slightly; past the parser's bounds a refusal is right.
    if shown.len() <= scim::filter::MAX_FILTER_LEN {
        assert_eq!(
            PatchPath::parse(&shown).as_ref(),
            Ok(&path),
            "{text:?} renders as {shown:?}"
        );
    }
});
