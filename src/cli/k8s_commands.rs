//! `etcd-rescue k8s ...`: Kubernetes objects from a stopped member or a
//! backup, decoded to what kubectl shows.
#![forbid(unsafe_code)]

use super::keyspace_commands::{bolt, damage_note, file_notes, index, open};
use super::Failure;
use clap::Subcommand;
use etcd_rescue::k8s::render::ListStream;
use etcd_rescue::k8s::selector::{self, FieldSelector, LabelSelector};
use etcd_rescue::k8s::{columns, schema};
use etcd_rescue::ops::exit;
use etcd_rescue::ops::k8s::{self, K8sObject, Selection, ShowOptions};
use etcd_rescue::ops::k8s_print::{self, Format};
use std::io::{Read, Write};
use std::path::PathBuf;

/// `-o`/`-w` of the k8s commands, parsed by `k8s_print::Format`.
#[derive(clap::Args, Clone, Default)]
pub struct ObjectOutput {
    /// Output format: yaml, json, name, wide, jsonpath=TEMPLATE, jsonpath-file=FILE,
    /// custom-columns=HEADER:EXPR,..., custom-columns-file=FILE (-w is the same flag).
    #[arg(
        short = 'o',
        long = "output",
        visible_short_alias = 'w',
        value_name = "FORMAT"
    )]
    pub output: Option<String>,
}

impl ObjectOutput {
    fn format(&self, default: Format) -> Result<Format, Failure> {
        match &self.output {
            None => Ok(default),
            Some(s) => Format::parse(s, &|p| std::fs::read_to_string(p)).map_err(usage),
        }
    }
}

fn usage(message: String) -> Failure {
    Failure {
        code: exit::UNUSABLE,
        message,
    }
}

/// `-l` and `--field-selector`.
#[derive(clap::Args, Clone, Default)]
pub struct SelectorArgs {
    /// Label selector, as kubectl takes it: a=b, a==b, a!=b, 'a in (x,y)', 'a notin (x)', a, !a;
    /// comma-separated requirements must all hold.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Field selector on metadata.name and metadata.namespace (=, ==, !=).
    #[arg(long, value_name = "SELECTOR")]
    pub field_selector: Option<String>,
}

impl SelectorArgs {
    fn parse(&self) -> Result<(Option<LabelSelector>, Option<FieldSelector>), Failure> {
        let l = match &self.selector {
            Some(s) => Some(LabelSelector::parse(s).map_err(usage)?),
            None => None,
        };
        let f = match &self.field_selector {
            Some(s) => Some(FieldSelector::parse(s).map_err(usage)?),
            None => None,
        };
        Ok((l, f))
    }
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
TYPE is any name kubectl takes: plural, singular or short (po, deploy, cm, svc, ing, crd, ...),
or <plural>.<group> for custom resources (stored under <group>/<plural>); several as pods,svc;
`all` is kubectl's category (pods, services, replication controllers, daemon sets, deployments,
replica sets, stateful sets, jobs, cron jobs, horizontal pod autoscalers). Names follow the type,
or come as TYPE/NAME.

Examples:
  etcd-rescue k8s get /var/lib/etcd pods -A
  etcd-rescue k8s get /var/lib/etcd all -n shop -l app=web
  etcd-rescue k8s get backup.db pods,svc -A -l 'tier in (front,back),!canary'
  etcd-rescue k8s get backup.db deploy/web svc/web -n shop -o yaml
  etcd-rescue k8s get backup.db pods -A -o jsonpath='{range .items[*]}{.metadata.name}{\"\\t\"}{.spec.nodeName}{\"\\n\"}{end}'
  etcd-rescue k8s get backup.db pods -o custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image
  etcd-rescue k8s get backup.db secrets -n kube-system -o json --show-secrets
  etcd-rescue k8s get /var/lib/etcd widgets.example.com -A -o name
  etcd-rescue k8s get backup.db cm app-config -n prod --rev 41234 -o yaml

Exit codes: 0 shown; 1 some object did not decode (named on stderr) or a named object is not
found; 2 unusable input or unknown resource.")]
    Get {
        /// Data dir, member dir, db file or snapshot file.
        path: PathBuf,
        /// TYPE[,TYPE...] [NAME...], or TYPE/NAME..., or all.
        #[arg(required = true, num_args = 1..)]
        args: Vec<String>,
        /// Namespace (default: "default").
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// All namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        #[command(flatten)]
        selectors: SelectorArgs,
        /// Read at this etcd revision (default: the newest).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// The apiserver's --etcd-prefix.
        #[arg(long, default_value = "/registry")]
        prefix: String,
        /// Print the stored bytes of the one object selected.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        output: ObjectOutput,
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

--for-apply strips what the server and controllers set (uid, resourceVersion, creationTimestamp,
managedFields, generation, selfLink, ownerReferences, status, last-applied and controller
annotations, Service cluster IPs, Pod node names, a Job's generated selector and controller-uid /
job-name labels, pod-template-hash, a volume's claimRef uid) and leaves out what controllers
recreate (events, endpoints, leases, controller revisions, controller-owned objects, service
account tokens), finished Pods and completed Jobs (unless --include-finished), and Secrets unless
--show-secrets (their data would otherwise be the REDACTED placeholder); each is counted.
Without --for-apply, Secrets without --show-secrets are written redacted, with a warning.
Secrets are written with mode 0600. Exit 1 if some object could not be decoded or written
(named on stderr).")]
    Extract {
        /// Data dir, member dir, db file or snapshot file.
        path: PathBuf,
        /// Resources as kubectl names them (TYPE, TYPE,TYPE, TYPE/NAME, all); none: every object.
        resources: Vec<String>,
        /// The directory to write (must not exist or be empty, unless --force).
        #[arg(long)]
        to: PathBuf,
        /// Only this namespace (cluster-scoped objects are still written).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// All namespaces (the default).
        #[arg(short = 'A', long, conflicts_with = "namespace")]
        all_namespaces: bool,
        #[command(flatten)]
        selectors: SelectorArgs,
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// Also write every older stored revision (<name>.rev-<revision>.yaml).
        #[arg(long)]
        all_revisions: bool,
        /// Strip server-set fields and skip controller-made objects so `kubectl apply -R` recreates them.
        #[arg(long)]
        for_apply: bool,
        /// With --for-apply, keep finished Pods and completed or failed Jobs (left out by default).
        #[arg(long, requires = "for_apply")]
        include_finished: bool,
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
  etcd-rescue k8s stats backup.db -o json | jq '.per_kind'

Every byte figure counts value bytes (the stored, possibly encrypted, value; not the key or
etcd's record around it): BYTES of the newest revision of each live object, ALL-REVISION BYTES
of every revision still stored (tombstones count 0). Kinds come from the value's envelope
(apiVersion/kind) without decoding the object.")]
    Stats {
        path: PathBuf,
        #[arg(long, default_value = "/registry")]
        prefix: String,
        /// Only this namespace's objects.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// All namespaces and cluster-scoped objects (the default).
        #[arg(short = 'A', long, conflicts_with = "namespace")]
        all_namespaces: bool,
        /// How many objects the largest/most-revised lists show.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[command(flatten)]
        out: super::OutputArg,
    },
    /// Decode stored values (a file, or - for stdin) to YAML or JSON, as `auger decode` does.
    #[command(after_help = "\
Reads one bare value (etcdctl get --print-value-only), or etcdctl's key-and-value output
(etcdctl get KEY, etcdctl get --prefix: a key line, then the value), one or many pairs.
Several objects print as kubectl's List.

Examples:
  etcdctl get /registry/pods/default/web --print-value-only | etcd-rescue k8s decode -
  etcdctl get /registry/configmaps/ --prefix | etcd-rescue k8s decode - -o name
  etcdctl get /registry/deployments/shop/web | etcd-rescue k8s decode - -o jsonpath='{.spec.replicas}'
  etcd-rescue k8s decode value.bin -o json")]
    Decode {
        /// The value's file, or - for standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// The etcd key the value was stored under (aesgcm and KMS authenticate it); etcdctl's
        /// key lines give it.
        #[arg(long, default_value = "")]
        key: String,
        #[command(flatten)]
        output: ObjectOutput,
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

/// What `k8s get` was asked for, beyond each resource's selection.
struct GetRequest {
    targets: Vec<selector::Target>,
    /// The selection of every target, without resource and name.
    base: Selection,
    raw: bool,
    format: Format,
}

/// One resource's rows: undecodable objects get `<unknown>` cells.
fn table_rows(
    res: &etcd_rescue::k8s::resources::Resource,
    objects: &[K8sObject],
    all: bool,
    wide: bool,
    with_kind: bool,
) -> Vec<Vec<String>> {
    let mut headers: Vec<String> = vec![];
    if all {
        headers.push("NAMESPACE".into());
    }
    // kubectl's default columns for the kind; ages count from now, as
    // kubectl's do.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let kind_headers = columns::headers(&res.group, &res.kind);
    let name_at = kind_headers.iter().position(|h| *h == "NAME");
    headers.extend(kind_headers.iter().map(|h| h.to_string()));
    let kind_wide = columns::wide_headers(&res.group, &res.kind);
    if wide {
        headers.extend(kind_wide.iter().map(|h| h.to_string()));
        headers.extend(["KIND", "RESOURCE-VERSION", "SIZE", "STORED-AS"].map(String::from));
    }
    let mut rows = vec![headers];
    for ob in objects {
        let mut r = vec![];
        // Namespace and name from the key where the object does not name
        // them (a value that decoded only in part), as the apiserver
        // serves them from the key.
        let from_key = etcd_rescue::k8s::resources::key_parts(&ob.key, res);
        if all {
            r.push(ob.namespace().unwrap_or_else(|| {
                from_key
                    .and_then(|(ns, _)| ns)
                    .unwrap_or_default()
                    .to_string()
            }));
        }
        let mut cells = match &ob.object {
            Some(o) => {
                let mut c = columns::cells(&res.group, &res.kind, o, now);
                if let (Some(i), Some((_, name))) = (name_at, from_key) {
                    if let Some(cell) = c.get_mut(i).filter(|c| c.is_empty()) {
                        *cell = name.to_string();
                    }
                }
                c
            }
            // Undecodable: the name where kubectl has one, the rest unknown.
            None => kind_headers
                .iter()
                .map(|h| {
                    if *h == "NAME" {
                        ob.name()
                    } else {
                        "<unknown>".into()
                    }
                })
                .collect(),
        };
        // Several resources: names are TYPE/NAME, as kubectl prints them.
        if let (true, Some(i)) = (with_kind, name_at) {
            if let Some(c) = cells.get_mut(i) {
                let group = if res.group.is_empty() {
                    String::new()
                } else {
                    format!(".{}", res.group)
                };
                *c = format!("{}{group}/{c}", res.kind.to_ascii_lowercase());
            }
        }
        r.extend(cells);
        if wide {
            match &ob.object {
                Some(o) => r.extend(columns::wide_cells(&res.group, &res.kind, o)),
                None => r.extend(kind_wide.iter().map(|_| "<unknown>".to_string())),
            }
            r.push(format!("{}/{}", ob.api_version(), ob.kind()));
            r.push(ob.mod_revision.to_string());
            r.push(ob.size.to_string());
            r.push(ob.format.clone());
        }
        rows.push(r);
    }
    rows
}

fn report_object(ob: &K8sObject, code: &mut i32) {
    if let Some(e) = &ob.error {
        eprintln!("etcd-rescue: {}: {e}", ob.key);
        *code = exit::FINDINGS;
    }
    for n in &ob.notes {
        eprintln!("etcd-rescue: {}: note: {n}", ob.key);
    }
}

fn get(
    schema: &schema::Schema,
    path: &std::path::Path,
    req: &GetRequest,
    show: &ShowOptions,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    // Resolve every resource before reading anything.
    for t in &req.targets {
        if etcd_rescue::k8s::resources::resolve(&t.resource).is_none() {
            return Err(usage(
                k8s::SelectError::UnknownResource(t.resource.clone()).to_string(),
            ));
        }
    }
    let o = open(path)?;
    let b = bolt(&o)?;
    let idx = index(&b)?;
    let mut code = file_notes(&o, &b)?.report().max(damage_note(&idx));
    let fail = |e: k8s::SelectError| Failure {
        code: match e {
            // An unknown type, or a revision etcd would refuse.
            k8s::SelectError::UnknownResource(_)
            | k8s::SelectError::Range(etcd_rescue::mvcc::range::StreamError::Range(_)) => {
                exit::UNUSABLE
            }
            _ => exit::FINDINGS,
        },
        message: e.to_string(),
    };
    // One selection per resource and name.
    let mut sels: Vec<Selection> = Vec::new();
    for t in &req.targets {
        let names: Vec<Option<String>> = if t.names.is_empty() {
            vec![None]
        } else {
            t.names.iter().cloned().map(Some).collect()
        };
        for name in names {
            let mut s = req.base.clone();
            s.resource = t.resource.clone();
            s.name = name;
            sels.push(s);
        }
    }
    let named = sels.iter().any(|s| s.name.is_some());
    // A list as YAML or JSON streams: memory stays flat for any number.
    if let (Format::Yaml | Format::Json, false, false) = (&req.format, named, req.raw) {
        let (mut stream, head) = ListStream::begin(matches!(req.format, Format::Json));
        out.write_all(head.as_bytes())?;
        for sel in &sels {
            k8s::select_each(schema, &idx, sel, show, &mut |_, ob| {
                report_object(&ob, &mut code);
                match &ob.object {
                    Some(o) => out.write_all(stream.item(o).as_bytes()),
                    None => Ok(()),
                }
            })
            .map_err(fail)?;
        }
        out.write_all(stream.end().as_bytes())?;
        return Ok(code);
    }
    let mut groups: Vec<(etcd_rescue::k8s::resources::Resource, Vec<K8sObject>)> = Vec::new();
    for sel in &sels {
        let (res, objects) = k8s::select(schema, &idx, sel, show).map_err(fail)?;
        for ob in &objects {
            report_object(ob, &mut code);
        }
        if let (Some(n), true) = (&sel.name, objects.is_empty()) {
            eprintln!(
                "Error from server (NotFound): {} {n:?} not found",
                res.plural
            );
            code = exit::FINDINGS;
        }
        match groups.iter_mut().find(|(r, _)| r.prefix == res.prefix) {
            Some((_, v)) => {
                for ob in objects {
                    if !v.iter().any(|x| x.key == ob.key) {
                        v.push(ob);
                    }
                }
            }
            None => groups.push((res, objects)),
        }
    }
    let total: usize = groups.iter().map(|(_, v)| v.len()).sum();
    if total == 0 {
        if !named {
            match &req.base.namespace {
                Some(ns) if groups.iter().any(|(r, _)| r.namespaced) => {
                    eprintln!("No resources found in {ns} namespace.")
                }
                _ => eprintln!("No resources found"),
            }
        }
        return Ok(code);
    }
    if req.raw {
        let all: Vec<&K8sObject> = groups.iter().flat_map(|(_, v)| v).collect();
        let [one] = all.as_slice() else {
            return Err(usage(format!(
                "--raw prints one object; {} match: name one",
                all.len()
            )));
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
    match &req.format {
        f @ (Format::Table | Format::Wide) => {
            let all = req.base.namespace.is_none();
            let with_kind =
                groups.iter().filter(|(_, v)| !v.is_empty()).count() > 1 || req.targets.len() > 1;
            let mut first = true;
            for (res, objects) in groups.iter().filter(|(_, v)| !v.is_empty()) {
                if !first {
                    writeln!(out)?;
                }
                first = false;
                let rows = table_rows(
                    res,
                    objects,
                    all && res.namespaced,
                    matches!(f, Format::Wide),
                    with_kind,
                );
                out.write_all(k8s_print::table(&rows).as_bytes())?;
            }
        }
        f => {
            let single = sels.len() == 1 && named;
            let objects: Vec<serde_json::Value> = groups
                .into_iter()
                .flat_map(|(_, v)| v)
                .filter_map(|o| o.object)
                .collect();
            if named && objects.is_empty() {
                // The named objects could not be decoded (said above): no
                // empty list in their place.
                return Ok(exit::FINDINGS);
            }
            match k8s_print::print(f, objects, single) {
                Ok(text) => out.write_all(text.as_bytes())?,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(exit::FINDINGS);
                }
            }
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
    let mut code = file_notes(&o, &b)?.report().max(damage_note(&idx));
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
    for (w, n) in &why {
        writeln!(out, "  left out {n}: {w}")?;
        if w.starts_with("Secrets") {
            eprintln!("etcd-rescue: warning: left out {n} Secrets: pass --show-secrets (and --encryption-config for encrypted ones) to write them");
        }
    }
    if r.redacted_secrets > 0 {
        eprintln!(
            "etcd-rescue: warning: {} Secrets written with their data REDACTED (--show-secrets writes it; do not apply these files)",
            r.redacted_secrets
        );
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
    namespace: Option<&str>,
    top: usize,
    format: etcd_rescue::ops::render::Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let o = open(path)?;
    let b = bolt(&o)?;
    let idx = index(&b)?;
    let code = file_notes(&o, &b)?.report().max(damage_note(&idx));
    let s = etcd_rescue::ops::k8s_extract::stats(&idx, prefix, namespace, top);
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

/// `k8s decode`: every value of the input (etcdctl's key-and-value
/// output, or one bare value), printed as `get` prints objects.
fn decode(
    schema: &schema::Schema,
    bytes: &[u8],
    key: &str,
    format: &Format,
    show: &ShowOptions,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let mut code = exit::OK;
    let mut objects: Vec<K8sObject> = Vec::new();
    for p in etcd_rescue::k8s::etcdctl::split(bytes) {
        let k = if p.key.is_empty() {
            key.as_bytes()
        } else {
            &p.key
        };
        let (stored, obj, notes, err) = k8s::decode_stored(schema, show, k, &p.value);
        let label = if k.is_empty() {
            String::new()
        } else {
            format!("{}: ", String::from_utf8_lossy(k))
        };
        for n in &notes {
            eprintln!("etcd-rescue: {label}note: {n}");
        }
        if obj.is_none() {
            eprintln!(
                "etcd-rescue: {label}{stored}: {}",
                err.clone().unwrap_or_default()
            );
            code = exit::FINDINGS;
        }
        objects.push(K8sObject {
            key: String::from_utf8_lossy(k).into_owned(),
            create_revision: 0,
            mod_revision: 0,
            version: 0,
            lease: 0,
            format: stored,
            size: p.value.len(),
            object: obj.map(|o| k8s::served(o, 0, show)),
            notes,
            error: err,
        });
    }
    match format {
        Format::Table | Format::Wide => {
            // One table per kind, with the kind's columns.
            let mut kinds: Vec<(String, String)> = Vec::new();
            for o in objects.iter().filter(|o| o.object.is_some()) {
                let k = (o.api_version(), o.kind());
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
            for (i, (api, kind)) in kinds.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                let group = api.split_once('/').map_or("", |(g, _)| g);
                let res = etcd_rescue::k8s::resources::builtin()
                    .into_iter()
                    .find(|r| r.kind == *kind && r.group == group)
                    .unwrap_or_else(|| etcd_rescue::k8s::resources::Resource {
                        plural: kind.to_ascii_lowercase(),
                        singular: kind.to_ascii_lowercase(),
                        kind: kind.clone(),
                        group: group.to_string(),
                        namespaced: true,
                        short: vec![],
                        prefix: String::new(),
                    });
                let these: Vec<K8sObject> = objects
                    .iter()
                    .filter(|o| {
                        o.object.is_some()
                            && (o.api_version(), o.kind()) == (api.clone(), kind.clone())
                    })
                    .cloned()
                    .collect();
                let all = these.iter().any(|o| o.namespace().is_some());
                let rows = table_rows(
                    &res,
                    &these,
                    all,
                    matches!(format, Format::Wide),
                    kinds.len() > 1,
                );
                out.write_all(k8s_print::table(&rows).as_bytes())?;
            }
        }
        f => {
            let single = objects.len() == 1;
            let objs: Vec<serde_json::Value> =
                objects.into_iter().filter_map(|o| o.object).collect();
            if objs.is_empty() {
                return Ok(code);
            }
            match k8s_print::print(f, objs, single) {
                Ok(text) => out.write_all(text.as_bytes())?,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(exit::FINDINGS);
                }
            }
        }
    }
    Ok(code)
}

pub fn dispatch(cmd: K8sCommand, out: &mut dyn Write) -> Result<i32, Failure> {
    match cmd {
        K8sCommand::Extract {
            path,
            resources,
            to,
            namespace,
            all_namespaces: _,
            selectors,
            rev,
            all_revisions,
            for_apply,
            include_finished,
            force,
            prefix,
            show,
        } => {
            let schema = show.schema()?;
            let (labels, fields) = selectors.parse()?;
            let opts = etcd_rescue::ops::k8s_extract::ExtractOptions {
                resources,
                namespace,
                revision: rev,
                all_revisions,
                for_apply,
                include_finished,
                prefix,
                labels,
                fields,
                show: show.options()?,
            };
            extract(&schema, &path, &to, force, &opts, out)
        }
        K8sCommand::Stats {
            path,
            prefix,
            namespace,
            all_namespaces: _,
            top,
            out: o,
        } => stats(&path, &prefix, namespace.as_deref(), top, o.output, out),
        K8sCommand::Get {
            path,
            args,
            namespace,
            all_namespaces,
            selectors,
            rev,
            prefix,
            raw,
            output,
            show,
        } => {
            let (labels, fields) = selectors.parse()?;
            let req = GetRequest {
                targets: selector::targets(&args).map_err(usage)?,
                base: Selection {
                    resource: String::new(),
                    name: None,
                    namespace: if all_namespaces {
                        None
                    } else {
                        Some(namespace.unwrap_or_else(|| "default".into()))
                    },
                    revision: rev,
                    prefix,
                    labels,
                    fields,
                },
                raw,
                format: output.format(Format::Table)?,
            };
            let schema = show.schema()?;
            get(&schema, &path, &req, &show.options()?, out)
        }
        K8sCommand::Decode {
            file,
            key,
            output,
            show,
        } => {
            let format = output.format(Format::Yaml)?;
            let mut bytes = Vec::new();
            if file.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut bytes)?;
            } else {
                bytes = std::fs::read(&file)?;
            }
            let schema = show.schema()?;
            let show = show.options()?;
            decode(&schema, &bytes, &key, &format, &show, out)
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
                ("only ever zero, unnamed, left out", &rep.unnamed),
            ] {
                for l in list {
                    eprintln!("{what}: {l}");
                }
            }
            Ok(exit::OK)
        }
    }
}
