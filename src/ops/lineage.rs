//! Gathers the signals [`crate::etcd::detect`] needs from an input (the db's
//! small buckets, the `.snap` files, one pass over the WAL) and picks the
//! rules a verdict follows: the release asked for, else the line that wrote
//! the files.
#![forbid(unsafe_code)]

use crate::etcd::detect::{detect, Lineage, Signals};
use crate::etcd::lines::{EtcdVersion, LineRules};
use crate::etcd::records::MetaRecord;
use crate::etcd::validate::EtcdFacts;
use crate::input::Input;
use crate::snap::SnapFile;
use std::path::Path;

/// Signals of the db's facts.
pub fn db_signals(f: &EtcdFacts, s: &mut Signals) {
    s.db = true;
    for m in &f.meta {
        match m {
            MetaRecord::ConsistentIndex(_) => s.has_consistent_index = true,
            MetaRecord::Term(t) if *t != 0 => s.has_term = true,
            MetaRecord::ConfState(_) => s.has_confstate = true,
            MetaRecord::StorageVersion(v) => s.storage_version = Some(v.clone()),
            _ => {}
        }
    }
    s.cluster_version = f.cluster_version.clone();
    s.downgrade = f.downgrade.clone();
}

/// Signals of the newest readable `.snap`.
pub fn snap_signals(snaps: &[SnapFile], s: &mut Signals) {
    if let Some(shape) = snaps
        .iter()
        .filter(|f| f.problem.is_none())
        .max_by_key(|f| f.index)
        .and_then(|f| f.v2_shape)
    {
        s.snap_membership_only = Some(shape.membership_only());
        s.snap_custom_content = shape.custom_nodes > 0;
    }
}

/// Signals of one WAL payload (call for every record of a log read).
pub fn wal_signal(p: &crate::wal::segment::Payload<'_>, s: &mut Signals) {
    use crate::wal::segment::Payload;
    match p {
        Payload::Snapshot(r) if r.index > 0 => {
            s.wal_snapshots += 1;
            s.wal_snapshots_with_conf_state += u64::from(r.has_conf_state);
        }
        Payload::Entry(e) => {
            s.wal_entries += 1;
            if !e.type_present {
                s.wal_entries_without_type += 1;
            }
            if e.entry_type != 0 || e.data.is_empty() {
                return;
            }
            match crate::wal::entry::decode(0, e.data) {
                crate::wal::entry::EntryData::V2 { .. } => s.wal_v2_requests += 1,
                crate::wal::entry::EntryData::Request { .. } => {
                    let v35 = crate::proto::fields(e.data)
                        .flatten()
                        .any(|(n, _, _)| matches!(n, 1013 | 1300 | 1301 | 1302));
                    s.wal_v35_requests += u64::from(v35);
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// Read every signal of `input` (the db, the snaps and the WAL).
pub fn signals(input: &Input) -> Signals {
    let mut s = Signals::default();
    if let Ok(db) = super::open::OpenDb::open(input) {
        if let Ok(b) = db.bolt() {
            let (facts, _) = crate::etcd::validate::read_small_buckets(&b, "");
            db_signals(&facts, &mut s);
        }
    }
    if let Some(m) = &input.member_dir {
        member_signals(m, &mut s);
    }
    s
}

/// The snaps' and the WAL's signals of a member dir.
pub fn member_signals(member: &Path, s: &mut Signals) {
    snap_signals(&crate::snap::read_all(member), s);
    let _ = crate::wal::log::read_log(&member.join("wal"), &mut |_, _, p| wal_signal(&p, s));
}

/// Which line wrote `input`.
pub fn lineage(input: &Input) -> Lineage {
    detect(&signals(input))
}

/// The rules a verdict follows: `asked`, else the line that wrote the files.
pub fn rules_for(asked: Option<EtcdVersion>, lineage: &Lineage) -> LineRules {
    asked.unwrap_or(EtcdVersion::line(lineage.line)).rules()
}
