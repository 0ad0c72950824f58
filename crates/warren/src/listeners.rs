//! rabbitmq.conf's listener keys: `listeners.tcp.NAME` / `listeners.ssl.NAME`
//! (any name, several allowed), each a port, `ip:port`, or an IPv6 address
//! and port as `::1:5672` (RabbitMQ's form) or `[::1]:5672`; `listeners.tcp =
//! none` turns the plain listener off.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::bail;

/// The addresses of `listeners.<kind>.*`, sorted by key name; None when no
/// such key is set, an empty list for `listeners.<kind> = none`.
pub fn configured(
    conf: &HashMap<String, String>,
    kind: &str,
) -> anyhow::Result<Option<Vec<SocketAddr>>> {
    let prefix = format!("listeners.{kind}.");
    let mut named: Vec<(&String, &String)> = conf
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect();
    named.sort();
    match conf.get(&format!("listeners.{kind}")).map(String::as_str) {
        None => {}
        Some("none") if named.is_empty() => return Ok(Some(Vec::new())),
        Some("none") => bail!(
            "config key listeners.{kind} = none contradicts {}",
            named[0].0
        ),
        Some(other) => bail!("config key listeners.{kind}: '{other}' is not 'none'"),
    }
    if named.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (key, value) in named {
        let addr = address(value).ok_or_else(|| {
            anyhow::anyhow!(
                "config key {key}: '{value}' is neither a port nor ip:port (IPv6: ::1:5672 or [::1]:5672)"
            )
        })?;
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(Some(out))
}

/// One listener value: `5672` (every IPv4 interface), `127.0.0.1:5672`,
/// `::1:5672` or `[::1]:5672`.
pub fn address(value: &str) -> Option<SocketAddr> {
    let value = value.trim();
    if let Ok(port) = value.parse::<u16>() {
        return Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(addr);
    }
    let (ip, port) = value.rsplit_once(':')?;
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
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
    fn every_form_rabbitmq_accepts() {
        let c = conf(&[
            ("listeners.tcp.1", "127.0.0.1:5673"),
            ("listeners.tcp.2", "::1:5674"),
            ("listeners.tcp.3", "[::1]:5675"),
            ("listeners.tcp.default", "5676"),
        ]);
        let addrs = configured(&c, "tcp").unwrap().unwrap();
        let shown: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            shown,
            ["127.0.0.1:5673", "[::1]:5674", "[::1]:5675", "0.0.0.0:5676"]
        );
        assert_eq!(configured(&c, "ssl").unwrap(), None);
    }

    #[test]
    fn none_turns_the_listener_off_and_bad_values_are_errors() {
        assert_eq!(
            configured(&conf(&[("listeners.tcp", "none")]), "tcp").unwrap(),
            Some(vec![])
        );
        assert!(configured(&conf(&[("listeners.tcp.1", "localhost:x")]), "tcp").is_err());
        assert!(configured(&conf(&[("listeners.tcp", "yes")]), "tcp").is_err());
    }
}
