//! `warren`: the broker binary. With no subcommand (or `serve`) it runs the broker.

mod config;
mod ctl;
mod perf;
mod tls_settings;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::ServeArgs;
use std::net::SocketAddr;

use warren_amqp::Server;
use warren_core::Broker;
use warren_http::certs::TlsListenerFiles;
use warren_http::{HttpServer, Listeners, NodeInfo};

/// Warren, a RabbitMQ-compatible message broker.
#[derive(Debug, Parser)]
#[command(name = "warren", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker (the default).
    Serve(ServeArgs),
    /// Load-test an AMQP 0-9-1 broker (Warren or any other).
    Perf(perf::PerfArgs),
    /// Manage a running broker, like rabbitmqctl (through its HTTP API).
    Ctl(ctl::CtlArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Ctl(args)) = cli.command {
        // No logging, no runtime: a short-lived client with rabbitmqctl's output.
        std::process::exit(ctl::run(args));
    }
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARREN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Some(Command::Perf(args)) => runtime.block_on(perf::run(args)),
        Some(Command::Serve(args)) => runtime.block_on(serve(args)),
        Some(Command::Ctl(_)) => Ok(()),
        None => runtime.block_on(serve(cli.serve)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    // Certificates are checked before anything else starts.
    let amqps_tls = match &settings.amqps {
        Some(a) => Some(warren_amqp::tls::AmqpsSettings {
            config: warren_amqp::tls::server_config(&a.options)
                .context("cannot set up TLS for the amqps listener")?,
            login_from: a.login_from,
        }),
        None => None,
    };
    let https_tls = match &settings.https {
        Some(h) => Some(
            warren_amqp::tls::server_config(&h.options)
                .context("cannot set up TLS for the management API (management.ssl.*)")?,
        ),
        None => None,
    };
    let broker = Broker::open(settings.broker.clone(), &settings.data_dir)
        .with_context(|| format!("cannot open data directory {}", settings.data_dir.display()))?;
    if let Some(path) = &settings.load_definitions {
        load_definitions(&broker, path)?;
    }
    let server = Server::bind(broker.clone(), settings.amqp)
        .await
        .with_context(|| {
            format!(
                "cannot listen for AMQP on {} (is the port already in use?)",
                settings.amqp
            )
        })?;
    let http_addr = SocketAddr::new(settings.amqp.ip(), settings.http_port);
    let metrics_addr = SocketAddr::new(settings.amqp.ip(), settings.metrics_port);
    let http = HttpServer::bind_management(broker.clone(), http_addr)
        .await
        .with_context(|| {
            format!("cannot listen for HTTP on {http_addr} (is the port already in use?)")
        })?;
    let metrics = HttpServer::bind_metrics(broker.clone(), metrics_addr)
        .await
        .with_context(|| {
            format!("cannot listen for metrics on {metrics_addr} (is the port already in use?)")
        })?;
    let amqps = match (&settings.amqps, amqps_tls) {
        (Some(a), Some(tls)) => Some(
            Server::bind_tls(broker.clone(), a.addr, tls)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen for AMQPS on {} (is the port already in use?)",
                        a.addr
                    )
                })?,
        ),
        _ => None,
    };
    let https = match (&settings.https, https_tls) {
        (Some(h), Some(tls)) => {
            let addr = SocketAddr::new(settings.amqp.ip(), h.port);
            Some(
                HttpServer::bind_management(broker.clone(), addr)
                    .await
                    .with_context(|| {
                        format!("cannot listen for HTTPS on {addr} (is the port already in use?)")
                    })?
                    .with_tls(tls),
            )
        }
        _ => None,
    };
    let mut entries = vec![
        ("amqp".into(), server.local_addr()),
        ("http/prometheus".into(), metrics.local_addr()),
    ];
    if let Some(amqps) = &amqps {
        entries.push(("amqp/ssl".into(), amqps.local_addr()));
    }
    let mut http_entries = entries.clone();
    if let Some(https) = &https {
        http_entries.push(("https".into(), https.local_addr()));
        entries.push(("http".into(), http.local_addr()));
    }
    let mut tls = Vec::new();
    if let (Some(a), Some(listener)) = (&settings.amqps, &amqps) {
        tls.push(TlsListenerFiles {
            protocol: "amqp/ssl".into(),
            addr: listener.local_addr(),
            certfile: a.options.certfile.clone(),
            cacertfile: a.options.cacertfile.clone(),
        });
    }
    if let (Some(h), Some(listener)) = (&settings.https, &https) {
        tls.push(TlsListenerFiles {
            protocol: "https".into(),
            addr: listener.local_addr(),
            certfile: h.options.certfile.clone(),
            cacertfile: h.options.cacertfile.clone(),
        });
    }
    let files = NodeInfo {
        config_files: args
            .config
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        log_files: vec!["<stdout>".into()],
        tls,
        stats_interval: settings.stats_interval,
    };
    let http = http
        .set_listeners(
            broker.clone(),
            Listeners {
                entries: http_entries,
            },
        )
        .with_node_info(files.clone());
    let https = https.map(|h| {
        h.set_listeners(broker.clone(), Listeners { entries })
            .with_node_info(files)
    });
    let handle = server.start();
    let amqps = amqps.map(Server::start);
    let http = http.start();
    let https = https.map(HttpServer::start);
    let metrics = metrics.start();
    warren_http::start_sampler(broker.clone(), settings.stats_interval);
    tracing::info!(
        "Warren {} started: AMQP on {}, data in {}",
        env!("CARGO_PKG_VERSION"),
        handle.local_addr(),
        settings.data_dir.display()
    );
    if let Some(amqps) = &amqps {
        tracing::info!("AMQP over TLS (amqps) on {}", amqps.local_addr());
    }
    tracing::info!(
        "management API and web UI on http://{}/ , Prometheus metrics on http://{}/metrics",
        http.local_addr(),
        metrics.local_addr()
    );
    if let Some(https) = &https {
        tracing::info!(
            "management API and web UI over HTTPS on https://{}/",
            https.local_addr()
        );
    }
    wait_for_signal().await;
    tracing::info!("shutting down: closing connections with 320 CONNECTION_FORCED");
    http.shutdown().await;
    if let Some(https) = https {
        https.shutdown().await;
    }
    metrics.shutdown().await;
    if let Some(amqps) = amqps {
        amqps.shutdown().await;
    }
    handle.shutdown().await;
    broker.close();
    tracing::info!("stopped");
    Ok(())
}

fn load_definitions(broker: &Broker, path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read definitions file {}", path.display()))?;
    let defs: warren_core::definitions::Definitions = serde_json::from_str(&text)
        .with_context(|| format!("definitions file {} is not valid", path.display()))?;
    warren_core::definitions::import(broker, &defs, None)
        .with_context(|| format!("cannot import definitions from {}", path.display()))?;
    tracing::info!("imported definitions from {}", path.display());
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
