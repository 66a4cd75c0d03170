//! "Did you mean": the known name closest to a misspelt one, and the names a struct knows,
//! read from its own `Deserialize` implementation so the list cannot drift from the code.

use serde::de::{self, Deserialize, Visitor};

/// The known name most like `word`, if one is close enough (Jaro similarity of at least 0.8,
/// the rule clap uses for flags).
pub(crate) fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro(word, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// `unknown field `idael`: did you mean `ideal`?`, or the list of known names when none is
/// close.
pub(crate) fn unknown(what: &str, word: &str, known: &[&str]) -> String {
    match closest(word, known) {
        Some(k) => format!("unknown {what} `{word}`: did you mean `{k}`?"),
        None => {
            let all: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            format!("unknown {what} `{word}` (known: {})", all.join(", "))
        }
    }
}

/// The field names of the struct `T` as its derived `Deserialize` declares them.
pub(crate) fn fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut found: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut found));
    found
}

/// A deserializer that only records the fields a struct asks for, then stops.
struct Fields<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for Fields<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Case {
        id: String,
        ideal: Option<String>,
        #[serde(rename = "max_output_tokens")]
        max: Option<u32>,
    }

    #[test]
    fn a_struct_names_its_fields_and_a_typo_finds_the_closest() {
        let known = fields::<Case>();
        assert_eq!(known, ["id", "ideal", "max_output_tokens"]);
        assert_eq!(
            unknown("field", "idael", known),
            "unknown field `idael`: did you mean `ideal`?"
        );
        assert_eq!(
            unknown("field", "zzz", known),
            "unknown field `zzz` (known: `id`, `ideal`, `max_output_tokens`)"
        );
        assert_eq!(closest("max_tokens", known), Some("max_output_tokens"));
    }
}
