//! The in-memory filter evaluator.
