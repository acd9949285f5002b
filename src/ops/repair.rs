//! `repair`: a fresh snapshot file (db + SHA-256 trailer, the form
//! `etcdctl snapshot save` writes and `snapshot restore` verifies) rebuilt
//! from everything the db's tree still yields: every top-level bucket read
//! through the cursor, damaged subtrees skipped and accounted for, written
//! compact by the bbolt writer. A healthy db gives a defragmented copy with
//! the same keyspace, history and hashkv.
#![forbid(unsafe_code)]

use crate::bolt::cursor::{top_level_buckets, BucketCursor};
use crate::bolt::writer::{write_db, BucketData, WriteOptions};
use crate::bolt::BoltFile;
use serde::Serialize;
use sha2::Digest;

/// What a repair recovered and lost.
#[derive(Debug, Default, Serialize)]
pub struct RepairReport {
    /// Entries written, per top-level bucket.
    pub recovered: std::collections::BTreeMap<String, u64>,
    /// Subtrees that could not be read, described.
    pub lost: Vec<String>,
    pub buckets_lost: Vec<String>,
    pub bytes_written: u64,
    /// Whether everything reachable was recovered.
    pub complete: bool,
}

/// Rebuild `db` (the bytes of a db, without a snapshot trailer) into the
/// bytes of a snapshot file.
pub fn rebuild(db: &[u8]) -> Result<(Vec<u8>, RepairReport), String> {
    let f = BoltFile::new(db).map_err(|e| e.to_string())?;
    let meta = f
        .best_meta()
        .ok_or("no usable meta page: a page scan (--salvage) is not implemented yet")?;
    let mut report = RepairReport::default();
    let (roots, damage) = top_level_buckets(&f, meta);
    for d in damage {
        report.lost.push(format!("root bucket: {d:?}"));
    }
    let mut top: Vec<(Vec<u8>, BucketData)> = Vec::new();
    for (name, root) in roots {
        let label = String::from_utf8_lossy(name).into_owned();
        let root = match root {
            Ok(r) => r,
            Err(e) => {
                report.buckets_lost.push(format!("{label}: {e:?}"));
                continue;
            }
        };
        // etcd does not use bucket sequences (its defrag drops them too).
        let mut data = BucketData::default();
        for item in BucketCursor::new(&f, root, meta.pgid) {
            match item {
                Ok(i) if i.is_bucket() => report.lost.push(format!(
                    "{label}: nested bucket {:?} not copied",
                    String::from_utf8_lossy(i.key)
                )),
                Ok(i) => data.pairs.push((i.key.to_vec(), i.value.to_vec())),
                Err(d) => report.lost.push(format!("{label}: {d:?}")),
            }
        }
        // A damaged tree may yield keys out of order: keep the first of
        // each key, in order.
        data.pairs.sort_by(|a, b| a.0.cmp(&b.0));
        data.pairs.dedup_by(|a, b| a.0 == b.0);
        report.recovered.insert(label, data.pairs.len() as u64);
        top.push((name.to_vec(), data));
    }
    top.sort_by(|a, b| a.0.cmp(&b.0));
    let mut bytes = write_db(
        &top,
        WriteOptions {
            page_size: meta.page_size as usize,
            persist_freelist: false,
            txid: meta.txid.max(2),
        },
    )
    .map_err(|e| e.to_string())?;
    let sum = sha2::Sha256::digest(&bytes);
    bytes.extend_from_slice(&sum);
    report.bytes_written = bytes.len() as u64;
    report.complete = report.lost.is_empty() && report.buckets_lost.is_empty();
    Ok((bytes, report))
}
