//! Projects: what a key stores (responses, indexes, idempotency records), only keys of the
//! same project see. A token listed with `project = "…"` belongs to that project; any other
//! key (strict mode without a project, or any key in permissive mode) is a project of its own.
//!
//! A project is named by 16 hex digits of a SHA-256, never by its name or a key, so what logs
//! and stores carry reveals neither.

use crate::config::{AuthConfig, AuthMode};
use crate::protocol::principal::{credential, hash, Principal};
use axum::http::HeaderMap;
use std::sync::Arc;

/// The project a request acts in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Project(Arc<str>);

impl Project {
    /// The project named `name` in the configuration.
    pub fn named(name: &str) -> Self {
        // Prefixed so a project's hash is never a token's hash.
        Self(hash(&format!("project:{name}")).into())
    }

    /// The project of a key with no named project: the key's own hash.
    fn own(token_hash: Arc<str>) -> Self {
        Self(token_hash)
    }

    /// The hex name stores and logs use.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The projects of the configured tokens, in their order (computed once, at start).
pub fn of_tokens(config: &AuthConfig) -> Vec<Option<Project>> {
    config
        .tokens
        .iter()
        .map(|t| t.project.as_deref().map(Project::named))
        .collect()
}

/// The project of a request from `principal`, if it sent a key: in strict mode, the project
/// of the configured token (`None` for an unknown key, which auth refuses); otherwise the
/// key's own.
pub fn resolve(
    auth: &AuthConfig,
    projects: &[Option<Project>],
    principal: &Principal,
    headers: &HeaderMap,
) -> Option<Project> {
    let Principal::Token(token_hash) = principal else {
        return None;
    };
    if auth.mode == AuthMode::Permissive {
        return Some(Project::own(token_hash.clone()));
    }
    let key = credential(headers, auth.key_header())?;
    let at = auth.tokens.iter().position(|t| t.token == key)?;
    Some(of_entry(projects, at, token_hash))
}

/// The project of configured token number `at`, sent by a principal with `token_hash`.
pub fn of_entry(projects: &[Option<Project>], at: usize, token_hash: &Arc<str>) -> Project {
    match projects.get(at) {
        Some(Some(named)) => named.clone(),
        _ => Project::own(token_hash.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_project_is_a_hash_unlike_any_token_hash() {
        let p = Project::named("alice");
        assert_eq!(p.as_str().len(), 16);
        assert_ne!(p.as_str(), hash("alice"));
        assert_eq!(p, Project::named("alice"));
        assert_ne!(p, Project::named("bob"));
    }
}
