//! The HTTP client for the target: JSON calls and SSE streams with timings, each returning a
//! plain-data `Exchange` that checks read and reports quote (with the key redacted).

pub(crate) mod backoff;
pub(crate) mod discovery;
pub(crate) mod socket;
pub(crate) mod sse;
pub(crate) mod tls;

use crate::error::HarnessError;
use crate::text::plural;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use sse::{SseEvent, SseParser};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How to reach the target.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Base URL, with or without `/v1`.
    pub base_url: String,
    /// The API key, if any.
    pub api_key: Option<String>,
    /// Header that carries the key; `Authorization` sends `Bearer <key>`.
    pub auth_header: String,
    /// Per-request timeout, streams included.
    pub timeout: Duration,
    /// Accept invalid TLS certificates.
    pub insecure: bool,
    /// A PEM bundle of CAs to trust beside the web and system roots (`--cacert`).
    pub cacert: Option<std::path::PathBuf>,
    /// Most bytes read from one answer (a body, or a whole stream).
    pub max_response_bytes: usize,
    /// Most events read from one stream.
    pub max_events: usize,
}

impl TargetConfig {
    /// Default cap on one answer's bytes.
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = DEFAULT_MAX_RESPONSE_BYTES;
    /// Default cap on one stream's events.
    pub const DEFAULT_MAX_EVENTS: usize = DEFAULT_MAX_EVENTS;

    /// A config with the default caps.
    pub fn new(base_url: impl Into<String>, api_key: Option<String>, timeout: Duration) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            auth_header: "Authorization".into(),
            timeout,
            insecure: false,
            cacert: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

/// Default cap on one answer's bytes: far above any real answer, far below a machine's memory.
const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
/// Answers larger than this are "big": only `BIG_READS` of them are read at once.
const BIG_READ_BYTES: usize = 1024 * 1024;
/// Big answers read at once.
const BIG_READS: usize = 2;
/// A pooled connection idle this long is not reused. Servers close idle keep-alive
/// connections on their own clock (uvicorn and Node after 5 s), and a request sent on one as
/// it closes is lost ("disconnected without a response"): reproduced against LiteLLM's proxy
/// under load, where it turned two verdicts into transport errors. A reuse within a second
/// cannot cross such a close; a new connection costs a handshake.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(1);
/// How much of a stream's body is kept beside its parsed events.
const KEPT_STREAM_BYTES: usize = 1024 * 1024;
/// Longest line of a stream (one event's data line).
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// Size of the blocks a body is read into.
const BLOCK_BYTES: usize = 256 * 1024;
/// Default cap on one stream's events. The harness asks for short answers (a few hundred
/// events); a stream past this is a runaway, and each event is parsed by several checks.
const DEFAULT_MAX_EVENTS: usize = 10_000;

/// Which credentials a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// The configured key.
    Default,
    /// No credentials at all.
    None,
    /// This key instead of the configured one.
    Key(String),
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Req {
    method: Method,
    path: String,
    body: Option<Bytes>,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    auth: Auth,
    keep: Option<usize>,
    /// A 429 is returned as it came, not waited out (the rate-limit checks' requests).
    raw_rate_limits: bool,
}

impl Req {
    /// `GET path` (path relative to the root, e.g. `/v1/models`).
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// `POST path` with a JSON body.
    pub fn post(path: impl Into<String>, body: &Value) -> Self {
        Self::new(Method::POST, path).raw(body.to_string(), "application/json")
    }

    /// A request with any method.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            content_type: None,
            headers: Vec::new(),
            auth: Auth::Default,
            keep: None,
            raw_rate_limits: false,
        }
    }

    /// Returns a 429 as it came instead of waiting it out (for checks about rate limiting).
    pub fn raw_rate_limits(mut self) -> Self {
        self.raw_rate_limits = true;
        self
    }

    /// Whether a 429 to this request is waited out and the request asked again.
    pub fn waits_out_rate_limits(&self) -> bool {
        !self.raw_rate_limits
    }

    /// Whether asking again after a 5xx is safe: a GET, or a generation (chat, responses,
    /// compaction, embeddings), whose repeat at worst stores one more response.
    pub fn repeatable(&self) -> bool {
        let generation = [
            "/chat/completions",
            "/responses",
            "/responses/compact",
            "/embeddings",
        ];
        self.method == Method::GET
            || (self.method == Method::POST && generation.iter().any(|g| self.path.ends_with(g)))
    }

    /// Whether the whole body is read (no `keep_body`).
    pub fn reads_whole(&self) -> bool {
        self.keep.is_none()
    }

    /// Keeps at most `bytes` of the answer's body and stops reading there (for requests whose
    /// status and headers are the subject, sent many at once).
    pub fn keep_body(mut self, bytes: usize) -> Self {
        self.keep = Some(bytes);
        self
    }

    /// Sets a raw body and its content type.
    pub fn raw(mut self, body: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = Some(body.into());
        self.content_type = Some(content_type.to_owned());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Chooses the credentials.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
}

/// What was sent, for failure messages; the key is never kept.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Headers sent, credentials redacted.
    pub headers: Vec<(String, String)>,
    /// The body, cut to 2 KiB.
    pub body: Option<String>,
    /// How the target redirected it, if it did: followed within its origin, or answered with
    /// a redirect to another origin that was not followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

impl fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        for (k, v) in &self.headers {
            write!(f, "\n    {k}: {v}")?;
        }
        if let Some(body) = &self.body {
            write!(f, "\n    {body}")?;
        }
        if let Some(redirect) = &self.redirect {
            write!(f, "\n    (redirect: {redirect})")?;
        }
        Ok(())
    }
}

/// Most redirects followed for one request, all within the target's origin.
const MAX_REDIRECTS: usize = 5;

/// Redirects are followed only within the origin (scheme, host and port) the request was
/// sent to. A redirect to another origin is not followed at all, so no credential, whatever
/// header carries it, ever reaches another origin; the 3xx is the answer, and the report says
/// where it pointed. OpenAI's API does not redirect: a redirect is itself news about the
/// deployment. (reqwest drops `Authorization` on such a hop, but not a gateway's own header.)
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    })
}

/// What the target's redirects did to a request, for its record: `None` when it answered
/// where it was asked.
fn redirect_note(asked: &str, response: &reqwest::Response) -> Option<String> {
    let status = response.status();
    if status.is_redirection() {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<no Location>");
        return Some(format!(
            "HTTP {} to {} (another origin: not followed, so no credential left {})",
            status.as_u16(),
            excerpt(to, 300),
            url::Url::parse(asked)
                .map_or_else(|_| asked.to_owned(), |u| u.origin().ascii_serialization())
        ));
    }
    (response.url().as_str() != asked)
        .then(|| format!("followed to {} (same origin)", response.url()))
}

/// A completed request/response pair.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// What was sent.
    pub request: RequestRecord,
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
    /// Time to the whole body.
    pub elapsed: Duration,
}

impl Exchange {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("body is not JSON ({e}): {}", self.excerpt()))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters, lower-cased.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The first 300 characters of the body, or "(empty body)".
    pub fn excerpt(&self) -> String {
        if self.body.is_empty() {
            return "(empty body)".into();
        }
        // Only the head is decoded: a huge body must not be copied to show 300 characters.
        let head = &self.body[..self.body.len().min(300 * 4 + 4)];
        let shown = excerpt(&String::from_utf8_lossy(head), 300);
        if head.len() < self.body.len() && !shown.contains('…') {
            return format!("{shown}…");
        }
        shown
    }
}

/// A streamed exchange: the events with their arrival times.
#[derive(Debug, Clone)]
pub struct StreamExchange {
    /// The head and the raw body.
    pub exchange: Exchange,
    /// Events in arrival order.
    pub events: Vec<SseEvent>,
    /// Lines that were neither fields nor comments.
    pub odd_lines: Vec<String>,
    /// Whether the body ended in the middle of an event.
    pub unterminated: bool,
    /// Time to the response head.
    pub ttfb: Duration,
    /// Why reading stopped early (timeout, reset), if it did.
    pub cut: Option<String>,
}

/// Cuts text to `max` characters with an ellipsis.
pub fn excerpt(text: &str, max: usize) -> String {
    crate::text::clean(text, max)
}

/// The innermost cause of a client error: reqwest's own text ("error sending request") says
/// nothing of what happened on the wire ("connection closed before message completed").
pub(crate) fn root_cause(e: &reqwest::Error) -> String {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    detail
}

/// Why a request got no response.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum TransportError {
    /// No connection could be made.
    #[error("cannot connect to {url}: {detail}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the client said.
        detail: String,
    },
    /// No complete answer within the timeout.
    #[error("no answer from {url} within {seconds:.1}s")]
    Timeout {
        /// The URL tried.
        url: String,
        /// The timeout.
        seconds: f64,
    },
    /// The answer grew past the harness's cap.
    #[error("the answer from {url} {what}; reading stopped there (--max-response-bytes)")]
    TooLarge {
        /// The URL tried.
        url: String,
        /// How it was over (e.g. "declares 300000000 bytes, over the 33554432-byte cap").
        what: String,
    },
    /// Anything else (reset, TLS, protocol).
    #[error("request to {url} failed: {detail}")]
    Other {
        /// The URL tried.
        url: String,
        /// What the client said.
        detail: String,
    },
}

/// The target and its client.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where the API's paths (`/models`, `/chat/completions`) live: the given base URL.
    api_root: String,
    /// Where the server's own paths (`/healthz`, `/openapi.json`) live: the API root without
    /// a trailing `/v1`.
    server_root: String,
    max_response_bytes: usize,
    max_events: usize,
    /// Reads past `BIG_READ_BYTES` take one of these first, so however many requests are in
    /// flight, only two large answers are buffered at once (memory stays bounded by ~2 caps).
    big_reads: Arc<Semaphore>,
    client: reqwest::Client,
    api_key: Option<String>,
    auth_header: String,
    timeout: Duration,
    /// Whom TLS trusts, for this target's every client.
    tls: Arc<rustls::ClientConfig>,
}

impl Target {
    /// Builds the client; the URL must be http(s).
    pub fn new(config: &TargetConfig) -> Result<Self, HarnessError> {
        let parsed = url::Url::parse(&config.base_url).map_err(|e| {
            HarnessError::Usage(format!("--target {:?} is not a URL: {e}", config.base_url))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(HarnessError::Usage(format!(
                "--target {:?} must be an http:// or https:// URL with a host",
                config.base_url
            )));
        }
        let api_root = config.base_url.trim_end_matches('/').to_owned();
        let server_root = api_root.strip_suffix("/v1").unwrap_or(&api_root).to_owned();
        if config.timeout.is_zero() {
            return Err(HarnessError::Usage(
                "--timeout must be greater than 0".into(),
            ));
        }
        let tls = tls::client_config(config.insecure, config.cacert.as_deref())
            .map_err(HarnessError::Usage)?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(POOL_IDLE)
            .redirect(redirect_policy())
            .use_preconfigured_tls((*tls).clone())
            .user_agent(concat!("conformance-kit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HarnessError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            api_root,
            server_root,
            max_response_bytes: config.max_response_bytes.max(1),
            max_events: config.max_events.max(1),
            big_reads: Arc::new(Semaphore::new(BIG_READS)),
            client,
            api_key: config.api_key.clone().filter(|k| !k.is_empty()),
            auth_header: config.auth_header.clone(),
            timeout: config.timeout,
            tls,
        })
    }

    /// Whether requests carry a key by default.
    pub(crate) fn has_key(&self) -> bool {
        self.api_key.as_deref().is_some_and(|k| !k.is_empty())
    }

    /// The API root: the base URL as given, without a trailing slash.
    pub fn api_root(&self) -> &str {
        &self.api_root
    }

    /// The same target with its API under `{root}/v1` (for a target given by its bare origin
    /// that serves the API there).
    pub fn under_v1(mut self) -> Self {
        self.api_root = format!("{}/v1", self.server_root);
        self
    }

    /// The full URL of a request path. Paths are written as OpenAI's (`/v1/models`): the `/v1`
    /// prefix stands for the API root; other paths (`/healthz`) are the server's own.
    pub fn url(&self, path: &str) -> String {
        match path.strip_prefix("/v1") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') => {
                format!("{}{rest}", self.api_root)
            }
            _ => format!("{}{path}", self.server_root),
        }
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The header that carries `key`, if there is a key and it can be sent.
    fn credentials(&self, key: Option<&str>) -> Option<(HeaderName, HeaderValue)> {
        let key = key?;
        let value = if self.auth_header.eq_ignore_ascii_case("authorization") {
            format!("Bearer {key}")
        } else {
            key.to_owned()
        };
        let name = HeaderName::try_from(self.auth_header.as_str()).ok()?;
        Some((name, HeaderValue::from_str(&value).ok()?))
    }

    fn build(&self, req: &Req) -> (reqwest::RequestBuilder, RequestRecord) {
        let url = self.url(&req.path);
        let mut headers = HeaderMap::new();
        let mut shown = Vec::new();
        let key = match &req.auth {
            Auth::Default => self.api_key.clone(),
            Auth::None => None,
            Auth::Key(k) => Some(k.clone()),
        };
        if let Some((name, value)) = self.credentials(key.as_deref()) {
            headers.insert(name, value);
            shown.push((self.auth_header.clone(), "[redacted]".to_owned()));
        }
        if let Some(ct) = &req.content_type {
            if let Ok(v) = HeaderValue::from_str(ct) {
                headers.insert(CONTENT_TYPE, v);
                shown.push(("content-type".to_owned(), ct.clone()));
            }
        }
        for (k, v) in &req.headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
            {
                let redact = name == AUTHORIZATION || k.eq_ignore_ascii_case(&self.auth_header);
                headers.insert(name, value);
                shown.push((
                    k.clone(),
                    if redact {
                        "[redacted]".into()
                    } else {
                        v.clone()
                    },
                ));
            }
        }
        let mut builder = self
            .client
            .request(req.method.clone(), &url)
            .headers(headers);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let record = RequestRecord {
            method: req.method.to_string(),
            url: url.clone(),
            headers: shown,
            body: req
                .body
                .as_ref()
                .map(|b| excerpt(&String::from_utf8_lossy(b), 2048)),
            redirect: None,
        };
        (builder, record)
    }

    fn transport_error(&self, url: &str, e: &reqwest::Error) -> TransportError {
        if e.is_timeout() {
            TransportError::Timeout {
                url: url.to_owned(),
                seconds: self.timeout.as_secs_f64(),
            }
        } else if e.is_connect() {
            TransportError::Unreachable {
                url: url.to_owned(),
                detail: tls::explain(e).unwrap_or_else(|| root_cause(e)),
            }
        } else {
            TransportError::Other {
                url: url.to_owned(),
                detail: root_cause(e),
            }
        }
    }

    /// Sends `req` and waits for the response head.
    async fn start(
        &self,
        req: &Req,
    ) -> Result<(reqwest::Response, RequestRecord, Instant), TransportError> {
        let (builder, mut request) = self.build(req);
        let started = Instant::now();
        let response = builder
            .send()
            .await
            .map_err(|e| self.transport_error(&request.url, &e))?;
        request.redirect = redirect_note(&request.url, &response);
        Ok((response, request, started))
    }

    /// Sends `req` and reads the whole body, up to the cap.
    pub async fn send(&self, req: Req) -> Result<Exchange, TransportError> {
        let (response, request, started) = self.start(&req).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let cap = self.max_response_bytes;
        if let Some(declared) = response
            .content_length()
            .filter(|n| *n > cap as u64 && req.keep.is_none())
        {
            return Err(TransportError::TooLarge {
                url: request.url,
                what: format!("declares {declared} bytes, over the {cap}-byte cap"),
            });
        }
        // Chunks are copied out (a chunk may pin a much larger read buffer of the client) into
        // blocks of at most 1 MiB, joined once at the end: no buffer ever doubles.
        let limit = req.keep.unwrap_or(cap).min(cap);
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut total = 0usize;
        let mut body = response.bytes_stream();
        let mut big = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.transport_error(&request.url, &e))?;
            if big.is_none() && total + chunk.len() > BIG_READ_BYTES {
                big = self.big_reads.clone().acquire_owned().await.ok();
            }
            let over_keep = req.keep.is_some() && total + chunk.len() > limit;
            if !over_keep && total + chunk.len() > cap {
                return Err(TransportError::TooLarge {
                    url: request.url,
                    what: format!("is longer than the {cap}-byte cap"),
                });
            }
            let mut rest = &chunk[..chunk.len().min(limit - total)];
            total += rest.len();
            while !rest.is_empty() {
                let room = blocks
                    .last()
                    .map_or(0, |b: &Vec<u8>| b.capacity() - b.len());
                if room == 0 {
                    blocks.push(Vec::with_capacity(BLOCK_BYTES));
                    continue;
                }
                let n = room.min(rest.len());
                if let Some(b) = blocks.last_mut() {
                    b.extend_from_slice(&rest[..n]);
                }
                rest = &rest[n..];
            }
            if over_keep {
                break;
            }
        }
        let body = match blocks.len() {
            0 => Bytes::new(),
            1 => Bytes::from(blocks.swap_remove(0)),
            _ => Bytes::from(blocks.concat()),
        };
        // Joining briefly holds the body twice: the permit covers that too.
        drop(blocks);
        drop(big);
        Ok(Exchange {
            request,
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        })
    }

    /// Sends `req` and reads the body as SSE, noting when each event arrives. A stream that
    /// stalls is cut at the timeout and returned with `cut` set.
    pub async fn stream(&self, req: Req) -> Result<StreamExchange, TransportError> {
        let (response, request, started) = self.start(&req).await?;
        let ttfb = started.elapsed();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        // The head of the body is kept for messages and for a stream answered as JSON.
        let mut raw = Vec::new();
        let mut read = 0usize;
        let mut cut = None;
        let cap = self.max_response_bytes;
        if let Some(declared) = response.content_length().filter(|n| *n > cap as u64) {
            return Err(TransportError::TooLarge {
                url: request.url,
                what: format!("declares {declared} bytes, over the {cap}-byte cap"),
            });
        }
        let mut body = response.bytes_stream();
        let mut big = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => {
                    read += bytes.len();
                    if big.is_none() && read > BIG_READ_BYTES {
                        big = self.big_reads.clone().acquire_owned().await.ok();
                    }
                    if read > cap {
                        cut = Some(format!(
                            "the stream was cut after {} at the {cap}-byte cap (--max-response-bytes)",
                            plural(events.len(), "event", "events"),
                        ));
                        break;
                    }
                    let keep = KEPT_STREAM_BYTES.saturating_sub(raw.len()).min(bytes.len());
                    raw.extend_from_slice(&bytes[..keep]);
                    events.extend(parser.push(&bytes, started.elapsed()));
                    if events.len() > self.max_events {
                        events.truncate(self.max_events);
                        cut = Some(format!(
                            "the stream was cut at the {}-event cap (--max-events)",
                            self.max_events
                        ));
                        break;
                    }
                    if parser.pending_len() > MAX_LINE_BYTES {
                        cut = Some(format!(
                            "the stream was cut after {}: a line longer than {MAX_LINE_BYTES} bytes",
                            plural(events.len(), "event", "events"),
                        ));
                        break;
                    }
                }
                Err(e) => {
                    cut = Some(format!(
                        "the stream was cut after {}: {}",
                        plural(events.len(), "event", "events"),
                        self.transport_error(&request.url, &e)
                    ));
                    break;
                }
            }
        }
        let unterminated = parser.has_unterminated();
        events.extend(parser.finish(started.elapsed()));
        Ok(StreamExchange {
            exchange: Exchange {
                request,
                status,
                headers,
                body: Bytes::from(raw),
                elapsed: started.elapsed(),
            },
            events,
            odd_lines: parser.odd_lines,
            unterminated,
            ttfb,
            cut,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A keep-alive server that answers a connection's first request and drops the connection,
    /// unanswered, on a request that comes after 1.5 s of idleness: the worst case of a server
    /// closing an idle connection just as the client reuses it.
    fn closes_idle_connections() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut last = None::<Instant>;
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || last.is_some_and(|t| t.elapsed() > Duration::from_millis(1500))
                        {
                            return;
                        }
                        let body = r#"{"object":"list","data":[]}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if stream
                            .write_all(format!("{head}{body}").as_bytes())
                            .is_err()
                        {
                            return;
                        }
                        last = Some(Instant::now());
                    }
                });
            }
        });
        format!("http://{addr}/v1")
    }

    #[tokio::test]
    async fn a_connection_idle_past_the_pool_limit_is_not_reused() {
        let target = Target::new(&TargetConfig::new(
            closes_idle_connections(),
            None,
            Duration::from_secs(5),
        ))
        .unwrap();
        let first = target.send(Req::get("/v1/models")).await.unwrap();
        assert_eq!(first.status, 200);
        // Longer than POOL_IDLE and than the server's patience: a reused connection is dropped.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let second = target.send(Req::get("/v1/models")).await;
        assert_eq!(second.map(|e| e.status).map_err(|e| e.to_string()), Ok(200));
    }
}
