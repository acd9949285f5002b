//! Converting decoded objects of API versions a current kube-apiserver no
//! longer serves to the version that replaced them, as Kubernetes' own
//! conversions do (`extensions/v1beta1` and `apps/v1beta1/2` workloads to
//! `apps/v1`, CronJob to `batch/v1`, PodDisruptionBudget to `policy/v1`,
//! Ingress to `networking.k8s.io/v1`, ...), and dropping fields today's API
//! no longer has (ObjectMeta's `clusterName`). Used by `k8s extract
//! --for-apply`; the rules are Kubernetes facts written from its
//! conversion functions, and every change that is not a pure rename is
//! reported. Objects of removed versions with no replacement
//! (PodSecurityPolicy, PodPreset, alpha DRA) are left as they are, with
//! the reason.
#![forbid(unsafe_code)]

use serde_json::{Map, Value as Json};

/// What converting one object did: the object to write, and how it
/// changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub object: Json,
    pub change: Change,
    /// Fields left out because the written version has no place for them.
    pub dropped: Vec<Dropped>,
}

/// How an object's version changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Already a served version.
    Served,
    /// Converted from `from` to `to`.
    Converted { from: String, to: String },
    /// No lossless conversion: written under its own version.
    Cannot { api_version: String, reason: String },
}

/// A field left out, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub path: String,
    pub why: &'static str,
}

/// Group/versions no longer served whose kinds have no lossless
/// replacement, and why.
const NO_REPLACEMENT: &[(&str, &str, &str)] = &[
    (
        "extensions/v1beta1",
        "PodSecurityPolicy",
        "PodSecurityPolicy was removed in Kubernetes 1.25 (Pod Security admission replaces it)",
    ),
    (
        "policy/v1beta1",
        "PodSecurityPolicy",
        "PodSecurityPolicy was removed in Kubernetes 1.25 (Pod Security admission replaces it)",
    ),
    (
        "settings.k8s.io/v1alpha1",
        "PodPreset",
        "PodPreset was removed in Kubernetes 1.20 without a replacement",
    ),
    (
        "networking.k8s.io/v1alpha1",
        "ClusterCIDR",
        "ClusterCIDR was removed in Kubernetes 1.29 without a replacement",
    ),
    (
        "resource.k8s.io/v1alpha1",
        "*",
        "resource.k8s.io/v1alpha1 (classic DRA) was removed in Kubernetes 1.27; its successors differ in structure",
    ),
    (
        "resource.k8s.io/v1alpha2",
        "*",
        "resource.k8s.io/v1alpha2 was removed in Kubernetes 1.31; its successors differ in structure",
    ),
];

/// The served version each old group/version's kinds convert to, and the
/// kinds it covers ("*": all).
const RENAMES: &[(&str, &str, &str)] = &[
    (
        "extensions/v1beta1",
        "Deployment DaemonSet ReplicaSet",
        "apps/v1",
    ),
    ("apps/v1beta1", "Deployment StatefulSet", "apps/v1"),
    (
        "apps/v1beta2",
        "Deployment StatefulSet DaemonSet ReplicaSet",
        "apps/v1",
    ),
    (
        "extensions/v1beta1",
        "NetworkPolicy",
        "networking.k8s.io/v1",
    ),
    ("extensions/v1beta1", "Ingress", "networking.k8s.io/v1"),
    (
        "networking.k8s.io/v1beta1",
        "Ingress",
        "networking.k8s.io/v1",
    ),
    (
        "networking.k8s.io/v1beta1",
        "IngressClass",
        "networking.k8s.io/v1",
    ),
    (
        "networking.k8s.io/v1alpha1",
        "IPAddress ServiceCIDR",
        "networking.k8s.io/v1",
    ),
    (
        "networking.k8s.io/v1beta1",
        "IPAddress ServiceCIDR",
        "networking.k8s.io/v1",
    ),
    ("batch/v1beta1", "CronJob", "batch/v1"),
    ("batch/v2alpha1", "CronJob", "batch/v1"),
    ("policy/v1beta1", "PodDisruptionBudget", "policy/v1"),
    (
        "autoscaling/v2beta1",
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
    ),
    (
        "autoscaling/v2beta2",
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
    ),
    (
        "scheduling.k8s.io/v1alpha1",
        "PriorityClass",
        "scheduling.k8s.io/v1",
    ),
    (
        "scheduling.k8s.io/v1beta1",
        "PriorityClass",
        "scheduling.k8s.io/v1",
    ),
    (
        "rbac.authorization.k8s.io/v1alpha1",
        "*",
        "rbac.authorization.k8s.io/v1",
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        "*",
        "rbac.authorization.k8s.io/v1",
    ),
    (
        "storage.k8s.io/v1alpha1",
        "VolumeAttachment CSIStorageCapacity VolumeAttributesClass",
        "storage.k8s.io/v1",
    ),
    ("storage.k8s.io/v1beta1", "*", "storage.k8s.io/v1"),
    (
        "coordination.k8s.io/v1beta1",
        "Lease",
        "coordination.k8s.io/v1",
    ),
    ("events.k8s.io/v1beta1", "Event", "events.k8s.io/v1"),
    ("node.k8s.io/v1alpha1", "RuntimeClass", "node.k8s.io/v1"),
    ("node.k8s.io/v1beta1", "RuntimeClass", "node.k8s.io/v1"),
    (
        "certificates.k8s.io/v1beta1",
        "CertificateSigningRequest",
        "certificates.k8s.io/v1",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
    ),
    (
        "discovery.k8s.io/v1beta1",
        "EndpointSlice",
        "discovery.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1alpha1",
        "FlowSchema PriorityLevelConfiguration",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "FlowSchema PriorityLevelConfiguration",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "FlowSchema PriorityLevelConfiguration",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "FlowSchema PriorityLevelConfiguration",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "apiregistration.k8s.io/v1beta1",
        "APIService",
        "apiregistration.k8s.io/v1",
    ),
];

/// The served version an old `apiVersion` + `kind` converts to.
pub fn target(api_version: &str, kind: &str) -> Option<&'static str> {
    RENAMES
        .iter()
        .find(|(v, kinds, _)| {
            *v == api_version && (*kinds == "*" || kinds.split(' ').any(|k| k == kind))
        })
        .map(|(_, _, to)| *to)
}

fn no_replacement(api_version: &str, kind: &str) -> Option<&'static str> {
    NO_REPLACEMENT
        .iter()
        .find(|(v, k, _)| *v == api_version && (*k == "*" || *k == kind))
        .map(|(_, _, why)| *why)
}

fn obj_mut<'a>(j: &'a mut Json, key: &str) -> Option<&'a mut Map<String, Json>> {
    j.get_mut(key).and_then(Json::as_object_mut)
}

/// Remove ObjectMeta fields a current API no longer has, in the object's
/// metadata and in every embedded metadata (pod templates, job templates,
/// claim templates).
fn drop_removed_meta(obj: &mut Json, dropped: &mut Vec<Dropped>) {
    // An explicit stack: the decoder bounds the depth, but a JSON value
    // from elsewhere need not be bounded.
    let mut stack: Vec<(&mut Json, String)> = vec![(obj, String::new())];
    while let Some((v, path)) = stack.pop() {
        match v {
            Json::Object(m) => {
                for (k, child) in m.iter_mut() {
                    if k == "metadata" {
                        if let Some(meta) = child.as_object_mut() {
                            if meta.remove("clusterName").is_some() {
                                dropped.push(Dropped {
                                    path: format!("{path}.metadata.clusterName"),
                                    why: "ObjectMeta.clusterName was removed in Kubernetes 1.25",
                                });
                            }
                        }
                    }
                    if matches!(child, Json::Object(_) | Json::Array(_)) {
                        stack.push((child, format!("{path}.{k}")));
                    }
                }
            }
            Json::Array(a) => {
                for (i, child) in a.iter_mut().enumerate() {
                    if matches!(child, Json::Object(_) | Json::Array(_)) {
                        stack.push((child, format!("{path}[{i}]")));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Convert `obj` (a decoded object with `apiVersion` and `kind`) to a
/// version a current apiserver serves.
pub fn to_served(obj: &Json) -> Conversion {
    let mut object = obj.clone();
    let mut dropped = Vec::new();
    drop_removed_meta(&mut object, &mut dropped);
    let api_version = obj
        .get("apiVersion")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let kind = obj.get("kind").and_then(Json::as_str).unwrap_or("");
    if target(&api_version, kind).is_some() && !obj.get("metadata").is_some_and(Json::is_object) {
        // Decoded without a schema (fields by number): nothing to rename.
        return Conversion {
            object,
            change: Change::Cannot {
                api_version,
                reason: "decoded without a schema (fields by number), so not converted".into(),
            },
            dropped,
        };
    }
    if let Some(why) = no_replacement(&api_version, kind) {
        return Conversion {
            object,
            change: Change::Cannot {
                api_version,
                reason: why.to_string(),
            },
            dropped,
        };
    }
    let Some(to) = target(&api_version, kind) else {
        drop_removed_served(kind, &mut object, &mut dropped);
        return Conversion {
            object,
            change: Change::Served,
            dropped,
        };
    };
    let before = (object.clone(), dropped.len());
    if let Err(reason) = convert_body(&api_version, kind, &mut object, &mut dropped) {
        dropped.truncate(before.1);
        return Conversion {
            object: before.0,
            change: Change::Cannot {
                api_version,
                reason,
            },
            dropped,
        };
    }
    if let Some(m) = object.as_object_mut() {
        m.insert("apiVersion".into(), Json::String(to.to_string()));
    }
    drop_removed_served(kind, &mut object, &mut dropped);
    Conversion {
        object,
        change: Change::Converted {
            from: api_version,
            to: to.to_string(),
        },
        dropped,
    }
}

/// What `--for-apply` converted, could not convert and left out, over
/// many objects.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Tally {
    /// "<from> <Kind> → <to>" → objects.
    pub converted: std::collections::BTreeMap<String, usize>,
    /// (key, "<apiVersion> <Kind>: reason") of objects written under their
    /// own version.
    pub not_converted: Vec<(String, String)>,
    /// Why a field was left out → objects.
    pub dropped: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    pub fn add(&mut self, key: &str, kind: &str, change: &Change, dropped: &[Dropped]) {
        match change {
            Change::Served => {}
            Change::Converted { from, to } => {
                *self
                    .converted
                    .entry(format!("{from} {kind} → {to}"))
                    .or_default() += 1
            }
            Change::Cannot {
                api_version,
                reason,
            } => self
                .not_converted
                .push((key.to_string(), format!("{api_version} {kind}: {reason}"))),
        }
        let mut whys: Vec<&str> = dropped.iter().map(|d| d.why).collect();
        whys.dedup();
        for w in whys {
            *self.dropped.entry(w.to_string()).or_default() += 1;
        }
    }

    /// The summary lines: one counting both, then the details.
    pub fn summary(&self) -> Vec<String> {
        let n: usize = self.converted.values().sum();
        if n == 0 && self.not_converted.is_empty() && self.dropped.is_empty() {
            return vec![];
        }
        let mut out = vec![format!(
            "converted {n} objects to a served version; {} could not be converted (written under their own version)",
            self.not_converted.len()
        )];
        for (what, n) in &self.converted {
            out.push(format!("  converted {n}: {what}"));
        }
        let mut why: std::collections::BTreeMap<&str, usize> = Default::default();
        for (_, w) in &self.not_converted {
            *why.entry(w).or_default() += 1;
        }
        for (w, n) in why {
            out.push(format!("  not converted {n}: {w}"));
        }
        for (w, n) in &self.dropped {
            out.push(format!("  field left out of {n}: {w}"));
        }
        out
    }
}

/// Fields of still-served kinds that a current API no longer has.
fn drop_removed_served(kind: &str, obj: &mut Json, dropped: &mut Vec<Dropped>) {
    let removed: &[(&str, &str, &'static str)] = &[
        (
            "Service",
            "topologyKeys",
            "Service spec.topologyKeys was removed in Kubernetes 1.22",
        ),
        (
            "Node",
            "externalID",
            "Node spec.externalID was removed in Kubernetes 1.16",
        ),
    ];
    if let Some(spec) = obj_mut(obj, "spec") {
        for (k, field, why) in removed {
            if *k == kind && spec.remove(*field).is_some() {
                dropped.push(Dropped {
                    path: format!(".spec.{field}"),
                    why,
                });
            }
        }
    }
}

/// The kind-specific part of a conversion: `Err` when it cannot be done
/// without loss.
fn convert_body(
    from: &str,
    kind: &str,
    obj: &mut Json,
    dropped: &mut Vec<Dropped>,
) -> Result<(), String> {
    match (from, kind) {
        (
            "extensions/v1beta1" | "apps/v1beta1" | "apps/v1beta2",
            "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet",
        ) => workload(from, kind, obj, dropped),
        ("extensions/v1beta1" | "networking.k8s.io/v1beta1", "Ingress") => ingress(obj),
        ("policy/v1beta1", "PodDisruptionBudget") => {
            pdb(obj);
            Ok(())
        }
        ("autoscaling/v2beta1", "HorizontalPodAutoscaler") => hpa_v2beta1(obj, dropped),
        ("rbac.authorization.k8s.io/v1alpha1", "RoleBinding" | "ClusterRoleBinding") => {
            rbac_subjects(obj);
            Ok(())
        }
        ("node.k8s.io/v1alpha1", "RuntimeClass") => {
            runtime_class(obj);
            Ok(())
        }
        ("certificates.k8s.io/v1beta1", "CertificateSigningRequest") => csr(obj),
        ("admissionregistration.k8s.io/v1beta1", _) => webhooks(obj),
        (
            "flowcontrol.apiserver.k8s.io/v1alpha1"
            | "flowcontrol.apiserver.k8s.io/v1beta1"
            | "flowcontrol.apiserver.k8s.io/v1beta2",
            "PriorityLevelConfiguration",
        ) => {
            if let Some(l) = obj_mut(obj, "spec").and_then(|s| s.get_mut("limited")) {
                if let Some(l) = l.as_object_mut() {
                    if let Some(v) = l.remove("assuredConcurrencyShares") {
                        l.insert("nominalConcurrencyShares".into(), v);
                    }
                }
            }
            Ok(())
        }
        ("discovery.k8s.io/v1beta1", "EndpointSlice") => {
            if let Some(eps) = obj.get_mut("endpoints").and_then(Json::as_array_mut) {
                for e in eps.iter_mut().filter_map(Json::as_object_mut) {
                    if let Some(t) = e.remove("topology") {
                        e.insert("deprecatedTopology".into(), t);
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Deployments, DaemonSets, ReplicaSets, StatefulSets of the beta groups:
/// the same fields as apps/v1 but for `rollbackTo` (Deployment) and
/// `templateGeneration` (DaemonSet), which apps/v1 keeps only as
/// annotations of the server's; the selector, which the beta versions
/// defaulted from the template's labels, is required in apps/v1.
fn workload(
    from: &str,
    kind: &str,
    obj: &mut Json,
    dropped: &mut Vec<Dropped>,
) -> Result<(), String> {
    let Some(spec) = obj_mut(obj, "spec") else {
        return Err("the object has no spec".into());
    };
    if kind == "Deployment" && spec.remove("rollbackTo").is_some() {
        dropped.push(Dropped {
            path: ".spec.rollbackTo".into(),
            why: "apps/v1 has no rollbackTo (a rollback requested but not yet done)",
        });
    }
    if kind == "DaemonSet" && spec.remove("templateGeneration").is_some() {
        dropped.push(Dropped {
            path: ".spec.templateGeneration".into(),
            why: "apps/v1 has no templateGeneration (the server's own counter)",
        });
    }
    if spec.get("selector").is_none_or(Json::is_null) {
        let labels = spec
            .get("template")
            .and_then(|t| t.get("metadata"))
            .and_then(|m| m.get("labels"))
            .and_then(Json::as_object)
            .filter(|l| !l.is_empty())
            .cloned();
        match labels {
            Some(l) => {
                let mut sel = Map::new();
                sel.insert("matchLabels".into(), Json::Object(l));
                spec.insert("selector".into(), Json::Object(sel));
            }
            None => {
                return Err(format!(
                    "{from} {kind} has no selector and its template no labels; apps/v1 requires a selector"
                ))
            }
        }
    }
    Ok(())
}

/// An Ingress backend of the beta versions (`serviceName`, `servicePort`)
/// as networking.k8s.io/v1 writes it (`service.name`, `service.port.number`
/// or `.name`).
fn ingress_backend(b: &mut Json) {
    let Some(m) = b.as_object_mut() else { return };
    let name = m.remove("serviceName");
    let port = m.remove("servicePort");
    if name.is_none() && port.is_none() {
        return;
    }
    let mut svc = Map::new();
    if let Some(n) = name.filter(|n| n.as_str().is_some_and(|s| !s.is_empty())) {
        svc.insert("name".into(), n);
    }
    let mut p = Map::new();
    match port {
        Some(Json::String(s)) => {
            p.insert("name".into(), Json::String(s));
        }
        Some(Json::Number(n)) if n.as_i64() != Some(0) => {
            p.insert("number".into(), Json::Number(n));
        }
        _ => {}
    }
    if !p.is_empty() {
        svc.insert("port".into(), Json::Object(p));
    }
    m.insert("service".into(), Json::Object(svc));
}

fn ingress(obj: &mut Json) -> Result<(), String> {
    let Some(spec) = obj_mut(obj, "spec") else {
        return Ok(());
    };
    if let Some(mut b) = spec.remove("backend") {
        ingress_backend(&mut b);
        spec.insert("defaultBackend".into(), b);
    }
    if let Some(rules) = spec.get_mut("rules").and_then(Json::as_array_mut) {
        for r in rules {
            let Some(paths) = r
                .get_mut("http")
                .and_then(|h| h.get_mut("paths"))
                .and_then(Json::as_array_mut)
            else {
                continue;
            };
            for p in paths.iter_mut().filter_map(Json::as_object_mut) {
                // The beta versions' default; v1 requires it.
                p.entry("pathType")
                    .or_insert_with(|| Json::String("ImplementationSpecific".into()));
                if let Some(b) = p.get_mut("backend") {
                    ingress_backend(b);
                }
            }
        }
    }
    Ok(())
}

/// policy/v1beta1 selected no pods with an empty selector and policy/v1
/// selects all: the apiserver's conversion turns v1beta1's `{}` into v1's
/// match-none selector and v1beta1's match-all marker into `{}`.
fn pdb(obj: &mut Json) {
    const LABEL: &str = "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match";
    let Some(spec) = obj_mut(obj, "spec") else {
        return;
    };
    let Some(sel) = spec.get_mut("selector") else {
        return;
    };
    let expr = |op: &str| {
        let mut r = Map::new();
        r.insert("key".into(), Json::String(LABEL.into()));
        r.insert("operator".into(), Json::String(op.into()));
        Json::Object(r)
    };
    let empty = sel.as_object().is_some_and(|m| {
        m.values().all(|v| match v {
            Json::Object(o) => o.is_empty(),
            Json::Array(a) => a.is_empty(),
            Json::Null => true,
            _ => false,
        })
    });
    if empty {
        let mut m = Map::new();
        m.insert("matchExpressions".into(), Json::Array(vec![expr("Exists")]));
        *sel = Json::Object(m);
        return;
    }
    let match_all = sel.as_object().is_some_and(|m| {
        m.get("matchLabels")
            .and_then(Json::as_object)
            .is_none_or(|l| l.is_empty())
            && m.get("matchExpressions") == Some(&Json::Array(vec![expr("DoesNotExist")]))
    });
    if match_all {
        *sel = Json::Object(Map::new());
    }
}

/// A v2beta1 metric target (`targetValue`, `targetAverageValue`,
/// `targetAverageUtilization`) as v2's `target`.
fn metric_target(m: &mut Map<String, Json>, value: &str, average: &str) -> Json {
    let mut t = Map::new();
    if let Some(u) = m.remove("targetAverageUtilization") {
        t.insert("type".into(), Json::String("Utilization".into()));
        t.insert("averageUtilization".into(), u);
        m.remove(average);
    } else if let Some(v) = m.remove(value) {
        t.insert("type".into(), Json::String("Value".into()));
        t.insert("value".into(), v);
        m.remove(average);
    } else if let Some(v) = m.remove(average) {
        t.insert("type".into(), Json::String("AverageValue".into()));
        t.insert("averageValue".into(), v);
    }
    Json::Object(t)
}

fn metric_id(m: &mut Map<String, Json>, name: &str, selector: &str) -> Json {
    let mut id = Map::new();
    if let Some(n) = m.remove(name) {
        id.insert("name".into(), n);
    }
    if let Some(s) = m.remove(selector) {
        id.insert("selector".into(), s);
    }
    Json::Object(id)
}

/// autoscaling/v2beta1 metrics in v2's form (what the apiserver's
/// conversion through the internal type gives).
fn hpa_v2beta1(obj: &mut Json, dropped: &mut Vec<Dropped>) -> Result<(), String> {
    let Some(metrics) = obj_mut(obj, "spec")
        .and_then(|s| s.get_mut("metrics"))
        .and_then(Json::as_array_mut)
    else {
        return Ok(());
    };
    for metric in metrics.iter_mut().filter_map(Json::as_object_mut) {
        if let Some(o) = metric.get_mut("object").and_then(Json::as_object_mut) {
            let target = o.remove("target");
            // An object metric's averageValue is its AverageValue target.
            let t = metric_target(o, "targetValue", "averageValue");
            let id = metric_id(o, "metricName", "selector");
            if let Some(r) = target {
                o.insert("describedObject".into(), r);
            }
            o.insert("metric".into(), id);
            o.insert("target".into(), t);
        }
        if let Some(p) = metric.get_mut("pods").and_then(Json::as_object_mut) {
            let t = metric_target(p, "-", "targetAverageValue");
            let id = metric_id(p, "metricName", "selector");
            p.insert("metric".into(), id);
            p.insert("target".into(), t);
        }
        for key in ["resource", "containerResource"] {
            if let Some(r) = metric.get_mut(key).and_then(Json::as_object_mut) {
                let t = metric_target(r, "-", "targetAverageValue");
                r.insert("target".into(), t);
            }
        }
        if let Some(e) = metric.get_mut("external").and_then(Json::as_object_mut) {
            let t = metric_target(e, "targetValue", "targetAverageValue");
            let id = metric_id(e, "metricName", "metricSelector");
            e.insert("metric".into(), id);
            e.insert("target".into(), t);
        }
    }
    let _ = dropped;
    Ok(())
}

/// rbac v1alpha1 subjects name an `apiVersion`; v1 names the group.
fn rbac_subjects(obj: &mut Json) {
    let Some(subjects) = obj.get_mut("subjects").and_then(Json::as_array_mut) else {
        return;
    };
    for s in subjects.iter_mut().filter_map(Json::as_object_mut) {
        let api_version = s.remove("apiVersion");
        let group = match s.get("kind").and_then(Json::as_str) {
            Some("ServiceAccount") => String::new(),
            Some("User" | "Group") => "rbac.authorization.k8s.io".into(),
            _ => api_version
                .as_ref()
                .and_then(Json::as_str)
                .map(|v| match v.rsplit_once('/') {
                    Some((g, _)) => g.to_string(),
                    None => String::new(),
                })
                .unwrap_or_default(),
        };
        if !group.is_empty() {
            s.insert("apiGroup".into(), Json::String(group));
        }
    }
}

/// node.k8s.io/v1alpha1 kept the handler, overhead and scheduling under
/// `spec`; v1 has them at the top.
fn runtime_class(obj: &mut Json) {
    let Some(m) = obj.as_object_mut() else { return };
    let Some(Json::Object(spec)) = m.remove("spec") else {
        return;
    };
    for (k, v) in spec {
        let k = if k == "runtimeHandler" {
            "handler".to_string()
        } else {
            k
        };
        m.insert(k, v);
    }
}

/// certificates.k8s.io/v1 requires a signer other than the legacy one.
fn csr(obj: &mut Json) -> Result<(), String> {
    let signer = obj
        .get("spec")
        .and_then(|s| s.get("signerName"))
        .and_then(Json::as_str)
        .unwrap_or("kubernetes.io/legacy-unknown");
    if signer == "kubernetes.io/legacy-unknown" {
        return Err(
            "certificates.k8s.io/v1 does not accept the signer kubernetes.io/legacy-unknown".into(),
        );
    }
    Ok(())
}

/// admissionregistration.k8s.io/v1 accepts only the side effects `None`
/// and `NoneOnDryRun`.
fn webhooks(obj: &mut Json) -> Result<(), String> {
    let Some(hooks) = obj.get("webhooks").and_then(Json::as_array) else {
        return Ok(());
    };
    for h in hooks {
        match h.get("sideEffects").and_then(Json::as_str) {
            Some("None" | "NoneOnDryRun") => {}
            other => {
                return Err(format!(
                    "webhook {} has sideEffects {}; admissionregistration.k8s.io/v1 accepts only None and NoneOnDryRun",
                    h.get("name").and_then(Json::as_str).unwrap_or("?"),
                    other.unwrap_or("unset")
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_name_dropped_everywhere() {
        let o = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "clusterName": ""},
            "spec": {"template": {"metadata": {"clusterName": "", "labels": {"a": "b"}}}}});
        let c = to_served(&o);
        assert_eq!(c.change, Change::Served);
        assert_eq!(c.dropped.len(), 2);
        assert_eq!(
            c.object,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
                "spec": {"template": {"metadata": {"labels": {"a": "b"}}}}})
        );
    }

    #[test]
    fn pdb_selectors_keep_their_meaning() {
        let with = |sel: Json| {
            let o = json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "p"}, "spec": {"minAvailable": 1, "selector": sel}});
            let c = to_served(&o);
            assert_eq!(c.object["apiVersion"], "policy/v1");
            c.object["spec"]["selector"].clone()
        };
        assert_eq!(
            with(json!({})),
            json!({"matchExpressions": [{"key": "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match", "operator": "Exists"}]})
        );
        assert_eq!(
            with(
                json!({"matchExpressions": [{"key": "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match", "operator": "DoesNotExist"}]})
            ),
            json!({})
        );
        assert_eq!(
            with(json!({"matchLabels": {"a": "b"}})),
            json!({"matchLabels": {"a": "b"}})
        );
    }

    #[test]
    fn schemaless_objects_are_not_relabelled() {
        let o = json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "1": {"1": "a"}});
        let c = to_served(&o);
        assert!(matches!(c.change, Change::Cannot { .. }));
        assert_eq!(c.object, o);
    }

    #[test]
    fn psp_cannot_be_converted() {
        let o = json!({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "p"}});
        let c = to_served(&o);
        assert!(matches!(c.change, Change::Cannot { .. }));
        assert_eq!(c.object, o);
    }

    #[test]
    fn workload_without_selector_gets_the_template_labels() {
        let o = json!({"apiVersion": "extensions/v1beta1", "kind": "DaemonSet", "metadata": {"name": "d"},
            "spec": {"templateGeneration": 3, "template": {"metadata": {"labels": {"app": "x"}}}}});
        let c = to_served(&o);
        assert_eq!(
            c.change,
            Change::Converted {
                from: "extensions/v1beta1".into(),
                to: "apps/v1".into()
            }
        );
        assert_eq!(
            c.object["spec"]["selector"],
            json!({"matchLabels": {"app": "x"}})
        );
        assert_eq!(c.dropped[0].path, ".spec.templateGeneration");
        let bare = json!({"apiVersion": "extensions/v1beta1", "kind": "ReplicaSet", "metadata": {"name": "r"},
            "spec": {"template": {"metadata": {}}}});
        let c = to_served(&bare);
        assert!(matches!(c.change, Change::Cannot { .. }));
        assert_eq!(c.object, bare);
    }
}
