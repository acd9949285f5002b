//! What `k8s extract --for-apply` keeps of an object so that `kubectl apply`
//! re-creates it on a new cluster: the fields the apiserver and the
//! controllers set are removed (server metadata, status, generated
//! selectors and labels, allocated IPs, bindings), and objects that a
//! controller re-creates, that only record history, or that already ran
//! to completion are left out, each with the reason.
#![forbid(unsafe_code)]

use serde_json::{Map, Value as Json};

/// Metadata the apiserver sets.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
];

/// Annotations the apiserver, kubectl or a controller writes.
const SERVER_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.daemonset.template.generation",
    "batch.kubernetes.io/job-tracking",
    "batch.kubernetes.io/cronjob-scheduled-timestamp",
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "pv.kubernetes.io/provisioned-by",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
    "control-plane.alpha.kubernetes.io/leader",
    "endpoints.kubernetes.io/last-change-trigger-time",
];

/// Labels the Job controller (and the apiserver's Job defaulting) adds to a
/// Job, its selector and its pod template.
const JOB_LABELS: &[&str] = &[
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
];

/// Labels a workload controller adds to the pods and replica sets it makes.
const HASH_LABELS: &[&str] = &["pod-template-hash", "controller-revision-hash"];

/// Why an object is left out of an apply-able tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    /// Recreated by a controller or the apiserver, or only history.
    Generated(&'static str),
    /// A Pod or Job that has finished (`--include-finished` keeps them).
    Finished,
    /// A Secret whose data would be written redacted (no `--show-secrets`).
    RedactedSecret,
}

impl Skip {
    pub fn reason(&self) -> &'static str {
        match self {
            Skip::Generated(w) => w,
            Skip::Finished => {
                "finished Pods and completed or failed Jobs (run once; --include-finished keeps them)"
            }
            Skip::RedactedSecret => {
                "Secrets: their data is only shown with --show-secrets (applying them redacted would store the placeholder)"
            }
        }
    }
}

fn kind(obj: &Json) -> &str {
    obj.get("kind").and_then(Json::as_str).unwrap_or("")
}

/// Whether a Pod or Job has run to its end.
pub fn finished(obj: &Json) -> bool {
    let status = obj.get("status");
    match kind(obj) {
        "Pod" => matches!(
            status.and_then(|s| s.get("phase")).and_then(Json::as_str),
            Some("Succeeded" | "Failed")
        ),
        "Job" => {
            let ended = status
                .and_then(|s| s.get("conditions"))
                .and_then(Json::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        matches!(
                            c.get("type").and_then(Json::as_str),
                            Some("Complete" | "Failed")
                        ) && c.get("status").and_then(Json::as_str) == Some("True")
                    })
                });
            ended
                || status
                    .and_then(|s| s.get("completionTime"))
                    .is_some_and(|t| !t.is_null())
        }
        _ => false,
    }
}

/// Why `obj` is left out of an apply-able tree, if it is. `secrets_shown`:
/// Secret data is in the object (`--show-secrets`); `include_finished`:
/// finished Pods and Jobs are kept.
pub fn skip(obj: &Json, secrets_shown: bool, include_finished: bool) -> Option<Skip> {
    let g = |w| Some(Skip::Generated(w));
    match kind(obj) {
        "Event" => return g("events are history, not state"),
        "Endpoints" | "EndpointSlice" => return g("maintained by the endpoints controllers"),
        "Lease" => return g("leader-election and heartbeat state"),
        "ControllerRevision" => return g("history kept by its controller"),
        "RangeAllocation" | "IPAddress" | "ServiceCIDR" => return g("apiserver allocation state"),
        "ComponentStatus" | "Binding" | "TokenReview" | "SubjectAccessReview" => {
            return g("not stored state")
        }
        _ => {}
    }
    if obj.get("type").and_then(Json::as_str) == Some("kubernetes.io/service-account-token") {
        return g("service account tokens are issued by the new cluster");
    }
    let owned = obj
        .get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Json::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|r| r.get("controller") == Some(&Json::Bool(true)))
        });
    if owned {
        return g("created by its controller (it has a controller owner)");
    }
    if !include_finished && finished(obj) {
        return Some(Skip::Finished);
    }
    if kind(obj) == "Secret" && !secrets_shown {
        return Some(Skip::RedactedSecret);
    }
    None
}

fn remove_keys(m: &mut Map<String, Json>, field: &str, keys: &[&str]) {
    if let Some(x) = m.get_mut(field).and_then(Json::as_object_mut) {
        for k in keys {
            x.remove(*k);
        }
        if x.is_empty() {
            m.remove(field);
        }
    }
}

fn meta_of(obj: &mut Json) -> Option<&mut Map<String, Json>> {
    obj.get_mut("metadata").and_then(Json::as_object_mut)
}

/// The pod template's metadata of a workload.
fn template_meta(spec: &mut Map<String, Json>) -> Option<&mut Map<String, Json>> {
    spec.get_mut("template")?
        .get_mut("metadata")?
        .as_object_mut()
}

/// Remove what the server and the controllers set, so the object applies
/// to a new cluster as a new object.
pub fn strip(obj: &mut Json) {
    let k = kind(obj).to_string();
    if let Some(m) = meta_of(obj) {
        for f in SERVER_METADATA {
            m.remove(*f);
        }
        remove_keys(m, "annotations", SERVER_ANNOTATIONS);
        match k.as_str() {
            "Job" => remove_keys(m, "labels", JOB_LABELS),
            "Pod" | "ReplicaSet" => remove_keys(m, "labels", HASH_LABELS),
            _ => {}
        }
    }
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
    let Some(spec) = obj.get_mut("spec").and_then(Json::as_object_mut) else {
        return;
    };
    match k.as_str() {
        // New cluster IPs come from the new cluster; a headless Service
        // ("None") stays headless.
        "Service" => {
            let headless = spec.get("clusterIP").and_then(Json::as_str) == Some("None");
            if !headless {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
        }
        "Pod" => {
            spec.remove("nodeName");
        }
        // The Job controller's selector (unless the user chose it with
        // manualSelector) and the labels it adds to the template.
        "Job" => {
            if spec.get("manualSelector") != Some(&Json::Bool(true)) {
                spec.remove("selector");
            }
            if let Some(t) = template_meta(spec) {
                remove_keys(t, "labels", JOB_LABELS);
            }
        }
        "CronJob" => {
            if let Some(t) = spec
                .get_mut("jobTemplate")
                .and_then(|j| j.get_mut("spec"))
                .and_then(Json::as_object_mut)
                .and_then(template_meta)
            {
                remove_keys(t, "labels", JOB_LABELS);
            }
        }
        "ReplicaSet" => {
            if let Some(sel) = spec.get_mut("selector").and_then(Json::as_object_mut) {
                remove_keys(sel, "matchLabels", HASH_LABELS);
            }
            if let Some(t) = template_meta(spec) {
                remove_keys(t, "labels", HASH_LABELS);
            }
        }
        // The claim a volume is bound to names the old claim's uid.
        "PersistentVolume" => {
            if let Some(c) = spec.get_mut("claimRef").and_then(Json::as_object_mut) {
                c.remove("uid");
                c.remove("resourceVersion");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Job as a 1.29 apiserver stores it after it ran.
    fn job() -> Json {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": "migrate", "namespace": "shop", "uid": "1b2c", "resourceVersion": "77",
                "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z",
                "labels": {"app": "migrate", "batch.kubernetes.io/controller-uid": "1b2c",
                           "batch.kubernetes.io/job-name": "migrate", "controller-uid": "1b2c",
                           "job-name": "migrate"},
                "annotations": {"batch.kubernetes.io/job-tracking": ""}
            },
            "spec": {
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "1b2c"}},
                "template": {"metadata": {"labels": {"app": "migrate",
                    "batch.kubernetes.io/controller-uid": "1b2c", "batch.kubernetes.io/job-name": "migrate",
                    "controller-uid": "1b2c", "job-name": "migrate"}},
                    "spec": {"containers": [{"name": "m", "image": "busybox"}], "restartPolicy": "Never"}}
            },
            "status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1,
                       "completionTime": "2024-01-01T00:01:00Z"}
        })
    }

    #[test]
    fn jobs_lose_the_controllers_selector_and_labels() {
        let mut j = job();
        strip(&mut j);
        assert_eq!(
            j,
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "migrate", "namespace": "shop", "labels": {"app": "migrate"}},
                "spec": {"template": {"metadata": {"labels": {"app": "migrate"}},
                    "spec": {"containers": [{"name": "m", "image": "busybox"}], "restartPolicy": "Never"}}}
            })
        );
        let mut manual = job();
        manual["spec"]["manualSelector"] = json!(true);
        strip(&mut manual);
        assert!(manual["spec"]["selector"].is_object());
    }

    #[test]
    fn finished_jobs_and_pods_are_left_out_unless_asked_for() {
        let j = job();
        assert_eq!(skip(&j, false, false), Some(Skip::Finished));
        assert_eq!(skip(&j, false, true), None);
        let mut running = job();
        running["status"] = json!({"active": 1});
        assert_eq!(skip(&running, false, false), None);
        let failed = json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert!(finished(&failed));
        let not_yet = json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "False"}]}});
        assert!(!finished(&not_yet));
        for (phase, done) in [
            ("Succeeded", true),
            ("Failed", true),
            ("Running", false),
            ("Pending", false),
        ] {
            let p = json!({"kind": "Pod", "metadata": {"name": "p"}, "status": {"phase": phase}});
            assert_eq!(finished(&p), done, "{phase}");
        }
    }

    #[test]
    fn redacted_secrets_and_generated_objects_are_left_out() {
        let s = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "REDACTED"}});
        assert_eq!(skip(&s, false, false), Some(Skip::RedactedSecret));
        assert_eq!(skip(&s, true, false), None);
        let token = json!({"kind": "Secret", "type": "kubernetes.io/service-account-token"});
        assert!(matches!(
            skip(&token, true, false),
            Some(Skip::Generated(_))
        ));
        let owned = json!({"kind": "Pod", "metadata": {"ownerReferences": [{"controller": true}]}});
        assert!(matches!(
            skip(&owned, true, false),
            Some(Skip::Generated(_))
        ));
        let ev = json!({"kind": "Event"});
        assert!(matches!(skip(&ev, true, false), Some(Skip::Generated(_))));
    }

    #[test]
    fn services_keep_headless_and_lose_allocated_ips() {
        let mut s = json!({"kind": "Service", "metadata": {"name": "a"},
            "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80}]}});
        strip(&mut s);
        assert_eq!(s["spec"], json!({"ports": [{"port": 80}]}));
        let mut h =
            json!({"kind": "Service", "spec": {"clusterIP": "None", "clusterIPs": ["None"]}});
        strip(&mut h);
        assert_eq!(h["spec"]["clusterIP"], "None");
    }

    #[test]
    fn replica_sets_and_pods_lose_template_hashes() {
        let mut rs = json!({"kind": "ReplicaSet", "metadata": {"name": "web-5d8", "labels": {"app": "web", "pod-template-hash": "5d8"}},
            "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d8"}},
                     "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "5d8"}}}}});
        strip(&mut rs);
        assert_eq!(rs["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(rs["spec"]["selector"]["matchLabels"], json!({"app": "web"}));
        assert_eq!(
            rs["spec"]["template"]["metadata"]["labels"],
            json!({"app": "web"})
        );
        let mut pv = json!({"kind": "PersistentVolume", "spec": {"claimRef": {"name": "c", "namespace": "n", "uid": "u", "resourceVersion": "3"}}});
        strip(&mut pv);
        assert_eq!(
            pv["spec"]["claimRef"],
            json!({"name": "c", "namespace": "n"})
        );
    }
}
