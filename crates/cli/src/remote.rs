//! `scimsync remote`: inspect, change, export and import the resources of any SCIM 2.0
//! service provider, through `crates/client`.
//!
//! Export writes JSON lines (one resource per line) so that a million users stream through
//! constant memory and the file can be split, grepped and imported again line by line.

use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use client::{Auth, Client, ClientCredentials, PatchBuilder, Query};
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use scim::messages::{BulkMethod, BulkOperation};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct RemoteArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: RemoteCommand,
}

#[derive(Debug, Args)]
struct Connection {
    /// Base URL of the SCIM API, e.g. https://example.com/scim/v2.
    #[arg(long, env = "SCIMSYNC_REMOTE_URL", global = true)]
    url: Option<String>,
    /// Bearer token.
    #[arg(
        long,
        env = "SCIMSYNC_REMOTE_TOKEN",
        global = true,
        hide_env_values = true
    )]
    token: Option<String>,
    /// HTTP basic user (with --password) instead of a bearer token.
    #[arg(long, env = "SCIMSYNC_REMOTE_USER", global = true)]
    user: Option<String>,
    #[arg(
        long,
        env = "SCIMSYNC_REMOTE_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    password: Option<String>,
    /// OAuth 2.0 token endpoint for the client-credentials grant (with --client-id and
    /// --client-secret).
    #[arg(long, env = "SCIMSYNC_REMOTE_TOKEN_URL", global = true)]
    token_url: Option<String>,
    #[arg(long, env = "SCIMSYNC_REMOTE_CLIENT_ID", global = true)]
    client_id: Option<String>,
    #[arg(
        long,
        env = "SCIMSYNC_REMOTE_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    client_secret: Option<String>,
    /// OAuth 2.0 scope(s), space-separated.
    #[arg(long, env = "SCIMSYNC_REMOTE_SCOPE", global = true)]
    scope: Option<String>,
    /// Output format of list, get, create and patch.
    #[arg(long, value_enum, default_value = "table", global = true)]
    output: Output,
    /// Seconds allowed for one request.
    #[arg(
        long,
        env = "SCIMSYNC_REMOTE_TIMEOUT",
        default_value_t = 60,
        global = true
    )]
    timeout: u64,
    /// Requests in flight at once.
    #[arg(
        long,
        env = "SCIMSYNC_REMOTE_CONCURRENCY",
        default_value_t = 8,
        global = true
    )]
    concurrency: usize,
    /// Most requests per second (unlimited when unset).
    #[arg(long, env = "SCIMSYNC_REMOTE_RATE", global = true)]
    rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum RemoteCommand {
    /// Users: list, get, create, patch, delete.
    #[command(subcommand)]
    Users(ResourceCommand),
    /// Groups: list, get, create, patch, delete.
    #[command(subcommand)]
    Groups(ResourceCommand),
    /// Write every resource of a type as JSON lines to stdout.
    Export(ExportArgs),
    /// Create the resources of a JSON-lines file (as written by export), through Bulk where
    /// the server has it.
    Import(ImportArgs),
    /// Show what the server supports (its ServiceProviderConfig, as the client reads it).
    Info,
}

#[derive(Debug, Subcommand)]
enum ResourceCommand {
    /// List resources, all pages.
    List {
        /// SCIM filter, e.g. 'userName sw "a"'.
        #[arg(long)]
        filter: Option<String>,
        /// Stop after this many.
        #[arg(long)]
        limit: Option<u64>,
        /// Attributes to return, comma-separated.
        #[arg(long, value_delimiter = ',')]
        attributes: Vec<String>,
    },
    /// Show one resource.
    Get { id: String },
    /// Create a resource from a JSON file ('-' for stdin).
    Create {
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Change attributes: --set PATH=VALUE, --add PATH=VALUE, --remove PATH, or a PatchOp file.
    /// VALUE is JSON when it parses as JSON (false, 3, {"value":"x"}), a string otherwise.
    Patch {
        id: String,
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        #[arg(long, value_name = "PATH=VALUE")]
        add: Vec<String>,
        #[arg(long, value_name = "PATH")]
        remove: Vec<String>,
        /// A PatchOp message (JSON), '-' for stdin.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Delete a resource.
    Delete { id: String },
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Resource type endpoint: Users, Groups, or a custom one.
    #[arg(long = "type", default_value = "Users")]
    kind: String,
    #[arg(long)]
    filter: Option<String>,
    /// Resources per page (capped by the server's maximum).
    #[arg(long, default_value_t = 1000)]
    page_size: u64,
    /// Attributes to leave out, comma-separated (e.g. members for large groups).
    #[arg(long, value_delimiter = ',')]
    excluded_attributes: Vec<String>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// JSON-lines file, '-' for stdin.
    file: PathBuf,
    /// Resource type endpoint for every line; by default taken from each resource's schemas.
    #[arg(long = "type")]
    kind: Option<String>,
    /// Operations handed to the client at a time (it cuts them to the server's Bulk limits).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
}

pub async fn run(args: RemoteArgs) -> Result<()> {
    let output = args.connection.output;
    let client = connect(&args.connection)?;
    let result = match args.command {
        RemoteCommand::Users(cmd) => resource(&client, "Users", cmd, output).await,
        RemoteCommand::Groups(cmd) => resource(&client, "Groups", cmd, output).await,
        RemoteCommand::Export(a) => export(&client, a).await,
        RemoteCommand::Import(a) => import(&client, a).await,
        RemoteCommand::Info => info(&client, output).await,
    };
    // `remote users list | head` closes the pipe early; that is the reader's choice, not an
    // error worth a message.
    match result {
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn connect(c: &Connection) -> Result<Client> {
    let Some(url) = &c.url else {
        bail!("no server given: pass --url https://host/scim/v2 or set SCIMSYNC_REMOTE_URL");
    };
    let auth = match (&c.token, &c.user, &c.token_url) {
        (Some(t), _, _) => Auth::Bearer(t.clone()),
        (None, Some(u), _) => Auth::Basic {
            username: u.clone(),
            password: c.password.clone().unwrap_or_default(),
        },
        (None, None, Some(token_url)) => {
            let (Some(id), Some(secret)) = (&c.client_id, &c.client_secret) else {
                bail!("--token-url needs --client-id and --client-secret");
            };
            let mut cc = ClientCredentials::new(token_url, id, secret);
            if let Some(s) = &c.scope {
                cc = cc.with_scope(s);
            }
            Auth::OAuth2(cc)
        }
        (None, None, None) => Auth::None,
    };
    let mut b = Client::builder(url)
        .auth(auth)
        .request_timeout(Duration::from_secs(c.timeout.max(1)))
        .concurrency(Some(c.concurrency.max(1)));
    if let Some(rate) = c.rate {
        b = b.rate_limit(rate, 1);
    }
    Ok(b.build()?)
}

async fn resource(
    client: &Client,
    endpoint: &str,
    cmd: ResourceCommand,
    output: Output,
) -> Result<()> {
    let res = client.resources(endpoint);
    match cmd {
        ResourceCommand::List {
            filter,
            limit,
            attributes,
        } => {
            let mut q = Query::new().attributes(attributes);
            if let Some(f) = filter {
                q = q.filter_text(f);
            }
            if let Some(l) = limit {
                q = q.limit(l);
            }
            let mut stream = res.list(q);
            let mut out = BufWriter::new(std::io::stdout());
            let mut rows = Vec::new();
            while let Some(r) = stream.try_next().await? {
                match output {
                    Output::Json => writeln!(out, "{r}")?,
                    Output::Table => rows.push(row(endpoint, &r)),
                }
            }
            if output == Output::Table {
                write_table(&mut out, header(endpoint), &rows)?;
            }
            out.flush()?;
        }
        ResourceCommand::Get { id } => show(endpoint, &res.get(&id).await?, output)?,
        ResourceCommand::Create { file } => {
            let body: Value = serde_json::from_slice(&read_input(&file)?)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let created = res.create(&body).await?;
            eprintln!("created {}", created["id"].as_str().unwrap_or("(no id)"));
            show(endpoint, &created, output)?;
        }
        ResourceCommand::Patch {
            id,
            set,
            add,
            remove,
            file,
        } => {
            let request = match file {
                Some(f) => {
                    let text = read_input(&f)?;
                    scim::messages::PatchRequest::from_slice(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
                }
                None => {
                    let mut b = PatchBuilder::new();
                    for p in &remove {
                        b = b.remove(p);
                    }
                    for s in &set {
                        let (path, value) = assignment(s)?;
                        b = b.replace(path, value);
                    }
                    for s in &add {
                        let (path, value) = assignment(s)?;
                        b = b.add(path, value);
                    }
                    match b.build() {
                        Some(r) => r,
                        None => bail!("nothing to change: give --set, --add, --remove or --file"),
                    }
                }
            };
            match res.patch(&id, &request, None).await? {
                Some(updated) => show(endpoint, &updated, output)?,
                None => eprintln!("patched {id} (the server returned no body)"),
            }
        }
        ResourceCommand::Delete { id } => {
            res.delete(&id, None).await?;
            eprintln!("deleted {id}");
        }
    }
    Ok(())
}

/// `path=value`, the value as JSON when it parses, a string otherwise.
fn assignment(s: &str) -> Result<(&str, Value)> {
    let Some((path, raw)) = s.split_once('=') else {
        bail!("'{s}' is not PATH=VALUE");
    };
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((path.trim(), value))
}

fn read_input(path: &PathBuf) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

fn show(endpoint: &str, r: &Value, output: Output) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(r)?)?,
        Output::Table => write_table(&mut out, header(endpoint), &[row(endpoint, r)])?,
    }
    Ok(())
}

fn header(endpoint: &str) -> &'static [&'static str] {
    if endpoint.eq_ignore_ascii_case("Groups") {
        &["ID", "DISPLAY NAME", "MEMBERS"]
    } else {
        &["ID", "USER NAME", "NAME", "ACTIVE", "EMAIL"]
    }
}

fn row(endpoint: &str, r: &Value) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    if endpoint.eq_ignore_ascii_case("Groups") {
        return vec![
            s(&r["id"]),
            s(&r["displayName"]),
            r["members"]
                .as_array()
                .map_or("-".into(), |m| m.len().to_string()),
        ];
    }
    let name = match r["displayName"].as_str() {
        Some(d) => d.to_owned(),
        None => r["name"]["formatted"].as_str().map_or_else(
            || {
                [&r["name"]["givenName"], &r["name"]["familyName"]]
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            str::to_owned,
        ),
    };
    let email = r["emails"].as_array().and_then(|es| {
        es.iter()
            .find(|e| e["primary"] == Value::Bool(true))
            .or_else(|| es.first())
            .and_then(|e| e["value"].as_str())
    });
    vec![
        s(&r["id"]),
        s(&r["userName"]),
        name,
        r["active"].as_bool().map_or("-".into(), |b| b.to_string()),
        email.unwrap_or("").to_owned(),
    ]
}

fn write_table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        l.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn progress(total: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(&format!(
                "{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template(&format!("{{spinner}} {{pos}} {what} ({{per_sec}})"))
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

async fn export(client: &Client, a: ExportArgs) -> Result<()> {
    let mut q = Query::new()
        .page_size(a.page_size)
        .excluded_attributes(a.excluded_attributes);
    if let Some(f) = a.filter {
        q = q.filter_text(f);
    }
    let started = Instant::now();
    let mut pages = client.resources(&a.kind).pages(q);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout());
    let mut bar: Option<ProgressBar> = None;
    let mut n = 0u64;
    while let Some(page) = pages.try_next().await? {
        let bar = bar.get_or_insert_with(|| progress(Some(page.total_results), &a.kind));
        for r in &page.resources {
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")?;
        }
        n += page.resources.len() as u64;
        bar.set_position(n);
    }
    out.flush()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "exported {n} {} in {secs:.1}s ({:.0}/s)",
        a.kind,
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Attributes a server sets itself; sending them in a create is at best ignored.
const SERVER_SET: [&str; 3] = ["id", "meta", "groups"];

fn endpoint_of(resource: &Value, forced: Option<&str>) -> Option<String> {
    if let Some(k) = forced {
        return Some(k.to_owned());
    }
    let schemas = resource["schemas"].as_array()?;
    let has = |urn: &str| {
        schemas
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    };
    if has(scim::urn::USER) {
        Some("Users".into())
    } else if has(scim::urn::GROUP) {
        Some("Groups".into())
    } else {
        None
    }
}

#[derive(Debug, Default)]
struct Tally {
    created: u64,
    failed: u64,
}

impl Tally {
    fn record(&mut self, results: Vec<client::BulkResult>, bar: &ProgressBar) {
        for r in results {
            match r.outcome {
                Ok(_) => self.created += 1,
                Err(e) => {
                    self.failed += 1;
                    bar.suspend(|| eprintln!("{}: {e}", r.bulk_id.as_deref().unwrap_or("?")));
                }
            }
            bar.inc(1);
        }
    }
}

async fn import(client: &Client, a: ImportArgs) -> Result<()> {
    let reader: Box<dyn BufRead> = if a.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&a.file)
                .with_context(|| format!("opening {}", a.file.display()))?,
        ))
    };
    let total = if a.file.as_os_str() == "-" {
        None
    } else {
        Some(
            std::io::BufReader::new(std::fs::File::open(&a.file)?)
                .lines()
                .count() as u64,
        )
    };
    let bar = progress(total, "imported");
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut batch: Vec<BulkOperation> = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", a.file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let lineno = i + 1;
        let mut resource: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                tally.failed += 1;
                bar.suspend(|| eprintln!("line {lineno}: not JSON: {e}"));
                continue;
            }
        };
        let Some(endpoint) = endpoint_of(&resource, a.kind.as_deref()) else {
            tally.failed += 1;
            bar.suspend(|| {
                eprintln!("line {lineno}: no User or Group schema in \"schemas\"; pass --type")
            });
            continue;
        };
        if let Some(obj) = resource.as_object_mut() {
            for k in SERVER_SET {
                obj.remove(k);
            }
        }
        batch.push(BulkOperation {
            method: BulkMethod::Post,
            bulk_id: Some(format!("line-{lineno}")),
            version: None,
            path: format!("/{}", endpoint.trim_start_matches('/')),
            data: Some(resource),
        });
        if batch.len() >= a.batch.max(1) {
            tally.record(client.bulk(std::mem::take(&mut batch), None).await?, &bar);
        }
    }
    if !batch.is_empty() {
        tally.record(client.bulk(batch, None).await?, &bar);
    }
    bar.finish_and_clear();
    eprintln!(
        "created {}, failed {} in {:.1}s",
        tally.created,
        tally.failed,
        started.elapsed().as_secs_f64()
    );
    if tally.failed > 0 {
        bail!("{} resource(s) were not imported", tally.failed);
    }
    Ok(())
}

async fn info(client: &Client, output: Output) -> Result<()> {
    let caps = client.capabilities().await?;
    if output == Output::Json {
        let spc = client.service_provider_config().await?;
        println!(
            "{}",
            serde_json::to_string_pretty(&spc.as_deref().map(serde_json::to_value).transpose()?)?
        );
        return Ok(());
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("server      {}", client.base_url());
    println!("patch       {}", yes(caps.patch));
    match caps.bulk {
        Some(b) => println!(
            "bulk        yes (maxOperations {}, maxPayloadSize {})",
            b.max_operations, b.max_payload_size
        ),
        None => println!("bulk        no"),
    }
    println!(
        "filter      {}{}",
        yes(caps.filter),
        caps.max_results
            .map(|m| format!(" (maxResults {m})"))
            .unwrap_or_default()
    );
    println!("sort        {}", yes(caps.sort));
    println!("etag        {}", yes(caps.etag));
    println!("cursors     {}", yes(caps.cursor_paging));
    Ok(())
}
