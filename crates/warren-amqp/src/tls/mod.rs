//! TLS settings shared by the amqps listener and the management API's HTTPS
//! listener: PEM certificate, key and CA files turned into a rustls
//! `ServerConfig` (ring provider, TLS 1.2 and 1.3), with RabbitMQ's
//! `verify` / `fail_if_no_peer_cert` semantics for client certificates.

pub mod subject;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

pub use subject::Subject;

/// Whether client certificates are requested (`ssl_options.verify`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verify {
    /// `verify_none`: no client certificate is requested (the default).
    #[default]
    None,
    /// `verify_peer`: a client certificate is requested and, when presented,
    /// must chain to `cacertfile`.
    Peer,
}

/// Which part of a client certificate names the user logging in with
/// EXTERNAL (`ssl_cert_login_from`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertLoginFrom {
    /// The subject's CN (Warren's default).
    #[default]
    CommonName,
    /// The whole subject DN in RFC 4514 form, e.g. `CN=guest,O=client`
    /// (RabbitMQ's default).
    DistinguishedName,
}

impl CertLoginFrom {
    /// The user name a certificate subject logs in as, if it names one.
    pub fn user_name(self, subject: &Subject) -> Option<String> {
        match self {
            CertLoginFrom::CommonName => subject.common_name().map(str::to_string),
            CertLoginFrom::DistinguishedName => Some(subject.distinguished_name()),
        }
    }
}

/// Certificate, key and client-verification settings of one TLS listener
/// (`ssl_options.*` or `management.ssl.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file with the server certificate (and any intermediates after it).
    pub certfile: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1, unencrypted).
    pub keyfile: PathBuf,
    /// PEM file with the CA certificates client certificates must chain to.
    pub cacertfile: Option<PathBuf>,
    /// Whether client certificates are requested.
    pub verify: Verify,
    /// With `verify_peer`: refuse clients that present no certificate.
    pub fail_if_no_peer_cert: bool,
}

/// Why TLS settings could not be turned into a server configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM file holds nothing usable of the expected kind.
    #[error("{what} {path} is not valid PEM: {reason}")]
    Pem {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `verify_peer` without a CA file to verify against.
    #[error(
        "ssl_options.verify = verify_peer needs a cacertfile to verify client certificates against"
    )]
    NoCaFile,
    /// rustls refused the combination (e.g. the key does not match the certificate).
    #[error("invalid TLS settings ({certfile}, {keyfile}): {source}")]
    Rustls {
        /// The certificate file.
        certfile: PathBuf,
        /// The key file.
        keyfile: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// The client-certificate verifier could not be built.
    #[error("invalid CA certificates in {path}: {reason}")]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The ring crypto provider, used explicitly so the process needs no
/// default provider installed.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let pem_error = |reason: String| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE section found".into()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read("keyfile", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        what: "keyfile",
        path: path.to_path_buf(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no unencrypted private key found (password-protected keys are not supported)"
                    .into()
            }
            other => other.to_string(),
        },
    })
}

/// Builds the rustls server configuration for `options`, failing with a
/// clear error on unreadable or invalid files or a key that does not match.
pub fn server_config(options: &TlsOptions) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = certificates("certfile", &options.certfile)?;
    let key = private_key(&options.keyfile)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            certfile: options.certfile.clone(),
            keyfile: options.keyfile.clone(),
            source,
        })?;
    let builder = match options.verify {
        Verify::None => builder.with_no_client_auth(),
        Verify::Peer => {
            let path = options.cacertfile.as_ref().ok_or(TlsError::NoCaFile)?;
            let mut roots = RootCertStore::empty();
            for cert in certificates("cacertfile", path)? {
                roots.add(cert).map_err(|e| TlsError::Verifier {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider());
            let verifier = if options.fail_if_no_peer_cert {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier.build().map_err(|e| TlsError::Verifier {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::Rustls {
            certfile: options.certfile.clone(),
            keyfile: options.keyfile.clone(),
            source,
        })?;
    Ok(Arc::new(config))
}

/// What the amqps listener needs: the rustls configuration and how
/// EXTERNAL derives a user name from a client certificate.
#[derive(Clone)]
pub struct AmqpsSettings {
    /// The server configuration (see [`server_config`]).
    pub config: Arc<ServerConfig>,
    /// `ssl_cert_login_from`.
    pub login_from: CertLoginFrom,
}
