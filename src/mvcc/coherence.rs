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

use super::index::{KeyHistory, KeyIndex, RevEntry};
use crate::findings::{show_bytes, Finding};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, HashSet};

/// The fields of one stored revision the checks compare.
#[derive(Debug, Clone, Copy)]
struct Rec {
    main: i64,
    sub: i64,
    tomb: bool,
    create: i64,
    version: i64,
    lease: i64,
    offset: u64,
}

impl Rec {
    /// The fields the index read (an entry is in the index only when its
    /// `KeyValue` decoded).
    fn of(e: &RevEntry) -> Rec {
        Rec {
            main: e.main,
            sub: e.sub(),
            tomb: e.is_tombstone(),
            create: e.create_revision,
            version: e.version,
            lease: e.lease,
            offset: e.value_offset,
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
struct Break {
    key: usize,
    prev: Option<Rec>,
    at: Rec,
    /// The record `at` looks damaged: its neighbours agree without it.
    odd: Option<Rec>,
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

/// The own-field findings and the breaks of one key's history.
fn key_history(
    ki: usize,
    h: &KeyHistory<'_>,
    compact: i64,
    file: &str,
) -> (Vec<Finding>, Vec<Break>) {
    let mut out = Vec::new();
    let mut breaks = Vec::new();
    let recs = &h.revs;
    let mut i = 0;
    let mut prev: Option<Rec> = None;
    while i < recs.len() {
        let r = Rec::of(&recs[i]);
        if let Some(why) = own_fields(&r) {
            out.push(
                Finding::error(
                    "etcd.key.history",
                    file,
                    format!("key {} {}: {why}", k(h.key), r.show()),
                )
                .at_offset(r.offset),
            );
        }
        // The first stored revision at or below the compaction is what
        // compaction kept: its history before it is gone.
        let ok = if prev.is_none() && r.main <= compact {
            true
        } else {
            follows(prev.as_ref(), &r)
        };
        if !ok {
            let next = recs.get(i + 1).map(Rec::of);
            let odd = next
                .filter(|n| !follows(Some(&r), n) && follows_over(prev.as_ref(), &r, n))
                .map(|_| r);
            breaks.push(Break {
                key: ki,
                prev,
                at: r,
                odd,
            });
            if odd.is_some() {
                // The next record fits over the odd one: go on from it.
                if let Some(n) = next {
                    prev = Some(n);
                    i += 2;
                    continue;
                }
            }
        }
        prev = Some(r);
        i += 1;
    }
    (out, breaks)
}

/// The history findings of an index. `compact` is the highest compaction
/// revision written (scheduled or finished): history at or below it may
/// have been removed.
pub fn history_findings(index: &KeyIndex<'_>, file: &str) -> Vec<Finding> {
    let compact = index.compacted.max(index.scheduled_compact.unwrap_or(0));
    // Each key's history on its own, keys in parallel; the records are the
    // index's entries (no value is read again).
    let per_key: Vec<(Vec<Finding>, Vec<Break>)> = index
        .keys
        .par_iter()
        .enumerate()
        .filter_map(|(ki, h)| {
            let (o, b) = key_history(ki, h, compact, file);
            (!o.is_empty() || !b.is_empty()).then_some((o, b))
        })
        .collect();
    let mut out = Vec::new();
    let mut breaks = Vec::new();
    for (o, b) in per_key {
        out.extend(o);
        breaks.extend(b);
    }
    if breaks.is_empty() {
        return out;
    }
    // The missing links: every stored revision by main revision.
    let mut by_rev: BTreeMap<i64, Vec<(usize, Rec)>> = BTreeMap::new();
    let wanted: Vec<(i64, i64)> = breaks
        .iter()
        .filter(|b| b.odd.is_none())
        .map(|b| (b.prev.map_or(compact, |p| p.main), b.at.main))
        .collect();
    let in_gap = |m: i64| wanted.iter().any(|(a, b)| m > *a && m < *b);
    for (ki, h) in index.keys.iter().enumerate() {
        for e in h.revs.iter().filter(|e| in_gap(e.main)) {
            by_rev.entry(e.main).or_default().push((ki, Rec::of(e)));
        }
    }
    for b in breaks {
        let key = index.keys[b.key].key;
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
                    let other = index.keys[*ok].key;
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
pub fn suspicious_keys(index: &KeyIndex<'_>, file: &str) -> Vec<Finding> {
    let mut dirs: FxHashMap<&[u8], u32> = FxHashMap::default();
    // (directory, leaf length) -> per position, keys by character class.
    let mut leaves: FxHashMap<(&[u8], usize), Vec<[u32; 7]>> = FxHashMap::default();
    for h in &index.keys {
        let l = leaf_start(h.key);
        *dirs.entry(&h.key[..l]).or_default() += 1;
        let v = leaves
            .entry((&h.key[..l], h.key.len() - l))
            .or_insert_with(|| vec![[0; 7]; h.key.len() - l]);
        for (j, c) in h.key[l..].iter().enumerate() {
            v[j][class(*c) as usize] += 1;
        }
    }
    const MANY: u32 = 3;
    let mut out = Vec::new();
    let mut warn = |h: &super::index::KeyHistory<'_>, why: String| {
        out.push(
            Finding::warning(
                "etcd.key.suspicious",
                file,
                format!(
                    "key {} is stored once (revision {}) and {why}: its key may be damaged",
                    k(h.key),
                    h.revs[0].main
                ),
            )
            .at_offset(h.revs[0].value_offset),
        );
    };
    for h in index.keys.iter().filter(|h| h.revs.len() == 1) {
        let l = leaf_start(h.key);
        let dir = &h.key[..l];
        let here = dirs.get(dir).copied().unwrap_or(0);
        if here <= 8 {
            // In a near-empty directory: is it one bit from a busy one?
            let mut near = None;
            let mut v = h.key.to_vec();
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
                warn(
                    h,
                    format!(
                        "its directory holds {here} key(s), while {} is one bit away and its directory holds {n}",
                        k(v)
                    ),
                );
            }
            if near.is_some() || here <= 1 {
                continue;
            }
        }
        let Some(counts) = leaves.get(&(dir, h.key.len() - l)) else {
            continue;
        };
        let odd = h.key[l..].iter().enumerate().find(|(j, c)| {
            let c = class(**c) as usize;
            let at = &counts[*j];
            let others: u32 = at.iter().sum::<u32>() - 1;
            others >= MANY && at[c] == 1
        });
        if let Some((j, c)) = odd {
            warn(
                h,
                format!(
                    "its byte {:#04x} at {} of its name is of a kind none of the {} same-length names in {} has there",
                    c,
                    l + j,
                    counts[j].iter().sum::<u32>() - 1,
                    k(dir)
                ),
            );
        }
    }
    // Lone puts numbered high within their revision.
    let high: FxHashSet<i64> = index
        .keys
        .iter()
        .flat_map(|h| h.revs.iter())
        .filter(|e| e.sub() >= 256 && !e.is_tombstone())
        .map(|e| e.main)
        .collect();
    let mut per_main: FxHashMap<i64, (u32, i64, bool, u64)> = FxHashMap::default();
    for e in index.keys.iter().flat_map(|h| h.revs.iter()) {
        if !high.contains(&e.main) {
            continue;
        }
        let x = per_main.entry(e.main).or_insert((0, 0, false, 0));
        x.0 += 1;
        x.1 = e.sub();
        x.2 = e.is_tombstone();
        x.3 = e.value_offset;
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
pub fn lease_findings(index: &KeyIndex<'_>, leases: &HashSet<i64>, file: &str) -> Vec<Finding> {
    index
        .keys
        .par_iter()
        .filter_map(|h| {
            let last = h.revs.last()?;
            if last.is_tombstone() || last.lease == 0 || leases.contains(&last.lease) {
                return None;
            }
            let r = Rec::of(last);
            let near = leases
                .iter()
                .find(|l| (**l ^ r.lease).count_ones() == 1)
                .map(|l| format!("; lease {l:x} exists, one bit away: this field looks damaged"))
                .unwrap_or_default();
            Some(
                Finding::error(
                    "etcd.key.lease-missing",
                    file,
                    format!(
                        "live key {} {} names lease {:x}, which is not in the `lease` bucket (a revoked lease deletes its keys){near}",
                        k(h.key),
                        r.show(),
                        r.lease
                    ),
                )
                .at_offset(r.offset),
            )
        })
        .collect()
}
