//! Silent corruption: one bit flipped inside a record of the `key` bucket
//! (its revision key or its stored `mvccpb.KeyValue`) at seeded random
//! places, in every line's fixture db and in the Kubernetes fixture. bbolt
//! and etcd accept every such file; `check`'s cross-record consistency must
//! find most. Each flip is classed by what it changed:
//! * `revision key`: the bbolt key (the revision);
//! * `kv structure`: the KeyValue no longer decodes as etcd writes it;
//! * `key`, `revision field` (create/mod revision, version), `lease`;
//! * `k8s structure`: a Kubernetes value whose protobuf wire skeleton
//!   (field numbers, wire types, lengths, nested) changed;
//! * `k8s content`: a Kubernetes value's scalar or string bytes;
//! * `opaque value`: the value of a non-Kubernetes key.
//!
//! Found = an error or warning finding the clean copy does not have.
//! Asserted: no finding of the consistency checks on any clean fixture, and
//! at least 95% found over the classes key, revision key, revision field, kv
//! structure and k8s structure. CI: 150 flips per fixture (seed 20261202).
//! ETCD_RESCUE_FLIPS=N per fixture, ETCD_RESCUE_FLIPS_SEED=S.

mod common;
use common::testdata;
use etcd_rescue::bolt::cursor::{find_bucket, BucketCursor};
use etcd_rescue::bolt::walk::offset_in;
use etcd_rescue::bolt::BoltFile;
use etcd_rescue::etcd::kv::KeyValue;
use etcd_rescue::findings::{Finding, Severity};
use etcd_rescue::mmap::InputFile;
use etcd_rescue::mvcc::coherence::Source;
use etcd_rescue::mvcc::index::KeyIndex;
use etcd_rescue::mvcc::stream;
use etcd_rescue::ops::check::check_db;
use etcd_rescue::ops::consistency::key_findings;
use etcd_rescue::ops::open::OpenDb;
use etcd_rescue::proto::{fields, Value};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Codes of the cross-record consistency checks.
const CONSISTENCY: [&str; 5] = [
    "etcd.key.history",
    "etcd.key.suspicious",
    "etcd.key.lease-missing",
    "etcd.auth.role-missing",
    "k8s.value.inconsistent",
];

/// Classes the 95% target is over.
const TARGET: [&str; 5] = [
    "revision key",
    "kv structure",
    "key",
    "revision field",
    "k8s structure",
];

fn findings(bytes: Vec<u8>) -> Vec<Finding> {
    let db = OpenDb {
        path: PathBuf::from("t.db"),
        file: InputFile::from_bytes("t.db", bytes),
        is_snapshot: false,
    };
    match check_db(&db) {
        Ok(c) => c.findings.into_sorted("t.db"),
        Err(e) => vec![Finding::error("open", "t.db", e.to_string())],
    }
}

/// The key bucket's consistency findings of a db read both ways: from one
/// pass in revision order, and from the full key index. None when the pass
/// does not apply (leaves out of revision order) or no index can be built.
type Shown = Vec<(&'static str, String, Option<u64>)>;
fn both_ways(bytes: Vec<u8>) -> Option<(Shown, Shown)> {
    let db = OpenDb {
        path: PathBuf::from("t.db"),
        file: InputFile::from_bytes("t.db", bytes),
        is_snapshot: false,
    };
    let bolt = db.bolt().ok()?;
    let streamed = stream::pass(&bolt).ok()??;
    let index = KeyIndex::build(&bolt).ok()?;
    // No lease known: every live key's lease is reported, both ways.
    let leases = HashSet::new();
    let show = |fs: Vec<Finding>| -> Shown {
        fs.into_iter()
            .map(|f| (f.code, f.message, f.offset))
            .collect()
    };
    Some((
        show(key_findings(&Source::Stream(&streamed), &leases, "t.db")),
        show(key_findings(&Source::Index(&index), &leases, "t.db")),
    ))
}

fn seen(fs: &[Finding]) -> BTreeSet<(&'static str, String)> {
    fs.iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| (f.code, f.message.clone()))
        .collect()
}

/// (key offset, key len, value offset, value len) of every `key` record.
fn records(bytes: &[u8]) -> Vec<(usize, usize, usize, usize)> {
    let f = BoltFile::new(bytes).unwrap();
    let meta = f.meta().unwrap();
    let root = find_bucket(&f, meta, b"key").unwrap();
    BucketCursor::new(&f, root, meta.pgid)
        .flatten()
        .filter_map(|it| {
            Some((
                offset_in(bytes, it.key)? as usize,
                it.key.len(),
                offset_in(bytes, it.value)? as usize,
                it.value.len(),
            ))
        })
        .collect()
}

/// The wire skeleton of protobuf bytes: field numbers, wire types, lengths,
/// and the skeleton of every bytes field that parses as a message.
fn skeleton(b: &[u8], depth: usize, out: &mut Vec<u64>) -> bool {
    let start = out.len();
    for f in fields(b) {
        let Ok((n, v, _)) = f else {
            out.truncate(start);
            return false;
        };
        out.push(u64::from(n));
        match v {
            Value::Varint(_) => out.push(0),
            Value::Fixed64(_) => out.push(1),
            Value::Fixed32(_) => out.push(5),
            Value::Bytes(x) => {
                out.push(2);
                out.push(x.len() as u64);
                if depth < 20 && !x.is_empty() {
                    out.push(u64::MAX);
                    if !skeleton(x, depth + 1, out) {
                        out.pop();
                    }
                }
            }
        }
    }
    true
}

fn k8s_skeleton(v: &[u8]) -> Option<Vec<u64>> {
    let body = v.strip_prefix(b"k8s\0")?;
    let mut s = Vec::new();
    skeleton(body, 0, &mut s).then_some(s)
}

/// What flipping changed, by the original and damaged record.
fn class(orig: &[u8], flipped: &[u8], in_key: bool) -> &'static str {
    if in_key {
        return "revision key";
    }
    let (Ok(a), Ok(b)) = (KeyValue::decode(orig), KeyValue::decode(flipped)) else {
        return "kv structure";
    };
    if a.key != b.key {
        return "key";
    }
    if (a.create_revision, a.mod_revision, a.version)
        != (b.create_revision, b.mod_revision, b.version)
    {
        return "revision field";
    }
    if a.lease != b.lease {
        return "lease";
    }
    if a.value.starts_with(b"k8s\0") {
        if k8s_skeleton(a.value) != k8s_skeleton(b.value) {
            return "k8s structure";
        }
        return "k8s content";
    }
    "opaque value"
}

/// A small seeded generator (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The Kubernetes fixture's db, made in `tmp` (None: skipped outside CI).
fn k8s_db(tmp: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ETCD_RESCUE_K8S_DB") {
        return Some(PathBuf::from(p));
    }
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s-testdata/HEAD");
    let py = Command::new("python3")
        .args(["-c", "import cryptography, nacl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !shared.is_dir() || !py || !common::etcd::have_etcd() {
        assert!(
            std::env::var("CI").is_err(),
            "the Kubernetes fixture needs ../shared/k8s-testdata, etcd and python3 with cryptography and pynacl"
        );
        eprintln!("SKIPPED: the Kubernetes fixture (../shared, etcd or python modules missing)");
        return None;
    }
    let out = tmp.join("k8s");
    let st = Command::new("python3")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/k8s/make_fixture.py"))
        .arg("--testdata")
        .arg(&shared)
        .arg("--out")
        .arg(&out)
        .args(["--client-port", &common::port().to_string()])
        .args(["--peer-port", &common::port().to_string()])
        .output()
        .unwrap();
    assert!(st.status.success(), "make_fixture.py failed");
    Some(out.join("etcd/member/snap/db"))
}

/// Flips per fixture: ETCD_RESCUE_FLIPS, 150 unless set.
fn flips() -> usize {
    std::env::var("ETCD_RESCUE_FLIPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150)
}

#[test]
fn flipped_bits_in_key_records_are_found() {
    let n = flips();
    let seed: u64 = std::env::var("ETCD_RESCUE_FLIPS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261202);
    let tmp = tempfile::tempdir().unwrap();
    let mut dbs: Vec<(String, PathBuf)> = [
        "etcd34",
        "etcd35",
        "etcd36",
        "etcd37",
        "etcd34to36",
        "etcd36learner",
    ]
    .iter()
    .map(|d| (d.to_string(), testdata().join(d).join("member/snap/db")))
    .collect();
    if let Some(p) = k8s_db(tmp.path()) {
        dbs.push(("k8s".into(), p));
    }
    // class -> (flips, found); and a few missed examples per class.
    let mut table: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut missed: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut false_findings = Vec::new();
    for (fi, (name, path)) in dbs.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let clean = findings(bytes.clone());
        for f in clean.iter().filter(|f| CONSISTENCY.contains(&f.code)) {
            false_findings.push(format!("{name}: {} {}", f.code, f.message));
        }
        let base = seen(&clean);
        let recs = records(&bytes);
        let mut rng = Rng(seed ^ (fi as u64).wrapping_mul(0x1000_0000_01b3));
        let plan: Vec<(usize, usize, u8)> = (0..n)
            .map(|_| {
                let r = rng.below(recs.len());
                let (_, kl, _, vl) = recs[r];
                (r, rng.below(kl + vl), 1u8 << rng.below(8))
            })
            .collect();
        let rows: Vec<(&'static str, bool, String)> = plan
            .par_iter()
            .map(|&(r, at, bit)| {
                let (ko, kl, vo, vl) = recs[r];
                let in_key = at < kl;
                let off = if in_key { ko + at } else { vo + at - kl };
                let mut b = bytes.clone();
                b[off] ^= bit;
                let c = class(&bytes[vo..vo + vl], &b[vo..vo + vl], in_key);
                let after = findings(b);
                let found = seen(&after).difference(&base).next().is_some();
                let mut what = format!("{name} offset {off} bit {bit:#04x}");
                if std::env::var("ETCD_RESCUE_FLIPS_VERBOSE").is_ok() && !found {
                    let show = |v: &[u8]| match KeyValue::decode(v) {
                        Ok(kv) => format!(
                            "{:?} c{} m{} v{} l{:x} {}B",
                            String::from_utf8_lossy(kv.key),
                            kv.create_revision,
                            kv.mod_revision,
                            kv.version,
                            kv.lease,
                            kv.value.len()
                        ),
                        Err(e) => e.to_string(),
                    };
                    let mut fb = bytes.clone();
                    fb[off] ^= bit;
                    what = format!(
                        "{what} [{}] key {:02x?} -> {:02x?} | {} -> {}",
                        if in_key { at } else { at - kl },
                        &bytes[ko..ko + kl],
                        &fb[ko..ko + kl],
                        show(&bytes[vo..vo + vl]),
                        show(&fb[vo..vo + vl])
                    );
                }
                (c, found, what)
            })
            .collect();
        for (c, found, what) in rows {
            let e = table.entry(c).or_default();
            e.0 += 1;
            if found {
                e.1 += 1;
            } else {
                missed.entry(c).or_default().push(what);
            }
        }
    }
    let (mut t, mut tf) = (0, 0);
    for (c, (all, found)) in &table {
        eprintln!(
            "{c:>15}: {found}/{all} found ({:.1}%)",
            100.0 * *found as f64 / (*all).max(1) as f64
        );
        if TARGET.contains(c) {
            t += all;
            tf += found;
        }
        if let Some(m) = missed.get(c) {
            let k = if std::env::var("ETCD_RESCUE_FLIPS_VERBOSE").is_ok() {
                m.len()
            } else {
                3
            };
            for x in &m[..m.len().min(k)] {
                eprintln!("                 missed: {x}");
            }
        }
    }
    let share = 100.0 * tf as f64 / t.max(1) as f64;
    eprintln!("target classes: {tf}/{t} found ({share:.1}%)");
    assert!(
        false_findings.is_empty(),
        "consistency findings on clean fixtures:\n{}",
        false_findings.join("\n")
    );
    assert!(
        share >= 95.0,
        "only {share:.1}% of flips in the target classes found"
    );
}

/// `check` reads the key bucket in one pass in revision order instead of
/// building the key index: on every fixture, clean and with a bit flipped
/// in a key record, both give the same findings in the same order.
#[test]
fn one_pass_finds_what_the_index_finds() {
    let n = flips();
    let tmp = tempfile::tempdir().unwrap();
    let mut dbs: Vec<PathBuf> = ["etcd34", "etcd35", "etcd36", "etcd37", "etcd34to36"]
        .iter()
        .map(|d| testdata().join(d).join("member/snap/db"))
        .collect();
    if let Some(p) = k8s_db(tmp.path()) {
        dbs.push(p);
    }
    let (mut compared, mut with_findings, mut history) = (0, 0, 0);
    for (fi, path) in dbs.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let recs = records(&bytes);
        let mut rng = Rng(20261203 ^ (fi as u64).wrapping_mul(0x1000_0000_01b3));
        let mut cases = vec![bytes.clone()];
        for _ in 0..n {
            let (ko, kl, vo, vl) = recs[rng.below(recs.len())];
            let at = rng.below(kl + vl);
            let off = if at < kl { ko + at } else { vo + at - kl };
            let mut b = bytes.clone();
            b[off] ^= 1u8 << rng.below(8);
            cases.push(b);
        }
        let rows: Vec<Option<(Shown, Shown)>> = cases.into_par_iter().map(both_ways).collect();
        for (i, r) in rows.into_iter().enumerate() {
            let Some((one_pass, index)) = r else { continue };
            compared += 1;
            with_findings += usize::from(!index.is_empty());
            history += usize::from(index.iter().any(|f| f.0 == "etcd.key.history"));
            assert_eq!(
                one_pass,
                index,
                "{} case {i}: the findings differ",
                path.display()
            );
        }
    }
    eprintln!(
        "{compared} dbs compared, {with_findings} with findings, {history} with history findings"
    );
    assert!(
        compared >= dbs.len() * n / 2,
        "only {compared} dbs could be read both ways"
    );
    assert!(history > 0, "no case had a history finding to compare");
}
