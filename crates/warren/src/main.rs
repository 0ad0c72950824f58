//! `warren`: the broker binary. With no subcommand (or `serve`) it runs the broker.

mod config;
mod perf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::ServeArgs;
use warren_amqp::Server;
use warren_core::Broker;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
        None => runtime.block_on(serve(cli.serve)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let broker = Broker::open(settings.broker.clone(), &settings.data_dir)
        .with_context(|| format!("cannot open data directory {}", settings.data_dir.display()))?;
    let server = Server::bind(broker.clone(), settings.amqp)
        .await
        .with_context(|| {
            format!(
                "cannot listen for AMQP on {} (is the port already in use?)",
                settings.amqp
            )
        })?;
    let handle = server.start();
    tracing::info!(
        "Warren {} started: AMQP on {}, data in {}",
        env!("CARGO_PKG_VERSION"),
        handle.local_addr(),
        settings.data_dir.display()
    );
    tracing::info!(
        "management API (port {}) and metrics (port {}) are not served yet",
        settings.http_port,
        settings.metrics_port
    );
    wait_for_signal().await;
    tracing::info!("shutting down: closing connections with 320 CONNECTION_FORCED");
    handle.shutdown().await;
    broker.close();
    tracing::info!("stopped");
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
