//! Any UTF-8 text as an attribute-mapping expression. Parsing and checking must never panic; an
//! expression that parses renders to text that parses back to the same tree; evaluating an
//! accepted expression on a typical HR record must never panic either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mapping::{Expression, FixedContext, Record};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ast) = mapping::syntax::parse(text) {
        let shown = ast.to_string();
        if shown.len() <= 10_000 {
            let again = mapping::syntax::parse(&shown).expect("rendered expression parses");
            assert_eq!(again.to_string(), shown, "{text:?} renders as {shown:?}");
        }
    }
    let Ok(expr) = Expression::parse(text) else {
        return;
    };
    let record: Record = serde_json::from_str(
        r#"{"givenName":"Zoë","surname":"O'Brien","employeeId":"00042","department":"Sales",
            "hireDate":"2024-03-01T08:00:00Z","accountExpires":"133000000000000000",
            "mail":"zoe.obrien@contoso.com","manager":null,"proxyAddresses":["SMTP:a@b","smtp:c@d"]}"#,
    )
    .expect("fixed record");
    let mut ctx = FixedContext::new(time::OffsetDateTime::UNIX_EPOCH, 7);
    let _ = expr.evaluate(&record, &mut ctx);
});
