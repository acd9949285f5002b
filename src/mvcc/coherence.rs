//! Cross-record consistency of the `key` bucket, beyond each record's own
//! shape: per key, the stored history must be one etcd could write (a
//! generation starts with `create_revision` = its own revision and version
//! 1, versions rise by one, a tombstone ends it, nothing follows a tombstone
//! but a new creation); a break is located (revision, key, which fields
//! disagree with which neighbour) and, where the neighbours agree with each
//! other, the odd record is named as the damaged one. A record that fits a
//! break of another key (the missing link) is named with it: its key was
//! most likely changed. Keys seen once, whose path segment is one bit from
//! a sibling's but out of its character class, are "suspicious" (a warning,
//! never worded as fact). Keys' leases must exist in the `lease` bucket.

use super::index::{entry, Entry, KeyBucket, KeyIndex, RevEntry};
use super::stream::Streamed;
use crate::etcd::kv::KeyValue;
use crate::etcd::revision::RevisionKey;
use crate::findings::{show_bytes, Finding};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, HashSet};

/// The fields of one stored revision the checks compare, and where its
/// stored `KeyValue` is.
#[derive(Debug, Clone, Copy)]
pub struct Rec {
    pub main: i64,
    pub sub: u32,
    pub tomb: bool,
    pub create: i64,
    pub version: i64,
    pub lease: i64,
    pub offset: u64,
    pub len: u32,
}

impl Rec {
    /// The fields the index read (an entry is in the index only when its
    /// `KeyValue` decoded).
    fn of(e: &RevEntry) -> Rec {
        Rec {
            main: e.main,
            sub: e.sub() as u32,
            tomb: e.is_tombstone(),
            create: e.create_revision,
            version: e.version,
            lease: e.lease,
            offset: e.value_offset,
            len: e.value_len,
        }
    }

    /// The record of a kept entry (see [`entry`]: its sub revision fits).
    pub fn from_kv(rev: &RevisionKey, kv: &KeyValue<'_>, offset: u64, len: usize) -> Rec {
        Rec {
            main: rev.main,
            sub: rev.sub as u32,
            tomb: rev.tombstone,
            create: kv.create_revision,
            version: kv.version,
            lease: kv.lease,
            offset,
            len: len as u32,
        }
    }

    fn at(&self) -> String {
        if self.sub == 0 {
            self.main.to_string()
        } else {
            format!("{}_{}", self.main, self.sub)
        }
    }

    fn show(&self) -> String {
        if self.tomb {
            format!("revision {} (a delete)", self.at())
        } else {
            format!(
                "revision {} (create_revision {}, version {})",
                self.at(),
                self.create,
                self.version
            )
        }
    }
}

/// Whether `q` can directly follow `p` (None: the key's first stored
/// revision, above the compaction) in one key's history.
fn follows(p: Option<&Rec>, q: &Rec) -> bool {
    match p {
        None | Some(Rec { tomb: true, .. }) => !q.tomb && q.create == q.main && q.version == 1,
        Some(p) => q.tomb || (q.create == p.create && q.version == p.version + 1),
    }
}

/// Whether `q` fits two places after `p` with `mid` (damaged) between:
/// `mid`'s own revision stands in for its creation when `p` ends a generation.
fn follows_over(p: Option<&Rec>, mid: &Rec, q: &Rec) -> bool {
    if q.tomb {
        return false;
    }
    match p {
        None | Some(Rec { tomb: true, .. }) => q.create == mid.main && q.version == 2,
        Some(p) => q.create == p.create && q.version == p.version + 2,
    }
}

/// A record's own fields that no history can hold.
fn own_fields(r: &Rec) -> Option<String> {
    if r.tomb {
        return None;
    }
    if r.create < 1 || r.create > r.main {
        return Some(format!(
            "create_revision {} is not between 1 and its own revision {}",
            r.create, r.main
        ));
    }
    if r.version < 1 || r.version > r.main - r.create + 1 {
        return Some(format!(
            "version {} cannot be reached between create_revision {} and revision {} (at most one version per revision)",
            r.version, r.create, r.main
        ));
    }
    if r.create == r.main && r.version != 1 {
        return Some(format!(
            "create_revision is its own revision but version is {}, not 1",
            r.version
        ));
    }
    if r.version == 1 && r.create != r.main {
        return Some(format!(
            "version 1 (the put that creates the key) but create_revision {} is not its own revision",
            r.create
        ));
    }
    if r.create == 1 {
        return Some("create_revision 1: etcd's first write is revision 2".into());
    }
    None
}

/// One break in a key's history, before it is worded.
#[derive(Debug, Clone)]
pub struct Break<'a> {
    pub key: &'a [u8],
    prev: Option<Rec>,
    at: Rec,
    /// The record `at` looks damaged: its neighbours agree without it.
    odd: Option<Rec>,
}

/// A record's own-field problem: (key, record, why).
pub type OwnField<'a> = (&'a [u8], Rec, String);

/// One key's history checks, fed its records one at a time in revision
/// order: own fields of each record, and the breaks between records (a
/// break waits for the next record to tell whether the record at it is the
/// odd one, whose neighbours agree without it; the record after an odd one
/// is taken as its neighbour, not checked again).
#[derive(Debug, Clone, Copy, Default)]
pub struct History {
    /// The last record taken.
    pub prev: Option<Rec>,
    /// A break at `prev` waiting for the next record: the record before it.
    pub pending: Option<Option<Rec>>,
}

impl History {
    pub fn push<'a>(
        &mut self,
        key: &'a [u8],
        r: Rec,
        compact: i64,
        own: &mut Vec<OwnField<'a>>,
        breaks: &mut Vec<Break<'a>>,
    ) {
        if let (Some(before), Some(at)) = (self.pending.take(), self.prev) {
            let odd =
                (!follows(Some(&at), &r) && follows_over(before.as_ref(), &at, &r)).then_some(at);
            breaks.push(Break {
                key,
                prev: before,
                at,
                odd,
            });
            if odd.is_some() {
                // This record fits over the odd one: go on from it.
                self.prev = Some(r);
                return;
            }
        }
        if let Some(why) = own_fields(&r) {
            own.push((key, r, why));
        }
        // The first stored revision at or below the compaction is what
        // compaction kept: its history before it is gone.
        let ok = if self.prev.is_none() && r.main <= compact {
            true
        } else {
            follows(self.prev.as_ref(), &r)
        };
        if !ok {
            self.pending = Some(self.prev);
        }
        self.prev = Some(r);
    }

    /// The key has no more records.
    pub fn finish<'a>(&mut self, key: &'a [u8], breaks: &mut Vec<Break<'a>>) {
        if let (Some(before), Some(at)) = (self.pending.take(), self.prev) {
            breaks.push(Break {
                key,
                prev: before,
                at,
                odd: None,
            });
        }
    }
}

/// What the checks keep of one key: its last record, how many it has, and
/// whether its newest live value is a Kubernetes object.
#[derive(Debug, Clone, Copy)]
pub struct KeyState {
    pub last: Rec,
    /// Stored revisions (saturating).
    pub revs: u32,
    /// 0: no live revision; 1: the newest live value is not a Kubernetes
    /// object; 2: it is.
    pub live_k8s: u8,
    /// A break at `last` waits for the next record (see [`History`]).
    pub pending: bool,
}

impl KeyState {
    /// The state of a key of the index (None: no revision).
    fn of(h: &super::index::KeyHistory<'_>) -> Option<KeyState> {
        let last = h.revs.last()?;
        let live = h.revs.iter().rev().find(|e| !e.is_tombstone());
        Some(KeyState {
            last: Rec::of(last),
            revs: u32::try_from(h.revs.len()).unwrap_or(u32::MAX),
            live_k8s: live.map_or(0, |e| 1 + u8::from(e.k8s_value)),
            pending: false,
        })
    }
}

/// The key bucket as the cross-record checks read it: the full key index,
/// or the per-key states of one pass in revision order ([`Streamed`]).
pub enum Source<'s, 'a> {
    Index(&'s KeyIndex<'a>),
    Stream(&'s Streamed<'a>),
}

impl<'a> Source<'_, 'a> {
    /// The highest compaction revision written (scheduled or finished):
    /// history at or below it may have been removed.
    pub fn compact(&self) -> i64 {
        match self {
            Source::Index(i) => i.compacted.max(i.scheduled_compact.unwrap_or(0)),
            Source::Stream(s) => s.bucket.compacted.max(s.bucket.scheduled.unwrap_or(0)),
        }
    }

    /// Every key with its state (in no particular order).
    pub fn for_each_key(&self, mut f: impl FnMut(&'a [u8], &KeyState)) {
        match self {
            Source::Index(i) => {
                for h in &i.keys {
                    if let Some(st) = KeyState::of(h) {
                        f(h.key, &st);
                    }
                }
            }
            Source::Stream(s) => {
                for slot in s.shards.iter().flatten() {
                    f(slot.key, &slot.st);
                }
            }
        }
    }

    /// `f` folded over every key into one `T` per part of the keys, the
    /// parts in parallel (in no particular order).
    pub fn par_fold_keys<T: Send>(
        &self,
        init: impl Fn() -> T + Sync,
        f: impl Fn(&mut T, &'a [u8], &KeyState) + Sync,
    ) -> Vec<T> {
        match self {
            Source::Index(i) => i
                .keys
                .par_chunks(4096)
                .map(|c| {
                    let mut t = init();
                    for h in c {
                        if let Some(st) = KeyState::of(h) {
                            f(&mut t, h.key, &st);
                        }
                    }
                    t
                })
                .collect(),
            Source::Stream(s) => s
                .shards
                .par_iter()
                .map(|slots| {
                    let mut t = init();
                    for slot in slots {
                        f(&mut t, slot.key, &slot.st);
                    }
                    t
                })
                .collect(),
        }
    }

    /// Every stored revision, as (key, record, value is a Kubernetes
    /// object); for the rare second looks.
    pub fn for_each_rec(&self, mut f: impl FnMut(&'a [u8], &Rec, bool)) {
        match self {
            Source::Index(i) => {
                for h in &i.keys {
                    for e in &h.revs {
                        f(h.key, &Rec::of(e), e.k8s_value);
                    }
                }
            }
            Source::Stream(s) => s.bucket.for_each(|k, v| {
                if let Entry::Kept(rev, kv) = entry(k, v) {
                    let off = crate::bolt::walk::offset_in(s.bucket.data, v).unwrap_or(0);
                    let k8s = kv.value.starts_with(crate::k8s::envelope::MAGIC);
                    f(kv.key, &Rec::from_kv(&rev, &kv, off, v.len()), k8s);
                }
            }),
        }
    }

    /// `f` of every stored revision, in parallel, as (key, result) in key
    /// order, each key's in revision order.
    pub fn par_map_recs<T: Send>(
        &self,
        f: impl Fn(&'a [u8], &Rec, bool) -> Option<T> + Sync,
    ) -> Vec<(&'a [u8], T)> {
        match self {
            Source::Index(i) => i
                .keys
                .par_iter()
                .flat_map_iter(|h| {
                    h.revs
                        .iter()
                        .filter_map(|e| f(h.key, &Rec::of(e), e.k8s_value).map(|t| (h.key, t)))
                        .collect::<Vec<_>>()
                })
                .collect(),
            Source::Stream(s) => {
                let b = &s.bucket;
                let one = |k: &'a [u8], v: &'a [u8], out: &mut Vec<(&'a [u8], T)>| {
                    if let Entry::Kept(rev, kv) = entry(k, v) {
                        let off = crate::bolt::walk::offset_in(b.data, v).unwrap_or(0);
                        let k8s = kv.value.starts_with(crate::k8s::envelope::MAGIC);
                        if let Some(t) = f(kv.key, &Rec::from_kv(&rev, &kv, off, v.len()), k8s) {
                            out.push((kv.key, t));
                        }
                    }
                };
                let mut out = Vec::new();
                for (k, v) in &b.inline {
                    one(k, v, &mut out);
                }
                out.extend(
                    b.leaves
                        .par_chunks(256)
                        .flat_map_iter(|pages| {
                            let mut o = Vec::new();
                            KeyBucket::entries_of(pages, |k, v| one(k, v, &mut o));
                            o
                        })
                        .collect::<Vec<_>>(),
                );
                // Leaf order is revision order: a stable sort by key
                // keeps each key's revisions in order.
                out.par_sort_by(|a, b| a.0.cmp(b.0));
                out
            }
        }
    }

    /// The stored `KeyValue` of a record.
    pub fn value_of(&self, r: &Rec) -> Option<KeyValue<'a>> {
        let data = match self {
            Source::Index(i) => i.data,
            Source::Stream(s) => s.bucket.data,
        };
        let start = usize::try_from(r.offset).ok()?;
        KeyValue::decode(data.get(start..start.checked_add(r.len as usize)?)?).ok()
    }

    /// The own-field problems and the breaks of every key's history, each
    /// in key order.
    fn history(&self) -> (Vec<OwnField<'a>>, Vec<Break<'a>>) {
        match self {
            Source::Index(i) => {
                let compact = self.compact();
                let per_key: Vec<(Vec<OwnField<'a>>, Vec<Break<'a>>)> = i
                    .keys
                    .par_iter()
                    .filter_map(|h| {
                        let (mut o, mut b) = (Vec::new(), Vec::new());
                        let mut hist = History::default();
                        for e in &h.revs {
                            hist.push(h.key, Rec::of(e), compact, &mut o, &mut b);
                        }
                        hist.finish(h.key, &mut b);
                        (!o.is_empty() || !b.is_empty()).then_some((o, b))
                    })
                    .collect();
                let (mut own, mut breaks) = (Vec::new(), Vec::new());
                for (o, b) in per_key {
                    own.extend(o);
                    breaks.extend(b);
                }
                (own, breaks)
            }
            Source::Stream(s) => (s.own.clone(), s.breaks.clone()),
        }
    }

    /// The revisions with a put numbered 256 or more within them.
    fn high_subs(&self) -> FxHashSet<i64> {
        match self {
            Source::Index(_) => {
                let mut high = FxHashSet::default();
                self.for_each_rec(|_, r, _| {
                    if r.sub >= 256 && !r.tomb {
                        high.insert(r.main);
                    }
                });
                high
            }
            Source::Stream(s) => s.high.clone(),
        }
    }
}

/// Show a key for a message.
fn k(key: &[u8]) -> String {
    show_bytes(key)
}

/// The bit where two equal-length byte strings differ in exactly one bit.
pub fn one_bit(a: &[u8], b: &[u8]) -> Option<usize> {
    if a.len() != b.len() {
        return None;
    }
    let mut at = None;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = x ^ y;
        if d == 0 {
            continue;
        }
        if at.is_some() || d.count_ones() != 1 {
            return None;
        }
        at = Some(i);
    }
    at
}

fn class(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => 0,
        b'a'..=b'z' => 1,
        b'A'..=b'Z' => 2,
        b'/' => 3,
        b'-' | b'.' | b'_' => 4,
        0x21..=0x7e => 5,
        _ => 6,
    }
}

/// The history findings of the key bucket.
pub fn history_findings(src: &Source<'_, '_>, file: &str) -> Vec<Finding> {
    let compact = src.compact();
    // Each key's history on its own, from the records read once (no value
    // is read again).
    let (own, breaks) = src.history();
    let mut out: Vec<Finding> = own
        .into_iter()
        .map(|(key, r, why)| {
            Finding::error(
                "etcd.key.history",
                file,
                format!("key {} {}: {why}", k(key), r.show()),
            )
            .at_offset(r.offset)
        })
        .collect();
    if breaks.is_empty() {
        return out;
    }
    // The missing links: the stored revisions in the gaps by main
    // revision, each revision's in key order.
    let mut by_rev: BTreeMap<i64, Vec<(&[u8], Rec)>> = BTreeMap::new();
    let wanted: Vec<(i64, i64)> = breaks
        .iter()
        .filter(|b| b.odd.is_none())
        .map(|b| (b.prev.map_or(compact, |p| p.main), b.at.main))
        .collect();
    let in_gap = |m: i64| wanted.iter().any(|(a, b)| m > *a && m < *b);
    if !wanted.is_empty() {
        src.for_each_rec(|key, r, _| {
            if in_gap(r.main) {
                by_rev.entry(r.main).or_default().push((key, *r));
            }
        });
        for v in by_rev.values_mut() {
            v.sort_by(|a, b| a.0.cmp(b.0));
        }
    }
    for b in breaks {
        let key = b.key;
        let before = b.prev.map_or("the compaction".to_string(), |p| p.show());
        if let Some(odd) = b.odd {
            out.push(
                Finding::error(
                    "etcd.key.history",
                    file,
                    format!(
                        "key {} {} does not fit its history: {before} and the next stored revision agree with each other without it; this record looks damaged, its neighbours original",
                        k(key),
                        odd.show()
                    ),
                )
                .at_offset(odd.offset),
            );
            continue;
        }
        let at = b.at;
        let what = match b.prev {
            _ if at.tomb && b.prev.is_none_or(|p| p.tomb) => {
                "a delete of a key that does not exist (a delete writes nothing then)".to_string()
            }
            Some(p) if !p.tomb && at.create == at.main => format!(
                "a new generation without a delete after {}",
                p.show()
            ),
            Some(p) if !p.tomb && at.create == p.create && at.version > p.version + 1 => format!(
                "versions {}..{} are missing after {} (lost writes, or records whose key was changed)",
                p.version + 1,
                at.version - 1,
                p.show()
            ),
            Some(p) if !p.tomb => format!(
                "it does not continue {} (same create_revision, version + 1 expected)",
                p.show()
            ),
            _ => format!("it follows {before}, so it must create the key (create_revision = its own revision, version 1)"),
        };
        // Records stored under another key between the two that would fill
        // the gap: the likely original of a changed key.
        let (lo, hi) = (b.prev.map_or(compact, |p| p.main), at.main);
        let mut links = Vec::new();
        for (_, v) in by_rev.range(lo + 1..hi) {
            for (ok, r) in v {
                if *ok == b.key {
                    continue;
                }
                let fits = if r.tomb {
                    follows(b.prev.as_ref(), r) || at.create == at.main
                } else {
                    follows(b.prev.as_ref(), r) || (r.create == at.create && r.version < at.version)
                };
                if fits {
                    let other = *ok;
                    let bit = one_bit(key, other)
                        .map(|i| format!(", one bit from this key at byte {i}"))
                        .unwrap_or_default();
                    links.push(format!(
                        "{} is stored under key {}{bit} and fits here: that record's key looks changed, this key's history original",
                        r.show(),
                        k(other)
                    ));
                }
            }
        }
        let links = if links.is_empty() {
            String::new()
        } else {
            format!("; {}", links.join("; "))
        };
        out.push(
            Finding::error(
                "etcd.key.history",
                file,
                format!("key {} {}: {what}{links}", k(key), at.show()),
            )
            .at_offset(at.offset),
        );
    }
    out
}

/// Where a key's leaf name starts (past its last `/`).
fn leaf_start(key: &[u8]) -> usize {
    key.iter().rposition(|c| *c == b'/').map_or(0, |p| p + 1)
}

/// Keys stored once whose path is out of line with the others: alone in
/// their directory while one bit away from a directory many keys share, or
/// with a leaf character of a class none of their same-length siblings has
/// at that place. Also lone puts numbered implausibly high within their
/// revision.
pub fn suspicious_keys<'a>(src: &Source<'_, 'a>, file: &str) -> Vec<Finding> {
    /// Keys per directory; (directory, leaf length) -> per position, keys
    /// by character class; keys stored once: (key, revision, offset).
    type Parts<'a> = (
        FxHashMap<&'a [u8], u32>,
        FxHashMap<(&'a [u8], usize), Vec<[u32; 7]>>,
        Vec<(&'a [u8], i64, u64)>,
    );
    let parts: Vec<Parts<'a>> =
        src.par_fold_keys(Parts::default, |(dirs, leaves, once), key, st| {
            let l = leaf_start(key);
            *dirs.entry(&key[..l]).or_default() += 1;
            let v = leaves
                .entry((&key[..l], key.len() - l))
                .or_insert_with(|| vec![[0; 7]; key.len() - l]);
            for (j, c) in key[l..].iter().enumerate() {
                v[j][class(*c) as usize] += 1;
            }
            if st.revs == 1 {
                once.push((key, st.last.main, st.last.offset));
            }
        });
    let (mut dirs, mut leaves, mut once): Parts<'a> = Parts::default();
    for (d, l, o) in parts {
        for (k, n) in d {
            *dirs.entry(k).or_default() += n;
        }
        for (k, v) in l {
            match leaves.entry(k) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    for (a, b) in e.get_mut().iter_mut().zip(&v) {
                        for (x, y) in a.iter_mut().zip(b) {
                            *x += y;
                        }
                    }
                }
            }
        }
        once.extend(o);
    }
    const MANY: u32 = 3;
    fn warned<'k>(file: &str, h: &(&'k [u8], i64, u64), why: String) -> (&'k [u8], Finding) {
        let (key, main, offset) = *h;
        (
            key,
            Finding::warning(
                "etcd.key.suspicious",
                file,
                format!(
                    "key {} is stored once (revision {main}) and {why}: its key may be damaged",
                    k(key)
                ),
            )
            .at_offset(offset),
        )
    }
    let warn = |h: &(&'a [u8], i64, u64), why: String| warned(file, h, why);
    let mut flagged: Vec<(&[u8], Finding)> = once
        .par_iter()
        .filter_map(|h| {
            let key = h.0;
            let l = leaf_start(key);
            let dir = &key[..l];
            let here = dirs.get(dir).copied().unwrap_or(0);
            if here <= 8 {
                // In a near-empty directory: is it one bit from a busy one?
                let mut near = None;
                let mut v = key.to_vec();
                'bytes: for j in 0..v.len() {
                    for b in 0..8 {
                        v[j] ^= 1 << b;
                        let n = dirs.get(&v[..leaf_start(&v)]).copied().unwrap_or(0);
                        if n >= if here <= 1 { MANY } else { 8 * here } {
                            near = Some((v.clone(), n));
                            break 'bytes;
                        }
                        v[j] ^= 1 << b;
                    }
                }
                if let Some((v, n)) = &near {
                    return Some(warn(
                        h,
                        format!(
                            "its directory holds {here} key(s), while {} is one bit away and its directory holds {n}",
                            k(v)
                        ),
                    ));
                }
                if here <= 1 {
                    return None;
                }
            }
            let counts = leaves.get(&(dir, key.len() - l))?;
            let odd = key[l..].iter().enumerate().find(|(j, c)| {
                let c = class(**c) as usize;
                let at = &counts[*j];
                let others: u32 = at.iter().sum::<u32>() - 1;
                others >= MANY && at[c] == 1
            });
            odd.map(|(j, c)| {
                warn(
                    h,
                    format!(
                        "its byte {:#04x} at {} of its name is of a kind none of the {} same-length names in {} has there",
                        c,
                        l + j,
                        counts[j].iter().sum::<u32>() - 1,
                        k(dir)
                    ),
                )
            })
        })
        .collect();
    drop(once);
    flagged.par_sort_by(|a, b| a.0.cmp(b.0));
    let mut out: Vec<Finding> = flagged.into_iter().map(|(_, f)| f).collect();
    // Lone puts numbered high within their revision.
    let high = src.high_subs();
    let mut per_main: FxHashMap<i64, (u32, u32, bool, u64)> = FxHashMap::default();
    if !high.is_empty() {
        src.for_each_rec(|_, e, _| {
            if !high.contains(&e.main) {
                return;
            }
            let x = per_main.entry(e.main).or_insert((0, 0, false, 0));
            x.0 += 1;
            x.1 = e.sub;
            x.2 = e.tomb;
            x.3 = e.offset;
        });
    }
    let mut lone: Vec<_> = per_main
        .into_iter()
        .filter(|(_, (n, sub, tomb, _))| *n == 1 && !*tomb && *sub >= 256)
        .collect();
    lone.sort_unstable_by_key(|(m, _)| *m);
    for (m, (_, sub, _, off)) in lone {
        out.push(
            Finding::warning(
                "etcd.key.suspicious",
                file,
                format!(
                    "revision {m}_{sub} is the only change stored for revision {m}, a put numbered {sub} within it: etcd numbers a revision's changes from 0 and a txn holds at most --max-txn-ops (default 128) operations, so this needs a txn whose range deletes came first; its revision key may be damaged"
                ),
            )
            .at_offset(off),
        );
    }
    out
}

/// Live keys whose lease is not in the `lease` bucket, and older revisions
/// naming a lease one bit from a known one.
pub fn lease_findings(src: &Source<'_, '_>, leases: &HashSet<i64>, file: &str) -> Vec<Finding> {
    let mut out: Vec<(&[u8], Finding)> = Vec::new();
    src.for_each_key(|key, st| {
        let r = st.last;
        if r.tomb || r.lease == 0 || leases.contains(&r.lease) {
            return;
        }
        let near = leases
            .iter()
            .find(|l| (**l ^ r.lease).count_ones() == 1)
            .map(|l| format!("; lease {l:x} exists, one bit away: this field looks damaged"))
            .unwrap_or_default();
        out.push((
            key,
            Finding::error(
                "etcd.key.lease-missing",
                file,
                format!(
                    "live key {} {} names lease {:x}, which is not in the `lease` bucket (a revoked lease deletes its keys){near}",
                    k(key),
                    r.show(),
                    r.lease
                ),
            )
            .at_offset(r.offset),
        ));
    });
    out.sort_by(|a, b| a.0.cmp(b.0));
    out.into_iter().map(|(_, f)| f).collect()
}
