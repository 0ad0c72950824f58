//! basic.publish: assembling content frames into a message, routing it, mandatory
//! returns, direct reply-to addressing, and confirm sequence numbers.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use warren_codec::content::decode_content_header;
use warren_codec::encode::{write_return, ContentRef};
use warren_codec::method::Publish;
use warren_codec::properties::RawProperties;
use warren_core::message::{parse_expiration, Content as MessageContent, ContentFormat, FormatId};
use warren_core::publish::{Publish as CorePublish, Publisher};
use warren_core::reply_to::REPLY_TO_QUEUE;
use warren_core::{BrokerError, Exchange, Message};

use crate::error::AmqpError;
use crate::outbox::sync_token;

use super::sender_selected::sender_routes;
use super::{Channel, Fault};
use crate::handshake::codec_error;
use crate::session::Session;

pub(super) const PUBLISH: (u16, u16) = (60, 40);

/// RabbitMQ's text for a content frame where a method frame was expected.
const EXPECTED_METHOD: &str = "expected method frame, got non method frame instead";

/// Where the channel is in receiving a message's frames.
pub enum Content {
    /// No message in progress.
    Idle,
    /// basic.publish seen; the content header comes next.
    Header(Publish),
    /// Header seen; body frames come next.
    Body {
        publish: Publish,
        properties: Bytes,
        expected: u64,
        parts: Vec<Bytes>,
        received: u64,
    },
}

/// What [`Channel::inspect`] found in a message's properties.
struct Inspected {
    /// The message's annotations.
    ann: warren_core::message::Annotations,
    /// Routing keys from the CC and BCC headers.
    cc: Vec<Bytes>,
    /// Rewritten properties (reply-to addressed, BCC removed), if any.
    replacement: Option<Bytes>,
}

/// A complete message waiting to be routed (immediately, or at tx.commit).
pub struct Pending {
    exchange: Arc<Exchange>,
    mandatory: bool,
    message: Arc<Message>,
    /// Routing keys from the CC and BCC headers.
    cc: Vec<Bytes>,
}

fn utf8<'a>(bytes: &'a Bytes, what: &str) -> Result<&'a str, BrokerError> {
    std::str::from_utf8(bytes)
        .map_err(|_| BrokerError::SyntaxError(format!("{what} is not valid UTF-8")))
}

/// RabbitMQ's validated user-id: a message's user_id must be the connection's
/// user, unless that user is tagged "impersonator".
fn check_user_id(
    claimed: Option<&[u8]>,
    publisher: &Publisher,
    session: &Session,
) -> Result<(), BrokerError> {
    let Some(claimed) = claimed else {
        return Ok(());
    };
    if publisher.may_claim_user_id(claimed) {
        return Ok(());
    }
    Err(BrokerError::PreconditionFailed(format!(
        "user_id property set to '{}' but authenticated user was '{}'",
        String::from_utf8_lossy(claimed),
        session.user
    )))
}

/// RabbitMQ refuses a message whose `expiration` is not a valid TTL.
/// `parsed` is the TTL the annotations already read from `expiration`: only
/// when that failed is the value parsed again, for RabbitMQ's reason.
fn check_expiration(expiration: Option<&[u8]>, parsed: Option<u64>) -> Result<(), BrokerError> {
    let (Some(raw), None) = (expiration, parsed) else {
        return Ok(());
    };
    parse_expiration(raw).map(|_| ()).map_err(|reason| {
        BrokerError::PreconditionFailed(format!(
            "invalid expiration '{}': {reason}",
            String::from_utf8_lossy(raw)
        ))
    })
}

impl Channel {
    pub(super) fn on_publish(&mut self, publish: Publish) -> Result<(), BrokerError> {
        if publish.immediate {
            return Err(BrokerError::NotImplemented("immediate=true".into()));
        }
        self.content = Content::Header(publish);
        Ok(())
    }

    pub(super) fn on_header(&mut self, payload: Bytes, session: &mut Session) -> Result<(), Fault> {
        let publish = match std::mem::replace(&mut self.content, Content::Idle) {
            Content::Header(p) => p,
            Content::Idle => {
                return Err(Fault::new(
                    AmqpError::UnexpectedFrame(EXPECTED_METHOD.into()),
                    (0, 0),
                ))
            }
            Content::Body { .. } => {
                return Err(Fault::new(
                    AmqpError::UnexpectedFrame(
                        "expected content body, got non content body frame instead".into(),
                    ),
                    PUBLISH,
                ))
            }
        };
        let header =
            decode_content_header(payload).map_err(|e| Fault::new(codec_error(e), PUBLISH))?;
        if header.class_id != 60 {
            return Err(Fault::new(
                AmqpError::UnexpectedFrame(format!(
                    "expected content header for class 60, got one for class {} instead",
                    header.class_id
                )),
                PUBLISH,
            ));
        }
        let max = session.broker.config.max_message_size;
        if header.body_size > max {
            return Err(Fault::new(
                BrokerError::PreconditionFailed(format!(
                    "message size {} is larger than configured max size {max}",
                    header.body_size
                )),
                PUBLISH,
            ));
        }
        if header.body_size == 0 {
            return self.publish_complete(publish, header.properties, Bytes::new(), session);
        }
        self.content = Content::Body {
            publish,
            properties: header.properties,
            expected: header.body_size,
            parts: Vec::with_capacity(1),
            received: 0,
        };
        Ok(())
    }

    pub(super) fn on_body(&mut self, payload: Bytes, session: &mut Session) -> Result<(), Fault> {
        let Content::Body {
            expected,
            parts,
            received,
            ..
        } = &mut self.content
        else {
            return Err(match self.content {
                Content::Header(_) => Fault::new(
                    AmqpError::UnexpectedFrame(
                        "expected content header for class 60, got non content header frame instead"
                            .into(),
                    ),
                    PUBLISH,
                ),
                _ => Fault::new(AmqpError::UnexpectedFrame(EXPECTED_METHOD.into()), (0, 0)),
            });
        };
        *received += payload.len() as u64;
        if *received > *expected {
            return Err(Fault::new(
                AmqpError::Frame("content body frame exceeds remaining content size".into()),
                PUBLISH,
            ));
        }
        parts.push(payload);
        if *received < *expected {
            return Ok(());
        }
        let Content::Body {
            publish,
            properties,
            parts,
            ..
        } = std::mem::replace(&mut self.content, Content::Idle)
        else {
            return Ok(());
        };
        let body = if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_default()
        } else {
            let mut joined = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
            parts.iter().for_each(|p| joined.extend_from_slice(p));
            joined.freeze()
        };
        self.publish_complete(publish, properties, body, session)
    }

    fn publish_complete(
        &mut self,
        publish: Publish,
        properties: Bytes,
        body: Bytes,
        session: &mut Session,
    ) -> Result<(), Fault> {
        let pending = self
            .prepare(publish, properties, body, session)
            .map_err(|e| Fault::new(e, PUBLISH))?;
        match self.tx.as_mut() {
            Some(tx) => tx.publishes.push(pending),
            None => {
                self.route_and_enqueue(pending, session);
            }
        }
        Ok(())
    }

    fn prepare(
        &mut self,
        publish: Publish,
        properties: Bytes,
        body: Bytes,
        session: &mut Session,
    ) -> Result<Pending, BrokerError> {
        let exchange_name = utf8(&publish.exchange, "exchange name")?;
        // As rabbit_channel: write permission, lookup, internal, topic write.
        let exchange = self
            .publisher
            .destination(exchange_name, &publish.routing_key)?;
        let inspected = self.inspect(&properties, session, false)?;
        let properties = inspected.replacement.unwrap_or(properties);
        let (ann, cc) = (inspected.ann, inspected.cc);
        Ok(Pending {
            exchange,
            mandatory: publish.mandatory,
            message: Arc::new(Message {
                exchange: publish.exchange,
                routing_key: publish.routing_key,
                ann,
                content: MessageContent::new(FormatId::AMQP_091, properties),
                body,
            }),
            cc,
        })
    }

    /// RabbitMQ's checks of a message's properties (direct reply-to address,
    /// user id, expiration, CC/BCC types) and its annotations, from one walk
    /// of the property list; a second only when reply-to or BCC rewrote it.
    fn inspect(
        &self,
        properties: &Bytes,
        session: &Session,
        addressed: bool,
    ) -> Result<Inspected, BrokerError> {
        // The content header was validated: the walk cannot fail.
        let scan = RawProperties::new(properties).scan().unwrap_or_default();
        if !addressed && scan.reply_to == Some(REPLY_TO_QUEUE.as_bytes()) {
            let rewritten = self.address_reply_to(properties)?;
            let mut inner = self.inspect(&rewritten, session, true)?;
            inner.replacement.get_or_insert(rewritten);
            return Ok(inner);
        }
        check_user_id(scan.user_id, &self.publisher, session)?;
        let ann = crate::content::annotate_scan(&scan);
        check_expiration(scan.expiration, ann.expiry_ms)?;
        let (cc, without_bcc) = sender_routes(properties)?;
        let ann = match &without_bcc {
            Some(stripped) => crate::content::annotate(stripped),
            None => ann,
        };
        Ok(Inspected {
            ann,
            cc,
            replacement: without_bcc,
        })
    }

    /// The properties with reply_to "amq.rabbitmq.reply-to" replaced by this
    /// channel's reply address.
    fn address_reply_to(&self, properties: &Bytes) -> Result<Bytes, BrokerError> {
        let view = RawProperties::new(properties);
        let reply = self.reply_to.as_ref().ok_or_else(|| {
            BrokerError::PreconditionFailed("fast reply consumer does not exist".into())
        })?;
        view.with_reply_to(reply.address.as_bytes()).ok_or_else(|| {
            BrokerError::InternalError("direct reply-to address longer than 255 bytes".into())
        })
    }

    /// Routes and enqueues a complete message through the core's publish
    /// path; returns it if mandatory and unroutable, and counts it for
    /// publisher confirms. True if it was written to the store (a
    /// persistent message reached a durable queue).
    pub(super) fn route_and_enqueue(&mut self, pending: Pending, session: &mut Session) -> bool {
        let Pending {
            exchange,
            mandatory,
            message,
            cc,
        } = pending;
        let seq = match (self.confirms.as_mut(), self.tx.is_some()) {
            (Some(c), _) => {
                c.published += 1;
                Some(c.published)
            }
            (None, true) => {
                self.tx_sync.published += 1;
                Some(self.tx_sync.published)
            }
            (None, false) => None,
        };
        let mut headers = || crate::content::AMQP_091.headers(&message.content.bytes);
        let routed = self.publisher.publish(CorePublish {
            exchange: &exchange,
            message: &message,
            extra_keys: &cc,
            headers: &mut headers,
            counters: &self.info.counters,
            mandatory,
            confirm: seq.map(|seq| (&session.sync_listener, sync_token(self.id, seq))),
        });
        if routed.returned(mandatory) {
            let properties = message.rendered_content();
            let content = ContentRef {
                exchange: &message.exchange,
                routing_key: &message.routing_key,
                properties: &properties,
                body: &message.body,
            };
            write_return(
                &mut session.out,
                self.id,
                312,
                "NO_ROUTE",
                content,
                session.frame_max,
            );
        }
        session.memory_charge += routed.memory;
        if let (Some(seq), Some(confirms)) = (seq, self.confirms.as_mut()) {
            if routed.persisted {
                confirms.unsynced.push_back(seq);
            }
            if routed.rejected {
                // x-overflow reject-publish: the publisher gets basic.nack.
                confirms.nacked.push(seq);
            }
        }
        routed.persisted
    }
}
