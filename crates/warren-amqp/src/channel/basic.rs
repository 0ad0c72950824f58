//! Consuming: basic.qos, consume, cancel, get, ack/nack/reject, recover, and
//! writing deliveries handed over by queues.

use std::sync::Arc;

use rand::Rng;
use warren_codec::encode::{write_deliver, write_get_ok, ContentRef};
use warren_codec::spec::{basic as b, AMQPClass};
use warren_core::auth::{Access, ResourceKind};
use warren_core::queue::Settlement;
use warren_core::registry::MessageCounters;
use warren_core::reply_to::REPLY_TO_QUEUE;
use warren_core::value::Value;
use warren_core::{BrokerError, Consumer, ConsumerCredit, Delivery, Queue, QueuedMessage};

use super::{settle_with_queues, Channel, ConsumerEntry, ReplyTo, Settle, TxSettle, Unacked};
use crate::session::Session;
use crate::text::short_string;
use crate::value::to_table;

fn generate_consumer_tag() -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    format!("amq.ctag-{suffix}")
}

/// The frames' view of a delivered message; `properties` is its content as
/// rendered for delivery ([`warren_core::Message::rendered_content`]).
fn content<'a>(message: &'a QueuedMessage, properties: &'a [u8]) -> ContentRef<'a> {
    let m = &message.message;
    ContentRef {
        exchange: &m.exchange,
        routing_key: &m.routing_key,
        properties,
        body: &m.body,
    }
}

impl Channel {
    pub(super) fn qos(
        &mut self,
        prefetch_size: u32,
        count: u16,
        global: bool,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        if prefetch_size != 0 {
            return Err(BrokerError::NotImplemented(format!(
                "prefetch_size!=0 ({prefetch_size})"
            )));
        }
        if global {
            if self.channel_credit.set_limit(count as u32) {
                self.kick_queues();
            }
        } else {
            self.consumer_prefetch = count as u32;
        }
        let gauge = if global {
            &self.info.global_prefetch_count
        } else {
            &self.info.prefetch_count
        };
        gauge.store(count as u32, std::sync::atomic::Ordering::Relaxed);
        session.send(self.id, AMQPClass::Basic(b::AMQPMethod::QosOk(b::QosOk {})));
        Ok(())
    }

    /// Resolves an empty queue name to the channel's last declared queue.
    pub(super) fn queue_name(&self, name: &str) -> Result<String, BrokerError> {
        if !name.is_empty() {
            return Ok(name.to_string());
        }
        self.last_queue
            .clone()
            .ok_or_else(|| BrokerError::NotFound("no previously declared queue".into()))
    }

    pub(super) fn consume(
        &mut self,
        m: b::Consume,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        let (tag, wire_tag): (Arc<str>, _) = match m.consumer_tag.as_str() {
            "" => {
                let generated = generate_consumer_tag();
                let wire_tag = short_string("consumer tag", &generated)?;
                (generated.into(), wire_tag)
            }
            t => (t.into(), m.consumer_tag.clone()),
        };
        if self.consumers.contains_key(&tag) {
            return Err(BrokerError::NotAllowed(format!(
                "attempt to reuse consumer tag '{tag}'"
            )));
        }
        if let Some(max) = session.broker.config.consumer_max_per_channel {
            if self.consumers.len() >= max {
                return Err(BrokerError::NotAllowed(format!(
                    "reached maximum ({max}) of consumers per channel"
                )));
            }
        }
        let queue = if m.queue.as_str() == REPLY_TO_QUEUE {
            self.reply_queue(m.no_ack, session)?
        } else {
            let name = self.queue_name(m.queue.as_str())?;
            self.publisher
                .authorize(Access::Read, ResourceKind::Queue, &name)?;
            session.vhost.queue_for(&name, session.id)?
        };
        let arguments = to_table(&m.arguments);
        let priority = match arguments.get("x-priority") {
            None => 0,
            Some(v) => consumer_priority(v, &queue.name, &session.vhost.name, &tag)?,
        };
        let consumer = Arc::new(Consumer {
            tag: tag.clone(),
            channel: self.id,
            connection_id: session.id,
            no_ack: m.no_ack,
            exclusive: m.exclusive,
            priority,
            arguments,
            credit: ConsumerCredit::new(self.consumer_prefetch),
            channel_credit: self.channel_credit.clone(),
            sink: session.outbox.clone(),
            active: std::sync::atomic::AtomicBool::new(true),
        });
        // consume-ok only once the queue accepted the consumer (an exclusive
        // consumer elsewhere refuses it). Deliveries it triggers go through the
        // outbox, which is written after this reply.
        queue.add_consumer(consumer.clone())?;
        if !m.nowait {
            let ok = b::ConsumeOk {
                consumer_tag: wire_tag,
            };
            session.send(self.id, AMQPClass::Basic(b::AMQPMethod::ConsumeOk(ok)));
        }
        self.consumers
            .insert(tag, ConsumerEntry { consumer, queue });
        Ok(())
    }

    /// The channel's direct reply-to pseudo-queue, created on first use.
    fn reply_queue(
        &mut self,
        no_ack: bool,
        session: &mut Session,
    ) -> Result<Arc<Queue>, BrokerError> {
        if !no_ack {
            return Err(BrokerError::PreconditionFailed(
                "reply consumer cannot acknowledge".into(),
            ));
        }
        if let Some(reply) = &self.reply_to {
            if reply.queue.consumer_count() > 0 {
                return Err(BrokerError::PreconditionFailed(
                    "reply consumer already set".into(),
                ));
            }
            return Ok(reply.queue.clone());
        }
        let (address, queue) = session.vhost.reply_to.register(&session.vhost.name);
        self.reply_to = Some(ReplyTo {
            address,
            queue: queue.clone(),
        });
        Ok(queue)
    }

    pub(super) fn cancel(
        &mut self,
        m: b::Cancel,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        let tag = m.consumer_tag.as_str();
        self.remove_consumer(tag, session);
        if !m.nowait {
            let ok = b::CancelOk {
                consumer_tag: m.consumer_tag.clone(),
            };
            session.send(self.id, AMQPClass::Basic(b::AMQPMethod::CancelOk(ok)));
        }
        Ok(())
    }

    /// Removes a consumer from its queue; deletes the queue if it is auto-delete
    /// and this was its last consumer.
    pub(super) fn remove_consumer(&mut self, tag: &str, session: &mut Session) {
        let Some(entry) = self.consumers.remove(tag) else {
            return;
        };
        entry.consumer.retire();
        let outcome = entry.queue.remove_consumer(session.id, self.id, tag);
        if outcome.should_auto_delete {
            session.vhost.remove_queue(&entry.queue);
            session.forget_exclusive(&entry.queue);
        }
    }

    /// The broker cancelled a consumer (its queue was deleted): forget it and,
    /// if the client understands it, tell it with basic.cancel.
    pub fn consumer_cancelled(&mut self, consumer: &Arc<Consumer>, session: &mut Session) {
        let owned = self
            .consumers
            .get(&consumer.tag)
            .is_some_and(|e| Arc::ptr_eq(&e.consumer, consumer));
        if !owned {
            return;
        }
        self.consumers.remove(&consumer.tag);
        consumer.retire();
        if !session.capabilities.consumer_cancel_notify {
            return;
        }
        // The tag came from a short string (or was generated): it fits.
        match short_string("consumer tag", &consumer.tag) {
            Ok(consumer_tag) => {
                let cancel = b::Cancel {
                    consumer_tag,
                    nowait: true,
                };
                session.send(self.id, AMQPClass::Basic(b::AMQPMethod::Cancel(cancel)));
            }
            Err(e) => tracing::error!("cannot notify the cancellation of a consumer: {e}"),
        }
    }

    /// Whether `consumer` is still registered on this channel (a consumer
    /// this channel removed is retired, so no tag lookup is needed).
    pub fn owns(&self, consumer: &Arc<Consumer>) -> bool {
        !self.closing && consumer.channel == self.id && consumer.is_active()
    }

    /// Writes a delivery handed over by a queue and records it as unacked.
    pub fn write_delivery(&mut self, delivery: Delivery, session: &mut Session) {
        let tag = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        let Delivery {
            consumer,
            queue,
            message,
            id,
        } = delivery;
        let counters = &self.info.counters;
        MessageCounters::bump(if consumer.no_ack {
            &counters.deliver_no_ack
        } else {
            &counters.deliver
        });
        if message.redelivered {
            MessageCounters::bump(&counters.redeliver);
        }
        let properties = message.message.rendered_content();
        write_deliver(
            &mut session.out,
            self.id,
            consumer.tag.as_bytes(),
            tag,
            message.redelivered,
            content(&message, &properties),
            session.frame_max,
        );
        if let Some(id) = id {
            self.unacked.push_back(Unacked {
                tag,
                queue,
                id,
                delivered_at: session.now,
            });
            self.info.messages_unacknowledged.store(
                self.unacked.len() as u32,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    pub(super) fn get(&mut self, m: b::Get, session: &mut Session) -> Result<(), BrokerError> {
        let name = self.queue_name(m.queue.as_str())?;
        self.publisher
            .authorize(Access::Read, ResourceKind::Queue, &name)?;
        let queue = session.vhost.queue_for(&name, session.id)?;
        let counters = &self.info.counters;
        let Some((message, remaining, id)) = queue.get(m.no_ack) else {
            MessageCounters::bump(&counters.get_empty);
            session.send(
                self.id,
                AMQPClass::Basic(b::AMQPMethod::GetEmpty(b::GetEmpty {})),
            );
            return Ok(());
        };
        MessageCounters::bump(if m.no_ack {
            &counters.get_no_ack
        } else {
            &counters.get
        });
        if message.redelivered {
            MessageCounters::bump(&counters.redeliver);
        }
        let tag = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        let properties = message.message.rendered_content();
        write_get_ok(
            &mut session.out,
            self.id,
            tag,
            message.redelivered,
            remaining,
            content(&message, &properties),
            session.frame_max,
        );
        if let Some(id) = id {
            self.unacked.push_back(Unacked {
                tag,
                queue,
                id,
                delivered_at: session.now,
            });
        }
        Ok(())
    }

    /// ack, nack or reject. The delivery tag is checked at once, also inside a
    /// transaction (as RabbitMQ does); there, the settlement waits for commit.
    pub(super) fn settle(
        &mut self,
        settle: Settle,
        _session: &mut Session,
    ) -> Result<(), BrokerError> {
        let (tag, multiple, requeue, acked) = match settle {
            Settle::Ack { tag, multiple } => (tag, multiple, false, true),
            Settle::Reject {
                tag,
                multiple,
                requeue,
            } => (tag, multiple, requeue, false),
        };
        let settled = self.take_unacked(tag, multiple)?;
        if let Some(tx) = self.tx.as_mut() {
            tx.settles.push(TxSettle {
                settled,
                requeue,
                acked,
            });
            return Ok(());
        }
        self.apply_settle(settled, requeue, acked);
        Ok(())
    }

    /// Settles deliveries already taken from the unacked list, with their
    /// queues (which own the messages).
    pub(super) fn apply_settle(&mut self, settled: Vec<Unacked>, requeue: bool, acked: bool) {
        let how = match (requeue, acked) {
            (true, _) => Settlement::Requeue,
            (false, true) => Settlement::Ack,
            (false, false) => Settlement::Reject,
        };
        if how == Settlement::Ack {
            self.info
                .counters
                .ack
                .fetch_add(settled.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        if settle_with_queues(settled, how) {
            self.kick_queues();
        }
    }

    /// Removes and returns the unacked deliveries a settlement covers.
    fn take_unacked(&mut self, tag: u64, multiple: bool) -> Result<Vec<Unacked>, BrokerError> {
        if multiple && tag == 0 {
            return Ok(self.unacked.drain(..).collect());
        }
        let pos = self
            .unacked
            .binary_search_by_key(&tag, |u| u.tag)
            .map_err(|_| BrokerError::PreconditionFailed(format!("unknown delivery tag {tag}")))?;
        if multiple {
            Ok(self.unacked.drain(..=pos).collect())
        } else {
            Ok(self.unacked.remove(pos).into_iter().collect())
        }
    }

    pub(super) fn recover(
        &mut self,
        requeue: bool,
        _session: &mut Session,
    ) -> Result<(), BrokerError> {
        if !requeue {
            return Err(BrokerError::NotImplemented("requeue=false".into()));
        }
        let unacked: Vec<Unacked> = self.unacked.drain(..).collect();
        settle_with_queues(unacked, Settlement::Requeue);
        Ok(())
    }

    /// Asks every queue this channel consumes from to dispatch again.
    pub fn kick_queues(&self) {
        for entry in self.consumers.values() {
            entry.queue.dispatch();
        }
    }
}

/// A consumer's `x-priority` argument; a value of another type is refused with
/// RabbitMQ 3.10's text, an integer beyond 32 bits with Warren's own.
fn consumer_priority(
    value: &Value,
    queue: &str,
    vhost: &str,
    tag: &str,
) -> Result<i32, BrokerError> {
    let Some(priority) = value.as_i64() else {
        return Err(BrokerError::PreconditionFailed(format!(
            "invalid arg 'x-priority' for queue '{queue}' in vhost '{vhost}': \"expected integer, got {}\"",
            value.type_name()
        )));
    };
    i32::try_from(priority).map_err(|_| {
        BrokerError::PreconditionFailed(format!(
            "invalid arg 'x-priority' for consumer '{tag}': must be a 32-bit integer"
        ))
    })
}
