//! The SCIM service over real HTTP: a server on 127.0.0.1:0 with a fresh SQLite file per test.

mod bulk;
mod common;
mod discovery;
mod entra;
mod errors;
mod groups;
mod lists;
mod tenants;
mod users;
