//! AMQP over TLS (amqps): a real client publishes and consumes, client
//! certificates are verified as RabbitMQ's `verify_peer` /
//! `fail_if_no_peer_cert` do, EXTERNAL logs in as the certificate's CN, and
//! bad certificate files are clear errors. Certificates are made per test
//! with rcgen.

mod common;
mod raw;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::{BasicConsumeArguments, BasicPublishArguments, QueueDeclareArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::security::SecurityCredentials;
use amqprs::tls::TlsAdaptor;
use amqprs::BasicProperties;
use bytes::BytesMut;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use warren_amqp::tls::{server_config, AmqpsSettings, CertLoginFrom, TlsError, TlsOptions, Verify};
use warren_amqp::AmqpConfig;
use warren_codec::frame::decode_frame;
use warren_codec::spec::connection;
use warren_codec::{AMQPClass, FrameKind};
use warren_core::auth::Permission;
use warren_core::BrokerConfig;

use common::{eventually, within, TestBroker};

/// A test certificate authority and the files it issued, in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

/// A certificate and its key, as PEM files and in memory.
struct Identity {
    cert: PathBuf,
    key: PathBuf,
    cert_der: CertificateDer<'static>,
    key_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Issues a certificate with CN `cn`: a server one for localhost and
    /// 127.0.0.1, or a client one.
    fn issue(&self, cn: &str, server: bool) -> Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Warren tests");
        params.distinguished_name.push(DnType::CommonName, cn);
        if server {
            params.subject_alt_names = vec![
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let cert_path = self.dir.path().join(format!("{cn}.crt.pem"));
        let key_path = self.dir.path().join(format!("{cn}.key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Identity {
            cert: cert_path,
            key: key_path,
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Server options with this CA's server certificate.
    fn server_options(&self, verify: Verify, fail_if_no_peer_cert: bool) -> TlsOptions {
        let server = self.issue("localhost", true);
        TlsOptions {
            certfile: server.cert,
            keyfile: server.key,
            cacertfile: Some(self.ca_file()),
            verify,
            fail_if_no_peer_cert,
        }
    }

    /// A rustls client trusting this CA, presenting `identity` if given.
    fn client(&self, identity: Option<&Identity>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        let config = match identity {
            Some(id) => builder
                .with_client_auth_cert(
                    vec![id.cert_der.clone()],
                    PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

async fn start(pki: &Pki, verify: Verify, fail_if_no_peer_cert: bool) -> TestBroker {
    start_with(pki, verify, fail_if_no_peer_cert, CertLoginFrom::CommonName).await
}

async fn start_with(
    pki: &Pki,
    verify: Verify,
    fail_if_no_peer_cert: bool,
    login_from: CertLoginFrom,
) -> TestBroker {
    let options = pki.server_options(verify, fail_if_no_peer_cert);
    let settings = AmqpsSettings {
        config: server_config(&options).expect("valid TLS settings"),
        login_from,
    };
    TestBroker::start_tls(BrokerConfig::default(), settings).await
}

/// An amqprs connection over TLS to the broker's amqps port.
async fn amqprs_tls(
    broker: &TestBroker,
    client: Arc<ClientConfig>,
    credentials: SecurityCredentials,
) -> Result<Connection, amqprs::error::Error> {
    let addr = broker.tls_addr.expect("amqps listener");
    let mut args = OpenConnectionArguments::new("127.0.0.1", addr.port(), "guest", "guest");
    args.tls_adaptor(TlsAdaptor::new(
        TlsConnector::from(client),
        "localhost".into(),
    ))
    .credentials(credentials);
    within(Connection::open(&args)).await
}

/// A TLS handshake with the amqps port: the stream, or the error.
async fn tls_connect(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = within(TlsConnector::from(client).connect(name, tcp)).await?;
    // TLS 1.3 verifies the client certificate after the client's handshake
    // is done: the refusal shows up on the first read.
    stream.write_all(raw::HEADER).await?;
    stream.flush().await?;
    Ok(stream)
}

/// Reads the next method on a raw TLS connection (None once it closes).
async fn next_method(stream: &mut TlsStream<TcpStream>, input: &mut BytesMut) -> Option<AMQPClass> {
    loop {
        if let Some(frame) = decode_frame(input, 131_072).expect("well-formed frames") {
            if frame.kind == FrameKind::Method {
                return Some(raw::parse_method(&frame.payload));
            }
            continue;
        }
        match within(stream.read_buf(input)).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Whether the broker ends a TLS connection that sent the protocol header
/// without answering it with connection.start.
async fn refused(stream: std::io::Result<TlsStream<TcpStream>>) -> bool {
    let Ok(mut stream) = stream else {
        return true;
    };
    let mut input = BytesMut::new();
    next_method(&mut stream, &mut input).await.is_none()
}

/// The mechanisms connection.start offers over TLS with `client`.
async fn mechanisms(broker: &TestBroker, client: Arc<ClientConfig>) -> String {
    let mut stream = tls_connect(broker.tls_addr.unwrap(), client).await.unwrap();
    let mut input = BytesMut::new();
    match next_method(&mut stream, &mut input).await {
        Some(AMQPClass::Connection(connection::AMQPMethod::Start(s))) => {
            String::from_utf8_lossy(s.mechanisms.as_bytes()).to_string()
        }
        other => panic!("expected connection.start, got {other:?}"),
    }
}

async fn publish_and_consume(conn: &Connection, queue: &str) {
    let channel = within(conn.open_channel(None)).await.unwrap();
    within(channel.queue_declare(QueueDeclareArguments::new(queue)))
        .await
        .unwrap();
    let (_tag, mut rx) = within(
        channel.basic_consume_rx(
            BasicConsumeArguments::new(queue, "")
                .manual_ack(false)
                .finish(),
        ),
    )
    .await
    .unwrap();
    // Large enough to span several TLS records and frames.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..3 {
        within(channel.basic_publish(
            BasicProperties::default(),
            body.clone(),
            BasicPublishArguments::new("", queue),
        ))
        .await
        .unwrap();
    }
    for _ in 0..3 {
        let message = within(rx.recv()).await.expect("a delivery");
        assert_eq!(message.content.as_deref(), Some(&body[..]));
    }
    within(channel.close()).await.unwrap();
}

#[tokio::test]
async fn publish_and_consume_over_tls() {
    let pki = Pki::new("Warren test CA");
    let broker = start(&pki, Verify::None, false).await;
    let conn = amqprs_tls(
        &broker,
        pki.client(None),
        SecurityCredentials::new_plain("guest", "guest"),
    )
    .await
    .expect("connects over TLS with PLAIN");
    publish_and_consume(&conn, "tls-q").await;
    let info = broker.broker.registry.connections();
    assert_eq!(info.len(), 1);
    assert!(info[0].meta.ssl);
    assert_eq!(info[0].meta.auth_mechanism, "PLAIN");
    // The plain listener keeps working next to it.
    let plain = broker.amqprs().await;
    publish_and_consume(&plain, "plain-q").await;
    within(plain.close()).await.unwrap();
    within(conn.close()).await.unwrap();
    // Without a client certificate, EXTERNAL is not offered.
    let offered = mechanisms(&broker, pki.client(None)).await;
    assert_eq!(offered, "PLAIN AMQPLAIN");
    broker.shutdown().await;
}

#[tokio::test]
async fn verify_peer_with_fail_if_no_peer_cert() {
    let pki = Pki::new("Warren test CA");
    let other = Pki::new("Unknown CA");
    let broker = start(&pki, Verify::Peer, true).await;
    let addr = broker.tls_addr.unwrap();
    // No certificate: refused.
    assert!(refused(tls_connect(addr, pki.client(None)).await).await);
    // A certificate from a CA the broker does not trust: refused.
    let stranger = other.issue("guest", false);
    assert!(refused(tls_connect(addr, pki.client(Some(&stranger))).await).await);
    // A good certificate: accepted, and EXTERNAL is offered.
    let good = pki.issue("guest", false);
    let offered = mechanisms(&broker, pki.client(Some(&good))).await;
    assert_eq!(offered, "PLAIN AMQPLAIN EXTERNAL");
    let conn = amqprs_tls(
        &broker,
        pki.client(Some(&good)),
        SecurityCredentials::new_plain("guest", "guest"),
    )
    .await
    .expect("a trusted certificate connects");
    publish_and_consume(&conn, "verified").await;
    within(conn.close()).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test]
async fn verify_peer_without_fail_if_no_peer_cert() {
    let pki = Pki::new("Warren test CA");
    let other = Pki::new("Unknown CA");
    let broker = start(&pki, Verify::Peer, false).await;
    let addr = broker.tls_addr.unwrap();
    // No certificate: accepted (PLAIN only).
    let offered = mechanisms(&broker, pki.client(None)).await;
    assert_eq!(offered, "PLAIN AMQPLAIN");
    // An untrusted certificate is still refused.
    let stranger = other.issue("guest", false);
    assert!(refused(tls_connect(addr, pki.client(Some(&stranger))).await).await);
    broker.shutdown().await;
}

#[tokio::test]
async fn external_logs_in_as_the_certificate_cn() {
    let pki = Pki::new("Warren test CA");
    let broker = start(&pki, Verify::Peer, true).await;
    let users = &broker.broker.users;
    // A user with no usable password: EXTERNAL does not check one.
    users.add_user("alice", "", vec![]);
    users.set_permission(
        "alice",
        "/",
        Permission::new("^alice-.*", ".*", ".*").unwrap(),
    );
    let alice = pki.issue("alice", false);
    let conn = amqprs_tls(
        &broker,
        pki.client(Some(&alice)),
        SecurityCredentials::new_external(),
    )
    .await
    .expect("EXTERNAL login as alice");
    let info = broker.broker.registry.connections();
    assert_eq!(info[0].meta.user, "alice");
    assert_eq!(info[0].meta.auth_mechanism, "EXTERNAL");
    // alice's permissions apply.
    let channel = within(conn.open_channel(None)).await.unwrap();
    within(channel.queue_declare(QueueDeclareArguments::new("alice-q")))
        .await
        .expect("alice may configure alice-*");
    let denied = within(channel.queue_declare(QueueDeclareArguments::new("bob-q"))).await;
    assert!(denied.is_err(), "alice may not configure bob-q");
    let _ = within(conn.close()).await;

    // A certificate naming a user that does not exist: 403 ACCESS_REFUSED.
    let nobody = pki.issue("nobody", false);
    let mut stream = tls_connect(broker.tls_addr.unwrap(), pki.client(Some(&nobody)))
        .await
        .unwrap();
    let mut input = BytesMut::new();
    let start = next_method(&mut stream, &mut input).await;
    assert!(matches!(
        start,
        Some(AMQPClass::Connection(connection::AMQPMethod::Start(_)))
    ));
    stream.write_all(&start_ok("EXTERNAL", b"")).await.unwrap();
    stream.flush().await.unwrap();
    match next_method(&mut stream, &mut input).await {
        Some(AMQPClass::Connection(connection::AMQPMethod::Close(close))) => {
            assert_eq!(close.reply_code, 403);
            assert!(
                close.reply_text.as_str().contains("ACCESS_REFUSED"),
                "{}",
                close.reply_text.as_str()
            );
        }
        other => panic!("expected connection.close 403, got {other:?}"),
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn external_with_distinguished_name() {
    let pki = Pki::new("Warren test CA");
    let broker = start_with(&pki, Verify::Peer, true, CertLoginFrom::DistinguishedName).await;
    let dn = "CN=carol,O=Warren tests";
    broker.broker.users.add_user(dn, "", vec![]);
    broker
        .broker
        .users
        .set_permission(dn, "/", Permission::full());
    let carol = pki.issue("carol", false);
    let subject = warren_amqp::tls::Subject::from_der(&carol.cert_der).unwrap();
    assert_eq!(subject.distinguished_name(), dn);
    let conn = amqprs_tls(
        &broker,
        pki.client(Some(&carol)),
        SecurityCredentials::new_external(),
    )
    .await
    .expect("EXTERNAL login by DN");
    assert_eq!(broker.broker.registry.connections()[0].meta.user, dn);
    let _ = within(conn.close()).await;
    broker.shutdown().await;
}

/// connection.start-ok with `mechanism` and `response`.
fn start_ok(mechanism: &str, response: &[u8]) -> Vec<u8> {
    raw::method_frame(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
            client_properties: Default::default(),
            mechanism: mechanism.into(),
            response: response.to_vec().into(),
            locale: "en_US".into(),
        })),
    )
}

#[tokio::test]
async fn plain_amqp_and_garbage_on_the_tls_port_are_dropped() {
    let pki = Pki::new("Warren test CA");
    let broker = start(&pki, Verify::None, false).await;
    let addr = broker.tls_addr.unwrap();
    for bytes in [&raw::HEADER[..], b"GET / HTTP/1.1\r\n\r\n"] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        let mut sink = Vec::new();
        // The broker closes the socket (maybe after a TLS alert).
        let _ = within(tcp.read_to_end(&mut sink)).await;
    }
    // A client that sends nothing is dropped after the handshake timeout.
    let amqp = AmqpConfig {
        handshake_timeout: Duration::from_millis(200),
        ..AmqpConfig::default()
    };
    let options = pki.server_options(Verify::None, false);
    let quick = TestBroker::start_tls_with(
        BrokerConfig::default(),
        amqp,
        AmqpsSettings {
            config: server_config(&options).unwrap(),
            login_from: CertLoginFrom::CommonName,
        },
    )
    .await;
    let mut silent = TcpStream::connect(quick.tls_addr.unwrap()).await.unwrap();
    let mut sink = Vec::new();
    let n = within(silent.read_to_end(&mut sink)).await.unwrap_or(0);
    assert_eq!(n, 0, "closed without a word");
    quick.shutdown().await;
    // The broker keeps serving TLS clients.
    let conn = amqprs_tls(
        &broker,
        pki.client(None),
        SecurityCredentials::new_plain("guest", "guest"),
    )
    .await
    .expect("still serving");
    publish_and_consume(&conn, "after-garbage").await;
    let _ = within(conn.close()).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn bytes_that_arrive_with_a_tls_close_are_processed() {
    let pki = Pki::new("Warren test CA");
    let broker = start(&pki, Verify::None, false).await;
    let mut stream = tls_connect(broker.tls_addr.unwrap(), pki.client(None))
        .await
        .unwrap();
    let mut input = BytesMut::new();
    next_method(&mut stream, &mut input).await.expect("start");
    stream
        .write_all(&start_ok("PLAIN", b"\0guest\0guest"))
        .await
        .unwrap();
    stream.flush().await.unwrap();
    next_method(&mut stream, &mut input).await.expect("tune");
    let tune_ok = raw::method_frame(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 0,
        })),
    );
    let open = raw::method_frame(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
            virtual_host: "/".into(),
        })),
    );
    stream.write_all(&[tune_ok, open].concat()).await.unwrap();
    stream.flush().await.unwrap();
    next_method(&mut stream, &mut input).await.expect("open-ok");
    stream.write_all(&raw::channel_open(1)).await.unwrap();
    stream.flush().await.unwrap();
    next_method(&mut stream, &mut input)
        .await
        .expect("channel.open-ok");
    stream
        .write_all(&raw::queue_declare(1, "closing", false))
        .await
        .unwrap();
    stream.flush().await.unwrap();
    next_method(&mut stream, &mut input)
        .await
        .expect("declare-ok");
    let mut burst = raw::publish(1, "", "closing", false);
    burst.extend(raw::content_header(1, 2));
    burst.extend(raw::body(1, b"hi"));
    // The publish, close_notify and FIN leave together.
    stream.write_all(&burst).await.unwrap();
    stream.shutdown().await.unwrap();
    let queue = broker.broker.vhost("/").unwrap().queue("closing").unwrap();
    common::eventually(|| queue.message_count() == 1).await;
    broker.shutdown().await;
}

#[test]
fn bad_certificate_files_are_clear_errors() {
    let pki = Pki::new("Warren test CA");
    let good = pki.server_options(Verify::None, false);
    assert!(server_config(&good).is_ok());

    let missing = TlsOptions {
        certfile: pki.dir.path().join("nope.pem"),
        ..good.clone()
    };
    let e = server_config(&missing).unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::Read {
                what: "certfile",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("nope.pem"), "{e}");

    let junk = pki.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let e = server_config(&TlsOptions {
        certfile: junk.clone(),
        ..good.clone()
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::Pem {
                what: "certfile",
                ..
            }
        ),
        "{e}"
    );
    let e = server_config(&TlsOptions {
        keyfile: junk,
        ..good.clone()
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::Pem {
                what: "keyfile",
                ..
            }
        ),
        "{e}"
    );

    // A key that belongs to another certificate.
    let other = pki.issue("other", true);
    let e = server_config(&TlsOptions {
        keyfile: other.key,
        ..good.clone()
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::Rustls { .. }), "{e}");

    // verify_peer needs a CA file.
    let e = server_config(&TlsOptions {
        cacertfile: None,
        verify: Verify::Peer,
        ..good
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::NoCaFile), "{e}");
}

/// A backlog larger than the output high-water mark (1 MiB) and than the
/// socket buffers drains completely, over plain TCP and through the TLS
/// transport (it used to stall at about 2 MB: deliveries left behind at the
/// high-water mark waited for an event that never came once the socket had
/// taken everything).
#[tokio::test]
async fn a_large_backlog_drains_over_plain_and_tls() {
    let pki = Pki::new("Warren test CA");
    let broker = start(&pki, Verify::None, false).await;
    let plain = broker.amqprs().await;
    let channel = within(plain.open_channel(None)).await.unwrap();
    let body = vec![7u8; 100_000];
    for tls in [false, true] {
        within(channel.queue_declare(QueueDeclareArguments::new("backlog")))
            .await
            .unwrap();
        for _ in 0..40 {
            within(channel.basic_publish(
                BasicProperties::default(),
                body.clone(),
                BasicPublishArguments::new("", "backlog"),
            ))
            .await
            .unwrap();
        }
        let queue = broker.broker.vhost("/").unwrap().queue("backlog").unwrap();
        common::eventually(|| queue.message_count() == 40).await;
        let conn = if tls {
            let credentials = SecurityCredentials::new_plain("guest", "guest");
            amqprs_tls(&broker, pki.client(None), credentials)
                .await
                .unwrap()
        } else {
            broker.amqprs().await
        };
        let consuming = within(conn.open_channel(None)).await.unwrap();
        let (_tag, mut rx) = within(
            consuming.basic_consume_rx(
                BasicConsumeArguments::new("backlog", "")
                    .manual_ack(false)
                    .finish(),
            ),
        )
        .await
        .unwrap();
        for _ in 0..40 {
            let message = within(rx.recv()).await.expect("a delivery");
            assert_eq!(message.content.as_deref().map(<[u8]>::len), Some(100_000));
        }
        within(consuming.close()).await.unwrap();
        let _ = within(conn.close()).await;
    }
    within(channel.close()).await.unwrap();
    let _ = within(plain.close()).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn connection_max_counts_plain_and_tls_sockets_together() {
    let pki = Pki::new("Warren test CA");
    let options = pki.server_options(Verify::None, false);
    let settings = AmqpsSettings {
        config: server_config(&options).expect("valid TLS settings"),
        login_from: CertLoginFrom::CommonName,
    };
    let config = BrokerConfig {
        connection_max: Some(1),
        ..Default::default()
    };
    let broker = TestBroker::start_tls(config, settings).await;
    let plain = broker.amqprs().await;
    let over_tls = amqprs_tls(
        &broker,
        pki.client(None),
        SecurityCredentials::new_plain("guest", "guest"),
    )
    .await;
    assert!(
        over_tls.is_err(),
        "a TLS connection beyond connection_max = 1 (one plain open) was accepted"
    );
    within(plain.close()).await.unwrap();
    // The place is given back when the plain connection goes.
    let sockets = &broker.broker.open_sockets;
    eventually(|| sockets.load(std::sync::atomic::Ordering::Relaxed) == 0).await;
    let conn = amqprs_tls(
        &broker,
        pki.client(None),
        SecurityCredentials::new_plain("guest", "guest"),
    )
    .await;
    let conn = conn.expect("a TLS connection once the plain one closed");
    within(conn.close()).await.unwrap();
    broker.shutdown().await;
}
