//! Every field of the requests an `InternalRaftRequest` can carry, decoded
//! from a table of field numbers (etcd's `etcdserverpb`/`authpb`/`membershippb`
//! protocol facts) into a readable one-line summary and a JSON object.
//! Transactions decode their compares and nested operations, to a bounded
//! depth so a hostile entry cannot recurse without end.
#![forbid(unsafe_code)]

use crate::proto::{self, Value};
use serde_json::{Map, Value as Json};

/// How one field is shown.
#[derive(Clone, Copy)]
enum Kind {
    /// Key, value or name: text when printable, base64 otherwise.
    Bytes,
    /// Never shown (passwords, tokens): only its length.
    Secret,
    /// A signed number (proto `int64` written as two's complement varint).
    Signed,
    /// An id shown in hex, as etcdctl shows lease and member ids.
    Hex,
    Bool,
    /// An enum: names by value.
    Enum(&'static [&'static str]),
    /// A nested message.
    Msg(&'static [Field]),
    /// A `RequestOp` inside a transaction.
    Op,
    /// A nested `TxnRequest`.
    Txn,
}

/// One field of a request message: number, name, how it is shown, and
/// whether it repeats.
pub struct Field(u32, &'static str, Kind, bool);

const RANGE: &[Field] = &[
    Field(1, "key", Kind::Bytes, false),
    Field(2, "range_end", Kind::Bytes, false),
    Field(3, "limit", Kind::Signed, false),
    Field(4, "revision", Kind::Signed, false),
    Field(
        5,
        "sort_order",
        Kind::Enum(&["NONE", "ASCEND", "DESCEND"]),
        false,
    ),
    Field(
        6,
        "sort_target",
        Kind::Enum(&["KEY", "VERSION", "CREATE", "MOD", "VALUE"]),
        false,
    ),
    Field(7, "serializable", Kind::Bool, false),
    Field(8, "keys_only", Kind::Bool, false),
    Field(9, "count_only", Kind::Bool, false),
    Field(10, "min_mod_revision", Kind::Signed, false),
    Field(11, "max_mod_revision", Kind::Signed, false),
    Field(12, "min_create_revision", Kind::Signed, false),
    Field(13, "max_create_revision", Kind::Signed, false),
];
const PUT: &[Field] = &[
    Field(1, "key", Kind::Bytes, false),
    Field(2, "value", Kind::Bytes, false),
    Field(3, "lease", Kind::Hex, false),
    Field(4, "prev_kv", Kind::Bool, false),
    Field(5, "ignore_value", Kind::Bool, false),
    Field(6, "ignore_lease", Kind::Bool, false),
];
const DELETE_RANGE: &[Field] = &[
    Field(1, "key", Kind::Bytes, false),
    Field(2, "range_end", Kind::Bytes, false),
    Field(3, "prev_kv", Kind::Bool, false),
];
const COMPARE: &[Field] = &[
    Field(
        1,
        "result",
        Kind::Enum(&["EQUAL", "GREATER", "LESS", "NOT_EQUAL"]),
        false,
    ),
    Field(
        2,
        "target",
        Kind::Enum(&["VERSION", "CREATE", "MOD", "VALUE", "LEASE"]),
        false,
    ),
    Field(3, "key", Kind::Bytes, false),
    Field(4, "version", Kind::Signed, false),
    Field(5, "create_revision", Kind::Signed, false),
    Field(6, "mod_revision", Kind::Signed, false),
    Field(7, "value", Kind::Bytes, false),
    Field(8, "lease", Kind::Hex, false),
    Field(64, "range_end", Kind::Bytes, false),
];
const TXN: &[Field] = &[
    Field(1, "compare", Kind::Msg(COMPARE), true),
    Field(2, "success", Kind::Op, true),
    Field(3, "failure", Kind::Op, true),
];
const COMPACTION: &[Field] = &[
    Field(1, "revision", Kind::Signed, false),
    Field(2, "physical", Kind::Bool, false),
];
const LEASE_GRANT: &[Field] = &[
    Field(1, "ttl", Kind::Signed, false),
    Field(2, "id", Kind::Hex, false),
];
const LEASE_REVOKE: &[Field] = &[Field(1, "id", Kind::Hex, false)];
const CHECKPOINT: &[Field] = &[
    Field(1, "id", Kind::Hex, false),
    Field(2, "remaining_ttl", Kind::Signed, false),
];
const LEASE_CHECKPOINT: &[Field] = &[Field(1, "checkpoints", Kind::Msg(CHECKPOINT), true)];
const ALARM: &[Field] = &[
    Field(
        1,
        "action",
        Kind::Enum(&["GET", "ACTIVATE", "DEACTIVATE"]),
        false,
    ),
    Field(2, "member_id", Kind::Hex, false),
    Field(
        3,
        "alarm",
        Kind::Enum(&["NONE", "NOSPACE", "CORRUPT"]),
        false,
    ),
];
const EMPTY: &[Field] = &[];
const AUTHENTICATE: &[Field] = &[
    Field(1, "name", Kind::Bytes, false),
    Field(2, "password", Kind::Secret, false),
    Field(3, "simple_token", Kind::Secret, false),
];
const USER_ADD_OPTIONS: &[Field] = &[Field(1, "no_password", Kind::Bool, false)];
const USER_ADD: &[Field] = &[
    Field(1, "name", Kind::Bytes, false),
    Field(2, "password", Kind::Secret, false),
    Field(3, "options", Kind::Msg(USER_ADD_OPTIONS), false),
    Field(4, "hashed_password", Kind::Secret, false),
];
const NAME_ONLY: &[Field] = &[Field(1, "name", Kind::Bytes, false)];
const ROLE_ONLY: &[Field] = &[Field(1, "role", Kind::Bytes, false)];
const CHANGE_PASSWORD: &[Field] = &[
    Field(1, "name", Kind::Bytes, false),
    Field(2, "password", Kind::Secret, false),
    Field(3, "hashed_password", Kind::Secret, false),
];
const GRANT_ROLE: &[Field] = &[
    Field(1, "user", Kind::Bytes, false),
    Field(2, "role", Kind::Bytes, false),
];
const REVOKE_ROLE: &[Field] = &[
    Field(1, "name", Kind::Bytes, false),
    Field(2, "role", Kind::Bytes, false),
];
const PERMISSION: &[Field] = &[
    Field(
        1,
        "perm_type",
        Kind::Enum(&["READ", "WRITE", "READWRITE"]),
        false,
    ),
    Field(2, "key", Kind::Bytes, false),
    Field(3, "range_end", Kind::Bytes, false),
];
const GRANT_PERMISSION: &[Field] = &[
    Field(1, "name", Kind::Bytes, false),
    Field(2, "perm", Kind::Msg(PERMISSION), false),
];
const REVOKE_PERMISSION: &[Field] = &[
    Field(1, "role", Kind::Bytes, false),
    Field(2, "key", Kind::Bytes, false),
    Field(3, "range_end", Kind::Bytes, false),
];
const VERSION: &[Field] = &[Field(1, "version", Kind::Bytes, false)];
const MEMBER_ATTRIBUTES: &[Field] = &[
    Field(1, "name", Kind::Bytes, false),
    Field(2, "client_urls", Kind::Bytes, true),
];
const MEMBER_ATTR_SET: &[Field] = &[
    Field(1, "member_id", Kind::Hex, false),
    Field(2, "member_attributes", Kind::Msg(MEMBER_ATTRIBUTES), false),
];
const DOWNGRADE_INFO: &[Field] = &[
    Field(1, "enabled", Kind::Bool, false),
    Field(2, "version", Kind::Bytes, false),
];
const REQUEST_OP: &[Field] = &[
    Field(1, "range", Kind::Msg(RANGE), false),
    Field(2, "put", Kind::Msg(PUT), false),
    Field(3, "delete_range", Kind::Msg(DELETE_RANGE), false),
    Field(4, "txn", Kind::Txn, false),
];

/// The request messages of `InternalRaftRequest`, by its field number.
pub fn request(field: u32) -> Option<(&'static str, &'static [Field])> {
    Some(match field {
        3 => ("range", RANGE),
        4 => ("put", PUT),
        5 => ("delete_range", DELETE_RANGE),
        6 => ("txn", TXN),
        7 => ("compaction", COMPACTION),
        8 => ("lease_grant", LEASE_GRANT),
        9 => ("lease_revoke", LEASE_REVOKE),
        10 => ("alarm", ALARM),
        11 => ("lease_checkpoint", LEASE_CHECKPOINT),
        1000 => ("auth_enable", EMPTY),
        1011 => ("auth_disable", EMPTY),
        1012 => ("authenticate", AUTHENTICATE),
        1013 => ("auth_status", EMPTY),
        1100 => ("auth_user_add", USER_ADD),
        1101 => ("auth_user_delete", NAME_ONLY),
        1102 => ("auth_user_get", NAME_ONLY),
        1103 => ("auth_user_change_password", CHANGE_PASSWORD),
        1104 => ("auth_user_grant_role", GRANT_ROLE),
        1105 => ("auth_user_revoke_role", REVOKE_ROLE),
        1106 => ("auth_user_list", EMPTY),
        1107 => ("auth_role_list", EMPTY),
        1200 => ("auth_role_add", NAME_ONLY),
        1201 => ("auth_role_delete", ROLE_ONLY),
        1202 => ("auth_role_get", ROLE_ONLY),
        1203 => ("auth_role_grant_permission", GRANT_PERMISSION),
        1204 => ("auth_role_revoke_permission", REVOKE_PERMISSION),
        1300 => ("cluster_version_set", VERSION),
        1301 => ("cluster_member_attr_set", MEMBER_ATTR_SET),
        1302 => ("downgrade_info_set", DOWNGRADE_INFO),
        9900 => ("downgrade_version_test", EMPTY),
        _ => return None,
    })
}

/// Deepest transaction nesting decoded; etcd's own limit is far lower in
/// practice (`--max-txn-ops` bounds width, not depth).
const MAX_DEPTH: usize = 16;

/// A decoded request: summary text and JSON object.
pub struct Decoded {
    pub summary: String,
    pub fields: Json,
}

/// Decode a request body with its table; `None` when it is not a complete,
/// well-typed message (etcd's unmarshal would fail).
pub fn decode(table: &'static [Field], body: &[u8]) -> Option<Decoded> {
    let (summary, fields) = message(table, body, 0)?;
    Some(Decoded { summary, fields })
}

fn message(table: &'static [Field], body: &[u8], depth: usize) -> Option<(String, Json)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut obj = Map::new();
    let mut parts: Vec<String> = Vec::new();
    for f in proto::fields(body) {
        let (n, v, _) = f.ok()?;
        let Some(field) = table.iter().find(|f| f.0 == n) else {
            // Unknown fields are skipped by etcd's decoder; keep them visible.
            let key = format!("field_{n}");
            parts.push(format!("{key}=?"));
            obj.insert(key, Json::String(raw_text(&v)));
            continue;
        };
        let (text, json) = value(field, &v, depth)?;
        parts.push(match field.2 {
            Kind::Msg(_) | Kind::Op | Kind::Txn => format!("{}=[{text}]", field.1),
            _ => format!("{}={text}", field.1),
        });
        if field.3 {
            match obj
                .entry(field.1)
                .or_insert_with(|| Json::Array(Vec::new()))
            {
                Json::Array(a) => a.push(json),
                other => *other = Json::Array(vec![json]),
            }
        } else {
            obj.insert(field.1.to_string(), json);
        }
    }
    if std::ptr::eq(table, COMPARE) {
        // proto3 leaves zero enums unwritten; a compare reads badly without
        // its operator and target, so name the defaults.
        for (i, f) in table.iter().enumerate().take(2) {
            if let (Kind::Enum(names), false) = (f.2, obj.contains_key(f.1)) {
                let name = names.first().copied().unwrap_or("?");
                parts.insert(i, format!("{}={name}", f.1));
                obj.insert(f.1.to_string(), Json::String(name.to_string()));
            }
        }
    }
    Some((parts.join(" "), Json::Object(obj)))
}

fn raw_text(v: &Value<'_>) -> String {
    match v {
        Value::Varint(x) | Value::Fixed64(x) => x.to_string(),
        Value::Fixed32(x) => x.to_string(),
        Value::Bytes(b) => super::entry::readable(b),
    }
}

fn value(field: &Field, v: &Value<'_>, depth: usize) -> Option<(String, Json)> {
    Some(match (field.2, v) {
        (Kind::Bytes, Value::Bytes(b)) => {
            let t = super::entry::readable(b);
            (t.clone(), Json::String(t))
        }
        (Kind::Secret, Value::Bytes(b)) => {
            let t = format!("<{} bytes, not shown>", b.len());
            (t.clone(), Json::String(t))
        }
        (Kind::Signed, Value::Varint(x)) => {
            let s = *x as i64;
            (s.to_string(), Json::from(s))
        }
        (Kind::Hex, Value::Varint(x)) => {
            let t = format!("{x:x}");
            (t.clone(), Json::String(t))
        }
        (Kind::Bool, Value::Varint(x)) => {
            let b = *x != 0;
            (b.to_string(), Json::Bool(b))
        }
        (Kind::Enum(names), Value::Varint(x)) => {
            let t = usize::try_from(*x)
                .ok()
                .and_then(|i| names.get(i))
                .map_or_else(|| format!("UNKNOWN({x})"), |s| (*s).to_string());
            (t.clone(), Json::String(t))
        }
        (Kind::Msg(t), Value::Bytes(b)) => message(t, b, depth + 1)?,
        (Kind::Txn, Value::Bytes(b)) => message(TXN, b, depth + 1)?,
        (Kind::Op, Value::Bytes(b)) => {
            // A RequestOp holds one request; show it as "<name> <fields>".
            let mut obj = Map::new();
            let mut text = Vec::new();
            for f in proto::fields(b) {
                let (n, v, _) = f.ok()?;
                let op = REQUEST_OP.iter().find(|f| f.0 == n)?;
                let (t, j) = value(op, &v, depth + 1)?;
                text.push(format!("{} {t}", op.1));
                obj.insert(op.1.to_string(), j);
            }
            (text.join("; "), Json::Object(obj))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u32, wire: u8, out: &mut Vec<u8>) {
        varint(u64::from(n) << 3 | u64::from(wire), out);
    }
    fn varint(mut x: u64, out: &mut Vec<u8>) {
        while x >= 0x80 {
            out.push((x as u8) | 0x80);
            x >>= 7;
        }
        out.push(x as u8);
    }
    fn bytes(n: u32, b: &[u8], out: &mut Vec<u8>) {
        tag(n, 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
    fn num(n: u32, x: u64, out: &mut Vec<u8>) {
        tag(n, 0, out);
        varint(x, out);
    }

    #[test]
    fn txn_with_compare_and_nested_ops() {
        let mut cmp = Vec::new();
        num(1, 0, &mut cmp); // EQUAL (zero is not written by etcd, but accepted)
        num(2, 2, &mut cmp); // MOD
        bytes(3, b"/registry/x", &mut cmp);
        num(6, 5, &mut cmp);
        let mut put = Vec::new();
        bytes(1, b"/registry/x", &mut put);
        bytes(2, b"v", &mut put);
        num(3, 0x1234, &mut put);
        let mut op = Vec::new();
        bytes(2, &put, &mut op);
        let mut get = Vec::new();
        bytes(1, b"/registry/x", &mut get);
        let mut op2 = Vec::new();
        bytes(1, &get, &mut op2);
        let mut txn = Vec::new();
        bytes(1, &cmp, &mut txn);
        bytes(2, &op, &mut txn);
        bytes(3, &op2, &mut txn);
        let d = decode(TXN, &txn).expect("decodes");
        assert_eq!(
            d.summary,
            "compare=[result=EQUAL target=MOD key=/registry/x mod_revision=5] \
             success=[put key=/registry/x value=v lease=1234] failure=[range key=/registry/x]"
        );
        assert_eq!(d.fields["compare"][0]["mod_revision"], 5);
        assert_eq!(d.fields["success"][0]["put"]["lease"], "1234");
        assert_eq!(d.fields["failure"][0]["range"]["key"], "/registry/x");
    }

    #[test]
    fn passwords_are_not_shown_and_deep_nesting_stops() {
        let mut add = Vec::new();
        bytes(1, b"root", &mut add);
        bytes(2, b"hunter2", &mut add);
        let d = decode(USER_ADD, &add).expect("decodes");
        assert!(!d.summary.contains("hunter2"), "{}", d.summary);
        // A txn nested far deeper than MAX_DEPTH is refused, not recursed.
        let mut t = Vec::new();
        for _ in 0..40 {
            let mut op = Vec::new();
            bytes(4, &t, &mut op);
            let mut txn = Vec::new();
            bytes(2, &op, &mut txn);
            t = txn;
        }
        assert!(decode(TXN, &t).is_none());
    }

    #[test]
    fn wrong_wire_type_is_not_a_request() {
        let mut put = Vec::new();
        num(1, 7, &mut put); // key as a varint
        assert!(decode(PUT, &put).is_none());
    }
}
