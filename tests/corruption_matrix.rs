//! The corruption matrix: for every page of a real etcd db, zero it, flip
//! each header byte, and flip bytes in its body. `check` must never panic,
//! must end, and must report an error for every damage that changes what a
//! reader sees, except a change confined to one value's bytes that leaves
//! every record valid (bbolt keeps no checksums: nothing can see that).

use etcd_rescue::bolt::cursor::BucketCursor;
use etcd_rescue::bolt::file::{bucket_root, BucketRoot};
use etcd_rescue::bolt::{BoltFile, PAGE_HEADER_SIZE};
use etcd_rescue::findings::Severity;
use etcd_rescue::mmap::InputFile;
use etcd_rescue::ops::check::check_db;
use etcd_rescue::ops::open::OpenDb;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

type Content = BTreeMap<(Vec<u8>, Vec<u8>), Vec<u8>>;

/// What a reader sees through the meta bbolt would use: every item of every
/// bucket (one level of nesting, as etcd uses), or None when unreadable.
fn content(bytes: &[u8]) -> Option<Content> {
    let f = BoltFile::new(bytes).ok()?;
    let meta = f.meta()?;
    let mut out = Content::new();
    for top in BucketCursor::new(&f, BucketRoot::Page(meta.root), meta.pgid) {
        let top = top.ok()?;
        if !top.is_bucket() {
            return None;
        }
        let (root, _) = bucket_root(top.value, f.endian()).ok()?;
        for item in BucketCursor::new(&f, root, meta.pgid) {
            let item = item.ok()?;
            out.insert((top.key.to_vec(), item.key.to_vec()), item.value.to_vec());
        }
    }
    Some(out)
}

fn errors(bytes: Vec<u8>) -> Vec<&'static str> {
    let db = OpenDb {
        path: PathBuf::from("matrix.db"),
        file: InputFile::from_bytes("matrix.db", bytes),
        is_snapshot: false,
    };
    match check_db(&db) {
        Ok(c) => {
            let mut codes: Vec<&'static str> = c
                .findings
                .items()
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| f.code)
                .collect();
            codes.dedup();
            codes
        }
        Err(_) => vec!["unopenable"],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Content changed and check reported an error.
    Detected,
    /// Content unchanged; check still reported a (structural) error.
    StructuralOnly,
    /// Content unchanged, no error: the damage hit unused bytes.
    Harmless,
    /// Only one record's bytes changed (its value, or its key in place) and
    /// every record stayed valid and in order: without checksums in bbolt,
    /// nothing offline can see this (etcd's hashkv across members can).
    ValueOnlyUndetectable,
    /// Content changed and nothing was reported: a failure.
    Missed,
}

fn fixture() -> PathBuf {
    std::env::var_os("ETCD_RESCUE_MATRIX_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/etcd34/member/snap/db")
        })
}

#[test]
fn corruption_matrix() {
    let orig = std::fs::read(fixture()).expect("fixture db (run testdata/generate.sh)");
    let base = content(&orig).expect("the fixture itself reads cleanly");
    assert!(errors(orig.clone()).is_empty(), "the fixture checks clean");
    let f = BoltFile::new(&orig).unwrap();
    let ps = f.page_size();
    let pages = orig.len() / ps;
    let mut cases: Vec<(usize, String, Vec<u8>)> = Vec::new();
    for p in 0..pages {
        let start = p * ps;
        let mut z = orig.clone();
        z[start..start + ps].fill(0);
        cases.push((p, "zero page".into(), z));
        for b in 0..PAGE_HEADER_SIZE {
            let mut d = orig.clone();
            d[start + b] ^= 0xff;
            cases.push((p, format!("flip header byte {b}"), d));
        }
        let count = u16::from_le_bytes([orig[start + 10], orig[start + 11]]) as usize;
        let mut body = vec![
            16,
            16 + 4,
            16 + 16 * count,
            16 + 16 * count + 8,
            ps / 2,
            ps - 1,
        ];
        body.sort_unstable();
        body.dedup();
        for off in body.into_iter().filter(|o| *o >= 16 && *o < ps) {
            let mut d = orig.clone();
            d[start + off] ^= 0xff;
            cases.push((p, format!("flip body byte {off}"), d));
        }
    }
    let results: Vec<(usize, String, Outcome, Vec<&'static str>)> = cases
        .into_par_iter()
        .map(|(p, what, bytes)| {
            let seen = content(&bytes);
            let errs = errors(bytes);
            let outcome = match (&seen, errs.is_empty()) {
                (Some(c), true) if *c == base => Outcome::Harmless,
                (Some(c), false) if *c == base => Outcome::StructuralOnly,
                (_, false) => Outcome::Detected,
                (Some(c), true) if single_record_change(&base, c) => Outcome::ValueOnlyUndetectable,
                _ => Outcome::Missed,
            };
            (p, what, outcome, errs)
        })
        .collect();
    let mut tally: BTreeMap<Outcome, usize> = BTreeMap::new();
    for r in &results {
        *tally.entry(r.2).or_default() += 1;
    }
    let changed = tally.get(&Outcome::Detected).copied().unwrap_or(0)
        + tally.get(&Outcome::Missed).copied().unwrap_or(0)
        + tally
            .get(&Outcome::ValueOnlyUndetectable)
            .copied()
            .unwrap_or(0);
    println!(
        "matrix: {pages} pages, {} damages: {changed} changed what a reader sees; {} of those detected, {} single-record changes undetectable, {} missed; {} harmless (unused bytes), {} structural-only errors",
        results.len(),
        tally.get(&Outcome::Detected).copied().unwrap_or(0),
        tally.get(&Outcome::ValueOnlyUndetectable).copied().unwrap_or(0),
        tally.get(&Outcome::Missed).copied().unwrap_or(0),
        tally.get(&Outcome::Harmless).copied().unwrap_or(0),
        tally.get(&Outcome::StructuralOnly).copied().unwrap_or(0),
    );
    let missed: Vec<_> = results
        .iter()
        .filter(|r| r.2 == Outcome::Missed)
        .map(|r| format!("page {}: {}", r.0, r.1))
        .collect();
    assert!(
        missed.is_empty(),
        "damage that changed content went unreported: {missed:#?}"
    );
    // Every reachable page must be exercised: the matrix covers them all.
    assert!(results.len() >= pages * 17);
}

/// Exactly one record differs: same key with another value, or one key
/// replaced in place by another (with the same value).
fn single_record_change(a: &Content, b: &Content) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diffs = 0;
    for ((ka, va), (kb, vb)) in a.iter().zip(b.iter()) {
        if ka != kb || va != vb {
            diffs += 1;
        }
    }
    diffs == 1
}
