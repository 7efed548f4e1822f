//! The `scimsync` binary as people run it: real processes, real signals, real files.

mod common;
mod crash;
mod remote;
mod replicas;
mod serve;
