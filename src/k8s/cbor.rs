//! CBOR as Kubernetes' storage encoder writes it (RFC 8949 with the
//! self-describe tag 55799 first, strings and map keys often as byte
//! strings, `[]byte` as byte strings under tag 22), converted to the JSON
//! the apiserver would serve. Every length is bounds-checked; nesting is
//! limited; indefinite lengths (which the encoder never writes) are refused.
#![forbid(unsafe_code)]

use serde_json::{Map, Number, Value as Json};

const MAX_DEPTH: usize = 128;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let x = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(x)
    }

    fn take(&mut self, n: u64) -> Option<&[u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn arg(&mut self, info: u8) -> Option<u64> {
        Some(match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        })
    }

    fn value(&mut self, depth: usize, base64: bool) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        let ib = self.byte()?;
        let (major, info) = (ib >> 5, ib & 0x1f);
        Some(match major {
            0 => Json::from(self.arg(info)?),
            1 => {
                let n = self.arg(info)?;
                Json::from(-1i64.checked_sub(i64::try_from(n).ok()?)?)
            }
            2 | 3 => {
                let n = self.arg(info)?;
                let s = self.take(n)?;
                if base64 {
                    Json::String(crate::etcd::records::b64::encode(s))
                } else {
                    Json::String(std::str::from_utf8(s).ok()?.to_string())
                }
            }
            4 => {
                let n = self.arg(info)?;
                // Each element takes at least a byte: bound the reservation.
                let mut a = Vec::with_capacity(usize::try_from(n).ok()?.min(self.b.len()));
                for _ in 0..n {
                    a.push(self.value(depth + 1, false)?);
                }
                Json::Array(a)
            }
            5 => {
                let n = self.arg(info)?;
                let mut m = Map::new();
                for _ in 0..n {
                    let k = match self.value(depth + 1, false)? {
                        Json::String(s) => s,
                        other => other.to_string(),
                    };
                    let v = self.value(depth + 1, false)?;
                    m.insert(k, v);
                }
                Json::Object(m)
            }
            6 => {
                let tag = self.arg(info)?;
                // 22: "expected base64" for []byte; others pass through.
                self.value(depth + 1, tag == 22)?
            }
            7 => match info {
                20 => Json::Bool(false),
                21 => Json::Bool(true),
                22 | 23 => Json::Null,
                25 => float(half(u16::from_be_bytes(self.take(2)?.try_into().ok()?)))?,
                26 => float(f64::from(f32::from_be_bytes(
                    self.take(4)?.try_into().ok()?,
                )))?,
                27 => float(f64::from_be_bytes(self.take(8)?.try_into().ok()?))?,
                _ => return None,
            },
            _ => return None,
        })
    }
}

fn half(h: u16) -> f64 {
    let exp = (h >> 10) & 0x1f;
    let mant = f64::from(h & 0x3ff);
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 => f64::NAN,
        e => (mant + 1024.0) * 2f64.powi(i32::from(e) - 25),
    };
    if h & 0x8000 != 0 {
        -v
    } else {
        v
    }
}

fn float(f: f64) -> Option<Json> {
    // Integral floats print as integers, as kubectl's unstructured view does.
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Some(Json::from(f as i64));
    }
    Number::from_f64(f).map(Json::Number)
}

/// Convert a whole CBOR value (with or without the self-describe tag).
pub fn to_json(b: &[u8]) -> Option<Json> {
    let mut r = Reader { b, pos: 0 };
    let v = r.value(0, false)?;
    (r.pos == b.len()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_style_cbor() {
        // 55799({h'61': 1, "b": [true, null, 1.5], "c": 22(h'0102')})
        let b = [
            0xd9, 0xd9, 0xf7, 0xa3, 0x41, b'a', 0x01, 0x61, b'b', 0x83, 0xf5, 0xf6, 0xf9, 0x3e,
            0x00, 0x61, b'c', 0xd6, 0x42, 1, 2,
        ];
        let j = to_json(&b).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"a": 1, "b": [true, null, 1.5], "c": "AQI="})
        );
        assert!(to_json(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_none());
        let deep = vec![0x81u8; 1000];
        assert!(to_json(&deep).is_none());
    }
}
