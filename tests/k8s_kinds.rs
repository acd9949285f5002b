//! Every kind any Kubernetes release 1.15–1.36 stored (every
//! `<group>.<version>.<Kind>` of every folder of `../shared/k8s-testdata`,
//! read in place) is known to `k8s get`: its resource resolves by plural,
//! singular, kind, `<plural>.<group>` and short names, its columns are
//! kubectl's, and objects of removed API versions list with the namespace
//! and name of their etcd key.

use etcd_rescue::bolt::writer::{write_db, BucketData, WriteOptions};
use etcd_rescue::etcd::kv::KeyValue;
use etcd_rescue::etcd::revision::RevisionKey;
use etcd_rescue::k8s::{columns, resources};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn testdata() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s-testdata");
    if d.is_dir() {
        return Some(d);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "../shared/k8s-testdata is missing (CI must have it beside the checkout)"
    );
    eprintln!("SKIPPED: ../shared/k8s-testdata not found");
    None
}

/// Kinds in the test data that kube-apiserver never stores in etcd:
/// options, reviews, subresources, discovery documents, and `Status`.
const NOT_STORED: &[&str] = &[
    "APIGroup",
    "APIGroupDiscovery",
    "APIVersions",
    "AdmissionReview",
    "Binding",
    "ComponentStatus",
    "CreateOptions",
    "DeleteOptions",
    "DeploymentRollback",
    "EphemeralContainers",
    "ExportOptions",
    "GetOptions",
    "ImageReview",
    "JobTemplate",
    "ListOptions",
    "LocalSubjectAccessReview",
    "NodeProxyOptions",
    "PatchOptions",
    "PodAttachOptions",
    "PodExecOptions",
    "PodLogOptions",
    "PodPortForwardOptions",
    "PodProxyOptions",
    "PodStatusResult",
    "ReplicationControllerDummy",
    "Scale",
    "SelfSubjectAccessReview",
    "SelfSubjectReview",
    "SelfSubjectRulesReview",
    "SerializedReference",
    "ServiceProxyOptions",
    "Status",
    "SubjectAccessReview",
    "TokenRequest",
    "TokenReview",
    "UpdateOptions",
    "WatchEvent",
];

/// Stored kinds kube-apiserver prints with its default table (NAME,
/// CREATED AT): no printer of their own.
const DEFAULT_TABLE: &[&str] = &[
    "ClusterRole",
    "CompositePodGroup",
    "DeviceTaintRule",
    "Eviction",
    "EvictionRequest",
    "LimitRange",
    "PodCertificateRequest",
    "PodGroup",
    "PodPreset",
    "RangeAllocation",
    "ResourcePoolStatusRequest",
    "Role",
    "Workload",
];

/// Short names kubectl accepts (the apiserver's `ShortNames()`).
const SHORT: &[(&str, &str)] = &[
    ("Pod", "po"),
    ("Service", "svc"),
    ("Endpoints", "ep"),
    ("Node", "no"),
    ("Namespace", "ns"),
    ("ConfigMap", "cm"),
    ("ServiceAccount", "sa"),
    ("Event", "ev"),
    ("PersistentVolume", "pv"),
    ("PersistentVolumeClaim", "pvc"),
    ("ReplicationController", "rc"),
    ("ResourceQuota", "quota"),
    ("LimitRange", "limits"),
    ("Deployment", "deploy"),
    ("ReplicaSet", "rs"),
    ("StatefulSet", "sts"),
    ("DaemonSet", "ds"),
    ("CronJob", "cj"),
    ("HorizontalPodAutoscaler", "hpa"),
    ("Ingress", "ing"),
    ("NetworkPolicy", "netpol"),
    ("PodDisruptionBudget", "pdb"),
    ("PodSecurityPolicy", "psp"),
    ("PriorityClass", "pc"),
    ("StorageClass", "sc"),
    ("CertificateSigningRequest", "csr"),
    ("VolumeAttributesClass", "vac"),
    ("IPAddress", "ip"),
];

/// (folder, group, version, kind) of every stored-object file.
fn stored_kinds(root: &std::path::Path) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let folder = d.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pb") && !n.ends_with(".after_roundtrip.pb"))
            .collect();
        files.sort();
        for f in files {
            let stem = f.trim_end_matches(".pb");
            let parts: Vec<&str> = stem.rsplitn(3, '.').collect();
            let [kind, version, group] = parts[..] else {
                panic!("{folder}/{f}: not <group>.<version>.<Kind>.pb")
            };
            // policy's Eviction is a pod subresource; lifecycle.k8s.io's is stored.
            if NOT_STORED.contains(&kind) || (group, kind) == ("policy", "Eviction") {
                continue;
            }
            out.push((folder.clone(), group.into(), version.into(), kind.into()));
        }
    }
    out
}

#[test]
fn every_stored_kind_of_every_release_has_resource_names_and_columns() {
    let Some(root) = testdata() else { return };
    let kinds = stored_kinds(&root);
    let folders: BTreeSet<&str> = kinds.iter().map(|k| k.0.as_str()).collect();
    assert!(folders.len() >= 23, "folders: {folders:?}");
    let mut seen = BTreeSet::new();
    let now = 1_700_000_000;
    for (folder, group, version, kind) in &kinds {
        let what = format!("{folder}: {group}/{version} {kind}");
        let r = resources::for_kind(group, kind)
            .unwrap_or_else(|| panic!("{what}: k8s get knows no resource for it"));
        // Every name kubectl accepts resolves to the same resource.
        let mut typed = vec![r.plural.clone(), r.singular.clone(), kind.clone()];
        typed.extend(r.short.iter().cloned());
        if !r.group.is_empty() {
            typed.push(format!("{}.{}", r.plural, r.group));
        }
        for t in &typed {
            let (got, ns) = resources::resolve(t).unwrap_or_else(|| panic!("{what}: {t:?}"));
            assert_eq!(
                (got.prefix.as_str(), ns),
                (r.prefix.as_str(), Some(r.namespaced)),
                "{what}: {t:?} resolves elsewhere"
            );
        }
        if let Some((_, short)) = SHORT.iter().find(|(k, _)| k == kind) {
            assert!(r.short.iter().any(|s| s == short), "{what}: no {short}");
        }
        // Columns: kubectl's headers, one cell each, the NAME cell the name.
        let headers = columns::headers(&r.group, &r.kind);
        let default = headers == ["NAME", "CREATED AT"];
        assert_eq!(
            default,
            DEFAULT_TABLE.contains(&kind.as_str()),
            "{what}: headers {headers:?}"
        );
        let stem = format!("{group}.{version}.{kind}");
        let json: Value = serde_json::from_slice(
            &std::fs::read(root.join(folder).join(format!("{stem}.json"))).unwrap(),
        )
        .unwrap();
        let cells = columns::cells(&r.group, &r.kind, &json, now);
        assert_eq!(cells.len(), headers.len(), "{what}: {headers:?} {cells:?}");
        if let Some(i) = headers.iter().position(|h| *h == "NAME") {
            assert_eq!(
                cells[i],
                json["metadata"]["name"].as_str().unwrap(),
                "{what}"
            );
        }
        let wide = columns::wide_headers(&r.group, &r.kind);
        assert_eq!(
            columns::wide_cells(&r.group, &r.kind, &json).len(),
            wide.len(),
            "{what}: wide"
        );
        seen.insert((group.clone(), version.clone(), kind.clone()));
    }
    eprintln!(
        "{} stored (apiVersion, kind) pairs over {} folders",
        seen.len(),
        folders.len()
    );
    for gone in [
        ("policy", "v1beta1", "PodSecurityPolicy"),
        ("extensions", "v1beta1", "PodSecurityPolicy"),
        ("batch", "v2alpha1", "CronJob"),
        ("extensions", "v1beta1", "Deployment"),
        ("networking.k8s.io", "v1alpha1", "ClusterCIDR"),
        ("scheduling.k8s.io", "v1alpha1", "Workload"),
    ] {
        let g = (gone.0.to_string(), gone.1.to_string(), gone.2.to_string());
        assert!(seen.contains(&g), "{gone:?} is not in the test data");
    }
}

/// A protobuf length-delimited field.
fn field(out: &mut Vec<u8>, num: u8, b: &[u8]) {
    out.push(num << 3 | 2);
    let mut n = b.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(b);
}

/// `k8s\0` + runtime.Unknown{typeMeta{apiVersion, kind}, raw}.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut tm = Vec::new();
    field(&mut tm, 1, api_version.as_bytes());
    field(&mut tm, 2, kind.as_bytes());
    let mut out = b"k8s\0".to_vec();
    field(&mut out, 1, &tm);
    field(&mut out, 2, raw);
    out
}

fn k8s_get(db: &std::path::Path, args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(["k8s", "get"])
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn objects_of_removed_versions_list_with_the_namespace_and_name_of_their_key() {
    let Some(root) = testdata() else { return };
    let read = |p: &str| std::fs::read(root.join(p)).unwrap();
    // Whole objects as the last release serving each version stored them,
    // and a batch/v2alpha1 CronJob whose value names no metadata (a spec
    // only): its row takes both from the key.
    // The 1.23 object's own namespace and name, from the JSON beside it.
    let old_json: serde_json::Value =
        serde_json::from_slice(&read("v1.23.0/batch.v2alpha1.CronJob.json")).unwrap();
    let meta_of = |k: &str| old_json["metadata"][k].as_str().unwrap().to_string();
    let (old_ns, old_name) = (meta_of("namespace"), meta_of("name"));
    let mut spec = Vec::new();
    field(&mut spec, 1, b"*/5 * * * *");
    let mut cronjob = Vec::new();
    field(&mut cronjob, 2, &spec);
    let values: Vec<(String, Vec<u8>)> = vec![
        (
            "/registry/cronjobs/team-a/nightly".into(),
            envelope("batch/v2alpha1", "CronJob", &cronjob),
        ),
        (
            format!("/registry/cronjobs/{old_ns}/{old_name}"),
            read("v1.23.0/batch.v2alpha1.CronJob.pb"),
        ),
        (
            "/registry/podsecuritypolicy/nameValue".into(),
            read("v1.28.0/policy.v1beta1.PodSecurityPolicy.pb"),
        ),
        (
            "/registry/deployments/namespaceValue/nameValue".into(),
            read("HEAD/extensions.v1beta1.Deployment.pb"),
        ),
    ];
    let mut pairs = Vec::new();
    for (i, (key, value)) in values.iter().enumerate() {
        let rev = i as i64 + 2;
        let kv = KeyValue {
            key: key.as_bytes(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            value,
            lease: 0,
            present: 0,
        };
        let rk = RevisionKey {
            main: rev,
            sub: 0,
            tombstone: false,
        };
        pairs.push((rk.encode(), kv.encode()));
    }
    let mut meta = BucketData::default();
    meta.pairs
        .push((b"consistent_index".to_vec(), 100u64.to_be_bytes().to_vec()));
    let key = BucketData {
        pairs,
        ..Default::default()
    };
    let db = write_db(
        &[(b"key".to_vec(), key), (b"meta".to_vec(), meta)],
        WriteOptions::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::write(&path, db).unwrap();

    let rows = |out: &str| -> Vec<Vec<String>> {
        out.lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    };
    let (_, out) = k8s_get(&path, &["cronjobs", "-A"]);
    let r = rows(&out);
    assert_eq!(
        r.first().map(|h| h[..2].to_vec()),
        Some(vec!["NAMESPACE".to_string(), "NAME".to_string()]),
        "{out}"
    );
    let team = r
        .iter()
        .find(|x| x[0] == "team-a")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(team[1], "nightly", "{out}");
    assert!(
        r.iter().any(|x| x[0] == old_ns && x[1] == old_name),
        "{out}"
    );
    for (res, head) in [("psp", "PRIV"), ("deploy", "READY")] {
        let (_, out) = k8s_get(&path, &[res, "-A"]);
        assert!(out.contains(head), "{res}: {out}");
        assert!(out.contains("nameValue"), "{res}: {out}");
    }
}
