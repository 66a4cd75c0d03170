//! Hostile clients over raw TCP: a half-sent request head and a silent connection are closed
//! by the header timeout, an idle keep-alive connection by the idle timeout (a request sent
//! before it is served), and at a low connection cap, 200 half-open connections do not keep
//! a normal client out. Bounds are set to a second or two; the assertions are on what
//! happens, never on how fast (a generous wait stands for "eventually").
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
use common::*;
use reference_server::Config;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for something that must happen within a bound of a second or two.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn addr(s: &TestServer) -> String {
    s.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes (true) or `EVENTUALLY` passes (false); what was read.
async fn closed_by_server(stream: &mut TcpStream) -> (bool, Vec<u8>) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(EVENTUALLY, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (read.is_ok(), all)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0)
}

fn bounded(header: u64, idle: u64) -> Config {
    let mut c = Config::default();
    c.limits.header_read_timeout_seconds = header;
    c.limits.idle_timeout_seconds = idle;
    c
}

const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn a_half_sent_head_and_a_silent_connection_are_closed() {
    let s = spawn_with(bounded(1, 60)).await;
    let mut half = TcpStream::connect(addr(&s)).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(addr(&s)).await.unwrap();
    let (closed, answer) = closed_by_server(&mut half).await;
    assert!(closed, "a half-sent head is closed");
    assert!(answer.is_empty(), "and answered nothing: {answer:?}");
    assert!(
        closed_by_server(&mut silent).await.0,
        "a silent connection is closed"
    );
    let metrics = s.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "connections_closed_total{reason=\"header_timeout\"}"
        ),
        2.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_a_request_before_it_is_served() {
    let s = spawn_with(bounded(30, 2)).await;
    let mut c = TcpStream::connect(addr(&s)).await.unwrap();
    let mut buf = vec![0u8; 4096];
    for _ in 0..3 {
        // Each request well within the idle time of the one before: served, same socket.
        c.write_all(REQUEST).await.unwrap();
        let n = tokio::time::timeout(EVENTUALLY, c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (closed, extra) = closed_by_server(&mut c).await;
    assert!(
        closed && extra.is_empty(),
        "closed when idle, with nothing sent"
    );
    let metrics = s.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "connections_closed_total{reason=\"idle_timeout\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "connections_closed_total{reason=\"header_timeout\"}"
        ),
        0.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn at_a_low_cap_half_open_connections_do_not_keep_a_client_out() {
    let mut config = bounded(60, 60);
    config.limits.max_connections = Some(64);
    let s = spawn_with(config).await;
    let mut attackers = Vec::new();
    for _ in 0..200 {
        let mut c = TcpStream::connect(addr(&s)).await.unwrap();
        c.write_all(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        attackers.push(c);
    }
    // A normal client (reqwest, a new connection per call here) is served.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = tokio::time::timeout(
        EVENTUALLY,
        client.get(s.url("/v1/models")).bearer_auth("sk").send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.status(), 200);
    let metrics = client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metric(&metrics, "open_connections") <= 65.0, "{metrics}");
    assert!(
        metric(&metrics, "connections_closed_total{reason=\"evicted\"}") >= 136.0,
        "{metrics}"
    );
    // The attackers were closed, oldest first: the first one reads an end.
    assert!(closed_by_server(&mut attackers[0]).await.0);
}

/// A connection with a request in flight: its head sent with `Expect: 100-continue`, and
/// the server's `100 Continue` read back, which proves the request was dispatched and is
/// waiting for a body that never comes.
async fn busy(s: &TestServer) -> TcpStream {
    let mut c = TcpStream::connect(addr(s)).await.unwrap();
    c.write_all(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(EVENTUALLY, c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 100"), "{:?}", &buf[..n]);
    c
}

#[tokio::test]
async fn at_the_cap_with_none_idle_readiness_fails_and_a_new_connection_is_refused() {
    let mut config = bounded(60, 60);
    config.limits.max_connections = Some(3);
    let s = spawn_with(config).await;
    let mut held = vec![busy(&s).await, busy(&s).await];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // The probe's own connection is the third: at the cap.
    let ready = client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["connections"]["status"], "failed", "{body}");
    assert_eq!(body["checks"]["connections"]["open"], 3, "{body}");
    // A third request in flight fills the cap; a new connection then finds none idle to
    // close and is refused (ended unanswered).
    held.push(busy(&s).await);
    let refused = async {
        loop {
            let mut c = TcpStream::connect(addr(&s)).await.unwrap();
            let _ = c
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let (closed, answer) = closed_by_server(&mut c).await;
            if closed && answer.is_empty() {
                return;
            }
        }
    };
    tokio::time::timeout(EVENTUALLY, refused).await.unwrap();
    drop(held);
    let metrics = tokio::time::timeout(EVENTUALLY, async {
        loop {
            if let Ok(r) = client.get(s.url("/metrics")).send().await {
                return r.text().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert!(
        metric(&metrics, "connections_refused_total") >= 1.0,
        "{metrics}"
    );
}
