//! The records of etcd's small buckets: `meta`, `lease`, `alarm`, `auth`,
//! `authUsers`, `authRoles`, `members`, `members_removed`, `cluster`.

use super::revision::RevisionKey;
use crate::proto::{self, ProtoError};
use serde::Serialize;

/// A decoded `meta` bucket entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "key", content = "value")]
pub enum MetaRecord {
    ConsistentIndex(u64),
    Term(u64),
    ScheduledCompactRev(i64),
    FinishedCompactRev(i64),
    ConfState(serde_json::Value),
    StorageVersion(String),
}

impl MetaRecord {
    /// The numeric value of the numeric records (0 for the others).
    pub fn as_u64(&self) -> u64 {
        match *self {
            MetaRecord::ConsistentIndex(v) | MetaRecord::Term(v) => v,
            MetaRecord::ScheduledCompactRev(v) | MetaRecord::FinishedCompactRev(v) => v as u64,
            _ => 0,
        }
    }
}

/// Why a record is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("value is {found} bytes, expected {expected}")]
    Length { found: usize, expected: usize },
    #[error("{0}")]
    Proto(#[from] ProtoError),
    #[error("{0}")]
    Invalid(String),
    #[error("unknown key")]
    UnknownKey,
    /// A member record whose JSON id is not its key (etcd keeps it under
    /// the key; a lookup by the JSON id fails).
    #[error("member JSON id {json:x} differs from its key {key:x}")]
    MemberKeyMismatch { json: u64, key: u64 },
}

fn be_u64(v: &[u8]) -> Result<u64, RecordError> {
    let a: [u8; 8] = v.try_into().map_err(|_| RecordError::Length {
        found: v.len(),
        expected: 8,
    })?;
    Ok(u64::from_be_bytes(a))
}

/// Decode a `meta` bucket entry.
pub fn meta_record(key: &[u8], v: &[u8]) -> Result<MetaRecord, RecordError> {
    Ok(match key {
        b"consistent_index" => MetaRecord::ConsistentIndex(be_u64(v)?),
        b"term" => MetaRecord::Term(be_u64(v)?),
        b"scheduledCompactRev" | b"finishedCompactRev" => {
            if v.len() != 17 {
                return Err(RecordError::Length {
                    found: v.len(),
                    expected: 17,
                });
            }
            let r = RevisionKey::parse(v).map_err(|e| RecordError::Invalid(e.to_string()))?;
            if key == b"scheduledCompactRev" {
                MetaRecord::ScheduledCompactRev(r.main)
            } else {
                MetaRecord::FinishedCompactRev(r.main)
            }
        }
        b"confState" => MetaRecord::ConfState(
            serde_json::from_slice(v)
                .map_err(|e| RecordError::Invalid(format!("not JSON: {e}")))?,
        ),
        b"storageVersion" => MetaRecord::StorageVersion(
            std::str::from_utf8(v)
                .map_err(|_| RecordError::Invalid("not UTF-8".into()))?
                .to_string(),
        ),
        _ => return Err(RecordError::UnknownKey),
    })
}

/// `leasepb.Lease`: ID=1, TTL=2, RemainingTTL=3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LeaseRecord {
    pub id: i64,
    pub ttl: i64,
    pub remaining_ttl: i64,
}

pub fn lease_record(key: &[u8], v: &[u8]) -> Result<LeaseRecord, RecordError> {
    let kid = be_u64(key).map_err(|_| {
        RecordError::Invalid(format!("lease key is {} bytes, expected 8", key.len()))
    })? as i64;
    let mut l = LeaseRecord::default();
    for f in proto::fields(v) {
        let (field, val, at) = f?;
        match field {
            1 => l.id = val.as_u64(field, at)? as i64,
            2 => l.ttl = val.as_u64(field, at)? as i64,
            3 => l.remaining_ttl = val.as_u64(field, at)? as i64,
            // Later etcd versions may add fields: skip them, as protobuf does.
            _ => {}
        }
    }
    if l.id != kid {
        return Err(RecordError::Invalid(format!(
            "lease record id {:x} differs from its key {:x}",
            l.id, kid
        )));
    }
    Ok(l)
}

/// An `alarm` bucket key: `AlarmMember` {memberID=1, alarm=2}.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AlarmRecord {
    pub member_id: u64,
    pub alarm: u64,
}

impl AlarmRecord {
    pub fn alarm_name(&self) -> &'static str {
        match self.alarm {
            0 => "NONE",
            1 => "NOSPACE",
            2 => "CORRUPT",
            _ => "UNKNOWN",
        }
    }
}

pub fn alarm_record(key: &[u8]) -> Result<AlarmRecord, RecordError> {
    let mut a = AlarmRecord {
        member_id: 0,
        alarm: 0,
    };
    for f in proto::fields(key) {
        let (field, val, at) = f?;
        match field {
            1 => a.member_id = val.as_u64(field, at)?,
            2 => a.alarm = val.as_u64(field, at)?,
            // Later etcd versions may add fields: skip them, as protobuf does.
            _ => {}
        }
    }
    Ok(a)
}

/// `authpb.User`: name=1, password=2, roles=3, options=4.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct UserRecord {
    pub name: String,
    pub password: String,
    pub roles: Vec<String>,
    pub no_password: bool,
}

fn utf8(b: &[u8]) -> Result<String, RecordError> {
    String::from_utf8(b.to_vec()).map_err(|_| RecordError::Invalid("string is not UTF-8".into()))
}

pub fn user_record(key: &[u8], v: &[u8]) -> Result<UserRecord, RecordError> {
    let mut u = UserRecord::default();
    for f in proto::fields(v) {
        let (field, val, at) = f?;
        match field {
            1 => u.name = utf8(val.as_bytes(field, at)?)?,
            2 => u.password = utf8(val.as_bytes(field, at)?)?,
            3 => u.roles.push(utf8(val.as_bytes(field, at)?)?),
            4 => {
                for g in proto::fields(val.as_bytes(field, at)?) {
                    let (gf, gv, gat) = g?;
                    if gf == 1 {
                        u.no_password = gv.as_u64(gf, gat)? != 0;
                    }
                }
            }
            // Later etcd versions may add fields: skip them, as protobuf does.
            _ => {}
        }
    }
    if u.name.as_bytes() != key {
        return Err(RecordError::Invalid(format!(
            "user record name {:?} differs from its key",
            u.name
        )));
    }
    Ok(u)
}

/// `authpb.Permission`: permType=1, key=2, range_end=3.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PermissionRecord {
    pub perm_type: u64,
    #[serde(with = "crate::etcd::records::b64")]
    pub key: Vec<u8>,
    #[serde(with = "crate::etcd::records::b64")]
    pub range_end: Vec<u8>,
}

impl PermissionRecord {
    pub fn perm_name(&self) -> &'static str {
        match self.perm_type {
            0 => "READ",
            1 => "WRITE",
            2 => "READWRITE",
            _ => "UNKNOWN",
        }
    }
}

/// `authpb.Role`: name=1, keyPermission=2.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RoleRecord {
    pub name: String,
    pub permissions: Vec<PermissionRecord>,
}

pub fn role_record(key: &[u8], v: &[u8]) -> Result<RoleRecord, RecordError> {
    let mut r = RoleRecord::default();
    for f in proto::fields(v) {
        let (field, val, at) = f?;
        match field {
            1 => r.name = utf8(val.as_bytes(field, at)?)?,
            2 => {
                let mut p = PermissionRecord::default();
                for g in proto::fields(val.as_bytes(field, at)?) {
                    let (gf, gv, gat) = g?;
                    match gf {
                        1 => p.perm_type = gv.as_u64(gf, gat)?,
                        2 => p.key = gv.as_bytes(gf, gat)?.to_vec(),
                        3 => p.range_end = gv.as_bytes(gf, gat)?.to_vec(),
                        _ => {
                            return Err(RecordError::Invalid(format!(
                                "unknown permission field {gf}"
                            )))
                        }
                    }
                }
                r.permissions.push(p);
            }
            // Later etcd versions may add fields: skip them, as protobuf does.
            _ => {}
        }
    }
    if r.name.as_bytes() != key {
        return Err(RecordError::Invalid(format!(
            "role record name {:?} differs from its key",
            r.name
        )));
    }
    Ok(r)
}

/// A `members` bucket entry (JSON of `membership.Member`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRecord {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

pub fn member_record(key: &[u8], v: &[u8]) -> Result<MemberRecord, RecordError> {
    let kid = std::str::from_utf8(key)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| RecordError::Invalid("member key is not a hex id".into()))?;
    let j: serde_json::Value =
        serde_json::from_slice(v).map_err(|e| RecordError::Invalid(format!("not JSON: {e}")))?;
    let strs = |k: &str| -> Vec<String> {
        j.get(k)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let id = j
        .get("id")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| RecordError::Invalid("member JSON has no numeric id".into()))?;
    if id != kid {
        return Err(RecordError::MemberKeyMismatch { json: id, key: kid });
    }
    Ok(MemberRecord {
        id,
        name: j
            .get("name")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_string(),
        peer_urls: strs("peerURLs"),
        client_urls: strs("clientURLs"),
        is_learner: j
            .get("isLearner")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    })
}

/// A hex member id key of `members_removed`.
pub fn removed_member(key: &[u8], v: &[u8]) -> Result<u64, RecordError> {
    if v != b"removed" {
        return Err(RecordError::Invalid("value is not \"removed\"".into()));
    }
    std::str::from_utf8(key)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| RecordError::Invalid("key is not a hex id".into()))
}

/// Check an `auth` bucket entry.
pub fn auth_record(key: &[u8], v: &[u8]) -> Result<(), RecordError> {
    match key {
        b"authEnabled" => match v {
            [0] | [1] => Ok(()),
            _ => Err(RecordError::Invalid(format!(
                "authEnabled is {v:02x?}, expected 00 or 01"
            ))),
        },
        b"authRevision" => be_u64(v).map(|_| ()),
        _ => Err(RecordError::UnknownKey),
    }
}

/// Check a `cluster` bucket entry.
pub fn cluster_record(key: &[u8], v: &[u8]) -> Result<(), RecordError> {
    match key {
        b"clusterVersion" => {
            let s = std::str::from_utf8(v).map_err(|_| RecordError::Invalid("not UTF-8".into()))?;
            let parts: Vec<&str> = s.split('.').collect();
            if parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
            {
                Ok(())
            } else {
                Err(RecordError::Invalid(format!(
                    "{s:?} is not a major.minor.patch version"
                )))
            }
        }
        b"downgrade" => serde_json::from_slice::<serde_json::Value>(v)
            .map(|_| ())
            .map_err(|e| RecordError::Invalid(format!("not JSON: {e}"))),
        _ => Err(RecordError::UnknownKey),
    }
}

/// Base64 (standard, padded) as etcdctl's JSON uses for bytes.
pub mod b64 {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(b: &[u8]) -> String {
        let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }

    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(b))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn vectors() {
            assert_eq!(super::encode(b""), "");
            assert_eq!(super::encode(b"f"), "Zg==");
            assert_eq!(super::encode(b"fo"), "Zm8=");
            assert_eq!(super::encode(b"foobar"), "Zm9vYmFy");
        }
    }
}
