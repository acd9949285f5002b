//! Membership in the raft log applied to the `members` and
//! `members_removed` buckets as etcd's cluster store saves it: a conf
//! change adding a member (or learner) stores the member its context
//! carries, under the member id in hex; a removal deletes it and marks the
//! id removed; an update replaces its peer URLs; the v2 attribute requests
//! of 3.4 set its name and client URLs. (`snapshot restore` writes the
//! restored member's own membership; this keeps the rebuilt db's record
//! right for anything that reads it first.)
#![forbid(unsafe_code)]

use super::state::Buckets;
use crate::proto;
use serde_json::Value;

fn key(id: u64) -> Vec<u8> {
    format!("{id:x}").into_bytes()
}

/// Apply a `raftpb.ConfChange` (ID=1, Type=2, NodeID=3, Context=4);
/// false when it is not one etcd would apply.
pub fn conf_change(b: &mut Buckets, data: &[u8]) -> bool {
    let Some(fs) = proto::message(data) else {
        return false;
    };
    let (kind, id) = (proto::last_varint(&fs, 2), proto::last_varint(&fs, 3));
    let context = proto::last_bytes(&fs, 4);
    if id == 0 {
        return false;
    }
    match kind {
        // Add a member or a learner: the context is the member as etcd
        // marshals it, which is what it stores.
        0 | 3 => {
            if serde_json::from_slice::<Value>(&context).is_err() {
                return false;
            }
            b.entry(b"members".to_vec())
                .or_default()
                .insert(key(id), context.into());
        }
        1 => {
            b.entry(b"members".to_vec()).or_default().remove(&key(id));
            b.entry(b"members_removed".to_vec())
                .or_default()
                .insert(key(id), b"removed".to_vec().into());
        }
        2 => {
            let Ok(new) = serde_json::from_slice::<Value>(&context) else {
                return false;
            };
            return update(b, id, |m| {
                m.insert(
                    "peerURLs".into(),
                    new.get("peerURLs").cloned().unwrap_or(Value::Null),
                );
            });
        }
        _ => return false,
    }
    true
}

/// A 3.4 v2 request `PUT /0/members/<hex id>/attributes` with
/// `{"name":…,"clientURLs":[…]}`; false when `path` is not one.
pub fn attributes(b: &mut Buckets, path: &str, value: &str) -> bool {
    let Some(hex) = path
        .strip_prefix("/0/members/")
        .and_then(|p| p.strip_suffix("/attributes"))
    else {
        return false;
    };
    let (Ok(id), Ok(attrs)) = (
        u64::from_str_radix(hex, 16),
        serde_json::from_str::<Value>(value),
    ) else {
        return false;
    };
    update(b, id, |m| {
        for field in ["name", "clientURLs"] {
            match attrs.get(field) {
                Some(v) if !v.is_null() && v != "" => {
                    m.insert(field.into(), v.clone());
                }
                _ => {
                    m.remove(field);
                }
            }
        }
    })
}

/// Change a stored member's JSON in place (field order kept, new fields
/// last, as Go marshals the member).
fn update(b: &mut Buckets, id: u64, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> bool {
    let members = b.entry(b"members".to_vec()).or_default();
    let Some(Ok(Value::Object(mut m))) = members
        .get(&key(id))
        .map(|v| serde_json::from_slice::<Value>(v))
    else {
        return false;
    };
    f(&mut m);
    match serde_json::to_vec(&Value::Object(m)) {
        Ok(v) => {
            members.insert(key(id), v.into());
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(kind: u64, id: u64, context: &[u8]) -> Vec<u8> {
        let mut v = vec![0x10, kind as u8, 0x18];
        let mut x = id;
        while x >= 0x80 {
            v.push((x as u8) | 0x80);
            x >>= 7;
        }
        v.push(x as u8);
        v.push(0x22);
        v.push(context.len() as u8);
        v.extend_from_slice(context);
        v
    }

    #[test]
    fn add_update_attributes_remove() {
        let mut b = Buckets::new();
        let add = cc(0, 0xabc, br#"{"id":2748,"peerURLs":["http://a:2380"]}"#);
        assert!(conf_change(&mut b, &add));
        assert!(attributes(
            &mut b,
            "/0/members/abc/attributes",
            r#"{"name":"n1","clientURLs":["http://a:2379"]}"#
        ));
        assert!(conf_change(
            &mut b,
            &cc(2, 0xabc, br#"{"id":2748,"peerURLs":["http://b:2380"]}"#)
        ));
        assert_eq!(
            &*b[b"members".as_slice()][b"abc".as_slice()],
            br#"{"id":2748,"peerURLs":["http://b:2380"],"name":"n1","clientURLs":["http://a:2379"]}"#
        );
        assert!(conf_change(&mut b, &cc(1, 0xabc, b"")));
        assert!(b[b"members".as_slice()].is_empty());
        assert_eq!(
            &*b[b"members_removed".as_slice()][b"abc".as_slice()],
            b"removed"
        );
        assert!(!attributes(&mut b, "/0/version", "3.4.0"));
    }
}
