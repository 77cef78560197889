//! HTTPS (feature `tls`): ALPN picks HTTP/2 for browsers, an event stream over it, and `/ws`
//! over TLS with HTTP/1.1; unusable key files are refused with a message.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use common::{server, Config, WAIT};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use ssekit_server::tls::TlsFiles;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A throwaway certificate for `localhost`, written as PEM files.
struct Cert {
    files: TlsFiles,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn cert(name: &str) -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("ssekit-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    Cert {
        files: TlsFiles { cert, key },
        der: ck.cert.der().clone(),
    }
}

impl Drop for Cert {
    fn drop(&mut self) {
        if let Some(dir) = self.files.cert.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn https(cert: &Cert) -> ssekit_server::ServerHandle {
    server(Config {
        tls: Some(cert.files.clone()),
        ..Config::default()
    })
    .await
}

/// A TLS connection to the server offering `alpn`.
async fn connect(cert: &Cert, addr: std::net::SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    timeout(
        WAIT,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake in time")
    .expect("TLS handshake")
}

#[tokio::test]
async fn alpn_picks_h2_and_an_event_stream_runs_over_it() {
    let cert = cert("h2");
    let s = https(&cert).await;
    let tls = connect(&cert, s.local_addr(), &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("https://localhost/stream")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = timeout(WAIT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.version(), hyper::Version::HTTP_2);
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let mut body = res.into_body();
    let id = s.publish(None, None, "over h2").await.unwrap();
    let mut seen = Vec::new();
    let want = format!("id: {id}\ndata: over h2\n\n");
    while !String::from_utf8_lossy(&seen).contains(&want) {
        let frame = timeout(WAIT, body.frame()).await.unwrap().unwrap().unwrap();
        if let Ok(data) = frame.into_data() {
            seen.extend_from_slice(&data);
        }
    }
    drop(body);
    s.shutdown().await;
}

#[tokio::test]
async fn websocket_runs_over_tls_with_http_1_1() {
    let cert = cert("ws");
    let s = https(&cert).await;
    let tls = connect(&cert, s.local_addr(), &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut ws, res) = timeout(
        WAIT,
        tokio_tungstenite::client_async("ws://localhost/ws", tls),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(res.status(), 101);
    let id = s.publish(None, None, "over tls").await.unwrap();
    let msg = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"id": id, "event": "message", "data": "over tls"})
    );
    assert_eq!(s.metrics().ws.open, 1);
    s.shutdown().await;
}

#[tokio::test]
async fn unusable_files_are_refused_with_the_path_and_what_to_give() {
    let good = cert("bad");
    let missing = TlsFiles {
        cert: PathBuf::from("/nonexistent/cert.pem"),
        key: good.files.key.clone(),
    };
    let err = ssekit_server::start(Config {
        tls: Some(missing),
        ..Config::default()
    })
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("/nonexistent/cert.pem") && err.contains("--tls-cert"),
        "{err}"
    );
    // The key of another certificate does not fit.
    let other = cert("other");
    let mismatched = TlsFiles {
        cert: good.files.cert.clone(),
        key: other.files.key.clone(),
    };
    let err = ssekit_server::start(Config {
        tls: Some(mismatched),
        ..Config::default()
    })
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("key.pem"), "{err}");
}
