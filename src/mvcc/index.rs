//! The key index: for every key name, its stored revisions in order, with
//! where each value lives in the file. Built in one pass over the `key`
//! bucket; damage met on the way is kept, not fatal.

use crate::bolt::cursor::leaf_pages;
use crate::bolt::cursor::{find_bucket, BucketCursor, CursorDamage};
use crate::bolt::file::BucketRoot;
use crate::bolt::page::NodePage;
use crate::bolt::walk::offset_in;
use crate::bolt::BoltFile;
use crate::etcd::kv::KeyValue;
use crate::etcd::records::{meta_record, MetaRecord};
use crate::etcd::revision::RevisionKey;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::hash::BuildHasher;

/// Shards the index is grouped in (in parallel).
const SHARDS: usize = 64;

/// Entries read from a run of leaves, split by key-name hash.
struct Chunk<'a> {
    shards: Vec<Vec<(&'a [u8], RevEntry)>>,
    count: u64,
    bad: u64,
    max_main: Option<i64>,
}

impl<'a> Chunk<'a> {
    fn new() -> Chunk<'a> {
        Chunk {
            shards: (0..SHARDS).map(|_| Vec::new()).collect(),
            count: 0,
            bad: 0,
            max_main: None,
        }
    }

    fn add(&mut self, file: &BoltFile<'a>, key: &'a [u8], value: &'a [u8]) {
        let (rev, kv) = match entry(key, value) {
            Entry::Placeholder(main) => {
                self.max_main = self.max_main.max(Some(main));
                return;
            }
            Entry::Bad => {
                self.bad += 1;
                return;
            }
            Entry::Kept(rev, kv) => (rev, kv),
        };
        self.max_main = self.max_main.max(Some(rev.main));
        self.count += 1;
        let shard = (rustc_hash::FxBuildHasher.hash_one(kv.key) >> 58) as usize % SHARDS;
        self.shards[shard].push((
            kv.key,
            RevEntry {
                main: rev.main,
                sub_tomb: ((rev.sub as u32) << 1) | u32::from(rev.tombstone),
                value_offset: offset_in(file.data, value).unwrap_or(0),
                value_len: value.len() as u32,
                create_revision: kv.create_revision,
                version: kv.version,
                lease: kv.lease,
                k8s_value: kv.value.starts_with(crate::k8s::envelope::MAGIC),
            },
        ));
    }
}

/// What one entry of the `key` bucket is to the index.
pub enum Entry<'a> {
    /// The placeholder of `snapshot restore --bump-revision`: it moves the
    /// current revision, it holds no key.
    Placeholder(i64),
    /// Its revision key or its `KeyValue` does not decode, or its sub
    /// revision is out of range.
    Bad,
    /// A stored revision of a key.
    Kept(RevisionKey, KeyValue<'a>),
}

/// Classify one entry of the `key` bucket (the one rule every pass over
/// the bucket applies).
pub fn entry<'a>(key: &'a [u8], value: &'a [u8]) -> Entry<'a> {
    if value.is_empty() {
        if let Ok(rev) = RevisionKey::parse(key) {
            return Entry::Placeholder(rev.main);
        }
    }
    let (Ok(rev), Ok(kv)) = (RevisionKey::parse(key), KeyValue::decode(value)) else {
        return Entry::Bad;
    };
    if rev.sub >= i64::from(u32::MAX >> 1) {
        return Entry::Bad;
    }
    Entry::Kept(rev, kv)
}

/// The `key` bucket opened for a pass over its entries: its leaf pages in
/// key (so revision) order, or the entries of an inline root, with the
/// compaction revisions from `meta`.
pub struct KeyBucket<'a> {
    pub data: &'a [u8],
    pub leaves: Vec<NodePage<'a>>,
    /// The entries of an inline root (a tiny db; then `leaves` is empty).
    pub inline: Vec<(&'a [u8], &'a [u8])>,
    /// Subtrees that could not be read.
    pub lost: Vec<CursorDamage>,
    /// `finishedCompactRev` (0 when never compacted).
    pub compacted: i64,
    /// `scheduledCompactRev`, when one was written.
    pub scheduled: Option<i64>,
}

impl<'a> KeyBucket<'a> {
    pub fn open(file: &BoltFile<'a>) -> Result<KeyBucket<'a>, IndexError> {
        let meta = file.best_meta().ok_or(IndexError::NoMeta)?;
        let root = find_bucket(file, meta, b"key").ok_or(IndexError::NoKeyBucket)?;
        let (mut compacted, mut scheduled) = (0, None);
        if let Some(m) = find_bucket(file, meta, b"meta") {
            for item in BucketCursor::new(file, m, meta.pgid).flatten() {
                match meta_record(item.key, item.value) {
                    Ok(MetaRecord::FinishedCompactRev(r)) => compacted = r,
                    Ok(MetaRecord::ScheduledCompactRev(r)) => scheduled = Some(r),
                    _ => {}
                }
            }
        }
        let (leaves, lost, inline) = match root {
            BucketRoot::Page(id) => {
                let (l, d) = leaf_pages(file, id, meta.pgid);
                (l, d, Vec::new())
            }
            BucketRoot::Inline(_) => (
                Vec::new(),
                Vec::new(),
                BucketCursor::new(file, root, meta.pgid)
                    .flatten()
                    .map(|it| (it.key, it.value))
                    .collect(),
            ),
        };
        Ok(KeyBucket {
            data: file.data,
            leaves,
            inline,
            lost,
            compacted,
            scheduled,
        })
    }

    /// Every readable entry of `pages` in order, as (key, value); returns
    /// how many elements were not (bucket elements, undecodable ones).
    pub fn entries_of(pages: &[NodePage<'a>], mut f: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        let mut bad = 0;
        for node in pages {
            for i in 0..node.count() {
                match node.leaf(i) {
                    Ok(l) if !l.is_bucket() => f(l.key, l.value),
                    _ => bad += 1,
                }
            }
        }
        bad
    }

    /// Every entry in order (sequential): the inline ones, then the leaves'.
    pub fn for_each(&self, mut f: impl FnMut(&'a [u8], &'a [u8])) {
        for (k, v) in &self.inline {
            f(k, v);
        }
        Self::entries_of(&self.leaves, f);
    }
}
use serde::Serialize;

/// One stored revision of a key: its revision, the `KeyValue` fields the
/// consistency checks compare (read once, in leaf order, while the index is
/// built, so later passes need not go back to the file in key order) and
/// where the value lives (read on demand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevEntry {
    pub main: i64,
    sub_tomb: u32,
    /// File offset and length of the stored `KeyValue`.
    pub value_offset: u64,
    pub value_len: u32,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
    /// The value starts with kube-apiserver's protobuf magic (`k8s\0`).
    pub k8s_value: bool,
}

impl RevEntry {
    pub fn sub(&self) -> i64 {
        i64::from(self.sub_tomb >> 1)
    }

    pub fn is_tombstone(&self) -> bool {
        self.sub_tomb & 1 == 1
    }

    pub fn revision(&self) -> RevisionKey {
        RevisionKey {
            main: self.main,
            sub: self.sub(),
            tombstone: self.is_tombstone(),
        }
    }
}

/// A key and its stored revisions, oldest first.
#[derive(Debug, Clone)]
pub struct KeyHistory<'a> {
    pub key: &'a [u8],
    pub revs: Vec<RevEntry>,
}

impl KeyHistory<'_> {
    /// The newest stored revision at or below `rev`.
    pub fn at(&self, rev: i64) -> Option<&RevEntry> {
        let n = self.revs.partition_point(|r| r.main <= rev);
        n.checked_sub(1).map(|i| &self.revs[i])
    }

    /// The generations: runs of revisions each ended by a tombstone (the
    /// last one may be open).
    pub fn generations(&self) -> impl Iterator<Item = &[RevEntry]> {
        self.revs.split_inclusive(|r| r.is_tombstone())
    }
}

/// Entries of the `key` bucket that could not be used.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexDamage {
    /// Subtrees the cursor could not read (with their key bounds).
    pub lost_subtrees: Vec<CursorDamage>,
    /// Entries whose key or value did not decode.
    pub bad_entries: u64,
    /// The revision ranges of lost subtrees, where their bounds are known.
    pub lost_revision_ranges: Vec<(String, String)>,
}

impl IndexDamage {
    pub fn is_empty(&self) -> bool {
        self.lost_subtrees.is_empty() && self.bad_entries == 0
    }
}

/// The rebuilt key index.
pub struct KeyIndex<'a> {
    pub data: &'a [u8],
    /// Keys in byte order.
    pub keys: Vec<KeyHistory<'a>>,
    /// etcd's current revision at boot.
    pub current_revision: i64,
    /// `finishedCompactRev` (0 when never compacted).
    pub compacted: i64,
    /// `scheduledCompactRev`, when one was written.
    pub scheduled_compact: Option<i64>,
    pub revisions: u64,
    pub damage: IndexDamage,
}

/// Why no index could be built.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("no usable meta page: the tree cannot be read (try `repair --salvage`)")]
    NoMeta,
    #[error("the db has no `key` bucket: not an etcd db, or its root page lost it")]
    NoKeyBucket,
}

impl<'a> KeyIndex<'a> {
    pub fn build(file: &BoltFile<'a>) -> Result<KeyIndex<'a>, IndexError> {
        let bucket = KeyBucket::open(file)?;
        let (compacted, scheduled) = (bucket.compacted, bucket.scheduled);
        let mut damage = IndexDamage::default();
        for d in bucket.lost {
            let show = |b: &Option<Vec<u8>>| {
                b.as_deref()
                    .and_then(|k| RevisionKey::parse(k).ok())
                    .map_or("?".to_string(), |r| r.to_string())
            };
            damage
                .lost_revision_ranges
                .push((show(&d.lower_bound), show(&d.upper_bound)));
            damage.lost_subtrees.push(d);
        }
        // Read the leaves in parallel; each entry goes to a shard by the hash
        // of its key name, so the shards can be grouped in parallel too.
        let chunks: Vec<Chunk<'a>> = if bucket.leaves.is_empty() {
            let mut c = Chunk::new();
            for (k, v) in bucket.inline {
                c.add(file, k, v);
            }
            vec![c]
        } else {
            bucket
                .leaves
                .par_chunks(256)
                .map(|pages| {
                    let mut c = Chunk::new();
                    c.bad += KeyBucket::entries_of(pages, |k, v| c.add(file, k, v));
                    c
                })
                .collect()
        };
        let revisions: u64 = chunks.iter().map(|c| c.count).sum();
        let max_main = chunks.iter().filter_map(|c| c.max_main).max();
        damage.bad_entries = chunks.iter().map(|c| c.bad).sum();
        let mut keys: Vec<KeyHistory<'a>> = (0..SHARDS)
            .into_par_iter()
            .map(|s| {
                let mut map: FxHashMap<&'a [u8], Vec<RevEntry>> = FxHashMap::default();
                for c in &chunks {
                    for (k, e) in &c.shards[s] {
                        map.entry(k).or_default().push(*e);
                    }
                }
                map.into_iter()
                    .map(|(key, revs)| KeyHistory { key, revs })
                    .collect::<Vec<_>>()
            })
            .flatten()
            .collect();
        drop(chunks);
        keys.par_sort_unstable_by(|a, b| a.key.cmp(b.key));
        keys.par_iter_mut().for_each(|k| {
            // Leaf order is revision order; a damaged tree may not be.
            if !k.revs.is_sorted_by_key(|r| (r.main, r.sub())) {
                k.revs.sort_by_key(|r| (r.main, r.sub()));
            }
        });
        Ok(KeyIndex {
            data: file.data,
            keys,
            current_revision: max_main.unwrap_or(1).max(compacted).max(1),
            compacted,
            scheduled_compact: scheduled,
            revisions,
            damage,
        })
    }

    /// The stored `KeyValue` of a revision.
    pub fn value_of(&self, e: &RevEntry) -> Option<KeyValue<'a>> {
        let start = usize::try_from(e.value_offset).ok()?;
        let bytes = self
            .data
            .get(start..start.checked_add(e.value_len as usize)?)?;
        KeyValue::decode(bytes).ok()
    }

    /// The raw stored bytes of a revision's value.
    pub fn raw_of(&self, e: &RevEntry) -> &'a [u8] {
        let start = e.value_offset as usize;
        self.data
            .get(start..start + e.value_len as usize)
            .unwrap_or(&[])
    }

    /// Keys whose surviving history shows revisions missing above the
    /// compacted revision (a version jump inside a generation), with the
    /// revisions between which puts were lost. Names of keys all of whose
    /// revisions were lost cannot be known.
    pub fn keys_with_lost_revisions(&self) -> Vec<(&'a [u8], String)> {
        let mut out = Vec::new();
        for h in &self.keys {
            for g in h.generations() {
                let mut prev: Option<(i64, i64)> = None; // (main, version)
                for e in g.iter().filter(|e| !e.is_tombstone()) {
                    let Some(kv) = self.value_of(e) else { continue };
                    if let Some((pm, pv)) = prev {
                        if kv.version > pv + 1 && pm >= self.compacted {
                            out.push((
                                h.key,
                                format!(
                                    "versions {}..{} lost between revisions {pm} and {}",
                                    pv + 1,
                                    kv.version - 1,
                                    e.main
                                ),
                            ));
                        }
                    } else if kv.create_revision > self.compacted && kv.version > 1 {
                        out.push((
                            h.key,
                            format!(
                                "versions 1..{} lost (created at revision {})",
                                kv.version - 1,
                                kv.create_revision
                            ),
                        ));
                    } else if kv.create_revision <= self.compacted
                        && e.main > self.compacted
                        && kv.create_revision < e.main
                    {
                        // Live at the compaction, so its newest revision at or
                        // below the compacted one was kept: it is gone.
                        out.push((h.key, format!(
                            "its revision kept by the compaction at {} is lost (first surviving: {})",
                            self.compacted, e.main
                        )));
                    }
                    prev = Some((e.main, kv.version));
                }
            }
        }
        out
    }

    /// Index of the first key ≥ `key`.
    pub fn lower_bound(&self, key: &[u8]) -> usize {
        self.keys.partition_point(|k| k.key < key)
    }
}
