//! Shared harness for integration tests: an in-process broker on an ephemeral
//! port, and helpers that wait on events with timeouts (never bare sleeps).
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use warren_amqp::AmqpConfig;
use warren_amqp::{Server, ServerHandle};
use warren_core::{Broker, BrokerConfig};

/// Default time a test waits for anything before failing.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A broker running inside the test process.
pub struct TestBroker {
    /// The core, for inspecting state directly.
    pub broker: Arc<Broker>,
    /// Where AMQP listens (127.0.0.1, ephemeral port).
    pub addr: SocketAddr,
    /// Where amqps listens, when started with [`TestBroker::start_tls`].
    pub tls_addr: Option<SocketAddr>,
    handle: Option<ServerHandle>,
    tls_handle: Option<ServerHandle>,
}

impl TestBroker {
    /// Starts a broker with default settings.
    pub async fn start() -> TestBroker {
        Self::start_with(BrokerConfig::default()).await
    }

    /// Starts a broker with the given settings.
    pub async fn start_with(config: BrokerConfig) -> TestBroker {
        Self::start_on(Broker::new(config)).await
    }

    /// Starts a broker whose AMQP listener uses `amqp` (handshake limits).
    pub async fn start_amqp(amqp: AmqpConfig) -> TestBroker {
        Self::start_on_with(Broker::new(BrokerConfig::default()), amqp).await
    }

    /// Starts a broker whose TTLs and expiries read time from `clock`.
    pub async fn start_with_clock(clock: Arc<dyn warren_core::clock::Clock>) -> TestBroker {
        Self::start_on(Broker::with_clock(BrokerConfig::default(), clock)).await
    }

    /// Starts a persistent broker on the data directory `dir` (recovering what
    /// an earlier broker left there).
    pub async fn start_in(dir: &std::path::Path) -> TestBroker {
        Self::start_in_with(dir, warren_store::StoreConfig::default()).await
    }

    /// [`TestBroker::start_in`] with explicit message-store settings.
    pub async fn start_in_with(
        dir: &std::path::Path,
        store: warren_store::StoreConfig,
    ) -> TestBroker {
        let broker = Broker::open_with(BrokerConfig::default(), dir, store)
            .expect("open the data directory");
        Self::start_on(broker).await
    }

    /// A persistent broker on `dir` whose TTLs read time from `clock`.
    pub async fn start_in_with_clock(
        dir: &std::path::Path,
        clock: Arc<dyn warren_core::clock::Clock>,
    ) -> TestBroker {
        let broker = Broker::open_with_clock(
            BrokerConfig::default(),
            dir,
            warren_store::StoreConfig::default(),
            clock,
        )
        .expect("open the data directory");
        Self::start_on(broker).await
    }

    async fn start_on(broker: Arc<Broker>) -> TestBroker {
        Self::start_on_with(broker, AmqpConfig::default()).await
    }

    async fn start_on_with(broker: Arc<Broker>, amqp: AmqpConfig) -> TestBroker {
        let server = Server::bind(broker.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("bind an ephemeral port")
            .with_config(amqp);
        let handle = server.start();
        TestBroker {
            broker,
            addr: handle.local_addr(),
            tls_addr: None,
            handle: Some(handle),
            tls_handle: None,
        }
    }

    /// Starts a broker with `config` and, besides the plain listener, an
    /// amqps listener with `tls` (both on ephemeral ports).
    pub async fn start_tls(
        config: BrokerConfig,
        tls: warren_amqp::tls::AmqpsSettings,
    ) -> TestBroker {
        Self::start_tls_with(config, AmqpConfig::default(), tls).await
    }

    /// [`TestBroker::start_tls`] with `amqp` for both listeners.
    pub async fn start_tls_with(
        config: BrokerConfig,
        amqp: AmqpConfig,
        tls: warren_amqp::tls::AmqpsSettings,
    ) -> TestBroker {
        let mut broker = Self::start_on_with(Broker::new(config), amqp.clone()).await;
        let server = Server::bind_tls(broker.broker.clone(), "127.0.0.1:0".parse().unwrap(), tls)
            .await
            .expect("bind an ephemeral port")
            .with_config(amqp);
        let handle = server.start();
        broker.tls_addr = Some(handle.local_addr());
        broker.tls_handle = Some(handle);
        broker
    }

    /// An AMQP URI for guest/guest on the default vhost.
    pub fn uri(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// A lapin connection to this broker.
    pub async fn lapin(&self) -> lapin::Connection {
        within(lapin::Connection::connect(
            &self.uri(),
            lapin::ConnectionProperties::default(),
        ))
        .await
        .expect("lapin connects")
    }

    /// An amqprs connection to this broker.
    pub async fn amqprs(&self) -> amqprs::connection::Connection {
        let args = amqprs::connection::OpenConnectionArguments::new(
            &self.addr.ip().to_string(),
            self.addr.port(),
            "guest",
            "guest",
        );
        within(amqprs::connection::Connection::open(&args))
            .await
            .expect("amqprs connects")
    }

    /// A plain TCP socket to the AMQP port, for raw-bytes tests.
    pub async fn raw(&self) -> tokio::net::TcpStream {
        tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("tcp connect")
    }

    /// Stops the broker (closing connections with 320).
    pub async fn shutdown(mut self) {
        if let Some(handle) = self.tls_handle.take() {
            handle.shutdown().await;
        }
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
        self.broker.close();
    }
}

/// Awaits `f`, failing the test if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("timed out waiting")
}

/// Polls `check` until it returns true, failing after [`TIMEOUT`].
pub async fn eventually(mut check: impl FnMut() -> bool) {
    within(async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}
