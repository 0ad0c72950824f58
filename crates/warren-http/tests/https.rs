//! The management API over HTTPS: the same router behind TLS, with basic
//! auth, and a plain-HTTP client on the HTTPS port is dropped without
//! disturbing others. Certificates are made per test with rcgen.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use warren_amqp::tls::{server_config, TlsOptions};
use warren_core::{Broker, BrokerConfig};
use warren_http::{HttpServer, Listeners};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A CA, a server certificate for localhost signed by it, written to `dir`.
fn certificates(dir: &std::path::Path) -> (TlsOptions, rustls::pki_types::CertificateDer<'static>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Warren test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    let options = TlsOptions {
        certfile: dir.join("server.pem"),
        keyfile: dir.join("server.key"),
        ..TlsOptions::default()
    };
    (options, ca.der().clone())
}

/// One HTTP/1.1 request over TLS; returns the whole response as text.
async fn https_get(
    addr: SocketAddr,
    ca: &rustls::pki_types::CertificateDer<'static>,
    path: &str,
    auth: Option<&str>,
) -> String {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(
        TIMEOUT,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake in time")
    .expect("TLS handshake");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(basic) = auth {
        request.push_str(&format!("Authorization: Basic {basic}\r\n"));
    }
    request.push_str("\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // The server closes after the response (Connection: close); a missing
    // close_notify is not an error here.
    let _ = tokio::time::timeout(TIMEOUT, tls.read_to_end(&mut response))
        .await
        .expect("response in time");
    String::from_utf8_lossy(&response).to_string()
}

#[tokio::test]
async fn management_api_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (options, ca) = certificates(dir.path());
    let broker = Broker::new(BrokerConfig::default());
    let https = HttpServer::bind_management(broker.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_tls(server_config(&options).expect("valid TLS settings"))
        .set_listeners(broker.clone(), Listeners::default())
        .start();
    let addr = https.local_addr();

    // guest:guest
    let ok = https_get(addr, &ca, "/api/overview", Some("Z3Vlc3Q6Z3Vlc3Q=")).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("\"protocol\":\"https\""), "{ok}");
    let unauthorized = https_get(addr, &ca, "/api/overview", None).await;
    assert!(unauthorized.starts_with("HTTP/1.1 401"), "{unauthorized}");

    // Plain HTTP on the HTTPS port is dropped; a silent client does not block others.
    let _silent = TcpStream::connect(addr).await.unwrap();
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /api/overview HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, plain.read_to_end(&mut answer))
        .await
        .expect("closed in time");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    let again = https_get(addr, &ca, "/api/overview", Some("Z3Vlc3Q6Z3Vlc3Q=")).await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    https.shutdown().await;
    broker.close();
}
