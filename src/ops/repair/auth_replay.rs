//! The auth requests of the raft log applied to the `authUsers`,
//! `authRoles` and `auth` buckets as etcd's auth store applies them: users
//! and roles added and deleted, passwords changed (hashed with bcrypt at
//! apply time when the entry carries the password itself, as 3.4 does),
//! roles granted and revoked (kept sorted), permissions granted (an existing
//! one for the same range changes type, a new one is inserted in key order)
//! and revoked; every change moves the auth revision on by one. What etcd
//! refuses (a user that exists, a role that does not, root's own role
//! while auth is on) changes nothing.
#![forbid(unsafe_code)]

use super::state::{auth_enabled, auth_revision, Buckets};
use crate::proto::{self, Value};

/// bcrypt cost etcd uses by default.
const BCRYPT_COST: u32 = 10;

fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    if b.is_empty() {
        return;
    }
    put_varint(out, u64::from(field) << 3 | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `authpb.User`: name=1, password=2, roles=3, options=4.
struct User {
    name: Vec<u8>,
    password: Vec<u8>,
    roles: Vec<Vec<u8>>,
    options: Vec<u8>,
}

impl User {
    fn decode(b: &[u8]) -> Option<User> {
        let fs = proto::message(b)?;
        Some(User {
            name: proto::last_bytes(&fs, 1),
            password: proto::last_bytes(&fs, 2),
            roles: fs
                .iter()
                .filter_map(|(n, v)| match v {
                    Value::Bytes(r) if *n == 3 => Some(r.to_vec()),
                    _ => None,
                })
                .collect(),
            options: proto::last_bytes(&fs, 4),
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, 1, &self.name);
        put_bytes(&mut out, 2, &self.password);
        for r in &self.roles {
            put_bytes(&mut out, 3, r);
        }
        put_bytes(&mut out, 4, &self.options);
        out
    }
}

/// `authpb.Role`: name=1, keyPermission=2 (`Permission`: permType=1,
/// key=2, range_end=3).
struct Role {
    name: Vec<u8>,
    perms: Vec<(u64, Vec<u8>, Vec<u8>)>,
}

impl Role {
    fn decode(b: &[u8]) -> Option<Role> {
        let fs = proto::message(b)?;
        let mut perms = Vec::new();
        for (n, v) in &fs {
            if let (2, Value::Bytes(p)) = (n, v) {
                let pf = proto::message(p)?;
                perms.push((
                    proto::last_varint(&pf, 1),
                    proto::last_bytes(&pf, 2),
                    proto::last_bytes(&pf, 3),
                ));
            }
        }
        Some(Role {
            name: proto::last_bytes(&fs, 1),
            perms,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, 1, &self.name);
        for (t, k, e) in &self.perms {
            let mut p = Vec::new();
            if *t != 0 {
                put_varint(&mut p, 1 << 3);
                put_varint(&mut p, *t);
            }
            put_bytes(&mut p, 2, k);
            put_bytes(&mut p, 3, e);
            put_varint(&mut out, 2 << 3 | 2);
            put_varint(&mut out, p.len() as u64);
            out.extend_from_slice(&p);
        }
        out
    }
}

/// 3.5+ entries carry the bcrypt hash base64-encoded (etcd's server encodes
/// it before proposing, the auth store decodes it at apply; an undecodable
/// one fails the request).
fn stored_hash(hashed: &[u8]) -> Option<Vec<u8>> {
    crate::k8s::crypt::b64_decode(std::str::from_utf8(hashed).ok()?)
}

fn hash(password: &[u8]) -> Option<Vec<u8>> {
    let h = bcrypt::hash_with_result(password, BCRYPT_COST).ok()?;
    Some(h.format_for_version(bcrypt::Version::TwoA).into_bytes())
}

/// Move the auth revision on by one.
pub fn bump_revision(b: &mut Buckets) {
    let rev = auth_revision(b);
    b.entry(b"auth".to_vec()).or_default().insert(
        b"authRevision".to_vec(),
        (rev + 1).to_be_bytes().to_vec().into(),
    );
}

/// Apply one auth request (its `InternalRaftRequest` field number and
/// body); `None` when etcd refuses it (nothing changed).
pub fn apply(b: &mut Buckets, field: u32, body: &[u8]) -> Option<()> {
    let fs = proto::message(body)?;
    let on = auth_enabled(b);
    let user = |b: &Buckets, name: &[u8]| {
        b.get(b"authUsers".as_slice())
            .and_then(|u| u.get(name))
            .and_then(|v| User::decode(v))
    };
    let role = |b: &Buckets, name: &[u8]| {
        b.get(b"authRoles".as_slice())
            .and_then(|r| r.get(name))
            .and_then(|v| Role::decode(v))
    };
    let put_user = |b: &mut Buckets, u: &User| {
        b.entry(b"authUsers".to_vec())
            .or_default()
            .insert(u.name.clone(), u.encode().into());
    };
    let put_role = |b: &mut Buckets, r: &Role| {
        b.entry(b"authRoles".to_vec())
            .or_default()
            .insert(r.name.clone(), r.encode().into());
    };
    match field {
        // user_add: name=1, password=2, options=3, hashed_password=4.
        1100 => {
            let name = proto::last_bytes(&fs, 1);
            if name.is_empty() || user(b, &name).is_some() {
                return None;
            }
            let options = proto::last_bytes(&fs, 3);
            let no_password =
                proto::message(&options).is_some_and(|o| proto::last_varint(&o, 1) != 0);
            let hashed = proto::last_bytes(&fs, 4);
            let password = if no_password {
                Vec::new()
            } else if !hashed.is_empty() {
                stored_hash(&hashed)?
            } else {
                hash(&proto::last_bytes(&fs, 2))?
            };
            put_user(
                b,
                &User {
                    name,
                    password,
                    roles: Vec::new(),
                    options,
                },
            );
        }
        // user_delete: name=1.
        1101 => {
            let name = proto::last_bytes(&fs, 1);
            if (on && name == b"root") || user(b, &name).is_none() {
                return None;
            }
            b.entry(b"authUsers".to_vec()).or_default().remove(&name);
        }
        // user_change_password: name=1, password=2, hashed_password=3.
        1103 => {
            let mut u = user(b, &proto::last_bytes(&fs, 1))?;
            let hashed = proto::last_bytes(&fs, 3);
            u.password = if hashed.is_empty() {
                hash(&proto::last_bytes(&fs, 2))?
            } else {
                stored_hash(&hashed)?
            };
            put_user(b, &u);
        }
        // user_grant_role: user=1, role=2.
        1104 => {
            let mut u = user(b, &proto::last_bytes(&fs, 1))?;
            let r = proto::last_bytes(&fs, 2);
            if r != b"root" && role(b, &r).is_none() {
                return None;
            }
            match u.roles.binary_search(&r) {
                Ok(_) => return Some(()),
                Err(at) => u.roles.insert(at, r),
            }
            put_user(b, &u);
        }
        // user_revoke_role: name=1, role=2.
        1105 => {
            let name = proto::last_bytes(&fs, 1);
            let r = proto::last_bytes(&fs, 2);
            if on && name == b"root" && r == b"root" {
                return None;
            }
            let mut u = user(b, &name)?;
            let at = u.roles.iter().position(|x| *x == r)?;
            u.roles.remove(at);
            put_user(b, &u);
        }
        // role_add: name=1.
        1200 => {
            let name = proto::last_bytes(&fs, 1);
            if name.is_empty() || role(b, &name).is_some() {
                return None;
            }
            put_role(
                b,
                &Role {
                    name,
                    perms: Vec::new(),
                },
            );
        }
        // role_delete: role=1; users lose it.
        1201 => {
            let r = proto::last_bytes(&fs, 1);
            if (on && r == b"root") || role(b, &r).is_none() {
                return None;
            }
            b.entry(b"authRoles".to_vec()).or_default().remove(&r);
            let holders: Vec<User> = b
                .get(b"authUsers".as_slice())
                .map(|us| {
                    us.values()
                        .filter_map(|v| User::decode(v))
                        .filter(|u| u.roles.contains(&r))
                        .collect()
                })
                .unwrap_or_default();
            for mut u in holders {
                u.roles.retain(|x| *x != r);
                put_user(b, &u);
            }
        }
        // role_grant_permission: name=1, perm=2.
        1203 => {
            let mut r = role(b, &proto::last_bytes(&fs, 1))?;
            let p = proto::message(fs.iter().find_map(|(n, v)| match v {
                Value::Bytes(p) if *n == 2 => Some(*p),
                _ => None,
            })?)?;
            let (t, k, e) = (
                proto::last_varint(&p, 1),
                proto::last_bytes(&p, 2),
                proto::last_bytes(&p, 3),
            );
            match r.perms.iter_mut().find(|(_, pk, pe)| *pk == k && *pe == e) {
                Some(existing) => existing.0 = t,
                None => {
                    let at = r
                        .perms
                        .iter()
                        .position(|(_, pk, pe)| (pk, pe) > (&k, &e))
                        .unwrap_or(r.perms.len());
                    r.perms.insert(at, (t, k, e));
                }
            }
            put_role(b, &r);
        }
        // role_revoke_permission: role=1, key=2, range_end=3.
        1204 => {
            let mut r = role(b, &proto::last_bytes(&fs, 1))?;
            let (k, e) = (proto::last_bytes(&fs, 2), proto::last_bytes(&fs, 3));
            let at = r
                .perms
                .iter()
                .position(|(_, pk, pe)| *pk == k && *pe == e)?;
            r.perms.remove(at);
            put_role(b, &r);
        }
        _ => return None,
    }
    bump_revision(b);
    Some(())
}

/// Whether auth lets `user` (with the request's auth revision `rev`) read
/// or write `[key, end)` (no end: one key; `\0`: every key from `key` on),
/// as etcd's auth store checks at apply: no user / revision 0 is refused,
/// a revision older than the store's is refused, root may do anything,
/// otherwise the union of the user's roles' permissions of the right type
/// must cover the range.
pub fn op_permitted(
    b: &Buckets,
    user: &[u8],
    rev: u64,
    key: &[u8],
    end: &[u8],
    write: bool,
) -> bool {
    if !auth_enabled(b) {
        return true;
    }
    if rev == 0 || rev < auth_revision(b) {
        return false;
    }
    let Some(u) = b
        .get(b"authUsers".as_slice())
        .and_then(|m| m.get(user))
        .and_then(|v| User::decode(v))
    else {
        return false;
    };
    if u.roles.iter().any(|r| r == b"root") {
        return true;
    }
    // Intervals [start, stop) with an empty stop meaning no upper bound.
    let mut ivls: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for name in &u.roles {
        let Some(role) = b
            .get(b"authRoles".as_slice())
            .and_then(|m| m.get(name))
            .and_then(|v| Role::decode(v))
        else {
            continue;
        };
        for (t, k, e) in role.perms {
            // READ=0, WRITE=1, READWRITE=2.
            let fits = t == 2 || (write && t == 1) || (!write && t == 0);
            if !fits {
                continue;
            }
            let stop = if e.is_empty() {
                point_end(&k)
            } else if e == [0] {
                Vec::new()
            } else {
                e
            };
            ivls.push((k, stop));
        }
    }
    if end.is_empty() {
        // A point: some permission's interval holds the key.
        return ivls
            .iter()
            .any(|(s, e)| key >= s.as_slice() && (e.is_empty() || key < e.as_slice()));
    }
    let want_end: &[u8] = if end == [0] { &[] } else { end };
    covered(ivls, key, want_end)
}

fn point_end(k: &[u8]) -> Vec<u8> {
    let mut e = k.to_vec();
    e.push(0);
    e
}

/// Whether the union of `ivls` covers `[from, to)` (empty `to`: unbounded).
fn covered(mut ivls: Vec<(Vec<u8>, Vec<u8>)>, from: &[u8], to: &[u8]) -> bool {
    ivls.sort();
    let mut reach = from.to_vec();
    for (s, e) in ivls {
        if s.as_slice() > reach.as_slice() {
            break;
        }
        if e.is_empty() {
            return true;
        }
        if e > reach {
            reach = e;
        }
        if !to.is_empty() && reach.as_slice() >= to {
            return true;
        }
    }
    !to.is_empty() && reach.as_slice() >= to
}

/// Whether `user` may change auth (etcd's admin check): always while auth
/// is off; otherwise a user that exists and has the root role.
pub fn admin_permitted(b: &Buckets, user: &[u8]) -> bool {
    if !auth_enabled(b) {
        return true;
    }
    b.get(b"authUsers".as_slice())
        .and_then(|m| m.get(user))
        .and_then(|v| User::decode(v))
        .is_some_and(|u| u.roles.iter().any(|r| r == b"root"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(parts: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, b) in parts {
            put_bytes(&mut out, *n, b);
        }
        out
    }

    #[test]
    fn users_roles_and_permissions() {
        let mut b = Buckets::new();
        assert!(apply(&mut b, 1200, &msg(&[(1, b"reader")])).is_some());
        assert!(apply(&mut b, 1200, &msg(&[(1, b"reader")])).is_none());
        let perm = {
            let mut p = vec![0x08, 0x00];
            put_bytes(&mut p, 2, b"/app/");
            put_bytes(&mut p, 3, b"/app0");
            p
        };
        let mut grant = msg(&[(1, b"reader")]);
        put_bytes(&mut grant, 2, &perm);
        assert!(apply(&mut b, 1203, &grant).is_some());
        // No password hashing here: the entry carries the hash (3.5 form).
        // base64 of "$2a$10$hash", as 3.5 proposes it.
        assert!(apply(
            &mut b,
            1100,
            &msg(&[(1, b"alice"), (4, b"JDJhJDEwJGhhc2g=")])
        )
        .is_some());
        assert!(apply(&mut b, 1104, &msg(&[(1, b"alice"), (2, b"reader")])).is_some());
        assert!(apply(&mut b, 1104, &msg(&[(1, b"alice"), (2, b"missing")])).is_none());
        let alice = User::decode(&b[b"authUsers".as_slice()][b"alice".as_slice()]).unwrap();
        assert_eq!(alice.roles, vec![b"reader".to_vec()]);
        assert_eq!(alice.password, b"$2a$10$hash");
        let reader = crate::etcd::records::role_record(
            b"reader",
            &b[b"authRoles".as_slice()][b"reader".as_slice()],
        )
        .unwrap();
        assert_eq!(reader.permissions.len(), 1);
        assert!(apply(&mut b, 1201, &msg(&[(1, b"reader")])).is_some());
        let alice = User::decode(&b[b"authUsers".as_slice()][b"alice".as_slice()]).unwrap();
        assert!(alice.roles.is_empty(), "a deleted role leaves its users");
        let rev = &b[b"auth".as_slice()][b"authRevision".as_slice()];
        assert_eq!(&**rev, &5u64.to_be_bytes());
    }
}
