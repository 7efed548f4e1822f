//! The filter and PATCH-path parser. (H1 replaces this placeholder.)

use crate::error::Error;
use crate::path::PatchPath;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8192;
/// Deepest nesting of brackets, `not` and value paths accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

pub fn parse_patch_path(_input: &str) -> Result<PatchPath, Error> {
    Err(Error::InvalidPath("PATCH paths are not parsed yet".into()))
}
