//! The one error type of the server, rendered as the OpenAI error envelope.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every error the server can send. It always renders as
/// `{"error":{"message","type","param","code"}}` with all four keys present. Each status and
/// code has its named constructor; an error is never changed once built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    /// Human-readable; never contains internal error text.
    message: String,
    /// The OpenAI error `type`, e.g. `invalid_request_error`.
    kind: &'static str,
    /// The offending parameter as a JSON path, when one is known.
    param: Option<String>,
    /// A machine-readable code such as `model_not_found`.
    code: Option<&'static str>,
    /// Seconds for `Retry-After`, on an answer that says when to come back.
    retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `param` of the envelope.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The `code` of the envelope.
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }

    /// The `message` of the envelope.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 400 `invalid_request_error` about one parameter.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).with_param(param)
    }

    /// 400 for a parameter the API does not know.
    pub fn unknown_param(param: &str) -> Self {
        Self::invalid_param(param, format!("Unknown parameter: '{param}'."))
            .with_code("unknown_parameter")
    }

    /// 400 for a required parameter that is absent.
    pub fn missing_param(param: &str) -> Self {
        Self::invalid_param(param, format!("Missing required parameter: '{param}'."))
            .with_code("missing_required_parameter")
    }

    /// 400 for a top-level field Chat Completions does not know, worded as Chat words it
    /// (neither `param` nor `code`).
    pub fn unrecognized_argument(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("Unrecognized request argument supplied: {name}"),
        )
    }

    /// 400 for a value of the wrong type at JSON path `path`.
    pub fn invalid_type(path: &str, detail: impl std::fmt::Display) -> Self {
        Self::invalid_param(path, format!("Invalid value for '{path}': {detail}."))
            .with_code("invalid_type")
    }

    /// 400 for an array parameter with more than `max` items.
    pub fn too_many_items(param: &str, count: usize, max: usize) -> Self {
        Self::invalid_param(
            param,
            format!("'{param}' has {count} items; at most {max} are allowed."),
        )
        .with_code("array_above_max_length")
    }

    /// 400 for a number outside `[lo, hi]`.
    pub fn out_of_range(param: &str, value: f64, lo: f64, hi: f64) -> Self {
        Self::invalid_param(
            param,
            format!("Invalid '{param}': {value} is not between {lo} and {hi}."),
        )
        .with_code("decimal_out_of_range")
    }

    /// 400 for an integer below its minimum.
    pub fn below_minimum(param: &str, min: i64, got: i64) -> Self {
        Self::invalid_param(
            param,
            format!("Invalid '{param}': integer below minimum value. Expected a value >= {min}, but got {got} instead."),
        )
        .with_code("integer_below_min_value")
    }

    /// 400 for a model that exists but cannot serve this endpoint.
    pub fn wrong_model(message: impl Into<String>) -> Self {
        Self::invalid_param("model", message).with_code("invalid_model")
    }

    /// 400 for a WebSocket-mode message the server cannot read (not JSON, not an object, an
    /// unknown `type`, binary); `param` names the field when one is to blame.
    pub fn socket_message(param: Option<&str>, message: impl Into<String>) -> Self {
        let e = Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            .with_code("invalid_message");
        match param {
            Some(p) => e.with_param(p),
            None => e,
        }
    }

    /// 426: a plain `GET` on a WebSocket endpoint (the answer also says `Upgrade: websocket`).
    pub fn upgrade_required(path: &str) -> Self {
        Self::new(
            StatusCode::UPGRADE_REQUIRED,
            "invalid_request_error",
            format!(
                "GET {path} opens a WebSocket: send Connection: Upgrade and Upgrade: websocket."
            ),
        )
        .with_code("upgrade_required")
    }

    /// 409: a `response.create` while this WebSocket connection has a response in flight.
    pub fn response_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            "A response is already in progress on this connection; wait for its terminal event.",
        )
        .with_code("response_in_progress")
    }

    /// 400: the WebSocket connection reached its time limit (Open Responses: 60 minutes).
    pub fn socket_limit_reached() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "This WebSocket connection reached its time limit; open a new one to continue.",
        )
        .with_code("websocket_connection_limit_reached")
    }

    /// 400 for a compaction item this server did not write.
    pub fn invalid_encrypted_content(param: String) -> Self {
        Self::invalid_param(
            param,
            "The encrypted content could not be decrypted or parsed.",
        )
        .with_code("invalid_encrypted_content")
    }

    /// 400 for a `previous_response_id` that is not stored.
    pub fn previous_response_not_found(id: &str) -> Self {
        Self::invalid_param(
            "previous_response_id",
            format!("Previous response with id '{id}' not found."),
        )
        .with_code("previous_response_not_found")
    }

    /// 400 for a body nested deeper than `max_depth`.
    pub fn too_deep(max_depth: usize) -> Self {
        Self::invalid_param(
            "body",
            format!("The JSON body is nested deeper than {max_depth} levels."),
        )
        .with_code("json_too_deep")
    }

    /// 400 for an `Idempotency-Key` that is not 1 to 255 visible ASCII characters.
    pub fn invalid_idempotency_key() -> Self {
        Self::invalid_param(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters.",
        )
        .with_code("invalid_idempotency_key")
    }

    /// 409 for an `Idempotency-Key` whose first request is still running.
    pub fn idempotency_key_in_use() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            "A request with this Idempotency-Key is still being processed; retry when it has finished.",
        )
        .with_param("Idempotency-Key")
        .with_code("idempotency_key_in_use")
    }

    /// 409 for an index name that is taken.
    pub fn index_name_taken(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            format!("An index named '{name}' already exists."),
        )
        .with_param("name")
        .with_code("index_name_taken")
    }

    /// 400 for a vector whose length is not the index's.
    pub fn dimension_mismatch(param: &str, expected: usize, got: usize) -> Self {
        Self::invalid_param(
            param,
            format!("Invalid '{param}': the index holds vectors of {expected} dimensions, but this one has {got}."),
        )
        .with_code("dimension_mismatch")
    }

    /// 503 when the index store cannot be read or written (disk full, file unreadable).
    pub fn store_unavailable(detail: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            format!("The index store is unavailable ({detail}). Retry later."),
        )
        .with_code("store_unavailable")
    }

    /// 503 when the shared store (Redis) behind the replicas cannot be reached: the request
    /// needed shared state (a rate-limit bucket, an idempotency record, a stored response), and
    /// answering it without that state would be a wrong answer. Retry after a second.
    pub fn shared_store_unavailable(store: &str) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            format!(
                "The server's shared state store ({store}) is unreachable; please retry shortly."
            ),
        )
        .with_code("store_unavailable");
        e.retry_after = Some(1);
        e
    }

    /// 422 for an `Idempotency-Key` used before with another request.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_error",
            "This Idempotency-Key was already used with a different request body or path.",
        )
        .with_param("Idempotency-Key")
        .with_code("idempotency_key_reused")
    }

    /// 429 from the rate limiter, as OpenAI words it (`type` is `requests`).
    pub fn rate_limited(route: &str, limit: u32, wait: &str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "requests",
            format!(
                "Rate limit reached for requests on {route}: limit {limit} per window. Please try again in {wait}."
            ),
        )
        .with_code("rate_limit_exceeded")
    }

    /// 429 injected by a fault schedule or scenario; says so, so it is never mistaken for
    /// the rate limiter's.
    pub fn injected_rate_limit() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "requests",
            "Rate limit reached for requests (injected by the reference server's fault settings). Please try again later.",
        )
        .with_code("rate_limit_exceeded")
    }

    /// 503 injected by a fault schedule or scenario.
    pub fn injected_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "The engine is currently overloaded (injected by the reference server's fault settings), please try again later.",
        )
        .with_code("server_overloaded")
    }

    /// 400 for a header the server cannot act on.
    pub fn invalid_header(header: &str, message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            .with_param(header)
            .with_code("invalid_header")
    }

    /// 503 when more requests are in flight than the server serves at once.
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "The server is overloaded; please retry shortly.",
        )
        .with_code("server_overloaded")
    }

    /// 408 when a request took longer than the configured limit to answer.
    pub fn timed_out(seconds: u64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            format!("The request was not complete within {seconds} s."),
        )
        .with_code("request_timeout")
    }

    /// The envelope for an answer some layer made without one (a timeout's 408, a bad path
    /// segment's 400): its status, and its text as the message.
    pub fn from_status(status: StatusCode, text: &str) -> Self {
        if status.is_server_error() {
            return Self {
                status,
                ..Self::internal()
            };
        }
        let message = if text.is_empty() {
            status.to_string()
        } else {
            text.to_owned()
        };
        Self::new(status, "invalid_request_error", message)
    }

    /// 400 for a body that is not valid JSON.
    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!(
                "We could not parse the JSON body of your request ({detail}). \
                 The OpenAI API expects a JSON payload."
            ),
        )
        .with_code("invalid_json")
    }

    /// 401 when no key was sent.
    pub fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    }

    /// 401 for a key the server does not accept.
    pub fn invalid_key(shown: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            format!("Incorrect API key provided: {shown}."),
        )
        .with_code("invalid_api_key")
    }

    /// 403 when the key lacks a scope.
    pub fn forbidden(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!("Your API key does not have the scope required for this request: {scope}."),
        )
        .with_code("insufficient_scope")
    }

    /// 404 for an unknown model.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    /// 404 for an unknown stored object.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("No {what} found with id '{id}'."),
        )
        .with_code("not_found")
    }

    /// 404 for a path the server does not serve.
    pub fn unknown_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Invalid URL ({method} {path})"),
        )
        .with_code("unknown_url")
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("Method {method} is not allowed on {path}."),
        )
        .with_code("method_not_allowed")
    }

    /// 413 for a body over the configured limit.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("The request body is larger than the limit of {limit} bytes."),
        )
        .with_code("request_too_large")
    }

    /// 415 for a body that is not declared as JSON.
    pub fn unsupported_media_type(seen: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            format!("Expected Content-Type: application/json, got '{seen}'."),
        )
        .with_code("unsupported_media_type")
    }

    /// 500 without leaking internals.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server had an error while processing your request. Sorry about that!",
        )
    }

    /// The envelope as JSON.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.kind,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            response.headers_mut().insert(
                "retry-after-ms",
                HeaderValue::from(secs.saturating_mul(1000)),
            );
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::shared_store_unavailable(e.store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_always_has_four_keys() {
        let body = ApiError::missing_key().body();
        let error = body["error"].as_object().cloned().unwrap_or_default();
        for key in ["message", "type", "param", "code"] {
            assert!(error.contains_key(key), "missing {key}");
        }
        assert!(error["param"].is_null());
    }

    #[test]
    fn model_not_found_names_the_model() {
        let e = ApiError::model_not_found("nope");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(e.code(), Some("model_not_found"));
        assert!(e.message().contains("`nope`"));
    }
}
