//! kubectl's JSONPath templates (`-o jsonpath=...`), evaluated as
//! client-go's `util/jsonpath` evaluates them with missing keys allowed:
//! text outside `{}` is copied; inside, `.field`, `['key']`, `[i]`,
//! `[start:end:step]` (negative indices count from the end), `[*]`, `.*`,
//! `[a,b]` unions, `[?(@.x == "y")]` filters (`==`, `!=`, `<`, `>`, `<=`,
//! `>=`, or existence), `..field` recursive descent, `"text"` literals,
//! `{range EXPR}...{end}`. Results of one `{}` print space-separated,
//! strings unquoted, maps and lists as compact JSON (keys sorted, HTML-safe
//! escapes, Go's float format). The grammar's quirks are kubectl's: a comma
//! outside brackets is a syntax error, bracketed keys take single quotes.
//! Also the `%v` text custom columns print.
#![forbid(unsafe_code)]

use serde_json::Value as Json;
use std::borrow::Cow;

/// A parse or evaluation error, worded as client-go words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, Error> {
    Err(Error(s.into()))
}

/// One slice bound: given or not, and derived (`[i]` means `[i:i+1]`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Param {
    value: i64,
    known: bool,
    derived: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Field(String),
    Wildcard,
    Array([Param; 3]),
    Filter {
        left: Vec<Node>,
        right: Vec<Node>,
        op: String,
    },
    Int(i64),
    Float(f64),
    Bool(bool),
    Recursive,
    Union(Vec<Vec<Node>>),
    Identifier(String),
}

/// A template: literal text, actions, and range blocks.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text(String),
    Action(Vec<Node>),
    Range(Vec<Node>, Vec<Item>),
    End,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    items: Vec<Item>,
}

fn is_terminator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
        ),
    }
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// The nodes of one action, up to its closing `}`.
    fn action(&mut self) -> Result<Vec<Node>, Error> {
        let mut nodes = Vec::new();
        loop {
            let rest = self.rest();
            if rest.starts_with('}') {
                self.pos += 1;
                return Ok(nodes);
            }
            if rest.starts_with("[?(") {
                self.pos += 3;
                nodes.push(self.filter()?);
                continue;
            }
            if rest.starts_with("..") {
                if nodes.last() == Some(&Node::Recursive) {
                    return err("invalid multiple recursive descent");
                }
                self.pos += 2;
                nodes.push(Node::Recursive);
                if self.peek().is_some_and(is_alnum) {
                    nodes.push(self.field());
                }
                continue;
            }
            let Some(c) = self.next() else {
                return err("unclosed action");
            };
            match c {
                '\r' | '\n' => return err("unclosed action"),
                ' ' | '@' | '$' => {}
                '[' => nodes.push(self.array()?),
                '"' | '\'' => nodes.push(self.quote(c)?),
                '.' => nodes.push(self.field()),
                c if c == '+' || c == '-' || c.is_ascii_digit() => {
                    self.pos -= c.len_utf8();
                    nodes.push(self.number()?);
                }
                c if is_alnum(c) => {
                    self.pos -= c.len_utf8();
                    let start = self.pos;
                    while !is_terminator(self.peek()) {
                        self.next();
                    }
                    let word = &self.s[start..self.pos];
                    nodes.push(match word {
                        "true" => Node::Bool(true),
                        "false" => Node::Bool(false),
                        w => Node::Identifier(w.to_string()),
                    });
                }
                c => {
                    return err(format!(
                        "unrecognized character in action: U+{:04X} '{c}'",
                        c as u32
                    ))
                }
            }
        }
    }

    fn field(&mut self) -> Node {
        let start = self.pos;
        loop {
            match self.peek() {
                Some('\\') => {
                    self.next();
                    self.next();
                }
                c if is_terminator(c) => break,
                _ => {
                    self.next();
                }
            }
        }
        let v = &self.s[start..self.pos];
        if v == "*" {
            Node::Wildcard
        } else {
            Node::Field(v.replace('\\', ""))
        }
    }

    fn number(&mut self) -> Result<Node, Error> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        while self.peek().is_some_and(|c| c == '.' || c.is_ascii_digit()) {
            self.next();
        }
        let v = &self.s[start..self.pos];
        if let Ok(i) = v.parse::<i64>() {
            return Ok(Node::Int(i));
        }
        match v.parse::<f64>() {
            Ok(f) => Ok(Node::Float(f)),
            Err(_) => err(format!("cannot parse number {v}")),
        }
    }

    fn quote(&mut self, q: char) -> Result<Node, Error> {
        let start = self.pos - 1;
        loop {
            match self.next() {
                None | Some('\n') => return err("unterminated quoted string"),
                Some(c) if c == q && self.s.as_bytes().get(self.pos - 2) != Some(&b'\\') => break,
                _ => {}
            }
        }
        let v = &self.s[start..self.pos];
        unquote(v)
            .map(Node::Text)
            .ok_or_else(|| Error(format!("unquote string {v} error invalid syntax")))
    }

    fn array(&mut self) -> Result<Node, Error> {
        let start = self.pos;
        loop {
            match self.next() {
                None | Some('\n') => return err("unterminated array"),
                Some(']') => break,
                _ => {}
            }
        }
        let mut text = &self.s[start..self.pos - 1];
        if text == "*" {
            text = ":";
        }
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() > 1 {
            let mut union = Vec::new();
            for p in parts {
                union.push(sub_action(&format!("[{}]", p.trim_matches(' ')))?);
            }
            return Ok(Node::Union(union));
        }
        // ['key']
        if text.len() >= 2
            && text.starts_with('\'')
            && text.ends_with('\'')
            && !text[1..text.len() - 1].contains('\'')
        {
            let mut nodes = sub_action(&format!(".{}", &text[1..text.len() - 1]))?;
            return Ok(if nodes.len() == 1 {
                nodes.remove(0)
            } else {
                Node::Union(vec![nodes])
            });
        }
        slice(text).map(Node::Array)
    }

    fn filter(&mut self) -> Result<Node, Error> {
        let start = self.pos;
        let (mut begin, mut end, mut pair) = (false, false, '\0');
        loop {
            let Some(c) = self.next() else {
                return err("unterminated filter");
            };
            match c {
                '\n' => return err("unterminated filter"),
                '"' | '\'' => {
                    if !begin {
                        begin = true;
                        pair = c;
                        continue;
                    }
                    if self.s.as_bytes().get(self.pos - 2) != Some(&b'\\') && c == pair {
                        end = true;
                    }
                }
                ')' if begin == end => break,
                _ => {}
            }
        }
        if self.next() != Some(']') {
            return err("unclosed array expect ]");
        }
        let text = &self.s[start..self.pos - 2];
        // left: no operator characters; operator: a run of !<>=~; right:
        // the rest (non-empty).
        let left_end = text.find(['!', '<', '>', '=']).unwrap_or(text.len());
        let op_end = text[left_end..]
            .find(|c: char| !matches!(c, '!' | '<' | '>' | '=' | '~'))
            .map_or(text.len(), |i| left_end + i);
        if left_end == 0 || left_end == text.len() || op_end == text.len() {
            return Ok(Node::Filter {
                left: sub_action(text)?,
                right: vec![],
                op: "exists".into(),
            });
        }
        let op = &text[left_end..op_end];
        Ok(Node::Filter {
            left: sub_action(&text[..left_end])?,
            right: sub_action(&text[op_end..])?,
            op: op.to_string(),
        })
    }
}

/// `[start:end:step]` as client-go reads it.
fn slice(text: &str) -> Result<[Param; 3], Error> {
    let bad = || Error(format!("invalid array index {text}"));
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return Err(bad());
    }
    let number = |s: &str| {
        let d = s.strip_prefix('-').unwrap_or(s);
        d.bytes().all(|b| b.is_ascii_digit())
    };
    if !parts.iter().all(|p| number(p)) {
        return Err(bad());
    }
    let mut params = [Param::default(); 3];
    for i in 0..3 {
        match parts.get(i) {
            Some(v) if !v.is_empty() => {
                params[i].known = true;
                params[i].value = v
                    .parse()
                    .map_err(|_| Error(format!("array index {v} is not a number")))?;
            }
            // An empty first bound, or a present but empty later one.
            Some(_) if i == 0 => {}
            Some(_) => {}
            None if i == 1 => {
                params[1] = Param {
                    value: params[0].value + 1,
                    known: true,
                    derived: true,
                };
            }
            None => {}
        }
    }
    Ok(params)
}

/// Go's strconv.Unquote, also for single-quoted strings.
fn unquote(v: &str) -> Option<String> {
    let q = v.chars().next()?;
    let inner = v.get(1..v.len().checked_sub(1)?)?;
    if !v.ends_with(q) || v.len() < 2 {
        return None;
    }
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == q {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            c if c == q => out.push(c),
            'x' => {
                let h: String = it.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&h, 16).ok()?));
            }
            'u' | 'U' => {
                let n = if inner.contains("\\U") { 8 } else { 4 };
                let h: String = it.by_ref().take(n).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The nodes of `{text}` parsed on their own (filters, unions, keys).
fn sub_action(text: &str) -> Result<Vec<Node>, Error> {
    let s = format!("{text}}}");
    let mut p = Parser { s: &s, pos: 0 };
    let nodes = p.action()?;
    if !p.rest().is_empty() {
        // What followed a `}` inside the text would be template text.
        return err(format!("invalid expression {text}"));
    }
    Ok(nodes)
}

impl Template {
    /// Parse a template as `kubectl -o jsonpath=` takes it.
    pub fn parse(text: &str) -> Result<Template, Error> {
        let mut p = Parser { s: text, pos: 0 };
        let mut flat = Vec::new();
        let mut start = 0;
        while p.pos < text.len() {
            if p.rest().starts_with('{') {
                if p.pos > start {
                    flat.push(Item::Text(text[start..p.pos].to_string()));
                }
                p.pos += 1;
                let nodes = p.action()?;
                start = p.pos;
                flat.push(
                    if nodes.first() == Some(&Node::Identifier("range".into())) {
                        Item::Range(nodes[1..].to_vec(), vec![])
                    } else if nodes == [Node::Identifier("end".into())] {
                        Item::End
                    } else {
                        Item::Action(nodes)
                    },
                );
            } else {
                p.next();
            }
        }
        if text.len() > start {
            flat.push(Item::Text(text[start..].to_string()));
        }
        // Nest range bodies up to their {end} (or the template's end).
        let mut stack: Vec<Vec<Item>> = vec![vec![]];
        let mut heads: Vec<Vec<Node>> = vec![];
        for it in flat {
            match it {
                Item::Range(h, _) => {
                    heads.push(h);
                    stack.push(vec![]);
                }
                Item::End => {
                    let Some(h) = heads.pop() else {
                        return err("not in range, nothing to end");
                    };
                    let body = stack.pop().unwrap_or_default();
                    if let Some(top) = stack.last_mut() {
                        top.push(Item::Range(h, body));
                    }
                }
                other => {
                    if let Some(top) = stack.last_mut() {
                        top.push(other)
                    }
                }
            }
        }
        while let Some(h) = heads.pop() {
            let body = stack.pop().unwrap_or_default();
            if let Some(top) = stack.last_mut() {
                top.push(Item::Range(h, body));
            }
        }
        Ok(Template {
            items: stack.pop().unwrap_or_default(),
        })
    }

    /// Evaluate over `data` and print as kubectl prints.
    pub fn execute(&self, data: &Json) -> Result<String, Error> {
        let mut out = String::new();
        run(&self.items, data, &mut out, 0)?;
        Ok(out)
    }

    /// The results of each action (custom columns print them with `%v`).
    pub fn results<'a>(&self, data: &'a Json) -> Result<Vec<Vec<Cow<'a, Json>>>, Error> {
        let mut all = Vec::new();
        for it in &self.items {
            match it {
                Item::Text(t) => all.push(vec![Cow::Owned(Json::String(t.clone()))]),
                Item::Action(nodes) => all.push(eval_list(vec![Cow::Borrowed(data)], nodes)?),
                _ => return err("range is not supported here"),
            }
        }
        Ok(all)
    }
}

const MAX_DEPTH: usize = 64;

fn run(items: &[Item], data: &Json, out: &mut String, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return err("ranges nested too deep");
    }
    for it in items {
        match it {
            Item::Text(t) => out.push_str(t),
            Item::Action(nodes) => {
                let r = eval_list(vec![Cow::Borrowed(data)], nodes)?;
                print_results(&r, out);
            }
            Item::Range(head, body) => {
                let r = eval_list(vec![Cow::Borrowed(data)], head)?;
                for v in r {
                    run(body, &v, out, depth + 1)?;
                }
            }
            Item::End => {}
        }
    }
    Ok(())
}

fn print_results(r: &[Cow<'_, Json>], out: &mut String) {
    for (i, v) in r.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match v.as_ref() {
            Json::String(s) => out.push_str(s),
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&go_number(n)),
            x => compact_json(x, out),
        }
    }
}

/// A number as Go's `fmt` `%v` prints what JSON decoding gave
/// (int64 when integral and in range, else float64).
fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    go_v_float(n.as_f64().unwrap_or(0.0))
}

/// Go's `%v` of a float64 (`strconv` 'g', shortest): exponent form below
/// 1e-4 or from 1e6.
pub fn go_v_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let s = format!("{:e}", f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    format!("{f}")
}

/// Go's `json.Marshal` of decoded JSON: compact, keys sorted.
pub fn compact_json(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => match n.as_i64() {
            Some(i) => out.push_str(&i.to_string()),
            None => out.push_str(&crate::k8s::render::go_json_float(
                n.as_f64().unwrap_or(0.0),
            )),
        },
        Json::String(s) => {
            let full = crate::k8s::render::kubectl_json(&Json::String(s.clone()));
            out.push_str(full.trim_end_matches('\n'));
        }
        Json::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                compact_json(x, out);
            }
            out.push(']');
        }
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                compact_json(&Json::String(k.clone()), out);
                out.push(':');
                compact_json(&m[k], out);
            }
            out.push('}');
        }
    }
}

/// Go's `fmt` `%v` of decoded JSON, as custom columns print cells:
/// `map[a:1 b:x]`, `[x y]`, `<nil>`.
pub fn go_v(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("<nil>"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&go_number(n)),
        Json::String(s) => out.push_str(s),
        Json::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_v(x, out);
            }
            out.push(']');
        }
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_v(&m[k], out);
            }
            out.push(']');
        }
    }
}

/// The Go type name client-go's errors use.
fn go_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "<nil>",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.as_i64().is_some() => "int64",
        Json::Number(_) => "float64",
        Json::String(_) => "string",
        Json::Array(_) => "[]interface {}",
        Json::Object(_) => "map[string]interface {}",
    }
}

type Values<'a> = Vec<Cow<'a, Json>>;

fn eval_list<'a>(mut cur: Values<'a>, nodes: &[Node]) -> Result<Values<'a>, Error> {
    for n in nodes {
        cur = walk(cur, n)?;
    }
    Ok(cur)
}

/// Members of a map in key order, elements of a list, bytes of a string.
fn children<'a>(v: &Cow<'a, Json>) -> Values<'a> {
    fn of<'b>(j: &'b Json) -> Vec<Cow<'b, Json>> {
        match j {
            Json::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                keys.into_iter().map(|k| Cow::Borrowed(&m[k])).collect()
            }
            Json::Array(a) => a.iter().map(Cow::Borrowed).collect(),
            Json::String(s) => s
                .bytes()
                .map(|b| Cow::Owned(Json::Number(b.into())))
                .collect(),
            _ => vec![],
        }
    }
    match v {
        Cow::Borrowed(j) => of(j),
        Cow::Owned(j) => of(j)
            .into_iter()
            .map(|c| Cow::Owned(c.into_owned()))
            .collect(),
    }
}

fn walk<'a>(input: Values<'a>, node: &Node) -> Result<Values<'a>, Error> {
    match node {
        Node::Text(t) => Ok(vec![Cow::Owned(Json::String(t.clone()))]),
        Node::Int(i) => Ok(input.iter().map(|_| Cow::Owned(Json::from(*i))).collect()),
        Node::Float(f) => Ok(input
            .iter()
            .map(|_| Cow::Owned(serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number)))
            .collect()),
        Node::Bool(b) => Ok(input.iter().map(|_| Cow::Owned(Json::Bool(*b))).collect()),
        Node::Identifier(w) => match w.as_str() {
            "end" => err("not in range, nothing to end"),
            "range" => err("range must start an action"),
            w => err(format!("unrecognized identifier {w}")),
        },
        Node::Field(name) => {
            let mut out = Vec::new();
            for v in input {
                let got = match v {
                    Cow::Borrowed(Json::Object(m)) => m.get(name).map(Cow::Borrowed),
                    Cow::Owned(Json::Object(mut m)) => m.remove(name).map(Cow::Owned),
                    _ => None,
                };
                out.extend(got);
            }
            Ok(out)
        }
        Node::Wildcard => Ok(input
            .iter()
            .filter(|v| !v.is_null())
            .flat_map(children)
            .collect()),
        Node::Recursive => {
            let mut out = Vec::new();
            recurse(input, &mut out, 0)?;
            Ok(out)
        }
        Node::Union(lists) => {
            let mut out = Vec::new();
            for l in lists {
                out.extend(eval_list(input.clone(), l)?);
            }
            Ok(out)
        }
        Node::Array(params) => {
            let mut out = Vec::new();
            for v in input {
                if v.is_null() {
                    continue;
                }
                let Json::Array(a) = v.as_ref() else {
                    return err(format!("{} is not array or slice", go_type(&v)));
                };
                let len = a.len() as i64;
                let mut p = *params;
                if !p[0].known {
                    p[0].value = 0;
                }
                if p[0].value < 0 {
                    p[0].value += len;
                }
                if !p[1].known {
                    p[1].value = len;
                }
                if p[1].value < 0 || (p[1].value == 0 && p[1].derived) {
                    p[1].value += len;
                }
                if p[1].value == p[0].value {
                    return Ok(out);
                }
                if p[0].value >= len || p[0].value < 0 {
                    return err(format!(
                        "array index out of bounds: index {}, length {len}",
                        p[0].value
                    ));
                }
                if p[1].value > len || p[1].value < 0 {
                    return err(format!(
                        "array index out of bounds: index {}, length {len}",
                        p[1].value - 1
                    ));
                }
                if p[0].value > p[1].value {
                    return err(format!(
                        "starting index {} is greater than ending index {}",
                        p[0].value, p[1].value
                    ));
                }
                let step = if p[2].known {
                    if p[2].value <= 0 {
                        return err("step must be > 0");
                    }
                    p[2].value as usize
                } else {
                    1
                };
                let (from, to) = (p[0].value as usize, p[1].value as usize);
                let items = children(&v);
                out.extend(items.into_iter().skip(from).take(to - from).step_by(step));
            }
            Ok(out)
        }
        Node::Filter { left, right, op } => {
            let mut out = Vec::new();
            for v in input {
                let Json::Array(_) = v.as_ref() else {
                    let shown = match v.as_ref() {
                        Json::Null => "<invalid reflect.Value>".to_string(),
                        x => {
                            let mut s = String::new();
                            go_v(x, &mut s);
                            s
                        }
                    };
                    return err(format!(
                        "{shown} is not array or slice and cannot be filtered"
                    ));
                };
                for el in children(&v) {
                    let lefts = eval_list(vec![el.clone()], left);
                    if op == "exists" {
                        if lefts.is_ok_and(|l| !l.is_empty()) {
                            out.push(el);
                        }
                        continue;
                    }
                    let lefts = lefts?;
                    match lefts.len() {
                        0 => continue,
                        1 => {}
                        _ => return err("can only compare one element at a time"),
                    }
                    let rights = eval_list(vec![el.clone()], right)?;
                    match rights.len() {
                        0 => continue,
                        1 => {}
                        _ => return err("can only compare one element at a time"),
                    }
                    if compare(&lefts[0], &rights[0], op)? {
                        out.push(el);
                    }
                }
            }
            Ok(out)
        }
    }
}

fn recurse<'a>(input: Values<'a>, out: &mut Values<'a>, depth: usize) -> Result<(), Error> {
    if depth > 1000 {
        return err("recursive descent too deep");
    }
    for v in input {
        if v.is_null() {
            continue;
        }
        let kids = children(&v);
        if kids.is_empty() {
            continue;
        }
        // A string's bytes have no children: the string itself is listed.
        let descend = !v.is_string();
        out.push(v);
        if descend {
            recurse(kids, out, depth + 1)?;
        }
    }
    Ok(())
}

/// Go template comparison of two decoded JSON values.
fn compare(l: &Json, r: &Json, op: &str) -> Result<bool, Error> {
    use std::cmp::Ordering;
    enum K<'a> {
        B(bool),
        I(i64),
        F(f64),
        S(&'a str),
    }
    fn k(v: &Json) -> Option<K<'_>> {
        match v {
            Json::Bool(b) => Some(K::B(*b)),
            Json::Number(n) => Some(match n.as_i64() {
                Some(i) => K::I(i),
                None => K::F(n.as_f64().unwrap_or(0.0)),
            }),
            Json::String(s) => Some(K::S(s)),
            _ => None,
        }
    }
    let (Some(a), Some(b)) = (k(l), k(r)) else {
        return err("invalid type for comparison");
    };
    let ord = match (&a, &b) {
        (K::B(x), K::B(y)) => {
            return match op {
                "==" => Ok(x == y),
                "!=" => Ok(x != y),
                "<" | ">" | "<=" | ">=" => err("invalid type for comparison"),
                o => err(format!("unrecognized filter operator {o}")),
            }
        }
        (K::I(x), K::I(y)) => x.cmp(y),
        (K::F(x), K::F(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (K::S(x), K::S(y)) => x.cmp(y),
        _ => return err("incompatible types for comparison"),
    };
    match op {
        "==" => Ok(ord == Ordering::Equal),
        "!=" => Ok(ord != Ordering::Equal),
        "<" => Ok(ord == Ordering::Less),
        ">" => Ok(ord == Ordering::Greater),
        "<=" => Ok(ord != Ordering::Greater),
        ">=" => Ok(ord != Ordering::Less),
        o => err(format!("unrecognized filter operator {o}")),
    }
}

/// kubectl's relaxed column expression: `metadata.name`, `.metadata.name`,
/// `{metadata.name}` and `{.metadata.name}` all mean `{.metadata.name}`.
pub fn relaxed(expr: &str) -> Result<String, Error> {
    if expr.is_empty() {
        return Ok(String::new());
    }
    let inner = expr
        .strip_prefix('{')
        .and_then(|e| e.strip_suffix('}'))
        .unwrap_or(expr);
    let braced = inner.len() != expr.len();
    let inner = inner.strip_prefix('.').unwrap_or(inner);
    if inner.is_empty() || inner.contains(['{', '}']) || (!braced && expr.contains(['{', '}'])) {
        return err("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'");
    }
    Ok(format!("{{.{inner}}}"))
}

/// One custom column.
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub template: Template,
}

/// `-o custom-columns=HEADER:EXPR,...`.
pub fn columns_from_spec(spec: &str) -> Result<Vec<Column>, Error> {
    if spec.is_empty() {
        return err("custom-columns format specified but no custom columns given");
    }
    spec.split(',')
        .map(|part| {
            let Some((h, e)) = part.split_once(':') else {
                return err(format!(
                    "unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
                ));
            };
            Ok(Column {
                header: h.to_string(),
                template: Template::parse(&relaxed(e)?)?,
            })
        })
        .collect()
}

/// `-o custom-columns-file=FILE`: a line of headers and a line of
/// expressions, whitespace-separated.
pub fn columns_from_file(text: &str) -> Result<Vec<Column>, Error> {
    let mut lines = text.lines();
    let headers: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error("invalid template, missing header line. Expected format is one line of space separated headers, one line of space separated column specs.".into()))?
        .split_whitespace()
        .collect();
    let specs: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error("invalid template, missing spec line. Expected format is one line of space separated headers, one line of space separated column specs.".into()))?
        .split_whitespace()
        .collect();
    if headers.len() != specs.len() {
        return err(format!(
            "number of headers ({}) and field specifications ({}) don't match",
            headers.len(),
            specs.len()
        ));
    }
    headers
        .iter()
        .zip(&specs)
        .map(|(h, s)| {
            Ok(Column {
                header: h.to_string(),
                template: Template::parse(&relaxed(s)?)?,
            })
        })
        .collect()
}

/// The cells of one object: each column's values joined by commas,
/// `<none>` when there are none.
pub fn column_cells(cols: &[Column], obj: &Json) -> Result<Vec<String>, Error> {
    cols.iter()
        .map(|c| {
            let r = c.template.results(obj)?;
            if r.first().is_none_or(|v| v.is_empty()) {
                return Ok("<none>".to_string());
            }
            let mut cells = Vec::new();
            for v in r.iter().flatten() {
                let mut s = String::new();
                go_v(v, &mut s);
                cells.push(s);
            }
            Ok(cells.join(","))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Json {
        json!({"kind": "Foo", "metadata": {"name": "a", "labels": {"b": "2", "a": "1"}},
               "list": [{"n": "x", "v": 1, "f": 1.5, "z": null, "t": true},
                        {"n": "y", "v": 2, "f": 1e21, "s": "<&>"}],
               "big": 1e20, "small": 0.00001, "e": [], "o": {}})
    }

    fn run(t: &str) -> Result<String, Error> {
        Template::parse(t)?.execute(&obj())
    }

    /// Each case was printed by kubectl 1.32 (`kubectl annotate --local -o
    /// jsonpath=...`) on the same object; the fixture test compares many
    /// more against kubectl at test time.
    #[test]
    fn templates_print_as_kubectl_prints_them() {
        for (t, want) in [
            ("{.metadata.name}", "a"),
            ("{.list[*].n}", "x y"),
            ("{.list[0]}", r#"{"f":1.5,"n":"x","t":true,"v":1,"z":null}"#),
            (
                "{.list[-1:]}",
                r#"{"f":1e+21,"n":"y","s":"\u003c\u0026\u003e","v":2}"#,
            ),
            (r#"{.list[?(@.n=="y")].v}"#, "2"),
            ("{..n}", "x y"),
            ("{range .list[*]}{.n}{\"\\n\"}{end}", "x\ny\n"),
            ("{.list[*]['n','v']}", "x y 1 2"),
            ("{.list[0,1].n}", "x y"),
            ("{.list[0].z}", "null"),
            ("{.list[*].f}", "1.5 1e+21"),
            ("{.big} {.small}", "1e+20 1e-05"),
            ("{.e} {.o}", "[] {}"),
            ("{.list[1].s}", "<&>"),
            ("{.nope}", ""),
            ("{.list[0].t}", "true"),
            ("x{.metadata.name}y", "xay"),
            ("{.list[?(@.v>1)].n}", "y"),
            ("{.list[?(@.f)].n}", "x y"),
            ("{.list[?(@.n=='x')].v}", "1"),
            ("{.metadata.labels}", r#"{"a":"1","b":"2"}"#),
            ("{.metadata.name.x}", ""),
            ("{$.kind}", "Foo"),
            ("{.list[2:]}", ""),
            ("{..v}", "1 2"),
            ("{.list[*].z}", "null"),
            ("{range .list[*]}[{.n}]{end}", "[x][y]"),
            ("{range .nope[*]}[{.n}]{end}done", "done"),
            ("{.metadata.labels.b}{\"\\t\"}{1}{true}", "2\t1true"),
            ("{.list[?(@.n<\"y\")].n}", "x"),
            ("{.list[?(@.t==true)].n}", "x"),
            ("{range .list[*]}{.n}", "xy"),
            (
                "{.list[0].n}{range .list[*]}{.v},{end}|{.kind}",
                "x1,2,|Foo",
            ),
            ("{.list[0]['n']}", "x"),
            ("{.metadata.labels.a}{\"x\\\"y\"}", "1x\"y"),
            ("{'a\\'b'}", "a'b"),
            ("{.list[?(@.v != 1)].n}", "y"),
            ("{.list[?( @.v == 1 )].n}", "x"),
            ("{ .kind }", "Foo"),
        ] {
            assert_eq!(run(t).as_deref(), Ok(want), "{t}");
        }
    }

    #[test]
    fn errors_are_kubectls() {
        for (t, want) in [
            ("{.list[5]}", "array index out of bounds: index 5, length 2"),
            (
                "{.list[3:]}",
                "array index out of bounds: index 3, length 2",
            ),
            (
                "{.list[1:0]}",
                "starting index 1 is greater than ending index 0",
            ),
            ("{.list[::-1]}", "step must be > 0"),
            ("{.list[0].n[0]}", "string is not array or slice"),
            (
                "{.list[?(@.v==1.0)].n}",
                "incompatible types for comparison",
            ),
            ("{.list[?(@.z==\"x\")].n}", "invalid type for comparison"),
            ("{.a,.b}", "unrecognized character in action: U+002C ','"),
            ("{..*}", "unrecognized character in action: U+002A '*'"),
            ("{.list[0][\"n\"]}", "invalid array index \"n\""),
            ("{.list[ 0 ]}", "invalid array index  0 "),
            ("{.x}{end}", "not in range, nothing to end"),
            ("{.x", "unclosed action"),
        ] {
            assert_eq!(run(t), Err(Error(want.into())), "{t}");
        }
    }

    #[test]
    fn custom_columns_print_go_values() {
        let cols = columns_from_spec(
            "NAME:.metadata.name,L:metadata.labels,N:{.list[*].n},M:.missing,Z:.list[0].z",
        )
        .unwrap();
        assert_eq!(
            column_cells(&cols, &obj()).unwrap(),
            ["a", "map[a:1 b:2]", "x,y", "<none>", "<nil>"]
        );
        assert!(columns_from_spec("NAME").is_err());
        let f = columns_from_file("NAME  KIND\n{.metadata.name} kind\n").unwrap();
        assert_eq!(column_cells(&f, &obj()).unwrap(), ["a", "Foo"]);
        assert_eq!(relaxed("{.a.b}").unwrap(), "{.a.b}");
        assert_eq!(relaxed("a.b").unwrap(), "{.a.b}");
        assert!(relaxed("{a}{b}").is_err());
    }

    #[test]
    fn go_floats() {
        assert_eq!(go_v_float(1e20), "1e+20");
        assert_eq!(go_v_float(1.5), "1.5");
        assert_eq!(go_v_float(0.0001), "0.0001");
        assert_eq!(go_v_float(0.00001), "1e-05");
        assert_eq!(go_v_float(123456.0), "123456");
        assert_eq!(go_v_float(1234567.0), "1.234567e+06");
        assert_eq!(go_v_float(123456.7), "123456.7");
    }
}
