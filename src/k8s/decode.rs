//! Kubernetes protobuf to the JSON the apiserver serves, following a
//! [`Schema`]: JSON names, nested and repeated messages, maps, inline
//! members, Go's omitempty/pointer presence rules, and the special types.
//! Nothing is hidden: an unknown kind decodes schemaless (field numbers),
//! an unknown field appears as `x-unknown-field-<n>`, damaged bytes as
//! `x-undecodable-bytes`, and each such place is noted.
#![forbid(unsafe_code)]

use super::envelope::Envelope;
use super::schema::{Field, Schema, Ty};
use super::time;
use crate::etcd::records::b64;
use crate::proto::{self, Value};
use serde_json::{Map, Value as Json};

/// Deepest nesting decoded; deeper (only damaged or hostile data) is shown
/// as base64.
const MAX_DEPTH: usize = 64;

/// Where in the object the decoder is, built on the stack and only turned
/// into text when a note needs it.
#[derive(Clone, Copy)]
struct At<'a> {
    parent: Option<&'a At<'a>>,
    seg: &'a str,
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = self.parent {
            write!(f, "{p}.")?;
        }
        f.write_str(self.seg)
    }
}

/// A decoded object and what could not be decoded by the schema.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub object: Json,
    /// Places decoded without (or against) the schema, as JSON paths.
    pub notes: Vec<String>,
}

/// Decode an envelope's object.
pub fn decode_envelope(schema: &Schema, env: &Envelope<'_>) -> Decoded {
    let mut notes = Vec::new();
    let mut obj = match schema.kind(env.api_version, env.kind) {
        Some(t) => decode_msg(
            schema,
            t,
            env.raw,
            0,
            At {
                parent: None,
                seg: "",
            },
            &mut notes,
        ),
        None => {
            notes.push(format!(
                "kind {} {} is not in the schema: fields shown by number (schemaless)",
                env.api_version, env.kind
            ));
            match schemaless(env.raw, 0) {
                Json::Object(m) => m,
                other => {
                    let mut m = Map::new();
                    m.insert("x-undecodable-bytes".into(), other);
                    m
                }
            }
        }
    };
    obj.insert("apiVersion".into(), Json::String(env.api_version.into()));
    obj.insert("kind".into(), Json::String(env.kind.into()));
    Decoded {
        object: Json::Object(obj),
        notes,
    }
}

fn zero_of(ty: &Ty) -> Json {
    match ty {
        Ty::String => Json::String(String::new()),
        Ty::Int => Json::from(0),
        Ty::Bool => Json::Bool(false),
        _ => Json::Null,
    }
}

fn is_zero(j: &Json) -> bool {
    match j {
        Json::String(s) => s.is_empty(),
        Json::Number(n) => n.as_i64() == Some(0),
        Json::Bool(b) => !b,
        Json::Null => true,
        _ => false,
    }
}

fn decode_msg(
    schema: &Schema,
    t: usize,
    b: &[u8],
    depth: usize,
    path: At<'_>,
    notes: &mut Vec<String>,
) -> Map<String, Json> {
    let mut out = Map::new();
    let Some(msg) = schema.message(t) else {
        return out;
    };
    if depth > MAX_DEPTH {
        notes.push(format!("{path}: nested too deep, shown as base64"));
        out.insert("x-undecodable-bytes".into(), Json::String(b64::encode(b)));
        return out;
    }
    let mut seen: Vec<u32> = Vec::new();
    let mut it = proto::fields(b);
    loop {
        let item = match it.next() {
            None => break,
            Some(Ok(x)) => x,
            Some(Err(e)) => {
                notes.push(format!(
                    "{path}: {e}; the rest of this object is shown as base64"
                ));
                let at = match e {
                    proto::ProtoError::Varint(at)
                    | proto::ProtoError::FieldZero(at)
                    | proto::ProtoError::Truncated { at, .. }
                    | proto::ProtoError::WireType { at, .. }
                    | proto::ProtoError::WrongType { at, .. } => at,
                };
                out.insert(
                    "x-undecodable-bytes".into(),
                    Json::String(b64::encode(b.get(at..).unwrap_or_default())),
                );
                break;
            }
        };
        let (n, v, _) = item;
        let Some(f) = msg.field(n) else {
            let key = format!("x-unknown-field-{n}");
            notes.push(format!("{path}.{key}: field {n} is not in the schema"));
            let val = schemaless_value(&v, depth + 1);
            push_value(&mut out, &key, val, true);
            continue;
        };
        seen.push(n);
        let child_path = At {
            parent: Some(&path),
            seg: &f.json,
        };
        if f.inline {
            if let (Ty::Msg(it), Value::Bytes(x)) = (&f.ty, v) {
                let inner = decode_msg(schema, *it, x, depth + 1, path, notes);
                for (k, val) in inner {
                    out.insert(k, val);
                }
            }
            continue;
        }
        match decode_field(schema, f, &v, depth, child_path, notes) {
            Some(val) => {
                if let (Ty::Map(_), Json::Object(entry)) = (&f.ty, &val) {
                    let slot = out
                        .entry(f.json.clone())
                        .or_insert_with(|| Json::Object(Map::new()));
                    if let Json::Object(m) = slot {
                        m.extend(entry.clone());
                    }
                } else {
                    push_value(&mut out, &f.json, val, f.repeated);
                }
            }
            None => {
                notes.push(format!(
                    "{child_path}: field {n} does not decode as its schema type; shown schemaless"
                ));
                push_value(
                    &mut out,
                    &f.json,
                    schemaless_value(&v, depth + 1),
                    f.repeated,
                );
            }
        }
    }
    // Go's JSON presence rules. An absent `always` field prints only if
    // the writer knew it: nothing beside it shows a release older than it.
    // (Most types have no `since` at all: nothing to look up then.)
    let newest_seen = match msg.fields.iter().any(|f| f.since > 0) {
        true => seen
            .iter()
            .filter_map(|n| msg.field(*n))
            .map(|f| f.since)
            .max()
            .unwrap_or(0),
        false => 0,
    };
    for f in &msg.fields {
        if f.inline {
            continue;
        }
        let present = seen.contains(&f.number);
        if !present {
            if f.always && f.since <= newest_seen {
                let v = if f.ptr || f.repeated || matches!(f.ty, Ty::Map(_)) {
                    Json::Null
                } else {
                    zero_of(&f.ty)
                };
                out.entry(f.json.clone()).or_insert(v);
            }
            continue;
        }
        let scalar = matches!(f.ty, Ty::String | Ty::Int | Ty::Bool | Ty::Bytes);
        if scalar && !f.repeated && !f.ptr && !f.always && out.get(&f.json).is_some_and(is_zero) {
            out.remove(&f.json);
        }
    }
    out
}

fn push_value(out: &mut Map<String, Json>, key: &str, val: Json, repeated: bool) {
    if repeated {
        match out
            .entry(key.to_string())
            .or_insert_with(|| Json::Array(Vec::new()))
        {
            Json::Array(a) => a.push(val),
            other => *other = Json::Array(vec![val]),
        }
    } else {
        out.insert(key.to_string(), val);
    }
}

fn sub(b: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    proto::fields(b)
        .map(|f| f.ok().map(|(n, v, _)| (n, v)))
        .collect()
}

fn varint_of(fs: &[(u32, Value<'_>)], n: u32) -> Option<u64> {
    fs.iter().rev().find_map(|(f, v)| match v {
        Value::Varint(x) if *f == n => Some(*x),
        _ => None,
    })
}

fn bytes_of<'a>(fs: &[(u32, Value<'a>)], n: u32) -> Option<&'a [u8]> {
    fs.iter().rev().find_map(|(f, v)| match v {
        Value::Bytes(x) if *f == n => Some(*x),
        _ => None,
    })
}

fn text(b: &[u8]) -> Json {
    Json::String(String::from_utf8_lossy(b).into_owned())
}

fn decode_field(
    schema: &Schema,
    f: &Field,
    v: &Value<'_>,
    depth: usize,
    path: At<'_>,
    notes: &mut Vec<String>,
) -> Option<Json> {
    if let Ty::Map(vt) = &f.ty {
        let Value::Bytes(b) = v else { return None };
        let fs = sub(b)?;
        let key = String::from_utf8_lossy(bytes_of(&fs, 1).unwrap_or_default()).into_owned();
        let val = match fs.iter().rev().find(|(n, _)| *n == 2) {
            Some((_, v)) => decode_ty(schema, vt, v, depth + 1, path, notes)?,
            None => match vt.as_ref() {
                Ty::Msg(t) => Json::Object(decode_msg(schema, *t, &[], depth + 1, path, notes)),
                Ty::Bytes => Json::String(String::new()),
                other => zero_of(other),
            },
        };
        let mut m = Map::new();
        m.insert(key, val);
        return Some(Json::Object(m));
    }
    decode_ty(schema, &f.ty, v, depth, path, notes)
}

fn decode_ty(
    schema: &Schema,
    ty: &Ty,
    v: &Value<'_>,
    depth: usize,
    path: At<'_>,
    notes: &mut Vec<String>,
) -> Option<Json> {
    Some(match (ty, v) {
        (Ty::String, Value::Bytes(b)) => text(b),
        (Ty::Bytes, Value::Bytes(b)) => Json::String(b64::encode(b)),
        (Ty::Bool, Value::Varint(x)) => Json::Bool(*x != 0),
        (Ty::Int, Value::Varint(x)) => Json::from(*x as i64),
        (Ty::Msg(t), Value::Bytes(b)) => {
            Json::Object(decode_msg(schema, *t, b, depth + 1, path, notes))
        }
        (Ty::Time | Ty::MicroTime, Value::Bytes(b)) => {
            if b.is_empty() {
                return Some(Json::Null);
            }
            let fs = sub(b)?;
            let secs = varint_of(&fs, 1).unwrap_or(0) as i64;
            let nanos = varint_of(&fs, 2).unwrap_or(0) as i64;
            Json::String(if *ty == Ty::Time {
                time::rfc3339(secs)
            } else {
                time::rfc3339_micro(secs, nanos)
            })
        }
        (Ty::Duration, Value::Bytes(b)) => {
            let fs = sub(b)?;
            Json::String(time::go_duration(varint_of(&fs, 1).unwrap_or(0) as i64))
        }
        (Ty::IntOrString, Value::Bytes(b)) => {
            let fs = sub(b)?;
            if varint_of(&fs, 1) == Some(1) {
                text(bytes_of(&fs, 3).unwrap_or_default())
            } else {
                Json::from(varint_of(&fs, 2).unwrap_or(0) as i64 as i32)
            }
        }
        (Ty::Quantity, Value::Bytes(b)) => {
            let fs = sub(b)?;
            text(bytes_of(&fs, 1).unwrap_or_default())
        }
        (Ty::StringList, Value::Bytes(b)) => {
            let fs = sub(b)?;
            Json::Array(
                fs.iter()
                    .filter_map(|(n, v)| match v {
                        Value::Bytes(x) if *n == 1 => Some(text(x)),
                        _ => None,
                    })
                    .collect(),
            )
        }
        (Ty::FieldTrie, Value::Bytes(b)) => field_trie(b, depth)?,
        (Ty::Raw, Value::Bytes(b)) => {
            let fs = sub(b)?;
            match bytes_of(&fs, 1) {
                None => Json::Null,
                Some(raw) => raw_json(raw, path, notes),
            }
        }
        _ => return None,
    })
}

/// 1.15's `metav1.Fields`: entries (field 1) of key (1) and sub-trie (2);
/// an empty trie prints `null`. Depth is bounded like every message.
fn field_trie(b: &[u8], depth: usize) -> Option<Json> {
    if depth > MAX_DEPTH {
        return None;
    }
    let fs = sub(b)?;
    if fs.is_empty() {
        return Some(Json::Null);
    }
    let mut m = Map::new();
    for (n, v) in fs {
        let Value::Bytes(e) = v else { return None };
        if n != 1 {
            return None;
        }
        let es = sub(e)?;
        let key = String::from_utf8_lossy(bytes_of(&es, 1).unwrap_or_default()).into_owned();
        let val = match bytes_of(&es, 2) {
            Some(x) => field_trie(x, depth + 1)?,
            None => Json::Null,
        };
        m.insert(key, val);
    }
    Some(Json::Object(m))
}

/// RawExtension/FieldsV1 bytes: JSON inlined, CBOR converted, anything else
/// as base64 with a note.
fn raw_json(raw: &[u8], path: At<'_>, notes: &mut Vec<String>) -> Json {
    if raw.is_empty() {
        return Json::Null;
    }
    if raw.starts_with(&[0xd9, 0xd9, 0xf7]) {
        if let Some(j) = super::cbor::to_json(raw) {
            return j;
        }
    }
    match serde_json::from_slice(raw) {
        Ok(j) => j,
        Err(_) => {
            notes.push(format!("{path}: raw bytes are not JSON; shown as base64"));
            Json::String(b64::encode(raw))
        }
    }
}

/// A wire value without a schema: numbers as numbers, length-delimited data
/// as text when it is printable UTF-8, as a nested message when it parses
/// completely as one, else base64.
pub fn schemaless_value(v: &Value<'_>, depth: usize) -> Json {
    match v {
        Value::Varint(x) => Json::from(*x),
        Value::Fixed64(x) => Json::from(*x),
        Value::Fixed32(x) => Json::from(*x),
        Value::Bytes(b) => {
            if let Ok(s) = std::str::from_utf8(b) {
                if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return Json::String(s.to_string());
                }
            }
            if depth < MAX_DEPTH && !b.is_empty() {
                if let Some(fs) = sub(b) {
                    let mut m = Map::new();
                    for (n, v) in fs {
                        let val = schemaless_value(&v, depth + 1);
                        let key = n.to_string();
                        match m.get_mut(&key) {
                            Some(Json::Array(a)) => a.push(val),
                            Some(old) => *old = Json::Array(vec![old.clone(), val]),
                            None => {
                                m.insert(key, val);
                            }
                        }
                    }
                    return Json::Object(m);
                }
            }
            Json::String(format!("base64:{}", b64::encode(b)))
        }
    }
}

/// A whole message without a schema.
pub fn schemaless(b: &[u8], depth: usize) -> Json {
    schemaless_value(&Value::Bytes(b), depth)
}
