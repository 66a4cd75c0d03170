//! A router that remembers what it serves, so the OpenAPI document can be checked against the
//! routes themselves rather than against a second, hand-kept list; and the handlers of paths
//! without parameters, which the envelope calls without the router.

use crate::protocol::extract::ApiRequest;
use crate::state::AppState;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use futures::future::BoxFuture;
use std::sync::Arc;

/// One (method, path) the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Lower-case HTTP method (`get`, `post`, `delete`).
    pub method: &'static str,
    /// The axum path (`/v1/models/{*model}`).
    pub path: &'static str,
    /// The top-level body fields the route accepts, for routes with a JSON body.
    pub body_fields: Option<&'static [&'static str]>,
}

impl Served {
    /// The path as OpenAPI writes it: `{*model}` becomes `{model}`.
    pub fn openapi_path(&self) -> String {
        self.path.replace("{*", "{")
    }
}

/// A handler the envelope calls itself, without axum's router, for a path without parameters:
/// the envelope has matched the path already, and the router's second match cost a tenth of
/// a request (its tree, two request extensions, a boxed route clone, a `Content-Length` insert).
pub type Direct = Arc<dyn Fn(Request, AppState) -> BoxFuture<'static, Response> + Send + Sync>;

/// A (method, path) served by a [`Direct`] handler.
#[derive(Clone)]
pub struct DirectRoute {
    /// The method it answers (a `HEAD`, or any other, goes through the router).
    pub method: Method,
    /// The path, without parameters.
    pub path: &'static str,
    /// The handler.
    pub handler: Direct,
}

/// A `Router` plus the list of what was routed on it.
pub struct Routes {
    router: Router<AppState>,
    served: Vec<Served>,
    direct: Vec<DirectRoute>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            served: Vec::new(),
            direct: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        body_fields: Option<&'static [&'static str]>,
        route: MethodRouter<AppState>,
    ) -> Self {
        // axum merges method routers registered on the same path.
        self.router = self.router.route(path, route);
        self.served.push(Served {
            method,
            path,
            body_fields,
        });
        self
    }

    /// `GET path`.
    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState, Future = BoxFuture<'static, Response>>,
        T: 'static,
    {
        let direct = direct(Method::GET, path, handler.clone());
        self.add("get", path, None, get(handler))
            .with_direct(direct)
    }

    /// `DELETE path`.
    pub fn delete<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState, Future = BoxFuture<'static, Response>>,
        T: 'static,
    {
        let direct = direct(Method::DELETE, path, handler.clone());
        self.add("delete", path, None, delete(handler))
            .with_direct(direct)
    }

    /// `POST path` with a JSON body of type `R`.
    pub fn post<R: ApiRequest, H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState, Future = BoxFuture<'static, Response>>,
        T: 'static,
    {
        let direct = direct(Method::POST, path, handler.clone());
        self.add("post", path, Some(R::FIELDS), post(handler))
            .with_direct(direct)
    }

    /// A WebSocket endpoint, upgraded from `GET path` (a plain GET is 426).
    pub fn websocket<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("get", path, None, get(handler))
    }

    fn with_direct(mut self, direct: Option<DirectRoute>) -> Self {
        self.direct.extend(direct);
        self
    }

    /// Both sets of routes.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self.direct.extend(other.direct);
        self
    }

    /// What was routed.
    pub fn served(&self) -> &[Served] {
        &self.served
    }

    /// The routes the envelope may serve without the router.
    pub fn direct(&self) -> &[DirectRoute] {
        &self.direct
    }

    /// The router, for layering.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// `handler` as a [`Direct`] route, if `path` has no parameters (extracting them is the
/// router's work). An `async fn` handler's future is boxed already (axum boxes it), and is
/// not boxed again.
fn direct<H, T>(method: Method, path: &'static str, handler: H) -> Option<DirectRoute>
where
    H: Handler<T, AppState, Future = BoxFuture<'static, Response>>,
    T: 'static,
{
    if path.contains('{') {
        return None;
    }
    let handler: Direct = Arc::new(move |req, state| handler.clone().call(req, state));
    Some(DirectRoute {
        method,
        path,
        handler,
    })
}
