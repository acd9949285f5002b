//! `.snap` files (`member/snap/TERM-INDEX.snap`): one `snappb.snapshot`
//! (crc=1, data=2) whose CRC-32C covers `data`, a `raftpb.Snapshot`
//! (data=1, metadata=2 {conf_state=1, index=2, term=3}); in 3.4/3.5 its data
//! is the v2 store as JSON, where membership lives.
#![forbid(unsafe_code)]

use crate::proto;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A decoded snap file.
#[derive(Debug, Clone, Serialize)]
pub struct SnapFile {
    pub path: PathBuf,
    pub name_term: Option<u64>,
    pub name_index: Option<u64>,
    pub size: u64,
    pub term: u64,
    pub index: u64,
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    /// Members found in the v2 store (hex id, name, peer URLs).
    pub members: Vec<V2Member>,
    pub removed_members: Vec<String>,
    pub cluster_version: Option<String>,
    /// The shape of the v2 store (what wrote it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v2_shape: Option<V2Shape>,
    /// Why etcd would reject the file (it renames such files `.broken`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct V2Member {
    pub id: String,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

fn parse_name(path: &Path) -> (Option<u64>, Option<u64>) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(stem) = name.strip_suffix(".snap") else {
        return (None, None);
    };
    match stem.split_once('-') {
        Some((t, i)) => (
            u64::from_str_radix(t, 16).ok(),
            u64::from_str_radix(i, 16).ok(),
        ),
        None => (None, None),
    }
}

/// Decode the bytes of a snap file.
pub fn decode(path: &Path, b: &[u8]) -> SnapFile {
    let (name_term, name_index) = parse_name(path);
    let mut s = SnapFile {
        path: path.to_path_buf(),
        name_term,
        name_index,
        size: b.len() as u64,
        term: 0,
        index: 0,
        voters: Vec::new(),
        learners: Vec::new(),
        members: Vec::new(),
        removed_members: Vec::new(),
        cluster_version: None,
        v2_shape: None,
        problem: None,
    };
    if b.is_empty() {
        s.problem = Some("empty snapshot file".into());
        return s;
    }
    let (mut crc, mut data): (Option<u64>, Option<&[u8]>) = (None, None);
    for f in proto::fields(b) {
        match f {
            Ok((1, v, at)) => crc = v.as_u64(1, at).ok(),
            Ok((2, v, at)) => data = v.as_bytes(2, at).ok(),
            Ok(_) => {}
            Err(e) => {
                s.problem = Some(format!("not a snappb.snapshot: {e}"));
                return s;
            }
        }
    }
    let (Some(crc), Some(data)) = (crc, data) else {
        s.problem = Some("missing crc or data (etcd: empty snapshot)".into());
        return s;
    };
    if crc == 0 {
        s.problem = Some("crc is 0 (etcd: empty snapshot)".into());
        return s;
    }
    let computed = crc32c::crc32c(data);
    if u64::from(computed) != crc {
        s.problem = Some(format!(
            "crc mismatch: stored {crc:#010x}, computed {computed:#010x}"
        ));
        return s;
    }
    let mut store: &[u8] = &[];
    for f in proto::fields(data) {
        match f {
            Ok((1, v, at)) => store = v.as_bytes(1, at).unwrap_or(&[]),
            Ok((2, v, at)) => {
                for g in proto::fields(v.as_bytes(2, at).unwrap_or(&[])).flatten() {
                    match g {
                        (1, proto::Value::Bytes(cs), _) => {
                            for h in proto::fields(cs).flatten() {
                                if let (n @ (1 | 2), proto::Value::Varint(id), _) = h {
                                    let id = format!("{id:x}");
                                    if n == 1 {
                                        s.voters.push(id)
                                    } else {
                                        s.learners.push(id)
                                    }
                                }
                            }
                        }
                        (2, proto::Value::Varint(i), _) => s.index = i,
                        (3, proto::Value::Varint(t), _) => s.term = t,
                        _ => {}
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                s.problem = Some(format!("raftpb.Snapshot does not decode: {e}"));
                return s;
            }
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(store) {
        read_v2_store(&v, &mut s);
    }
    s
}

/// What the v2 store in a `.snap` looks like: 3.4/3.5 save a clone of the
/// whole store (its index counts every v2 write ever applied, user keys under
/// `/1`, v2 auth under `/2`); 3.6+ regenerate a fresh store holding only the
/// membership, so its index equals the number of values it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct V2Shape {
    pub current_index: u64,
    /// Values (leaf nodes) under `/0`.
    pub membership_values: u64,
    /// Nodes outside `/0` that hold something (custom v2 content).
    pub custom_nodes: u64,
}

impl V2Shape {
    /// A store regenerated from the membership alone (3.6+).
    pub fn membership_only(&self) -> bool {
        self.custom_nodes == 0 && self.current_index == self.membership_values
    }
}

fn count_values(n: &serde_json::Value, depth: usize) -> u64 {
    match n.get("Children").and_then(|c| c.as_object()) {
        Some(c) if depth < 16 => c.values().map(|x| count_values(x, depth + 1)).sum(),
        Some(_) => 0,
        None => u64::from(n.get("Dir").and_then(|d| d.as_bool()) != Some(true)),
    }
}

fn shape_of(v: &serde_json::Value) -> Option<V2Shape> {
    let root = v.get("Root")?;
    let current_index = v.get("CurrentIndex")?.as_u64()?;
    let children = root.get("Children").and_then(|c| c.as_object());
    let mut shape = V2Shape {
        current_index,
        membership_values: 0,
        custom_nodes: 0,
    };
    for (name, n) in children.into_iter().flatten() {
        let values = count_values(n, 0);
        if name == "0" {
            shape.membership_values = values;
        } else {
            shape.custom_nodes += values;
        }
    }
    Some(shape)
}

fn read_v2_store(v: &serde_json::Value, s: &mut SnapFile) {
    s.v2_shape = shape_of(v);
    let node = |path: &[&str]| -> Option<&serde_json::Value> {
        let mut n = v.get("Root")?;
        for p in path {
            n = n.get("Children")?.get(*p)?;
        }
        Some(n)
    };
    if let Some(ver) = node(&["0", "version"])
        .and_then(|n| n.get("Value"))
        .and_then(|x| x.as_str())
    {
        s.cluster_version = Some(ver.to_string());
    }
    if let Some(members) = node(&["0", "members"])
        .and_then(|n| n.get("Children"))
        .and_then(|c| c.as_object())
    {
        for (id, m) in members {
            let get = |k: &str| -> serde_json::Value {
                m.get("Children")
                    .and_then(|c| c.get(k))
                    .and_then(|n| n.get("Value"))
                    .and_then(|x| x.as_str())
                    .and_then(|x| serde_json::from_str(x).ok())
                    .unwrap_or(serde_json::Value::Null)
            };
            let (raft, attrs) = (get("raftAttributes"), get("attributes"));
            let strs = |v: &serde_json::Value, k: &str| -> Vec<String> {
                v.get(k)
                    .and_then(|a| a.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            s.members.push(V2Member {
                id: id.clone(),
                name: attrs
                    .get("name")
                    .and_then(|x| x.as_str())
                    .unwrap_or_default()
                    .to_string(),
                peer_urls: strs(&raft, "peerURLs"),
                client_urls: strs(&attrs, "clientURLs"),
                is_learner: raft
                    .get("isLearner")
                    .and_then(|x| x.as_bool())
                    .unwrap_or(false),
            });
        }
    }
    if let Some(removed) = node(&["0", "removed_members"])
        .and_then(|n| n.get("Children"))
        .and_then(|c| c.as_object())
    {
        s.removed_members = removed.keys().cloned().collect();
    }
}

/// Every `.snap` file of a member dir, newest first (etcd's order).
pub fn read_all(member_dir: &Path) -> Vec<SnapFile> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(member_dir.join("snap"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    paths.sort();
    paths.reverse();
    paths
        .iter()
        .map(|p| match crate::mmap::InputFile::open(p) {
            Ok(f) => decode(p, f.bytes()),
            Err(e) => {
                let mut s = decode(p, &[]);
                s.problem = Some(format!("cannot read: {e}"));
                s
            }
        })
        .collect()
}
