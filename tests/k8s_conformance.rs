//! Every stored-object test file of Kubernetes (`../shared/k8s-testdata`,
//! read in place) decoded with the built-in schema must equal the JSON
//! beside it; and the built-in schema must be what `k8s infer-schema`
//! makes from that data and `src/k8s/facts.txt` today.

use etcd_rescue::k8s::{decode, envelope, infer, schema};
use serde_json::Value;
use std::path::PathBuf;

fn testdata() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s-testdata");
    if d.is_dir() {
        return Some(d);
    }
    assert!(
        std::env::var("CI").is_err(),
        "../shared/k8s-testdata is missing (CI must have it beside the checkout)"
    );
    eprintln!("SKIPPED: ../shared/k8s-testdata not found");
    None
}

fn folders(root: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// The first place two JSON values differ, for the failure message.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    None => return Some(format!("{path}.{k}: only in ours ({v})")),
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k}: missing from ours"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: ours {a}, expected {b}")),
    }
}

/// Kinds (apiVersion and kind) that some release's test object still
/// decodes differently from its JSON, each with the reason. Printed on
/// every run and never counted as passing: the test fails if any other
/// kind differs, and also if a listed kind now decodes exactly (so the list
/// only shrinks). Issue 12 tracks them.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy", "v1.26.0 after_roundtrip: .spec.variables is absent on the wire, as in 1.26's own object; the re-encoding release printed null, 1.26 nothing, and nothing else in the spec tells them apart"),
    ("apps/v1 StatefulSet", "v1.20.0 after_roundtrip: .status.availableReplicas is 0 on the wire; the release that re-encoded it (1.21, omitempty) left it out of its JSON, 1.22+ print 0: the same bytes print differently"),
    ("apps/v1beta1 StatefulSet", "v1.20.0 after_roundtrip: .status.availableReplicas is 0 on the wire; the release that re-encoded it (1.21, omitempty) left it out of its JSON, 1.22+ print 0: the same bytes print differently"),
    ("apps/v1beta2 StatefulSet", "v1.20.0 after_roundtrip: .status.availableReplicas is 0 on the wire; the release that re-encoded it (1.21, omitempty) left it out of its JSON, 1.22+ print 0: the same bytes print differently"),
    ("networking.k8s.io/v1 IngressClass", "v1.20.0 after_roundtrip: .spec.parameters holds the same bytes as v1.20.0's own object, whose JSON has no scope, while the re-encoding release printed scope: null"),
    ("networking.k8s.io/v1beta1 IngressClass", "v1.20.0 after_roundtrip: .spec.parameters holds the same bytes as v1.20.0's own object, whose JSON has no scope, while the re-encoding release printed scope: null"),
    ("resource.k8s.io/v1alpha3 ResourceClaim", "v1.31.0 after_roundtrip: .status.allocation.devices.results[].adminAccess is absent on the wire; the re-encoding release (a pointer without omitempty) printed null, 1.31 (a bool with omitempty) nothing, and nothing beside it tells them apart"),
];

#[test]
fn every_testdata_object_decodes_to_its_json() {
    let Some(root) = testdata() else { return };
    conformance(&folders(&root));
}

fn conformance(dirs: &[PathBuf]) {
    let schema = schema::builtin();
    let mut kinds_ok = std::collections::BTreeSet::new();
    let mut kinds_bad = std::collections::BTreeMap::new();
    let mut files = 0;
    for dir in dirs {
        for pair in infer::read_pairs(std::slice::from_ref(dir)).unwrap() {
            files += 1;
            let env = envelope::Envelope::parse(&pair.stored).expect("envelope");
            if env.kind.is_empty() {
                // WatchEvent's envelope names no kind: it is never stored.
                continue;
            }
            let kind = format!("{} {}", env.api_version, env.kind);
            let got = decode::decode_envelope(schema, &env);
            match first_difference(&got.object, &pair.json, "") {
                None if got.notes.is_empty() => {
                    kinds_ok.insert(kind);
                }
                diff => {
                    kinds_bad.insert(
                        kind,
                        format!(
                            "{}: {:.300} {:.200?}",
                            pair.name,
                            diff.unwrap_or_default(),
                            got.notes.first()
                        ),
                    );
                }
            }
        }
    }
    for k in kinds_bad.keys() {
        kinds_ok.remove(k);
    }
    let present = kinds_ok.len() + kinds_bad.len();
    println!(
        "k8s conformance: {}/{} kinds (apiVersion+kind) decode exactly to their test JSON, {files} files in {:?}",
        kinds_ok.len(),
        present,
        dirs.iter()
            .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    );
    assert!(files > 3000, "only {files} test files found");
    for (kind, why) in KNOWN_DIFFERENCES {
        println!("KNOWN DIFFERENCE (not passing): {kind}: {why}");
    }
    let unexpected: Vec<&String> = kinds_bad
        .iter()
        .filter(|(k, _)| !KNOWN_DIFFERENCES.iter().any(|(x, _)| x == k))
        .map(|(_, v)| v)
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} kinds differ:\n{}",
        unexpected.len(),
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let fixed: Vec<&str> = KNOWN_DIFFERENCES
        .iter()
        .filter(|(k, _)| !kinds_bad.contains_key(*k))
        .map(|(k, _)| *k)
        .collect();
    assert!(
        fixed.is_empty(),
        "these kinds decode exactly now: take them off KNOWN_DIFFERENCES: {fixed:?}"
    );
}

#[test]
fn builtin_schema_is_reproducible_from_testdata_and_facts() {
    let Some(root) = testdata() else { return };
    reproducible(&folders(&root));
}

fn reproducible(dirs: &[PathBuf]) {
    let pairs = infer::read_pairs(dirs).unwrap();
    let facts = include_str!("../src/k8s/facts.txt");
    let (text, rep) = infer::schema_file(&pairs, facts);
    assert!(rep.unmatched.is_empty(), "{:?}", rep.unmatched);
    assert!(rep.bad_facts.is_empty(), "{:?}", rep.bad_facts);
    assert!(
        text == include_str!("../src/k8s/schema.txt"),
        "src/k8s/schema.txt is stale: regenerate with `etcd-rescue k8s infer-schema ../shared/k8s-testdata/*/ --facts src/k8s/facts.txt > src/k8s/schema.txt`"
    );
}

/// With `ETCD_RESCUE_K8S_API=DIR` (a kubernetes/api + apimachinery checkout
/// assembled by the user; none is shipped), the schema `--k8s-api DIR`
/// builds must decode every testdata object whose kind it knows to the JSON
/// beside it. Prints the figure per testdata folder; fails on any mismatch.
#[test]
#[ignore = "needs ETCD_RESCUE_K8S_API=<kubernetes/api + apimachinery checkout>: cargo test --release --test k8s_conformance -- --ignored"]
fn k8s_api_checkout_schema_decodes_testdata() {
    let api = std::env::var("ETCD_RESCUE_K8S_API")
        .expect("set ETCD_RESCUE_K8S_API to a kubernetes/api + apimachinery checkout");
    let Some(root) = testdata() else { return };
    let schema = etcd_rescue::k8s::gotypes::load(std::path::Path::new(&api)).expect("load");
    let mut failures = Vec::new();
    for dir in folders(&root) {
        let (mut ok, mut tried) = (0, 0);
        for pair in infer::read_pairs(std::slice::from_ref(&dir)).unwrap() {
            let env = envelope::Envelope::parse(&pair.stored).expect("envelope");
            if env.kind.is_empty() || schema.kind(env.api_version, env.kind).is_none() {
                continue;
            }
            tried += 1;
            let got = decode::decode_envelope(&schema, &env);
            match first_difference(&got.object, &pair.json, "") {
                None if got.notes.is_empty() => ok += 1,
                diff => failures.push(format!(
                    "{}/{}: {:.300} {:.200?}",
                    dir.file_name().unwrap().to_string_lossy(),
                    pair.name,
                    diff.unwrap_or_default(),
                    got.notes.first()
                )),
            }
        }
        println!(
            "--k8s-api {api}: {ok}/{tried} kinds decode exactly in {}",
            dir.file_name().unwrap().to_string_lossy()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With `ETCD_RESCUE_K8S_API=DIR`, a report: the fields where the checkout's
/// schema and the built-in one, reached from the same kind by the same
/// field numbers, decode differently (JSON name, type, list, and the
/// presence rules that matter: pointer and omitempty for scalars, omitempty
/// otherwise). Differences are expected where the checkout's Go version
/// differs from the test data's, and where the built-in schema's facts are
/// coarser than Go (kinds that are never stored); they are printed for
/// review, not failed on.
#[test]
#[ignore = "needs ETCD_RESCUE_K8S_API=<kubernetes/api + apimachinery checkout>: cargo test --release --test k8s_conformance -- --ignored"]
fn k8s_api_checkout_schema_compared_with_builtin() {
    let api = std::env::var("ETCD_RESCUE_K8S_API")
        .expect("set ETCD_RESCUE_K8S_API to a kubernetes/api + apimachinery checkout");
    let ours = etcd_rescue::k8s::gotypes::load(std::path::Path::new(&api)).expect("load");
    let builtin = schema::builtin();
    let mut seen = std::collections::HashSet::new();
    let mut diffs = Vec::new();
    let mut compared = 0;
    let mut stack: Vec<(usize, usize, String)> = Vec::new();
    for ((v, k), t) in &ours.kinds {
        if let Some(b) = builtin.kind(v, k) {
            stack.push((*t, b, format!("{v} {k}")));
        }
    }
    while let Some((a, b, path)) = stack.pop() {
        if !seen.insert((a, b)) {
            continue;
        }
        for fa in &ours.types[a].fields {
            let Some(fb) = builtin.types[b].field(fa.number) else {
                continue;
            };
            if fa.inline || fb.inline {
                // The same members, grouped differently.
                continue;
            }
            compared += 1;
            let p = format!("{path}.{}", fa.json);
            let scalar = |t: &schema::Ty| {
                matches!(
                    t,
                    schema::Ty::String | schema::Ty::Int | schema::Ty::Bool | schema::Ty::Bytes
                )
            };
            let same_ty = match (&fa.ty, &fb.ty) {
                (schema::Ty::Msg(x), schema::Ty::Msg(y)) => {
                    stack.push((*x, *y, p.clone()));
                    true
                }
                (schema::Ty::Map(x), schema::Ty::Map(y)) => {
                    if let (schema::Ty::Msg(x), schema::Ty::Msg(y)) = (&**x, &**y) {
                        stack.push((*x, *y, p.clone()));
                    }
                    std::mem::discriminant(&**x) == std::mem::discriminant(&**y)
                }
                (x, y) => x == y,
            };
            let presence = |f: &schema::Field| {
                if scalar(&f.ty) && !f.repeated {
                    (f.ptr, f.always)
                } else {
                    // Absent and printed, a message shows null either way.
                    (false, f.always)
                }
            };
            if !same_ty
                || fa.json != fb.json
                || fa.repeated != fb.repeated
                || presence(fa) != presence(fb)
            {
                diffs.push(format!(
                    "{p} #{}: ours {:?} {} rep={} ptr={} always={}, built-in {:?} {} rep={} ptr={} always={}",
                    fa.number, fa.ty, fa.json, fa.repeated, fa.ptr, fa.always,
                    fb.ty, fb.json, fb.repeated, fb.ptr, fb.always
                ));
            }
        }
    }
    diffs.sort();
    diffs.dedup();
    println!(
        "--k8s-api {api}: {compared} fields compared with the built-in schema, {} decode differently:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(compared > 0);
}
