//! The AMQP listener (plain, or amqps with TLS): accepts sockets, spawns a
//! task per connection, and on shutdown closes every connection with 320
//! CONNECTION_FORCED.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use warren_core::vhost_limits::ConnectionSlot;
use warren_core::Broker;

use crate::config::AmqpConfig;
use crate::connection;
use crate::tls::AmqpsSettings;

/// A bound but not yet serving AMQP listener.
pub struct Server {
    listener: TcpListener,
    broker: Arc<Broker>,
    tls: Option<AmqpsSettings>,
    config: Arc<AmqpConfig>,
}

/// A running listener; dropping it does not stop it, [`ServerHandle::shutdown`] does.
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds the listener (port 0 picks an ephemeral port).
    pub async fn bind(broker: Arc<Broker>, addr: SocketAddr) -> std::io::Result<Server> {
        crate::content::register();
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            listener,
            broker,
            tls: None,
            config: Arc::default(),
        })
    }

    /// Binds an amqps listener: every connection starts with a TLS handshake
    /// (covered by the handshake timeout) before the AMQP protocol header.
    pub async fn bind_tls(
        broker: Arc<Broker>,
        addr: SocketAddr,
        tls: AmqpsSettings,
    ) -> std::io::Result<Server> {
        crate::content::register();
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            listener,
            broker,
            tls: Some(tls),
            config: Arc::default(),
        })
    }

    /// Uses `config` instead of RabbitMQ's defaults for the connections
    /// this listener accepts.
    pub fn with_config(mut self, config: AmqpConfig) -> Server {
        self.config = Arc::new(config);
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Starts accepting connections in a background task.
    pub fn start(self) -> ServerHandle {
        let addr = self.local_addr();
        let (tx, rx) = watch::channel(false);
        crate::monitor::spawn_monitor(&self.broker);
        let task = tokio::spawn(accept_loop(
            self.listener,
            self.broker,
            self.tls,
            self.config,
            rx,
        ));
        ServerHandle {
            addr,
            shutdown: tx,
            task,
        }
    }
}

impl ServerHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection with 320 CONNECTION_FORCED and
    /// waits (up to a few seconds) for them to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Takes an accepted socket's place under the node's `connection_max`, shared
/// by every listener and given back when the connection's task ends; None
/// (logged) when the limit is reached: the socket is then closed at once, as
/// RabbitMQ's listener refuses it too.
fn take_socket_place(broker: &Broker) -> Option<ConnectionSlot> {
    let limit = broker.config.connection_max.map_or(-1, |max| max as i64);
    let place = ConnectionSlot::take(&broker.open_sockets, limit);
    if place.is_none() {
        tracing::warn!(
            "Node connection limit is reached. Active connections: {}, limit: {limit}",
            broker.open_sockets.load(Ordering::Relaxed)
        );
    }
    place
}

async fn accept_loop(
    listener: TcpListener,
    broker: Arc<Broker>,
    tls: Option<AmqpsSettings>,
    config: Arc<AmqpConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(slot) = take_socket_place(&broker) else {
                        drop(stream);
                        continue;
                    };
                    let serve = connection::serve(stream, peer, broker.clone(), tls.clone(), config.clone(), shutdown.clone());
                    connections.spawn(async move {
                        serve.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}
