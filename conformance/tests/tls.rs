//! Deployments behind TLS the way companies run them: a loopback HTTPS target whose certificate
//! comes from a throw-away CA is trusted with `--cacert`, or through the system's store
//! (`SSL_CERT_FILE`), and each way a handshake can fail (unknown issuer, another name,
//! expired) is named with its fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;

use binary::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::process::Output;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "conformance throw-away CA");
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A certificate for `names` signed by `ca`, expired when `expired`.
fn leaf(
    ca: &Ca,
    names: &[&str],
    expired: bool,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    }
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
}

/// An HTTPS server on loopback answering `GET /v1/models` with one model; its URL.
async fn https(cert: (CertificateDer<'static>, PrivateKeyDer<'static>)) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.0], cert.1)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"object":"list","data":[{"id":"tls-model","object":"model","created":0,"owned_by":"tls"}]}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{port}/v1")
}

fn run_against(url: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command();
    cmd.args([
        "run",
        "--target",
        url,
        "--api-key",
        "k",
        "--only",
        "models.list.schema",
        "--no-reports",
    ])
    .args(extra)
    // Only what the test gives: the machine's own store must not decide the result.
    .env("SSL_CERT_FILE", "/nonexistent/conformance-test-bundle.pem")
    .env("SSL_CERT_DIR", "/nonexistent/conformance-test-certs");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[tokio::test]
async fn an_internal_ca_is_trusted_with_cacert_or_the_system_store_and_failures_say_why() {
    let ca = ca();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, ca.cert.pem()).unwrap();
    let pem = pem.to_str().unwrap().to_owned();
    let good = https(leaf(&ca, &["127.0.0.1", "localhost"], false)).await;
    let other_name = https(leaf(&ca, &["api.example.com"], false)).await;
    let expired = https(leaf(&ca, &["127.0.0.1"], true)).await;
    let (good2, pem2) = (good.clone(), pem.clone());
    let (trusted, system, unknown, pem_name, pem_expired, bad_file) =
        tokio::task::spawn_blocking(move || {
            (
                run_against(&good2, &["--cacert", &pem2], &[]),
                run_against(&good2, &[], &[("SSL_CERT_FILE", &pem2)]),
                run_against(&good2, &[], &[]),
                run_against(&other_name, &["--cacert", &pem2], &[]),
                run_against(&expired, &["--cacert", &pem2], &[]),
                run_against(&good2, &["--cacert", "/nonexistent/ca.pem"], &[]),
            )
        })
        .await
        .unwrap();
    assert_eq!(trusted.status.code(), Some(0), "{}", said(&trusted));
    assert!(
        said(&trusted).contains("PASS  models.list.schema"),
        "{}",
        said(&trusted)
    );
    assert_eq!(
        system.status.code(),
        Some(0),
        "the system's store: {}",
        said(&system)
    );
    for (out, says) in [
        (&unknown, "unknown issuer"),
        (&pem_name, "not valid for this host name"),
        (&pem_expired, "expired"),
    ] {
        let shown = said(out);
        assert_eq!(out.status.code(), Some(3), "{shown}");
        assert!(shown.contains(says), "{says}: {shown}");
    }
    assert!(said(&unknown).contains("--cacert"), "the fix is named");
    assert_eq!(bad_file.status.code(), Some(2), "{}", said(&bad_file));
    assert!(
        said(&bad_file).contains("--cacert /nonexistent/ca.pem"),
        "{}",
        said(&bad_file)
    );
}

/// Behind a corporate proxy: `HTTP_PROXY` carries the requests (the target's name is resolved
/// by the proxy, not here), and `NO_PROXY` sends them direct.
#[tokio::test]
async fn requests_go_through_the_proxy_the_environment_names() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let proxy = MockServer::start().await;
    let models = serde_json::json!({"object": "list", "data": [{"id": "via-proxy", "object": "model", "created": 0, "owned_by": "p"}]});
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(models))
        .mount(&proxy)
        .await;
    let via = proxy.uri();
    // A name no resolver knows: only the proxy can reach it.
    let target = "http://api.conformance-proxy-test.invalid/v1";
    let (through, direct) = tokio::task::spawn_blocking(move || {
        (
            run_against(target, &[], &[("HTTP_PROXY", &via)]),
            run_against(
                target,
                &[],
                &[
                    ("HTTP_PROXY", &via),
                    ("NO_PROXY", "conformance-proxy-test.invalid"),
                ],
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(through.status.code(), Some(0), "{}", said(&through));
    assert!(!proxy
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
    assert_eq!(direct.status.code(), Some(3), "{}", said(&direct));
}
