//! `ApiJson<T>`: our JSON body extractor. Every way a body can be wrong (wrong content type,
//! too large, not JSON, not an object, unknown field, wrong type) becomes an `ApiError`
//! envelope with `param` set where one parameter is to blame.

use crate::protocol::error::ApiError;
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

/// A parsed, checked JSON body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// A parsed, checked JSON body with its JSON value, for routes that read fields by hand.
#[derive(Debug)]
pub struct WithValue<T>(pub T, pub Value);

/// A request body as read: JSON text, or a value made from a form or an empty body.
enum Read {
    Json(Bytes),
    Value(Value),
}

/// Checks the content type of a body for `T` and reads it (bounded).
async fn read<T: ApiRequest>(req: Request, state: &AppState) -> Result<Read, ApiError> {
    let media = media_type(&req);
    let form = T::FORM && media.eq_ignore_ascii_case("application/x-www-form-urlencoded");
    // Open Responses makes the body optional: without a content type, an empty body is
    // `{}` (anything else still needs a content type).
    let bare = T::FORM && media.is_empty();
    if !form && !bare {
        check_content_type(media, &req)?;
    }
    let bytes = read_limited(req.into_body(), state.config.limits.max_body_bytes).await?;
    if form {
        return Ok(Read::Value(form_to_json(&bytes, T::TEXT_FIELDS)));
    }
    if bare {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Read::Value(Value::Object(serde_json::Map::new())));
        }
        return Err(ApiError::unsupported_media_type("<none>"));
    }
    Ok(Read::Json(bytes))
}

// The limits come from the app's configuration, the same for every request.
impl<T: ApiRequest> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match read::<T>(req, state).await? {
            Read::Json(bytes) => parse_typed(&bytes, state.config.limits.max_json_depth),
            Read::Value(value) => parse_value(value).map(|WithValue(typed, _)| ApiJson(typed)),
        }
    }
}

impl<T: ApiRequest> FromRequest<AppState> for WithValue<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match read::<T>(req, state).await? {
            Read::Json(bytes) => parse_with_depth(&bytes, state.config.limits.max_json_depth),
            Read::Value(value) => parse_value(value),
        }
    }
}

/// The media type of the body (`application/json` of `Application/JSON; charset=utf-8`), as
/// sent: compare it without regard to case.
fn media_type(req: &Request) -> &str {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // Visible ASCII (`to_str`): the parameters start at the first `;` byte.
        .map(|v| v.bytes().position(|b| b == b';').map_or(v, |i| &v[..i]))
        .unwrap_or("")
        .trim_ascii()
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
    // A body that comes in one chunk (most do) is kept as it came, without a copy.
    let mut first: Option<Bytes> = None;
    let mut kept = Vec::new();
    let mut total = 0usize;
    let drain_cap = limit.saturating_mul(DRAIN_FACTOR).max(MIN_DRAIN);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_json("the body could not be read"))?;
        total = total.saturating_add(chunk.len());
        if total <= limit {
            match first.take() {
                None if kept.is_empty() => first = Some(chunk),
                earlier => {
                    if let Some(earlier) = earlier {
                        kept.extend_from_slice(&earlier);
                    }
                    kept.extend_from_slice(&chunk);
                }
            }
        } else if total > drain_cap {
            break;
        }
    }
    if total > limit {
        return Err(ApiError::body_too_large(limit));
    }
    Ok(first.unwrap_or_else(|| Bytes::from(kept)))
}

/// Refuses a body whose media type (`media`, of `req`) is not JSON.
fn check_content_type(media: &str, req: &Request) -> Result<(), ApiError> {
    let media = media.as_bytes();
    let json_suffix = media.len() >= 5 && media[media.len() - 5..].eq_ignore_ascii_case(b"+json");
    if media.eq_ignore_ascii_case(b"application/json") || json_suffix {
        return Ok(());
    }
    // The refusal names what was sent, as sent.
    let seen = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("<not text>"))
        .unwrap_or("");
    Err(ApiError::unsupported_media_type(if seen.is_empty() {
        "<none>"
    } else {
        seen
    }))
}

/// Whether the JSON text in `bytes` nests arrays and objects deeper than `max_depth`, found
/// by counting brackets outside strings: before parsing, so no parser ever recurses that deep
/// and the answer does not depend on the parser's own limit or wording.
fn nests_deeper_than(bytes: &[u8], max_depth: usize) -> bool {
    // A body cannot nest deeper than it has opening brackets; counting them is one vectorised
    // pass, where the exact scan below goes byte by byte through a state machine.
    let opening = bytes.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if opening <= max_depth {
        return false;
    }
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

/// Parses and checks a body, allowing JSON nesting up to `max_depth`, with its JSON value.
pub fn parse_with_depth<T: ApiRequest>(
    bytes: &[u8],
    max_depth: usize,
) -> Result<WithValue<T>, ApiError> {
    if nests_deeper_than(bytes, max_depth) {
        return Err(ApiError::too_deep(max_depth));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(ApiError::bad_json)?;
    parse_value(value)
}

/// Parses and checks a body like [`parse_with_depth`], straight into `T` when the body is
/// well formed: one typed pass that checks the top-level keys as it meets them, with no
/// `Value` built. Any doubt (a key unknown, missing, repeated or escaped; a value of the
/// wrong type; bad JSON) goes the way of `parse_with_depth`, so a rejection is worded, and an
/// acceptance decoded, exactly as there (a test holds the two ways to the same results).
pub fn parse_typed<T: ApiRequest>(bytes: &[u8], max_depth: usize) -> Result<ApiJson<T>, ApiError> {
    if !nests_deeper_than(bytes, max_depth) {
        if let Some(typed) = decode_known::<T>(bytes) {
            return Ok(ApiJson(typed));
        }
    }
    parse_with_depth(bytes, max_depth).map(|WithValue(typed, _)| ApiJson(typed))
}

/// `T` from `bytes`, if `bytes` is one JSON object whose keys are all in `T::FIELDS`, each
/// once and unescaped, with every key of `T::REQUIRED`, and `T` decodes from it.
fn decode_known<T: ApiRequest>(bytes: &[u8]) -> Option<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // One bit per field seen; a type with more fields than bits takes the other way.
    let mut seen = 0u64;
    let typed = T::deserialize(TopLevel {
        de: &mut de,
        fields: T::FIELDS,
        seen: &mut seen,
    })
    .ok()?;
    de.end().ok()?;
    let present = |r: &&str| {
        T::FIELDS
            .iter()
            .position(|f| f == r)
            .is_some_and(|i| i < 64 && seen & (1 << i) != 0)
    };
    T::REQUIRED.iter().all(present).then_some(typed)
}

/// The body as `decode_known` hands it to `T`: an object whose keys are checked on the way.
/// Anything but a struct or map (an enum, a bare value) is refused, and takes the other way.
struct TopLevel<'a, 'de> {
    de: &'a mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
    fields: &'static [&'static str],
    seen: &'a mut u64,
}

impl<'de> serde::Deserializer<'de> for TopLevel<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_map(
            self.de,
            Checked {
                inner: visitor,
                fields: self.fields,
                seen: self.seen,
            },
        )
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct enum identifier
        ignored_any
    }
}

/// `T`'s own visitor, given the object's entries through a `Checked` map: the key of each
/// is checked before `T` reads it. (One type for both: the visitor, and the map it hands on.)
struct Checked<'a, I> {
    inner: I,
    fields: &'static [&'static str],
    seen: &'a mut u64,
}

impl<'de, V: serde::de::Visitor<'de>> serde::de::Visitor<'de> for Checked<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Checked {
            inner: map,
            fields: self.fields,
            seen: self.seen,
        })
    }
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for Checked<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        use serde::de::Error as _;
        // A borrowed key fails on an escaped one, which then takes the other way too.
        let Some(key) = self.inner.next_key::<&'de str>()? else {
            return Ok(None);
        };
        let bit = self
            .fields
            .iter()
            .position(|f| *f == key)
            .and_then(|i| 1u64.checked_shl(u32::try_from(i).ok()?))
            .ok_or_else(|| A::Error::custom("unknown or out of range"))?;
        if *self.seen & bit != 0 {
            return Err(A::Error::custom("repeated"));
        }
        *self.seen |= bit;
        seed.deserialize(serde::de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<S: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
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

/// Handlers take the project of the key that auth admitted, worked out again from the
/// request's headers (the token's hash is cached per thread): carried in the request's
/// extensions instead, it would cost every `/v1` request an allocation, and most routes store
/// nothing.
impl axum::extract::FromRequestParts<AppState> for crate::protocol::project::Project {
    type Rejection = crate::protocol::error::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = &state.config.auth;
        let principal =
            crate::protocol::principal::Principal::compute(&parts.headers, None, auth.key_header());
        crate::protocol::project::resolve(auth, &state.projects, &principal, &parts.headers)
            .ok_or_else(crate::protocol::error::ApiError::missing_key)
    }
}

#[cfg(test)]
/// Parses and checks a body with the default nesting limit.
pub fn parse<T: ApiRequest>(bytes: &[u8]) -> Result<ApiJson<T>, ApiError> {
    parse_typed(bytes, crate::config::LimitsConfig::default().max_json_depth)
}

/// Asserts that each body gives the same result both ways: straight into `T`
/// ([`parse_typed`]) and through a `Value` ([`parse_with_depth`]); the same `T` (by its
/// `Debug` text), or the same error (status, code, param, message).
#[cfg(test)]
pub fn assert_both_ways_agree<T: ApiRequest + std::fmt::Debug>(bodies: &[&str]) {
    let depth = crate::config::LimitsConfig::default().max_json_depth;
    let outcome = |r: Result<String, ApiError>| match r {
        Ok(typed) => typed,
        Err(e) => format!(
            "{} {:?} {:?} {}",
            e.status(),
            e.code(),
            e.param(),
            e.message()
        ),
    };
    for body in bodies {
        let typed = parse_typed::<T>(body.as_bytes(), depth).map(|ApiJson(t)| format!("{t:?}"));
        let valued =
            parse_with_depth::<T>(body.as_bytes(), depth).map(|WithValue(t, _)| format!("{t:?}"));
        assert_eq!(outcome(typed), outcome(valued), "{body}");
    }
}

pub(crate) fn parse_value<T: ApiRequest>(value: Value) -> Result<WithValue<T>, ApiError> {
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
    let typed = crate::protocol::wire::decode(&value, "")?;
    Ok(WithValue(typed, value))
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
    fn both_ways_agree_on_good_and_bad_bodies() {
        assert_both_ways_agree::<Body>(&[
            r#"{"model":"m"}"#,
            r#"{"model":"m","n":2}"#,
            r#" { "n" : 2 , "model" : "m" } "#,
            r#"{"model":"m","n":null}"#,
            r#"{"model":"m","n":-1}"#,
            r#"{"model":"m","n":2.0}"#,
            r#"{"model":"m","model":"again"}"#,
            r#"{"mod\u0065l":"m"}"#,
            r#"{"model":"m\n\u00e9"}"#,
            r#"{"model":"m","extra":1}"#,
            r#"{"n":1}"#,
            r#"{"model":1}"#,
            r#"{"model":"m"} trailing"#,
            r#"{"model":"m""#,
            r#"["model"]"#,
            "null",
            "",
        ]);
    }

    #[test]
    fn the_one_pass_takes_well_formed_bodies_and_leaves_every_doubt() {
        let one_pass = |body: &str| decode_known::<Body>(body.as_bytes()).map(|b| format!("{b:?}"));
        assert_eq!(
            one_pass(r#" { "n" : 2 , "model" : "m\u00e9" } "#).as_deref(),
            Some(r#"Body { model: "mé", n: Some(2) }"#)
        );
        assert!(one_pass(r#"{"model":"m","n":null}"#).is_some());
        for doubt in [
            r#"{"model":"m","model":"again"}"#,
            r#"{"mod\u0065l":"m"}"#,
            r#"{"model":"m","extra":1}"#,
            r#"{"n":1}"#,
            r#"{"model":1}"#,
            r#"{"model":"m"} trailing"#,
            r#"["m", 2]"#,
            "null",
        ] {
            assert_eq!(one_pass(doubt), None, "{doubt}");
        }
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
    fn depth_is_the_nesting_not_the_count_of_brackets() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(
            !nests_deeper_than(nested(8).as_bytes(), 8),
            "exactly the limit"
        );
        assert!(nests_deeper_than(nested(9).as_bytes(), 8), "one past it");
        // More brackets than the limit, side by side: the exact scan, which finds depth 2.
        let siblings = format!("[{}[]]", "[],".repeat(20));
        assert!(!nests_deeper_than(siblings.as_bytes(), 8));
        let objects = format!("{{\"a\":[{}{{}}]}}", "{},".repeat(20));
        assert!(
            !nests_deeper_than(objects.as_bytes(), 3),
            "object, array, object"
        );
        assert!(nests_deeper_than(objects.as_bytes(), 2));
    }

    #[test]
    fn rejects_unknown_fields_and_non_objects() {
        assert_eq!(err(r#"{"model":"m","bogus":1}"#).param(), Some("bogus"));
        assert_eq!(err("[1]").status().as_u16(), 400);
        assert_eq!(err("{nope").code(), Some("invalid_json"));
    }
}
