//! Settings: command-line flags, then environment variables, then the config
//! file (rabbitmq.conf's `key = value` format and key names), then defaults.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use warren_core::alarms::{DiskFreeLimit, MemoryWatermark};
use warren_core::BrokerConfig;

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
    /// Where AMQP listens.
    pub amqp: SocketAddr,
    /// Management HTTP port.
    pub http_port: u16,
    /// Prometheus port.
    pub metrics_port: u16,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Protocol settings for the core.
    pub broker: BrokerConfig,
    /// A definitions file (RabbitMQ JSON) to import at start.
    pub load_definitions: Option<PathBuf>,
    /// How often message rates are sampled (collect_statistics_interval).
    pub stats_interval: Duration,
    /// The amqps listener, if configured.
    pub amqps: Option<Amqps>,
    /// The management API over HTTPS, if configured.
    pub https: Option<Https>,
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

/// Reads `listeners.tcp.default`, which is either a port or `ip:port`.
fn tcp_listener(conf: &HashMap<String, String>) -> anyhow::Result<Option<SocketAddr>> {
    let Some(value) = conf.get("listeners.tcp.default") else {
        return Ok(None);
    };
    if let Ok(port) = value.parse::<u16>() {
        return Ok(Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )));
    }
    value.parse::<SocketAddr>().map(Some).with_context(|| {
        format!("config key listeners.tcp.default: '{value}' is neither a port nor ip:port")
    })
}

impl ServeArgs {
    /// Resolves flags/env over the config file over defaults.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let conf = match &self.config {
            Some(path) => load(path)?,
            None => HashMap::new(),
        };
        let listener = tcp_listener(&conf)?;
        let ip = self
            .bind
            .or(listener.map(|a| a.ip()))
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let amqp_port = self
            .amqp_port
            .or(listener.map(|a| a.port()))
            .unwrap_or(5672);
        let mut broker = BrokerConfig::default();
        if let Some(v) = conf.get("default_user") {
            broker.default_user = v.clone();
        }
        if let Some(v) = conf.get("default_pass") {
            broker.default_pass = v.clone();
        }
        if let Some(v) = conf.get("default_vhost") {
            broker.default_vhost = v.clone();
        }
        broker.loopback_users = loopback_users(&conf, &broker.default_user);
        if let Some(v) = number::<u16>(&conf, "channel_max")? {
            broker.channel_max = v;
        }
        if let Some(v) = number::<u32>(&conf, "frame_max")? {
            broker.frame_max = v;
        }
        if let Some(v) = number::<u64>(&conf, "heartbeat")? {
            broker.heartbeat = Duration::from_secs(v);
        }
        if let Some(v) = number::<u64>(&conf, "max_message_size")? {
            broker.max_message_size = v;
        }
        if let Some(v) = number::<u64>(&conf, "handshake_timeout")? {
            broker.handshake_timeout = Duration::from_millis(v);
        }
        if conf.get("consumer_timeout").map(String::as_str) == Some("false") {
            broker.consumer_timeout = None;
        } else if let Some(v) = number::<u64>(&conf, "consumer_timeout")? {
            broker.consumer_timeout = Some(Duration::from_millis(v));
        }
        resource_limits(&conf, &mut broker)?;
        broker.connection_max = limit(&conf, "connection_max")?;
        broker.consumer_max_per_channel = limit(&conf, "consumer_max_per_channel")?;
        let amqps = crate::tls_settings::amqps(self, &conf, ip)?;
        let https = crate::tls_settings::https(self, &conf)?;
        Ok(Settings {
            amqp: SocketAddr::new(ip, amqp_port),
            http_port: self
                .http_port
                .or(number(&conf, "management.tcp.port")?)
                .unwrap_or(15672),
            metrics_port: self
                .metrics_port
                .or(number(&conf, "prometheus.tcp.port")?)
                .unwrap_or(15692),
            data_dir: self
                .data_dir
                .clone()
                .or(conf.get("data_dir").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("./data")),
            broker,
            load_definitions: self
                .load_definitions
                .clone()
                .or(conf.get("load_definitions").map(PathBuf::from)),
            stats_interval: Duration::from_millis(
                number::<u64>(&conf, "collect_statistics_interval")?
                    .unwrap_or(5000)
                    .max(100),
            ),
            amqps,
            https,
        })
    }
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
        assert_eq!(s.amqp.port(), 5999);
        assert_eq!(s.http_port, 17000);
        assert_eq!(s.metrics_port, 15692);
        assert_eq!(s.broker.heartbeat, Duration::from_secs(30));
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
        let mut conf = HashMap::new();
        conf.insert("listeners.tcp.default".to_string(), "nope".to_string());
        assert!(tcp_listener(&conf).is_err());
    }
}
