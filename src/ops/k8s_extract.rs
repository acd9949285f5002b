//! `k8s extract` and `k8s stats`: every Kubernetes object of a keyspace
//! written as one YAML file per object (optionally stripped of what the
//! server sets, so that `kubectl apply -R -f DIR` recreates them), and the
//! census of objects, bytes and revisions per kind and namespace that
//! `auger analyze` gives. Decoding and rendering run on all cores.
#![forbid(unsafe_code)]

use super::k8s::{object_of, K8sObject, ShowOptions};
use super::k8s_apply;
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
    /// With `for_apply`: keep finished Pods and completed Jobs.
    pub include_finished: bool,
    pub prefix: String,
    /// `-l` and `--field-selector`.
    pub labels: Option<crate::k8s::selector::LabelSelector>,
    pub fields: Option<crate::k8s::selector::FieldSelector>,
    pub show: ShowOptions,
}

/// What extraction did.
#[derive(Debug, Default, Serialize)]
pub struct ExtractReport {
    pub written: usize,
    pub per_resource: BTreeMap<String, usize>,
    /// (key, why) for objects not written on purpose (`--for-apply`).
    pub skipped: Vec<(String, String)>,
    /// Secrets written with their data redacted (no `--show-secrets`).
    pub redacted_secrets: usize,
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

/// A key range [start, end), and the object names asked for in it (none:
/// every object).
type KeyRange = (Vec<u8>, Vec<u8>, Vec<String>);

/// What became of one stored object.
enum Outcome {
    Write {
        path: PathBuf,
        yaml: String,
        secret: bool,
        /// A Secret whose data is redacted.
        redacted: bool,
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
    /// Not in the selected namespace, or not matching the selectors.
    Filtered,
    /// (key, error).
    Failed(String, String),
}

fn ranges(opts: &ExtractOptions) -> Result<Vec<KeyRange>, String> {
    let base = opts.prefix.trim_end_matches('/').to_string();
    if opts.resources.is_empty() {
        let p = format!("{base}/").into_bytes();
        let e = prefix_end(&p);
        return Ok(vec![(p, e, vec![])]);
    }
    let mut out = Vec::new();
    for t in crate::k8s::selector::extract_targets(&opts.resources)? {
        let (res, namespaced) = resources::resolve(&t.resource)
            .ok_or_else(|| format!("unknown resource type {:?}", t.resource))?;
        let mut p = format!("{base}/{}/", res.prefix);
        if let (Some(ns), Some(true)) = (&opts.namespace, namespaced) {
            p.push_str(ns);
            p.push('/');
        }
        let p = p.into_bytes();
        let e = prefix_end(&p);
        out.push((p, e, t.names));
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
    for (start, end, names) in ranges(opts)? {
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
            // Named objects: the key's last segment is the name.
            if !names.is_empty() {
                let last = h.key.rsplit(|c| *c == b'/').next().unwrap_or_default();
                if !names.iter().any(|n| n.as_bytes() == last) {
                    continue;
                }
            }
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
            if let Some(ns) = &opts.namespace {
                if o.namespace().is_some_and(|n| n != *ns) {
                    return Outcome::Filtered;
                }
            }
            if !opts.labels.as_ref().is_none_or(|l| l.matches(&obj))
                || !opts.fields.as_ref().is_none_or(|f| f.matches(&obj))
            {
                return Outcome::Filtered;
            }
            if opts.for_apply {
                if let Some(why) = k8s_apply::skip(&obj, opts.show.secrets, opts.include_finished) {
                    return Outcome::Skip(why.reason().to_string());
                }
                k8s_apply::strip(&mut obj);
            }
            let conv = opts.for_apply.then(|| {
                let c = crate::k8s::convert::to_served(&obj);
                obj = c.object;
                (o.kind(), c.change, c.dropped)
            });
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
            let redacted = secret
                && !opts.show.secrets
                && ["data", "stringData"].iter().any(|f| {
                    obj.get(*f)
                        .and_then(Json::as_object)
                        .is_some_and(|m| !m.is_empty())
                });
            Outcome::Write {
                path,
                yaml: kubectl_yaml(&obj),
                secret,
                redacted,
                dir,
                conv,
            }
        })
        .collect();
    // Everything is rendered: what it takes on disk is known before a byte
    // is written (each file in whole blocks, a block per directory).
    let mut dirs = std::collections::BTreeSet::new();
    let mut need = 4096u64;
    for r in &results {
        if let Outcome::Write { path, yaml, .. } = r {
            need += super::write::on_disk(yaml.len() as u64);
            if let Some(d) = path.parent() {
                dirs.insert(d);
            }
        }
    }
    need += 4096 * dirs.len() as u64;
    super::write::ensure_room(to, need).map_err(|e| e.to_string())?;
    // Written under a temp dir beside `to`, published when complete.
    let stage = Stage::new(to).map_err(|e| e.to_string())?;
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
                redacted,
                dir,
                conv,
            } => {
                // The first write that fails ends the run: the temp dir
                // goes, nothing is published.
                let rel = path.strip_prefix(to).unwrap_or(&path);
                write_file(&stage.tmp.join(rel), yaml.as_bytes(), secret).map_err(|e| {
                    format!(
                        "writing {}: {}; nothing was written",
                        path.display(),
                        super::write::describe(&e)
                    )
                })?;
                if let Some((kind, change, dropped)) = conv {
                    let key = String::from_utf8_lossy(key);
                    report.conversions.add(&key, &kind, &change, &dropped);
                }
                report.written += 1;
                report.redacted_secrets += usize::from(redacted);
                *report.per_resource.entry(dir).or_default() += 1;
            }
        }
    }
    stage
        .publish()
        .map_err(|e| format!("{}: {}", to.display(), super::write::describe(&e)))?;
    Ok(report)
}

/// The temp directory `.NAME.tmp-PID` beside the output directory: removed
/// unless published.
struct Stage {
    tmp: PathBuf,
    to: PathBuf,
    done: bool,
}

impl Stage {
    fn new(to: &Path) -> std::io::Result<Stage> {
        let name = to
            .file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let parent = match to.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)?;
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir(&tmp)?;
        Ok(Stage {
            tmp,
            to: to.to_path_buf(),
            done: false,
        })
    }

    /// Sync what was written (one syncfs, not a sync per file), then
    /// rename the temp dir to the output (a missing or empty one), or move
    /// its files into the existing output (`--force`), and sync the
    /// directories changed.
    fn publish(mut self) -> std::io::Result<()> {
        let d = std::fs::File::open(&self.tmp)?;
        rustix::fs::syncfs(&d)?;
        let empty = self.to.is_dir() && std::fs::read_dir(&self.to)?.next().is_none();
        if empty {
            std::fs::remove_dir(&self.to)?;
        }
        if self.to.exists() {
            merge_into(&self.tmp, &self.to)?;
            std::fs::remove_dir_all(&self.tmp)?;
        } else {
            std::fs::rename(&self.tmp, &self.to)?;
        }
        self.done = true;
        if let Some(p) = self.to.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(p)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Move every file under `from` to the same place under `to` (renames on
/// one file system: no space needed), syncing each directory it fills.
fn merge_into(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() && dest.is_dir() {
            merge_into(&e.path(), &dest)?;
        } else {
            std::fs::rename(e.path(), &dest)?;
        }
    }
    std::fs::File::open(to)?.sync_all()
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
    /// Value bytes of the newest revisions.
    pub bytes: u64,
    /// Value bytes of every retained revision.
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

/// Resource directories (`pods`, `deployments.apps`) with their key
/// prefix and scope, longest prefix first, built once.
fn resource_table() -> &'static [(String, String, bool)] {
    static T: std::sync::OnceLock<Vec<(String, String, bool)>> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut v: Vec<(String, String, bool)> = resources::builtin()
            .into_iter()
            .map(|r| {
                let name = if r.group.is_empty() {
                    r.plural.clone()
                } else {
                    format!("{}.{}", r.plural, r.group)
                };
                (format!("{}/", r.prefix), name, r.namespaced)
            })
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.0.len()));
        v
    })
}

/// The built-in resource directory a key (after the etcd prefix) is in:
/// its prefix length and scope. Prefixes are one or two segments
/// (`pods/`, `services/specs/`); the two-segment one wins, as the longest
/// prefix does. One hash lookup or two per key.
fn builtin_dir(rest: &str) -> Option<(usize, bool)> {
    static T: std::sync::OnceLock<rustc_hash::FxHashMap<&'static str, bool>> =
        std::sync::OnceLock::new();
    let t = T.get_or_init(|| {
        resource_table()
            .iter()
            .map(|(pre, _, ns)| (pre.as_str(), *ns))
            .collect()
    });
    let first = rest.find('/')? + 1;
    if let Some(second) = rest[first..].find('/') {
        let two = first + second + 1;
        if let Some(ns) = t.get(&rest[..two]) {
            return Some((two, *ns));
        }
    }
    t.get(&rest[..first]).map(|ns| (first, *ns))
}

/// The length of a stored `mvccpb.KeyValue`'s value (field 5) without
/// decoding the rest: the fields before it are the key and varints; a
/// record this does not read (unknown field, cut short) is `None`, for the
/// decoder to judge.
fn stored_value_len(raw: &[u8]) -> Option<u64> {
    fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut at = 0;
    while at < raw.len() {
        let tag = varint(raw, &mut at)?;
        match (tag >> 3, tag & 7) {
            (5, 2) => return varint(raw, &mut at),
            (1, 2) => {
                let n = usize::try_from(varint(raw, &mut at)?).ok()?;
                at = at.checked_add(n).filter(|&e| e <= raw.len())?;
            }
            (2..=4 | 6, 0) => {
                varint(raw, &mut at)?;
            }
            _ => return None,
        }
    }
    // No value field: proto3 omits an empty value.
    Some(0)
}

/// `apiVersion/kind` of a stored value from its envelope alone.
fn kind_of(value: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "apiVersion", borrow)]
        api_version: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    match crate::k8s::envelope::recognize(value) {
        crate::k8s::envelope::Stored::Protobuf(env) => format!("{}/{}", env.api_version, env.kind),
        crate::k8s::envelope::Stored::Json(b) => serde_json::from_slice::<Head>(b)
            .ok()
            .map(|h| {
                format!(
                    "{}/{}",
                    h.api_version.as_deref().unwrap_or("?"),
                    h.kind.as_deref().unwrap_or("?")
                )
            })
            .unwrap_or_else(|| "json".into()),
        other => other.label(),
    }
}

fn merge(into: &mut Stats, from: Stats) {
    let add = |t: &mut Tally, f: &Tally| {
        t.objects += f.objects;
        t.bytes += f.bytes;
        t.all_revisions_bytes += f.all_revisions_bytes;
        t.revisions += f.revisions;
    };
    add(&mut into.total, &from.total);
    for (k, t) in &from.per_kind {
        add(into.per_kind.entry(k.clone()).or_default(), t);
    }
    for (k, t) in &from.per_namespace {
        add(into.per_namespace.entry(k.clone()).or_default(), t);
    }
    into.largest.extend(from.largest);
}

/// Census of the live objects under `prefix` (of one namespace, if
/// given). Every byte figure is value bytes: `bytes` of the newest
/// revision, `all_revisions_bytes` of every stored revision (tombstones
/// hold none). Kinds come from the value's envelope, without decoding
/// objects; keys are counted in parallel.
pub fn stats(index: &KeyIndex<'_>, prefix: &str, namespace: Option<&str>, top: usize) -> Stats {
    let p = format!("{}/", prefix.trim_end_matches('/'));
    let end = prefix_end(p.as_bytes());
    let from = index.lower_bound(p.as_bytes());
    let to = from
        + index.keys[from..]
            .iter()
            .take_while(|h| h.key < end.as_slice())
            .count();
    let current = index.current_revision;
    let value_len = |e: &crate::mvcc::index::RevEntry| -> u64 {
        if e.is_tombstone() {
            return 0;
        }
        stored_value_len(index.raw_of(e))
            .or_else(|| index.value_of(e).map(|kv| kv.value.len() as u64))
            .unwrap_or(0)
    };
    let _bar = crate::progress::start(
        "counting objects",
        (to - from) as u64,
        crate::progress::Unit::Keys,
        index.data.len() as u64,
    );
    let mut s = index.keys[from..to]
        .par_iter()
        .fold(Stats::default, |mut s, h| {
            crate::progress::tick(1);
            let Some(e) = h.at(current).filter(|e| !e.is_tombstone()) else {
                return s;
            };
            let Some(kv) = index.value_of(e) else {
                return s;
            };
            let key = String::from_utf8_lossy(h.key);
            let rest = key.strip_prefix(p.as_str()).unwrap_or(&key);
            let (dir_ns, tail) = match builtin_dir(rest) {
                Some((len, namespaced)) => (Some(namespaced), &rest[len..]),
                None => (None, resource_dir_tail(rest)),
            };
            let namespaced = dir_ns.unwrap_or(tail.contains('/'));
            let ns = if namespaced {
                tail.split('/').next().unwrap_or("").to_string()
            } else {
                "(cluster)".into()
            };
            if namespace.is_some_and(|n| n != ns) {
                return s;
            }
            let bytes = kv.value.len() as u64;
            let all: u64 = h.revs.iter().map(value_len).sum();
            let revs = h.revs.iter().filter(|r| !r.is_tombstone()).count() as u64;
            for t in [
                &mut s.total,
                s.per_kind.entry(kind_of(kv.value)).or_default(),
                s.per_namespace.entry(ns).or_default(),
            ] {
                t.objects += 1;
                t.bytes += bytes;
                t.all_revisions_bytes += all;
                t.revisions += revs;
            }
            s.largest.push(Notable {
                key: key.into_owned(),
                bytes,
                revisions: revs,
                all_revisions_bytes: all,
            });
            s
        })
        .reduce(Stats::default, |mut a, b| {
            merge(&mut a, b);
            a
        });
    let mut notable = std::mem::take(&mut s.largest);
    notable.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.key.cmp(&b.key)));
    s.largest = notable.iter().take(top).cloned().collect();
    notable.sort_by(|a, b| b.revisions.cmp(&a.revisions).then(a.key.cmp(&b.key)));
    s.most_revised = notable.into_iter().take(top).collect();
    s
}

/// The `[namespace/]name` part of a key outside the built-in resources
/// (`<group>/<plural>/...` for custom resources, else after the first
/// segment).
fn resource_dir_tail(rest: &str) -> &str {
    let mut parts = rest.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(g), Some(_), Some(tail)) if g.contains('.') => tail,
        (Some(first), Some(_), _) => &rest[first.len() + 1..],
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_lengths_read_without_decoding_agree_with_the_decoder() {
        use crate::etcd::kv::KeyValue;
        let big = vec![7u8; 70_000];
        for (key, value, lease) in [
            (&b"/registry/pods/a/b"[..], &b"k8s\0xyz"[..], 0),
            (b"/k", b"", 5),
            (b"", &big[..], 1 << 40),
        ] {
            let kv = KeyValue {
                key,
                create_revision: 3,
                mod_revision: 300_000,
                version: 2,
                value,
                lease,
                present: 0,
            };
            let raw = kv.encode();
            assert_eq!(stored_value_len(&raw), Some(value.len() as u64));
        }
        // Unknown fields or a cut record: not read here (the decoder decides).
        assert_eq!(stored_value_len(&[0x38, 1]), None);
        assert_eq!(stored_value_len(&[0x0a, 9, 1]), None);
        assert_eq!(stored_value_len(&[0x2a]), None);
    }

    #[test]
    fn resource_dirs_by_hash_are_the_longest_prefix() {
        for rest in [
            "pods/ns/x",
            "services/specs/ns/x",
            "services/endpoints/ns/x",
            "minions/n",
            "apiextensions.k8s.io/customresourcedefinitions/x",
            "example.com/widgets/ns/x",
            "nothing",
            "podsecuritypolicy/p",
        ] {
            let slow = resource_table()
                .iter()
                .find(|(pre, _, _)| rest.starts_with(pre.as_str()))
                .map(|(pre, _, ns)| (pre.len(), *ns));
            assert_eq!(builtin_dir(rest), slow, "{rest}");
        }
    }

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
