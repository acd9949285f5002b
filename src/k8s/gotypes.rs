//! A schema read at run time from a checkout of the Kubernetes API Go types
//! (`--k8s-api DIR`: kubernetes/api, with apimachinery's `pkg/apis/meta/v1`
//! beside it or inside DIR). Every struct field's tags carry what decoding
//! needs: `protobuf:"<wire>,<number>,opt|rep,name=..."` gives the field
//! number, `json:"name,omitempty"` the JSON name, omitempty and inline, and
//! the Go type gives pointer-ness, repetition, maps and the special types
//! (Time, MicroTime, Duration, IntOrString, Quantity, RawExtension, FieldsV1).
//! Kinds are the structs that embed TypeMeta, in packages whose `doc.go`
//! names their group (`+groupName=`) or whose register.go declares
//! `const GroupName = "..."`. Only the user's checkout is read; no
//! Kubernetes source is part of this program.
#![forbid(unsafe_code)]

use super::schema::{Field, Message, Schema, Ty};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A Go declaration of interest.
#[derive(Debug, Clone)]
enum Decl {
    Struct(Vec<GoField>),
    /// `type X <underlying>` for a non-struct type.
    Alias(String),
}

#[derive(Debug, Clone)]
struct GoField {
    go_type: String,
    json: String,
    omitempty: bool,
    /// Go 1.24's `omitzero`: omitted when zero, structs (Time) included.
    omitzero: bool,
    inline: bool,
    number: Option<u32>,
}

/// One Go package: its declarations and import aliases.
#[derive(Debug, Default)]
struct Package {
    decls: BTreeMap<String, Decl>,
    imports: HashMap<String, String>,
    /// From a `// +groupName=` marker (doc.go).
    group: Option<String>,
    /// From `const GroupName = "..."` (register.go).
    const_group: Option<String>,
}

/// Why a checkout cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("no Go API types with protobuf tags found under {0}")]
    Empty(PathBuf),
}

/// The package key of a directory: the path after `k8s.io/api/` or
/// `k8s.io/apimachinery/` if present, else relative to the root. A Go
/// module cache names its directories `api@v0.31.0`: the `@version` of a
/// path segment is ignored.
fn package_key(root: &Path, dir: &Path) -> String {
    let rel = dir
        .strip_prefix(root)
        .unwrap_or(dir)
        .to_string_lossy()
        .replace('\\', "/");
    let rel = rel
        .split('/')
        .map(|seg| seg.split_once('@').map_or(seg, |(name, _)| name))
        .collect::<Vec<_>>()
        .join("/");
    let rel = format!("/{rel}");
    for marker in [
        "/k8s.io/api/",
        "/k8s.io/apimachinery/",
        "/apimachinery/",
        "/api/",
    ] {
        if let Some(i) = rel.find(marker) {
            return rel[i + marker.len()..].to_string();
        }
    }
    rel.trim_start_matches('/').to_string()
}

/// The package key an import path refers to.
fn import_key(path: &str) -> String {
    for marker in ["k8s.io/api/", "k8s.io/apimachinery/"] {
        if let Some(rest) = path.strip_prefix(marker) {
            return rest.to_string();
        }
    }
    path.to_string()
}

/// The value of `key` in a Go struct tag (`key:"value" other:"..."`),
/// matching the whole key: `protobuf` is not found in `proto:"..."` and
/// `json` not in `xjson:"..."`.
fn tag_value<'a>(tags: &'a str, key: &str) -> Option<&'a str> {
    let b = tags.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        let k0 = i;
        while i < b.len() && b[i] != b':' && b[i] != b' ' && b[i] != b'"' {
            i += 1;
        }
        let k = &tags[k0..i];
        if i + 1 >= b.len() || b[i] != b':' || b[i + 1] != b'"' {
            return None;
        }
        i += 2;
        let v0 = i;
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        let v = tags.get(v0..i.min(b.len()))?;
        i += 1;
        if k == key {
            return Some(v);
        }
    }
    None
}

/// A struct field line: `Name Type `tags``, `Type `tags`` (embedded) or a
/// bare embedded `pkg.Type`. Embedded structs without a JSON name are
/// inlined, as Go's encoding/json does (`json:",inline"` or `json:""`).
fn parse_field(line: &str) -> Option<GoField> {
    let (decl, tags) = match line.split_once('`') {
        Some((d, t)) => (d, t.split('`').next().unwrap_or("")),
        None => (line, ""),
    };
    let words: Vec<&str> = decl.split_whitespace().collect();
    let (go_type, embedded) = match words.as_slice() {
        [ty] => (ty.to_string(), true),
        [.., ty] if words.len() >= 2 => (ty.to_string(), false),
        _ => return None,
    };
    let json = tag_value(tags, "json").unwrap_or("");
    if json == "-" {
        return None;
    }
    let mut parts = json.split(',');
    let name = parts.next().unwrap_or("").to_string();
    let opts: Vec<&str> = parts.collect();
    // `protobuf:"bytes,2,opt,name=x"`, `varint,1,name=x`, `bytes,1,req`:
    // the number is the second item whatever follows.
    let number = tag_value(tags, "protobuf")
        .and_then(|p| p.split(',').nth(1))
        .and_then(|n| n.trim().parse().ok());
    Some(GoField {
        go_type,
        json: name.clone(),
        omitempty: opts.contains(&"omitempty"),
        omitzero: opts.contains(&"omitzero"),
        inline: name.is_empty() && (opts.contains(&"inline") || embedded),
        number,
    })
}

/// Go source without its comments (`//` to the end of the line and
/// `/* ... */`, which may span lines), keeping line breaks; strings, raw
/// strings (struct tags) and runes are left alone.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if d == '\n' {
                        out.push('\n');
                    }
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
                out.push(' ');
            }
            '"' | '`' | '\'' => {
                out.push(c);
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == '\\' && c != '`' {
                        if let Some(e) = chars.next() {
                            out.push(e);
                        }
                    } else if d == c || (d == '\n' && c != '`') {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// `GroupName = "apps"` (with or without `const` and a type), as
/// register.go declares the package's API group.
fn group_const(line: &str) -> Option<String> {
    let rest = line.strip_prefix("const ").unwrap_or(line).trim_start();
    let rest = rest.strip_prefix("GroupName")?;
    let (ty, value) = rest.split_once('=')?;
    if !matches!(ty.trim(), "" | "string") {
        return None;
    }
    let value = value.trim();
    let value = value.strip_prefix('"')?.strip_suffix('"')?;
    Some(value.to_string())
}

/// Whether a build constraint before the package clause excludes the file
/// from every build (`//go:build ignore`, `// +build ignore`), as generator
/// programs kept beside the types are.
fn build_ignored(text: &str) -> bool {
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("package ") {
            return false;
        }
        let expr = l
            .strip_prefix("//go:build ")
            .or_else(|| l.strip_prefix("// +build "));
        if expr.is_some_and(|e| e.split_whitespace().any(|w| w == "ignore" || w == "tools")) {
            return true;
        }
    }
    false
}

fn parse_file(text: &str, pkg: &mut Package) {
    if build_ignored(text) {
        return;
    }
    for line in text.lines() {
        if let Some(g) = line.trim().strip_prefix("// +groupName=") {
            pkg.group = Some(g.trim().to_string());
        }
    }
    let code = strip_comments(text);
    let mut lines = code.lines().peekable();
    let mut block = "";
    while let Some(raw) = lines.next() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if block.is_empty() {
            for kw in ["import", "const", "type", "var"] {
                if let Some(rest) = line.strip_prefix(kw) {
                    if rest.trim() == "(" {
                        block = kw;
                    }
                }
            }
            if !block.is_empty() {
                continue;
            }
        } else if line == ")" {
            block = "";
            continue;
        }
        if block == "import" || line.starts_with("import ") {
            let spec = line.strip_prefix("import ").unwrap_or(line);
            let w: Vec<&str> = spec.split_whitespace().collect();
            let (alias, path) = match w.as_slice() {
                [p] => (
                    p.trim_matches('"')
                        .rsplit('/')
                        .next()
                        .unwrap_or("")
                        .to_string(),
                    p.trim_matches('"'),
                ),
                [a, p] => (a.to_string(), p.trim_matches('"')),
                _ => continue,
            };
            pkg.imports.insert(alias, import_key(path));
            continue;
        }
        if block == "const" || line.starts_with("const ") {
            if let Some(g) = group_const(line) {
                pkg.const_group = Some(g);
            }
            continue;
        }
        let rest = if block == "type" {
            line
        } else if let Some(r) = line.strip_prefix("type ") {
            r
        } else {
            continue;
        };
        let mut w = rest.split_whitespace();
        let (Some(name), Some(mut kind)) = (w.next(), w.next()) else {
            continue;
        };
        if kind == "=" {
            // `type A = B`: a Go alias, the same type as B.
            let Some(target) = w.next() else { continue };
            kind = target;
        }
        let name = name.to_string();
        if kind == "struct{}" || rest.trim_end().ends_with("struct{}") {
            pkg.decls.insert(name, Decl::Struct(Vec::new()));
        } else if kind.starts_with("struct") && rest.trim_end().ends_with('{') {
            let mut fields = Vec::new();
            let mut depth = 1;
            for f in lines.by_ref() {
                let f = f.trim();
                // Braces count outside the struct tag only; a nested
                // anonymous struct's fields are not this struct's.
                let code = f.split('`').next().unwrap_or("");
                let opens = code.matches('{').count();
                let closes = code.matches('}').count();
                if depth == 1 && opens == 0 && closes == 0 && !f.is_empty() {
                    if let Some(gf) = parse_field(f) {
                        fields.push(gf);
                    }
                }
                depth = (depth + opens).saturating_sub(closes);
                if depth == 0 {
                    break;
                }
            }
            pkg.decls.insert(name, Decl::Struct(fields));
        } else if !kind.starts_with("struct") && !kind.starts_with("interface") {
            pkg.decls.insert(name, Decl::Alias(kind.to_string()));
        }
    }
}

struct Builder<'a> {
    packages: &'a BTreeMap<String, Package>,
    schema: Schema,
    index: HashMap<(String, String), usize>,
}

impl Builder<'_> {
    /// Resolve a Go type name used in package `pkg` to (package, name).
    fn locate(&self, pkg: &str, name: &str) -> (String, String) {
        match name.split_once('.') {
            Some((alias, n)) => {
                let p = self
                    .packages
                    .get(pkg)
                    .and_then(|p| p.imports.get(alias))
                    .cloned()
                    .unwrap_or_else(|| alias.to_string());
                (p, n.to_string())
            }
            None => (pkg.to_string(), name.to_string()),
        }
    }

    fn special(pkg: &str, name: &str) -> Option<Ty> {
        let meta = pkg.ends_with("meta/v1");
        Some(match name {
            "Time" if meta => Ty::Time,
            "MicroTime" if meta => Ty::MicroTime,
            "Duration" if meta => Ty::Duration,
            "FieldsV1" if meta => Ty::Raw,
            "IntOrString" if pkg.ends_with("intstr") => Ty::IntOrString,
            "Quantity" if pkg.ends_with("resource") => Ty::Quantity,
            "RawExtension" if pkg.ends_with("runtime") => Ty::Raw,
            "UID" if pkg.ends_with("types") => Ty::String,
            _ => return None,
        })
    }

    /// The schema type of a Go type (without pointer or slice markers).
    fn ty(&mut self, pkg: &str, go: &str, depth: usize) -> Ty {
        let go = go.trim_start_matches('*');
        if depth > 16 {
            return Ty::Bytes;
        }
        match go {
            "string" => return Ty::String,
            "bool" => return Ty::Bool,
            "int" | "int32" | "int64" | "uint32" | "uint64" | "int16" | "uint16" | "uint8" => {
                return Ty::Int
            }
            "[]byte" => return Ty::Bytes,
            _ => {}
        }
        if let Some(rest) = go.strip_prefix("[]") {
            // A slice inside a map value or alias: its element type.
            if rest == "string" {
                return Ty::StringList;
            }
            return self.ty(pkg, rest, depth + 1);
        }
        if let Some(rest) = go.strip_prefix("map[") {
            let v = rest.split_once(']').map_or("string", |(_, v)| v);
            let vt = self.ty(pkg, v, depth + 1);
            return Ty::Map(Box::new(vt));
        }
        let (p, n) = self.locate(pkg, go);
        if let Some(s) = Self::special(&p, &n) {
            return s;
        }
        match self.packages.get(&p).and_then(|x| x.decls.get(&n)).cloned() {
            Some(Decl::Struct(_)) => Ty::Msg(self.message(&p, &n)),
            Some(Decl::Alias(under)) => {
                if under == "[]byte" {
                    Ty::Bytes
                } else if let Some(e) = under.strip_prefix("[]") {
                    if e == "string" {
                        Ty::StringList
                    } else {
                        self.ty(&p, e, depth + 1)
                    }
                } else {
                    self.ty(&p, &under, depth + 1)
                }
            }
            None => Ty::Bytes,
        }
    }

    /// The message index of struct `name` in `pkg`, built on first use
    /// (cycles are fine: the index exists before its fields).
    fn message(&mut self, pkg: &str, name: &str) -> usize {
        let key = (pkg.to_string(), name.to_string());
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        let i = self.schema.types.len();
        self.schema.types.push(Message::default());
        self.index.insert(key, i);
        let Some(Decl::Struct(fields)) = self
            .packages
            .get(pkg)
            .and_then(|p| p.decls.get(name))
            .cloned()
        else {
            return i;
        };
        let mut out = Vec::new();
        for f in fields {
            let Some(number) = f.number else { continue };
            let go = f.go_type.as_str();
            let ptr = go.starts_with('*');
            let bare = go.trim_start_matches('*');
            let repeated = bare.starts_with("[]") && bare != "[]byte";
            let elem = if repeated { &bare[2..] } else { bare };
            let ty = self.ty(pkg, elem, 0);
            out.push(Field {
                number,
                json: if f.inline { "-".into() } else { f.json.clone() },
                repeated,
                inline: f.inline,
                // A field without omitempty/omitzero prints when absent
                // (null, or the scalar's zero). Go would also print a
                // non-pointer struct with omitempty, but the apiserver's
                // protobuf always carries those, so absence means a field
                // newer than the writer, which the writer's JSON omits.
                always: !f.inline && !f.omitempty && !f.omitzero,
                ptr,
                ty,
                since: 0,
            });
        }
        out.sort_by_key(|f| f.number);
        out.dedup_by_key(|f| f.number);
        if let Some(m) = self.schema.types.get_mut(i) {
            m.fields = out;
        }
        i
    }
}

fn walk(root: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| LoadError::Io(d.clone(), e))?;
        for e in rd.flatten() {
            let p = e.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.is_dir() {
                if !name.starts_with('.') && name != "testdata" && name != "vendor" {
                    stack.push(p);
                }
            } else if name.ends_with(".go")
                && !name.ends_with("_test.go")
                // Generated code holds no API types, but register-gen's
                // file is where newer packages declare their GroupName.
                && (!name.contains("generated") || name == "zz_generated.register.go")
            {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Load the schema from a checkout of the API types.
pub fn load(root: &Path) -> Result<Schema, LoadError> {
    let mut packages: BTreeMap<String, Package> = BTreeMap::new();
    for f in walk(root)? {
        let text = std::fs::read_to_string(&f).map_err(|e| LoadError::Io(f.clone(), e))?;
        let dir = f.parent().unwrap_or(root);
        let pkg = packages.entry(package_key(root, dir)).or_default();
        parse_file(&text, pkg);
    }
    let mut b = Builder {
        packages: &packages,
        schema: Schema::default(),
        index: HashMap::new(),
    };
    let mut kinds = Vec::new();
    for (key, pkg) in &packages {
        let version = key.rsplit('/').next().unwrap_or("");
        let group = match pkg.group.as_ref().or(pkg.const_group.as_ref()) {
            Some(g) => g.clone(),
            None if key == "core/v1" => String::new(),
            None => continue,
        };
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        for (name, d) in &pkg.decls {
            let Decl::Struct(fields) = d else { continue };
            let is_kind = fields
                .iter()
                .any(|f| f.inline && f.go_type.ends_with("TypeMeta"));
            if is_kind {
                kinds.push((api_version.clone(), key.clone(), name.clone()));
            }
        }
    }
    for (api_version, pkg, name) in kinds {
        let t = b.message(&pkg, &name);
        b.schema.kinds.insert((api_version, name), t);
    }
    if b.schema.kinds.is_empty() {
        return Err(LoadError::Empty(root.to_path_buf()));
    }
    Ok(b.schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go types written for this test (a made-up group), in the shape the
    /// Kubernetes API uses.
    const META: &str = "package v1\n\ntype TypeMeta struct {\n\tKind string `json:\"kind,omitempty\" protobuf:\"bytes,1,opt,name=kind\"`\n}\n\ntype ObjectMeta struct {\n\tName string `json:\"name,omitempty\" protobuf:\"bytes,1,opt,name=name\"`\n\tLabels map[string]string `json:\"labels,omitempty\" protobuf:\"bytes,11,rep,name=labels\"`\n\tCreationTimestamp Time `json:\"creationTimestamp,omitempty\" protobuf:\"bytes,8,opt,name=creationTimestamp\"`\n}\n\ntype Time struct {\n}\n";
    const DEMO: &str = "// +groupName=demo.example.com\npackage v1\n\nimport (\n\tmetav1 \"k8s.io/apimachinery/pkg/apis/meta/v1\"\n)\n\n// Widget is made up.\ntype Widget struct {\n\tmetav1.TypeMeta `json:\",inline\"`\n\tmetav1.ObjectMeta `json:\"metadata,omitempty\" protobuf:\"bytes,1,opt,name=metadata\"`\n\tSpec WidgetSpec `json:\"spec\" protobuf:\"bytes,2,opt,name=spec\"`\n}\n\ntype Size string\n\ntype WidgetSpec struct {\n\tReplicas *int32 `json:\"replicas,omitempty\" protobuf:\"varint,1,opt,name=replicas\"`\n\tSizes []Size `json:\"sizes,omitempty\" protobuf:\"bytes,2,rep,name=sizes,casttype=Size\"`\n\tPaused bool `json:\"paused,omitempty\" protobuf:\"varint,3,opt,name=paused\"`\n\tParts []Part `json:\"parts\" protobuf:\"bytes,4,rep,name=parts\"`\n}\n\ntype Part struct {\n\tName string `json:\"name\" protobuf:\"bytes,1,opt,name=name\"`\n}\n";

    #[test]
    fn go_tags_give_a_schema_that_decodes() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = tmp.path().join("k8s.io/apimachinery/pkg/apis/meta/v1");
        let demo = tmp.path().join("k8s.io/api/demo/v1");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::create_dir_all(&demo).unwrap();
        std::fs::write(meta.join("types.go"), META).unwrap();
        std::fs::write(demo.join("types.go"), DEMO).unwrap();
        let schema = load(tmp.path()).unwrap();
        assert!(schema.kind("demo.example.com/v1", "Widget").is_some());
        // Widget{metadata{name "w", creationTimestamp{}}, spec{replicas 0,
        // sizes ["S"], paused false}}.
        let raw = b"\x0a\x05\x0a\x01w\x42\x00\x12\x07\x08\x00\x12\x01S\x18\x00";
        let mut v = crate::k8s::envelope::MAGIC.to_vec();
        let tm = b"\x0a\x13demo.example.com/v1\x12\x06Widget";
        v.push(0x0a);
        v.push(tm.len() as u8);
        v.extend_from_slice(tm);
        v.push(0x12);
        v.push(raw.len() as u8);
        v.extend_from_slice(raw);
        let env = crate::k8s::envelope::Envelope::parse(&v).unwrap();
        let d = crate::k8s::decode::decode_envelope(&schema, &env);
        assert_eq!(
            d.object,
            serde_json::json!({
                "apiVersion": "demo.example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w", "creationTimestamp": null},
                "spec": {"replicas": 0, "sizes": ["S"], "parts": null}
            }),
            "{:?}",
            d.notes
        );
    }

    /// Go written for this test in the shapes real API packages use that
    /// the first parser missed: the group only in register.go's or register-gen's
    /// `const GroupName`, a module-cache directory (`api@v0.0.1`), a block
    /// comment holding a backtick inside a struct, a trailing comment, a
    /// `proto:` tag key before `protobuf:`, tags without `opt` (`bytes,2,
    /// name=x`) or with `req` and no name, `type A = B` aliases, an embedded
    /// struct with its own JSON name (not inlined), TypeMeta embedded
    /// without a tag, `json:"-"`, a nested anonymous struct, grouped `type (`
    /// declarations, a single-line import, `struct{}` and a `//go:build ignore`
    /// file.
    const REAL_META: &str = "/*\nheader\n*/\npackage v1\n\nimport \"k8s.io/apimachinery/pkg/types\"\n\ntype TypeMeta struct {\n\tKind string `json:\"kind,omitempty\" protobuf:\"bytes,1,opt,name=kind\"`\n}\n\ntype ObjectMeta struct {\n\tName string `json:\"name,omitempty\" protobuf:\"bytes,1,opt,name=name\"`\n\tUID types.UID `json:\"uid,omitempty\" protobuf:\"bytes,5,opt,name=uid,casttype=k8s.io/apimachinery/pkg/types.UID\"`\n\tCreationTimestamp Time `json:\"creationTimestamp,omitempty,omitzero\" protobuf:\"bytes,8,opt,name=creationTimestamp\"`\n}\n\ntype Time struct {\n\ttime.Time `protobuf:\"-\"`\n}\n\ntype Patch struct{}\n";
    const REAL_DEMO_TYPES: &str = "package v1\n\nimport (\n\tmetav1 \"k8s.io/apimachinery/pkg/apis/meta/v1\"\n)\n\n// Gadget is made up.\ntype Gadget struct {\n\tmetav1.TypeMeta\n\tmetav1.ObjectMeta `json:\"metadata,omitempty\" protobuf:\"bytes,1,opt,name=metadata\"`\n\t/*\n\t\tAn old note with a `backtick` and {braces}.\n\t*/\n\tSpec GadgetSpec `json:\"spec\" protobuf:\"bytes,2,name=spec\"` // trailing { comment\n\tGadgetStatus `json:\"status,omitempty\" protobuf:\"bytes,3,opt,name=status\"`\n\tLocal bool `json:\"-\"`\n\tScratch struct {\n\t\tX string `json:\"x\" protobuf:\"bytes,9,opt,name=x\"`\n\t} `json:\"scratch\"`\n}\n\ntype (\n\tMode string\n\tModeAlias = Mode\n)\n\ntype GadgetSpec struct {\n\tGadgetCommon `json:\",inline\" protobuf:\"bytes,1,req\"`\n\tRule string `proto:\"rule\" json:\"rule,omitempty\" protobuf:\"bytes,3,opt,name=rule\"`\n\tMode *ModeAlias `json:\"mode,omitempty\" protobuf:\"bytes,4,opt,name=mode,casttype=Mode\"`\n}\n\ntype GadgetCommon struct {\n\tCount int32 `json:\"count,omitempty\" protobuf:\"varint,2,name=count\"`\n}\n\ntype GadgetStatus struct {\n\tPhase string `json:\"phase,omitempty\" protobuf:\"bytes,1,opt,name=phase\"`\n}\n";
    const REAL_DEMO_REGISTER: &str = "package v1\n\n// GroupName is the group name use in this package\nconst GroupName = \"gadgets.example.com\"\n\nvar SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: \"v1\"}\n\nfunc addKnownTypes(scheme *runtime.Scheme) error {\n\treturn nil\n}\n";

    #[test]
    fn real_world_go_constructs_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = tmp
            .path()
            .join("k8s.io/apimachinery@v0.0.1/pkg/apis/meta/v1");
        let demo = tmp.path().join("k8s.io/api@v0.0.1/gadgets/v1");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::create_dir_all(&demo).unwrap();
        std::fs::write(meta.join("types.go"), REAL_META).unwrap();
        std::fs::write(demo.join("types.go"), REAL_DEMO_TYPES).unwrap();
        // Newer packages: the GroupName only in register-gen's output.
        std::fs::write(demo.join("zz_generated.register.go"), REAL_DEMO_REGISTER).unwrap();
        std::fs::write(
            demo.join("zz_generated.deepcopy.go"),
            "package v1\n\ntype Gadget struct {\n}\n",
        )
        .unwrap();
        // A generator program beside the types, excluded by its build tag.
        std::fs::write(
            demo.join("gen.go"),
            "//go:build ignore\n\npackage main\n\ntype GadgetSpec struct {\n}\n",
        )
        .unwrap();
        let schema = load(tmp.path()).unwrap();
        let t = schema
            .kind("gadgets.example.com/v1", "Gadget")
            .expect("kind found through register.go");
        let fields = |t: usize| -> Vec<(u32, String)> {
            schema.types[t]
                .fields
                .iter()
                .map(|f| (f.number, f.json.clone()))
                .collect()
        };
        assert_eq!(
            fields(t),
            [(1, "metadata"), (2, "spec"), (3, "status")].map(|(n, j)| (n, j.to_string()))
        );
        let field = |t: usize, n: u32| {
            schema.types[t]
                .fields
                .iter()
                .find(|f| f.number == n)
                .unwrap()
                .clone()
        };
        let Ty::Msg(spec) = field(t, 2).ty else {
            panic!("spec is a message")
        };
        assert_eq!(
            fields(spec),
            [(1, "-"), (3, "rule"), (4, "mode")].map(|(n, j)| (n, j.to_string()))
        );
        assert!(field(spec, 1).inline);
        assert_eq!(field(spec, 4).ty, Ty::String, "alias of an alias of string");
        let Ty::Msg(common) = field(spec, 1).ty else {
            panic!("inline common is a message")
        };
        assert_eq!(fields(common), [(2, "count".to_string())]);
        assert!(!field(t, 3).inline, "embedded with a JSON name is a field");
        let Ty::Msg(meta) = field(t, 1).ty else {
            panic!("metadata is a message")
        };
        assert_eq!(field(meta, 5).ty, Ty::String);
        assert_eq!(field(meta, 8).ty, Ty::Time);
        assert!(!field(meta, 8).always, "omitzero counts as omitempty");
    }

    #[test]
    fn struct_tags_match_whole_keys() {
        let tags = r#"proto:"x" json:"a,omitempty" xjson:"b" protobuf:"bytes,7,opt,name=a""#;
        assert_eq!(tag_value(tags, "json"), Some("a,omitempty"));
        assert_eq!(tag_value(tags, "protobuf"), Some("bytes,7,opt,name=a"));
        assert_eq!(tag_value(r#"xjson:"b""#, "json"), None);
        assert_eq!(
            strip_comments("a /* `x` */ b // c\n\"//s\" `/*t*/`"),
            "a   b \n\"//s\" `/*t*/`"
        );
        assert_eq!(
            group_const("const GroupName = \"apps\""),
            Some("apps".into())
        );
        assert_eq!(group_const("GroupName string = \"\""), Some(String::new()));
        assert_eq!(group_const("GroupNameX = \"no\""), None);
    }
}
