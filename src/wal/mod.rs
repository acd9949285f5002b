//! WAL segments (`member/wal/*.wal`): record framing and the records that
//! name the member and its raft state.
//!
//! * [`record`], the length-prefixed, 8-byte aligned `walpb.Record` framing,
//!   read without trusting any length.
//!
//! The full log reader (CRC chain, entries, boot prediction) builds on this.
#![forbid(unsafe_code)]

pub mod entry;
pub mod log;
pub mod record;
pub mod request;
pub mod segment;

pub use record::{RecordType, WalRecord, WalRecords};

use crate::proto;
use std::path::{Path, PathBuf};

/// `etcdserverpb.Metadata`: NodeID=1, ClusterID=2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Metadata {
    pub node_id: u64,
    pub cluster_id: u64,
}

impl Metadata {
    pub fn decode(b: &[u8]) -> Result<Metadata, proto::ProtoError> {
        let mut m = Metadata::default();
        for f in proto::fields(b) {
            let (n, v, at) = f?;
            match n {
                1 => m.node_id = v.as_u64(n, at)?,
                2 => m.cluster_id = v.as_u64(n, at)?,
                _ => {}
            }
        }
        Ok(m)
    }
}

/// `raftpb.HardState`: term=1, vote=2, commit=3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct HardState {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
}

impl HardState {
    pub fn decode(b: &[u8]) -> Result<HardState, proto::ProtoError> {
        let mut h = HardState::default();
        for f in proto::fields(b) {
            let (n, v, at) = f?;
            match n {
                1 => h.term = v.as_u64(n, at)?,
                2 => h.vote = v.as_u64(n, at)?,
                3 => h.commit = v.as_u64(n, at)?,
                _ => {}
            }
        }
        Ok(h)
    }
}

/// What the WAL says about the member: its ids and the newest hard state,
/// read from the segments in order (best effort: damaged tails stop a
/// segment, they do not fail the summary).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WalIdentity {
    pub metadata: Option<Metadata>,
    pub hard_state: Option<HardState>,
}

/// The `*.wal` segments of a member dir, sorted by name (= sequence).
pub fn segments(member_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(member_dir.join("wal"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Read the member's ids and newest hard state from its WAL.
pub fn identity(member_dir: &Path) -> WalIdentity {
    let mut id = WalIdentity::default();
    for seg in segments(member_dir) {
        let Ok(file) = crate::mmap::InputFile::open(&seg) else {
            continue;
        };
        for rec in WalRecords::new(file.bytes()) {
            let Ok(rec) = rec else { break };
            match rec.kind() {
                RecordType::Metadata => {
                    if let Ok(m) = Metadata::decode(rec.data) {
                        id.metadata = Some(m);
                    }
                }
                RecordType::State => {
                    if let Ok(h) = HardState::decode(rec.data) {
                        if h != HardState::default() {
                            id.hard_state = Some(h);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    id
}
