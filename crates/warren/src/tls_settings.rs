//! TLS settings from rabbitmq.conf keys and flags: the amqps listener
//! (`listeners.ssl.default`, `ssl_options.*`, `ssl_cert_login_from`) and the
//! management API over HTTPS (`management.ssl.*`). TLS is off unless a port is
//! configured; a port without a certificate and key is an error.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{bail, Context};
use warren_amqp::tls::{CertLoginFrom, TlsOptions, Verify};

use crate::config::ServeArgs;

/// The amqps listener: where it listens and its TLS options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amqps {
    /// Listening addresses.
    pub addrs: Vec<SocketAddr>,
    /// Certificate, key and client verification.
    pub options: TlsOptions,
    /// How EXTERNAL names the user (`ssl_cert_login_from`).
    pub login_from: CertLoginFrom,
}

/// The management API over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Https {
    /// Listening port (on the same address as the other listeners).
    pub port: u16,
    /// Certificate, key and client verification.
    pub options: TlsOptions,
}

/// Reads `listeners.ssl.*` (each a port or `ip:port`) and `--amqps-port`
/// (which, with `--bind`, replaces them with one listener).
pub fn amqps(args: &ServeArgs, conf: &HashMap<String, String>) -> anyhow::Result<Option<Amqps>> {
    let configured = crate::listeners::configured(conf, "ssl")?.unwrap_or_default();
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let addrs = match args.amqps_port {
        Some(port) => vec![SocketAddr::new(
            args.bind
                .or(configured.first().map(|a| a.ip()))
                .unwrap_or(any),
            port,
        )],
        None => configured
            .into_iter()
            .map(|a| SocketAddr::new(args.bind.unwrap_or(a.ip()), a.port()))
            .collect(),
    };
    if addrs.is_empty() {
        return Ok(None);
    }
    let flags = Flags {
        cert: args.tls_cert.clone(),
        key: args.tls_key.clone(),
        ca: args.tls_ca.clone(),
    };
    let options = options(conf, "ssl_options", &flags, None)?
        .context("the amqps listener (listeners.ssl.default / --amqps-port) needs ssl_options.certfile and ssl_options.keyfile (or --tls-cert and --tls-key)")?;
    let login_from = match conf.get("ssl_cert_login_from").map(String::as_str) {
        None | Some("common_name") => CertLoginFrom::CommonName,
        Some("distinguished_name") => CertLoginFrom::DistinguishedName,
        Some(other) => bail!(
            "config key ssl_cert_login_from: '{other}' is not common_name or distinguished_name"
        ),
    };
    Ok(Some(Amqps {
        addrs,
        options,
        login_from,
    }))
}

/// Reads `management.ssl.port` / `--https-port` and `management.ssl.*`, the
/// certificate and key falling back to the amqps ones when not given.
pub fn https(args: &ServeArgs, conf: &HashMap<String, String>) -> anyhow::Result<Option<Https>> {
    let port = match args.https_port {
        Some(port) => port,
        None => match conf.get("management.ssl.port") {
            None => return Ok(None),
            Some(v) => v.parse::<u16>().map_err(|_| {
                anyhow::anyhow!("config key management.ssl.port: '{v}' is not a valid port")
            })?,
        },
    };
    let fallback_flags = Flags {
        cert: args.tls_cert.clone(),
        key: args.tls_key.clone(),
        ca: args.tls_ca.clone(),
    };
    let fallback = options(conf, "ssl_options", &fallback_flags, None)?;
    let options = options(conf, "management.ssl", &Flags::default(), fallback.as_ref())?
        .context("HTTPS for the management API (management.ssl.port / --https-port) needs management.ssl.certfile and management.ssl.keyfile (or ssl_options.*, --tls-cert and --tls-key)")?;
    Ok(Some(Https { port, options }))
}

/// Certificate flags, which beat the config file.
#[derive(Default)]
struct Flags {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
}

/// `<prefix>.certfile`, `.keyfile`, `.cacertfile`, `.verify`,
/// `.fail_if_no_peer_cert`; None when no certificate or key is configured.
fn options(
    conf: &HashMap<String, String>,
    prefix: &str,
    flags: &Flags,
    fallback: Option<&TlsOptions>,
) -> anyhow::Result<Option<TlsOptions>> {
    let path = |key: &str| conf.get(&format!("{prefix}.{key}")).map(PathBuf::from);
    let certfile = flags
        .cert
        .clone()
        .or(path("certfile"))
        .or(fallback.map(|f| f.certfile.clone()));
    let keyfile = flags
        .key
        .clone()
        .or(path("keyfile"))
        .or(fallback.map(|f| f.keyfile.clone()));
    let cacertfile = flags
        .ca
        .clone()
        .or(path("cacertfile"))
        .or(fallback.and_then(|f| f.cacertfile.clone()));
    let verify = match conf.get(&format!("{prefix}.verify")).map(String::as_str) {
        None => fallback.map_or(Verify::None, |f| f.verify),
        Some("verify_none") => Verify::None,
        Some("verify_peer") => Verify::Peer,
        Some(other) => {
            bail!("config key {prefix}.verify: '{other}' is not verify_peer or verify_none")
        }
    };
    let fail_if_no_peer_cert = match conf
        .get(&format!("{prefix}.fail_if_no_peer_cert"))
        .map(String::as_str)
    {
        None => fallback.is_some_and(|f| f.fail_if_no_peer_cert),
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            bail!("config key {prefix}.fail_if_no_peer_cert: '{other}' is not true or false")
        }
    };
    match (certfile, keyfile) {
        (Some(certfile), Some(keyfile)) => Ok(Some(TlsOptions {
            certfile,
            keyfile,
            cacertfile,
            verify,
            fail_if_no_peer_cert,
        })),
        (None, None) => Ok(None),
        (Some(_), None) => bail!("{prefix}.certfile is set but {prefix}.keyfile is not"),
        (None, Some(_)) => bail!("{prefix}.keyfile is set but {prefix}.certfile is not"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_conf;

    #[test]
    fn tls_is_off_unless_a_port_is_configured() {
        let conf =
            parse_conf("ssl_options.certfile = c.pem\nssl_options.keyfile = k.pem\n").unwrap();
        let args = ServeArgs::default();
        assert_eq!(amqps(&args, &conf).unwrap(), None);
        assert_eq!(https(&args, &conf).unwrap(), None);
    }

    #[test]
    fn numbered_ssl_listeners_each_bind() {
        let conf = parse_conf(
            "listeners.ssl.1 = 127.0.0.1:5671\nlisteners.ssl.2 = ::1:5672\n\
             ssl_options.certfile = c.pem\nssl_options.keyfile = k.pem\n",
        )
        .unwrap();
        let a = amqps(&ServeArgs::default(), &conf).unwrap().unwrap();
        let shown: Vec<String> = a.addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(shown, ["127.0.0.1:5671", "[::1]:5672"]);
        let off = parse_conf("listeners.ssl = none\n").unwrap();
        assert_eq!(amqps(&ServeArgs::default(), &off).unwrap(), None);
    }

    #[test]
    fn rabbitmq_conf_keys() {
        let conf = parse_conf(
            "listeners.ssl.default = 127.0.0.1:5999\n\
             ssl_options.certfile = /s/cert.pem\n\
             ssl_options.keyfile = /s/key.pem\n\
             ssl_options.cacertfile = /s/ca.pem\n\
             ssl_options.verify = verify_peer\n\
             ssl_options.fail_if_no_peer_cert = true\n\
             ssl_cert_login_from = distinguished_name\n\
             management.ssl.port = 15671\n\
             management.ssl.certfile = /m/cert.pem\n\
             management.ssl.keyfile = /m/key.pem\n",
        )
        .unwrap();
        let args = ServeArgs::default();
        let a = amqps(&args, &conf).unwrap().unwrap();
        assert_eq!(a.addrs[0], "127.0.0.1:5999".parse().unwrap());
        assert_eq!(a.login_from, CertLoginFrom::DistinguishedName);
        assert_eq!(
            a.options,
            TlsOptions {
                certfile: "/s/cert.pem".into(),
                keyfile: "/s/key.pem".into(),
                cacertfile: Some("/s/ca.pem".into()),
                verify: Verify::Peer,
                fail_if_no_peer_cert: true,
            }
        );
        let h = https(&args, &conf).unwrap().unwrap();
        assert_eq!(h.port, 15671);
        assert_eq!(h.options.certfile, PathBuf::from("/m/cert.pem"));
        assert_eq!(h.options.keyfile, PathBuf::from("/m/key.pem"));
        // Not given for management: taken from ssl_options.
        assert_eq!(h.options.cacertfile, Some("/s/ca.pem".into()));
    }

    #[test]
    fn flags_beat_the_file() {
        let conf = parse_conf("listeners.ssl.default = 5671\nssl_options.certfile = c.pem\nssl_options.keyfile = k.pem\n").unwrap();
        let args = ServeArgs {
            amqps_port: Some(6000),
            https_port: Some(6001),
            tls_cert: Some("flag.pem".into()),
            ..Default::default()
        };
        let a = amqps(&args, &conf).unwrap().unwrap();
        assert_eq!(a.addrs[0].port(), 6000);
        assert_eq!(a.options.certfile, PathBuf::from("flag.pem"));
        assert_eq!(a.options.keyfile, PathBuf::from("k.pem"));
        assert_eq!(a.login_from, CertLoginFrom::CommonName);
        let h = https(&args, &conf).unwrap().unwrap();
        assert_eq!(h.port, 6001);
        assert_eq!(h.options.certfile, PathBuf::from("flag.pem"));
    }

    #[test]
    fn bad_tls_settings_are_clear_errors() {
        let args = ServeArgs::default();
        let no_cert = parse_conf("listeners.ssl.default = 5671\n").unwrap();
        let e = amqps(&args, &no_cert).unwrap_err().to_string();
        assert!(e.contains("ssl_options.certfile"), "{e}");
        for text in [
            "listeners.ssl.default = nope\n",
            "listeners.ssl.default = 5671\nssl_options.certfile = c\nssl_options.keyfile = k\nssl_options.verify = maybe\n",
            "listeners.ssl.default = 5671\nssl_options.certfile = c\nssl_options.keyfile = k\nssl_options.fail_if_no_peer_cert = yes\n",
            "listeners.ssl.default = 5671\nssl_options.certfile = c\n",
            "listeners.ssl.default = 5671\nssl_options.certfile = c\nssl_options.keyfile = k\nssl_cert_login_from = email\n",
        ] {
            let conf = parse_conf(text).unwrap();
            assert!(amqps(&args, &conf).is_err(), "{text}");
        }
        let conf = parse_conf("management.ssl.port = x\n").unwrap();
        assert!(https(&args, &conf).is_err());
        let conf = parse_conf("management.ssl.port = 15671\n").unwrap();
        assert!(https(&args, &conf).is_err());
    }
}
