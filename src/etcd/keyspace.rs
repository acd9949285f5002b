//! A light pass over the `key` bucket: how many distinct keys there are and
//! how many are live at the latest revision. (The full key index with
//! generations and history lives in the `mvcc` layer.)

use super::kv::KeyValue;
use super::revision::RevisionKey;
use crate::bolt::cursor::{find_bucket, BucketCursor};
use crate::bolt::BoltFile;
use serde::Serialize;
use std::collections::HashMap;

/// Counts over the `key` bucket.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyCounts {
    /// Distinct key names seen.
    pub keys: u64,
    /// Key names whose newest stored revision is not a tombstone.
    pub live_keys: u64,
    /// Entries skipped because they did not decode, or subtrees lost.
    pub unreadable: u64,
}

/// Count keys through the current (or best) meta.
pub fn count_keys(file: &BoltFile<'_>) -> Option<KeyCounts> {
    let meta = file.best_meta()?;
    let root = find_bucket(file, meta, b"key")?;
    let mut latest: HashMap<&[u8], bool> = HashMap::new();
    let mut unreadable = 0;
    for item in BucketCursor::new(file, root, meta.pgid) {
        let Ok(item) = item else {
            unreadable += 1;
            continue;
        };
        let (Ok(rev), Ok(kv)) = (RevisionKey::parse(item.key), KeyValue::decode(item.value)) else {
            unreadable += 1;
            continue;
        };
        latest.insert(kv.key, !rev.tombstone);
    }
    Some(KeyCounts {
        keys: latest.len() as u64,
        live_keys: latest.values().filter(|l| **l).count() as u64,
        unreadable,
    })
}
