//! `mvccpb.KeyValue`, the value of every `key`-bucket entry:
//! key=1, create_revision=2, mod_revision=3, version=4, value=5, lease=6.

use crate::proto::{self, ProtoError};

/// A decoded stored key value (borrowing the key and value bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyValue<'a> {
    pub key: &'a [u8],
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub value: &'a [u8],
    pub lease: i64,
    /// Which fields were present (bit n for field n).
    pub present: u8,
}

/// Why a stored value is not a `KeyValue` as etcd writes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyValueError {
    #[error("{0}")]
    Wire(#[from] ProtoError),
    #[error("unknown field {field} at byte {at}")]
    UnknownField { field: u32, at: usize },
    #[error("field {field} at byte {at} is out of order or repeated")]
    Order { field: u32, at: usize },
}

impl<'a> KeyValue<'a> {
    /// Decode strictly: known fields only, each at most once, in field order
    /// (every etcd version writes them so).
    pub fn decode(b: &'a [u8]) -> Result<KeyValue<'a>, KeyValueError> {
        let mut kv = KeyValue::default();
        let mut last = 0u32;
        for f in proto::fields(b) {
            let (field, v, at) = f?;
            if field <= last && (1..=6).contains(&field) {
                return Err(KeyValueError::Order { field, at });
            }
            last = field;
            match field {
                1 => kv.key = v.as_bytes(field, at)?,
                2 => kv.create_revision = v.as_u64(field, at)? as i64,
                3 => kv.mod_revision = v.as_u64(field, at)? as i64,
                4 => kv.version = v.as_u64(field, at)? as i64,
                5 => kv.value = v.as_bytes(field, at)?,
                6 => kv.lease = v.as_u64(field, at)? as i64,
                _ => return Err(KeyValueError::UnknownField { field, at }),
            }
            kv.present |= 1 << field;
        }
        Ok(kv)
    }

    pub fn has(&self, field: u32) -> bool {
        self.present & (1 << field) != 0
    }

    /// Encode as etcd does (proto3: zero values omitted).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.key.len() + self.value.len() + 40);
        put_bytes(&mut out, 1, self.key);
        put_varint_field(&mut out, 2, self.create_revision as u64);
        put_varint_field(&mut out, 3, self.mod_revision as u64);
        put_varint_field(&mut out, 4, self.version as u64);
        put_bytes(&mut out, 5, self.value);
        put_varint_field(&mut out, 6, self.lease as u64);
        out
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_varint(out, u64::from(field) << 3);
        put_varint(out, v);
    }
}

fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    if !b.is_empty() {
        put_varint(out, (u64::from(field) << 3) | 2);
        put_varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode() {
        let kv = KeyValue {
            key: b"foo",
            create_revision: 2,
            mod_revision: 37,
            version: 3,
            value: b"bar",
            lease: 0,
            present: 0,
        };
        let b = kv.encode();
        let d = KeyValue::decode(&b).unwrap();
        assert_eq!(
            (d.key, d.mod_revision, d.version, d.value),
            (&b"foo"[..], 37, 3, &b"bar"[..])
        );
        assert!(!d.has(6));
        // Truncation is an error.
        assert!(KeyValue::decode(&b[..b.len() - 1]).is_err());
        // An unknown field is an error.
        let mut x = b.clone();
        x.extend_from_slice(&[0x38, 0x01]);
        assert!(matches!(
            KeyValue::decode(&x),
            Err(KeyValueError::UnknownField { field: 7, .. })
        ));
    }
}
