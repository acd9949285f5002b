//! `k8s extract` and `k8s stats`: every Kubernetes object of a keyspace
//! written as one YAML file per object (optionally stripped of what the
//! server sets, so that `kubectl apply -R -f DIR` recreates them), and the
//! census of objects, bytes and revisions per kind and namespace that
//! `auger analyze` gives. Decoding and rendering run on all cores.
#![forbid(unsafe_code)]

use super::k8s::{object_of, K8sObject, ShowOptions};
use crate::k8s::render::kubectl_yaml;
use crate::k8s::resources;
use crate::k8s::schema::Schema;
use crate::mvcc::range::prefix_end;
use crate::mvcc::KeyIndex;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to extract.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Resources as kubectl names them; empty: everything.
    pub resources: Vec<String>,
    pub namespace: Option<String>,
    /// 0: the newest revision.
    pub revision: i64,
    pub all_revisions: bool,
    pub for_apply: bool,
    pub prefix: String,
    pub show: ShowOptions,
}

/// What extraction did.
#[derive(Debug, Default, Serialize)]
pub struct ExtractReport {
    pub written: usize,
    pub per_resource: BTreeMap<String, usize>,
    /// (key, why) for objects not written on purpose (`--for-apply`).
    pub skipped: Vec<(String, String)>,
    /// (key, error) for values that could not be decoded or written.
    pub errors: Vec<(String, String)>,
    /// `--for-apply`: objects converted to a served version, or not.
    pub conversions: crate::k8s::convert::Tally,
}

/// The directory name of a key's resource and the rest of the key
/// (`[namespace/]name`).
fn resource_dir(rest: &str) -> (String, String) {
    let mut best: Option<(usize, String)> = None;
    for r in resources::builtin() {
        let p = format!("{}/", r.prefix);
        if rest.starts_with(&p) && best.as_ref().is_none_or(|(n, _)| p.len() > *n) {
            let name = if r.group.is_empty() {
                r.plural.clone()
            } else {
                format!("{}.{}", r.plural, r.group)
            };
            best = Some((p.len(), name));
        }
    }
    if let Some((n, name)) = best {
        return (name, rest[n..].to_string());
    }
    // <group>/<plural>/... for custom resources; anything else by its
    // first segment.
    let mut parts = rest.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(g), Some(p), Some(tail)) if g.contains('.') => (format!("{p}.{g}"), tail.to_string()),
        (Some(first), Some(second), tail) => (
            first.to_string(),
            match tail {
                Some(t) => format!("{second}/{t}"),
                None => second.to_string(),
            },
        ),
        (Some(first), None, _) => (first.to_string(), String::new()),
        _ => ("_".into(), rest.to_string()),
    }
}

/// A path segment that cannot climb out of the output dir.
fn safe(seg: &str) -> String {
    let s: String = seg
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        format!("_{s}")
    } else {
        s
    }
}

/// Fields the server sets, removed for `--for-apply`.
fn strip_for_apply(obj: &mut Json) {
    if let Some(m) = obj.get_mut("metadata").and_then(Json::as_object_mut) {
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "generation",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "ownerReferences",
        ] {
            m.remove(f);
        }
        if let Some(a) = m.get_mut("annotations").and_then(Json::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            a.remove("deployment.kubernetes.io/revision");
            if a.is_empty() {
                m.remove("annotations");
            }
        }
    }
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
    let kind = obj
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(spec) = obj.get_mut("spec").and_then(Json::as_object_mut) {
        match kind.as_str() {
            // New cluster IPs and node assignment come from the new cluster.
            "Service" => {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
            "Pod" => {
                spec.remove("nodeName");
            }
            _ => {}
        }
    }
}

/// Why an object is left out of an apply-able tree, if it is.
fn skip_for_apply(obj: &Json) -> Option<&'static str> {
    let kind = obj.get("kind").and_then(Json::as_str).unwrap_or("");
    match kind {
        "Event" => return Some("events are history, not state"),
        "Endpoints" | "EndpointSlice" => return Some("maintained by the endpoints controllers"),
        "Lease" => return Some("leader-election and heartbeat state"),
        "ControllerRevision" => return Some("history kept by its controller"),
        "RangeAllocation" | "IPAddress" => return Some("apiserver allocation state"),
        _ => {}
    }
    if obj.get("type").and_then(Json::as_str) == Some("kubernetes.io/service-account-token") {
        return Some("service account tokens are issued by the new cluster");
    }
    let owned = obj
        .get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Json::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|r| r.get("controller") == Some(&Json::Bool(true)))
        });
    owned.then_some("created by its controller (it has a controller owner)")
}

/// The key ranges of a selection.
/// A key range [start, end).
type KeyRange = (Vec<u8>, Vec<u8>);

/// What became of one stored object.
enum Outcome {
    Write {
        path: PathBuf,
        yaml: String,
        secret: bool,
        dir: String,
        /// `--for-apply`: how the version changed.
        conv: Option<(
            String,
            crate::k8s::convert::Change,
            Vec<crate::k8s::convert::Dropped>,
        )>,
    },
    /// Left out on purpose (`--for-apply`), and why.
    Skip(String),
    /// Not in the selected namespace.
    Filtered,
    /// (key, error).
    Failed(String, String),
}

fn ranges(opts: &ExtractOptions) -> Result<Vec<KeyRange>, String> {
    let base = opts.prefix.trim_end_matches('/').to_string();
    if opts.resources.is_empty() {
        let p = format!("{base}/").into_bytes();
        let e = prefix_end(&p);
        return Ok(vec![(p, e)]);
    }
    let mut out = Vec::new();
    for r in &opts.resources {
        let (res, namespaced) =
            resources::resolve(r).ok_or_else(|| format!("unknown resource type {r:?}"))?;
        let mut p = format!("{base}/{}/", res.prefix);
        if let (Some(ns), Some(true)) = (&opts.namespace, namespaced) {
            p.push_str(ns);
            p.push('/');
        }
        let p = p.into_bytes();
        let e = prefix_end(&p);
        out.push((p, e));
    }
    Ok(out)
}

/// Write every selected object under `to`. `progress` is told of each
/// object handled.
pub fn extract(
    schema: &Schema,
    index: &KeyIndex<'_>,
    opts: &ExtractOptions,
    to: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExtractReport, String> {
    let mut req = crate::mvcc::range::RangeRequest::from_cli(b"", None, false, false);
    req.revision = opts.revision;
    let rev = crate::mvcc::range::read_revision(index, &req).map_err(|e| e.to_string())?;
    let mut items = Vec::new();
    for (start, end) in ranges(opts)? {
        let from = index.lower_bound(&start);
        for h in index.keys[from..]
            .iter()
            .take_while(|h| h.key < end.as_slice())
        {
            let revs: Vec<_> = if opts.all_revisions {
                h.revs
                    .iter()
                    .filter(|r| r.main <= rev && !r.is_tombstone())
                    .collect()
            } else {
                h.at(rev)
                    .filter(|r| !r.is_tombstone())
                    .into_iter()
                    .collect()
            };
            let latest = h.at(rev).map(|r| r.main);
            for r in revs {
                items.push((h.key, *r, Some(r.main) != latest));
            }
        }
    }
    let base = opts.prefix.trim_end_matches('/').to_string();
    let results: Vec<Outcome> = items
        .par_iter()
        .map(|(key, e, older)| {
            progress(1);
            let key_text = String::from_utf8_lossy(key).into_owned();
            let Some(kv) = index.value_of(e) else {
                return Outcome::Failed(key_text, "stored value does not decode".into());
            };
            let o: K8sObject = object_of(schema, &kv, &opts.show);
            let Some(mut obj) = o.object.clone() else {
                return Outcome::Failed(key_text, o.error.clone().unwrap_or_default());
            };
            if opts.for_apply {
                if let Some(why) = skip_for_apply(&obj) {
                    return Outcome::Skip(why.to_string());
                }
                strip_for_apply(&mut obj);
            }
            let conv = opts.for_apply.then(|| {
                let c = crate::k8s::convert::to_served(&obj);
                obj = c.object;
                (o.kind(), c.change, c.dropped)
            });
            if let Some(ns) = &opts.namespace {
                if o.namespace().is_some_and(|n| n != *ns) {
                    return Outcome::Filtered;
                }
            }
            let rest = key_text
                .strip_prefix(&format!("{base}/"))
                .unwrap_or(&key_text)
                .to_string();
            // The key, not the object, says where it lives: two keys never
            // share a file even when their objects claim the same name.
            let (dir, tail) = resource_dir(&rest);
            let mut path = to.join(safe(&dir));
            let (ns, key_name) = match tail.split_once('/') {
                Some((ns, name)) => (Some(ns.to_string()), name.to_string()),
                None => (None, tail.clone()),
            };
            if let Some(ns) = ns.or_else(|| o.namespace()) {
                path = path.join(safe(&ns));
            }
            let name = safe(if key_name.is_empty() { &dir } else { &key_name });
            path = path.join(if *older {
                format!("{name}.rev-{}.yaml", kv.mod_revision)
            } else {
                format!("{name}.yaml")
            });
            let secret = obj.get("kind").and_then(Json::as_str) == Some("Secret");
            Outcome::Write {
                path,
                yaml: kubectl_yaml(&obj),
                secret,
                dir,
                conv,
            }
        })
        .collect();
    let mut report = ExtractReport::default();
    for (r, (key, _, _)) in results.into_iter().zip(&items) {
        match r {
            Outcome::Failed(k, e) => report.errors.push((k, e)),
            Outcome::Filtered => {}
            Outcome::Skip(why) => report
                .skipped
                .push((String::from_utf8_lossy(key).into_owned(), why)),
            Outcome::Write {
                path,
                yaml,
                secret,
                dir,
                conv,
            } => match write_file(&path, yaml.as_bytes(), secret) {
                Ok(()) => {
                    if let Some((kind, change, dropped)) = conv {
                        let key = String::from_utf8_lossy(key);
                        report.conversions.add(&key, &kind, &change, &dropped);
                    }
                    report.written += 1;
                    *report.per_resource.entry(dir).or_default() += 1;
                }
                Err(e) => report
                    .errors
                    .push((path.display().to_string(), e.to_string())),
            },
        }
    }
    Ok(report)
}

/// A new file; Secrets readable by the owner only.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)
}

/// One row of the census.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub objects: u64,
    /// Bytes of the newest values.
    pub bytes: u64,
    /// Bytes of every retained revision.
    pub all_revisions_bytes: u64,
    pub revisions: u64,
}

/// An object in the largest/most-revised lists.
#[derive(Debug, Clone, Serialize)]
pub struct Notable {
    pub key: String,
    pub bytes: u64,
    pub revisions: u64,
    pub all_revisions_bytes: u64,
}

/// `k8s stats`.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub total: Tally,
    pub per_kind: BTreeMap<String, Tally>,
    pub per_namespace: BTreeMap<String, Tally>,
    pub largest: Vec<Notable>,
    pub most_revised: Vec<Notable>,
}

/// Census of the live objects under `prefix` (kinds from the stored
/// encoding, without decoding whole objects).
pub fn stats(index: &KeyIndex<'_>, prefix: &str, top: usize) -> Stats {
    let p = format!("{}/", prefix.trim_end_matches('/')).into_bytes();
    let end = prefix_end(&p);
    let from = index.lower_bound(&p);
    let current = index.current_revision;
    let mut s = Stats::default();
    let mut notable: Vec<Notable> = Vec::new();
    for h in index.keys[from..]
        .iter()
        .take_while(|h| h.key < end.as_slice())
    {
        let Some(e) = h.at(current).filter(|e| !e.is_tombstone()) else {
            continue;
        };
        let Some(kv) = index.value_of(e) else {
            continue;
        };
        let kind = match crate::k8s::envelope::recognize(kv.value) {
            crate::k8s::envelope::Stored::Protobuf(env) => {
                format!("{}/{}", env.api_version, env.kind)
            }
            crate::k8s::envelope::Stored::Json(b) => serde_json::from_slice::<Json>(b)
                .ok()
                .map(|j| {
                    format!(
                        "{}/{}",
                        j.get("apiVersion").and_then(Json::as_str).unwrap_or("?"),
                        j.get("kind").and_then(Json::as_str).unwrap_or("?")
                    )
                })
                .unwrap_or_else(|| "json".into()),
            other => other.label(),
        };
        let key = String::from_utf8_lossy(h.key).into_owned();
        let rest = key
            .strip_prefix(&String::from_utf8_lossy(&p).into_owned())
            .unwrap_or(&key)
            .to_string();
        let (dir, tail) = resource_dir(&rest);
        let namespaced = resources::builtin()
            .iter()
            .find(|r| {
                let n = if r.group.is_empty() {
                    r.plural.clone()
                } else {
                    format!("{}.{}", r.plural, r.group)
                };
                n == dir
            })
            .map_or(tail.contains('/'), |r| r.namespaced);
        let ns = if namespaced {
            tail.split('/').next().unwrap_or("").to_string()
        } else {
            "(cluster)".into()
        };
        let bytes = kv.value.len() as u64;
        let all: u64 = h.revs.iter().map(|r| u64::from(r.value_len)).sum();
        let revs = h.revs.iter().filter(|r| !r.is_tombstone()).count() as u64;
        for t in [
            &mut s.total,
            s.per_kind.entry(kind).or_default(),
            s.per_namespace.entry(ns).or_default(),
        ] {
            t.objects += 1;
            t.bytes += bytes;
            t.all_revisions_bytes += all;
            t.revisions += revs;
        }
        notable.push(Notable {
            key,
            bytes,
            revisions: revs,
            all_revisions_bytes: all,
        });
    }
    notable.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.key.cmp(&b.key)));
    s.largest = notable.iter().take(top).cloned().collect();
    notable.sort_by(|a, b| b.revisions.cmp(&a.revisions).then(a.key.cmp(&b.key)));
    s.most_revised = notable.into_iter().take(top).collect();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_resource_dirs() {
        assert_eq!(
            resource_dir("pods/ns/web"),
            ("pods".into(), "ns/web".into())
        );
        assert_eq!(
            resource_dir("services/specs/ns/svc"),
            ("services".into(), "ns/svc".into())
        );
        assert_eq!(
            resource_dir("deployments/ns/d"),
            ("deployments.apps".into(), "ns/d".into())
        );
        assert_eq!(
            resource_dir("example.com/widgets/ns/w"),
            ("widgets.example.com".into(), "ns/w".into())
        );
        assert_eq!(safe(".."), "_..");
        assert_eq!(safe("a/b"), "a_b");
    }
}
