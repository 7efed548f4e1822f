//! `loadgen run`: the scenarios, their measurement and the report.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hyper::Method;
use hyper::body::Bytes;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::conn::{Conn, Target};
use crate::generate::Users;
use crate::stats::{Recorder, Summary, fmt_us, round1};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Base URL of the SCIM API under test, e.g. http://127.0.0.1:8080/scim/v2.
    #[arg(long, env = "LOADGEN_URL")]
    pub url: String,
    /// Bearer token of the tenant under test.
    #[arg(long, env = "LOADGEN_TOKEN")]
    pub token: String,
    /// Base URL of `loadgen baseline`; every scenario then runs against it too.
    #[arg(long, env = "LOADGEN_BASELINE_URL")]
    pub baseline_url: Option<String>,
    /// Process id of the server, to report its peak RSS (VmHWM).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Process id of the baseline, to report its CPU time per request.
    #[arg(long)]
    pub baseline_pid: Option<u32>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Measured seconds per scenario run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured seconds before each run (connections open, caches warm).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Runs per scenario and target; the report gives the median of each figure.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Scenarios to run, comma-separated, in this order (default: all, in the order listed
    /// by --help): get,username,email,externalid,list,patch,create,bulk,members.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "get,username,email,externalid,list,patch,create,bulk,members"
    )]
    pub scenarios: Vec<Scenario>,
    /// Members added one at a time in the `members` scenario.
    #[arg(long, default_value_t = 100_000)]
    pub members: u64,
    /// Adds whose latency is compared at the start and at the end of the `members` scenario.
    #[arg(long, default_value_t = 1_000)]
    pub member_window: u64,
    /// Create operations per Bulk request.
    #[arg(long, default_value_t = 100)]
    pub bulk_size: usize,
    /// Existing users sampled for the read and PATCH scenarios.
    #[arg(long, default_value_t = 2_000)]
    pub sample: u64,
    /// Seed of the request mix.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// More connections sending PATCHes (replace `title`) during every run of the other
    /// scenarios, on both sides, as a directory under provisioning serves its lookups. They
    /// are not counted in the scenario's figures; their rate is reported beside it. The
    /// server's CPU per request then includes theirs.
    #[arg(long, default_value_t = 0)]
    pub background_writes: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// POST /Users with a new realistic user.
    Create,
    /// GET /Users/{id} of a sampled user.
    Get,
    /// GET /Users?filter=userName eq "…".
    Username,
    /// GET /Users?filter=emails.value eq "…".
    Email,
    /// GET /Users?filter=externalId eq "…".
    Externalid,
    /// PATCH /Users/{id} replacing `title`.
    Patch,
    /// GET /Users?count=100 pages, walking the tenant with cursors.
    List,
    /// PATCH /Groups/{id} adding one member, until the group has `--members` members.
    Members,
    /// POST /Bulk with `--bulk-size` user creates.
    Bulk,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create user",
            Scenario::Get => "GET by id",
            Scenario::Username => "filter userName eq",
            Scenario::Email => "filter emails.value eq",
            Scenario::Externalid => "filter externalId eq",
            Scenario::Patch => "PATCH replace title",
            Scenario::List => "list page of 100",
            Scenario::Members => "add member",
            Scenario::Bulk => "Bulk create",
        }
    }
}

/// A user of the tenant, as sampled for the read scenarios.
#[derive(Debug, Clone)]
struct Sampled {
    id: String,
    user_name: String,
    external_id: String,
    email: String,
}

/// One target (server or baseline) and what the scenarios need from it.
#[derive(Debug)]
struct Side {
    label: &'static str,
    target: Arc<Target>,
    pid: Option<u32>,
    sample: Arc<Vec<Sampled>>,
}

/// Shared, read-only inputs of one scenario run.
#[derive(Debug)]
struct Plan {
    scenario: Scenario,
    sample: Arc<Vec<Sampled>>,
    /// Unique suffix of created users, so runs never collide.
    run_tag: String,
    counter: AtomicU64,
    bulk_size: usize,
    group: Option<String>,
    member_ids: Arc<Vec<String>>,
    members: u64,
    seed: u64,
}

pub async fn run(args: RunArgs) -> Result<()> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let server = Arc::new(Target::parse(&args.url, Some(&args.token))?);
    let mut sides = Vec::new();
    if let Some(b) = &args.baseline_url {
        let target = Arc::new(Target::parse(b, None)?);
        sides.push(Side {
            label: "baseline",
            sample: Arc::new(sample(&target, args.sample.min(10)).await?),
            target,
            pid: args.baseline_pid,
        });
    }
    let server_sample = sample(&server, args.sample).await?;
    let reads = args.background_writes > 0
        || args
            .scenarios
            .iter()
            .any(|s| !matches!(s, Scenario::Create | Scenario::Bulk));
    if server_sample.is_empty() && reads {
        bail!(
            "the tenant has no users to read: seed it first (loadgen generate | scimsync import)"
        );
    }
    eprintln!(
        "sampled {} users of the tenant; {} connections, {} s per run (+{} s warm-up), {} run(s)",
        server_sample.len(),
        args.connections,
        args.duration,
        args.warmup,
        args.repeat
    );
    sides.push(Side {
        label: "server",
        target: server,
        pid: args.server_pid,
        sample: Arc::new(server_sample),
    });

    let run_tag = format!(
        "lg{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    );
    let mut results = Vec::new();
    for (si, &scenario) in args.scenarios.iter().enumerate() {
        let mut per_side: Vec<(String, Vec<Summary>, Option<Value>)> = sides
            .iter()
            .map(|s| (s.label.to_owned(), Vec::new(), None))
            .collect();
        let repeat = if scenario == Scenario::Members {
            1
        } else {
            args.repeat.max(1)
        };
        for rep in 0..repeat {
            // Interleaved, so drift on a shared machine hits both sides alike.
            for (k, side) in sides.iter().enumerate() {
                let tag = format!("{run_tag}s{si}r{rep}{}", &side.label[..1]);
                let (summary, extra) = run_one(&args, side, scenario, tag).await?;
                eprintln!(
                    "  {:<24} {:<8} {:>9.0} req/s  p50 {:>9}  p99 {:>9}  errors {}{}",
                    scenario.name(),
                    side.label,
                    summary.rps,
                    fmt_us(summary.p50_us),
                    fmt_us(summary.p99_us),
                    summary.errors,
                    summary
                        .error_samples
                        .first()
                        .map(|e| format!(" (e.g. {e})"))
                        .unwrap_or_default()
                );
                per_side[k].1.push(summary);
                if extra.is_some() {
                    per_side[k].2 = extra;
                }
            }
        }
        let rss = sides
            .iter()
            .find(|s| s.label == "server")
            .and_then(|s| s.pid)
            .and_then(peak_rss_kib);
        results.push(ScenarioResult {
            scenario,
            sides: per_side
                .into_iter()
                .map(|(label, runs, extra)| (label, Summary::median(&runs), extra))
                .collect(),
            server_peak_rss_kib: rss,
        });
    }
    let report = report(&args, &results);
    println!("{report}");
    if let Some(path) = &args.json {
        let json = json!({
            "connections": args.connections,
            "duration_s": args.duration,
            "repeat": args.repeat,
            "scenarios": results.iter().map(ScenarioResult::to_json).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[derive(Debug)]
struct ScenarioResult {
    scenario: Scenario,
    /// Label, median summary, scenario-specific figures.
    sides: Vec<(String, Summary, Option<Value>)>,
    server_peak_rss_kib: Option<u64>,
}

impl ScenarioResult {
    fn side(&self, label: &str) -> Option<&Summary> {
        self.sides.iter().find(|s| s.0 == label).map(|s| &s.1)
    }

    fn ratio(&self) -> Option<f64> {
        let b = self.side("baseline")?;
        let s = self.side("server")?;
        (b.rps > 0.0).then(|| s.rps / b.rps)
    }

    fn to_json(&self) -> Value {
        let mut sides = serde_json::Map::new();
        for (label, summary, extra) in &self.sides {
            let mut v = summary.to_json();
            if let Some(extra) = extra {
                v["detail"] = extra.clone();
            }
            sides.insert(label.clone(), v);
        }
        json!({
            "scenario": format!("{:?}", self.scenario).to_lowercase(),
            "name": self.scenario.name(),
            "sides": sides,
            "ratio_to_baseline": self.ratio().map(|r| round1(r * 1000.0) / 1000.0),
            "server_peak_rss_mib": self.server_peak_rss_kib.map(|k| round1(k as f64 / 1024.0)),
        })
    }
}

fn report(args: &RunArgs, results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} connections, {} s per run, median of {} run(s)\n",
        args.connections, args.duration, args.repeat
    );
    let _ = writeln!(
        out,
        "| scenario | server req/s | p50 | p99 | errors | baseline req/s | baseline p99 | ratio | server CPU/req | baseline CPU/req | server peak RSS |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let s = r.side("server").cloned().unwrap_or_default();
        let b = r.side("baseline");
        let rate = if r.scenario == Scenario::Bulk {
            format!("{:.0} ({:.0} users/s)", s.rps, s.units_per_s)
        } else {
            format!("{:.0}", s.rps)
        };
        let cpu = |s: Option<&Summary>| {
            s.and_then(|s| s.cpu_us_per_request)
                .map(|c| format!("{c:.0} µs"))
                .unwrap_or_else(|| "–".into())
        };
        let _ = writeln!(
            out,
            "| {} | {rate} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario.name(),
            fmt_us(s.p50_us),
            fmt_us(s.p99_us),
            s.errors,
            b.map(|b| format!("{:.0}", b.rps))
                .unwrap_or_else(|| "–".into()),
            b.map(|b| fmt_us(b.p99_us)).unwrap_or_else(|| "–".into()),
            r.ratio()
                .map(|x| format!("{:.0}%", x * 100.0))
                .unwrap_or_else(|| "–".into()),
            cpu(Some(&s)),
            cpu(b),
            r.server_peak_rss_kib
                .map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "–".into()),
        );
    }
    for r in results {
        if let Some((_, _, Some(extra))) = r.sides.iter().find(|s| s.0 == "server") {
            let _ = writeln!(out, "\n{}: {extra}", r.scenario.name());
        }
    }
    out
}

/// The server's peak resident set size so far, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User plus system CPU time of a process so far, in clock ticks (1/100 s on Linux): on a
/// shared machine, CPU time per request is steadier than requests per second.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; the fields after it are space-separated.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Up to `n` users spread over the tenant: pages of up to 1,000 at evenly spaced offsets.
async fn sample(target: &Arc<Target>, n: u64) -> Result<Vec<Sampled>> {
    let mut conn = Conn::new(target.clone());
    let attrs = "attributes=userName,externalId,emails";
    let first = conn
        .send(
            Method::GET,
            &format!("/Users?count={}&{attrs}", n.min(1000)),
            None,
        )
        .await?;
    if first.status != 200 {
        bail!(
            "listing users answered {}: {}",
            first.status,
            String::from_utf8_lossy(&first.body)
        );
    }
    let first = first.json()?;
    let total = first["totalResults"].as_u64().unwrap_or(0);
    let mut out = Vec::new();
    collect(&first, &mut out);
    let pages = n.div_ceil(1000).max(1);
    for p in 1..pages {
        if (out.len() as u64) >= n {
            break;
        }
        let start = p * total / pages + 1;
        let page = conn
            .send(
                Method::GET,
                &format!("/Users?count=1000&startIndex={start}&{attrs}"),
                None,
            )
            .await?
            .json()?;
        collect(&page, &mut out);
    }
    out.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    Ok(out)
}

fn collect(page: &Value, out: &mut Vec<Sampled>) {
    for r in page["Resources"].as_array().into_iter().flatten() {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let email = r["emails"]
            .as_array()
            .and_then(|e| e.first())
            .map(|e| text(&e["value"]))
            .unwrap_or_default();
        out.push(Sampled {
            id: text(&r["id"]),
            user_name: text(&r["userName"]),
            external_id: text(&r["externalId"]),
            email,
        });
    }
}

/// Ids of up to `n` users, walking the tenant with cursors.
async fn all_ids(target: &Arc<Target>, n: u64) -> Result<Vec<String>> {
    let mut conn = Conn::new(target.clone());
    let mut ids = Vec::new();
    let mut cursor = String::new();
    while (ids.len() as u64) < n {
        let page = conn
            .send(
                Method::GET,
                &format!("/Users?count=1000&attributes=id&cursor={cursor}"),
                None,
            )
            .await?
            .json()?;
        for r in page["Resources"].as_array().into_iter().flatten() {
            if let Some(id) = r["id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        match page["nextCursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = c.to_owned(),
            _ => break,
        }
    }
    ids.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    Ok(ids)
}

async fn run_one(
    args: &RunArgs,
    side: &Side,
    scenario: Scenario,
    tag: String,
) -> Result<(Summary, Option<Value>)> {
    let mut plan = Plan {
        scenario,
        sample: side.sample.clone(),
        run_tag: tag,
        counter: AtomicU64::new(0),
        bulk_size: args.bulk_size.max(1),
        group: None,
        member_ids: Arc::new(Vec::new()),
        members: args.members,
        seed: args.seed,
    };
    if scenario == Scenario::Members {
        let mut conn = Conn::new(side.target.clone());
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("loadgen {}", plan.run_tag),
        });
        let res = conn
            .send(
                Method::POST,
                "/Groups",
                Some(Bytes::from(serde_json::to_vec(&body)?)),
            )
            .await?;
        if res.status != 201 {
            bail!(
                "creating the group answered {}: {}",
                res.status,
                String::from_utf8_lossy(&res.body)
            );
        }
        plan.group = res.json()?["id"].as_str().map(str::to_owned);
        let ids = if side.label == "baseline" {
            side.sample.iter().map(|s| s.id.clone()).collect()
        } else {
            eprintln!("  reading up to {} user ids for the group…", args.members);
            all_ids(&side.target, args.members).await?
        };
        if ids.is_empty() {
            bail!("no users to add to the group");
        }
        if side.label == "server" && (ids.len() as u64) < args.members {
            eprintln!(
                "  the tenant has {} users: the group will grow to {} members, not {}",
                ids.len(),
                ids.len(),
                args.members
            );
            plan.members = ids.len() as u64;
        }
        plan.member_ids = Arc::new(ids);
    }
    let plan = Arc::new(plan);
    let counted = scenario == Scenario::Members;
    let cpu_before = side.pid.and_then(cpu_ticks);
    let warmup = Duration::from_secs_f64(if counted { 0.0 } else { args.warmup });
    let measure = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + measure;
    let mut tasks = Vec::new();
    for w in 0..args.connections {
        let plan = plan.clone();
        let target = side.target.clone();
        tasks.push(tokio::spawn(async move {
            worker(plan, target, w as u64, measure_from, deadline, counted).await
        }));
    }
    let background = if counted { 0 } else { args.background_writes };
    let writes = Arc::new(Plan {
        scenario: Scenario::Patch,
        sample: side.sample.clone(),
        run_tag: format!("{}b", plan.run_tag),
        counter: AtomicU64::new(0),
        bulk_size: 1,
        group: None,
        member_ids: Arc::new(Vec::new()),
        members: 0,
        seed: plan.seed ^ 0xb6,
    });
    let mut writers = Vec::new();
    for w in 0..background {
        let plan = writes.clone();
        let target = side.target.clone();
        let w = (args.connections + w) as u64;
        writers.push(tokio::spawn(async move {
            worker(plan, target, w, measure_from, deadline, false).await
        }));
    }
    let mut total = Recorder::default();
    let mut seqs: Vec<(u64, u32)> = Vec::new();
    for t in tasks {
        let (rec, s) = t.await?;
        total.merge(rec);
        seqs.extend(s);
    }
    let mut written = Recorder::default();
    for t in writers {
        written.merge(t.await?.0);
    }
    let elapsed = if counted {
        start.elapsed()
    } else {
        Instant::now()
            .min(deadline)
            .saturating_duration_since(measure_from)
    };
    let extra = if counted {
        Some(member_growth(&mut seqs, args.member_window, plan.members))
    } else if background > 0 {
        let w = written.summary(elapsed);
        Some(json!({
            "background_patches_per_s": w.rps.round(),
            "background_errors": w.errors,
        }))
    } else {
        None
    };
    let requests = total.latencies.len() as f64;
    let mut summary = total.summary(elapsed);
    // CPU time includes the warm-up; the requests it served are counted in proportion.
    if let (Some(a), Some(b)) = (cpu_before, side.pid.and_then(cpu_ticks)) {
        let all = start.elapsed().as_secs_f64();
        let served = requests * all / elapsed.as_secs_f64().max(1e-9);
        summary.cpu_us_per_request = Some((b - a) as f64 * 10_000.0 / served.max(1.0));
    }
    Ok((summary, extra))
}

/// Latency of the first and the last `window` member adds.
fn member_growth(seqs: &mut [(u64, u32)], window: u64, members: u64) -> Value {
    seqs.sort_unstable();
    let pick = |lo: u64, hi: u64| -> Vec<u32> {
        let mut v: Vec<u32> = seqs
            .iter()
            .filter(|(n, _)| *n >= lo && *n < hi)
            .map(|(_, l)| *l)
            .collect();
        v.sort_unstable();
        v
    };
    let window = window.min(members / 2).max(1);
    let first = pick(0, window);
    let last = pick(members.saturating_sub(window), members);
    let mean = |v: &[u32]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len().max(1) as f64;
    let p = crate::stats::percentile;
    json!({
        "members": members,
        "window": window,
        "first_p50_us": p(&first, 0.5),
        "first_p99_us": p(&first, 0.99),
        "first_mean_us": round1(mean(&first)),
        "last_p50_us": p(&last, 0.5),
        "last_p99_us": p(&last, 0.99),
        "last_mean_us": round1(mean(&last)),
        "growth_p50": (f64::from(p(&last, 0.5)) / f64::from(p(&first, 0.5).max(1)) * 100.0).round() / 100.0,
    })
}

/// Requests of one connection until the deadline (or, for `members`, until the group is full).
/// Returns what it measured and, for `members`, each add's sequence number and latency.
async fn worker(
    plan: Arc<Plan>,
    target: Arc<Target>,
    w: u64,
    measure_from: Instant,
    deadline: Instant,
    counted: bool,
) -> (Recorder, Vec<(u64, u32)>) {
    let mut conn = Conn::new(target);
    let mut rec = Recorder::default();
    let mut seqs = Vec::new();
    let mut rng = StdRng::seed_from_u64(plan.seed.wrapping_mul(1_000_003).wrapping_add(w));
    let mut users = Users::new(
        plan.seed ^ w,
        "example.com",
        &format!("{}w{w}-", plan.run_tag),
    );
    let mut cursor = String::new();
    loop {
        let now = Instant::now();
        if !counted && now >= deadline {
            break;
        }
        let n = plan.counter.fetch_add(1, Ordering::Relaxed);
        if counted && n >= plan.members {
            break;
        }
        let (method, path, body, expect) = request(&plan, &mut rng, &mut users, n, &cursor);
        let t = Instant::now();
        let res = conn.send(method, &path, body).await;
        let latency = t.elapsed();
        let measured = counted || (t >= measure_from && t < deadline);
        let outcome = res.and_then(|r| check(&plan, &r, expect, &mut cursor));
        if counted {
            seqs.push((n, u32::try_from(latency.as_micros()).unwrap_or(u32::MAX)));
        }
        if !measured {
            continue;
        }
        match outcome {
            Ok(units) => rec.ok(latency, units),
            Err(e) => rec.error(latency, || format!("{e:#}")),
        }
    }
    (rec, seqs)
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn filter(attr: &str, value: &str) -> String {
    format!("/Users?filter={}", enc(&format!("{attr} eq \"{value}\"")))
}

/// The next request of a scenario: method, path, body, expected status.
fn request(
    plan: &Plan,
    rng: &mut StdRng,
    users: &mut Users,
    n: u64,
    cursor: &str,
) -> (Method, String, Option<Bytes>, u16) {
    let mut pick = || &plan.sample[rng.random_range(0..plan.sample.len())];
    let body = |v: &Value| Some(Bytes::from(serde_json::to_vec(v).unwrap_or_default()));
    match plan.scenario {
        Scenario::Create => (Method::POST, "/Users".into(), body(&users.user(n)), 201),
        Scenario::Get => (Method::GET, format!("/Users/{}", pick().id), None, 200),
        Scenario::Username => (
            Method::GET,
            filter("userName", &pick().user_name),
            None,
            200,
        ),
        Scenario::Email => (
            Method::GET,
            filter("emails.value", &pick().email),
            None,
            200,
        ),
        Scenario::Externalid => (
            Method::GET,
            filter("externalId", &pick().external_id),
            None,
            200,
        ),
        Scenario::Patch => {
            let patch = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": format!("Title {n}")}],
            });
            (
                Method::PATCH,
                format!("/Users/{}", pick().id),
                body(&patch),
                200,
            )
        }
        Scenario::List => (
            Method::GET,
            format!("/Users?count=100&cursor={cursor}"),
            None,
            200,
        ),
        Scenario::Members => {
            let id = &plan.member_ids[(n % plan.member_ids.len() as u64) as usize];
            let patch = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}],
            });
            // As Entra sends it: no projection asked, so the server answers 204 and never
            // reads the member list back.
            (
                Method::PATCH,
                format!("/Groups/{}", plan.group.as_deref().unwrap_or("none")),
                body(&patch),
                204,
            )
        }
        Scenario::Bulk => {
            let ops: Vec<Value> = (0..plan.bulk_size as u64)
                .map(|i| {
                    json!({
                        "method": "POST",
                        "path": "/Users",
                        "bulkId": format!("u{i}"),
                        "data": users.user(n * plan.bulk_size as u64 + i),
                    })
                })
                .collect();
            let bulk = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": ops,
            });
            (Method::POST, "/Bulk".into(), body(&bulk), 200)
        }
    }
}

/// Checks a response; the units of work it did, or why it is an error.
fn check(
    plan: &Plan,
    res: &crate::conn::Response,
    expect: u16,
    cursor: &mut String,
) -> Result<u64> {
    if res.status != expect {
        bail!(
            "status {} (wanted {expect}): {}",
            res.status,
            String::from_utf8_lossy(&res.body[..res.body.len().min(200)])
        );
    }
    match plan.scenario {
        Scenario::Username | Scenario::Email | Scenario::Externalid => {
            // A substring test keeps the client's cost per request small.
            if !contains(&res.body, br#""totalResults":1"#) {
                bail!(
                    "the filter did not find exactly one user: {}",
                    String::from_utf8_lossy(&res.body[..res.body.len().min(200)])
                );
            }
            Ok(1)
        }
        Scenario::List => {
            *cursor = next_cursor(&res.body).unwrap_or_default();
            Ok(1)
        }
        Scenario::Bulk => {
            let v = res.json()?;
            let ops = v["Operations"].as_array().cloned().unwrap_or_default();
            let failed = ops
                .iter()
                .filter(|o| {
                    let s = match &o["status"] {
                        Value::String(s) => s.parse().unwrap_or(0),
                        v => v.as_u64().unwrap_or(0),
                    };
                    !(200..300).contains(&s)
                })
                .count();
            if failed > 0 {
                bail!("{failed} of {} Bulk operations failed", ops.len());
            }
            Ok(plan.bulk_size as u64)
        }
        _ => Ok(1),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `nextCursor` of a list response, found without parsing the page: cursors are URL-safe
/// base64, so they need no unescaping.
fn next_cursor(body: &[u8]) -> Option<String> {
    let key = br#""nextCursor":""#;
    let at = body.windows(key.len()).position(|w| w == key)? + key.len();
    let end = body[at..].iter().position(|b| *b == b'"')? + at;
    std::str::from_utf8(&body[at..end]).ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_found_without_parsing() {
        let body = br#"{"totalResults":3,"nextCursor":"eyJmIjoiYSJ9","Resources":[]}"#;
        assert_eq!(next_cursor(body).as_deref(), Some("eyJmIjoiYSJ9"));
        assert_eq!(next_cursor(br#"{"totalResults":3}"#), None);
    }
}
