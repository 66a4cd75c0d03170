//! One module per resource, each with a `router()`.

pub mod chat;
pub mod compact;
pub mod dreams;
pub mod embeddings;
pub mod health;
pub mod indexes;
pub mod models;
pub mod openapi;
pub mod responses;
pub mod socket;
pub mod table;

/// The `limit` (1 to 100, default 20) and `order` (`desc` by default, or `asc`) of a list.
pub fn list_params(
    query: &std::collections::HashMap<String, String>,
) -> Result<(usize, crate::store::indexes::Order), crate::protocol::error::ApiError> {
    use crate::protocol::error::ApiError;
    use crate::store::indexes::Order;
    let limit = match query.get("limit") {
        None => 20,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid_param(
                    "limit",
                    format!("Invalid 'limit' {l:?}: expected an integer from 1 to 100."),
                ))
            }
        },
    };
    let order = match query.get("order").map(String::as_str) {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "order",
                format!("Invalid 'order' {other:?}: expected 'asc' or 'desc'."),
            ))
        }
    };
    Ok((limit, order))
}

/// A list's `after` or `before` cursor. An empty one (`?after=`, as a form or a generator
/// sends it) is no cursor: the list starts at its beginning.
pub fn cursor<'q>(
    query: &'q std::collections::HashMap<String, String>,
    name: &str,
) -> Option<&'q str> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|c| !c.is_empty())
}
