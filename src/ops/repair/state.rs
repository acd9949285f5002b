//! The state a repair builds before writing it: every bucket's records in
//! key order (values borrowed from the input where they were read), plus
//! the mvcc rules that act on the `key` bucket (the live view of each key,
//! compaction as etcd performs it).
#![forbid(unsafe_code)]

use crate::etcd::kv::KeyValue;
use crate::etcd::revision::RevisionKey;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One bucket's records by key. A value read from the input stays a slice
/// of its mapping (the file's pages, not the heap), so a rebuilt db of any
/// size takes memory for its keys and the maps only; what a log replay or a
/// rule writes is owned.
pub type Records<'a> = BTreeMap<Vec<u8>, Cow<'a, [u8]>>;

/// Records by bucket name.
pub type Buckets<'a> = BTreeMap<Vec<u8>, Records<'a>>;

fn record<'b>(b: &'b Buckets<'_>, bucket: &[u8], key: &[u8]) -> Option<&'b [u8]> {
    b.get(bucket)?.get(key).map(|v| &**v)
}

/// An 8-byte big-endian counter of the `meta` bucket (consistent index,
/// term).
pub fn meta_u64(b: &Buckets, key: &[u8]) -> Option<u64> {
    record(b, b"meta", key)
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map(u64::from_be_bytes)
}

/// A compaction revision of the `meta` bucket (stored as a revision key).
pub fn meta_i64(b: &Buckets, key: &[u8]) -> Option<i64> {
    match crate::etcd::records::meta_record(key, record(b, b"meta", key)?) {
        Ok(crate::etcd::records::MetaRecord::FinishedCompactRev(r))
        | Ok(crate::etcd::records::MetaRecord::ScheduledCompactRev(r)) => Some(r),
        _ => None,
    }
}

/// Whether auth is on (`auth/authEnabled` is 1).
pub fn auth_enabled(b: &Buckets) -> bool {
    record(b, b"auth", b"authEnabled").is_some_and(|v| v.first() == Some(&1))
}

/// The auth store's revision (`auth/authRevision`), 0 when absent.
pub fn auth_revision(b: &Buckets) -> u64 {
    record(b, b"auth", b"authRevision")
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The newest revision of a live key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
    pub value: Vec<u8>,
}

/// Each live key's newest revision, from the `key` bucket read in
/// revision order (a tombstone ends a key).
pub fn live_keys(key_bucket: &Records<'_>) -> BTreeMap<Vec<u8>, Live> {
    let mut live = BTreeMap::new();
    for (rk, v) in key_bucket {
        let (Ok(rev), Ok(kv)) = (RevisionKey::parse(rk), KeyValue::decode(v)) else {
            continue;
        };
        if rev.tombstone {
            live.remove(kv.key);
        } else {
            live.insert(
                kv.key.to_vec(),
                Live {
                    create_revision: kv.create_revision,
                    mod_revision: kv.mod_revision,
                    version: kv.version,
                    lease: kv.lease,
                    value: kv.value.to_vec(),
                },
            );
        }
    }
    live
}

/// The greatest main revision in the `key` bucket.
pub fn current_revision(key_bucket: &Records<'_>) -> i64 {
    key_bucket
        .keys()
        .next_back()
        .and_then(|k| RevisionKey::parse(k).ok())
        .map_or(0, |r| r.main)
}

/// Compact the `key` bucket at `at` as etcd does: of each key's revisions
/// at or below `at`, only the newest stays, and not even that one when it
/// is a tombstone. Returns how many records were removed.
pub fn compact(key_bucket: &mut Records<'_>, at: i64) -> u64 {
    let mut newest: BTreeMap<Vec<u8>, (Vec<u8>, bool)> = BTreeMap::new();
    let mut doomed: Vec<Vec<u8>> = Vec::new();
    for (rk, v) in key_bucket.iter() {
        let Ok(rev) = RevisionKey::parse(rk) else {
            continue;
        };
        if rev.main > at {
            break;
        }
        let Ok(kv) = KeyValue::decode(v) else {
            continue;
        };
        if let Some((old, _)) = newest.insert(kv.key.to_vec(), (rk.clone(), rev.tombstone)) {
            doomed.push(old);
        }
    }
    doomed.extend(
        newest
            .into_values()
            .filter(|(_, tomb)| *tomb)
            .map(|(rk, _)| rk),
    );
    let n = doomed.len() as u64;
    for rk in doomed {
        key_bucket.remove(&rk);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(b: &mut Records<'static>, main: i64, key: &[u8], tomb: bool) {
        let rk = RevisionKey {
            main,
            sub: 0,
            tombstone: tomb,
        };
        let kv = if tomb {
            KeyValue {
                key,
                ..KeyValue::default()
            }
        } else {
            KeyValue {
                key,
                create_revision: main,
                mod_revision: main,
                version: 1,
                value: b"v",
                ..KeyValue::default()
            }
        };
        b.insert(rk.encode(), kv.encode().into());
    }

    #[test]
    fn compaction_keeps_the_newest_non_tombstone() {
        let mut b = BTreeMap::new();
        put(&mut b, 1, b"a", false);
        put(&mut b, 2, b"a", false);
        put(&mut b, 3, b"b", false);
        put(&mut b, 4, b"b", true);
        put(&mut b, 5, b"c", false);
        put(&mut b, 6, b"a", false);
        assert_eq!(compact(&mut b, 5), 3);
        let mains: Vec<i64> = b
            .keys()
            .map(|k| RevisionKey::parse(k).unwrap().main)
            .collect();
        assert_eq!(mains, vec![2, 5, 6]);
        let live = live_keys(&b);
        assert_eq!(live.len(), 2);
        assert_eq!(live[b"a".as_slice()].mod_revision, 6);
        assert_eq!(current_revision(&b), 6);
    }
}
