//! An [`ItemVisitor`] that checks every etcd record during the structural
//! walk, and gathers the small facts (`meta`, leases, members, auth, alarms)
//! that `check` cross-checks and `inspect` shows.

use super::kv::KeyValue;
use super::records::{
    self, AlarmRecord, LeaseRecord, MemberRecord, MetaRecord, RecordError, RoleRecord, UserRecord,
};
use super::revision::RevisionKey;
use crate::bolt::walk::{ItemContext, ItemVisitor};
use crate::findings::{show_bytes, Finding};
use serde::Serialize;

/// Facts gathered from the etcd buckets.
#[derive(Debug, Default, Clone, Serialize)]
pub struct EtcdFacts {
    /// `key`-bucket entries that parsed.
    pub revisions: u64,
    pub tombstones: u64,
    /// Highest and lowest main revision seen in the `key` bucket.
    pub max_revision: Option<i64>,
    pub min_revision: Option<i64>,
    pub key_value_errors: u64,
    /// Empty placeholder entries (`snapshot restore --bump-revision`).
    pub placeholders: u64,
    pub meta: Vec<MetaRecord>,
    pub leases: Vec<LeaseRecord>,
    pub members: Vec<MemberRecord>,
    pub removed_members: Vec<u64>,
    pub alarms: Vec<AlarmRecord>,
    pub users: Vec<UserRecord>,
    pub roles: Vec<RoleRecord>,
    pub auth_enabled: Option<bool>,
    pub auth_revision: Option<u64>,
    pub cluster_version: Option<String>,
    pub downgrade: Option<String>,
    /// Runs of consecutive revisions, one per leaf page (for the
    /// contiguity check across pages); only revisions above the compacted one.
    #[serde(skip)]
    pub spans: Vec<RevSpan>,
    /// Gaps between adjacent revisions inside one page.
    #[serde(skip)]
    pub gaps: Vec<RevGap>,
    #[serde(skip)]
    cursor: Option<(u64, RevisionKey)>,
}

/// The first and last revision stored in one leaf page.
#[derive(Debug, Clone, Copy)]
pub struct RevSpan {
    pub page: u64,
    pub offset: u64,
    pub first: RevisionKey,
    pub last: RevisionKey,
}

/// Two adjacent stored revisions that cannot both be right.
#[derive(Debug, Clone, Copy)]
pub struct RevGap {
    pub page: u64,
    pub offset: u64,
    pub before: RevisionKey,
    pub after: RevisionKey,
}

impl EtcdFacts {
    fn meta_value<T>(&self, pick: impl Fn(&MetaRecord) -> Option<T>) -> Option<T> {
        self.meta.iter().find_map(pick)
    }

    pub fn consistent_index(&self) -> Option<u64> {
        self.meta_value(|m| matches!(m, MetaRecord::ConsistentIndex(_)).then(|| m.as_u64()))
    }

    pub fn term(&self) -> Option<u64> {
        self.meta_value(|m| matches!(m, MetaRecord::Term(_)).then(|| m.as_u64()))
    }

    pub fn finished_compact(&self) -> Option<i64> {
        self.meta_value(|m| {
            matches!(m, MetaRecord::FinishedCompactRev(_)).then(|| m.as_u64() as i64)
        })
    }

    pub fn scheduled_compact(&self) -> Option<i64> {
        self.meta_value(|m| {
            matches!(m, MetaRecord::ScheduledCompactRev(_)).then(|| m.as_u64() as i64)
        })
    }

    /// The store's current revision as etcd computes it at boot: the highest
    /// main revision, raised to the finished compaction, and at least 1.
    pub fn current_revision(&self) -> i64 {
        self.max_revision
            .unwrap_or(1)
            .max(self.finished_compact().unwrap_or(0))
            .max(1)
    }

    pub fn sort(&mut self) {
        self.leases.sort_by_key(|l| l.id);
        self.members.sort_by_key(|m| m.id);
        self.removed_members.sort_unstable();
        self.alarms.sort_by_key(|a| (a.member_id, a.alarm));
        self.users.sort_by(|a, b| a.name.cmp(&b.name));
        self.roles.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// Sub revisions number the changes of one transaction. 2^31 of them would
/// need a db of tens of gigabytes written in one transaction: a larger sub is
/// damage, not data.
pub const MAX_PLAUSIBLE_SUB: i64 = 1 << 31;

/// Checks etcd records during a walk.
pub struct EtcdVisitor {
    /// The compacted revision read before the walk (None: unknown, so the
    /// revision contiguity check is off). Above it, every revision has its
    /// changes stored as sub revisions 0, 1, 2, ... without gaps.
    pub compacted: Option<i64>,
}

/// Whether `b` may directly follow `a` in the `key` bucket, above the
/// compacted revision: the next change of the same txn, or the first
/// change of the next revision.
pub fn follows(a: &RevisionKey, b: &RevisionKey) -> bool {
    (b.main == a.main && b.sub == a.sub + 1) || (b.main == a.main + 1 && b.sub == 0)
}

impl EtcdVisitor {
    fn track(&self, acc: &mut EtcdFacts, ctx: &ItemContext<'_>, rev: RevisionKey) {
        let Some(compacted) = self.compacted else {
            return;
        };
        if rev.main <= compacted {
            acc.cursor = None;
            return;
        }
        match acc.cursor {
            Some((page, prev)) if page == ctx.page => {
                if prev.main > compacted && !follows(&prev, &rev) {
                    acc.gaps.push(RevGap {
                        page,
                        offset: ctx.offset,
                        before: prev,
                        after: rev,
                    });
                }
                if let Some(s) = acc.spans.last_mut() {
                    s.last = rev;
                }
            }
            _ => match acc.spans.last_mut() {
                // Leaves of one batch arrive in key order: a page that
                // continues the previous one extends its run.
                Some(s) if follows(&s.last, &rev) => s.last = rev,
                _ => acc.spans.push(RevSpan {
                    page: ctx.page,
                    offset: ctx.offset,
                    first: rev,
                    last: rev,
                }),
            },
        }
        acc.cursor = Some((ctx.page, rev));
    }

    /// Findings from the revision runs gathered during the walk.
    pub fn contiguity_findings(&self, facts: &mut EtcdFacts, file: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let Some(compacted) = self.compacted else {
            return out;
        };
        for g in &facts.gaps {
            out.push(
                Finding::error(
                    "etcd.key.revision-gap",
                    file,
                    format!(
                        "key bucket: revision {} is followed by {}; above the compacted revision {compacted} every revision's changes are numbered 0, 1, 2, ... without gaps",
                        g.before, g.after
                    ),
                )
                .at_offset(g.offset)
                .with_page(g.page),
            );
        }
        facts.spans.sort_by_key(|s| s.first);
        let mut prev: Option<RevisionKey> = None;
        for s in &facts.spans {
            let ok = match prev {
                Some(p) => follows(&p, &s.first),
                None => {
                    s.first.sub == 0
                        && (compacted == 0
                            || s.first.main == compacted + 1
                            || facts.min_revision.is_some_and(|m| m > compacted))
                }
            };
            if !ok {
                out.push(
                    Finding::error(
                        "etcd.key.revision-gap",
                        file,
                        format!(
                            "key bucket: the revisions stored in page {} start at {}, but the previous stored revision is {}; above the compacted revision {compacted} revisions have no gaps",
                            s.page,
                            s.first,
                            prev.map_or("none".into(), |p| p.to_string())
                        ),
                    )
                    .at_offset(s.offset)
                    .with_page(s.page),
                );
            }
            prev = Some(s.last);
        }
        out
    }
}

impl ItemVisitor for EtcdVisitor {
    type Acc = EtcdFacts;

    fn visit(
        &self,
        acc: &mut EtcdFacts,
        ctx: &ItemContext<'_>,
        key: &[u8],
        value: &[u8],
        out: &mut Vec<Finding>,
    ) {
        let [bucket] = ctx.bucket else {
            return;
        };
        let at = |f: Finding| f.at_offset(ctx.offset).with_page(ctx.page);
        let bad = |code: &'static str, what: String| at(Finding::error(code, ctx.file, what));
        let record_err = |e: RecordError, code: &'static str, b: &str| match e {
            RecordError::UnknownKey => at(Finding::warning(
                "etcd.record.unknown-key",
                ctx.file,
                format!("bucket {b}: unknown key {}", show_bytes(key)),
            )),
            e @ RecordError::MemberKeyMismatch { .. } => bad(
                "etcd.member.key-mismatch",
                format!("bucket {b}: key {}: {e}", show_bytes(key)),
            ),
            e => bad(code, format!("bucket {b}: key {}: {e}", show_bytes(key))),
        };
        match bucket.as_slice() {
            b"key" => {
                if let Some(rev) = check_key_entry(acc, key, value, out, &bad) {
                    self.track(acc, ctx, rev);
                }
            }
            b"meta" => match records::meta_record(key, value) {
                Ok(m) => acc.meta.push(m),
                Err(e) => out.push(record_err(e, "etcd.meta.malformed", "meta")),
            },
            b"lease" => match records::lease_record(key, value) {
                Ok(l) => acc.leases.push(l),
                Err(e) => out.push(record_err(e, "etcd.lease.malformed", "lease")),
            },
            b"alarm" => match records::alarm_record(key) {
                Ok(a) => acc.alarms.push(a),
                Err(e) => out.push(record_err(e, "etcd.alarm.malformed", "alarm")),
            },
            b"members" => match records::member_record(key, value) {
                Ok(m) => acc.members.push(m),
                Err(e) => out.push(record_err(e, "etcd.member.malformed", "members")),
            },
            b"members_removed" => match records::removed_member(key, value) {
                Ok(id) => acc.removed_members.push(id),
                Err(e) => out.push(record_err(e, "etcd.member.malformed", "members_removed")),
            },
            b"auth" => match records::auth_record(key, value) {
                Ok(()) => match key {
                    b"authEnabled" => acc.auth_enabled = Some(value == [1]),
                    _ => acc.auth_revision = value.try_into().ok().map(u64::from_be_bytes),
                },
                Err(e) => out.push(record_err(e, "etcd.auth.malformed", "auth")),
            },
            b"authUsers" => match records::user_record(key, value) {
                Ok(u) => acc.users.push(u),
                Err(e) => out.push(record_err(e, "etcd.auth.malformed", "authUsers")),
            },
            b"authRoles" => match records::role_record(key, value) {
                Ok(r) => acc.roles.push(r),
                Err(e) => out.push(record_err(e, "etcd.auth.malformed", "authRoles")),
            },
            b"cluster" => match records::cluster_record(key, value) {
                Ok(()) => {
                    let s = String::from_utf8_lossy(value).into_owned();
                    if key == b"clusterVersion" {
                        acc.cluster_version = Some(s);
                    } else {
                        acc.downgrade = Some(s);
                    }
                }
                Err(e) => out.push(record_err(e, "etcd.cluster.malformed", "cluster")),
            },
            _ => {}
        }
    }

    fn key_label(&self, bucket: &[Vec<u8>], key: &[u8]) -> String {
        match (bucket, RevisionKey::parse(key)) {
            ([b], Ok(rev)) if b == b"key" => format!("revision {rev}"),
            _ => show_bytes(key),
        }
    }

    fn merge(&self, into: &mut EtcdFacts, from: EtcdFacts) {
        into.revisions += from.revisions;
        into.tombstones += from.tombstones;
        into.key_value_errors += from.key_value_errors;
        into.placeholders += from.placeholders;
        into.max_revision = into.max_revision.max(from.max_revision);
        into.min_revision = match (into.min_revision, from.min_revision) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        into.meta.extend(from.meta);
        into.leases.extend(from.leases);
        into.members.extend(from.members);
        into.removed_members.extend(from.removed_members);
        into.alarms.extend(from.alarms);
        into.users.extend(from.users);
        into.roles.extend(from.roles);
        into.auth_enabled = into.auth_enabled.or(from.auth_enabled);
        into.auth_revision = into.auth_revision.or(from.auth_revision);
        into.cluster_version = into.cluster_version.take().or(from.cluster_version);
        into.downgrade = into.downgrade.take().or(from.downgrade);
        into.spans.extend(from.spans);
        into.gaps.extend(from.gaps);
        into.sort();
    }
}

fn check_key_entry(
    acc: &mut EtcdFacts,
    key: &[u8],
    value: &[u8],
    out: &mut Vec<Finding>,
    bad: &dyn Fn(&'static str, String) -> Finding,
) -> Option<RevisionKey> {
    let rev = match RevisionKey::parse(key) {
        Ok(r) => r,
        Err(e) => {
            acc.key_value_errors += 1;
            out.push(bad(
                "etcd.key.revision-key",
                format!("key bucket: {} is not a revision key: {e}", show_bytes(key)),
            ));
            return None;
        }
    };
    if value.is_empty() && !rev.tombstone {
        // `snapshot restore --bump-revision` (etcd 3.5+) persists the bumped
        // revision with an empty placeholder value.
        acc.placeholders += 1;
        acc.max_revision = acc.max_revision.max(Some(rev.main));
        return Some(rev);
    }
    let kv = match KeyValue::decode(value) {
        Ok(kv) => kv,
        Err(e) => {
            acc.key_value_errors += 1;
            out.push(bad(
                "etcd.key.value-decode",
                format!(
                    "key bucket: revision {rev}: value ({} bytes) is not a KeyValue: {e}",
                    value.len()
                ),
            ));
            return None;
        }
    };
    let mut problems = Vec::new();
    if rev.sub >= MAX_PLAUSIBLE_SUB {
        problems.push(format!(
            "sub revision {} is implausible: it would take that many changes in one transaction",
            rev.sub
        ));
    }
    if kv.key.is_empty() {
        problems.push("the stored key name is empty".to_string());
    }
    if rev.tombstone {
        if kv.present & !(1 << 1) != 0 {
            problems.push("a tombstone must hold only the key name".into());
        }
    } else {
        if kv.mod_revision != rev.main {
            problems.push(format!(
                "mod_revision is {} but the revision key says {}",
                kv.mod_revision, rev.main
            ));
        }
        if kv.create_revision <= 0 || kv.create_revision > kv.mod_revision {
            problems.push(format!(
                "create_revision {} is not in [1, mod_revision {}]",
                kv.create_revision, kv.mod_revision
            ));
        }
        if kv.version <= 0 {
            problems.push(format!("version is {}, expected at least 1", kv.version));
        }
        if kv.lease < 0 {
            problems.push(format!("lease id {} is negative", kv.lease));
        }
    }
    if problems.is_empty() {
        acc.revisions += 1;
        if rev.tombstone {
            acc.tombstones += 1;
        }
        acc.max_revision = acc.max_revision.max(Some(rev.main));
        acc.min_revision = Some(acc.min_revision.map_or(rev.main, |m| m.min(rev.main)));
        Some(rev)
    } else {
        acc.key_value_errors += 1;
        out.push(bad(
            "etcd.key.inconsistent",
            format!(
                "key bucket: revision {rev} (key {}): {}",
                show_bytes(kv.key),
                problems.join("; ")
            ),
        ));
        None
    }
}

/// Read the compacted revision from the `meta` bucket before a walk (0 when
/// the db was never compacted; None when the bucket cannot be read).
pub fn compacted_before_walk(file: &crate::bolt::BoltFile<'_>) -> Option<i64> {
    let meta = file.best_meta()?;
    let root = crate::bolt::cursor::find_bucket(file, meta, b"meta")?;
    // A scheduled but unfinished compaction (or a restore that bumped the
    // revision and marked it compacted) may leave gaps up to it.
    let mut compacted = 0;
    for item in crate::bolt::BucketCursor::new(file, root, meta.pgid) {
        let item = item.ok()?;
        match records::meta_record(item.key, item.value) {
            Ok(MetaRecord::FinishedCompactRev(r)) | Ok(MetaRecord::ScheduledCompactRev(r)) => {
                compacted = compacted.max(r)
            }
            _ => {}
        }
    }
    Some(compacted)
}

/// Read the small buckets (everything but `key`) into [`EtcdFacts`] without
/// a full walk: for commands that only need members, leases, auth, alarms
/// and meta.
pub fn read_small_buckets(
    file: &crate::bolt::BoltFile<'_>,
    name: &str,
) -> (EtcdFacts, Vec<Finding>) {
    let mut facts = EtcdFacts::default();
    let mut findings = Vec::new();
    let Some(meta) = file.best_meta() else {
        return (facts, findings);
    };
    let visitor = EtcdVisitor { compacted: None };
    let (buckets, _) = crate::bolt::cursor::top_level_buckets(file, meta);
    for (bucket, root) in buckets {
        if bucket == b"key" {
            continue;
        }
        let Ok(root) = root else { continue };
        let path = [bucket.to_vec()];
        for item in crate::bolt::BucketCursor::new(file, root, meta.pgid).flatten() {
            let ctx = ItemContext {
                bucket: &path,
                page: item.page,
                offset: crate::bolt::walk::offset_in(file.data, item.key).unwrap_or(0),
                file: name,
            };
            visitor.visit(&mut facts, &ctx, item.key, item.value, &mut findings);
        }
    }
    facts.sort();
    (facts, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(key: &[u8], value: &[u8]) -> (EtcdFacts, Vec<Finding>) {
        let mut acc = EtcdFacts::default();
        let mut out = Vec::new();
        let path = [b"key".to_vec()];
        let ctx = ItemContext {
            bucket: &path,
            page: 7,
            offset: 0,
            file: "t",
        };
        EtcdVisitor { compacted: Some(0) }.visit(&mut acc, &ctx, key, value, &mut out);
        (acc, out)
    }

    #[test]
    fn bump_revision_placeholder_is_not_damage() {
        let k = RevisionKey {
            main: 1_000_500,
            sub: 0,
            tombstone: false,
        };
        let (acc, out) = visit(&k.encode(), &[]);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!((acc.placeholders, acc.max_revision), (1, Some(1_000_500)));
    }

    #[test]
    fn mismatched_mod_revision_is_damage() {
        let k = RevisionKey {
            main: 5,
            sub: 0,
            tombstone: false,
        };
        let kv = KeyValue {
            key: b"a",
            create_revision: 2,
            mod_revision: 6,
            version: 2,
            value: b"x",
            lease: 0,
            present: 0,
        };
        let (_, out) = visit(&k.encode(), &kv.encode());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].code, "etcd.key.inconsistent");
    }
}
