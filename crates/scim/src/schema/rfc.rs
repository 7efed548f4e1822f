//! The RFC 7643 definitions: common attributes, User, Group, Enterprise User, and the
//! discovery schemas.

use super::Attribute;

pub(crate) fn common_attributes() -> &'static [Attribute] {
    &[]
}
