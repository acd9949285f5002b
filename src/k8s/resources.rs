//! Kubernetes resources and where kube-apiserver keeps them in etcd:
//! names kubectl accepts (plural, singular, short names, `kind`,
//! `<plural>.<group>`), whether they are namespaced, and the key prefix
//! under `--etcd-prefix` (the plural without its group for built-ins, the
//! special prefixes compiled into the apiserver, `<group>/<plural>` for
//! CRDs, APIServices and custom resources).
#![forbid(unsafe_code)]

/// A resource kind kubectl knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub plural: String,
    pub singular: String,
    pub kind: String,
    /// "" for the core group.
    pub group: String,
    pub namespaced: bool,
    pub short: Vec<String>,
    /// Key prefix under the etcd prefix, without slashes at either end.
    pub prefix: String,
}

/// (plural, kind, group, namespaced, short names, etcd prefix if not the
/// plural). Facts of kube-apiserver's storage layout.
const BUILTIN: &[(&str, &str, &str, bool, &str, &str)] = &[
    ("pods", "Pod", "", true, "po", ""),
    ("services", "Service", "", true, "svc", "services/specs"),
    (
        "endpoints",
        "Endpoints",
        "",
        true,
        "ep",
        "services/endpoints",
    ),
    ("nodes", "Node", "", false, "no", "minions"),
    ("namespaces", "Namespace", "", false, "ns", ""),
    ("configmaps", "ConfigMap", "", true, "cm", ""),
    ("secrets", "Secret", "", true, "", ""),
    ("serviceaccounts", "ServiceAccount", "", true, "sa", ""),
    ("events", "Event", "", true, "ev", ""),
    ("persistentvolumes", "PersistentVolume", "", false, "pv", ""),
    (
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        "",
        true,
        "pvc",
        "",
    ),
    (
        "replicationcontrollers",
        "ReplicationController",
        "",
        true,
        "rc",
        "controllers",
    ),
    ("resourcequotas", "ResourceQuota", "", true, "quota", ""),
    ("limitranges", "LimitRange", "", true, "limits", ""),
    ("podtemplates", "PodTemplate", "", true, "", ""),
    (
        "rangeallocations",
        "RangeAllocation",
        "",
        false,
        "",
        "ranges",
    ),
    ("deployments", "Deployment", "apps", true, "deploy", ""),
    ("replicasets", "ReplicaSet", "apps", true, "rs", ""),
    ("statefulsets", "StatefulSet", "apps", true, "sts", ""),
    ("daemonsets", "DaemonSet", "apps", true, "ds", ""),
    (
        "controllerrevisions",
        "ControllerRevision",
        "apps",
        true,
        "",
        "",
    ),
    ("jobs", "Job", "batch", true, "", ""),
    ("cronjobs", "CronJob", "batch", true, "cj", ""),
    ("leases", "Lease", "coordination.k8s.io", true, "", ""),
    (
        "leasecandidates",
        "LeaseCandidate",
        "coordination.k8s.io",
        true,
        "",
        "",
    ),
    (
        "endpointslices",
        "EndpointSlice",
        "discovery.k8s.io",
        true,
        "",
        "",
    ),
    ("roles", "Role", "rbac.authorization.k8s.io", true, "", ""),
    (
        "rolebindings",
        "RoleBinding",
        "rbac.authorization.k8s.io",
        true,
        "",
        "",
    ),
    (
        "clusterroles",
        "ClusterRole",
        "rbac.authorization.k8s.io",
        false,
        "",
        "",
    ),
    (
        "clusterrolebindings",
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        false,
        "",
        "",
    ),
    (
        "ingresses",
        "Ingress",
        "networking.k8s.io",
        true,
        "ing",
        "ingress",
    ),
    (
        "ingressclasses",
        "IngressClass",
        "networking.k8s.io",
        false,
        "",
        "",
    ),
    (
        "networkpolicies",
        "NetworkPolicy",
        "networking.k8s.io",
        true,
        "netpol",
        "",
    ),
    (
        "servicecidrs",
        "ServiceCIDR",
        "networking.k8s.io",
        false,
        "",
        "",
    ),
    (
        "ipaddresses",
        "IPAddress",
        "networking.k8s.io",
        false,
        "ip",
        "",
    ),
    (
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        "policy",
        true,
        "pdb",
        "",
    ),
    (
        "priorityclasses",
        "PriorityClass",
        "scheduling.k8s.io",
        false,
        "pc",
        "",
    ),
    (
        "runtimeclasses",
        "RuntimeClass",
        "node.k8s.io",
        false,
        "",
        "",
    ),
    (
        "storageclasses",
        "StorageClass",
        "storage.k8s.io",
        false,
        "sc",
        "",
    ),
    ("csidrivers", "CSIDriver", "storage.k8s.io", false, "", ""),
    ("csinodes", "CSINode", "storage.k8s.io", false, "", ""),
    (
        "volumeattachments",
        "VolumeAttachment",
        "storage.k8s.io",
        false,
        "",
        "",
    ),
    (
        "csistoragecapacities",
        "CSIStorageCapacity",
        "storage.k8s.io",
        true,
        "",
        "",
    ),
    (
        "volumeattributesclasses",
        "VolumeAttributesClass",
        "storage.k8s.io",
        false,
        "vac",
        "",
    ),
    (
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        false,
        "",
        "",
    ),
    (
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        false,
        "",
        "",
    ),
    (
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        "admissionregistration.k8s.io",
        false,
        "",
        "",
    ),
    (
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration.k8s.io",
        false,
        "",
        "",
    ),
    (
        "mutatingadmissionpolicies",
        "MutatingAdmissionPolicy",
        "admissionregistration.k8s.io",
        false,
        "",
        "",
    ),
    (
        "mutatingadmissionpolicybindings",
        "MutatingAdmissionPolicyBinding",
        "admissionregistration.k8s.io",
        false,
        "",
        "",
    ),
    (
        "certificatesigningrequests",
        "CertificateSigningRequest",
        "certificates.k8s.io",
        false,
        "csr",
        "",
    ),
    (
        "clustertrustbundles",
        "ClusterTrustBundle",
        "certificates.k8s.io",
        false,
        "",
        "",
    ),
    (
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        "autoscaling",
        true,
        "hpa",
        "",
    ),
    (
        "flowschemas",
        "FlowSchema",
        "flowcontrol.apiserver.k8s.io",
        false,
        "",
        "",
    ),
    (
        "prioritylevelconfigurations",
        "PriorityLevelConfiguration",
        "flowcontrol.apiserver.k8s.io",
        false,
        "",
        "",
    ),
    (
        "storageversions",
        "StorageVersion",
        "internal.apiserver.k8s.io",
        false,
        "",
        "",
    ),
    (
        "storageversionmigrations",
        "StorageVersionMigration",
        "storagemigration.k8s.io",
        false,
        "",
        "",
    ),
    (
        "resourceclaims",
        "ResourceClaim",
        "resource.k8s.io",
        true,
        "",
        "",
    ),
    (
        "resourceclaimtemplates",
        "ResourceClaimTemplate",
        "resource.k8s.io",
        true,
        "",
        "",
    ),
    (
        "deviceclasses",
        "DeviceClass",
        "resource.k8s.io",
        false,
        "",
        "",
    ),
    (
        "resourceslices",
        "ResourceSlice",
        "resource.k8s.io",
        false,
        "",
        "",
    ),
    (
        "podsecuritypolicies",
        "PodSecurityPolicy",
        "policy",
        false,
        "psp",
        "podsecuritypolicy",
    ),
    (
        "clustercidrs",
        "ClusterCIDR",
        "networking.k8s.io",
        false,
        "",
        "",
    ),
    ("podpresets", "PodPreset", "settings.k8s.io", true, "", ""),
    (
        "podschedulingcontexts",
        "PodSchedulingContext",
        "resource.k8s.io",
        true,
        "",
        "",
    ),
    (
        "podschedulings",
        "PodScheduling",
        "resource.k8s.io",
        true,
        "",
        "",
    ),
    (
        "resourceclasses",
        "ResourceClass",
        "resource.k8s.io",
        false,
        "",
        "",
    ),
    (
        "devicetaintrules",
        "DeviceTaintRule",
        "resource.k8s.io",
        false,
        "",
        "",
    ),
    (
        "resourcepoolstatusrequests",
        "ResourcePoolStatusRequest",
        "resource.k8s.io",
        false,
        "",
        "",
    ),
    (
        "podcertificaterequests",
        "PodCertificateRequest",
        "certificates.k8s.io",
        true,
        "",
        "",
    ),
    ("workloads", "Workload", "scheduling.k8s.io", true, "", ""),
    ("podgroups", "PodGroup", "scheduling.k8s.io", true, "", ""),
    (
        "compositepodgroups",
        "CompositePodGroup",
        "scheduling.k8s.io",
        true,
        "",
        "",
    ),
    ("evictions", "Eviction", "lifecycle.k8s.io", true, "", ""),
    (
        "evictionrequests",
        "EvictionRequest",
        "lifecycle.k8s.io",
        true,
        "",
        "",
    ),
    (
        "customresourcedefinitions",
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        false,
        "crd,crds",
        "apiextensions.k8s.io/customresourcedefinitions",
    ),
    (
        "apiservices",
        "APIService",
        "apiregistration.k8s.io",
        false,
        "",
        "apiregistration.k8s.io/apiservices",
    ),
];

fn singular_of(plural: &str) -> String {
    if let Some(s) = plural.strip_suffix("ies") {
        format!("{s}y")
    } else if plural.ends_with("sses") || plural.ends_with("xes") || plural.ends_with("ches") {
        plural[..plural.len() - 2].to_string()
    } else if plural == "endpoints" {
        plural.to_string()
    } else {
        plural.strip_suffix('s').unwrap_or(plural).to_string()
    }
}

/// Every built-in resource.
pub fn builtin() -> Vec<Resource> {
    BUILTIN
        .iter()
        .map(
            |(plural, kind, group, namespaced, short, prefix)| Resource {
                plural: plural.to_string(),
                singular: singular_of(plural),
                kind: kind.to_string(),
                group: group.to_string(),
                namespaced: *namespaced,
                short: short
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                prefix: if prefix.is_empty() {
                    plural.to_string()
                } else {
                    prefix.to_string()
                },
            },
        )
        .collect()
}

/// The group a kind of a removed or alternative API group is served and
/// stored under today: `extensions/v1beta1` workloads are `apps`, its
/// Ingress and NetworkPolicy `networking.k8s.io`, its PodSecurityPolicy
/// `policy`; `events.k8s.io` Events are the core Events. Kubernetes keeps
/// each of them under one etcd prefix whatever version wrote it.
pub fn served_group<'a>(group: &'a str, kind: &str) -> &'a str {
    match (group, kind) {
        ("extensions", "Deployment" | "DaemonSet" | "ReplicaSet") => "apps",
        ("extensions", "Ingress" | "NetworkPolicy") => "networking.k8s.io",
        ("extensions", "PodSecurityPolicy") => "policy",
        ("events.k8s.io", "Event") => "",
        _ => group,
    }
}

/// The built-in resource of a stored object's apiVersion group ("" or
/// "core" for the core group) and kind, any release's version of it.
pub fn for_kind(group: &str, kind: &str) -> Option<Resource> {
    let group = if group == "core" { "" } else { group };
    let group = served_group(group, kind);
    builtin()
        .into_iter()
        .find(|r| r.kind == kind && r.group == group)
}

/// Resolve what the user typed (`po`, `pods`, `pod`, `Pod`,
/// `deployments.apps`, `widgets.example.com`). An unknown `<plural>.<group>`
/// is taken as a custom resource stored under `<group>/<plural>`;
/// `namespaced` is then unknown (`None`) and found from the keys.
pub fn resolve(name: &str) -> Option<(Resource, Option<bool>)> {
    let lower = name.to_ascii_lowercase();
    let (base, group) = match lower.split_once('.') {
        Some((b, g)) => (b.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    for r in builtin() {
        let names = [&r.plural, &r.singular, &r.kind.to_ascii_lowercase()];
        let hit = names.iter().any(|n| **n == base) || r.short.contains(&base);
        if hit
            && group
                .as_ref()
                .is_none_or(|g| *g == r.group || r.group.starts_with(&format!("{g}.")))
        {
            let ns = r.namespaced;
            return Some((r, Some(ns)));
        }
    }
    let group = group?;
    Some((
        Resource {
            plural: base.clone(),
            singular: singular_of(&base),
            kind: String::new(),
            group: group.clone(),
            namespaced: true,
            short: vec![],
            prefix: format!("{group}/{base}"),
        },
        None,
    ))
}

/// The name kubectl prints with `-o name`: `pod/x`, `deployment.apps/x`.
pub fn kind_name(kind: &str, api_version: &str) -> String {
    let k = kind.to_ascii_lowercase();
    match api_version.split_once('/') {
        Some((group, _)) => format!("{k}.{group}"),
        None => k,
    }
}

/// Namespace and name from a key under `<etcd prefix>/<resource prefix>/`.
pub fn split_key(rest: &str, namespaced: bool) -> (Option<&str>, &str) {
    match (namespaced, rest.split_once('/')) {
        (true, Some((ns, name))) => (Some(ns), name),
        _ => (None, rest),
    }
}

/// Namespace and name from a whole etcd key of resource `r`
/// (`/registry/cronjobs/ns/name`), whatever the etcd prefix; `None` when
/// the key is not under `r`'s prefix.
pub fn key_parts<'a>(key: &'a str, r: &Resource) -> Option<(Option<&'a str>, &'a str)> {
    let marker = format!("/{}/", r.prefix);
    let at = key.find(&marker)?;
    let rest = key.get(at + marker.len()..)?;
    Some(split_key(rest, r.namespaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_names_resolve() {
        for (typed, prefix, ns) in [
            ("po", "pods", true),
            ("pod", "pods", true),
            ("Pod", "pods", true),
            ("svc", "services/specs", true),
            ("endpoints", "services/endpoints", true),
            ("no", "minions", false),
            ("deploy", "deployments", true),
            ("deployments.apps", "deployments", true),
            ("ing", "ingress", true),
            (
                "crd",
                "apiextensions.k8s.io/customresourcedefinitions",
                false,
            ),
            ("networkpolicy", "networkpolicies", true),
            ("ingressclass", "ingressclasses", false),
        ] {
            let (r, n) = resolve(typed).unwrap_or_else(|| panic!("{typed}"));
            assert_eq!((r.prefix.as_str(), n), (prefix, Some(ns)), "{typed}");
        }
        let (r, n) = resolve("widgets.example.com").unwrap();
        assert_eq!((r.prefix.as_str(), n), ("example.com/widgets", None));
        assert!(resolve("nothing").is_none());
        assert_eq!(kind_name("Deployment", "apps/v1"), "deployment.apps");
        assert_eq!(kind_name("Pod", "v1"), "pod");
    }
}
