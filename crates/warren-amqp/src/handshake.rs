//! The AMQP connection handshake: protocol header, start/start-ok (PLAIN,
//! AMQPLAIN, and EXTERNAL for TLS clients with a verified certificate),
//! tune/tune-ok and open/open-ok.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use warren_codec::frame::{decode_frame, FRAME_MIN_SIZE};
use warren_codec::method::{decode_method, Method};
use warren_codec::spec::{connection, AMQPClass};
use warren_codec::{
    encode, AMQPValue, FieldTable, FrameKind, LongString, ShortString, PROTOCOL_HEADER,
};
use warren_core::definitions::json::table_to_json;
use warren_core::registry::ConnectionMeta;
use warren_core::{Broker, BrokerError};

use crate::config::AmqpConfig;
use crate::error::AmqpError;
use crate::outbox::{Outbox, OutboxCloser};
use crate::session::{ClientCapabilities, Session};
use crate::text::reply_text;

/// The AMQP 0-9 protocol header, accepted as 0-9-1 like RabbitMQ does.
const AMQP_0_9_HEADER: [u8; 8] = *b"AMQP\x01\x01\x00\x09";

/// Why a handshake did not produce a session.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The socket failed or the peer went away.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed (not TLS, untrusted or missing client
    /// certificate, no common protocol version or cipher).
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    /// The peer did not speak AMQP 0-9-1; the supported header was sent back.
    #[error("unsupported protocol header {0:?}")]
    BadHeader(Vec<u8>),
    /// The peer broke the handshake; connection.close was sent with this error.
    #[error("{0}")]
    Refused(AmqpError),
}

/// What the transport knows about the client.
pub struct PeerInfo {
    /// The client's address.
    pub addr: SocketAddr,
    /// Our address.
    pub local: Option<SocketAddr>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// A verified TLS client certificate, if the client presented one: it
    /// makes EXTERNAL available.
    pub certificate: Option<CertificateLogin>,
}

/// The login a verified client certificate offers through EXTERNAL.
pub struct CertificateLogin {
    /// The user name taken from the certificate (per `ssl_cert_login_from`),
    /// or None if its subject names none.
    pub user: Option<String>,
    /// The subject DN, for log messages.
    pub subject: String,
}

/// A completed handshake: the session, the negotiated heartbeat (seconds) and
/// bytes already read past the handshake.
pub struct Handshake {
    /// The new session.
    pub session: Session,
    /// Negotiated heartbeat interval in seconds (0 = disabled).
    pub heartbeat: u16,
    /// Unprocessed input.
    pub input: BytesMut,
}

fn server_properties() -> FieldTable {
    let mut caps = FieldTable::default();
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        caps.insert(ShortString::from(cap), AMQPValue::Boolean(true));
    }
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()));
    let mut props = FieldTable::default();
    props.insert("capabilities".into(), AMQPValue::FieldTable(caps));
    props.insert("product".into(), text("Warren"));
    props.insert("version".into(), text(env!("CARGO_PKG_VERSION")));
    props.insert("platform".into(), text("Rust / tokio"));
    props.insert("copyright".into(), text("Warren contributors"));
    props.insert(
        "information".into(),
        text("Licensed under the Apache License 2.0"),
    );
    props.insert("cluster_name".into(), text("warren"));
    props
}

struct Wire<'a, S> {
    stream: &'a mut S,
    input: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<'_, S> {
    async fn send(&mut self, method: AMQPClass) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        encode::write_method(&mut out, 0, &method);
        self.stream.write_all(&out).await?;
        // A no-op on TCP; pushes the TLS records out.
        self.stream.flush().await
    }

    /// Reads the next method on channel 0, skipping heartbeats.
    async fn next_method(&mut self) -> Result<AMQPClass, HandshakeError> {
        loop {
            match decode_frame(&mut self.input, FRAME_MIN_SIZE as usize) {
                Ok(Some(frame)) if frame.kind == FrameKind::Heartbeat => continue,
                Ok(Some(frame)) if frame.kind == FrameKind::Method && frame.channel == 0 => {
                    return match decode_method(frame.payload) {
                        Ok(Method::Other(class)) => Ok(class),
                        Ok(_) => Err(self
                            .refuse(BrokerError::CommandInvalid(
                                "unexpected method during handshake".into(),
                            ))
                            .await),
                        Err(e) => Err(self.refuse(codec_error(e)).await),
                    };
                }
                Ok(Some(_)) => {
                    return Err(self
                        .refuse(AmqpError::UnexpectedFrame(
                            "non-method frame during handshake".into(),
                        ))
                        .await)
                }
                Ok(None) => {
                    if self.stream.read_buf(&mut self.input).await? == 0 {
                        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
                    }
                }
                Err(e) => return Err(self.refuse(codec_error(e)).await),
            }
        }
    }

    /// Sends connection.close with `error` and gives the client a moment to answer.
    async fn refuse(&mut self, error: impl Into<AmqpError>) -> HandshakeError {
        self.refuse_for(error, (0, 0)).await
    }

    /// Like [`Wire::refuse`], naming the method (class, method ids) that failed.
    async fn refuse_for(&mut self, error: impl Into<AmqpError>, ids: (u16, u16)) -> HandshakeError {
        let error = error.into();
        let close = AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: error.reply_code(),
            reply_text: reply_text(&error.to_string()),
            class_id: ids.0,
            method_id: ids.1,
        }));
        if self.send(close).await.is_ok() {
            let mut sink = [0u8; 512];
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(500),
                self.stream.read(&mut sink),
            )
            .await;
        }
        HandshakeError::Refused(error)
    }
}

/// Maps a decoding failure to the broker error RabbitMQ answers it with.
pub fn codec_error(e: warren_codec::CodecError) -> AmqpError {
    let text = e.to_string();
    let text = text
        .split_once(" - ")
        .map(|(_, t)| t.to_string())
        .unwrap_or(text);
    match e.reply_code() {
        540 => BrokerError::NotImplemented(text).into(),
        502 => BrokerError::SyntaxError(text).into(),
        _ => AmqpError::Frame(text),
    }
}

/// Runs the handshake on a freshly accepted socket (plain, or TLS once its
/// own handshake is done).
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    client: &PeerInfo,
    broker: &Arc<Broker>,
    config: &AmqpConfig,
) -> Result<Handshake, HandshakeError> {
    let peer = client.addr;
    let mut header = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        let n = stream.read(&mut header[got..]).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        got += n;
        // RabbitMQ treats the 0-9 header as 0-9-1 (the two are close enough).
        if header[..got] != PROTOCOL_HEADER[..got] && header[..got] != AMQP_0_9_HEADER[..got] {
            stream.write_all(&PROTOCOL_HEADER).await?;
            stream.flush().await?;
            return Err(HandshakeError::BadHeader(header[..got].to_vec()));
        }
    }
    let mut wire = Wire {
        stream,
        input: BytesMut::with_capacity(4096),
    };
    wire.send(AMQPClass::Connection(connection::AMQPMethod::Start(
        connection::Start {
            version_major: 0,
            version_minor: 9,
            server_properties: server_properties(),
            mechanisms: LongString::from(mechanisms(client).as_bytes().to_vec()),
            locales: LongString::from(b"en_US".to_vec()),
        },
    )))
    .await?;
    let (user, mechanism, capabilities, client_properties) = match wire.next_method().await? {
        AMQPClass::Connection(connection::AMQPMethod::StartOk(ok)) => {
            let login = authenticate(broker, &ok, client);
            broker.users.auth_attempts.record("amqp091", login.is_ok());
            match login {
                Ok(user) => (
                    user,
                    ok.mechanism.as_str().to_string(),
                    client_capabilities(&ok.client_properties),
                    table_to_json(&crate::value::to_table(&ok.client_properties)),
                ),
                Err(e) => {
                    crate::log_lines::login_refused(client, &ok, &e);
                    return Err(wire.refuse(e).await);
                }
            }
        }
        _ => {
            return Err(wire
                .refuse(BrokerError::CommandInvalid(
                    "expected connection.start-ok".into(),
                ))
                .await)
        }
    };
    let server_heartbeat = config.heartbeat.as_secs().min(u16::MAX as u64) as u16;
    wire.send(AMQPClass::Connection(connection::AMQPMethod::Tune(
        connection::Tune {
            channel_max: config.channel_max,
            frame_max: config.frame_max,
            heartbeat: server_heartbeat,
        },
    )))
    .await?;
    let tune = match wire.next_method().await? {
        AMQPClass::Connection(connection::AMQPMethod::TuneOk(t)) => t,
        _ => {
            return Err(wire
                .refuse(BrokerError::CommandInvalid(
                    "expected connection.tune-ok".into(),
                ))
                .await)
        }
    };
    let frame_max = match negotiate_frame_max(tune.frame_max, config.frame_max) {
        Ok(f) => f,
        // RabbitMQ names connection.tune as the failing method.
        Err(e) => return Err(wire.refuse_for(e, (10, 30)).await),
    };
    let channel_max = match tune.channel_max {
        0 => config.channel_max,
        n => n.min(config.channel_max),
    };
    let vhost_name = match wire.next_method().await? {
        AMQPClass::Connection(connection::AMQPMethod::Open(open)) => {
            open.virtual_host.as_str().to_string()
        }
        _ => {
            return Err(wire
                .refuse(BrokerError::CommandInvalid(
                    "expected connection.open".into(),
                ))
                .await)
        }
    };
    let vhost_name = if vhost_name.is_empty() {
        broker.config.default_vhost.clone()
    } else {
        vhost_name
    };
    let vhost = match broker.open_vhost(&user, &vhost_name) {
        Ok(v) => v,
        // RabbitMQ names connection.open as the failing method.
        Err(e) => {
            crate::log_lines::open_refused(client, &user, &e);
            return Err(wire.refuse_for(e, (10, 40)).await);
        }
    };
    // Held by the session; dropping it gives the place back.
    let connection_slot = match vhost.limits.reserve_connection(&vhost_name, &user) {
        Ok(slot) => slot,
        Err(e) => {
            crate::log_lines::open_refused(client, &user, &e);
            return Err(wire.refuse_for(e, (10, 40)).await);
        }
    };
    wire.send(AMQPClass::Connection(connection::AMQPMethod::OpenOk(
        connection::OpenOk {},
    )))
    .await?;
    let client_name = client_properties
        .get("connection_name")
        .and_then(|v| v.as_str());
    crate::log_lines::opened(client, &user, &vhost_name, client_name);
    let id = broker.next_connection_id();
    let outbox = Arc::new(Outbox::default());
    let meta = ConnectionMeta {
        name: format!(
            "{peer} -> {}",
            client
                .local
                .map_or_else(|| "?".to_string(), |a| a.to_string())
        ),
        peer: Some(peer),
        local: client.local,
        ssl: client.tls,
        auth_mechanism: mechanism,
        user: user.clone(),
        vhost: vhost_name.clone(),
        protocol: "AMQP 0-9-1".into(),
        client_properties,
        connected_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        frame_max,
        channel_max,
        timeout: tune.heartbeat,
    };
    let info = broker
        .registry
        .register(id, meta, Box::new(OutboxCloser(outbox.clone())));
    let session = Session {
        id,
        broker: broker.clone(),
        vhost,
        user,
        frame_max: frame_max as usize,
        channel_max,
        capabilities,
        sync_listener: outbox.clone(),
        outbox,
        exclusive_queues: Vec::new(),
        // Grows with the first write: idle connections keep no output buffer.
        out: BytesMut::new(),
        now: tokio::time::Instant::now(),
        info,
        memory_charge: 0,
        commits_waiting: 0,
        _connection_slot: connection_slot,
    };
    Ok(Handshake {
        session,
        heartbeat: tune.heartbeat,
        input: wire.input,
    })
}

/// The SASL mechanisms offered: EXTERNAL only to a client that presented a
/// verified certificate.
fn mechanisms(client: &PeerInfo) -> &'static str {
    if client.certificate.is_some() {
        "PLAIN AMQPLAIN EXTERNAL"
    } else {
        "PLAIN AMQPLAIN"
    }
}

fn negotiate_frame_max(client: u32, server: u32) -> Result<u32, BrokerError> {
    if client == 0 {
        return Ok(server);
    }
    if client < FRAME_MIN_SIZE {
        return Err(BrokerError::NotAllowed(format!(
            "negotiated frame_max = {client} is lower than the minimum allowed value ({FRAME_MIN_SIZE})"
        )));
    }
    // A server frame_max of 0 means no limit (as RabbitMQ's `frame_max = 0`).
    if server != 0 && client > server {
        return Err(BrokerError::NotAllowed(format!(
            "negotiated frame_max = {client} is higher than the maximum allowed value ({server})"
        )));
    }
    Ok(client)
}

fn authenticate(
    broker: &Broker,
    ok: &connection::StartOk,
    client: &PeerInfo,
) -> Result<String, BrokerError> {
    let peer = client.addr;
    let response = ok.response.as_bytes();
    let (user, pass) = match ok.mechanism.as_str() {
        "PLAIN" => parse_plain(response),
        "AMQPLAIN" => parse_amqplain(response),
        "EXTERNAL" if client.certificate.is_some() => {
            return authenticate_external(broker, client.certificate.as_ref(), peer)
        }
        other => {
            return Err(BrokerError::CommandInvalid(format!(
                "unknown authentication mechanism '{other}'"
            )))
        }
    }
    .ok_or_else(|| {
        BrokerError::AccessRefused(format!(
            "{} login response is malformed",
            ok.mechanism.as_str()
        ))
    })?;
    broker
        .users
        .authenticate(&user, &pass, Some(peer.ip()))
        .map(|u| u.name)
        .map_err(|e| match e {
            BrokerError::AccessRefused(text) => {
                BrokerError::AccessRefused(text.replace("PLAIN", ok.mechanism.as_str()))
            }
            other => other,
        })
}

/// EXTERNAL: the user named by the verified client certificate must exist;
/// no password is checked (as rabbitmq_auth_mechanism_ssl). Failures take
/// the same 403 ACCESS_REFUSED path as a failed PLAIN login.
fn authenticate_external(
    broker: &Broker,
    certificate: Option<&CertificateLogin>,
    peer: SocketAddr,
) -> Result<String, BrokerError> {
    let refused = || {
        BrokerError::AccessRefused(
            "Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile.".into(),
        )
    };
    let Some(certificate) = certificate else {
        return Err(refused());
    };
    let Some(name) = &certificate.user else {
        tracing::warn!(%peer, subject = %certificate.subject, "EXTERNAL login refused: the client certificate's subject names no user");
        return Err(refused());
    };
    broker
        .users
        .authenticate_external(name, Some(peer.ip()))
        .map(|u| u.name)
        .inspect_err(|e| tracing::warn!(%peer, user = %name, "EXTERNAL login refused: {e}"))
}

/// PLAIN: `authzid \0 authcid \0 password`.
pub(crate) fn parse_plain(response: &[u8]) -> Option<(String, String)> {
    let mut parts = response.split(|b| *b == 0);
    let _authzid = parts.next()?;
    let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let pass = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((user, pass))
}

/// AMQPLAIN: a field table without its length prefix, with LOGIN and PASSWORD.
pub(crate) fn parse_amqplain(response: &[u8]) -> Option<(String, String)> {
    let mut framed = (response.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(response);
    let (_, table) =
        warren_codec::properties::parse_field_table(Bytes::from(framed).as_ref()).ok()?;
    let get = |k: &str| table.inner().get(k).map(crate::value::to_value)?.as_str();
    Some((get("LOGIN")?, get("PASSWORD")?))
}

fn client_capabilities(props: &FieldTable) -> ClientCapabilities {
    let caps = match props.inner().get("capabilities") {
        Some(AMQPValue::FieldTable(t)) => t.clone(),
        _ => FieldTable::default(),
    };
    let flag = |k: &str| matches!(caps.inner().get(k), Some(AMQPValue::Boolean(true)));
    ClientCapabilities {
        consumer_cancel_notify: flag("consumer_cancel_notify"),
        connection_blocked: flag("connection.blocked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_amqplain_responses() {
        assert_eq!(
            parse_plain(b"\0guest\0pw"),
            Some(("guest".into(), "pw".into()))
        );
        assert_eq!(parse_plain(b"guest"), None);
        let mut t = Vec::new();
        for (k, v) in [("LOGIN", "u"), ("PASSWORD", "p")] {
            t.push(k.len() as u8);
            t.extend_from_slice(k.as_bytes());
            t.push(b'S');
            t.extend_from_slice(&(v.len() as u32).to_be_bytes());
            t.extend_from_slice(v.as_bytes());
        }
        assert_eq!(parse_amqplain(&t), Some(("u".into(), "p".into())));
        assert_eq!(parse_amqplain(&[3, b'a']), None);
    }

    #[test]
    fn frame_max_negotiation() {
        assert_eq!(negotiate_frame_max(0, 131072), Ok(131072));
        assert_eq!(negotiate_frame_max(8192, 131072), Ok(8192));
        assert!(negotiate_frame_max(100, 131072).is_err());
        assert!(negotiate_frame_max(200_000, 131072).is_err());
        assert_eq!(
            negotiate_frame_max(200_000, 0),
            Ok(200_000),
            "0 is no limit"
        );
        assert_eq!(negotiate_frame_max(0, 0), Ok(0));
    }
}
