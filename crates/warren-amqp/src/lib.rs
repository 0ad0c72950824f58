//! Warren's AMQP 0-9-1 adapter on tokio. It owns sockets, frames, channels and
//! their state (delivery tags, unacked messages, confirms, transactions) and
//! delegates every broker operation to `warren-core`.
//!
//! One task per connection does both reading and writing: it reads as many
//! frames as the socket holds, acts on them, appends replies and deliveries to
//! one output buffer, and writes it with one syscall per wake-up.

mod accept;
mod channel;
pub mod config;
mod connection;
pub mod content;
pub mod error;
mod flow;
mod handshake;
mod log_lines;
pub mod monitor;
mod outbox;
pub mod server;
mod session;
mod text;
pub mod tls;
mod transport;
pub mod value;

pub use config::AmqpConfig;
pub use server::{Server, ServerHandle};
