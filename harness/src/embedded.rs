//! The embedded default target: the reference server in-process on an ephemeral loopback port.

use crate::error::HarnessError;
use tokio::sync::oneshot;

/// A running embedded server; dropping it shuts the server down.
pub struct Embedded {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The key of the embedded server, which runs in strict auth so that unknown keys are
/// rejected and `errors.bad-key.401` applies.
pub const KEY: &str = "sk-conformance-embedded";
/// A key of another project on the embedded server, for the isolation checks.
pub const SECOND_KEY: &str = "sk-conformance-embedded-other-project";

/// Starts the reference server with its default models and limits, strict auth with `KEY`,
/// and no request log.
pub async fn start() -> Result<Embedded, HarnessError> {
    start_with(true).await
}

/// As [`start`], with the rate limiter on or off: `run` checks the limiter, while `eval`
/// grades the engine and must not be throttled by its own stand-in.
pub async fn start_with(rate_limit: bool) -> Result<Embedded, HarnessError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|source| HarnessError::Io {
            context: "cannot bind a loopback port for the embedded reference server".into(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| HarnessError::Io {
        context: "loopback address".into(),
        source,
    })?;
    let mut config = reference_server::Config {
        port: addr.port(),
        request_logs: false,
        auth: reference_server::AuthConfig {
            mode: reference_server::AuthMode::Strict,
            tokens: vec![
                reference_server::TokenConfig {
                    token: KEY.to_owned(),
                    scopes: vec!["*".to_owned()],
                    project: None,
                },
                reference_server::TokenConfig {
                    token: SECOND_KEY.to_owned(),
                    scopes: vec!["*".to_owned()],
                    project: Some("second".to_owned()),
                },
            ],
            ..Default::default()
        },
        ..Default::default()
    };
    config.rate_limit.enabled = rate_limit;
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(reference_server::serve(listener, config, async move {
        let _ = rx.await;
    }));
    Ok(Embedded {
        url: format!("http://{addr}"),
        stop: Some(tx),
    })
}
