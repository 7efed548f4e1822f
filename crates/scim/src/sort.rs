//! `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3).

crate::messages::keyword_enum! {
    /// `sortOrder`; ascending unless asked otherwise (RFC 7644 §3.4.2.3).
    #[derive(Default)]
    pub enum SortOrder {
        #[default]
        Ascending => "ascending",
        Descending => "descending",
    }
}
