//! From an accepted socket to an open AMQP connection: the TLS handshake on
//! the amqps listener (with the client certificate's login for EXTERNAL),
//! then the AMQP handshake, giving the [`Transport`] the connection loop runs on.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use warren_core::Broker;

use crate::config::AmqpConfig;
use crate::handshake::{handshake, CertificateLogin, Handshake, HandshakeError, PeerInfo};
use crate::tls::{AmqpsSettings, Subject};
use crate::transport::{TlsTransport, Transport};

/// Runs the TLS handshake (when `tls` is set) and the AMQP handshake.
pub async fn open(
    mut stream: TcpStream,
    peer: SocketAddr,
    broker: &Arc<Broker>,
    config: &AmqpConfig,
    tls: Option<&AmqpsSettings>,
) -> Result<(Transport, Handshake), HandshakeError> {
    let local = stream.local_addr().ok();
    let Some(tls) = tls else {
        let client = PeerInfo {
            addr: peer,
            local,
            tls: false,
            certificate: None,
        };
        let handshake = handshake(&mut stream, &client, broker, config).await?;
        return Ok((Transport::Plain(stream), handshake));
    };
    let mut stream = TlsAcceptor::from(tls.config.clone())
        .accept(stream)
        .await
        .map_err(HandshakeError::Tls)?;
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| match Subject::from_der(cert) {
            Some(subject) => CertificateLogin {
                user: tls.login_from.user_name(&subject),
                subject: subject.distinguished_name(),
            },
            None => CertificateLogin {
                user: None,
                subject: "(unreadable subject)".into(),
            },
        });
    let client = PeerInfo {
        addr: peer,
        local,
        tls: true,
        certificate,
    };
    let handshake = handshake(&mut stream, &client, broker, config).await?;
    let (tcp, session) = stream.into_inner();
    let transport = TlsTransport::new(tcp, session)?;
    Ok((Transport::Tls(Box::new(transport)), handshake))
}
