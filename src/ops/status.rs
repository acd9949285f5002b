//! `snapshot status` and `hashkv`: etcdctl's figures for a file, computed
//! offline, plus what etcdctl does not do: verify the SHA-256 trailer.

use super::header::Header;
use super::open::OpenDb;
use crate::mvcc::hash::{snapshot_status, HashKv, SnapshotStatus};
use serde::Serialize;

/// What the SHA-256 trailer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrailerVerdict {
    /// A snapshot file whose trailer matches its db bytes.
    Matches,
    /// A snapshot file whose trailer does not match (damaged, or cut and
    /// padded): `etcdctl snapshot restore` refuses it.
    Mismatch,
    /// No trailer: a db copied off disk (restore needs --skip-hash-check).
    Missing,
    /// The file ends inside a page, or before its high-water mark: cut.
    Cut,
}

impl TrailerVerdict {
    pub fn describe(self) -> &'static str {
        match self {
            TrailerVerdict::Matches => "SHA-256 trailer matches the db bytes",
            TrailerVerdict::Mismatch => {
                "SHA-256 trailer does NOT match the db bytes: `etcdctl snapshot restore` will refuse this file"
            }
            TrailerVerdict::Missing => {
                "no SHA-256 trailer (a db copied from disk): restore needs --skip-hash-check"
            }
            TrailerVerdict::Cut => {
                "the file is cut short: it ends before the pages its meta says it has"
            }
        }
    }
}

/// `snapshot status` for an opened db.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub hash: u32,
    pub revision: i64,
    #[serde(rename = "totalKey")]
    pub total_key: u64,
    #[serde(rename = "totalSize")]
    pub total_size: u64,
    /// The storage version (printed by 3.6+ tools; empty for older dbs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Not printed (etcdutl's JSON has no such field): said on stderr.
    #[serde(skip)]
    pub sha256: TrailerVerdict,
    #[serde(skip)]
    pub unreadable_subtrees: usize,
}

/// Compute the status as the tool of `rules`' line computes it (3.6+: live
/// keys as total keys, and the storage version).
pub fn status(db: &OpenDb, rules: &crate::etcd::lines::LineRules) -> Option<StatusReport> {
    let v36 = rules.snapshot_status_total_key == crate::etcd::lines::TotalKeyRule::LiveKeys;
    let (bytes, trailer) = db.db_bytes();
    let bolt = db.bolt().ok()?;
    let s: SnapshotStatus = snapshot_status(&bolt)?;
    let ps = bolt.page_size() as u64;
    let hwm_bytes = bolt.best_meta().map_or(0, |m| m.pgid.saturating_mul(ps));
    let cut = (bytes.len() as u64) < hwm_bytes || bytes.len() as u64 % ps != 0;
    let sha256 = match trailer {
        Some(t) if t.matches => TrailerVerdict::Matches,
        Some(_) => TrailerVerdict::Mismatch,
        None if cut => TrailerVerdict::Cut,
        None => TrailerVerdict::Missing,
    };
    let (mut total_key, mut version) = (s.total_keys, None);
    if v36 {
        total_key = crate::etcd::keyspace::count_keys(&bolt).map_or(0, |k| k.live_keys);
        let (facts, _) = crate::etcd::validate::read_small_buckets(&bolt, "");
        version = facts.meta.iter().find_map(|m| match m {
            crate::etcd::records::MetaRecord::StorageVersion(v) => Some(v.clone()),
            _ => None,
        });
    }
    if rules.snapshot_status_version {
        version = Some(version.unwrap_or_default());
    } else {
        version = None;
    }
    Some(StatusReport {
        hash: s.hash,
        revision: s.revision,
        total_key,
        total_size: s.total_size,
        version,
        sha256,
        unreadable_subtrees: s.unreadable,
    })
}

/// go-humanize's `Bytes`, as etcdctl prints sizes: "487 kB", "1.2 MB".
pub fn humanize_bytes(n: u64) -> String {
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let e = ((n as f64).ln() / 1000f64.ln()).floor() as i32;
    let e = e.clamp(0, 6);
    let val = ((n as f64) / 1000f64.powi(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", SIZES[e as usize])
    } else {
        format!("{val:.0} {}", SIZES[e as usize])
    }
}

/// `etcdctl endpoint hashkv -w json`'s element.
#[derive(Debug, Serialize)]
pub struct HashKvJson {
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
    #[serde(rename = "HashKV")]
    pub hash_kv: HashKvResp,
}

#[derive(Debug, Serialize)]
pub struct HashKvResp {
    pub header: Header,
    pub hash: u32,
    pub compact_revision: i64,
    /// Answered by 3.6+ servers only (etcd#14537).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_revision: Option<i64>,
}

pub fn hashkv_json(
    endpoint: String,
    header: Header,
    h: &HashKv,
    rules: &crate::etcd::lines::LineRules,
) -> Vec<HashKvJson> {
    vec![HashKvJson {
        endpoint,
        hash_kv: HashKvResp {
            header,
            hash: h.hash,
            compact_revision: h.compact_revision,
            hash_revision: rules.has_hash_revision.then_some(h.hash_revision),
        },
    }]
}

/// `etcdutl hashkv -w json` (3.6+).
#[derive(Debug, Serialize)]
pub struct UtlHashKv {
    pub hash: u32,
    #[serde(rename = "hashRevision")]
    pub hash_revision: i64,
    #[serde(rename = "compactRevision")]
    pub compact_revision: i64,
}

#[cfg(test)]
mod tests {
    use super::humanize_bytes;

    #[test]
    fn humanize_like_go() {
        assert_eq!(humanize_bytes(487424), "487 kB");
        assert_eq!(humanize_bytes(24576), "25 kB");
        assert_eq!(humanize_bytes(5), "5 B");
        assert_eq!(humanize_bytes(1_234_567), "1.2 MB");
        assert_eq!(humanize_bytes(4_005_015_552), "4.0 GB");
    }
}
