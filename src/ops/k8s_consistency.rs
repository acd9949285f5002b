//! Kubernetes values against their keys, for `check`: every stored revision
//! whose value is a Kubernetes protobuf envelope or a JSON object must
//! decode completely (protobuf against the schema, when the schema knows
//! the kind), its envelope's kind must be the one kube-apiserver stores
//! under the key's resource prefix, and its metadata namespace and name
//! must be the key's. Encrypted values cannot be looked into without keys.

use super::k8s::decode_value;
use crate::findings::{show_bytes, Finding};
use crate::k8s::envelope::{recognize, Stored};
use crate::k8s::resources::{builtin, split_key, Resource};
use crate::k8s::schema::{Schema, Ty};
use crate::mvcc::coherence::one_bit;
use crate::mvcc::coherence::Source;
use crate::proto::{fields, Value};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashSet};

/// What one value says about itself.
struct Obj {
    kind: String,
    api_version: String,
    name: Option<String>,
    namespace: Option<String>,
}

fn obj_of(j: &Json) -> Option<Obj> {
    let m = j.get("metadata")?;
    let s = |v: Option<&Json>| v.and_then(Json::as_str).map(str::to_string);
    Some(Obj {
        kind: s(j.get("kind")).unwrap_or_default(),
        api_version: s(j.get("apiVersion")).unwrap_or_default(),
        name: s(m.get("name")),
        namespace: s(m.get("namespace")).filter(|n| !n.is_empty()),
    })
}

/// The group of an apiVersion ("" for the core group).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// The findings about one stored value under `key` (`rest`: the key past
/// the etcd prefix and its slash).
fn value_findings(
    schema: &Schema,
    kinds: &HashSet<&str>,
    resources: &[Resource],
    rest: &str,
    value: &[u8],
) -> Vec<String> {
    let mut bad = Vec::new();
    for magic in [crate::k8s::envelope::MAGIC, b"k8s:enc:".as_slice()] {
        if value
            .get(..magic.len())
            .is_some_and(|v| one_bit(v, magic).is_some())
        {
            return vec![format!(
                "the value starts one bit away from {:?} (kube-apiserver's prefix): the value looks damaged",
                String::from_utf8_lossy(magic)
            )];
        }
    }
    let stored = recognize(value);
    let proto_kind = match &stored {
        Stored::Protobuf(e) => Some((e.api_version.to_string(), e.kind.to_string())),
        Stored::DamagedProtobuf => {
            return vec!["the protobuf envelope (k8s\\0 + runtime.Unknown) does not parse".into()]
        }
        Stored::Json(_) => None,
        _ => return bad,
    };
    let (_, obj, notes, err) = decode_value(schema, value);
    if let Some(e) = err {
        return vec![e];
    }
    if let Some((av, kind)) = &proto_kind {
        let body = value
            .get(crate::k8s::envelope::MAGIC.len()..)
            .unwrap_or(&[]);
        if let Some(w) = wire_order(schema, None, body, 0) {
            bad.push(format!("the envelope (runtime.Unknown): {w}"));
        }
        if let (Some(t), Stored::Protobuf(e)) = (schema.kind(av, kind), &stored) {
            if let Some(w) = wire_order(schema, Some(&Ty::Msg(t)), e.raw, 0) {
                bad.push(format!("the protobuf of {av} {kind}: {w}"));
            }
        }
        if schema.kind(av, kind).is_some() {
            if let Some(n) = notes.first() {
                bad.push(format!(
                    "the protobuf does not decode completely against the schema of {av} {kind}: {n}"
                ));
            }
        } else if kinds.contains(kind.as_str()) {
            bad.push(format!(
                "the envelope names apiVersion {av:?}, which the schema does not know for kind {kind}"
            ));
        }
    }
    let Some(o) = obj.as_ref().and_then(obj_of) else {
        if proto_kind.is_none() {
            // A JSON value that is not an object with metadata: not ours to judge.
            return bad;
        }
        bad.push("the object has no metadata".into());
        return bad;
    };
    // The resource by the longest prefix of the key.
    let res = resources
        .iter()
        .filter(|r| {
            rest.strip_prefix(r.prefix.as_str())
                .is_some_and(|t| t.starts_with('/'))
        })
        .max_by_key(|r| r.prefix.len());
    let (ns, name) = match res {
        Some(r) => {
            if !o.kind.is_empty() && o.kind != r.kind {
                bad.push(format!(
                    "the key is under {}/ (kind {}) but the object is kind {} {}",
                    r.prefix, r.kind, o.api_version, o.kind
                ));
            } else if !r.group.is_empty()
                && !group_of(&o.api_version).is_empty()
                && group_of(&o.api_version) != r.group
                && !kinds.contains(o.kind.as_str())
            {
                bad.push(format!(
                    "the object's apiVersion {} is not of group {}",
                    o.api_version, r.group
                ));
            }
            if r.kind == "RangeAllocation" {
                // Fixed keys (`ranges/serviceips`), not named by the object.
                return bad;
            }
            let after = rest.get(r.prefix.len() + 1..).unwrap_or("");
            split_key(after, r.namespaced)
        }
        None => {
            // A custom resource: `<group>/<plural>/[<namespace>/]<name>`.
            // Other unknown prefixes (`ranges/serviceips`, resources newer
            // than the table) are not judged by their key.
            let segs: Vec<&str> = rest.split('/').collect();
            match segs.as_slice() {
                [g, _, name] if g.contains('.') => (None, *name),
                [g, _, ns, name] if g.contains('.') => (Some(*ns), *name),
                _ => {
                    // A built-in kind under a key of no resource: where
                    // kube-apiserver keeps it.
                    if let (Some(r), Some(n)) = (
                        resources.iter().find(|r| {
                            r.kind == o.kind
                                && (r.group == group_of(&o.api_version)
                                    || !kinds.contains(o.kind.as_str()))
                        }),
                        &o.name,
                    ) {
                        let want = match (&o.namespace, r.namespaced) {
                            (Some(ns), true) => format!("{}/{ns}/{n}", r.prefix),
                            _ => format!("{}/{n}", r.prefix),
                        };
                        bad.push(format!(
                            "the object is {} {n}, which kube-apiserver keeps under {want}: the key looks damaged",
                            o.kind
                        ));
                    }
                    return bad;
                }
            }
        }
    };
    if let Some(n) = &o.name {
        // Same length only: a bit flip keeps lengths, and a key that adds a
        // `-suffix` to the name (the k8s test fixture's copies of one test
        // object per version) is no flip.
        if n != name
            && !name
                .strip_prefix(n.as_str())
                .is_some_and(|t| t.starts_with('-'))
        {
            bad.push(format!(
                "the key's name {name:?} is not the object's metadata.name {n:?}"
            ));
        }
    }
    match (ns, &o.namespace) {
        (Some(k), Some(m)) if k != m => bad.push(format!(
            "the key's namespace {k:?} is not the object's metadata.namespace {m:?}"
        )),
        (Some(k), None) if res.is_some() => bad.push(format!(
            "the key has namespace {k:?} but the object has no metadata.namespace"
        )),
        _ => {}
    }
    bad
}

/// The first place where protobuf bytes of type `ty` (None: a message
/// of unknown fields) are not as Kubernetes' generated marshallers write
/// them: fields in ascending number order, a non-repeated field once, the
/// wire type the schema names.
fn wire_order(schema: &Schema, ty: Option<&Ty>, b: &[u8], depth: usize) -> Option<String> {
    if depth > 64 {
        return None;
    }
    let msg = match ty {
        Some(Ty::Msg(t)) => schema.message(*t),
        _ => None,
    };
    let mut last = 0u32;
    for f in fields(b) {
        let (n, v, at) = match f {
            Ok(x) => x,
            Err(e) => return Some(format!("does not parse ({e})")),
        };
        let field = msg.and_then(|m| m.field(n));
        let repeats = match ty {
            // A map entry, or a message the schema does not describe.
            Some(Ty::Map(_)) | None => false,
            _ => field.is_some_and(|f| f.repeated || matches!(f.ty, Ty::Map(_) | Ty::StringList)),
        };
        if n < last || (n == last && !repeats && msg.is_some()) {
            return Some(format!(
                "field {n} at byte {at} follows field {last}: the marshaller writes fields in ascending order, a single field once"
            ));
        }
        last = n;
        let inner: Option<Ty> = match (ty, field) {
            (Some(Ty::Map(vt)), _) if n == 2 => Some((**vt).clone()),
            (_, Some(f)) => Some(f.ty.clone()),
            _ => None,
        };
        let Some(inner) = inner else { continue };
        let want_bytes = !matches!(inner, Ty::Int | Ty::Bool);
        let is_bytes = matches!(v, Value::Bytes(_));
        if want_bytes != is_bytes
            && !(matches!(inner, Ty::Int | Ty::Bool) && field.is_some_and(|f| f.repeated))
        {
            return Some(format!(
                "field {n} at byte {at} has a wire type the schema does not give it"
            ));
        }
        if let Value::Bytes(x) = v {
            let sub = match &inner {
                Ty::Msg(_) | Ty::Map(_) => Some(&inner),
                Ty::Time | Ty::MicroTime | Ty::Duration | Ty::IntOrString | Ty::Quantity => None,
                _ => continue,
            };
            if let Some(w) = wire_order(schema, sub, x, depth + 1) {
                return Some(w);
            }
        }
    }
    None
}

/// The etcd prefix most Kubernetes values live under (`/registry`).
fn prefix_of(src: &Source<'_, '_>) -> Option<Vec<u8>> {
    let mut count: BTreeMap<&[u8], usize> = BTreeMap::new();
    src.for_each_key(|key, st| {
        // The newest live revision's value is an object.
        if st.live_k8s == 2 && key.first() == Some(&b'/') {
            let end = key[1..].iter().position(|c| *c == b'/').map(|p| p + 1);
            if let Some(end) = end {
                *count.entry(&key[..end]).or_default() += 1;
            }
        }
    });
    count
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n >= 2)
        .map(|(p, _)| p.to_vec())
}

/// Every stored revision of every Kubernetes key, checked.
pub fn findings(src: &Source<'_, '_>, file: &str) -> Vec<Finding> {
    let Some(prefix) = prefix_of(src) else {
        return Vec::new();
    };
    let schema = crate::k8s::schema::builtin();
    let kinds: HashSet<&str> = schema.kinds.keys().map(|(_, k)| k.as_str()).collect();
    let resources = builtin();
    let shown = String::from_utf8_lossy(&prefix).into_owned();
    src.par_map_recs(|key, e, k8s_value| {
        if e.tomb {
            return None;
        }
        let rest = key
            .strip_prefix(prefix.as_slice())
            .and_then(|r| r.strip_prefix(b"/"));
        if rest.is_none() && !k8s_value {
            // Outside the prefix and not an object: nothing to judge.
            return None;
        }
        let kv = src.value_of(e)?;
        let msgs = match rest {
            Some(r) => match std::str::from_utf8(r) {
                Ok(r) => value_findings(schema, &kinds, &resources, r, kv.value),
                Err(_) => vec![format!(
                    "the key is not UTF-8 (kube-apiserver writes UTF-8 keys)"
                )],
            },
            None if kv.value.starts_with(crate::k8s::envelope::MAGIC) => vec![format!(
                "a Kubernetes object stored outside {shown}/, where the other objects are: the key looks damaged"
            )],
            None => return None,
        };
        let out: Vec<Finding> = msgs
            .into_iter()
            .map(|m| {
                Finding::error(
                    "k8s.value.inconsistent",
                    file,
                    format!("key {} revision {}: {m}", show_bytes(key), e.main),
                )
                .at_offset(e.offset)
            })
            .collect();
        (!out.is_empty()).then_some(out)
    })
    .into_iter()
    .flat_map(|(_, f)| f)
    .collect()
}
