//! Warren's management plane over HTTP: RabbitMQ's management API (same paths,
//! JSON field names, status codes and HTTP basic auth with management tags),
//! the web UI embedded in the binary, and Prometheus metrics with RabbitMQ's
//! metric names on their own port.

pub mod api;
pub mod auth;
pub mod body;
pub mod certs;
pub mod error;
pub mod lenient;
pub mod listing;
pub mod metrics;
pub mod process;
pub mod stats;
pub mod tls;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::Broker;

/// Where the broker listens, for /api/overview's `listeners`.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    /// (protocol, address) with RabbitMQ's protocol names: ("amqp", …),
    /// ("amqp/ssl", …), ("http", …), ("https", …), ("http/prometheus", …).
    pub entries: Vec<(String, SocketAddr)>,
}

/// How the node was started, for /api/nodes (`config_files`, `log_files`:
/// `"<stdout>"` for console logging, as RabbitMQ writes it), the overview's
/// `sample_retention_policies` and the certificate-expiration check.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Configuration files read at start.
    pub config_files: Vec<String>,
    /// Where the log goes.
    pub log_files: Vec<String>,
    /// Certificate files of the TLS listeners (for the certificate-expiration check).
    pub tls: Vec<certs::TlsListenerFiles>,
    /// The rate sampler's interval (collect_statistics_interval).
    pub stats_interval: Duration,
    /// The protocol adapters' settings under their rabbitmq.conf names
    /// (`channel_max`, `frame_max`, …), for /api/environment.
    pub protocol_settings: Vec<(String, u64)>,
}

impl Default for NodeInfo {
    fn default() -> Self {
        NodeInfo {
            config_files: Vec::new(),
            log_files: Vec::new(),
            tls: Vec::new(),
            stats_interval: Duration::from_secs(5),
            protocol_settings: Vec::new(),
        }
    }
}

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The broker.
    pub broker: Arc<Broker>,
    /// Listener addresses.
    pub listeners: Listeners,
    /// The node name, "warren@HOST".
    pub node: String,
    /// How the node was started.
    pub node_info: NodeInfo,
}

/// The node name: "warren@" and the host name.
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("warren@{host}")
}

/// A bound listener (management API + UI, or metrics) not yet serving.
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ServerConfig>>,
    broker: Arc<Broker>,
    listeners: Listeners,
    node_info: NodeInfo,
    /// Serves the Prometheus endpoint instead of the API and UI.
    metrics: bool,
}

/// A running HTTP server; [`HttpHandle::shutdown`] stops it.
pub struct HttpHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Binds the management API and UI (port 0 picks a free port).
    pub async fn bind_management(
        broker: Arc<Broker>,
        addr: SocketAddr,
    ) -> std::io::Result<HttpServer> {
        // Publish and get read and render AMQP 0-9-1 content.
        warren_amqp::content::register();
        let listener = TcpListener::bind(addr).await?;
        Ok(HttpServer {
            listener,
            router: Router::new(),
            tls: None,
            broker,
            listeners: Listeners::default(),
            node_info: NodeInfo::default(),
            metrics: false,
        }
        .rebuilt())
    }

    /// Binds the Prometheus endpoint (port 0 picks a free port).
    pub async fn bind_metrics(
        broker: Arc<Broker>,
        addr: SocketAddr,
    ) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(addr).await?;
        Ok(HttpServer {
            listener,
            router: Router::new(),
            tls: None,
            broker,
            listeners: Listeners::default(),
            node_info: NodeInfo::default(),
            metrics: true,
        }
        .rebuilt())
    }

    fn rebuilt(mut self) -> Self {
        let state = Arc::new(AppState {
            broker: self.broker.clone(),
            listeners: self.listeners.clone(),
            node: node_name(),
            node_info: self.node_info.clone(),
        });
        self.router = if self.metrics {
            metrics::router(state)
        } else {
            api::router(state).merge(ui::router())
        };
        self
    }

    /// Tells the management API how the node was started (files, TLS
    /// certificates, sampling interval).
    pub fn with_node_info(mut self, info: NodeInfo) -> Self {
        self.node_info = info;
        self.rebuilt()
    }

    /// Serves HTTPS with `config` instead of plain HTTP.
    pub fn with_tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Tells the management API where the other listeners are (for overview).
    pub fn set_listeners(mut self, broker: Arc<Broker>, mut listeners: Listeners) -> Self {
        let protocol = if self.tls.is_some() { "https" } else { "http" };
        listeners.entries.push((protocol.into(), self.local_addr()));
        self.broker = broker;
        self.listeners = listeners;
        self.rebuilt()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Starts serving in a background task.
    pub fn start(self) -> HttpHandle {
        let addr = self.local_addr();
        let (tx, mut rx) = watch::channel(false);
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|v| *v).await;
            };
            let served = match self.tls {
                None => {
                    axum::serve(self.listener, service)
                        .with_graceful_shutdown(stop)
                        .await
                }
                Some(config) => match tls::TlsListener::new(self.listener, config) {
                    // tap_io: axum's ConnectInfo<SocketAddr> for a custom listener.
                    Ok(listener) => {
                        axum::serve(listener.tap_io(|_| {}), service)
                            .with_graceful_shutdown(stop)
                            .await
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = served {
                tracing::warn!("HTTP server on {addr} failed: {e}");
            }
        });
        HttpHandle {
            addr,
            shutdown: tx,
            task,
        }
    }
}

impl HttpHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (waits up to a few seconds for open requests).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

/// Starts the rate sampler (RabbitMQ's collect_statistics_interval).
pub fn start_sampler(broker: Arc<Broker>, interval: Duration) {
    tokio::spawn(stats::run_sampler(broker, interval));
}
