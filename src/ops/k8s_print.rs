//! How `k8s get` and `k8s decode` print objects with `-o`/`-w`: kubectl's
//! formats (`yaml`, `json`, `name`, `wide`, `jsonpath=`, `jsonpath-file=`,
//! `custom-columns=`, `custom-columns-file=`), parsed here, and the
//! printers of the non-table ones. Several objects are one kubectl `List`
//! for yaml, json and jsonpath (a template over them reads
//! `{.items[*]...}`); a single named object is printed alone.
#![forbid(unsafe_code)]

use crate::k8s::jsonpath::{self, Column, Template};
use crate::k8s::render::{kubectl_json, kubectl_yaml};
use serde_json::{Map, Value as Json};

/// An output format.
#[derive(Debug, Clone)]
pub enum Format {
    Table,
    Wide,
    Yaml,
    Json,
    Name,
    JsonPath(Template),
    Columns(Vec<Column>),
}

impl Format {
    /// Parse what `-o` was given; files (`jsonpath-file=`,
    /// `custom-columns-file=`) are read with `read`.
    pub fn parse(
        s: &str,
        read: &dyn Fn(&str) -> std::io::Result<String>,
    ) -> Result<Format, String> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let file = |a: Option<&str>| -> Result<String, String> {
            let p = a.filter(|p| !p.is_empty()).ok_or("a file name is needed")?;
            read(p).map_err(|e| format!("{p}: {e}"))
        };
        let jp = |e: jsonpath::Error, t: &str| format!("error parsing jsonpath {t}, {e}");
        match (name, arg) {
            ("yaml", None) => Ok(Format::Yaml),
            ("json", None) => Ok(Format::Json),
            ("name", None) => Ok(Format::Name),
            ("wide", None) => Ok(Format::Wide),
            ("jsonpath" | "template", a) => {
                let t = a.unwrap_or("");
                if t.is_empty() {
                    return Err("template format specified but no template given".into());
                }
                Template::parse(t).map(Format::JsonPath).map_err(|e| jp(e, t))
            }
            ("jsonpath-file" | "templatefile", a) => {
                let t = file(a)?;
                Template::parse(&t).map(Format::JsonPath).map_err(|e| jp(e, &t))
            }
            ("custom-columns", a) => jsonpath::columns_from_spec(a.unwrap_or(""))
                .map(Format::Columns)
                .map_err(|e| e.to_string()),
            ("custom-columns-file", a) => jsonpath::columns_from_file(&file(a)?)
                .map(Format::Columns)
                .map_err(|e| e.to_string()),
            _ => Err(format!(
                "unable to match a printer suitable for the output format {s:?}, allowed formats are: custom-columns,custom-columns-file,json,jsonpath,jsonpath-file,name,wide,yaml"
            )),
        }
    }
}

/// kubectl's `List` of several objects.
pub fn list(items: Vec<Json>) -> Json {
    let mut meta = Map::new();
    meta.insert("resourceVersion".into(), Json::String(String::new()));
    let mut m = Map::new();
    m.insert("apiVersion".into(), Json::String("v1".into()));
    m.insert("items".into(), Json::Array(items));
    m.insert("kind".into(), Json::String("List".into()));
    m.insert("metadata".into(), Json::Object(meta));
    Json::Object(m)
}

/// `-o name`: `kind.group/name`.
pub fn name_line(obj: &Json) -> String {
    let s = |f: &str| obj.get(f).and_then(Json::as_str).unwrap_or("");
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Json::as_str)
        .unwrap_or("");
    format!(
        "{}/{name}",
        crate::k8s::resources::kind_name(s("kind"), s("apiVersion"))
    )
}

/// Print objects in a non-table format. `single`: one object was named,
/// so it is printed alone rather than as a List.
pub fn print(format: &Format, objects: Vec<Json>, single: bool) -> Result<String, String> {
    let one = single && objects.len() == 1;
    let whole = |objects: Vec<Json>| {
        if one {
            objects.into_iter().next().unwrap_or(Json::Null)
        } else {
            list(objects)
        }
    };
    Ok(match format {
        Format::Yaml => kubectl_yaml(&whole(objects)),
        Format::Json => kubectl_json(&whole(objects)),
        Format::Name => objects.iter().map(|o| name_line(o) + "\n").collect(),
        Format::JsonPath(t) => t
            .execute(&whole(objects))
            .map_err(|e| format!("error executing jsonpath: {e}"))?,
        Format::Columns(cols) => {
            let mut rows = vec![cols.iter().map(|c| c.header.clone()).collect::<Vec<_>>()];
            for o in &objects {
                rows.push(jsonpath::column_cells(cols, o).map_err(|e| e.to_string())?);
            }
            table(&rows)
        }
        Format::Table | Format::Wide => return Err("a table is printed by the caller".into()),
    })
}

/// Columns as kubectl's tab writer aligns them: left-aligned, three spaces
/// apart, the last column unpadded.
pub fn table(rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let n = c.chars().count();
            match w.get_mut(i) {
                Some(x) => *x = (*x).max(n),
                None => w.push(n),
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                let pad = w[i] - c.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_file(_: &str) -> std::io::Result<String> {
        Err(std::io::Error::other("no files here"))
    }

    #[test]
    fn formats_parse_as_kubectl_names_them() {
        for (s, ok) in [
            ("yaml", true),
            ("json", true),
            ("name", true),
            ("wide", true),
            ("jsonpath={.metadata.name}", true),
            ("jsonpath=", false),
            ("jsonpath={.a", false),
            ("custom-columns=NAME:.metadata.name", true),
            ("custom-columns=", false),
            ("jsonpath-file=/x", false),
            ("table", false),
        ] {
            assert_eq!(Format::parse(s, &no_file).is_ok(), ok, "{s}");
        }
        let f = Format::parse("jsonpath-file=t", &|_| Ok("{.kind}".into())).unwrap();
        assert_eq!(
            print(&f, vec![json!({"kind": "Pod"})], true).unwrap(),
            "Pod"
        );
    }

    #[test]
    fn lists_wrap_as_kubectl_wraps_them() {
        let objs = vec![
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}}),
        ];
        let jp = Format::parse("jsonpath={.items[*].metadata.name}", &no_file).unwrap();
        assert_eq!(print(&jp, objs.clone(), false).unwrap(), "a b");
        let jp1 = Format::parse("jsonpath={.metadata.name}", &no_file).unwrap();
        assert_eq!(print(&jp1, objs[..1].to_vec(), true).unwrap(), "a");
        assert_eq!(print(&jp1, objs[..1].to_vec(), false).unwrap(), "");
        assert_eq!(
            print(&Format::Name, objs.clone(), false).unwrap(),
            "pod/a\ndeployment.apps/b\n"
        );
        let cc = Format::parse(
            "custom-columns=NAME:.metadata.name,KIND:kind,X:.x",
            &no_file,
        )
        .unwrap();
        assert_eq!(
            print(&cc, objs, false).unwrap(),
            "NAME   KIND         X\na      Pod          <none>\nb      Deployment   <none>\n"
        );
    }
}
