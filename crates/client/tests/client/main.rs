//! The client's one integration-test binary: against the project's own server over real
//! HTTP, and against scripted servers that misbehave on purpose.

mod own_server;
mod scripted;
mod support;
