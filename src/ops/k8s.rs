//! Kubernetes objects out of the keyspace: select keys as `kubectl get`
//! selects resources, decode each value whatever its encoding, and shape
//! the result as the apiserver would serve it (resourceVersion from the
//! etcd mod revision, managedFields hidden, Secret data redacted unless
//! asked for).
#![forbid(unsafe_code)]

use crate::etcd::kv::KeyValue;
use crate::k8s::decode::{decode_envelope, schemaless};
use crate::k8s::envelope::{recognize, Stored};
use crate::k8s::resources::{self, Resource};
use crate::k8s::schema::Schema;
use crate::mvcc::range::{prefix_end, range_stream, RangeRequest, StreamError};
use crate::mvcc::KeyIndex;
use serde::Serialize;
use serde_json::{Map, Value as Json};

/// What to show, and the keys to decrypt with.
#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    pub managed_fields: bool,
    pub secrets: bool,
    pub keyring: Option<crate::k8s::crypt::Keyring>,
}

/// The resource a key under `/registry` belongs to (`secrets`,
/// `customresourcedefinitions.apiextensions.k8s.io`), for choosing
/// encryption providers.
pub fn resource_of_key(key: &[u8]) -> String {
    let k = String::from_utf8_lossy(key);
    let mut parts = k.trim_start_matches('/').split('/').skip(1);
    match (parts.next(), parts.next()) {
        (Some(first), Some(second)) if first.contains('.') => format!("{second}.{first}"),
        (Some(first), _) => first.to_string(),
        _ => String::new(),
    }
}

/// Decode a value stored under `etcd_key`, decrypting it first when it is
/// encrypted and keys were given.
pub fn decode_stored(
    schema: &Schema,
    show: &ShowOptions,
    etcd_key: &[u8],
    value: &[u8],
) -> (String, Option<Json>, Vec<String>, Option<String>) {
    if let (Stored::Encrypted(e), Some(ring)) = (recognize(value), &show.keyring) {
        let label = format!("encrypted {}:{}:{}", e.provider, e.version, e.key_name);
        return match crate::k8s::crypt::decrypt(ring, &resource_of_key(etcd_key), etcd_key, value) {
            Ok(plain) => {
                let (inner, obj, notes, err) = decode_value(schema, &plain);
                (format!("{label} → {inner}"), obj, notes, err)
            }
            Err(err) => (label, None, vec![], Some(err.to_string())),
        };
    }
    decode_value(schema, value)
}

/// One object read from a key.
#[derive(Debug, Clone, Serialize)]
pub struct K8sObject {
    pub key: String,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
    /// How the value is stored: `protobuf <apiVersion>/<kind>`, `json`,
    /// `cbor`, `encrypted <provider>:<version>:<key>`, ...
    pub format: String,
    pub size: usize,
    /// The object, when it decodes (even partly).
    pub object: Option<Json>,
    /// Parts decoded without the schema.
    pub notes: Vec<String>,
    /// Why the value could not be shown as an object.
    pub error: Option<String>,
}

impl K8sObject {
    fn meta(&self, field: &str) -> Option<&str> {
        self.object.as_ref()?.get("metadata")?.get(field)?.as_str()
    }

    pub fn name(&self) -> String {
        self.meta("name")
            .map(str::to_string)
            .unwrap_or_else(|| self.key.rsplit('/').next().unwrap_or("").to_string())
    }

    pub fn namespace(&self) -> Option<String> {
        self.meta("namespace")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    pub fn kind(&self) -> String {
        self.object
            .as_ref()
            .and_then(|o| o.get("kind"))
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string()
    }

    pub fn api_version(&self) -> String {
        self.object
            .as_ref()
            .and_then(|o| o.get("apiVersion"))
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string()
    }
}

/// Decode a stored value on its own (no etcd metadata).
pub fn decode_value(
    schema: &Schema,
    value: &[u8],
) -> (String, Option<Json>, Vec<String>, Option<String>) {
    let stored = recognize(value);
    let label = stored.label();
    match stored {
        Stored::Protobuf(env) => {
            let d = decode_envelope(schema, &env);
            (label, Some(d.object), d.notes, None)
        }
        Stored::Json(b) => match serde_json::from_slice::<Json>(b) {
            Ok(j) => (label, Some(j), vec![], None),
            Err(e) => (label, None, vec![], Some(format!("JSON value does not parse: {e}"))),
        },
        Stored::Cbor(b) => match crate::k8s::cbor::to_json(b) {
            Some(j) => (label, Some(j), vec![], None),
            None => (label, None, vec![], Some("CBOR value does not decode".into())),
        },
        Stored::Encrypted(e) => (
            label,
            None,
            vec![],
            Some(format!(
                "encrypted with {} key {:?}: pass the apiserver's --encryption-provider-config file as --encryption-config to decrypt",
                e.provider, e.key_name
            )),
        ),
        Stored::DamagedProtobuf => {
            let rest = value.get(4..).unwrap_or_default();
            (
                label,
                Some(schemaless(rest, 0)),
                vec!["the protobuf envelope does not decode: shown schemaless".into()],
                None,
            )
        }
        Stored::Text(t) => (
            label,
            None,
            vec![],
            Some(format!("not a Kubernetes object: {} bytes of text", t.len())),
        ),
        Stored::Binary => (label, None, vec![], Some(format!("not a Kubernetes object: {} bytes of binary data", value.len()))),
    }
}

/// A CustomResourceDefinition stored as `apiextensions.k8s.io/v1beta1` (as
/// the apiserver stores them) converted to the v1 form kubectl is served:
/// per-version schema, subresources and printer columns, `JSONPath` renamed
/// `jsonPath`, the webhook conversion settings nested under `webhook`.
pub fn crd_v1beta1_to_v1(mut obj: Json) -> Json {
    let is_v1beta1_crd = obj.get("apiVersion").and_then(Json::as_str)
        == Some("apiextensions.k8s.io/v1beta1")
        && obj.get("kind").and_then(Json::as_str) == Some("CustomResourceDefinition");
    if !is_v1beta1_crd {
        return obj;
    }
    obj["apiVersion"] = Json::String("apiextensions.k8s.io/v1".into());
    let Some(spec) = obj.get_mut("spec").and_then(Json::as_object_mut) else {
        return obj;
    };
    let schema = spec
        .remove("validation")
        .and_then(|v| v.get("openAPIV3Schema").cloned());
    let subresources = spec.remove("subresources");
    let columns = spec.remove("additionalPrinterColumns");
    let single = spec.remove("version");
    if !spec.get("versions").is_some_and(Json::is_array) {
        let name = single
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        spec.insert(
            "versions".into(),
            serde_json::json!([{"name": name, "served": true, "storage": true}]),
        );
    }
    let fix_columns = |c: &Json| -> Json {
        let mut c = c.clone();
        if let Some(m) = c.as_object_mut() {
            if let Some(p) = m.remove("JSONPath") {
                m.insert("jsonPath".into(), p);
            }
        }
        c
    };
    if let Some(Json::Array(versions)) = spec.get_mut("versions") {
        for v in versions.iter_mut().filter_map(Json::as_object_mut) {
            if let (Some(s), false) = (&schema, v.contains_key("schema")) {
                v.insert("schema".into(), serde_json::json!({ "openAPIV3Schema": s }));
            }
            if let (Some(s), false) = (&subresources, v.contains_key("subresources")) {
                v.insert("subresources".into(), s.clone());
            }
            let own = v
                .remove("additionalPrinterColumns")
                .or_else(|| columns.clone());
            if let Some(Json::Array(cols)) = own {
                v.insert(
                    "additionalPrinterColumns".into(),
                    Json::Array(cols.iter().map(fix_columns).collect()),
                );
            }
        }
    }
    if let Some(conv) = spec.get_mut("conversion").and_then(Json::as_object_mut) {
        let client = conv.remove("webhookClientConfig");
        let versions = conv.remove("conversionReviewVersions");
        if client.is_some() || versions.is_some() {
            let mut w = Map::new();
            if let Some(c) = client {
                w.insert("clientConfig".into(), c);
            }
            w.insert(
                "conversionReviewVersions".into(),
                versions.unwrap_or_else(|| serde_json::json!(["v1beta1"])),
            );
            conv.insert("webhook".into(), Json::Object(w));
        }
    }
    if spec.get("preserveUnknownFields") == Some(&Json::Bool(false)) {
        spec.remove("preserveUnknownFields");
    }
    obj
}

/// Shape an object as the apiserver serves it.
pub fn served(obj: Json, mod_revision: i64, show: &ShowOptions) -> Json {
    let mut obj = crd_v1beta1_to_v1(obj);
    let secret = obj.get("kind").and_then(Json::as_str) == Some("Secret");
    if let Some(Json::Object(meta)) = obj.get_mut("metadata") {
        if mod_revision > 0 {
            meta.insert(
                "resourceVersion".into(),
                Json::String(mod_revision.to_string()),
            );
        }
        if !show.managed_fields {
            meta.remove("managedFields");
        }
    }
    if secret && !show.secrets {
        for field in ["data", "stringData"] {
            if let Some(Json::Object(m)) = obj.get_mut(field) {
                for v in m.values_mut() {
                    let n = v.as_str().map_or(0, |s| s.len() * 3 / 4);
                    *v = Json::String(format!("REDACTED ({n} bytes; --show-secrets shows it)"));
                }
            }
        }
    }
    obj
}

/// Read one key's object.
pub fn object_of(schema: &Schema, kv: &KeyValue<'_>, show: &ShowOptions) -> K8sObject {
    let (format, object, notes, error) = decode_stored(schema, show, kv.key, kv.value);
    K8sObject {
        key: String::from_utf8_lossy(kv.key).into_owned(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
        format,
        size: kv.value.len(),
        object: object.map(|o| served(o, kv.mod_revision, show)),
        notes,
        error,
    }
}

/// A `kubectl get`-like selection.
#[derive(Debug, Clone)]
pub struct Selection {
    pub resource: String,
    pub name: Option<String>,
    /// `None`: all namespaces.
    pub namespace: Option<String>,
    pub revision: i64,
    /// The apiserver's `--etcd-prefix`.
    pub prefix: String,
    /// `-l`: only objects whose labels match.
    pub labels: Option<crate::k8s::selector::LabelSelector>,
    /// `--field-selector`.
    pub fields: Option<crate::k8s::selector::FieldSelector>,
}

impl Selection {
    /// Whether an object passes the label and field selectors. An object
    /// that did not decode is kept, so that its error is not hidden.
    pub fn admits(&self, o: &K8sObject) -> bool {
        let Some(obj) = &o.object else {
            return true;
        };
        self.labels.as_ref().is_none_or(|l| l.matches(obj))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}

/// Why a selection cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("unknown resource type {0:?} (use a kubectl name such as pods, deploy, cm, or <plural>.<group> for custom resources)")]
    UnknownResource(String),
    #[error(transparent)]
    Range(#[from] StreamError),
}

/// Hand each object a selection names to `emit`, in key order within each
/// key range read; nothing is collected, so memory stays flat however many
/// objects match.
pub fn select_each(
    schema: &Schema,
    index: &KeyIndex<'_>,
    sel: &Selection,
    show: &ShowOptions,
    emit: &mut dyn FnMut(&Resource, K8sObject) -> std::io::Result<()>,
) -> Result<Resource, SelectError> {
    let (res, namespaced) = resources::resolve(&sel.resource)
        .ok_or_else(|| SelectError::UnknownResource(sel.resource.clone()))?;
    let base = format!("{}/{}/", sel.prefix.trim_end_matches('/'), res.prefix);
    // Keys to read: a prefix, or exact keys when a name is given.
    let mut requests: Vec<RangeRequest> = Vec::new();
    let exact = |k: String| RangeRequest::from_cli(k.as_bytes(), None, false, false);
    let prefix = |k: String| {
        let mut r = RangeRequest::from_cli(k.as_bytes(), None, true, false);
        r.range_end = prefix_end(k.as_bytes());
        r
    };
    let ns = sel.namespace.as_deref();
    let name = sel.name.as_deref();
    match (namespaced, ns, name) {
        (Some(false), _, Some(n)) => requests.push(exact(format!("{base}{n}"))),
        (Some(false), _, None) => requests.push(prefix(base.clone())),
        (Some(true), Some(ns), Some(n)) => requests.push(exact(format!("{base}{ns}/{n}"))),
        (Some(true), Some(ns), None) => requests.push(prefix(format!("{base}{ns}/"))),
        (Some(true), None, _) => requests.push(prefix(base.clone())),
        // Custom resources: scope unknown, try both key shapes.
        (None, Some(ns), Some(n)) => {
            requests.push(exact(format!("{base}{n}")));
            requests.push(exact(format!("{base}{ns}/{n}")));
        }
        (None, Some(ns), None) => requests.push(prefix(format!("{base}{ns}/"))),
        (None, None, _) => requests.push(prefix(base.clone())),
    }
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for mut req in requests {
        req.revision = sel.revision;
        range_stream(index, &req, &mut |kv| {
            let o = object_of(schema, &kv, show);
            let keep = name.is_none_or(|n| o.name() == n) && sel.admits(&o);
            if keep && seen.insert(o.key.clone()) {
                emit(&res, o)?;
            }
            Ok(())
        })?;
    }
    Ok(res)
}

/// The objects a selection names, in key order.
pub fn select(
    schema: &Schema,
    index: &KeyIndex<'_>,
    sel: &Selection,
    show: &ShowOptions,
) -> Result<(Resource, Vec<K8sObject>), SelectError> {
    let mut out = Vec::new();
    let res = select_each(schema, index, sel, show, &mut |_, o| {
        out.push(o);
        Ok(())
    })?;
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((res, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1beta1_crds_are_served_as_v1() {
        let stored = serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "version": "v1",
                "versions": [{"name": "v1", "served": true, "storage": true}],
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "validation": {"openAPIV3Schema": {"type": "object"}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "JSONPath": ".spec.size"}],
                "preserveUnknownFields": false
            }
        });
        let v1 = crd_v1beta1_to_v1(stored);
        assert_eq!(
            v1,
            serde_json::json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"},
                "spec": {
                    "group": "example.com",
                    "versions": [{
                        "name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object"}},
                        "subresources": {"status": {}},
                        "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]
                    }],
                    "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"}
                }
            })
        );
    }
}
