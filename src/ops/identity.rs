//! Member identity across a data dir's three records of membership: the
//! WAL's metadata (this member's id and the cluster id), the v2 store in the
//! snap etcd loads plus the conf changes committed after it (what etcd 3.4
//! rebuilds its member list from), and the db's `members` and
//! `members_removed` buckets (what 3.5+ reads). Disagreements are findings.
#![forbid(unsafe_code)]

use crate::etcd::records::MemberRecord;
use crate::findings::Finding;
use crate::snap::SnapFile;
use crate::wal::Metadata;
use std::collections::BTreeSet;

/// A conf change read from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfChange {
    pub index: u64,
    /// 0 add, 1 remove, 2 update, 3 add learner.
    pub change: u64,
    pub node_id: u64,
}

impl ConfChange {
    /// Decode a conf change entry's data (`raftpb.ConfChange`).
    pub fn decode(index: u64, data: &[u8]) -> Option<ConfChange> {
        let mut change = 0;
        let mut node_id = 0;
        for f in crate::proto::fields(data) {
            match f.ok()? {
                (2, crate::proto::Value::Varint(v), _) => change = v,
                (3, crate::proto::Value::Varint(v), _) => node_id = v,
                _ => {}
            }
        }
        Some(ConfChange {
            index,
            change,
            node_id,
        })
    }
}

/// What the db says of membership.
pub struct DbMembers<'a> {
    pub members: &'a [MemberRecord],
    pub removed: &'a [u64],
}

fn hex_set(ids: &BTreeSet<u64>) -> String {
    let v: Vec<String> = ids.iter().map(|i| format!("{i:x}")).collect();
    format!("[{}]", v.join(", "))
}

/// Compare the three records. `snap` is the snap etcd loads (if any);
/// `changes` are the log's conf changes in log order; `commit` the hard
/// state's commit index.
pub fn findings(
    file: &str,
    meta: Option<Metadata>,
    db: Option<DbMembers<'_>>,
    snap: Option<&SnapFile>,
    changes: &[ConfChange],
    commit: u64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    // Membership as etcd 3.4 rebuilds it: the snap's v2 store, then every
    // committed conf change after the snap's index.
    let start = snap.map_or(0, |s| s.index);
    let mut v2: BTreeSet<u64> = snap
        .map(|s| {
            s.members
                .iter()
                .filter_map(|m| u64::from_str_radix(&m.id, 16).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut v2_removed: BTreeSet<u64> = snap
        .map(|s| {
            s.removed_members
                .iter()
                .filter_map(|m| u64::from_str_radix(m, 16).ok())
                .collect()
        })
        .unwrap_or_default();
    for c in changes
        .iter()
        .filter(|c| c.index > start && c.index <= commit)
    {
        match c.change {
            0 | 3 => {
                v2.insert(c.node_id);
            }
            1 => {
                v2.remove(&c.node_id);
                v2_removed.insert(c.node_id);
            }
            _ => {}
        }
    }
    let Some(meta) = meta else { return out };
    let me = meta.node_id;
    if v2_removed.contains(&me) {
        out.push(Finding::error(
            "etcd.identity.removed",
            file,
            format!(
                "this member ({me:x}) was removed from the cluster (snap and committed conf changes): etcd exits with \"the member has been permanently removed from the cluster\" once it applies or hears of its removal; start it only after re-adding it (`etcdctl member add`) with a fresh data dir"
            ),
        ));
    } else if !v2.is_empty() && !v2.contains(&me) {
        out.push(Finding::warning(
            "etcd.identity.not-member",
            file,
            format!(
                "this member's id {me:x} (WAL metadata) is not among the members etcd rebuilds from the snap and log {}: the data dir may belong to another member",
                hex_set(&v2)
            ),
        ));
    }
    let Some(db) = db else { return out };
    let dbset: BTreeSet<u64> = db.members.iter().map(|m| m.id).collect();
    let dbremoved: BTreeSet<u64> = db.removed.iter().copied().collect();
    if dbremoved.contains(&me) && !v2_removed.contains(&me) {
        out.push(Finding::warning(
            "etcd.identity.removed-in-db",
            file,
            format!("the db lists this member ({me:x}) as removed, but the snap and log do not: the db is from a later point in the cluster's life, or from another member"),
        ));
    }
    if !dbset.is_empty() && !dbset.contains(&me) && !dbremoved.contains(&me) {
        out.push(Finding::warning(
            "etcd.identity.not-in-db",
            file,
            format!(
                "this member's id {me:x} is not among the db's members {}: the db may come from another cluster or member",
                hex_set(&dbset)
            ),
        ));
    }
    if !v2.is_empty() && !dbset.is_empty() && v2 != dbset {
        out.push(Finding::warning(
            "etcd.identity.members-differ",
            file,
            format!(
                "members rebuilt from the snap (index {start}) and the log's committed conf changes are {}, the db's members bucket holds {}: etcd 3.4 uses the former, 3.5+ the latter; if the db was restored from another cluster's snapshot, this member will not rejoin its peers",
                hex_set(&v2),
                hex_set(&dbset)
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64) -> MemberRecord {
        MemberRecord {
            id,
            name: format!("m{id}"),
            peer_urls: vec![],
            client_urls: vec![],
            is_learner: false,
        }
    }

    #[test]
    fn removed_and_foreign_members_are_found() {
        let meta = Some(Metadata {
            node_id: 7,
            cluster_id: 1,
        });
        let changes = [
            ConfChange {
                index: 1,
                change: 0,
                node_id: 7,
            },
            ConfChange {
                index: 2,
                change: 0,
                node_id: 8,
            },
            ConfChange {
                index: 9,
                change: 1,
                node_id: 7,
            },
        ];
        let members = [member(8)];
        let f = findings(
            "d",
            meta,
            Some(DbMembers {
                members: &members,
                removed: &[7],
            }),
            None,
            &changes,
            10,
        );
        let codes: Vec<&str> = f.iter().map(|f| f.code).collect();
        assert_eq!(codes, ["etcd.identity.removed"]);
        // The removal not yet committed: still a member, and the db's view
        // (removed) now disagrees with the log's.
        let f = findings(
            "d",
            meta,
            Some(DbMembers {
                members: &members,
                removed: &[7],
            }),
            None,
            &changes,
            5,
        );
        let codes: Vec<&str> = f.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                "etcd.identity.removed-in-db",
                "etcd.identity.members-differ"
            ]
        );
    }
}
