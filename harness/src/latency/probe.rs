//! One measured request: end to end, and for streams the time to the first content delta,
//! the gaps between deltas and the output tokens. Reads are bounded like every other read of
//! the harness (`--max-response-bytes`, `--max-events`).

use crate::target::sse::SseParser;
use crate::target::TargetConfig;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Where the output token count of a stream came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenCount {
    /// The server's reported `usage`.
    Usage,
    /// The number of content deltas (no usage reported).
    Deltas,
}

/// What one request gave.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// From the (intended) start to the end of the body.
    pub latency: Duration,
    /// From the start to the first content delta (streams).
    pub ttft: Option<Duration>,
    /// Gaps between consecutive content deltas.
    pub itl: Vec<Duration>,
    /// Output tokens and where the count came from (streams).
    pub tokens: Option<(u64, TokenCount)>,
    /// Why the request failed, if it did.
    pub error: Option<String>,
    /// When it was (due to be) sent, from the start of the run.
    pub sent_at: Duration,
}

impl Sample {
    /// Time per output token after the first: (end - first delta) / (tokens - 1).
    pub fn tpot(&self) -> Option<Duration> {
        let (tokens, _) = self.tokens?;
        let ttft = self.ttft?;
        (tokens >= 2).then(|| (self.latency.saturating_sub(ttft)) / (tokens - 1) as u32)
    }
}

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// A request ready to be sent again and again.
#[derive(Debug, Clone)]
pub struct Prepared {
    client: Client,
    url: reqwest::Url,
    /// Plain HTTP: where to connect (`host:port`), and the request's path and query.
    authority: String,
    path: http::Uri,
    timeout: Duration,
    headers: HeaderMap,
    bodies: Vec<Bytes>,
    stream: bool,
    /// With a key per request: this run's prefix of them (random, so two runs or two workers
    /// of a split never send the same key).
    keys: Option<String>,
    max_bytes: usize,
    max_events: usize,
}

impl Prepared {
    /// The request for `endpoint` with `bodies` (each sent in turn), streamed or not, each
    /// with an `Idempotency-Key` of its own when `keyed`.
    pub fn new(
        client: &Client,
        target: &TargetConfig,
        endpoint: &str,
        bodies: &[Value],
        stream: bool,
        keyed: bool,
    ) -> Result<Self, String> {
        let root = target.base_url.trim_end_matches('/');
        let rest = endpoint.strip_prefix("/v1").unwrap_or(endpoint);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("conformance-kit/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
            let value = if target.auth_header.eq_ignore_ascii_case("authorization") {
                format!("Bearer {key}")
            } else {
                key.to_owned()
            };
            let name = HeaderName::try_from(target.auth_header.as_str()).map_err(|_| {
                format!(
                    "--auth-header {:?} is not a header name",
                    target.auth_header
                )
            })?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| "the API key is not a valid header value".to_owned())?;
            headers.insert(name, value);
        }
        let bodies = bodies
            .iter()
            .map(|b| {
                let mut b = b.clone();
                if stream {
                    b["stream"] = Value::Bool(true);
                    // Chat reports usage in a stream only when asked.
                    if endpoint == "/v1/chat/completions" && b.get("stream_options").is_none() {
                        b["stream_options"] = serde_json::json!({"include_usage": true});
                    }
                }
                Bytes::from(b.to_string())
            })
            .collect();
        let url = format!("{root}{rest}");
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let uri = url
            .parse::<http::Uri>()
            .map_err(|e| format!("{url:?} is not a URI: {e}"))?;
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(80);
        let authority = format!("{host}:{port}");
        // HTTP/1.1 asks for a Host header, and a connection of our own sends the path alone.
        if let Some(host) = uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            headers.insert(HOST, host);
        }
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse::<http::Uri>()
            .map_err(|e| format!("{url:?} is not a URI: {e}"))?;
        Ok(Self {
            client: client.clone(),
            url: parsed,
            authority,
            path,
            timeout: target.timeout,
            headers,
            bodies,
            stream,
            keys: keyed.then(|| format!("load-{}", uuid::Uuid::new_v4().simple())),
            max_bytes: target.max_response_bytes,
            max_events: target.max_events,
        })
    }

    /// Sends body `n` (modulo the count) as if it had been due at `due`; times are measured
    /// from `due`, so a request held back by the load generator still counts its wait.
    pub async fn send(&self, n: usize, due: Instant, connection: &mut Connection) -> Sample {
        let mut sample = Sample::default();
        let exchange = self.exchange(n, due, connection, &mut sample);
        if tokio::time::timeout(self.timeout, exchange).await.is_err() {
            sample.error = Some("timed out".into());
        }
        sample.latency = due.elapsed();
        sample
    }

    async fn exchange(
        &self,
        n: usize,
        due: Instant,
        connection: &mut Connection,
        sample: &mut Sample,
    ) {
        let body = self.bodies[n % self.bodies.len()].clone();
        let mut headers = self.headers.clone();
        if let Some(prefix) = &self.keys {
            // `n` counts this scenario's requests: one key each.
            if let Ok(key) = HeaderValue::from_str(&format!("{prefix}-{n}")) {
                headers.insert(IDEMPOTENCY_KEY, key);
            }
        }
        let (status, mut body) = match &self.client {
            Client::Plain { connect_timeout } => {
                let mut request = http::Request::new(Full::new(body));
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() = self.path.clone();
                *request.headers_mut() = headers;
                match connection
                    .send(&self.authority, *connect_timeout, request)
                    .await
                {
                    Ok(r) => (r.status(), Body::Plain(r.into_body())),
                    Err(e) => {
                        sample.error = Some(e);
                        return;
                    }
                }
            }
            Client::Tls(client) => {
                let mut request = reqwest::Request::new(reqwest::Method::POST, self.url.clone());
                *request.headers_mut() = headers;
                *request.body_mut() = Some(body.into());
                match client.execute(request).await {
                    Ok(r) => (r.status(), Body::Tls(r)),
                    Err(e) => {
                        sample.error = Some(transport(&e));
                        return;
                    }
                }
            }
        };
        if self.stream && status.is_success() {
            self.read_stream(&mut body, due, sample).await;
        } else {
            let mut read = 0usize;
            while let Some(chunk) = body.chunk().await {
                match chunk {
                    Ok(c) => {
                        read += c.len();
                        if read > self.max_bytes {
                            sample.error =
                                Some(format!("answer over the {}-byte cap", self.max_bytes));
                            break;
                        }
                    }
                    Err(e) => {
                        sample.error = Some(e);
                        break;
                    }
                }
            }
        }
        if !status.is_success() && sample.error.is_none() {
            sample.error = Some(format!("HTTP {}", status.as_u16()));
        }
    }

    async fn read_stream(&self, body: &mut Body, due: Instant, sample: &mut Sample) {
        let mut parser = SseParser::default();
        let (mut read, mut events, mut deltas) = (0usize, 0usize, 0u64);
        let mut last: Option<Duration> = None;
        let mut usage: Option<u64> = None;
        let mut ended = false;
        while let Some(chunk) = body.chunk().await {
            let bytes = match chunk {
                Ok(b) => b,
                Err(e) => {
                    sample.error = Some(format!("the stream broke: {e}"));
                    break;
                }
            };
            read += bytes.len();
            if read > self.max_bytes {
                sample.error = Some(format!("stream over the {}-byte cap", self.max_bytes));
                break;
            }
            let at = due.elapsed();
            for event in parser.push(&bytes, at) {
                events += 1;
                if event.data == "[DONE]" {
                    ended = true;
                    continue;
                }
                let Ok(value) = serde_json::from_str::<Value>(&event.data) else {
                    continue;
                };
                match kind(&value) {
                    Event::Content => {
                        deltas += 1;
                        match last {
                            None => sample.ttft = Some(at),
                            Some(prev) => sample.itl.push(at.saturating_sub(prev)),
                        }
                        last = Some(at);
                    }
                    Event::End(tokens) => {
                        ended = true;
                        usage = tokens.or(usage);
                    }
                    Event::Usage(tokens) => usage = Some(tokens),
                    Event::Failed => {
                        sample.error = Some("the stream reported a failure".into());
                    }
                    Event::Other => {}
                }
            }
            if events > self.max_events {
                sample.error = Some(format!("stream over the {}-event cap", self.max_events));
                break;
            }
        }
        if sample.error.is_none() && !ended {
            sample.error = Some("the stream ended without its terminal event".into());
        }
        if sample.error.is_none() && deltas == 0 {
            sample.error = Some("the stream had no content delta".into());
        }
        sample.tokens = match usage {
            Some(u) if u > 0 => Some((u, TokenCount::Usage)),
            _ if deltas > 0 => Some((deltas, TokenCount::Deltas)),
            _ => None,
        };
    }
}

/// A worker's own connection to a plain-HTTP target, opened on first use and again after it
/// broke, closed, or sat idle past [`crate::target::POOL_IDLE`] (a server may be closing it).
#[derive(Default)]
pub struct Connection {
    open: Option<(SendRequest<Full<Bytes>>, Instant)>,
}

impl Connection {
    /// Sends `request` to `authority` (`host:port`) on this connection, opening it if needed.
    async fn send(
        &mut self,
        authority: &str,
        connect_timeout: Duration,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let usable = self.open.as_ref().is_some_and(|(sender, used)| {
            !sender.is_closed() && used.elapsed() < crate::target::POOL_IDLE
        });
        if !usable {
            self.open = None;
            let sender = open(authority, connect_timeout).await?;
            self.open = Some((sender, Instant::now()));
        }
        let Some((sender, used)) = self.open.as_mut() else {
            return Err("could not connect".into());
        };
        if let Err(e) = sender.ready().await {
            self.open = None;
            return Err(source_text(&e));
        }
        let answer = sender.send_request(request).await;
        *used = Instant::now();
        answer.map_err(|e| {
            self.open = None;
            source_text(&e)
        })
    }
}

/// Opens an HTTP/1 connection to `authority`; its driver runs as a task of its own.
async fn open(authority: &str, timeout: Duration) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream =
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(authority)).await {
            Ok(Ok(stream)) => stream,
            _ => return Err("could not connect".into()),
        };
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| source_text(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// An answer's body, read chunk by chunk.
enum Body {
    Plain(hyper::body::Incoming),
    Tls(reqwest::Response),
}

impl Body {
    async fn chunk(&mut self) -> Option<Result<Bytes, String>> {
        match self {
            Self::Plain(body) => loop {
                match body.frame().await? {
                    Err(e) => return Some(Err(source_text(&e))),
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            return Some(Ok(data));
                        }
                    }
                }
            },
            Self::Tls(response) => response
                .chunk()
                .await
                .transpose()
                .map(|r| r.map_err(|e| transport(&e))),
        }
    }
}

/// The innermost cause of an error: what actually went wrong.
fn source_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    detail
}

/// What a stream event means for timing.
enum Event {
    /// Generated output: text, a refusal, or function-call arguments.
    Content,
    /// The terminal event, with the output tokens it reports.
    End(Option<u64>),
    /// A usage-only event (chat's last chunk).
    Usage(u64),
    /// `response.failed` / `error`.
    Failed,
    /// Anything else (`response.created`, the role chunk, …).
    Other,
}

fn kind(v: &Value) -> Event {
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        return match t {
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.function_call_arguments.delta" => {
                if v["delta"].as_str().is_some_and(|d| !d.is_empty()) {
                    Event::Content
                } else {
                    Event::Other
                }
            }
            "response.completed" | "response.incomplete" => Event::End(
                v.pointer("/response/usage/output_tokens")
                    .and_then(Value::as_u64),
            ),
            "response.failed" | "error" => Event::Failed,
            _ => Event::Other,
        };
    }
    if let Some(tokens) = v
        .pointer("/usage/completion_tokens")
        .and_then(Value::as_u64)
    {
        return Event::Usage(tokens);
    }
    let text = |x: Option<&Value>| x.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    let content = v["choices"].as_array().is_some_and(|choices| {
        choices.iter().any(|c| {
            let d = &c["delta"];
            text(d.get("content"))
                || text(d.get("refusal"))
                || d["tool_calls"].as_array().is_some_and(|calls| {
                    calls
                        .iter()
                        .any(|call| text(call.pointer("/function/arguments")))
                })
        })
    });
    if content {
        Event::Content
    } else {
        Event::Other
    }
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        crate::target::root_cause(e)
    }
}

/// The HTTP client of a load run.
#[derive(Debug, Clone)]
pub enum Client {
    /// Plain HTTP: each of the generator's workers keeps a hyper HTTP/1 connection of its own
    /// ([`Connection`]), as load tools do, with nothing between it and the wire: reqwest's
    /// layers cost a fifth of a closed loop's throughput on a fast target, and a shared pool
    /// a checkout (a lock and a hash) per request.
    Plain {
        /// How long a connection may take to open.
        connect_timeout: Duration,
    },
    /// HTTPS: reqwest, with rustls.
    Tls(reqwest::Client),
}

/// The client for a load run against `target`: one pool, sized for the run.
pub fn client(target: &TargetConfig, connections: usize) -> Result<Client, String> {
    if target.base_url.starts_with("http://") {
        return Ok(Client::Plain {
            connect_timeout: target.timeout.min(Duration::from_secs(10)),
        });
    }
    let tls = crate::target::tls::client_config(target.insecure, target.cacert.as_deref())?;
    reqwest::Client::builder()
        .connect_timeout(target.timeout.min(Duration::from_secs(10)))
        .use_preconfigured_tls((*tls).clone())
        .pool_max_idle_per_host(connections)
        .pool_idle_timeout(crate::target::POOL_IDLE)
        .redirect(crate::target::redirect_policy())
        .tcp_nodelay(true)
        .user_agent(concat!("conformance-kit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map(Client::Tls)
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_deltas_are_the_generated_text_only() {
        assert!(matches!(
            kind(&json!({"type": "response.created"})),
            Event::Other
        ));
        assert!(matches!(
            kind(&json!({"type": "response.output_text.delta", "delta": "hi"})),
            Event::Content
        ));
        assert!(matches!(
            kind(&json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]})),
            Event::Other
        ));
        assert!(matches!(
            kind(&json!({"choices": [{"delta": {"content": "a"}}]})),
            Event::Content
        ));
        assert!(matches!(
            kind(&json!({"choices": [], "usage": {"completion_tokens": 7}})),
            Event::Usage(7)
        ));
        assert!(matches!(
            kind(
                &json!({"type": "response.completed", "response": {"usage": {"output_tokens": 9}}})
            ),
            Event::End(Some(9))
        ));
    }

    #[test]
    fn tpot_spreads_the_time_after_the_first_token() {
        let s = Sample {
            latency: Duration::from_millis(1200),
            ttft: Some(Duration::from_millis(200)),
            tokens: Some((51, TokenCount::Usage)),
            ..Sample::default()
        };
        assert_eq!(s.tpot(), Some(Duration::from_millis(20)));
        let one = Sample {
            tokens: Some((1, TokenCount::Deltas)),
            ..s
        };
        assert_eq!(one.tpot(), None);
    }
}
