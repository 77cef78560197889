//! TLS for `https://` targets: a rustls client (ring) trusting Mozilla's roots (webpki-roots)
//! plus any `--ca-cert` PEM bundle, offering ALPN `h2` or `http/1.1` as the probe asks. A
//! refused handshake is named in the user's terms ([`Refusal`]): which certificate problem, or
//! that the port does not speak TLS at all, and what to do about it.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, OtherError,
    RootCertStore, SignatureScheme,
};
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
    /// `h2` then `http/1.1`, as a browser offers them: the server chooses.
    Browser,
}

/// A TLS problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `--ca-cert` could not be used.
    #[error("--ca-cert: {0}; give a PEM file with one or more CERTIFICATE blocks")]
    CaCert(String),
    /// The handshake failed: the sentence names the problem and its fix.
    #[error("TLS handshake with {host} failed: {}", .refusal.explain(.host))]
    Handshake {
        /// Server name.
        host: String,
        /// Why, in the user's terms.
        refusal: Refusal,
    },
    /// The server chose no protocol the probe offered.
    #[error("the server did not negotiate {0} via ALPN")]
    Alpn(&'static str),
}

/// Why a TLS handshake failed, as the user can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The chain ends at an authority the trust store does not hold.
    UnknownIssuer,
    /// The certificate is signed by its own key: no authority vouches for it.
    SelfSigned,
    /// A CA certificate (basicConstraints CA:TRUE) served as the server's own.
    CaAsServerCertificate,
    /// Past its `notAfter`, by this many whole days (`None` when rustls did not say).
    Expired(Option<u64>),
    /// Before its `notBefore`.
    NotValidYet,
    /// Not issued for the host name asked for; the names it holds.
    WrongName(Vec<String>),
    /// Revoked by its issuer.
    Revoked,
    /// What came back was not TLS (a plain-HTTP server on that port).
    NotTls,
    /// The server closed the connection during the handshake.
    Closed,
    /// No protocol version, cipher suite or key exchange in common; rustls's words.
    NoCommonProtocol(String),
    /// No handshake answer within the bound.
    Timeout(Duration),
    /// The URL's host is not a name TLS can ask for.
    BadServerName(String),
    /// Anything else, in rustls's words.
    Other(String),
}

impl Refusal {
    /// The refusal of a failed `connect` (tokio-rustls wraps rustls's error in an `io::Error`).
    fn of(error: &std::io::Error) -> Refusal {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            return Refusal::Closed;
        }
        let Some(tls) = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        else {
            return match error.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    Refusal::Closed
                }
                _ => Refusal::Other(error.to_string()),
            };
        };
        match tls {
            rustls::Error::InvalidCertificate(e) => Refusal::of_certificate(e),
            // A plain-HTTP server answers the ClientHello with `HTTP/1.1 400 …`, whose first
            // byte is no TLS record type.
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                Refusal::NotTls
            }
            rustls::Error::PeerIncompatible(p) => Refusal::NoCommonProtocol(format!("{p:?}")),
            rustls::Error::AlertReceived(
                a @ (AlertDescription::HandshakeFailure
                | AlertDescription::ProtocolVersion
                | AlertDescription::InsufficientSecurity),
            ) => Refusal::NoCommonProtocol(format!("the server sent the alert {a:?}")),
            other => Refusal::Other(other.to_string()),
        }
    }

    fn of_certificate(error: &CertificateError) -> Refusal {
        match error {
            CertificateError::UnknownIssuer => Refusal::UnknownIssuer,
            CertificateError::ExpiredContext { time, not_after } => Refusal::Expired(Some(
                time.as_secs().saturating_sub(not_after.as_secs()) / 86_400,
            )),
            CertificateError::Expired => Refusal::Expired(None),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Refusal::NotValidYet
            }
            CertificateError::NotValidForName => Refusal::WrongName(Vec::new()),
            CertificateError::NotValidForNameContext { presented, .. } => {
                Refusal::WrongName(presented.iter().map(|n| plain_name(n)).collect())
            }
            CertificateError::Revoked => Refusal::Revoked,
            CertificateError::Other(OtherError(e)) => {
                let e: &(dyn std::error::Error + 'static) = e.as_ref();
                if e.is::<SignsItself>() {
                    Refusal::SelfSigned
                } else if matches!(
                    e.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) {
                    Refusal::CaAsServerCertificate
                } else {
                    Refusal::Other(e.to_string())
                }
            }
            other => Refusal::Other(format!("the certificate is refused: {other:?}")),
        }
    }

    /// The problem and what to do, for a handshake with `host`.
    pub fn explain(&self, host: &str) -> String {
        let with_ca = EXTRA_ROOTS.get().is_some();
        match self {
            Refusal::UnknownIssuer if with_ca => format!(
                "the certificate of {host} is signed by an authority this machine does not \
                 trust, and the --ca-cert given is not that authority either. Pass `--ca-cert \
                 FILE` with the certificate (PEM) of the CA that signed the server's certificate; \
                 if a public CA signed it, the server must also send its intermediate certificates"
            ),
            Refusal::UnknownIssuer => format!(
                "the certificate of {host} is signed by an authority this machine does not trust \
                 (a private or company CA, or a public CA whose intermediate certificate the \
                 server does not send). If you trust that authority, pass `--ca-cert FILE` with \
                 its certificate in PEM form; otherwise make the server send its full chain"
            ),
            Refusal::SelfSigned => format!(
                "the certificate of {host} is self-signed: no authority vouches for it, so no \
                 client trusts it by default. If you trust it, pass `--ca-cert FILE` with that \
                 certificate itself (PEM); browsers need it installed likewise"
            ),
            Refusal::CaAsServerCertificate => format!(
                "{host} presents a CA certificate (basicConstraints CA:TRUE, as `openssl req \
                 -x509` makes by default) as its own certificate, which verifiers refuse even \
                 when that CA is trusted. Give the server a certificate of its own signed by that \
                 CA (mkcert, for one, makes both) and pass the CA with `--ca-cert FILE`"
            ),
            Refusal::Expired(Some(days)) => format!(
                "the certificate of {host} expired {days} day(s) ago; renew it (browsers refuse \
                 it too), or check this machine's clock"
            ),
            Refusal::Expired(None) => format!(
                "the certificate of {host} has expired; renew it (browsers refuse it too), or \
                 check this machine's clock"
            ),
            Refusal::NotValidYet => format!(
                "the certificate of {host} is not valid yet (its notBefore is in the future): \
                 check the clock of this machine and of whoever issued it"
            ),
            Refusal::WrongName(names) if names.is_empty() => format!(
                "the certificate is not issued for {host}; use the host name the certificate \
                 names, or reissue it with {host} among its names"
            ),
            Refusal::WrongName(names) => format!(
                "the certificate is issued for {}, not {host}; use a URL with one of those \
                 names, or reissue the certificate with {host} among its names",
                names.join(", ")
            ),
            Refusal::Revoked => format!(
                "the certificate of {host} has been revoked by its issuer; install a new one"
            ),
            Refusal::NotTls => format!(
                "{host} answered the TLS handshake in plain text: this port serves plain HTTP, \
                 not TLS; use an http:// URL, or the port that serves https"
            ),
            Refusal::Closed => format!(
                "{host} closed the connection during the TLS handshake: is TLS served on this \
                 port? (a plain-HTTP server there: use an http:// URL; or a server that wants a \
                 client certificate or another host name)"
            ),
            Refusal::NoCommonProtocol(detail) => format!(
                "{host} and the runner share no TLS version or cipher suite ({detail}); the \
                 runner, like current browsers, speaks TLS 1.2 and 1.3 with modern suites: \
                 enable them on the server"
            ),
            Refusal::Timeout(t) => format!(
                "{host} sent no TLS answer within {:.1} s: is TLS served on this port? (or raise \
                 --timeout)",
                t.as_secs_f64()
            ),
            Refusal::BadServerName(why) => {
                format!("`{host}` cannot be used as a TLS server name ({why})")
            }
            Refusal::Other(why) => why.clone(),
        }
    }
}

/// A name as webpki shows it (`DnsName("sse.example")`, `IpAddress(10.0.0.1)`) as a user
/// writes it.
fn plain_name(shown: &str) -> String {
    match shown.split_once('(') {
        Some((_, rest)) => rest.trim_end_matches(')').trim_matches('"').to_owned(),
        None => shown.to_owned(),
    }
}

static EXTRA_ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
/// The client configurations offering `http/1.1`, `h2`, and both (as a browser does).
type Configs = (Arc<ClientConfig>, Arc<ClientConfig>, Arc<ClientConfig>);

static CONFIGS: OnceLock<Configs> = OnceLock::new();

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

/// The marker [`Naming`] puts in a refusal of a certificate that signs itself.
#[derive(Debug)]
struct SignsItself;

impl fmt::Display for SignsItself {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the certificate is self-signed")
    }
}

impl std::error::Error for SignsItself {}

/// rustls's own WebPKI verifier, which alone decides; when it refuses a certificate for an
/// unknown issuer, this wrapper asks whether the certificate is its own issuer, so that the
/// refusal says "self-signed" (a different fix from a missing CA). It never accepts what the
/// inner verifier refuses.
#[derive(Debug)]
struct Naming {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl Naming {
    /// True when `cert`, taken as its own trust anchor, verifies: its issuer is its subject
    /// and its own key signed it.
    fn signs_itself(
        &self,
        cert: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        let mut roots = RootCertStore::empty();
        if roots.add(cert.clone().into_owned()).is_err() {
            return false;
        }
        let Ok(alone) = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&self.provider),
        )
        .build() else {
            return false;
        };
        match alone.verify_server_cert(cert, &[], name, &[], now) {
            Ok(_) => true,
            // Self-signed and, besides, for another name or out of date: trust is the first fix.
            Err(rustls::Error::InvalidCertificate(e)) => matches!(
                e,
                CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. }
                    | CertificateError::Expired
                    | CertificateError::ExpiredContext { .. }
            ),
            Err(_) => false,
        }
    }
}

impl ServerCertVerifier for Naming {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verdict {
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
                if intermediates.is_empty() && self.signs_itself(end_entity, server_name, now) =>
            {
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(SignsItself)),
                )))
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn configs() -> &'static Configs {
    CONFIGS.get_or_init(|| {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in EXTRA_ROOTS.get().into_iter().flatten() {
            let _ = roots.add(cert.clone());
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Building fails only for an empty root store; Mozilla's roots are always there.
        let verifier: Option<Arc<dyn ServerCertVerifier>> =
            WebPkiServerVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
                .build()
                .ok()
                .map(|inner| {
                    Arc::new(Naming {
                        inner,
                        provider: Arc::clone(&provider),
                    }) as Arc<dyn ServerCertVerifier>
                });
        let make = |alpn: &[&[u8]]| {
            let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .unwrap_or_else(|_| ClientConfig::builder());
            let mut c = match &verifier {
                Some(v) => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::clone(v))
                    .with_no_client_auth(),
                None => builder
                    .with_root_certificates(Arc::clone(&roots))
                    .with_no_client_auth(),
            };
            c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(c)
        };
        (
            make(&[b"http/1.1"]),
            make(&[b"h2"]),
            make(&[b"h2", b"http/1.1"]),
        )
    })
}

/// Runs the TLS handshake over `tcp`, offering `alpn`; fails if the server picks nothing else.
pub async fn wrap(
    tcp: TcpStream,
    host: &str,
    alpn: Alpn,
    timeout: Duration,
) -> Result<Box<dyn Io>, TlsError> {
    let (tls, _) = handshake(tcp, host, alpn, timeout).await?;
    Ok(tls)
}

/// Runs the TLS handshake over `tcp`, offering `alpn`, and returns the protocol the server
/// chose (`None`: it chose none, which means HTTP/1.1).
pub async fn handshake(
    tcp: TcpStream,
    host: &str,
    alpn: Alpn,
    timeout: Duration,
) -> Result<(Box<dyn Io>, Option<Vec<u8>>), TlsError> {
    let (h1, h2, both) = configs();
    let config = match alpn {
        Alpn::Http1 => Arc::clone(h1),
        Alpn::H2 => Arc::clone(h2),
        Alpn::Browser => Arc::clone(both),
    };
    let refused = |refusal| TlsError::Handshake {
        host: host.into(),
        refusal,
    };
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| refused(Refusal::BadServerName(e.to_string())))?;
    let tls = tokio::time::timeout(timeout, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| refused(Refusal::Timeout(timeout)))?
        .map_err(|e| refused(Refusal::of(&e)))?;
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    match (alpn, negotiated.as_deref()) {
        (Alpn::H2, Some(b"h2")) | (Alpn::Browser, _) => Ok((Box::new(tls), negotiated)),
        (Alpn::H2, _) => Err(TlsError::Alpn("h2")),
        // Servers without ALPN speak HTTP/1.1 by default.
        (Alpn::Http1, Some(b"http/1.1") | None) => Ok((Box::new(tls), negotiated)),
        (Alpn::Http1, _) => Err(TlsError::Alpn("http/1.1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_read_as_written() {
        assert_eq!(plain_name(r#"DnsName("sse.example")"#), "sse.example");
        assert_eq!(plain_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(plain_name("sse.example"), "sse.example");
    }

    #[test]
    fn refusals_say_what_to_do() {
        let unknown = Refusal::of_certificate(&CertificateError::UnknownIssuer);
        assert!(unknown
            .explain("sse.example")
            .contains("pass `--ca-cert FILE`"));
        let expired = Refusal::of_certificate(&CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(10 * 86_400)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(7 * 86_400)),
        });
        assert_eq!(expired, Refusal::Expired(Some(3)));
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(Refusal::of(&eof), Refusal::Closed);
        let plain = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert_eq!(Refusal::of(&plain), Refusal::NotTls);
        let old = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
        );
        assert!(
            Refusal::of(&old)
                .explain("h")
                .contains("share no TLS version or cipher suite"),
            "{:?}",
            Refusal::of(&old)
        );
    }
}
