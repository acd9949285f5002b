//! Printing objects as kubectl prints them. JSON: keys sorted bytewise,
//! four-space indent, Go's HTML-safe escaping and float format. YAML: the
//! output of go-yaml v2 as kubectl uses it: keys in its "natural" order
//! (digit runs compared as numbers, letters after other characters), block
//! style with sequences not indented under their key, strings quoted only
//! when they would read back as something else or start with an indicator,
//! long strings folded at spaces past column 80, multi-line strings as
//! literal blocks.
#![forbid(unsafe_code)]

use serde_json::{Map, Value as Json};
use std::cmp::Ordering;

// ---------------------------------------------------------------- JSON ---

/// Go `encoding/json` string escaping (HTML-safe).
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Shortest decimal digits and exponent of a finite float: (digits, exp)
/// with value = 0.d1d2... × 10^exp.
fn digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    (m.replace('.', ""), e + 1)
}

/// Go's JSON float format: %f-style between 1e-6 and 1e21, else %e with a
/// two-digit minimum exponent trimmed to one.
pub fn go_json_float(f: f64) -> String {
    if f == f.trunc() && f.abs() < 1e21 {
        return format!("{}", f as i128);
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    format!("{f}")
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which go-yaml uses.
pub fn go_g_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let (d, dp) = digits(f);
    let exp = dp - 1;
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = d.split_at(1);
        let m = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        return format!(
            "{sign}{m}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    }
    format!("{f}")
}

fn json_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    n.as_f64().map_or_else(|| n.to_string(), go_json_float)
}

fn sorted(m: &Map<String, Json>) -> Vec<(&String, &Json)> {
    let mut v: Vec<(&String, &Json)> = m.iter().collect();
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    v
}

fn json_into(v: &Json, indent: usize, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&json_number(n)),
        Json::String(s) => json_string(s, out),
        Json::Array(a) if a.is_empty() => out.push_str("[]"),
        Json::Object(m) if m.is_empty() => out.push_str("{}"),
        Json::Array(a) => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&" ".repeat(indent + 4));
                json_into(x, indent + 4, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        Json::Object(m) => {
            out.push_str("{\n");
            let items = sorted(m);
            let n = items.len();
            for (i, (k, x)) in items.into_iter().enumerate() {
                out.push_str(&" ".repeat(indent + 4));
                json_string(k, out);
                out.push_str(": ");
                json_into(x, indent + 4, out);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
    }
}

/// A kubectl `List` printed while its items are produced: `begin`, then
/// `item` for each object, then `end`; the bytes equal the printer's output
/// for the whole list.
pub struct ListStream {
    json: bool,
    items: usize,
}

impl ListStream {
    pub fn begin(json: bool) -> (ListStream, String) {
        let head = if json {
            "{\n    \"apiVersion\": \"v1\",\n    \"items\": ["
        } else {
            "apiVersion: v1\nitems:"
        };
        (ListStream { json, items: 0 }, head.to_string())
    }

    pub fn item(&mut self, v: &Json) -> String {
        self.items += 1;
        if self.json {
            let mut s = String::from(if self.items == 1 { "\n" } else { ",\n" });
            s.push_str("        ");
            json_into(v, 8, &mut s);
            s
        } else {
            let mut y = Yaml {
                out: String::from("\n"),
                column: 0,
            };
            y.sequence(std::slice::from_ref(v), 0);
            y.out
        }
    }

    pub fn end(self) -> String {
        match (self.json, self.items) {
            (true, 0) => "],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n".into(),
            (true, _) => "\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n".into(),
            (false, 0) => " []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n".into(),
            (false, _) => "\nkind: List\nmetadata:\n  resourceVersion: \"\"\n".into(),
        }
    }
}

/// `kubectl get -o json`.
pub fn kubectl_json(v: &Json) -> String {
    let mut s = String::new();
    json_into(v, 0, &mut s);
    s.push('\n');
    s
}

// ---------------------------------------------------------------- YAML ---

/// go-yaml v2's map key order.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return natural_cmp_of(a.as_bytes(), b.as_bytes());
    }
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    natural_cmp_of(&ar, &br)
}

fn natural_cmp_of<T: Copy + Into<char>>(a: &[T], b: &[T]) -> Ordering {
    let ch = |s: &[T], i: usize| -> char { s[i].into() };
    let mut i = 0;
    while i < a.len() && i < b.len() {
        let (ca, cb) = (ch(a, i), ch(b, i));
        if ca == cb {
            i += 1;
            continue;
        }
        let al = ca.is_alphabetic();
        let bl = cb.is_alphabetic();
        if al && bl {
            return ca.cmp(&cb);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ca == '0' || cb == '0' {
            let mut j = i;
            while j > 0 {
                j -= 1;
                let c = ch(a, j);
                if !c.is_ascii_digit() {
                    break;
                }
                if c != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < a.len() && ch(a, ai).is_ascii_digit() {
            an = an
                .saturating_mul(10)
                .saturating_add(i64::from(ch(a, ai) as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < b.len() && ch(b, bi).is_ascii_digit() {
            bn = bn
                .saturating_mul(10)
                .saturating_add(i64::from(ch(b, bi) as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ca.cmp(&cb);
    }
    a.len().cmp(&b.len())
}

/// Sort as Go's `sort.Sort` orders small inputs (insertion sort up to 12
/// elements), which matters because go-yaml's key order is not transitive
/// (`a10 < a1b < a9 < a10`); larger maps use a stable sort, which agrees
/// with Go's whenever the keys do not form such a cycle.
fn go_sort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    if v.len() <= 12 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && less(&v[j], &v[j - 1]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
    } else {
        v.sort_by(|a, b| {
            if less(a, b) {
                Ordering::Less
            } else if less(b, a) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
    }
}

/// Whether go-yaml v2 would read the plain scalar back as something other
/// than a string (so it must be double-quoted).
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let Some(first) = s.chars().next() else {
        return true;
    };
    if !("+-.0123456789".contains(first)) {
        return false;
    }
    is_go_int(s) || is_go_float(s) || is_base60(s) || is_timestamp(s)
}

/// `strconv.ParseInt(s, 0, 64)` (or ParseUint) would accept it.
fn is_go_int(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix, prefixed) = if let Some(r) = t.strip_prefix("0x").or(t.strip_prefix("0X")) {
        (r, 16, true)
    } else if let Some(r) = t.strip_prefix("0b").or(t.strip_prefix("0B")) {
        (r, 2, true)
    } else if let Some(r) = t.strip_prefix("0o").or(t.strip_prefix("0O")) {
        (r, 8, true)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8, true)
    } else {
        (t, 10, false)
    };
    // Underscores are allowed only with a base prefix, between digits.
    let clean: String = if prefixed {
        if digits.starts_with('_') && radix != 8 || digits.ends_with('_') || digits.contains("__") {
            return false;
        }
        digits.replace('_', "")
    } else {
        digits.to_string()
    };
    !clean.is_empty() && clean.chars().all(|c| c.is_digit(radix))
}

/// `strconv.ParseFloat(s, 64)` would accept it (decimal forms; Go also
/// takes hex floats, infinities and NaN spelled out).
fn is_go_float(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    if ["inf", "infinity", "nan"].contains(&lower.as_str()) {
        return true;
    }
    let (mant, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let mut seen_digit = false;
    let mut seen_dot = false;
    for c in mant.chars() {
        match c {
            '0'..='9' => seen_digit = true,
            '.' if !seen_dot => seen_dot = true,
            '_' => {}
            _ => return false,
        }
    }
    if !seen_digit {
        return false;
    }
    match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        }
    }
}

/// YAML 1.1 sexagesimal floats such as `1:20` (go-yaml quotes them).
fn is_base60(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match t.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (t, None),
    };
    let mut parts = int.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if head.is_empty()
        || !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut any = false;
    for p in parts {
        any = true;
        if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
        if p.len() == 2 && p.as_bytes()[0] > b'5' {
            return false;
        }
    }
    any && frac.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit() || c == '_'))
}

/// go-yaml v2's timestamp forms: `2006-1-2`, and with a time after `T`,
/// `t` or a space.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let num = |min: usize, max: usize, i: &mut usize| -> bool {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i - start >= min
    };
    if !num(4, 4, &mut i) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !num(1, 2, &mut i) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !num(1, 2, &mut i) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    if !matches!(b[i], b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    if !num(1, 2, &mut i) || b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    if !num(1, 2, &mut i) || b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    if !num(1, 2, &mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        num(0, 9, &mut i);
    }
    let rest = &s[i.min(s.len())..];
    rest.is_empty()
        || rest == "Z"
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':')
}

fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{85}')
        || (' '..='~').contains(&c)
        || ('\u{a0}'..='\u{d7ff}').contains(&c)
        || (('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}')
        || ('\u{10000}'..='\u{10ffff}').contains(&c)
}

/// The scalar styles go-yaml may use for a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml v2's choice of style (encoder request, then emitter analysis).
fn style_for(s: &str, key: bool) -> Style {
    if s.is_ascii() {
        style_of(s, s.as_bytes(), key)
    } else {
        let v: Vec<char> = s.chars().collect();
        style_of(s, &v, key)
    }
}

fn style_of<T: Copy + Into<char>>(s: &str, chars: &[T], key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if resolves_to_non_string(s) {
        Style::Double
    } else {
        Style::Plain
    };
    let (mut flow_ind, mut block_ind, mut special) = (false, false, false);
    let (mut line_breaks, mut leading_space, mut leading_break) = (false, false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        flow_ind = true;
        block_ind = true;
    }
    let mut preceded_ws = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let c: char = c.into();
        let next: Option<char> = chars.get(i + 1).map(|&x| x.into());
        let followed_ws = next.is_none_or(|x| x == ' ' || x == '\t' || x == '\n' || x == '\r');
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                flow_ind = true;
                block_ind = true;
            }
            if c == '?' || c == ':' {
                flow_ind = true;
                if followed_ws {
                    block_ind = true;
                }
            }
            if c == '-' && followed_ws {
                flow_ind = true;
                block_ind = true;
            }
        } else {
            if ",?[]{}".contains(c) {
                flow_ind = true;
            }
            if c == ':' {
                flow_ind = true;
                if followed_ws {
                    block_ind = true;
                }
            }
            if c == '#' && preceded_ws {
                flow_ind = true;
                block_ind = true;
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == '\n' || c == '\r' {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if c == '\n' || c == '\r' {
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    }
    let mut block_plain = true;
    let mut single = true;
    let mut block = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        block_plain = false;
    }
    if trailing_space {
        block = false;
    }
    if break_space {
        block_plain = false;
        single = false;
    }
    if space_break || special {
        block_plain = false;
        single = false;
        block = false;
    }
    if line_breaks {
        block_plain = false;
    }
    if block_ind {
        block_plain = false;
    }
    let _ = flow_ind;
    let mut style = requested;
    if style == Style::Plain && (!block_plain || s.is_empty()) {
        style = Style::Single;
    }
    if style == Style::Literal && (!block || key) {
        style = Style::Double;
    }
    if style == Style::Single && !single {
        style = Style::Double;
    }
    style
}

struct Yaml {
    out: String,
    column: usize,
}

impl Yaml {
    fn put(&mut self, s: &str) {
        let tail = match s.rfind('\n') {
            Some(i) => {
                self.column = 0;
                &s[i + 1..]
            }
            None => s,
        };
        self.column += if tail.is_ascii() {
            tail.len()
        } else {
            tail.chars().count()
        };
        self.out.push_str(s);
    }

    fn newline_indent(&mut self, indent: usize) {
        self.put("\n");
        self.put(&" ".repeat(indent));
    }

    /// A scalar string at the current position; `indent` is where folded
    /// lines continue, `key` whether it is a mapping key (never folded).
    fn string(&mut self, s: &str, indent: usize, key: bool) {
        match style_for(s, key) {
            Style::Plain => self.folded(s, indent, !key, '\0'),
            Style::Single => {
                self.put("'");
                let escaped = s.replace('\'', "''");
                self.folded(&escaped, indent, !key, '\'');
                self.put("'");
            }
            Style::Double => {
                self.put("\"");
                let mut e = String::new();
                for c in s.chars() {
                    match c {
                        '"' => e.push_str("\\\""),
                        '\\' => e.push_str("\\\\"),
                        '\0' => e.push_str("\\0"),
                        '\u{7}' => e.push_str("\\a"),
                        '\u{8}' => e.push_str("\\b"),
                        '\t' => e.push_str("\\t"),
                        '\n' => e.push_str("\\n"),
                        '\u{b}' => e.push_str("\\v"),
                        '\u{c}' => e.push_str("\\f"),
                        '\r' => e.push_str("\\r"),
                        '\u{1b}' => e.push_str("\\e"),
                        '\u{85}' => e.push_str("\\N"),
                        '\u{a0}' => e.push_str("\\_"),
                        '\u{2028}' => e.push_str("\\L"),
                        '\u{2029}' => e.push_str("\\P"),
                        c if !is_printable(c) || c == '\u{feff}' => {
                            let v = c as u32;
                            if v <= 0xff {
                                e.push_str(&format!("\\x{v:02X}"));
                            } else if v <= 0xffff {
                                e.push_str(&format!("\\u{v:04X}"));
                            } else {
                                e.push_str(&format!("\\U{v:08X}"));
                            }
                        }
                        c => e.push(c),
                    }
                }
                self.folded(&e, indent, !key, '"');
                self.put("\"");
            }
            Style::Literal => {
                let chomp = if !s.ends_with('\n') {
                    "-"
                } else if s.ends_with("\n\n") {
                    "+"
                } else {
                    ""
                };
                let hint = if s.starts_with(' ') || s.starts_with('\n') {
                    "2"
                } else {
                    ""
                };
                self.put(&format!("|{hint}{chomp}"));
                let body = s.strip_suffix('\n').unwrap_or(s);
                for line in body.split('\n') {
                    self.put("\n");
                    if !line.is_empty() {
                        self.put(&" ".repeat(indent));
                        self.put(line);
                    }
                }
            }
        }
    }

    /// Write `s`, breaking at a single space once past column 80 (the
    /// emitter's best width), continuing at `indent`.
    fn folded(&mut self, s: &str, indent: usize, breaks: bool, quote: char) {
        // No space can reach past column 80: nothing to fold.
        let width = if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        };
        if !breaks || !s.contains(' ') || self.column + width <= 80 {
            self.put(s);
            return;
        }
        let chars: Vec<char> = s.chars().collect();
        let mut prev_space = false;
        for (i, &c) in chars.iter().enumerate() {
            let next_space = chars.get(i + 1) == Some(&' ');
            let inner = quote == '\0' || (i > 0 && i + 1 < chars.len());
            if c == ' ' && breaks && !prev_space && self.column > 80 && !next_space && inner {
                self.newline_indent(indent);
                prev_space = true;
                continue;
            }
            prev_space = c == ' ';
            let mut buf = [0u8; 4];
            self.put(c.encode_utf8(&mut buf));
        }
    }

    fn scalar(&mut self, v: &Json, indent: usize) {
        match v {
            Json::Null => self.put("null"),
            Json::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Json::Number(n) => {
                let s = if let Some(i) = n.as_i64() {
                    i.to_string()
                } else if let Some(u) = n.as_u64() {
                    u.to_string()
                } else {
                    n.as_f64().map_or_else(|| n.to_string(), go_g_float)
                };
                self.put(&s);
            }
            Json::String(s) => self.string(s, indent, false),
            Json::Array(_) => self.put("[]"),
            Json::Object(_) => self.put("{}"),
        }
    }

    fn is_block(v: &Json) -> bool {
        match v {
            Json::Array(a) => !a.is_empty(),
            Json::Object(m) => !m.is_empty(),
            _ => false,
        }
    }

    /// A mapping whose first key is written at the current position and the
    /// rest at `indent`.
    fn mapping(&mut self, m: &Map<String, Json>, indent: usize) {
        let mut items: Vec<(&String, &Json)> = m.iter().collect();
        go_sort(&mut items, |a, b| natural_cmp(a.0, b.0) == Ordering::Less);
        for (i, (k, v)) in items.into_iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            self.string(k, indent, true);
            self.put(":");
            match v {
                Json::Object(inner) if !inner.is_empty() => {
                    self.newline_indent(indent + 2);
                    self.mapping(inner, indent + 2);
                }
                Json::Array(a) if !a.is_empty() => {
                    self.newline_indent(indent);
                    self.sequence(a, indent);
                }
                other => {
                    self.put(" ");
                    self.scalar(other, indent + 2);
                }
            }
        }
    }

    /// A sequence whose first dash is at the current position, the rest at
    /// `indent`.
    fn sequence(&mut self, a: &[Json], indent: usize) {
        for (i, v) in a.iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            self.put("- ");
            match v {
                Json::Object(m) if Self::is_block(v) => self.mapping(m, indent + 2),
                Json::Array(x) if Self::is_block(v) => self.sequence(x, indent + 2),
                other => self.scalar(other, indent + 2),
            }
        }
    }
}

/// `kubectl get -o yaml`.
pub fn kubectl_yaml(v: &Json) -> String {
    let mut y = Yaml {
        out: String::new(),
        column: 0,
    };
    match v {
        Json::Object(m) if !m.is_empty() => y.mapping(m, 0),
        Json::Array(a) if !a.is_empty() => y.sequence(a, 0),
        other => y.scalar(other, 0),
    }
    y.out.push('\n');
    y.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_as_go_yaml() {
        let mut keys = vec![
            "z10", "é", "a-b", "10", "a.b", "a_b", "Ab", "1", "B", "Z9", "9",
        ];
        go_sort(&mut keys, |a, b| natural_cmp(a, b) == Ordering::Less);
        assert_eq!(
            keys,
            ["1", "9", "10", "Ab", "B", "Z9", "a-b", "a.b", "a_b", "z10", "é"]
        );
        // Pairs as kubectl orders them: a cycle, so no total order exists.
        assert_eq!(natural_cmp("a10", "a1b"), Ordering::Less);
        assert_eq!(natural_cmp("a1b", "a9"), Ordering::Less);
        assert_eq!(natural_cmp("a9", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("x12", "x1y2"), Ordering::Less);
    }

    #[test]
    fn styles_as_kubectl_prints_them() {
        for (s, want) in [
            ("true", Style::Double),
            ("0123", Style::Double),
            ("0x1F", Style::Double),
            ("+1", Style::Double),
            (".5", Style::Double),
            ("1e3", Style::Double),
            ("Yes", Style::Double),
            ("2008-01-01T01:01:01Z", Style::Double),
            ("~", Style::Double),
            ("", Style::Double),
            ("|pipe", Style::Single),
            ("'sq", Style::Single),
            ("#hash", Style::Single),
            ("- dash", Style::Single),
            ("-", Style::Single),
            (" lead", Style::Single),
            ("trail ", Style::Single),
            ("a: b", Style::Single),
            ("x #y", Style::Single),
            ("key:", Style::Single),
            ("?q", Style::Plain),
            ("x:y", Style::Plain),
            ("a,b", Style::Plain),
            ("<html>&", Style::Plain),
            ("é unicode", Style::Plain),
            ("tab\there", Style::Double),
            ("a\u{1}b", Style::Double),
            ("a \nb", Style::Double),
            ("line1\nline2", Style::Literal),
        ] {
            assert_eq!(style_for(s, false), want, "{s:?}");
        }
    }

    #[test]
    fn streamed_lists_equal_printed_lists() {
        let a =
            serde_json::json!({"kind": "ConfigMap", "data": {"b": "x y", "a": [1, {"c": null}]}});
        let b = serde_json::json!({"kind": "Secret", "type": "Opaque"});
        for items in [vec![], vec![a.clone()], vec![a, b]] {
            let list = serde_json::json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}});
            for json in [true, false] {
                let (mut st, mut out) = ListStream::begin(json);
                for i in &items {
                    out.push_str(&st.item(i));
                }
                out.push_str(&st.end());
                let whole = if json {
                    kubectl_json(&list)
                } else {
                    kubectl_yaml(&list)
                };
                assert_eq!(out, whole, "json={json} items={}", items.len());
            }
        }
    }

    #[test]
    fn floats_as_go_prints_them() {
        assert_eq!(go_json_float(1.5), "1.5");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(100.0), "100");
        assert_eq!(go_g_float(1e6), "1e+06");
        assert_eq!(go_g_float(123456.0), "123456");
        assert_eq!(go_g_float(0.0001), "0.0001");
        assert_eq!(go_g_float(0.00001), "1e-05");
    }
}
