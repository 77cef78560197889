//! TLS for `https://` targets: a rustls client (ring) trusting Mozilla's roots (webpki-roots)
//! plus any `--ca-cert` PEM bundle, offering ALPN `h2` or `http/1.1` as the probe asks.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A byte stream the HTTP clients can run over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Which application protocol to offer in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `http/1.1` only.
    Http1,
    /// `h2` only.
    H2,
}

/// A TLS problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `--ca-cert` could not be used.
    #[error("--ca-cert: {0}; give a PEM file with one or more CERTIFICATE blocks")]
    CaCert(String),
    /// The handshake failed (certificate, protocol).
    #[error("TLS handshake with {host} failed: {reason}")]
    Handshake {
        /// Server name.
        host: String,
        /// Why.
        reason: String,
    },
    /// The server chose no protocol the probe offered.
    #[error("the server did not negotiate {0} via ALPN")]
    Alpn(&'static str),
}

static EXTRA_ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
static CONFIGS: OnceLock<(Arc<ClientConfig>, Arc<ClientConfig>)> = OnceLock::new();

/// Trusts the certificates in a PEM bundle too (call once, before the first https request).
pub fn add_roots_pem(pem: &[u8]) -> Result<usize, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::CaCert(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::CaCert("no certificate found".into()));
    }
    let n = certs.len();
    EXTRA_ROOTS
        .set(certs)
        .map_err(|_| TlsError::CaCert("already set".into()))?;
    Ok(n)
}

fn configs() -> &'static (Arc<ClientConfig>, Arc<ClientConfig>) {
    CONFIGS.get_or_init(|| {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in EXTRA_ROOTS.get().into_iter().flatten() {
            let _ = roots.add(cert.clone());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let make = |alpn: &[u8]| {
            let mut c = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map(|b| {
                    b.with_root_certificates(roots.clone())
                        .with_no_client_auth()
                })
                .unwrap_or_else(|_| {
                    ClientConfig::builder()
                        .with_root_certificates(roots.clone())
                        .with_no_client_auth()
                });
            c.alpn_protocols = vec![alpn.to_vec()];
            Arc::new(c)
        };
        (make(b"http/1.1"), make(b"h2"))
    })
}

/// Runs the TLS handshake over `tcp`, offering `alpn`; fails if the server picks nothing else.
pub async fn wrap(
    tcp: TcpStream,
    host: &str,
    alpn: Alpn,
    timeout: Duration,
) -> Result<Box<dyn Io>, TlsError> {
    let (h1, h2) = configs();
    let config = match alpn {
        Alpn::Http1 => Arc::clone(h1),
        Alpn::H2 => Arc::clone(h2),
    };
    let name = ServerName::try_from(host.to_owned()).map_err(|e| TlsError::Handshake {
        host: host.into(),
        reason: e.to_string(),
    })?;
    let tls = tokio::time::timeout(timeout, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| TlsError::Handshake {
            host: host.into(),
            reason: format!("no answer within {timeout:?}"),
        })?
        .map_err(|e| TlsError::Handshake {
            host: host.into(),
            reason: e.to_string(),
        })?;
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    match (alpn, negotiated.as_deref()) {
        (Alpn::H2, Some(b"h2")) => Ok(Box::new(tls)),
        (Alpn::H2, _) => Err(TlsError::Alpn("h2")),
        // Servers without ALPN speak HTTP/1.1 by default.
        (Alpn::Http1, Some(b"http/1.1") | None) => Ok(Box::new(tls)),
        (Alpn::Http1, _) => Err(TlsError::Alpn("http/1.1")),
    }
}
