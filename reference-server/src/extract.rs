//! `ApiJson<T>`: our JSON body extractor. Every way a body can be wrong (wrong content type,
//! too large, not JSON, not an object, unknown field, wrong type) becomes an `ApiError`
//! envelope with `param` set where one parameter is to blame.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::Bytes;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A request body type: its fields, and how the API words an unknown one.
pub trait ApiRequest: DeserializeOwned {
    /// Every top-level field the API accepts.
    const FIELDS: &'static [&'static str];
    /// The top-level fields that must be present (`null` counts as present, and is then
    /// refused for its type).
    const REQUIRED: &'static [&'static str] = &[];
    /// Whether the route also takes `application/x-www-form-urlencoded` bodies and an empty
    /// body (as `{}`), as Open Responses allows for creating a response.
    const FORM: bool = false;
    /// Fields that hold text even when a form value would read as JSON (`input=42`).
    const TEXT_FIELDS: &'static [&'static str] = &[];
    /// The error for an unknown top-level field.
    fn unknown_field(name: &str) -> ApiError {
        ApiError::unknown_param(name)
    }
}

/// A parsed, checked JSON body; `.1` keeps the raw value for fields parsed by hand.
#[derive(Debug)]
pub struct ApiJson<T>(pub T, pub Value);

// The limits come from the app's configuration, the same for every request.
impl<T: ApiRequest> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let media = media_type(&req);
        let form = T::FORM && media == "application/x-www-form-urlencoded";
        // Open Responses makes the body optional: without a content type, an empty body is
        // `{}` (anything else still needs a content type).
        let bare = T::FORM && media.is_empty();
        if !form && !bare {
            check_content_type(&req)?;
        }
        let limits = &state.config.limits;
        let bytes = read_limited(req.into_body(), limits.max_body_bytes).await?;
        if form {
            return parse_value(form_to_json(&bytes, T::TEXT_FIELDS));
        }
        if bare {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return parse_value(Value::Object(serde_json::Map::new()));
            }
            return Err(ApiError::unsupported_media_type("<none>"));
        }
        parse_with_depth(&bytes, limits.max_json_depth)
    }
}

fn media_type(req: &Request) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A form body as the JSON object it stands for: each field a string, except values that read
/// as JSON (numbers, booleans, objects, arrays: `temperature=0.2`, `tools=[…]`); in
/// `text_fields` only objects and arrays are read as JSON (`input=42` is text). A field given
/// more than once is the array of its values.
fn form_to_json(bytes: &[u8], text_fields: &[&str]) -> Value {
    let mut fields: Vec<(String, Vec<Value>)> = Vec::new();
    for (key, text) in form_urlencoded::parse(bytes) {
        let structured = text.starts_with('[') || text.starts_with('{');
        let value = if text_fields.contains(&key.as_ref()) && !structured {
            Value::String(text.into_owned())
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
        };
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => fields.push((key.into_owned(), vec![value])),
        }
    }
    let object = fields
        .into_iter()
        .map(|(key, mut values)| {
            let value = if values.len() == 1 {
                values.remove(0)
            } else {
                Value::Array(values)
            };
            (key, value)
        })
        .collect();
    Value::Object(object)
}

/// How much of an oversized body is read and discarded before answering 413. Reading it
/// lets the caller, who is still uploading, receive the envelope instead of a reset
/// connection; the cap bounds what an abusive caller can make the server read.
const DRAIN_FACTOR: usize = 8;
const MIN_DRAIN: usize = 16 * 1024 * 1024;

pub(crate) async fn read_limited(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total = 0usize;
    let drain_cap = limit.saturating_mul(DRAIN_FACTOR).max(MIN_DRAIN);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_json("the body could not be read"))?;
        total = total.saturating_add(chunk.len());
        if total <= limit {
            kept.extend_from_slice(&chunk);
        } else if total > drain_cap {
            break;
        }
    }
    if total > limit {
        return Err(ApiError::body_too_large(limit));
    }
    Ok(Bytes::from(kept))
}

fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let seen = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("<not text>"))
        .unwrap_or("");
    let media = seen
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" || media.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(if seen.is_empty() {
            "<none>"
        } else {
            seen
        }))
    }
}

/// Whether the JSON text in `bytes` nests arrays and objects deeper than `max_depth`, found
/// by counting brackets outside strings: before parsing, so no parser ever recurses that deep
/// and the answer does not depend on the parser's own limit or wording.
fn nests_deeper_than(bytes: &[u8], max_depth: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses and checks a body, allowing JSON nesting up to `max_depth`.
pub fn parse_with_depth<T: ApiRequest>(
    bytes: &[u8],
    max_depth: usize,
) -> Result<ApiJson<T>, ApiError> {
    if nests_deeper_than(bytes, max_depth) {
        return Err(ApiError::too_deep(max_depth));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(ApiError::bad_json)?;
    parse_value(value)
}

/// An optional integer field. JSON Schema counts `22119.0` as an integer (a number with a
/// zero fraction), and the document says `type: integer`, so such a value is accepted too.
pub fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    use serde::Deserialize as _;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    // Only integral values strictly inside i64's range: an integer literal beyond i64 is
    // read as the nearest f64, which can round to exactly -2^63, so that value is refused.
    const LIMIT: f64 = 9.223_372_036_854_776e18; // 2^63
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f > -LIMIT && f < LIMIT => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!("expected an integer, got {n}"))),
    }
}

#[cfg(test)]
/// Parses and checks a body with the default nesting limit.
pub fn parse<T: ApiRequest>(bytes: &[u8]) -> Result<ApiJson<T>, ApiError> {
    parse_with_depth(bytes, crate::config::LimitsConfig::default().max_json_depth)
}

pub(crate) fn parse_value<T: ApiRequest>(value: Value) -> Result<ApiJson<T>, ApiError> {
    let Some(object) = value.as_object() else {
        return Err(ApiError::invalid_param(
            "body",
            "The request body must be a JSON object.",
        ));
    };
    if let Some(unknown) = object.keys().find(|k| !T::FIELDS.contains(&k.as_str())) {
        return Err(T::unknown_field(unknown));
    }
    if let Some(missing) = T::REQUIRED.iter().find(|k| !object.contains_key(**k)) {
        return Err(ApiError::missing_param(missing));
    }
    let typed = crate::routes::wire::decode(&value, "")?;
    Ok(ApiJson(typed, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        model: String,
        n: Option<u32>,
    }
    impl ApiRequest for Body {
        const FIELDS: &'static [&'static str] = &["model", "n"];
        const REQUIRED: &'static [&'static str] = &["model"];
    }

    fn err(bytes: &str) -> ApiError {
        match parse::<Body>(bytes.as_bytes()) {
            Ok(_) => ApiError::internal(),
            Err(e) => e,
        }
    }

    #[test]
    fn names_the_wrongly_typed_field() {
        let e = err(r#"{"model":"m","n":"two"}"#);
        assert_eq!(e.param(), Some("n"));
        assert_eq!(e.status().as_u16(), 400);
    }

    #[derive(Debug, Deserialize)]
    struct Counted {
        #[serde(default, deserialize_with = "integer")]
        n: Option<i64>,
    }
    impl ApiRequest for Counted {
        const FIELDS: &'static [&'static str] = &["n"];
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        let n = |body: &str| parse::<Counted>(body.as_bytes()).map(|j| j.0.n);
        assert_eq!(n(r#"{"n":22119.0}"#), Ok(Some(22119)));
        assert_eq!(n(r#"{"n":3}"#), Ok(Some(3)));
        assert_eq!(n(r#"{"n":null}"#), Ok(None));
        assert_eq!(n("{}"), Ok(None));
        let e = n(r#"{"n":1.5}"#).err();
        assert_eq!(e.as_ref().and_then(ApiError::param), Some("n"));
        assert!(n(r#"{"n":"2"}"#).is_err());
        assert_eq!(n(r#"{"n":-9223372036854775808}"#), Ok(Some(i64::MIN)));
        assert!(n(r#"{"n":-9223372036854775809}"#).is_err(), "below i64");
        assert!(n(r#"{"n":9223372036854775808}"#).is_err(), "above i64");
    }

    #[test]
    fn names_the_missing_field() {
        let e = err(r#"{"n":1}"#);
        assert_eq!(e.param(), Some("model"));
        assert_eq!(e.code(), Some("missing_required_parameter"));
    }

    #[test]
    fn rejects_deep_nesting_without_recursing() {
        let deep = format!(
            "{{\"model\":\"m\",\"n\":{}1{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert_eq!(err(&deep).code(), Some("json_too_deep"));
        let very_deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(err(&very_deep).code(), Some("json_too_deep"));
        // Brackets inside strings (escaped quotes included) are text, not nesting.
        let in_text = format!("{{\"model\":\"\\\"{}\",\"n\":1}}", "[".repeat(500));
        assert_eq!(err(&in_text).code(), None, "{}", err(&in_text).message());
        assert_eq!(err(&in_text).status().as_u16(), 500, "parsed: no error");
    }

    #[test]
    fn rejects_unknown_fields_and_non_objects() {
        assert_eq!(err(r#"{"model":"m","bogus":1}"#).param(), Some("bogus"));
        assert_eq!(err("[1]").status().as_u16(), 400);
        assert_eq!(err("{nope").code(), Some("invalid_json"));
    }
}
