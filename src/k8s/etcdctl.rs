//! Values piped in from etcdctl: a bare value (`etcdctl get KEY
//! --print-value-only`, or a file holding one), or etcdctl's default
//! output, a key line then the value and a newline, for one key or many
//! (`--prefix`). Values may hold newlines, so the pairs are split by what
//! each value is: a protobuf envelope (`k8s\0` + `runtime.Unknown`) ends
//! where its fields end (they come in increasing field order, and the
//! separator newline would read as field 1 again); a JSON or text value is
//! one line; an encrypted value (opaque bytes) runs to the next line that
//! starts with the first key's top-level prefix.
#![forbid(unsafe_code)]

/// One value, with the key it was printed under (empty for a bare value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// The length of the protobuf envelope at the start of `b`: fields in
/// increasing order, stopping before the first that is not.
fn envelope_len(b: &[u8]) -> usize {
    let mut pos = 4;
    let mut last = 0u64;
    loop {
        let mut p = pos;
        let Ok(tag) = crate::proto::varint(b, &mut p) else {
            return pos;
        };
        let (field, wire) = (tag >> 3, tag & 7);
        if field <= last || field == 0 {
            return pos;
        }
        let end = match wire {
            0 => match crate::proto::varint(b, &mut p) {
                Ok(_) => p,
                Err(_) => return pos,
            },
            2 => match crate::proto::varint(b, &mut p) {
                Ok(n) => match usize::try_from(n).ok().and_then(|n| p.checked_add(n)) {
                    Some(e) if e <= b.len() => e,
                    _ => return pos,
                },
                Err(_) => return pos,
            },
            1 if p + 8 <= b.len() => p + 8,
            5 if p + 4 <= b.len() => p + 4,
            _ => return pos,
        };
        last = field;
        pos = end;
    }
}

/// Split what etcdctl printed into values. Input that does not start with
/// `/` is one bare value (a trailing newline after a protobuf value, which
/// `--print-value-only` adds, is dropped).
pub fn split(input: &[u8]) -> Vec<Pair> {
    if !input.starts_with(b"/") {
        let mut v = input.to_vec();
        // etcdctl's newline after the value; an encrypted value's own
        // last byte cannot be told from it, so it is taken as etcdctl's
        // (as for every value etcdctl printed).
        let protobuf_tail = v.starts_with(b"k8s\0") && envelope_len(&v) < v.len();
        if (protobuf_tail || v.starts_with(b"k8s:enc:")) && v.ends_with(b"\n") {
            v.pop();
        }
        return vec![Pair {
            key: vec![],
            value: v,
        }];
    }
    // The first key's top-level segment, e.g. `/registry/`.
    let top: Vec<u8> = {
        let after = input.get(1..).unwrap_or_default();
        match after.iter().position(|&c| c == b'/' || c == b'\n') {
            Some(i) if after.get(i) == Some(&b'/') => input[..i + 2].to_vec(),
            _ => b"/".to_vec(),
        }
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        let Some(nl) = rest.iter().position(|&c| c == b'\n') else {
            // A key with no value line: etcdctl printed nothing after it.
            out.push(Pair {
                key: rest.to_vec(),
                value: vec![],
            });
            break;
        };
        let key = rest[..nl].to_vec();
        let body = &rest[nl + 1..];
        let vlen = if body.starts_with(b"k8s\0") {
            envelope_len(body)
        } else if body.starts_with(b"k8s:enc:") {
            // Opaque: up to the next newline followed by a key line.
            let mut i = 0;
            loop {
                match body[i..].iter().position(|&c| c == b'\n') {
                    None => break body.len() - usize::from(body.ends_with(b"\n")),
                    Some(j) => {
                        let at = i + j;
                        if body[at + 1..].starts_with(&top) {
                            break at;
                        }
                        i = at + 1;
                    }
                }
            }
        } else {
            body.iter().position(|&c| c == b'\n').unwrap_or(body.len())
        };
        let vlen = vlen.min(body.len());
        out.push(Pair {
            key,
            value: body[..vlen].to_vec(),
        });
        pos += nl + 1 + vlen;
        // The separator newline, and the empty line a JSON value's own
        // trailing newline leaves.
        while input.get(pos) == Some(&b'\n') {
            pos += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protobuf envelope whose raw bytes hold newlines and `\n/`.
    fn envelope(raw: &[u8]) -> Vec<u8> {
        let tm = b"\x0a\x02v1\x12\x09ConfigMap";
        let mut v = b"k8s\0".to_vec();
        v.push(0x0a);
        v.push(tm.len() as u8);
        v.extend_from_slice(tm);
        v.push(0x12);
        v.push(raw.len() as u8);
        v.extend_from_slice(raw);
        v.extend_from_slice(b"\x1a\x00\x22\x00");
        v
    }

    #[test]
    fn etcdctl_pairs_split_whatever_the_values_hold() {
        let a = envelope(b"\n\x05a\n/b\n\n/registry/x\n");
        let b = envelope(b"\x0a\x01b");
        let json = b"{\"kind\":\"Widget\"}\n".to_vec();
        let enc = b"k8s:enc:aescbc:v1:key1:\x00\n/\x01\n\xff".to_vec();
        let mut input = Vec::new();
        for (k, v) in [
            (&b"/registry/configmaps/a/x"[..], &a),
            (b"/registry/example.com/widgets/w", &json),
            (b"/registry/secrets/s/e", &enc),
            (b"/registry/configmaps/a/y", &b),
        ] {
            input.extend_from_slice(k);
            input.push(b'\n');
            input.extend_from_slice(v);
            input.push(b'\n');
        }
        let pairs = split(&input);
        assert_eq!(pairs.len(), 4, "{pairs:?}");
        assert_eq!(pairs[0].value, a);
        assert_eq!(pairs[1].key, b"/registry/example.com/widgets/w");
        assert_eq!(pairs[1].value, b"{\"kind\":\"Widget\"}");
        assert_eq!(pairs[2].value, enc);
        assert_eq!(pairs[3].key, b"/registry/configmaps/a/y");
        assert_eq!(pairs[3].value, b);
    }

    #[test]
    fn bare_values_stay_whole() {
        let a = envelope(b"\n\x01x");
        let mut printed = a.clone();
        printed.push(b'\n');
        assert_eq!(split(&printed)[0].value, a);
        assert_eq!(split(&a)[0].value, a);
        assert_eq!(split(b"{\"a\":1}\n")[0].value, b"{\"a\":1}\n");
    }
}
