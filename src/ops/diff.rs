//! `diff A B`: where two copies of one etcd keyspace (members, backups, any
//! mix of data dir, db and snapshot file) diverge, and what differs.
//!
//! Both `key` buckets are walked in lockstep: the bucket is ordered by
//! revision, so one merge walk finds the first revision where they part and
//! every revision stored in one copy only or stored differently (each field
//! of the `mvccpb.KeyValue` compared; values are never printed, only their
//! sizes and the first differing byte, since they may be secrets). The other
//! buckets are compared record by record, with etcd's meaning where it has
//! one (compaction points, consistent index, term). `consistent_index` and
//! `term` are member-specific: a healthy member that applied fewer entries
//! (or a backup taken earlier) differs there, and etcd's corruption checker
//! skips them too, so they are reported but are not a divergence.

use super::open::{OpenDb, OpenDbError};
use crate::bolt::cursor::{top_level_buckets, BucketCursor, CursorDamage, CursorItem};
use crate::etcd::kv::KeyValue;
use crate::etcd::revision::RevisionKey;
use crate::input::Input;
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
}

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
                let ca = BucketCursor::new(&fa, ra, ma.pgid);
                let cb = BucketCursor::new(&fb, rb, mb.pgid);
                compare_bucket(&mut r, name, ca, cb);
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

/// The next readable item of a cursor, noting damage on the way.
fn next_item<'a>(
    c: &mut BucketCursor<'_, 'a>,
    damage: &mut Vec<String>,
    side: &str,
    bucket: &[u8],
) -> Option<CursorItem<'a>> {
    loop {
        match c.next()? {
            Ok(it) => return Some(it),
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
) {
    let is_key = name == b"key";
    let mut xa = next_item(&mut ca, &mut r.damage, "A", name);
    let mut xb = next_item(&mut cb, &mut r.damage, "B", name);
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
            xa = next_item(&mut ca, &mut r.damage, "A", name);
        }
        if xb.is_none() {
            xb = next_item(&mut cb, &mut r.damage, "B", name);
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
