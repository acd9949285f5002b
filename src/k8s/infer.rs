//! Infers the schema of stored Kubernetes kinds from pairs of the same
//! object in two encodings: the protobuf a kube-apiserver stores and the
//! JSON it serves (Kubernetes' round-trip test data holds such pairs for
//! every kind). Each protobuf field is matched to the JSON member holding
//! the same value: strings by text, integers by number (the test data sets
//! each integer to its field number), bytes by base64, timestamps by their
//! RFC 3339 form, quantities and int-or-strings by their inner value,
//! RawExtension by its JSON, maps by their entries, nested messages by
//! matching their own fields, inline members by matching the parent's
//! remaining keys. Fields that match several members (booleans: the test
//! data sets them all to true) are resolved by `bool` facts, else by JSON
//! order, and reported. Go facts (pointer, omitempty) that values cannot
//! show come from `facts.txt`.
#![forbid(unsafe_code)]

use super::schema::{Field, Message, Schema, Ty};
use super::time;
use crate::proto::{self, Value};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap, HashSet};

/// An inferred message type, as a tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IMsg {
    pub fields: BTreeMap<u32, IField>,
}

impl IMsg {
    /// Numbers of the fields no JSON member named.
    fn unnamed_numbers(&self) -> Vec<u32> {
        self.fields
            .iter()
            .filter(|(_, f)| f.unnamed())
            .map(|(n, _)| *n)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IField {
    pub json: String,
    pub ty: ITy,
    pub repeated: bool,
    pub inline: bool,
    pub ptr: bool,
    pub always: bool,
    /// Every JSON member this field's values matched (several when test
    /// values collide, as booleans do); merges across releases intersect
    /// them. Empty for a field whose zero value the JSON left out: its name
    /// comes from another pair, or from facts.
    pub alts: Vec<String>,
    /// The type each candidate's JSON value gave (a value of 1 reads as
    /// `true` for a bool member and `1` for a number): a rename takes it.
    pub alt_types: BTreeMap<String, ITy>,
    /// Whether each candidate's JSON value was a list.
    pub alt_repeated: BTreeMap<String, bool>,
    /// Candidates whose JSON printed this field's zero value: such a field
    /// prints whenever it is on the wire (a pointer, or no omitempty).
    pub zero_shown: Vec<String>,
    /// The oldest release whose own test object has the field on the wire
    /// (round-tripped objects are written by a newer release: they do not
    /// count); `None` when only those saw it.
    pub since: Option<u16>,
    /// The type was read from a JSON value (not guessed from a zero on the
    /// wire that nothing showed).
    pub typed: bool,
}

impl IField {
    fn new(json: String, ty: ITy, repeated: bool) -> IField {
        IField {
            alts: if json.is_empty() {
                vec![]
            } else {
                vec![json.clone()]
            },
            json,
            ty,
            repeated,
            inline: false,
            ptr: false,
            always: false,
            alt_types: BTreeMap::new(),
            alt_repeated: BTreeMap::new(),
            zero_shown: vec![],
            since: None,
            typed: true,
        }
    }

    /// Name the field after one of its candidates, with that candidate's type.
    fn rename(&mut self, name: &str) {
        if self.json == name {
            return;
        }
        self.json = name.to_string();
        if let Some(t) = self.alt_types.get(name) {
            self.ty = t.clone();
            self.typed = true;
        }
        if let Some(r) = self.alt_repeated.get(name) {
            self.repeated = *r;
        }
    }

    /// A field on the wire with its zero value that no JSON member shows.
    fn unnamed(&self) -> bool {
        self.json.is_empty() && !self.inline
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ITy {
    Scalar(Ty),
    Msg(IMsg),
    Map(Box<ITy>),
}

/// What inference could not settle.
#[derive(Debug, Default)]
pub struct Report {
    /// Protobuf fields no JSON member matched: (kind, path, field number).
    pub unmatched: Vec<String>,
    /// JSON members no protobuf field matched.
    pub unused: Vec<String>,
    /// Fields several members matched, settled by JSON order.
    pub ambiguous: Vec<String>,
    /// Facts that named a path or field that does not exist.
    pub bad_facts: Vec<String>,
    /// Fields only ever seen with their zero value, which no JSON showed
    /// and no fact names: left out of the schema.
    pub unnamed: Vec<String>,
}

/// Memo of nested-message trials within one pair: the same bytes are tried
/// against the same JSON member many times (each field against every
/// member, at every level), which without it costs exponential time on
/// deep objects. Keyed by the addresses of the bytes and of the JSON
/// value, which stay put while one pair is inferred.
#[derive(Default)]
struct Ctx {
    memo: HashMap<(usize, usize, usize), Trial>,
}

/// A nested-message trial's outcome: the type and its ambiguity notes.
type Trial = Option<(ITy, Vec<String>)>;

fn sub(b: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    proto::fields(b)
        .map(|f| f.ok().map(|(n, v, _)| (n, v)))
        .collect()
}

fn as_bytes<'a>(v: &Value<'a>) -> Option<&'a [u8]> {
    match v {
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

fn scalar_of(fs: &[(u32, Value<'_>)], n: u32) -> Option<u64> {
    fs.iter().find_map(|(f, v)| match v {
        Value::Varint(x) if *f == n => Some(*x),
        _ => None,
    })
}

fn bytes_of<'a>(fs: &[(u32, Value<'a>)], n: u32) -> Option<&'a [u8]> {
    fs.iter().find_map(|(f, v)| match v {
        Value::Bytes(b) if *f == n => Some(*b),
        _ => None,
    })
}

/// Does one wire value, read as `ty`, equal the JSON value? (Used for
/// special types and map values.)
fn interpret_one(
    cx: &mut Ctx,
    v: &Value<'_>,
    j: &Json,
    path: &str,
    rep: &mut Report,
) -> Option<ITy> {
    match (v, j) {
        (Value::Varint(x), Json::Bool(b)) if *x == u64::from(*b) => Some(ITy::Scalar(Ty::Bool)),
        (Value::Varint(x), Json::Number(n)) if n.as_i64() == Some(*x as i64) => {
            Some(ITy::Scalar(Ty::Int))
        }
        (Value::Bytes(b), Json::String(s)) => {
            if b.len() == s.len() && std::str::from_utf8(b).ok() == Some(s.as_str()) {
                return Some(ITy::Scalar(Ty::String));
            }
            if s.len() == b.len().div_ceil(3) * 4 && crate::etcd::records::b64::encode(b) == *s {
                return Some(ITy::Scalar(Ty::Bytes));
            }
            // The special types below are small messages: a Time or a
            // Duration is at most two varints, a Quantity or an
            // IntOrString holds the text itself. Larger bytes are none of
            // them (and parsing them for each candidate is what made
            // inference slow).
            if b.len() > s.len() + 24 {
                return None;
            }
            let fs = sub(b)?;
            if let Some(secs) = scalar_of(&fs, 1) {
                let nanos = scalar_of(&fs, 2).unwrap_or(0);
                if time::rfc3339(secs as i64) == *s {
                    return Some(ITy::Scalar(Ty::Time));
                }
                if time::rfc3339_micro(secs as i64, nanos as i64) == *s {
                    return Some(ITy::Scalar(Ty::MicroTime));
                }
                if time::go_duration(secs as i64) == *s && fs.len() == 1 {
                    return Some(ITy::Scalar(Ty::Duration));
                }
            }
            if fs.len() == 1
                && bytes_of(&fs, 1).and_then(|x| std::str::from_utf8(x).ok()) == Some(s.as_str())
            {
                return Some(ITy::Scalar(Ty::Quantity));
            }
            if scalar_of(&fs, 1) == Some(1)
                && bytes_of(&fs, 3).and_then(|x| std::str::from_utf8(x).ok()) == Some(s.as_str())
            {
                return Some(ITy::Scalar(Ty::IntOrString));
            }
            None
        }
        // A zero Time (an empty message) is the only value that prints null.
        (Value::Bytes([]), Json::Null) => Some(ITy::Scalar(Ty::Time)),
        (Value::Bytes(b), Json::Array(a)) => {
            let fs = sub(b)?;
            let strings: Option<Vec<&str>> = fs
                .iter()
                .map(|(n, v)| match v {
                    Value::Bytes(x) if *n == 1 => std::str::from_utf8(x).ok(),
                    _ => None,
                })
                .collect();
            let want: Option<Vec<&str>> = a.iter().map(|x| x.as_str()).collect();
            (strings.is_some() && strings == want).then_some(ITy::Scalar(Ty::StringList))
        }
        (Value::Bytes(b), Json::Number(n)) => {
            // Only an IntOrString (two varints and an empty string) prints
            // as a number.
            if b.len() > 32 {
                return None;
            }
            let fs = sub(b)?;
            let int = scalar_of(&fs, 2).map(|x| x as i64);
            let shape = fs
                .iter()
                .all(|(f, v)| matches!((f, v), (1 | 2, Value::Varint(_)) | (3, Value::Bytes(_))));
            (shape && scalar_of(&fs, 1).unwrap_or(0) == 0 && int == n.as_i64())
                .then_some(ITy::Scalar(Ty::IntOrString))
        }
        (Value::Bytes(b), Json::Object(o)) if !o.is_empty() && is_field_trie(b, j, 0) => {
            Some(ITy::Scalar(Ty::FieldTrie))
        }
        (Value::Bytes(b), Json::Object(o)) => {
            // RawExtension / FieldsV1: field 1 holds the JSON itself.
            if let Some(fs) = sub(b) {
                if fs.len() == 1 {
                    if let Some(raw) = bytes_of(&fs, 1) {
                        if serde_json::from_slice::<Json>(raw).ok().as_ref() == Some(j) {
                            return Some(ITy::Scalar(Ty::Raw));
                        }
                    }
                }
            }
            if b.is_empty() && o.is_empty() {
                return Some(ITy::Msg(IMsg::default()));
            }
            let key = (b.as_ptr() as usize, b.len(), j as *const Json as usize);
            if let Some(hit) = cx.memo.get(&key) {
                return hit.clone().map(|(t, amb)| {
                    rep.ambiguous.extend(amb);
                    t
                });
            }
            // No Go field is named "": such an object is a map (a
            // ResourceList with an empty key, one entry on the wire).
            let got = if plausible(b, j) && !o.contains_key("") {
                let mut r = Report::default();
                let members: Vec<(&String, &Json)> = o.iter().collect();
                infer_msg_in(cx, b, &members, path, &mut r)
                    .filter(|_| r.unmatched.is_empty() && r.unused.is_empty())
                    .map(|m| (ITy::Msg(m), r.ambiguous))
            } else {
                None
            };
            cx.memo.insert(key, got.clone());
            got.map(|(t, amb)| {
                rep.ambiguous.extend(amb);
                t
            })
        }
        _ => None,
    }
}

/// Is `b` 1.15's managed-fields trie printing as `j`? Entries (field 1) of
/// key (1) and sub-trie (2), keys equal to the object's, leaves `null`.
fn is_field_trie(b: &[u8], j: &Json, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    let Some(fs) = sub(b) else { return false };
    match j {
        Json::Null => fs.is_empty(),
        Json::Object(o) => {
            fs.len() == o.len()
                && fs.iter().all(|(n, v)| {
                    let (1, Value::Bytes(e)) = (n, v) else {
                        return false;
                    };
                    let Some(es) = sub(e) else { return false };
                    if es.iter().any(|(k, _)| *k != 1 && *k != 2) {
                        return false;
                    }
                    let Some(key) = bytes_of(&es, 1).and_then(|k| std::str::from_utf8(k).ok())
                    else {
                        return false;
                    };
                    let Some(jv) = o.get(key) else { return false };
                    is_field_trie(bytes_of(&es, 2).unwrap_or_default(), jv, depth + 1)
                })
        }
        _ => false,
    }
}

/// Cheap test before recursing: most of a few of the object's string
/// leaves must occur in the bytes.
fn plausible(b: &[u8], j: &Json) -> bool {
    let mut leaves = Vec::new();
    let mut stack = vec![j];
    while let Some(v) = stack.pop() {
        if leaves.len() >= 6 {
            break;
        }
        match v {
            // Times start with a digit and are not stored as text.
            Json::String(s) if s.len() >= 3 && !s.starts_with(|c: char| c.is_ascii_digit()) => {
                leaves.push(s.as_bytes())
            }
            Json::Object(o) => stack.extend(o.values()),
            Json::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    // Times and quantities are not stored as their text: most, not all,
    // leaves must be found.
    let found = leaves
        .iter()
        .filter(|l| b.windows(l.len()).any(|w| w == **l))
        .count();
    // Too few leaves (a base64 value is not its bytes' text) to judge.
    leaves.len() < 3 || found * 2 >= leaves.len()
}

/// A map field: every occurrence is an entry {1 key, 2 value}.
fn interpret_map(
    cx: &mut Ctx,
    occ: &[Value<'_>],
    o: &Map<String, Json>,
    path: &str,
    rep: &mut Report,
) -> Option<ITy> {
    if occ.len() != o.len() || o.is_empty() {
        return None;
    }
    let mut vt: Option<ITy> = None;
    for v in occ {
        let fs = sub(as_bytes(v)?)?;
        let key = std::str::from_utf8(bytes_of(&fs, 1)?).ok()?;
        let jv = o.get(key)?;
        let val = fs
            .iter()
            .find(|(n, _)| *n == 2)
            .map(|(_, v)| *v)
            .unwrap_or(Value::Bytes(&[]));
        let t = interpret_one(cx, &val, jv, &format!("{path}{{}}"), rep)?;
        vt = Some(match vt {
            None => t,
            Some(prev) => merge_ty(prev, t),
        });
    }
    Some(ITy::Map(Box::new(vt?)))
}

/// Interpret all occurrences of a field against a JSON member.
fn interpret(
    cx: &mut Ctx,
    occ: &[Value<'_>],
    j: &Json,
    path: &str,
    rep: &mut Report,
) -> Option<(ITy, bool)> {
    if let Json::Array(a) = j {
        if a.len() != occ.len() || a.is_empty() {
            return None;
        }
        let mut t: Option<ITy> = None;
        for (v, jv) in occ.iter().zip(a) {
            let x = interpret_one(cx, v, jv, &format!("{path}[]"), rep)?;
            t = Some(match t {
                None => x,
                Some(p) => merge_ty(p, x),
            });
        }
        return Some((t?, true));
    }
    if occ.len() == 1 {
        if let Some(t) = interpret_one(cx, &occ[0], j, path, rep) {
            return Some((t, false));
        }
    }
    if let Json::Object(o) = j {
        if let Some(t) = interpret_map(cx, occ, o, path, rep) {
            return Some((t, false));
        }
    }
    None
}

fn merge_ty(a: ITy, b: ITy) -> ITy {
    match (a, b) {
        (ITy::Msg(x), ITy::Msg(y)) => ITy::Msg(merge_msg(x, y)),
        (ITy::Map(x), ITy::Map(y)) => ITy::Map(Box::new(merge_ty(*x, *y))),
        (a, _) => a,
    }
}

/// Union of two inferred types of the same message.
pub fn merge_msg(mut a: IMsg, b: IMsg) -> IMsg {
    for (n, f) in b.fields {
        match a.fields.remove(&n) {
            None => {
                a.fields.insert(n, f);
            }
            Some(old) if old.unnamed() && !f.unnamed() => {
                a.fields.insert(n, f);
            }
            Some(mut old) => {
                if !f.unnamed() {
                    let both: Vec<String> = old
                        .alts
                        .iter()
                        .filter(|x| f.alts.contains(x))
                        .cloned()
                        .collect();
                    for (k, t) in f.alt_types {
                        old.alt_types.entry(k).or_insert(t);
                    }
                    for (k, r) in f.alt_repeated {
                        *old.alt_repeated.entry(k).or_insert(false) |= r;
                    }
                    for z in f.zero_shown {
                        if !old.zero_shown.contains(&z) {
                            old.zero_shown.push(z);
                        }
                    }
                    if !both.is_empty() {
                        old.alts = both;
                        if !old.alts.contains(&old.json) {
                            let first = old.alts[0].clone();
                            old.rename(&first);
                        }
                    }
                    old.ty = merge_ty(old.ty, f.ty);
                    old.repeated = match old.alt_repeated.get(&old.json) {
                        Some(r) => *r,
                        None => old.repeated | f.repeated,
                    };
                    old.inline |= f.inline;
                }
                old.since = match (old.since, f.since) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
                a.fields.insert(n, old);
            }
        }
    }
    a
}

/// Give the fields of one message distinct names: a field whose values
/// matched one member only keeps it; the others take, in field-number
/// order, the first of their candidates nobody else holds (JSON order
/// follows Go's field order, as field numbers do).
fn settle(m: &mut IMsg) {
    loop {
        let fixed: Vec<String> = m
            .fields
            .values()
            .filter(|f| f.alts.len() == 1)
            .map(|f| f.alts[0].clone())
            .collect();
        let mut changed = false;
        for f in m.fields.values_mut() {
            if f.alts.len() > 1 {
                let left: Vec<String> = f
                    .alts
                    .iter()
                    .filter(|x| !fixed.contains(x))
                    .cloned()
                    .collect();
                if !left.is_empty() && left.len() < f.alts.len() {
                    f.alts = left;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut taken: Vec<String> = m
        .fields
        .values()
        .filter(|f| f.alts.len() == 1)
        .map(|f| f.alts[0].clone())
        .collect();
    for f in m.fields.values_mut() {
        if f.alts.len() == 1 {
            let x = f.alts[0].clone();
            f.rename(&x);
        } else if f.alts.len() > 1 {
            if let Some(x) = f.alts.iter().find(|x| !taken.contains(x)).cloned() {
                f.rename(&x);
            }
            taken.push(f.json.clone());
        }
    }
}

fn is_zero_group(occ: &[Value<'_>]) -> bool {
    matches!(occ, [Value::Varint(0)] | [Value::Bytes([])])
}

/// A member the wire need not carry: Go prints nil pointers, slices and
/// maps as `null` and empty ones the wire cannot tell from nil.
fn empty_member(j: &Json) -> bool {
    match j {
        Json::Null => true,
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Infer one message from its bytes and its JSON object. `None` when the
/// bytes are not a message.
pub fn infer_msg(b: &[u8], obj: &Map<String, Json>, path: &str, rep: &mut Report) -> Option<IMsg> {
    let members: Vec<(&String, &Json)> = obj.iter().collect();
    infer_msg_in(&mut Ctx::default(), b, &members, path, rep)
}

fn infer_msg_in(
    cx: &mut Ctx,
    b: &[u8],
    obj: &[(&String, &Json)],
    path: &str,
    rep: &mut Report,
) -> Option<IMsg> {
    let fs = sub(b)?;
    let mut groups: Vec<(u32, Vec<Value<'_>>)> = Vec::new();
    for (n, v) in fs {
        match groups.iter_mut().find(|(g, _)| *g == n) {
            Some((_, occ)) => occ.push(v),
            None => groups.push((n, vec![v])),
        }
    }
    groups.sort_by_key(|(n, _)| *n);
    let keys: Vec<&String> = obj.iter().map(|(k, _)| *k).collect();
    let mut used: Vec<bool> = vec![false; keys.len()];
    let mut msg = IMsg::default();
    let mut pending_inline = Vec::new();
    for (n, occ) in &groups {
        let mut matches = Vec::new();
        // Every member the values match is a candidate, used or not (merges
        // across releases intersect candidates; settling makes names
        // distinct); the first unused one names the field for now. A
        // varint (a bool or a number) and empty bytes keep each
        // candidate's type, and which candidates printed the zero value.
        let scalar = matches!(occ.as_slice(), [Value::Varint(_)] | [Value::Bytes([])]);
        let zero = is_zero_group(occ);
        let mut alts = Vec::new();
        let mut alt_types = BTreeMap::new();
        let mut alt_repeated = BTreeMap::new();
        let mut zero_shown = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let jv = obj[i].1;
            if let Some((t, rep_)) = interpret(cx, occ, jv, &format!("{path}.{k}"), rep) {
                alts.push((*k).clone());
                alt_repeated.insert((*k).clone(), rep_);
                if scalar {
                    if matches!(t, ITy::Scalar(_)) {
                        alt_types.insert((*k).clone(), t.clone());
                    }
                    if zero && !empty_member(jv) {
                        zero_shown.push((*k).clone());
                    }
                }
                if !used[i] {
                    matches.push((i, t, rep_));
                }
            }
        }
        match matches.len() {
            0 if is_zero_group(occ) => {
                let ty = match occ.as_slice() {
                    [Value::Varint(_)] => ITy::Scalar(Ty::Int),
                    _ => ITy::Scalar(Ty::String),
                };
                let mut f = IField::new(String::new(), ty, false);
                f.typed = false;
                msg.fields.insert(*n, f);
            }
            0 => pending_inline.push((*n, occ.clone())),
            k => {
                if k > 1 {
                    rep.ambiguous.push(format!(
                        "{path}: field {n} matches {}",
                        matches
                            .iter()
                            .map(|(i, _, _)| keys[*i].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                let (i, t, repeated) = matches.swap_remove(0);
                used[i] = true;
                let mut f = IField::new(keys[i].clone(), t, repeated);
                f.alts = alts;
                f.alt_repeated = alt_repeated;
                if scalar {
                    f.alt_types = alt_types;
                    f.zero_shown = zero_shown;
                }
                msg.fields.insert(*n, f);
            }
        }
    }
    // Inline members: a message whose fields match the keys left over.
    for (n, occ) in pending_inline {
        let rest: Vec<(&String, &Json)> = obj
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(m, _)| *m)
            .collect();
        let inner = match occ.as_slice() {
            [Value::Bytes(b)] => {
                let mut r = Report::default();
                infer_msg_in(cx, b, &rest, path, &mut r)
                    .filter(|m| !m.fields.is_empty() && r.unmatched.is_empty())
                    .map(|m| (m, r))
            }
            _ => None,
        };
        match inner {
            Some((m, r)) => {
                rep.ambiguous.extend(r.ambiguous);
                let names: Vec<String> = all_json_names(&m);
                for (i, k) in keys.iter().enumerate() {
                    if names.contains(k) {
                        used[i] = true;
                    }
                }
                let mut f = IField::new(String::new(), ITy::Msg(m), false);
                f.inline = true;
                msg.fields.insert(n, f);
            }
            None => rep.unmatched.push(format!("{path}: field {n}")),
        }
    }
    for (i, k) in keys.iter().enumerate() {
        if !used[i] && !empty_member(obj[i].1) {
            rep.unused.push(format!("{path}.{k}"));
        }
    }
    Some(msg)
}

fn all_json_names(m: &IMsg) -> Vec<String> {
    let mut out = Vec::new();
    for f in m.fields.values() {
        if f.inline {
            if let ITy::Msg(x) = &f.ty {
                out.extend(all_json_names(x));
            }
        } else if !f.json.is_empty() {
            out.push(f.json.clone());
        }
    }
    out
}

/// A test-data pair: the stored value and its JSON.
pub struct Pair {
    pub name: String,
    pub stored: Vec<u8>,
    pub json: Json,
}

/// The minor release that wrote a pair, from its folder (`v1.N.0/...`);
/// `HEAD` is newer than any numbered release. `None` for objects that went
/// through a newer release's round trip.
fn pair_release(name: &str) -> Option<u16> {
    if name.contains(".after_roundtrip.") {
        return None;
    }
    let folder = name.split('/').next()?;
    if folder == "HEAD" {
        return Some(HEAD_RELEASE);
    }
    folder.strip_prefix("v1.")?.split('.').next()?.parse().ok()
}

/// `HEAD`'s place among releases: after every numbered folder.
const HEAD_RELEASE: u16 = 999;

/// Read every `<name>.pb` with a `<name>.json` beside it under `dirs`.
pub fn read_pairs(dirs: &[std::path::PathBuf]) -> std::io::Result<Vec<Pair>> {
    let mut out = Vec::new();
    for d in dirs {
        let mut names: Vec<_> = std::fs::read_dir(d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pb"))
            .collect();
        names.sort();
        for p in names {
            let j = p.with_extension("json");
            let Ok(text) = std::fs::read(&j) else {
                continue;
            };
            let Ok(json) = serde_json::from_slice(&text) else {
                continue;
            };
            out.push(Pair {
                name: format!(
                    "{}/{}",
                    d.file_name()
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    p.file_name()
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
                stored: std::fs::read(&p)?,
                json,
            });
        }
    }
    Ok(out)
}

/// One parsed fact entry (see `facts.txt`).
struct Fact {
    api_version: String,
    kind: String,
    path: String,
    ptr: Vec<String>,
    always: Vec<String>,
    /// `number <json>=<n>` facts: which protobuf number a member has, for
    /// members the test data cannot tell apart.
    bools: Vec<(String, u32)>,
}

fn parse_facts(text: &str) -> Vec<Fact> {
    let mut out: Vec<Fact> = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            // A root type may leave its path out.
            ["type", .., "at", v, k] => out.push(Fact {
                api_version: v.to_string(),
                kind: k.to_string(),
                path: ".".into(),
                ptr: vec![],
                always: vec![],
                bools: vec![],
            }),
            ["type", .., "at", v, k, path] => out.push(Fact {
                api_version: v.to_string(),
                kind: k.to_string(),
                path: path.to_string(),
                ptr: vec![],
                always: vec![],
                bools: vec![],
            }),
            ["ptr", rest @ ..] => {
                if let Some(f) = out.last_mut() {
                    f.ptr.extend(rest.iter().map(|s| s.to_string()));
                }
            }
            ["always", rest @ ..] => {
                if let Some(f) = out.last_mut() {
                    f.always.extend(rest.iter().map(|s| s.to_string()));
                }
            }
            ["number" | "bool", rest @ ..] => {
                if let Some(f) = out.last_mut() {
                    f.bools.extend(rest.iter().filter_map(|s| {
                        let (j, n) = s.split_once('=')?;
                        Some((j.to_string(), n.parse().ok()?))
                    }));
                }
            }
            _ => {}
        }
    }
    out
}

type Signature = Vec<(u32, String, bool)>;
/// Pointer members, always-printed members, and member numbers of a type.
type FactFlags = (Vec<String>, Vec<String>, Vec<(String, u32)>);

/// A type's shape without its nested types: how facts find every place a
/// Go type is used.
fn signature(m: &IMsg) -> Signature {
    m.fields
        .iter()
        .map(|(n, f)| (*n, f.json.clone(), f.repeated))
        .collect()
}

/// The message at a fact's path inside a root.
fn at_path<'a>(root: &'a mut IMsg, path: &str) -> Option<&'a mut IMsg> {
    let mut cur = root;
    if path == "." {
        return Some(cur);
    }
    for seg in path.split('.') {
        let name = seg.trim_end_matches("[]").trim_end_matches("{}");
        let map = seg.ends_with("{}");
        cur = find_field_msg(cur, name, map)?;
    }
    Some(cur)
}

fn find_field_msg<'a>(m: &'a mut IMsg, name: &str, map: bool) -> Option<&'a mut IMsg> {
    let n = m
        .fields
        .iter()
        .find_map(|(n, f)| (!f.inline && f.json == name).then_some(*n));
    if let Some(n) = n {
        let f = m.fields.get_mut(&n)?;
        return match (&mut f.ty, map) {
            (ITy::Msg(x), false) => Some(x),
            (ITy::Map(v), true) => match v.as_mut() {
                ITy::Msg(x) => Some(x),
                _ => None,
            },
            _ => None,
        };
    }
    for f in m.fields.values_mut() {
        if let (true, ITy::Msg(x)) = (f.inline, &mut f.ty) {
            if let Some(r) = find_field_msg(x, name, map) {
                return Some(r);
            }
        }
    }
    None
}

/// Does some `number` fact give this name?
fn facts_name(facts: &str, name: &str) -> bool {
    facts.lines().any(|l| {
        l.starts_with("number ")
            && l.split_whitespace()
                .any(|w| w.split_once('=').is_some_and(|(j, _)| j == name))
    })
}

/// The message (the given one or an inline member) that has field `n`.
fn number_holder(m: &mut IMsg, n: u32) -> Option<&mut IMsg> {
    if m.fields.get(&n).is_some_and(|f| !f.inline) {
        return Some(m);
    }
    for f in m.fields.values_mut() {
        if let (true, ITy::Msg(x)) = (f.inline, &mut f.ty) {
            if let Some(h) = number_holder(x, n) {
                return Some(h);
            }
        }
    }
    None
}

/// The facts of a type by its signature: those resolved at this shape and
/// at every resolved shape that shares most of its fields (the same Go
/// type seen through a different set of releases has a few fields more or
/// fewer).
fn facts_for(by_sig: &HashMap<Signature, FactFlags>, sig: &Signature) -> Option<FactFlags> {
    let mine: HashSet<(u32, &str)> = sig.iter().map(|(n, j, _)| (*n, j.as_str())).collect();
    let mut out: Option<FactFlags> = None;
    // Nearest shapes first: the exact one, then by fields shared.
    let mut near: Vec<(usize, &Signature)> = by_sig
        .keys()
        .filter_map(|k| {
            let theirs: HashSet<(u32, &str)> = k.iter().map(|(n, j, _)| (*n, j.as_str())).collect();
            let shared = mine.intersection(&theirs).count();
            let larger = mine.len().max(theirs.len());
            (k == sig || (shared >= 3 && shared * 10 >= larger * 6)).then_some((shared, k))
        })
        .collect();
    near.sort_by_key(|(shared, k)| (*k != sig, std::cmp::Reverse(*shared), *k));
    for (_, k) in near {
        {
            let f = &by_sig[k];
            let o = out.get_or_insert_with(Default::default);
            o.0.extend(f.0.iter().cloned());
            o.1.extend(f.1.iter().cloned());
            // A number the type's own shape has a fact for keeps it; a
            // similar shape (a sibling such as a metric's source beside its
            // status) adds only numbers and names not yet settled.
            for (j, n) in &f.2 {
                if !o.2.iter().any(|(x, m)| m == n || x == j) {
                    o.2.push((j.clone(), *n));
                }
            }
        }
    }
    if let Some(o) = &mut out {
        o.0.sort();
        o.0.dedup();
        o.1.sort();
        o.1.dedup();
        o.2.sort_by_key(|(_, n)| *n);
    }
    out
}

/// The message (the given one or an inline member) that holds `json`.
fn holder<'a>(m: &'a mut IMsg, json: &str) -> Option<&'a mut IMsg> {
    if m.fields.values().any(|f| !f.inline && f.json == json) {
        return Some(m);
    }
    for f in m.fields.values_mut() {
        if let (true, ITy::Msg(x)) = (f.inline, &mut f.ty) {
            if let Some(h) = holder(x, json) {
                return Some(h);
            }
        }
    }
    None
}

fn visit_all(m: &mut IMsg, f: &mut dyn FnMut(&mut IMsg)) {
    visit_named(m, "", &mut |_, x| f(x));
}

/// Names fields seen only with their zero value (which no JSON member
/// shows) after the same Go type elsewhere: a message whose named fields
/// all agree, number for number, with a message of another kind or release
/// that names the field takes that name and its type (a volume source's
/// `readOnly`, always false in an old release's test object, is `true` in
/// another's). Taken only when every such message agrees.
fn borrow_names(roots: &mut BTreeMap<(String, String), IMsg>) {
    // Every message with a name for at least two fields: the member that
    // holds it and its named fields.
    let mut donors: Vec<(String, BTreeMap<u32, IField>)> = Vec::new();
    for root in roots.values_mut() {
        visit_named(root, "", &mut |at, m| {
            let named: BTreeMap<u32, IField> = m
                .fields
                .iter()
                .filter(|(_, f)| !f.unnamed() && !f.inline && f.typed)
                .map(|(n, f)| (*n, f.clone()))
                .collect();
            if named.len() >= 2 {
                donors.push((at.to_string(), named));
            }
        });
    }
    for root in roots.values_mut() {
        visit_named(root, "", &mut |at, m| {
            let mine: Vec<(u32, String)> = m
                .fields
                .iter()
                .filter(|(_, f)| !f.unnamed() && !f.inline && f.typed)
                .map(|(n, f)| (*n, f.json.clone()))
                .collect();
            if mine.is_empty() {
                return;
            }
            // Fields with no name, and fields a number fact named whose
            // type was only guessed from a zero (they keep their name).
            let wanted: Vec<(u32, String)> = m
                .fields
                .iter()
                .filter(|(_, f)| !f.inline && (f.unnamed() || !f.typed))
                .map(|(n, f)| (*n, f.json.clone()))
                .collect();
            for (n, named) in wanted {
                // Nearest donors first: held by a member of the same name
                // and of exactly this shape plus the field (the same Go
                // type), then the same name, then the same shape, then any
                // whose fields agree. The first level with an answer
                // decides, and only if its donors agree.
                let exact = |d: &BTreeMap<u32, IField>| d.len() == mine.len() + 1;
                let pick = |level: u8| {
                    let mut found: Option<&IField> = None;
                    for (held_by, d) in &donors {
                        let near = match level {
                            0 => held_by == at && exact(d),
                            1 => held_by == at,
                            2 => exact(d),
                            _ => true,
                        };
                        let agrees = near
                            && mine
                                .iter()
                                .all(|(k, j)| d.get(k).is_some_and(|f| f.json == *j));
                        let Some(f) = d
                            .get(&n)
                            .filter(|f| agrees && (named.is_empty() || f.json == named))
                        else {
                            continue;
                        };
                        if mine.iter().any(|(_, j)| *j == f.json) {
                            continue;
                        }
                        match found {
                            Some(g) if g.json != f.json => return Err(()),
                            Some(_) => {}
                            None => found = Some(f),
                        }
                    }
                    Ok(found)
                };
                let mut take = None;
                for level in 0..4 {
                    match pick(level) {
                        Ok(Some(f)) => {
                            take = Some(f.clone());
                            break;
                        }
                        Ok(None) => {}
                        Err(()) => break,
                    }
                }
                if let Some(f) = take {
                    m.fields.insert(n, f);
                }
            }
        });
    }
}

/// Like [`visit_all`], with the JSON name of the member holding each
/// message ("" for the root).
fn visit_named(m: &mut IMsg, at: &str, f: &mut dyn FnMut(&str, &mut IMsg)) {
    f(at, m);
    for fl in m.fields.values_mut() {
        let name = fl.json.clone();
        match &mut fl.ty {
            ITy::Msg(x) => visit_named(x, &name, f),
            ITy::Map(v) => {
                if let ITy::Msg(x) = v.as_mut() {
                    visit_named(x, &name, f);
                }
            }
            ITy::Scalar(_) => {}
        }
    }
}

/// One pair's inferred root type, under its (apiVersion, kind).
type Rooted = ((String, String), IMsg);

/// Infer the schema of every stored kind in `pairs`, apply `facts`.
pub fn infer(pairs: &[Pair], facts: &str) -> (Schema, Report) {
    let mut rep = Report::default();
    let mut roots: BTreeMap<(String, String), IMsg> = BTreeMap::new();
    // Each pair on its own (in parallel), merged in the pairs' order so
    // the result does not depend on scheduling.
    use rayon::prelude::*;
    let each: Vec<(Option<Rooted>, Report)> = pairs
        .par_iter()
        .map(|p| {
            let mut r = Report::default();
            let Some(env) = super::envelope::Envelope::parse(&p.stored) else {
                r.unmatched
                    .push(format!("{}: not a protobuf envelope", p.name));
                return (None, r);
            };
            if env.kind.is_empty() {
                return (None, r);
            }
            let Json::Object(mut obj) = p.json.clone() else {
                return (None, r);
            };
            obj.remove("kind");
            obj.remove("apiVersion");
            let path = format!("{} {}", env.api_version, env.kind);
            let Some(m) = infer_msg(env.raw, &obj, &path, &mut r) else {
                r.unmatched
                    .push(format!("{}: raw is not a message", p.name));
                return (None, r);
            };
            let mut m = m;
            if let Some(rel) = pair_release(&p.name) {
                visit_all(&mut m, &mut |x| {
                    for f in x.fields.values_mut() {
                        f.since = Some(rel);
                    }
                });
            }
            let key = (env.api_version.to_string(), env.kind.to_string());
            (Some((key, m)), r)
        })
        .collect();
    for (root, r) in each {
        rep.unmatched.extend(r.unmatched);
        rep.unused.extend(r.unused);
        rep.ambiguous.extend(r.ambiguous);
        rep.bad_facts.extend(r.bad_facts);
        let Some((key, m)) = root else { continue };
        let merged = match roots.remove(&key) {
            Some(old) => merge_msg(old, m),
            None => m,
        };
        roots.insert(key, merged);
    }
    for root in roots.values_mut() {
        visit_all(root, &mut settle);
    }
    // Facts: resolve each at its path, then apply by signature everywhere.
    let mut by_sig: HashMap<Signature, FactFlags> = HashMap::new();
    for f in parse_facts(facts) {
        let key = (f.api_version.clone(), f.kind.clone());
        let Some(root) = roots.get_mut(&key) else {
            rep.bad_facts.push(format!(
                "{} {} {}: kind not in the test data",
                f.api_version, f.kind, f.path
            ));
            continue;
        };
        let Some(m) = at_path(root, &f.path) else {
            rep.bad_facts.push(format!(
                "{} {} {}: path not found",
                f.api_version, f.kind, f.path
            ));
            continue;
        };
        let names: Vec<(String, &str)> = f
            .ptr
            .iter()
            .map(|j| (j.clone(), "ptr"))
            .chain(f.always.iter().map(|j| (j.clone(), "always")))
            .collect();
        for (j, flag) in names {
            // A name a number fact gives only later is held by the message
            // at the path itself.
            let h = if holder(m, &j).is_some() {
                holder(m, &j)
            } else if f.bools.iter().any(|(x, _)| *x == j) || facts_name(facts, &j) {
                Some(&mut *m)
            } else {
                None
            };
            match h {
                Some(h) => {
                    let e = by_sig.entry(signature(h)).or_default();
                    if flag == "ptr" {
                        e.0.push(j);
                    } else {
                        e.1.push(j);
                    }
                }
                None => rep.bad_facts.push(format!(
                    "{} {} {}: no field {j}",
                    f.api_version, f.kind, f.path
                )),
            }
        }
        for (j, n) in f.bools {
            // A number fact names a field the test data may never show by
            // name: find its holder by name, else by number.
            let h = if holder(m, &j).is_some() {
                holder(m, &j)
            } else {
                number_holder(m, n)
            };
            match h {
                Some(h) => by_sig.entry(signature(h)).or_default().2.push((j, n)),
                None => rep.bad_facts.push(format!(
                    "{} {} {}: no field {j} or number {n}",
                    f.api_version, f.kind, f.path
                )),
            }
        }
    }
    for root in roots.values_mut() {
        visit_all(root, &mut |m| {
            let Some((ptr, always, numbers)) = facts_for(&by_sig, &signature(m)) else {
                return;
            };
            // Numbers first (they name fields), then flags. All of a
            // type's number facts at once: each named field takes its
            // name; a field left holding one of those names takes another
            // of its candidates nobody holds, else a name the facts freed.
            let fact_names: Vec<&String> = numbers
                .iter()
                .filter(|(_, n)| m.fields.contains_key(n))
                .map(|(j, _)| j)
                .collect();
            let mut freed: Vec<String> = Vec::new();
            for (j, n) in &numbers {
                let held = m
                    .fields
                    .iter()
                    .find(|(k, f)| **k != *n && f.json == *j)
                    .map(|(_, f)| f.ty.clone());
                if let Some(f) = m.fields.get_mut(n) {
                    if f.json == *j {
                        continue;
                    }
                    if !f.json.is_empty() {
                        freed.push(f.json.clone());
                    }
                    if !f.alt_types.contains_key(j) {
                        if let Some(t) = held {
                            f.alt_types.insert(j.clone(), t);
                        }
                    }
                    f.rename(j);
                    if !f.alts.contains(j) {
                        f.alts.push(j.clone());
                    }
                }
            }
            let fixed: Vec<u32> = numbers.iter().map(|(_, n)| *n).collect();
            let clashing: Vec<u32> = m
                .fields
                .iter()
                .filter(|(k, f)| !fixed.contains(k) && fact_names.contains(&&f.json))
                .map(|(k, _)| *k)
                .collect();
            for k in clashing {
                let names: Vec<String> = m.fields.values().map(|f| f.json.clone()).collect();
                let free = |x: &String| !names.contains(x) && !fact_names.contains(&x);
                let Some(f) = m.fields.get_mut(&k) else {
                    continue;
                };
                let next = f
                    .alts
                    .iter()
                    .find(|x| free(x))
                    .or_else(|| freed.iter().find(|x| free(x)))
                    .cloned();
                match next {
                    Some(x) => f.rename(&x),
                    None => f.json = String::new(),
                }
            }
            for f in m.fields.values_mut() {
                if ptr.contains(&f.json) {
                    f.ptr = true;
                }
                if always.contains(&f.json) {
                    f.always = true;
                }
            }
        });
    }
    borrow_names(&mut roots);
    for (k, root) in &mut roots {
        let at = format!("{} {}", k.0, k.1);
        visit_all(root, &mut |m| {
            for f in m.fields.values_mut() {
                if f.zero_shown.contains(&f.json) && !f.always {
                    f.ptr = true;
                }
            }
            let gone = m.unnamed_numbers();
            // Named by the fields beside it: the walk does not keep paths.
            let beside: Vec<&str> = m
                .fields
                .values()
                .filter(|f| !f.unnamed())
                .map(|f| f.json.as_str())
                .take(4)
                .collect();
            let beside = beside.join(" ");
            for n in gone {
                rep.unnamed
                    .push(format!("{at}: field {n} (beside: {beside})"));
                m.fields.remove(&n);
            }
        });
    }
    let mut schema = Schema::default();
    let mut interned: HashMap<Message, usize> = HashMap::new();
    let releases = Releases::of(pairs);
    for (k, root) in &roots {
        let t = intern(root, &mut schema, &mut interned, releases);
        schema.kinds.insert(k.clone(), t);
    }
    (schema, rep)
}

fn intern_ty(t: &ITy, s: &mut Schema, seen: &mut HashMap<Message, usize>, r: Releases) -> Ty {
    match t {
        ITy::Scalar(x) => x.clone(),
        ITy::Msg(m) => Ty::Msg(intern(m, s, seen, r)),
        ITy::Map(v) => Ty::Map(Box::new(intern_ty(v, s, seen, r))),
    }
}

/// The oldest and newest numbered releases of the test data: a field the
/// oldest already wrote has no `since`; `HEAD` counts as the one after
/// the newest.
#[derive(Clone, Copy)]
struct Releases {
    oldest: u16,
    newest: u16,
}

impl Releases {
    fn of(pairs: &[Pair]) -> Releases {
        let numbered = || {
            pairs
                .iter()
                .filter_map(|p| pair_release(&p.name))
                .filter(|r| *r != HEAD_RELEASE)
        };
        Releases {
            oldest: numbered().min().unwrap_or(0),
            newest: numbered().max().unwrap_or(0),
        }
    }

    fn since(self, seen: Option<u16>) -> u16 {
        match seen {
            Some(HEAD_RELEASE) => self.newest + 1,
            Some(x) if x > self.oldest => x,
            _ => 0,
        }
    }
}

fn intern(m: &IMsg, s: &mut Schema, seen: &mut HashMap<Message, usize>, r: Releases) -> usize {
    // `since` only orders the fields of one message, so the fields as old
    // as the message's oldest carry none (a type first seen whole in a
    // later release then stays one type with its older copies).
    let first = m
        .fields
        .values()
        .map(|f| r.since(f.since))
        .min()
        .unwrap_or(0);
    let since = |f: &IField| match r.since(f.since) {
        x if x == first => 0,
        x => x,
    };
    let fields = m
        .fields
        .iter()
        .map(|(n, f)| Field {
            number: *n,
            json: if f.inline { "-".into() } else { f.json.clone() },
            ty: intern_ty(&f.ty, s, seen, r),
            repeated: f.repeated,
            inline: f.inline,
            ptr: f.ptr,
            always: f.always,
            since: since(f),
        })
        .collect();
    let msg = Message { fields };
    if let Some(i) = seen.get(&msg) {
        return *i;
    }
    s.types.push(msg.clone());
    let i = s.types.len() - 1;
    seen.insert(msg, i);
    i
}

/// The built-in schema file's text: a header, then the schema.
pub fn schema_file(pairs: &[Pair], facts: &str) -> (String, Report) {
    let (schema, rep) = infer(pairs, facts);
    let text = format!(
        "# etcd-rescue built-in Kubernetes schema: inferred by `etcd-rescue k8s infer-schema`\n\
         # from {} .pb/.json test-data pairs, with the Go facts of src/k8s/facts.txt.\n\
         # {} kinds, {} message types.\n{}",
        pairs.len(),
        schema.kinds.len(),
        schema.types.len(),
        schema.to_text()
    );
    (text, rep)
}
