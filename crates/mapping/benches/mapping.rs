//! Mapping one HR record with the example HR → directory job (27 attribute mappings, 20 of
//! them expressions or direct copies into nested SCIM paths). Issue 7's target on the 2-core
//! dev machine: under 20 µs per record for the whole mapping.
//!
//! Run with `cargo bench -p mapping`.

use std::hint::black_box;
use std::sync::LazyLock;

use divan::Bencher;
use mapping::job::{Job, Phase};
use mapping::{Expression, FixedContext, Record};
use scim::Registry;

fn main() {
    divan::main();
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::rfc7643);

const JOB: &str = include_str!("../../../docs/examples/hr-to-directory.toml");

static COMPILED: LazyLock<Job> = LazyLock::new(|| Job::parse(JOB, &REGISTRY).unwrap());

fn worker() -> Record {
    serde_json::json!({
        "WorkerID": "100234", "PreferredFirstName": "Zoë", "PreferredLastName": "Saint-Éloi",
        "LegalFirstName": "Zoë", "LegalLastName": "Saint-Éloi", "Email": "",
        "BusinessTitle": "Product Developer", "Department": "Engineering",
        "CostCenter": "CC-4410", "Company": "Contoso Ltd", "Division": "R&D",
        "ManagerWorkerID": "100001", "WorkPhone": "+1 (425) 555-0100", "MobilePhone": "",
        "WorkCity": "Redmond", "WorkCountryCode": "us", "WorkPostalCode": "98052",
        "WorkStreet": "1 Microsoft Way", "PreferredLanguage": "en-US",
        "EmploymentStatus": "Active", "WorkerType": "Employee",
        "HireDate": "2024-03-18-07:00", "ContractEndDate": "", "Prefix": "3443"
    })
    .as_object()
    .unwrap()
    .clone()
}

/// Scope check plus every mapping of an update (what each incremental cycle does per record).
#[divan::bench]
fn map_record_update(b: Bencher) {
    let users = COMPILED.object("users").unwrap();
    let rec = worker();
    let mut ctx = FixedContext::documentation();
    b.bench_local(|| {
        assert!(users.in_scope(black_box(&rec)));
        users
            .map(&REGISTRY, black_box(&rec), &mut ctx, Phase::Update)
            .unwrap()
    });
}

/// A create: adds the unique userName look-ups and the random password.
#[divan::bench]
fn map_record_create(b: Bencher) {
    let users = COMPILED.object("users").unwrap();
    let rec = worker();
    let mut ctx = FixedContext::documentation();
    b.bench_local(|| {
        users
            .map(&REGISTRY, black_box(&rec), &mut ctx, Phase::Create)
            .unwrap()
    });
}

/// Only the expressions of the job, without writing the SCIM fragment.
#[divan::bench]
fn evaluate_expressions_only(b: Bencher) {
    let users = COMPILED.object("users").unwrap();
    let exprs: Vec<&Expression> = users
        .mappings
        .iter()
        .filter_map(|m| match &m.source {
            mapping::job::MappingSource::Expression(x) => Some(x),
            _ => None,
        })
        .collect();
    let rec = worker();
    let mut ctx = FixedContext::documentation();
    b.bench_local(|| {
        for x in &exprs {
            black_box(x.evaluate(black_box(&rec), &mut ctx).unwrap());
        }
    });
}

/// Loading the job: parse the TOML and check every expression and clause.
#[divan::bench]
fn parse_and_check_job() -> Job {
    Job::parse(black_box(JOB), &REGISTRY).unwrap()
}
