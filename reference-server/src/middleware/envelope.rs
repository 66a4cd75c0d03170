//! The one layer every route and fallback is served through, as a single tower service with
//! one boxed future per request (five `from_fn` layers cost a clone, a box and an extraction
//! each, per request). In order: the request context (ids, metrics, log line, fixed headers);
//! a panic guard; the request timeout (408); load shedding (503); unread bodies drained, so an
//! early answer keeps the connection; then on `/v1` routes the rate limit, auth and
//! idempotency (`v1`), and on unknown paths under `/v1` the rate limit alone. With CORS on, a
//! preflight is answered before all of it, and answers to an allowed origin say so.

use super::{context, cors, drain, idempotency, shed, v1};
use crate::protocol::error::ApiError;
use crate::protocol::principal::Principal;
use crate::routes::table::{Direct, DirectRoute};
use crate::simulate::faults::FaultKind;
use crate::simulate::Mark;
use crate::state::AppState;
use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::FutureExt;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::Service;
use tracing::Instrument;

/// The app: the router inside the envelope. The envelope wraps the whole router, once, rather
/// than each route (as a route layer it cost one more level of axum's routing per request: a
/// boxed service clone, boxed futures, and the matched path as an extension). It finds the
/// route template itself, with the same matcher axum uses, from the routes the router was
/// built with; a path without parameters it serves itself, by method, and everything else
/// (parameters, `HEAD`, a method not routed, no route) goes through the router. Made per
/// connection by `axum::serve`, it knows the client's address.
#[derive(Clone)]
pub struct Envelope {
    router: Router,
    state: AppState,
    routes: Arc<Templates>,
    peer: Option<SocketAddr>,
    /// The connection's state, when served by [`crate::connections::serve`]: its requests
    /// keep its timers off while they are answered.
    conn: Option<Arc<crate::connections::Conn>>,
}

/// The route templates: those without parameters by their path, the others in a tree.
struct Templates {
    /// Found with one hash (the tree walk touched a dozen cold nodes per request).
    exact: std::collections::HashMap<&'static str, Exact, foldhash::fast::RandomState>,
    tree: matchit::Router<&'static str>,
}

/// A path without parameters: its template, and its handlers by method.
struct Exact {
    template: &'static str,
    direct: Vec<(Method, Direct)>,
}

/// What serves a request the envelope lets through.
enum Target {
    /// The route's handler, called as it is.
    Direct(Direct),
    /// axum's router.
    Router(Router),
}

impl Envelope {
    /// `router` in the envelope, with `state`; `templates` are the paths it routes, and
    /// `direct` the routes it may serve without it (the same handlers, with `state`).
    pub fn new(
        router: Router,
        state: AppState,
        templates: impl IntoIterator<Item = &'static str>,
        direct: impl IntoIterator<Item = DirectRoute>,
    ) -> Self {
        let mut routes = Templates {
            exact: Default::default(),
            tree: matchit::Router::new(),
        };
        for template in templates {
            if template.contains('{') {
                // A path routed for several methods is one template; the first insert stands.
                let _ = routes.tree.insert(template, template);
            } else {
                routes.exact.entry(template).or_insert(Exact {
                    template,
                    direct: Vec::new(),
                });
            }
        }
        for route in direct {
            // Only a routed path: the router stays the judge of what is served.
            if let Some(exact) = routes.exact.get_mut(route.path) {
                exact.direct.push((route.method, route.handler));
            }
        }
        Self {
            router,
            state,
            routes: Arc::new(routes),
            peer: None,
            conn: None,
        }
    }

    /// The envelope of one connection, from `peer`, with its state.
    pub fn for_connection(&self, peer: SocketAddr, conn: Arc<crate::connections::Conn>) -> Self {
        let mut envelope = self.clone();
        envelope.peer = Some(peer);
        envelope.conn = Some(conn);
        envelope
    }

    /// The app's state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The route template of `path` (or [`v1::UNMATCHED`]), and the handler that serves
    /// `method` there without the router, if there is one. A template without parameters is
    /// matched by the path itself, as the tree would, which prefers it to any parameter.
    fn find(&self, method: &Method, path: &str) -> (&'static str, Option<&Direct>) {
        match self.routes.exact.get(path) {
            Some(exact) => (
                exact.template,
                exact
                    .direct
                    .iter()
                    .find(|(m, _)| m == method)
                    .map(|(_, handler)| handler),
            ),
            None => (
                self.routes
                    .tree
                    .at(path)
                    .map_or(v1::UNMATCHED, |m| *m.value),
                None,
            ),
        }
    }
}

impl Service<Request> for Envelope {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A router is always ready; the request is served when its future is polled.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (route, direct) = self.find(req.method(), req.uri().path());
        let target = match direct {
            Some(handler) => Target::Direct(handler.clone()),
            None => Target::Router(self.router.clone()),
        };
        let dispatch = self.conn.as_ref().map(crate::connections::Conn::dispatched);
        Box::pin(handle(
            self.state.clone(),
            target,
            route,
            (self.peer, dispatch),
            req,
        ))
    }
}

/// What `axum::serve` asks for each connection: the envelope, knowing the client's address
/// (the principal of a request without a key).
impl<L> Service<axum::serve::IncomingStream<'_, L>> for Envelope
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    type Response = Envelope;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Envelope, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: axum::serve::IncomingStream<'_, L>) -> Self::Future {
        let mut envelope = self.clone();
        envelope.peer = Some(*stream.remote_addr());
        std::future::ready(Ok(envelope))
    }
}

/// Serves one request. The per-request future is boxed, so its size is copied and allocated
/// for every request: these are plain functions returning `async` blocks (an `async fn` keeps
/// a second copy of each argument in its state), and the request is owned once, here, and
/// lent to the steps below.
#[allow(clippy::manual_async_fn)] // see above: each argument stored once
fn handle(
    state: AppState,
    target: Target,
    route: &'static str,
    (peer, dispatch): (Option<SocketAddr>, Option<crate::connections::Dispatch>),
    mut req: Request,
) -> impl Future<Output = Result<Response, Infallible>> + Send {
    async move {
        // Held until the answer's head: the connection is busy, not idle, until then.
        let _dispatch = dispatch;
        let method = req.method().clone();
        // The page's origin, when CORS is on and allows it: its answer will say so.
        let origin = if state.config.cors.allow_origins.is_empty() {
            None
        } else {
            cors::allowed(&state.config.cors, req.headers())
        };
        let principal = Principal::compute(req.headers(), peer, state.config.auth.key_header());
        // Only a server that may inject faults pays for the mark that tells the log about them.
        let mark = state.simulation.may_fault().then(Mark::default);
        if let Some(mark) = &mark {
            req.extensions_mut().insert(mark.clone());
        }
        // Made in place: a `Started` moved in from a local would be stored twice.
        let mut pending = Pending {
            state: &state,
            started: Some(context::Started::now(
                &state,
                req.headers(),
                method.as_str(),
                route,
            )),
            method: method.as_str(),
            route,
            principal: &principal,
            mark: mark.as_ref(),
        };
        let timeout = state.config.limits.request_timeout_seconds;
        let (deadline, span) = match &pending.started {
            Some(started) => (
                started.at() + Duration::from_secs(timeout),
                started.span().clone(),
            ),
            None => (Instant::now(), tracing::Span::none()),
        };
        // The project auth admitted the request in, for the log line.
        let mut project = None;
        let served = {
            // Pinned here and lent to `within`, so the future is stored once.
            let serving = std::pin::pin!(serve(
                &state,
                &principal,
                route,
                target,
                &mut req,
                &mut project
            ));
            AssertUnwindSafe(within(deadline, timeout, mark.as_ref(), serving))
                .catch_unwind()
                .instrument(span)
                .await
        };
        let response = match served {
            // Boxed, as it is rare: its state would otherwise be part of every request's future.
            Ok(response) if context::needs_envelope(&response) => {
                Box::pin(context::enveloped(response)).await
            }
            Ok(response) => response,
            Err(_panic) => ApiError::internal().into_response(),
        };
        let mut response = match pending.started.take() {
            Some(started) => context::finish(
                &state,
                started,
                method.as_str(),
                route,
                (&principal, project.as_ref()),
                mark.as_ref().and_then(Mark::fault),
                response,
            ),
            None => response,
        };
        if let Some(origin) = origin {
            cors::expose(&mut response, origin);
        }
        Ok(response)
    }
}

/// A request not yet answered. If its future is dropped first (the client closed the
/// connection, say while a paced answer or an injected hang was waiting), the request is
/// still counted and logged, with status 499 (client closed request).
struct Pending<'a> {
    state: &'a AppState,
    started: Option<context::Started>,
    method: &'a str,
    route: &'a str,
    principal: &'a Principal,
    mark: Option<&'a Mark>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(started) = self.started.take() {
            context::abandoned(
                self.state,
                started,
                self.method,
                self.route,
                self.principal,
                self.mark.and_then(Mark::fault),
            );
        }
    }
}

/// Sheds, reads or defers the body, routes `/v1` through its checks, and drains what was not
/// read. The request is lent: the route is given it when it runs.
// Not an `async fn`: it would store each argument twice (see `handle`).
#[allow(clippy::manual_async_fn)]
fn serve<'a>(
    state: &'a AppState,
    principal: &'a Principal,
    route: &'static str,
    target: Target,
    req: &'a mut Request,
    project: &'a mut Option<crate::protocol::project::Project>,
) -> impl Future<Output = Response> + Send + 'a {
    async move {
        // Before everything else: a browser sends no credentials on a preflight.
        if let Some(answer) = cors::preflight(&state.config.cors, req.method(), req.headers()) {
            return answer;
        }
        let _permit = if shed::exempt(req.uri().path()) {
            None
        } else {
            match state.in_flight.try_acquire() {
                Ok(permit) => Some(permit),
                Err(_) => return shed::refused(),
            }
        };
        let limit = state.config.limits.max_body_bytes;
        let unread = drain::prepare(req, limit).await;
        // An `OPTIONS` (CORS off, or not a preflight of an allowed origin) is the router's 405
        // with `Allow`, never a 401 or a 429: no API method is `OPTIONS`.
        let mut admission = if v1::is_under(req.uri().path()) && req.method() != Method::OPTIONS {
            v1::admit(state, principal, route, req).await
        } else {
            v1::Admission::Serve {
                taken: None,
                key: None,
                project: None,
            }
        };
        if let v1::Admission::Serve {
            project: admitted, ..
        } = &mut admission
        {
            *project = admitted.take();
        }
        let response = match admission {
            v1::Admission::Refused(refused) => refused,
            v1::Admission::Serve {
                taken, key: None, ..
            } => {
                let response = match target {
                    // Called here rather than in `call`: the request is not held in one more
                    // future (the handler's own is boxed).
                    Target::Direct(handler) => handler(std::mem::take(req), state.clone()).await,
                    // Boxed: axum's route future is large, and the router is the rarer way
                    // (parameters, `HEAD`, a method not routed, no route).
                    router => Box::pin(call(router, state, std::mem::take(req))).await,
                };
                v1::stamp(response, taken.as_ref())
            }
            v1::Admission::Serve {
                taken,
                key: Some(key),
                ..
            } => {
                // Boxed, as it is rare: its state would otherwise be part of every request's
                // future (allocated and copied per request).
                let req = std::mem::take(req);
                let keyed = idempotency::keyed(state, key, req, |req| call(target, state, req));
                v1::stamp(Box::pin(keyed).await, taken.as_ref())
            }
        };
        if let Some(unread) = unread {
            unread.discard(limit).await;
        }
        response
    }
}

/// Whether `router` can take a request (always, for axum's router).
fn ready(router: &mut Router, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
    <Router as Service<Request>>::poll_ready(router, cx)
}

/// The route's answer. For the router, readiness first, then the call: unlike `oneshot`, the
/// request is not held in one more future.
async fn call(target: Target, state: &AppState, req: Request) -> Response {
    match target {
        Target::Direct(handler) => handler(req, state.clone()).await,
        Target::Router(mut router) => {
            let Ok(()) = std::future::poll_fn(|cx| ready(&mut router, cx)).await;
            let Ok(response) = router.call(req).await;
            response
        }
    }
}

/// `fut`, or a 408 once `deadline` passes. The timer is armed only if the first poll does not
/// finish: most answers are ready at once, and a timer per request costs a wake-up of the
/// I/O driver. An injected hang is exempt: it lasts until the client gives up.
// Not an `async fn`: it would store each argument twice (see `handle`).
#[allow(clippy::manual_async_fn)]
fn within<'a, F>(
    deadline: Instant,
    seconds: u64,
    mark: Option<&'a Mark>,
    mut fut: Pin<&'a mut F>,
) -> impl Future<Output = Response> + 'a
where
    F: Future<Output = Response>,
{
    async move {
        if let Poll::Ready(response) =
            std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
        {
            return response;
        }
        // Boxed: the timer's state is large and most answers never get here.
        match Box::pin(tokio::time::timeout_at(deadline.into(), fut.as_mut())).await {
            Ok(response) => response,
            Err(_elapsed) if mark.and_then(Mark::fault) == Some(FaultKind::Hang) => fut.await,
            Err(_elapsed) => ApiError::timed_out(seconds).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    fn request() -> Request {
        Request::builder()
            .uri("/healthz")
            .body(Body::empty())
            .unwrap_or_default()
    }

    fn enveloped(state: AppState, route: axum::routing::MethodRouter) -> Envelope {
        let router = Router::new().route("/healthz", route);
        Envelope::new(router, state, ["/healthz"], [])
    }

    fn route(envelope: &Envelope, path: &str) -> &'static str {
        envelope.find(&Method::GET, path).0
    }

    #[test]
    fn the_route_is_the_template_the_path_matches() {
        let router = Router::new();
        let state = AppState::new(Config::default());
        let envelope = Envelope::new(
            router,
            state,
            [
                "/v1/models",
                "/v1/models/{*model}",
                "/v1/models",
                "/v1/responses/{id}",
                "/v1/responses/compact",
            ],
            [],
        );
        assert_eq!(route(&envelope, "/v1/models"), "/v1/models");
        assert_eq!(
            route(&envelope, "/v1/responses/compact"),
            "/v1/responses/compact",
            "a fixed path before a parameter"
        );
        assert_eq!(route(&envelope, "/v1/models/ft:a/b"), "/v1/models/{*model}");
        assert_eq!(
            route(&envelope, "/v1/responses/resp_1"),
            "/v1/responses/{id}"
        );
        for unmatched in [
            "/v1/models/",
            "/v1/responses/a/b",
            "/v1",
            "/",
            "/V1/models",
            "/v1/models?x",
            "/v1/responses/compact/",
        ] {
            assert_eq!(route(&envelope, unmatched), v1::UNMATCHED, "{unmatched}");
        }
    }

    #[tokio::test]
    async fn a_panicking_route_is_a_500_in_the_envelope_with_the_usual_headers() {
        let route = axum::routing::get(|| async move {
            if true {
                panic!("a bug in a handler");
            }
            Response::<axum::body::Body>::default()
        });
        let state = AppState::new(Config::default());
        let Ok(response) = enveloped(state, route).oneshot(request()).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap_or_default();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(value["error"]["type"], "server_error");
    }

    #[tokio::test(start_paused = true)]
    async fn a_route_slower_than_the_limit_is_cut_with_408() {
        let route = axum::routing::get(|| async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::<axum::body::Body>::default()
        });
        let mut config = Config::default();
        config.limits.request_timeout_seconds = 2;
        let state = AppState::new(config);
        let Ok(response) = enveloped(state, route).oneshot(request()).await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn a_path_without_parameters_is_served_by_its_handler_and_the_rest_by_the_router() {
        use crate::routes::table::Routes;
        use axum::extract::MatchedPath;
        // The router marks the requests it routes with the matched path; the envelope does not.
        async fn probe(req: Request) -> String {
            let routed = req.extensions().get::<MatchedPath>().is_some();
            format!("{} routed={routed}", req.method())
        }
        let routes = Routes::new()
            .get("/things", probe)
            .delete("/things", probe)
            .get("/things/{id}", probe);
        let state = AppState::new(Config::default());
        let templates: Vec<_> = routes.served().iter().map(|s| s.path).collect();
        let direct = routes.direct().to_vec();
        let router = routes
            .into_router()
            .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
            .with_state(state.clone());
        let envelope = Envelope::new(router, state, templates, direct);
        for (method, path, status, body) in [
            ("GET", "/things", StatusCode::OK, "GET routed=false"),
            ("DELETE", "/things", StatusCode::OK, "DELETE routed=false"),
            ("GET", "/things/1", StatusCode::OK, "GET routed=true"),
            // axum answers HEAD with the GET handler and no body.
            ("HEAD", "/things", StatusCode::OK, ""),
            // Worded by the envelope, as every bodiless error is.
            (
                "POST",
                "/things",
                StatusCode::METHOD_NOT_ALLOWED,
                r#"{"error":{"message":"405 Method Not Allowed","type":"invalid_request_error","param":null,"code":null}}"#,
            ),
        ] {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap_or_default();
            let Ok(response) = envelope.clone().oneshot(req).await;
            assert_eq!(response.status(), status, "{method} {path}");
            if status == StatusCode::METHOD_NOT_ALLOWED {
                let allow = response.headers().get("allow").cloned();
                assert_eq!(
                    allow.as_ref().and_then(|v| v.to_str().ok()),
                    Some("GET,HEAD,DELETE")
                );
            }
            let bytes = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap_or_default();
            assert_eq!(bytes, body.as_bytes(), "{method} {path}");
        }
    }
}
