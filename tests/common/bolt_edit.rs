//! Editing a db in tests the way the planted-divergence tests need: every
//! top-level bucket read into memory with the crate's cursor, changed, and
//! written back with the crate's bolt writer (a valid file holding exactly
//! the records given).

use etcd_rescue::bolt::cursor::{top_level_buckets, BucketCursor};
use etcd_rescue::bolt::writer::{write_db, BucketData, WriteOptions};
use etcd_rescue::bolt::BoltFile;
use etcd_rescue::etcd::revision::RevisionKey;
use std::path::Path;

pub type Buckets = Vec<(Vec<u8>, BucketData)>;

/// Every top-level bucket of a clean db, with its records.
pub fn dump(bytes: &[u8]) -> Buckets {
    let f = BoltFile::new(bytes).unwrap();
    let m = f.best_meta().unwrap();
    let (roots, damage) = top_level_buckets(&f, m);
    assert!(damage.is_empty());
    roots
        .into_iter()
        .map(|(n, r)| {
            let pairs = BucketCursor::new(&f, r.unwrap(), m.pgid)
                .map(|i| {
                    let i = i.unwrap();
                    (i.key.to_vec(), i.value.to_vec())
                })
                .collect();
            (
                n.to_vec(),
                BucketData {
                    pairs,
                    ..Default::default()
                },
            )
        })
        .collect()
}

/// The records of bucket `name`.
pub fn bucket<'a>(b: &'a mut Buckets, name: &[u8]) -> &'a mut Vec<(Vec<u8>, Vec<u8>)> {
    &mut b.iter_mut().find(|(n, _)| n == name).unwrap().1.pairs
}

/// Write `b` as a db at `path`.
pub fn write_to(path: &Path, b: &Buckets) {
    std::fs::write(path, write_db(b, WriteOptions::default()).unwrap()).unwrap();
}

/// A revision key as `diff` prints it: `main_sub`, `t` for a tombstone.
pub fn rev_text(k: &[u8]) -> String {
    let r = RevisionKey::parse(k).unwrap();
    format!("{}_{}{}", r.main, r.sub, if r.tombstone { "t" } else { "" })
}

/// Where the value of record `key` of top-level bucket `name` lies in the
/// file `bytes` (the live leaf's copy, not a stale freed page).
pub fn value_offset(bytes: &[u8], name: &[u8], key: &[u8]) -> usize {
    let f = BoltFile::new(bytes).unwrap();
    let m = f.best_meta().unwrap();
    let (roots, _) = top_level_buckets(&f, m);
    let root = roots
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
        .unwrap();
    let item = BucketCursor::new(&f, root, m.pgid)
        .map(|i| i.unwrap())
        .find(|i| i.key == key)
        .unwrap();
    item.value.as_ptr() as usize - bytes.as_ptr() as usize
}
