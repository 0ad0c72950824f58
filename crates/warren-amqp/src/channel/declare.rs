//! exchange.* and queue.* methods: declarations, bindings, purge and delete.

use warren_codec::spec::{exchange as e, queue as q, AMQPClass};
use warren_core::auth::{Access, ResourceKind};
use warren_core::reply_to::REPLY_TO_QUEUE;
use warren_core::value::Value;
use warren_core::vhost::{generate_queue_name, ExchangeDeclare, QueueDeclare};
use warren_core::{BrokerError, ExchangeKind};

use super::Channel;
use crate::session::Session;
use crate::text::short_string;
use crate::value::to_table;

impl Channel {
    pub(super) fn queue_declare(
        &mut self,
        m: q::Declare,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        let requested = m.queue.as_str();
        if requested.starts_with(REPLY_TO_QUEUE) {
            // RabbitMQ treats every declare of the direct reply-to pseudo-queue
            // or of a reply address as passive: it exists (0 messages, 1
            // consumer) if it is the pseudo-queue or a live reply address.
            if requested != REPLY_TO_QUEUE && session.vhost.reply_to.lookup(requested).is_none() {
                return Err(BrokerError::no_queue(requested, &session.vhost.name));
            }
            self.last_queue = Some(requested.to_string());
            if !m.nowait {
                let ok = q::DeclareOk {
                    queue: m.queue.clone(),
                    message_count: 0,
                    consumer_count: 1,
                };
                session.send(self.id, AMQPClass::Queue(q::AMQPMethod::DeclareOk(ok)));
            }
            return Ok(());
        }
        let (name, server_named) = match (requested, m.passive) {
            ("", true) => (self.queue_name("")?, false),
            ("", false) => (generate_queue_name(), true),
            (name, _) => (name.to_string(), false),
        };
        let arguments = to_table(&m.arguments);
        if !m.passive {
            // RabbitMQ checks configure on the queue (also on redeclaration),
            // and for a dead-letter exchange read on the queue and write on it.
            self.publisher
                .authorize(Access::Configure, ResourceKind::Queue, &name)?;
            if let Some(dlx) = arguments
                .get("x-dead-letter-exchange")
                .and_then(Value::as_str)
            {
                self.publisher
                    .authorize(Access::Read, ResourceKind::Queue, &name)?;
                self.publisher
                    .authorize(Access::Write, ResourceKind::Exchange, &dlx)?;
            }
        }
        let declared = session.vhost.declare_queue(
            QueueDeclare {
                name,
                passive: m.passive,
                durable: m.durable,
                exclusive: m.exclusive,
                auto_delete: m.auto_delete,
                arguments,
                server_named,
            },
            session.id,
        )?;
        if declared.created && declared.queue.options.exclusive_owner.is_some() {
            session.exclusive_queues.push(declared.queue.clone());
        }
        self.last_queue = Some(declared.queue.name.to_string());
        if !m.nowait {
            let ok = q::DeclareOk {
                queue: short_string("queue name", &declared.queue.name)?,
                message_count: declared.message_count,
                consumer_count: declared.consumer_count,
            };
            session.send(self.id, AMQPClass::Queue(q::AMQPMethod::DeclareOk(ok)));
        }
        Ok(())
    }

    /// The AMQP rule for queue.bind: an empty queue name means the last declared
    /// queue, and then an empty routing key means that queue's name.
    fn binding_names(&self, queue: &str, key: &str) -> Result<(String, String), BrokerError> {
        let resolved = self.queue_name(queue)?;
        let key = if queue.is_empty() && key.is_empty() {
            resolved.clone()
        } else {
            key.to_string()
        };
        Ok((resolved, key))
    }

    /// rabbit_channel's binding_action checks: write on the destination, read
    /// on the source exchange, then topic read on the binding key.
    fn authorize_binding(
        &mut self,
        session: &Session,
        destination: (ResourceKind, &str),
        source: &str,
        key: &str,
    ) -> Result<(), BrokerError> {
        self.publisher
            .authorize(Access::Write, destination.0, destination.1)?;
        self.publisher
            .authorize(Access::Read, ResourceKind::Exchange, source)?;
        match session.vhost.exchange(source) {
            Ok(x) if x.kind == ExchangeKind::Topic => {
                self.publisher.authorize_topic(Access::Read, source, key)
            }
            _ => Ok(()),
        }
    }

    pub(super) fn queue_bind(
        &mut self,
        m: q::Bind,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        let (queue, key) = self.binding_names(m.queue.as_str(), m.routing_key.as_str())?;
        self.authorize_binding(
            session,
            (ResourceKind::Queue, &queue),
            m.exchange.as_str(),
            &key,
        )?;
        session.vhost.bind_queue(
            &queue,
            m.exchange.as_str(),
            &key,
            to_table(&m.arguments),
            session.id,
        )?;
        if !m.nowait {
            session.send(
                self.id,
                AMQPClass::Queue(q::AMQPMethod::BindOk(q::BindOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn queue_unbind(
        &mut self,
        m: q::Unbind,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        let (queue, key) = self.binding_names(m.queue.as_str(), m.routing_key.as_str())?;
        self.authorize_binding(
            session,
            (ResourceKind::Queue, &queue),
            m.exchange.as_str(),
            &key,
        )?;
        session.vhost.unbind_queue(
            &queue,
            m.exchange.as_str(),
            &key,
            to_table(&m.arguments),
            session.id,
        )?;
        session.send(
            self.id,
            AMQPClass::Queue(q::AMQPMethod::UnbindOk(q::UnbindOk {})),
        );
        Ok(())
    }

    pub(super) fn queue_purge(
        &mut self,
        m: q::Purge,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        let name = self.queue_name(m.queue.as_str())?;
        self.publisher
            .authorize(Access::Read, ResourceKind::Queue, &name)?;
        let message_count = session.vhost.purge_queue(&name, session.id)?;
        if !m.nowait {
            session.send(
                self.id,
                AMQPClass::Queue(q::AMQPMethod::PurgeOk(q::PurgeOk { message_count })),
            );
        }
        Ok(())
    }

    pub(super) fn queue_delete(
        &mut self,
        m: q::Delete,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        let name = self.queue_name(m.queue.as_str())?;
        self.publisher
            .authorize(Access::Configure, ResourceKind::Queue, &name)?;
        let queue = session.vhost.queue(&name).ok();
        let message_count =
            session
                .vhost
                .delete_queue(&name, m.if_unused, m.if_empty, session.id)?;
        if let Some(queue) = queue {
            session.forget_exclusive(&queue);
        }
        if !m.nowait {
            session.send(
                self.id,
                AMQPClass::Queue(q::AMQPMethod::DeleteOk(q::DeleteOk { message_count })),
            );
        }
        Ok(())
    }

    pub(super) fn exchange_declare(
        &mut self,
        m: e::Declare,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        if !m.passive {
            self.publisher.authorize(
                Access::Configure,
                ResourceKind::Exchange,
                m.exchange.as_str(),
            )?;
        }
        session.vhost.declare_exchange(ExchangeDeclare {
            name: m.exchange.as_str().to_string(),
            kind: m.kind.as_str().to_string(),
            passive: m.passive,
            durable: m.durable,
            auto_delete: m.auto_delete,
            internal: m.internal,
            arguments: to_table(&m.arguments),
            from_definitions: false,
        })?;
        if !m.nowait {
            session.send(
                self.id,
                AMQPClass::Exchange(e::AMQPMethod::DeclareOk(e::DeclareOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn exchange_delete(
        &mut self,
        m: e::Delete,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        self.publisher.authorize(
            Access::Configure,
            ResourceKind::Exchange,
            m.exchange.as_str(),
        )?;
        session
            .vhost
            .delete_exchange(m.exchange.as_str(), m.if_unused)?;
        if !m.nowait {
            session.send(
                self.id,
                AMQPClass::Exchange(e::AMQPMethod::DeleteOk(e::DeleteOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn exchange_bind(
        &mut self,
        m: e::Bind,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        self.authorize_binding(
            session,
            (ResourceKind::Exchange, m.destination.as_str()),
            m.source.as_str(),
            m.routing_key.as_str(),
        )?;
        session.vhost.bind_exchange(
            m.destination.as_str(),
            m.source.as_str(),
            m.routing_key.as_str(),
            to_table(&m.arguments),
        )?;
        if !m.nowait {
            session.send(
                self.id,
                AMQPClass::Exchange(e::AMQPMethod::BindOk(e::BindOk {})),
            );
        }
        Ok(())
    }

    pub(super) fn exchange_unbind(
        &mut self,
        m: e::Unbind,
        session: &mut Session,
    ) -> Result<(), BrokerError> {
        self.authorize_binding(
            session,
            (ResourceKind::Exchange, m.destination.as_str()),
            m.source.as_str(),
            m.routing_key.as_str(),
        )?;
        session.vhost.unbind_exchange(
            m.destination.as_str(),
            m.source.as_str(),
            m.routing_key.as_str(),
            to_table(&m.arguments),
        )?;
        if !m.nowait {
            session.send(
                self.id,
                AMQPClass::Exchange(e::AMQPMethod::UnbindOk(e::UnbindOk {})),
            );
        }
        Ok(())
    }
}
