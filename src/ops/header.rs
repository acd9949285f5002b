//! The response header etcdctl prints (cluster id, member id, revision, raft
//! term), taken from the data dir where it is known: the WAL's metadata and
//! newest hard state; for a bare db or snapshot, the only member recorded in
//! the db (cluster id and term are then unknown and omitted, as etcd omits
//! zero fields).

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
    h
}
