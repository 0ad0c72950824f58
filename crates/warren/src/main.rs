//! `warren`: the broker binary. With no subcommand (or `serve`) it runs the broker.

mod config;
mod ctl;
mod perf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::ServeArgs;
use std::net::SocketAddr;

use warren_amqp::Server;
use warren_core::Broker;
use warren_http::{HttpServer, Listeners};

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
    let listeners = Listeners {
        entries: vec![
            ("amqp".into(), server.local_addr()),
            ("prometheus".into(), metrics.local_addr()),
        ],
    };
    let http = http.set_listeners(broker.clone(), listeners);
    let handle = server.start();
    let http = http.start();
    let metrics = metrics.start();
    warren_http::start_sampler(broker.clone(), settings.stats_interval);
    tracing::info!(
        "Warren {} started: AMQP on {}, data in {}",
        env!("CARGO_PKG_VERSION"),
        handle.local_addr(),
        settings.data_dir.display()
    );
    tracing::info!(
        "management API and web UI on http://{}/ , Prometheus metrics on http://{}/metrics",
        http.local_addr(),
        metrics.local_addr()
    );
    wait_for_signal().await;
    tracing::info!("shutting down: closing connections with 320 CONNECTION_FORCED");
    http.shutdown().await;
    metrics.shutdown().await;
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
