//! Ordinary-looking values for generated JSON: a name for `name`, an address for `email`, a
//! small count for `party_size`, a price for `price`, always within the schema's bounds and
//! chosen deterministically from the prompt and the field, so a client's validation and
//! display logic sees realistic data and the same request gives the same document.

use sha2::{Digest, Sha256};

/// A number from the prompt and the field's path: the seed of every choice below.
pub fn seed(hint: &str, path: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(hint.as_bytes())
        .chain_update([0])
        .chain_update(path.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

fn pick<'a>(options: &[&'a str], seed: u64) -> &'a str {
    options[(seed % options.len() as u64) as usize]
}

const FIRST: &[&str] = &[
    "Alice", "Ravi", "Maria", "Kenji", "Amara", "Lucas", "Sofia", "Omar",
];
const LAST: &[&str] = &[
    "Martin", "Okafor", "Silva", "Tanaka", "Novak", "Haddad", "Jensen", "Rossi",
];
const CITIES: &[&str] = &[
    "Lisbon", "Nairobi", "Osaka", "Toronto", "Lyon", "Krakow", "Austin", "Porto",
];
const COUNTRIES: &[&str] = &[
    "Portugal", "Kenya", "Japan", "Canada", "France", "Poland", "Brazil", "India",
];
const STREETS: &[&str] = &[
    "Harbour Street",
    "Elm Avenue",
    "Rua Augusta",
    "Station Road",
    "Maple Lane",
];
const COMPANIES: &[&str] = &[
    "Northwind Ltd",
    "Blue Harbor Co",
    "Acme Analytics",
    "Orbital Foods",
];
const COLORS: &[&str] = &["blue", "green", "amber", "red", "teal", "violet"];
const STATUSES: &[&str] = &["active", "pending", "completed"];
const CATEGORIES: &[&str] = &["general", "billing", "travel", "support", "news"];
const WORDS: &[&str] = &[
    "sample", "harbor", "meadow", "signal", "orchid", "summit", "lantern",
];

/// The field name in words: `partySize`, `party_size` and `Party-Size` all give `party size`.
fn words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c == '_' || c == '-' || c == '.' || c == ' ' {
            out.push(' ');
            prev_lower = false;
        } else if c.is_uppercase() && prev_lower {
            out.push(' ');
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else {
            out.extend(c.to_lowercase());
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

fn has(words: &str, any: &[&str]) -> bool {
    words.split(' ').any(|w| any.contains(&w))
}

/// A string for a field called `name`, or `None` when the name says nothing.
pub fn string(name: &str, seed: u64) -> Option<String> {
    let w = words(name);
    let first = pick(FIRST, seed);
    let last = pick(LAST, seed >> 8);
    let s = if has(&w, &["email", "mail"]) {
        format!(
            "{}.{}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        )
    } else if has(&w, &["first", "given"]) {
        first.to_owned()
    } else if has(&w, &["last", "family", "surname"]) {
        last.to_owned()
    } else if has(&w, &["phone", "mobile", "tel", "telephone"]) {
        format!("+1-555-01{:02}", seed % 100)
    } else if has(&w, &["url", "website", "link", "homepage", "uri"]) {
        format!("https://example.com/{}", pick(WORDS, seed))
    } else if has(&w, &["city", "town"]) {
        pick(CITIES, seed).to_owned()
    } else if has(&w, &["country"]) {
        pick(COUNTRIES, seed).to_owned()
    } else if has(&w, &["address", "street"]) {
        format!("{} {}", 1 + seed % 120, pick(STREETS, seed >> 8))
    } else if has(&w, &["company", "organization", "organisation", "employer"]) {
        pick(COMPANIES, seed).to_owned()
    } else if has(&w, &["currency"]) {
        pick(&["EUR", "USD", "JPY", "GBP"], seed).to_owned()
    } else if has(&w, &["language", "lang", "locale"]) {
        pick(&["en", "fr", "pt", "ja"], seed).to_owned()
    } else if has(&w, &["color", "colour"]) {
        pick(COLORS, seed).to_owned()
    } else if has(&w, &["status", "state"]) {
        pick(STATUSES, seed).to_owned()
    } else if has(&w, &["category", "type", "kind", "genre"]) {
        pick(CATEGORIES, seed).to_owned()
    } else if has(&w, &["date", "day", "birthday", "dob"]) {
        format!("2024-{:02}-{:02}", 1 + seed % 12, 1 + (seed >> 8) % 28)
    } else if has(&w, &["time"]) {
        format!("{:02}:{:02}", 8 + seed % 12, 15 * ((seed >> 8) % 4))
    } else if has(
        &w,
        &[
            "id",
            "uuid",
            "identifier",
            "code",
            "sku",
            "reference",
            "ref",
        ],
    ) {
        format!(
            "{}-{:04}",
            pick(WORDS, seed).get(..3).unwrap_or("ref"),
            seed % 10_000
        )
    } else if has(
        &w,
        &[
            "name", "author", "user", "username", "customer", "person", "owner", "contact",
        ],
    ) {
        if has(&w, &["user", "username"]) {
            format!("{}{}", first.to_lowercase(), seed % 100)
        } else {
            format!("{first} {last}")
        }
    } else {
        return None;
    };
    Some(s)
}

/// A word for a string field the name says nothing about.
pub fn word(seed: u64) -> String {
    pick(WORDS, seed).to_owned()
}

/// The ordinary range of a number called `name`: what a person would expect to see.
fn usual_range(name: &str, integer: bool) -> (f64, f64) {
    let w = words(name);
    if has(&w, &["year"]) {
        (2020.0, 2026.0)
    } else if has(&w, &["age"]) {
        (18.0, 80.0)
    } else if has(&w, &["month"]) {
        (1.0, 12.0)
    } else if has(&w, &["day"]) {
        (1.0, 28.0)
    } else if has(&w, &["hour", "hours"]) {
        (0.0, 23.0)
    } else if has(&w, &["minute", "minutes", "second", "seconds"]) {
        (0.0, 59.0)
    } else if has(&w, &["rating", "stars", "score"]) {
        (1.0, 5.0)
    } else if has(&w, &["percent", "percentage", "pct"]) {
        (5.0, 95.0)
    } else if has(
        &w,
        &[
            "price", "cost", "amount", "total", "fee", "salary", "budget",
        ],
    ) {
        (5.0, 250.0)
    } else if has(&w, &["lat", "latitude"]) {
        (-60.0, 60.0)
    } else if has(&w, &["lon", "lng", "longitude"]) {
        (-150.0, 150.0)
    } else if has(&w, &["temperature", "temp"]) {
        (-5.0, 35.0)
    } else if has(
        &w,
        &["probability", "confidence", "ratio", "weight", "fraction"],
    ) && !integer
    {
        (0.05, 0.95)
    } else if integer {
        (1.0, 12.0)
    } else {
        (1.0, 100.0)
    }
}

/// A number for a field called `name` within `[min, max]` (either may be open), a multiple
/// of `multiple_of` when given: an ordinary value when the bounds allow one, else the bound
/// nearest to the ordinary range.
pub fn number(
    name: &str,
    seed: u64,
    integer: bool,
    min: Option<f64>,
    max: Option<f64>,
    multiple_of: Option<f64>,
) -> f64 {
    let (usual_lo, usual_hi) = usual_range(name, integer);
    let lo = min.unwrap_or(f64::NEG_INFINITY);
    let hi = max.unwrap_or(f64::INFINITY);
    // The part of the ordinary range inside the bounds, or the bound nearest to it.
    let (a, b) = (usual_lo.max(lo), usual_hi.min(hi));
    let (a, b) = if a <= b {
        (a, b)
    } else if hi < usual_lo {
        (hi, hi)
    } else {
        (lo, lo)
    };
    let fraction = (seed % 10_000) as f64 / 10_000.0;
    let mut v = a + (b - a) * fraction;
    v = if integer {
        v.round()
    } else {
        (v * 100.0).round() / 100.0
    };
    if let Some(step) = multiple_of.filter(|s| *s > 0.0) {
        v = (v / step).round() * step;
        if v < lo {
            v += step;
        }
        if v > hi {
            v -= step;
        }
    } else if integer {
        // Rounding may leave the bounds when they are closer than 1 apart.
        if v < lo {
            v = lo.ceil();
        }
        if v > hi {
            v = hi.floor();
        }
    }
    v.clamp(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_ordinary_strings() {
        let s = |n: &str| string(n, seed("book a table", n)).unwrap_or_default();
        assert!(s("email").ends_with("@example.com") && s("email").contains('.'));
        assert!(s("customerEmail").contains('@'));
        assert!(s("full_name").contains(' '));
        assert!(CITIES.contains(&s("city").as_str()));
        assert!(s("phone_number").starts_with("+1-555-"));
        assert!(s("birth_date").starts_with("2024-"));
        assert_eq!(string("zzq", 1), None);
    }

    #[test]
    fn unbounded_and_wide_integers_are_small() {
        let n = |name: &str, min, max| number(name, seed("p", name), true, min, max, None);
        let safe = 9_007_199_254_740_991.0;
        for name in ["count", "x", "party_size", "quantity"] {
            let v = n(name, Some(-safe), Some(safe));
            assert!((1.0..=12.0).contains(&v), "{name}: {v}");
            assert_eq!(v.fract(), 0.0);
        }
        assert!((2020.0..=2026.0).contains(&n("year", None, None)));
        assert!((18.0..=80.0).contains(&n("age", Some(0.0), None)));
    }

    #[test]
    fn bounds_always_win() {
        let v = number("age", 7, true, Some(100.0), Some(120.0), None);
        assert_eq!(v, 100.0, "the bound nearest the usual range");
        let v = number("count", 7, true, Some(-50.0), Some(-40.0), None);
        assert_eq!(v, -40.0);
        let v = number("price", 123, false, Some(0.0), Some(1.0), None);
        assert!((0.0..=1.0).contains(&v));
        let v = number("count", 99, true, None, None, Some(5.0));
        assert_eq!(v % 5.0, 0.0);
        let v = number("n", 3, true, Some(2.5), Some(2.9), None);
        assert!((2.5..=2.9).contains(&v), "no integer fits: clamped, {v}");
    }

    #[test]
    fn the_same_prompt_and_field_give_the_same_value() {
        assert_eq!(seed("a", "b"), seed("a", "b"));
        assert_ne!(seed("a", "b"), seed("a", "c"));
        assert_ne!(seed("ab", ""), seed("a", "b"));
    }
}
