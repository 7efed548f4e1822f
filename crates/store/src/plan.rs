//! Filter pushdown.
