//! The mapping crate through its public surface: every documented example, whole error
//! messages, the laws of the language as properties, and job files.

mod examples {
    use mapping::functions::{FUNCTIONS, render_reference};
    use mapping::{Expression, FixedContext, Flow, Record};

    fn record(json: &str) -> Record {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("bad example record {json}: {e}"))
    }

    /// Runs one example in the documentation's context and renders the result the way the
    /// table writes it.
    fn run(expr: &str, rec: &str) -> String {
        let x = match Expression::parse(expr) {
            Ok(x) => x,
            Err(e) => return format!("error: {e}"),
        };
        let mut ctx = FixedContext::documentation();
        match x.evaluate(&record(rec), &mut ctx) {
            Ok(out) => match out.flow {
                Flow::Set(v) => v.to_json().to_string(),
                Flow::Ignore => "(dropped)".into(),
            },
            Err(e) => format!("error: {}", e.parse_error().message),
        }
    }

    #[test]
    fn every_documented_example_gives_its_result() {
        let mut failures = Vec::new();
        for f in FUNCTIONS {
            for ex in f.examples {
                let got = run(ex.expr, ex.record);
                let want = match ex.result {
                    r if r.starts_with("error:") || r == "(dropped)" => r.to_owned(),
                    r => serde_json::from_str::<serde_json::Value>(r)
                        .unwrap_or_else(|e| panic!("{}: bad expected JSON {r}: {e}", f.name))
                        .to_string(),
                };
                if got != want {
                    failures.push(format!(
                        "{}: {}\n  want {want}\n  got  {got}",
                        f.name, ex.expr
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    const BEGIN: &str = "<!-- BEGIN GENERATED: functions (crates/mapping/src/functions.rs) -->\n";
    const END: &str = "<!-- END GENERATED: functions -->";

    /// The function reference in `docs/mapping-language.md` is rendered from the same table
    /// the tests above run. `UPDATE_DOCS=1 cargo test -p mapping` rewrites it.
    #[test]
    fn the_reference_document_matches_the_table() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/mapping-language.md"
        );
        let doc = std::fs::read_to_string(path).expect("docs/mapping-language.md");
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("docs/mapping-language.md lacks the generated-section markers");
        };
        let current = &doc[b + BEGIN.len()..e];
        let want = render_reference();
        if current != want {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                let updated = format!("{}{BEGIN}{want}{}", &doc[..b], &doc[e..]);
                std::fs::write(path, updated).unwrap();
            } else {
                panic!(
                    "docs/mapping-language.md is out of date with functions.rs; run \
                     UPDATE_DOCS=1 cargo test -p mapping"
                );
            }
        }
    }

    #[test]
    fn doc_grammar_examples_parse() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/mapping-language.md"
        );
        let doc = std::fs::read_to_string(path).unwrap();
        // Every ```expression block outside the generated section must check.
        let mut n = 0;
        for block in doc.split("```expression\n").skip(1) {
            let text = block.split("```").next().unwrap().trim();
            Expression::parse(text).unwrap_or_else(|e| panic!("{text}\n{e}"));
            n += 1;
        }
        assert!(
            n >= 3,
            "expected expression blocks in the document, found {n}"
        );
    }
}

mod errors {
    use mapping::{Expression, FixedContext, SourceAttributes};

    fn check(src: &str) -> String {
        Expression::parse(src).unwrap_err().to_string()
    }

    fn check_with(src: &str, attrs: &[&str]) -> String {
        Expression::compile(src, Some(&SourceAttributes::new(attrs.iter().copied())))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_function() {
        assert_eq!(
            check(r#"Lft([name], 3)"#),
            "unknown function Lft; did you mean Left? at column 1\n  Lft([name], 3)\n  ^^^"
        );
        assert_eq!(
            check(r#"Append(toLower([a]), "x")"#),
            "unknown function toLower; function names are case-sensitive: did you mean \
             ToLower? at column 8\n  Append(toLower([a]), \"x\")\n         ^^^^^^^"
        );
    }

    #[test]
    fn arity() {
        assert_eq!(
            check(r#"Left([a])"#),
            "Left takes 2 arguments, got 1; its form is Left(string, numChars) at column 1\n  \
             Left([a])\n  ^^^^"
        );
        assert_eq!(
            check(r#"Switch([a], "d", "k")"#),
            "Switch takes source, defaultValue and key/value pairs (an even number of at \
             least 4 arguments), got 3; its form is Switch(source, defaultValue, key1, value1, \
             key2, value2, …) at column 1\n  Switch([a], \"d\", \"k\")\n  ^^^^^^"
        );
        assert_eq!(
            check(r#"Join(",")"#),
            "Join takes at least 2 arguments, got 1; its form is Join(separator, source1, \
             source2, …) at column 1\n  Join(\",\")\n  ^^^^"
        );
        assert_eq!(
            check(r#"Now(1)"#),
            "Now takes no arguments, got 1; its form is Now() at column 1\n  Now(1)\n  ^^^"
        );
    }

    #[test]
    fn literal_kinds() {
        assert_eq!(
            check(r#"Left([a], "three")"#),
            "numChars of Left must be a whole number at column 11\n  Left([a], \"three\")\n  \
             \x20         ^^^^^^^"
        );
        assert_eq!(
            check(r#"Item([a], 0)"#),
            "index of Item must be at least 1, got 0 at column 11\n  Item([a], 0)\n            ^"
        );
        assert_eq!(
            check(r#"DateAdd("days", 1, Now())"#),
            "unknown interval \"days\"; use one of yyyy, q, m, y, d, w, ww, h, n, s at column \
             9\n  DateAdd(\"days\", 1, Now())\n          ^^^^^^"
        );
        assert_eq!(
            check(r#"FormatDateTime([d], , "yyyy'MM", "o")"#),
            "the quote ' in the format is never closed at column 23\n  \
             FormatDateTime([d], , \"yyyy'MM\", \"o\")\n                        ^^^^^^^^^"
        );
        assert_eq!(
            check(r#"InStr([a], "b", 1, vbFast)"#),
            "unknown name 'vbFast'; attributes are written in brackets ([vbFast]) and \
             functions with parentheses (vbFast(…)) at column 20\n  \
             InStr([a], \"b\", 1, vbFast)\n                     ^^^^^^"
        );
        assert_eq!(
            check(r#"Left(vbTextCompare, 1)"#),
            "vbTextCompare is only meaningful as the compareType of InStr at column 6\n  \
             Left(vbTextCompare, 1)\n       ^^^^^^^^^^^^^"
        );
        assert_eq!(
            check(r#"Left(, 1)"#),
            "argument 1 (string) of Left cannot be left empty at column 1\n  Left(, 1)\n  \
             ^^^^^^^^^"
        );
    }

    #[test]
    fn regexes() {
        assert_eq!(
            check(r#"Replace([a], , "(?<x>\\d+", , "", , )"#),
            "invalid regular expression: unclosed group at column 16\n  \
             Replace([a], , \"(?<x>\\\\d+\", , \"\", , )\n                 ^^^^^^^^^^^"
        );
        assert_eq!(
            check(r#"Replace([a], , "(?<x>\\d+)", "y", "", , )"#),
            "regexPattern has no group named \"y\" at column 30\n  \
             Replace([a], , \"(?<x>\\\\d+)\", \"y\", \"\", , )\n                               ^^^"
        );
        let huge = r#"Replace([a], , "\\w{1000}{1000}", , "", , )"#;
        assert!(
            check(huge).starts_with("regular expression is too big"),
            "{}",
            check(huge)
        );
        assert_eq!(
            check(r#"Replace([a], "x", "y", , "z", , )"#),
            "Replace takes oldValue or regexPattern, not both at column 1\n  \
             Replace([a], \"x\", \"y\", , \"z\", , )\n  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
        );
    }

    #[test]
    fn unknown_attribute_when_the_source_is_known() {
        assert_eq!(
            check_with(
                r#"Join(" ", [FirstName], [LastNme])"#,
                &["FirstName", "LastName"]
            ),
            "unknown source attribute [LastNme]; did you mean [LastName]? at column 24\n  \
             Join(\" \", [FirstName], [LastNme])\n                         ^^^^^^^^^"
        );
        // Case differences and paths into known complex attributes are fine.
        Expression::compile(
            "Join(\" \", [firstname], [name.givenName])",
            Some(&SourceAttributes::new(["FirstName", "name"])),
        )
        .unwrap();
    }

    #[test]
    fn select_unique_value_only_at_the_top() {
        assert_eq!(
            check(r#"ToLower(SelectUniqueValue([a], [b]))"#),
            "SelectUniqueValue must be the whole expression, not nested in another at column \
             9\n  ToLower(SelectUniqueValue([a], [b]))\n          ^^^^^^^^^^^^^^^^^"
        );
    }

    #[test]
    fn bounds() {
        let long = format!("\"{}\"", "x".repeat(10_000));
        assert!(check(&long).starts_with(
            "expression is longer than 10000 characters (Entra's limit) at column 10001"
        ));
        let deep = format!("{}[a]{}", "Trim(".repeat(101), ")".repeat(101));
        assert!(
            check(&deep)
                .starts_with("functions are nested more than 100 levels deep at column 501"),
            "{}",
            check(&deep)
        );
        let ok = format!("{}[a]{}", "Trim(".repeat(100), ")".repeat(100));
        Expression::parse(&ok).unwrap();
    }

    #[test]
    fn evaluation_errors_point_at_the_argument() {
        let x = Expression::parse(r#"Append(CDate([hired]), "x")"#).unwrap();
        let rec = serde_json::json!({"hired": "next Tuesday"});
        let err = x
            .evaluate(rec.as_object().unwrap(), &mut FixedContext::documentation())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"next Tuesday\" is not a date at column 14\n  Append(CDate([hired]), \"x\")\n  \
             \x20            ^^^^^^^"
        );
        let x = Expression::parse(r#"ToUpper([proxyAddresses])"#).unwrap();
        let rec = serde_json::json!({"proxyAddresses": ["a", "b"]});
        let err = x
            .evaluate(rec.as_object().unwrap(), &mut FixedContext::documentation())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a single value, got a multi-valued attribute at column 9\n  \
             ToUpper([proxyAddresses])\n          ^^^^^^^^^^^^^^^^"
        );
    }
}

mod semantics {
    use mapping::{Expression, FixedContext, Flow, Value};
    use serde_json::json;

    fn eval(src: &str, rec: serde_json::Value) -> Flow {
        let x = Expression::parse(src).unwrap_or_else(|e| panic!("{e}"));
        x.evaluate(rec.as_object().unwrap(), &mut FixedContext::documentation())
            .unwrap_or_else(|e| panic!("{e}"))
            .flow
    }

    fn s(v: &str) -> Flow {
        Flow::Set(Value::String(v.into()))
    }

    #[test]
    fn null_handling() {
        assert_eq!(
            eval("Append([x], \".test\")", json!({})),
            Flow::Set(Value::Null)
        );
        assert_eq!(eval("Word([x], 1, \" \")", json!({})), s(""));
        assert_eq!(eval("Mid([x], 1, 2)", json!({})), s(""));
        assert_eq!(eval("Coalesce([a], [b], \"\")", json!({})), s(""));
        assert_eq!(eval("Coalesce([a], \"d\")", json!({"a": ""})), s(""));
        assert_eq!(
            eval("Not([missing])", json!({})),
            Flow::Set(Value::Boolean(true))
        );
        assert_eq!(
            eval("IIF([a] <> \"x\", 1, 2)", json!({})),
            Flow::Set(Value::Number(2))
        );
    }

    #[test]
    fn comparisons_pick_a_type() {
        let yes = Flow::Set(Value::Boolean(true));
        assert_eq!(eval("CBool([n] > 9)", json!({"n": "10"})), yes);
        assert_eq!(eval("CBool([t] > \"9\")", json!({"t": "a10"})), yes);
        assert_eq!(eval("CBool([b] = \"True\")", json!({"b": true})), yes);
        assert_eq!(
            eval("CBool(CDate([d]) < Now())", json!({"d": "2020-01-01"})),
            yes
        );
    }

    #[test]
    fn laziness() {
        assert_eq!(
            eval("IIF(True, \"ok\", Error(\"boom\"))", json!({})),
            s("ok")
        );
        assert_eq!(
            eval("Coalesce(\"ok\", Error(\"boom\"))", json!({})),
            s("ok")
        );
        assert_eq!(
            eval("IgnoreFlowIfNullOrEmpty(Join(\",\", [a]))", json!({})),
            Flow::Ignore
        );
    }

    #[test]
    fn redact_and_additive_are_reported() {
        let x = Expression::parse("Redact(AppRoleAssignmentsComplex([roles]))").unwrap();
        let rec = json!({"roles": ["A"]});
        let out = x
            .evaluate(rec.as_object().unwrap(), &mut FixedContext::documentation())
            .unwrap();
        assert!(out.redacted && out.additive);
    }

    #[test]
    fn select_unique_value_fails_when_all_taken() {
        let x = Expression::parse("SelectUniqueValue(\"a\", \"b\")").unwrap();
        let mut ctx = FixedContext::documentation().with_taken(["a", "b"]);
        let err = x.evaluate(&Default::default(), &mut ctx).unwrap_err();
        assert_eq!(
            err.parse_error().message,
            "SelectUniqueValue found no free value; taken in the target: a, b"
        );
    }

    #[test]
    fn random_string_honours_its_minimums() {
        let x = Expression::parse("RandomString(12, 3, 2, 3, 2, \"0O1l\")").unwrap();
        let mut ctx = FixedContext::new(time::OffsetDateTime::UNIX_EPOCH, 99);
        for _ in 0..50 {
            let out = x.evaluate(&Default::default(), &mut ctx).unwrap();
            let Flow::Set(Value::String(s)) = out.flow else {
                panic!()
            };
            assert_eq!(s.chars().count(), 12);
            assert!(s.chars().filter(char::is_ascii_digit).count() >= 3, "{s}");
            assert!(
                s.chars().filter(char::is_ascii_uppercase).count() >= 3,
                "{s}"
            );
            assert!(
                s.chars().filter(char::is_ascii_lowercase).count() >= 2,
                "{s}"
            );
            assert!(
                s.chars().filter(|c| !c.is_ascii_alphanumeric()).count() >= 2,
                "{s}"
            );
            assert!(!s.contains(['0', 'O', '1', 'l']), "{s}");
        }
    }
}

mod properties {
    use mapping::syntax::{self, CmpOp, Expr, ExprKind};
    use mapping::text::{case_round_trip_exceptions, normalize_diacritics, to_lower, to_upper};
    use proptest::prelude::*;
    use std::sync::LazyLock;

    static EXCEPTIONS: LazyLock<Vec<char>> = LazyLock::new(case_round_trip_exceptions);

    fn leaf() -> impl Strategy<Value = Expr> {
        let kind = prop_oneof![
            "[A-Za-z][A-Za-z0-9 ._:-]{0,12}[A-Za-z0-9]".prop_map(ExprKind::Attribute),
            any::<String>().prop_map(ExprKind::String),
            any::<i64>().prop_map(ExprKind::Number),
            any::<bool>().prop_map(ExprKind::Boolean),
            Just(ExprKind::Constant("vbTextCompare".into())),
        ];
        kind.prop_map(|kind| Expr { kind, span: 0..0 })
    }

    fn expr() -> impl Strategy<Value = Expr> {
        leaf().prop_recursive(5, 48, 5, |inner| {
            let call = (
                "[A-Z][A-Za-z]{0,10}",
                prop::collection::vec(prop::option::weighted(0.8, inner.clone()), 0..5),
            )
                .prop_map(|(name, mut args)| {
                    // `F( )` cannot be written: one empty argument is no argument.
                    if args.len() == 1 && args[0].is_none() {
                        args.clear();
                    }
                    Expr {
                        kind: ExprKind::Call {
                            name,
                            name_span: 0..0,
                            args,
                        },
                        span: 0..0,
                    }
                });
            let ops = prop_oneof![
                Just(CmpOp::Eq),
                Just(CmpOp::Ne),
                Just(CmpOp::Gt),
                Just(CmpOp::Ge),
                Just(CmpOp::Lt),
                Just(CmpOp::Le)
            ];
            let cmp = (ops, call.clone(), inner.clone()).prop_map(|(op, lhs, rhs)| {
                let rhs = match rhs.kind {
                    ExprKind::Compare { lhs, .. } => *lhs,
                    _ => rhs,
                };
                Expr {
                    kind: ExprKind::Compare {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span: 0..0,
                }
            });
            prop_oneof![3 => call, 1 => cmp]
        })
    }

    proptest! {
        #[test]
        fn normalize_diacritics_is_idempotent(s in any::<String>()) {
            let once = normalize_diacritics(&s);
            prop_assert_eq!(normalize_diacritics(&once), once);
        }

        #[test]
        fn normalize_diacritics_on_latin_text(s in "[a-zA-ZÀ-ɏ ]{0,30}") {
            let once = normalize_diacritics(&s);
            prop_assert_eq!(normalize_diacritics(&once), once.clone());
            let accented = once.chars().any(|c| ('\u{0300}'..='\u{036F}').contains(&c));
            prop_assert!(!accented);
        }

        #[test]
        fn lower_of_upper_is_lower(s in any::<String>()) {
            let s: String = s.chars().filter(|c| !EXCEPTIONS.contains(c)).collect();
            prop_assert_eq!(to_lower(&to_upper(&s, None), None), to_lower(&s, None));
        }

        #[test]
        fn parse_of_display_is_the_same_tree(e in expr()) {
            let text = e.to_string();
            let back = syntax::parse(&text);
            prop_assert!(back.is_ok(), "{} did not parse: {:?}", text, back);
            prop_assert_eq!(back.unwrap(), e);
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,80}") {
            let _ = mapping::Expression::parse(&s);
        }

        #[test]
        fn parser_never_panics_on_near_misses(
            s in r#"[A-Za-z]{1,6}\(([\[\]"\\,() =<>&H0-9a-z-]{0,30})\)"#
        ) {
            let _ = mapping::Expression::parse(&s);
        }
    }
}

mod jobs {
    use mapping::job::{Job, JobError, Phase};
    use mapping::{FixedContext, Record};
    use scim::Registry;
    use serde_json::json;

    const EXAMPLE: &str = include_str!("../../../docs/examples/hr-to-directory.toml");

    fn worker() -> Record {
        json!({
            "WorkerID": "100234",
            "PreferredFirstName": "Zoë",
            "PreferredLastName": "Saint-Éloi",
            "LegalFirstName": "Zoë",
            "LegalLastName": "Saint-Éloi",
            "Email": "",
            "BusinessTitle": "Product Developer",
            "Department": "Engineering",
            "CostCenter": "CC-4410",
            "Company": "Contoso Ltd",
            "Division": "R&D",
            "ManagerWorkerID": "100001",
            "WorkPhone": "+1 (425) 555-0100",
            "MobilePhone": "",
            "WorkCity": "Redmond",
            "WorkCountryCode": "us",
            "WorkPostalCode": "98052",
            "WorkStreet": "1 Microsoft Way",
            "PreferredLanguage": "en-US",
            "EmploymentStatus": "Active",
            "WorkerType": "Employee",
            "HireDate": "2024-03-18-07:00",
            "ContractEndDate": "",
            "Prefix": "3443"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn the_example_job_parses_and_checks() {
        let job = Job::parse(EXAMPLE, &Registry::rfc7643()).unwrap_or_else(|e| panic!("{e}"));
        let users = job.object("users").unwrap();
        assert!(users.mappings.len() >= 20, "{}", users.mappings.len());
        assert_eq!(job.default_domain.as_deref(), Some("contoso.com"));
    }

    #[test]
    fn the_example_job_maps_a_worker() {
        let registry = Registry::rfc7643();
        let job = Job::parse(EXAMPLE, &registry).unwrap();
        let users = job.object("users").unwrap();
        let rec = worker();
        assert!(users.in_scope(&rec));
        let mut ctx = FixedContext::documentation().with_taken(["zoe.saint-eloi@contoso.com"]);
        let frag = users.map(&registry, &rec, &mut ctx, Phase::Create).unwrap();
        let r = &frag.resource;
        assert_eq!(r["externalId"], "100234");
        assert_eq!(r["userName"], "z.saint-eloi@contoso.com");
        assert_eq!(r["name"]["givenName"], "Zoë");
        assert_eq!(r["displayName"], "Zoë Saint-Éloi");
        assert_eq!(r["title"], "Software Engineer");
        assert_eq!(r["active"], true);
        assert_eq!(
            r["emails"][0],
            json!({"type": "work", "value": "z.saint-eloi@contoso.com", "primary": true})
        );
        assert_eq!(
            r["phoneNumbers"][0],
            json!({"type": "work", "value": "+14255550100"})
        );
        assert_eq!(r["addresses"][0]["country"], "US");
        let ent = &r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
        assert_eq!(ent["employeeNumber"], "100234");
        assert_eq!(ent["costCenter"], "CC-4410");
        assert_eq!(ent["manager"]["value"], "100001");
        assert_eq!(
            r["schemas"],
            json!([
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ])
        );
        assert_eq!(frag.matching[0].value, "100234");
        assert!(
            frag.dropped
                .contains(&"phoneNumbers[type eq \"mobile\"].value".to_string())
        );

        // On update, create-only mappings and defaults stay out.
        let frag = users.map(&registry, &rec, &mut ctx, Phase::Update).unwrap();
        assert!(frag.resource.get("userName").is_none());
        assert!(frag.resource.get("password").is_none());
    }

    #[test]
    fn out_of_scope_workers() {
        let registry = Registry::rfc7643();
        let job = Job::parse(EXAMPLE, &registry).unwrap();
        let users = job.object("users").unwrap();
        let mut rec = worker();
        rec.insert("WorkerType".into(), json!("Contractor"));
        rec.insert("ContractEndDate".into(), json!(""));
        assert!(!users.in_scope(&rec));
        rec.insert("ContractEndDate".into(), json!("2030-12-31-08:00"));
        assert!(users.in_scope(&rec));
        rec.insert("EmploymentStatus".into(), json!("Terminated"));
        assert!(!users.in_scope(&rec));
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = r#"
            [source]
            attributes = ["id", "first", "last"]

            [[object]]
            name = "users"
            resource_type = "User"

            [[object.scoping]]
            clauses = [{ attribute = "frist", operator = "EQUALS", value = "x" }]

            [[object.mapping]]
            target = "userName"
            expression = 'SelectUniqueValue([first], [last])'

            [[object.mapping]]
            target = "name.nickName"
            source = "first"

            [[object.mapping]]
            target = "displayName"
            expression = 'Join(" ", [first], [lsat])'

            [[object.mapping]]
            target = "title"
            source = "first"
            constant = "x"
        "#;
        let Err(JobError::Invalid(diags)) = Job::parse(text, &Registry::rfc7643()) else {
            panic!("expected diagnostics");
        };
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "object \"users\": scoping filter 1, clause 1: unknown source attribute \
                 \"frist\"; did you mean \"first\"?",
                "object \"users\", mapping \"userName\": SelectUniqueValue only works on \
                 create: add apply = \"on_create\"",
                "object \"users\", mapping \"name.nickName\": the target has no attribute \
                 \"name.nickName\" in resource type User",
                "object \"users\", mapping \"displayName\": \nunknown source attribute [lsat]; \
                 did you mean [last]? at column 20\n  Join(\" \", [first], [lsat])\n  \
                 \x20                  ^^^^^^",
                "object \"users\", mapping \"title\": give exactly one of source, constant \
                 and expression",
            ]
        );
    }

    #[test]
    fn toml_errors_and_unknown_keys() {
        let err = Job::parse(
            "[[object]]\nname = \"u\"\nresource_type = \"User\"\n[[object.mapping]]\ntarget = \
             \"title\"\nsource = \"a\"\naply = \"on_create\"\n",
            &Registry::rfc7643(),
        )
        .unwrap_err();
        let JobError::Toml(msg) = err else { panic!() };
        assert!(msg.contains("unknown field `aply`"), "{msg}");
    }

    #[test]
    fn defaults_apply_on_create_only() {
        let text = r#"
            [[object]]
            name = "users"
            resource_type = "User"
            [[object.mapping]]
            target = "title"
            source = "jobTitle"
            default = "Staff"
            [[object.mapping]]
            target = "userName"
            source = "upn"
        "#;
        let registry = Registry::rfc7643();
        let job = Job::parse(text, &registry).unwrap();
        let users = job.object("users").unwrap();
        let rec = json!({"upn": "a@b.c"}).as_object().unwrap().clone();
        let mut ctx = FixedContext::documentation();
        let created = users.map(&registry, &rec, &mut ctx, Phase::Create).unwrap();
        assert_eq!(created.resource["title"], "Staff");
        let updated = users.map(&registry, &rec, &mut ctx, Phase::Update).unwrap();
        assert!(updated.resource.get("title").is_none());
        assert_eq!(updated.resource["userName"], "a@b.c");
    }
}
