//! Gathering what survives: every record the tree yields, then what the
//! page scan adds (revisions the tree lacks, small buckets it could not
//! give whole, conflicts settled by majority, compaction re-applied).
#![forbid(unsafe_code)]

use super::*;
use std::borrow::Cow;

/// How the note on counters taken from the scan's newest meta copy begins.
pub(super) const NEWER_COUNTERS_NOTE: &str = "the tree read is older than revisions the scan found";

/// What the whole tree held when the page scan found revisions past its
/// end: the records a newer transaction wrote (one bbolt committed under a
/// meta that is now unusable, or one it never committed, as when a full
/// disk failed the commit's writes part-way). Such a transaction's pages
/// may be only partly on disk, while its meta-bucket copy already names
/// the consistent index of its last entry; the log replay then starts from
/// the tree's own counters, as etcd itself does on restart.
pub(super) struct TreeBase<'a> {
    /// The tree's current revision.
    pub(super) top: i64,
    /// The tree's own consistent index (0 when it has none).
    pub(super) consistent_index: u64,
    /// The tree's own `consistent_index` and `term` records (before the
    /// newest copies found by the scan replaced them).
    pub(super) counters: Vec<Counter<'a>>,
}

/// A meta-bucket counter's key and the tree's record of it (if any).
pub(super) type Counter<'a> = (&'static [u8], Option<Cow<'a, [u8]>>);

/// Gather every record the tree yields, then (with --salvage, or when no
/// meta page is usable) what the page scan adds. With the records: the
/// whole tree's base when the scan found revisions past its end.
pub(super) fn gather<'a>(
    file: Option<&BoltFile<'a>>,
    opts: RepairOptions,
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
) -> (Buckets<'a>, Option<TreeBase<'a>>) {
    let mut b = Buckets::new();
    let Some(f) = file else {
        report.tree_from = "no db: rebuilt from the log alone".into();
        return (b, None);
    };
    let hwm_all = f.file_pages();
    let mut damaged_buckets: Vec<Vec<u8>> = Vec::new();
    let mut scan = None;
    type Roots<'r> = Vec<(Vec<u8>, Result<BucketRoot<'r>, String>)>;
    let (roots, hwm): (Roots<'_>, u64) = match f.best_meta() {
        Some(meta) => {
            report.tree_from = match f.current {
                Some(c) => format!("meta page {c} (txid {})", meta.txid),
                None => format!(
                    "meta page {} (txid {}): neither meta validates; this one's root and high-water mark look sane",
                    meta.slot, meta.txid
                ),
            };
            let other_bad = f.metas.iter().filter(|m| m.is_none()).count();
            if other_bad > 0 {
                report
                    .notes
                    .push("one meta page is unusable: the other one was used".into());
            }
            let (roots, damage) = top_level_buckets(f, meta);
            for d in damage {
                report.damage.push(describe_damage("(root)", &d));
                // Which buckets hung below is unknown: the key bucket too.
                report
                    .unreadable
                    .push(losses::RevRange::of_bounds(None, None));
                report.small_bucket_damage = true;
            }
            (
                roots.into_iter().map(|(n, r)| (n.to_vec(), r)).collect(),
                meta.pgid,
            )
        }
        None => {
            let s = salvage::scan(f);
            let roots = match s.roots.first() {
                Some(r) => {
                    report.tree_from = format!(
                        "no usable meta page: the root leaf at page {} found by the page scan (consistent index {})",
                        r.page,
                        r.consistent_index.map_or("unknown".into(), |c| c.to_string())
                    );
                    r.buckets
                        .iter()
                        .map(|(n, r)| (n.to_vec(), Ok(*r)))
                        .collect()
                }
                None => {
                    report.tree_from =
                        "no usable meta page and no root leaf found: records from the page scan only"
                            .into();
                    Vec::new()
                }
            };
            scan = Some(s);
            (roots, hwm_all)
        }
    };
    for (name, root) in roots {
        let label = String::from_utf8_lossy(&name).into_owned();
        let root = match root {
            Ok(r) => r,
            Err(e) => {
                report.damage.push(format!("bucket {label}: {e}"));
                if name == b"key" {
                    report
                        .unreadable
                        .push(losses::RevRange::of_bounds(None, None));
                } else {
                    report.small_bucket_damage = true;
                }
                damaged_buckets.push(name);
                continue;
            }
        };
        let recs = b.entry(name.clone()).or_default();
        let acct = report.buckets.entry(label.clone()).or_default();
        for item in BucketCursor::new(f, root, hwm) {
            match item {
                Ok(i) if i.is_bucket() => report.damage.push(format!(
                    "bucket {label}: nested bucket {:?} not copied (etcd has none)",
                    String::from_utf8_lossy(i.key)
                )),
                Ok(i) => {
                    if !recs.contains_key(i.key) {
                        recs.insert(i.key.to_vec(), Cow::Borrowed(i.value));
                        acct.from_tree += 1;
                    }
                }
                Err(d) => {
                    report.damage.push(describe_damage(&label, &d));
                    if name == b"key" {
                        report.unreadable.push(losses::RevRange::of_bounds(
                            d.lower_bound.as_deref(),
                            d.upper_bound.as_deref(),
                        ));
                    } else {
                        report.small_bucket_damage = true;
                    }
                    if !damaged_buckets.contains(&name) {
                        damaged_buckets.push(name.clone());
                    }
                }
            }
        }
    }
    let mut base = None;
    if opts.salvage || scan.is_some() {
        let tree_whole =
            f.current.is_some() && report.damage.is_empty() && report.unreadable.is_empty();
        let s = match scan {
            Some(s) => s,
            None => salvage::scan(f),
        };
        base = merge_scan(&mut b, &s, &damaged_buckets, report, sources).filter(|_| tree_whole);
        report.scan = Some(s.stats);
    } else if !report.damage.is_empty() {
        report.notes.push(
            "parts of the tree could not be read: run again with --salvage to scan every page for the records they held"
                .into(),
        );
    }
    (b, base)
}

/// Add what the scan found: `key` records the tree lacks (revisions are
/// written once, so any valid copy is the record), and the small buckets'
/// records only where the tree could not provide the bucket whole. Then
/// compaction is applied again, so a stale copy of a revision etcd had
/// compacted away does not come back. Returns the tree's base when the
/// scan found revisions past the tree's end.
pub(super) fn merge_scan<'a>(
    b: &mut Buckets<'a>,
    s: &salvage::Scan<'a>,
    damaged: &[Vec<u8>],
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
) -> Option<TreeBase<'a>> {
    let mut small: BTreeMap<(&str, &[u8]), Vec<&[u8]>> = BTreeMap::new();
    // Revision records: the scan's copies, sorted by revision key (a
    // stable sort: each key's copies stay in page order). A flat list, not
    // a map of lists: on a large db it is the biggest thing a salvage holds.
    let mut revs: Vec<(&'a [u8], &'a [u8])> = Vec::new();
    for rec in &s.found {
        if rec.bucket == "key" {
            revs.push((rec.key, rec.value));
            continue;
        }
        let whole = b.contains_key(rec.bucket.as_bytes())
            && !damaged.iter().any(|d| d == rec.bucket.as_bytes());
        if !whole {
            small
                .entry((rec.bucket, rec.key))
                .or_default()
                .push(rec.value);
        }
    }
    let kb = b.entry(b"key".to_vec()).or_default();
    let tree_top = state::current_revision(kb);
    revs.sort_by(|x, y| x.0.cmp(y.0));
    let scan_top = revs
        .iter()
        .filter_map(|(k, _)| crate::etcd::revision::RevisionKey::parse(k).ok())
        .map(|r| r.main)
        .max()
        .unwrap_or(0);
    let mut found: Vec<&'a [u8]> = Vec::new();
    for group in revs.chunk_by(|x, y| x.0 == y.0) {
        let Some(&(rk, _)) = group.first() else {
            continue;
        };
        found.clear();
        found.extend(group.iter().map(|&(_, v)| v));
        match kb.get(rk) {
            None => {
                // Any valid copy is the record (revisions are written once);
                // differing ones are settled by majority.
                let (v, n, distinct) = majority(&found);
                kb.insert(rk.to_vec(), Cow::Borrowed(v));
                sources.insert(rk.to_vec(), Source::Scan);
                if distinct > 1 {
                    report.conflicts.push(conflict(
                        rk,
                        v,
                        distinct,
                        format!(
                            "found only by the scan; the copy {n} of {} agree on",
                            found.len()
                        ),
                    ));
                }
            }
            Some(tree) => {
                if found.iter().all(|f| *f == &**tree) {
                    continue;
                }
                let (v, n, _) = majority(&found);
                let others_agree = n >= 2 && found.iter().all(|f| *f == v);
                let mut distinct: Vec<&[u8]> = vec![&**tree];
                for f in &found {
                    if !distinct.contains(f) {
                        distinct.push(f);
                    }
                }
                if others_agree {
                    let kept =
                        format!("the scan's {n} agreeing copies, over the tree's differing one");
                    report.conflicts.push(conflict(rk, v, distinct.len(), kept));
                    kb.insert(rk.to_vec(), Cow::Borrowed(v));
                } else {
                    let tree_v = tree.clone();
                    report.conflicts.push(conflict(
                        rk,
                        &tree_v,
                        distinct.len(),
                        "the tree's copy (no majority among the others)".into(),
                    ));
                }
            }
        }
    }
    // The tree read is older than revisions the scan found (an older meta,
    // or the newest root's pages lost): its consistent index is behind
    // those records, and a log replay from it would apply their entries a
    // second time. The newest meta copy's counters go with the records.
    let mut base = None;
    if scan_top > tree_top {
        let tree_meta = b.get(b"meta".as_slice());
        base = Some(TreeBase {
            top: tree_top,
            consistent_index: meta_u64(b, b"consistent_index").unwrap_or(0),
            counters: [b"consistent_index".as_slice(), b"term"]
                .into_iter()
                .map(|k| (k, tree_meta.and_then(|m| m.get(k)).cloned()))
                .collect(),
        });
        let newest = |key: &[u8]| {
            s.found
                .iter()
                .filter(|r| r.bucket == "meta" && r.key == key && r.value.len() == 8)
                .map(|r| r.value)
                .max()
        };
        for key in [b"consistent_index".as_slice(), b"term"] {
            let Some(v) = newest(key) else { continue };
            let meta = b.entry(b"meta".to_vec()).or_default();
            if meta.get(key).is_none_or(|old| &**old < v) {
                report.notes.push(format!(
                    "{NEWER_COUNTERS_NOTE} (up to {scan_top}, the tree's end at {tree_top}): {} taken from the newest meta copy found",
                    String::from_utf8_lossy(key)
                ));
                meta.insert(key.to_vec(), v.to_vec().into());
            }
        }
    }
    for ((bucket, key), values) in small {
        let recs = b.entry(bucket.as_bytes().to_vec()).or_default();
        if recs.contains_key(key) {
            continue;
        }
        // Counters only grow: the greatest copy is the newest.
        let chosen = if bucket == "meta" && values.iter().all(|v| v.len() == 8) {
            values.iter().max().copied()
        } else {
            if values.iter().any(|v| v != &values[0]) {
                report.notes.push(format!(
                    "{bucket}/{}: {} differing copies found by the scan; the first was kept",
                    crate::wal::entry::readable(key),
                    values.len()
                ));
            }
            values.first().copied()
        };
        if let Some(v) = chosen {
            recs.insert(key.to_vec(), v.to_vec().into());
            report.buckets.entry(bucket.into()).or_default().from_scan += 1;
        }
    }
    let compact = meta_i64(b, b"finishedCompactRev").unwrap_or(0);
    let kb = b.entry(b"key".to_vec()).or_default();
    if compact > 0 {
        let dropped = state::compact(kb, compact);
        if dropped > 0 {
            report.notes.push(format!(
                "{dropped} stale record(s) at or below the compaction point {compact} dropped (etcd had compacted them away)"
            ));
        }
    }
    sources.retain(|k, _| kb.contains_key(k));
    report.buckets.entry("key".into()).or_default().from_scan = sources.len() as u64;
    base
}

/// The most common of `values`, how many agree on it, and how many
/// distinct values there are.
pub(super) fn majority<'v>(values: &[&'v [u8]]) -> (&'v [u8], usize, usize) {
    let mut counts: Vec<(&[u8], usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(c, _)| c == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let distinct = counts.len();
    let (v, n) = counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .unwrap_or((&[], 0));
    (v, n, distinct)
}

/// A revision key as `main_sub` (or its bytes when it is not one).
pub(super) fn revision_label(rk: &[u8]) -> String {
    crate::etcd::revision::RevisionKey::parse(rk).map_or_else(
        |_| crate::wal::entry::readable(rk),
        |r| format!("{}_{}", r.main, r.sub),
    )
}

pub(super) fn conflict(rk: &[u8], kept: &[u8], copies: usize, why: String) -> Conflict {
    let revision = revision_label(rk);
    let key = crate::etcd::kv::KeyValue::decode(kept)
        .map(|kv| crate::wal::entry::readable(kv.key))
        .unwrap_or_default();
    Conflict {
        revision,
        key,
        copies,
        kept: why,
    }
}
