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

#[test]
fn every_testdata_object_decodes_to_its_json() {
    let Some(root) = testdata() else { return };
    let schema = schema::builtin();
    let mut kinds_ok = std::collections::BTreeSet::new();
    let mut kinds_bad = std::collections::BTreeMap::new();
    let mut files = 0;
    for dir in folders(&root) {
        for pair in infer::read_pairs(std::slice::from_ref(&dir)).unwrap() {
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
        folders(&root)
            .iter()
            .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    );
    assert!(files > 500, "only {files} test files found");
    assert!(
        kinds_bad.is_empty(),
        "{} kinds differ:\n{}",
        kinds_bad.len(),
        kinds_bad.values().cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn builtin_schema_is_reproducible_from_testdata_and_facts() {
    let Some(root) = testdata() else { return };
    let pairs = infer::read_pairs(&folders(&root)).unwrap();
    let facts = include_str!("../src/k8s/facts.txt");
    let (text, rep) = infer::schema_file(&pairs, facts);
    assert!(rep.unmatched.is_empty(), "{:?}", rep.unmatched);
    assert!(rep.bad_facts.is_empty(), "{:?}", rep.bad_facts);
    assert!(
        text == include_str!("../src/k8s/schema.txt"),
        "src/k8s/schema.txt is stale: regenerate with `etcd-rescue k8s infer-schema ../shared/k8s-testdata/* --facts src/k8s/facts.txt > src/k8s/schema.txt`"
    );
}

/// With `ETCD_RESCUE_K8S_API=DIR` (a kubernetes/api + apimachinery checkout
/// assembled by the user; none is shipped), the schema `--k8s-api DIR`
/// builds must decode every testdata object whose kind it knows to the JSON
/// beside it. Prints the figure per testdata folder; fails on any mismatch.
#[test]
fn k8s_api_checkout_schema_decodes_testdata() {
    let Ok(api) = std::env::var("ETCD_RESCUE_K8S_API") else {
        eprintln!("SKIPPED: set ETCD_RESCUE_K8S_API to a kubernetes/api checkout");
        return;
    };
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
