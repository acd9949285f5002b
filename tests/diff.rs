//! `diff` on copies of the real etcd 3.4 fixture with planted divergence,
//! rewritten with the crate's bolt writer: it names exactly what was
//! planted, nothing else, and exits 0 / 1 / 2 as documented.

mod common;

use common::bolt_edit::{bucket, dump, rev_text, write_to, Buckets};
use etcd_rescue::etcd::kv::KeyValue;
use etcd_rescue::etcd::revision::RevisionKey;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn write(dir: &Path, name: &str, b: &Buckets) -> std::path::PathBuf {
    let p = dir.join(name);
    write_to(&p, b);
    p
}

fn diff_args(a: &Path, b: &Path, extra: &[&str]) -> (i32, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .arg("diff")
        .arg(a)
        .arg(b)
        .args(["-o", "json"])
        .args(extra)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap(), v)
}

/// `diff` (revision ranges), checked against `diff --merge-walk`: the
/// same answer but for the method.
fn diff(a: &Path, b: &Path) -> (i32, Value) {
    let (code, mut v) = diff_args(a, b, &[]);
    let (rcode, mut rv) = diff_args(a, b, &["--merge-walk"]);
    assert_eq!(code, rcode);
    if let (Some(m), Some(rm)) = (v.get_mut("method"), rv.get_mut("method")) {
        assert_eq!(rm["kind"], "merge_walk");
        assert_eq!(m["kind"], "ranges", "{m}");
        assert!(m["ranges"].as_u64() > Some(1), "{m}");
        *m = Value::Null;
        *rm = Value::Null;
    }
    assert_eq!(v, rv, "ranges vs merge walk");
    (code, v)
}

#[test]
fn planted_divergence_is_named_exactly() {
    let base = dump(&common::db_bytes());
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.db", &base);
    let mut planted = base.clone();
    let keys = bucket(&mut planted, b"key");
    // A lost write: revision record 100 removed.
    let (lost, _) = keys.remove(100);
    // A flipped value byte in record 200 (page structure re-written valid).
    let (flip_rev, raw) = keys[200].clone();
    let kv = KeyValue::decode(&raw).unwrap();
    assert!(!kv.value.is_empty());
    let mut value = kv.value.to_vec();
    let last = value.len() - 1;
    value[last] ^= 0x04;
    keys[200].1 = KeyValue {
        value: &value,
        ..kv
    }
    .encode();
    // An extra revision past the last one.
    let top = RevisionKey::parse(&keys.last().unwrap().0).unwrap().main + 1;
    let extra = RevisionKey {
        main: top,
        sub: 0,
        tombstone: false,
    };
    let extra_kv = KeyValue {
        key: b"/planted",
        create_revision: top,
        mod_revision: top,
        version: 1,
        value: b"x",
        ..Default::default()
    };
    keys.push((extra.encode().to_vec(), extra_kv.encode()));
    // A different compaction point.
    let meta = bucket(&mut planted, b"meta");
    let compact = RevisionKey {
        main: 50,
        sub: 0,
        tombstone: false,
    }
    .encode()
    .to_vec();
    match meta.iter_mut().find(|(k, _)| k == b"finishedCompactRev") {
        Some(p) => p.1 = compact,
        None => {
            meta.push((b"finishedCompactRev".to_vec(), compact));
            meta.sort();
        }
    }
    let b = write(dir.path(), "b.db", &planted);

    let (code, v) = diff(&a, &b);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["identical"], false);
    let revs = v["revisions"].as_array().unwrap();
    let got: Vec<(String, String)> = revs
        .iter()
        .map(|r| {
            (
                r["revision"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want = [
        (lost, "only_in_a"),
        (flip_rev, "differs"),
        (extra.encode().to_vec(), "only_in_b"),
    ];
    want.sort();
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, kind)| (rev_text(k), kind.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(v["first_divergence"], want[0].0.as_str());
    // The flipped record: only its value differs.
    let fields = revs.iter().find(|r| r["kind"] == "differs").unwrap()["fields"]
        .as_array()
        .unwrap();
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(fields[0]["field"], "value");
    assert_eq!(revs[2]["key"], "/planted");
    // The compaction point, and nothing else outside the key bucket.
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["bucket"], "meta");
    assert_eq!(recs[0]["key"], "finishedCompactRev");
    assert_eq!(recs[0]["b"], "revision 50");
    assert!(v["damage"].as_array().unwrap().is_empty());
}

#[test]
fn member_specific_meta_is_reported_not_divergence() {
    let base = dump(&common::db_bytes());
    let dir = tempfile::tempdir().unwrap();
    let mut other = base.clone();
    let meta = bucket(&mut other, b"meta");
    let ci = meta
        .iter_mut()
        .find(|(k, _)| k == b"consistent_index")
        .unwrap();
    let n = u64::from_be_bytes(ci.1.as_slice().try_into().unwrap());
    ci.1 = (n + 3).to_be_bytes().to_vec();
    // The fixture db itself (as etcd wrote it) against the rewritten copy.
    let (code, v) = diff(&common::db_path(), &write(dir.path(), "b.db", &other));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["identical"], true);
    let ms = v["member_specific"].as_array().unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["key"], "consistent_index");
    assert_eq!(ms[0]["b"], (n + 3).to_string());
    // Data dir against its own `etcdctl snapshot save` file: identical.
    let snap = common::testdata().join("etcd34.snapshot.db");
    let (code, v) = diff(&common::data_dir(), &snap);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn unusable_input_cannot_be_compared() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a db").unwrap();
    let (code, v) = diff(&common::db_path(), &junk);
    assert_eq!(code, 2);
    assert_eq!(v, Value::Null, "no JSON when nothing was compared");
}
