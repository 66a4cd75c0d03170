//! The accept loop: each connection registered (or refused at the cap), served by hyper with
//! HTTP/1, HTTP/2 and upgrades, and closed by its watchdog when a bound says so. On shutdown,
//! no more connections are accepted and the open ones finish what they are serving.

use super::{watch, Closed, Connections};
use crate::middleware::envelope::Envelope;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a connection closed for idleness may take to finish (a request that arrived as
/// it was closed is served).
const GRACE: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` completes, then waits for open connections to
/// finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Envelope,
    connections: Arc<Connections>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    // Dropped to tell connections to finish; each connection holds a `done` until it ends.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    refused(&e, &connections).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Streams write one small chunk per token: without TCP_NODELAY, Nagle's algorithm
        // holds a chunk back until the previous one is acknowledged.
        let _ = stream.set_nodelay(true);
        let Some(registration) = connections.admit() else {
            continue;
        };
        let conn = registration.conn().clone();
        let io = TokioIo::new(super::tracked::Tracked::new(stream, registration));
        let service = app
            .for_connection(peer, conn.clone())
            .map_request(|req: hyper::Request<Incoming>| req.map(Body::new));
        let service = TowerToHyperService::new(service);
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        let connections = connections.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            // The CONNECT protocol carries WebSockets over HTTP/2, as axum::serve allows.
            builder.http2().enable_connect_protocol();
            let mut serving = std::pin::pin!(builder.serve_connection_with_upgrades(io, service));
            let mut watchdog = std::pin::pin!(watch(&connections, &conn));
            let mut stopping = false;
            loop {
                tokio::select! {
                    _ = serving.as_mut() => {
                        // A socket still registered was upgraded: it has its own bounds.
                        conn.upgraded();
                        break;
                    }
                    why = &mut watchdog => {
                        if why == Closed::IdleTimeout {
                            serving.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(GRACE, serving.as_mut()).await;
                        }
                        // Otherwise dropped: the socket is closed at once.
                        break;
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        serving.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// An accept that failed. Out of descriptors, the oldest idle connection is closed to free
/// one; either way the loop waits a moment rather than spinning on the error.
async fn refused(e: &std::io::Error, connections: &Connections) {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    let out_of_descriptors = matches!(e.raw_os_error(), Some(EMFILE | ENFILE));
    if out_of_descriptors {
        connections.evict_oldest_idle();
        tracing::warn!(error = %e, "accept: out of descriptors; closed the oldest idle connection");
        tokio::time::sleep(Duration::from_millis(10)).await;
    } else {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
