//! `etcd-rescue k8s ...`: Kubernetes objects from a stopped member or a
//! backup, decoded to what kubectl shows.
#![forbid(unsafe_code)]

use super::keyspace_commands::{bolt, damage_note, index, open};
use super::Failure;
use clap::Subcommand;
use etcd_rescue::k8s::render::{kubectl_json, kubectl_yaml, ListStream};
use etcd_rescue::k8s::{columns, schema};
use etcd_rescue::ops::exit;
use etcd_rescue::ops::k8s::{self, K8sObject, Selection, ShowOptions};
use std::io::{Read, Write};
use std::path::PathBuf;

/// How objects print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectFormat {
    Yaml,
    Json,
    Name,
    Wide,
}

/// Options shared by the commands that print objects.
#[derive(clap::Args, Clone)]
pub struct ShowArgs {
    /// Show metadata.managedFields (hidden by default, as kubectl hides them).
    #[arg(long)]
    pub show_managed_fields: bool,
    /// Show Secret data (redacted by default).
    #[arg(long)]
    pub show_secrets: bool,
    /// The apiserver's EncryptionConfiguration (--encryption-provider-config): decrypts
    /// aescbc, aesgcm and secretbox values.
    #[arg(long, value_name = "FILE")]
    pub encryption_config: Option<PathBuf>,
    /// An unwrapped KMS data key (KMS v2: the DEK or seed), base64, for the KMS plugin NAME.
    #[arg(long, value_name = "NAME=BASE64")]
    pub kms_dek: Vec<String>,
    /// Read the schema from this checkout of the Kubernetes API Go types (kubernetes/api, with
    /// apimachinery's pkg/apis/meta/v1 inside it) instead of the built-in one.
    #[arg(long, value_name = "DIR")]
    pub k8s_api: Option<PathBuf>,
}

impl ShowArgs {
    fn schema(&self) -> Result<std::borrow::Cow<'static, schema::Schema>, Failure> {
        match &self.k8s_api {
            None => Ok(std::borrow::Cow::Borrowed(schema::builtin())),
            Some(dir) => etcd_rescue::k8s::gotypes::load(dir)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| Failure {
                    code: exit::UNUSABLE,
                    message: format!("--k8s-api: {e}"),
                }),
        }
    }

    fn options(&self) -> Result<ShowOptions, Failure> {
        let mut keyring = match &self.encryption_config {
            Some(p) => Some(
                etcd_rescue::k8s::crypt::Keyring::from_config(&std::fs::read_to_string(p)?)
                    .map_err(|e| Failure {
                        code: exit::UNUSABLE,
                        message: format!("{}: {e}", p.display()),
                    })?,
            ),
            None => None,
        };
        for d in &self.kms_dek {
            let bad = || Failure {
                code: exit::UNUSABLE,
                message: format!("--kms-dek {d:?}: expected NAME=BASE64"),
            };
            let (name, key) = d.split_once('=').ok_or_else(bad)?;
            let key = etcd_rescue::k8s::crypt::b64_decode(key).ok_or_else(bad)?;
            keyring
                .get_or_insert_with(Default::default)
                .kms_keys
                .insert(name.to_string(), key);
        }
        Ok(ShowOptions {
            managed_fields: self.show_managed_fields,
            secrets: self.show_secrets,
            keyring,
        })
    }
}

#[derive(Subcommand)]
pub enum K8sCommand {
    /// Objects as `kubectl get` shows them, read from a stopped member or a backup.
    #[command(after_help = "\
RESOURCE is any name kubectl takes: plural, singular or short (po, deploy, cm, svc, ing, crd, ...),
or <plural>.<group> for custom resources (stored under <group>/<plural>).

Examples:
  etcd-rescue k8s get /var/lib/etcd pods -A
  etcd-rescue k8s get backup.db deploy web -n shop -o yaml
  etcd-rescue k8s get backup.db secrets -n kube-system -o json --show-secrets
  etcd-rescue k8s get /var/lib/etcd widgets.example.com -A -o name
  etcd-rescue k8s get backup.db cm app-config -n prod --rev 41234 -o yaml

Exit codes: 0 shown; 1 some object did not decode (named on stderr) or a named object is not
found; 2 unusable input or unknown resource.")]
    Get {
        /// Data dir, member dir, db file or snapshot file.
        path: PathBuf,
        resource: String,
        name: Option<String>,
        /// Namespace (default: "default").
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// All namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Read at this etcd revision (default: the newest).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// The apiserver's --etcd-prefix.
        #[arg(long, default_value = "/registry")]
        prefix: String,
        /// Print the stored bytes of the one object selected.
        #[arg(long)]
        raw: bool,
        #[arg(short = 'o', long = "output", value_enum)]
        output: Option<ObjectFormat>,
        #[command(flatten)]
        show: ShowArgs,
    },
    /// Write every object (or those of RESOURCEs) as YAML files: DIR/<resource>/[<namespace>/]<name>.yaml.
    #[command(after_help = "\
Examples:
  etcd-rescue k8s extract backup.db --to ./objects
  etcd-rescue k8s extract /var/lib/etcd --to ./restore deploy svc cm secrets -n shop --for-apply \\
      --encryption-config /etc/kubernetes/enc.yaml --show-secrets
  kubectl apply -R -f ./restore

--for-apply strips what the server sets (uid, resourceVersion, creationTimestamp, managedFields,
generation, ownerReferences, status, Service cluster IPs, Pod node names) and leaves out what
controllers recreate (events, endpoints, leases, controller revisions, controller-owned objects,
service account tokens). Secrets are written with mode 0600. Exit 1 if some object could not be
decoded or written (named on stderr).")]
    Extract {
        /// Data dir, member dir, db file or snapshot file.
        path: PathBuf,
        /// Kubectl resource names; none: every object.
        resources: Vec<String>,
        /// The directory to write (must not exist or be empty, unless --force).
        #[arg(long)]
        to: PathBuf,
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// Also write every older stored revision (<name>.rev-<revision>.yaml).
        #[arg(long)]
        all_revisions: bool,
        /// Strip server-set fields and skip controller-made objects so `kubectl apply -R` recreates them.
        #[arg(long)]
        for_apply: bool,
        /// Write into a non-empty directory.
        #[arg(long)]
        force: bool,
        #[arg(long, default_value = "/registry")]
        prefix: String,
        #[command(flatten)]
        show: ShowArgs,
    },
    /// Objects and bytes per kind and namespace, the largest and most revised objects.
    #[command(after_help = "\
Examples:
  etcd-rescue k8s stats /var/lib/etcd
  etcd-rescue k8s stats backup.db -o json | jq '.per_kind'")]
    Stats {
        path: PathBuf,
        #[arg(long, default_value = "/registry")]
        prefix: String,
        /// How many objects the largest/most-revised lists show.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[command(flatten)]
        out: super::OutputArg,
    },
    /// Decode one stored value (a file, or - for stdin) to YAML or JSON, as `auger decode` does.
    #[command(after_help = "\
Examples:
  etcdctl get /registry/pods/default/web --print-value-only | etcd-rescue k8s decode -
  etcd-rescue k8s decode value.bin -o json")]
    Decode {
        /// The value's file, or - for standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// The etcd key the value was stored under (aesgcm and KMS authenticate it).
        #[arg(long, default_value = "")]
        key: String,
        #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
        output: ObjectFormat,
        #[command(flatten)]
        show: ShowArgs,
    },
    /// (Developers) infer the built-in schema from Kubernetes' round-trip test data.
    #[command(hide = true)]
    InferSchema {
        /// Folders of `<group>.<version>.<Kind>.pb` files with `.json` beside them.
        #[arg(required = true)]
        testdata: Vec<PathBuf>,
        /// Go facts (pointer, omitempty) to apply.
        #[arg(long)]
        facts: Option<PathBuf>,
    },
}

fn print_one(
    o: &serde_json::Value,
    format: ObjectFormat,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        ObjectFormat::Json => out.write_all(kubectl_json(o).as_bytes()),
        _ => out.write_all(kubectl_yaml(o).as_bytes()),
    }
}

#[allow(clippy::too_many_arguments)]
fn get(
    schema: &schema::Schema,
    path: &std::path::Path,
    sel: &Selection,
    raw: bool,
    output: Option<ObjectFormat>,
    show: &ShowOptions,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let o = open(path)?;
    let b = bolt(&o)?;
    let idx = index(&b)?;
    let mut code = damage_note(&idx);
    let fail = |e: k8s::SelectError| Failure {
        code: match e {
            k8s::SelectError::UnknownResource(_) => exit::UNUSABLE,
            _ => exit::FINDINGS,
        },
        message: e.to_string(),
    };
    let report = |ob: &K8sObject, code: &mut i32| {
        if let Some(e) = &ob.error {
            eprintln!("etcd-rescue: {}: {e}", ob.key);
            *code = exit::FINDINGS;
        }
        for n in &ob.notes {
            eprintln!("etcd-rescue: {}: note: {n}", ob.key);
        }
    };
    // A list as YAML or JSON streams: memory stays flat for any number.
    if let (Some(f @ (ObjectFormat::Yaml | ObjectFormat::Json)), None, false) =
        (output, &sel.name, raw)
    {
        let (mut stream, head) = ListStream::begin(f == ObjectFormat::Json);
        out.write_all(head.as_bytes())?;
        k8s::select_each(schema, &idx, sel, show, &mut |_, ob| {
            report(&ob, &mut code);
            match &ob.object {
                Some(o) => out.write_all(stream.item(o).as_bytes()),
                None => Ok(()),
            }
        })
        .map_err(fail)?;
        out.write_all(stream.end().as_bytes())?;
        return Ok(code);
    }
    let (res, objects) = k8s::select(schema, &idx, sel, show).map_err(fail)?;
    for ob in &objects {
        report(ob, &mut code);
    }
    if objects.is_empty() {
        if let Some(n) = &sel.name {
            eprintln!("Error: {} {n:?} not found", res.plural);
            return Ok(exit::FINDINGS);
        }
        match &sel.namespace {
            Some(ns) if res.namespaced => eprintln!("No resources found in {ns} namespace."),
            _ => eprintln!("No resources found"),
        }
        return Ok(code);
    }
    if raw {
        let [one] = objects.as_slice() else {
            return Err(Failure {
                code: exit::UNUSABLE,
                message: format!("--raw prints one object; {} match: name one", objects.len()),
            });
        };
        let v = idx
            .keys
            .iter()
            .find(|h| h.key == one.key.as_bytes())
            .and_then(|h| h.at(one.mod_revision))
            .and_then(|e| idx.value_of(e));
        if let Some(kv) = v {
            out.write_all(kv.value)?;
        }
        return Ok(code);
    }
    match output {
        Some(f @ (ObjectFormat::Yaml | ObjectFormat::Json)) => {
            let shown = objects.iter().filter(|o| o.object.is_some()).count();
            if sel.name.is_some() && shown == 1 {
                if let Some(obj) = objects.iter().find_map(|o| o.object.as_ref()) {
                    print_one(obj, f, out)?;
                }
            } else {
                print_one(&k8s::list_of(objects), f, out)?;
            }
        }
        Some(ObjectFormat::Name) => {
            for ob in objects.iter().filter(|o| o.object.is_some()) {
                writeln!(
                    out,
                    "{}/{}",
                    etcd_rescue::k8s::resources::kind_name(&ob.kind(), &ob.api_version()),
                    ob.name()
                )?;
            }
        }
        wide => {
            let all = sel.namespace.is_none() && res.namespaced;
            let mut headers = vec![];
            if all {
                headers.push("NAMESPACE");
            }
            // kubectl's default columns for the kind; ages count from now,
            // as kubectl's do.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let kind_headers = columns::headers(&res.group, &res.kind);
            headers.extend(kind_headers.iter().copied());
            let kind_wide = columns::wide_headers(&res.group, &res.kind);
            if wide.is_some() {
                headers.extend(kind_wide.iter().copied());
                headers.extend(["KIND", "RESOURCE-VERSION", "SIZE", "STORED-AS"]);
            }
            let rows: Vec<Vec<String>> = objects
                .iter()
                .map(|ob| {
                    let mut r = vec![];
                    if all {
                        r.push(ob.namespace().unwrap_or_default());
                    }
                    match &ob.object {
                        Some(o) => r.extend(columns::cells(&res.group, &res.kind, o, now)),
                        None => {
                            // Undecodable: the name where kubectl has one, the
                            // rest unknown.
                            for h in &kind_headers {
                                r.push(if *h == "NAME" {
                                    ob.name()
                                } else {
                                    "<unknown>".into()
                                });
                            }
                        }
                    }
                    if wide.is_some() {
                        match &ob.object {
                            Some(o) => r.extend(columns::wide_cells(&res.group, &res.kind, o)),
                            None => r.extend(kind_wide.iter().map(|_| "<unknown>".to_string())),
                        }
                        r.push(format!("{}/{}", ob.api_version(), ob.kind()));
                        r.push(ob.mod_revision.to_string());
                        r.push(ob.size.to_string());
                        r.push(ob.format.clone());
                    }
                    r
                })
                .collect();
            plain_table(out, &headers, &rows)?;
        }
    }
    Ok(code)
}

fn extract(
    schema: &schema::Schema,
    path: &std::path::Path,
    to: &std::path::Path,
    force: bool,
    opts: &etcd_rescue::ops::k8s_extract::ExtractOptions,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    if to.exists() && std::fs::read_dir(to)?.next().is_some() && !force {
        return Err(Failure {
            code: exit::UNUSABLE,
            message: format!(
                "{} exists and is not empty (--force writes into it)",
                to.display()
            ),
        });
    }
    let o = open(path)?;
    let b = bolt(&o)?;
    let idx = index(&b)?;
    let mut code = damage_note(&idx);
    let bar = indicatif::ProgressBar::new(0);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} objects {per_sec} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let r = etcd_rescue::ops::k8s_extract::extract(schema, &idx, opts, to, &|n| bar.inc(n))
        .map_err(|e| Failure {
            code: exit::UNUSABLE,
            message: e,
        })?;
    bar.finish_and_clear();
    for (k, e) in &r.errors {
        eprintln!("etcd-rescue: {k}: {e}");
    }
    if !r.errors.is_empty() {
        code = exit::FINDINGS;
    }
    writeln!(
        out,
        "wrote {} objects to {}{}{}",
        r.written,
        to.display(),
        if r.skipped.is_empty() {
            String::new()
        } else {
            format!("; left out {} (--for-apply)", r.skipped.len())
        },
        if r.errors.is_empty() {
            String::new()
        } else {
            format!("; {} could not be decoded or written", r.errors.len())
        }
    )?;
    for (res, n) in &r.per_resource {
        writeln!(out, "  {n:>7}  {res}")?;
    }
    let mut why: std::collections::BTreeMap<&str, usize> = Default::default();
    for (_, w) in &r.skipped {
        *why.entry(w).or_default() += 1;
    }
    for (w, n) in why {
        writeln!(out, "  left out {n}: {w}")?;
    }
    for (k, w) in &r.conversions.not_converted {
        eprintln!("etcd-rescue: warning: {k}: not converted, written as stored: {w}");
    }
    for l in r.conversions.summary() {
        writeln!(out, "{l}")?;
    }
    Ok(code)
}

fn stats(
    path: &std::path::Path,
    prefix: &str,
    top: usize,
    format: etcd_rescue::ops::render::Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let o = open(path)?;
    let b = bolt(&o)?;
    let idx = index(&b)?;
    let code = damage_note(&idx);
    let s = etcd_rescue::ops::k8s_extract::stats(&idx, prefix, top);
    if format == etcd_rescue::ops::render::Format::Json {
        serde_json::to_writer_pretty(&mut *out, &s).map_err(std::io::Error::other)?;
        writeln!(out)?;
        return Ok(code);
    }
    let h = etcd_rescue::ops::status::humanize_bytes;
    writeln!(
        out,
        "{} objects, {} (newest values), {} with all {} retained revisions",
        s.total.objects,
        h(s.total.bytes),
        h(s.total.all_revisions_bytes),
        s.total.revisions
    )?;
    for (title, map) in [("KIND", &s.per_kind), ("NAMESPACE", &s.per_namespace)] {
        let mut rows: Vec<(&String, &etcd_rescue::ops::k8s_extract::Tally)> = map.iter().collect();
        rows.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|(k, t)| {
                vec![
                    k.clone(),
                    t.objects.to_string(),
                    h(t.bytes),
                    t.revisions.to_string(),
                    h(t.all_revisions_bytes),
                ]
            })
            .collect();
        writeln!(out)?;
        plain_table(
            out,
            &[title, "OBJECTS", "BYTES", "REVISIONS", "ALL-REVISION BYTES"],
            &rows,
        )?;
    }
    for (title, list) in [("LARGEST", &s.largest), ("MOST REVISED", &s.most_revised)] {
        writeln!(out)?;
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|n| {
                vec![
                    n.key.clone(),
                    h(n.bytes),
                    n.revisions.to_string(),
                    h(n.all_revisions_bytes),
                ]
            })
            .collect();
        plain_table(
            out,
            &[title, "BYTES", "REVISIONS", "ALL-REVISION BYTES"],
            &rows,
        )?;
    }
    Ok(code)
}

/// Columns as kubectl prints them: left-aligned, three spaces apart.
fn plain_table(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let n = cells.len();
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == n {
                    c.to_string()
                } else {
                    format!("{c:<width$}   ", width = w[i])
                }
            })
            .collect::<String>()
    };
    writeln!(out, "{}", line(headers.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

pub fn dispatch(cmd: K8sCommand, out: &mut dyn Write) -> Result<i32, Failure> {
    match cmd {
        K8sCommand::Extract {
            path,
            resources,
            to,
            namespace,
            rev,
            all_revisions,
            for_apply,
            force,
            prefix,
            show,
        } => {
            let schema = show.schema()?;
            let opts = etcd_rescue::ops::k8s_extract::ExtractOptions {
                resources,
                namespace,
                revision: rev,
                all_revisions,
                for_apply,
                prefix,
                show: show.options()?,
            };
            extract(&schema, &path, &to, force, &opts, out)
        }
        K8sCommand::Stats {
            path,
            prefix,
            top,
            out: o,
        } => stats(&path, &prefix, top, o.output, out),
        K8sCommand::Get {
            path,
            resource,
            name,
            namespace,
            all_namespaces,
            rev,
            prefix,
            raw,
            output,
            show,
        } => {
            let sel = Selection {
                resource,
                name,
                namespace: if all_namespaces {
                    None
                } else {
                    Some(namespace.unwrap_or_else(|| "default".into()))
                },
                revision: rev,
                prefix,
            };
            let schema = show.schema()?;
            get(&schema, &path, &sel, raw, output, &show.options()?, out)
        }
        K8sCommand::Decode {
            file,
            key,
            output,
            show,
        } => {
            let mut bytes = Vec::new();
            if file.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut bytes)?;
            } else {
                bytes = std::fs::read(&file)?;
            }
            // etcdctl --print-value-only adds a newline; a stored value
            // never ends with one after a protobuf envelope.
            if bytes.starts_with(b"k8s") && bytes.ends_with(b"\n") {
                bytes.pop();
            }
            let schema = show.schema()?;
            let show = show.options()?;
            let (format, obj, notes, err) =
                k8s::decode_stored(&schema, &show, key.as_bytes(), &bytes);
            for n in &notes {
                eprintln!("etcd-rescue: note: {n}");
            }
            match obj {
                Some(o) => {
                    let o = k8s::served(o, 0, &show);
                    print_one(&o, output, out)?;
                    Ok(exit::OK)
                }
                None => {
                    eprintln!("etcd-rescue: {format}: {}", err.unwrap_or_default());
                    Ok(exit::FINDINGS)
                }
            }
        }
        K8sCommand::InferSchema { testdata, facts } => {
            let pairs = etcd_rescue::k8s::infer::read_pairs(&testdata)?;
            let facts = match facts {
                Some(p) => std::fs::read_to_string(p)?,
                None => String::new(),
            };
            let (text, rep) = etcd_rescue::k8s::infer::schema_file(&pairs, &facts);
            out.write_all(text.as_bytes())?;
            for (what, list) in [
                ("unmatched protobuf field", &rep.unmatched),
                ("unused JSON member", &rep.unused),
                ("ambiguous (settled by JSON order)", &rep.ambiguous),
                ("fact not applied", &rep.bad_facts),
            ] {
                for l in list {
                    eprintln!("{what}: {l}");
                }
            }
            Ok(exit::OK)
        }
    }
}
