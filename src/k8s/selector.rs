//! kubectl's ways of naming objects: label selectors (`-l`, parsed as
//! apimachinery's `labels.Parse`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
//! `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, comma = AND), field selectors
//! (`--field-selector` on `metadata.name` and `metadata.namespace`, with
//! `=`, `==`, `!=`), and the resource arguments of `kubectl get`
//! (`TYPE[,TYPE...] [NAME...]`, `TYPE/NAME ...`, and the `all` category).
#![forbid(unsafe_code)]

use serde_json::Value as Json;

/// The resources kubectl's `all` category expands to.
pub const ALL: &[&str] = &[
    "pods",
    "replicationcontrollers",
    "services",
    "daemonsets.apps",
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "horizontalpodautoscalers.autoscaling",
    "cronjobs.batch",
    "jobs.batch",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed label selector; every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Not,
    NotEq,
    Eq,
    DoubleEq,
    In,
    NotIn,
    Open,
    Close,
    Comma,
    Gt,
    Lt,
}

fn special(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '=' | '!' | '(' | ')' | '<' | '>')
}

fn lex(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let next = cs.get(i + 1).copied();
        i += 1;
        let t = match c {
            c if c.is_whitespace() => continue,
            ',' => Tok::Comma,
            '(' => Tok::Open,
            ')' => Tok::Close,
            '<' => Tok::Lt,
            '>' => Tok::Gt,
            '!' if next == Some('=') => {
                i += 1;
                Tok::NotEq
            }
            '!' => Tok::Not,
            '=' if next == Some('=') => {
                i += 1;
                Tok::DoubleEq
            }
            '=' => Tok::Eq,
            _ => {
                let start = i - 1;
                while i < cs.len() && !special(cs[i]) {
                    i += 1;
                }
                let w: String = cs[start..i].iter().collect();
                match w.as_str() {
                    "in" => Tok::In,
                    "notin" => Tok::NotIn,
                    _ => Tok::Ident(w),
                }
            }
        };
        out.push(t);
    }
    out
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of
/// at most 63 alphanumerics, `-`, `_`, `.`, starting and ending
/// alphanumeric.
fn valid_key(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_value(name)
}

fn valid_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && v.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && v.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric))
}

impl LabelSelector {
    /// Parse as `labels.Parse` does.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let toks = lex(s);
        let mut reqs = Vec::new();
        let mut i = 0;
        let bad = |what: &str| Err(format!("unable to parse requirement: {what} in {s:?}"));
        while i < toks.len() {
            let negated = toks[i] == Tok::Not;
            if negated {
                i += 1;
            }
            let Some(Tok::Ident(key)) = toks.get(i) else {
                return bad("found no key");
            };
            let key = key.clone();
            if !valid_key(&key) {
                return bad(&format!("invalid label key {key:?}"));
            }
            i += 1;
            let end = matches!(toks.get(i), None | Some(Tok::Comma));
            if negated || end {
                if negated && !end {
                    return bad("'!' takes a key only");
                }
                reqs.push(Requirement {
                    key,
                    op: if negated {
                        Op::DoesNotExist
                    } else {
                        Op::Exists
                    },
                    values: vec![],
                });
            } else {
                let op = match toks.get(i) {
                    Some(Tok::Eq | Tok::DoubleEq) => Op::Eq,
                    Some(Tok::NotEq) => Op::NotEq,
                    Some(Tok::In) => Op::In,
                    Some(Tok::NotIn) => Op::NotIn,
                    Some(Tok::Gt) => Op::Gt,
                    Some(Tok::Lt) => Op::Lt,
                    _ => return bad("found no operator"),
                };
                i += 1;
                let mut values = Vec::new();
                if matches!(op, Op::In | Op::NotIn) {
                    if toks.get(i) != Some(&Tok::Open) {
                        return bad("found no '(' after in/notin");
                    }
                    i += 1;
                    loop {
                        match toks.get(i) {
                            Some(Tok::Ident(v)) => {
                                values.push(v.clone());
                                i += 1;
                                match toks.get(i) {
                                    Some(Tok::Comma) => i += 1,
                                    Some(Tok::Close) => {}
                                    _ => return bad("expected ',' or ')'"),
                                }
                            }
                            Some(Tok::Close) => {
                                i += 1;
                                break;
                            }
                            // An empty value between commas.
                            Some(Tok::Comma) => {
                                values.push(String::new());
                                i += 1;
                            }
                            _ => return bad("unclosed value set"),
                        }
                    }
                    if values.is_empty() {
                        return bad("for 'in', 'notin' operators, values set can't be empty");
                    }
                } else {
                    match toks.get(i) {
                        Some(Tok::Ident(v)) => {
                            values.push(v.clone());
                            i += 1;
                        }
                        // `a=` selects the empty value.
                        None | Some(Tok::Comma) => values.push(String::new()),
                        _ => return bad("found no value"),
                    }
                    if matches!(op, Op::Gt | Op::Lt) && values[0].parse::<i64>().is_err() {
                        return bad("for 'Gt', 'Lt' operators, the value must be an integer");
                    }
                }
                if let Some(v) = values.iter().find(|v| !valid_value(v)) {
                    return bad(&format!("invalid label value {v:?}"));
                }
                reqs.push(Requirement { key, op, values });
            }
            match toks.get(i) {
                None => break,
                Some(Tok::Comma) => {
                    i += 1;
                    if i == toks.len() {
                        return bad("found ',' at the end");
                    }
                }
                Some(_) => return bad("expected ',' between requirements"),
            }
        }
        Ok(LabelSelector { reqs })
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, obj: &Json) -> bool {
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Json::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Json::as_str);
        self.reqs.iter().all(|r| {
            let v = get(&r.key);
            match r.op {
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
                Op::Eq | Op::In => v.is_some_and(|v| r.values.iter().any(|x| x == v)),
                Op::NotEq | Op::NotIn => v.is_none_or(|v| r.values.iter().all(|x| x != v)),
                Op::Gt | Op::Lt => {
                    let (Some(have), Some(want)) = (
                        v.and_then(|v| v.parse::<i64>().ok()),
                        r.values.first().and_then(|x| x.parse::<i64>().ok()),
                    ) else {
                        return false;
                    };
                    if r.op == Op::Gt {
                        have > want
                    } else {
                        have < want
                    }
                }
            }
        })
    }
}

/// A field selector on the fields every kind supports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    /// (field, equal?, value)
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parse `metadata.name=x,metadata.namespace!=y` as `fields.ParseSelector`
    /// does (backslash escapes `\,`, `\=`, `\\`).
    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        let mut parts = vec![String::new()];
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    parts.last_mut().into_iter().for_each(|p| p.push('\\'));
                    if let Some(n) = chars.next() {
                        parts.last_mut().into_iter().for_each(|p| p.push(n));
                    }
                }
                ',' => parts.push(String::new()),
                c => parts.last_mut().into_iter().for_each(|p| p.push(c)),
            }
        }
        for p in parts.iter().filter(|p| !p.is_empty()) {
            let (field, eq, value) = if let Some((f, v)) = split_unescaped(p, "!=") {
                (f, false, v)
            } else if let Some((f, v)) = split_unescaped(p, "==") {
                (f, true, v)
            } else if let Some((f, v)) = split_unescaped(p, "=") {
                (f, true, v)
            } else {
                return Err(format!("invalid selector: '{s}'; can't understand '{p}'"));
            };
            let field = field.trim().to_string();
            if !matches!(field.as_str(), "metadata.name" | "metadata.namespace") {
                return Err(format!(
                    "field label not supported: {field} (offline, --field-selector takes metadata.name and metadata.namespace)"
                ));
            }
            terms.push((field, eq, unescape(&value)));
        }
        Ok(FieldSelector { terms })
    }

    pub fn matches(&self, obj: &Json) -> bool {
        self.terms.iter().all(|(field, eq, value)| {
            let f = field.strip_prefix("metadata.").unwrap_or(field);
            let have = obj
                .get("metadata")
                .and_then(|m| m.get(f))
                .and_then(Json::as_str)
                .unwrap_or("");
            (have == value) == *eq
        })
    }
}

fn split_unescaped(s: &str, op: &str) -> Option<(String, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(op) {
            return Some((s[..i].to_string(), s[i + op.len()..].to_string()));
        }
        i += 1;
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What the resource arguments name: resources, each with the names
/// asked for (none: every object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource: String,
    pub names: Vec<String>,
}

/// kubectl get's resource arguments: `TYPE[,TYPE...] [NAME...]` or
/// `TYPE/NAME ...` (the two forms cannot be mixed), `all` expanding to
/// kubectl's `all` category.
pub fn targets(args: &[String]) -> Result<Vec<Target>, String> {
    let Some(first) = args.first() else {
        return Err("you must specify the type of resource to get".into());
    };
    let expand = |t: &str| -> Vec<String> {
        if t == "all" {
            ALL.iter().map(|s| s.to_string()).collect()
        } else {
            vec![t.to_string()]
        }
    };
    let mut out: Vec<Target> = Vec::new();
    if args.iter().any(|a| a.contains('/')) {
        for a in args {
            let Some((t, n)) = a.split_once('/') else {
                return Err(format!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'etcd-rescue k8s get resource/<resource_name>' instead of 'etcd-rescue k8s get resource resource/<resource_name>': {a:?})"
                ));
            };
            if t.is_empty() || n.is_empty() || n.contains('/') {
                return Err(format!(
                    "arguments in resource/name form must have a single resource and name: {a:?}"
                ));
            }
            match out.iter_mut().find(|x| x.resource == t) {
                Some(x) => x.names.push(n.to_string()),
                None => out.push(Target {
                    resource: t.to_string(),
                    names: vec![n.to_string()],
                }),
            }
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    for t in first.split(',').filter(|t| !t.is_empty()) {
        for r in expand(t) {
            if !out.iter().any(|x| x.resource == r) {
                out.push(Target {
                    resource: r,
                    names: names.clone(),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(format!("no resource type in {first:?}"));
    }
    Ok(out)
}

/// `extract`'s resource arguments: each is `TYPE`, `TYPE,TYPE`, `TYPE/NAME`
/// or `all`; no names as separate words.
pub fn extract_targets(args: &[String]) -> Result<Vec<Target>, String> {
    let mut out: Vec<Target> = Vec::new();
    for a in args {
        let one = targets(std::slice::from_ref(a))?;
        for t in one {
            match out.iter_mut().find(|x| x.resource == t.resource) {
                // A type asked for whole wins over names of it.
                Some(x) if x.names.is_empty() || t.names.is_empty() => x.names.clear(),
                Some(x) => x.names.extend(t.names),
                None => out.push(t),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(labels: Json) -> Json {
        json!({"metadata": {"name": "n", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_selectors_select_as_kubectl() {
        let o = with(json!({"app": "web", "tier": "front", "n": "5", "e": ""}));
        let none = json!({"metadata": {"name": "bare"}});
        for (sel, on_o, on_none) in [
            ("app=web", true, false),
            ("app==web", true, false),
            ("app = web", true, false),
            ("app!=web", false, true),
            ("app!=db", true, true),
            ("app in (web,db)", true, false),
            ("app in (db)", false, false),
            ("app notin (db)", true, true),
            ("app notin (web, db)", false, true),
            ("app", true, false),
            ("!app", false, true),
            ("app,tier=front", true, false),
            ("app=web,tier=back", false, false),
            ("app=web, !gone", true, false),
            ("n>4", true, false),
            ("n<5", false, false),
            ("e=", true, false),
            ("example.com/x", false, false),
            ("", true, true),
        ] {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!((s.matches(&o), s.matches(&none)), (on_o, on_none), "{sel}");
        }
        for bad in [
            "app in ()",
            "app in web",
            "=web",
            "app=web,",
            "a b",
            "app>x",
            "!a=b",
            "Bad Key=1",
            "app=-x",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_on_name_and_namespace() {
        let o = with(json!({}));
        for (sel, want) in [
            ("metadata.name=n", true),
            ("metadata.name==n", true),
            ("metadata.name!=n", false),
            ("metadata.namespace=ns,metadata.name=n", true),
            ("metadata.namespace=other", false),
        ] {
            assert_eq!(
                FieldSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(FieldSelector::parse("status.phase=Running").is_err());
        assert!(FieldSelector::parse("metadata.name").is_err());
    }

    #[test]
    fn resource_arguments_as_kubectl_get_takes_them() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let t = targets(&s(&["pods,svc", "a", "b"])).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[1],
            Target {
                resource: "svc".into(),
                names: s(&["a", "b"])
            }
        );
        let t = targets(&s(&["pod/a", "svc/b", "pod/c"])).unwrap();
        assert_eq!(
            t[0],
            Target {
                resource: "pod".into(),
                names: s(&["a", "c"])
            }
        );
        assert!(targets(&s(&["pod", "svc/b"])).is_err());
        assert_eq!(targets(&s(&["all"])).unwrap().len(), ALL.len());
        assert_eq!(targets(&s(&["all,cm"])).unwrap().len(), ALL.len() + 1);
        let e = extract_targets(&s(&["cm", "pod/a", "svc,deploy", "cm/x"])).unwrap();
        assert_eq!(e.len(), 4);
        assert!(e[0].names.is_empty());
        assert_eq!(e[1].names, s(&["a"]));
    }
}
