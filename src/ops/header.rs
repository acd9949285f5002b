//! The response header etcdctl prints (cluster id, member id, revision, raft
//! term), taken from the data dir where it is known: the WAL's metadata and
//! newest hard state; for a bare db or snapshot, the only member recorded in
//! the db, the cluster id derived from the member ids as etcd derives it at
//! creation, and the term from `meta.term` (3.5+; unknown in 3.4 dbs and
//! then omitted, as etcd omits zero fields).

use crate::etcd::records::MemberRecord;
use crate::input::Input;
use serde::Serialize;

/// etcd's `ResponseHeader` as etcdctl's JSON shows it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Header {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub cluster_id: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub member_id: u64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub revision: i64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub raft_term: u64,
}

pub fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

pub fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

/// The cluster id etcd derives when a cluster is created: the first 8 bytes
/// (big-endian) of SHA-1 over the sorted member ids, each 8 bytes big-endian.
/// Exact while the membership is the one the cluster was created with.
pub fn derived_cluster_id(member_ids: &[u64]) -> u64 {
    use sha1::{Digest, Sha1};
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut h = Sha1::new();
    for id in ids {
        h.update(id.to_be_bytes());
    }
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// The header for `input` at `revision`.
pub fn header(input: &Input, members: &[MemberRecord], revision: i64) -> Header {
    let mut h = Header {
        revision,
        ..Header::default()
    };
    if let Some(member) = &input.member_dir {
        let id = crate::wal::identity(member);
        if let Some(m) = id.metadata {
            h.cluster_id = m.cluster_id;
            h.member_id = m.node_id;
        }
        if let Some(s) = id.hard_state {
            h.raft_term = s.term;
        }
    }
    if h.member_id == 0 && members.len() == 1 {
        h.member_id = members[0].id;
    }
    if h.cluster_id == 0 && !members.is_empty() {
        h.cluster_id = derived_cluster_id(&members.iter().map(|m| m.id).collect::<Vec<_>>());
    }
    h
}

/// Fill the raft term from the db's `meta.term` (etcd 3.5+) when the WAL
/// did not give one.
pub fn with_db_term(mut h: Header, term: Option<u64>) -> Header {
    if h.raft_term == 0 {
        h.raft_term = term.unwrap_or(0);
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_id_of_a_single_member_cluster() {
        // The fixture's member and the cluster id etcd reported for it.
        assert_eq!(
            super::derived_cluster_id(&[0x35a7_c3cb_9463_f775]),
            1_589_213_642_843_600_752
        );
    }
}
