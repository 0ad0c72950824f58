//! Settings of the AMQP 0-9-1 listeners, under their rabbitmq.conf names and
//! with RabbitMQ's defaults. They belong to this adapter, not to the core:
//! other protocols negotiate their own limits.

use std::time::Duration;

/// What an AMQP 0-9-1 listener offers and enforces in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpConfig {
    /// Highest channel number a client may use (`channel_max`, default 2047).
    pub channel_max: u16,
    /// Largest frame, in bytes, including framing (`frame_max`, default
    /// 131072; 0 means no limit).
    pub frame_max: u32,
    /// Heartbeat interval the server suggests (`heartbeat`, default 60 s;
    /// 0 disables).
    pub heartbeat: Duration,
    /// Time a client has to complete the handshake, TLS included
    /// (`handshake_timeout`, default 10 s).
    pub handshake_timeout: Duration,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl AmqpConfig {
    /// The settings as `rabbitmq.conf` names them, with the units it uses
    /// (seconds for `heartbeat`, milliseconds for `handshake_timeout`), for
    /// the management API's environment listing.
    pub fn settings(&self) -> [(&'static str, u64); 4] {
        [
            ("channel_max", u64::from(self.channel_max)),
            ("frame_max", u64::from(self.frame_max)),
            ("heartbeat", self.heartbeat.as_secs()),
            (
                "handshake_timeout",
                u64::try_from(self.handshake_timeout.as_millis()).unwrap_or(u64::MAX),
            ),
        ]
    }
}
