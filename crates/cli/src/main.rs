//! `scimsync`: the one binary. It parses arguments and wires the library crates together;
//! the logic lives in those crates.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};
use server::{AppState, Limits};

/// glibc's allocator spent a quarter of a GET's CPU time in `malloc`/`free` and their locks
/// (perf, 32 connections); mimalloc's per-thread heaps take most of that away.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod expr;
mod import;
mod jsonlog;
mod logbuf;
mod remote;

#[derive(Debug, Parser)]
#[command(
    name = "scimsync",
    version,
    about = "SCIM 2.0 directory and identity provisioning"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SCIM 2.0 directory server.
    Serve(ServeArgs),
    /// Create, list and revoke bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// List and create tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Create or upgrade the database schema, then exit.
    Migrate(DatabaseArg),
    /// Talk to any SCIM 2.0 server: list, get, create, patch, delete, export, import.
    Remote(Box<remote::RemoteArgs>),
    /// Evaluate an attribute-mapping expression, or check a job file's mappings.
    Expr(expr::ExprArgs),
    /// Load a JSON-lines file of SCIM Users into a tenant, a thousand per transaction.
    Import(import::ImportArgs),
}

#[derive(Debug, Args)]
struct DatabaseArg {
    /// Database URL: sqlite://PATH (created if missing) or postgres://USER@HOST:PORT/DB
    /// (TLS with ?sslmode=require|verify-ca|verify-full).
    #[arg(
        long,
        env = "SCIMSYNC_DATABASE",
        default_value = "sqlite://scimsync.db"
    )]
    database: String,
    /// PostgreSQL connections per process.
    #[arg(long, env = "SCIMSYNC_DB_POOL_SIZE", default_value_t = store::Settings::default().pool_size)]
    db_pool_size: u32,
    /// PostgreSQL statement timeout in seconds (0: the server's setting).
    #[arg(long, env = "SCIMSYNC_DB_STATEMENT_TIMEOUT", default_value_t = store::Settings::default().statement_timeout.map_or(0, |t| t.as_secs()))]
    db_statement_timeout: u64,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SCIMSYNC_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    db: DatabaseArg,
    /// Public base URL of the SCIM API (for Location and meta.location), e.g.
    /// https://scim.example.com/scim/v2. Derived from the Host header when unset.
    #[arg(long, env = "SCIMSYNC_BASE_URL")]
    base_url: Option<String>,
    /// Log format: auto (text on a terminal, JSON otherwise), text or json.
    #[arg(long, env = "SCIMSYNC_LOG_FORMAT", default_value = "auto")]
    log_format: LogFormat,
    /// Largest request body on resource endpoints, in bytes.
    #[arg(long, env = "SCIMSYNC_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Page size when a query gives no count.
    #[arg(long, env = "SCIMSYNC_PAGE_SIZE", default_value_t = Limits::default().default_page_size)]
    page_size: u64,
    /// Largest page a query may ask for (advertised as filter.maxResults).
    #[arg(long, env = "SCIMSYNC_MAX_PAGE_SIZE", default_value_t = Limits::default().max_page_size)]
    max_page_size: u64,
    /// Most operations in one Bulk request.
    #[arg(long, env = "SCIMSYNC_BULK_MAX_OPERATIONS", default_value_t = Limits::default().bulk_max_operations)]
    bulk_max_operations: usize,
    /// Largest Bulk request, in bytes.
    #[arg(long, env = "SCIMSYNC_BULK_MAX_PAYLOAD", default_value_t = Limits::default().bulk_max_payload)]
    bulk_max_payload: usize,
    /// Seconds allowed for a whole request before 408.
    #[arg(long, env = "SCIMSYNC_REQUEST_TIMEOUT", default_value_t = Limits::default().request_timeout.as_secs())]
    request_timeout: u64,
    /// Seconds allowed to receive a request's headers before the connection is closed.
    #[arg(long, env = "SCIMSYNC_HEADER_TIMEOUT", default_value_t = Limits::default().header_timeout.as_secs())]
    header_timeout: u64,
    /// Open connections allowed from one client address.
    #[arg(long, env = "SCIMSYNC_MAX_CONNECTIONS_PER_CLIENT", default_value_t = Limits::default().max_connections_per_client)]
    max_connections_per_client: usize,
    /// Most operations in one PATCH request.
    #[arg(long, env = "SCIMSYNC_MAX_PATCH_OPERATIONS", default_value_t = Limits::default().max_patch_operations)]
    max_patch_operations: usize,
    /// Longest filter (and PATCH path), in bytes; at most 8192, as checking, evaluating and
    /// translating a filter to SQL recurse once per comparison of a chain.
    #[arg(long, env = "SCIMSYNC_MAX_FILTER_LENGTH", default_value_t = Limits::default().max_filter_length,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=Limits::FILTER_LENGTH_CEILING as u64))]
    max_filter_length: usize,
    /// Deepest nesting of brackets, 'not' and value paths in a filter, at most 64.
    #[arg(long, env = "SCIMSYNC_MAX_FILTER_DEPTH", default_value_t = Limits::default().max_filter_depth,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=Limits::FILTER_DEPTH_CEILING as u64))]
    max_filter_depth: usize,
    /// Longest string value in a resource, in bytes.
    #[arg(long, env = "SCIMSYNC_MAX_VALUE_BYTES", default_value_t = Limits::default().max_value_bytes)]
    max_value_bytes: usize,
    /// Most values in one multi-valued attribute of a resource.
    #[arg(long, env = "SCIMSYNC_MAX_MULTI_VALUES", default_value_t = Limits::default().max_multi_values)]
    max_multi_values: usize,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Auto,
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token (and the tenant if needed); prints the secret alone on stdout.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Revoke a token by its id (as shown by `token list`).
    Revoke {
        id: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// List tenants.
    List {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Create a tenant (no error if it exists).
    Create {
        name: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli))
}

fn registry() -> Arc<scim::Registry> {
    Arc::new(scim::Registry::rfc7643())
}

async fn open(db: &DatabaseArg) -> Result<Arc<dyn store::Store>> {
    let settings = store::Settings {
        pool_size: db.db_pool_size,
        statement_timeout: (db.db_statement_timeout > 0)
            .then(|| std::time::Duration::from_secs(db.db_statement_timeout)),
    };
    store::open_with(&db.database, registry(), settings)
        .await
        .with_context(|| format!("opening database {}", redacted(&db.database)))
}

/// A database URL fit for messages and logs: any password replaced by `***`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        _ => url.to_owned(),
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(db) => {
            open(&db).await?;
            eprintln!("database {} is up to date", redacted(&db.database));
            Ok(())
        }
        Command::Token(cmd) => token(cmd).await,
        Command::Tenant(cmd) => tenant(cmd).await,
        Command::Expr(args) => expr::run(args),
        Command::Import(args) => import::run(args).await,
        Command::Remote(args) => remote::run(*args).await,
    }
}

/// Sets up logging to stderr, buffered (see [`logbuf`]); the guard writes out what is left.
fn init_logging(format: LogFormat) -> logbuf::Flush {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIMSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let (writer, flush) = logbuf::stderr();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if json {
        builder.event_format(jsonlog::JsonLines).init();
    } else {
        builder.init();
    }
    flush
}

async fn serve(args: ServeArgs) -> Result<()> {
    let _flush = init_logging(args.log_format);
    let store = open(&args.db).await?;
    if store.tenants().await?.is_empty() {
        let (token, _) = server::auth::issue_token(store.as_ref(), "default", Some("admin"))
            .await
            .context("creating the default tenant's admin token")?;
        println!("First start: created tenant 'default' with an admin token (shown only once):");
        println!("  {token}");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        default_page_size: args.page_size.min(args.max_page_size),
        max_page_size: args.max_page_size,
        bulk_max_operations: args.bulk_max_operations,
        bulk_max_payload: args.bulk_max_payload,
        request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
        header_timeout: std::time::Duration::from_secs(args.header_timeout.max(1)),
        max_connections_per_client: args.max_connections_per_client.max(1),
        max_patch_operations: args.max_patch_operations,
        max_filter_length: args.max_filter_length,
        max_filter_depth: args.max_filter_depth,
        max_value_bytes: args.max_value_bytes,
        max_multi_values: args.max_multi_values,
    };
    let state =
        AppState::new(store, registry(), limits).with_base_url(args.base_url.map(Into::into));
    println!("scimsync listening on http://{addr}/scim/v2");
    tracing::info!(%addr, "listening");
    server::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting and drains in-flight requests.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

async fn token(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create { tenant, label, db } => {
            let store = open(&db).await?;
            let (secret, info) =
                server::auth::issue_token(store.as_ref(), &tenant, label.as_deref()).await?;
            eprintln!("created token {} for tenant '{}'", info.id, info.tenant);
            println!("{secret}");
        }
        TokenCommand::List { tenant, db } => {
            let store = open(&db).await?;
            let tenant_id = match &tenant {
                Some(name) => match store.tenant(name).await? {
                    Some(t) => Some(t.id),
                    None => bail!("no tenant named '{name}'"),
                },
                None => None,
            };
            println!(
                "{:<18} {:<16} {:<8} {:<26} LABEL",
                "ID", "TENANT", "STATE", "CREATED"
            );
            for t in store.tokens(tenant_id).await? {
                println!(
                    "{:<18} {:<16} {:<8} {:<26} {}",
                    t.id,
                    t.tenant,
                    if t.revoked { "revoked" } else { "active" },
                    t.created
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    t.label.unwrap_or_default()
                );
            }
        }
        TokenCommand::Revoke { id, db } => {
            let store = open(&db).await?;
            if !store.revoke_token(&id).await? {
                bail!("no token with id '{id}'");
            }
            eprintln!("revoked token {id}");
        }
    }
    Ok(())
}

async fn tenant(cmd: TenantCommand) -> Result<()> {
    match cmd {
        TenantCommand::List { db } => {
            let store = open(&db).await?;
            for t in store.tenants().await? {
                println!("{}", t.name);
            }
        }
        TenantCommand::Create { name, db } => {
            let store = open(&db).await?;
            let (_, created) = store.ensure_tenant(&name).await?;
            eprintln!(
                "tenant '{name}' {}",
                if created { "created" } else { "already exists" }
            );
        }
    }
    Ok(())
}
