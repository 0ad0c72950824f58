//! Expiry dates of the TLS listeners' certificates, for
//! /api/health/checks/certificate-expiration: the `notAfter` of every
//! certificate in a PEM file, read with a minimal DER walk (Certificate →
//! tbsCertificate → validity).

use base64::Engine;

/// One TLS listener's certificate files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListenerFiles {
    /// RabbitMQ's protocol name ("amqp/ssl", "https").
    pub protocol: String,
    /// The listener's address.
    pub addr: std::net::SocketAddr,
    /// The server certificate (chain), PEM.
    pub certfile: std::path::PathBuf,
    /// The CA bundle, PEM, if configured.
    pub cacertfile: Option<std::path::PathBuf>,
}

/// DER blocks of every `CERTIFICATE` in PEM text.
fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        match (&mut body, line) {
            (None, "-----BEGIN CERTIFICATE-----") => body = Some(String::new()),
            (Some(b), "-----END CERTIFICATE-----") => {
                if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b.as_bytes()) {
                    out.push(der);
                }
                body = None;
            }
            (Some(b), l) => b.push_str(l),
            (None, _) => {}
        }
    }
    out
}

/// One DER element: (tag, contents, the bytes after it).
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as seconds
/// since the Unix epoch.
fn asn1_time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if text.len() == 12 => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        0x18 if text.len() == 14 => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |i: usize| rest.get(i..i + 2)?.parse::<i64>().ok();
    let (month, day, h, m, s) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `notAfter` of a DER certificate, in seconds since the Unix epoch.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    // An explicit [0] version comes first when present.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature, issuer, then validity.
    for _ in 0..3 {
        rest = tlv(rest)?.2;
    }
    let (_, validity, _) = tlv(rest)?;
    let (_, _, after_not_before) = tlv(validity)?;
    let (tag, time, _) = tlv(after_not_before)?;
    asn1_time(tag, time)
}

/// The expiry of every certificate in a PEM file (empty if unreadable).
pub fn file_expiries(path: &std::path::Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .map(|t| {
            pem_certificates(&t)
                .iter()
                .filter_map(|c| not_after(c))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_not_after_of_generated_certificates() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 7, 15);
        let pem = params.self_signed(&key).unwrap().pem();
        let mut long = rcgen::CertificateParams::new(vec!["ca".into()]).unwrap();
        long.not_after = rcgen::date_time_ymd(2055, 1, 2);
        let pem2 = long.self_signed(&key).unwrap().pem();
        let both = format!("{pem}{pem2}");
        let expiries: Vec<i64> = pem_certificates(&both)
            .iter()
            .filter_map(|c| not_after(c))
            .collect();
        // 2031-07-15 and 2055-01-02 at 00:00:00 UTC (GeneralizedTime from 2050 on).
        assert_eq!(expiries, [1_941_840_000, 2_682_460_800]);
    }

    #[test]
    fn garbage_is_no_certificate() {
        assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        assert!(
            pem_certificates("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
                .is_empty()
        );
    }
}
