//! Settings: command-line flags, then environment variables, then the config
//! file (rabbitmq.conf's `key = value` format and key names), then defaults.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use warren_amqp::AmqpConfig;
use warren_core::alarms::{DiskFreeLimit, MemoryWatermark};
use warren_core::BrokerConfig;

use crate::logging::LogSettings;
use crate::tls_settings::{Amqps, Https};

/// Flags of `warren serve` (each also settable by its environment variable).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// AMQP port (0 = any free port) [config: listeners.tcp.default; default 5672]
    #[arg(long, env = "WARREN_AMQP_PORT")]
    pub amqp_port: Option<u16>,
    /// Management HTTP port [config: management.tcp.port; default 15672]
    #[arg(long, env = "WARREN_HTTP_PORT")]
    pub http_port: Option<u16>,
    /// Prometheus metrics port [config: prometheus.tcp.port; default 15692]
    #[arg(long, env = "WARREN_METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// Data directory [config: data_dir; default ./data]
    #[arg(long, env = "WARREN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Config file in rabbitmq.conf format
    #[arg(long, env = "WARREN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [config: listeners.tcp.default as ip:port; default 0.0.0.0]
    #[arg(long, env = "WARREN_BIND")]
    pub bind: Option<IpAddr>,
    /// Definitions file (RabbitMQ JSON) imported at start [config: load_definitions]
    #[arg(long, env = "WARREN_LOAD_DEFINITIONS")]
    pub load_definitions: Option<PathBuf>,
    /// AMQP over TLS (amqps) port; off unless set [config: listeners.ssl.default; RabbitMQ uses 5671]
    #[arg(long, env = "WARREN_AMQPS_PORT")]
    pub amqps_port: Option<u16>,
    /// Management API over HTTPS port; off unless set [config: management.ssl.port; RabbitMQ uses 15671]
    #[arg(long, env = "WARREN_HTTPS_PORT")]
    pub https_port: Option<u16>,
    /// TLS server certificate, PEM [config: ssl_options.certfile]
    #[arg(long, env = "WARREN_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// TLS server private key, PEM [config: ssl_options.keyfile]
    #[arg(long, env = "WARREN_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates for client certificates, PEM [config: ssl_options.cacertfile]
    #[arg(long, env = "WARREN_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

/// Everything the broker needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where AMQP listens (`listeners.tcp.*`; empty with `listeners.tcp = none`).
    pub amqp: Vec<SocketAddr>,
    /// Where the management API listens.
    pub http: SocketAddr,
    /// Where Prometheus metrics are served.
    pub metrics: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Settings of the core.
    pub broker: BrokerConfig,
    /// Handshake limits of the AMQP listeners (`channel_max`, `frame_max`,
    /// `heartbeat`, `handshake_timeout`).
    pub amqp_config: AmqpConfig,
    /// Definitions files or directories (RabbitMQ JSON) to import at start.
    pub load_definitions: Vec<PathBuf>,
    /// How often message rates are sampled (collect_statistics_interval).
    pub stats_interval: Duration,
    /// The amqps listeners, if configured.
    pub amqps: Option<Amqps>,
    /// The management API over HTTPS, if configured.
    pub https: Option<Https>,
    /// Log outputs and levels.
    pub log: LogSettings,
    /// Warnings to log once logging is set up (keys Warren does not implement).
    pub warnings: Vec<String>,
}

/// Parses rabbitmq.conf-style text: `key = value` lines, `#` comments.
pub fn parse_conf(text: &str) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected 'key = value', got '{line}'", n + 1);
        };
        out.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(
    conf: &HashMap<String, String>,
    key: &str,
) -> anyhow::Result<Option<T>> {
    conf.get(key)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| anyhow::anyhow!("config key {key}: '{v}' is not a valid number"))
        })
        .transpose()
}

/// The plain AMQP listeners: `--bind`/`--amqp-port` (which replace the
/// configured ones with one listener), else `listeners.tcp.*`, else 0.0.0.0:5672.
fn amqp_listeners(
    args: &ServeArgs,
    conf: &HashMap<String, String>,
) -> anyhow::Result<Vec<SocketAddr>> {
    let configured = crate::listeners::configured(conf, "tcp")?;
    if args.bind.is_none() && args.amqp_port.is_none() {
        return Ok(configured.unwrap_or_else(|| vec![SocketAddr::new(ANY, 5672)]));
    }
    let first = configured.and_then(|c| c.first().copied());
    Ok(vec![SocketAddr::new(
        args.bind.or(first.map(|a| a.ip())).unwrap_or(ANY),
        args.amqp_port.or(first.map(|a| a.port())).unwrap_or(5672),
    )])
}

const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// An HTTP listener: `--bind` or `<prefix>.ip` (default every interface, as
/// RabbitMQ), the port from the flag, `<prefix>.port` or the default.
fn http_listener(
    conf: &HashMap<String, String>,
    bind: Option<IpAddr>,
    port_flag: Option<u16>,
    prefixes: &[&str],
    default_port: u16,
) -> anyhow::Result<SocketAddr> {
    let mut ip = None;
    let mut port = None;
    for prefix in prefixes {
        let key = format!("{prefix}.ip");
        if let Some(v) = conf.get(&key) {
            ip =
                Some(v.parse::<IpAddr>().map_err(|_| {
                    anyhow::anyhow!("config key {key}: '{v}' is not an IP address")
                })?);
        }
        port = port.or(number::<u16>(conf, &format!("{prefix}.port"))?);
    }
    Ok(SocketAddr::new(
        bind.or(ip).unwrap_or(ANY),
        port_flag.or(port).unwrap_or(default_port),
    ))
}

/// The definitions to load at start: `--load-definitions`, else every one
/// of `load_definitions`, `management.load_definitions` and
/// `definitions.local.path` (with `definitions.import_backend =
/// local_filesystem`, the only backend Warren has).
fn definitions_paths(
    args: &ServeArgs,
    conf: &HashMap<String, String>,
) -> anyhow::Result<Vec<PathBuf>> {
    if let Some(path) = &args.load_definitions {
        return Ok(vec![path.clone()]);
    }
    match conf.get("definitions.import_backend").map(String::as_str) {
        None | Some("local_filesystem") | Some("rabbit_definitions_import_local_filesystem") => {}
        Some(other) => bail!(
            "config key definitions.import_backend: '{other}' is not supported; Warren loads definitions from local files only (local_filesystem)"
        ),
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for key in [
        "load_definitions",
        "management.load_definitions",
        "definitions.local.path",
    ] {
        if let Some(path) = conf.get(key).map(PathBuf::from) {
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    Ok(out)
}

impl ServeArgs {
    /// Resolves flags/env over the config file over defaults. An unknown
    /// key is an error (with suggestions); a RabbitMQ key Warren does not
    /// implement becomes a warning.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let conf = match &self.config {
            Some(path) => load(path)?,
            None => HashMap::new(),
        };
        let keys = crate::conf_keys::check(&conf);
        if let Some(error) = keys.error() {
            let file = self.config.as_deref().unwrap_or(Path::new("?"));
            bail!("in config file {}:\n{error}", file.display());
        }
        let warnings = keys
            .unimplemented
            .iter()
            .map(|k| {
                format!(
                    "config key '{k}' is a RabbitMQ setting that Warren does not implement; it has no effect (see docs/configuration.md)"
                )
            })
            .collect();
        let mut broker = BrokerConfig::default();
        protocol_settings(&conf, &mut broker)?;
        let amqp_config = amqp_settings(&conf)?;
        resource_limits(&conf, &mut broker)?;
        broker.connection_max = limit(&conf, "connection_max")?;
        broker.consumer_max_per_channel = limit(&conf, "consumer_max_per_channel")?;
        let amqp = amqp_listeners(self, &conf)?;
        let amqps = crate::tls_settings::amqps(self, &conf)?;
        let http = http_listener(
            &conf,
            self.bind,
            self.http_port,
            &["management.listener", "management.tcp"],
            15672,
        )?;
        let https = crate::tls_settings::https(self, &conf)?;
        let data_dir = self
            .data_dir
            .clone()
            .or(conf.get("data_dir").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("./data"));
        Ok(Settings {
            amqp,
            http,
            metrics: http_listener(
                &conf,
                self.bind,
                self.metrics_port,
                &["prometheus.tcp"],
                15692,
            )?,
            log: crate::logging::settings(&conf, &data_dir)?,
            data_dir,
            broker,
            amqp_config,
            load_definitions: definitions_paths(self, &conf)?,
            stats_interval: Duration::from_millis(
                number::<u64>(&conf, "collect_statistics_interval")?
                    .unwrap_or(5000)
                    .max(100),
            ),
            amqps,
            https,
            warnings,
        })
    }
}

/// The AMQP protocol's negotiated limits and timeouts.
fn amqp_settings(conf: &HashMap<String, String>) -> anyhow::Result<AmqpConfig> {
    let mut amqp = AmqpConfig::default();
    if let Some(v) = number::<u16>(conf, "channel_max")? {
        amqp.channel_max = v;
    }
    if let Some(v) = number::<u32>(conf, "frame_max")? {
        amqp.frame_max = v;
    }
    if let Some(v) = number::<u64>(conf, "heartbeat")? {
        amqp.heartbeat = Duration::from_secs(v);
    }
    if let Some(v) = number::<u64>(conf, "handshake_timeout")? {
        amqp.handshake_timeout = Duration::from_millis(v);
    }
    Ok(amqp)
}

/// Users, vhost, message size and consumer timeout.
fn protocol_settings(
    conf: &HashMap<String, String>,
    broker: &mut BrokerConfig,
) -> anyhow::Result<()> {
    if let Some(v) = conf.get("default_user") {
        broker.default_user = v.clone();
    }
    if let Some(v) = conf.get("default_pass") {
        broker.default_pass = v.clone();
    }
    if let Some(v) = conf.get("default_vhost") {
        broker.default_vhost = v.clone();
    }
    broker.loopback_users = loopback_users(conf, &broker.default_user);
    if let Some(v) = number::<u64>(conf, "max_message_size")? {
        broker.max_message_size = v;
    }
    if conf.get("consumer_timeout").map(String::as_str) == Some("false") {
        broker.consumer_timeout = None;
    } else if let Some(v) = number::<u64>(conf, "consumer_timeout")? {
        broker.consumer_timeout = Some(Duration::from_millis(v));
    }
    Ok(())
}

/// A count limit: a number, or `infinity` (RabbitMQ's word for none).
fn limit(conf: &HashMap<String, String>, key: &str) -> anyhow::Result<Option<usize>> {
    if conf.get(key).map(String::as_str) == Some("infinity") {
        return Ok(None);
    }
    number::<usize>(conf, key)
}

/// Memory high watermark and free disk limit, with RabbitMQ's keys and units.
fn resource_limits(
    conf: &HashMap<String, String>,
    broker: &mut BrokerConfig,
) -> anyhow::Result<()> {
    if let Some(v) = number::<f64>(conf, "vm_memory_high_watermark.relative")? {
        broker.vm_memory_high_watermark = MemoryWatermark::Relative(v);
    }
    if let Some(v) = conf.get("vm_memory_high_watermark.absolute") {
        broker.vm_memory_high_watermark =
            MemoryWatermark::Absolute(information_unit("vm_memory_high_watermark.absolute", v)?);
    }
    if let Some(v) = number::<f64>(conf, "disk_free_limit.relative")? {
        broker.disk_free_limit = DiskFreeLimit::Relative(v);
    }
    if let Some(v) = conf.get("disk_free_limit.absolute") {
        broker.disk_free_limit =
            DiskFreeLimit::Absolute(information_unit("disk_free_limit.absolute", v)?);
    }
    Ok(())
}

/// Bytes with rabbitmq.conf's information units: k/kiB/M/MiB/G/GiB are
/// powers of 1024, kB/MB/GB powers of 1000; a bare number is bytes.
pub fn information_unit(key: &str, value: &str) -> anyhow::Result<u64> {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    let multiplier: u64 = match unit {
        "" => 1,
        "k" | "kiB" | "KiB" | "K" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => bail!("config key {key}: unknown unit '{unit}' in '{value}'"),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("config key {key}: '{value}' is not an amount of bytes"))?;
    Ok(n.saturating_mul(multiplier))
}

/// `loopback_users = none` allows every user from anywhere;
/// `loopback_users.NAME = true|false` adds or removes one.
fn loopback_users(conf: &HashMap<String, String>, default_user: &str) -> Vec<String> {
    if conf.get("loopback_users").map(String::as_str) == Some("none") {
        return Vec::new();
    }
    let mut users = vec![default_user.to_string()];
    for (key, value) in conf {
        if let Some(name) = key.strip_prefix("loopback_users.") {
            users.retain(|u| u != name);
            if value == "true" {
                users.push(name.to_string());
            }
        }
    }
    users
}

fn load(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    parse_conf(&text).with_context(|| format!("in config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_config_file_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warren.conf");
        std::fs::write(
            &path,
            "# comment\nlisteners.tcp.default = 5999\nmanagement.tcp.port = 16000\nheartbeat = 30\nloopback_users.guest = false\nconsumer_timeout = 900000\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            http_port: Some(17000),
            ..Default::default()
        };
        let s = args.settings().unwrap();
        assert_eq!(s.amqp, vec![SocketAddr::from(([0, 0, 0, 0], 5999))]);
        assert_eq!(s.http, SocketAddr::from(([0, 0, 0, 0], 17000)));
        assert_eq!(s.metrics.port(), 15692);
        assert_eq!(s.amqp_config.heartbeat, Duration::from_secs(30));
        assert_eq!(s.broker.consumer_timeout, Some(Duration::from_secs(900)));
        assert!(s.broker.loopback_users.is_empty());
        assert_eq!(s.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn resource_limits_use_rabbitmq_keys_and_units() {
        let conf = parse_conf(
            "vm_memory_high_watermark.absolute = 2GiB\ndisk_free_limit.absolute = 50MB\n",
        )
        .unwrap();
        let mut broker = BrokerConfig::default();
        resource_limits(&conf, &mut broker).unwrap();
        assert_eq!(
            broker.vm_memory_high_watermark,
            MemoryWatermark::Absolute(2 << 30)
        );
        assert_eq!(broker.disk_free_limit, DiskFreeLimit::Absolute(50_000_000));
        let conf = parse_conf("vm_memory_high_watermark.relative = 0.6\n").unwrap();
        resource_limits(&conf, &mut broker).unwrap();
        assert_eq!(
            broker.vm_memory_high_watermark,
            MemoryWatermark::Relative(0.6)
        );
        assert_eq!(information_unit("k", "1024").unwrap(), 1024);
        assert_eq!(information_unit("k", "3kB").unwrap(), 3000);
        assert!(information_unit("k", "3 parsecs").is_err());
        let conf =
            parse_conf("connection_max = 10\nconsumer_max_per_channel = infinity\n").unwrap();
        assert_eq!(limit(&conf, "connection_max").unwrap(), Some(10));
        assert_eq!(limit(&conf, "consumer_max_per_channel").unwrap(), None);
    }

    #[test]
    fn bad_config_lines_are_clear_errors() {
        assert!(parse_conf("just words").is_err());
        let conf = parse_conf("listeners.tcp.default = nope").unwrap();
        assert!(crate::listeners::configured(&conf, "tcp").is_err());
    }
}
