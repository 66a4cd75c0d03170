//! Server configuration: defaults, a TOML file, then environment overrides.

use crate::simulate::delay::Delay;
use crate::simulate::faults::FaultConfig;
use crate::simulate::profile::TimingConfig;
use crate::simulate::ScenariosConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a configured model can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Serves `/v1/responses` and `/v1/chat/completions`.
    Chat,
    /// Serves `/v1/embeddings`.
    Embedding,
    /// Serves `/v1/dreams`.
    Dream,
}

/// One entry of the model catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The id callers put in `model`.
    pub id: String,
    /// Chat or embedding.
    pub kind: ModelKind,
    /// `owned_by` in the model object.
    #[serde(default = "default_owner")]
    pub owned_by: String,
    /// `created` (unix seconds) in the model object.
    #[serde(default = "default_created")]
    pub created: i64,
    /// Default (and maximum) embedding dimension; ignored for chat models.
    #[serde(default = "default_dimensions")]
    pub dimensions: usize,
}

fn default_owner() -> String {
    "reference-server".to_owned()
}
fn default_created() -> i64 {
    1_700_000_000
}
fn default_dimensions() -> usize {
    1536
}

/// How bearer tokens are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Any non-empty bearer token is accepted (local use).
    #[default]
    Permissive,
    /// Only the tokens listed in `auth.tokens` are accepted.
    Strict,
}

/// A token accepted in strict mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenConfig {
    /// The bearer token itself.
    pub token: String,
    /// Scopes granted; `*` grants all.
    #[serde(default = "all_scopes")]
    pub scopes: Vec<String>,
    /// The project the token belongs to: what it stores, only tokens of the same project
    /// see. Without one, the token is a project of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

fn all_scopes() -> Vec<String> {
    vec!["*".to_owned()]
}

/// Authentication settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AuthConfig {
    /// Permissive or strict.
    pub mode: AuthMode,
    /// Tokens for strict mode.
    pub tokens: Vec<TokenConfig>,
    /// A header that may carry the key instead of `Authorization: Bearer`, as several gateways
    /// use (default `x-api-key`; `""` accepts only the bearer token).
    pub key_header: Option<String>,
}

impl AuthConfig {
    /// The header that may carry the key besides `Authorization`, if any.
    pub fn key_header(&self) -> Option<&str> {
        match self.key_header.as_deref() {
            None => Some("x-api-key"),
            Some("") => None,
            Some(h) => Some(h),
        }
    }
}

/// How rate-limit buckets are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitKeying {
    /// One bucket per route and principal (token hash, else client address).
    #[default]
    RoutePrincipal,
    /// One bucket per route, shared by everyone.
    RouteOnly,
    /// One bucket per route and project (every key of a project shares it).
    Project,
}

/// A budget of `requests` per `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateBudget {
    /// Requests allowed in a full window (the bucket's capacity).
    pub requests: u32,
    /// Window length in seconds (the time to refill an empty bucket).
    pub per_seconds: u32,
}

/// Rate limiting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Off: no limiting and no rate-limit headers.
    pub enabled: bool,
    /// Bucket keying.
    pub keying: RateLimitKeying,
    /// Budget of every route not listed in `routes`.
    pub default: RateBudget,
    /// Budgets by route pattern, e.g. `"/v1/embeddings"`.
    pub routes: std::collections::BTreeMap<String, RateBudget>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // Generous: a full conformance run uses well under a tenth of any route's budget.
        Self {
            enabled: true,
            keying: RateLimitKeying::RoutePrincipal,
            default: RateBudget {
                requests: 600,
                per_seconds: 60,
            },
            routes: std::collections::BTreeMap::new(),
        }
    }
}

impl RateLimitConfig {
    /// The budget of `route`.
    pub fn budget(&self, route: &str) -> RateBudget {
        self.routes.get(route).copied().unwrap_or(self.default)
    }
}

/// Idempotency-Key handling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdempotencyConfig {
    /// How long a key is remembered, in seconds.
    pub ttl_seconds: u64,
    /// Most keys remembered at once (oldest expire first).
    pub max_keys: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            ttl_seconds: 24 * 60 * 60,
            max_keys: 100_000,
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Most inputs in one embeddings request.
    pub max_embedding_inputs: usize,
    /// Most responses kept for `previous_response_id` and retrieval.
    pub stored_responses: usize,
    /// Deepest JSON nesting accepted in a body.
    pub max_json_depth: usize,
    /// Most messages, input items or tools in one request.
    pub max_items: usize,
    /// Requests served at once; more get 503 with Retry-After (load shedding).
    pub max_concurrent_requests: usize,
    /// Longest time a request may take, in seconds (then 408).
    pub request_timeout_seconds: u64,
    /// On shutdown, how long to keep serving with `/readyz` answering 503 before closing, so a
    /// load balancer stops sending traffic first (0: close at once).
    pub shutdown_delay_seconds: u64,
    /// Longest life of a WebSocket-mode connection on `/v1/responses`, in seconds (then
    /// `websocket_connection_limit_reached`); Open Responses sets 60 minutes.
    pub websocket_seconds: u64,
    /// A WebSocket-mode connection that sends no message for this long is closed, in seconds.
    pub websocket_idle_seconds: u64,
    /// A connection that has not sent a whole request head this long after its first byte
    /// (or after it opened) is closed, in seconds (nginx's `client_header_timeout`).
    pub header_read_timeout_seconds: u64,
    /// An idle keep-alive connection is closed after this long, in seconds: above the pool
    /// idle times of clients (the SDKs, the harness), so none races a close.
    pub idle_timeout_seconds: u64,
    /// Most connections open at once (WebSocket ones included); past it the oldest idle one
    /// is closed for each new one. Default: nine tenths of the descriptor limit.
    pub max_connections: Option<usize>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            max_embedding_inputs: 2048,
            stored_responses: 10_000,
            max_json_depth: 64,
            max_items: 2048,
            max_concurrent_requests: 1024,
            request_timeout_seconds: 60,
            shutdown_delay_seconds: 0,
            websocket_seconds: 3600,
            websocket_idle_seconds: 600,
            header_read_timeout_seconds: 10,
            idle_timeout_seconds: 75,
            max_connections: None,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to bind (default loopback).
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Public base URL announced in `/openapi.json` `servers`, if known.
    pub public_url: Option<String>,
    /// Authentication.
    pub auth: AuthConfig,
    /// The model catalogue.
    pub models: Vec<ModelConfig>,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Rate limiting.
    pub rate_limit: RateLimitConfig,
    /// Idempotency-Key handling.
    pub idempotency: IdempotencyConfig,
    /// Write one JSON log line per request to stderr.
    pub request_logs: bool,
    /// Timing profiles: time to first token, between tokens, per embedding input (default:
    /// none, every answer at once).
    pub timing: TimingConfig,
    /// Injected faults, each with its schedule (default: none).
    pub faults: Vec<FaultConfig>,
    /// Per-request scenarios (`X-Refserver-Scenario`).
    pub scenarios: ScenariosConfig,
    /// Where `/v1/indexes` keeps its data.
    pub indexes: IndexesConfig,
    /// Cross-origin requests from web pages (default: off).
    pub cors: CorsConfig,
    /// Where rate-limit buckets, idempotency records and stored responses live (default: in
    /// this process).
    pub store: StoreConfig,
}

/// The shared store of several replicas: unset, each server keeps its state in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `redis://[user:password@]host:port/db` (or `rediss://`, `redis+unix://`); unset: in memory.
    pub url: Option<String>,
    /// Every key this deployment writes starts with it, so deployments can share one Redis.
    pub prefix: String,
    /// How long to wait for the store at start before giving up (0: give up at once).
    pub wait_seconds: u64,
    /// The most one store operation may take before the request gets a 503, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "refserver".to_owned(),
            wait_seconds: 0,
            timeout_ms: 1000,
        }
    }
}

/// Which web pages may call the server from another origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed (`https://app.example`, `http://localhost:5173`), or `"*"` for any.
    /// Empty (the default): CORS is off, and an `OPTIONS` is 405.
    pub allow_origins: Vec<String>,
    /// How long a browser may keep a preflight's answer.
    pub max_age_seconds: u32,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origins: Vec::new(),
            max_age_seconds: 600,
        }
    }
}

/// Where `/v1/indexes` keeps its data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexesConfig {
    /// The database file (created with its directory), or `":memory:"`. Unset: in memory for
    /// the library (tests, the harness's embedded server); the binary sets
    /// [`IndexesConfig::DEFAULT_PATH`].
    pub path: Option<String>,
}

impl IndexesConfig {
    /// The binary's default database file, relative to its working directory.
    pub const DEFAULT_PATH: &'static str = "refserver-data/indexes.redb";
    /// The `path` that keeps indexes in memory.
    pub const MEMORY: &'static str = ":memory:";

    /// The file to open, if the data is to persist.
    pub fn file(&self) -> Option<&Path> {
        self.path
            .as_deref()
            .filter(|p| *p != Self::MEMORY)
            .map(Path::new)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            public_url: None,
            auth: AuthConfig::default(),
            models: vec![
                ModelConfig {
                    id: "ref-chat-1".to_owned(),
                    kind: ModelKind::Chat,
                    owned_by: default_owner(),
                    created: default_created(),
                    dimensions: default_dimensions(),
                },
                ModelConfig {
                    id: "ref-embed-1".to_owned(),
                    kind: ModelKind::Embedding,
                    owned_by: default_owner(),
                    created: default_created(),
                    dimensions: default_dimensions(),
                },
                ModelConfig {
                    id: "ref-dream-1".to_owned(),
                    kind: ModelKind::Dream,
                    owned_by: default_owner(),
                    created: default_created(),
                    dimensions: default_dimensions(),
                },
            ],
            limits: LimitsConfig::default(),
            rate_limit: RateLimitConfig::default(),
            idempotency: IdempotencyConfig::default(),
            request_logs: true,
            timing: TimingConfig::default(),
            faults: Vec::new(),
            scenarios: ScenariosConfig::default(),
            indexes: IndexesConfig::default(),
            cors: CorsConfig::default(),
            store: StoreConfig::default(),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The path given.
        path: String,
        /// What the parser said.
        message: String,
    },
    /// An environment variable has a bad value.
    #[error("invalid environment variable {name}={value:?}: {message}")]
    Env {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// The values do not make sense together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// `*`, or an origin as a browser sends it: `scheme://host` with an optional port, nothing after.
fn is_origin(text: &str) -> bool {
    if text == "*" {
        return true;
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let host = rest.rsplit_once(':').map_or(rest, |(host, port)| {
        if port.parse::<u16>().is_ok() {
            host
        } else {
            ""
        }
    });
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !host.is_empty()
        && !host.contains(['/', '?', '#', ' ', '@'])
}

impl Config {
    /// Reads a TOML file; missing keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `REFSERVER_*` environment variables from `vars`.
    pub fn apply_env<I>(&mut self, vars: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        for (name, value) in vars {
            let bad = |message: &str| ConfigError::Env {
                name: name.clone(),
                value: value.clone(),
                message: message.to_owned(),
            };
            match name.as_str() {
                "REFSERVER_HOST" => self.host = value.clone(),
                "REFSERVER_PORT" => self.port = value.parse().map_err(|_| bad("not a port"))?,
                "REFSERVER_PUBLIC_URL" => self.public_url = Some(value.clone()),
                "REFSERVER_AUTH_MODE" => {
                    self.auth.mode = match value.as_str() {
                        "permissive" => AuthMode::Permissive,
                        "strict" => AuthMode::Strict,
                        _ => return Err(bad("expected permissive or strict")),
                    }
                }
                "REFSERVER_API_KEYS" => {
                    self.auth.tokens = value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(|t| {
                            // `key=project` puts the key in a project; a bare key is its own.
                            let (token, project) = match t.split_once('=') {
                                Some((token, project)) => {
                                    (token.trim(), Some(project.trim().to_owned()))
                                }
                                None => (t, None),
                            };
                            TokenConfig {
                                token: token.to_owned(),
                                scopes: all_scopes(),
                                project,
                            }
                        })
                        .collect();
                }
                "REFSERVER_MAX_BODY_BYTES" => {
                    self.limits.max_body_bytes =
                        value.parse().map_err(|_| bad("not a byte count"))?
                }
                "REFSERVER_RATE_LIMIT" => match value.as_str() {
                    "off" | "false" | "0" => self.rate_limit.enabled = false,
                    "on" | "true" | "1" => self.rate_limit.enabled = true,
                    other => {
                        let budget = parse_budget(other).ok_or_else(|| {
                            bad("expected off, on, or REQUESTS/SECONDS such as 6000/60")
                        })?;
                        self.rate_limit.enabled = true;
                        self.rate_limit.default = budget;
                        self.rate_limit.routes.clear();
                    }
                },
                "REFSERVER_RATE_LIMIT_KEYING" => {
                    self.rate_limit.keying = match value.as_str() {
                        "route_principal" => RateLimitKeying::RoutePrincipal,
                        "project" => RateLimitKeying::Project,
                        "route_only" => RateLimitKeying::RouteOnly,
                        _ => return Err(bad("expected route_principal, route_only or project")),
                    }
                }
                "REFSERVER_IDEMPOTENCY_TTL_SECONDS" => {
                    self.idempotency.ttl_seconds =
                        value.parse().map_err(|_| bad("not a number of seconds"))?
                }
                "REFSERVER_SHUTDOWN_DELAY_SECONDS" => {
                    self.limits.shutdown_delay_seconds =
                        value.parse().map_err(|_| bad("not a number of seconds"))?
                }
                "REFSERVER_HEADER_READ_TIMEOUT_SECONDS" => {
                    self.limits.header_read_timeout_seconds =
                        value.parse().map_err(|_| bad("not a number of seconds"))?
                }
                "REFSERVER_IDLE_TIMEOUT_SECONDS" => {
                    self.limits.idle_timeout_seconds =
                        value.parse().map_err(|_| bad("not a number of seconds"))?
                }
                "REFSERVER_MAX_CONNECTIONS" => {
                    self.limits.max_connections = Some(
                        value
                            .parse()
                            .map_err(|_| bad("not a number of connections"))?,
                    )
                }
                "REFSERVER_MAX_CONCURRENT_REQUESTS" => {
                    self.limits.max_concurrent_requests =
                        value.parse().map_err(|_| bad("not a count"))?
                }
                "REFSERVER_TIMING_SEED" => {
                    self.timing.seed = value.parse().map_err(|_| bad("not a whole number"))?
                }
                "REFSERVER_TTFT" => self.timing.ttft = delay(&value).map_err(|e| bad(&e))?,
                "REFSERVER_INTER_TOKEN" => {
                    self.timing.inter_token = delay(&value).map_err(|e| bad(&e))?
                }
                "REFSERVER_EMBEDDING_DELAY" => {
                    self.timing.embedding_per_input = delay(&value).map_err(|e| bad(&e))?
                }
                "REFSERVER_FAULTS" => {
                    self.faults = value
                        .split(';')
                        .map(str::trim)
                        .filter(|f| !f.is_empty() && *f != "off")
                        .map(FaultConfig::parse_compact)
                        .collect::<Result<_, _>>()
                        .map_err(|e| bad(&e))?
                }
                "REFSERVER_SCENARIO_HEADER" => {
                    self.scenarios.header = match value.as_str() {
                        "1" | "true" | "on" | "yes" => true,
                        "0" | "false" | "off" | "no" => false,
                        _ => return Err(bad("expected on or off")),
                    }
                }
                "REFSERVER_CORS_ORIGINS" => {
                    self.cors.allow_origins = value
                        .split(',')
                        .map(str::trim)
                        .filter(|o| !o.is_empty() && *o != "off")
                        .map(str::to_owned)
                        .collect()
                }
                "REFSERVER_INDEX_PATH" => self.indexes.path = Some(value.clone()),
                "REFSERVER_STORE_URL" => {
                    self.store.url = Some(value.clone()).filter(|u| !u.is_empty())
                }
                "REFSERVER_STORE_PREFIX" => self.store.prefix = value.clone(),
                "REFSERVER_STORE_WAIT_SECONDS" => {
                    self.store.wait_seconds = value.parse().map_err(|_| bad("not a number"))?
                }
                "REFSERVER_API_KEY_HEADER" => self.auth.key_header = Some(value.clone()),
                "REFSERVER_REQUEST_LOGS" => {
                    self.request_logs = matches!(value.as_str(), "1" | "true" | "yes")
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks that the values fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.store.url {
            let scheme = url.split_once("://").map(|(s, _)| s);
            if !matches!(scheme, Some("redis" | "rediss" | "redis+unix" | "unix")) {
                return Err(ConfigError::Invalid(format!(
                    "store.url must be a redis:// (or rediss://, redis+unix://) URL, not '{url}'"
                )));
            }
        }
        if self.store.prefix.is_empty() || self.store.prefix.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid(
                "store.prefix must be a non-empty word without spaces".to_owned(),
            ));
        }
        if self.store.timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "store.timeout_ms must be at least 1".to_owned(),
            ));
        }
        if self.auth.mode == AuthMode::Strict && self.auth.tokens.is_empty() {
            return Err(ConfigError::Invalid(
                "auth.mode = \"strict\" needs at least one entry in auth.tokens".to_owned(),
            ));
        }
        if self
            .auth
            .tokens
            .iter()
            .any(|t| t.project.as_deref().is_some_and(|p| p.trim().is_empty()))
        {
            return Err(ConfigError::Invalid(
                "auth.tokens: a project, when given, is a non-empty name".to_owned(),
            ));
        }
        let l = &self.limits;
        if l.header_read_timeout_seconds == 0
            || l.idle_timeout_seconds == 0
            || l.websocket_idle_seconds == 0
            || l.max_connections == Some(0)
        {
            return Err(ConfigError::Invalid(
                "limits: header_read_timeout_seconds, idle_timeout_seconds, websocket_idle_seconds and max_connections must be above 0".to_owned(),
            ));
        }
        if let Some(h) = self.auth.key_header() {
            if axum::http::HeaderName::try_from(h).is_err()
                || h.eq_ignore_ascii_case("authorization")
            {
                return Err(ConfigError::Invalid(format!(
                    "auth.key_header {h:?} is not a header name other than Authorization"
                )));
            }
        }
        if let Some(bad) = self.cors.allow_origins.iter().find(|o| !is_origin(o)) {
            return Err(ConfigError::Invalid(format!(
                "cors.allow_origins: {bad:?} is not an origin (scheme://host[:port], no path) or \"*\""
            )));
        }
        if self.models.is_empty() {
            return Err(ConfigError::Invalid(
                "the model catalogue is empty".to_owned(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.models {
            if !seen.insert(m.id.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "model id {:?} is listed twice",
                    m.id
                )));
            }
            if m.kind == ModelKind::Embedding && m.dimensions == 0 {
                return Err(ConfigError::Invalid(format!(
                    "model {:?} has 0 dimensions",
                    m.id
                )));
            }
        }
        for (route, b) in std::iter::once(("default", &self.rate_limit.default))
            .chain(self.rate_limit.routes.iter().map(|(r, b)| (r.as_str(), b)))
        {
            if b.requests == 0 || b.per_seconds == 0 {
                return Err(ConfigError::Invalid(format!(
                    "rate limit for {route} needs requests >= 1 and per_seconds >= 1"
                )));
            }
        }
        if self.limits.max_concurrent_requests == 0 || self.limits.request_timeout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "limits.max_concurrent_requests and limits.request_timeout_seconds must be at least 1".to_owned(),
            ));
        }
        for id in self.timing.models.keys() {
            if self.model(id).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "timing.models.{id:?}: no model {id:?} in the catalogue"
                )));
            }
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if let Some(problem) = fault.problem() {
                return Err(ConfigError::Invalid(format!("faults[{i}]: {problem}")));
            }
            if let Some(id) = fault.models.iter().find(|id| self.model(id).is_none()) {
                return Err(ConfigError::Invalid(format!(
                    "faults[{i}].models: no model {id:?} in the catalogue"
                )));
            }
        }
        if self.scenarios.header && self.auth.mode == AuthMode::Strict {
            return Err(ConfigError::Invalid(
                "scenarios.header = true cannot be used with auth.mode = \"strict\": a production-like server never lets a request pick its own faults".to_owned(),
            ));
        }
        if self.limits.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "limits.max_body_bytes must be at least 1024".to_owned(),
            ));
        }
        Ok(())
    }

    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.id == id)
    }
}

fn delay(text: &str) -> Result<Delay, String> {
    text.parse()
}

/// Parses `REQUESTS/SECONDS`, e.g. `6000/60`.
pub fn parse_budget(text: &str) -> Option<RateBudget> {
    let (r, s) = text.split_once('/')?;
    let budget = RateBudget {
        requests: r.trim().parse().ok()?,
        per_seconds: s.trim().parse().ok()?,
    };
    (budget.requests > 0 && budget.per_seconds > 0).then_some(budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_a_chat_and_an_embedding_model() {
        let c = Config::default();
        assert!(c.models.iter().any(|m| m.kind == ModelKind::Chat));
        assert!(c
            .models
            .iter()
            .any(|m| m.kind == ModelKind::Embedding && m.id.contains("embed")));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn toml_overrides_only_what_it_names() {
        let c =
            Config::from_toml("port = 9000\n[auth]\nmode = \"strict\"\ntokens = [{token = \"t\"}]")
                .unwrap_or_default();
        assert_eq!(c.port, 9000);
        assert_eq!(c.auth.mode, AuthMode::Strict);
        assert_eq!(c.auth.tokens[0].scopes, vec!["*"]);
        assert_eq!(c.host, "127.0.0.1");
    }

    #[test]
    fn strict_without_tokens_is_rejected() {
        let mut c = Config::default();
        c.auth.mode = AuthMode::Strict;
        assert!(c.validate().is_err());
    }

    #[test]
    fn bad_env_port_is_a_clear_error() {
        let mut c = Config::default();
        let err = c
            .apply_env([("REFSERVER_PORT".to_owned(), "x".to_owned())])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("REFSERVER_PORT"), "{err}");
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn api_keys_from_the_environment_may_name_their_project() {
        let mut c = Config::default();
        c.apply_env([(
            "REFSERVER_API_KEYS".to_owned(),
            "sk-a1=alice, sk-a2=alice,sk-solo".to_owned(),
        )])
        .unwrap();
        let pairs: Vec<(&str, Option<&str>)> = c
            .auth
            .tokens
            .iter()
            .map(|t| (t.token.as_str(), t.project.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("sk-a1", Some("alice")),
                ("sk-a2", Some("alice")),
                ("sk-solo", None)
            ]
        );
        c.auth.mode = AuthMode::Strict;
        assert!(c.validate().is_ok());
        c.apply_env([("REFSERVER_API_KEYS".to_owned(), "sk-a1=".to_owned())])
            .unwrap();
        assert!(c.validate().is_err(), "an empty project name");
    }

    #[test]
    fn env_can_disable_or_replace_the_rate_limit() {
        let mut c = Config::default();
        c.apply_env([("REFSERVER_RATE_LIMIT".to_owned(), "off".to_owned())])
            .unwrap_or_default();
        assert!(!c.rate_limit.enabled);
        c.apply_env([("REFSERVER_RATE_LIMIT".to_owned(), "6000/60".to_owned())])
            .unwrap_or_default();
        assert_eq!(
            c.rate_limit.default,
            RateBudget {
                requests: 6000,
                per_seconds: 60
            }
        );
        assert!(c
            .apply_env([("REFSERVER_RATE_LIMIT".to_owned(), "lots".to_owned())])
            .is_err());
    }

    #[test]
    fn per_route_budgets_come_from_toml() {
        let c = Config::from_toml("[rate_limit]\nkeying = \"route_only\"\n[rate_limit.routes.\"/v1/embeddings\"]\nrequests = 5\nper_seconds = 1\n")
            .unwrap_or_default();
        assert_eq!(c.rate_limit.keying, RateLimitKeying::RouteOnly);
        assert_eq!(c.rate_limit.budget("/v1/embeddings").requests, 5);
        assert_eq!(c.rate_limit.budget("/v1/models").requests, 600);
    }
}

#[cfg(test)]
mod simulation_tests {
    use super::*;
    use crate::simulate::faults::FaultKind;

    fn invalid(text: &str) -> String {
        match Config::from_toml(text) {
            Err(parse) => parse,
            Ok(c) => c
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn timing_and_faults_come_from_toml() {
        let c = Config::from_toml(
            "[timing]\nseed = 9\nttft = \"200ms\"\ninter_token = \"normal(20ms, 2ms)\"\n[timing.models.\"ref-chat-1\"]\nttft = \"lognormal(300ms, 0.4)\"\n[[faults]]\nkind = \"429\"\nevery = 10\nretry_after = \"2s\"\n[[faults]]\nkind = \"cut\"\nmodels = [\"ref-chat-1\"]\nafter = 100\nfor = \"5s\"\n",
        );
        assert!(c.is_ok(), "{c:?}");
        let c = c.unwrap_or_default();
        assert!(c.validate().is_ok());
        assert_eq!(c.timing.seed, 9);
        assert_eq!(c.faults.len(), 2);
        assert_eq!(c.faults[0].kind, FaultKind::RateLimited);
        assert_eq!(c.faults[1].for_, Some(std::time::Duration::from_secs(5)));
    }

    #[test]
    fn a_bad_distribution_or_rate_names_its_key() {
        let e = invalid("[timing]\nttft = \"normal(20ms)\"\n");
        assert!(e.contains("ttft") && e.contains("2 parameters"), "{e}");
        let e = invalid("[timing]\nttf = \"20ms\"\n");
        assert!(e.contains("ttf"), "{e}");
        let e = invalid("[[faults]]\nkind = \"500\"\nrate = 1.5\n");
        assert!(e.contains("faults[0]") && e.contains("`rate`"), "{e}");
        let e = invalid("[[faults]]\nkind = \"500\"\nmodels = [\"nope\"]\n");
        assert!(e.contains("faults[0].models"), "{e}");
        let e = invalid("[timing.models.nope]\nttft = \"1s\"\n");
        assert!(e.contains("timing.models"), "{e}");
        let e = invalid(
            "[auth]\nmode = \"strict\"\ntokens = [{token = \"t\"}]\n[scenarios]\nheader = true\n",
        );
        assert!(e.contains("scenarios.header"), "{e}");
    }

    #[test]
    fn env_sets_timing_and_faults() {
        let mut c = Config::default();
        let set = |c: &mut Config, k: &str, v: &str| c.apply_env([(k.to_owned(), v.to_owned())]);
        assert!(set(&mut c, "REFSERVER_TTFT", "uniform(100ms, 200ms)").is_ok());
        assert!(set(
            &mut c,
            "REFSERVER_FAULTS",
            "kind=429,every=5; kind=hang,rate=1%"
        )
        .is_ok());
        assert_eq!(c.faults.len(), 2);
        assert!(!c.timing.ttft.is_zero());
        let e = set(&mut c, "REFSERVER_INTER_TOKEN", "soon")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("REFSERVER_INTER_TOKEN")));
        let e = set(&mut c, "REFSERVER_FAULTS", "kind=429,every=x")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("REFSERVER_FAULTS") && e.contains("every")));
    }
}

#[cfg(test)]
mod readme_tests {
    use super::*;

    #[test]
    fn cors_origins_come_from_the_environment_and_are_checked() {
        let mut c = Config::default();
        assert!(c
            .apply_env([(
                "REFSERVER_CORS_ORIGINS".to_owned(),
                "https://app.example, http://127.0.0.1:5173".to_owned()
            )])
            .is_ok());
        assert_eq!(
            c.cors.allow_origins,
            ["https://app.example", "http://127.0.0.1:5173"]
        );
        assert!(c.validate().is_ok());
        for bad in [
            "app.example",
            "https://app.example/",
            "https://app.example:x",
            "https://",
        ] {
            c.cors.allow_origins = vec![bad.to_owned()];
            assert!(c.validate().is_err(), "{bad}");
        }
        c.cors.allow_origins = vec!["*".to_owned()];
        assert!(c.validate().is_ok());
    }

    #[test]
    fn the_readme_example_configuration_is_valid() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\n")
            .map(|i| i + "```toml\n".len())
            .unwrap_or(0);
        let end = readme[start..].find("```").map_or(start, |i| start + i);
        let config = Config::from_toml(&readme[start..end]);
        assert!(config.is_ok(), "{config:?}");
        let config = config.unwrap_or_default();
        assert!(config.validate().is_ok());
        assert_eq!(config.rate_limit.budget("/v1/embeddings").requests, 3000);
        assert_eq!(config.auth.tokens.len(), 2);
        assert_eq!(
            config.indexes.file(),
            Some(Path::new("refserver-data/indexes.redb"))
        );
        assert!(config.models.iter().any(|m| m.kind == ModelKind::Dream));
    }

    #[test]
    fn the_readme_slow_profile_is_valid() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\n[timing]")
            .map(|i| i + "```toml\n".len())
            .unwrap_or(0);
        let end = readme[start..].find("```").map_or(start, |i| start + i);
        let config = Config::from_toml(&readme[start..end]);
        assert!(config.is_ok(), "{config:?}");
        let config = config.unwrap_or_default();
        assert!(config.validate().is_ok(), "{:?}", config.validate());
        assert_eq!(config.faults.len(), 3);
        assert!(config.scenarios.header);
        assert!(!config.timing.ttft.is_zero());
    }
}
