//! `scimsync import`: load a JSON-lines file of SCIM Users straight into the directory's
//! store, for seeding benchmarks and for migrations from another system.
//!
//! It goes to the store rather than through HTTP so it can write a thousand users per
//! transaction ([`store::Store::create_many`]); every user is still validated exactly as a
//! `POST /Users` would validate it, and each one succeeds or fails alone (a taken `userName`
//! rejects that line, not its batch). Parsing and validation run on a thread of their own while
//! the previous batch is written, which on two cores keeps both busy.
//!
//! Managers: HR exports name a manager by the manager's employee id, which is the `externalId`
//! here. When `manager.value` of the enterprise extension equals the `externalId` of a user
//! imported earlier in the run, it is replaced by that user's directory id. A user whose
//! manager is in the same batch waits for the next one (the manager's id exists only once its
//! batch is written), so a file listing managers before their reports resolves completely in
//! one pass. Any other value is kept as given: it may already be a directory id. The map from
//! `externalId` to id costs about 60 bytes a user.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use scim::validate::{Mode, validate};
use serde_json::Value;

use crate::DatabaseArg;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Rejected lines printed one by one before only counting the rest.
const SHOWN_REJECTIONS: usize = 20;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Tenant to import into; created if it does not exist.
    #[arg(long)]
    tenant: String,
    /// JSON-lines file of SCIM Users (one object a line), or `-` for standard input.
    file: PathBuf,
    /// Users written per transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    #[command(flatten)]
    db: DatabaseArg,
}

/// One batch as the reader thread hands it over.
struct Chunk {
    /// Line number and the validated user to create.
    users: Vec<(u64, Value)>,
    /// Lines that failed to parse or validate, with why.
    rejected: Vec<(u64, String)>,
    /// Input bytes consumed up to the end of this chunk.
    bytes: u64,
}

pub async fn run(args: ImportArgs) -> Result<()> {
    let store = crate::open(&args.db).await?;
    let (tenant, _) = store.ensure_tenant(&args.tenant).await?;
    let (input, size): (Box<dyn Read + Send>, Option<u64>) = if args.file.as_os_str() == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(&args.file)
            .with_context(|| format!("opening {}", args.file.display()))?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(f), size)
    };
    let batch = args.batch.clamp(1, 100_000);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Chunk>>(2);
    let reader = std::thread::spawn(move || read_chunks(input, batch, &tx));

    let bar = progress(size);
    let start = Instant::now();
    let (mut imported, mut rejected) = (0u64, 0u64);
    let report = |line: u64, why: &str, rejected: &mut u64| {
        *rejected += 1;
        if *rejected as usize <= SHOWN_REJECTIONS {
            bar.suspend(|| eprintln!("line {line}: {why}"));
        }
    };
    let mut managers = Managers::default();
    let mut waiting: Vec<(u64, Value)> = Vec::new();
    let mut done = false;
    while !done || !waiting.is_empty() {
        let mut users = std::mem::take(&mut waiting);
        match rx.recv().await {
            Some(chunk) => {
                let chunk = chunk?;
                for (line, why) in &chunk.rejected {
                    report(*line, why, &mut rejected);
                }
                users.extend(chunk.users);
                bar.set_position(chunk.bytes);
            }
            None => done = true,
        }
        // At the end of the input, nothing more can define a waiting user's manager.
        let (ready, later) = managers.resolve(users, done);
        waiting = later;
        if ready.is_empty() {
            continue;
        }
        let first = ready.first().map_or(0, |(l, _)| *l);
        let (lines, items): (Vec<u64>, Vec<(Value, Vec<String>)>) = ready
            .into_iter()
            .map(|(l, doc)| (l, (doc, Vec::new())))
            .unzip();
        let externals: Vec<Option<String>> = items
            .iter()
            .map(|(d, _)| {
                d.get("externalId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        let results = store
            .create_many(tenant.id, "User", items, None)
            .await
            .with_context(|| format!("writing the users from line {first} on"))?;
        for ((line, external), r) in lines.iter().zip(externals).zip(results) {
            match r {
                Ok(stored) => {
                    imported += 1;
                    if let Some(e) = external {
                        managers.learn(e, &stored.id);
                    }
                }
                Err(e) => report(*line, &e.to_string(), &mut rejected),
            }
        }
        bar.set_message(format!("{imported} users"));
    }
    bar.finish_and_clear();
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "imported {imported} users into tenant '{}' in {secs:.1} s ({:.0} users/s); {rejected} rejected",
        args.tenant,
        imported as f64 / secs.max(1e-9),
    );
    if rejected as usize > SHOWN_REJECTIONS {
        eprintln!(
            "({} more rejected lines not shown)",
            rejected as usize - SHOWN_REJECTIONS
        );
    }
    if rejected > 0 {
        bail!("{rejected} lines were not imported");
    }
    Ok(())
}

/// A progress bar on a terminal; hidden otherwise, so logs get only the summary line.
fn progress(size: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match size {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {percent:>3}%  {msg}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    }
}

/// The reader thread: parse and validate, in chunks.
fn read_chunks(
    input: Box<dyn Read + Send>,
    batch: usize,
    tx: &tokio::sync::mpsc::Sender<Result<Chunk>>,
) {
    let registry = crate::registry();
    let Some(rt) = registry.resource_type("User") else {
        let _ = tx.blocking_send(Err(anyhow::anyhow!("no User resource type")));
        return;
    };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut line = String::new();
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut chunk = Chunk {
        users: Vec::with_capacity(batch),
        rejected: Vec::new(),
        bytes: 0,
    };
    loop {
        line.clear();
        let read = match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) => {
                let _ = tx.blocking_send(Err(
                    anyhow::Error::new(e).context(format!("reading line {}", n + 1))
                ));
                return;
            }
        };
        n += 1;
        bytes += read as u64;
        if line.trim().is_empty() {
            continue;
        }
        match user(&registry, rt, &line) {
            Ok(u) => chunk.users.push((n, u)),
            Err(why) => chunk.rejected.push((n, why)),
        }
        if chunk.users.len() >= batch {
            chunk.bytes = bytes;
            let full = std::mem::replace(
                &mut chunk,
                Chunk {
                    users: Vec::with_capacity(batch),
                    rejected: Vec::new(),
                    bytes: 0,
                },
            );
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    chunk.bytes = bytes;
    let _ = tx.blocking_send(Ok(chunk));
}

/// One line → a validated user, or why not.
fn user(
    registry: &scim::Registry,
    rt: &scim::schema::ResourceType,
    line: &str,
) -> Result<Value, String> {
    let input: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let mut doc = validate(registry, rt, &input, Mode::Create).map_err(|e| e.to_string())?;
    if let Some(obj) = doc.as_object_mut() {
        for k in ["id", "meta", "groups"] {
            obj.remove(k);
        }
    }
    Ok(doc)
}

/// A validated user and the line it came from.
type Line = (u64, Value);

/// `externalId` → directory id of the users imported so far.
#[derive(Debug, Default)]
struct Managers {
    /// Directory ids are UUIDs: kept as 128-bit numbers, a third of their text.
    ids: HashMap<Box<str>, u128>,
}

impl Managers {
    fn learn(&mut self, external_id: String, id: &str) {
        if let Some(n) = uuid_bits(id) {
            self.ids.insert(external_id.into_boxed_str(), n);
        }
    }

    /// Rewrites known manager references; splits off the users whose manager is in this same
    /// batch (not yet written) unless `last`, when they go as they are.
    fn resolve(&self, users: Vec<Line>, last: bool) -> (Vec<Line>, Vec<Line>) {
        let in_batch: std::collections::HashSet<String> = users
            .iter()
            .filter_map(|(_, d)| d.get("externalId").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        let mut ready = Vec::with_capacity(users.len());
        let mut later = Vec::new();
        for (line, mut doc) in users {
            let own = doc
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let manager = doc
                .get_mut(ENTERPRISE)
                .and_then(|e| e.get_mut("manager"))
                .and_then(|m| m.get_mut("value"));
            if let Some(Value::String(m)) = manager {
                if let Some(n) = self.ids.get(m.as_str()) {
                    *m = uuid_text(*n);
                } else if !last
                    && in_batch.contains(m.as_str())
                    && own.as_deref() != Some(m.as_str())
                {
                    later.push((line, doc));
                    continue;
                }
            }
            ready.push((line, doc));
        }
        (ready, later)
    }
}

/// The 128 bits of a hyphenated UUID.
fn uuid_bits(id: &str) -> Option<u128> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (hex.len() == 32 && id.len() == 36)
        .then(|| u128::from_str_radix(&hex, 16).ok())
        .flatten()
}

/// Hyphenated lower-case text of a UUID, as the store writes ids.
fn uuid_text(n: u128) -> String {
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip_through_their_bits() {
        let id = "0f8b2c1e-4d3a-4b5c-9e8f-7a6b5c4d3e2f";
        assert_eq!(uuid_text(uuid_bits(id).unwrap()), id);
        assert_eq!(uuid_bits("not-a-uuid"), None);
    }

    #[test]
    fn a_manager_in_the_same_batch_waits_and_a_known_one_is_rewritten() {
        let user = |ext: &str, manager: &str| serde_json::json!({"externalId": ext, ENTERPRISE: {"manager": {"value": manager}}});
        let mut m = Managers::default();
        m.learn("E0".into(), "0f8b2c1e-4d3a-4b5c-9e8f-7a6b5c4d3e2f");
        let (ready, later) = m.resolve(
            vec![
                (1, user("E1", "E0")),
                (2, user("E2", "E1")),
                (3, user("E3", "X9")),
            ],
            false,
        );
        assert_eq!(ready.len(), 2);
        assert_eq!(
            ready[0].1[ENTERPRISE]["manager"]["value"],
            "0f8b2c1e-4d3a-4b5c-9e8f-7a6b5c4d3e2f"
        );
        assert_eq!(ready[1].1[ENTERPRISE]["manager"]["value"], "X9");
        assert_eq!(later.len(), 1);
        let (ready, later) = m.resolve(later, true);
        assert_eq!((ready.len(), later.len()), (1, 0));
    }
}
