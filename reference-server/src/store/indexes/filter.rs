//! Attribute filters in OpenAI's syntax (its vector stores' `filters`): a comparison
//! `{"type": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|"nin", "key", "value"}` or a compound
//! `{"type": "and"|"or", "filters": [...]}`. Parsed once, with the JSON path of the first bad
//! part, then evaluated against each item's attributes.

use serde_json::{Map, Value};

/// Most filters nested in one another (a bound on the work of one search).
const MAX_DEPTH: usize = 8;
/// Most filters in one compound.
const MAX_FILTERS: usize = 64;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `key op value`.
    Compare {
        /// The comparison.
        op: Op,
        /// The attribute compared.
        key: String,
        /// A string, number or boolean; for `in`/`nin`, a list of them.
        value: Value,
    },
    /// All of these.
    And(Vec<Filter>),
    /// Any of these.
    Or(Vec<Filter>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal (true when the attribute is absent).
    Ne,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// One of a list.
    In,
    /// None of a list (true when the attribute is absent).
    Nin,
}

/// A bad filter: the JSON path of the part to blame, and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    /// E.g. `filters.filters[1].value`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn bad(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

impl Filter {
    /// Parses `value`, found at `path` of the request (`filters`).
    pub fn parse(value: &Value, path: &str) -> Result<Self, FilterError> {
        Self::parse_at(value, path, 1)
    }

    fn parse_at(value: &Value, path: &str, depth: usize) -> Result<Self, FilterError> {
        if depth > MAX_DEPTH {
            return Err(bad(
                path,
                format!("filters nest at most {MAX_DEPTH} levels deep"),
            ));
        }
        let Some(object) = value.as_object() else {
            return Err(bad(path, "a filter must be an object with a `type`"));
        };
        let kind = object
            .get("type")
            .ok_or_else(|| bad(path, "a filter needs a `type`"))?;
        let type_path = format!("{path}.type");
        let kind = kind
            .as_str()
            .ok_or_else(|| bad(&type_path, "`type` must be a string"))?;
        match kind {
            "and" | "or" => Self::compound(object, kind, path, depth),
            _ => {
                let op = match kind {
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "gt" => Op::Gt,
                    "gte" => Op::Gte,
                    "lt" => Op::Lt,
                    "lte" => Op::Lte,
                    "in" => Op::In,
                    "nin" => Op::Nin,
                    other => {
                        return Err(bad(
                            &type_path,
                            format!("unknown filter type {other:?}: expected one of eq, ne, gt, gte, lt, lte, in, nin, and, or"),
                        ))
                    }
                };
                Self::comparison(object, op, path)
            }
        }
    }

    fn compound(
        object: &Map<String, Value>,
        kind: &str,
        path: &str,
        depth: usize,
    ) -> Result<Self, FilterError> {
        if let Some(extra) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "filters"))
        {
            return Err(bad(
                &format!("{path}.{extra}"),
                "a compound filter takes only `type` and `filters`",
            ));
        }
        let list_path = format!("{path}.filters");
        let list = object
            .get("filters")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(&list_path, "`filters` must be a list of filters"))?;
        if list.is_empty() || list.len() > MAX_FILTERS {
            return Err(bad(
                &list_path,
                format!("`filters` must hold 1 to {MAX_FILTERS} filters"),
            ));
        }
        let parts = list
            .iter()
            .enumerate()
            .map(|(i, f)| Self::parse_at(f, &format!("{list_path}[{i}]"), depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if kind == "and" {
            Self::And(parts)
        } else {
            Self::Or(parts)
        })
    }

    fn comparison(object: &Map<String, Value>, op: Op, path: &str) -> Result<Self, FilterError> {
        if let Some(extra) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "key" | "value"))
        {
            return Err(bad(
                &format!("{path}.{extra}"),
                "a comparison filter takes only `type`, `key` and `value`",
            ));
        }
        let key = object
            .get("key")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad(&format!("{path}.key"), "`key` must be a non-empty string"))?;
        let value_path = format!("{path}.value");
        let value = object
            .get("value")
            .ok_or_else(|| bad(&value_path, "a comparison needs a `value`"))?;
        let ok = match op {
            Op::In | Op::Nin => value
                .as_array()
                .is_some_and(|items| !items.is_empty() && items.iter().all(scalar)),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => value.is_number() || value.is_string(),
            Op::Eq | Op::Ne => scalar(value),
        };
        if !ok {
            let want = match op {
                Op::In | Op::Nin => "a non-empty list of strings, numbers or booleans",
                Op::Gt | Op::Gte | Op::Lt | Op::Lte => "a number or a string",
                Op::Eq | Op::Ne => "a string, a number or a boolean",
            };
            return Err(bad(&value_path, format!("`value` must be {want}")));
        }
        Ok(Self::Compare {
            op,
            key: key.to_owned(),
            value: value.clone(),
        })
    }

    /// Whether an item with `attributes` passes.
    pub fn matches(&self, attributes: &Map<String, Value>) -> bool {
        match self {
            Self::And(parts) => parts.iter().all(|f| f.matches(attributes)),
            Self::Or(parts) => parts.iter().any(|f| f.matches(attributes)),
            Self::Compare { op, key, value } => {
                let Some(seen) = attributes.get(key) else {
                    return matches!(op, Op::Ne | Op::Nin);
                };
                match op {
                    Op::Eq => same(seen, value),
                    Op::Ne => !same(seen, value),
                    Op::In => value
                        .as_array()
                        .is_some_and(|vs| vs.iter().any(|v| same(seen, v))),
                    Op::Nin => !value
                        .as_array()
                        .is_some_and(|vs| vs.iter().any(|v| same(seen, v))),
                    Op::Gt | Op::Gte | Op::Lt | Op::Lte => match order(seen, value) {
                        Some(o) => match op {
                            Op::Gt => o.is_gt(),
                            Op::Gte => o.is_ge(),
                            Op::Lt => o.is_lt(),
                            _ => o.is_le(),
                        },
                        None => false,
                    },
                }
            }
        }
    }
}

/// Equality, with numbers compared as numbers (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Numbers order as numbers and strings as strings; anything else does not order.
fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn comparisons_and_compounds() {
        let f = Filter::parse(
            &json!({"type": "and", "filters": [
                {"type": "gte", "key": "year", "value": 2020},
                {"type": "or", "filters": [
                    {"type": "eq", "key": "lang", "value": "en"},
                    {"type": "in", "key": "lang", "value": ["fr", "de"]}
                ]}
            ]}),
            "filters",
        )
        .unwrap();
        assert!(f.matches(&attrs(json!({"year": 2021, "lang": "de"}))));
        assert!(f.matches(&attrs(json!({"year": 2020.0, "lang": "en"}))));
        assert!(!f.matches(&attrs(json!({"year": 2019, "lang": "en"}))));
        assert!(!f.matches(&attrs(json!({"year": 2024, "lang": "es"}))));
        assert!(
            !f.matches(&attrs(json!({"lang": "en"}))),
            "absent attribute"
        );
        let ne = Filter::parse(&json!({"type": "ne", "key": "k", "value": 1}), "f").unwrap();
        assert!(ne.matches(&attrs(json!({}))));
        assert!(!ne.matches(&attrs(json!({"k": 1}))));
        let gt = Filter::parse(&json!({"type": "gt", "key": "k", "value": "b"}), "f").unwrap();
        assert!(gt.matches(&attrs(json!({"k": "c"}))));
        assert!(!gt.matches(&attrs(json!({"k": 3}))), "types do not order");
    }

    #[test]
    fn a_bad_filter_names_its_path() {
        let err = |v: Value| Filter::parse(&v, "filters").unwrap_err().path;
        assert_eq!(err(json!("x")), "filters");
        assert_eq!(err(json!({"key": "a", "value": 1})), "filters");
        assert_eq!(
            err(json!({"type": "like", "key": "a", "value": 1})),
            "filters.type"
        );
        assert_eq!(
            err(
                json!({"type": "and", "filters": [{"type": "eq", "key": "a", "value": 1}, {"type": "in", "key": "b", "value": 3}]})
            ),
            "filters.filters[1].value"
        );
        assert_eq!(err(json!({"type": "or", "filters": []})), "filters.filters");
        assert_eq!(
            err(json!({"type": "eq", "key": "", "value": 1})),
            "filters.key"
        );
        assert_eq!(
            err(json!({"type": "eq", "key": "a", "value": {"x": 1}})),
            "filters.value"
        );
        assert_eq!(
            err(json!({"type": "eq", "key": "a", "value": 1, "extra": 0})),
            "filters.extra"
        );
        let mut deep = json!({"type": "eq", "key": "a", "value": 1});
        for _ in 0..MAX_DEPTH {
            deep = json!({"type": "and", "filters": [deep]});
        }
        assert!(err(deep).starts_with("filters.filters[0]"));
    }
}
