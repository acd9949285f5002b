//! etcd's hashes, computed offline:
//! * the `snapshot status` hash and figures (CRC-32C over every bucket name
//!   and every key and value, in order);
//! * the backend hash of etcd's corruption checker (the same, skipping the
//!   meta keys that differ between healthy members);
//! * `hashkv`: CRC-32C over the `key` bucket as `endpoint hashkv` computes it
//!   at a revision, with the compaction keep set.

use super::index::{KeyHistory, KeyIndex};
use crate::bolt::cursor::{top_level_buckets, BucketCursor};
use crate::bolt::BoltFile;
use crate::etcd::revision::RevisionKey;
use serde::Serialize;
use std::collections::HashSet;

/// What `etcdctl snapshot status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotStatus {
    pub hash: u32,
    pub revision: i64,
    /// etcd 3.4/3.5: every key/value pair of every bucket.
    pub total_keys: u64,
    pub total_size: u64,
    /// Subtrees that could not be read (the figures then miss their keys).
    pub unreadable: usize,
}

/// Meta keys the backend hash skips (3.4: consistent_index; 3.5: + term;
/// 3.6: + storageVersion). Each exists only in its own versions.
const BACKEND_HASH_IGNORES: [&[u8]; 3] = [b"consistent_index", b"term", b"storageVersion"];

fn bucket_hash(file: &BoltFile<'_>, ignore_meta: bool) -> Option<SnapshotStatus> {
    let meta = file.best_meta()?;
    let (buckets, damage) = top_level_buckets(file, meta);
    let mut h = 0u32;
    let mut st = SnapshotStatus {
        hash: 0,
        revision: 0,
        total_keys: 0,
        total_size: meta.pgid.saturating_mul(file.page_size() as u64),
        unreadable: damage.len(),
    };
    for (name, root) in buckets {
        h = crc32c::crc32c_append(h, name);
        let Ok(root) = root else {
            st.unreadable += 1;
            continue;
        };
        let is_key = name == b"key";
        let is_meta = name == b"meta";
        for item in BucketCursor::new(file, root, meta.pgid) {
            let Ok(item) = item else {
                st.unreadable += 1;
                continue;
            };
            st.total_keys += 1;
            if is_key {
                if let Ok(r) = RevisionKey::parse(item.key) {
                    st.revision = r.main;
                }
            }
            if ignore_meta && is_meta && BACKEND_HASH_IGNORES.contains(&item.key) {
                continue;
            }
            h = crc32c::crc32c_append(h, item.key);
            // A sub-bucket's value is its header; bbolt's ForEach yields nil.
            if !item.is_bucket() {
                h = crc32c::crc32c_append(h, item.value);
            }
        }
    }
    st.hash = h;
    Some(st)
}

/// `etcdctl snapshot status` (3.4/3.5 meaning of total keys).
pub fn snapshot_status(file: &BoltFile<'_>) -> Option<SnapshotStatus> {
    bucket_hash(file, false)
}

/// The backend hash etcd's corruption checker compares between members.
pub fn backend_hash(file: &BoltFile<'_>) -> Option<u32> {
    bucket_hash(file, true).map(|s| s.hash)
}

/// What `etcdctl endpoint hashkv` reports.
#[derive(Debug, Clone, Serialize)]
pub struct HashKv {
    pub hash: u32,
    pub hash_revision: i64,
    pub compact_revision: i64,
}

/// Why hashkv cannot be computed at a revision.
pub use super::range::RangeError as HashKvError;

/// The revision of `h` that compaction at `at` keeps (etcd's `keyIndex.keep`):
/// the newest revision ≤ `at` of the generation holding `at`, unless it is
/// that generation's tombstone.
fn kept(h: &KeyHistory<'_>, at: i64) -> Option<RevisionKey> {
    let gens: Vec<_> = h.generations().collect();
    let open_last = h.revs.last().is_some_and(|r| !r.is_tombstone());
    // etcd keeps an empty generation after a tombstone; find the first
    // generation whose tombstone is above `at`, else the last one.
    let n = gens.len();
    let mut gi = None;
    for (i, g) in gens.iter().enumerate() {
        let closed = i + 1 < n || !open_last;
        if closed && g.last().is_some_and(|t| t.main > at) {
            gi = Some(i);
            break;
        }
    }
    let g = match gi {
        Some(i) => gens[i],
        // All generations closed at or below `at`: the empty generation.
        None if !open_last => return None,
        None => *gens.last()?,
    };
    let r = g.iter().rev().find(|r| r.main <= at)?;
    if r.is_tombstone() {
        return None;
    }
    Some(r.revision())
}

/// `hashkv` at `rev` (0: the current revision), refused at the compacted
/// revision itself as 3.4 and 3.5.0 refuse it.
pub fn hash_kv(index: &KeyIndex<'_>, rev: i64) -> Result<HashKv, HashKvError> {
    hash_kv_as(index, rev, &crate::etcd::lines::V3_4)
}

/// `hashkv` at `rev` by the rules of a line (which revisions are refused
/// as compacted).
pub fn hash_kv_as(
    index: &KeyIndex<'_>,
    rev: i64,
    rules: &crate::etcd::lines::LineRules,
) -> Result<HashKv, HashKvError> {
    let compact = index.compacted;
    let current = index.current_revision;
    if rules.hashkv_compacted(rev, compact) {
        return Err(HashKvError::Compacted {
            requested: rev,
            compacted: compact,
        });
    }
    if rev > current {
        return Err(HashKvError::Future {
            requested: rev,
            current,
        });
    }
    let rev = if rev <= 0 { current } else { rev };
    let keep: HashSet<RevisionKey> = index.keys.iter().filter_map(|h| kept(h, rev)).collect();
    // Walk the stored revisions in key-bucket order (by revision).
    let mut all: Vec<(RevisionKey, &[u8])> = Vec::with_capacity(index.revisions as usize);
    for h in &index.keys {
        for e in &h.revs {
            if e.main <= rev {
                all.push((e.revision(), index.raw_of(e)));
            }
        }
    }
    all.sort_unstable_by_key(|(r, _)| (r.main, r.sub, r.tombstone));
    let mut h = crc32c::crc32c(b"key");
    for (r, v) in all {
        if r.main <= compact
            && !keep.is_empty()
            && !keep.contains(&RevisionKey {
                tombstone: false,
                ..r
            })
        {
            continue;
        }
        h = crc32c::crc32c_append(h, &r.encode());
        h = crc32c::crc32c_append(h, v);
    }
    Ok(HashKv {
        hash: h,
        hash_revision: rev,
        compact_revision: if compact > 0 { compact } else { -1 },
    })
}
