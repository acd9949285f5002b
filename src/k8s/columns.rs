//! The default columns `kubectl get` prints for the common kinds, computed
//! from the decoded objects as kubectl's printers compute them (written from
//! kubectl's documented output, not from its code). AGE and the other ages
//! are relative to a reference time the caller gives (`k8s get` uses now,
//! as kubectl does).
#![forbid(unsafe_code)]

use super::time::{kubectl_duration, parse_rfc3339};
use serde_json::Value;

/// The columns of `kind` (API group `group`, "" for core) after NAME-less
/// kinds are accounted for: the full header list, NAME included where
/// kubectl prints it.
pub fn headers(group: &str, kind: &str) -> Vec<&'static str> {
    let h: &[&str] = match (group, kind) {
        ("", "Pod") => &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ("apps", "Deployment") => &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            &["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        }
        ("apps", "StatefulSet") => &["NAME", "READY", "AGE"],
        ("apps", "DaemonSet") => &[
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE",
        ],
        ("", "Service") => &[
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        ("", "ConfigMap") => &["NAME", "DATA", "AGE"],
        ("", "Secret") => &["NAME", "TYPE", "DATA", "AGE"],
        ("", "Namespace") => &["NAME", "STATUS", "AGE"],
        ("", "Node") => &["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        ("", "ServiceAccount") => &["NAME", "SECRETS", "AGE"],
        ("batch", "Job") => &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        ("batch", "CronJob") => &[
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE",
        ],
        ("networking.k8s.io", "Ingress") => &["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        ("", "PersistentVolume") => &[
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE",
        ],
        ("", "PersistentVolumeClaim") => &[
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE",
        ],
        ("", "Event") | ("events.k8s.io", "Event") => {
            &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        }
        ("coordination.k8s.io", "Lease") => &["NAME", "HOLDER", "AGE"],
        ("", "Endpoints") => &["NAME", "ENDPOINTS", "AGE"],
        _ => match more_headers(group, kind) {
            Some(h) => h,
            // Kinds without a printer: the apiserver's default table.
            None => &["NAME", "CREATED AT"],
        },
    };
    h.to_vec()
}

/// The headers of the kinds beyond the common ones, as kube-apiserver's
/// table convertors (and kube-aggregator's, for APIService) name them.
fn more_headers(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    Some(match (group, kind) {
        ("", "PodTemplate") => &["NAME", "CONTAINERS", "IMAGES", "POD LABELS"],
        ("", "ResourceQuota") => &["NAME", "REQUEST", "LIMIT", "AGE"],
        ("policy", "PodDisruptionBudget") => &[
            "NAME",
            "MIN AVAILABLE",
            "MAX UNAVAILABLE",
            "ALLOWED DISRUPTIONS",
            "AGE",
        ],
        ("policy", "PodSecurityPolicy") => &[
            "NAME",
            "PRIV",
            "CAPS",
            "SELINUX",
            "RUNASUSER",
            "FSGROUP",
            "SUPGROUP",
            "READONLYROOTFS",
            "VOLUMES",
        ],
        ("networking.k8s.io", "IngressClass") => &["NAME", "CONTROLLER", "PARAMETERS", "AGE"],
        ("networking.k8s.io", "NetworkPolicy") => &["NAME", "POD-SELECTOR", "AGE"],
        ("networking.k8s.io", "ServiceCIDR") => &["NAME", "CIDRS", "AGE"],
        ("networking.k8s.io", "IPAddress") => &["NAME", "PARENTREF"],
        ("networking.k8s.io", "ClusterCIDR") => &["NAME", "PERNODEHOSTBITS", "IPV4", "IPV6", "AGE"],
        ("autoscaling", "HorizontalPodAutoscaler") => &[
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE",
        ],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            &["NAME", "ROLE", "AGE"]
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => &[
            "NAME",
            "AGE",
            "SIGNERNAME",
            "REQUESTOR",
            "REQUESTEDDURATION",
            "CONDITION",
        ],
        ("certificates.k8s.io", "ClusterTrustBundle") => &["NAME", "SIGNERNAME"],
        ("coordination.k8s.io", "LeaseCandidate") => &[
            "NAME",
            "LEASENAME",
            "BINARYVERSION",
            "EMULATIONVERSION",
            "AGE",
        ],
        ("storage.k8s.io", "StorageClass") => &[
            "NAME",
            "PROVISIONER",
            "RECLAIMPOLICY",
            "VOLUMEBINDINGMODE",
            "ALLOWVOLUMEEXPANSION",
            "AGE",
        ],
        ("storage.k8s.io", "VolumeAttributesClass") => &["NAME", "DRIVERNAME", "AGE"],
        ("storage.k8s.io", "VolumeAttachment") => {
            &["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"]
        }
        ("storage.k8s.io", "CSINode") => &["NAME", "DRIVERS", "AGE"],
        ("storage.k8s.io", "CSIDriver") => &[
            "NAME",
            "ATTACHREQUIRED",
            "PODINFOONMOUNT",
            "STORAGECAPACITY",
            "TOKENREQUESTS",
            "REQUIRESREPUBLISH",
            "MODES",
            "AGE",
        ],
        ("storage.k8s.io", "CSIStorageCapacity") => &["NAME", "STORAGECLASSNAME", "CAPACITY"],
        ("apps", "ControllerRevision") => &["NAME", "CONTROLLER", "REVISION", "AGE"],
        ("scheduling.k8s.io", "PriorityClass") => &["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE"],
        ("node.k8s.io", "RuntimeClass") => &["NAME", "HANDLER", "AGE"],
        ("discovery.k8s.io", "EndpointSlice") => {
            &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
        }
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => &["NAME", "WEBHOOKS", "AGE"],
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            &["NAME", "VALIDATIONS", "PARAMKIND", "AGE"]
        }
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => {
            &["NAME", "MUTATIONS", "PARAMKIND", "AGE"]
        }
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding",
        ) => &["NAME", "POLICYNAME", "PARAMREF", "AGE"],
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => &[
            "NAME",
            "PRIORITYLEVEL",
            "MATCHINGPRECEDENCE",
            "DISTINGUISHERMETHOD",
            "AGE",
            "MISSINGPL",
        ],
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => &[
            "NAME",
            "TYPE",
            "NOMINALCONCURRENCYSHARES",
            "QUEUES",
            "HANDSIZE",
            "QUEUELENGTHLIMIT",
            "AGE",
        ],
        ("internal.apiserver.k8s.io", "StorageVersion") => {
            &["NAME", "COMMONENCODINGVERSION", "STORAGEVERSIONS", "AGE"]
        }
        ("storagemigration.k8s.io", "StorageVersionMigration") => &["NAME", "RESOURCE"],
        ("resource.k8s.io", "DeviceClass" | "ResourceClaimTemplate") => &["NAME", "AGE"],
        ("resource.k8s.io", "ResourceClaim") => &["NAME", "STATE", "AGE"],
        ("resource.k8s.io", "ResourceSlice") => &["NAME", "NODE", "DRIVER", "POOL", "AGE"],
        ("resource.k8s.io", "ResourceClass") => &["NAME", "DRIVERNAME", "AGE"],
        ("resource.k8s.io", "PodSchedulingContext" | "PodScheduling") => {
            &["NAME", "SELECTEDNODE", "AGE"]
        }
        ("apiregistration.k8s.io", "APIService") => &["NAME", "SERVICE", "AVAILABLE", "AGE"],
        _ => return None,
    })
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn s(v: &Value, path: &str) -> String {
    get(v, path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn n(v: &Value, path: &str) -> i64 {
    get(v, path).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn len(v: &Value, path: &str) -> usize {
    match get(v, path) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn or_none(x: String) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x
    }
}

fn unset(x: String) -> String {
    if x.is_empty() {
        "<unset>".into()
    } else {
        x
    }
}

/// `Terminating` once a deletion is requested, else `phase`.
fn terminating_or(o: &Value, phase: String) -> String {
    if get(o, "metadata.deletionTimestamp").is_some_and(Value::is_string) {
        "Terminating".into()
    } else {
        phase
    }
}

/// The age of the timestamp at `path` relative to `now`, or `<unknown>`.
fn age_of(v: &Value, path: &str, now: i64) -> String {
    match get(v, path).and_then(Value::as_str).and_then(parse_rfc3339) {
        Some(t) => kubectl_duration(now - t),
        None => "<unknown>".into(),
    }
}

/// The cells of one object, in the order of `headers(group, kind)`.
pub fn cells(group: &str, kind: &str, o: &Value, now: i64) -> Vec<String> {
    let name = s(o, "metadata.name");
    let age = age_of(o, "metadata.creationTimestamp", now);
    match (group, kind) {
        ("", "Pod") => {
            let (ready, total, restarts, last) = pod_counts(o, now);
            vec![
                name,
                format!("{ready}/{total}"),
                pod_status(o),
                match last {
                    Some(ago) => format!("{restarts} ({ago} ago)"),
                    None => restarts.to_string(),
                },
                age,
            ]
        }
        ("apps", "Deployment") => vec![
            name,
            format!("{}/{}", n(o, "status.readyReplicas"), n(o, "spec.replicas")),
            n(o, "status.updatedReplicas").to_string(),
            n(o, "status.availableReplicas").to_string(),
            age,
        ],
        ("apps", "ReplicaSet") | ("", "ReplicationController") => vec![
            name,
            n(o, "spec.replicas").to_string(),
            n(o, "status.replicas").to_string(),
            n(o, "status.readyReplicas").to_string(),
            age,
        ],
        ("apps", "StatefulSet") => vec![
            name,
            format!("{}/{}", n(o, "status.readyReplicas"), n(o, "spec.replicas")),
            age,
        ],
        ("apps", "DaemonSet") => vec![
            name,
            n(o, "status.desiredNumberScheduled").to_string(),
            n(o, "status.currentNumberScheduled").to_string(),
            n(o, "status.numberReady").to_string(),
            n(o, "status.updatedNumberScheduled").to_string(),
            n(o, "status.numberAvailable").to_string(),
            or_none(labels(get(o, "spec.template.spec.nodeSelector"))),
            age,
        ],
        ("", "Service") => vec![
            name,
            s(o, "spec.type"),
            or_none(s(o, "spec.clusterIP")),
            service_external_ip(o),
            or_none(service_ports(o)),
            age,
        ],
        ("", "ConfigMap") => vec![
            name,
            (len(o, "data") + len(o, "binaryData")).to_string(),
            age,
        ],
        ("", "Secret") => vec![name, s(o, "type"), len(o, "data").to_string(), age],
        ("", "Namespace") => vec![name, s(o, "status.phase"), age],
        ("", "Node") => vec![
            name,
            node_status(o),
            or_none(node_roles(o)),
            age,
            s(o, "status.nodeInfo.kubeletVersion"),
        ],
        ("", "ServiceAccount") => vec![name, len(o, "secrets").to_string(), age],
        ("batch", "Job") => vec![
            name,
            job_status(o),
            job_completions(o),
            job_duration(o, now),
            age,
        ],
        ("batch", "CronJob") => vec![
            name,
            s(o, "spec.schedule"),
            or_none(s(o, "spec.timeZone")),
            get(o, "spec.suspend")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string()
                .replace("true", "True")
                .replace("false", "False"),
            len(o, "status.active").to_string(),
            match get(o, "status.lastScheduleTime") {
                Some(Value::String(_)) => age_of(o, "status.lastScheduleTime", now),
                _ => "<none>".into(),
            },
            age,
        ],
        ("networking.k8s.io", "Ingress") => vec![
            name,
            or_none(s(o, "spec.ingressClassName")),
            ingress_hosts(o),
            load_balancer(arr(o, "status.loadBalancer.ingress")),
            if arr(o, "spec.tls").is_empty() {
                "80".into()
            } else {
                "80, 443".into()
            },
            age,
        ],
        ("", "PersistentVolume") => {
            let claim = match get(o, "spec.claimRef") {
                Some(c) if c.is_object() => {
                    format!("{}/{}", s(c, "namespace"), s(c, "name"))
                }
                _ => String::new(),
            };
            vec![
                name,
                s(o, "spec.capacity.storage"),
                access_modes(arr(o, "spec.accessModes")),
                s(o, "spec.persistentVolumeReclaimPolicy"),
                terminating_or(o, s(o, "status.phase")),
                claim,
                s(o, "spec.storageClassName"),
                unset(s(o, "spec.volumeAttributesClassName")),
                s(o, "status.reason"),
                age,
            ]
        }
        ("", "PersistentVolumeClaim") => {
            // Capacity and access modes once a volume is named, as kubectl.
            let bound = !s(o, "spec.volumeName").is_empty();
            vec![
                name,
                terminating_or(o, s(o, "status.phase")),
                s(o, "spec.volumeName"),
                if bound {
                    s(o, "status.capacity.storage")
                } else {
                    String::new()
                },
                if bound {
                    access_modes(arr(o, "status.accessModes"))
                } else {
                    String::new()
                },
                s(o, "spec.storageClassName"),
                unset(s(o, "spec.volumeAttributesClassName")),
                age,
            ]
        }
        ("", "Event") | ("events.k8s.io", "Event") => event_cells(o, now),
        ("coordination.k8s.io", "Lease") => {
            vec![name, s(o, "spec.holderIdentity"), age]
        }
        ("", "Endpoints") => vec![name, or_none(endpoints(o)), age],
        _ => match more_cells(group, kind, o, now) {
            Some(mut c) => {
                c.insert(0, name);
                c
            }
            None => vec![name, s(o, "metadata.creationTimestamp")],
        },
    }
}

/// `true`/`false` as a Go bool cell prints; `default` when unset.
fn b(v: &Value, path: &str, default: bool) -> String {
    get(v, path)
        .and_then(Value::as_bool)
        .unwrap_or(default)
        .to_string()
}

/// A number or a string (an IntOrString, a quantity) as text, or `or`.
fn text(v: &Value, path: &str, or: &str) -> String {
    match get(v, path) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(x)) => x.to_string(),
        Some(Value::Bool(x)) => x.to_string(),
        _ => or.to_string(),
    }
}

fn strings(v: &Value, path: &str) -> Vec<String> {
    arr(v, path)
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// Up to three items, then ` + N more...`; `<unset>` for none.
fn at_most_three(list: Vec<String>) -> String {
    if list.is_empty() {
        return "<unset>".into();
    }
    if list.len() > 3 {
        return format!("{} + {} more...", list[..3].join(","), list.len() - 3);
    }
    list.join(",")
}

/// The cells after NAME of the kinds `more_headers` names.
fn more_cells(group: &str, kind: &str, o: &Value, now: i64) -> Option<Vec<String>> {
    let age = age_of(o, "metadata.creationTimestamp", now);
    let names_images = |path: &str| {
        let cs = arr(o, path);
        let join = |f: &str| cs.iter().map(|c| s(c, f)).collect::<Vec<_>>().join(",");
        (join("name"), join("image"))
    };
    let param_ref = || match get(o, "spec.paramRef") {
        Some(p) if p.is_object() => {
            let (ns, name) = (s(p, "namespace"), s(p, "name"));
            if !name.is_empty() {
                if ns.is_empty() {
                    format!("*/{name}")
                } else {
                    format!("{ns}/{name}")
                }
            } else if get(p, "selector").is_some_and(Value::is_object) {
                selector(get(p, "selector"))
            } else {
                "<unset>".into()
            }
        }
        _ => "<unset>".into(),
    };
    let param_kind = || match get(o, "spec.paramKind") {
        Some(p) if p.is_object() => format!("{}/{}", s(p, "apiVersion"), s(p, "kind")),
        _ => "<unset>".into(),
    };
    Some(match (group, kind) {
        ("", "PodTemplate") => {
            let (c, i) = names_images("template.spec.containers");
            vec![c, i, or_none(labels(get(o, "template.metadata.labels")))]
        }
        ("", "ResourceQuota") => {
            let (req, lim) = quota(o);
            vec![req, lim, age]
        }
        ("policy", "PodDisruptionBudget") => vec![
            text(o, "spec.minAvailable", "N/A"),
            text(o, "spec.maxUnavailable", "N/A"),
            n(o, "status.disruptionsAllowed").to_string(),
            age,
        ],
        ("policy", "PodSecurityPolicy") => vec![
            b(o, "spec.privileged", false),
            or_none(strings(o, "spec.allowedCapabilities").join(",")),
            s(o, "spec.seLinux.rule"),
            s(o, "spec.runAsUser.rule"),
            s(o, "spec.fsGroup.rule"),
            s(o, "spec.supplementalGroups.rule"),
            b(o, "spec.readOnlyRootFilesystem", false),
            strings(o, "spec.volumes").join(","),
        ],
        ("networking.k8s.io", "IngressClass") => {
            let params = match get(o, "spec.parameters") {
                Some(p) if p.is_object() => {
                    let group = match s(p, "apiGroup") {
                        g if g.is_empty() => String::new(),
                        g => format!(".{g}"),
                    };
                    format!("{}{group}/{}", s(p, "kind"), s(p, "name"))
                }
                _ => "<none>".into(),
            };
            vec![s(o, "spec.controller"), params, age]
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            vec![or_none(selector(get(o, "spec.podSelector"))), age]
        }
        ("networking.k8s.io", "ServiceCIDR") => vec![strings(o, "spec.cidrs").join(","), age],
        ("networking.k8s.io", "IPAddress") => vec![match get(o, "spec.parentRef") {
            Some(p) if p.is_object() => {
                let mut r = s(p, "resource");
                if !s(p, "group").is_empty() {
                    r = format!("{r}.{}", s(p, "group"));
                }
                r = r.to_lowercase();
                if !s(p, "namespace").is_empty() {
                    r = format!("{r}/{}", s(p, "namespace"));
                }
                format!("{r}/{}", s(p, "name"))
            }
            _ => "<none>".into(),
        }],
        ("networking.k8s.io", "ClusterCIDR") => vec![
            n(o, "spec.perNodeHostBits").to_string(),
            s(o, "spec.ipv4"),
            s(o, "spec.ipv6"),
            age,
        ],
        ("autoscaling", "HorizontalPodAutoscaler") => vec![
            format!(
                "{}/{}",
                s(o, "spec.scaleTargetRef.kind"),
                s(o, "spec.scaleTargetRef.name")
            ),
            hpa_targets(o),
            text(o, "spec.minReplicas", "<unset>"),
            n(o, "spec.maxReplicas").to_string(),
            n(o, "status.currentReplicas").to_string(),
            age,
        ],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => vec![
            format!("{}/{}", s(o, "roleRef.kind"), s(o, "roleRef.name")),
            age,
        ],
        ("certificates.k8s.io", "CertificateSigningRequest") => vec![
            age,
            or_none(s(o, "spec.signerName")),
            s(o, "spec.username"),
            match get(o, "spec.expirationSeconds").and_then(Value::as_i64) {
                Some(x) => kubectl_duration(x),
                None => "<none>".into(),
            },
            csr_condition(o),
        ],
        ("certificates.k8s.io", "ClusterTrustBundle") => vec![or_none(s(o, "spec.signerName"))],
        ("coordination.k8s.io", "LeaseCandidate") => vec![
            s(o, "spec.leaseName"),
            s(o, "spec.binaryVersion"),
            s(o, "spec.emulationVersion"),
            age,
        ],
        ("storage.k8s.io", "StorageClass") => vec![
            s(o, "provisioner"),
            text(o, "reclaimPolicy", "Delete"),
            text(o, "volumeBindingMode", "Immediate"),
            b(o, "allowVolumeExpansion", false),
            age,
        ],
        ("storage.k8s.io", "VolumeAttributesClass") => vec![s(o, "driverName"), age],
        ("storage.k8s.io", "VolumeAttachment") => vec![
            s(o, "spec.attacher"),
            s(o, "spec.source.persistentVolumeName"),
            s(o, "spec.nodeName"),
            b(o, "status.attached", false),
            age,
        ],
        ("storage.k8s.io", "CSINode") => vec![arr(o, "spec.drivers").len().to_string(), age],
        ("storage.k8s.io", "CSIDriver") => vec![
            b(o, "spec.attachRequired", true),
            b(o, "spec.podInfoOnMount", false),
            b(o, "spec.storageCapacity", false),
            match get(o, "spec.tokenRequests") {
                Some(Value::Array(t)) => t
                    .iter()
                    .map(|t| s(t, "audience"))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => "<unset>".into(),
            },
            b(o, "spec.requiresRepublish", false),
            or_none(strings(o, "spec.volumeLifecycleModes").join(",")),
            age,
        ],
        ("storage.k8s.io", "CSIStorageCapacity") => {
            vec![s(o, "storageClassName"), text(o, "capacity", "<unset>")]
        }
        ("apps", "ControllerRevision") => vec![controller_of(o), text(o, "revision", "0"), age],
        ("scheduling.k8s.io", "PriorityClass") => {
            vec![n(o, "value").to_string(), b(o, "globalDefault", false), age]
        }
        ("node.k8s.io", "RuntimeClass") => vec![s(o, "handler"), age],
        ("discovery.k8s.io", "EndpointSlice") => vec![
            s(o, "addressType"),
            at_most_three(
                arr(o, "ports")
                    .iter()
                    .map(|p| match (get(p, "port"), get(p, "name")) {
                        (Some(Value::Number(x)), _) => x.to_string(),
                        (_, Some(Value::String(x))) => x.clone(),
                        _ => "*".into(),
                    })
                    .collect(),
            ),
            at_most_three(
                arr(o, "endpoints")
                    .iter()
                    .flat_map(|e| strings(e, "addresses"))
                    .collect(),
            ),
            age,
        ],
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => vec![arr(o, "webhooks").len().to_string(), age],
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => vec![
            arr(o, "spec.validations").len().to_string(),
            param_kind(),
            age,
        ],
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => vec![
            arr(o, "spec.mutations").len().to_string(),
            param_kind(),
            age,
        ],
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding",
        ) => vec![s(o, "spec.policyName"), param_ref(), age],
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => vec![
            s(o, "spec.priorityLevelConfiguration.name"),
            n(o, "spec.matchingPrecedence").to_string(),
            or_none(s(o, "spec.distinguisherMethod.type")),
            age,
            arr(o, "status.conditions")
                .iter()
                .find(|c| s(c, "type") == "Dangling")
                .map_or_else(|| "?".to_string(), |c| s(c, "status")),
        ],
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => {
            let none = || "<none>".to_string();
            let limited = get(o, "spec.limited").filter(|l| l.is_object());
            let queuing =
                limited.and_then(|l| get(l, "limitResponse.queuing").filter(|q| q.is_object()));
            vec![
                s(o, "spec.type"),
                limited.map_or_else(none, |l| {
                    // Named assuredConcurrencyShares before v1beta3.
                    let x = text(l, "nominalConcurrencyShares", "");
                    if x.is_empty() {
                        text(l, "assuredConcurrencyShares", "0")
                    } else {
                        x
                    }
                }),
                queuing.map_or_else(none, |q| n(q, "queues").to_string()),
                queuing.map_or_else(none, |q| n(q, "handSize").to_string()),
                queuing.map_or_else(none, |q| n(q, "queueLengthLimit").to_string()),
                age,
            ]
        }
        ("internal.apiserver.k8s.io", "StorageVersion") => vec![
            text(o, "status.commonEncodingVersion", "<unset>"),
            at_most_three(
                arr(o, "status.storageVersions")
                    .iter()
                    .map(|v| format!("{}={}", s(v, "apiServerID"), s(v, "encodingVersion")))
                    .collect(),
            ),
            age,
        ],
        ("storagemigration.k8s.io", "StorageVersionMigration") => vec![format!(
            "{}.{}.{}",
            s(o, "spec.resource.resource"),
            s(o, "spec.resource.version"),
            s(o, "spec.resource.group")
        )],
        ("resource.k8s.io", "DeviceClass" | "ResourceClaimTemplate") => vec![age],
        ("resource.k8s.io", "ResourceClaim") => vec![claim_state(o), age],
        ("resource.k8s.io", "ResourceSlice") => vec![
            s(o, "spec.nodeName"),
            // The driver was `driverName` before v1beta1.
            match s(o, "spec.driver") {
                d if d.is_empty() => s(o, "driverName"),
                d => d,
            },
            s(o, "spec.pool.name"),
            age,
        ],
        ("resource.k8s.io", "ResourceClass") => vec![s(o, "driverName"), age],
        ("resource.k8s.io", "PodSchedulingContext" | "PodScheduling") => {
            vec![s(o, "spec.selectedNode"), age]
        }
        ("apiregistration.k8s.io", "APIService") => vec![
            match get(o, "spec.service") {
                Some(x) if x.is_object() => format!("{}/{}", s(x, "namespace"), s(x, "name")),
                _ => "Local".into(),
            },
            match arr(o, "status.conditions")
                .iter()
                .find(|c| s(c, "type") == "Available")
            {
                Some(c) if s(c, "status") == "True" => "True".into(),
                Some(c) => format!("{} ({})", s(c, "status"), s(c, "reason")),
                None => "Unknown".into(),
            },
            age,
        ],
        _ => return None,
    })
}

/// REQUEST and LIMIT of a quota: `name: used/hard`, by resource name,
/// `limits.*` in LIMIT.
fn quota(o: &Value) -> (String, String) {
    let Some(Value::Object(hard)) = get(o, "status.hard") else {
        return (String::new(), String::new());
    };
    let mut names: Vec<&String> = hard.keys().collect();
    names.sort();
    let (mut req, mut lim) = (Vec::new(), Vec::new());
    for r in names {
        let used = get(o, "status.used")
            .and_then(|u| u.get(r.as_str()))
            .and_then(Value::as_str)
            .unwrap_or("0");
        let cell = format!("{r}: {used}/{}", hard[r].as_str().unwrap_or_default());
        if r.split('.').next() == Some("limits") && r.contains('.') {
            lim.push(cell);
        } else {
            req.push(cell);
        }
    }
    (req.join(", "), lim.join(", "))
}

fn csr_condition(o: &Value) -> String {
    let has = |t: &str| {
        arr(o, "status.conditions")
            .iter()
            .any(|c| s(c, "type") == t)
    };
    let mut st = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        st.push_str(",Failed");
    }
    if !s(o, "status.certificate").is_empty() {
        st.push_str(",Issued");
    }
    st
}

/// The controlling owner as `kind.group/name`, or `<none>`.
fn controller_of(o: &Value) -> String {
    arr(o, "metadata.ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map_or_else(
            || "<none>".to_string(),
            |r| {
                let api = s(r, "apiVersion");
                let kind = match api.split_once('/') {
                    Some((g, _)) => format!("{}.{g}", s(r, "kind")),
                    None => s(r, "kind"),
                };
                format!("{}/{}", kind.to_lowercase(), s(r, "name"))
            },
        )
}

fn claim_state(o: &Value) -> String {
    let deleted = get(o, "metadata.deletionTimestamp").is_some_and(Value::is_string);
    let mut st = Vec::new();
    if deleted {
        st.push("deleted");
    }
    if get(o, "status.allocation").is_some_and(Value::is_object) {
        st.push("allocated");
        if !arr(o, "status.reservedFor").is_empty() {
            st.push("reserved");
        }
    } else if !deleted {
        st.push("pending");
    }
    st.join(",")
}

/// TARGETS of an autoscaler: `autoscaling/v2` metrics (the first two,
/// then `+ N more...`), or `autoscaling/v1`'s CPU target.
fn hpa_targets(o: &Value) -> String {
    if let Some(t) = get(o, "spec.targetCPUUtilizationPercentage").and_then(Value::as_i64) {
        let cur = get(o, "status.currentCPUUtilizationPercentage")
            .and_then(Value::as_i64)
            .map_or_else(|| "<unknown>".to_string(), |c| format!("{c}%"));
        return format!("cpu: {cur}/{t}%");
    }
    let specs = arr(o, "spec.metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = arr(o, "status.currentMetrics");
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let st = statuses.get(i);
            let cur = |src: &str, f: &str| {
                st.and_then(|x| get(x, &format!("{src}.current.{f}")))
                    .map_or_else(|| "<unknown>".to_string(), |v| text(v, "", ""))
            };
            let ty = s(m, "type");
            let src = match ty.as_str() {
                "Resource" => "resource",
                "ContainerResource" => "containerResource",
                "Pods" => "pods",
                "Object" => "object",
                "External" => "external",
                _ => return "<unknown type>".into(),
            };
            let target = |f: &str| get(m, &format!("{src}.target.{f}"));
            match src {
                "resource" | "containerResource" => {
                    let name = s(m, &format!("{src}.name"));
                    match target("averageValue") {
                        Some(v) => {
                            format!("{name}: {}/{}", cur(src, "averageValue"), text(v, "", ""))
                        }
                        None => {
                            let c = st
                                .and_then(|x| get(x, &format!("{src}.current.averageUtilization")))
                                .and_then(Value::as_i64)
                                .map_or_else(|| "<unknown>".to_string(), |c| format!("{c}%"));
                            let t = target("averageUtilization")
                                .and_then(Value::as_i64)
                                .map_or_else(|| "<auto>".to_string(), |t| format!("{t}%"));
                            format!("{name}: {c}/{t}")
                        }
                    }
                }
                "pods" => format!(
                    "{}/{}",
                    cur(src, "averageValue"),
                    target("averageValue").map_or_else(String::new, |v| text(v, "", ""))
                ),
                _ => match target("averageValue") {
                    Some(v) => format!("{}/{} (avg)", cur(src, "averageValue"), text(v, "", "")),
                    None => format!(
                        "{}/{}",
                        cur(src, "value"),
                        target("value").map_or_else(String::new, |v| text(v, "", ""))
                    ),
                },
            }
        })
        .collect();
    if list.len() > 2 {
        format!("{} + {} more...", list[..2].join(", "), list.len() - 2)
    } else {
        list.join(", ")
    }
}

/// The extra columns kubectl adds with `-o wide` for `kind`.
pub fn wide_headers(group: &str, kind: &str) -> Vec<&'static str> {
    let h: &[&str] = match (group, kind) {
        ("", "Pod") => &["IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet")
        | ("", "ReplicationController")
        | ("batch", "Job" | "CronJob") => &["CONTAINERS", "IMAGES", "SELECTOR"],
        ("apps", "StatefulSet") => &["CONTAINERS", "IMAGES"],
        ("", "Service") => &["SELECTOR"],
        ("", "PersistentVolume" | "PersistentVolumeClaim") => &["VOLUMEMODE"],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            &["USERS", "GROUPS", "SERVICEACCOUNTS"]
        }
        ("scheduling.k8s.io", "PriorityClass") => &["PREEMPTIONPOLICY"],
        ("", "Node") => &[
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME",
        ],
        _ => &[],
    };
    h.to_vec()
}

/// The cells of `wide_headers(group, kind)` for one object.
pub fn wide_cells(group: &str, kind: &str, o: &Value) -> Vec<String> {
    let template = |path: &str| {
        let cs = arr(o, path);
        let join = |f: &str| cs.iter().map(|c| s(c, f)).collect::<Vec<_>>().join(",");
        (join("name"), join("image"))
    };
    match (group, kind) {
        ("", "Pod") => {
            let gates = arr(o, "spec.readinessGates");
            let gates = if gates.is_empty() {
                "<none>".to_string()
            } else {
                let conds = arr(o, "status.conditions");
                let ok = gates
                    .iter()
                    .filter(|g| {
                        conds.iter().any(|c| {
                            s(c, "type") == s(g, "conditionType") && s(c, "status") == "True"
                        })
                    })
                    .count();
                format!("{ok}/{}", gates.len())
            };
            vec![
                or_none(s(o, "status.podIP")),
                or_none(s(o, "spec.nodeName")),
                or_none(s(o, "status.nominatedNodeName")),
                gates,
            ]
        }
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") | ("batch", "Job") => {
            let (c, i) = template("spec.template.spec.containers");
            vec![c, i, or_none(selector(get(o, "spec.selector")))]
        }
        ("", "ReplicationController") => {
            let (c, i) = template("spec.template.spec.containers");
            vec![c, i, or_none(labels(get(o, "spec.selector")))]
        }
        ("batch", "CronJob") => {
            let (c, i) = template("spec.jobTemplate.spec.template.spec.containers");
            vec![
                c,
                i,
                or_none(selector(get(o, "spec.jobTemplate.spec.selector"))),
            ]
        }
        ("apps", "StatefulSet") => {
            let (c, i) = template("spec.template.spec.containers");
            vec![c, i]
        }
        ("", "Service") => vec![or_none(labels(get(o, "spec.selector")))],
        ("", "PersistentVolume" | "PersistentVolumeClaim") => {
            vec![unset(s(o, "spec.volumeMode"))]
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            let of = |k: &str| {
                arr(o, "subjects")
                    .iter()
                    .filter(|x| s(x, "kind") == k)
                    .map(|x| match k {
                        "ServiceAccount" => format!("{}/{}", s(x, "namespace"), s(x, "name")),
                        _ => s(x, "name"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![of("User"), of("Group"), of("ServiceAccount")]
        }
        ("scheduling.k8s.io", "PriorityClass") => vec![s(o, "preemptionPolicy")],
        ("", "Node") => {
            let addr = |t: &str| {
                arr(o, "status.addresses")
                    .iter()
                    .find(|a| s(a, "type") == t)
                    .map(|a| s(a, "address"))
                    .unwrap_or_default()
            };
            vec![
                or_none(addr("InternalIP")),
                or_none(addr("ExternalIP")),
                s(o, "status.nodeInfo.osImage"),
                s(o, "status.nodeInfo.kernelVersion"),
                s(o, "status.nodeInfo.containerRuntimeVersion"),
            ]
        }
        _ => Vec::new(),
    }
}

/// A label selector as kubectl prints it: `app=web,tier in (a,b)`,
/// requirements sorted by key.
fn selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|v| v.is_object()) else {
        return String::new();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(m)) = sel.get("matchLabels") {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in arr(sel, "matchExpressions") {
        let k = s(e, "key");
        let mut vals: Vec<String> = arr(e, "values")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        vals.sort();
        let r = match s(e, "operator").as_str() {
            "In" => format!("{k} in ({})", vals.join(",")),
            "NotIn" => format!("{k} notin ({})", vals.join(",")),
            "Exists" => k.clone(),
            "DoesNotExist" => format!("!{k}"),
            op => format!("{k} {op} ({})", vals.join(",")),
        };
        reqs.push((k, r));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join(",")
}

/// Ready containers, containers, restarts and the age of the last restart.
fn pod_counts(o: &Value, now: i64) -> (usize, usize, i64, Option<String>) {
    let total = arr(o, "spec.containers").len();
    let statuses = arr(o, "status.containerStatuses");
    let ready = statuses
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let mut restarts = 0;
    let mut last: Option<i64> = None;
    for c in statuses {
        restarts += n(c, "restartCount");
        if let Some(t) = get(c, "lastState.terminated.finishedAt")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
        {
            last = Some(last.map_or(t, |l| l.max(t)));
        }
    }
    (
        ready,
        total,
        restarts,
        last.filter(|_| restarts > 0)
            .map(|t| kubectl_duration(now - t)),
    )
}

/// The STATUS kubectl shows for a pod: the phase, or the reason of the
/// pod, an init container or a container that is not running, or
/// Terminating.
fn pod_status(o: &Value) -> String {
    let mut reason = s(o, "status.phase");
    let r = s(o, "status.reason");
    if !r.is_empty() {
        reason = r;
    }
    let inits = arr(o, "status.initContainerStatuses");
    let n_init = arr(o, "spec.initContainers").len();
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        if let Some(t) = get(c, "state.terminated") {
            if n(t, "exitCode") == 0 {
                continue;
            }
            reason = match s(t, "reason") {
                r if !r.is_empty() => format!("Init:{r}"),
                _ if n(t, "signal") != 0 => format!("Init:Signal:{}", n(t, "signal")),
                _ => format!("Init:ExitCode:{}", n(t, "exitCode")),
            };
        } else if get(c, "state.running").is_some()
            && c.get("started").and_then(Value::as_bool) == Some(true)
        {
            // A restartable (sidecar) init container that has started.
            continue;
        } else {
            let w = s(c, "state.waiting.reason");
            reason = if !w.is_empty() && w != "PodInitializing" {
                format!("Init:{w}")
            } else {
                format!("Init:{i}/{n_init}")
            };
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in arr(o, "status.containerStatuses").iter().rev() {
            let w = s(c, "state.waiting.reason");
            if !w.is_empty() {
                reason = w;
            } else if let Some(t) = get(c, "state.terminated") {
                reason = match s(t, "reason") {
                    r if !r.is_empty() => r,
                    _ if n(t, "signal") != 0 => format!("Signal:{}", n(t, "signal")),
                    _ => format!("ExitCode:{}", n(t, "exitCode")),
                };
            } else if get(c, "state.running").is_some()
                && c.get("ready").and_then(Value::as_bool) == Some(true)
            {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = if arr(o, "status.conditions")
                .iter()
                .any(|c| s(c, "type") == "Ready" && s(c, "status") == "True")
            {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if get(o, "metadata.deletionTimestamp").is_some_and(Value::is_string) {
        reason = if s(o, "status.reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    reason
}

fn labels(m: Option<&Value>) -> String {
    let Some(Value::Object(m)) = m else {
        return String::new();
    };
    let mut v: Vec<String> = m
        .iter()
        .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or_default()))
        .collect();
    v.sort();
    v.join(",")
}

fn load_balancer(ingress: &[Value]) -> String {
    ingress
        .iter()
        .filter_map(|i| {
            let ip = s(i, "ip");
            if ip.is_empty() {
                Some(s(i, "hostname")).filter(|h| !h.is_empty())
            } else {
                Some(ip)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn service_external_ip(o: &Value) -> String {
    let external: Vec<String> = arr(o, "spec.externalIPs")
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect();
    match s(o, "spec.type").as_str() {
        "ExternalName" => s(o, "spec.externalName"),
        "LoadBalancer" => {
            let mut all = vec![load_balancer(arr(o, "status.loadBalancer.ingress"))];
            all.retain(|x| !x.is_empty());
            all.extend(external);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        _ if !external.is_empty() => external.join(","),
        _ => "<none>".into(),
    }
}

fn service_ports(o: &Value) -> String {
    arr(o, "spec.ports")
        .iter()
        .map(|p| {
            let proto = match s(p, "protocol") {
                x if x.is_empty() => "TCP".to_string(),
                x => x,
            };
            match n(p, "nodePort") {
                0 => format!("{}/{proto}", n(p, "port")),
                np => format!("{}:{np}/{proto}", n(p, "port")),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn node_status(o: &Value) -> String {
    let mut st = match arr(o, "status.conditions")
        .iter()
        .find(|c| s(c, "type") == "Ready")
        .map(|c| s(c, "status"))
        .as_deref()
    {
        Some("True") => "Ready".to_string(),
        Some("False") => "NotReady".to_string(),
        _ => "Unknown".to_string(),
    };
    if get(o, "spec.unschedulable").and_then(Value::as_bool) == Some(true) {
        st.push_str(",SchedulingDisabled");
    }
    st
}

fn node_roles(o: &Value) -> String {
    let Some(Value::Object(l)) = get(o, "metadata.labels") else {
        return String::new();
    };
    let mut roles: Vec<String> = l
        .iter()
        .filter_map(|(k, v)| {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                Some(r.to_string()).filter(|r| !r.is_empty())
            } else if k == "kubernetes.io/role" {
                v.as_str().map(str::to_string).filter(|r| !r.is_empty())
            } else {
                None
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    roles.join(",")
}

fn job_status(o: &Value) -> String {
    let has = |t: &str| {
        arr(o, "status.conditions")
            .iter()
            .any(|c| s(c, "type") == t && s(c, "status") == "True")
    };
    for (t, shown) in [
        ("Failed", "Failed"),
        ("Complete", "Complete"),
        ("Suspended", "Suspended"),
        ("FailureTarget", "FailureTarget"),
        ("SuccessCriteriaMet", "SuccessCriteriaMet"),
    ] {
        if has(t) {
            return shown.into();
        }
    }
    if get(o, "metadata.deletionTimestamp").is_some_and(Value::is_string) {
        return "Terminating".into();
    }
    "Running".into()
}

fn job_completions(o: &Value) -> String {
    let succeeded = n(o, "status.succeeded");
    match get(o, "spec.completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let p = n(o, "spec.parallelism");
            if p > 1 {
                format!("{succeeded}/1 of {p}")
            } else {
                format!("{succeeded}/1")
            }
        }
    }
}

fn job_duration(o: &Value, now: i64) -> String {
    let t = |p: &str| get(o, p).and_then(Value::as_str).and_then(parse_rfc3339);
    match (t("status.startTime"), t("status.completionTime")) {
        (Some(a), Some(b)) => kubectl_duration(b - a),
        (Some(a), None) => kubectl_duration(now - a),
        _ => String::new(),
    }
}

fn ingress_hosts(o: &Value) -> String {
    let hosts: Vec<String> = arr(o, "spec.rules")
        .iter()
        .map(|r| s(r, "host"))
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        "*".into()
    } else {
        hosts.join(",")
    }
}

fn access_modes(modes: &[Value]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for m in modes {
        let short = match m.as_str().unwrap_or_default() {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            _ => continue,
        };
        if !out.contains(&short) {
            out.push(short);
        }
    }
    out.join(",")
}

fn endpoints(o: &Value) -> String {
    let mut list = Vec::new();
    for sub in arr(o, "subsets") {
        let ports = arr(sub, "ports");
        for a in arr(sub, "addresses") {
            let ip = s(a, "ip");
            if ports.is_empty() {
                list.push(ip.clone());
            }
            for p in ports {
                list.push(format!("{ip}:{}", n(p, "port")));
            }
        }
    }
    if list.len() > 3 {
        let more = list.len() - 3;
        list.truncate(3);
        format!("{} + {more} more...", list.join(","))
    } else {
        list.join(",")
    }
}

fn event_cells(o: &Value, now: i64) -> Vec<String> {
    // The latest of the series, the last timestamp, the event time, the
    // creation time: what kubectl counts LAST SEEN from.
    let seen = [
        "series.lastObservedTime",
        "lastTimestamp",
        "eventTime",
        "deprecatedLastTimestamp",
    ]
    .iter()
    .find(|p| get(o, p).is_some_and(Value::is_string))
    .map_or_else(
        || age_of(o, "metadata.creationTimestamp", now),
        |p| age_of(o, p, now),
    );
    let obj = get(o, "involvedObject")
        .or_else(|| get(o, "regarding"))
        .map(|r| format!("{}/{}", s(r, "kind").to_lowercase(), s(r, "name")))
        .unwrap_or_default();
    vec![
        seen,
        s(o, "type"),
        s(o, "reason"),
        obj,
        match s(o, "message") {
            m if m.is_empty() => s(o, "note"),
            m => m,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    #[test]
    fn pods_show_ready_status_and_restarts() {
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": "2023-11-14T22:03:20Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"ready": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2023-11-14T22:08:20Z"}}},
                {"ready": false, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        assert_eq!(
            cells("", "Pod", &pod, NOW),
            ["web", "1/2", "CrashLoopBackOff", "3 (5m ago)", "10m"]
        );
        let init = json!({
            "metadata": {"name": "i"},
            "spec": {"containers": [{}], "initContainers": [{}, {}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"state": {"terminated": {"exitCode": 0}}},
                {"state": {"waiting": {"reason": "PodInitializing"}}}
            ]}
        });
        assert_eq!(cells("", "Pod", &init, NOW)[2], "Init:1/2");
        let gone = json!({"metadata": {"name": "g", "deletionTimestamp": "2023-11-14T22:13:00Z"},
            "status": {"phase": "Running"}});
        assert_eq!(cells("", "Pod", &gone, NOW)[2], "Terminating");
    }

    #[test]
    fn workloads_services_and_others() {
        let d = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            cells("apps", "Deployment", &d, NOW)[1..4],
            ["2/3", "3", "2"]
        );
        let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort",
            "clusterIP": "10.0.0.1", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
            {"port": 53, "protocol": "UDP"}]}});
        assert_eq!(
            cells("", "Service", &svc, NOW)[1..5],
            ["NodePort", "10.0.0.1", "<none>", "80:30080/TCP,53/UDP"]
        );
        let lb = json!({"metadata": {"name": "l"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.2"}});
        assert_eq!(cells("", "Service", &lb, NOW)[3], "<pending>");
        let node = json!({"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.34.0"}}});
        assert_eq!(
            cells("", "Node", &node, NOW),
            [
                "n",
                "Ready,SchedulingDisabled",
                "control-plane",
                "<unknown>",
                "v1.34.0"
            ]
        );
        let job = json!({"metadata": {"name": "j"}, "spec": {"completions": 1},
            "status": {"succeeded": 1, "startTime": "2023-11-14T22:00:00Z", "completionTime": "2023-11-14T22:00:30Z",
                "conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(
            cells("batch", "Job", &job, NOW)[1..4],
            ["Complete", "1/1", "30s"]
        );
        let ev = json!({"metadata": {"name": "e.1"}, "type": "Warning", "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "web"}, "message": "Back-off",
            "lastTimestamp": "2023-11-14T22:12:20Z"});
        assert_eq!(
            cells("", "Event", &ev, NOW),
            ["60s", "Warning", "BackOff", "pod/web", "Back-off"]
        );
        assert_eq!(headers("", "Event")[0], "LAST SEEN");
        let pvc = json!({"metadata": {"name": "c"}, "spec": {"storageClassName": "fast"},
            "status": {"phase": "Pending", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
        assert_eq!(
            cells("", "PersistentVolumeClaim", &pvc, NOW)[1..7],
            ["Pending", "", "", "", "fast", "<unset>"]
        );
        let bound = json!({"metadata": {"name": "c"}, "spec": {"volumeName": "pv-1"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadWriteOncePod"]}});
        assert_eq!(
            cells("", "PersistentVolumeClaim", &bound, NOW)[1..5],
            ["Bound", "pv-1", "1Gi", "RWO,RWOP"]
        );
        let dw = json!({"spec": {"selector": {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "canary", "operator": "DoesNotExist"}]},
            "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1"}, {"name": "s", "image": "envoy"}]}}}});
        assert_eq!(
            wide_cells("apps", "Deployment", &dw),
            ["c,s", "nginx:1,envoy", "app=web,!canary,tier in (a,b)"]
        );
        let pw = json!({"spec": {"nodeName": "n1"}, "status": {"podIP": "10.1.1.1"}});
        assert_eq!(
            wide_cells("", "Pod", &pw),
            ["10.1.1.1", "n1", "<none>", "<none>"]
        );
        let ep = json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [
            {"ip": "1.1.1.1"}, {"ip": "1.1.1.2"}, {"ip": "1.1.1.3"}, {"ip": "1.1.1.4"}],
            "ports": [{"port": 80}]}]});
        assert_eq!(
            cells("", "Endpoints", &ep, NOW)[1],
            "1.1.1.1:80,1.1.1.2:80,1.1.1.3:80 + 1 more..."
        );
        for (g, k) in [
            ("", "Pod"),
            ("apps", "DaemonSet"),
            ("", "PersistentVolume"),
            ("batch", "CronJob"),
        ] {
            let empty = json!({"metadata": {"name": "x"}});
            assert_eq!(headers(g, k).len(), cells(g, k, &empty, NOW).len(), "{k}");
        }
    }
}
