//! A router that remembers what it serves, so the OpenAPI document can be checked against the
//! routes themselves rather than against a second, hand-kept list.

use crate::extract::ApiRequest;
use crate::state::AppState;
use axum::handler::Handler;
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;

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

/// A `Router` plus the list of what was routed on it.
pub struct Routes {
    router: Router<AppState>,
    served: Vec<Served>,
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
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("get", path, None, get(handler))
    }

    /// `DELETE path`.
    pub fn delete<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("delete", path, None, delete(handler))
    }

    /// `POST path` with a JSON body of type `R`.
    pub fn post<R: ApiRequest, H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("post", path, Some(R::FIELDS), post(handler))
    }

    /// A WebSocket endpoint, upgraded from `GET path` (a plain GET is 426).
    pub fn websocket<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("get", path, None, get(handler))
    }

    /// Both sets of routes.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self
    }

    /// What was routed.
    pub fn served(&self) -> &[Served] {
        &self.served
    }

    /// The router, for layering.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
