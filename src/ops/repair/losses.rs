//! The account of what a repair could not bring back, from the `key`
//! bucket it rebuilt: every main revision above the compaction point must
//! be there (each write takes one), so the missing ones are lost ranges;
//! each key's history shows where its own writes are missing (a version
//! that jumps, a generation whose creation is gone), and whether a lost
//! range lies above its latest surviving revision (then a newer write to
//! it may be among the lost).
#![forbid(unsafe_code)]

use crate::etcd::kv::KeyValue;
use crate::etcd::revision::RevisionKey;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// An inclusive range of main revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RevRange {
    pub first: i64,
    pub last: i64,
}

impl RevRange {
    /// The main revisions a skipped `key` subtree held: from its lower
    /// bound's revision up to (not including) its upper bound's; unbounded
    /// ends reach revision 1 and `i64::MAX`.
    pub fn of_bounds(lower: Option<&[u8]>, upper: Option<&[u8]>) -> RevRange {
        let main = |b: Option<&[u8]>| b.and_then(|k| RevisionKey::parse(k).ok()).map(|r| r.main);
        RevRange {
            first: main(lower).unwrap_or(1),
            last: main(upper).unwrap_or(i64::MAX),
        }
    }

    fn len(&self) -> u64 {
        (self.last - self.first + 1).max(0) as u64
    }
}

/// Where a record of the rebuilt file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Read through the db's tree.
    Tree,
    /// Found by the page scan outside the readable tree.
    Scan,
    /// Written by replaying the WAL.
    Wal,
}

/// One key's account.
#[derive(Debug, Clone, Serialize)]
pub struct KeyAccount {
    /// The key, as text when printable (else base64).
    pub key: String,
    pub latest_revision: i64,
    /// The latest surviving revision is a deletion.
    pub deleted: bool,
    /// `survived` when no lost revision lies above it, `uncertain` when one
    /// does (a newer write to this key may be among the lost).
    pub latest: &'static str,
    /// Where its latest revision came from.
    pub from: Source,
    /// Revision ranges where writes of this key are known to be missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<RevRange>,
}

/// The whole account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Losses {
    pub current_revision: i64,
    pub compact_revision: i64,
    /// Main revisions above the compaction point with no record left.
    pub lost_revisions: Vec<RevRange>,
    pub lost_revision_count: u64,
    /// Revisions whose pages in the tree could not be read; the scan may
    /// have brought some of their records back, and above the compaction
    /// point `lost_revisions` says exactly which are still missing, but at
    /// or below it no one can tell which records were there.
    pub unreadable: Vec<RevRange>,
    /// The part of `unreadable` at or below the compaction point.
    pub unverifiable: Vec<RevRange>,
    /// Revisions after this one may have existed and are lost, in a number
    /// no one can tell (the WAL that held them is damaged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_after: Option<i64>,
    pub keys_total: u64,
    pub keys_latest_survived: u64,
    pub keys_latest_uncertain: u64,
    pub keys_with_lost_history: u64,
    pub keys: Vec<KeyAccount>,
}

impl Losses {
    /// Every key's latest revision becomes uncertain, and everything after
    /// the current revision unknown (a source of newer writes was
    /// unreadable and could have touched any key, or made new ones).
    pub fn mark_all_uncertain(&mut self) {
        self.lost_after = Some(self.current_revision);
        for k in &mut self.keys {
            k.latest = "uncertain";
        }
        self.keys_latest_uncertain = self.keys_total;
        self.keys_latest_survived = 0;
    }
}

struct Rev {
    main: i64,
    tombstone: bool,
    version: i64,
    create: i64,
    from: Source,
}

/// Account for the rebuilt `key` bucket; `sources` names the records that
/// did not come from the tree.
pub fn account(
    key_bucket: &super::state::Records<'_>,
    compact: i64,
    sources: &BTreeMap<Vec<u8>, Source>,
    unreadable: &[RevRange],
) -> Losses {
    let mut mains: BTreeSet<i64> = BTreeSet::new();
    let mut per_key: BTreeMap<&[u8], Vec<Rev>> = BTreeMap::new();
    for (rk, v) in key_bucket {
        let Ok(rev) = RevisionKey::parse(rk) else {
            continue;
        };
        mains.insert(rev.main);
        let Ok(kv) = KeyValue::decode(v) else {
            continue;
        };
        per_key.entry(kv.key).or_default().push(Rev {
            main: rev.main,
            tombstone: rev.tombstone,
            version: kv.version,
            create: kv.create_revision,
            from: sources.get(rk).copied().unwrap_or(Source::Tree),
        });
    }
    let current = mains.last().copied().unwrap_or(0);
    let mut lost = Vec::new();
    // Revision 1 is the empty store's: the first write takes 2.
    let mut prev = compact.max(1);
    for &m in mains.range(prev + 1..) {
        if m > prev + 1 {
            lost.push(RevRange {
                first: prev + 1,
                last: m - 1,
            });
        }
        prev = m;
    }
    let lost_in = |lo: i64, hi: i64| -> Vec<RevRange> {
        lost.iter()
            .filter(|r| r.last >= lo && r.first <= hi)
            .map(|r| RevRange {
                first: r.first.max(lo),
                last: r.last.min(hi),
            })
            .collect()
    };
    let unverifiable: Vec<RevRange> = unreadable
        .iter()
        .filter(|r| r.first <= compact)
        .map(|r| RevRange {
            first: r.first,
            last: r.last.min(compact),
        })
        .collect();
    let top_lost = lost
        .iter()
        .chain(&unverifiable)
        .map(|r| r.last)
        .max()
        .unwrap_or(i64::MIN);
    let mut out = Losses {
        current_revision: current,
        compact_revision: compact,
        lost_revision_count: lost.iter().map(RevRange::len).sum(),
        unreadable: unreadable.to_vec(),
        unverifiable,
        ..Losses::default()
    };
    for (key, revs) in &per_key {
        let Some(last) = revs.last() else { continue };
        let mut gaps: Vec<RevRange> = Vec::new();
        let mut expect: Option<(i64, i64)> = None; // (version, main) of the previous put
        for r in revs {
            if r.tombstone {
                expect = None;
                continue;
            }
            match expect {
                Some((v, m)) if r.version > v + 1 => gaps.extend(lost_in(m + 1, r.main - 1)),
                None if r.version > 1 && r.create > compact => {
                    gaps.extend(lost_in(r.create, r.main - 1))
                }
                _ => {}
            }
            expect = Some((r.version, r.main));
        }
        gaps.dedup();
        let uncertain = top_lost > last.main;
        out.keys_total += 1;
        if uncertain {
            out.keys_latest_uncertain += 1;
        } else {
            out.keys_latest_survived += 1;
        }
        if !gaps.is_empty() {
            out.keys_with_lost_history += 1;
        }
        out.keys.push(KeyAccount {
            key: crate::wal::entry::readable(key),
            latest_revision: last.main,
            deleted: last.tombstone,
            latest: if uncertain { "uncertain" } else { "survived" },
            from: last.from,
            lost: gaps,
        });
    }
    out.lost_revisions = lost;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(
        b: &mut super::super::state::Records<'static>,
        main: i64,
        key: &[u8],
        version: i64,
        create: i64,
    ) {
        let rk = RevisionKey {
            main,
            sub: 0,
            tombstone: false,
        };
        let kv = KeyValue {
            key,
            create_revision: create,
            mod_revision: main,
            version,
            value: b"v",
            ..KeyValue::default()
        };
        b.insert(rk.encode(), kv.encode().into());
    }

    #[test]
    fn lost_ranges_and_per_key_gaps() {
        let mut b = BTreeMap::new();
        put(&mut b, 2, b"a", 1, 2);
        put(&mut b, 3, b"b", 1, 3);
        // 4 and 5 lost: a's version 2 was at 4 or 5.
        put(&mut b, 6, b"a", 3, 2);
        // 7 lost; c created at 7, seen again at 8.
        put(&mut b, 8, b"c", 2, 7);
        put(&mut b, 9, b"d", 1, 9);
        let l = account(&b, 0, &BTreeMap::new(), &[]);
        assert_eq!(
            l.lost_revisions,
            vec![
                RevRange { first: 4, last: 5 },
                RevRange { first: 7, last: 7 }
            ]
        );
        assert_eq!(l.lost_revision_count, 3);
        let a = l.keys.iter().find(|k| k.key == "a").unwrap();
        assert_eq!(a.lost, vec![RevRange { first: 4, last: 5 }]);
        assert_eq!(a.latest, "uncertain");
        let c = l.keys.iter().find(|k| k.key == "c").unwrap();
        assert_eq!(c.lost, vec![RevRange { first: 7, last: 7 }]);
        assert_eq!(c.latest, "survived");
        let bk = l.keys.iter().find(|k| k.key == "b").unwrap();
        assert!(bk.lost.is_empty());
        assert_eq!(bk.latest, "uncertain");
        assert_eq!((l.keys_latest_survived, l.keys_latest_uncertain), (2, 2));
    }
}
