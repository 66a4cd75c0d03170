//! Whom the harness trusts over TLS, one configuration for every client it opens (HTTP,
//! WebSocket, the load generator): the bundled web roots, the system's certificate store (as
//! curl and the SDKs do; `SSL_CERT_FILE` and `SSL_CERT_DIR` apply), and `--cacert FILE` for an
//! internal CA. `--insecure` accepts any certificate. A handshake that fails says which
//! problem it was and what to do.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;

/// The client configuration: `insecure` accepts any certificate; otherwise the web roots, the
/// system's roots and `cacert`'s certificates are trusted. A `cacert` that cannot be read or
/// holds no certificate is an error naming the file.
pub fn client_config(
    insecure: bool,
    cacert: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    if insecure {
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate::new(provider)))
                .with_no_client_auth(),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // The system's store: certificates it cannot parse are skipped, as curl skips them.
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);
    if let Some(file) = cacert {
        let shown = file.display();
        let text =
            std::fs::read(file).map_err(|e| format!("--cacert {shown}: cannot read it: {e}"))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--cacert {shown}: not a PEM bundle: {e:?}"))?;
        if certs.is_empty() {
            return Err(format!(
                "--cacert {shown}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)"
            ));
        }
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!(
                "--cacert {shown}: none of its certificates can be used as a trust anchor"
            ));
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// What a failed handshake means and how to fix it, when the error chain holds a TLS
/// certificate error; `None` for anything else.
pub fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    certificate_error(error).map(describe)
}

/// The rustls error in `error`'s chain. io::Error's `source` skips the error it wraps (the
/// client nests one io::Error in another around rustls's), so those are opened too.
fn certificate_error<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        let inner: &(dyn std::error::Error + 'static) = inner;
        if let Some(tls) = certificate_error(inner) {
            return Some(tls);
        }
    }
    error.source().and_then(certificate_error)
}

fn describe(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "TLS: the server's certificate is signed by an unknown issuer (an internal CA?): pass --cacert FILE with the CA's PEM certificate, or add it to the system's store".to_owned()
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => {
            "TLS: the server's certificate is not valid for this host name: use the name it was issued for in --target".to_owned()
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "TLS: the server's certificate has expired: renew it on the server (or, for a test target only, pass --insecure)".to_owned()
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "TLS: the server's certificate is not valid yet (is a clock wrong?)".to_owned()
        }
        other => format!("TLS: the handshake failed: {other}"),
    }
}

/// Accepts every server certificate, still checking handshake signatures.
#[derive(Debug)]
pub(crate) struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl AnyCertificate {
    /// A verifier that checks signatures with `provider`'s algorithms.
    pub(crate) fn new(provider: Arc<rustls::crypto::CryptoProvider>) -> Self {
        Self(provider)
    }
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
