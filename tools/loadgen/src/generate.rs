//! Realistic synthetic users: what an HR export of a multinational looks like.
//!
//! Names carry diacritics and non-Latin-1 letters (so folding and case-insensitive matching are
//! exercised), each user has a work and a private email, a phone, an address and the enterprise
//! extension (employee number, cost centre, division, department, manager). Managers form a
//! tree with eight reports per manager and are named by the manager's `externalId`, the HR
//! employee id, as HR systems name them; every manager comes earlier in the output than the
//! reports, so `scimsync import` can resolve them to directory ids in one streaming pass.
//!
//! Output is a pure function of `--seed`, `--start` and `--count`, so a benchmark can be
//! reproduced exactly.

use std::io::{BufWriter, Write};

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const GIVEN: &[&str] = &[
    "José",
    "Zoë",
    "Chloé",
    "Søren",
    "Łukasz",
    "Björn",
    "François",
    "Željko",
    "Ayşe",
    "Mária",
    "Jürgen",
    "Renée",
    "Ólafur",
    "Dagný",
    "Thảo",
    "Siobhán",
    "Øystein",
    "Inês",
    "Małgorzata",
    "Agnès",
    "Ömer",
    "Çağla",
    "Núria",
    "Jiří",
    "Dvořák",
    "Kārlis",
    "Aušra",
    "Gréta",
    "Håkon",
    "Anaïs",
    "Noël",
    "Zoltán",
    "Ebru",
    "Radosław",
    "Bárbara",
    "Léa",
    "Maëlle",
    "Mateusz",
    "Ana",
    "John",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Sophia",
    "Hiroshi",
    "Priya",
    "Wei",
    "Fatima",
    "Amir",
    "Elif",
    "Kofi",
    "Ngozi",
    "Mohammed",
    "Sven",
    "Ingrid",
    "Pablo",
    "Lucía",
    "Tomás",
];

const FAMILY: &[&str] = &[
    "Núñez",
    "Müller",
    "Ólafsdóttir",
    "Nguyễn",
    "Dvořák",
    "Wróblewski",
    "Łęcki",
    "Gonçalves",
    "Søndergaard",
    "Çelik",
    "Öztürk",
    "Šimić",
    "Kovač",
    "Hämäläinen",
    "Åberg",
    "Ñúñez",
    "Lefèvre",
    "Brontë",
    "Żółtowski",
    "Peña",
    "García",
    "Schröder",
    "Fößel",
    "Ångström",
    "Đorđević",
    "Băsescu",
    "Þórsson",
    "Mäkinen",
    "Ivanović",
    "Krüger",
    "Jensen",
    "Smith",
    "Johnson",
    "Tanaka",
    "Kim",
    "Patel",
    "Okafor",
    "Haddad",
    "Rossi",
    "Dubois",
    "O'Brien",
    "van der Berg",
    "de la Cruz",
    "MacLeod",
    "Nakamura",
    "Svensson",
    "Kowalczyk",
    "Horváth",
];

const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Finance",
    "Human Resources",
    "Marketing",
    "Legal",
    "Customer Success",
    "Operations",
    "Research & Development",
    "Procurement",
];

const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Account Executive",
    "Analyst",
    "Manager",
    "Director",
    "Specialist",
    "Consultant",
    "Coordinator",
    "Vice President",
];

/// City, region, country code, locale, time zone.
const PLACES: &[(&str, &str, &str, &str, &str)] = &[
    ("München", "Bayern", "DE", "de-DE", "Europe/Berlin"),
    ("Kraków", "Małopolskie", "PL", "pl-PL", "Europe/Warsaw"),
    ("São Paulo", "SP", "BR", "pt-BR", "America/Sao_Paulo"),
    (
        "Reykjavík",
        "Höfuðborgarsvæðið",
        "IS",
        "is-IS",
        "Atlantic/Reykjavik",
    ),
    ("Zürich", "ZH", "CH", "de-CH", "Europe/Zurich"),
    ("Malmö", "Skåne", "SE", "sv-SE", "Europe/Stockholm"),
    ("Montréal", "QC", "CA", "fr-CA", "America/Toronto"),
    ("İstanbul", "İstanbul", "TR", "tr-TR", "Europe/Istanbul"),
    ("Hà Nội", "Hà Nội", "VN", "vi-VN", "Asia/Ho_Chi_Minh"),
    ("Seattle", "WA", "US", "en-US", "America/Los_Angeles"),
    ("Tokyo", "Tōkyō", "JP", "ja-JP", "Asia/Tokyo"),
    ("Lagos", "Lagos", "NG", "en-NG", "Africa/Lagos"),
];

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Reports per manager in the generated org chart.
const FAN_OUT: u64 = 8;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Number of users.
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
    /// Index of the first user: `--start 100000 --count 900000` continues a file of 100,000.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Seed of the pseudo-random choices; the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Email domain.
    #[arg(long, default_value = "example.com")]
    pub domain: String,
}

/// Writes `args.count` users to stdout, one JSON object a line.
pub fn write(args: &GenerateArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut users = Users::new(args.seed, &args.domain, "");
    for n in args.start..args.start + args.count {
        serde_json::to_writer(&mut out, &users.user(n))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// A deterministic source of users.
#[derive(Debug)]
pub struct Users {
    rng: StdRng,
    domain: String,
    /// Prepended to `userName` and `externalId`, so that users created by a benchmark run do
    /// not collide with the seeded ones.
    prefix: String,
}

impl Users {
    pub fn new(seed: u64, domain: &str, prefix: &str) -> Users {
        Users {
            rng: StdRng::seed_from_u64(seed),
            domain: domain.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    /// The `externalId` of user `n`.
    pub fn external_id(&self, n: u64) -> String {
        format!("{}E{n:07}", self.prefix)
    }

    /// User number `n`; its `userName`, work email and `externalId` are unique by `n`.
    pub fn user(&mut self, n: u64) -> Value {
        let rng = &mut self.rng;
        let given = GIVEN[rng.random_range(0..GIVEN.len())];
        let family = FAMILY[rng.random_range(0..FAMILY.len())];
        let (city, region, country, locale, tz) = PLACES[rng.random_range(0..PLACES.len())];
        let department = DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())];
        let title = TITLES[rng.random_range(0..TITLES.len())];
        let active = rng.random_range(0..20) != 0;
        let (g, f) = (fold(given), fold(family));
        let user_name = format!("{}{g}.{f}.{n}@{}", self.prefix, self.domain);
        let private = format!("{}{}{f}{n}@mail.example.org", self.prefix, &g[..1]);
        let mut enterprise = json!({
            "employeeNumber": n.to_string(),
            "costCenter": format!("CC-{:03}", n % 97),
            "organization": "Example Group",
            "division": format!("{country} {department}"),
            "department": department,
        });
        if n > 0 {
            enterprise["manager"] = json!({"value": self.external_id((n - 1) / FAN_OUT)});
        }
        json!({
            "schemas": [CORE, ENTERPRISE],
            "externalId": self.external_id(n),
            "userName": user_name,
            "name": {
                "formatted": format!("{given} {family}"),
                "familyName": family,
                "givenName": given,
            },
            "displayName": format!("{given} {family}"),
            "title": title,
            "preferredLanguage": locale,
            "locale": locale,
            "timezone": tz,
            "active": active,
            "emails": [
                {"value": user_name, "type": "work", "primary": true},
                {"value": private, "type": "home"},
            ],
            "phoneNumbers": [
                {"value": format!("+1 555 {:04} {:04}", n / 10_000 % 10_000, n % 10_000), "type": "work"},
            ],
            "addresses": [{
                "type": "work",
                "locality": city,
                "region": region,
                "country": country,
                "primary": true,
            }],
            ENTERPRISE: enterprise,
        })
    }
}

/// Lower-case ASCII for email local parts: diacritics dropped, the letters that do not
/// decompose (ł, ø, ß, æ, þ, đ) spelt out, anything else removed. A table of the letters the
/// name lists use, rather than a Unicode normalisation dependency.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.to_lowercase().chars() {
        let r = match c {
            'a'..='z' | '0'..='9' => {
                out.push(c);
                continue;
            }
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ā' | 'ă' | 'ą' | 'ả' => "a",
            'ç' | 'č' | 'ć' => "c",
            'é' | 'è' | 'ê' | 'ë' | 'ě' | 'ē' | 'ę' | 'ễ' => "e",
            'í' | 'ì' | 'î' | 'ï' | 'ı' => "i",
            'ñ' | 'ń' | 'ň' => "n",
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ő' | 'ō' => "o",
            'ú' | 'ù' | 'û' | 'ü' | 'ů' | 'ű' | 'ū' => "u",
            'ý' | 'ÿ' => "y",
            'ž' | 'ź' | 'ż' => "z",
            'š' | 'ś' | 'ş' | 'ș' => "s",
            'ł' => "l",
            'ř' => "r",
            'đ' | 'ð' => "d",
            'ť' | 'ţ' | 'ț' => "t",
            'ğ' => "g",
            'ß' => "ss",
            'æ' => "ae",
            'þ' => "th",
            _ => "",
        };
        out.push_str(r);
    }
    if out.is_empty() {
        out.push('x');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_spells_out_letters_without_decomposition() {
        assert_eq!(fold("Łukasz"), "lukasz");
        assert_eq!(fold("Ólafsdóttir"), "olafsdottir");
        assert_eq!(fold("Fößel"), "fossel");
        assert_eq!(fold("van der Berg"), "vanderberg");
        assert_eq!(fold("Þórsson"), "thorsson");
    }

    #[test]
    fn same_seed_same_users_and_managers_come_first() {
        let a = Users::new(7, "example.com", "").user(42);
        let b = Users::new(7, "example.com", "").user(42);
        assert_eq!(a, b);
        assert_eq!(a["externalId"], "E0000042");
        assert_eq!(a[ENTERPRISE]["manager"]["value"], "E0000005");
        assert!(a["userName"].as_str().unwrap().ends_with(".42@example.com"));
    }
}
