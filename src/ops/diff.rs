//! `diff A B`: where two copies of one etcd keyspace (members, backups, any
//! mix of data dir, db and snapshot file) diverge, and what differs.
//!
//! The `key` bucket is ordered by revision, so one merge walk of both
//! finds the first revision where they part and every revision stored in one
//! copy only or stored differently (each field of the `mvccpb.KeyValue`
//! compared; values are never printed, only their sizes and the first
//! differing byte, since they may be secrets).
//!
//! By default the walk is split: the `key` bucket is cut at leaf boundaries
//! of A into up to [`RANGES_MAX`] revision ranges; each range of both copies
//! is compared byte for byte (ranges in parallel), and only the ranges that
//! differ are walked record by record, in revision order, the first of them
//! holding the first divergence (a damaged tree or an inline bucket falls
//! back to the one merge walk, which `merge_walk` asks for). Measured on two
//! 4 GB copies (bench/diff.sh, README): as fast as the single walk when the
//! cores are free, half its time when other jobs load the machine. Hashing
//! ranges instead was slower than either (CRC-32C and a multiplicative hash cost more per byte than
//! `memcmp` of the same bytes, and both copies are read whole either way).
//!
//! The other buckets are compared record by record, with etcd's meaning
//! where it has one (compaction points, consistent index, term).
//! `consistent_index` and `term` are member-specific: a healthy member that
//! applied fewer entries (or a backup taken earlier) differs there, and
//! etcd's corruption checker skips them too, so they are reported but are
//! not a divergence.

use super::open::{OpenDb, OpenDbError};
use crate::bolt::cursor::{leaf_pages, top_level_buckets, BucketCursor, CursorDamage, CursorItem};
use crate::bolt::file::BucketRoot;
use crate::bolt::BoltFile;
use crate::etcd::kv::KeyValue;
use crate::etcd::revision::RevisionKey;
use crate::input::Input;
use rayon::prelude::*;
use serde::Serialize;
use std::cmp::Ordering;
use std::io::Write;

/// Meta keys that differ between healthy members (and between a member and
/// its backups): reported, not counted as divergence.
const MEMBER_SPECIFIC: [&[u8]; 3] = [b"consistent_index", b"term", b"storageVersion"];

/// The whole comparison.
#[derive(Debug, Serialize)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    /// No divergence in any bucket (member-specific meta aside) and no damage.
    pub identical: bool,
    /// The first revision stored differently (or in one copy only).
    pub first_divergence: Option<String>,
    pub a_revisions: u64,
    pub b_revisions: u64,
    /// Each revision that differs, in revision order.
    pub revisions: Vec<RevisionDiff>,
    /// Each record of the other buckets that differs.
    pub records: Vec<RecordDiff>,
    /// consistent_index, term: differ between healthy members.
    pub member_specific: Vec<RecordDiff>,
    /// Parts of either file that could not be read (not compared).
    pub damage: Vec<String>,
    /// How the `key` buckets were compared.
    pub method: Method,
}

/// How the `key` buckets were compared: revision ranges hashed, and how
/// many of them were then walked record by record.
#[derive(Debug, Serialize, Default)]
pub struct Method {
    /// `ranges` (the default), or `merge_walk` (asked for, or on a damaged
    /// tree or an inline bucket).
    pub kind: &'static str,
    pub ranges: usize,
    pub ranges_walked: usize,
}

/// How to compare.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// Compare the `key` buckets by one merge walk (default: by revision
    /// ranges in parallel; see the module notes).
    pub merge_walk: bool,
}

/// Most revision ranges the `key` bucket is cut into.
pub const RANGES_MAX: usize = 64;

/// One revision of the `key` bucket that differs.
#[derive(Debug, Serialize)]
pub struct RevisionDiff {
    /// `main_sub`, with a trailing `t` for a tombstone.
    pub revision: String,
    /// The key of the stored KeyValue (of A when both have it), lossy UTF-8.
    pub key: String,
    /// `only_in_a`, `only_in_b` or `differs`.
    pub kind: &'static str,
    pub fields: Vec<FieldDiff>,
}

/// One field that differs, both sides as text.
#[derive(Debug, Serialize)]
pub struct FieldDiff {
    pub field: &'static str,
    pub a: String,
    pub b: String,
}

/// One record of another bucket that differs.
#[derive(Debug, Serialize)]
pub struct RecordDiff {
    pub bucket: String,
    pub key: String,
    /// `only_in_a`, `only_in_b`, `differs`; for a whole bucket `bucket_only_in_a`/`_b`.
    pub kind: &'static str,
    /// The values as etcd means them where known (compaction revisions,
    /// indexes); sizes otherwise.
    pub a: Option<String>,
    pub b: Option<String>,
}

/// Compare two inputs. Err: one of them has no usable db (exit 2).
pub fn diff(a: &Input, b: &Input) -> Result<DiffReport, DiffError> {
    diff_with(a, b, DiffOptions::default())
}

/// [`diff`] with options.
pub fn diff_with(a: &Input, b: &Input, opts: DiffOptions) -> Result<DiffReport, DiffError> {
    let (oa, ob) = (OpenDb::open(a)?, OpenDb::open(b)?);
    let (fa, fb) = (oa.bolt()?, ob.bolt()?);
    let mut r = DiffReport {
        a: oa.name(),
        b: ob.name(),
        identical: false,
        first_divergence: None,
        a_revisions: 0,
        b_revisions: 0,
        revisions: Vec::new(),
        records: Vec::new(),
        member_specific: Vec::new(),
        damage: Vec::new(),
        method: Method {
            kind: "merge_walk",
            ..Default::default()
        },
    };
    let ma = fa.best_meta().ok_or_else(|| DiffError::NoMeta(oa.name()))?;
    let mb = fb.best_meta().ok_or_else(|| DiffError::NoMeta(ob.name()))?;
    let (ba, da) = top_level_buckets(&fa, ma);
    let (bb, db) = top_level_buckets(&fb, mb);
    note_damage(&mut r.damage, "A", &da);
    note_damage(&mut r.damage, "B", &db);
    let mut ia = ba.into_iter().peekable();
    let mut ib = bb.into_iter().peekable();
    loop {
        let ord = match (ia.peek(), ib.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.0.cmp(y.0),
        };
        match ord {
            Ordering::Less => {
                if let Some((n, _)) = ia.next() {
                    r.records.push(whole_bucket(n, "bucket_only_in_a"));
                }
            }
            Ordering::Greater => {
                if let Some((n, _)) = ib.next() {
                    r.records.push(whole_bucket(n, "bucket_only_in_b"));
                }
            }
            Ordering::Equal => {
                let (Some((name, ra)), Some((_, rb))) = (ia.next(), ib.next()) else {
                    break;
                };
                let (ra, rb) = match (ra, rb) {
                    (Ok(x), Ok(y)) => (x, y),
                    (x, y) => {
                        for (side, e) in [("A", x.err()), ("B", y.err())] {
                            if let Some(e) = e {
                                r.damage.push(format!(
                                    "{side}: bucket {}: {e}",
                                    String::from_utf8_lossy(name)
                                ));
                            }
                        }
                        continue;
                    }
                };
                let sa = Side {
                    file: &fa,
                    root: ra,
                    hwm: ma.pgid,
                };
                let sb = Side {
                    file: &fb,
                    root: rb,
                    hwm: mb.pgid,
                };
                if name != b"key" || opts.merge_walk || !compare_by_ranges(&mut r, sa, sb) {
                    compare_bucket(&mut r, name, sa.cursor(None), sb.cursor(None), None);
                }
            }
        }
    }
    r.identical = r.revisions.is_empty() && r.records.is_empty() && r.damage.is_empty();
    Ok(r)
}

/// Why two inputs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Open(#[from] OpenDbError),
    #[error("{0}: no usable meta page: the db cannot be read")]
    NoMeta(String),
}

fn whole_bucket(name: &[u8], kind: &'static str) -> RecordDiff {
    RecordDiff {
        bucket: String::from_utf8_lossy(name).into_owned(),
        key: String::new(),
        kind,
        a: None,
        b: None,
    }
}

fn note_damage(out: &mut Vec<String>, side: &str, d: &[CursorDamage]) {
    for x in d {
        out.push(format!(
            "{side}: page {} unreadable, its records not compared: {}",
            x.page, x.reason
        ));
    }
}

/// One copy's bucket: its file, root and high-water mark.
#[derive(Clone, Copy)]
struct Side<'f, 'a> {
    file: &'f BoltFile<'a>,
    root: BucketRoot<'a>,
    hwm: u64,
}

impl<'f, 'a> Side<'f, 'a> {
    fn cursor(&self, from: Option<&[u8]>) -> BucketCursor<'f, 'a> {
        let c = BucketCursor::new(self.file, self.root, self.hwm);
        match from {
            Some(k) => c.seek(k),
            None => c,
        }
    }
}

/// How one revision range of both copies compares: record counts, and
/// whether every record is byte for byte the same. None when damage was met
/// (the caller then walks the whole bucket).
fn range_agrees(a: Side<'_, '_>, b: Side<'_, '_>, bounds: Bounds<'_>) -> Option<(u64, u64, bool)> {
    let (mut ca, mut cb) = (a.cursor(bounds.lo), b.cursor(bounds.lo));
    let (mut na, mut nb) = (0u64, 0u64);
    loop {
        let (x, y) = (next_in(&mut ca, bounds)?, next_in(&mut cb, bounds)?);
        na += x.is_some() as u64;
        nb += y.is_some() as u64;
        match (x, y) {
            (None, None) => return Some((na, nb, true)),
            (Some(x), Some(y)) if x.key == y.key && x.value == y.value && x.flags == y.flags => {}
            _ => {
                // Count the rest only: the record walk lists what differs.
                while next_in(&mut ca, bounds)?.is_some() {
                    na += 1;
                }
                while next_in(&mut cb, bounds)?.is_some() {
                    nb += 1;
                }
                return Some((na, nb, false));
            }
        }
    }
}

/// The next item of `c` within `bounds` (None at the end); Err-free:
/// None outside when damage was met.
fn next_in<'a>(c: &mut BucketCursor<'_, 'a>, bounds: Bounds<'_>) -> Option<Option<CursorItem<'a>>> {
    loop {
        match c.next() {
            None => return Some(None),
            Some(Err(_)) => return None,
            Some(Ok(it)) => {
                if bounds.lo.is_some_and(|l| it.key < l) {
                    continue;
                }
                if bounds.hi.is_some_and(|h| it.key >= h) {
                    return Some(None);
                }
                return Some(Some(it));
            }
        }
    }
}

/// Cut the `key` bucket of A into revision ranges at leaf boundaries,
/// compare each range of both copies (ranges in parallel), and walk record
/// by record only the ranges that differ. False (nothing recorded) when it cannot be used: an
/// inline bucket, or damage met in either tree.
fn compare_by_ranges(r: &mut DiffReport, a: Side<'_, '_>, b: Side<'_, '_>) -> bool {
    let BucketRoot::Page(root) = a.root else {
        return false;
    };
    let (leaves, lost) = leaf_pages(a.file, root, a.hwm);
    if !lost.is_empty() {
        return false;
    }
    let step = leaves.len().div_ceil(RANGES_MAX).max(1);
    let mut bounds: Vec<&[u8]> = Vec::new();
    for leaf in leaves.iter().skip(step).step_by(step) {
        let (true, Ok(first)) = (leaf.count() > 0, leaf.leaf(0)) else {
            return false;
        };
        if bounds.last().is_some_and(|l| *l >= first.key) {
            return false;
        }
        bounds.push(first.key);
    }
    // Range i is [bounds[i-1], bounds[i]), open at both ends.
    let range = |i: usize| Bounds {
        lo: i.checked_sub(1).and_then(|j| bounds.get(j).copied()),
        hi: bounds.get(i).copied(),
    };
    let n = bounds.len() + 1;
    let Some(agree) = (0..n)
        .into_par_iter()
        .map(|i| range_agrees(a, b, range(i)))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    r.method = Method {
        kind: "ranges",
        ranges: n,
        ranges_walked: 0,
    };
    for (i, (na, nb, same)) in agree.into_iter().enumerate() {
        if same {
            r.a_revisions += na;
            r.b_revisions += nb;
        } else {
            let bounds = range(i);
            r.method.ranges_walked += 1;
            compare_bucket(
                r,
                b"key",
                a.cursor(bounds.lo),
                b.cursor(bounds.lo),
                Some(bounds),
            );
        }
    }
    true
}

/// A key range `[lo, hi)` a walk is limited to.
#[derive(Clone, Copy)]
struct Bounds<'k> {
    lo: Option<&'k [u8]>,
    hi: Option<&'k [u8]>,
}

/// The next readable item of a cursor (within `bounds`), noting damage on
/// the way.
fn next_item<'a>(
    c: &mut BucketCursor<'_, 'a>,
    damage: &mut Vec<String>,
    side: &str,
    bucket: &[u8],
    bounds: Option<Bounds<'_>>,
) -> Option<CursorItem<'a>> {
    loop {
        match c.next()? {
            Ok(it) => {
                let Some(b) = bounds else {
                    return Some(it);
                };
                if b.lo.is_some_and(|l| it.key < l) {
                    continue;
                }
                if b.hi.is_some_and(|h| it.key >= h) {
                    return None;
                }
                return Some(it);
            }
            Err(d) => damage.push(format!(
                "{side}: bucket {}: page {} unreadable, its records not compared: {}",
                String::from_utf8_lossy(bucket),
                d.page,
                d.reason
            )),
        }
    }
}

fn compare_bucket(
    r: &mut DiffReport,
    name: &[u8],
    mut ca: BucketCursor<'_, '_>,
    mut cb: BucketCursor<'_, '_>,
    bounds: Option<Bounds<'_>>,
) {
    let is_key = name == b"key";
    let mut xa = next_item(&mut ca, &mut r.damage, "A", name, bounds);
    let mut xb = next_item(&mut cb, &mut r.damage, "B", name, bounds);
    loop {
        let ord = match (&xa, &xb) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.key.cmp(y.key),
        };
        let (a, b) = match ord {
            Ordering::Less => (xa.take(), None),
            Ordering::Greater => (None, xb.take()),
            Ordering::Equal => (xa.take(), xb.take()),
        };
        if is_key {
            r.a_revisions += a.is_some() as u64;
            r.b_revisions += b.is_some() as u64;
        }
        let same =
            matches!((&a, &b), (Some(x), Some(y)) if x.value == y.value && x.flags == y.flags);
        if !same {
            if is_key {
                let d = revision_diff(a.as_ref(), b.as_ref());
                if r.first_divergence.is_none() {
                    r.first_divergence = Some(d.revision.clone());
                }
                r.revisions.push(d);
            } else {
                let d = record_diff(name, a.as_ref(), b.as_ref());
                if name == b"meta" && MEMBER_SPECIFIC.contains(&a.or(b).map_or(&b""[..], |i| i.key))
                {
                    r.member_specific.push(d);
                } else {
                    r.records.push(d);
                }
            }
        }
        if xa.is_none() {
            xa = next_item(&mut ca, &mut r.damage, "A", name, bounds);
        }
        if xb.is_none() {
            xb = next_item(&mut cb, &mut r.damage, "B", name, bounds);
        }
    }
}

fn rev_text(k: &[u8]) -> String {
    match RevisionKey::parse(k) {
        Ok(r) => format!("{}_{}{}", r.main, r.sub, if r.tombstone { "t" } else { "" }),
        Err(_) => format!("0x{}", hex(k)),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn kind_of(a: Option<&CursorItem<'_>>, b: Option<&CursorItem<'_>>) -> &'static str {
    match (a, b) {
        (Some(_), None) => "only_in_a",
        (None, Some(_)) => "only_in_b",
        _ => "differs",
    }
}

fn revision_diff(a: Option<&CursorItem<'_>>, b: Option<&CursorItem<'_>>) -> RevisionDiff {
    let key_bytes = a.or(b).map_or(&b""[..], |i| i.key);
    let kva = a.map(|i| KeyValue::decode(i.value));
    let kvb = b.map(|i| KeyValue::decode(i.value));
    let shown = kva
        .as_ref()
        .and_then(|k| k.as_ref().ok())
        .or(kvb.as_ref().and_then(|k| k.as_ref().ok()))
        .map(|k| String::from_utf8_lossy(k.key).into_owned())
        .unwrap_or_default();
    let mut fields = Vec::new();
    match (kva, kvb) {
        (Some(Ok(x)), Some(Ok(y))) => kv_fields(&x, &y, &mut fields),
        (Some(x), Some(y)) => fields.push(FieldDiff {
            field: "encoding",
            a: x.map_or_else(|e| format!("not a KeyValue: {e}"), |_| "KeyValue".into()),
            b: y.map_or_else(|e| format!("not a KeyValue: {e}"), |_| "KeyValue".into()),
        }),
        _ => {}
    }
    RevisionDiff {
        revision: rev_text(key_bytes),
        key: shown,
        kind: kind_of(a, b),
        fields,
    }
}

fn kv_fields(x: &KeyValue<'_>, y: &KeyValue<'_>, out: &mut Vec<FieldDiff>) {
    let mut num = |field: &'static str, a: i64, b: i64| {
        if a != b {
            out.push(FieldDiff {
                field,
                a: a.to_string(),
                b: b.to_string(),
            });
        }
    };
    num("create_revision", x.create_revision, y.create_revision);
    num("mod_revision", x.mod_revision, y.mod_revision);
    num("version", x.version, y.version);
    num("lease", x.lease, y.lease);
    if x.key != y.key {
        out.push(FieldDiff {
            field: "key",
            a: String::from_utf8_lossy(x.key).into_owned(),
            b: String::from_utf8_lossy(y.key).into_owned(),
        });
    }
    if x.value != y.value {
        let at = x
            .value
            .iter()
            .zip(y.value)
            .position(|(p, q)| p != q)
            .unwrap_or(x.value.len().min(y.value.len()));
        out.push(FieldDiff {
            field: "value",
            a: format!("{} bytes, first difference at byte {at}", x.value.len()),
            b: format!("{} bytes", y.value.len()),
        });
    }
    if out.is_empty() {
        // Same fields, different bytes: an encoding difference.
        out.push(FieldDiff {
            field: "encoding",
            a: "same fields".into(),
            b: "encoded differently".into(),
        });
    }
}

/// A meta value as etcd means it, else its size.
fn meta_text(bucket: &[u8], key: &[u8], v: &[u8]) -> String {
    if bucket == b"meta" {
        if key.ends_with(b"CompactRev") {
            if let Ok(r) = RevisionKey::parse(v) {
                return format!("revision {}", r.main);
            }
        }
        if let Ok(n) = <[u8; 8]>::try_from(v) {
            return u64::from_be_bytes(n).to_string();
        }
    }
    format!("{} bytes", v.len())
}

fn record_diff(
    bucket: &[u8],
    a: Option<&CursorItem<'_>>,
    b: Option<&CursorItem<'_>>,
) -> RecordDiff {
    let key = a.or(b).map_or(&b""[..], |i| i.key);
    RecordDiff {
        bucket: String::from_utf8_lossy(bucket).into_owned(),
        key: String::from_utf8_lossy(key).into_owned(),
        kind: kind_of(a, b),
        a: a.map(|i| meta_text(bucket, key, i.value)),
        b: b.map(|i| meta_text(bucket, key, i.value)),
    }
}

/// The report as text: a verdict line, then each difference.
pub fn render_text(r: &DiffReport, out: &mut dyn Write) -> std::io::Result<()> {
    if r.identical {
        writeln!(
            out,
            "IDENTICAL: {} revisions, every bucket the same{}",
            r.a_revisions,
            if r.member_specific.is_empty() {
                ""
            } else {
                " (member-specific meta differs, see below)"
            }
        )?;
    } else {
        writeln!(
            out,
            "DIFFERENT: {} revisions differ, {} other records differ; first divergence at revision {}",
            r.revisions.len(),
            r.records.len(),
            r.first_divergence.as_deref().unwrap_or("none")
        )?;
    }
    writeln!(out, "A: {} ({} revisions)", r.a, r.a_revisions)?;
    writeln!(out, "B: {} ({} revisions)", r.b, r.b_revisions)?;
    for d in &r.revisions {
        writeln!(out, "revision {} {:?}: {}", d.revision, d.key, d.kind)?;
        for f in &d.fields {
            writeln!(out, "  {}: A {} / B {}", f.field, f.a, f.b)?;
        }
    }
    for (what, list) in [("", &r.records), (" (member-specific)", &r.member_specific)] {
        for d in list {
            writeln!(
                out,
                "bucket {} key {:?}: {}{what}: A {} / B {}",
                d.bucket,
                d.key,
                d.kind,
                d.a.as_deref().unwrap_or("-"),
                d.b.as_deref().unwrap_or("-")
            )?;
        }
    }
    for d in &r.damage {
        writeln!(out, "damaged: {d}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_values_read_as_etcd_means_them() {
        let mut rev = 7i64.to_be_bytes().to_vec();
        rev.push(b'_');
        rev.extend_from_slice(&0i64.to_be_bytes());
        assert_eq!(
            meta_text(b"meta", b"finishedCompactRev", &rev),
            "revision 7"
        );
        assert_eq!(
            meta_text(b"meta", b"consistent_index", &9u64.to_be_bytes()),
            "9"
        );
        assert_eq!(meta_text(b"members", b"x", b"abc"), "3 bytes");
    }
}
