//! What a value under /registry is: the Kubernetes protobuf envelope
//! (`k8s\0` + `runtime.Unknown`), JSON, CBOR, an encrypted value
//! (`k8s:enc:<provider>:<version>:<name>:`), or something else; told apart
//! by the first bytes, as kube-apiserver's codecs do.
#![forbid(unsafe_code)]

use crate::proto::{self, Value};
use serde::Serialize;

/// The protobuf envelope's magic.
pub const MAGIC: &[u8] = b"k8s\0";

/// A decoded `runtime.Unknown` envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    /// The object's own protobuf bytes.
    pub raw: &'a [u8],
    pub content_encoding: &'a str,
    pub content_type: &'a str,
}

impl<'a> Envelope<'a> {
    /// Parse `k8s\0` + Unknown{1 typeMeta{1 apiVersion, 2 kind}, 2 raw,
    /// 3 contentEncoding, 4 contentType}.
    pub fn parse(b: &'a [u8]) -> Option<Envelope<'a>> {
        let body = b.strip_prefix(MAGIC)?;
        let mut env = Envelope {
            api_version: "",
            kind: "",
            raw: &[],
            content_encoding: "",
            content_type: "",
        };
        for f in proto::fields(body) {
            let (n, v, _) = f.ok()?;
            let Value::Bytes(x) = v else { return None };
            match n {
                1 => {
                    for g in proto::fields(x) {
                        let (m, w, _) = g.ok()?;
                        let Value::Bytes(s) = w else { return None };
                        let s = std::str::from_utf8(s).ok()?;
                        match m {
                            1 => env.api_version = s,
                            2 => env.kind = s,
                            _ => {}
                        }
                    }
                }
                2 => env.raw = x,
                3 => env.content_encoding = std::str::from_utf8(x).ok()?,
                4 => env.content_type = std::str::from_utf8(x).ok()?,
                _ => {}
            }
        }
        Some(env)
    }
}

/// An encrypted value's prefix, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Encrypted {
    /// `aescbc`, `aesgcm`, `secretbox`, `kms`, or what the prefix says.
    pub provider: String,
    /// `v1` or `v2`.
    pub version: String,
    /// The key name (aescbc/aesgcm/secretbox) or KMS plugin name.
    pub key_name: String,
}

/// What a stored value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<'a> {
    Protobuf(Envelope<'a>),
    /// Starts with `{` (after whitespace): JSON (custom resources, CRDs,
    /// APIServices, or a JSON storage media type).
    Json(&'a [u8]),
    /// Self-described CBOR (tag 55799: `d9 d9 f7`).
    Cbor(&'a [u8]),
    Encrypted(Encrypted),
    /// `k8s\0` whose envelope does not decode.
    DamagedProtobuf,
    Text(&'a str),
    Binary,
}

impl Stored<'_> {
    /// A short label for listings.
    pub fn label(&self) -> String {
        match self {
            Stored::Protobuf(e) => format!("protobuf {}/{}", e.api_version, e.kind),
            Stored::Json(_) => "json".into(),
            Stored::Cbor(_) => "cbor".into(),
            Stored::Encrypted(e) => {
                format!("encrypted {}:{}:{}", e.provider, e.version, e.key_name)
            }
            Stored::DamagedProtobuf => "damaged protobuf".into(),
            Stored::Text(_) => "text".into(),
            Stored::Binary => "binary".into(),
        }
    }
}

/// Recognise a value by its first bytes.
pub fn recognize(b: &[u8]) -> Stored<'_> {
    if let Some(rest) = b.strip_prefix(b"k8s:enc:") {
        // `<provider>:<version>:<name>:`; the name may be anything up to
        // the next colon (configs forbid colons in names).
        let mut parts = rest.splitn(4, |c| *c == b':');
        let mut s = || {
            parts
                .next()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default()
        };
        let (provider, version, key_name) = (s(), s(), s());
        return Stored::Encrypted(Encrypted {
            provider,
            version,
            key_name,
        });
    }
    if b.starts_with(MAGIC) {
        return match Envelope::parse(b) {
            Some(e) => Stored::Protobuf(e),
            None => Stored::DamagedProtobuf,
        };
    }
    if b.starts_with(&[0xd9, 0xd9, 0xf7]) {
        return Stored::Cbor(b);
    }
    let trimmed = b.trim_ascii_start();
    if trimmed.first() == Some(&b'{') {
        return Stored::Json(b);
    }
    match std::str::from_utf8(b) {
        Ok(s) if !has_control(s.as_bytes()) => Stored::Text(s),
        _ => Stored::Binary,
    }
}

/// Whether valid UTF-8 holds a control character that is not white space
/// (C0 but tab to carriage return, DEL, C1 but NEL), byte by byte: C1
/// characters are 0xC2 0x80..0x9F in UTF-8.
fn has_control(b: &[u8]) -> bool {
    b.iter().enumerate().any(|(i, &c)| match c {
        0x09..=0x0d => false,
        0x00..=0x1f | 0x7f => true,
        0xc2 => matches!(b.get(i + 1), Some(0x80..=0x84 | 0x86..=0x9f)),
        _ => false,
    })
}

/// The byte offset where an encrypted value's payload starts (after the
/// prefix through the key name's colon).
pub fn encrypted_payload(b: &[u8]) -> Option<&[u8]> {
    let rest = b.strip_prefix(b"k8s:enc:")?;
    let mut colons = 0;
    for (i, c) in rest.iter().enumerate() {
        if *c == b':' {
            colons += 1;
            if colons == 3 {
                return rest.get(i + 1..);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_by_byte_are_those_by_char() {
        for c in (0u32..0x3100).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            assert_eq!(
                has_control(s.as_bytes()),
                c.is_control() && !c.is_whitespace(),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn recognises_each_form() {
        assert!(matches!(recognize(b"{\"a\":1}\n"), Stored::Json(_)));
        assert!(matches!(
            recognize(&[0xd9, 0xd9, 0xf7, 0xa0]),
            Stored::Cbor(_)
        ));
        assert!(matches!(recognize(b"k8s\0\xff"), Stored::DamagedProtobuf));
        assert!(matches!(recognize(b"12345"), Stored::Text("12345")));
        assert!(matches!(recognize(b"\x00\x01"), Stored::Binary));
        let Stored::Encrypted(e) = recognize(b"k8s:enc:aescbc:v1:key1:\x01\x02") else {
            panic!("not encrypted")
        };
        assert_eq!(
            (e.provider.as_str(), e.version.as_str(), e.key_name.as_str()),
            ("aescbc", "v1", "key1")
        );
        assert_eq!(
            encrypted_payload(b"k8s:enc:kms:v2:plug:xyz"),
            Some(&b"xyz"[..])
        );
    }
}
