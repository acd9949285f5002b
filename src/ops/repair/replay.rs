//! `repair --replay-wal`: the committed raft entries past the db's
//! consistent index applied the way etcd's apply loop applies them, onto
//! the state being rebuilt: puts (with ignore_value / ignore_lease and lease
//! checks), delete ranges, transactions with their compares evaluated
//! against the state as it is at that entry (nested, bounded), compaction,
//! lease grant and revoke (a revoke deletes the lease's keys in one
//! revision, in key order), alarms, auth (see `auth_replay`), membership
//! (see `members_replay`), the cluster version. A request etcd would reject (a lease that does not exist, a
//! stale auth revision) changes nothing, as in etcd. Alarms switch the
//! applier as etcd's do: NOSPACE refuses puts, lease grants and txns with a
//! put at their top level; CORRUPT refuses every kv and lease request; an
//! alarm raised by an entry on 3.4/3.5 caps the bare backend, so auth is not
//! checked until it is cleared (`LineRules::nospace_alarm_skips_auth`). Requests whose effect
//! this does not reproduce are counted, never guessed.
#![forbid(unsafe_code)]

use super::state::{compact, current_revision, live_keys, meta_i64, Buckets, Live};
use crate::etcd::kv::KeyValue;
use crate::etcd::revision::RevisionKey;
use crate::proto::{self, Value};
use serde::Serialize;
use std::collections::BTreeMap;

/// One raft entry to apply.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub index: u64,
    pub term: u64,
    pub entry_type: u64,
    pub data: Vec<u8>,
}

/// What replaying did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReplayReport {
    pub from_index: u64,
    pub to_index: u64,
    pub entries: u64,
    pub puts: u64,
    pub deletes: u64,
    pub txns: u64,
    pub compactions: u64,
    pub lease_grants: u64,
    pub lease_revokes: u64,
    /// Auth changes applied (users, roles, permissions, enable/disable).
    pub auth_changes: u64,
    /// Conf changes and member attributes applied to the member buckets.
    pub membership_changes: u64,
    /// Requests etcd rejects at apply (they change nothing).
    pub rejected: u64,
    /// Requests whose effect is not reproduced, by name.
    pub not_replayed: BTreeMap<String, u64>,
    /// Revisions the replay wrote.
    pub revisions: Vec<i64>,
    /// Keys whose latest value comes from the log.
    pub keys_written: u64,
    pub first_revision: Option<i64>,
    pub last_revision: Option<i64>,
}

/// Which applier etcd runs while alarms are raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capped {
    No,
    /// The capped applier over the whole chain (auth checked).
    WithAuth,
    /// The capped applier over the bare backend (auth not checked).
    Bare,
}

/// Deepest nested transaction applied.
const MAX_DEPTH: usize = 16;

struct Applier<'b, 'a> {
    buckets: &'b mut Buckets<'a>,
    live: BTreeMap<Vec<u8>, Live>,
    rev: i64,
    report: ReplayReport,
    touched: std::collections::BTreeSet<Vec<u8>>,
    /// The request's user name and auth revision (its header).
    user: Vec<u8>,
    auth_rev: u64,
    capped: Capped,
    corrupt: bool,
    rules: &'b crate::etcd::lines::LineRules,
}

/// The alarm types raised in the `alarm` bucket (keys are `AlarmMember`:
/// member=1, alarm=2; NOSPACE=1, CORRUPT=2).
fn raised(buckets: &Buckets, alarm: u64) -> bool {
    buckets.get(b"alarm".as_slice()).is_some_and(|b| {
        b.keys()
            .filter_map(|k| proto::message(k))
            .any(|f| proto::last_varint(&f, 2) == alarm)
    })
}

/// Whether a txn has a put among its top-level ops (etcd's quota cost
/// counts only those).
fn txn_puts(body: &[u8]) -> bool {
    proto::message(body).is_some_and(|fs| {
        fs.iter().any(|(n, v)| match v {
            Value::Bytes(op) if *n == 2 || *n == 3 => {
                proto::message(op).is_some_and(|of| of.iter().any(|(m, _)| *m == 2))
            }
            _ => false,
        })
    })
}

/// Apply `entries` (in index order, already past the consistent index) to
/// `buckets`; sets the consistent index to the last entry applied.
/// Entries are applied as `rules`' etcd applies them.
pub fn replay(
    buckets: &mut Buckets,
    entries: &[LogEntry],
    rules: &crate::etcd::lines::LineRules,
) -> ReplayReport {
    // At start the alarms in the db cap the whole chain.
    let capped = if raised(buckets, 1) {
        Capped::WithAuth
    } else {
        Capped::No
    };
    let corrupt = raised(buckets, 2);
    let kb = buckets.entry(b"key".to_vec()).or_default();
    let live = live_keys(kb);
    // An empty store is at revision 1: the first write takes 2.
    let rev = current_revision(kb).max(1);
    let mut a = Applier {
        buckets,
        live,
        rev,
        report: ReplayReport::default(),
        touched: Default::default(),
        user: Vec::new(),
        auth_rev: 0,
        capped,
        corrupt,
        rules,
    };
    for e in entries {
        if a.report.entries == 0 {
            a.report.from_index = e.index;
        }
        a.report.entries += 1;
        a.report.to_index = e.index;
        if e.entry_type == 0 && !e.data.is_empty() {
            a.normal(&e.data);
        } else if e.entry_type != 0 {
            if super::members_replay::conf_change(a.buckets, &e.data) {
                a.report.membership_changes += 1;
            } else {
                a.report.rejected += 1;
            }
        }
    }
    if let Some(last) = entries.last() {
        let meta = a.buckets.entry(b"meta".to_vec()).or_default();
        meta.insert(
            b"consistent_index".to_vec(),
            last.index.to_be_bytes().to_vec().into(),
        );
        if meta.contains_key(b"term".as_slice()) {
            meta.insert(b"term".to_vec(), last.term.to_be_bytes().to_vec().into());
        }
    }
    a.report.keys_written = a.touched.len() as u64;
    a.report.first_revision = a.report.revisions.first().copied();
    a.report.last_revision = a.report.revisions.last().copied();
    a.report
}

/// The keys `[key, range_end)` selects, etcd's way: no end is one key,
/// `\0` is every key from `key` on.
fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        return k == key;
    }
    k >= key && (end == [0] || k < end)
}

/// A write inside one revision.
enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: i64,
        ignore_value: bool,
        ignore_lease: bool,
    },
    Delete {
        key: Vec<u8>,
        end: Vec<u8>,
    },
    Txn(Vec<u8>),
}

impl Applier<'_, '_> {
    fn normal(&mut self, data: &[u8]) {
        match crate::wal::entry::decode(0, data) {
            crate::wal::entry::EntryData::V2 {
                method,
                path,
                value,
            } => {
                // 3.4 proposes the cluster version as a v2 PUT.
                if method == "PUT" && path == "/0/version" {
                    self.buckets
                        .entry(b"cluster".to_vec())
                        .or_default()
                        .insert(b"clusterVersion".to_vec(), value.into_bytes().into());
                } else if method == "PUT"
                    && super::members_replay::attributes(self.buckets, &path, &value)
                {
                    self.report.membership_changes += 1;
                } else {
                    *self
                        .report
                        .not_replayed
                        .entry(format!("v2 {method} {path}"))
                        .or_default() += 1;
                }
                return;
            }
            crate::wal::entry::EntryData::Request { .. } => {}
            _ => {
                *self
                    .report
                    .not_replayed
                    .entry("undecodable entry".into())
                    .or_default() += 1;
                return;
            }
        }
        let Some(fs) = proto::message(data) else {
            return;
        };
        let header = fs.iter().find_map(|(n, v)| match v {
            Value::Bytes(b) if *n == 100 => proto::message(b),
            _ => None,
        });
        self.user = header
            .as_ref()
            .map_or_else(Vec::new, |h| proto::last_bytes(h, 2));
        self.auth_rev = header.as_ref().map_or(0, |h| proto::last_varint(h, 3));
        let refused_by_alarm = fs.iter().any(|(n, v)| match (n, v) {
            (3..=9, _) if self.corrupt => true,
            (4 | 8, _) => self.capped != Capped::No,
            (6, Value::Bytes(b)) => self.capped != Capped::No && txn_puts(b),
            _ => false,
        });
        if refused_by_alarm || (self.capped != Capped::Bare && !self.permitted(&fs)) {
            self.report.rejected += 1;
            return;
        }
        for (n, v) in &fs {
            let Value::Bytes(body) = v else { continue };
            match n {
                4 => {
                    if let Some(op) = put_op(body) {
                        self.report.puts += 1;
                        self.revision(vec![op]);
                    }
                }
                5 => {
                    if let Some(op) = delete_op(body) {
                        self.report.deletes += 1;
                        self.revision(vec![op]);
                    }
                }
                6 => {
                    self.report.txns += 1;
                    self.revision(vec![Op::Txn(body.to_vec())]);
                }
                7 => self.compaction(body),
                8 => self.lease_grant(body),
                9 => self.lease_revoke(body),
                10 => self.alarm(body),
                3 | 11 | 1012 | 1013 | 1102 | 1106 | 1107 | 1202 => {}
                1000 => self.auth_enabled(true),
                1011 => self.auth_enabled(false),
                1100 | 1101 | 1103 | 1104 | 1105 | 1200 | 1201 | 1203 | 1204 => {
                    if super::auth_replay::apply(self.buckets, *n, body).is_some() {
                        self.report.auth_changes += 1;
                    } else {
                        self.report.rejected += 1;
                    }
                }
                100 => {}
                other => {
                    let name = crate::wal::request::request(*other)
                        .map_or_else(|| format!("field {other}"), |(n, _)| n.to_string());
                    *self.report.not_replayed.entry(name).or_default() += 1;
                }
            }
        }
    }

    /// etcd's auth applier: admin requests need a root user; puts,
    /// deletes and txns need permission on every key they read or write
    /// (with a current auth revision); a lease revoke needs write
    /// permission on the lease's keys. Lease grants and compactions are
    /// not checked.
    fn permitted(&self, fs: &[(u32, Value<'_>)]) -> bool {
        fs.iter().all(|(n, v)| {
            let Value::Bytes(body) = v else { return true };
            match n {
                4 => self.put_permitted(body),
                5 => self.delete_permitted(body),
                6 => self.txn_permitted(body, 0),
                9 => self.revoke_permitted(body),
                1000 | 1011 | 1100 | 1101 | 1103 | 1104 | 1105 | 1200 | 1201 | 1203 | 1204 => {
                    super::auth_replay::admin_permitted(self.buckets, &self.user)
                }
                _ => true,
            }
        })
    }

    fn may(&self, key: &[u8], end: &[u8], write: bool) -> bool {
        super::auth_replay::op_permitted(self.buckets, &self.user, self.auth_rev, key, end, write)
    }

    /// PutRequest: key=1, prev_kv=4 (needs read too).
    fn put_permitted(&self, b: &[u8]) -> bool {
        let Some(fs) = proto::message(b) else {
            return true;
        };
        let key = proto::last_bytes(&fs, 1);
        self.may(&key, &[], true) && (proto::last_varint(&fs, 4) == 0 || self.may(&key, &[], false))
    }

    /// DeleteRangeRequest: key=1, range_end=2, prev_kv=3.
    fn delete_permitted(&self, b: &[u8]) -> bool {
        let Some(fs) = proto::message(b) else {
            return true;
        };
        let (key, end) = (proto::last_bytes(&fs, 1), proto::last_bytes(&fs, 2));
        self.may(&key, &end, true)
            && (proto::last_varint(&fs, 3) == 0 || self.may(&key, &end, false))
    }

    /// TxnRequest: compare=1 (key=3, range_end=64: read), success=2,
    /// failure=3 (RequestOp: range=1 read, put=2, delete_range=3).
    fn txn_permitted(&self, b: &[u8], depth: usize) -> bool {
        let Some(fs) = proto::message(b) else {
            return true;
        };
        if depth >= MAX_DEPTH {
            return true;
        }
        let compares_ok = proto::repeated_bytes(&fs, 1).into_iter().all(|c| {
            proto::message(c).is_none_or(|cf| {
                self.may(
                    &proto::last_bytes(&cf, 3),
                    &proto::last_bytes(&cf, 64),
                    false,
                )
            })
        });
        let mut ops = proto::repeated_bytes(&fs, 2);
        ops.extend(proto::repeated_bytes(&fs, 3));
        compares_ok
            && ops.into_iter().all(|op| {
                let Some(of) = proto::message(op) else {
                    return true;
                };
                of.iter().all(|(n, v)| {
                    let Value::Bytes(r) = v else { return true };
                    match n {
                        1 => proto::message(r).is_none_or(|rf| {
                            self.may(
                                &proto::last_bytes(&rf, 1),
                                &proto::last_bytes(&rf, 2),
                                false,
                            )
                        }),
                        2 => self.put_permitted(r),
                        3 => self.delete_permitted(r),
                        4 => self.txn_permitted(r, depth + 1),
                        _ => true,
                    }
                })
            })
    }

    /// LeaseRevokeRequest: ID=1; every key on the lease must be writable.
    fn revoke_permitted(&self, b: &[u8]) -> bool {
        let Some(fs) = proto::message(b) else {
            return true;
        };
        let id = proto::last_varint(&fs, 1) as i64;
        self.live
            .iter()
            .filter(|(_, l)| l.lease == id && id != 0)
            .all(|(k, _)| self.may(k, &[], true))
    }

    fn auth_enabled(&mut self, on: bool) {
        let auth = self.buckets.entry(b"auth".to_vec()).or_default();
        auth.insert(b"authEnabled".to_vec(), vec![u8::from(on)].into());
        super::auth_replay::bump_revision(self.buckets);
        self.report.auth_changes += 1;
    }

    fn lease_exists(&self, id: i64) -> bool {
        id == 0
            || self
                .buckets
                .get(b"lease".as_slice())
                .is_some_and(|b| b.contains_key(id.to_be_bytes().as_slice()))
    }

    /// Flatten a revision's ops (a txn picks its branch against the
    /// current state); `None` when etcd would reject the whole request.
    fn plan(&self, ops: Vec<Op>, depth: usize, out: &mut Vec<Op>) -> Option<()> {
        for op in ops {
            match op {
                Op::Txn(body) => {
                    if depth >= MAX_DEPTH {
                        return None;
                    }
                    let fs = proto::message(&body)?;
                    let ok = proto::repeated_bytes(&fs, 1)
                        .into_iter()
                        .all(|c| self.compare(c));
                    let branch = proto::repeated_bytes(&fs, if ok { 2 } else { 3 });
                    let mut inner = Vec::new();
                    for rop in branch {
                        let rf = proto::message(rop)?;
                        for (n, v) in &rf {
                            let Value::Bytes(b) = v else { continue };
                            match n {
                                2 => inner.push(put_op(b)?),
                                3 => inner.push(delete_op(b)?),
                                4 => inner.push(Op::Txn(b.to_vec())),
                                _ => {}
                            }
                        }
                    }
                    self.plan(inner, depth + 1, out)?;
                }
                Op::Put {
                    ref key,
                    lease,
                    ignore_value,
                    ignore_lease,
                    ..
                } => {
                    let exists = self.live.contains_key(key);
                    if (ignore_value || ignore_lease) && !exists {
                        return None;
                    }
                    if !ignore_lease && !self.lease_exists(lease) {
                        return None;
                    }
                    out.push(op);
                }
                Op::Delete { .. } => out.push(op),
            }
        }
        Some(())
    }

    /// Apply the writes of one request under one new main revision (sub
    /// revisions in order); nothing when they write nothing.
    fn revision(&mut self, ops: Vec<Op>) {
        let mut flat = Vec::new();
        if self.plan(ops, 0, &mut flat).is_none() {
            self.report.rejected += 1;
            return;
        }
        let main = self.rev + 1;
        let mut sub = 0i64;
        for op in flat {
            match op {
                Op::Put {
                    key,
                    value,
                    lease,
                    ignore_value,
                    ignore_lease,
                } => {
                    let prev = self.live.get(&key).cloned();
                    let value = match (&prev, ignore_value) {
                        (Some(p), true) => p.value.clone(),
                        _ => value,
                    };
                    let lease = match (&prev, ignore_lease) {
                        (Some(p), true) => p.lease,
                        _ => lease,
                    };
                    let l = Live {
                        create_revision: prev.as_ref().map_or(main, |p| p.create_revision),
                        mod_revision: main,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                        lease,
                        value,
                    };
                    let kv = KeyValue {
                        key: &key,
                        create_revision: l.create_revision,
                        mod_revision: main,
                        version: l.version,
                        value: &l.value,
                        lease,
                        present: 0,
                    };
                    self.store(main, sub, false, kv.encode());
                    self.touched.insert(key.clone());
                    self.live.insert(key, l);
                    sub += 1;
                }
                Op::Delete { key, end } => {
                    let doomed: Vec<Vec<u8>> = if end.is_empty() {
                        self.live
                            .get_key_value(&key)
                            .map(|(k, _)| k.clone())
                            .into_iter()
                            .collect()
                    } else {
                        self.live
                            .range(key.clone()..)
                            .map(|(k, _)| k)
                            .take_while(|k| in_range(k, &key, &end))
                            .cloned()
                            .collect()
                    };
                    for k in doomed {
                        let kv = KeyValue {
                            key: &k,
                            ..KeyValue::default()
                        };
                        self.store(main, sub, true, kv.encode());
                        self.live.remove(&k);
                        self.touched.insert(k);
                        sub += 1;
                    }
                }
                Op::Txn(_) => {}
            }
        }
        if sub > 0 {
            self.rev = main;
            self.report.revisions.push(main);
        }
    }

    fn store(&mut self, main: i64, sub: i64, tombstone: bool, value: Vec<u8>) {
        let rk = RevisionKey {
            main,
            sub,
            tombstone,
        };
        self.buckets
            .entry(b"key".to_vec())
            .or_default()
            .insert(rk.encode(), value.into());
    }

    /// A `Compare` against the keys it names, as etcd's applyCompare.
    fn compare(&self, c: &[u8]) -> bool {
        let Some(fs) = proto::message(c) else {
            return false;
        };
        let (result, target) = (proto::last_varint(&fs, 1), proto::last_varint(&fs, 2));
        let key = proto::last_bytes(&fs, 3);
        let end = proto::last_bytes(&fs, 64);
        let kvs: Vec<&Live> = if end.is_empty() {
            self.live.get(&key).into_iter().collect()
        } else {
            self.live
                .range(key.clone()..)
                .filter(|(k, _)| in_range(k, &key, &end))
                .map(|(_, l)| l)
                .collect()
        };
        let zero = Live {
            create_revision: 0,
            mod_revision: 0,
            version: 0,
            lease: 0,
            value: Vec::new(),
        };
        let kvs = if kvs.is_empty() {
            if target == 3 {
                return false;
            }
            vec![&zero]
        } else {
            kvs
        };
        kvs.into_iter().all(|l| {
            let ord = match target {
                0 => l.version.cmp(&(proto::last_varint(&fs, 4) as i64)),
                1 => l.create_revision.cmp(&(proto::last_varint(&fs, 5) as i64)),
                2 => l.mod_revision.cmp(&(proto::last_varint(&fs, 6) as i64)),
                3 => l.value.as_slice().cmp(proto::last_bytes(&fs, 7).as_slice()),
                4 => l.lease.cmp(&(proto::last_varint(&fs, 8) as i64)),
                _ => return false,
            };
            match result {
                0 => ord.is_eq(),
                1 => ord.is_gt(),
                2 => ord.is_lt(),
                3 => ord.is_ne(),
                _ => false,
            }
        })
    }

    fn compaction(&mut self, body: &[u8]) {
        let Some(fs) = proto::message(body) else {
            return;
        };
        let at = proto::last_varint(&fs, 1) as i64;
        let done = meta_i64(self.buckets, b"finishedCompactRev").unwrap_or(0);
        if at <= done || at > self.rev {
            self.report.rejected += 1;
            return;
        }
        let meta = self.buckets.entry(b"meta".to_vec()).or_default();
        // Stored as revision keys, as etcd stores them.
        let rk = RevisionKey {
            main: at,
            sub: 0,
            tombstone: false,
        }
        .encode();
        meta.insert(b"scheduledCompactRev".to_vec(), rk.clone().into());
        meta.insert(b"finishedCompactRev".to_vec(), rk.into());
        compact(self.buckets.entry(b"key".to_vec()).or_default(), at);
        self.report.compactions += 1;
    }

    fn lease_grant(&mut self, body: &[u8]) {
        let Some(fs) = proto::message(body) else {
            return;
        };
        let (ttl, id) = (
            proto::last_varint(&fs, 1) as i64,
            proto::last_varint(&fs, 2) as i64,
        );
        let leases = self.buckets.entry(b"lease".to_vec()).or_default();
        if id == 0 || leases.contains_key(id.to_be_bytes().as_slice()) {
            self.report.rejected += 1;
            return;
        }
        let mut v = Vec::new();
        put_varint_field(&mut v, 1, id as u64);
        put_varint_field(&mut v, 2, ttl as u64);
        leases.insert(id.to_be_bytes().to_vec(), v.into());
        self.report.lease_grants += 1;
    }

    fn lease_revoke(&mut self, body: &[u8]) {
        let Some(fs) = proto::message(body) else {
            return;
        };
        let id = proto::last_varint(&fs, 1) as i64;
        if !self.lease_exists(id) || id == 0 {
            self.report.rejected += 1;
            return;
        }
        let keys: Vec<Vec<u8>> = self
            .live
            .iter()
            .filter(|(_, l)| l.lease == id)
            .map(|(k, _)| k.clone())
            .collect();
        let ops = keys
            .into_iter()
            .map(|key| Op::Delete {
                key,
                end: Vec::new(),
            })
            .collect();
        self.revision(ops);
        if let Some(l) = self.buckets.get_mut(b"lease".as_slice()) {
            l.remove(id.to_be_bytes().as_slice());
        }
        self.report.lease_revokes += 1;
    }

    fn alarm(&mut self, body: &[u8]) {
        let Some(fs) = proto::message(body) else {
            return;
        };
        let (action, member, alarm) = (
            proto::last_varint(&fs, 1),
            proto::last_varint(&fs, 2),
            proto::last_varint(&fs, 3),
        );
        let mut key = Vec::new();
        put_varint_field(&mut key, 1, member);
        put_varint_field(&mut key, 2, alarm);
        let was_raised = raised(self.buckets, alarm);
        let b = self.buckets.entry(b"alarm".to_vec()).or_default();
        let found = match action {
            1 => {
                b.insert(key, Vec::new().into());
                true
            }
            2 => b.remove(&key).is_some(),
            _ => false,
        };
        if !self.rules.nospace_alarm_skips_auth {
            // 3.6+: the chain is rebuilt from the alarm store.
            self.capped = if raised(self.buckets, 1) {
                Capped::WithAuth
            } else {
                Capped::No
            };
            self.corrupt = raised(self.buckets, 2);
            return;
        }
        match (action, alarm) {
            (1, 1) => self.capped = Capped::Bare,
            (1, 2) => self.corrupt = true,
            // Cleared: the last alarm of its type gone resets the applier.
            (2, 1 | 2) if found && was_raised && !raised(self.buckets, alarm) => {
                self.capped = Capped::No;
                self.corrupt = false;
            }
            _ => {}
        }
    }
}

fn put_op(b: &[u8]) -> Option<Op> {
    let fs = proto::message(b)?;
    Some(Op::Put {
        key: proto::last_bytes(&fs, 1),
        value: proto::last_bytes(&fs, 2),
        lease: proto::last_varint(&fs, 3) as i64,
        ignore_value: proto::last_varint(&fs, 5) != 0,
        ignore_lease: proto::last_varint(&fs, 6) != 0,
    })
}

fn delete_op(b: &[u8]) -> Option<Op> {
    let fs = proto::message(b)?;
    Some(Op::Delete {
        key: proto::last_bytes(&fs, 1),
        end: proto::last_bytes(&fs, 2),
    })
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v == 0 {
        return;
    }
    let mut tag = u64::from(field) << 3;
    let mut push = |mut x: u64| {
        while x >= 0x80 {
            out.push((x as u8) | 0x80);
            x >>= 7;
        }
        out.push(x as u8);
    };
    push(std::mem::take(&mut tag));
    push(v);
}
