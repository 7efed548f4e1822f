//! `loadgen`: the measuring instruments of `BENCHMARKS.md`.
//!
//! * `loadgen run` drives a running `scimsync serve` over HTTP/1.1 with N keep-alive
//!   connections, one scenario at a time, and reports requests/s, p50/p99 latency, errors and
//!   the server's peak RSS. Given `--baseline-url`, it runs every scenario against the baseline
//!   too, interleaved, and reports the ratio.
//! * `loadgen baseline` is that baseline: a minimal axum server on the same tokio runtime setup
//!   as `scimsync serve`, answering each route the scenarios use with a fixed small JSON body.
//!   It is the ceiling of HTTP on the machine, so a ratio to it survives the drift of absolute
//!   figures on a shared machine.
//! * `loadgen generate` writes realistic synthetic users as JSON lines for
//!   `scimsync import`.
//!
//! The client is hyper's HTTP/1.1 connection API rather than a pooled client: each worker owns
//! exactly one connection, so "32 connections" means 32 sockets, and the client's own cost per
//! request stays small on a machine it shares with the server.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// The same allocator as `scimsync`, so the baseline's ceiling is measured on equal terms.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod baseline;
mod conn;
mod generate;
mod run;
mod stats;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Benchmark scimsync: load generator, HTTP baseline, synthetic users"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Drive a running `scimsync serve` (and optionally the baseline) through the scenarios.
    Run(run::RunArgs),
    /// Serve the minimal axum baseline: fixed small JSON bodies on the scenarios' routes.
    Baseline {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
    },
    /// Write synthetic users as JSON lines (for `scimsync import`).
    Generate(generate::GenerateArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Command::Generate(args) = &cli.command {
        return generate::write(args);
    }
    // The same runtime setup as `scimsync serve`: multi-threaded, one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Baseline { listen } => baseline::serve(listen).await,
            Command::Generate(_) => Ok(()),
        }
    })
}
