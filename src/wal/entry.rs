//! What a raft entry's data holds: an `InternalRaftRequest` (tried first,
//! strictly, as etcd does), else a v2 `Request` (3.4 proposes member
//! attributes and the cluster version that way), or a `ConfChange` with its
//! member JSON. Summaries for people; field numbers from etcd's protocol.

use crate::proto::{self, Value};
use serde::Serialize;

/// A decoded entry payload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum EntryData {
    /// A leader's empty entry after an election.
    Empty,
    /// `InternalRaftRequest`: the request name and a readable summary.
    Request {
        request: &'static str,
        summary: String,
        id: u64,
        /// The user named in the request header, when auth is on.
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Every field of the request, nested messages included.
        fields: serde_json::Value,
    },
    /// A v2 `etcdserverpb.Request`.
    V2 {
        method: String,
        path: String,
        value: String,
    },
    /// `raftpb.ConfChange`.
    ConfChange {
        change: &'static str,
        node_id: u64,
        context: String,
    },
    /// Nothing etcd would accept.
    Unknown { reason: String },
}

impl EntryData {
    /// etcd-dump-logs' filter name for the entry.
    pub fn filter_names(&self) -> Vec<&'static str> {
        match self {
            EntryData::ConfChange { .. } => vec!["ConfigChange"],
            EntryData::Empty => vec!["Normal"],
            EntryData::V2 { .. } => vec!["Normal", "Request"],
            EntryData::Request { request, .. } => {
                let mut v = vec!["Normal", "InternalRaftRequest"];
                v.extend(match *request {
                    "range" => Some("IRRRange"),
                    "put" => Some("IRRPut"),
                    "delete_range" => Some("IRRDeleteRange"),
                    "txn" => Some("IRRTxn"),
                    "compaction" => Some("IRRCompaction"),
                    "lease_grant" => Some("IRRLeaseGrant"),
                    "lease_revoke" => Some("IRRLeaseRevoke"),
                    "lease_checkpoint" => Some("IRRLeaseCheckpoint"),
                    _ => None,
                });
                v
            }
            EntryData::Unknown { .. } => vec!["Normal"],
        }
    }
}

/// Longest value shown in full in a summary.
const SHOWN: usize = 200;

/// Printable text as is, anything else as base64; long values are cut with
/// their size given.
pub fn readable(b: &[u8]) -> String {
    let (shown, more) = if b.len() > SHOWN {
        (&b[..SHOWN], format!("…({} bytes)", b.len()))
    } else {
        (b, String::new())
    };
    match std::str::from_utf8(shown) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s}{more}"),
        // A cut inside a multi-byte character is still text.
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
            format!(
                "{}{more}",
                String::from_utf8_lossy(&shown[..e.valid_up_to()])
            )
        }
        _ => format!("base64:{}{more}", crate::etcd::records::b64::encode(shown)),
    }
}

fn sub_fields(b: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    proto::fields(b)
        .map(|f| f.ok().map(|(n, v, _)| (n, v)))
        .collect()
}

fn bytes_of<'a>(fs: &[(u32, Value<'a>)], n: u32) -> &'a [u8] {
    fs.iter()
        .find_map(|(f, v)| match (f, v) {
            (f, Value::Bytes(b)) if *f == n => Some(*b),
            _ => None,
        })
        .unwrap_or(&[])
}

fn num_of(fs: &[(u32, Value<'_>)], n: u32) -> u64 {
    fs.iter()
        .find_map(|(f, v)| match (f, v) {
            (f, Value::Varint(x)) if *f == n => Some(*x),
            _ => None,
        })
        .unwrap_or(0)
}

/// Decode an entry's data (`entry_type`: 0 normal, 1 conf change).
pub fn decode(entry_type: u64, data: &[u8]) -> EntryData {
    if entry_type == 1 || entry_type == 2 {
        let Some(fs) = sub_fields(data) else {
            return EntryData::Unknown {
                reason: "conf change does not decode".into(),
            };
        };
        let change = match num_of(&fs, 2) {
            0 => "add-node",
            1 => "remove-node",
            2 => "update-node",
            3 => "add-learner-node",
            _ => "unknown",
        };
        return EntryData::ConfChange {
            change,
            node_id: num_of(&fs, 3),
            context: readable(bytes_of(&fs, 4)),
        };
    }
    if data.is_empty() {
        return EntryData::Empty;
    }
    if let Some(fs) = sub_fields(data) {
        let mut id = num_of(&fs, 1);
        let mut user = None;
        let mut found: Option<(&'static str, super::request::Decoded)> = None;
        let mut strict = true;
        for (n, v) in &fs {
            match (n, v) {
                (100, Value::Bytes(h)) => {
                    let header = sub_fields(h);
                    if id == 0 {
                        id = header.as_ref().map_or(0, |h| num_of(h, 1));
                    }
                    user = header
                        .map(|h| bytes_of(&h, 2))
                        .filter(|u| !u.is_empty())
                        .map(readable);
                }
                (1, Value::Varint(_)) => {}
                (n, Value::Bytes(b)) => match super::request::request(*n) {
                    Some((name, table)) => match super::request::decode(table, b) {
                        Some(d) => found = Some((name, d)),
                        None => strict = false,
                    },
                    None => strict = false,
                },
                _ => strict = false,
            }
        }
        if strict {
            if let Some((request, d)) = found {
                return EntryData::Request {
                    request,
                    summary: d.summary,
                    id,
                    user,
                    fields: d.fields,
                };
            }
        }
    }
    // etcd's fallback: a v2 Request (ID=1, Method=2, Path=3, Val=4).
    if let Some(fs) = sub_fields(data) {
        let method = bytes_of(&fs, 2);
        if !method.is_empty() {
            return EntryData::V2 {
                method: readable(method),
                path: readable(bytes_of(&fs, 3)),
                value: readable(bytes_of(&fs, 4)),
            };
        }
    }
    EntryData::Unknown {
        reason: "neither an InternalRaftRequest nor a v2 Request".into(),
    }
}
