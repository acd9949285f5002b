//! A minimal protobuf wire-format reader: varints and fields over a byte
//! slice, every read bounds-checked. Schema knowledge lives with the types
//! that use it (etcd records, WAL records, Kubernetes objects).
#![forbid(unsafe_code)]

/// A field's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// A decoding failure, with the byte offset where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("truncated varint at byte {0}")]
    Varint(usize),
    #[error("field at byte {at} runs {need} bytes past the end ({have} left)")]
    Truncated { at: usize, need: u64, have: usize },
    #[error("unsupported wire type {wire} at byte {at}")]
    WireType { wire: u8, at: usize },
    #[error("field number 0 at byte {0}")]
    FieldZero(usize),
    #[error("field {field} has wire type {found}, expected {expected} (at byte {at})")]
    WrongType {
        field: u32,
        found: &'static str,
        expected: &'static str,
        at: usize,
    },
}

/// Decode a varint at `*pos`, advancing it.
pub fn varint(b: &[u8], pos: &mut usize) -> Result<u64, ProtoError> {
    let start = *pos;
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*pos).ok_or(ProtoError::Varint(start))?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return Err(ProtoError::Varint(start));
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(ProtoError::Varint(start))
}

/// Iterator over the (field number, value, offset) triples of a message.
pub struct Fields<'a> {
    b: &'a [u8],
    pos: usize,
    failed: bool,
}

pub fn fields(b: &[u8]) -> Fields<'_> {
    Fields {
        b,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>, usize), ProtoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.b.len() {
            return None;
        }
        let r = self.read();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> Result<(u32, Value<'a>, usize), ProtoError> {
        let at = self.pos;
        let tag = varint(self.b, &mut self.pos)?;
        let field = u32::try_from(tag >> 3).map_err(|_| ProtoError::FieldZero(at))?;
        if field == 0 {
            return Err(ProtoError::FieldZero(at));
        }
        let left = self.b.len() - self.pos;
        let take = |pos: &mut usize, n: u64| -> Result<&'a [u8], ProtoError> {
            if n > left as u64 {
                return Err(ProtoError::Truncated {
                    at,
                    need: n,
                    have: left,
                });
            }
            let s = &self.b[*pos..*pos + n as usize];
            *pos += n as usize;
            Ok(s)
        };
        let value = match (tag & 7) as u8 {
            0 => Value::Varint(varint(self.b, &mut self.pos)?),
            1 => {
                let s = take(&mut self.pos, 8)?;
                Value::Fixed64(u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
            }
            2 => {
                let n = varint(self.b, &mut self.pos)?;
                let left = self.b.len() - self.pos;
                if n > left as u64 {
                    return Err(ProtoError::Truncated {
                        at,
                        need: n,
                        have: left,
                    });
                }
                let s = &self.b[self.pos..self.pos + n as usize];
                self.pos += n as usize;
                Value::Bytes(s)
            }
            5 => {
                let s = take(&mut self.pos, 4)?;
                Value::Fixed32(u32::from_le_bytes(s.try_into().unwrap_or([0; 4])))
            }
            wire => return Err(ProtoError::WireType { wire, at }),
        };
        Ok((field, value, at))
    }
}

impl<'a> Value<'a> {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Varint(_) => "varint",
            Value::Fixed64(_) => "fixed64",
            Value::Bytes(_) => "bytes",
            Value::Fixed32(_) => "fixed32",
        }
    }

    pub fn as_u64(&self, field: u32, at: usize) -> Result<u64, ProtoError> {
        match *self {
            Value::Varint(v) => Ok(v),
            _ => Err(self.wrong(field, "varint", at)),
        }
    }

    pub fn as_bytes(&self, field: u32, at: usize) -> Result<&'a [u8], ProtoError> {
        match *self {
            Value::Bytes(b) => Ok(b),
            _ => Err(self.wrong(field, "bytes", at)),
        }
    }

    fn wrong(&self, field: u32, expected: &'static str, at: usize) -> ProtoError {
        ProtoError::WrongType {
            field,
            found: self.kind(),
            expected,
            at,
        }
    }
}

/// Every field of a message, or `None` if any of it does not decode.
pub fn message(b: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    fields(b).map(|f| f.ok().map(|(n, v, _)| (n, v))).collect()
}

/// The last bytes field numbered `n` (proto3: the last one wins), or empty.
pub fn last_bytes(fs: &[(u32, Value<'_>)], n: u32) -> Vec<u8> {
    fs.iter()
        .rev()
        .find_map(|(f, v)| match v {
            Value::Bytes(b) if *f == n => Some(b.to_vec()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The last varint field numbered `n`, or 0.
pub fn last_varint(fs: &[(u32, Value<'_>)], n: u32) -> u64 {
    fs.iter()
        .rev()
        .find_map(|(f, v)| match v {
            Value::Varint(x) if *f == n => Some(*x),
            _ => None,
        })
        .unwrap_or(0)
}

/// Every bytes field numbered `n`, in order (a repeated field).
pub fn repeated_bytes<'a>(fs: &[(u32, Value<'a>)], n: u32) -> Vec<&'a [u8]> {
    fs.iter()
        .filter_map(|(f, v)| match v {
            Value::Bytes(b) if *f == n => Some(*b),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields() {
        let mut p = 0;
        assert_eq!(varint(&[0xac, 0x02], &mut p), Ok(300));
        assert_eq!(p, 2);
        let mut p = 0;
        assert!(varint(&[0x80], &mut p).is_err());
        let mut p = 0;
        assert!(varint(&[0xff; 11], &mut p).is_err());
        let msg = [0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i'];
        let got: Vec<_> = fields(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1, Value::Varint(150));
        assert_eq!(got[1].1, Value::Bytes(b"hi"));
        // A length running past the end is an error, not a panic.
        let bad = [0x12, 0x7f, 0];
        assert!(fields(&bad).any(|r| r.is_err()));
    }
}
