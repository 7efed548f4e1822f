//! `scimsync expr`: try an attribute-mapping expression on a record, or check a job file.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use mapping::job::Job;
use mapping::{Context, Expression, FixedContext, Flow, Record, SystemContext};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, clap::Args)]
pub struct ExprArgs {
    /// The expression, in Entra's syntax, e.g. 'ToLower(Join(".", [givenName], [surname]))'.
    #[arg(required_unless_present = "check", conflicts_with = "check")]
    expression: Option<String>,
    /// A JSON object holding the source record's attributes (none when unset).
    #[arg(long, value_name = "FILE.json")]
    record: Option<PathBuf>,
    /// Check every mapping and scoping filter of a job file instead of evaluating.
    #[arg(long, value_name = "JOBFILE.toml")]
    check: Option<PathBuf>,
    /// The instant Now() returns (RFC 3339); the system clock when unset.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Seed for Guid() and RandomString(), for repeatable output.
    #[arg(long)]
    seed: Option<u64>,
    /// A value SelectUniqueValue treats as taken in the target (repeatable).
    #[arg(long, value_name = "VALUE")]
    taken: Vec<String>,
    /// What DefaultDomain() returns.
    #[arg(long, value_name = "DOMAIN")]
    default_domain: Option<String>,
}

pub fn run(args: ExprArgs) -> Result<()> {
    if let Some(path) = &args.check {
        return check(path);
    }
    let Some(source) = &args.expression else {
        bail!("give an expression or --check JOBFILE");
    };
    let record: Record = match &args.record {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON object", path.display()))?
        }
        None => Record::new(),
    };
    let expr = Expression::parse(source).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut ctx: Box<dyn Context> = if args.now.is_some() || args.seed.is_some() {
        let now = match &args.now {
            Some(s) => OffsetDateTime::parse(s, &Rfc3339)
                .with_context(|| format!("--now {s} is not an RFC 3339 instant"))?,
            None => OffsetDateTime::now_utc(),
        };
        let mut fixed = FixedContext::new(now, args.seed.unwrap_or_default())
            .with_taken(args.taken.iter().cloned());
        fixed.default_domain = args.default_domain.clone();
        Box::new(fixed)
    } else {
        Box::new(SystemContext {
            taken: args.taken.iter().cloned().collect(),
            default_domain: args.default_domain.clone(),
        })
    };
    let outcome = expr
        .evaluate(&record, ctx.as_mut())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match outcome.flow {
        Flow::Set(v) => println!("{}", serde_json::to_string_pretty(&v.to_json())?),
        Flow::Ignore => {
            eprintln!("(dropped from the flow: IgnoreFlowIfNullOrEmpty met null or empty)")
        }
    }
    Ok(())
}

fn check(path: &PathBuf) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let job = Job::parse(&text, &scim::Registry::rfc7643())
        .map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))?;
    println!(
        "{}: ok{}",
        path.display(),
        job.name.map(|n| format!(" (job {n})")).unwrap_or_default()
    );
    for o in &job.objects {
        println!(
            "  {} ({}): {} mappings, {} scoping filters",
            o.name,
            o.resource_type,
            o.mappings.len(),
            o.scope.groups.len()
        );
    }
    Ok(())
}
