//! rabbitmq.conf's `log.*` keys: a console output (`log.console`,
//! `log.console.level`, `log.console.stdio`) and a file output (`log.file`,
//! `log.file.level`, `log.dir`), `log.default.level` for both, and the
//! `connection` and `channel` categories' levels (`log.connection.level`,
//! `log.channel.level`). `WARREN_LOG` (an env-filter directive) overrides the
//! levels of every output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The tracing target of connection lifecycle lines (RabbitMQ's `connection`
/// log category).
pub const CONNECTION_TARGET: &str = "warren::connection";
/// The tracing target of channel error lines (RabbitMQ's `channel` category).
pub const CHANNEL_TARGET: &str = "warren::channel";

/// Where logs go and at which levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Log to the console (default true).
    pub console: bool,
    /// The console's level (an env-filter level: trace … error, off).
    pub console_level: String,
    /// Console on standard error instead of standard output.
    pub console_stderr: bool,
    /// The log file, if any.
    pub file: Option<PathBuf>,
    /// The file's level.
    pub file_level: String,
    /// `log.connection.level`, if set.
    pub connection_level: Option<String>,
    /// `log.channel.level`, if set.
    pub channel_level: Option<String>,
}

/// RabbitMQ's level names as tracing levels (notice counts as warn: at
/// `notice`, RabbitMQ hides info lines too).
fn level(key: &str, value: &str) -> anyhow::Result<String> {
    Ok(match value {
        "debug" => "debug",
        "info" => "info",
        "notice" | "warning" | "warn" => "warn",
        "error" | "critical" | "alert" | "emergency" => "error",
        "none" => "off",
        other => bail!(
            "config key {key}: '{other}' is not a log level (debug, info, notice, warning, error, critical, alert, emergency, none)"
        ),
    }
    .to_string())
}

fn boolean(key: &str, value: &str) -> anyhow::Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => bail!("config key {key}: '{other}' is not true or false"),
    }
}

/// Reads the `log.*` keys; relative file names are under `log.dir`, else
/// under the data directory.
pub fn settings(conf: &HashMap<String, String>, data_dir: &Path) -> anyhow::Result<LogSettings> {
    let get = |k: &str| conf.get(k).map(String::as_str);
    let default_level = match get("log.default.level") {
        Some(v) => level("log.default.level", v)?,
        None => "info".into(),
    };
    let level_of = |k: &str| -> anyhow::Result<String> {
        get(k).map_or(Ok(default_level.clone()), |v| level(k, v))
    };
    let dir = get("log.dir").map(PathBuf::from);
    let file = match get("log.file") {
        Some("false") => None,
        Some("true") => bail!("config key log.file: give a file name, or false"),
        Some(name) => Some(dir.clone().unwrap_or(data_dir.into()).join(name)),
        // RabbitMQ logs to a file in log.dir by default.
        None => dir.map(|d| d.join("warren.log")),
    };
    let console_stderr = match get("log.console.stdio") {
        None | Some("stdout") => false,
        Some("stderr") => true,
        Some(other) => bail!("config key log.console.stdio: '{other}' is not stdout or stderr"),
    };
    Ok(LogSettings {
        console: get("log.console").map_or(Ok(true), |v| boolean("log.console", v))?,
        console_level: level_of("log.console.level")?,
        console_stderr,
        file,
        file_level: level_of("log.file.level")?,
        connection_level: get("log.connection.level")
            .map(|v| level("log.connection.level", v))
            .transpose()?,
        channel_level: get("log.channel.level")
            .map(|v| level("log.channel.level", v))
            .transpose()?,
    })
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            console: true,
            console_level: "info".into(),
            console_stderr: false,
            file: None,
            file_level: "info".into(),
            connection_level: None,
            channel_level: None,
        }
    }
}

impl LogSettings {
    /// The filter of one output: `WARREN_LOG` if set, else `level` with the
    /// category levels.
    fn filter(&self, level: &str) -> EnvFilter {
        if let Ok(f) = EnvFilter::try_from_env("WARREN_LOG") {
            return f;
        }
        let mut directives = level.to_string();
        if let Some(l) = &self.connection_level {
            directives.push_str(&format!(",{CONNECTION_TARGET}={l}"));
        }
        if let Some(l) = &self.channel_level {
            directives.push_str(&format!(",{CHANNEL_TARGET}={l}"));
        }
        EnvFilter::new(directives)
    }

    /// Installs the outputs as the global subscriber.
    pub fn init(&self) -> anyhow::Result<()> {
        let console = self.console.then(|| {
            let layer = tracing_subscriber::fmt::layer();
            let filter = self.filter(&self.console_level);
            if self.console_stderr {
                layer
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr)
                    .with_filter(filter)
                    .boxed()
            } else {
                layer
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                    .with_filter(filter)
                    .boxed()
            }
        });
        let file = match &self.file {
            None => None,
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("cannot create the log directory {}", dir.display())
                    })?;
                }
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open the log file {}", path.display()))?;
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(Arc::new(file))
                        .with_filter(self.filter(&self.file_level)),
                )
            }
        };
        tracing_subscriber::registry()
            .with(console)
            .with(file)
            .try_init()
            .context("cannot install the logger")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn levels_files_and_defaults() {
        let data = Path::new("/data");
        assert_eq!(settings(&conf(&[]), data).unwrap(), LogSettings::default());
        let s = settings(
            &conf(&[
                ("log.default.level", "warning"),
                ("log.file", "w.log"),
                ("log.dir", "/var/log/w"),
                ("log.console.level", "debug"),
                ("log.connection.level", "none"),
            ]),
            data,
        )
        .unwrap();
        assert_eq!(s.file, Some(PathBuf::from("/var/log/w/w.log")));
        assert_eq!(s.file_level, "warn");
        assert_eq!(s.console_level, "debug");
        assert_eq!(s.connection_level.as_deref(), Some("off"));
        let s = settings(&conf(&[("log.dir", "/l")]), data).unwrap();
        assert_eq!(s.file, Some(PathBuf::from("/l/warren.log")));
        let s = settings(&conf(&[("log.file", "x.log")]), data).unwrap();
        assert_eq!(s.file, Some(PathBuf::from("/data/x.log")));
        assert!(settings(&conf(&[("log.console.level", "loud")]), data).is_err());
        assert!(settings(&conf(&[("log.console", "yes")]), data).is_err());
    }
}
