//! The subject of a verified X.509 client certificate, for the EXTERNAL SASL
//! mechanism: its common name (CN) and its distinguished name formatted as
//! RFC 4514 (and RabbitMQ's `rabbit_ssl`) do, e.g. `CN=guest,O=client`.
//!
//! A minimal DER walker: the certificate has already been verified by
//! rustls/webpki, so only the few fields leading to the subject are read.
//! Malformed input yields `None`, never a panic.

/// One attribute of the subject: its type (short name or dotted OID) and value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attribute {
    name: String,
    value: String,
}

/// The subject of a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Relative distinguished names in certificate (DER) order, each one or
    /// more attributes.
    rdns: Vec<Vec<Attribute>>,
}

impl Subject {
    /// Reads the subject of a DER-encoded certificate.
    pub fn from_der(cert: &[u8]) -> Option<Subject> {
        let (tag, cert, _) = tlv(cert)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, mut tbs, _) = tlv(cert)?;
        if tag != SEQUENCE {
            return None;
        }
        // version [0] EXPLICIT (optional), serialNumber, signature, issuer,
        // validity, then subject.
        let (tag, _, rest) = tlv(tbs)?;
        if tag == VERSION {
            tbs = rest;
        }
        for _ in 0..4 {
            let (_, _, rest) = tlv(tbs)?;
            tbs = rest;
        }
        let (tag, mut name, _) = tlv(tbs)?;
        if tag != SEQUENCE {
            return None;
        }
        let mut rdns = Vec::new();
        while !name.is_empty() {
            let (tag, mut set, rest) = tlv(name)?;
            if tag != SET {
                return None;
            }
            name = rest;
            let mut rdn = Vec::new();
            while !set.is_empty() {
                let (tag, pair, rest) = tlv(set)?;
                if tag != SEQUENCE {
                    return None;
                }
                set = rest;
                let (tag, oid, rest) = tlv(pair)?;
                if tag != OID {
                    return None;
                }
                let (tag, value, _) = tlv(rest)?;
                rdn.push(Attribute {
                    name: attribute_name(oid)?,
                    value: string_value(tag, value)?,
                });
            }
            rdns.push(rdn);
        }
        Some(Subject { rdns })
    }

    /// The common name, if the subject has exactly one (RabbitMQ refuses a
    /// certificate with none or several).
    pub fn common_name(&self) -> Option<&str> {
        let mut cns = self
            .rdns
            .iter()
            .flatten()
            .filter(|a| a.name == "CN")
            .map(|a| a.value.as_str());
        let first = cns.next()?;
        cns.next().is_none().then_some(first)
    }

    /// The distinguished name as RFC 4514 writes it: the last RDN first,
    /// joined by `,`; attributes of one RDN joined by `+`; specials escaped.
    pub fn distinguished_name(&self) -> String {
        self.rdns
            .iter()
            .rev()
            .map(|rdn| {
                rdn.iter()
                    .map(|a| format!("{}={}", a.name, escape(&a.value)))
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;

/// Splits one DER TLV off `input`: (tag, contents, rest). Single-byte tags
/// only (all the certificate fields read here have one).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// RFC 4514's short names for the usual attribute types, the dotted OID otherwise.
fn attribute_name(oid: &[u8]) -> Option<String> {
    let known = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return dotted(oid),
    };
    Some(known.to_string())
}

/// An OID's dotted-decimal form.
fn dotted(oid: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in oid {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Decodes the DirectoryString types certificates use.
fn string_value(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, TeletexString (read as Latin-1
        // when not UTF-8), VisibleString
        0x0c | 0x13 | 0x16 | 0x1a => String::from_utf8(value.to_vec()).ok(),
        0x14 => Some(
            String::from_utf8(value.to_vec())
                .unwrap_or_else(|_| value.iter().map(|&b| b as char).collect()),
        ),
        // BMPString: UTF-16BE
        0x1e => {
            if !value.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE
        0x1c => {
            if !value.len().is_multiple_of(4) {
                return None;
            }
            value
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// RFC 4514 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(dn: rcgen::DistinguishedName) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn common_name_and_distinguished_name() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "NL");
        dn.push(rcgen::DnType::OrganizationName, "Acme, Inc.");
        dn.push(rcgen::DnType::CommonName, "guest");
        let subject = Subject::from_der(&cert_with(dn)).unwrap();
        assert_eq!(subject.common_name(), Some("guest"));
        assert_eq!(subject.distinguished_name(), "CN=guest,O=Acme\\, Inc.,C=NL");
    }

    #[test]
    fn no_common_name() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::OrganizationName, "x");
        let subject = Subject::from_der(&cert_with(dn)).unwrap();
        assert_eq!(subject.common_name(), None);
        assert_eq!(subject.distinguished_name(), "O=x");
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        let der = {
            let mut dn = rcgen::DistinguishedName::new();
            dn.push(rcgen::DnType::CommonName, "guest");
            cert_with(dn)
        };
        for cut in 0..der.len() {
            let _ = Subject::from_der(&der[..cut]);
        }
        assert_eq!(Subject::from_der(&[]), None);
        assert_eq!(
            Subject::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]).unwrap(),
            "1.2.840.113549"
        );
    }
}
