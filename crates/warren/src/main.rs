//! `warren`: the broker binary. With no subcommand (or `serve`) it runs the broker.

mod conf_keys;
mod config;
mod ctl;
mod definitions_files;
mod listeners;
mod logging;
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

/// Exit code for a configuration the broker cannot start with (sysexits' EX_CONFIG).
const EX_CONFIG: i32 = 78;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let serve_args = match cli.command {
        Some(Command::Ctl(args)) => {
            // `warren ctl … | head` ends quietly, as a shell tool does, instead
            // of panicking on a closed standard output.
            warren_core::sys::restore_default_sigpipe();
            // No logging, no runtime: a short-lived client with rabbitmqctl's output.
            std::process::exit(ctl::run(args));
        }
        Some(Command::Perf(args)) => {
            logging::LogSettings::default().init()?;
            return runtime()?.block_on(perf::run(args));
        }
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    // The config decides where logs go, so it is read before logging starts.
    let settings = match serve_args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e:#}");
            eprintln!("\nBOOT FAILED: the configuration is not valid");
            std::process::exit(EX_CONFIG);
        }
    };
    settings.log.init()?;
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    runtime()?.block_on(serve(settings, serve_args.config.clone()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs the broker; `config_file` is the file the settings were read from, if any.
async fn serve(
    settings: config::Settings,
    config_file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
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
    // Recovery may need the AMQP format to annotate records written before
    // annotations were stored.
    warren_amqp::content::register();
    let broker = Broker::open(settings.broker.clone(), &settings.data_dir)
        .with_context(|| format!("cannot open data directory {}", settings.data_dir.display()))?;
    for path in &settings.load_definitions {
        definitions_files::load(&broker, path)?;
    }
    let mut servers = Vec::new();
    for addr in &settings.amqp {
        let server = Server::bind(broker.clone(), *addr).await.with_context(|| {
            format!("cannot listen for AMQP on {addr} (is the port already in use?)")
        })?;
        servers.push(server.with_config(settings.amqp_config.clone()));
    }
    let http_addr = settings.http;
    let metrics_addr = settings.metrics;
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
    let mut tls_servers = Vec::new();
    if let (Some(a), Some(tls)) = (&settings.amqps, amqps_tls) {
        for addr in &a.addrs {
            let server = Server::bind_tls(broker.clone(), *addr, tls.clone())
                .await
                .with_context(|| {
                    format!("cannot listen for AMQPS on {addr} (is the port already in use?)")
                })?;
            tls_servers.push(server.with_config(settings.amqp_config.clone()));
        }
    }
    let https = match (&settings.https, https_tls) {
        (Some(h), Some(tls)) => {
            let addr = SocketAddr::new(settings.http.ip(), h.port);
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
    let mut entries: Vec<(String, SocketAddr)> = servers
        .iter()
        .map(|s| ("amqp".to_string(), s.local_addr()))
        .collect();
    entries.push(("http/prometheus".into(), metrics.local_addr()));
    for amqps in &tls_servers {
        entries.push(("amqp/ssl".into(), amqps.local_addr()));
    }
    let mut http_entries = entries.clone();
    if let Some(https) = &https {
        http_entries.push(("https".into(), https.local_addr()));
        entries.push(("http".into(), http.local_addr()));
    }
    let mut tls = Vec::new();
    if let Some(a) = &settings.amqps {
        for listener in &tls_servers {
            tls.push(TlsListenerFiles {
                protocol: "amqp/ssl".into(),
                addr: listener.local_addr(),
                certfile: a.options.certfile.clone(),
                cacertfile: a.options.cacertfile.clone(),
            });
        }
    }
    if let (Some(h), Some(listener)) = (&settings.https, &https) {
        tls.push(TlsListenerFiles {
            protocol: "https".into(),
            addr: listener.local_addr(),
            certfile: h.options.certfile.clone(),
            cacertfile: h.options.cacertfile.clone(),
        });
    }
    let mut log_files: Vec<String> = Vec::new();
    if settings.log.console {
        log_files.push("<stdout>".into());
    }
    if let Some(file) = &settings.log.file {
        log_files.push(file.display().to_string());
    }
    let files = NodeInfo {
        config_files: config_file
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        log_files,
        tls,
        stats_interval: settings.stats_interval,
        protocol_settings: settings
            .amqp_config
            .settings()
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
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
    let handles: Vec<_> = servers.into_iter().map(Server::start).collect();
    let amqps: Vec<_> = tls_servers.into_iter().map(Server::start).collect();
    let http = http.start();
    let https = https.map(HttpServer::start);
    let metrics = metrics.start();
    warren_http::start_sampler(broker.clone(), settings.stats_interval);
    for h in &handles {
        tracing::info!("started TCP listener on {}", h.local_addr());
    }
    for h in &amqps {
        tracing::info!("started TLS (SSL) listener on {}", h.local_addr());
    }
    let first = handles.first().map_or_else(
        || "(no TCP listener)".to_string(),
        |h| h.local_addr().to_string(),
    );
    tracing::info!(
        "Warren {} started: AMQP on {first}, data in {}",
        env!("CARGO_PKG_VERSION"),
        settings.data_dir.display()
    );
    for amqps in &amqps {
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
    for amqps in amqps {
        amqps.shutdown().await;
    }
    for handle in handles {
        handle.shutdown().await;
    }
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
