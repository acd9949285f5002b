//! The schema the protobuf decoder follows: for each stored kind, a tree of
//! message types whose fields carry their protobuf number, JSON name, type,
//! and the Go facts the JSON form depends on (repeated, inline, pointer,
//! omitempty). It has a compact text form of this project's own design,
//! which is how the built-in schema ships (`schema.txt`, made by
//! `k8s infer-schema` from Kubernetes' test data plus `facts.txt`):
//!
//! ```text
//! kind apps/v1 Deployment T12
//! T12
//!  1 metadata T3
//!  2 spec T13
//! T13
//!  1 replicas int ptr
//!  3 template T20
//!  2 containers T31[] always
//!  11 labels map:string
//! ```
//!
//! Field types: `string bytes bool int time microtime duration intorstring
//! quantity raw strings fieldtrie` (raw: RawExtension/FieldsV1 JSON bytes;
//! strings: a message of one repeated string shown as a list; fieldtrie:
//! 1.15's recursive managed-fields `Fields`), `T<n>` (a
//! message), `map:<type>`; `[]` marks a repeated field; flags `inline`,
//! `ptr` (print even when zero), `always` (no omitempty: print zero values,
//! `null` when absent), `since=1.N` (first release seen writing it).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

/// A field's value type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ty {
    String,
    Bytes,
    Bool,
    Int,
    Time,
    MicroTime,
    Duration,
    IntOrString,
    Quantity,
    /// RawExtension or FieldsV1: JSON (or CBOR) bytes shown inline.
    Raw,
    /// A message holding only `repeated string` field 1, shown as a list
    /// (authentication's `ExtraValue`).
    StringList,
    /// Kubernetes 1.15's managed-fields trie `metav1.Fields`: a message of
    /// `map<string, Fields>` (field 1) printed as nested objects whose
    /// leaves are `null`.
    FieldTrie,
    /// A message type, by index into [`Schema::types`].
    Msg(usize),
    /// `map<string, T>`.
    Map(Box<Ty>),
}

/// One field of a message type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field {
    pub number: u32,
    pub json: String,
    pub ty: Ty,
    pub repeated: bool,
    /// Go `json:",inline"`: the message's fields join the parent object.
    pub inline: bool,
    /// A Go pointer: printed whenever present on the wire, zero or not.
    pub ptr: bool,
    /// No `omitempty`: zero values print; an absent field prints `null`.
    pub always: bool,
    /// The Kubernetes minor release whose test data first has the field on
    /// the wire (0: the oldest release known). An absent `always` field
    /// prints only when the message shows the writer knew it: some field
    /// present beside it is at least as new (the apiserver's protobuf
    /// always carries non-pointer scalars, so their absence means a writer
    /// older than the field).
    pub since: u16,
}

/// A message type: its fields, by number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Message {
    pub fields: Vec<Field>,
}

impl Message {
    pub fn field(&self, number: u32) -> Option<&Field> {
        self.fields
            .binary_search_by_key(&number, |f| f.number)
            .ok()
            .and_then(|i| self.fields.get(i))
    }
}

/// A whole schema: stored kinds and the message types they use.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// (apiVersion, kind) → root type.
    pub kinds: BTreeMap<(String, String), usize>,
    pub types: Vec<Message>,
}

/// A line of schema text that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema line {line}: {what}")]
pub struct SchemaError {
    pub line: usize,
    pub what: String,
}

fn type_name(t: &Ty) -> String {
    match t {
        Ty::String => "string".into(),
        Ty::Bytes => "bytes".into(),
        Ty::Bool => "bool".into(),
        Ty::Int => "int".into(),
        Ty::Time => "time".into(),
        Ty::MicroTime => "microtime".into(),
        Ty::Duration => "duration".into(),
        Ty::IntOrString => "intorstring".into(),
        Ty::Quantity => "quantity".into(),
        Ty::Raw => "raw".into(),
        Ty::StringList => "strings".into(),
        Ty::FieldTrie => "fieldtrie".into(),
        Ty::Msg(i) => format!("T{i}"),
        Ty::Map(v) => format!("map:{}", type_name(v)),
    }
}

fn parse_type(s: &str) -> Option<Ty> {
    Some(match s {
        "string" => Ty::String,
        "bytes" => Ty::Bytes,
        "bool" => Ty::Bool,
        "int" => Ty::Int,
        "time" => Ty::Time,
        "microtime" => Ty::MicroTime,
        "duration" => Ty::Duration,
        "intorstring" => Ty::IntOrString,
        "quantity" => Ty::Quantity,
        "raw" => Ty::Raw,
        "strings" => Ty::StringList,
        "fieldtrie" => Ty::FieldTrie,
        _ => {
            if let Some(v) = s.strip_prefix("map:") {
                Ty::Map(Box::new(parse_type(v)?))
            } else {
                Ty::Msg(s.strip_prefix('T')?.parse().ok()?)
            }
        }
    })
}

impl Schema {
    /// The root type of a stored kind.
    pub fn kind(&self, api_version: &str, kind: &str) -> Option<usize> {
        self.kinds
            .get(&(api_version.to_string(), kind.to_string()))
            .copied()
    }

    pub fn message(&self, t: usize) -> Option<&Message> {
        self.types.get(t)
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for ((v, k), t) in &self.kinds {
            out.push_str(&format!("kind {v} {k} T{t}\n"));
        }
        for (i, m) in self.types.iter().enumerate() {
            out.push_str(&format!("T{i}\n"));
            for f in &m.fields {
                out.push_str(&format!(
                    " {} {} {}{}",
                    f.number,
                    f.json,
                    type_name(&f.ty),
                    if f.repeated { "[]" } else { "" }
                ));
                for (on, name) in [(f.inline, "inline"), (f.ptr, "ptr"), (f.always, "always")] {
                    if on {
                        out.push(' ');
                        out.push_str(name);
                    }
                }
                if f.since > 0 {
                    out.push_str(&format!(" since=1.{}", f.since));
                }
                out.push('\n');
            }
        }
        out
    }

    /// Parse the text form; every reference is checked, so a schema that
    /// loads cannot send the decoder to a missing type.
    pub fn from_text(text: &str) -> Result<Schema, SchemaError> {
        let mut s = Schema::default();
        let mut current: Option<usize> = None;
        let err = |line: usize, what: &str| SchemaError {
            line,
            what: what.to_string(),
        };
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = raw.split_whitespace().collect();
            if raw.starts_with(' ') {
                let t = current.ok_or_else(|| err(line, "field before any type"))?;
                let [num, json, ty, flags @ ..] = words.as_slice() else {
                    return Err(err(line, "field needs number, name and type"));
                };
                let number: u32 = num.parse().map_err(|_| err(line, "bad field number"))?;
                let (ty, repeated) = match ty.strip_suffix("[]") {
                    Some(t) => (t, true),
                    None => (*ty, false),
                };
                let ty = parse_type(ty).ok_or_else(|| err(line, "unknown type"))?;
                let mut f = Field {
                    number,
                    json: json.to_string(),
                    ty,
                    repeated,
                    inline: false,
                    ptr: false,
                    always: false,
                    since: 0,
                };
                for fl in flags {
                    match *fl {
                        "inline" => f.inline = true,
                        "ptr" => f.ptr = true,
                        "always" => f.always = true,
                        x => {
                            f.since = x
                                .strip_prefix("since=1.")
                                .and_then(|m| m.parse().ok())
                                .ok_or_else(|| err(line, "unknown flag"))?;
                        }
                    }
                }
                let m = s
                    .types
                    .get_mut(t)
                    .ok_or_else(|| err(line, "type out of order"))?;
                m.fields.push(f);
            } else if words.first() == Some(&"kind") {
                let [_, v, k, t] = words.as_slice() else {
                    return Err(err(line, "kind needs apiVersion, kind and type"));
                };
                let t = match parse_type(t) {
                    Some(Ty::Msg(t)) => t,
                    _ => return Err(err(line, "kind type must be T<n>")),
                };
                s.kinds.insert((v.to_string(), k.to_string()), t);
            } else {
                let t = match words.as_slice() {
                    [t] => match parse_type(t) {
                        Some(Ty::Msg(t)) => t,
                        _ => return Err(err(line, "expected T<n>")),
                    },
                    _ => return Err(err(line, "expected T<n>")),
                };
                if t != s.types.len() {
                    return Err(err(line, "types must be numbered in order from T0"));
                }
                s.types.push(Message::default());
                current = Some(t);
            }
        }
        // References and field order.
        let n = s.types.len();
        let ok = |t: &Ty| -> bool {
            let mut t = t;
            while let Ty::Map(v) = t {
                t = v;
            }
            !matches!(t, Ty::Msg(i) if *i >= n)
        };
        for m in &mut s.types {
            m.fields.sort_by_key(|f| f.number);
            if m.fields.iter().any(|f| !ok(&f.ty)) {
                return Err(err(0, "a field refers to a type that does not exist"));
            }
        }
        if s.kinds.values().any(|t| *t >= n) {
            return Err(err(0, "a kind refers to a type that does not exist"));
        }
        Ok(s)
    }
}

/// The built-in schema (see the module comment), parsed once.
pub fn builtin() -> &'static Schema {
    static S: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    S.get_or_init(|| Schema::from_text(include_str!("schema.txt")).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_bad_references() {
        let text = "kind v1 X T0\nT0\n 1 metadata T1\n 2 items T1[] always\n 3 labels map:string\nT1\n 1 replicas int ptr\n";
        let s = Schema::from_text(text).unwrap();
        assert_eq!(s.to_text(), text);
        assert_eq!(s.kind("v1", "X"), Some(0));
        assert!(Schema::from_text("kind v1 X T0\nT0\n 1 a T5\n").is_err());
        assert!(Schema::from_text("T1\n").is_err());
    }

    #[test]
    fn builtin_loads() {
        assert!(!builtin().kinds.is_empty(), "schema.txt did not load");
    }
}
