//! Warren's broker core, independent of any wire protocol: vhosts, exchanges and
//! their routing, queues, consumers and dispatch, users, permissions and
//! authentication, the registry of live connections with their counters,
//! message rates, policies (storage) and definitions import/export.
//!
//! Protocol adapters (AMQP 0-9-1 today) translate frames into calls on [`Broker`]
//! and [`VHost`], and receive deliveries through the [`DeliverySink`] trait.

pub mod admin;
pub mod alarms;
pub mod args;
pub mod auth;
pub mod broker;
pub mod clock;
pub mod consumer;
pub mod dead_letter;
pub mod definitions;
pub mod enqueue;
pub mod error;
pub mod exchange;
pub mod hook;
pub mod message;
pub mod names;
pub mod permissions;
pub mod persistence;
pub mod policies;
pub mod policy;
pub mod publish;
pub mod queue;
mod queue_type;
pub mod rates;
mod recovery;
pub mod registry;
pub mod reply_to;
pub mod scheduler;
#[allow(unsafe_code)]
pub mod sys;
pub mod value;
pub mod vhost;
pub mod vhost_limits;

pub use broker::{Broker, BrokerConfig};
pub use consumer::{Consumer, ConsumerCredit, Delivery, DeliverySink};
pub use error::BrokerError;
pub use exchange::{Exchange, ExchangeKind};
pub use message::Message;
pub use queue::{PublishOutcome, Queue, QueueSettings, QueuedMessage, ReadyStats};
pub use vhost::VHost;
