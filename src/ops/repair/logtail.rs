//! The raft log past the db: reading it as ReadAll does, choosing the
//! entries etcd would apply, replaying them (or accounting for them), and
//! rebuilding the whole state from a log that still starts at index 1.
#![forbid(unsafe_code)]

use super::*;

/// Whether an entry changes nothing etcd stores (beyond the consistent
/// index): empty entries, authentication, reads, alarm and auth queries.
pub(super) fn inert(e: &LogEntry) -> bool {
    if e.entry_type != 0 {
        return false;
    }
    if e.data.is_empty() {
        return true;
    }
    let Some(fields) = crate::proto::fields(&e.data)
        .map(|f| f.ok().map(|(n, v, _)| (n, v)))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    if !matches!(
        crate::wal::entry::decode(0, &e.data),
        crate::wal::entry::EntryData::Request { .. }
    ) {
        return false;
    }
    fields.iter().all(|(n, v)| match (n, v) {
        (1 | 100, _) => true,
        (3 | 1012 | 1013 | 1102 | 1106 | 1107 | 1202, _) => true,
        // An alarm request whose action is GET (0).
        (10, crate::proto::Value::Bytes(b)) => crate::proto::fields(b)
            .all(|f| !matches!(f, Ok((1, crate::proto::Value::Varint(a), _)) if a != 0)),
        _ => false,
    })
}

/// The log as etcd's ReadAll yields it.
pub(super) struct LogRead {
    pub(super) entries: Vec<LogEntry>,
    pub(super) commit: u64,
    pub(super) last_index: u64,
    /// Damage in the log past which nothing was read.
    pub(super) damage: Vec<String>,
}

pub(super) fn read_entries(member_dir: &Path) -> Result<LogRead, String> {
    let wal = member_dir.join("wal");
    if !wal.is_dir() {
        return Err("no WAL directory".into());
    }
    let mut entries: Vec<LogEntry> = Vec::new();
    let r = crate::wal::log::read_log(&wal, &mut |_, _, payload| {
        if let crate::wal::segment::Payload::Entry(e) = payload {
            // A later entry at index i replaces every earlier one at i or above.
            while entries.last().is_some_and(|l| l.index >= e.index) {
                entries.pop();
            }
            entries.push(LogEntry {
                index: e.index,
                term: e.term,
                entry_type: e.entry_type,
                data: e.data.to_vec(),
            });
        }
    })
    .map_err(|e| e.to_string())?;
    // Damage etcd would refuse (not a torn tail): what lies past it is
    // not read.
    let damage = crate::ops::wal::findings(&r)
        .into_iter()
        .filter(|f| f.severity == crate::findings::Severity::Error)
        .map(|f| {
            let at = f
                .offset
                .map_or(String::new(), |o| format!(" at offset {o}"));
            format!("{}{at}: {} ({})", f.file, f.message, f.code)
        })
        .collect();
    Ok(LogRead {
        last_index: entries.last().map_or(0, |e| e.index),
        commit: r.hard_state.map_or(0, |h| h.commit),
        entries,
        damage,
    })
}

/// The entries etcd applies on start: past the consistent index, committed
/// (or, in a one-voter cluster, the whole log). Err when the log does not
/// continue from the db.
pub(super) fn entries_to_apply(
    log: &LogRead,
    ci: u64,
    voters: usize,
    tail: &mut LogTail,
) -> Result<Vec<LogEntry>, String> {
    let past: Vec<&LogEntry> = log.entries.iter().filter(|e| e.index > ci).collect();
    if let Some(first) = past.first() {
        if first.index != ci + 1 {
            return Err(format!(
                "the log resumes at index {} but the db stops at {ci}: entries in between are gone",
                first.index
            ));
        }
    }
    let limit = if voters == 1 { u64::MAX } else { log.commit };
    let chosen: Vec<LogEntry> = past
        .into_iter()
        .filter(|e| e.index <= limit)
        .cloned()
        .collect();
    tail.applied_past_commit = chosen.iter().filter(|e| e.index > log.commit).count() as u64;
    tail.beyond_commit = log
        .entries
        .iter()
        .filter(|e| e.index > log.commit.max(ci) && e.index > limit && !inert(e))
        .count() as u64;
    tail.entries_past_db = chosen.len() as u64;
    tail.entries_with_effect = chosen.iter().filter(|e| !inert(e)).count() as u64;
    Ok(chosen)
}

/// When the WAL still holds every entry from index 1, the whole state can
/// be rebuilt from it alone: replayed from an empty store, it must agree
/// with every `key` record the damaged db still holds (proof that the
/// replay matches what etcd did); it then also has every record the db
/// lost. Membership and the cluster version are kept from the db (the log
/// does not set them here; `snapshot restore` writes membership).
pub(super) fn rebuild_from_whole_log<'a>(
    b: &Buckets<'a>,
    log: &LogRead,
    voters: usize,
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
    writer: &crate::etcd::lines::LineRules,
) -> Option<Buckets<'a>> {
    let mut tail = LogTail::default();
    let all = entries_to_apply(log, 0, voters, &mut tail).ok()?;
    let mut fresh = Buckets::new();
    let r = replay::replay(&mut fresh, &all, writer);
    let empty = BTreeMap::new();
    let db_kb = b.get(b"key".as_slice()).unwrap_or(&empty);
    let log_kb = fresh.get(b"key".as_slice()).unwrap_or(&empty);
    let disagree = db_kb
        .iter()
        .filter(|(k, v)| log_kb.get(*k) != Some(*v))
        .count();
    if disagree > 0 || db_kb.is_empty() {
        report.notes.push(format!(
            "the WAL holds every entry from index 1, but replayed from an empty store {disagree} of the db's {} revision records differ from it: not used",
            db_kb.len()
        ));
        return None;
    }
    let added: Vec<Vec<u8>> = log_kb
        .keys()
        .filter(|k| !db_kb.contains_key(*k))
        .cloned()
        .collect();
    for name in [b"members".as_slice(), b"members_removed", b"cluster"] {
        if let Some(x) = b.get(name) {
            fresh.entry(name.to_vec()).or_insert_with(|| x.clone());
        }
    }
    for k in &added {
        sources.insert(k.clone(), Source::Wal);
    }
    report.notes.push(format!(
        "the WAL holds every entry from index 1 (to {}): replayed from an empty store it agrees with all {} revision records the db still holds and gives the {} it lost",
        log.last_index,
        db_kb.len(),
        added.len()
    ));
    report
        .buckets
        .entry("key".into())
        .or_default()
        .changed_by_wal = added.len() as i64;
    report.rebuilt_from_log = true;
    report.unreadable.clear();
    report.replay = Some(r);
    Some(fresh)
}

/// Replay the log (with --replay-wal), or account for what it would add.
pub(super) fn apply_log<'a>(
    b: &mut Buckets<'a>,
    base: Option<super::gather::TreeBase<'a>>,
    log: Option<&Result<LogRead, String>>,
    opts: RepairOptions,
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
    writer: &crate::etcd::lines::LineRules,
) {
    let Some(Ok(log)) = log else {
        if opts.replay_wal {
            let why = match log {
                Some(Err(e)) => e.clone(),
                _ => "the input is a file, not a data dir".into(),
            };
            report
                .notes
                .push(format!("--replay-wal: no log read: {why}"));
        }
        return;
    };
    let voters = b.get(b"members".as_slice()).map_or(1, |m| m.len().max(1));
    let damaged = !report.damage.is_empty() || !report.unreadable.is_empty();
    if opts.replay_wal && damaged && log.entries.first().is_some_and(|e| e.index == 1) {
        if let Some(whole) = rebuild_from_whole_log(b, log, voters, report, sources, writer) {
            *b = whole;
        }
    }
    // Revisions past the whole tree's end found by the scan, when the log
    // continues from the tree: the log replays them (their transaction
    // may be only partly on disk), and they are compared with it after.
    let base = base.filter(|t| continues_from(log, t.consistent_index));
    let held = match base {
        Some(base) if opts.replay_wal => Some(hold_past_tree(b, base, report)),
        Some(base) => {
            // Not replayed: the log still tells which of those records a
            // failed commit wrote only in part.
            let torn = differing_past_tree(b, base, log, voters, writer);
            if !torn.is_empty() {
                report.notes.push(format!(
                    "{} revision record(s) the scan found past the tree's end differ from what the log writes for them (pages a failed commit wrote in part): run again with --replay-wal to take the log's",
                    torn.len()
                ));
            }
            for (rk, v) in torn {
                report.conflicts.push(super::gather::conflict(
                    &rk,
                    &v,
                    2,
                    "the scan's, which the log (not replayed) writes differently: run with --replay-wal".into(),
                ));
            }
            None
        }
        None => None,
    };
    let ci = meta_u64(b, b"consistent_index").unwrap_or(0);
    let mut tail = LogTail {
        consistent_index: ci,
        commit_index: log.commit,
        last_index: log.last_index,
        damage: log.damage.clone(),
        ..LogTail::default()
    };
    let entries = match entries_to_apply(log, ci, voters, &mut tail) {
        Ok(e) => e,
        Err(why) => {
            tail.unusable = Some(why);
            report.log = Some(tail);
            return;
        }
    };
    if entries.is_empty() || (!opts.replay_wal && tail.entries_with_effect == 0) {
        report.log = Some(tail);
        return;
    }
    let before: std::collections::BTreeSet<Vec<u8>> = b
        .get(b"key".as_slice())
        .map(|k| k.keys().cloned().collect())
        .unwrap_or_default();
    if opts.replay_wal {
        let counts: BTreeMap<Vec<u8>, usize> =
            b.iter().map(|(n, r)| (n.clone(), r.len())).collect();
        let r = replay::replay(b, &entries, writer);
        for (name, recs) in b.iter() {
            let was = counts.get(name).copied().unwrap_or(0) as i64;
            let delta = recs.len() as i64 - was;
            if delta != 0 {
                report
                    .buckets
                    .entry(String::from_utf8_lossy(name).into_owned())
                    .or_default()
                    .changed_by_wal = delta;
            }
        }
        if let Some(kb) = b.get(b"key".as_slice()) {
            for k in kb.keys().filter(|k| !before.contains(*k)) {
                sources.insert(k.clone(), Source::Wal);
            }
        }
        if let Some(held) = held {
            settle_held(b, held, report, sources);
        }
        report.replay = Some(r);
    } else {
        // What they would write: replayed onto a scratch copy.
        let mut scratch = b.clone();
        replay::replay(&mut scratch, &entries, writer);
        if let Some(kb) = scratch.get(b"key".as_slice()) {
            let keys: std::collections::BTreeSet<String> = kb
                .iter()
                .filter(|(k, _)| !before.contains(*k))
                .filter_map(|(_, v)| crate::etcd::kv::KeyValue::decode(v).ok())
                .map(|kv| crate::wal::entry::readable(kv.key))
                .collect();
            tail.keys_not_applied = keys.into_iter().collect();
        }
        report.notes.push(format!(
            "the log holds {} entr{} past the db's consistent index {ci} that etcd would apply on start: run again with --replay-wal to include them",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        ));
    }
    report.log = Some(tail);
}

/// The records past the tree's end (revision key, the scan's copy) that
/// differ from what the log, replayed from the tree's own counters, writes
/// for them.
fn differing_past_tree<'a>(
    b: &Buckets<'a>,
    base: super::gather::TreeBase<'a>,
    log: &LogRead,
    voters: usize,
    writer: &crate::etcd::lines::LineRules,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut scratch = b.clone();
    let held = hold_past_tree(&mut scratch, base, &mut RepairReport::default());
    let ci = meta_u64(&scratch, b"consistent_index").unwrap_or(0);
    let Ok(entries) = entries_to_apply(log, ci, voters, &mut LogTail::default()) else {
        return Vec::new();
    };
    replay::replay(&mut scratch, &entries, writer);
    let Some(kb) = scratch.get(b"key".as_slice()) else {
        return Vec::new();
    };
    held.into_iter()
        .filter(|(k, v)| kb.get(k).is_some_and(|x| **x != **v))
        .map(|(k, v)| (k, v.into_owned()))
        .collect()
}

/// Whether the log holds the entry right after `ci` (or nothing past it).
fn continues_from(log: &LogRead, ci: u64) -> bool {
    log.entries
        .iter()
        .find(|e| e.index > ci)
        .is_none_or(|e| e.index == ci + 1)
}

/// Take the `key` records past the tree's end out of `b` and put the
/// tree's own counters back, so the replay starts where the tree ends.
fn hold_past_tree<'a>(
    b: &mut Buckets<'a>,
    base: super::gather::TreeBase<'a>,
    report: &mut RepairReport,
) -> Vec<(Vec<u8>, std::borrow::Cow<'a, [u8]>)> {
    // Revision keys sort by main revision first: everything from the
    // first key of revision top + 1 on lies past the tree.
    let from = crate::etcd::revision::RevisionKey {
        main: base.top.saturating_add(1),
        sub: 0,
        tombstone: false,
    }
    .encode();
    let held = b
        .get_mut(b"key".as_slice())
        .map(|kb| kb.split_off(&from).into_iter().collect())
        .unwrap_or_default();
    report
        .notes
        .retain(|n| !n.starts_with(super::gather::NEWER_COUNTERS_NOTE));
    let meta = b.entry(b"meta".to_vec()).or_default();
    for (k, v) in base.counters {
        match v {
            Some(v) => meta.insert(k.to_vec(), v),
            None => meta.remove(k),
        };
    }
    held
}

/// After the replay: each held record the log wrote identically is
/// confirmed; one it wrote differently gives way to the log's (the log is
/// what etcd acknowledged, its records checksummed); one past everything
/// the log wrote (the replay stopped at damage) is kept from the scan.
fn settle_held<'a>(
    b: &mut Buckets<'a>,
    held: Vec<(Vec<u8>, std::borrow::Cow<'a, [u8]>)>,
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
) {
    if held.is_empty() {
        return;
    }
    let kb = b.entry(b"key".to_vec()).or_default();
    let top = state::current_revision(kb);
    let (mut same, mut differ, mut kept, mut absent) = (0u64, 0u64, 0u64, 0u64);
    let first = held.first().map(|(k, _)| super::gather::revision_label(k));
    let last = held.last().map(|(k, _)| super::gather::revision_label(k));
    for (k, v) in held {
        match kb.get(&k) {
            Some(x) if **x == *v => same += 1,
            // Not a conflict left open: the log's record is what etcd
            // acknowledged (checksummed, committed); the scan's copy is
            // a page the failed commit wrote only in part.
            Some(_) => differ += 1,
            None => {
                let main = crate::etcd::revision::RevisionKey::parse(&k).map_or(0, |r| r.main);
                if main > top {
                    kb.insert(k.clone(), v);
                    sources.insert(k, Source::Scan);
                    kept += 1;
                } else {
                    sources.remove(&k);
                    absent += 1;
                }
            }
        }
    }
    let total = same + differ + kept + absent;
    report.notes.push(format!(
        "the scan found {total} revision record(s) past the tree's end ({} to {}), from a transaction bbolt did not commit whole (as when a full disk fails a commit's writes part-way): the log was replayed from the tree's own consistent index instead; {same} identical to the log's, {differ} differing (pages the failed commit wrote in part; the log's kept), {kept} past the log's last write (kept from the scan), {absent} the log does not write (left out)",
        first.unwrap_or_default(),
        last.unwrap_or_default()
    ));
    report.buckets.entry("key".into()).or_default().from_scan =
        sources.values().filter(|s| **s == Source::Scan).count() as u64;
}
