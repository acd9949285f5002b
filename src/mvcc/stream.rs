//! One pass over the `key` bucket in revision order for the cross-record
//! checks ([`super::coherence`]), keeping a small state per key instead of
//! the key index: the bucket's keys are revisions, so its leaves in order
//! give every key's records in revision order. Entries are read in parallel
//! in bounded batches and handed, in order, to shards by the hash of their
//! key name; each shard feeds its keys' histories as the records come.

use super::coherence::{Break, History, KeyState, OwnField, Rec};
use super::index::{entry, Entry, IndexError, KeyBucket};
use crate::bolt::page::NodePage;
use crate::bolt::walk::offset_in;
use crate::bolt::BoltFile;
use hashbrown::HashTable;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::hash::BuildHasher;

/// Shards of the per-key states (fed in parallel).
const SHARDS: usize = 16;
/// Leaf pages read per batch (bounds the records in flight).
const BATCH: usize = 4096;

/// The per-key states of one pass, with what the history checks found.
pub struct Streamed<'a> {
    pub bucket: KeyBucket<'a>,
    /// Every key's state, split by the hash of its name.
    pub shards: Vec<Vec<Slot<'a>>>,
    /// Own-field problems, in key order (each key's in revision order).
    pub own: Vec<OwnField<'a>>,
    /// History breaks, in key order (each key's in revision order).
    pub breaks: Vec<Break<'a>>,
    /// Revisions with a put numbered 256 or more within them.
    pub high: FxHashSet<i64>,
}

/// One kept record on its way to its shard.
struct Item<'a> {
    key: &'a [u8],
    hash: u64,
    rec: Rec,
    k8s: bool,
}

/// Key names up to this long are copied into their slot.
const INLINE: usize = 48;

/// One key of a shard.
pub struct Slot<'a> {
    /// A copy of the key name, compared there (next to the state, not far
    /// away in the file): in the slot when short, else in the shard's
    /// `names` at `at`.
    inline: [u8; INLINE],
    at: usize,
    len: u32,
    pub key: &'a [u8],
    pub st: KeyState,
}

impl Slot<'_> {
    fn is(&self, names: &[u8], key: &[u8]) -> bool {
        let n = self.len as usize;
        n == key.len()
            && if n <= INLINE {
                self.inline.get(..n) == Some(key)
            } else {
                names.get(self.at..self.at + n) == Some(key)
            }
    }
}

/// The records of a run of leaves, split by shard, in leaf order.
struct Batch<'a> {
    shards: Vec<Vec<Item<'a>>>,
    high: Vec<i64>,
}

impl<'a> Batch<'a> {
    fn new() -> Batch<'a> {
        Batch {
            shards: (0..SHARDS).map(|_| Vec::new()).collect(),
            high: Vec::new(),
        }
    }

    fn add(&mut self, data: &'a [u8], key: &'a [u8], value: &'a [u8]) {
        let Entry::Kept(rev, kv) = entry(key, value) else {
            return;
        };
        let rec = Rec::from_kv(&rev, &kv, offset_in(data, value).unwrap_or(0), value.len());
        if rec.sub >= 256 && !rec.tomb {
            self.high.push(rec.main);
        }
        let hash = rustc_hash::FxBuildHasher.hash_one(kv.key);
        // Middle bits: the table within the shard uses the low and the top
        // ones.
        let shard = (hash >> 32) as usize % SHARDS;
        self.shards[shard].push(Item {
            key: kv.key,
            hash,
            rec,
            k8s: kv.value.starts_with(crate::k8s::envelope::MAGIC),
        });
    }

    fn read(data: &'a [u8], pages: &[NodePage<'a>]) -> Batch<'a> {
        let mut b = Batch::new();
        KeyBucket::entries_of(pages, |k, v| b.add(data, k, v));
        b
    }
}

/// The keys of one shard as their records come.
#[derive(Default)]
struct Shard<'a> {
    /// (key hash, index into `slots`).
    table: HashTable<(u64, u32)>,
    slots: Vec<Slot<'a>>,
    /// The key names, one after another.
    names: Vec<u8>,
    /// For keys whose history has a break waiting for the next record: the
    /// record before the break (few, so kept aside), by slot.
    pending: FxHashMap<u32, Option<Rec>>,
    own: Vec<OwnField<'a>>,
    breaks: Vec<Break<'a>>,
    last: Option<(i64, u32)>,
    /// A record came below the one before it: leaf order is not revision
    /// order here (a damaged tree), so the pass cannot stand in for the
    /// index.
    unordered: bool,
}

impl<'a> Shard<'a> {
    fn take(&mut self, it: &Item<'a>, compact: i64) {
        let r = it.rec;
        if self.last.is_some_and(|l| (r.main, r.sub) < l) {
            self.unordered = true;
        }
        if self.unordered {
            return;
        }
        self.last = Some((r.main, r.sub));
        let (slots, names) = (&self.slots, &self.names);
        let found = self.table.find(it.hash, |&(h, i)| {
            h == it.hash && slots.get(i as usize).is_some_and(|s| s.is(names, it.key))
        });
        let (i, mut h) = match found.map(|f| f.1) {
            Some(i) => {
                let Some(s) = self.slots.get_mut(i as usize) else {
                    return;
                };
                let pending = if s.st.pending {
                    self.pending.remove(&i)
                } else {
                    None
                };
                s.st.revs = s.st.revs.saturating_add(1);
                let h = History {
                    prev: Some(s.st.last),
                    pending,
                };
                (i, h)
            }
            None => {
                let i = self.slots.len() as u32;
                let mut inline = [0; INLINE];
                if let Some(d) = inline.get_mut(..it.key.len()) {
                    d.copy_from_slice(it.key);
                } else {
                    self.names.extend_from_slice(it.key);
                }
                self.slots.push(Slot {
                    inline,
                    at: self.names.len()
                        - if it.key.len() > INLINE {
                            it.key.len()
                        } else {
                            0
                        },
                    len: it.key.len() as u32,
                    key: it.key,
                    st: KeyState {
                        last: r,
                        revs: 1,
                        live_k8s: 0,
                        pending: false,
                    },
                });
                self.table.insert_unique(it.hash, (it.hash, i), |e| e.0);
                (i, History::default())
            }
        };
        h.push(it.key, r, compact, &mut self.own, &mut self.breaks);
        let Some(s) = self.slots.get_mut(i as usize) else {
            return;
        };
        s.st.last = h.prev.unwrap_or(r);
        if !r.tomb {
            s.st.live_k8s = 1 + u8::from(it.k8s);
        }
        s.st.pending = h.pending.is_some();
        if let Some(p) = h.pending {
            self.pending.insert(i, p);
        }
    }

    fn finish(&mut self) {
        let mut pending: Vec<_> = self.pending.drain().collect();
        pending.sort_unstable_by_key(|p| p.0);
        for (i, before) in pending {
            let Some(s) = self.slots.get(i as usize) else {
                continue;
            };
            let mut h = History {
                prev: Some(s.st.last),
                pending: Some(before),
            };
            h.finish(s.key, &mut self.breaks);
        }
    }
}

/// The pass, or `None` when the leaves are not in revision order (then the
/// key index, which sorts each key's records, must be built instead).
pub fn pass<'a>(file: &BoltFile<'a>) -> Result<Option<Streamed<'a>>, IndexError> {
    let bucket = KeyBucket::open(file)?;
    let compact = bucket.compacted.max(bucket.scheduled.unwrap_or(0));
    let data = file.data;
    let mut shards: Vec<Shard<'a>> = (0..SHARDS).map(|_| Shard::default()).collect();
    let mut high = FxHashSet::default();
    let mut feed = |batches: &[Batch<'a>]| {
        shards.par_iter_mut().enumerate().for_each(|(s, sh)| {
            for b in batches {
                for it in &b.shards[s] {
                    sh.take(it, compact);
                }
            }
        });
        high.extend(batches.iter().flat_map(|b| b.high.iter().copied()));
    };
    if !bucket.inline.is_empty() {
        let mut b = Batch::new();
        for (k, v) in &bucket.inline {
            b.add(data, k, v);
        }
        feed(&[b]);
    }
    for group in bucket.leaves.chunks(BATCH) {
        let batches: Vec<Batch<'a>> = group
            .par_chunks(128)
            .map(|pages| Batch::read(data, pages))
            .collect();
        feed(&batches);
    }
    if shards.iter().any(|s| s.unordered) {
        return Ok(None);
    }
    let (mut own, mut breaks, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    for mut s in shards {
        s.finish();
        own.extend(s.own);
        breaks.extend(s.breaks);
        keys.push(s.slots);
    }
    // Stable: each key's records stay in revision order.
    own.sort_by(|a, b| a.0.cmp(b.0));
    breaks.sort_by(|a, b| a.key.cmp(b.key));
    Ok(Some(Streamed {
        bucket,
        shards: keys,
        own,
        breaks,
        high,
    }))
}
