//! One AMQP channel: its content-assembly state machine, consumers, unacked
//! deliveries, publisher confirms and transactions. Method handlers live in the
//! submodules; this file routes frames to them.

mod basic;
mod declare;
mod publish;
mod sender_selected;
mod timeout;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use warren_codec::method::{decode_method, Method};
use warren_codec::spec::{
    access, basic as b, channel as c, confirm as cf, exchange as e, queue as q, tx, AMQPClass,
};
use warren_codec::{Frame, FrameKind};
use warren_core::publish::Publisher;
use warren_core::queue::{DeliveryId, Settlement};
use warren_core::registry::ChannelInfo;
use warren_core::{BrokerError, Consumer, ConsumerCredit, Queue};

use crate::error::AmqpError;
use crate::handshake::codec_error;
use crate::session::Session;
use publish::Content;

/// An error raised while handling a frame, with the method it concerns (for the
/// class-id and method-id of the close frame).
#[derive(Debug)]
pub struct Fault {
    /// What went wrong.
    pub error: AmqpError,
    /// Class of the offending method (0 if none).
    pub class_id: u16,
    /// Offending method (0 if none).
    pub method_id: u16,
}

impl Fault {
    pub fn new(error: impl Into<AmqpError>, ids: (u16, u16)) -> Self {
        Fault {
            error: error.into(),
            class_id: ids.0,
            method_id: ids.1,
        }
    }
}

/// A consumer registered on this channel.
struct ConsumerEntry {
    consumer: Arc<Consumer>,
    queue: Arc<Queue>,
}

/// A delivery awaiting acknowledgement: the channel's delivery tag for a
/// message its queue keeps checked out under `id`.
struct Unacked {
    tag: u64,
    queue: Arc<Queue>,
    id: DeliveryId,
    /// When it was written (for consumer_timeout).
    delivered_at: tokio::time::Instant,
}

/// Publisher-confirm bookkeeping.
#[derive(Default)]
struct Confirms {
    /// Sequence number of the last publish.
    published: u64,
    /// Highest sequence number already confirmed to the client.
    confirmed: u64,
    /// Persistent publishes not yet on disk, in publish order.
    unsynced: VecDeque<u64>,
    /// Sequence numbers (ascending, above `confirmed`) to nack instead of ack.
    nacked: Vec<u64>,
}

impl Confirms {
    /// Acks everything up to `tag` not yet confirmed, with one `basic.ack`.
    fn ack_up_to(&mut self, out: &mut bytes::BytesMut, channel: u16, tag: u64) {
        if tag > self.confirmed {
            let multiple = tag - self.confirmed > 1;
            warren_codec::encode::write_confirm(out, channel, tag, multiple, true);
            self.confirmed = tag;
        }
    }
}

/// A settlement buffered inside a transaction.
#[derive(Debug, Clone, Copy)]
enum Settle {
    Ack {
        tag: u64,
        multiple: bool,
    },
    Reject {
        tag: u64,
        multiple: bool,
        requeue: bool,
    },
}

/// Deliveries settled inside a transaction: taken from the unacked list at
/// once, applied at commit, put back at rollback.
struct TxSettle {
    settled: Vec<Unacked>,
    requeue: bool,
    acked: bool,
}

/// Transaction buffers.
#[derive(Default)]
struct Tx {
    publishes: Vec<publish::Pending>,
    settles: Vec<TxSettle>,
}

/// tx.commit-ok is sent only once the committed persistent messages are on
/// disk: committed publishes carry store sync tokens, as confirms do.
#[derive(Default)]
struct TxSync {
    /// Transactional publishes so far (their sync sequence numbers).
    published: u64,
    /// Highest of them the store has synced.
    synced: u64,
    /// A commit-ok held back until `synced` reaches this publish.
    waiting: Option<u64>,
}

/// The direct reply-to pseudo-queue this channel consumes from.
struct ReplyTo {
    address: String,
    queue: Arc<Queue>,
}

/// An open channel.
pub struct Channel {
    /// Channel number.
    pub id: u16,
    /// A channel.close was sent; waiting for close-ok, ignoring everything else.
    pub closing: bool,
    content: Content,
    consumers: HashMap<Arc<str>, ConsumerEntry>,
    unacked: VecDeque<Unacked>,
    next_delivery_tag: u64,
    consumer_prefetch: u32,
    channel_credit: Arc<ConsumerCredit>,
    confirms: Option<Confirms>,
    tx: Option<Tx>,
    /// Store sync bookkeeping for tx.commit.
    tx_sync: TxSync,
    last_queue: Option<String>,
    reply_to: Option<ReplyTo>,
    /// The core's publish path for this channel (and its permission cache).
    publisher: Publisher,
    /// Counters and gauges shown by the management API.
    info: Arc<ChannelInfo>,
}

fn method_ids(payload: &Bytes) -> (u16, u16) {
    warren_codec::method::method_ids(payload).unwrap_or((0, 0))
}

impl Channel {
    /// A newly opened channel, reporting into `info`, publishing through
    /// `publisher`.
    pub fn new(id: u16, info: Arc<ChannelInfo>, publisher: Publisher) -> Self {
        Channel {
            id,
            closing: false,
            content: Content::Idle,
            consumers: HashMap::new(),
            unacked: VecDeque::new(),
            next_delivery_tag: 1,
            consumer_prefetch: 0,
            channel_credit: Arc::new(ConsumerCredit::new(0)),
            confirms: None,
            tx: None,
            tx_sync: TxSync::default(),
            last_queue: None,
            reply_to: None,
            publisher,
            info,
        }
    }

    /// Publishes the consumer and unacked counts to the registry.
    fn sync_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let info = &self.info;
        info.consumer_count
            .store(self.consumers.len() as u32, Relaxed);
        info.messages_unacknowledged
            .store(self.unacked.len() as u32, Relaxed);
    }

    /// Handles one frame addressed to this channel.
    pub fn handle_frame(&mut self, frame: Frame, session: &mut Session) -> Result<(), Fault> {
        match frame.kind {
            FrameKind::Method => {
                let ids = method_ids(&frame.payload);
                // As rabbit_command_assembler: the error names basic.publish.
                let expected = match self.content {
                    Content::Idle => None,
                    Content::Header(_) => Some(
                        "expected content header for class 60, got non content header frame instead",
                    ),
                    Content::Body { .. } => {
                        Some("expected content body, got non content body frame instead")
                    }
                };
                if let Some(text) = expected {
                    return Err(Fault::new(
                        AmqpError::UnexpectedFrame(text.into()),
                        publish::PUBLISH,
                    ));
                }
                let method =
                    decode_method(frame.payload).map_err(|e| Fault::new(codec_error(e), ids))?;
                let result = self.handle_method(method, session);
                self.sync_gauges();
                result.map_err(|e| Fault::new(e, ids))
            }
            FrameKind::Header => self.on_header(frame.payload, session),
            FrameKind::Body => self.on_body(frame.payload, session),
            FrameKind::Heartbeat => Err(Fault::new(
                AmqpError::UnexpectedFrame("heartbeat frame on a non-zero channel".into()),
                (0, 0),
            )),
        }
    }

    fn handle_method(&mut self, method: Method, session: &mut Session) -> Result<(), AmqpError> {
        match method {
            Method::Publish(p) => Ok(self.on_publish(p)?),
            Method::Ack {
                delivery_tag,
                multiple,
            } => Ok(self.settle(
                Settle::Ack {
                    tag: delivery_tag,
                    multiple,
                },
                session,
            )?),
            Method::Qos {
                prefetch_size,
                prefetch_count,
                global,
            } => Ok(self.qos(prefetch_size, prefetch_count, global, session)?),
            Method::Other(class) => self.handle_class(class, session),
        }
    }

    fn handle_class(&mut self, class: AMQPClass, session: &mut Session) -> Result<(), AmqpError> {
        match class {
            AMQPClass::Basic(m) => Ok(self.handle_basic(m, session)?),
            AMQPClass::Queue(m) => Ok(self.handle_queue(m, session)?),
            AMQPClass::Exchange(m) => Ok(self.handle_exchange(m, session)?),
            AMQPClass::Channel(m) => self.handle_channel(m, session),
            AMQPClass::Confirm(cf::AMQPMethod::Select(sel)) => {
                Ok(self.confirm_select(sel.nowait, session)?)
            }
            AMQPClass::Tx(m) => Ok(self.handle_tx(m, session)?),
            AMQPClass::Access(access::AMQPMethod::Request(_)) => {
                session.send(
                    self.id,
                    AMQPClass::Access(access::AMQPMethod::RequestOk(access::RequestOk {})),
                );
                Ok(())
            }
            AMQPClass::Connection(_) => Err(BrokerError::CommandInvalid(
                "connection class methods are only allowed on channel 0".into(),
            )
            .into()),
            _ => Err(BrokerError::CommandInvalid("method not valid from a client".into()).into()),
        }
    }

    fn handle_basic(&mut self, m: b::AMQPMethod, session: &mut Session) -> Result<(), BrokerError> {
        match m {
            b::AMQPMethod::Consume(m) => self.consume(m, session),
            b::AMQPMethod::Cancel(m) => self.cancel(m, session),
            b::AMQPMethod::Get(m) => self.get(m, session),
            b::AMQPMethod::Reject(m) => self.settle(
                Settle::Reject {
                    tag: m.delivery_tag,
                    multiple: false,
                    requeue: m.requeue,
                },
                session,
            ),
            b::AMQPMethod::Nack(m) => self.settle(
                Settle::Reject {
                    tag: m.delivery_tag,
                    multiple: m.multiple,
                    requeue: m.requeue,
                },
                session,
            ),
            b::AMQPMethod::Recover(m) => {
                self.recover(m.requeue, session)?;
                session.send(
                    self.id,
                    AMQPClass::Basic(b::AMQPMethod::RecoverOk(b::RecoverOk {})),
                );
                Ok(())
            }
            b::AMQPMethod::RecoverAsync(m) => self.recover(m.requeue, session),
            _ => Err(BrokerError::CommandInvalid(
                "basic method not valid from a client".into(),
            )),
        }
    }

    fn handle_queue(&mut self, m: q::AMQPMethod, session: &mut Session) -> Result<(), BrokerError> {
        match m {
            q::AMQPMethod::Declare(m) => self.queue_declare(m, session),
            q::AMQPMethod::Bind(m) => self.queue_bind(m, session),
            q::AMQPMethod::Unbind(m) => self.queue_unbind(m, session),
            q::AMQPMethod::Purge(m) => self.queue_purge(m, session),
            q::AMQPMethod::Delete(m) => self.queue_delete(m, session),
            _ => Err(BrokerError::CommandInvalid(
                "queue method not valid from a client".into(),
            )),
        }
    }

    fn handle_exchange(
        &mut self,
        m: e::AMQPMethod,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        match m {
            e::AMQPMethod::Declare(m) => self.exchange_declare(m, session),
            e::AMQPMethod::Delete(m) => self.exchange_delete(m, session),
            e::AMQPMethod::Bind(m) => self.exchange_bind(m, session),
            e::AMQPMethod::Unbind(m) => self.exchange_unbind(m, session),
            _ => Err(BrokerError::CommandInvalid(
                "exchange method not valid from a client".into(),
            )),
        }
    }

    fn handle_channel(&mut self, m: c::AMQPMethod, session: &mut Session) -> Result<(), AmqpError> {
        match m {
            c::AMQPMethod::Flow(flow) if flow.active => {
                session.send(
                    self.id,
                    AMQPClass::Channel(c::AMQPMethod::FlowOk(c::FlowOk { active: true })),
                );
                Ok(())
            }
            c::AMQPMethod::Flow(_) => {
                Err(BrokerError::NotImplemented("active=false".into()).into())
            }
            c::AMQPMethod::Open(_) => Err(AmqpError::Channel("second 'channel.open' seen".into())),
            c::AMQPMethod::FlowOk(_) => Ok(()),
            _ => Err(BrokerError::CommandInvalid("channel method not valid here".into()).into()),
        }
    }

    fn confirm_select(&mut self, nowait: bool, session: &mut Session) -> Result<(), BrokerError> {
        if self.tx.is_some() {
            return Err(BrokerError::PreconditionFailed(
                "cannot switch from tx to confirm mode".into(),
            ));
        }
        self.confirms.get_or_insert_with(Confirms::default);
        self.info
            .confirm
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if !nowait {
            session.send(
                self.id,
                AMQPClass::Confirm(cf::AMQPMethod::SelectOk(cf::SelectOk {})),
            );
        }
        Ok(())
    }

    fn handle_tx(&mut self, m: tx::AMQPMethod, session: &mut Session) -> Result<(), BrokerError> {
        let not_tx = || BrokerError::PreconditionFailed("channel is not transactional".into());
        let reply = match m {
            tx::AMQPMethod::Select(_) => {
                if self.confirms.is_some() {
                    return Err(BrokerError::PreconditionFailed(
                        "cannot switch from confirm to tx mode".into(),
                    ));
                }
                self.tx.get_or_insert_with(Tx::default);
                self.info
                    .transactional
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                tx::AMQPMethod::SelectOk(tx::SelectOk {})
            }
            tx::AMQPMethod::Commit(_) => {
                let work = std::mem::take(self.tx.as_mut().ok_or_else(not_tx)?);
                if let Some(last) = self.commit(work, session) {
                    // commit-ok waits for the store; the connection reads no
                    // further input meanwhile, so replies stay in order.
                    self.tx_sync.waiting = Some(last);
                    session.commits_waiting += 1;
                    return Ok(());
                }
                tx::AMQPMethod::CommitOk(tx::CommitOk {})
            }
            tx::AMQPMethod::Rollback(_) => {
                let work = std::mem::take(self.tx.as_mut().ok_or_else(not_tx)?);
                self.restore_unacked(work.settles);
                tx::AMQPMethod::RollbackOk(tx::RollbackOk {})
            }
            _ => {
                return Err(BrokerError::CommandInvalid(
                    "tx method not valid from a client".into(),
                ))
            }
        };
        session.send(self.id, AMQPClass::Tx(reply));
        Ok(())
    }

    /// Applies a transaction's work; returns the sync sequence number of its
    /// last persistent publish, if any was written to the store.
    fn commit(&mut self, work: Tx, session: &mut Session) -> Option<u64> {
        let mut last_persisted = None;
        for pending in work.publishes {
            if self.route_and_enqueue(pending, session) {
                last_persisted = Some(self.tx_sync.published);
            }
        }
        for s in work.settles {
            self.apply_settle(s.settled, s.requeue, s.acked);
        }
        last_persisted.filter(|seq| *seq > self.tx_sync.synced)
    }

    /// Puts deliveries settled in an uncommitted transaction back among the
    /// unacked ones, in delivery-tag order.
    fn restore_unacked(&mut self, settles: Vec<TxSettle>) {
        if settles.is_empty() {
            return;
        }
        self.unacked
            .extend(settles.into_iter().flat_map(|s| s.settled));
        self.unacked.make_contiguous().sort_by_key(|u| u.tag);
    }

    /// Sends publisher confirms for everything published so far (one
    /// `basic.ack` with multiple set covers a whole batch).
    pub fn flush_confirms(&mut self, session: &mut Session) {
        let id = self.id;
        if let Some(waiting) = self.tx_sync.waiting {
            if waiting <= self.tx_sync.synced {
                self.tx_sync.waiting = None;
                session.commits_waiting -= 1;
                session.send(id, AMQPClass::Tx(tx::AMQPMethod::CommitOk(tx::CommitOk {})));
            }
        }
        let Some(confirms) = self.confirms.as_mut() else {
            return;
        };
        // Everything before the oldest publish still waiting for disk can be
        // answered, in publish order: nacks one by one, acks in one go.
        let upto = confirms
            .unsynced
            .front()
            .map_or(confirms.published, |s| s - 1);
        let out = &mut session.out;
        let before = confirms.confirmed;
        while confirms.nacked.first().is_some_and(|n| *n <= upto) {
            let nack = confirms.nacked.remove(0);
            confirms.ack_up_to(out, id, nack - 1);
            // Every lower tag is settled now, so RabbitMQ (which coalesces
            // below the oldest unconfirmed publish) sends multiple=true here.
            warren_codec::encode::write_confirm(out, id, nack, true, false);
            confirms.confirmed = nack;
        }
        confirms.ack_up_to(out, id, upto);
        self.info.counters.confirm.fetch_add(
            confirms.confirmed - before,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The store has synced persistent publishes up to `seq` on this channel.
    pub fn synced(&mut self, seq: u64) {
        if self.tx.is_some() {
            self.tx_sync.synced = self.tx_sync.synced.max(seq);
        }
        if let Some(confirms) = self.confirms.as_mut() {
            while confirms.unsynced.front().is_some_and(|s| *s <= seq) {
                confirms.unsynced.pop_front();
            }
        }
    }

    /// Frees everything the channel holds: unacked messages go back to their
    /// queues, consumers are cancelled (auto-delete queues may go away).
    pub fn release(&mut self, session: &mut Session) {
        if self.tx_sync.waiting.take().is_some() {
            session.commits_waiting -= 1;
        }
        // Consumers go first, as in RabbitMQ: requeued messages must not be
        // dispatched back to this channel's own consumers (they would bounce
        // back later, out of their original order).
        let tags: Vec<Arc<str>> = self.consumers.keys().cloned().collect();
        for tag in tags {
            self.remove_consumer(&tag, session);
        }
        if let Some(tx) = self.tx.as_mut() {
            let settles = std::mem::take(&mut tx.settles);
            self.restore_unacked(settles);
        }
        let unacked: Vec<Unacked> = self.unacked.drain(..).collect();
        settle_with_queues(unacked, Settlement::Requeue);
        if let Some(reply) = self.reply_to.take() {
            session.vhost.reply_to.unregister(&reply.address);
        }
        self.content = Content::Idle;
    }
}

/// Settles deliveries with their queues: one call per queue, with that
/// queue's deliveries in tag order (so requeued messages go back together,
/// before any of them is dispatched again). True if a consumer's prefetch
/// window was full before, so its channel's queues should dispatch again.
fn settle_with_queues(unacked: Vec<Unacked>, how: Settlement) -> bool {
    if let Some(first) = unacked.first() {
        if unacked.iter().all(|u| Arc::ptr_eq(&u.queue, &first.queue)) {
            let queue = first.queue.clone();
            let ids: Vec<DeliveryId> = unacked.iter().map(|u| u.id).collect();
            return queue.settle(&ids, how);
        }
    }
    let mut by_queue: Vec<(Arc<Queue>, Vec<DeliveryId>)> = Vec::new();
    for u in unacked {
        match by_queue.iter_mut().find(|(q, _)| Arc::ptr_eq(q, &u.queue)) {
            Some((_, ids)) => ids.push(u.id),
            None => by_queue.push((u.queue, vec![u.id])),
        }
    }
    let mut unblocked = false;
    for (queue, ids) in by_queue {
        unblocked |= queue.settle(&ids, how);
    }
    unblocked
}
